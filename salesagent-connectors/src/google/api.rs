//! The builder the Google API connectors ([`Gmail`](crate::google::gmail::Gmail),
//! [`GoogleDrive`](crate::google::drive::GoogleDrive), [`GoogleCalendar`](crate::google::calendar::GoogleCalendar))
//! share: one base URL for all Google APIs (`GOOGLE_API_BASE_URL`, e.g. a mock server), the
//! tokens of a [`GoogleAccount`](crate::google::oauth::GoogleAccount) (or any [`Authorizer`]), and
//! the transport settings.

use crate::google::error::map_google_error;
use crate::http::{Authorizer, HttpConfig, HttpService, RateLimit};
use salesagent_core::ports::DynClock;
use salesagent_core::{Error, Result};
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

/// What differs between the Google API connectors.
pub trait GoogleApi: Sized {
    /// Service name in errors, logs and metrics.
    const NAME: &'static str;
    /// The production base URL (the API's discovery `rootUrl`).
    const DEFAULT_BASE_URL: &'static str;
    /// The default resource the connector works on (Gmail `userId`, calendar id; empty if none).
    const DEFAULT_RESOURCE: &'static str;
    /// A client-side pace within the API's per-user quota.
    const RATE_LIMIT: RateLimit;

    /// Builds the connector from its HTTP service and resource id.
    fn assemble(http: HttpService, resource: String) -> Self;
}

/// Builder of a Google API connector `T` (see the aliases
/// [`GmailBuilder`](crate::google::gmail::GmailBuilder), [`GoogleDriveBuilder`](crate::google::drive::GoogleDriveBuilder)
/// and [`GoogleCalendarBuilder`](crate::google::calendar::GoogleCalendarBuilder)).
pub struct GoogleApiBuilder<T> {
    base_url: String,
    pub(crate) resource: String,
    auth: Option<Arc<dyn Authorizer>>,
    http: HttpConfig,
    clock: Option<DynClock>,
    api: PhantomData<fn() -> T>,
}

impl<T: GoogleApi> Default for GoogleApiBuilder<T> {
    fn default() -> Self {
        Self {
            base_url: T::DEFAULT_BASE_URL.to_owned(),
            resource: T::DEFAULT_RESOURCE.to_owned(),
            auth: None,
            http: HttpConfig {
                rate_limit: Some(T::RATE_LIMIT),
                ..HttpConfig::default()
            },
            clock: None,
            api: PhantomData,
        }
    }
}

impl<T> Clone for GoogleApiBuilder<T> {
    fn clone(&self) -> Self {
        Self {
            base_url: self.base_url.clone(),
            resource: self.resource.clone(),
            auth: self.auth.clone(),
            http: self.http.clone(),
            clock: self.clock.clone(),
            api: PhantomData,
        }
    }
}

impl<T: GoogleApi> fmt::Debug for GoogleApiBuilder<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GoogleApiBuilder")
            .field("service", &T::NAME)
            .field("base_url", &self.base_url)
            .field("resource", &self.resource)
            .field("auth", &self.auth)
            .field("http", &self.http)
            .finish()
    }
}

impl<T: GoogleApi> GoogleApiBuilder<T> {
    /// Reads `GOOGLE_API_BASE_URL`.
    #[must_use]
    pub fn from_env() -> Self {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Like [`GoogleApiBuilder::from_env`] with a custom variable lookup.
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
        self.base_url != T::DEFAULT_BASE_URL
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

    /// Replaces the transport settings.
    #[must_use]
    pub fn with_http_config(mut self, config: HttpConfig) -> Self {
        self.http = config;
        self
    }

    /// Reads the time from `clock` (`Retry-After` dates, when a daily quota resets); default
    /// the system clock.
    #[must_use]
    pub fn with_clock(mut self, clock: DynClock) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Builds the connector; `InvalidInput` without an authorizer.
    ///
    /// # Errors
    /// `InvalidInput` without an authorizer or with an unusable base URL.
    pub fn build(self) -> Result<T> {
        let auth = self
            .auth
            .ok_or_else(|| Error::invalid(T::NAME, "needs a Google account (authorizer)"))?;
        let mut http =
            HttpService::new(T::NAME, &self.base_url, self.http, map_google_error)?.with_auth(auth);
        if let Some(clock) = self.clock {
            http = http.with_clock(clock);
        }
        Ok(T::assemble(http, self.resource))
    }
}
