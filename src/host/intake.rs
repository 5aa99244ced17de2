//! Intake: signed webhooks in, durable jobs out, in milliseconds.

use super::error::{ApiError, ApiResult};
use super::{AppState, MAX_BODY_BYTES, signature};
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use salesagent_core::model::{FormSubmission, JobId, NewJob, SubmissionId, kinds};
use salesagent_core::pipeline::PipelineJob;
use salesagent_core::ports::DynStore;
use salesagent_core::{Error, Result};
use serde::Serialize;

/// What intake did with one submission.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Accepted {
    /// The pipeline job (the first one, for a redelivery).
    pub job_id: JobId,
    /// The stored submission (the first one, for a redelivery).
    pub submission_id: SubmissionId,
    /// True when this delivery was a duplicate of an earlier one.
    pub duplicate: bool,
}

/// The pipeline job for a stored submission: kind [`kinds::PIPELINE`], payload
/// [`PipelineJob`] (`{"submission_id": ...}`), idempotency key `pipeline:` + the submission's
/// key: the same job [`Pipeline::submit`](salesagent_core::pipeline::Pipeline::submit)
/// enqueues, so intake and `cli submit` never make two jobs for one lead.
#[must_use]
pub fn pipeline_job(submission: &FormSubmission) -> NewJob {
    let payload = serde_json::to_value(PipelineJob {
        submission_id: submission.id,
    })
    .unwrap_or_else(|_| serde_json::json!({ "submission_id": submission.id }));
    NewJob::new(kinds::PIPELINE, payload)
        .with_key(format!("pipeline:{}", submission.idempotency_key))
}

/// Stores `submission` verbatim (deduplicated by idempotency key) and enqueues its pipeline job
/// (deduplicated too). Safe to call again after a failure: a retry finds both.
///
/// # Errors
/// Store errors only.
pub async fn accept_submission(store: &DynStore, submission: &FormSubmission) -> Result<Accepted> {
    let (stored, new) = store.save_submission(submission).await?;
    let (job, _) = store.enqueue(&pipeline_job(&stored)).await?;
    Ok(Accepted {
        job_id: job.id,
        submission_id: stored.id,
        duplicate: !new,
    })
}

/// Reads the body, mapping an over-limit body to 413 and any other read failure to 400.
pub(super) fn body_or_error(body: std::result::Result<Bytes, BytesRejection>) -> ApiResult<Bytes> {
    body.map_err(|rej| {
        if rej.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::too_large(MAX_BODY_BYTES)
        } else {
            ApiError::bad_request(format!("unreadable body: {}", rej.body_text()))
        }
    })
}

fn utf8(body: &[u8]) -> ApiResult<&str> {
    std::str::from_utf8(body).map_err(|_| ApiError::bad_request("body is not UTF-8"))
}

fn rejected(reason: &'static str, e: Error) -> ApiError {
    metrics::counter!("salesagent_webhook_rejected_total", "reason" => reason).increment(1);
    ApiError::from(e)
}

fn accepted_response(source: &'static str, a: &Accepted) -> Response {
    let result = if a.duplicate { "duplicate" } else { "new" };
    metrics::counter!("salesagent_webhook_submissions_total", "source" => source, "result" => result)
        .increment(1);
    tracing::info!(job = %a.job_id, submission = %a.submission_id, duplicate = a.duplicate, "submission accepted");
    (StatusCode::ACCEPTED, Json(a)).into_response()
}

/// `POST /webhooks/forms`: the canonical form-submission JSON.
pub(super) async fn forms(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: std::result::Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let body = body_or_error(body).inspect_err(|_| {
        metrics::counter!("salesagent_webhook_rejected_total", "reason" => "too_large")
            .increment(1);
    })?;
    signature::check(&state, &method, &headers, &uri, &body, false)
        .map_err(|e| rejected("signature", e))?;
    let raw = utf8(&body).inspect_err(|_| {
        metrics::counter!("salesagent_webhook_rejected_total", "reason" => "malformed")
            .increment(1);
    })?;
    let submission = FormSubmission::from_canonical_json(raw, state.now())
        .map_err(|e| rejected("malformed", e))?;
    let accepted = accept_submission(state.store(), &submission).await?;
    Ok(accepted_response("forms", &accepted))
}

/// `POST /webhooks/hubspot`: what HubSpot delivers.
pub(super) async fn hubspot(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: std::result::Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let body = body_or_error(body)?;
    let legacy = state.config().hubspot_legacy_signatures;
    signature::check(&state, &method, &headers, &uri, &body, legacy)
        .map_err(|e| rejected("signature", e))?;
    let _raw = utf8(&body)?;
    Err(ApiError::from(Error::unsupported(
        "HubSpot payload parsing is not wired yet",
    )))
}

/// `GET /api/jobs/{id}`: a job's state, attempts and last error.
pub(super) async fn get_job(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let id: JobId = id.parse()?;
    let job = state.store().get_job(id).await?;
    Ok(Json(serde_json::json!({
        "id": job.id,
        "kind": job.kind,
        "state": job.state,
        "attempts": job.attempts,
        "max_attempts": job.max_attempts,
        "last_error": job.last_error,
        "run_at": job.run_at,
        "created_at": job.created_at,
        "updated_at": job.updated_at,
    }))
    .into_response())
}
