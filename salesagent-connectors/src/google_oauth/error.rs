//! Google error bodies (`contracts/google/ERRORS.md`) and OAuth token-endpoint errors
//! (`contracts/google/OAUTH.md`) mapped onto the core error.

use crate::http::{HttpFailure, map_status, parse_retry_after};
use salesagent_core::Error;
use serde::Deserialize;

#[derive(Debug, Deserialize, Default)]
struct Detail {
    #[serde(default)]
    reason: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
struct Inner {
    #[serde(default)]
    message: String,
    #[serde(default)]
    errors: Vec<Detail>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    details: Vec<Detail>,
}

#[derive(Debug, Deserialize)]
struct Envelope {
    error: Inner,
}

fn parse(body: &str) -> Option<Inner> {
    if let Ok(e) = serde_json::from_str::<Envelope>(body) {
        return Some(e.error);
    }
    // Batch answers: a top-level array of such objects; use the first.
    serde_json::from_str::<Vec<Envelope>>(body)
        .ok()
        .and_then(|v| v.into_iter().next())
        .map(|e| e.error)
}

/// `Retry after <RFC 3339 time>` inside a Google message, as a delay from now.
fn retry_hint(message: &str) -> Option<std::time::Duration> {
    let idx = message.find("Retry after ")?;
    let when = message[idx + "Retry after ".len()..]
        .split_whitespace()
        .next()?;
    let when = chrono::DateTime::parse_from_rfc3339(when.trim_end_matches('.')).ok()?;
    #[allow(clippy::disallowed_methods)] // a relative delay from a provider's absolute time
    let now = chrono::Utc::now();
    Some(
        (when.with_timezone(&chrono::Utc) - now)
            .to_std()
            .unwrap_or_default(),
    )
}

/// Maps a Google API failure. Quota errors come as 403 *or* 429 and are decided by
/// `errors[].reason` (or `details[].reason` / `status`): `rateLimitExceeded` and
/// `userRateLimitExceeded` → `RateLimited` (retried); `dailyLimitExceeded` / `quotaExceeded`
/// → `RateLimited` too; other 403s (e.g. `domainPolicy`) → `PermissionDenied`.
#[must_use]
pub fn map_google_error(f: &HttpFailure<'_>) -> Error {
    let Some(inner) = parse(f.body) else {
        return map_status(f, f.body);
    };
    let reasons: Vec<&str> = inner
        .errors
        .iter()
        .chain(inner.details.iter())
        .filter_map(|d| d.reason.as_deref())
        .collect();
    let rate_limited = reasons.iter().any(|r| {
        matches!(
            *r,
            "rateLimitExceeded"
                | "userRateLimitExceeded"
                | "dailyLimitExceeded"
                | "quotaExceeded"
                | "RATE_LIMIT_EXCEEDED"
        )
    }) || inner.status.as_deref() == Some("RESOURCE_EXHAUSTED");
    if (f.status == 403 || f.status == 429) && rate_limited {
        let retry_after = f.retry_after.or_else(|| retry_hint(&inner.message));
        return Error::RateLimited { retry_after };
    }
    map_status(f, &inner.message)
}

/// Parses a `Retry-After` value relative to the wall clock (for token-endpoint answers).
#[must_use]
pub fn retry_after_now(v: &str) -> Option<std::time::Duration> {
    #[allow(clippy::disallowed_methods)]
    let now = chrono::Utc::now();
    parse_retry_after(v, now)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(status: u16, body: &str) -> HttpFailure<'_> {
        HttpFailure {
            service: "gmail",
            status,
            retry_after: None,
            body,
        }
    }

    // Fixtures from contracts/google/ERRORS.md.
    #[test]
    fn quota_errors_are_rate_limits_whatever_the_status() {
        let a = r#"{"error":{"errors":[{"domain":"usageLimits","reason":"rateLimitExceeded","message":"Rate Limit Exceeded"}],"code":429,"message":"Rate Limit Exceeded"}}"#;
        assert_eq!(map_google_error(&f(429, a)).kind(), "rate_limited");
        let b = r#"{"error":{"errors":[{"domain":"usageLimits","reason":"userRateLimitExceeded","message":"User Rate Limit Exceeded"}],"code":403,"message":"User Rate Limit Exceeded"}}"#;
        assert_eq!(map_google_error(&f(403, b)).kind(), "rate_limited");
        let c = r#"{"error":{"code":429,"message":"User-rate limit exceeded.  Retry after 2030-01-01T00:00:30.000Z","errors":[{"message":"User-rate limit exceeded.  Retry after 2030-01-01T00:00:30.000Z","domain":"global","reason":"rateLimitExceeded"}],"status":"RESOURCE_EXHAUSTED"}}"#;
        match map_google_error(&f(429, c)) {
            Error::RateLimited { retry_after } => assert!(retry_after.is_some()),
            other => panic!("{other:?}"),
        }
        let d = r#"{"error":{"errors":[{"domain":"global","reason":"domainPolicy","message":"The domain administrators have disabled Gmail apps."}],"code":403,"message":"The domain administrators have disabled Gmail apps."}}"#;
        assert_eq!(map_google_error(&f(403, d)).kind(), "permission_denied");
        let e = r#"{"error":{"errors":[{"domain":"global","reason":"authError","message":"Invalid Credentials","locationType":"header","location":"Authorization"}],"code":401,"message":"Invalid Credentials"}}"#;
        assert_eq!(map_google_error(&f(401, e)).kind(), "unauthenticated");
        let g = r#"{"error":{"errors":[{"domain":"global","reason":"backendError","message":"Backend Error"}],"code":503,"message":"Backend Error"}}"#;
        assert_eq!(map_google_error(&f(503, g)).kind(), "unavailable");
        assert_eq!(map_google_error(&f(404, "<html>")).kind(), "not_found");
        let batch = format!("[{a}]");
        assert_eq!(map_google_error(&f(429, &batch)).kind(), "rate_limited");
    }
}
