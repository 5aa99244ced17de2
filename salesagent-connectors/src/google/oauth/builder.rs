//! Building a [`GoogleOAuth`] from the environment or by hand.

use super::{GoogleOAuth, Inner, endpoints};
use crate::http::{HttpConfig, build_client};
use salesagent_core::ports::{DynClock, SecretStore, SystemClock};
use salesagent_core::{Error, Result};
use secrecy::SecretString;
use std::sync::Arc;

/// Builder of [`GoogleOAuth`]. Environment: `GOOGLE_CLIENT_ID`, `GOOGLE_CLIENT_SECRET`,
/// `GOOGLE_REDIRECT_URI`, `GOOGLE_TOKEN_URL` (override of the token endpoint, for tests) and
/// `GOOGLE_AUTH_URL`.
#[derive(Clone)]
pub struct GoogleOAuthBuilder {
    client_id: Option<String>,
    client_secret: Option<SecretString>,
    redirect_uri: Option<String>,
    auth_url: String,
    token_url: String,
    http: HttpConfig,
    clock: DynClock,
}

impl std::fmt::Debug for GoogleOAuthBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GoogleOAuthBuilder")
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret)
            .field("redirect_uri", &self.redirect_uri)
            .field("token_url", &self.token_url)
            .finish_non_exhaustive()
    }
}

impl Default for GoogleOAuthBuilder {
    fn default() -> Self {
        Self {
            client_id: None,
            client_secret: None,
            redirect_uri: None,
            auth_url: endpoints::AUTH_URL.to_owned(),
            token_url: endpoints::TOKEN_URL.to_owned(),
            http: HttpConfig::default(),
            clock: Arc::new(SystemClock),
        }
    }
}

impl GoogleOAuthBuilder {
    /// Reads the `GOOGLE_*` variables listed on the type.
    #[must_use]
    pub fn from_env() -> Self {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Like [`GoogleOAuthBuilder::from_env`] with a custom variable lookup.
    #[must_use]
    pub fn from_lookup(var: impl Fn(&str) -> Option<String>) -> Self {
        let get = |k: &str| var(k).filter(|v| !v.trim().is_empty());
        let mut b = Self {
            client_id: get("GOOGLE_CLIENT_ID"),
            client_secret: get("GOOGLE_CLIENT_SECRET").map(SecretString::from),
            redirect_uri: get("GOOGLE_REDIRECT_URI"),
            ..Self::default()
        };
        if let Some(u) = get("GOOGLE_TOKEN_URL") {
            b.token_url = u;
        }
        if let Some(u) = get("GOOGLE_AUTH_URL") {
            b.auth_url = u;
        }
        b
    }

    /// True when client id and secret are set.
    #[must_use]
    pub fn is_configured(&self) -> bool {
        self.client_id.is_some() && self.client_secret.is_some()
    }

    /// Sets the OAuth client.
    #[must_use]
    pub fn with_client(mut self, id: impl Into<String>, secret: impl Into<String>) -> Self {
        self.client_id = Some(id.into());
        self.client_secret = Some(SecretString::from(secret.into()));
        self
    }

    /// Sets the redirect URI registered with Google.
    #[must_use]
    pub fn with_redirect_uri(mut self, uri: impl Into<String>) -> Self {
        self.redirect_uri = Some(uri.into());
        self
    }

    /// Sets the token endpoint (a mock server in tests).
    #[must_use]
    pub fn with_token_url(mut self, url: impl Into<String>) -> Self {
        self.token_url = url.into();
        self
    }

    /// Sets the authorization endpoint.
    #[must_use]
    pub fn with_auth_url(mut self, url: impl Into<String>) -> Self {
        self.auth_url = url.into();
        self
    }

    /// Sets the transport (timeouts; token requests are never redirected).
    #[must_use]
    pub fn with_http_config(mut self, config: HttpConfig) -> Self {
        self.http = config;
        self
    }

    /// Uses `clock` for expiry decisions.
    #[must_use]
    pub fn with_clock(mut self, clock: DynClock) -> Self {
        self.clock = clock;
        self
    }

    /// Builds the client, persisting tokens in `store`. `InvalidInput` when the client id,
    /// secret or redirect URI is missing, or a URL is malformed.
    pub fn build(self, store: Arc<dyn SecretStore>) -> Result<GoogleOAuth> {
        let client_id = self
            .client_id
            .ok_or_else(|| Error::invalid("GOOGLE_CLIENT_ID", "is not set"))?;
        let client_secret = self
            .client_secret
            .ok_or_else(|| Error::invalid("GOOGLE_CLIENT_SECRET", "is not set"))?;
        let redirect_uri = self
            .redirect_uri
            .ok_or_else(|| Error::invalid("GOOGLE_REDIRECT_URI", "is not set"))?;
        for (field, u) in [
            ("GOOGLE_REDIRECT_URI", &redirect_uri),
            ("GOOGLE_TOKEN_URL", &self.token_url),
            ("GOOGLE_AUTH_URL", &self.auth_url),
        ] {
            url::Url::parse(u).map_err(|e| Error::invalid(field, e.to_string()))?;
        }
        Ok(GoogleOAuth {
            inner: Arc::new(Inner {
                client_id,
                client_secret,
                redirect_uri,
                auth_url: self.auth_url,
                token_url: self.token_url,
                http: build_client(&self.http)?,
                store,
                clock: self.clock,
            }),
        })
    }
}
