//! The webhook and operator service on axum (feature `host`, on by default).
//!
//! [`app`] builds the whole [`Router`] from an [`AppState`], so tests drive it in-process with
//! `tower::ServiceExt::oneshot` and `examples/webhook` only parses flags, builds the state and
//! serves it.
//!
//! | route | what |
//! |---|---|
//! | `POST /webhooks/forms` | canonical form-submission JSON, HubSpot v3 signature, `202 {"job_id"}` |
//! | `POST /webhooks/hubspot` | what HubSpot delivers: workflow contact payloads (`202 {"job_id"}`), event arrays (`202 {"job_ids", "ignored"}`, one `crm_contact_event` job per contact event) |
//! | `GET /api/jobs/{id}` | a job's state, attempts and last error |
//! | `/api/drafts…`, `/api/operator/…`, `/api/outcomes/…` | operator API (bearer token) |
//! | `POST /api/assistant/command`, `POST /api/assistant/audio` | the operator assistant (bearer token; [`assistant`](CommandReply)) |
//! | `/operator` | operator web page (login, session cookie, CSRF tokens) |
//! | `GET /healthz`, `/readyz`, `/metrics` | operations |
//!
//! Intake never runs the pipeline inline: it verifies the signature, stores the raw payload,
//! enqueues a durable job keyed by the submission's idempotency key and answers. A redelivery
//! answers `202` with the same job id. Client mistakes are 4xx with a JSON error, never 500.
//! Logs carry one span per request (method, route, status, latency) and never bodies or secrets.

mod assistant;
mod auth;
mod error;
mod intake;
mod operator;
mod ops;
mod ratelimit;
mod signature;
mod web;

pub use assistant::{CommandReply, MAX_AUDIO_BYTES, ReplyAudio};
pub use error::{ApiError, ApiResult};
pub use intake::{
    Accepted, AcceptedEvents, accept_events, accept_submission, contact_event_job, pipeline_job,
};
pub use ops::install_metrics;
pub use ratelimit::RateLimit;
pub use signature::{HEADER_TIMESTAMP, HEADER_V1V2, HEADER_V3, HEADER_VERSION, signed_uri};

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use metrics_exporter_prometheus::PrometheusHandle;
use salesagent_core::assistant::AssistantConfig;
use salesagent_core::ports::{DynClock, DynLlm, DynSpeechToText, DynStore, DynTextToSpeech};
use secrecy::SecretString;
use std::sync::Arc;
use std::time::Duration;

/// Largest accepted request body: 1 MiB. Larger bodies get `413`.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Environment variable holding the HubSpot app's client secret (signature key).
pub const ENV_HUBSPOT_SECRET: &str = "HUBSPOT_CLIENT_SECRET";
/// Environment variable holding the operator API bearer token (also the web login password).
pub const ENV_OPERATOR_TOKEN: &str = "SALESAGENT_OPERATOR_TOKEN";

/// How the host behaves. Secrets are [`SecretString`]s: `Debug` never prints them.
#[derive(Debug, Clone)]
pub struct HostConfig {
    /// The external origin HubSpot calls (`https://leads.example.com`, used to rebuild the
    /// v3-signed URI); `None` means `http://` + the request's `Host` header. Leave out the
    /// prefix the router is nested under (the request's original path already has it); add
    /// only a path prefix that a reverse proxy strips before forwarding.
    pub public_url: Option<String>,
    /// The HubSpot client secret; without it signed intake refuses every request.
    pub hubspot_secret: Option<SecretString>,
    /// Accept the older v1/v2 signatures on `/webhooks/hubspot` (v3 is always accepted).
    pub hubspot_legacy_signatures: bool,
    /// Accept unsigned webhooks when no secret is configured (local development only).
    pub allow_unsigned: bool,
    /// Operator bearer token; without it the operator API and web page refuse every request.
    pub operator_token: Option<SecretString>,
    /// Per-client limit on the operator API and web page.
    pub rate_limit: RateLimit,
    /// How long a web-page login lasts.
    pub session_ttl: Duration,
}

impl Default for HostConfig {
    fn default() -> Self {
        Self {
            public_url: None,
            hubspot_secret: None,
            hubspot_legacy_signatures: false,
            allow_unsigned: false,
            operator_token: None,
            rate_limit: RateLimit::default(),
            session_ttl: Duration::from_secs(8 * 3600),
        }
    }
}

impl HostConfig {
    /// Defaults, with the secrets read from [`ENV_HUBSPOT_SECRET`] and [`ENV_OPERATOR_TOKEN`]
    /// (empty values count as unset).
    #[must_use]
    pub fn from_env() -> Self {
        let secret = |name: &str| {
            std::env::var(name)
                .ok()
                .filter(|v| !v.trim().is_empty())
                .map(SecretString::from)
        };
        Self {
            hubspot_secret: secret(ENV_HUBSPOT_SECRET),
            operator_token: secret(ENV_OPERATOR_TOKEN),
            ..Self::default()
        }
    }

    /// True when cookies should carry `Secure` (the public URL is HTTPS).
    fn secure_cookies(&self) -> bool {
        self.public_url
            .as_deref()
            .is_some_and(|u| u.starts_with("https://"))
    }
}

/// Everything the routes share. Cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState {
    store: DynStore,
    clock: DynClock,
    config: Arc<HostConfig>,
    metrics: Option<PrometheusHandle>,
    sessions: Arc<auth::Sessions>,
    limiter: Arc<ratelimit::RateLimiter>,
    speech: assistant::Speech,
    assistant: Arc<assistant::Sessions>,
    assistant_llm: Option<DynLlm>,
}

impl AppState {
    /// State over `store`, reading time from `clock`, configured by `config`; no `/metrics`
    /// until [`AppState::with_metrics`].
    #[must_use]
    pub fn new(store: DynStore, clock: DynClock, config: HostConfig) -> Self {
        let limiter = ratelimit::RateLimiter::new(config.rate_limit);
        Self {
            store,
            clock,
            config: Arc::new(config),
            metrics: None,
            sessions: Arc::new(auth::Sessions::default()),
            limiter: Arc::new(limiter),
            speech: assistant::Speech::default(),
            assistant: Arc::new(assistant::Sessions::default()),
            assistant_llm: None,
        }
    }

    /// The model the assistant falls back to when the deterministic parser does not recognise
    /// a request (its answer is validated; free text is never executed). Without one, such
    /// requests get a clarifying question.
    #[must_use]
    pub fn with_assistant_llm(mut self, llm: DynLlm) -> Self {
        self.assistant_llm = Some(llm);
        self
    }

    /// Speech engines for `POST /api/assistant/audio`: without `stt` that route answers `503`,
    /// and without `tts` so does a request for a spoken reply.
    #[must_use]
    pub fn with_speech(
        mut self,
        stt: Option<DynSpeechToText>,
        tts: Option<DynTextToSpeech>,
    ) -> Self {
        self.speech = assistant::Speech { stt, tts };
        self
    }

    /// How the assistant behaves (by default: the send mode of the environment's sending
    /// settings, so approving asks for confirmation when real sends are on).
    #[must_use]
    pub fn with_assistant_config(mut self, config: AssistantConfig) -> Self {
        self.assistant = Arc::new(assistant::Sessions::new(Some(config)));
        self
    }

    /// Serves `/metrics` from `handle` (see [`install_metrics`]).
    #[must_use]
    pub fn with_metrics(mut self, handle: PrometheusHandle) -> Self {
        self.metrics = Some(handle);
        self
    }

    /// The store.
    #[must_use]
    pub fn store(&self) -> &DynStore {
        &self.store
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &HostConfig {
        &self.config
    }

    /// The current time from the state's clock.
    #[must_use]
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }
}

/// The whole service as one router: intake, jobs, operator API and web page, operations.
pub fn app(state: AppState) -> Router {
    let api = operator::routes()
        .merge(assistant::routes())
        .route("/api/jobs/{id}", get(intake::get_job))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::require_bearer,
        ));
    let web = web::routes();
    let limited = api
        .merge(web)
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            ratelimit::limit,
        ));
    Router::new()
        .route("/webhooks/forms", post(intake::forms))
        .route("/webhooks/hubspot", post(intake::hubspot))
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .merge(limited)
        .fallback(ops::not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn(ops::track))
        .layer(ops::trace_layer())
        .with_state(state)
}
