//! Send policy vocabulary: decisions, limits, reservations, suppression, approved recipients.

use super::{DraftId, EmailAddress};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The verdict on whether a draft may go out now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "decision")]
pub enum SendDecision {
    /// Go ahead.
    Allow,
    /// Not now; try again at `until`.
    Defer {
        /// Earliest time to try again.
        until: DateTime<Utc>,
        /// Why.
        reason: String,
    },
    /// Never (suppressed, kill switch, …) until something changes.
    Deny {
        /// Why.
        reason: String,
    },
}

impl SendDecision {
    /// True for [`SendDecision::Allow`].
    #[must_use]
    pub fn is_allow(&self) -> bool {
        matches!(self, Self::Allow)
    }
}

/// Volume limits checked atomically when a send is reserved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendLimits {
    /// Sends to one contact per rolling 7 days.
    pub per_contact_week: u32,
    /// Sends to one contact per rolling 24 hours.
    pub per_contact_day: u32,
    /// Sends from one sender per rolling 24 hours.
    pub per_sender_day: u32,
    /// Sends to one recipient domain per rolling 24 hours.
    pub per_domain_day: u32,
}

impl Default for SendLimits {
    /// The seed's limits: 2 per week and 20 per day per contact; 200/day per sender; 50/day per domain.
    fn default() -> Self {
        Self {
            per_contact_week: 2,
            per_contact_day: 20,
            per_sender_day: 200,
            per_domain_day: 50,
        }
    }
}

/// A request to reserve one send against the limits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendReservation {
    /// The draft being sent (a second reservation for the same draft is idempotent).
    pub draft_id: DraftId,
    /// Recipient.
    pub contact: EmailAddress,
    /// Sending mailbox.
    pub sender: EmailAddress,
    /// When the send happens.
    pub at: DateTime<Utc>,
}

/// Why an address is suppressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SuppressionReason {
    /// The recipient unsubscribed.
    Unsubscribed,
    /// Mail to it bounced permanently.
    Bounced,
    /// An operator added it.
    Manual,
}

/// An address that is never mailed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Suppression {
    /// The address.
    pub email: EmailAddress,
    /// Why.
    pub reason: SuppressionReason,
    /// Free-text detail.
    pub note: Option<String>,
    /// When added.
    pub added_at: DateTime<Utc>,
}

/// A recipient an operator approved for automatic sending.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovedRecipient {
    /// The address.
    pub email: EmailAddress,
    /// Who approved it.
    pub added_by: String,
    /// When.
    pub added_at: DateTime<Utc>,
}
