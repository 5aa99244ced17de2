//! In-memory fakes of every port and the conformance suites (feature `testing`).
//!
//! Every fake is deterministic: ids come from counters, randomness from a seeded generator, and
//! time from a [`ManualClock`] unless you hand one in. Each fake takes a [`Faults`] knob for
//! per-call latency and injected failures, and records everything written so tests can assert on
//! what *would* have gone out.
//!
//! The [`conformance`] suites are `pub async fn`s any implementation of a port runs against itself;
//! the fakes here pass them, and so must the real connectors and stores.

mod calendar;
mod clock;
pub mod conformance;
mod crm;
mod drive;
mod faults;
mod llm;
mod mailbox;
mod operators;
mod speech;
mod store;

pub use calendar::FakeCalendar;
pub use clock::ManualClock;
pub use crm::FakeCrm;
pub use drive::FakeDrive;
pub use faults::{FaultKind, Faults, SeededRng};
pub use llm::{FakeLlm, LlmResponder};
pub use mailbox::FakeMailbox;
pub use speech::{FakeSpeechToText, FakeTextToSpeech};
pub use store::MemoryStore;

use std::sync::{Mutex, MutexGuard, PoisonError};

/// Locks a mutex, ignoring poisoning (a panicking test must not cascade into every other one).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
