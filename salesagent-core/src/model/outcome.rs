//! Outcomes: what happened after we wrote to a lead, with impact scores.

use super::{DraftId, EmailAddress, OutcomeId};
use crate::{Error, Result};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Outcome category.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeCategory {
    /// Mail events.
    Email,
    /// Meeting events.
    Meeting,
    /// Deal events.
    Deal,
    /// Task events.
    Task,
    /// Response sentiment and silence.
    General,
}

macro_rules! outcome_types {
    ($( $(#[$doc:meta])* $variant:ident = $name:literal, $cat:ident, $impact:expr; )*) => {
        /// Every outcome type the library records.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum OutcomeType {
            $( $(#[$doc])* $variant, )*
        }

        impl OutcomeType {
            /// All 20 types, in table order.
            pub const ALL: &'static [OutcomeType] = &[$(Self::$variant),*];

            /// The stable snake_case name.
            #[must_use]
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $name,)* }
            }

            /// The category.
            #[must_use]
            pub fn category(self) -> OutcomeCategory {
                match self { $(Self::$variant => OutcomeCategory::$cat,)* }
            }

            /// The default impact score in −5..=+10.
            #[must_use]
            pub fn default_impact(self) -> i32 {
                match self { $(Self::$variant => $impact,)* }
            }
        }
    };
}

outcome_types! {
    /// We sent a message.
    EmailSent = "email_sent", Email, 1;
    /// The recipient opened it (tracking pixel).
    EmailOpened = "email_opened", Email, 1;
    /// The recipient clicked a link.
    EmailClicked = "email_clicked", Email, 2;
    /// A human replied.
    EmailReplied = "email_replied", Email, 5;
    /// It bounced permanently.
    EmailBounced = "email_bounced", Email, -3;
    /// The recipient unsubscribed.
    EmailUnsubscribed = "email_unsubscribed", Email, -5;
    /// A meeting was booked.
    MeetingBooked = "meeting_booked", Meeting, 8;
    /// The meeting took place.
    MeetingHeld = "meeting_held", Meeting, 10;
    /// The lead did not show up.
    MeetingNoShow = "meeting_no_show", Meeting, -3;
    /// The meeting moved.
    MeetingRescheduled = "meeting_rescheduled", Meeting, 0;
    /// A deal was created.
    DealCreated = "deal_created", Deal, 8;
    /// A deal moved forward.
    DealStageAdvanced = "deal_stage_advanced", Deal, 6;
    /// A deal moved back.
    DealStageRegressed = "deal_stage_regressed", Deal, -3;
    /// A deal was won.
    DealWon = "deal_won", Deal, 10;
    /// A deal was lost.
    DealLost = "deal_lost", Deal, -5;
    /// A follow-up task was completed.
    TaskCompleted = "task_completed", Task, 2;
    /// A follow-up task is overdue.
    TaskOverdue = "task_overdue", Task, -1;
    /// A reply was positive.
    PositiveResponse = "positive_response", General, 6;
    /// A reply was negative.
    NegativeResponse = "negative_response", General, -4;
    /// No reply after the configured silence.
    NoResponse = "no_response", General, -1;
}

impl std::fmt::Display for OutcomeType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for OutcomeType {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let s = s.trim();
        Self::ALL
            .iter()
            .copied()
            .find(|t| t.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| Error::invalid("outcome_type", format!("unknown outcome type {s:?}")))
    }
}

/// A recorded outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    /// Our id.
    pub id: OutcomeId,
    /// What happened.
    pub outcome_type: OutcomeType,
    /// The contact it concerns.
    pub contact_email: EmailAddress,
    /// The sender involved, if known.
    pub sender: Option<EmailAddress>,
    /// The draft involved, if known.
    pub draft_id: Option<DraftId>,
    /// Impact score used for this record.
    pub impact: i32,
    /// Idempotency key: the id of the event it was detected from (`gmail:…`, `hubspot-deal:…`).
    pub source_event_id: String,
    /// When it happened.
    pub occurred_at: DateTime<Utc>,
    /// When we recorded it.
    pub recorded_at: DateTime<Utc>,
    /// Free-text detail (no message bodies).
    pub details: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_complete_and_bounded() {
        assert_eq!(OutcomeType::ALL.len(), 20);
        for t in OutcomeType::ALL {
            assert!((-5..=10).contains(&t.default_impact()));
            assert_eq!(t.as_str().parse::<OutcomeType>().unwrap(), *t);
            assert_eq!(
                serde_json::to_string(t).unwrap(),
                format!("\"{}\"", t.as_str())
            );
        }
        for c in [
            OutcomeCategory::Email,
            OutcomeCategory::Meeting,
            OutcomeCategory::Deal,
            OutcomeCategory::Task,
            OutcomeCategory::General,
        ] {
            assert!(OutcomeType::ALL.iter().any(|t| t.category() == c));
        }
    }
}
