//! Workflow runs: one record per pipeline execution, one entry per step.

use super::{DraftId, RunId, SubmissionId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// How a step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    /// Still running.
    Running,
    /// Finished normally.
    Ok,
    /// Failed, but the pipeline went on without it.
    Degraded,
    /// Failed and stopped the pipeline.
    Failed,
    /// Not run.
    Skipped,
}

/// One step of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    /// Step name (`resolve_contact`, `mail_history`, …).
    pub name: String,
    /// How it ended.
    pub status: StepStatus,
    /// Start.
    pub started_at: DateTime<Utc>,
    /// End, when finished.
    pub finished_at: Option<DateTime<Utc>>,
    /// Duration in milliseconds, when finished.
    pub duration_ms: Option<u64>,
    /// Error text, when it failed or degraded.
    pub error: Option<String>,
    /// Why the pipeline continued without it.
    pub degraded_reason: Option<String>,
}

/// Overall state of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// In progress.
    Running,
    /// Produced a draft.
    Succeeded,
    /// Did not produce a draft.
    Failed,
}

/// One execution of the form → draft pipeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkflowRun {
    /// Our id.
    pub id: RunId,
    /// The submission processed.
    pub submission_id: SubmissionId,
    /// The draft produced, if any.
    pub draft_id: Option<DraftId>,
    /// Overall status.
    pub status: RunStatus,
    /// Start.
    pub started_at: DateTime<Utc>,
    /// End.
    pub finished_at: Option<DateTime<Utc>>,
    /// Steps in the order they started.
    pub steps: Vec<StepRecord>,
}
