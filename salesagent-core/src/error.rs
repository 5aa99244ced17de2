//! The one error type every port and every piece of logic returns.
//!
//! Variants say what the caller should do next, not where the failure came from:
//! retry later ([`Error::RateLimited`], [`Error::Unavailable`], [`Error::Timeout`]),
//! fix the input ([`Error::InvalidInput`]), re-authorise ([`Error::Unauthenticated`]), and so on.
//! Messages never contain secrets: connectors and stores redact before they build an `Error`.

use std::time::Duration;

/// Shorthand for `std::result::Result<T, salesagent_core::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, phrased as what the caller should do about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The thing asked for does not exist.
    #[error("not found: {what}")]
    NotFound {
        /// What was looked for, e.g. `draft 0190…`.
        what: String,
    },
    /// The request conflicts with the current state (duplicate, stale version, illegal transition).
    #[error("conflict: {reason}")]
    Conflict {
        /// Why the request conflicts.
        reason: String,
    },
    /// A value supplied by the caller is invalid; fix it and try again.
    #[error("invalid {field}: {reason}")]
    InvalidInput {
        /// The field or argument that is invalid.
        field: String,
        /// Why it is invalid.
        reason: String,
    },
    /// Credentials are missing, expired or revoked: the account needs re-authorisation.
    #[error("unauthenticated: {reason}")]
    Unauthenticated {
        /// Which account or service needs attention.
        reason: String,
    },
    /// Authenticated, but not allowed to do this.
    #[error("permission denied: {reason}")]
    PermissionDenied {
        /// What was refused.
        reason: String,
    },
    /// A rate limit was hit; retry after the given delay (when the service said one).
    #[error("rate limited{}", .retry_after.map(|d| format!(" (retry after {}s)", d.as_secs())).unwrap_or_default())]
    RateLimited {
        /// How long the service asked us to wait, if it said.
        retry_after: Option<Duration>,
    },
    /// A dependency is down or failed transiently (5xx, connection refused, breaker open).
    #[error("unavailable: {reason}")]
    Unavailable {
        /// What is unavailable and why.
        reason: String,
    },
    /// An operation took longer than its deadline.
    #[error("timed out: {what}")]
    Timeout {
        /// What timed out.
        what: String,
    },
    /// The backend does not support this operation.
    #[error("unsupported: {what}")]
    Unsupported {
        /// What is not supported.
        what: String,
    },
    /// An unexpected backend failure that retrying will not fix (corrupt data, schema mismatch).
    #[error("backend error: {reason}")]
    Backend {
        /// A description without secrets.
        reason: String,
    },
}

impl Error {
    /// `NotFound` for `what`.
    pub fn not_found(what: impl Into<String>) -> Self {
        Self::NotFound { what: what.into() }
    }
    /// `Conflict` with `reason`.
    pub fn conflict(reason: impl Into<String>) -> Self {
        Self::Conflict {
            reason: reason.into(),
        }
    }
    /// `InvalidInput` for `field` with `reason`.
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::InvalidInput {
            field: field.into(),
            reason: reason.into(),
        }
    }
    /// `Unavailable` with `reason`.
    pub fn unavailable(reason: impl Into<String>) -> Self {
        Self::Unavailable {
            reason: reason.into(),
        }
    }
    /// `Timeout` for `what`.
    pub fn timeout(what: impl Into<String>) -> Self {
        Self::Timeout { what: what.into() }
    }
    /// `Backend` with `reason`.
    pub fn backend(reason: impl Into<String>) -> Self {
        Self::Backend {
            reason: reason.into(),
        }
    }
    /// `Unsupported` for `what`.
    pub fn unsupported(what: impl Into<String>) -> Self {
        Self::Unsupported { what: what.into() }
    }
    /// `Unauthenticated` with `reason`.
    pub fn unauthenticated(reason: impl Into<String>) -> Self {
        Self::Unauthenticated {
            reason: reason.into(),
        }
    }

    /// True when the same call may succeed if retried later (rate limits, outages, timeouts).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Self::RateLimited { .. } | Self::Unavailable { .. } | Self::Timeout { .. }
        )
    }

    /// Alias of [`Error::is_retryable`], in lettre's words.
    pub fn is_transient(&self) -> bool {
        self.is_retryable()
    }

    /// The delay the remote side asked for, when it said one.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::RateLimited { retry_after } => *retry_after,
            _ => None,
        }
    }

    /// A stable snake_case name of the variant, for metrics labels and JSON output.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::NotFound { .. } => "not_found",
            Self::Conflict { .. } => "conflict",
            Self::InvalidInput { .. } => "invalid_input",
            Self::Unauthenticated { .. } => "unauthenticated",
            Self::PermissionDenied { .. } => "permission_denied",
            Self::RateLimited { .. } => "rate_limited",
            Self::Unavailable { .. } => "unavailable",
            Self::Timeout { .. } => "timeout",
            Self::Unsupported { .. } => "unsupported",
            Self::Backend { .. } => "backend",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_classes() {
        assert!(Error::RateLimited { retry_after: None }.is_retryable());
        assert!(Error::unavailable("x").is_retryable());
        assert!(Error::timeout("x").is_retryable());
        assert!(!Error::not_found("x").is_retryable());
        assert!(!Error::invalid("a", "b").is_retryable());
        assert!(!Error::unauthenticated("a").is_retryable());
        let e = Error::RateLimited {
            retry_after: Some(Duration::from_secs(7)),
        };
        assert_eq!(e.retry_after(), Some(Duration::from_secs(7)));
        assert_eq!(e.to_string(), "rate limited (retry after 7s)");
        assert_eq!(e.kind(), "rate_limited");
    }
}
