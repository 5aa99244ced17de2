//! The one HTTP layer every connector uses.
//!
//! [`HttpService`] wraps a `reqwest` client (rustls, connect and request timeouts, no redirects)
//! for one remote service and adds, in this order around each attempt:
//! circuit breaker ([`breaker`]) → client-side rate limit (`governor`) → bearer token
//! ([`auth`]) → send → map failures onto the core `Error` (the connector's mapper) →
//! retry transient failures with the library's one [`RetryPolicy`] backoff, honouring
//! `Retry-After` ([`retry`]). A 401 triggers exactly one token refresh and one more attempt.
//! Each attempt runs in a tracing span that carries no header, token or query value, and is
//! counted in the metrics of [`metrics`].
//!
//! **Who may be sent twice.** Every [`Request`] carries an [`Idempotency`]. An idempotent one
//! (GET, PUT, DELETE, and POSTs that only read, such as searches) is retried on any transient
//! failure. A non-idempotent one (POST and PATCH unless marked otherwise: sends, creates) is
//! re-sent only when it never left this process (the connection could not be made, or the
//! bearer token could not be obtained), and once after a 401, an answer with which the
//! server refuses to act on the request at all. A timeout, a reset connection, a 5xx or a 429
//! ends it: the error goes to the caller, whose job queue owns the retry (and reconciles
//! first). Cancelling a request (dropping its future) is safe: the breaker's trial permit is
//! given back on drop.

pub mod auth;
pub mod breaker;
pub mod error;
pub mod metrics;
pub mod retry;

pub use auth::{Authorizer, StaticBearer};
pub use breaker::{BreakerConfig, BreakerState, CircuitBreaker};
pub use error::{HttpFailure, map_plain, map_status};
pub use retry::{RetryPolicy, backoff, parse_retry_after};

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderValue, RETRY_AFTER};
use salesagent_core::ports::{DynClock, SystemClock};
use salesagent_core::{Error, Result};
use secrecy::{ExposeSecret, SecretString};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;
use tracing::Instrument;
use url::Url;

/// Maps a non-success answer onto the core error (provider-specific body parsing).
pub type ErrorMapper = fn(&HttpFailure<'_>) -> Error;

/// A client-side request rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Sustained requests per second.
    pub per_second: u32,
    /// Requests allowed in a burst.
    pub burst: u32,
}

/// Transport settings of one service.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// Connection timeout.
    pub connect_timeout: Duration,
    /// Whole-request timeout (`None` = none; only for tests on a paused clock).
    pub request_timeout: Option<Duration>,
    /// Backoff between attempts of one request: the library's one [`RetryPolicy`].
    pub retry: RetryPolicy,
    /// Retries of one request after its first attempt (0 = never). Only requests that may be
    /// sent again use them (see [`Idempotency`]).
    pub max_retries: u32,
    /// Longest `Retry-After` waited in-process; a longer one is returned to the caller as
    /// `RateLimited { retry_after }` so its job queue can reschedule.
    pub max_retry_after: Duration,
    /// Circuit breaker settings.
    pub breaker: BreakerConfig,
    /// Client-side rate limit (`None` = unlimited).
    pub rate_limit: Option<RateLimit>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(5),
            request_timeout: Some(Duration::from_secs(30)),
            retry: RetryPolicy {
                base: Duration::from_millis(250),
                max: Duration::from_secs(10),
                jitter: 0.5,
            },
            max_retries: 3,
            max_retry_after: Duration::from_secs(60),
            breaker: BreakerConfig::default(),
            rate_limit: Some(RateLimit {
                per_second: 10,
                burst: 20,
            }),
        }
    }
}

/// Builds the shared `reqwest` client: rustls, timeouts, no redirects, a user agent.
pub fn build_client(config: &HttpConfig) -> Result<reqwest::Client> {
    let mut b = reqwest::Client::builder()
        .connect_timeout(config.connect_timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("salesagent/", env!("CARGO_PKG_VERSION")));
    if let Some(t) = config.request_timeout {
        b = b.timeout(t);
    }
    b.build()
        .map_err(|e| Error::backend(format!("building the HTTP client: {e}")))
}

/// A request body.
#[derive(Debug, Clone, Default)]
pub enum Body {
    /// No body.
    #[default]
    Empty,
    /// A JSON document.
    Json(serde_json::Value),
}

/// Whether a request may be sent again once it may have reached the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Idempotency {
    /// Repeating it changes nothing further (GET, PUT, DELETE; POSTs that only read, such as
    /// searches and batch reads): retried on any transient failure.
    Idempotent,
    /// Repeating it may act twice (POST, PATCH by default: sends, creates): re-sent only when
    /// it never left (connect failure, no token), or once after a 401.
    NotIdempotent,
}

/// One logical request (possibly sent several times).
#[derive(Debug, Clone)]
pub struct Request {
    op: &'static str,
    method: reqwest::Method,
    path: Vec<String>,
    query: Vec<(String, String)>,
    body: Body,
    idempotency: Idempotency,
    max_body: Option<usize>,
}

impl Request {
    /// A request named `op` (for metrics/spans) to `path` segments under the base URL.
    /// Segments are percent-encoded, so ids may contain any character. POST and PATCH start
    /// [`Idempotency::NotIdempotent`], every other method idempotent.
    pub fn new<I, S>(op: &'static str, method: reqwest::Method, path: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let idempotency = if method == reqwest::Method::POST || method == reqwest::Method::PATCH {
            Idempotency::NotIdempotent
        } else {
            Idempotency::Idempotent
        };
        Self {
            op,
            method,
            path: path.into_iter().map(Into::into).collect(),
            query: Vec::new(),
            body: Body::Empty,
            idempotency,
            max_body: None,
        }
    }

    /// A GET.
    pub fn get<I: IntoIterator<Item = S>, S: Into<String>>(op: &'static str, path: I) -> Self {
        Self::new(op, reqwest::Method::GET, path)
    }

    /// A POST (not retried after it may have reached the server, unless marked idempotent).
    pub fn post<I: IntoIterator<Item = S>, S: Into<String>>(op: &'static str, path: I) -> Self {
        Self::new(op, reqwest::Method::POST, path)
    }

    /// Adds a query parameter.
    #[must_use]
    pub fn query(mut self, key: &str, value: impl Into<String>) -> Self {
        self.query.push((key.to_owned(), value.into()));
        self
    }

    /// Sets a JSON body.
    pub fn json<T: serde::Serialize + ?Sized>(mut self, body: &T) -> Result<Self> {
        self.body = Body::Json(
            serde_json::to_value(body).map_err(|e| Error::backend(format!("encoding: {e}")))?,
        );
        Ok(self)
    }

    /// Marks a POST as safe to repeat (searches, batch reads).
    #[must_use]
    pub fn idempotent(self) -> Self {
        self.with_idempotency(Idempotency::Idempotent)
    }

    /// Sets whether the request may be sent again after it may have reached the server.
    #[must_use]
    pub fn with_idempotency(mut self, idempotency: Idempotency) -> Self {
        self.idempotency = idempotency;
        self
    }

    /// Whether the request may be sent again after it may have reached the server.
    #[must_use]
    pub fn idempotency(&self) -> Idempotency {
        self.idempotency
    }

    /// Reads at most `max` bytes of the response body (the rest is dropped).
    #[must_use]
    pub fn max_body(mut self, max: usize) -> Self {
        self.max_body = Some(max);
        self
    }

    /// The operation name.
    #[must_use]
    pub fn op(&self) -> &'static str {
        self.op
    }
}

/// A successful response.
#[derive(Debug, Clone)]
pub struct Response {
    /// HTTP status.
    pub status: u16,
    /// Headers.
    pub headers: HeaderMap,
    /// Body bytes (possibly capped by [`Request::max_body`]).
    pub body: Vec<u8>,
    /// True when the body was cut at the cap.
    pub truncated: bool,
}

impl Response {
    /// Decodes the JSON body; a mismatch is `Error::Backend` naming the service.
    pub fn json<T: serde::de::DeserializeOwned>(&self, service: &str) -> Result<T> {
        serde_json::from_slice(&self.body)
            .map_err(|e| Error::backend(format!("{service}: unexpected response body: {e}")))
    }
}

/// Outcome of one attempt, before retry decisions.
enum Attempt {
    Ok(Response),
    /// Failed before the server could have processed the request (safe to resend).
    NotSent(Error),
    /// The server answered (or may have) with a failure.
    Failed {
        error: Error,
        status: Option<u16>,
    },
}

/// One remote service behind the shared transport.
#[derive(Clone)]
pub struct HttpService {
    name: &'static str,
    client: reqwest::Client,
    base: Url,
    config: HttpConfig,
    breaker: Arc<CircuitBreaker>,
    limiter: Option<Arc<DefaultDirectRateLimiter>>,
    auth: Option<Arc<dyn Authorizer>>,
    map_error: ErrorMapper,
    clock: DynClock,
}

impl std::fmt::Debug for HttpService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpService")
            .field("name", &self.name)
            .field("base", &self.base.as_str())
            .field("auth", &self.auth)
            .field("breaker", &self.breaker.state())
            .finish_non_exhaustive()
    }
}

impl HttpService {
    /// A service named `name` at `base` (a trailing `/` is added when missing).
    pub fn new(
        name: &'static str,
        base: &str,
        config: HttpConfig,
        map_error: ErrorMapper,
    ) -> Result<Self> {
        let client = build_client(&config)?;
        Self::with_client(name, base, config, map_error, client)
    }

    /// Like [`HttpService::new`] but sharing an existing `reqwest` client.
    pub fn with_client(
        name: &'static str,
        base: &str,
        config: HttpConfig,
        map_error: ErrorMapper,
        client: reqwest::Client,
    ) -> Result<Self> {
        let base = parse_base(base)?;
        let limiter = config.rate_limit.map(|r| {
            let per = NonZeroU32::new(r.per_second.max(1)).unwrap_or(NonZeroU32::MIN);
            let burst = NonZeroU32::new(r.burst.max(1)).unwrap_or(NonZeroU32::MIN);
            Arc::new(RateLimiter::direct(
                Quota::per_second(per).allow_burst(burst),
            ))
        });
        Ok(Self {
            name,
            client,
            base,
            breaker: Arc::new(CircuitBreaker::new(name, config.breaker)),
            config,
            limiter,
            auth: None,
            map_error,
            clock: Arc::new(SystemClock),
        })
    }

    /// Sends a bearer token from `auth` with every request.
    #[must_use]
    pub fn with_auth(mut self, auth: Arc<dyn Authorizer>) -> Self {
        self.auth = Some(auth);
        self
    }

    /// Uses `clock` to interpret `Retry-After` dates and as the `now` of each [`HttpFailure`].
    #[must_use]
    pub fn with_clock(mut self, clock: DynClock) -> Self {
        self.clock = clock;
        self
    }

    /// The service name.
    #[must_use]
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The base URL.
    #[must_use]
    pub fn base(&self) -> &Url {
        &self.base
    }

    /// The breaker of this service.
    #[must_use]
    pub fn breaker(&self) -> &CircuitBreaker {
        &self.breaker
    }

    /// The underlying `reqwest` client.
    #[must_use]
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// The URL a request goes to.
    pub fn url_for(&self, req: &Request) -> Result<Url> {
        let mut url = self.base.clone();
        {
            let mut segs = url.path_segments_mut().map_err(|()| {
                Error::backend(format!("{}: base URL cannot be a base", self.name))
            })?;
            segs.pop_if_empty();
            segs.extend(req.path.iter());
        }
        if !req.query.is_empty() {
            url.query_pairs_mut().extend_pairs(req.query.iter());
        }
        Ok(url)
    }

    /// Sends `req` with retries, breaker, rate limit and auth; returns the 2xx response or the
    /// mapped core error.
    pub async fn send(&self, req: &Request) -> Result<Response> {
        let url = self.url_for(req)?;
        let span = tracing::info_span!(
            "http_request",
            service = self.name,
            op = req.op,
            method = %req.method,
            path = %url.path(),
            attempts = tracing::field::Empty,
            status = tracing::field::Empty,
        );
        let result = self.send_loop(req, url).instrument(span.clone()).await;
        if let Err(e) = &result {
            ::metrics::counter!(metrics::ERRORS, "service" => self.name, "kind" => e.kind())
                .increment(1);
            span.in_scope(|| tracing::debug!(kind = e.kind(), "request failed"));
        }
        result
    }

    async fn send_loop(&self, req: &Request, url: Url) -> Result<Response> {
        let mut retries = 0u32;
        let mut refreshed = false;
        loop {
            // Dropped on every path out of this iteration, cancellation included: an unjudged
            // half-open trial goes back (see `breaker::Permit`).
            let permit = self.breaker.acquire()?;
            if let Some(l) = &self.limiter {
                l.until_ready().await;
            }
            let token = match &self.auth {
                Some(a) => match a.bearer().await {
                    Ok(t) => Some(t),
                    Err(e) => {
                        drop(permit);
                        // Nothing was sent: any request may wait for a token endpoint outage.
                        if e.is_retryable() && retries < self.config.max_retries {
                            tokio::time::sleep(backoff(&self.config.retry, retries)).await;
                            retries += 1;
                            continue;
                        }
                        return Err(e);
                    }
                },
                None => None,
            };
            let attempt = self.attempt(req, url.clone(), token.as_ref()).await;
            let (error, sent, status) = match attempt {
                Attempt::Ok(resp) => {
                    permit.record(true);
                    tracing::Span::current().record("attempts", retries + 1);
                    return Ok(resp);
                }
                Attempt::NotSent(e) => (e, false, None),
                Attempt::Failed { error, status } => (error, true, status),
            };
            let outage = matches!(error, Error::Unavailable { .. } | Error::Timeout { .. });
            permit.record(!outage);
            tracing::Span::current().record("attempts", retries + 1);

            // A 401 means the server refused to act on the request at all: one refresh and one
            // more attempt, for every request.
            if status == Some(401)
                && !refreshed
                && let (Some(auth), Some(tok)) = (&self.auth, &token)
            {
                refreshed = true;
                tracing::info!("401: refreshing the token once");
                auth.refresh_after_rejection(tok).await?;
                continue;
            }
            if !error.is_retryable()
                || !may_send_again(req.idempotency, sent)
                || retries >= self.config.max_retries
            {
                return Err(error);
            }
            let delay = match error.retry_after() {
                Some(d) if d > self.config.max_retry_after => return Err(error),
                Some(d) => d,
                None => backoff(&self.config.retry, retries),
            };
            ::metrics::counter!(metrics::RETRIES, "service" => self.name).increment(1);
            tracing::warn!(
                kind = error.kind(),
                delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                "transient failure, retrying"
            );
            tokio::time::sleep(delay).await;
            retries += 1;
        }
    }

    async fn attempt(&self, req: &Request, url: Url, token: Option<&SecretString>) -> Attempt {
        let mut rb = self.client.request(req.method.clone(), url);
        if let Some(t) = token {
            match HeaderValue::from_str(&format!("Bearer {}", t.expose_secret())) {
                Ok(mut v) => {
                    v.set_sensitive(true);
                    rb = rb.header(AUTHORIZATION, v);
                }
                Err(_) => {
                    return Attempt::NotSent(Error::unauthenticated(format!(
                        "{}: token is not a valid header value",
                        self.name
                    )));
                }
            }
        }
        if let Body::Json(v) = &req.body {
            rb = rb.json(v);
        } else if req.method == reqwest::Method::POST {
            rb = rb.header(CONTENT_TYPE, "application/json").body("");
        }
        let started = tokio::time::Instant::now();
        let sent = rb.send().await;
        let elapsed = started.elapsed().as_secs_f64();
        ::metrics::histogram!(metrics::LATENCY, "service" => self.name, "op" => req.op)
            .record(elapsed);
        let mut resp = match sent {
            Ok(r) => r,
            Err(e) => {
                ::metrics::counter!(metrics::REQUESTS, "service" => self.name, "op" => req.op, "status" => "error").increment(1);
                return self.transport_error(&e);
            }
        };
        let status = resp.status().as_u16();
        tracing::Span::current().record("status", status);
        ::metrics::counter!(metrics::REQUESTS, "service" => self.name, "op" => req.op, "status" => status.to_string()).increment(1);
        let headers = resp.headers().clone();
        let mut body = Vec::new();
        let mut truncated = false;
        loop {
            match resp.chunk().await {
                Ok(Some(chunk)) => {
                    body.extend_from_slice(&chunk);
                    if let Some(max) = req.max_body
                        && body.len() > max
                    {
                        body.truncate(max);
                        truncated = true;
                        break;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    return match self.transport_error(&e) {
                        Attempt::NotSent(err) => Attempt::Failed {
                            error: err,
                            status: Some(status),
                        },
                        other => other,
                    };
                }
            }
        }
        if (200..300).contains(&status) {
            return Attempt::Ok(Response {
                status,
                headers,
                body,
                truncated,
            });
        }
        let now = self.clock.now();
        let retry_after = headers
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, now));
        let text = String::from_utf8_lossy(&body);
        let mut error = (self.map_error)(&HttpFailure {
            service: self.name,
            status,
            retry_after,
            body: &text,
            now,
        });
        // 503 with Retry-After: honour it like a rate limit.
        if status == 503
            && let Some(d) = retry_after
        {
            error = Error::RateLimited {
                retry_after: Some(d),
            };
        }
        Attempt::Failed {
            error,
            status: Some(status),
        }
    }

    fn transport_error(&self, e: &reqwest::Error) -> Attempt {
        // reqwest's Display includes the URL; drop it, queries may carry personal data.
        let text = e.without_url_ref();
        if e.is_connect() {
            Attempt::NotSent(Error::unavailable(format!(
                "{}: cannot connect: {text}",
                self.name
            )))
        } else if e.is_timeout() {
            Attempt::Failed {
                error: Error::unavailable(format!("{}: request timed out", self.name)),
                status: None,
            }
        } else {
            Attempt::Failed {
                error: Error::unavailable(format!("{}: transport error: {text}", self.name)),
                status: None,
            }
        }
    }
}

/// The resend rule: an idempotent request may be sent again after any transient failure; a
/// non-idempotent one only when no byte of it can have reached the server.
#[must_use]
pub fn may_send_again(idempotency: Idempotency, may_have_reached_server: bool) -> bool {
    match idempotency {
        Idempotency::Idempotent => true,
        Idempotency::NotIdempotent => !may_have_reached_server,
    }
}

trait WithoutUrl {
    fn without_url_ref(&self) -> String;
}

impl WithoutUrl for reqwest::Error {
    fn without_url_ref(&self) -> String {
        let mut s = self.to_string();
        if let Some(u) = self.url() {
            s = s.replace(&format!(" for url ({u})"), "");
            s = s.replace(u.as_str(), "<url>");
        }
        s
    }
}

/// Parses a base URL, adding a trailing `/` so relative joins keep its path.
pub fn parse_base(base: &str) -> Result<Url> {
    let mut s = base.trim().to_owned();
    if !s.ends_with('/') {
        s.push('/');
    }
    let url = Url::parse(&s).map_err(|e| Error::invalid("base_url", e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(Error::invalid("base_url", "must be http or https"));
    }
    Ok(url)
}
