//! What handlers take from a request, already checked and mapped to an [`ApiError`]: the one
//! place request bodies, JSON, query strings and the operator page's forms are read.
//!
//! Handler files import from here, [`super::error`], [`AppState`] and the core; never from
//! each other. Every extractor rejects with the host's JSON error:
//!
//! | extractor | takes | rejects with |
//! |---|---|---|
//! | [`RawBody`]`<LIMIT>` | the body as bytes (signed webhooks, audio, one-click unsubscribe) | `413` over `LIMIT`, `400` unreadable |
//! | [`ApiJson`]`<T>` | a JSON body parsed into `T` | as [`RawBody`], `400 invalid JSON: …` |
//! | [`OptionalJson`]`<T>` | as [`ApiJson`], a blank body is `T::default()` | as [`ApiJson`] |
//! | [`ApiQuery`]`<T>` | the query string parsed into `T` | `400` with axum's message |
//! | [`CsrfForm`] | a state-changing operator-page form | `401` no session, `400` not a form, `403` CSRF token |
//! | [`Operator`] | the bearer-authenticated operator | (checked by the bearer middleware) |
//! | [`ClientAddress`] | the client's address (rate limits, login throttling) | never |
//!
//! Extractors run in argument order, the body last; a handler that must check something
//! before the body's errors count takes `Result<RawBody, ApiError>` and maps it itself.

use super::error::{ApiError, ApiResult};
use super::{AppState, MAX_BODY_BYTES};
use axum::Form;
use axum::body::Bytes;
use axum::extract::rejection::FormRejection;
use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use salesagent_core::model::DraftId;
use serde::de::DeserializeOwned;
use std::collections::HashMap;

pub(super) use super::auth::{
    Attempt, LOGIN_COOKIE, Operator, SESSION_COOKIE, Session, authenticate, cookie, random_token,
    same_token, set_cookie,
};
pub(super) use super::ratelimit::ClientAddress;

/// The request body as bytes, read within `LIMIT` bytes (the limit named in the `413`; the
/// route's `DefaultBodyLimit` enforces it).
#[derive(Debug, Clone)]
pub(super) struct RawBody<const LIMIT: usize = MAX_BODY_BYTES>(pub Bytes);

impl<S: Send + Sync, const LIMIT: usize> FromRequest<S> for RawBody<LIMIT> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        Bytes::from_request(req, state)
            .await
            .map(Self)
            .map_err(|rej| {
                if rej.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::too_large(LIMIT)
                } else {
                    ApiError::bad_request(format!("unreadable body: {}", rej.body_text()))
                }
            })
    }
}

/// A JSON body parsed into `T`; anything else is a `400` with the parser's message.
#[derive(Debug, Clone)]
pub(super) struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let RawBody(bytes) = RawBody::<MAX_BODY_BYTES>::from_request(req, state).await?;
        parse_json(&bytes).map(Self)
    }
}

/// [`ApiJson`] for a route whose body may be left out: an empty or blank body is
/// `T::default()`.
#[derive(Debug, Clone)]
pub(super) struct OptionalJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Default> FromRequest<S> for OptionalJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let RawBody(bytes) = RawBody::<MAX_BODY_BYTES>::from_request(req, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self(T::default()));
        }
        parse_json(&bytes).map(Self)
    }
}

fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> ApiResult<T> {
    serde_json::from_slice(bytes).map_err(|e| ApiError::bad_request(format!("invalid JSON: {e}")))
}

/// The query string parsed into `T`; a mismatch is a `400` with axum's message.
#[derive(Debug, Clone)]
pub(super) struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(q)| Self(q))
            .map_err(|e| ApiError::bad_request(e.body_text()))
    }
}

/// The fields of an operator-page form, unchecked (the login form, which has no session yet).
pub(super) type FormResult = Result<Form<HashMap<String, String>>, FormRejection>;

/// A state-changing operator-page form: a live session (else `401`), a form body (else `400`)
/// whose `csrf` field matches the session's token (else `403`), checked in that order.
#[derive(Debug, Clone)]
pub(super) struct CsrfForm {
    /// The session that sent it.
    pub session: Session,
    /// The form's fields.
    pub fields: HashMap<String, String>,
}

impl FromRequest<AppState> for CsrfForm {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let session = state
            .sessions
            .get(req.headers(), state.now())
            .ok_or_else(|| ApiError::unauthorized("log in first"))?;
        let Form(fields) = Form::<HashMap<String, String>>::from_request(req, state)
            .await
            .map_err(|e| ApiError::bad_request(e.body_text()))?;
        let presented = fields.get("csrf").map_or("", String::as_str);
        if !same_token(&session.csrf, presented) {
            return Err(ApiError::forbidden("missing or wrong CSRF token"));
        }
        Ok(Self { session, fields })
    }
}

/// A draft id from a path segment or form field; anything else is a `400`.
pub(super) fn draft_id(id: &str) -> ApiResult<DraftId> {
    id.parse()
        .map_err(|_| ApiError::bad_request(format!("{id:?} is not a draft id")))
}
