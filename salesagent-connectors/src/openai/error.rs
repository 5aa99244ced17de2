//! async-openai errors mapped onto the core error.

use async_openai::error::OpenAIError;
use salesagent_core::Error;

/// Maps an async-openai error (after its own retries) onto the core error.
#[must_use]
pub fn map_error(e: &OpenAIError) -> Error {
    match e {
        OpenAIError::ApiError(api) => {
            let status = api.status_code.as_u16();
            let detail = crate::http::error::excerpt(&api.api_error.message);
            let code = api.api_error.code.as_deref().unwrap_or_default();
            match status {
                401 => Error::unauthenticated(format!("openai rejected the API key: {detail}")),
                403 => Error::PermissionDenied {
                    reason: format!("openai: {detail}"),
                },
                404 => Error::not_found(format!("openai: {detail}")),
                // Out of credit: the template writer must take over, waiting will not help soon.
                429 if code == "insufficient_quota" => {
                    Error::unavailable(format!("openai: quota exhausted: {detail}"))
                }
                429 => Error::RateLimited { retry_after: None },
                400 | 422 => Error::invalid("llm request", format!("openai: {detail}")),
                500..=599 => Error::unavailable(format!("openai {status}: {detail}")),
                _ => Error::backend(format!("openai {status}: {detail}")),
            }
        }
        OpenAIError::Reqwest(r) if r.is_timeout() => {
            Error::unavailable("openai: request timed out")
        }
        OpenAIError::Reqwest(r) => Error::unavailable(format!(
            "openai: transport error{}",
            if r.is_connect() {
                " (cannot connect)"
            } else {
                ""
            }
        )),
        OpenAIError::JSONDeserialize(err, _) => {
            Error::backend(format!("openai: unexpected response body: {err}"))
        }
        OpenAIError::InvalidArgument(a) => Error::invalid("llm request", a.clone()),
        other => Error::backend(format!(
            "openai: {}",
            crate::http::error::excerpt(&other.to_string())
        )),
    }
}
