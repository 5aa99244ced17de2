//! Follow-up sequences that stop themselves.
//!
//! A sent first e-mail enrols its contact in a [`SequenceConfig`] (by default three
//! follow-ups: a bump after 3 business days, something of value 4 later, a break-up 7 after
//! that), when [`Sequences::activate`] has stored it as the running configuration.
//!
//! - **Follow-ups are drafts like any other**: written with the thread as context
//!   ([`follow_up`]: the [`Llm`](crate::ports::Llm) port, a template per purpose when it fails),
//!   threaded (`In-Reply-To` the last message sent, `References` the whole chain, the Gmail
//!   `threadId`, `Re:` subject), then queued for approval (or the auto-approval rules), sent by
//!   the exactly-once sender under the same limits and windows.
//! - **Durable timing**: each sequence has one step job ([`SEQUENCE_STEP`], payload
//!   [`SequenceStepJob`]) in the store's queue, keyed by sequence and generation; any change of
//!   schedule writes the sequence and its next job in one atomic write and bumps the
//!   generation, so an older job does nothing. Nothing is timed in memory: a restart, or
//!   several workers, pick up where the store says. Writes are optimistic (versioned).
//! - **Replayable**: every change is one [`history::SequenceOp`] (its input: the send, the
//!   reply, the pause with its return date, the instant and zone it was counted in), applied
//!   by [`history::record`] and kept in the sequence's journal in the same write;
//!   [`history::replay`] folds a journal back into the state the store holds.
//! - **Stops** ([`StopReason`]), each recorded: any human reply (positive or negative), a
//!   meeting booked, an unsubscribe, a bounce, a deal created or advanced (through
//!   [`on_outcome`], which [`Outcomes::record`](crate::outcomes::Outcomes::record) calls), a
//!   suppression, a manual stop ([`Sequences::stop`]: API, CLI, assistant), a rejected or failed
//!   follow-up. The unsent follow-up is discarded.
//! - **Pauses**: an out-of-office reply (recognised by its headers or its text, see
//!   [`ooo`]) pauses the sequence until the return date it states, one week without one
//!   ([`on_automatic_reply`], called by the mailbox scan); the step's remaining business days
//!   count again from the return date.
//! - **Business days** are counted in the recipient's time zone: the CRM contact's IANA zone
//!   when the service has a CRM ([`Sequences::with_crm`]), else [`SequenceConfig::time_zone`],
//!   else UTC; public holidays ([`SequenceConfig::holidays`], and per country of the CRM
//!   contact [`SequenceConfig::holidays_by_country`]) are no business days.
//! - **Visible**: [`Sequences::get`], [`Sequences::list`], [`Sequences::stats`] (per step:
//!   sent, replied, stopped by reason).

pub mod follow_up;
pub mod history;
mod model;
pub mod ooo;
pub mod rules;
pub mod schedule;
mod service;
mod stats;

pub use model::{
    MAX_EVENTS, MAX_HOLIDAYS, Sequence, SequenceConfig, SequenceEvent, SequenceFilter,
    SequenceStatus, Step, StepPurpose, StopReason, ThreadMessage,
};
pub use service::{
    ACTOR, CONFIG_KEY, SEQUENCE_STEP, SequenceStepJob, Sequences, activate, active_config,
    on_automatic_reply, on_outcome, on_sent, stop_by_operator, stop_contact,
};
pub use stats::{SequenceStats, StepStats, compute_stats};
