//! Building a [`HubSpot`] from the environment or by hand.

use super::{DEFAULT_BASE_URL, HubSpot, error::map_error};
use crate::http::{HttpConfig, HttpService, RateLimit, StaticBearer};
use salesagent_core::ports::{DynClock, SystemClock};
use salesagent_core::{Error, Result};
use secrecy::SecretString;
use std::sync::Arc;

/// Builder of [`HubSpot`]. Environment: `HUBSPOT_ACCESS_TOKEN` (or the older
/// `HUBSPOT_API_KEY`), `HUBSPOT_CLIENT_SECRET` (webhook signatures), `HUBSPOT_BASE_URL`.
#[derive(Debug, Clone)]
pub struct HubSpotBuilder {
    token: Option<SecretString>,
    client_secret: Option<SecretString>,
    base_url: String,
    http: HttpConfig,
    clock: DynClock,
}

impl Default for HubSpotBuilder {
    fn default() -> Self {
        // HubSpot's CRM search allows about 5 requests per second per account.
        let http = HttpConfig {
            rate_limit: Some(RateLimit {
                per_second: 5,
                burst: 5,
            }),
            ..HttpConfig::default()
        };
        Self {
            token: None,
            client_secret: None,
            base_url: DEFAULT_BASE_URL.to_owned(),
            http,
            clock: Arc::new(SystemClock),
        }
    }
}

impl HubSpotBuilder {
    /// Reads `HUBSPOT_ACCESS_TOKEN`/`HUBSPOT_API_KEY`, `HUBSPOT_CLIENT_SECRET`, `HUBSPOT_BASE_URL`.
    #[must_use]
    pub fn from_env() -> Self {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Like [`HubSpotBuilder::from_env`] with a custom variable lookup.
    #[must_use]
    pub fn from_lookup(var: impl Fn(&str) -> Option<String>) -> Self {
        let get = |k: &str| var(k).filter(|v| !v.trim().is_empty());
        let mut b = Self {
            token: get("HUBSPOT_ACCESS_TOKEN")
                .or_else(|| get("HUBSPOT_API_KEY"))
                .map(SecretString::from),
            client_secret: get("HUBSPOT_CLIENT_SECRET").map(SecretString::from),
            ..Self::default()
        };
        if let Some(u) = get("HUBSPOT_BASE_URL") {
            b.base_url = u;
        }
        b
    }

    /// True when a token is configured.
    #[must_use]
    pub fn is_configured(&self) -> bool {
        self.token.is_some()
    }

    /// Sets the private-app or OAuth access token.
    #[must_use]
    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(SecretString::from(token.into()));
        self
    }

    /// Sets the app's client secret (webhook signatures).
    #[must_use]
    pub fn with_client_secret(mut self, secret: impl Into<String>) -> Self {
        self.client_secret = Some(SecretString::from(secret.into()));
        self
    }

    /// Points at another API base (a mock server in tests).
    #[must_use]
    pub fn with_base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = url.into();
        self
    }

    /// Replaces the transport settings.
    #[must_use]
    pub fn with_http_config(mut self, config: HttpConfig) -> Self {
        self.http = config;
        self
    }

    /// Uses `clock` for webhook timestamps and task defaults.
    #[must_use]
    pub fn with_clock(mut self, clock: DynClock) -> Self {
        self.clock = clock;
        self
    }

    /// Builds the connector; `InvalidInput` when no token is set or the base URL is bad.
    pub fn build(self) -> Result<HubSpot> {
        let token = self
            .token
            .ok_or_else(|| Error::invalid("HUBSPOT_ACCESS_TOKEN", "is not set"))?;
        let http = HttpService::new("hubspot", &self.base_url, self.http, map_error)?
            .with_auth(Arc::new(StaticBearer::new("hubspot", token)))
            .with_clock(self.clock.clone());
        Ok(HubSpot {
            http,
            client_secret: self.client_secret,
            clock: self.clock,
        })
    }
}
