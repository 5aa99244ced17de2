//! The operator API (bearer token): drafts, the queue, outcomes and the kill switch.
//!
//! Draft changes go through [`Draft::apply`] and the store's optimistic version check, and each
//! leaves an audit entry. Callers send the `version` they saw; a stale one is `409`.

use super::AppState;
use super::error::{ApiError, ApiResult};
use super::extract::{ApiJson, ApiQuery, Operator, OptionalJson, draft_id};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use salesagent_core::model::{
    Draft, DraftAction, DraftId, DraftWriter, EmailAddress, NewAuditEntry, OutcomeType,
    SubmissionId, clean_line, validate_body, validate_subject,
};
use salesagent_core::outcomes::{NewOutcome, Outcomes, ScanSource, wake_outcome_scan};
use salesagent_core::ports::{OutcomeFilter, SettingsExt as _};
use serde::Deserialize;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/drafts", post(create_draft))
        .route("/api/drafts/{id}", get(get_draft).patch(edit_draft))
        .route("/api/operator/drafts/pending", get(pending))
        .route("/api/operator/drafts/{id}/approve", post(approve))
        .route("/api/operator/drafts/{id}/reject", post(reject))
        .route(
            "/api/operator/kill-switch",
            get(kill_switch).post(set_kill_switch),
        )
        .route("/api/outcomes/types", get(outcome_types))
        .route("/api/outcomes/stats", get(outcome_stats))
        .route("/api/outcomes/recent", get(recent_outcomes))
        .route("/api/outcomes/contact/{email}", get(contact_outcomes))
        .route("/api/outcomes/record", post(record_outcome))
        .route("/api/outcomes/detect/{source}", post(detect_outcomes))
}

// ---- handlers ----

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewDraftBody {
    contact_email: String,
    #[serde(default)]
    contact_name: Option<String>,
    #[serde(default)]
    company_name: Option<String>,
    sender: String,
    subject: String,
    body: String,
    #[serde(default)]
    submission_id: Option<SubmissionId>,
    #[serde(default)]
    priority: Option<f64>,
}

/// `POST /api/drafts`: a hand-written draft, pending review.
async fn create_draft(
    State(state): State<AppState>,
    operator: Operator,
    ApiJson(b): ApiJson<NewDraftBody>,
) -> ApiResult<Response> {
    let contact_email = EmailAddress::parse(&b.contact_email)
        .map_err(|e| ApiError::bad_request(format!("contact_email: {e}")))?;
    let sender = EmailAddress::parse(&b.sender)
        .map_err(|e| ApiError::bad_request(format!("sender: {e}")))?;
    validate_subject(&b.subject)?;
    validate_body(&b.body)?;
    let priority = b.priority.unwrap_or(0.0);
    if !priority.is_finite() {
        return Err(ApiError::bad_request("priority must be a finite number"));
    }
    let now = state.now();
    let draft = Draft {
        submission_id: b.submission_id,
        contact_name: b
            .contact_name
            .map(|s| clean_line(&s))
            .filter(|s| !s.is_empty()),
        company_name: b
            .company_name
            .map(|s| clean_line(&s))
            .filter(|s| !s.is_empty()),
        priority,
        ..Draft::new(
            contact_email,
            sender,
            b.subject,
            b.body,
            DraftWriter::Human,
            now,
        )
    };
    let store = state.store();
    store
        .insert_draft(&draft, &draft.created_event(&operator.actor()))
        .await?;
    store
        .append_audit(&NewAuditEntry {
            actor: operator.actor(),
            action: "draft.create".to_owned(),
            subject: draft.id.to_string(),
            details: serde_json::json!({}),
        })
        .await?;
    Ok((StatusCode::CREATED, Json(draft)).into_response())
}

/// `GET /api/drafts/{id}`: the draft with its events.
async fn get_draft(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Response> {
    let id = draft_id(&id)?;
    let draft = state.store().get_draft(id).await?;
    let events = state.store().draft_events(id).await?;
    Ok(Json(serde_json::json!({"draft": draft, "events": events})).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EditBody {
    version: u32,
    #[serde(default)]
    subject: Option<String>,
    #[serde(default)]
    body: Option<String>,
}

/// `PATCH /api/drafts/{id}`: edit subject and/or body (`version` required).
async fn edit_draft(
    State(state): State<AppState>,
    operator: Operator,
    Path(id): Path<String>,
    body: Result<ApiJson<EditBody>, ApiError>,
) -> ApiResult<Json<Draft>> {
    let id = draft_id(&id)?;
    let ApiJson(b) = body?;
    if b.subject.is_none() && b.body.is_none() {
        return Err(ApiError::bad_request(
            "nothing to change: give subject and/or body",
        ));
    }
    let action = DraftAction::Edit {
        subject: b.subject,
        body: b.body,
    };
    Ok(Json(
        state
            .act(id, Some(b.version), &operator.actor(), action)
            .await?,
    ))
}

/// `GET /api/operator/drafts/pending`: the queue in priority order.
async fn pending(State(state): State<AppState>) -> ApiResult<Response> {
    let items = state.pending_drafts().await?;
    let drafts: Vec<serde_json::Value> = items
        .iter()
        .map(|i| {
            let mut d = serde_json::to_value(&i.draft).unwrap_or_default();
            if let Some(o) = d.as_object_mut() {
                o.insert("priority".into(), serde_json::json!(i.priority));
                o.insert("priority_factors".into(), serde_json::json!(i.factors));
            }
            d
        })
        .collect();
    Ok(Json(serde_json::json!({"count": drafts.len(), "drafts": drafts})).into_response())
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct DecisionBody {
    #[serde(default)]
    version: Option<u32>,
    #[serde(default)]
    reason: Option<String>,
}

/// `POST /api/operator/drafts/{id}/approve`, body `{"version": n}` (optional).
async fn approve(
    State(state): State<AppState>,
    operator: Operator,
    Path(id): Path<String>,
    body: Result<OptionalJson<DecisionBody>, ApiError>,
) -> ApiResult<Json<Draft>> {
    let id = draft_id(&id)?;
    let OptionalJson(b) = body?;
    Ok(Json(
        state
            .act(id, b.version, &operator.actor(), DraftAction::Approve)
            .await?,
    ))
}

/// `POST /api/operator/drafts/{id}/reject`, body `{"reason": "...", "version": n}`.
async fn reject(
    State(state): State<AppState>,
    operator: Operator,
    Path(id): Path<String>,
    body: Result<OptionalJson<DecisionBody>, ApiError>,
) -> ApiResult<Json<Draft>> {
    let id = draft_id(&id)?;
    let OptionalJson(b) = body?;
    let reason = b.reason.unwrap_or_default();
    if reason.trim().is_empty() {
        return Err(ApiError::bad_request("reason is required"));
    }
    let action = DraftAction::Reject {
        reason: clean_line(&reason),
    };
    Ok(Json(
        state.act(id, b.version, &operator.actor(), action).await?,
    ))
}

/// `GET /api/operator/kill-switch`.
async fn kill_switch(State(state): State<AppState>) -> ApiResult<Response> {
    let on = state.store().kill_switch().await?;
    Ok(Json(serde_json::json!({"on": on})).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct KillBody {
    on: bool,
}

/// `POST /api/operator/kill-switch`, body `{"on": true|false}`.
async fn set_kill_switch(
    State(state): State<AppState>,
    operator: Operator,
    ApiJson(b): ApiJson<KillBody>,
) -> ApiResult<Response> {
    state.switch_kill(b.on, &operator.actor()).await?;
    Ok(Json(serde_json::json!({"on": b.on})).into_response())
}

/// `GET /api/outcomes/types`: every outcome type with its category and default impact.
async fn outcome_types() -> Json<serde_json::Value> {
    let types: Vec<_> = OutcomeType::ALL
        .iter()
        .map(|t| {
            serde_json::json!({
                "type": t.as_str(),
                "category": t.category(),
                "default_impact": t.default_impact(),
            })
        })
        .collect();
    Json(serde_json::json!({"types": types}))
}

/// `GET /api/outcomes/stats`.
async fn outcome_stats(State(state): State<AppState>) -> ApiResult<Json<serde_json::Value>> {
    Ok(Json(state.outcome_stats().await?))
}

#[derive(Debug, Deserialize)]
struct RecentQuery {
    #[serde(default)]
    limit: Option<u32>,
}

/// `GET /api/outcomes/recent?limit=N` (default 50, at most 500).
async fn recent_outcomes(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<RecentQuery>,
) -> ApiResult<Response> {
    let limit = q.limit.unwrap_or(50).clamp(1, 500);
    let outcomes = state
        .store()
        .list_outcomes(&OutcomeFilter {
            limit,
            ..OutcomeFilter::default()
        })
        .await?;
    Ok(Json(serde_json::json!({"outcomes": outcomes})).into_response())
}

/// `GET /api/outcomes/contact/{email}`.
async fn contact_outcomes(
    State(state): State<AppState>,
    Path(email): Path<String>,
) -> ApiResult<Response> {
    let email = EmailAddress::parse(&email)?;
    let outcomes = state
        .store()
        .list_outcomes(&OutcomeFilter {
            contact: Some(email),
            ..OutcomeFilter::default()
        })
        .await?;
    Ok(Json(serde_json::json!({"outcomes": outcomes})).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RecordBody {
    outcome_type: String,
    contact_email: String,
    #[serde(default)]
    sender: Option<String>,
    #[serde(default)]
    draft_id: Option<DraftId>,
    #[serde(default)]
    impact: Option<i32>,
    #[serde(default)]
    source_event_id: Option<String>,
    #[serde(default)]
    occurred_at: Option<DateTime<Utc>>,
    #[serde(default)]
    details: Option<String>,
}

/// `POST /api/outcomes/record`: records an outcome by hand (idempotent by `source_event_id`)
/// through the same code as detected outcomes, [`Outcomes::record`](salesagent_core::outcomes::Outcomes::record),
/// with its effects: a reply, response, booked meeting, unsubscribe or bounce stops the contact's
/// pending and approved drafts; a bounce or unsubscribe suppresses the address. `201` when new,
/// `200` when the event was already recorded; the answer says what the effects did.
async fn record_outcome(
    State(state): State<AppState>,
    ApiJson(b): ApiJson<RecordBody>,
) -> ApiResult<Response> {
    let outcome_type: OutcomeType = b.outcome_type.parse()?;
    let now = state.now();
    let new = NewOutcome {
        outcome_type,
        contact_email: EmailAddress::parse(&b.contact_email)?,
        sender: b.sender.as_deref().map(EmailAddress::parse).transpose()?,
        draft_id: b.draft_id,
        source_event_id: b
            .source_event_id
            .map(|s| clean_line(&s))
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| format!("manual:{}", uuid::Uuid::new_v4())),
        occurred_at: b.occurred_at.unwrap_or(now),
        details: b.details.map(|s| clean_line(&s)),
    };
    let r = Outcomes::with_config(
        state.store().clone(),
        state.clock.clone(),
        state.outcome_config().get(),
    )
    .record_with_impact(new, b.impact)
    .await?;
    let status = if r.new {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        Json(serde_json::json!({
            "recorded": r.new,
            "outcome": r.outcome,
            "drafts_stopped": r.drafts_stopped,
            "suppressed": r.suppressed,
        })),
    )
        .into_response())
}

/// `POST /api/outcomes/detect/{source}` (`mailbox`, `crm`, `calendar` or `silence`): makes
/// that source's one scan job due now (enqueued when missing, back in the queue when it was
/// dead-lettered) and answers `202 {"job_id", "source", "state", "run_at"}`; a worker runs it.
/// A scan already running is that job: the answer names it with state `running`.
async fn detect_outcomes(
    State(state): State<AppState>,
    Path(source): Path<String>,
) -> ApiResult<Response> {
    let source: ScanSource = source.parse()?;
    let job = wake_outcome_scan(state.store().as_ref(), source, state.now()).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(serde_json::json!({
            "job_id": job.id,
            "source": source,
            "state": job.state,
            "run_at": job.run_at,
        })),
    )
        .into_response())
}
