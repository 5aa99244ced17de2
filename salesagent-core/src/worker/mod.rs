//! The job runner: claims jobs from the [`JobStore`](crate::ports::JobStore), dispatches them by
//! kind, keeps the lease alive with heartbeats, and completes or fails them.
//!
//! Kinds handled: [`kinds::PIPELINE`] (run the pipeline for a submission),
//! [`kinds::CRM_FOLLOW_UP`] (task, note and ICP properties in the CRM) and
//! [`kinds::CRM_CONTACT_EVENT`] (read the contact a CRM event names, submit it; an unknown
//! contact is `NotFound`, which is permanent, so the job is dead-lettered with that reason). Other kinds are left
//! in the queue for other runners (a [`Worker`] only claims the kinds it knows). A failure is
//! reported with [`JobFailure::from_error`]: retryable errors come back after a backoff, the rest
//! go to the dead-letter state at once.

use crate::model::{ClaimedJob, Job, JobFailure, JobState, Lease, kinds};
use crate::pipeline::{CrmContactEventJob, FollowUp, Pipeline, PipelineJob};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

/// How a worker behaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerConfig {
    /// Worker name prefix (lease owner is `{name}-{n}`).
    pub name: String,
    /// Lease length per claim and per heartbeat.
    pub lease: Duration,
    /// Heartbeat period (well under `lease`).
    pub heartbeat: Duration,
    /// How long [`Worker::run`] sleeps when the queue is empty.
    pub poll_interval: Duration,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            name: "worker".to_owned(),
            lease: Duration::from_secs(120),
            heartbeat: Duration::from_secs(30),
            poll_interval: Duration::from_millis(500),
        }
    }
}

/// What happened to one claimed job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum JobOutcome {
    /// Completed.
    Done,
    /// Failed; will be retried after a backoff.
    Retrying {
        /// The error.
        error: String,
    },
    /// Failed permanently or out of attempts; dead-lettered.
    Dead {
        /// The error.
        error: String,
    },
    /// The lease was lost (another worker re-claimed the job); nothing was recorded.
    LeaseLost,
}

/// Counts of job outcomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct WorkStats {
    /// Jobs completed.
    pub done: u64,
    /// Attempts that failed and will be retried.
    pub retrying: u64,
    /// Jobs dead-lettered.
    pub dead: u64,
    /// Jobs whose lease was lost.
    pub lease_lost: u64,
}

impl WorkStats {
    /// Jobs claimed in total.
    #[must_use]
    pub fn claimed(&self) -> u64 {
        self.done + self.retrying + self.dead + self.lease_lost
    }

    fn add(&mut self, o: &JobOutcome) {
        match o {
            JobOutcome::Done => self.done += 1,
            JobOutcome::Retrying { .. } => self.retrying += 1,
            JobOutcome::Dead { .. } => self.dead += 1,
            JobOutcome::LeaseLost => self.lease_lost += 1,
        }
    }

    fn merge(&mut self, o: WorkStats) {
        self.done += o.done;
        self.retrying += o.retrying;
        self.dead += o.dead;
        self.lease_lost += o.lease_lost;
    }
}

/// A job runner for the pipeline's job kinds. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Worker {
    pipeline: Arc<Pipeline>,
    config: WorkerConfig,
}

/// A job's payload as `T`; one that does not parse is `InvalidInput` (permanent).
fn payload<T: serde::de::DeserializeOwned>(job: &Job) -> Result<T> {
    serde_json::from_value(job.payload.clone())
        .map_err(|e| Error::invalid("payload", e.to_string()))
}

/// The kinds a [`Worker`] handles.
pub const HANDLED_KINDS: [&str; 3] = [
    kinds::PIPELINE,
    kinds::CRM_FOLLOW_UP,
    kinds::CRM_CONTACT_EVENT,
];

impl Worker {
    /// A worker running `pipeline`'s jobs.
    #[must_use]
    pub fn new(pipeline: Arc<Pipeline>, config: WorkerConfig) -> Self {
        Self { pipeline, config }
    }

    /// Runs one job's work by kind.
    async fn dispatch(&self, job: &Job) -> Result<()> {
        match job.kind.as_str() {
            kinds::PIPELINE => {
                let p: PipelineJob = payload(job)?;
                self.pipeline.run(p.submission_id).await.map(|_| ())
            }
            kinds::CRM_FOLLOW_UP => {
                let p: FollowUp = payload(job)?;
                self.pipeline.follow_up(&p).await
            }
            kinds::CRM_CONTACT_EVENT => {
                let p: CrmContactEventJob = payload(job)?;
                let submitted = self.pipeline.contact_event(&p).await?;
                tracing::info!(job = %job.id, submission = %submitted.submission_id,
                    pipeline_job = %submitted.job_id, new = submitted.new, "contact event submitted");
                Ok(())
            }
            other => Err(Error::unsupported(format!("job kind {other:?}"))),
        }
    }

    /// Claims one job as `owner` and runs it; `None` when nothing is runnable.
    ///
    /// Errors only when the store itself fails (claiming, completing, failing).
    pub async fn run_one(&self, owner: &str) -> Result<Option<JobOutcome>> {
        let store = &self.pipeline.ports().store;
        let kinds: Vec<String> = HANDLED_KINDS.iter().map(|k| (*k).to_owned()).collect();
        let Some(ClaimedJob { job, lease }) = store.claim(owner, &kinds, self.config.lease).await?
        else {
            return Ok(None);
        };
        let (result, lease) = self.with_heartbeat(&job, lease).await;
        let Some(lease) = lease else {
            tracing::warn!(job = %job.id, kind = %job.kind, "lease lost; abandoning the job");
            return Ok(Some(JobOutcome::LeaseLost));
        };
        let outcome = match result {
            Ok(()) => match store.complete(&lease).await {
                Ok(()) => JobOutcome::Done,
                Err(Error::Conflict { .. }) => JobOutcome::LeaseLost,
                Err(e) => return Err(e),
            },
            Err(e) => {
                let failure = JobFailure::from_error(&e);
                match store.fail(&lease, &failure).await {
                    Ok(stored) if stored.state == JobState::Dead => {
                        tracing::warn!(job = %job.id, kind = %job.kind, error = %e, "job dead-lettered");
                        JobOutcome::Dead {
                            error: failure.error,
                        }
                    }
                    Ok(_) => {
                        tracing::info!(job = %job.id, kind = %job.kind, error = %e, "job will be retried");
                        JobOutcome::Retrying {
                            error: failure.error,
                        }
                    }
                    Err(Error::Conflict { .. }) => JobOutcome::LeaseLost,
                    Err(e) => return Err(e),
                }
            }
        };
        Ok(Some(outcome))
    }

    /// Runs the job while extending its lease every `heartbeat`; the lease is `None` when lost.
    async fn with_heartbeat(&self, job: &Job, mut lease: Lease) -> (Result<()>, Option<Lease>) {
        let store = &self.pipeline.ports().store;
        let work = self.dispatch(job);
        tokio::pin!(work);
        loop {
            tokio::select! {
                r = &mut work => return (r, Some(lease)),
                () = tokio::time::sleep(self.config.heartbeat) => {
                    match store.heartbeat(&lease, self.config.lease).await {
                        Ok(l) => lease = l,
                        Err(Error::Conflict { .. }) => return (Err(Error::conflict("lease lost")), None),
                        Err(e) => tracing::warn!(job = %job.id, error = %e, "heartbeat failed; retrying"),
                    }
                }
            }
        }
    }

    /// Claims and runs jobs as `owner` until none is runnable.
    async fn drain(self, owner: String) -> Result<WorkStats> {
        let mut stats = WorkStats::default();
        while let Some(o) = self.run_one(&owner).await? {
            stats.add(&o);
        }
        Ok(stats)
    }

    /// Runs jobs with `concurrency` tasks until the queue has nothing runnable left (jobs
    /// waiting for a retry backoff stay queued), including jobs enqueued while it ran.
    ///
    /// Errors when the store fails; a task that panics is reported as `Backend`.
    pub async fn run_until_idle(&self, concurrency: usize) -> Result<WorkStats> {
        let mut total = WorkStats::default();
        loop {
            let pass = self.pass(concurrency).await?;
            total.merge(pass);
            if pass.claimed() == 0 {
                return Ok(total);
            }
        }
    }

    async fn pass(&self, concurrency: usize) -> Result<WorkStats> {
        let tasks: Vec<_> = (0..concurrency.max(1))
            .map(|i| {
                let w = self.clone();
                let owner = format!("{}-{i}", self.config.name);
                tokio::spawn(w.drain(owner))
            })
            .collect();
        let mut stats = WorkStats::default();
        let mut first_err = None;
        for t in tasks {
            match t.await {
                Ok(Ok(s)) => stats.merge(s),
                Ok(Err(e)) => {
                    first_err.get_or_insert(e);
                }
                Err(j) => {
                    first_err.get_or_insert(Error::backend(format!("worker task failed: {j}")));
                }
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(stats),
        }
    }

    /// Runs jobs with `concurrency` tasks until `shutdown` resolves, polling every
    /// `poll_interval` while idle. Store errors are logged and retried after the poll interval.
    pub async fn run(
        &self,
        concurrency: usize,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> WorkStats {
        let mut total = WorkStats::default();
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => return total,
                r = self.pass(concurrency) => match r {
                    Ok(s) => {
                        total.merge(s);
                        if s.claimed() == 0 {
                            tokio::select! {
                                () = &mut shutdown => return total,
                                () = tokio::time::sleep(self.config.poll_interval) => {}
                            }
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "worker pass failed");
                        tokio::time::sleep(self.config.poll_interval).await;
                    }
                },
            }
        }
    }
}
