//! Outcomes: what happened after we wrote to a lead, how we detect it, and what it changes.
//!
//! - [`ImpactTable`]: the documented, configurable points per [`OutcomeType`](crate::model::OutcomeType).
//! - [`classify_raw`] / [`classify_message`]: one inbound message → human reply, automatic
//!   reply, bounce (permanent or transient) or request to stop, with the rules listed in
//!   [`classify`].
//! - [`Outcomes`]: records outcomes idempotently (by `source_event_id`), runs the detectors over
//!   the mailbox, CRM deals and tasks, the calendar and silence since our sends, and applies the
//!   effects (pending drafts stopped, addresses suppressed).
//! - [`OutcomeScanner`]: the scans as recurring jobs, one per [`ScanSource`] across all
//!   workers ([`ensure_outcome_scans`] at start-up, [`wake_outcome_scan`] to scan now).
//! - [`priority_adjustment`]: the bounded (±20), decaying nudge a contact's outcome history gives
//!   its priority score.
//!
//! Time is read only through the [`Clock`](crate::ports::Clock) port.

pub mod classify;
mod detect;
mod effects;
mod impact;
mod record;
pub mod reply_text;
mod scan;
mod sentiment;
mod stats;

/// The reply-text heuristics under their old name; use [`reply_text`].
#[deprecated(since = "0.1.0", note = "renamed to `outcomes::reply_text`")]
pub mod text {
    pub use super::reply_text::*;
}

pub use classify::{BounceInfo, Classification, MailKind, classify_message, classify_raw};
pub use detect::ScanReport;
pub use effects::{
    ApsConfig, MAX_ADJUSTMENT, priority_adjustment, queue_adjustment, stop_drafts, stops_drafts,
    suppress, suppression_reason,
};
pub use impact::{ImpactRow, ImpactTable, MAX_IMPACT, MIN_IMPACT};
pub use record::{
    NewOutcome, OutcomeConfig, Outcomes, Recorded, UnsubscribeReceipt, settings_keys,
};
pub use scan::{
    OutcomeScanConfig, OutcomeScanJob, OutcomeScanner, ScanSource, ensure_outcome_scans,
    wake_outcome_scan,
};
pub use sentiment::{Sentiment, SentimentSource, classify_sentiment, fallback_sentiment};
pub use stats::{OutcomeStats, SenderStats, StatsBucket, StatsQuery, compute_stats};
