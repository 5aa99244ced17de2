//! Follow-up sequences over the operator API (bearer token): a contact's sequence state, a
//! manual stop, the list and per-step figures.

use super::AppState;
use super::error::{ApiError, ApiResult};
use super::extract::{ApiQuery, Operator};
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use salesagent_core::Error;
use salesagent_core::model::EmailAddress;
use salesagent_core::sequences::{SequenceFilter, SequenceStatus, compute_stats, stop_by_operator};
use serde::Deserialize;

/// Sequences listed when the request names no `limit`.
pub const DEFAULT_SEQUENCE_LIST_LIMIT: u32 = 100;
/// Most sequences one list request returns.
pub const MAX_SEQUENCE_LIST_LIMIT: u32 = 1000;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/sequences", get(list))
        .route("/api/sequences/stats", get(stats))
        .route("/api/sequences/{email}", get(get_one))
        .route("/api/sequences/{email}/stop", post(stop))
}

fn email(raw: &str) -> ApiResult<EmailAddress> {
    EmailAddress::parse(raw.trim())
        .map_err(|_| ApiError::bad_request(format!("{raw:?} is not an e-mail address")))
}

/// `GET /api/sequences/{email}`: the contact's sequence (status, step, next due time, why it
/// is paused or stopped, the thread, its history); `404` when the contact has none.
async fn get_one(State(state): State<AppState>, Path(raw): Path<String>) -> ApiResult<Response> {
    let contact = email(&raw)?;
    let seq = state
        .store()
        .get_sequence(&contact)
        .await?
        .ok_or_else(|| Error::not_found(format!("sequence of {contact}")))?;
    Ok(Json(seq).into_response())
}

/// `POST /api/sequences/{email}/stop`: stops the contact's sequence (reason `manual`, naming
/// the operator), discards its unsent follow-up, records an audit entry; answers the sequence
/// as stored. `404` when the contact has none; a finished sequence is answered unchanged.
async fn stop(
    State(state): State<AppState>,
    operator: Operator,
    Path(raw): Path<String>,
) -> ApiResult<Response> {
    let contact = email(&raw)?;
    let seq = stop_by_operator(
        state.store().as_ref(),
        &contact,
        &operator.actor(),
        None,
        state.now(),
    )
    .await?
    .ok_or_else(|| Error::not_found(format!("sequence of {contact}")))?;
    Ok(Json(seq).into_response())
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    limit: Option<u32>,
}

/// `GET /api/sequences?status=paused&limit=50`: sequences, most recently changed first,
/// `{"sequences": [...]}`.
async fn list(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> ApiResult<Response> {
    let status = q
        .status
        .as_deref()
        .filter(|s| !s.trim().is_empty())
        .map(str::parse::<SequenceStatus>)
        .transpose()?;
    let limit = match q.limit {
        None | Some(0) => DEFAULT_SEQUENCE_LIST_LIMIT,
        Some(n) => n.min(MAX_SEQUENCE_LIST_LIMIT),
    };
    let sequences = state
        .store()
        .list_sequences(&SequenceFilter { status, limit })
        .await?;
    Ok(Json(serde_json::json!({ "sequences": sequences })).into_response())
}

/// `GET /api/sequences/stats`: per step, how many were sent, replied to, stopped by reason;
/// sequences per status.
async fn stats(State(state): State<AppState>) -> ApiResult<Response> {
    let all = state
        .store()
        .list_sequences(&SequenceFilter::default())
        .await?;
    Ok(Json(compute_stats(&all)).into_response())
}
