//! Send policy vocabulary: decisions, limits, reservations, suppression, approved recipients.

use super::{DraftId, EmailAddress};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The verdict on whether a draft may go out now.
///
/// Serialised as `{"decision": "allow" | "defer" | "deny", "until"?, "reason", "denial"?}`:
/// `reason` is the [`Denial`]'s text (what older rows and readers hold) and `denial` its
/// structured form. A row stored before `denial` existed reads back from its `reason` text
/// ([`Denial::from_text`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "DecisionWire", from = "DecisionWire")]
pub enum SendDecision {
    /// Go ahead.
    Allow,
    /// Not now; try again at `until`.
    Defer {
        /// Earliest time to try again.
        until: DateTime<Utc>,
        /// Why.
        reason: Denial,
    },
    /// Never (suppressed, kill switch, …) until something changes.
    Deny {
        /// Why.
        reason: Denial,
    },
}

impl SendDecision {
    /// True for [`SendDecision::Allow`].
    #[must_use]
    pub fn is_allow(&self) -> bool {
        matches!(self, Self::Allow)
    }

    /// The reason of a deferral or denial.
    #[must_use]
    pub fn denial(&self) -> Option<&Denial> {
        match self {
            Self::Allow => None,
            Self::Defer { reason, .. } | Self::Deny { reason } => Some(reason),
        }
    }
}

/// The stored and API form of a [`SendDecision`].
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "decision")]
enum DecisionWire {
    Allow,
    Defer {
        until: DateTime<Utc>,
        reason: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        denial: Option<Denial>,
    },
    Deny {
        reason: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        denial: Option<Denial>,
    },
}

impl From<SendDecision> for DecisionWire {
    fn from(d: SendDecision) -> Self {
        match d {
            SendDecision::Allow => Self::Allow,
            SendDecision::Defer { until, reason } => Self::Defer {
                until,
                reason: reason.to_string(),
                denial: Some(reason),
            },
            SendDecision::Deny { reason } => Self::Deny {
                reason: reason.to_string(),
                denial: Some(reason),
            },
        }
    }
}

impl From<DecisionWire> for SendDecision {
    fn from(w: DecisionWire) -> Self {
        match w {
            DecisionWire::Allow => Self::Allow,
            DecisionWire::Defer {
                until,
                reason,
                denial,
            } => Self::Defer {
                until,
                reason: denial.unwrap_or_else(|| Denial::from_text(&reason)),
            },
            DecisionWire::Deny { reason, denial } => Self::Deny {
                reason: denial.unwrap_or_else(|| Denial::from_text(&reason)),
            },
        }
    }
}

/// One rolling-window volume limit of [`SendLimits`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SendLimit {
    /// [`SendLimits::per_contact_week`].
    ContactWeek,
    /// [`SendLimits::per_contact_day`].
    ContactDay,
    /// [`SendLimits::per_sender_day`].
    SenderDay,
    /// [`SendLimits::per_domain_day`].
    DomainDay,
}

/// What a [`SendLimit`] counts sends by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LimitScope {
    /// The recipient's address.
    Contact,
    /// The sending mailbox.
    Sender,
    /// The recipient's domain.
    Domain,
}

impl SendLimit {
    /// Every limit, in the order a reservation checks them.
    pub const ALL: [Self; 4] = [
        Self::ContactWeek,
        Self::ContactDay,
        Self::SenderDay,
        Self::DomainDay,
    ];

    /// What the limit counts sends by.
    #[must_use]
    pub fn scope(self) -> LimitScope {
        match self {
            Self::ContactWeek | Self::ContactDay => LimitScope::Contact,
            Self::SenderDay => LimitScope::Sender,
            Self::DomainDay => LimitScope::Domain,
        }
    }

    /// The rolling window the limit counts over.
    #[must_use]
    pub fn window(self) -> chrono::TimeDelta {
        match self {
            Self::ContactWeek => chrono::TimeDelta::days(7),
            Self::ContactDay | Self::SenderDay | Self::DomainDay => chrono::TimeDelta::days(1),
        }
    }

    /// The limit's value in `limits`.
    #[must_use]
    pub fn of(self, limits: &SendLimits) -> u32 {
        match self {
            Self::ContactWeek => limits.per_contact_week,
            Self::ContactDay => limits.per_contact_day,
            Self::SenderDay => limits.per_sender_day,
            Self::DomainDay => limits.per_domain_day,
        }
    }

    /// Its name in reasons (`per-contact weekly limit`).
    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            Self::ContactWeek => "per-contact weekly limit",
            Self::ContactDay => "per-contact daily limit",
            Self::SenderDay => "per-sender daily limit",
            Self::DomainDay => "per-domain daily limit",
        }
    }
}

/// A full limit: its kind and its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LimitHit {
    /// Which limit.
    pub limit: SendLimit,
    /// Its value (sends per window).
    pub max: u32,
}

/// Why a send may not go out now (the reason of a [`SendDecision::Defer`] or `Deny`).
///
/// Its text (`Display`) is the reason shown by the API, the CLI and the draft history, and the
/// one older rows hold: the kill switch, suppression and window texts start with a code
/// (`kill_switch:`, `suppressed:`, `outside_send_window:`). Serialised (as the `denial` field
/// of a decision) as `{"kind": …, …fields}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Denial {
    /// The kill switch is on: nothing is sent.
    KillSwitch,
    /// The recipient is suppressed (or was erased).
    Suppressed {
        /// Why, when the suppression was read.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        suppression: Option<SuppressionReason>,
    },
    /// Outside the recipient's working hours; the window opens at `until`.
    OutsideWindow {
        /// When the window opens.
        until: DateTime<Utc>,
        /// Opening hour, local time.
        start_hour: u8,
        /// Closing hour, local time.
        end_hour: u8,
        /// The time zone the window was read in.
        time_zone: chrono_tz::Tz,
    },
    /// One or more volume limits are full until `until`.
    LimitReached {
        /// When every full limit has a free slot again.
        until: DateTime<Utc>,
        /// The full limits, in [`SendLimit::ALL`] order.
        limits: Vec<LimitHit>,
    },
    /// A volume limit is set to 0: nothing may be sent.
    LimitZero {
        /// Which limit.
        limit: SendLimit,
    },
    /// A reason stored as text before reasons were typed, that names none of the above.
    Other {
        /// The stored text.
        text: String,
    },
}

impl Denial {
    /// Reads a reason stored as text: the typed denial whose text it is, else
    /// [`Denial::Other`] holding it (so the text reads back unchanged).
    #[must_use]
    pub fn from_text(text: &str) -> Self {
        let mut known = vec![Self::KillSwitch, Self::Suppressed { suppression: None }];
        for s in [
            SuppressionReason::Unsubscribed,
            SuppressionReason::Bounced,
            SuppressionReason::Manual,
        ] {
            known.push(Self::Suppressed {
                suppression: Some(s),
            });
        }
        known
            .into_iter()
            .find(|d| d.to_string() == text)
            .unwrap_or_else(|| Self::Other {
                text: text.to_owned(),
            })
    }

    /// Its code: `kill_switch`, `suppressed`, `outside_send_window`, `send_limit`,
    /// `send_limit_zero` or `other`.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::KillSwitch => "kill_switch",
            Self::Suppressed { .. } => "suppressed",
            Self::OutsideWindow { .. } => "outside_send_window",
            Self::LimitReached { .. } => "send_limit",
            Self::LimitZero { .. } => "send_limit_zero",
            Self::Other { .. } => "other",
        }
    }

    /// True for [`Denial::KillSwitch`].
    #[must_use]
    pub fn is_kill_switch(&self) -> bool {
        matches!(self, Self::KillSwitch)
    }

    /// True for [`Denial::Suppressed`]: the draft is stopped for good.
    #[must_use]
    pub fn is_suppressed(&self) -> bool {
        matches!(self, Self::Suppressed { .. })
    }

    /// When the obstacle goes away by itself (window opens, a limit slot frees up).
    #[must_use]
    pub fn until(&self) -> Option<DateTime<Utc>> {
        match self {
            Self::OutsideWindow { until, .. } | Self::LimitReached { until, .. } => Some(*until),
            _ => None,
        }
    }
}

impl std::fmt::Display for Denial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::KillSwitch => f.write_str("kill_switch: sending is stopped by the kill switch"),
            Self::Suppressed { suppression } => {
                f.write_str("suppressed: recipient is on the suppression list")?;
                match suppression {
                    Some(s) => write!(f, " ({})", s.as_str()),
                    None => Ok(()),
                }
            }
            Self::OutsideWindow {
                until,
                start_hour,
                end_hour,
                time_zone,
            } => write!(
                f,
                "outside_send_window: {start_hour:02}:00-{end_hour:02}:00 {} opens at {}",
                time_zone.name(),
                until.with_timezone(time_zone).format("%Y-%m-%d %H:%M %Z")
            ),
            Self::LimitReached { limits, .. } => {
                for (i, hit) in limits.iter().enumerate() {
                    if i > 0 {
                        f.write_str("; ")?;
                    }
                    write!(f, "{} ({}) reached", hit.limit.label(), hit.max)?;
                }
                Ok(())
            }
            Self::LimitZero { limit } => write!(f, "{} is 0", limit.label()),
            Self::Other { text } => f.write_str(text),
        }
    }
}

impl From<&str> for Denial {
    fn from(text: &str) -> Self {
        Self::from_text(text)
    }
}

impl From<String> for Denial {
    fn from(text: String) -> Self {
        Self::from_text(&text)
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

impl SuppressionReason {
    /// Its name as serialised (`unsubscribed`, `bounced`, `manual`).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unsubscribed => "unsubscribed",
            Self::Bounced => "bounced",
            Self::Manual => "manual",
        }
    }
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
