//! Calendar vocabulary: busy intervals, events, holds.

use super::{EmailAddress, EventId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A half-open time interval `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Interval {
    /// Start (inclusive).
    pub start: DateTime<Utc>,
    /// End (exclusive).
    pub end: DateTime<Utc>,
}

impl Interval {
    /// True when the two intervals share any instant.
    #[must_use]
    pub fn overlaps(&self, other: &Interval) -> bool {
        self.start < other.end && other.start < self.end
    }
}

/// Status of a calendar event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventStatus {
    /// Confirmed.
    Confirmed,
    /// Tentative (e.g. our holds).
    Tentative,
    /// Cancelled.
    Cancelled,
}

/// An attendee's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttendeeResponse {
    /// No answer yet.
    NeedsAction,
    /// Accepted.
    Accepted,
    /// Declined.
    Declined,
    /// Maybe.
    Tentative,
}

/// An event attendee.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attendee {
    /// Address.
    pub email: EmailAddress,
    /// Their answer.
    pub response: AttendeeResponse,
}

/// A calendar event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CalendarEvent {
    /// Provider's id.
    pub id: EventId,
    /// Title.
    pub summary: String,
    /// When.
    pub interval: Interval,
    /// Status.
    pub status: EventStatus,
    /// Attendees.
    pub attendees: Vec<Attendee>,
    /// Created.
    pub created_at: Option<DateTime<Utc>>,
    /// Last updated (moves when rescheduled).
    pub updated_at: Option<DateTime<Utc>>,
}

/// A tentative hold to insert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewEvent {
    /// Title.
    pub summary: String,
    /// Description.
    pub description: String,
    /// When.
    pub interval: Interval,
    /// Invitees.
    pub attendees: Vec<EmailAddress>,
    /// Tentative (hold) or confirmed.
    pub status: EventStatus,
}
