//! Sequences as data: the configured steps, and one contact's sequence state.

use crate::model::{DraftId, EmailAddress, MessageId, ThreadId};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What a follow-up is for; the writer is told, and the template fallback has one text each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepPurpose {
    /// A short nudge: "did this reach you?".
    Bump,
    /// Something useful: a fact, a case, a resource.
    Value,
    /// The last message: "I'll stop writing; here is how to reach me".
    BreakUp,
}

impl StepPurpose {
    /// The stable snake_case name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Bump => "bump",
            Self::Value => "value",
            Self::BreakUp => "break_up",
        }
    }
}

/// One step: wait this many business days after the previous message was sent, then draft a
/// follow-up with this purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// Business days (Monday to Friday, in the recipient's time zone) after the previous send.
    pub wait_business_days: u32,
    /// What the follow-up is for.
    pub purpose: StepPurpose,
}

fn default_true() -> bool {
    true
}

fn default_pause_days() -> u32 {
    7
}

fn default_steps() -> Vec<Step> {
    DEFAULT_STEPS.to_vec()
}

/// The follow-up sequence every sent first e-mail enrols its contact in.
///
/// Business days are counted in the recipient's time zone: the CRM contact's IANA zone when the
/// [`Sequences`](super::Sequences) service has a CRM and the contact has one, else
/// `time_zone` (the sender's), else UTC. Deserialises with unknown fields refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SequenceConfig {
    /// Whether sent first e-mails enrol their contact (default true).
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// The follow-ups, in order (the first e-mail is not a step; absent: the default three).
    #[serde(default = "default_steps")]
    pub steps: Vec<Step>,
    /// How long an out-of-office reply without a return date pauses the sequence, in days
    /// (default 7).
    #[serde(default = "default_pause_days")]
    pub out_of_office_default_days: u32,
    /// The zone business days are counted in when the contact's is unknown (IANA name; default
    /// UTC).
    #[serde(default)]
    pub time_zone: Option<String>,
    /// Public holidays that are no business day for any recipient (local dates in the
    /// recipient's zone, `2026-12-25`).
    #[serde(default)]
    pub holidays: Vec<NaiveDate>,
    /// More holidays per recipient country: keyed by the value of the CRM contact's `country`
    /// property (`DE`, `France`; matched ignoring case), added to [`Self::holidays`] for that
    /// contact.
    #[serde(default)]
    pub holidays_by_country: BTreeMap<String, Vec<NaiveDate>>,
}

/// At most this many holiday dates in a [`SequenceConfig`] (global and per country together).
pub const MAX_HOLIDAYS: usize = 1000;

impl Default for SequenceConfig {
    /// Three follow-ups: a bump after 3 business days, something of value 4 business days
    /// later, a break-up 7 business days after that.
    fn default() -> Self {
        Self {
            enabled: true,
            steps: DEFAULT_STEPS.to_vec(),
            out_of_office_default_days: default_pause_days(),
            time_zone: None,
            holidays: Vec::new(),
            holidays_by_country: BTreeMap::new(),
        }
    }
}

/// The default three follow-ups.
const DEFAULT_STEPS: [Step; 3] = [
    Step {
        wait_business_days: 3,
        purpose: StepPurpose::Bump,
    },
    Step {
        wait_business_days: 4,
        purpose: StepPurpose::Value,
    },
    Step {
        wait_business_days: 7,
        purpose: StepPurpose::BreakUp,
    },
];

impl SequenceConfig {
    /// Checks the configuration: at most 10 steps, waits of at most 60 business days, a known
    /// time zone, a default pause of 1..=60 days.
    ///
    /// # Errors
    /// `InvalidInput` naming the field.
    pub fn validate(&self) -> crate::Result<()> {
        if self.steps.len() > 10 {
            return Err(crate::Error::invalid("steps", "at most 10 steps"));
        }
        if self.steps.iter().any(|s| s.wait_business_days > 60) {
            return Err(crate::Error::invalid(
                "wait_business_days",
                "at most 60 business days",
            ));
        }
        if !(1..=60).contains(&self.out_of_office_default_days) {
            return Err(crate::Error::invalid(
                "out_of_office_default_days",
                "must be 1..=60",
            ));
        }
        if let Some(tz) = &self.time_zone
            && crate::sending::policy::parse_time_zone(tz).is_none()
        {
            return Err(crate::Error::invalid(
                "time_zone",
                format!("unknown time zone {tz:?}"),
            ));
        }
        let dates = self.holidays.len()
            + self
                .holidays_by_country
                .values()
                .map(Vec::len)
                .sum::<usize>();
        if dates > MAX_HOLIDAYS {
            return Err(crate::Error::invalid(
                "holidays",
                format!("{dates} holiday dates; at most {MAX_HOLIDAYS}"),
            ));
        }
        if let Some(country) = self
            .holidays_by_country
            .keys()
            .find(|k| k.trim().is_empty() || k.len() > 64)
        {
            return Err(crate::Error::invalid(
                "holidays_by_country",
                format!("country {country:?}: must be 1 to 64 characters"),
            ));
        }
        Ok(())
    }

    /// The holidays of a recipient in `country` (the global ones and the country's), sorted,
    /// without repeats.
    #[must_use]
    pub fn holidays_for(&self, country: Option<&str>) -> Vec<NaiveDate> {
        let mut days = self.holidays.clone();
        if let Some(country) = country.map(str::trim) {
            for (k, v) in &self.holidays_by_country {
                if k.trim().eq_ignore_ascii_case(country) {
                    days.extend_from_slice(v);
                }
            }
        }
        days.sort_unstable();
        days.dedup();
        days
    }
}

/// Where a contact's sequence is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SequenceStatus {
    /// Waiting for the next step (or for its follow-up to be approved and sent).
    Active,
    /// Paused by an out-of-office reply until [`Sequence::paused_until`].
    Paused,
    /// Ended early, see [`Sequence::stop_reason`].
    Stopped,
    /// Every step was sent.
    Completed,
}

impl SequenceStatus {
    /// Every status.
    pub const ALL: [SequenceStatus; 4] =
        [Self::Active, Self::Paused, Self::Stopped, Self::Completed];

    /// The stable snake_case name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Paused => "paused",
            Self::Stopped => "stopped",
            Self::Completed => "completed",
        }
    }

    /// True for statuses a sequence never leaves.
    #[must_use]
    pub fn is_finished(self) -> bool {
        matches!(self, Self::Stopped | Self::Completed)
    }
}

impl std::fmt::Display for SequenceStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for SequenceStatus {
    type Err = crate::Error;
    fn from_str(s: &str) -> crate::Result<Self> {
        Self::ALL
            .into_iter()
            .find(|st| st.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                crate::Error::invalid("status", format!("unknown sequence status {s:?}"))
            })
    }
}

/// Why a sequence ended early.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "reason")]
pub enum StopReason {
    /// A person answered (any human reply, positive or negative).
    Replied,
    /// A meeting was booked.
    MeetingBooked,
    /// The contact asked to stop.
    Unsubscribed,
    /// Mail to the contact bounced.
    Bounced,
    /// A deal was created for the contact.
    DealCreated,
    /// The contact's deal advanced (or was won).
    DealAdvanced,
    /// The address is on the suppression list.
    Suppressed,
    /// An operator (API, web page, CLI, assistant) stopped it.
    Manual {
        /// Who.
        actor: String,
    },
    /// An operator rejected its follow-up draft.
    FollowUpRejected,
    /// Its follow-up could not be sent.
    SendFailed,
}

impl StopReason {
    /// The stable snake_case name.
    #[must_use]
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Replied => "replied",
            Self::MeetingBooked => "meeting_booked",
            Self::Unsubscribed => "unsubscribed",
            Self::Bounced => "bounced",
            Self::DealCreated => "deal_created",
            Self::DealAdvanced => "deal_advanced",
            Self::Suppressed => "suppressed",
            Self::Manual { .. } => "manual",
            Self::FollowUpRejected => "follow_up_rejected",
            Self::SendFailed => "send_failed",
        }
    }
}

impl std::fmt::Display for StopReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Manual { actor } => write!(f, "manual ({actor})"),
            other => f.write_str(other.as_str()),
        }
    }
}

/// A message of the sequence's thread that went out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThreadMessage {
    /// The draft it was.
    pub draft_id: DraftId,
    /// Its Message-ID.
    pub message_id: MessageId,
    /// Its subject.
    pub subject: String,
    /// When it was sent.
    pub sent_at: DateTime<Utc>,
    /// Its step (0 = the first e-mail, 1 = the first follow-up, …).
    pub step: u32,
}

/// One thing that happened to a sequence (its history, shown to operators).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SequenceEvent {
    /// When.
    pub at: DateTime<Utc>,
    /// What, in a few words (`enrolled`, `drafted step 1`, `paused until …`, `stopped: replied`).
    pub what: String,
}

/// One contact's sequence: the thread so far, the next step and when it is due, or why it is
/// paused or stopped. Stored per contact ([`SequenceStore`](crate::ports::SequenceStore)),
/// written with optimistic versions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sequence {
    /// Our id (keys its step jobs).
    pub id: uuid::Uuid,
    /// The recipient.
    pub contact_email: EmailAddress,
    /// The mailbox it goes out from.
    pub sender: EmailAddress,
    /// Where it is.
    pub status: SequenceStatus,
    /// Bumped on every write; writes name the version they read.
    pub version: u32,
    /// Bumped whenever the step job is rescheduled; a step job of an older generation does
    /// nothing.
    pub generation: u32,
    /// The steps, as configured when the contact was enrolled.
    pub plan: Vec<Step>,
    /// Follow-ups sent so far (the next step is `plan[sent_steps]`).
    pub sent_steps: u32,
    /// The follow-up drafted for the next step, waiting for approval and sending.
    pub pending_draft: Option<DraftId>,
    /// Every follow-up drafted, in order.
    pub drafts: Vec<DraftId>,
    /// The messages sent in the thread, oldest first (the first e-mail first).
    pub messages: Vec<ThreadMessage>,
    /// The provider's thread id (Gmail `threadId`), when known.
    pub provider_thread_id: Option<ThreadId>,
    /// The next step's wait counts from here: the last send, or the return date after a pause.
    pub anchor_at: DateTime<Utc>,
    /// The next step's wait when it differs from the plan (after a pause: what was left of it).
    pub wait_override: Option<u32>,
    /// When the next follow-up is due to be drafted (None when finished or waiting for a send).
    pub next_due: Option<DateTime<Utc>>,
    /// The recipient's IANA time zone, when known.
    pub time_zone: Option<String>,
    /// Whether the CRM was asked for the time zone already.
    pub time_zone_checked: bool,
    /// The recipient's country as the CRM states it (its `country` property), when known.
    #[serde(default)]
    pub country: Option<String>,
    /// The public holidays its business days skip (the configuration's global ones from
    /// enrolment, and its country's once the CRM named it), sorted.
    #[serde(default)]
    pub holidays: Vec<NaiveDate>,
    /// Until when it is paused.
    pub paused_until: Option<DateTime<Utc>>,
    /// Why it is paused.
    pub pause_reason: Option<String>,
    /// Why it stopped.
    pub stop_reason: Option<StopReason>,
    /// When it stopped or completed.
    pub ended_at: Option<DateTime<Utc>>,
    /// The step the contact last received when it stopped (0 = only the first e-mail).
    pub stopped_after_step: Option<u32>,
    /// Source ids of the out-of-office messages already acted on (a rescan pauses once).
    pub pause_sources: Vec<String>,
    /// What happened, oldest first (at most [`MAX_EVENTS`]).
    pub events: Vec<SequenceEvent>,
    /// Every change since enrolment as the input it was made from, oldest first: folding it
    /// through [`replay`](super::history::replay) gives this state again (see
    /// [`history`](super::history)). Empty for a sequence stored before it was kept.
    #[serde(default)]
    pub journal: Vec<super::history::SequenceOp>,
    /// Enrolled.
    pub enrolled_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

/// The most history events a sequence keeps (the oldest are dropped).
pub const MAX_EVENTS: usize = 50;

impl Sequence {
    /// The next step, if any is left.
    #[must_use]
    pub fn next_step(&self) -> Option<Step> {
        self.plan.get(self.sent_steps as usize).copied()
    }

    /// The last message sent in the thread.
    #[must_use]
    pub fn last_message(&self) -> Option<&ThreadMessage> {
        self.messages.last()
    }

    /// Appends a history event (keeping at most [`MAX_EVENTS`]).
    pub fn note(&mut self, at: DateTime<Utc>, what: impl Into<String>) {
        self.events.push(SequenceEvent {
            at,
            what: what.into(),
        });
        if self.events.len() > MAX_EVENTS {
            let extra = self.events.len() - MAX_EVENTS;
            self.events.drain(..extra);
        }
    }

    /// The stored id of the step job of the current generation (its idempotency key).
    #[must_use]
    pub fn job_key(&self) -> String {
        format!("sequence:{}:{}", self.id, self.generation)
    }
}

/// Which sequences to list.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SequenceFilter {
    /// Only this status.
    pub status: Option<SequenceStatus>,
    /// At most this many, most recently changed first (0 = no limit).
    pub limit: u32,
}
