//! Jobs in the durable queue.

use super::{JobId, LeaseToken};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Well-known job kinds; the queue accepts any string.
pub mod kinds {
    /// Run the form → draft pipeline for a stored submission.
    pub const PIPELINE: &str = "pipeline";
    /// Send (or store as mailbox draft) an approved draft.
    pub const SEND: &str = "send";
    /// Create the CRM task and note for a draft.
    pub const CRM_FOLLOW_UP: &str = "crm_follow_up";
    /// Scan mailbox, CRM and calendar for outcomes.
    pub const OUTCOME_SCAN: &str = "outcome_scan";
    /// Turn a CRM contact event (e.g. a HubSpot `contact.creation` webhook event) into a
    /// submission: read the contact from the CRM by id, build the submission, and submit it
    /// (which enqueues its [`PIPELINE`] job). Payload
    /// [`CrmContactEventJob`](crate::pipeline::CrmContactEventJob); keyed by the event's
    /// idempotency key, so a redelivered event makes no second job.
    pub const CRM_CONTACT_EVENT: &str = "crm_contact_event";
    /// Evaluate the auto-approval rules for a new draft (payload
    /// [`AutoApproveJob`](crate::worker::AutoApproveJob)).
    pub const AUTO_APPROVE: &str = "auto_approve";
}

/// Where a job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Waiting to run (possibly not before `run_at`).
    Queued,
    /// Claimed by a worker holding a lease.
    Running,
    /// Finished.
    Done,
    /// Gave up after `max_attempts` or a permanent error; waits for an operator.
    Dead,
}

impl JobState {
    /// Every state.
    pub const ALL: [JobState; 4] = [Self::Queued, Self::Running, Self::Done, Self::Dead];

    /// Stable snake_case name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Done => "done",
            Self::Dead => "dead",
        }
    }
}

impl std::str::FromStr for JobState {
    type Err = crate::Error;
    fn from_str(s: &str) -> crate::Result<Self> {
        Self::ALL
            .into_iter()
            .find(|st| st.as_str() == s.trim())
            .ok_or_else(|| crate::Error::invalid("state", format!("unknown job state {s:?}")))
    }
}

/// A job to enqueue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewJob {
    /// Kind (see [`kinds`]).
    pub kind: String,
    /// Arguments, as JSON.
    pub payload: serde_json::Value,
    /// Enqueueing twice with the same key returns the first job.
    pub idempotency_key: Option<String>,
    /// Attempts before the job goes to the dead-letter state.
    pub max_attempts: u32,
    /// Not before this time (None = now).
    pub run_at: Option<DateTime<Utc>>,
}

impl NewJob {
    /// A job of `kind` with `payload`, 5 attempts, runnable now.
    pub fn new(kind: impl Into<String>, payload: serde_json::Value) -> Self {
        Self {
            kind: kind.into(),
            payload,
            idempotency_key: None,
            max_attempts: 5,
            run_at: None,
        }
    }

    /// Sets the idempotency key.
    #[must_use]
    pub fn with_key(mut self, key: impl Into<String>) -> Self {
        self.idempotency_key = Some(key.into());
        self
    }

    /// Sets the attempt budget.
    #[must_use]
    pub fn with_max_attempts(mut self, n: u32) -> Self {
        self.max_attempts = n.max(1);
        self
    }

    /// Delays the first run.
    #[must_use]
    pub fn run_at(mut self, at: DateTime<Utc>) -> Self {
        self.run_at = Some(at);
        self
    }
}

/// A job as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    /// Our id.
    pub id: JobId,
    /// Kind.
    pub kind: String,
    /// Arguments.
    pub payload: serde_json::Value,
    /// Idempotency key, if any.
    pub idempotency_key: Option<String>,
    /// Current state.
    pub state: JobState,
    /// Attempts started so far.
    pub attempts: u32,
    /// Attempt budget.
    pub max_attempts: u32,
    /// Earliest next run.
    pub run_at: DateTime<Utc>,
    /// Worker holding the lease, while running.
    pub lease_owner: Option<String>,
    /// When the lease runs out, while running.
    pub lease_expires_at: Option<DateTime<Utc>>,
    /// The last error, if an attempt failed.
    pub last_error: Option<String>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

/// Proof that a worker holds a job; finishing calls must present it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    /// The job.
    pub job_id: JobId,
    /// Unique per claim: a worker whose lease expired and was re-claimed cannot finish the job.
    pub token: LeaseToken,
    /// Worker name.
    pub owner: String,
    /// When the lease runs out unless extended.
    pub expires_at: DateTime<Utc>,
}

/// A claimed job and its lease.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClaimedJob {
    /// The job (state `Running`, `attempts` already counting this one).
    pub job: Job,
    /// The lease.
    pub lease: Lease,
}

/// Why an attempt failed, and whether to try again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobFailure {
    /// Error text (no secrets).
    pub error: String,
    /// False for permanent errors: dead-letter at once.
    pub retryable: bool,
    /// Minimum delay the remote side asked for.
    pub retry_after: Option<Duration>,
}

impl JobFailure {
    /// A failure described by a core [`Error`](crate::Error).
    #[must_use]
    pub fn from_error(e: &crate::Error) -> Self {
        Self {
            error: e.to_string(),
            retryable: e.is_retryable(),
            retry_after: e.retry_after(),
        }
    }
}

/// Exponential backoff with jitter, used when an attempt fails.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RetryPolicy {
    /// Delay after the first failure.
    pub base: Duration,
    /// Upper bound of any delay.
    pub max: Duration,
    /// Fraction of the delay randomised (0 = none, 0.5 = ±50 %).
    pub jitter: f64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            base: Duration::from_secs(2),
            max: Duration::from_secs(15 * 60),
            jitter: 0.3,
        }
    }
}

impl RetryPolicy {
    /// The delay after `attempts` failed attempts (1 = first failure), given a uniform
    /// random number `r` in [0, 1) for the jitter, and at least `min` (a Retry-After).
    #[must_use]
    pub fn delay(&self, attempts: u32, r: f64, min: Option<Duration>) -> Duration {
        let exp = attempts.saturating_sub(1).min(30);
        let raw = self.base.as_secs_f64() * 2f64.powi(i32::try_from(exp).unwrap_or(30));
        let capped = raw.min(self.max.as_secs_f64());
        let jitter = self.jitter.clamp(0.0, 1.0);
        let factor = 1.0 - jitter + 2.0 * jitter * r.clamp(0.0, 1.0);
        let d = Duration::from_secs_f64((capped * factor).min(self.max.as_secs_f64()));
        d.max(min.unwrap_or_default())
    }
}

/// Filter for listing jobs.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct JobFilter {
    /// Only this state.
    pub state: Option<JobState>,
    /// Only this kind.
    pub kind: Option<String>,
    /// At most this many (0 = backend default).
    pub limit: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_caps() {
        let p = RetryPolicy {
            base: Duration::from_secs(1),
            max: Duration::from_secs(60),
            jitter: 0.0,
        };
        assert_eq!(p.delay(1, 0.5, None), Duration::from_secs(1));
        assert_eq!(p.delay(2, 0.5, None), Duration::from_secs(2));
        assert_eq!(p.delay(4, 0.5, None), Duration::from_secs(8));
        assert_eq!(p.delay(40, 0.5, None), Duration::from_secs(60));
        assert_eq!(
            p.delay(1, 0.5, Some(Duration::from_secs(30))),
            Duration::from_secs(30)
        );
        let j = RetryPolicy { jitter: 0.5, ..p };
        assert!(j.delay(3, 0.0, None) >= Duration::from_secs(2));
        assert!(j.delay(3, 0.999, None) <= Duration::from_secs(6));
    }
}
