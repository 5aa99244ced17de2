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
//! | `GET /api/jobs/{id}` | a job's state, attempts and last error (bearer token) |
//! | `GET /api/jobs?state=dead&kind=&limit=`, `POST /api/jobs/{id}/requeue` | dead letters: list, requeue (bearer token) |
//! | `/api/drafts…`, `/api/operator/…`, `/api/outcomes/…` | operator API (bearer token) |
//! | `POST /api/assistant/command`, `POST /api/assistant/audio` | the operator assistant (bearer token; [`assistant`](CommandReply)) |
//! | `POST /unsubscribe/{token}`, `GET /unsubscribe/{token}` | RFC 8058 one-click unsubscribe (no auth; [`one_click_links`]) |
//! | `/operator` | operator web page (login, session cookie, CSRF tokens) |
//! | `GET /healthz`, `/readyz`, `/metrics` | operations |
//!
//! Operators authenticate with their own token (`cli operators add NAME`) or the host's
//! `SALESAGENT_OPERATOR_TOKEN` (the operator `admin`); the audit log records
//! [`Operator::actor`] for every change they make. Failed logins and bearer tokens are
//! throttled per client address and per operator.
//!
//! Nothing internal leaks: every response carries an `x-request-id`; a `500` body says only
//! that, with the detail in the log line of that request id; `/readyz` says ready or not;
//! requests taking longer than [`HostConfig::request_timeout`] get a `503`.
//!
//! Intake never runs the pipeline inline: it verifies the signature, stores the raw payload,
//! enqueues a durable job keyed by the submission's idempotency key and answers. A redelivery
//! answers `202` with the same job id. Client mistakes are 4xx with a JSON error, never 500.
//! Logs carry one span per request (method, route, status, latency) and never bodies or secrets.

mod actions;
mod assistant;
mod auth;
mod error;
mod extract;
mod intake;
mod jobs;
mod operator;
mod ops;
mod ratelimit;
mod sequences;
mod signature;
mod unsubscribe;
mod web;

pub use assistant::{CommandReply, MAX_AUDIO_BYTES, ReplyAudio};
pub use auth::Operator;
pub use error::{ApiError, ApiResult, RequestId};
pub use intake::{
    Accepted, AcceptedEvents, accept_events, accept_submission, contact_event_job, pipeline_job,
};
pub use jobs::{DEFAULT_JOB_LIST_LIMIT, JobView, MAX_JOB_LIST_LIMIT};
pub use ops::install_metrics;
pub use ratelimit::RateLimit;
pub use signature::{HEADER_TIMESTAMP, HEADER_V1V2, HEADER_V3, HEADER_VERSION, signed_uri};
pub use unsubscribe::{
    MAX_UNSUBSCRIBE_BODY_BYTES, configure_mime, one_click_links, unsubscribe_secret,
};

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use metrics_exporter_prometheus::PrometheusHandle;
use salesagent_core::assistant::AssistantConfig;
use salesagent_core::outcomes::OutcomeConfig;
use salesagent_core::ports::{DynClock, DynLlm, DynSpeechToText, DynStore, DynTextToSpeech};
use salesagent_core::sending::{OperatorQueue, QueueConfig};
use secrecy::SecretString;
use std::sync::Arc;
use std::time::Duration;

/// Largest accepted request body: 1 MiB. Larger bodies get `413`.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Environment variable holding the HubSpot app's client secret (signature key).
pub const ENV_HUBSPOT_SECRET: &str = "HUBSPOT_CLIENT_SECRET";
/// Environment variable holding the operator API bearer token (also the web login password).
pub const ENV_OPERATOR_TOKEN: &str = "SALESAGENT_OPERATOR_TOKEN";
/// Environment variable holding the secret one-click unsubscribe tokens are keyed with
/// ([`HostConfig::unsubscribe_secret`]).
pub const ENV_UNSUBSCRIBE_SECRET: &str = "SALESAGENT_UNSUBSCRIBE_SECRET";
/// Environment variable naming the trusted proxy header ([`HostConfig::trusted_proxy_header`]).
pub const ENV_TRUSTED_PROXY_HEADER: &str = "SALESAGENT_TRUSTED_PROXY_HEADER";

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
    /// The admin operator's token (`SALESAGENT_OPERATOR_TOKEN`, the operator `admin`); without
    /// it only named operators' tokens are accepted. A blank token is never accepted.
    pub operator_token: Option<SecretString>,
    /// Per-client limit on the operator API and web page.
    pub rate_limit: RateLimit,
    /// Budget of failed logins and bearer tokens, per client address and per operator
    /// (default [`RateLimit::failed_logins`]: 10 a minute).
    pub failed_login_limit: RateLimit,
    /// The header a trusted reverse proxy puts the client address in (`X-Forwarded-For`, of
    /// which the last hop counts, or `X-Real-IP`); `None` (the default): the socket address.
    /// Set it only when every request comes through that proxy, or clients can pick their
    /// own address.
    pub trusted_proxy_header: Option<String>,
    /// The host sits behind TLS (a terminating proxy): cookies carry `Secure` and the signed
    /// webhook URI is `https://` + `Host`. Also implied by an `https://` [`Self::public_url`].
    pub behind_tls: bool,
    /// Longest a request may take before it is answered `503` (default 30 s).
    pub request_timeout: Duration,
    /// How long a web-page login lasts.
    pub session_ttl: Duration,
    /// The secret one-click unsubscribe tokens are keyed with (at least 16 bytes); `None`: a
    /// random one generated on first use and kept in the store's settings, so restarts keep
    /// old links valid. The links are `{public_url}/unsubscribe/{token}`
    /// ([`one_click_links`]).
    pub unsubscribe_secret: Option<SecretString>,
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
            failed_login_limit: RateLimit::failed_logins(),
            trusted_proxy_header: None,
            behind_tls: false,
            request_timeout: Duration::from_secs(30),
            session_ttl: Duration::from_secs(8 * 3600),
            unsubscribe_secret: None,
        }
    }
}

impl HostConfig {
    /// Defaults, with the secrets read from [`ENV_HUBSPOT_SECRET`] and [`ENV_OPERATOR_TOKEN`]
    /// and the proxy header from [`ENV_TRUSTED_PROXY_HEADER`] (empty values count as unset).
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
            unsubscribe_secret: secret(ENV_UNSUBSCRIBE_SECRET),
            trusted_proxy_header: std::env::var(ENV_TRUSTED_PROXY_HEADER)
                .ok()
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty()),
            ..Self::default()
        }
    }

    /// True when the host is told it sits behind TLS: [`Self::behind_tls`] or an `https://`
    /// public URL. Cookies then carry `Secure`.
    #[must_use]
    pub fn is_behind_tls(&self) -> bool {
        self.behind_tls
            || self
                .public_url
                .as_deref()
                .is_some_and(|u| u.starts_with("https://"))
    }

    /// True when cookies should carry `Secure`.
    fn secure_cookies(&self) -> bool {
        self.is_behind_tls()
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
    failures: Arc<ratelimit::RateLimiter>,
    speech: assistant::Speech,
    assistant: Arc<assistant::Sessions>,
    assistant_llm: Option<DynLlm>,
    unsubscribe: Arc<unsubscribe::UnsubscribeState>,
    queue: OperatorQueue,
    outcomes: SharedOutcomeConfig,
}

/// The outcome impacts the operator routes record with (manual outcomes, one-click
/// unsubscribes), shared with whoever reloads them: [`SharedOutcomeConfig::set`] takes effect
/// for the next request. Cheap to clone (one shared cell).
#[derive(Debug, Clone, Default)]
pub struct SharedOutcomeConfig(Arc<std::sync::RwLock<OutcomeConfig>>);

impl SharedOutcomeConfig {
    /// A cell holding `config`.
    #[must_use]
    pub fn new(config: OutcomeConfig) -> Self {
        Self(Arc::new(std::sync::RwLock::new(config)))
    }

    /// The configuration now.
    #[must_use]
    pub fn get(&self) -> OutcomeConfig {
        self.0
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Replaces the configuration (a settings reload).
    pub fn set(&self, config: OutcomeConfig) {
        *self
            .0
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = config;
    }
}

impl AppState {
    /// State over `store`, reading time from `clock`, configured by `config`; no `/metrics`
    /// until [`AppState::with_metrics`].
    #[must_use]
    pub fn new(store: DynStore, clock: DynClock, config: HostConfig) -> Self {
        let limiter = ratelimit::RateLimiter::new(config.rate_limit);
        let failures = ratelimit::RateLimiter::new(config.failed_login_limit);
        let queue = OperatorQueue::standard(store.clone(), clock.clone(), QueueConfig::default());
        Self {
            store,
            clock,
            config: Arc::new(config),
            metrics: None,
            sessions: Arc::new(auth::Sessions::default()),
            limiter: Arc::new(limiter),
            failures: Arc::new(failures),
            speech: assistant::Speech::default(),
            assistant: Arc::new(assistant::Sessions::default()),
            assistant_llm: None,
            unsubscribe: Arc::default(),
            queue,
            outcomes: SharedOutcomeConfig::default(),
        }
    }

    /// Records the operator routes' outcomes (manual outcomes, one-click unsubscribes) with
    /// these impacts instead of the defaults; keep [`AppState::outcome_config`] to change them
    /// while the host runs.
    #[must_use]
    pub fn with_outcome_config(self, config: OutcomeConfig) -> Self {
        self.outcomes.set(config);
        self
    }

    /// The shared outcome impacts of the operator routes (a settings reload sets them).
    #[must_use]
    pub fn outcome_config(&self) -> &SharedOutcomeConfig {
        &self.outcomes
    }

    /// Orders the operator queue with `config` (the API, the web page and the assistant all list
    /// and decide through this one [`OperatorQueue`]).
    #[must_use]
    pub fn with_queue_config(mut self, config: QueueConfig) -> Self {
        self.queue = OperatorQueue::standard(self.store.clone(), self.clock.clone(), config);
        self
    }

    /// The operator queue: the one path that lists, approves, rejects and edits drafts.
    #[must_use]
    pub fn queue(&self) -> &OperatorQueue {
        &self.queue
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
        .merge(jobs::routes())
        .merge(sequences::routes())
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::require_bearer,
        ));
    let web = web::routes().route_layer(axum::middleware::from_fn_with_state(
        state.clone(),
        auth::end_revoked_sessions,
    ));
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
        .merge(unsubscribe::routes(&state))
        .merge(limited)
        .fallback(ops::not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn(ops::track))
        .layer(ops::timeout_layer(state.config().request_timeout))
        .layer(ops::trace_layer())
        .layer(axum::middleware::from_fn(error::request_id))
        .with_state(state)
}
