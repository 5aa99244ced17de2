//! HubSpot error bodies mapped onto the core error.

use super::model::ErrorBody;
use crate::http::{HttpFailure, map_status};
use salesagent_core::Error;

/// Maps a HubSpot failure: the body's `category`/`message` refine the status mapping
/// (`RATE_LIMITS` → `RateLimited`, `CONFLICT` → `Conflict`, `OBJECT_NOT_FOUND` → `NotFound`).
#[must_use]
pub fn map_error(f: &HttpFailure<'_>) -> Error {
    let body: ErrorBody = serde_json::from_str(f.body).unwrap_or_default();
    let detail = if body.message.is_empty() {
        f.body.to_owned()
    } else {
        format!("{} ({})", body.message, body.category)
    };
    match body.category.as_str() {
        "RATE_LIMITS" => Error::RateLimited {
            retry_after: f.retry_after,
        },
        "CONFLICT" if f.status < 500 => Error::conflict(format!("hubspot: {}", body.message)),
        "OBJECT_NOT_FOUND" if f.status < 500 => {
            Error::not_found(format!("hubspot: {}", body.message))
        }
        _ => map_status(f, &detail),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(status: u16, body: &str) -> HttpFailure<'_> {
        HttpFailure {
            service: "hubspot",
            status,
            retry_after: None,
            body,
            now: chrono::DateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn categories() {
        let conflict = r#"{"status":"error","message":"Contact already exists. Existing ID: 501","correlationId":"c1","category":"CONFLICT"}"#;
        assert_eq!(map_error(&f(409, conflict)).kind(), "conflict");
        let limits = r#"{"status":"error","message":"You have reached your secondly limit.","correlationId":"c2","category":"RATE_LIMITS"}"#;
        assert_eq!(map_error(&f(429, limits)).kind(), "rate_limited");
        assert_eq!(map_error(&f(401, "not json")).kind(), "unauthenticated");
        assert_eq!(map_error(&f(502, "")).kind(), "unavailable");
        let invalid = r#"{"message":"Property values were not valid","correlationId":"c3","category":"VALIDATION_ERROR"}"#;
        assert_eq!(map_error(&f(400, invalid)).kind(), "invalid_input");
    }
}
