//! The store port: everything salesagent persists.
//!
//! `Store` is a composition of smaller traits, one per concern, so an implementation (and a
//! reader) can take them one at a time. Any type implementing all of them is a [`Store`]
//! through a blanket impl. SQL backends live in `salesagent-store`; an in-memory fake in
//! [`crate::testing`].

use crate::Result;
use crate::model::{
    ApprovedRecipient, AuditEntry, AuditVerification, ClaimedJob, Draft, DraftEvent, DraftId,
    DraftStatus, EmailAddress, ErasureReport, FormSubmission, Job, JobFailure, JobFilter, JobId,
    JobState, Lease, MessageId, MessageRecord, NewAuditEntry, NewJob, OAuthToken, Outcome,
    OutcomeType, RunId, SendDecision, SendLimits, SendReservation, SubmissionId, Suppression,
    VoiceProfile, WorkflowRun,
};
use crate::sequences::{Sequence, SequenceFilter};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// Which drafts to list.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DraftFilter {
    /// Only this status.
    pub status: Option<DraftStatus>,
    /// Only drafts to this contact (compared case-insensitively).
    pub contact: Option<EmailAddress>,
    /// At most this many, newest first (0 = no limit).
    pub limit: u32,
}

/// Which outcomes to list.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct OutcomeFilter {
    /// Only this contact.
    pub contact: Option<EmailAddress>,
    /// Only this sender.
    pub sender: Option<EmailAddress>,
    /// Only these types (empty = all).
    pub types: Vec<OutcomeType>,
    /// Occurred at or after.
    pub since: Option<DateTime<Utc>>,
    /// Occurred before.
    pub until: Option<DateTime<Utc>>,
    /// At most this many, newest first (0 = no limit).
    pub limit: u32,
}

/// Form submissions, stored verbatim and deduplicated by idempotency key.
#[async_trait]
pub trait SubmissionStore: Send + Sync {
    /// Stores `submission` unless one with the same idempotency key exists; returns the stored
    /// submission and whether it was new. Concurrent calls with one key store exactly one.
    async fn save_submission(&self, submission: &FormSubmission) -> Result<(FormSubmission, bool)>;
    /// A submission by id.
    async fn get_submission(&self, id: SubmissionId) -> Result<FormSubmission>;
    /// A submission by idempotency key.
    async fn find_submission(&self, idempotency_key: &str) -> Result<Option<FormSubmission>>;
    /// Intake's one write: stores `submission` like [`SubmissionStore::save_submission`] and
    /// enqueues `job(&stored)` like [`JobStore::enqueue`] (both deduplicated by key), as one
    /// short write that goes before other writers of the store where the store can arrange
    /// that (the SQL store: one transaction with priority over the workers' writes on SQLite,
    /// intake's own connections). `Ok(None)` (the default) means this store has no such write:
    /// make the two calls.
    async fn save_submission_and_enqueue(
        &self,
        submission: &FormSubmission,
        job: &(dyn for<'s> Fn(&'s FormSubmission) -> NewJob + Send + Sync),
    ) -> Result<Option<AcceptedSubmission>> {
        let _ = (submission, job);
        Ok(None)
    }
}

/// What [`SubmissionStore::save_submission_and_enqueue`] stored.
#[derive(Debug, Clone, PartialEq)]
pub struct AcceptedSubmission {
    /// The stored submission (the first one, for a redelivery).
    pub submission: FormSubmission,
    /// Whether the submission was new.
    pub new_submission: bool,
    /// Its job (the first one, for a redelivery).
    pub job: Job,
    /// Whether the job was new.
    pub new_job: bool,
}

/// A new draft with everything its pipeline run writes beside it, stored all or nothing by
/// [`DraftStore::insert_draft_record`].
#[derive(Debug, Clone, Copy)]
pub struct NewDraftRecord<'a> {
    /// The draft (one per submission).
    pub draft: &'a Draft,
    /// Its creation event.
    pub event: &'a DraftEvent,
    /// The workflow run that wrote it, inserted or replaced as by [`RunStore::save_run`].
    pub run: &'a WorkflowRun,
    /// The audit entry of its creation, chained as by [`AuditStore::append_audit`].
    pub audit: &'a NewAuditEntry,
    /// The follow-up job, enqueued as by [`JobStore::enqueue`] (an existing job with its
    /// idempotency key is kept).
    pub follow_up: &'a NewJob,
}

/// A change of an existing draft with everything that must be written beside it, stored all
/// or nothing by [`DraftStore::update_draft_record`] (for example an approval, its audit entry
/// and the send job).
#[derive(Debug, Clone, Copy)]
pub struct DraftUpdate<'a> {
    /// The draft as it should be stored (its version bumped past `expected_version`).
    pub draft: &'a Draft,
    /// The version the caller read; the write is refused when the stored version differs.
    pub expected_version: u32,
    /// The event recording the change.
    pub event: &'a DraftEvent,
    /// An audit entry of the change, chained as by [`AuditStore::append_audit`].
    pub audit: Option<&'a NewAuditEntry>,
    /// Jobs to enqueue, each as by [`JobStore::enqueue`] (an existing job with the same
    /// idempotency key is kept, whatever its state).
    pub jobs: &'a [NewJob],
}

/// Drafts and their audit events.
#[async_trait]
pub trait DraftStore: Send + Sync {
    /// Inserts a new draft with its creation event. A second draft for the same submission is a
    /// `Conflict` (one draft per submission).
    async fn insert_draft(&self, draft: &Draft, event: &DraftEvent) -> Result<()>;
    /// Inserts a new draft together with its run, audit entry and follow-up job in one atomic
    /// write: either all of them are stored or none is. `Conflict` (nothing stored) when the
    /// draft id exists or its submission already has a draft, as for
    /// [`insert_draft`](Self::insert_draft). The pipeline stores every draft it writes this way,
    /// so a draft never exists without its audit entry and CRM follow-up.
    async fn insert_draft_record(&self, record: &NewDraftRecord<'_>) -> Result<()>;
    /// A draft by id.
    async fn get_draft(&self, id: DraftId) -> Result<Draft>;
    /// The draft written for a submission, if any.
    async fn find_draft_by_submission(&self, id: SubmissionId) -> Result<Option<Draft>>;
    /// The draft that was sent with this Message-ID, if any.
    async fn find_draft_by_message_id(&self, id: &MessageId) -> Result<Option<Draft>>;
    /// Drafts matching `filter`, newest first.
    async fn list_drafts(&self, filter: &DraftFilter) -> Result<Vec<Draft>>;
    /// Replaces a draft if its stored version is `expected_version`, recording `event`;
    /// `Conflict` when someone else changed it first.
    async fn update_draft(
        &self,
        draft: &Draft,
        expected_version: u32,
        event: &DraftEvent,
    ) -> Result<()>;
    /// Like [`update_draft`](Self::update_draft), and in the same atomic write the update's
    /// audit entry and jobs: either the draft, its event, the audit entry and every job are
    /// stored, or nothing is. `Conflict` (nothing stored) when the stored version is not
    /// `update.expected_version`, `NotFound` when the draft does not exist, `InvalidInput`
    /// (nothing stored) for a job with an empty kind. The operator queue approves this way, so
    /// an approved draft never exists without its audit entry and send job.
    async fn update_draft_record(&self, update: &DraftUpdate<'_>) -> Result<()>;
    /// Every event of a draft, oldest first.
    async fn draft_events(&self, id: DraftId) -> Result<Vec<DraftEvent>>;
    /// Number of drafts per status.
    async fn draft_counts(&self) -> Result<BTreeMap<DraftStatus, u64>>;
}

/// Workflow runs.
#[async_trait]
pub trait RunStore: Send + Sync {
    /// Inserts or replaces a run.
    async fn save_run(&self, run: &WorkflowRun) -> Result<()>;
    /// A run by id.
    async fn get_run(&self, id: RunId) -> Result<WorkflowRun>;
    /// Runs for a submission, oldest first.
    async fn runs_for_submission(&self, id: SubmissionId) -> Result<Vec<WorkflowRun>>;
}

/// The durable job queue.
#[async_trait]
pub trait JobStore: Send + Sync {
    /// Enqueues a job; with an idempotency key already present, returns the existing job and
    /// `false` instead of creating a second one.
    async fn enqueue(&self, job: &NewJob) -> Result<(Job, bool)>;
    /// Claims the oldest runnable job (queued and due, or running with an expired lease) of one of
    /// `kinds` (empty = any) for `lease` time. Each runnable job goes to exactly one claimer.
    /// Jobs of other kinds stay queued for claimers that ask for them, and do not slow this
    /// claim down however many there are (the SQL stores look up each kind's oldest runnable
    /// job in an index by kind and due time).
    async fn claim(
        &self,
        worker: &str,
        kinds: &[String],
        lease: Duration,
    ) -> Result<Option<ClaimedJob>>;
    /// Claims up to `max` runnable jobs of `kinds` (empty = any) in one go, oldest first, each
    /// as [`claim`](Self::claim) would: every runnable job goes to exactly one claimer, however
    /// many claim at once, and a running job whose lease expired is claimed again. Fewer than
    /// `max` (none at all when nothing is runnable) is not an error; `max = 0` claims nothing.
    ///
    /// The SQL stores claim the whole batch in one statement (one round trip on PostgreSQL,
    /// one write transaction on SQLite), and the jobs of one batch share one lease token: a
    /// [`Lease`] is always its job id and token together, so each job is still completed,
    /// heartbeated, failed or released on its own. This default claims one job with
    /// [`claim`](Self::claim), so other implementations work unchanged.
    async fn claim_batch(
        &self,
        worker: &str,
        kinds: &[String],
        lease: Duration,
        max: usize,
    ) -> Result<Vec<ClaimedJob>> {
        if max == 0 {
            return Ok(Vec::new());
        }
        Ok(self
            .claim(worker, kinds, lease)
            .await?
            .into_iter()
            .collect())
    }
    /// Extends a lease; `Conflict` if the lease was lost.
    async fn heartbeat(&self, lease: &Lease, extend: Duration) -> Result<Lease>;
    /// Marks the job done; `Conflict` if the lease was lost.
    async fn complete(&self, lease: &Lease) -> Result<()>;
    /// Marks several jobs done at once: one outcome per lease, in order, each exactly what
    /// [`complete`](Self::complete) would have answered for it had the leases been completed
    /// one after the other (`Ok`, `Conflict` for a lost lease, `NotFound` for an unknown job; a
    /// lease that appears twice is done the first time and `Conflict` after). The outer error
    /// is reserved for the store itself failing, in which case no outcome is known (some of the
    /// jobs may be done). An empty slice does nothing.
    ///
    /// The SQL stores complete the batch in one statement (one round trip on PostgreSQL, one
    /// write on SQLite) and look only the lost leases up afterwards. This default calls
    /// [`complete`](Self::complete) per lease, so other implementations work unchanged.
    async fn complete_batch(&self, leases: &[Lease]) -> Result<Vec<Result<()>>> {
        let mut outcomes = Vec::with_capacity(leases.len());
        for lease in leases {
            outcomes.push(match self.complete(lease).await {
                Err(e)
                    if !matches!(
                        e,
                        crate::Error::Conflict { .. } | crate::Error::NotFound { .. }
                    ) =>
                {
                    return Err(e);
                }
                r => r,
            });
        }
        Ok(outcomes)
    }
    /// Completes `done` and then claims up to `max` jobs of `kinds` for `worker`, in one go: a
    /// worker that has finished jobs and free slots hands the finished ones in and takes the
    /// next ones with one call. The first part of the answer is one outcome per lease of `done`,
    /// exactly as [`complete_batch`](Self::complete_batch) answers them; the second is what
    /// [`claim_batch`](Self::claim_batch) made after those completions would answer (every
    /// runnable job still goes to exactly one claimer, oldest first, fresh lease). The outer
    /// error is reserved for the store failing before any completion outcome is known (some of
    /// `done` may be done, nothing is claimed); an error of the claim alone, after the
    /// completions were made, is the inner one.
    ///
    /// The SQL stores make both parts one atomic write (one statement on PostgreSQL, whose two
    /// data-modifying parts touch disjoint rows because the claim leaves the jobs of `done` out;
    /// one write transaction on SQLite, which leaves them out too), so a worker makes one round
    /// trip per batch instead of two. This default calls
    /// [`complete_batch`](Self::complete_batch) then [`claim_batch`](Self::claim_batch), so
    /// other implementations work unchanged.
    async fn complete_and_claim(
        &self,
        done: &[Lease],
        worker: &str,
        kinds: &[String],
        lease: Duration,
        max: usize,
    ) -> Result<(Vec<Result<()>>, Result<Vec<ClaimedJob>>)> {
        let outcomes = self.complete_batch(done).await?;
        let claimed = self.claim_batch(worker, kinds, lease, max).await;
        Ok((outcomes, claimed))
    }
    /// Records a failed attempt: back to `Queued` after a backoff, or `Dead` when not retryable
    /// or out of attempts. Returns the job as stored. `Conflict` if the lease was lost.
    async fn fail(&self, lease: &Lease, failure: &JobFailure) -> Result<Job>;
    /// Gives a claimed job back without using up an attempt: the job is `Queued` again, due at
    /// `run_at`, with `attempts` one lower (never below 0), its lease cleared and `last_error`
    /// unchanged. Returns the job as stored. `Conflict` if the lease was lost (as
    /// [`complete`](Self::complete)), `NotFound` for an unknown job.
    ///
    /// For outcomes that mean "not now" rather than failure: a send outside its window or over
    /// a limit is released to the allowed time (no polling), a recurring job re-arms itself for
    /// its next run, and a worker shutting down releases the jobs it could not finish.
    async fn release(&self, lease: &Lease, run_at: DateTime<Utc>) -> Result<Job>;
    /// The job with this idempotency key, if any. When it is `Queued` and due later than `at`,
    /// it is made due at `at` first ("run this recurring job now"); a job in any other state,
    /// or already due by `at`, is left unchanged. Returns the job as stored.
    async fn wake(&self, idempotency_key: &str, at: DateTime<Utc>) -> Result<Option<Job>>;
    /// Puts a dead job back in the queue with a fresh attempt budget.
    async fn requeue_dead(&self, id: JobId) -> Result<Job>;
    /// A job by id.
    async fn get_job(&self, id: JobId) -> Result<Job>;
    /// Jobs matching `filter`, oldest first.
    async fn list_jobs(&self, filter: &JobFilter) -> Result<Vec<Job>>;
    /// Number of jobs per state.
    async fn job_counts(&self) -> Result<BTreeMap<JobState, u64>>;
}

/// Send limits, the suppression list and approved recipients.
#[async_trait]
pub trait SendStore: Send + Sync {
    /// Atomically checks the limits and, when allowed, records the send. Reserving again for the
    /// same draft returns `Allow` without counting twice. Never exceeds a limit under concurrency.
    async fn reserve_send(
        &self,
        reservation: &SendReservation,
        limits: &SendLimits,
    ) -> Result<SendDecision>;
    /// Releases a reservation whose send failed permanently (idempotent).
    async fn release_send(&self, draft: DraftId) -> Result<()>;
    /// Adds or replaces a suppression.
    async fn suppress(&self, entry: &Suppression) -> Result<()>;
    /// Removes a suppression; true if there was one.
    async fn unsuppress(&self, email: &EmailAddress) -> Result<bool>;
    /// The suppression of this address (case-insensitive), if any.
    async fn suppression(&self, email: &EmailAddress) -> Result<Option<Suppression>>;
    /// All suppressions.
    async fn list_suppressions(&self) -> Result<Vec<Suppression>>;
    /// Adds an approved recipient (idempotent).
    async fn add_approved_recipient(&self, recipient: &ApprovedRecipient) -> Result<()>;
    /// Removes an approved recipient; true if there was one.
    async fn remove_approved_recipient(&self, email: &EmailAddress) -> Result<bool>;
    /// Whether this address is an approved recipient.
    async fn is_approved_recipient(&self, email: &EmailAddress) -> Result<bool>;
}

/// Messages sent and received.
#[async_trait]
pub trait MessageStore: Send + Sync {
    /// Records a message (idempotent by Message-ID).
    async fn record_message(&self, message: &MessageRecord) -> Result<()>;
    /// A message by Message-ID.
    async fn find_message(&self, id: &MessageId) -> Result<Option<MessageRecord>>;
    /// Messages with a contact, oldest first.
    async fn messages_for_contact(&self, email: &EmailAddress) -> Result<Vec<MessageRecord>>;
}

/// Outcomes.
#[async_trait]
pub trait OutcomeStore: Send + Sync {
    /// Records an outcome unless one with the same `source_event_id` exists; true if new.
    async fn record_outcome(&self, outcome: &Outcome) -> Result<bool>;
    /// Outcomes matching `filter`, newest first.
    async fn list_outcomes(&self, filter: &OutcomeFilter) -> Result<Vec<Outcome>>;
}

/// Voice profiles, versioned.
#[async_trait]
pub trait VoiceStore: Send + Sync {
    /// Saves a new version of the profile named `profile.name` for `profile.owner`; returns it
    /// with its assigned version (previous latest + 1).
    async fn save_voice_profile(&self, profile: &VoiceProfile) -> Result<VoiceProfile>;
    /// The latest version of a named profile.
    async fn voice_profile(&self, owner: &EmailAddress, name: &str)
    -> Result<Option<VoiceProfile>>;
    /// The latest version of every profile of an owner, by name.
    async fn voice_profiles(&self, owner: &EmailAddress) -> Result<Vec<VoiceProfile>>;
}

/// Secrets (OAuth tokens), encrypted at rest by SQL stores.
#[async_trait]
pub trait SecretStore: Send + Sync {
    /// Inserts or replaces the token of `token.account`.
    async fn save_token(&self, token: &OAuthToken) -> Result<()>;
    /// The token of an account.
    async fn token(&self, account: &str) -> Result<Option<OAuthToken>>;
    /// Deletes an account's token; true if there was one.
    async fn delete_token(&self, account: &str) -> Result<bool>;
}

/// Settings, cursors and the kill switch.
#[async_trait]
pub trait SettingsStore: Send + Sync {
    /// A setting's value.
    async fn setting(&self, key: &str) -> Result<Option<String>>;
    /// Sets a setting.
    async fn put_setting(&self, key: &str, value: &str) -> Result<()>;
}

/// The append-only, hash-chained audit log.
#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Appends an entry, chaining it to the previous one. Concurrent appends never fork the chain.
    async fn append_audit(&self, entry: &NewAuditEntry) -> Result<AuditEntry>;
    /// Entries with `seq > after`, in order, at most `limit` (0 = all).
    async fn audit_entries(&self, after: u64, limit: u32) -> Result<Vec<AuditEntry>>;
    /// Checks the whole chain; reports the first edited, removed or reordered entry.
    async fn verify_audit_chain(&self) -> Result<AuditVerification>;
}

/// Privacy and operations.
#[async_trait]
pub trait AdminStore: Send + Sync {
    /// Removes or anonymises everything that mentions `email` in every table and appends an
    /// audit tombstone without personal data.
    async fn erase_contact(&self, email: &EmailAddress, actor: &str) -> Result<ErasureReport>;
    /// Checks the store is reachable and migrated.
    async fn health(&self) -> Result<()>;
}

/// Follow-up sequences, one per contact (see [`crate::sequences`]).
#[async_trait]
pub trait SequenceStore: Send + Sync {
    /// The contact's sequence (compared case-insensitively), if one was ever started.
    async fn get_sequence(&self, contact: &EmailAddress) -> Result<Option<Sequence>>;
    /// Writes a contact's sequence and, in the same atomic write, enqueues `jobs` (each as by
    /// [`JobStore::enqueue`]: an existing job with the same idempotency key is kept). With
    /// `expected_version` `None` the contact must have no sequence yet (`Conflict` otherwise);
    /// with `Some(v)` the stored one must be at version `v` (`Conflict` when it is not,
    /// `NotFound` when there is none). `InvalidInput` (nothing stored) when `sequence.version`
    /// is not past `expected_version` or a job has an empty kind.
    async fn save_sequence(
        &self,
        sequence: &Sequence,
        expected_version: Option<u32>,
        jobs: &[NewJob],
    ) -> Result<()>;
    /// Sequences matching `filter`, most recently changed first.
    async fn list_sequences(&self, filter: &SequenceFilter) -> Result<Vec<Sequence>>;
}

/// Everything salesagent persists: the composition of the store traits above.
pub trait Store:
    SubmissionStore
    + DraftStore
    + RunStore
    + JobStore
    + SendStore
    + MessageStore
    + OutcomeStore
    + VoiceStore
    + SecretStore
    + SettingsStore
    + AuditStore
    + AdminStore
    + super::OperatorStore
    + SequenceStore
    + std::fmt::Debug
    + 'static
{
}

impl<T> Store for T where
    T: SubmissionStore
        + DraftStore
        + RunStore
        + JobStore
        + SendStore
        + MessageStore
        + OutcomeStore
        + VoiceStore
        + SecretStore
        + SettingsStore
        + AuditStore
        + AdminStore
        + super::OperatorStore
        + SequenceStore
        + std::fmt::Debug
        + 'static
{
}

/// A shared store.
pub type DynStore = Arc<dyn Store>;

/// Setting key of the kill switch (`on`/`off`).
pub const KILL_SWITCH_KEY: &str = "kill_switch";

/// Convenience methods over any [`SettingsStore`].
#[async_trait]
pub trait SettingsExt: SettingsStore {
    /// True when the kill switch is on: nothing is sent or auto-approved.
    async fn kill_switch(&self) -> Result<bool> {
        Ok(self
            .setting(KILL_SWITCH_KEY)
            .await?
            .is_some_and(|v| v == "on"))
    }
    /// Turns the kill switch on or off.
    async fn set_kill_switch(&self, on: bool) -> Result<()> {
        self.put_setting(KILL_SWITCH_KEY, if on { "on" } else { "off" })
            .await
    }
}

impl<T: SettingsStore + ?Sized> SettingsExt for T {}
