//! How a request gets its bearer token, and what happens after a 401.

use async_trait::async_trait;
use salesagent_core::{Error, Result};
use secrecy::SecretString;

/// Supplies bearer tokens to the HTTP layer.
#[async_trait]
pub trait Authorizer: Send + Sync + std::fmt::Debug + 'static {
    /// The token to send now (refreshing first when it is about to expire).
    async fn bearer(&self) -> Result<SecretString>;

    /// The service answered 401 to `rejected`: obtain a fresh token. The HTTP layer calls this
    /// at most once per request and then retries once. `Err` ends the request.
    async fn refresh_after_rejection(&self, rejected: &SecretString) -> Result<()>;
}

/// A fixed token (HubSpot private-app token, an API key): a 401 cannot be repaired.
#[derive(Debug, Clone)]
pub struct StaticBearer {
    service: &'static str,
    token: SecretString,
}

impl StaticBearer {
    /// A fixed bearer token for `service`.
    #[must_use]
    pub fn new(service: &'static str, token: SecretString) -> Self {
        Self { service, token }
    }
}

#[async_trait]
impl Authorizer for StaticBearer {
    async fn bearer(&self) -> Result<SecretString> {
        Ok(self.token.clone())
    }

    async fn refresh_after_rejection(&self, _rejected: &SecretString) -> Result<()> {
        Err(Error::unauthenticated(format!(
            "{}: the configured token was rejected",
            self.service
        )))
    }
}
