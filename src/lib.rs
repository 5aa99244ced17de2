//! # salesagent
//!
//! Turns inbound leads into ready-to-send, personal sales emails, and keeps a human operator in
//! control of what goes out. This package re-exports the three crates of the workspace:
//!
//! - [`core`] (`salesagent-core`): the domain model, the port traits and all pure logic.
//! - [`connectors`] (`salesagent-connectors`): HubSpot, Gmail, Google Drive and Calendar, OpenAI.
//! - [`store`] (`salesagent-store`): the `Store` port on SQLite and PostgreSQL, with the job queue.
//!
//! The most used types are re-exported at the top level.

pub use salesagent_connectors as connectors;
pub use salesagent_core as core;
pub use salesagent_store as store;

pub use salesagent_core::model::{Draft, DraftId, DraftStatus, EmailAddress, FormSubmission};
pub use salesagent_core::ports::{Calendar, Clock, Crm, Drive, Llm, Mailbox, Store};
pub use salesagent_core::{Error, Result};

#[cfg(feature = "host")]
pub mod host;

#[cfg(feature = "replay")]
pub mod replay;
