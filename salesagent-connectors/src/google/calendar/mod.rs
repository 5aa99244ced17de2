//! Google Calendar: the [`Calendar`](salesagent_core::ports::Calendar) port over Calendar v3
//! (`freebusy.query`, `events.list`, `events.insert`).

mod builder;
mod client;
pub mod model;

pub use builder::GoogleCalendarBuilder;

use crate::http::HttpService;

/// Default API base (Calendar's discovery `rootUrl`).
pub const DEFAULT_BASE_URL: &str = "https://www.googleapis.com/";

/// One Google calendar (default `primary`).
#[derive(Debug, Clone)]
pub struct GoogleCalendar {
    http: HttpService,
    calendar_id: String,
}

impl GoogleCalendar {
    /// A builder (see [`GoogleCalendarBuilder::from_env`]).
    #[must_use]
    pub fn builder() -> GoogleCalendarBuilder {
        GoogleCalendarBuilder::default()
    }
}
