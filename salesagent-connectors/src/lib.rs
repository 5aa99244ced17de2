//! # salesagent-connectors
//!
//! Real-service implementations of the `salesagent-core` ports, all over one shared HTTP layer
//! ([`http`]): retries with backoff and jitter, `Retry-After`, client-side rate limits, a circuit
//! breaker per service, redacted tracing spans and metrics.
//!
//! | port | connector | environment |
//! |---|---|---|
//! | `Crm` | [`hubspot::HubSpot`] | `HUBSPOT_ACCESS_TOKEN` (or `HUBSPOT_API_KEY`), `HUBSPOT_CLIENT_SECRET` (webhooks), `HUBSPOT_BASE_URL` |
//! | `Mailbox` | [`gmail::Gmail`] | Google OAuth below, `GOOGLE_API_BASE_URL` |
//! | `Drive` | [`drive::GoogleDrive`] | Google OAuth below, `GOOGLE_API_BASE_URL` |
//! | `Calendar` | [`calendar::GoogleCalendar`] | Google OAuth below, `GOOGLE_API_BASE_URL` |
//! | `Llm`, speech | [`openai::OpenAi`] | `OPENAI_API_KEY`, `OPENAI_BASE_URL` (any OpenAI-compatible server), `OPENAI_MODEL`, `OPENAI_TRANSCRIBE_MODEL`, `OPENAI_TTS_MODEL`, `OPENAI_TTS_VOICE`, `OPENAI_DAILY_TOKEN_BUDGET` |
//! | `Mailbox` (files) | [`outbox::Outbox`] | `outbox:DIR` |
//! | `TextToSpeech` (offline) | [`espeak::Espeak`] | `ESPEAK_NG_PATH`, `ESPEAK_NG_VOICE` |
//! | OAuth | [`google_oauth::GoogleOAuth`] | `GOOGLE_CLIENT_ID`, `GOOGLE_CLIENT_SECRET`, `GOOGLE_REDIRECT_URI`, `GOOGLE_TOKEN_URL`, `GOOGLE_AUTH_URL` |
//!
//! Every connector has a builder with `from_env()` and `with_base_url(..)` (for tests against a
//! mock server) and a harmless authenticated `check()` read for health checks (`doctor`).
//! `*_BASE_URL` / `*_TOKEN_URL` variables override the service endpoints; they are meant for
//! mock servers, sandboxes and OpenAI-compatible model servers.
//!
//! HubSpot webhooks: [`hubspot::webhook::verify_and_parse`] checks the v1/v2/v3 signature and
//! turns the body into submissions (pure, no I/O), for the webhook host to call.

pub mod calendar;
pub mod drive;
pub mod espeak;
pub mod gmail;
pub mod google_api;
pub mod google_oauth;
pub mod http;
pub mod hubspot;
pub mod openai;
pub mod outbox;
