//! # salesagent-connectors
//!
//! Real-service implementations of the `salesagent-core` ports, all over one shared HTTP layer
//! ([`http`]): retries with backoff and jitter, `Retry-After`, client-side rate limits, a circuit
//! breaker per service, redacted tracing spans and metrics.
//!
//! | port | connector | environment |
//! |---|---|---|
//! | `Crm` | [`hubspot::HubSpot`] | `HUBSPOT_ACCESS_TOKEN` (or `HUBSPOT_API_KEY`), `HUBSPOT_CLIENT_SECRET` (webhooks), `HUBSPOT_BASE_URL` |
//! | `Mailbox` | [`google::gmail::Gmail`] | Google OAuth below, `GOOGLE_API_BASE_URL` |
//! | `Drive` | [`google::drive::GoogleDrive`] | Google OAuth below, `GOOGLE_API_BASE_URL` |
//! | `Calendar` | [`google::calendar::GoogleCalendar`] | Google OAuth below, `GOOGLE_API_BASE_URL` |
//! | `Llm`, speech | [`openai::OpenAi`] | `OPENAI_API_KEY`, `OPENAI_BASE_URL` (any OpenAI-compatible server), `OPENAI_MODEL`, `OPENAI_TRANSCRIBE_MODEL`, `OPENAI_TTS_MODEL`, `OPENAI_TTS_VOICE`, `OPENAI_DAILY_TOKEN_BUDGET`, `OPENAI_STRUCTURED_OUTPUT` (start the negotiation at `json_schema`, `json_object` or `prompt`) |
//! | `Mailbox` (files) | [`outbox::Outbox`] | `outbox:DIR` |
//! | `Mailbox` (any IMAP + SMTP) | `imap::ImapMailbox` (feature `imap`) | `IMAP_URL`, `SMTP_URL`, `IMAP_SENT_COPY`, `IMAP_SENT_FOLDER`, `IMAP_DRAFTS_FOLDER`, `IMAP_CA_FILE`; XOAUTH2: `OAUTH_PROVIDER` ([`oauth_provider`]) |
//! | `TextToSpeech` (offline) | [`espeak::Espeak`] | `ESPEAK_NG_PATH`, `ESPEAK_NG_VOICE` |
//! | OAuth | [`google::oauth::GoogleOAuth`] | `GOOGLE_CLIENT_ID`, `GOOGLE_CLIENT_SECRET`, `GOOGLE_REDIRECT_URI`, `GOOGLE_TOKEN_URL`, `GOOGLE_AUTH_URL` |
//!
//! Every connector has a builder with `from_env()` and `with_base_url(..)` (for tests against a
//! mock server) and a harmless authenticated `check()` read for health checks (`doctor`).
//! `*_BASE_URL` / `*_TOKEN_URL` variables override the service endpoints; they are meant for
//! mock servers, sandboxes and OpenAI-compatible model servers.
//!
//! HubSpot webhooks: [`hubspot::webhook::verify_and_parse`] checks the v1/v2/v3 signature and
//! turns the body into submissions (pure, no I/O), for the webhook host to call.
//!
//! ## Quickstart
//!
//! Connectors are built from the environment in production
//! ([`hubspot::HubSpotBuilder::from_env`] and the like) and pointed at a mock server in tests. Here the HubSpot CRM runs
//! against a `wiremock` server answering one search:
//!
//! ```
//! use salesagent_connectors::hubspot::HubSpot;
//! use salesagent_core::model::EmailAddress;
//! use salesagent_core::ports::Crm as _;
//! use wiremock::matchers::{method, path};
//! use wiremock::{Mock, MockServer, ResponseTemplate};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> salesagent_core::Result<()> {
//! let server = MockServer::start().await;
//! Mock::given(method("POST"))
//!     .and(path("/crm/v3/objects/contacts/search"))
//!     .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
//!         "total": 0, "results": []
//!     })))
//!     .mount(&server)
//!     .await;
//!
//! let crm = HubSpot::builder()
//!     .with_token("pat-na1-example") // or from_env(): HUBSPOT_ACCESS_TOKEN
//!     .with_base_url(server.uri())
//!     .build()?;
//! let lead = EmailAddress::parse("ann@acme-robotics.de")?;
//! assert!(crm.find_contact_by_email(&lead).await?.is_none());
//!
//! // Without a token the builder says which setting is missing, as a typed error.
//! let err = HubSpot::builder().build().unwrap_err();
//! assert_eq!(err.kind(), "invalid_input");
//! # Ok(()) }
//! ```
//!
//! ## Errors
//!
//! Every connector maps its service's failures onto `salesagent_core::Error` in its `error.rs`:
//! 401 is `Unauthenticated`, 403 `PermissionDenied`, 404 `NotFound`, 409 `Conflict`, 400/422
//! `InvalidInput`, 429 `RateLimited` (with the `Retry-After` delay), 5xx and network failures
//! `Unavailable`, deadlines `Timeout`; Google's daily quota (`dailyLimitExceeded`) is
//! `RateLimited` until it resets. The HTTP layer retries only what `Error::is_retryable`
//! allows; a non-idempotent request (a send, a create) is sent again only when it never left
//! (see [`http::Idempotency`]), so the caller's job queue is the one place that retries it. An
//! open circuit breaker fails fast with `Unavailable`. Tokens and keys are `secrecy::SecretString`s and never reach a log
//! line, an error message or `Debug` output.
//!
//! ## Writing your own connector
//!
//! Implement the port trait from `salesagent_core::ports`, reuse [`http::HttpService`] for
//! retries, rate limits and the breaker, and run the port's conformance suite
//! (`salesagent_core::testing::conformance::<port>::run`, feature `testing`) against it over a
//! mock server, as `tests/conformance.rs` does for every connector here. The `salesagent`
//! package's `examples/custom_crm.rs` is a complete worked example.
//!
//! Feature flags: `imap` (default) builds the IMAP + SMTP mailbox (`async-imap`, `lettre`).

pub mod espeak;
pub mod google;
pub mod http;
pub mod hubspot;
#[cfg(feature = "imap")]
pub mod imap;
pub mod oauth_provider;
pub mod openai;
pub mod outbox;

// The Google connectors live under `google/`; their old top-level paths keep working.
pub use google::api as google_api;
pub use google::oauth as google_oauth;
pub use google::{calendar, drive, gmail};
