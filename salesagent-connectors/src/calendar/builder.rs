//! Building a [`GoogleCalendar`] from the environment or by hand.

use super::{DEFAULT_BASE_URL, GoogleCalendar, error::map_error};
use crate::http::{Authorizer, HttpConfig, HttpService, RateLimit};
use salesagent_core::{Error, Result};
use std::sync::Arc;

/// Builder of [`GoogleCalendar`]. Environment: `GOOGLE_API_BASE_URL` (one base for all Google APIs,
/// e.g. a mock server). Tokens come from a [`GoogleAccount`](crate::google_oauth::GoogleAccount)
/// (or any [`Authorizer`]).
#[derive(Debug, Clone)]
pub struct GoogleCalendarBuilder {
    base_url: String,
    calendar_id: String,
    auth: Option<Arc<dyn Authorizer>>,
    http: HttpConfig,
}

impl Default for GoogleCalendarBuilder {
    fn default() -> Self {
        Self {
            base_url: DEFAULT_BASE_URL.to_owned(),
            calendar_id: "primary".to_owned(),
            auth: None,
            // A conservative client-side pace for Calendar's per-user quota.
            http: HttpConfig {
                rate_limit: Some(RateLimit {
                    per_second: 10,
                    burst: 20,
                }),
                ..HttpConfig::default()
            },
        }
    }
}

impl GoogleCalendarBuilder {
    /// Reads `GOOGLE_API_BASE_URL`.
    #[must_use]
    pub fn from_env() -> Self {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Like [`GoogleCalendarBuilder::from_env`] with a custom variable lookup.
    #[must_use]
    pub fn from_lookup(var: impl Fn(&str) -> Option<String>) -> Self {
        let mut b = Self::default();
        if let Some(u) = var("GOOGLE_API_BASE_URL").filter(|v| !v.trim().is_empty()) {
            b.base_url = u;
        }
        b
    }

    /// True when `GOOGLE_API_BASE_URL` (or [`Self::with_base_url`]) moved the API elsewhere;
    /// the credentials side is `GoogleOAuthBuilder::is_configured`.
    #[must_use]
    pub fn is_configured(&self) -> bool {
        self.base_url != DEFAULT_BASE_URL
    }

    /// Points at another base URL (a mock server in tests).
    #[must_use]
    pub fn with_base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = url.into();
        self
    }

    /// The tokens to use.
    #[must_use]
    pub fn with_authorizer(mut self, auth: Arc<dyn Authorizer>) -> Self {
        self.auth = Some(auth);
        self
    }

    /// The calendar id (default `primary`).
    #[must_use]
    pub fn with_calendar_id(mut self, user: impl Into<String>) -> Self {
        self.calendar_id = user.into();
        self
    }

    /// Replaces the transport settings.
    #[must_use]
    pub fn with_http_config(mut self, config: HttpConfig) -> Self {
        self.http = config;
        self
    }

    /// Builds the connector; `InvalidInput` without an authorizer.
    pub fn build(self) -> Result<GoogleCalendar> {
        let auth = self
            .auth
            .ok_or_else(|| Error::invalid("calendar", "needs a Google account (authorizer)"))?;
        let http =
            HttpService::new("calendar", &self.base_url, self.http, map_error)?.with_auth(auth);
        Ok(GoogleCalendar {
            http,
            calendar_id: self.calendar_id,
        })
    }
}
