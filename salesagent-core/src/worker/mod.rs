//! The job runner: claims jobs from the [`JobStore`](crate::ports::JobStore), hands each to the
//! [`JobHandler`] registered for its kind, keeps the lease alive with heartbeats, and completes,
//! reschedules or fails it.
//!
//! Every kind the library creates has a handler here: [`kinds::PIPELINE`],
//! [`kinds::CRM_FOLLOW_UP`] and [`kinds::CRM_CONTACT_EVENT`] (registered by [`Worker::new`]),
//! [`kinds::SEND`] ([`Worker::with_sender`]), [`kinds::AUTO_APPROVE`]
//! ([`Worker::with_auto_approval`]), and any kind an integrator registers with
//! [`Worker::register`]. A worker claims only the kinds it has handlers for, so a job of a kind it
//! does not know stays queued for a worker that does (mixed versions during a rolling deploy).
//!
//! A handler answers [`JobDone::Complete`] or [`JobDone::RunAgainAt`] ("not now": the job is
//! given back to the queue for that time without using up an attempt, e.g. a send outside its
//! window or a recurring scan). A failure is reported with [`JobFailure::from_error`]: retryable
//! errors come back after the queue's backoff (at least the error's `retry_after`), the rest go
//! to the dead-letter state at once. The job queue is the one owner of retries.
//!
//! A worker runs up to `concurrency` jobs at once and claims in batches
//! ([`JobStore::claim_batch`](crate::ports::JobStore::claim_batch)): each poll claims as many
//! jobs as it has free slots, at most [`WorkerConfig::claim_batch`], and starts every claimed
//! job at once (one round trip for up to a batch of jobs; a job never waits claimed behind
//! another). Each running job keeps its own lease alive with heartbeats.
//!
//! Finished jobs are completed in groups, together with the next claim: a job that finishes
//! hands its lease to the worker's loop and waits for its outcome; the loop takes every lease
//! waiting at that moment (their jobs' slots count as free) and completes them and claims the
//! next batch in one call ([`JobStore::complete_and_claim`](crate::ports::JobStore::complete_and_claim):
//! one statement on PostgreSQL, one write transaction on SQLite), so a busy worker makes one
//! round trip per batch instead of two. The leases that arrive meanwhile form the next group.
//! There is no timer: a lone completion goes out as soon as the loop's call in flight (if any)
//! returns, a job counts as done only once its row is done, and a lost lease is still that
//! job's [`JobOutcome::LeaseLost`]. After the shutdown signal, finished jobs are completed
//! alone ([`JobStore::complete_batch`](crate::ports::JobStore::complete_batch)).
//!
//! [`Worker::run`] stops on a shutdown signal: it claims nothing more, lets running jobs finish
//! within [`WorkerConfig::shutdown_grace`], then gives the rest back to the queue at once
//! without using up an attempt; jobs whose batch arrives after the signal are given back
//! without being started.

use crate::model::{ClaimedJob, DraftId, Job, JobFailure, JobState, Lease, NewJob, kinds};
use crate::pipeline::{CrmContactEventJob, FollowUp, Pipeline, PipelineJob};
use crate::ports::{DynClock, DynStore, SettingsExt as _};
use crate::sending::{AutoApprover, Sender, send_job_payload};
use crate::{Error, Result};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::{JoinError, JoinSet};

/// How a worker behaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerConfig {
    /// Worker name: the lease owner of the jobs [`Worker::run`] and
    /// [`Worker::run_until_idle`] claim.
    pub name: String,
    /// Lease length per claim and per heartbeat.
    pub lease: Duration,
    /// Heartbeat period (well under `lease`).
    pub heartbeat: Duration,
    /// How long [`Worker::run`] sleeps when the queue is empty.
    pub poll_interval: Duration,
    /// How long [`Worker::run`] lets running jobs finish after the shutdown signal before it
    /// gives them back to the queue.
    pub shutdown_grace: Duration,
    /// The most jobs one poll claims ([`JobStore::claim_batch`](crate::ports::JobStore::claim_batch));
    /// a poll also claims no more than the worker's free slots, so every claimed job starts at
    /// once. 1 claims one job per round trip; 0 counts as 1.
    pub claim_batch: usize,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            name: "worker".to_owned(),
            lease: Duration::from_secs(120),
            heartbeat: Duration::from_secs(30),
            poll_interval: Duration::from_millis(500),
            shutdown_grace: Duration::from_secs(30),
            claim_batch: 10,
        }
    }
}

/// What a handler asks the worker to do with its job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobDone {
    /// The work is done.
    Complete,
    /// Not now: give the job back to the queue for this time, without using up an attempt.
    RunAgainAt(DateTime<Utc>),
}

/// Runs the jobs of one kind.
#[async_trait]
pub trait JobHandler: Send + Sync + std::fmt::Debug + 'static {
    /// The job kind this handler runs.
    fn kind(&self) -> &str;

    /// Runs one claimed job. Errors are reported to the queue ([`JobFailure::from_error`]):
    /// retryable ones come back after a backoff, the rest are dead-lettered.
    async fn run(&self, job: &Job) -> Result<JobDone>;
}

/// A job payload type: one kind, serde, and the idempotency key its jobs are enqueued with.
pub trait JobKind: Serialize + serde::de::DeserializeOwned + Send + Sync + 'static {
    /// The kind name stored with the job.
    const KIND: &'static str;

    /// The key that makes enqueueing this payload twice yield one job (`None`: every enqueue is
    /// a new job).
    fn idempotency_key(&self) -> Option<String>;

    /// The job to enqueue (5 attempts, runnable now).
    ///
    /// # Errors
    /// `Backend` if the payload cannot be serialised.
    fn to_job(&self) -> Result<NewJob> {
        let payload = serde_json::to_value(self).map_err(|e| Error::backend(e.to_string()))?;
        let job = NewJob::new(Self::KIND, payload);
        Ok(match self.idempotency_key() {
            Some(k) => job.with_key(k),
            None => job,
        })
    }

    /// The payload of a stored job; one that does not parse is `InvalidInput` (permanent).
    ///
    /// # Errors
    /// `InvalidInput` for a malformed payload.
    fn from_job(job: &Job) -> Result<Self> {
        serde_json::from_value(job.payload.clone())
            .map_err(|e| Error::invalid("payload", format!("{} job: {e}", Self::KIND)))
    }
}

/// Payload of a [`kinds::AUTO_APPROVE`] job: evaluate the auto-approval rules for a new draft.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AutoApproveJob {
    /// The draft.
    pub draft_id: DraftId,
}

impl JobKind for AutoApproveJob {
    const KIND: &'static str = kinds::AUTO_APPROVE;
    fn idempotency_key(&self) -> Option<String> {
        Some(format!("auto_approve:{}", self.draft_id))
    }
}

/// What happened to one claimed job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum JobOutcome {
    /// Completed.
    Done,
    /// Not now: back in the queue for `until`, no attempt used.
    Deferred {
        /// When it runs again.
        until: DateTime<Utc>,
    },
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
    /// Cut short by shutdown and given back to the queue, no attempt used.
    Released,
}

/// Counts of job outcomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct WorkStats {
    /// Jobs completed.
    pub done: u64,
    /// Jobs given back for a later time (send windows, limits, recurring scans).
    #[serde(default)]
    pub deferred: u64,
    /// Attempts that failed and will be retried.
    pub retrying: u64,
    /// Jobs dead-lettered.
    pub dead: u64,
    /// Jobs whose lease was lost.
    pub lease_lost: u64,
    /// Jobs given back at shutdown.
    #[serde(default)]
    pub released: u64,
}

impl WorkStats {
    /// Jobs claimed in total.
    #[must_use]
    pub fn claimed(&self) -> u64 {
        self.done + self.deferred + self.retrying + self.dead + self.lease_lost + self.released
    }

    fn add(&mut self, o: &JobOutcome) {
        match o {
            JobOutcome::Done => self.done += 1,
            JobOutcome::Deferred { .. } => self.deferred += 1,
            JobOutcome::Retrying { .. } => self.retrying += 1,
            JobOutcome::Dead { .. } => self.dead += 1,
            JobOutcome::LeaseLost => self.lease_lost += 1,
            JobOutcome::Released => self.released += 1,
        }
    }
}

// ---- the library's handlers ----

#[derive(Debug)]
struct PipelineHandler {
    pipeline: Arc<Pipeline>,
    auto_approve: bool,
}

#[async_trait]
impl JobHandler for PipelineHandler {
    fn kind(&self) -> &str {
        kinds::PIPELINE
    }
    async fn run(&self, job: &Job) -> Result<JobDone> {
        let p: PipelineJob = payload(job)?;
        let draft_id = self.pipeline.run(p.submission_id).await?;
        if self.auto_approve {
            // Keyed per draft: a re-run of this job enqueues nothing new.
            let job = AutoApproveJob { draft_id }.to_job()?;
            self.pipeline.ports().store.enqueue(&job).await?;
        }
        Ok(JobDone::Complete)
    }
}

#[derive(Debug)]
struct FollowUpHandler(Arc<Pipeline>);

#[async_trait]
impl JobHandler for FollowUpHandler {
    fn kind(&self) -> &str {
        kinds::CRM_FOLLOW_UP
    }
    async fn run(&self, job: &Job) -> Result<JobDone> {
        let p: FollowUp = payload(job)?;
        self.0.follow_up(&p).await?;
        Ok(JobDone::Complete)
    }
}

#[derive(Debug)]
struct ContactEventHandler(Arc<Pipeline>);

#[async_trait]
impl JobHandler for ContactEventHandler {
    fn kind(&self) -> &str {
        kinds::CRM_CONTACT_EVENT
    }
    async fn run(&self, job: &Job) -> Result<JobDone> {
        let p: CrmContactEventJob = payload(job)?;
        let submitted = self.0.contact_event(&p).await?;
        tracing::info!(job = %job.id, submission = %submitted.submission_id,
            pipeline_job = %submitted.job_id, new = submitted.new, "contact event submitted");
        Ok(JobDone::Complete)
    }
}

/// Runs [`kinds::SEND`] jobs with a [`Sender`]: one provider attempt per run; "not now"
/// outcomes (window, limits, kill switch, a claim held elsewhere, a confirmation waiting for the
/// search-lag bound) give the job back for that time.
#[derive(Debug)]
pub struct SendHandler {
    sender: Sender,
}

impl SendHandler {
    /// A handler sending with `sender`.
    #[must_use]
    pub fn new(sender: Sender) -> Self {
        Self { sender }
    }
}

#[async_trait]
impl JobHandler for SendHandler {
    fn kind(&self) -> &str {
        kinds::SEND
    }
    async fn run(&self, job: &Job) -> Result<JobDone> {
        let p = send_job_payload(job)?;
        let outcome = self.sender.send_draft(p.draft_id).await?;
        tracing::info!(job = %job.id, draft = %p.draft_id, ?outcome, "send job ran");
        Ok(match outcome.run_again_at() {
            Some(at) => JobDone::RunAgainAt(at),
            None => JobDone::Complete,
        })
    }
}

/// Runs [`kinds::AUTO_APPROVE`] jobs: evaluates the rules for a pending draft and, when they
/// approve, approves it and enqueues its send job ([`AutoApprover::apply`]). Does nothing while
/// the kill switch is on (the decision is left to an operator) or for a draft that is no longer
/// pending.
#[derive(Debug)]
pub struct AutoApproveHandler {
    approver: AutoApprover,
    store: DynStore,
    clock: DynClock,
}

impl AutoApproveHandler {
    /// A handler applying `approver`'s rules.
    #[must_use]
    pub fn new(approver: AutoApprover, store: DynStore, clock: DynClock) -> Self {
        Self {
            approver,
            store,
            clock,
        }
    }
}

#[async_trait]
impl JobHandler for AutoApproveHandler {
    fn kind(&self) -> &str {
        kinds::AUTO_APPROVE
    }
    async fn run(&self, job: &Job) -> Result<JobDone> {
        let p = AutoApproveJob::from_job(job)?;
        if self.store.kill_switch().await? {
            tracing::info!(draft = %p.draft_id, "kill switch on: auto-approval skipped");
            return Ok(JobDone::Complete);
        }
        match self
            .approver
            .apply(&*self.store, p.draft_id, self.clock.now())
            .await
        {
            Ok(decision) => {
                tracing::info!(draft = %p.draft_id, approve = decision.approve, "auto-approval rules evaluated");
                Ok(JobDone::Complete)
            }
            // Not pending any more (an operator was faster) or gone (erased): nothing to do.
            Err(Error::Conflict { .. } | Error::NotFound { .. }) => Ok(JobDone::Complete),
            Err(e) => Err(e),
        }
    }
}

/// A job's payload as `T`; one that does not parse is `InvalidInput` (permanent).
fn payload<T: serde::de::DeserializeOwned>(job: &Job) -> Result<T> {
    serde_json::from_value(job.payload.clone())
        .map_err(|e| Error::invalid("payload", e.to_string()))
}

/// The kinds [`Worker::new`] handles.
pub const HANDLED_KINDS: [&str; 3] = [
    kinds::PIPELINE,
    kinds::CRM_FOLLOW_UP,
    kinds::CRM_CONTACT_EVENT,
];

/// Where [`Worker::run`] is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Running,
    /// Claim nothing more; let running jobs finish.
    Draining,
    /// Give running jobs back now.
    Stop,
}

/// The outcomes of [`Worker::run`]'s and [`Worker::run_until_idle`]'s jobs as they finish.
struct Tally {
    stats: WorkStats,
    /// The first store error (only kept with `keep_errors`; otherwise logged).
    first_err: Option<Error>,
    keep_errors: bool,
}

impl Tally {
    fn record(&mut self, r: std::result::Result<Result<JobOutcome>, JoinError>) {
        let e = match r {
            Ok(Ok(o)) => {
                self.stats.add(&o);
                return;
            }
            Ok(Err(e)) => e,
            Err(j) => Error::backend(format!("worker task failed: {j}")),
        };
        if self.keep_errors {
            self.first_err.get_or_insert(e);
        } else {
            tracing::warn!(error = %e, "worker: store error while finishing a job");
        }
    }
}

/// A lease waiting to be completed, and where its outcome goes.
type PendingCompletion = (Lease, oneshot::Sender<Result<()>>);

/// The leases of a group of waiting completions.
fn leases_of(group: &[PendingCompletion]) -> Vec<Lease> {
    group.iter().map(|(l, _)| l.clone()).collect()
}

/// Sends each waiting completion its outcome: one per lease, in order, or the outer error of
/// the group's call to each of them.
fn answer(group: Vec<PendingCompletion>, outcomes: Result<Vec<Result<()>>>) {
    match outcomes {
        Ok(outcomes) if outcomes.len() == group.len() => {
            for ((_, reply), outcome) in group.into_iter().zip(outcomes) {
                let _ = reply.send(outcome);
            }
        }
        answer => {
            let e = answer.err().unwrap_or_else(|| {
                Error::backend("the store answered a different number of outcomes")
            });
            for (_, reply) in group {
                let _ = reply.send(Err(e.clone()));
            }
        }
    }
}

/// Completes finished jobs: one at a time (`direct`), or by queueing them for the worker's
/// loop, which completes the completions waiting at the same moment in one call, with no timer
/// (`queued`).
#[derive(Clone)]
struct Completer {
    store: DynStore,
    queue: Option<mpsc::UnboundedSender<PendingCompletion>>,
}

impl Completer {
    /// Each completion is its own `complete` call.
    fn direct(store: DynStore) -> Self {
        Self { store, queue: None }
    }

    /// A completer whose completions wait in the returned queue for the worker's loop, which
    /// completes all those waiting at once (with its next claim when it has free slots).
    fn queued(store: DynStore) -> (Self, mpsc::UnboundedReceiver<PendingCompletion>) {
        let (tx, rx) = mpsc::unbounded_channel::<PendingCompletion>();
        (
            Self {
                store,
                queue: Some(tx),
            },
            rx,
        )
    }

    /// Completes `lease`; the answer is what [`JobStore::complete`](crate::ports::JobStore::complete)
    /// gives for it (the outer error of a failed group for each of its leases).
    async fn complete(&self, lease: &Lease) -> Result<()> {
        let Some(queue) = &self.queue else {
            return self.store.complete(lease).await;
        };
        let (reply, outcome) = oneshot::channel();
        if queue.send((lease.clone(), reply)).is_err() {
            return self.store.complete(lease).await;
        }
        outcome
            .await
            .unwrap_or_else(|_| Err(Error::backend("the job completer stopped")))
    }
}

/// A job runner with one handler per kind. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Worker {
    store: DynStore,
    clock: DynClock,
    handlers: Arc<BTreeMap<String, Arc<dyn JobHandler>>>,
    pipeline: Option<Arc<Pipeline>>,
    config: WorkerConfig,
}

impl Worker {
    /// A worker running `pipeline`'s jobs (pipeline, CRM follow-up, CRM contact event); add
    /// more kinds with [`Worker::with_sender`], [`Worker::with_auto_approval`] and
    /// [`Worker::register`].
    #[must_use]
    pub fn new(pipeline: Arc<Pipeline>, config: WorkerConfig) -> Self {
        let store = pipeline.ports().store.clone();
        let clock = pipeline.ports().clock.clone();
        let w = Self {
            store,
            clock,
            handlers: Arc::new(BTreeMap::new()),
            pipeline: Some(pipeline.clone()),
            config,
        };
        w.register(PipelineHandler {
            pipeline: pipeline.clone(),
            auto_approve: false,
        })
        .register(FollowUpHandler(pipeline.clone()))
        .register(ContactEventHandler(pipeline))
    }

    /// A worker over `store` with no handlers yet (register them with [`Worker::register`]).
    #[must_use]
    pub fn empty(store: DynStore, clock: DynClock, config: WorkerConfig) -> Self {
        Self {
            store,
            clock,
            handlers: Arc::new(BTreeMap::new()),
            pipeline: None,
            config,
        }
    }

    /// Adds (or replaces) the handler of its kind.
    #[must_use]
    pub fn register(mut self, handler: impl JobHandler) -> Self {
        let kind = handler.kind().to_owned();
        Arc::make_mut(&mut self.handlers).insert(kind, Arc::new(handler));
        self
    }

    /// Runs [`kinds::SEND`] jobs with `sender`.
    #[must_use]
    pub fn with_sender(self, sender: Sender) -> Self {
        self.register(SendHandler::new(sender))
    }

    /// Evaluates the auto-approval rules after every new draft (when `approver` is enabled):
    /// the pipeline job enqueues an [`AutoApproveJob`], which this worker runs.
    #[must_use]
    pub fn with_auto_approval(self, approver: AutoApprover) -> Self {
        if !approver.config.enabled {
            return self;
        }
        let handler = AutoApproveHandler::new(approver, self.store.clone(), self.clock.clone());
        let w = self.register(handler);
        match w.pipeline.clone() {
            Some(pipeline) => w.register(PipelineHandler {
                pipeline,
                auto_approve: true,
            }),
            None => w,
        }
    }

    /// The handler registered for `kind`, if any (a host that rebuilds its handlers from new
    /// settings while running delegates to it).
    #[must_use]
    pub fn handler(&self, kind: &str) -> Option<Arc<dyn JobHandler>> {
        self.handlers.get(kind).cloned()
    }

    /// The kinds this worker claims, sorted.
    #[must_use]
    pub fn kinds(&self) -> Vec<String> {
        self.handlers.keys().cloned().collect()
    }

    /// The store it works on.
    #[must_use]
    pub fn store(&self) -> &DynStore {
        &self.store
    }

    /// Runs one job's work by kind.
    async fn dispatch(&self, job: &Job) -> Result<JobDone> {
        match self.handlers.get(&job.kind) {
            Some(h) => h.run(job).await,
            None => Err(Error::unsupported(format!("job kind {:?}", job.kind))),
        }
    }

    /// Claims one job as `owner` and runs it; `None` when nothing is runnable.
    ///
    /// # Errors
    /// Only when the store itself fails (claiming, completing, failing).
    pub async fn run_one(&self, owner: &str) -> Result<Option<JobOutcome>> {
        let (_tx, mut rx) = watch::channel(Phase::Running);
        self.claim_and_run(owner, &mut rx).await
    }

    async fn claim_and_run(
        &self,
        owner: &str,
        phase: &mut watch::Receiver<Phase>,
    ) -> Result<Option<JobOutcome>> {
        let kinds = self.kinds();
        let Some(claimed) = self.store.claim(owner, &kinds, self.config.lease).await? else {
            return Ok(None);
        };
        let completer = Completer::direct(self.store.clone());
        self.run_claimed(claimed, phase, &completer).await.map(Some)
    }

    /// Runs one claimed job to its outcome: its handler under heartbeats, then complete,
    /// release (not now, or cut short by [`Phase::Stop`]) or fail.
    async fn run_claimed(
        &self,
        claimed: ClaimedJob,
        phase: &mut watch::Receiver<Phase>,
        completer: &Completer,
    ) -> Result<JobOutcome> {
        let ClaimedJob { job, lease } = claimed;
        let (result, lease) = self.with_heartbeat(&job, lease, phase).await;
        let Some(lease) = lease else {
            tracing::warn!(job = %job.id, kind = %job.kind, "lease lost; abandoning the job");
            return Ok(JobOutcome::LeaseLost);
        };
        let Some(result) = result else {
            return self.give_back(&job, &lease).await;
        };
        let outcome = match result {
            Ok(JobDone::Complete) => match completer.complete(&lease).await {
                Ok(()) => JobOutcome::Done,
                Err(Error::Conflict { .. }) => JobOutcome::LeaseLost,
                Err(e) => return Err(e),
            },
            Ok(JobDone::RunAgainAt(until)) => match self.store.release(&lease, until).await {
                Ok(_) => JobOutcome::Deferred { until },
                Err(Error::Conflict { .. }) => JobOutcome::LeaseLost,
                Err(e) => return Err(e),
            },
            Err(e) => {
                let failure = JobFailure::from_error(&e);
                match self.store.fail(&lease, &failure).await {
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
        Ok(outcome)
    }

    /// Shutdown: gives a claimed job back to the queue now, without using up an attempt.
    async fn give_back(&self, job: &Job, lease: &Lease) -> Result<JobOutcome> {
        match self.store.release(lease, self.clock.now()).await {
            Ok(_) => {
                tracing::info!(job = %job.id, kind = %job.kind, "shutdown: job given back to the queue");
                Ok(JobOutcome::Released)
            }
            Err(Error::Conflict { .. }) => Ok(JobOutcome::LeaseLost),
            Err(e) => Err(e),
        }
    }

    /// Runs the job while extending its lease every `heartbeat`. The lease is `None` when lost;
    /// the result is `None` when the job was cut short by [`Phase::Stop`].
    async fn with_heartbeat(
        &self,
        job: &Job,
        mut lease: Lease,
        phase: &mut watch::Receiver<Phase>,
    ) -> (Option<Result<JobDone>>, Option<Lease>) {
        let work = self.dispatch(job);
        tokio::pin!(work);
        loop {
            tokio::select! {
                r = &mut work => return (Some(r), Some(lease)),
                () = tokio::time::sleep(self.config.heartbeat) => {
                    match self.store.heartbeat(&lease, self.config.lease).await {
                        Ok(l) => lease = l,
                        Err(Error::Conflict { .. }) => return (Some(Err(Error::conflict("lease lost"))), None),
                        Err(e) => tracing::warn!(job = %job.id, error = %e, "heartbeat failed; retrying"),
                    }
                }
                stopped = async { phase.wait_for(|p| *p == Phase::Stop).await.is_ok() } => {
                    if stopped {
                        return (None, Some(lease));
                    }
                    // The sender is gone: keep working without the stop signal.
                    let r = (&mut work).await;
                    return (Some(r), Some(lease));
                }
            }
        }
    }

    /// Runs jobs in up to `concurrency` slots: each poll claims a batch of at most
    /// `min(free slots, claim_batch)` jobs and starts each on its own task. With `until_idle`
    /// it returns once a poll finds nothing runnable while no job is running (or after the
    /// first store error, once the running jobs are done); otherwise it polls every
    /// `poll_interval` while idle until the phase leaves [`Phase::Running`]. The running jobs
    /// always finish (or, at [`Phase::Stop`], are given back) before it returns.
    async fn work(
        self,
        concurrency: usize,
        mut phase: watch::Receiver<Phase>,
        until_idle: bool,
    ) -> (WorkStats, Option<Error>) {
        let slots = concurrency.max(1);
        let batch = self.config.claim_batch.max(1);
        let kinds = self.kinds();
        let mut running: JoinSet<Result<JobOutcome>> = JoinSet::new();
        let (completer, mut finished) = Completer::queued(self.store.clone());
        // Completions waiting to be made: their jobs' work is done, so their slots are free.
        let mut pending: Vec<PendingCompletion> = Vec::new();
        let mut tally = Tally {
            stats: WorkStats::default(),
            first_err: None,
            keep_errors: until_idle,
        };
        loop {
            while let Some(r) = running.try_join_next() {
                tally.record(r);
            }
            while let Ok(p) = finished.try_recv() {
                pending.push(p);
            }
            // A phase sender that is gone (its `run` was dropped) claims nothing more either.
            let closed = phase.has_changed().is_err();
            if closed || *phase.borrow() != Phase::Running || tally.first_err.is_some() {
                break;
            }
            let busy = running.len().saturating_sub(pending.len());
            let free = slots.saturating_sub(busy);
            if free == 0 {
                tokio::select! {
                    Some(r) = running.join_next() => tally.record(r),
                    Some(p) = finished.recv() => pending.push(p),
                    _ = phase.changed() => {}
                }
                continue;
            }
            let (name, lease, max) = (&self.config.name, self.config.lease, free.min(batch));
            let claimed = if pending.is_empty() {
                self.store.claim_batch(name, &kinds, lease, max).await
            } else {
                // The finished jobs go in with the next claim: one round trip for both.
                let group = std::mem::take(&mut pending);
                match self
                    .store
                    .complete_and_claim(&leases_of(&group), name, &kinds, lease, max)
                    .await
                {
                    Ok((outcomes, claimed)) => {
                        answer(group, Ok(outcomes));
                        claimed
                    }
                    Err(e) => {
                        answer(group, Err(e.clone()));
                        Err(e)
                    }
                }
            };
            match claimed {
                Ok(claimed) if !claimed.is_empty() => {
                    if *phase.borrow() != Phase::Running {
                        // Shutdown began while the batch was being claimed: none of it has
                        // started, so all of it goes back to the queue now.
                        for c in claimed {
                            let r = self.give_back(&c.job, &c.lease).await;
                            tally.record(Ok(r));
                        }
                        break;
                    }
                    for c in claimed {
                        let (w, mut phase) = (self.clone(), phase.clone());
                        let completer = completer.clone();
                        running
                            .spawn(async move { w.run_claimed(c, &mut phase, &completer).await });
                    }
                }
                Ok(_) if until_idle => {
                    if running.is_empty() {
                        break;
                    }
                    // A running job may enqueue more work: look again once it is done (its
                    // completion goes in with that look).
                    tokio::select! {
                        Some(r) = running.join_next() => tally.record(r),
                        Some(p) = finished.recv() => pending.push(p),
                    }
                }
                Ok(_) => {
                    tokio::select! {
                        _ = phase.changed() => {}
                        Some(p) = finished.recv() => pending.push(p),
                        () = tokio::time::sleep(self.config.poll_interval) => {}
                    }
                }
                Err(e) if until_idle => {
                    tally.first_err.get_or_insert(e);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "worker: store error; trying again");
                    tokio::select! {
                        _ = phase.changed() => {}
                        Some(p) = finished.recv() => pending.push(p),
                        () = tokio::time::sleep(self.config.poll_interval) => {}
                    }
                }
            }
        }
        // Claim nothing more: complete what finishes until every running job is done.
        loop {
            while let Ok(p) = finished.try_recv() {
                pending.push(p);
            }
            if !pending.is_empty() {
                let group = std::mem::take(&mut pending);
                let outcomes = self.store.complete_batch(&leases_of(&group)).await;
                answer(group, outcomes);
            }
            tokio::select! {
                r = running.join_next() => match r {
                    Some(r) => tally.record(r),
                    None => break,
                },
                Some(p) = finished.recv() => pending.push(p),
            }
        }
        (tally.stats, tally.first_err)
    }

    /// Runs jobs in up to `concurrency` slots until the queue has nothing runnable left (jobs
    /// waiting for a retry backoff or a later time stay queued), including jobs enqueued while
    /// it ran. Claims in batches as [`Worker::run`] does.
    ///
    /// # Errors
    /// When the store fails (it stops claiming and lets the running jobs finish first); a job
    /// task that panics is reported as `Backend`.
    pub async fn run_until_idle(&self, concurrency: usize) -> Result<WorkStats> {
        // The sender stays alive (and the phase `Running`) until the work is done.
        let (_tx, rx) = watch::channel(Phase::Running);
        match self.clone().work(concurrency, rx, true).await {
            (_, Some(e)) => Err(e),
            (stats, None) => Ok(stats),
        }
    }

    /// Runs jobs in up to `concurrency` slots until `shutdown` resolves, claiming in batches
    /// of at most `min(free slots, claim_batch)` and polling every `poll_interval` while idle.
    /// On shutdown it claims nothing more (a batch that arrives after the signal is given back
    /// unstarted), lets running jobs finish within `shutdown_grace`, then gives the rest back
    /// to the queue (no attempt used).
    pub async fn run(
        &self,
        concurrency: usize,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> WorkStats {
        let (tx, rx) = watch::channel(Phase::Running);
        let mut work = tokio::spawn(self.clone().work(concurrency, rx, false));
        shutdown.await;
        let _ = tx.send(Phase::Draining);
        let result = tokio::select! {
            r = &mut work => r,
            () = tokio::time::sleep(self.config.shutdown_grace) => {
                tracing::info!("shutdown grace over: giving running jobs back to the queue");
                let _ = tx.send(Phase::Stop);
                work.await
            }
        };
        match result {
            Ok((stats, _)) => stats,
            Err(e) => {
                tracing::warn!(error = %e, "worker task failed");
                WorkStats::default()
            }
        }
    }

    /// Runs [`kinds::OUTCOME_SCAN`] jobs with `scanner` (the recurring mailbox, CRM, calendar
    /// and silence scans; enqueue them with
    /// [`ensure_outcome_scans`](crate::outcomes::ensure_outcome_scans)).
    #[must_use]
    pub fn with_outcome_scans(self, scanner: crate::outcomes::OutcomeScanner) -> Self {
        self.register(scanner)
    }
}
