//! Intake: signed webhooks in, durable jobs out, in milliseconds.

use super::error::{ApiError, ApiResult};
use super::extract::RawBody;
use super::{AppState, signature};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{OriginalUri, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use salesagent_connectors::hubspot::webhook::{ContactEvent, parse_payload};
use salesagent_core::model::{FormSubmission, JobId, NewJob, SubmissionId};
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

/// The pipeline job for a stored submission: kind [`kinds::PIPELINE`](salesagent_core::model::kinds::PIPELINE), payload
/// [`PipelineJob`] (`{"submission_id": ...}`), idempotency key `pipeline:` + the submission's
/// key: the same job [`Pipeline::submit`](salesagent_core::pipeline::Pipeline::submit)
/// enqueues, so intake and `cli submit` never make two jobs for one lead.
#[must_use]
pub fn pipeline_job(submission: &FormSubmission) -> NewJob {
    PipelineJob::for_submission(submission)
}

/// Stores `submission` verbatim (deduplicated by idempotency key) and enqueues its pipeline job
/// (deduplicated too). Safe to call again after a failure: a retry finds both.
///
/// # Errors
/// Store errors only.
pub async fn accept_submission(store: &DynStore, submission: &FormSubmission) -> Result<Accepted> {
    // One short write with priority over the workers' writes where the store has it.
    if let Some(a) = store
        .save_submission_and_enqueue(submission, &pipeline_job)
        .await?
    {
        return Ok(Accepted {
            job_id: a.job.id,
            submission_id: a.submission.id,
            duplicate: !a.new_submission,
        });
    }
    let (stored, new) = store.save_submission(submission).await?;
    let (job, _) = store.enqueue(&pipeline_job(&stored)).await?;
    Ok(Accepted {
        job_id: job.id,
        submission_id: stored.id,
        duplicate: !new,
    })
}

/// A webhook's body; a failed read is counted as a `too_large` rejection.
fn webhook_body(body: std::result::Result<RawBody, ApiError>) -> ApiResult<Bytes> {
    body.map(|RawBody(b)| b)
        .inspect_err(|_| count_rejected("too_large"))
}

/// A webhook's body as text; anything but UTF-8 is a `malformed` rejection (400).
fn utf8(body: &[u8]) -> ApiResult<&str> {
    std::str::from_utf8(body).map_err(|_| {
        count_rejected("malformed");
        ApiError::bad_request("body is not UTF-8")
    })
}

fn count_rejected(reason: &'static str) {
    metrics::counter!("salesagent_webhook_rejected_total", "reason" => reason).increment(1);
}

fn rejected(reason: &'static str, e: Error) -> ApiError {
    count_rejected(reason);
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
///
/// The signature is checked over the [`OriginalUri`]: the full path the request came in on,
/// including any prefix the router is nested under, as HubSpot signed it.
pub(super) async fn forms(
    State(state): State<AppState>,
    method: Method,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: std::result::Result<RawBody, ApiError>,
) -> ApiResult<Response> {
    let body = webhook_body(body)?;
    signature::check(&state, &method, &headers, &uri, &body, false)
        .map_err(|e| rejected("signature", e))?;
    let raw = utf8(&body)?;
    let submission = FormSubmission::from_canonical_json(raw, state.now())
        .map_err(|e| rejected("malformed", e))?;
    let accepted = accept_submission(state.store(), &submission).await?;
    Ok(accepted_response("forms", &accepted))
}

/// What intake did with a Webhooks-API event array.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AcceptedEvents {
    /// One durable job per usable contact event (the first job, for a redelivered event),
    /// in the order of the array.
    pub job_ids: Vec<JobId>,
    /// The job, when there is exactly one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job_id: Option<JobId>,
    /// How many of those events were redeliveries of events already queued.
    pub duplicates: usize,
    /// Events skipped: other object types (companies…), deletions, merges, malformed items.
    pub ignored: usize,
}

/// The durable job for a HubSpot contact event: kind
/// [`kinds::CRM_CONTACT_EVENT`](salesagent_core::model::kinds::CRM_CONTACT_EVENT), payload
/// [`CrmContactEventJob`](salesagent_core::pipeline::CrmContactEventJob), keyed by
/// [`ContactEvent::idempotency_key`]. A worker reads the contact from the CRM and submits it;
/// intake never calls the CRM.
///
/// # Errors
/// `Backend` if the payload cannot be serialised.
pub fn contact_event_job(event: &ContactEvent) -> Result<NewJob> {
    event.to_job_payload().to_job()
}

/// Enqueues one [`contact_event_job`] per event (deduplicated by key).
///
/// # Errors
/// Store errors only.
pub async fn accept_events(
    store: &DynStore,
    events: &[ContactEvent],
    ignored: usize,
) -> Result<AcceptedEvents> {
    let mut job_ids = Vec::with_capacity(events.len());
    let mut duplicates = 0;
    for event in events {
        let (job, new) = store.enqueue(&contact_event_job(event)?).await?;
        if !new {
            duplicates += 1;
        }
        job_ids.push(job.id);
    }
    let job_id = match job_ids.as_slice() {
        [one] => Some(*one),
        _ => None,
    };
    Ok(AcceptedEvents {
        job_ids,
        job_id,
        duplicates,
        ignored,
    })
}

/// `POST /webhooks/hubspot`: what HubSpot delivers. A JSON object is a workflow "send a
/// webhook" contact payload: stored and enqueued like `/webhooks/forms`, `202 {"job_id"}`. A
/// JSON array is a Webhooks-API event batch: each contact creation or property change becomes
/// a durable [`kinds::CRM_CONTACT_EVENT`](salesagent_core::model::kinds::CRM_CONTACT_EVENT) job (the CRM is read by a worker, never here),
/// `202 {"job_ids": [...], "ignored": n}`. Signature over the [`OriginalUri`] as in [`forms`].
pub(super) async fn hubspot(
    State(state): State<AppState>,
    method: Method,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: std::result::Result<RawBody, ApiError>,
) -> ApiResult<Response> {
    let body = webhook_body(body)?;
    let legacy = state.config().hubspot_legacy_signatures;
    signature::check(&state, &method, &headers, &uri, &body, legacy)
        .map_err(|e| rejected("signature", e))?;
    let raw = utf8(&body)?;
    let parsed = parse_payload(raw, state.now()).map_err(|e| rejected("malformed", e))?;
    // A JSON object is one workflow submission, an array only events: parse_payload never
    // mixes the two shapes.
    if let [submission] = parsed.submissions.as_slice() {
        let accepted = accept_submission(state.store(), submission).await?;
        return Ok(accepted_response("hubspot_workflow", &accepted));
    }
    let accepted = accept_events(state.store(), &parsed.events, parsed.ignored).await?;
    let new = accepted.job_ids.len() - accepted.duplicates;
    let count = |result: &'static str, n: usize| {
        metrics::counter!("salesagent_webhook_submissions_total", "source" => "hubspot_event", "result" => result)
            .increment(n as u64);
    };
    count("new", new);
    count("duplicate", accepted.duplicates);
    count("ignored", accepted.ignored);
    tracing::info!(
        jobs = accepted.job_ids.len(),
        duplicates = accepted.duplicates,
        ignored = accepted.ignored,
        "hubspot events accepted"
    );
    Ok((StatusCode::ACCEPTED, Json(accepted)).into_response())
}
