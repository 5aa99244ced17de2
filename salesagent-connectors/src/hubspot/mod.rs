//! HubSpot: the [`Crm`](salesagent_core::ports::Crm) port over CRM v3/v4, plus webhook
//! signature verification and payload parsing ([`webhook`]).
//!
//! Authentication is a private-app token or an OAuth access token, sent as a bearer token.

mod builder;
mod client;
pub mod error;
pub mod model;
pub mod webhook;

pub use builder::HubSpotBuilder;

use crate::http::HttpService;
use salesagent_core::model::{Contact, FormSubmission};
use salesagent_core::ports::{Crm as _, DynClock};
use salesagent_core::{Error, Result};
use secrecy::SecretString;

/// Default API base.
pub const DEFAULT_BASE_URL: &str = "https://api.hubapi.com";

/// A HubSpot account. `Debug` never shows the token or the client secret.
#[derive(Debug, Clone)]
pub struct HubSpot {
    http: HttpService,
    client_secret: Option<SecretString>,
    clock: DynClock,
}

impl HubSpot {
    /// A builder (see [`HubSpotBuilder::from_env`]).
    #[must_use]
    pub fn builder() -> HubSpotBuilder {
        HubSpotBuilder::default()
    }

    /// The HTTP service (breaker state, base URL).
    #[must_use]
    pub fn http(&self) -> &HttpService {
        &self.http
    }

    /// Verifies a webhook request's signature with the configured client secret
    /// (`HUBSPOT_CLIENT_SECRET`). Without a secret every request is refused.
    pub fn verify_webhook(
        &self,
        request: &webhook::WebhookRequest<'_>,
    ) -> Result<webhook::SignatureVersion> {
        let secret = self.client_secret.as_ref().ok_or_else(|| {
            Error::unauthenticated(
                "hubspot: HUBSPOT_CLIENT_SECRET is not set; cannot verify webhooks",
            )
        })?;
        webhook::verify(secret, request, self.clock.now())
    }

    /// Turns a Webhooks-API contact event into a submission by reading the contact.
    pub async fn submission_for_event(
        &self,
        event: &webhook::ContactEvent,
    ) -> Result<FormSubmission> {
        let contact: Contact = self
            .get_contact(&salesagent_core::model::CrmId::new(event.object_id.clone()))
            .await?;
        event.to_submission(&contact, self.clock.now())
    }
}
