//! Operator authentication: a bearer token for the API; for the web page, a login that starts
//! a server-side session (cookie `HttpOnly; SameSite=Strict`) holding a CSRF token.

use super::AppState;
use super::error::ApiError;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, TimeDelta, Utc};
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

/// Compares a presented secret with the configured one in constant time (over digests, so the
/// length does not leak either).
pub(super) fn token_matches(configured: &SecretString, presented: &str) -> bool {
    let a = Sha256::digest(configured.expose_secret().as_bytes());
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

/// Middleware: the API needs `Authorization: Bearer <SALESAGENT_OPERATOR_TOKEN>`.
pub(super) async fn require_bearer(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Response {
    let Some(token) = state.config().operator_token.as_ref() else {
        return ApiError::unauthorized(
            "operator API disabled: SALESAGENT_OPERATOR_TOKEN is not set",
        )
        .into_response();
    };
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        });
    match presented {
        Some(p) if token_matches(token, p.trim()) => next.run(req).await,
        Some(_) => ApiError::unauthorized("wrong operator token").into_response(),
        None => {
            let mut resp = ApiError::unauthorized("missing bearer token").into_response();
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
            resp
        }
    }
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

/// A `Set-Cookie` value: `HttpOnly; SameSite=Strict; Path=/operator`, `Secure` over HTTPS;
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

    /// Starts a session lasting `ttl`; returns its cookie value.
    pub(super) fn start(&self, now: DateTime<Utc>, ttl: std::time::Duration) -> String {
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
