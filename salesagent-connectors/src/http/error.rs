//! Mapping HTTP failures onto the core [`Error`], shared by every connector. Connectors refine
//! it in their own `error.rs` by reading the provider's error body first.

use chrono::{DateTime, Utc};
use salesagent_core::Error;
use std::time::Duration;

/// Longest excerpt of a provider error body kept in an error message.
pub const MAX_DETAIL: usize = 300;

/// A non-success HTTP answer, as handed to a connector's error mapper.
#[derive(Debug, Clone, Copy)]
pub struct HttpFailure<'a> {
    /// Service name (`hubspot`, `gmail`, ...).
    pub service: &'static str,
    /// HTTP status code.
    pub status: u16,
    /// Parsed `Retry-After`, when the response had one.
    pub retry_after: Option<Duration>,
    /// The response body as text (lossy UTF-8).
    pub body: &'a str,
    /// When the answer arrived, by the service's clock (for delays given as a time of day).
    pub now: DateTime<Utc>,
}

/// Maps a status code onto the core error, with `detail` as the human-readable reason:
/// 400/422 → `InvalidInput`, 401 → `Unauthenticated`, 403 → `PermissionDenied`,
/// 404 → `NotFound`, 409 → `Conflict`, 429 → `RateLimited`, 408/5xx → `Unavailable`,
/// anything else → `Backend`.
#[must_use]
pub fn map_status(failure: &HttpFailure<'_>, detail: &str) -> Error {
    let service = failure.service;
    let status = failure.status;
    let detail = excerpt(detail);
    match status {
        400 | 422 => Error::invalid("request", format!("{service} {status}: {detail}")),
        401 => Error::unauthenticated(format!("{service} rejected the credentials: {detail}")),
        403 => Error::PermissionDenied {
            reason: format!("{service}: {detail}"),
        },
        404 | 410 => Error::not_found(format!("{service}: {detail}")),
        409 => Error::conflict(format!("{service}: {detail}")),
        429 => Error::RateLimited {
            retry_after: failure.retry_after,
        },
        408 | 500..=599 => Error::unavailable(format!("{service} {status}: {detail}")),
        _ => Error::backend(format!("{service} {status}: {detail}")),
    }
}

/// The default mapper: status code only, with a short excerpt of the body.
#[must_use]
pub fn map_plain(failure: &HttpFailure<'_>) -> Error {
    map_status(failure, failure.body)
}

/// Cuts a provider message to [`MAX_DETAIL`] bytes on a character boundary, on one line.
#[must_use]
pub fn excerpt(s: &str) -> String {
    let mut out: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    salesagent_core::model::truncate_on_char_boundary(&mut out, MAX_DETAIL);
    out.trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(status: u16) -> HttpFailure<'static> {
        HttpFailure {
            service: "svc",
            status,
            retry_after: Some(Duration::from_secs(3)),
            body: "nope",
            now: DateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn status_classes() {
        assert_eq!(map_plain(&f(401)).kind(), "unauthenticated");
        assert_eq!(map_plain(&f(403)).kind(), "permission_denied");
        assert_eq!(map_plain(&f(404)).kind(), "not_found");
        assert_eq!(map_plain(&f(409)).kind(), "conflict");
        assert_eq!(
            map_plain(&f(429)),
            Error::RateLimited {
                retry_after: Some(Duration::from_secs(3))
            }
        );
        for s in [500, 502, 503, 504, 408] {
            assert_eq!(map_plain(&f(s)).kind(), "unavailable");
        }
        assert_eq!(map_plain(&f(400)).kind(), "invalid_input");
        assert_eq!(map_plain(&f(418)).kind(), "backend");
        assert!(excerpt(&"x".repeat(1000)).len() <= MAX_DETAIL);
    }
}
