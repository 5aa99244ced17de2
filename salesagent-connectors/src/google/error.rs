//! Google error bodies (`contracts/google/ERRORS.md`) and OAuth token-endpoint errors
//! (`contracts/google/OAUTH.md`) mapped onto the core error.

use crate::http::{HttpFailure, map_status, parse_retry_after};
use chrono::{DateTime, TimeZone, Utc};
use salesagent_core::Error;
use serde::Deserialize;
use std::time::Duration;

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

/// `Retry after <RFC 3339 time>` inside a Google message, as a delay from `now`.
fn retry_hint(message: &str, now: DateTime<Utc>) -> Option<Duration> {
    let idx = message.find("Retry after ")?;
    let when = message[idx + "Retry after ".len()..]
        .split_whitespace()
        .next()?;
    let when = DateTime::parse_from_rfc3339(when.trim_end_matches('.')).ok()?;
    Some(
        (when.with_timezone(&Utc) - now)
            .to_std()
            .unwrap_or_default(),
    )
}

/// Per-request or per-minute limits: back off and retry (ERRORS.md).
const RATE_REASONS: [&str; 4] = [
    "rateLimitExceeded",
    "userRateLimitExceeded",
    "RATE_LIMIT_EXCEEDED",
    "quotaExceeded",
];

/// True for a daily quota that is used up: `dailyLimitExceeded` (ERRORS.md: "stop until the
/// quota resets"), or a project quota error whose limit is per day (ERRORS.md: `Quota exceeded
/// for quota metric '…' and limit '… per day …'`).
fn daily_quota_exhausted(reasons: &[&str], message: &str) -> bool {
    reasons.contains(&"dailyLimitExceeded")
        || (message.contains("Quota exceeded for quota metric") && message.contains("per day"))
}

/// How long from `now` until Google's daily quotas reset: the next midnight in
/// America/Los_Angeles (Google's quota day ends at midnight Pacific time; ERRORS.md only says
/// "stop until the quota resets").
#[must_use]
pub fn until_daily_quota_reset(now: DateTime<Utc>) -> Duration {
    let pacific = chrono_tz::America::Los_Angeles;
    let next_midnight = now
        .with_timezone(&pacific)
        .date_naive()
        .succ_opt()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        // Pacific DST switches at 02:00, so midnight always exists exactly once.
        .and_then(|m| pacific.from_local_datetime(&m).earliest());
    match next_midnight {
        Some(at) => (at.with_timezone(&Utc) - now)
            .to_std()
            .unwrap_or(Duration::ZERO),
        // Only at the end of chrono's range: a day is the longest a quota day lasts.
        None => Duration::from_secs(24 * 3600),
    }
}

/// Maps a Google API failure. Quota errors come as 403 *or* 429 and are decided by
/// `errors[].reason` (or `details[].reason` / `status`), per ERRORS.md:
/// - `dailyLimitExceeded` (or a project quota "per day") → `RateLimited` with `retry_after`
///   until the quota resets (the next midnight Pacific time from the answer's `now`, unless the
///   answer says a time), so a job queue defers the job that long instead of retrying it;
/// - `rateLimitExceeded`, `userRateLimitExceeded`, `RESOURCE_EXHAUSTED` → `RateLimited` with
///   the answer's `Retry-After` or `Retry after <time>` hint (back off and retry);
/// - other 403s (e.g. `domainPolicy`) → `PermissionDenied`; the rest by status code.
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
    if f.status == 403 || f.status == 429 {
        let hinted = f.retry_after.or_else(|| retry_hint(&inner.message, f.now));
        if daily_quota_exhausted(&reasons, &inner.message) {
            return Error::RateLimited {
                retry_after: Some(hinted.unwrap_or_else(|| until_daily_quota_reset(f.now))),
            };
        }
        let rate_limited = reasons.iter().any(|r| RATE_REASONS.contains(r))
            || inner.status.as_deref() == Some("RESOURCE_EXHAUSTED");
        if rate_limited {
            return Error::RateLimited {
                retry_after: hinted,
            };
        }
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
            now: DateTime::parse_from_rfc3339("2029-12-31T12:00:00Z")
                .unwrap()
                .with_timezone(&Utc),
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

    fn at(rfc3339: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(rfc3339)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn daily(now: DateTime<Utc>) -> Error {
        // The 403 dailyLimitExceeded row of ERRORS.md, in its error-body shape.
        let body = r#"{"error":{"errors":[{"domain":"usageLimits","reason":"dailyLimitExceeded","message":"Daily Limit Exceeded"}],"code":403,"message":"Daily Limit Exceeded"}}"#;
        map_google_error(&HttpFailure {
            now,
            ..f(403, body)
        })
    }

    #[test]
    fn daily_limit_defers_until_midnight_pacific() {
        // Winter (PST, UTC-8): 2026-01-15 10:00 PST → midnight PST is 14 h later.
        let e = daily(at("2026-01-15T18:00:00Z"));
        assert_eq!(
            e,
            Error::RateLimited {
                retry_after: Some(Duration::from_secs(14 * 3600))
            }
        );
        // Summer (PDT, UTC-7): 23:30 PDT → 30 minutes.
        assert_eq!(
            daily(at("2026-07-01T06:30:00Z")).retry_after(),
            Some(Duration::from_secs(30 * 60))
        );
        // Just after midnight Pacific: almost a whole day.
        assert_eq!(
            daily(at("2026-07-01T07:00:01Z")).retry_after(),
            Some(Duration::from_secs(24 * 3600 - 1))
        );
        // Across the spring-forward night the Pacific day has 23 hours.
        assert_eq!(
            daily(at("2026-03-08T08:00:00Z")).retry_after(),
            Some(Duration::from_secs(23 * 3600))
        );
        // Still retryable (the job is deferred, not dead), but far beyond any in-process wait.
        assert!(e.is_retryable());
    }

    #[test]
    fn a_retry_time_given_by_google_wins_over_the_computed_reset() {
        let f = HttpFailure {
            retry_after: Some(Duration::from_secs(90)),
            ..f(
                403,
                r#"{"error":{"errors":[{"domain":"usageLimits","reason":"dailyLimitExceeded","message":"Daily Limit Exceeded"}],"code":403,"message":"Daily Limit Exceeded"}}"#,
            )
        };
        assert_eq!(
            map_google_error(&f).retry_after(),
            Some(Duration::from_secs(90))
        );
    }

    #[test]
    fn project_quota_per_day_is_daily_per_minute_is_not() {
        let per_day = r#"{"error":{"code":429,"message":"Quota exceeded for quota metric 'Queries' and limit 'Queries per day' of service 'gmail.googleapis.com' for consumer 'project_number:1'.","status":"RESOURCE_EXHAUSTED"}}"#;
        let now = at("2026-01-15T18:00:00Z");
        let e = map_google_error(&HttpFailure {
            now,
            ..f(429, per_day)
        });
        assert_eq!(e.retry_after(), Some(Duration::from_secs(14 * 3600)));
        let per_minute = r#"{"error":{"code":429,"message":"Quota exceeded for quota metric 'Queries' and limit 'Queries per minute per user' of service 'gmail.googleapis.com' for consumer 'project_number:1'.","status":"RESOURCE_EXHAUSTED"}}"#;
        assert_eq!(
            map_google_error(&HttpFailure {
                now,
                ..f(429, per_minute)
            }),
            Error::RateLimited { retry_after: None }
        );
    }
}
