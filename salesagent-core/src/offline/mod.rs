//! In-memory implementations of the ports the hosts run offline (always compiled).
//!
//! The CRM, mailbox, drive, calendar and store here are what `salesagent::services` plugs in
//! for a port started with `--offline` or with nothing configured: deterministic (ids from
//! counters, time from a [`ManualClock`] unless you hand one in), with the same semantics as
//! the real connectors and SQL stores (the `testing` feature's conformance suites check both),
//! and recording everything written so an operator or a test sees what *would* have gone out.
//!
//! They are plain implementations: latency and injected failures come from wrapping one in
//! [`FaultInjecting`](crate::layers::FaultInjecting) (feature `testing`), time limits from
//! [`WithTimeout`](crate::layers::WithTimeout). The test knobs that no wrapper can express
//! (`lose_acks`: a call that does its work and then answers with a timeout; `with_search_lag`,
//! `with_seed`, …) exist only with the `testing` feature, which also re-exports every type here
//! from `salesagent_core::testing`.

mod calendar;
mod clock;
mod crm;
mod drive;
#[cfg_attr(not(feature = "testing"), allow(dead_code))]
mod faults;
mod mailbox;
mod operators;
mod store;

pub use calendar::FakeCalendar;
pub use clock::ManualClock;
pub use crm::FakeCrm;
pub use drive::FakeDrive;
#[cfg(not(feature = "testing"))]
use faults::SeededRng;
#[cfg(feature = "testing")]
pub use faults::{FaultKind, Faults, SeededRng};
pub use mailbox::FakeMailbox;
pub use store::MemoryStore;

use std::sync::{Mutex, MutexGuard, PoisonError};

/// Locks a mutex, ignoring poisoning (a panicking caller must not cascade into every other one).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
