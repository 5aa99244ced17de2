//! In-memory fakes of every port and the conformance suites (feature `testing`).
//!
//! The CRM, mailbox, drive, calendar and store fakes are the [`offline`](crate::offline)
//! implementations, re-exported here with their test knobs (fault injection) switched on; the
//! LLM and speech fakes, and the conformance suites, live here only.
//!
//! Every fake is deterministic: ids come from counters, randomness from a seeded generator, and
//! time from a [`ManualClock`] unless you hand one in. Fakes are plain implementations that
//! record everything written so tests can assert on what *would* have gone out; per-call latency
//! and injected failures come from wrapping one in
//! [`FaultInjecting::new(fake, faults)`](crate::layers::FaultInjecting) with a [`Faults`] knob,
//! and [`Recording`](crate::layers::Recording) records the calls any port was asked for.
//!
//! The [`conformance`] suites are `pub async fn`s any implementation of a port runs against itself;
//! the fakes here pass them, and so must the real connectors and stores.

pub mod conformance;
mod llm;
mod speech;

// The offline implementations live in `crate::offline` (always compiled); their test knobs and
// the fault types exist with this feature, under the names tests have always used.
pub use crate::offline::{
    FakeCalendar, FakeCrm, FakeDrive, FakeMailbox, FaultKind, Faults, ManualClock, MemoryStore,
    SeededRng,
};
pub use llm::{FakeLlm, LlmResponder};
pub use speech::{FakeSpeechToText, FakeTextToSpeech};

use crate::offline::lock;
