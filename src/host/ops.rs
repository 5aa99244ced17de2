//! Operations: liveness, readiness, Prometheus metrics, request tracking and tracing spans.

use super::AppState;
use super::error::{ApiError, RequestId};
use axum::Json;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use salesagent_core::model::{DraftStatus, JobState};
use salesagent_core::ports::SettingsExt as _;
use std::sync::OnceLock;
use std::time::Duration;
use tower_http::classify::{ServerErrorsAsFailures, SharedClassifier};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

/// Latency buckets in seconds, from 0.5 ms to 10 s.
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Installs the process-wide Prometheus recorder once and returns its handle (later calls
/// return the same handle). When another recorder is already installed, the handle renders
/// only what this host can see (nothing from the `metrics` macros).
pub fn install_metrics() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets(LATENCY_BUCKETS)
                .unwrap_or_else(|_| PrometheusBuilder::new());
            match builder.install_recorder() {
                Ok(handle) => handle,
                Err(_) => PrometheusBuilder::new().build_recorder().handle(),
            }
        })
        .clone()
}

/// `GET /healthz`: the process is up.
pub(super) async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({"status": "ok"}))
}

/// `GET /readyz`: `200 {"status": "ready"}` when the store is reachable and migrated, else
/// `503 {"status": "not_ready"}`; why goes to the log only (the route needs no token).
pub(super) async fn readyz(State(state): State<AppState>) -> Response {
    match state.store().health().await {
        Ok(()) => Json(serde_json::json!({"status": "ready"})).into_response(),
        Err(e) => {
            tracing::warn!(kind = e.kind(), error = %e, "not ready: store health check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(serde_json::json!({"status": "not_ready"})),
            )
                .into_response()
        }
    }
}

/// `GET /metrics`: Prometheus text; queue depth, drafts by status and the kill switch are read
/// from the store at scrape time.
pub(super) async fn metrics(State(state): State<AppState>) -> Response {
    let Some(handle) = state.metrics.as_ref() else {
        return ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "metrics are not enabled",
        )
        .into_response();
    };
    let store = state.store();
    match store.job_counts().await {
        Ok(counts) => {
            for s in JobState::ALL {
                let n = counts.get(&s).copied().unwrap_or(0);
                #[allow(clippy::cast_precision_loss)] // a gauge of a count
                metrics::gauge!("salesagent_jobs", "state" => s.as_str()).set(n as f64);
            }
        }
        Err(e) => tracing::warn!(error = %e, "metrics: job counts unavailable"),
    }
    match store.draft_counts().await {
        Ok(counts) => {
            for s in DraftStatus::ALL {
                let n = counts.get(&s).copied().unwrap_or(0);
                #[allow(clippy::cast_precision_loss)] // a gauge of a count
                metrics::gauge!("salesagent_drafts", "status" => s.as_str()).set(n as f64);
            }
        }
        Err(e) => tracing::warn!(error = %e, "metrics: draft counts unavailable"),
    }
    if let Ok(on) = store.kill_switch().await {
        metrics::gauge!("salesagent_kill_switch").set(if on { 1.0 } else { 0.0 });
    }
    let up = store.health().await.is_ok();
    metrics::gauge!("salesagent_store_up").set(if up { 1.0 } else { 0.0 });
    handle.run_upkeep();
    let mut resp = handle.render().into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    resp
}

/// Fallback: unknown routes are a JSON 404.
pub(super) async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route")
}

/// Counts requests and records their latency by method, route and status.
pub(super) async fn track(req: Request, next: Next) -> Response {
    let started = tokio::time::Instant::now();
    let method = req.method().as_str().to_owned();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let resp = next.run(req).await;
    let status = resp.status().as_u16().to_string();
    let secs = started.elapsed().as_secs_f64();
    metrics::counter!("http_requests_total", "method" => method.clone(), "route" => route.clone(), "status" => status)
        .increment(1);
    metrics::histogram!("http_request_duration_seconds", "method" => method, "route" => route)
        .record(secs);
    resp
}

/// One span per request, named `http`, with method, route and request id only: no headers,
/// no bodies.
pub(super) fn trace_layer()
-> TraceLayer<SharedClassifier<ServerErrorsAsFailures>, impl Fn(&Request) -> tracing::Span + Clone>
{
    TraceLayer::new_for_http().make_span_with(|req: &Request| {
        let route = req
            .extensions()
            .get::<MatchedPath>()
            .map_or("unmatched", MatchedPath::as_str);
        let id = req
            .extensions()
            .get::<RequestId>()
            .map_or("-", |id| id.0.as_str());
        tracing::info_span!("http", method = %req.method(), route = %route, request_id = %id)
    })
}

/// Answers `503` (empty body) to a request still running after `timeout`; the handler's
/// future is dropped.
pub(super) fn timeout_layer(timeout: Duration) -> TimeoutLayer {
    TimeoutLayer::with_status_code(StatusCode::SERVICE_UNAVAILABLE, timeout)
}
