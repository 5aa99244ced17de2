//! Errors as HTTP responses: a status chosen from what the caller should do, and a JSON body
//! `{"error": {"kind": "...", "message": "..."}}`.
//!
//! Every request gets a [`RequestId`] (header `x-request-id` on every response). A server
//! error made from an internal [`Error`] never echoes it: the body says only what the caller
//! can act on plus the request id (a `500` body: `{"error": {"kind": "internal", "message":
//! "internal error", "request_id": "..."}}`), and the detail goes to the log line carrying
//! the same request id.

use axum::Json;
use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use salesagent_core::Error;

/// The response header carrying the request id.
pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// The id of one request (32 hex digits, random): in the `x-request-id` response header, in
/// server-error bodies and in the log lines about the request. Handlers can read it as a
/// request extension.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(pub String);

impl RequestId {
    fn new() -> Self {
        Self(uuid::Uuid::new_v4().simple().to_string())
    }

    /// The id of the request being handled (a fresh one outside a request).
    fn current() -> Self {
        CURRENT
            .try_with(Clone::clone)
            .unwrap_or_else(|_| Self::new())
    }
}

tokio::task_local! {
    static CURRENT: RequestId;
}

/// Marks a response whose body was already made safe (so the request-id layer leaves it).
#[derive(Debug, Clone, Copy)]
struct Sanitized;

/// Middleware (outermost): gives the request a [`RequestId`], answers it in `x-request-id`,
/// and replaces the body of any `500` not made by [`ApiError`] (a layer's, an extractor's)
/// with the request id alone.
pub(super) async fn request_id(mut req: Request, next: Next) -> Response {
    let id = RequestId::new();
    req.extensions_mut().insert(id.clone());
    let mut resp = CURRENT.scope(id.clone(), next.run(req)).await;
    if resp.status() == StatusCode::INTERNAL_SERVER_ERROR
        && resp.extensions().get::<Sanitized>().is_none()
    {
        tracing::error!(request_id = %id.0, "request failed outside a handler");
        resp = internal_error_body(&id);
    }
    if let Ok(v) = HeaderValue::from_str(&id.0) {
        resp.headers_mut().insert(REQUEST_ID_HEADER, v);
    }
    resp
}

/// The whole body of a `500`: its kind and the request id.
fn internal_error_body(id: &RequestId) -> Response {
    let body = serde_json::json!({"error": {
        "kind": "internal",
        "message": "internal error",
        "request_id": id.0,
    }});
    let mut resp = (StatusCode::INTERNAL_SERVER_ERROR, Json(body)).into_response();
    resp.extensions_mut().insert(Sanitized);
    resp
}

/// An error answered to an HTTP client.
#[derive(Debug)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// Stable snake_case kind (`invalid_input`, `not_found`, ...).
    pub kind: &'static str,
    /// Human-readable message, without secrets.
    pub message: String,
    /// Seconds the client should wait, for 429 and 503.
    pub retry_after: Option<u64>,
    /// What went wrong inside, for the log only (server errors made from an [`Error`]).
    pub(super) detail: Option<String>,
}

impl ApiError {
    /// An error with an explicit status.
    pub fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            kind,
            message: message.into(),
            retry_after: None,
            detail: None,
        }
    }

    /// 400 for a body that is not what the route takes.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_input", message)
    }

    /// 401 with `message`.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthenticated", message)
    }

    /// 403 with `message`.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "permission_denied", message)
    }

    /// 413: the body is over the limit.
    pub fn too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("request body is over {limit} bytes"),
        )
    }

    /// 429 with a retry delay.
    pub fn rate_limited(retry_after_secs: u64) -> Self {
        Self {
            retry_after: Some(retry_after_secs.max(1)),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "too many requests",
            )
        }
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        let status = match &e {
            Error::NotFound { .. } => StatusCode::NOT_FOUND,
            Error::Conflict { .. } => StatusCode::CONFLICT,
            Error::InvalidInput { .. } => StatusCode::BAD_REQUEST,
            Error::Unauthenticated { .. } => StatusCode::UNAUTHORIZED,
            Error::PermissionDenied { .. } => StatusCode::FORBIDDEN,
            Error::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Error::Unavailable { .. } | Error::Timeout { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Error::Unsupported { .. } => StatusCode::NOT_IMPLEMENTED,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let retry_after = match &e {
            Error::RateLimited { retry_after } => Some(retry_after.map_or(1, |d| d.as_secs())),
            Error::Unavailable { .. } | Error::Timeout { .. } => Some(1),
            _ => None,
        };
        if status.is_server_error() {
            // The message of an internal error can name hosts, tables or values: log it only.
            let message = match status {
                StatusCode::SERVICE_UNAVAILABLE => "temporarily unavailable; retry later",
                StatusCode::NOT_IMPLEMENTED => "not supported by this host",
                _ => "internal error",
            };
            return Self {
                status,
                kind: if status == StatusCode::INTERNAL_SERVER_ERROR {
                    "internal"
                } else {
                    e.kind()
                },
                message: message.to_owned(),
                retry_after,
                detail: Some(format!("{}: {e}", e.kind())),
            };
        }
        Self {
            status,
            kind: e.kind(),
            message: e.to_string(),
            retry_after,
            detail: None,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut resp = if self.status.is_server_error() {
            let id = RequestId::current();
            tracing::error!(
                request_id = %id.0,
                status = self.status.as_u16(),
                kind = self.kind,
                detail = self.detail.as_deref().unwrap_or(&self.message),
                "request failed"
            );
            if self.status == StatusCode::INTERNAL_SERVER_ERROR {
                internal_error_body(&id)
            } else {
                let body = serde_json::json!({"error": {
                    "kind": self.kind,
                    "message": self.message,
                    "request_id": id.0,
                }});
                (self.status, Json(body)).into_response()
            }
        } else {
            let body = serde_json::json!({"error": {"kind": self.kind, "message": self.message}});
            (self.status, Json(body)).into_response()
        };
        if let Some(secs) = self.retry_after {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
        }
        resp
    }
}

/// Result of a handler.
pub type ApiResult<T> = std::result::Result<T, ApiError>;
