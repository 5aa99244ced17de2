//! Metric names (Prometheus style) recorded through the `metrics` facade. The application
//! installs a recorder (e.g. `metrics-exporter-prometheus`); without one they cost nothing.

/// Counter: requests sent, labels `service`, `op`, `status` (HTTP code or `error`).
pub const REQUESTS: &str = "salesagent_http_requests_total";
/// Counter: failed calls, labels `service`, `kind` (the core error kind).
pub const ERRORS: &str = "salesagent_http_errors_total";
/// Histogram: seconds per attempt, labels `service`, `op`.
pub const LATENCY: &str = "salesagent_http_request_duration_seconds";
/// Counter: retries, labels `service`.
pub const RETRIES: &str = "salesagent_http_retries_total";
/// Gauge: breaker state per `service` (0 closed, 1 half-open, 2 open).
pub const BREAKER_STATE: &str = "salesagent_http_breaker_state";
/// Counter: LLM tokens, labels `model`, `kind` (`prompt`/`completion`).
pub const LLM_TOKENS: &str = "salesagent_llm_tokens_total";
/// Gauge: the structured-output mode negotiated with an LLM endpoint, label `model`
/// (0 `json_schema`, 1 `json_object`, 2 `prompt`).
pub const LLM_STRUCTURED_MODE: &str = "salesagent_llm_structured_mode";
/// Counter: steps down of the structured-output mode, labels `model`, `from`, `to`.
pub const LLM_STRUCTURED_FALLBACKS: &str = "salesagent_llm_structured_fallbacks_total";

/// Describes every metric once (call after installing a recorder).
pub fn describe() {
    metrics::describe_counter!(REQUESTS, "HTTP requests sent to external services");
    metrics::describe_counter!(ERRORS, "Failed external calls by error kind");
    metrics::describe_histogram!(
        LATENCY,
        metrics::Unit::Seconds,
        "Latency of one HTTP attempt"
    );
    metrics::describe_counter!(RETRIES, "Retries of external calls");
    metrics::describe_gauge!(
        BREAKER_STATE,
        "Circuit breaker state: 0 closed, 1 half-open, 2 open"
    );
    metrics::describe_counter!(LLM_TOKENS, "Tokens used by LLM calls");
    metrics::describe_gauge!(
        LLM_STRUCTURED_MODE,
        "Structured-output mode of an LLM endpoint: 0 json_schema, 1 json_object, 2 prompt"
    );
    metrics::describe_counter!(
        LLM_STRUCTURED_FALLBACKS,
        "Structured-output modes an LLM endpoint rejected"
    );
}
