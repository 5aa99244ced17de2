//! Building a [`Gmail`] from the environment or by hand.

use super::{DEFAULT_BASE_URL, Gmail, error::map_error};
use crate::http::{Authorizer, HttpConfig, HttpService, RateLimit};
use salesagent_core::{Error, Result};
use std::sync::Arc;

/// Builder of [`Gmail`]. Environment: `GOOGLE_API_BASE_URL` (one base for all Google APIs,
/// e.g. a mock server). Tokens come from a [`GoogleAccount`](crate::google_oauth::GoogleAccount)
/// (or any [`Authorizer`]).
#[derive(Debug, Clone)]
pub struct GmailBuilder {
    base_url: String,
    user_id: String,
    auth: Option<Arc<dyn Authorizer>>,
    http: HttpConfig,
}

impl Default for GmailBuilder {
    fn default() -> Self {
        Self {
            base_url: DEFAULT_BASE_URL.to_owned(),
            user_id: "me".to_owned(),
            auth: None,
            // Gmail allows 250 quota units per user per second; a get costs 5.
            http: HttpConfig {
                rate_limit: Some(RateLimit {
                    per_second: 25,
                    burst: 25,
                }),
                ..HttpConfig::default()
            },
        }
    }
}

impl GmailBuilder {
    /// Reads `GOOGLE_API_BASE_URL`.
    #[must_use]
    pub fn from_env() -> Self {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Like [`GmailBuilder::from_env`] with a custom variable lookup.
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

    /// The Gmail `userId` (default `me`).
    #[must_use]
    pub fn with_user_id(mut self, user: impl Into<String>) -> Self {
        self.user_id = user.into();
        self
    }

    /// Replaces the transport settings.
    #[must_use]
    pub fn with_http_config(mut self, config: HttpConfig) -> Self {
        self.http = config;
        self
    }

    /// Builds the connector; `InvalidInput` without an authorizer.
    pub fn build(self) -> Result<Gmail> {
        let auth = self
            .auth
            .ok_or_else(|| Error::invalid("gmail", "needs a Google account (authorizer)"))?;
        let http = HttpService::new("gmail", &self.base_url, self.http, map_error)?.with_auth(auth);
        Ok(Gmail {
            http,
            user_id: self.user_id,
        })
    }
}
