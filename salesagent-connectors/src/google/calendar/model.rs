//! Calendar v3 wire types, as in `contracts/google/calendar.v3.discovery.json`.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `FreeBusyRequestItem`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FreeBusyRequestItem {
    /// Calendar id.
    pub id: String,
}

/// `FreeBusyRequest`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FreeBusyRequest {
    /// RFC 3339 start.
    pub time_min: String,
    /// RFC 3339 end.
    pub time_max: String,
    /// Calendars to query.
    pub items: Vec<FreeBusyRequestItem>,
}

/// `TimePeriod`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimePeriod {
    /// Start.
    pub start: String,
    /// End.
    pub end: String,
}

/// `Error` inside a `FreeBusyCalendar`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct CalendarError {
    /// Domain.
    #[serde(default)]
    pub domain: Option<String>,
    /// Reason (`notFound`, `internalError`, ...).
    #[serde(default)]
    pub reason: Option<String>,
}

/// `FreeBusyCalendar`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct FreeBusyCalendar {
    /// Busy periods.
    #[serde(default)]
    pub busy: Vec<TimePeriod>,
    /// Per-calendar errors.
    #[serde(default)]
    pub errors: Vec<CalendarError>,
}

/// `FreeBusyResponse`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct FreeBusyResponse {
    /// By calendar id.
    #[serde(default)]
    pub calendars: BTreeMap<String, FreeBusyCalendar>,
}

/// `EventDateTime`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct EventDateTime {
    /// All-day date.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
    /// RFC 3339 time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_time: Option<String>,
}

/// `EventAttendee`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct EventAttendee {
    /// Address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// `needsAction`, `declined`, `tentative`, `accepted`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_status: Option<String>,
}

/// `Event` (the fields we read or write).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Event {
    /// Id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// Description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<EventDateTime>,
    /// End.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<EventDateTime>,
    /// `confirmed`, `tentative`, `cancelled`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Attendees.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attendees: Vec<EventAttendee>,
    /// Created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// Updated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated: Option<String>,
}

/// `Events`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Events {
    /// Events.
    #[serde(default)]
    pub items: Vec<Event>,
    /// Next page.
    #[serde(default)]
    pub next_page_token: Option<String>,
}
