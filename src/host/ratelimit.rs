//! Per-client rate limiting of the operator API and web page: a token bucket per client
//! address, refilled continuously, timed by the state's clock.

use super::AppState;
use super::error::ApiError;
use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::net::SocketAddr;
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

/// The client's key: its address when the server recorded one, else `local` (in-process).
pub(super) fn client_key(req: &Request) -> String {
    req.extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or_else(|| "local".to_owned(), |ci| ci.0.ip().to_string())
}

/// Middleware: 429 with `Retry-After` when the client is over its budget.
pub(super) async fn limit(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let key = client_key(&req);
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
}
