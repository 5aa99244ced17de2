//! The job queue over the operator API (bearer token): one job, a filtered list (dead letters
//! with `?state=dead`), and putting a dead job back in the queue.

use super::AppState;
use super::error::{ApiError, ApiResult};
use super::extract::{ApiQuery, Operator};
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use salesagent_core::model::{Job, JobFilter, JobId, JobState, NewAuditEntry};
use serde::{Deserialize, Serialize};

/// Jobs listed when the request names no `limit`.
pub const DEFAULT_JOB_LIST_LIMIT: u32 = 100;
/// Most jobs one list request returns.
pub const MAX_JOB_LIST_LIMIT: u32 = 1000;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/jobs", get(list_jobs))
        .route("/api/jobs/{id}", get(get_job))
        .route("/api/jobs/{id}/requeue", post(requeue))
}

/// A job as the API shows it: no payload (it may name records), no lease token.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobView {
    /// The job.
    pub id: JobId,
    /// Its kind (`pipeline`, `send`, ...).
    pub kind: String,
    /// Where it is.
    pub state: JobState,
    /// Attempts started so far.
    pub attempts: u32,
    /// Attempt budget.
    pub max_attempts: u32,
    /// The last error, if an attempt failed.
    pub last_error: Option<String>,
    /// Earliest next run.
    pub run_at: DateTime<Utc>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

impl From<Job> for JobView {
    fn from(j: Job) -> Self {
        Self {
            id: j.id,
            kind: j.kind,
            state: j.state,
            attempts: j.attempts,
            max_attempts: j.max_attempts,
            last_error: j.last_error,
            run_at: j.run_at,
            created_at: j.created_at,
            updated_at: j.updated_at,
        }
    }
}

fn job_id(id: &str) -> ApiResult<JobId> {
    id.parse()
        .map_err(|_| ApiError::bad_request(format!("{id:?} is not a job id")))
}

/// `GET /api/jobs/{id}`: a job's state, attempts and last error.
pub(super) async fn get_job(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let job = state.store().get_job(job_id(&id)?).await?;
    Ok(Json(JobView::from(job)).into_response())
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    limit: Option<u32>,
}

/// `GET /api/jobs?state=dead&kind=send&limit=50`: jobs oldest first, `{"jobs": [...]}`. Every
/// filter is optional; `limit` defaults to [`DEFAULT_JOB_LIST_LIMIT`] and is capped at
/// [`MAX_JOB_LIST_LIMIT`].
async fn list_jobs(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> ApiResult<Response> {
    let job_state = q
        .state
        .as_deref()
        .filter(|s| !s.trim().is_empty())
        .map(str::parse::<JobState>)
        .transpose()?;
    let kind = q
        .kind
        .map(|k| k.trim().to_owned())
        .filter(|k| !k.is_empty());
    let limit = match q.limit {
        None | Some(0) => DEFAULT_JOB_LIST_LIMIT,
        Some(n) => n.min(MAX_JOB_LIST_LIMIT),
    };
    let jobs = state
        .store()
        .list_jobs(&JobFilter {
            state: job_state,
            kind,
            limit,
        })
        .await?;
    let jobs: Vec<JobView> = jobs
        .into_iter()
        .take(limit as usize)
        .map(JobView::from)
        .collect();
    Ok(Json(serde_json::json!({ "jobs": jobs })).into_response())
}

/// `POST /api/jobs/{id}/requeue`: a dead job back in the queue with a fresh attempt budget,
/// runnable now, with an audit entry. `404` for an unknown job, `409` when it is not dead.
async fn requeue(
    State(state): State<AppState>,
    operator: Operator,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let id = job_id(&id)?;
    let job = state.store().requeue_dead(id).await?;
    state
        .store()
        .append_audit(&NewAuditEntry {
            actor: operator.actor(),
            action: "job.requeue".to_owned(),
            subject: format!("job:{id}"),
            details: serde_json::json!({ "kind": job.kind }),
        })
        .await?;
    Ok(Json(JobView::from(job)).into_response())
}
