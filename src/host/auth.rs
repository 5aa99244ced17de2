//! Operator authentication: a bearer token for the API; for the web page, a login that starts
//! a server-side session (cookie `HttpOnly; SameSite=Strict`) holding a CSRF token.
//!
//! A token is either the host's single `SALESAGENT_OPERATOR_TOKEN` (the operator
//! [`ADMIN_OPERATOR`]) or a named operator's (`cli operators add NAME`), looked up by its hash.
//! Failed attempts are throttled per client address and per operator (the name a token
//! claims; any other token is an attempt at `admin`): once either budget is spent, attempts are
//! refused with `429` before the token is even checked.

use super::AppState;
use super::error::ApiError;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, TimeDelta, Utc};
use salesagent_core::ports::{ADMIN_OPERATOR, claimed_operator, operator_token_hash};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Mutex;
use subtle::ConstantTimeEq;

/// Name of the session cookie.
pub(super) const SESSION_COOKIE: &str = "sa_session";
/// Name of the pre-login CSRF cookie (double-submit on the login form).
pub(super) const LOGIN_COOKIE: &str = "sa_login";
/// Most sessions kept; beyond it expired ones are dropped, then the oldest.
const MAX_SESSIONS: usize = 1024;

/// The operator a request was authenticated as. Routes behind the bearer check can take it as
/// an extractor (it is a request extension); anywhere else extracting it is a `401`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operator {
    /// The operator's name (`admin` for `SALESAGENT_OPERATOR_TOKEN`).
    pub name: String,
    /// The stored hash of a named operator's token (to notice a revocation later).
    token_hash: Option<String>,
}

impl Operator {
    /// The operator of the host's single configured token.
    #[must_use]
    pub fn admin() -> Self {
        Self {
            name: ADMIN_OPERATOR.to_owned(),
            token_hash: None,
        }
    }

    /// The actor the audit log records for this operator: `operator:<name>`.
    #[must_use]
    pub fn actor(&self) -> String {
        format!("operator:{}", self.name)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Operator {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Self>()
            .cloned()
            .ok_or_else(|| ApiError::unauthorized("not authenticated as an operator"))
    }
}

/// Compares a presented secret with the configured one in constant time (over digests, so the
/// length does not leak either). A blank secret, configured or presented, never matches.
pub(super) fn token_matches(configured: &SecretString, presented: &str) -> bool {
    let configured = configured.expose_secret();
    if configured.trim().is_empty() || presented.trim().is_empty() {
        return false;
    }
    let a = Sha256::digest(configured.as_bytes());
    let b = Sha256::digest(presented.as_bytes());
    bool::from(a.as_slice().ct_eq(b.as_slice()))
}

/// Compares two public-but-unguessable tokens in constant time.
pub(super) fn same_token(a: &str, b: &str) -> bool {
    !a.is_empty() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// A fresh unguessable token (244 random bits from the OS, via two UUID v4s).
pub(super) fn random_token() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

/// What an authentication attempt came to.
#[derive(Debug)]
pub(super) enum Attempt {
    /// The token is an operator's.
    Operator(Operator),
    /// Wrong, blank or revoked token (counted against the client and the operator).
    Wrong,
    /// Too many failures from this client or at this operator: wait this many seconds.
    Throttled(u64),
}

/// The throttle keys of an attempt: the client address and the operator the token claims.
fn throttle_keys(client: &str, presented: &str) -> [String; 2] {
    let operator = claimed_operator(presented.trim()).unwrap_or(ADMIN_OPERATOR);
    [format!("addr:{client}"), format!("operator:{operator}")]
}

/// Checks `presented` (from client address `client`): the admin token in constant time, then a
/// named operator's by its hash. Throttled attempts are refused before any check; failures
/// are counted.
///
/// # Errors
/// The store's error when the operator lookup fails.
pub(super) async fn authenticate(
    state: &AppState,
    client: &str,
    presented: &str,
) -> Result<Attempt, ApiError> {
    let now = state.now();
    let keys = throttle_keys(client, presented);
    if let Some(wait) = keys
        .iter()
        .filter_map(|k| state.failures.blocked(k, now))
        .max()
    {
        metrics::counter!("salesagent_auth_throttled_total").increment(1);
        return Ok(Attempt::Throttled(wait));
    }
    let presented = presented.trim();
    if let Some(op) = identify(state, presented).await? {
        return Ok(Attempt::Operator(op));
    }
    for k in &keys {
        state.failures.fail(k, now);
    }
    metrics::counter!("salesagent_auth_failures_total").increment(1);
    tracing::warn!(client = %client, operator = %keys[1], "operator authentication failed");
    Ok(Attempt::Wrong)
}

/// The operator `presented` belongs to, if any.
async fn identify(state: &AppState, presented: &str) -> Result<Option<Operator>, ApiError> {
    if presented.is_empty() {
        return Ok(None);
    }
    if let Some(admin) = state.config().operator_token.as_ref()
        && token_matches(admin, presented)
    {
        return Ok(Some(Operator::admin()));
    }
    let Some(claimed) = claimed_operator(presented) else {
        return Ok(None);
    };
    let hash = operator_token_hash(presented);
    let found = state.store().operator_by_token_hash(&hash).await?;
    Ok(found
        .filter(|o| bool::from(o.token_hash.as_bytes().ct_eq(hash.as_bytes())) && o.name == claimed)
        .map(|o| Operator {
            name: o.name,
            token_hash: Some(o.token_hash),
        }))
}

/// Middleware: the API needs `Authorization: Bearer <operator token>`; the request then
/// carries the [`Operator`] as an extension.
pub(super) async fn require_bearer(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::to_owned);
    let Some(presented) = presented else {
        let mut resp = ApiError::unauthorized("missing bearer token").into_response();
        resp.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Bearer"),
        );
        return resp;
    };
    let client = super::ratelimit::client_address(&state, req.headers(), req.extensions());
    match authenticate(&state, &client, &presented).await {
        Ok(Attempt::Operator(op)) => {
            req.extensions_mut().insert(op);
            next.run(req).await
        }
        Ok(Attempt::Wrong) => ApiError::unauthorized("wrong operator token").into_response(),
        Ok(Attempt::Throttled(wait)) => ApiError::rate_limited(wait).into_response(),
        Err(e) => e.into_response(),
    }
}

/// Middleware on the web page: a session whose named operator was revoked since login ends
/// here, so the page asks for a login again (the admin's session lasts its time).
pub(super) async fn end_revoked_sessions(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Response {
    let hash = state
        .sessions
        .get(req.headers(), state.now())
        .and_then(|s| s.operator.token_hash);
    if let Some(hash) = hash {
        match state.store().operator_by_token_hash(&hash).await {
            Ok(Some(_)) => {}
            Ok(None) => state.sessions.end(req.headers()),
            Err(e) => return ApiError::from(e).into_response(),
        }
    }
    next.run(req).await
}

/// A value of a cookie in the request, if present.
pub(super) fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
}

/// A `Set-Cookie` value: `HttpOnly; SameSite=Strict; Path=/operator`, `Secure` behind TLS;
/// `max_age` 0 deletes the cookie.
pub(super) fn set_cookie(name: &str, value: &str, max_age: i64, secure: bool) -> String {
    format!(
        "{name}={value}; Path=/operator; HttpOnly; SameSite=Strict; Max-Age={max_age}{}",
        if secure { "; Secure" } else { "" }
    )
}

/// A logged-in web session.
#[derive(Debug, Clone)]
pub(super) struct Session {
    /// Who logged in.
    pub operator: Operator,
    /// Token every state-changing form must carry.
    pub csrf: String,
    /// When the session ends.
    pub expires_at: DateTime<Utc>,
}

/// Server-side sessions by cookie value.
#[derive(Debug, Default)]
pub(super) struct Sessions {
    map: Mutex<HashMap<String, Session>>,
}

impl Sessions {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        self.map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Starts a session of `operator` lasting `ttl`; returns its cookie value.
    pub(super) fn start(
        &self,
        now: DateTime<Utc>,
        ttl: std::time::Duration,
        operator: Operator,
    ) -> String {
        let id = random_token();
        let expires_at = now + TimeDelta::from_std(ttl).unwrap_or(TimeDelta::hours(8));
        let mut map = self.lock();
        if map.len() >= MAX_SESSIONS {
            map.retain(|_, s| s.expires_at > now);
            if map.len() >= MAX_SESSIONS
                && let Some(oldest) = map
                    .iter()
                    .min_by_key(|(_, s)| s.expires_at)
                    .map(|(k, _)| k.clone())
            {
                map.remove(&oldest);
            }
        }
        map.insert(
            id.clone(),
            Session {
                operator,
                csrf: random_token(),
                expires_at,
            },
        );
        id
    }

    /// The live session of a request, if any.
    pub(super) fn get(&self, headers: &HeaderMap, now: DateTime<Utc>) -> Option<Session> {
        let id = cookie(headers, SESSION_COOKIE)?;
        let mut map = self.lock();
        match map.get(id) {
            Some(s) if s.expires_at > now => Some(s.clone()),
            Some(_) => {
                map.remove(id);
                None
            }
            None => None,
        }
    }

    /// Ends the request's session.
    pub(super) fn end(&self, headers: &HeaderMap) {
        if let Some(id) = cookie(headers, SESSION_COOKIE) {
            self.lock().remove(id);
        }
    }
}
