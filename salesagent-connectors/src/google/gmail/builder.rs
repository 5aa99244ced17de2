//! Building a [`Gmail`] from the environment or by hand.

use super::{DEFAULT_BASE_URL, Gmail};
use crate::google::api::{GoogleApi, GoogleApiBuilder};
use crate::http::{HttpService, RateLimit};

/// Builder of [`Gmail`] (see [`GoogleApiBuilder`] for the shared settings).
pub type GmailBuilder = GoogleApiBuilder<Gmail>;

impl GoogleApi for Gmail {
    const NAME: &'static str = "gmail";
    const DEFAULT_BASE_URL: &'static str = DEFAULT_BASE_URL;
    const DEFAULT_RESOURCE: &'static str = "me";
    // Gmail allows 250 quota units per user per second; a get costs 5.
    const RATE_LIMIT: RateLimit = RateLimit {
        per_second: 25,
        burst: 25,
    };

    fn assemble(http: HttpService, user_id: String) -> Self {
        Gmail { http, user_id }
    }
}

impl GmailBuilder {
    /// The Gmail `userId` (default `me`).
    #[must_use]
    pub fn with_user_id(mut self, user: impl Into<String>) -> Self {
        self.resource = user.into();
        self
    }
}
