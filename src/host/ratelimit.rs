//! Per-client rate limiting of the operator API and web page: a token bucket per client
//! address, refilled continuously, timed by the state's clock. The same buckets, with a much
//! smaller budget, count failed operator logins and bearer tokens (see `auth`).
//!
//! The client address is the socket's, unless the host is configured with a trusted proxy
//! header ([`HostConfig::trusted_proxy_header`](super::HostConfig::trusted_proxy_header)):
//! then it is that header's value (for `X-Forwarded-For`, its last hop, the one the trusted
//! proxy appended). No other header is ever believed.

use super::AppState;
use super::error::ApiError;
use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{Extensions, HeaderMap};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;

/// Most buckets kept; beyond it full (idle) buckets are dropped.
const MAX_CLIENTS: usize = 10_000;

/// A per-client request budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Requests a client may make at once.
    pub burst: u32,
    /// Sustained requests per minute.
    pub per_minute: u32,
}

impl Default for RateLimit {
    fn default() -> Self {
        Self {
            burst: 60,
            per_minute: 600,
        }
    }
}

impl RateLimit {
    /// The default budget of failed logins and bearer tokens, per client address and per
    /// operator: 10 at once, 10 a minute.
    #[must_use]
    pub fn failed_logins() -> Self {
        Self {
            burst: 10,
            per_minute: 10,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: DateTime<Utc>,
}

/// Token buckets by client key.
#[derive(Debug)]
pub(super) struct RateLimiter {
    limit: RateLimit,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl RateLimiter {
    pub(super) fn new(limit: RateLimit) -> Self {
        Self {
            limit,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// `Some(seconds to wait)` when `key`'s bucket is empty; takes nothing.
    pub(super) fn blocked(&self, key: &str, now: DateTime<Utc>) -> Option<u64> {
        let burst = f64::from(self.limit.burst.max(1));
        let per_sec = f64::from(self.limit.per_minute.max(1)) / 60.0;
        let map = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let b = map.get(key)?;
        #[allow(clippy::cast_precision_loss)] // milliseconds since the last request
        let elapsed = (now - b.at).num_milliseconds().max(0) as f64 / 1000.0;
        let tokens = (b.tokens + elapsed * per_sec).min(burst);
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // small, positive
        (tokens < 1.0).then(|| (((1.0 - tokens) / per_sec).ceil() as u64).max(1))
    }

    /// Takes one token for `key` (a failure to count), whether or not one is left.
    pub(super) fn fail(&self, key: &str, now: DateTime<Utc>) {
        let _ = self.check(key, now);
    }

    /// Takes one token for `key`; `Err(seconds to wait)` when the bucket is empty.
    pub(super) fn check(&self, key: &str, now: DateTime<Utc>) -> Result<(), u64> {
        let burst = f64::from(self.limit.burst.max(1));
        let per_sec = f64::from(self.limit.per_minute.max(1)) / 60.0;
        let mut map = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let refill = |b: &Bucket| {
            #[allow(clippy::cast_precision_loss)] // milliseconds since the last request
            let elapsed = (now - b.at).num_milliseconds().max(0) as f64 / 1000.0;
            (b.tokens + elapsed * per_sec).min(burst)
        };
        if map.len() >= MAX_CLIENTS && !map.contains_key(key) {
            map.retain(|_, b| refill(b) < burst);
        }
        let bucket = map.entry(key.to_owned()).or_insert(Bucket {
            tokens: burst,
            at: now,
        });
        bucket.tokens = refill(bucket);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // small, positive
            let wait = ((1.0 - bucket.tokens) / per_sec).ceil() as u64;
            Err(wait.max(1))
        }
    }
}

/// The client's address: from the configured trusted proxy header when there is one and it
/// holds an IP address, else the socket's address when the server recorded one, else `local`
/// (in-process).
pub(super) fn client_address(
    state: &AppState,
    headers: &HeaderMap,
    extensions: &Extensions,
) -> String {
    if let Some(name) = state.config().trusted_proxy_header.as_deref() {
        let forwarded = headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .next_back()
            .and_then(|hop| hop.trim().parse::<IpAddr>().ok());
        if let Some(ip) = forwarded {
            return ip.to_string();
        }
    }
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map_or_else(|| "local".to_owned(), |ci| ci.0.ip().to_string())
}

/// The client's address as [`client_address`] finds it, as an extractor.
#[derive(Debug, Clone)]
pub(super) struct ClientAddress(pub String);

impl FromRequestParts<AppState> for ClientAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(Self(client_address(
            state,
            &parts.headers,
            &parts.extensions,
        )))
    }
}

/// Middleware: 429 with `Retry-After` when the client is over its budget.
pub(super) async fn limit(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let key = client_address(&state, req.headers(), req.extensions());
    match state.limiter.check(&key, state.now()) {
        Ok(()) => next.run(req).await,
        Err(wait) => {
            metrics::counter!("salesagent_rate_limited_total").increment(1);
            ApiError::rate_limited(wait).into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_empties_and_refills() {
        let l = RateLimiter::new(RateLimit {
            burst: 2,
            per_minute: 60,
        });
        let t0 = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        assert!(l.check("a", t0).is_ok());
        assert!(l.check("a", t0).is_ok());
        assert_eq!(l.check("a", t0), Err(1));
        assert!(l.check("b", t0).is_ok(), "clients are independent");
        let t1 = t0 + chrono::TimeDelta::seconds(1);
        assert!(l.check("a", t1).is_ok());
        assert!(l.check("a", t1).is_err());
    }

    #[test]
    fn blocked_peeks_and_fail_counts() {
        let l = RateLimiter::new(RateLimit {
            burst: 2,
            per_minute: 60,
        });
        let t0 = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        assert_eq!(l.blocked("a", t0), None, "an unknown key is not blocked");
        l.fail("a", t0);
        assert_eq!(l.blocked("a", t0), None);
        l.fail("a", t0);
        assert_eq!(l.blocked("a", t0), Some(1));
        assert_eq!(l.blocked("a", t0), Some(1), "peeking takes nothing");
        assert_eq!(l.blocked("b", t0), None);
        let t1 = t0 + chrono::TimeDelta::seconds(1);
        assert_eq!(l.blocked("a", t1), None, "refilled");
    }
}
