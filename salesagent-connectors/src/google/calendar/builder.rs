//! Building a [`GoogleCalendar`] from the environment or by hand.

use super::{DEFAULT_BASE_URL, GoogleCalendar};
use crate::google::api::{GoogleApi, GoogleApiBuilder};
use crate::http::{HttpService, RateLimit};

/// Builder of [`GoogleCalendar`] (see [`GoogleApiBuilder`] for the shared settings).
pub type GoogleCalendarBuilder = GoogleApiBuilder<GoogleCalendar>;

impl GoogleApi for GoogleCalendar {
    const NAME: &'static str = "calendar";
    const DEFAULT_BASE_URL: &'static str = DEFAULT_BASE_URL;
    const DEFAULT_RESOURCE: &'static str = "primary";
    // A conservative client-side pace for Calendar's per-user quota.
    const RATE_LIMIT: RateLimit = RateLimit {
        per_second: 10,
        burst: 20,
    };

    fn assemble(http: HttpService, calendar_id: String) -> Self {
        GoogleCalendar { http, calendar_id }
    }
}

impl GoogleCalendarBuilder {
    /// The calendar id (default `primary`).
    #[must_use]
    pub fn with_calendar_id(mut self, calendar: impl Into<String>) -> Self {
        self.resource = calendar.into();
        self
    }
}
