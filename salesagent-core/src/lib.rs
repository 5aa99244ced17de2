//! # salesagent-core
//!
//! The domain model, the port traits and all pure logic of salesagent: no network and no
//! database crates live here.
//!
//! - [`model`]: ids, validated [`EmailAddress`](model::EmailAddress), drafts and their state
//!   machine, submissions, jobs, outcomes, voice profiles.
//! - [`ports`]: [`Crm`](ports::Crm), [`Mailbox`](ports::Mailbox), [`Drive`](ports::Drive),
//!   [`Calendar`](ports::Calendar), [`Llm`](ports::Llm), [`Store`](ports::Store),
//!   [`Clock`](ports::Clock) and the speech ports.
//! - [`Error`]: one error type whose variants say what the caller should do.
//! - `testing` (feature): in-memory fakes of every port and the conformance suites that every
//!   implementation runs against itself.

pub mod assistant;
pub mod error;
pub mod model;
pub mod outcomes;
pub mod pipeline;
pub mod ports;
pub mod prompt;
pub mod scoring;
pub mod sending;
pub mod slots;
#[cfg(feature = "testing")]
pub mod testing;
pub mod voice;
pub mod worker;
pub mod writer;

pub use error::{Error, Result};
