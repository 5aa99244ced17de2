//! Google OAuth 2.0 (authorization code + PKCE) with tokens kept in the
//! `SecretStore` (a core port).
//!
//! [`GoogleOAuth`] builds the consent URL and exchanges the code. [`GoogleAccount`] is the
//! [`Authorizer`](crate::http::Authorizer) the Gmail, Drive and Calendar connectors use: it
//! refreshes 5 minutes before expiry and once after a 401, lets concurrent callers share one
//! in-flight refresh, and on `invalid_grant` marks the account as needing re-authorisation and
//! fails with `Unauthenticated`. Token requests go through our `reqwest` client with redirects
//! disabled; no token is ever logged or `Debug`-printed.

mod builder;
mod client;
/// The shared Google error mapping, kept at its old path; it lives in [`crate::google::error`].
pub use super::error;
pub mod model;

pub use builder::GoogleOAuthBuilder;
pub use client::GoogleAccount;
pub use model::{AuthorizationRequest, code_from_redirect, endpoints, scopes};

use salesagent_core::ports::{DynClock, SecretStore};
use secrecy::SecretString;
use std::sync::Arc;
use std::time::Duration;

/// Refresh this long before the access token expires.
pub const REFRESH_SKEW: Duration = Duration::from_secs(300);

/// An OAuth client registered with Google. `Debug` hides the client secret.
#[derive(Clone)]
pub struct GoogleOAuth {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) client_id: String,
    pub(crate) client_secret: SecretString,
    pub(crate) redirect_uri: String,
    pub(crate) auth_url: String,
    pub(crate) token_url: String,
    pub(crate) http: reqwest::Client,
    pub(crate) store: Arc<dyn SecretStore>,
    pub(crate) clock: DynClock,
}

impl std::fmt::Debug for GoogleOAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GoogleOAuth")
            .field("client_id", &self.inner.client_id)
            .field("redirect_uri", &self.inner.redirect_uri)
            .field("token_url", &self.inner.token_url)
            .finish_non_exhaustive()
    }
}

impl GoogleOAuth {
    /// A builder (see [`GoogleOAuthBuilder::from_env`]).
    #[must_use]
    pub fn builder() -> GoogleOAuthBuilder {
        GoogleOAuthBuilder::default()
    }

    /// The authorizer for one account (the mailbox address the tokens belong to).
    #[must_use]
    pub fn account(&self, account: impl Into<String>) -> Arc<GoogleAccount> {
        Arc::new(GoogleAccount::new(self.inner.clone(), account.into()))
    }
}
