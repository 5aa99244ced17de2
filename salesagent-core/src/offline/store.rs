//! The in-memory store: every store trait with the semantics the SQL backends have.

use super::{SeededRng, lock};
use crate::model::{
    ApprovedRecipient, AuditEntry, AuditVerification, ClaimedJob, Draft, DraftEvent, DraftId,
    DraftStatus, EmailAddress, ErasureReport, FormSubmission, Job, JobFailure, JobFilter, JobId,
    JobState, Lease, LeaseToken, LimitScope, MessageId, MessageRecord, NewAuditEntry, NewJob,
    OAuthToken, Outcome, RetryPolicy, RunId, SendDecision, SendLimits, SendReservation,
    SubmissionId, Suppression, VoiceProfile, WorkflowRun, verify_chain,
};
use crate::ports::{
    AdminStore, AuditStore, DraftFilter, DraftStore, DraftUpdate, DynClock, JobStore, MessageStore,
    NewDraftRecord, OutcomeFilter, OutcomeStore, RunStore, SecretStore, SendStore, SettingsStore,
    SubmissionStore, VoiceStore,
};
use crate::privacy::erasure::{ErasureStep, ErasureSubject, ErasureTally, erasure_audit_entry};
use crate::{Error, Result};
use async_trait::async_trait;
use chrono::{DateTime, SubsecRound, TimeDelta, Utc};
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

/// One reservation counted against the send limits.
#[derive(Debug, Clone)]
struct SendRecord {
    draft_id: DraftId,
    contact: String,
    sender: String,
    domain: String,
    at: DateTime<Utc>,
}

#[derive(Debug)]
struct JobEntry {
    job: Job,
    token: Option<LeaseToken>,
}

#[derive(Debug)]
struct StoreState {
    rng: SeededRng,
    submissions: Vec<FormSubmission>,
    drafts: Vec<Draft>,
    draft_events: Vec<DraftEvent>,
    runs: Vec<WorkflowRun>,
    jobs: Vec<JobEntry>,
    sends: Vec<SendRecord>,
    suppressions: Vec<Suppression>,
    approved: Vec<ApprovedRecipient>,
    messages: Vec<MessageRecord>,
    outcomes: Vec<Outcome>,
    /// Every version of every voice profile.
    voice: Vec<VoiceProfile>,
    tokens: BTreeMap<String, OAuthToken>,
    settings: BTreeMap<String, String>,
    audit: Vec<AuditEntry>,
    /// Erased addresses, as hashes ([`tombstone`]), with when they were erased.
    tombstones: Vec<(String, DateTime<Utc>)>,
    /// Follow-up sequences, one per contact.
    sequences: Vec<crate::sequences::Sequence>,
}

/// The tombstone of an erased address: a hash, never the address (the SQL stores key it).
fn tombstone(email: &EmailAddress) -> String {
    use sha2::{Digest, Sha256};
    let h = Sha256::digest(format!("salesagent tombstone:{}", email.normalized()));
    crate::encoding::to_hex(&h)
}

/// An in-memory [`Store`](crate::ports::Store) with the same semantics as the SQL backends.
///
/// Every operation runs under one lock, so each is atomic: idempotent submissions, one draft
/// per submission, optimistic draft versions, job leases with tokens (expired leases are
/// reclaimed; a job whose last allowed attempt lost its lease goes dead), backoff through a
/// [`RetryPolicy`] with seeded jitter, send reservations that never exceed [`SendLimits`],
/// a hash-chained audit log, and `erase_contact` that removes every record naming an address.
/// Time comes from the [`DynClock`] it is built with.
///
/// Choices the port leaves open: `update_draft` also refuses (`InvalidInput`) a draft whose
/// version was not bumped past `expected_version`, since that would defeat optimistic locking;
/// `erase_contact` removes the address's suppression and approval too (nothing may name it
/// afterwards), removes jobs whose payload or key mentions it, and clears it as an outcome
/// sender; existing audit entries are kept (the chain must stay verifiable).
#[derive(Debug)]
pub struct MemoryStore {
    state: Mutex<StoreState>,
    clock: DynClock,
    policy: RetryPolicy,
    /// Named operators (see `offline/operators.rs`).
    pub(super) operators: Mutex<Vec<crate::ports::OperatorRecord>>,
}

fn to_delta(d: Duration) -> TimeDelta {
    TimeDelta::from_std(d).unwrap_or(TimeDelta::MAX)
}

impl MemoryStore {
    /// An empty store reading time from `clock`, with the default [`RetryPolicy`] and seed 0.
    #[must_use]
    pub fn new(clock: DynClock) -> Self {
        Self {
            state: Mutex::new(StoreState {
                rng: SeededRng::new(0),
                submissions: Vec::new(),
                drafts: Vec::new(),
                draft_events: Vec::new(),
                runs: Vec::new(),
                jobs: Vec::new(),
                sends: Vec::new(),
                suppressions: Vec::new(),
                approved: Vec::new(),
                messages: Vec::new(),
                outcomes: Vec::new(),
                voice: Vec::new(),
                tokens: BTreeMap::new(),
                settings: BTreeMap::new(),
                audit: Vec::new(),
                tombstones: Vec::new(),
                sequences: Vec::new(),
            }),
            clock,
            policy: RetryPolicy::default(),
            operators: Mutex::new(Vec::new()),
        }
    }

    /// Backs off failed jobs with `policy`.
    #[must_use]
    pub fn with_retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Seeds the generator behind backoff jitter, job ids and lease tokens.
    #[must_use]
    #[cfg(feature = "testing")]
    pub fn with_seed(self, seed: u64) -> Self {
        lock(&self.state).rng = SeededRng::new(seed);
        self
    }

    /// Rewrites the action of audit entry `seq` without fixing the chain, so tests can check
    /// that verification notices. Returns false when there is no such entry.
    #[cfg(feature = "testing")]
    pub fn tamper_audit_entry(&self, seq: u64, action: &str) -> bool {
        let mut s = lock(&self.state);
        match s.audit.iter_mut().find(|e| e.seq == seq) {
            Some(e) => {
                e.action = action.to_owned();
                true
            }
            None => false,
        }
    }

    pub(super) fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }
}

impl StoreState {
    /// A random-looking UUID from the seeded generator, so ids repeat run to run.
    fn fresh_uuid(&mut self) -> uuid::Uuid {
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&self.rng.next_u64().to_le_bytes());
        bytes[8..].copy_from_slice(&self.rng.next_u64().to_le_bytes());
        uuid::Builder::from_random_bytes(bytes).into_uuid()
    }

    fn leased(&mut self, lease: &Lease) -> Result<&mut JobEntry> {
        let entry = self
            .jobs
            .iter_mut()
            .find(|e| e.job.id == lease.job_id)
            .ok_or_else(|| Error::not_found(format!("job {}", lease.job_id)))?;
        if entry.job.state != JobState::Running || entry.token != Some(lease.token) {
            return Err(Error::conflict(format!(
                "lease on job {} was lost",
                lease.job_id
            )));
        }
        Ok(entry)
    }
}

fn release_lease(entry: &mut JobEntry, state: JobState, now: DateTime<Utc>) {
    entry.job.state = state;
    entry.job.lease_owner = None;
    entry.job.lease_expires_at = None;
    entry.job.updated_at = now;
    entry.token = None;
}

fn same_address(a: &EmailAddress, b: &EmailAddress) -> bool {
    a.same_mailbox(b)
}

fn limit_of(n: u32) -> usize {
    if n == 0 { usize::MAX } else { n as usize }
}

#[async_trait]
impl SubmissionStore for MemoryStore {
    async fn save_submission(&self, submission: &FormSubmission) -> Result<(FormSubmission, bool)> {
        let mut s = lock(&self.state);
        if let Some(existing) = s
            .submissions
            .iter()
            .find(|x| x.idempotency_key == submission.idempotency_key)
        {
            return Ok((existing.clone(), false));
        }
        if s.submissions.iter().any(|x| x.id == submission.id) {
            return Err(Error::conflict(format!(
                "submission {} exists with another idempotency key",
                submission.id
            )));
        }
        s.submissions.push(submission.clone());
        Ok((submission.clone(), true))
    }

    async fn get_submission(&self, id: SubmissionId) -> Result<FormSubmission> {
        lock(&self.state)
            .submissions
            .iter()
            .find(|x| x.id == id)
            .cloned()
            .ok_or_else(|| Error::not_found(format!("submission {id}")))
    }

    async fn find_submission(&self, idempotency_key: &str) -> Result<Option<FormSubmission>> {
        Ok(lock(&self.state)
            .submissions
            .iter()
            .find(|x| x.idempotency_key == idempotency_key)
            .cloned())
    }
}

#[async_trait]
impl DraftStore for MemoryStore {
    async fn insert_draft(&self, draft: &Draft, event: &DraftEvent) -> Result<()> {
        insert_draft(&mut lock(&self.state), draft, event)
    }

    async fn insert_draft_record(&self, record: &NewDraftRecord<'_>) -> Result<()> {
        if record.follow_up.kind.trim().is_empty() {
            return Err(Error::invalid("kind", "is empty"));
        }
        let now = self.now();
        let mut s = lock(&self.state);
        insert_draft(&mut s, record.draft, record.event)?;
        save_run(&mut s, record.run);
        append(&mut s, now, record.audit);
        enqueue(&mut s, now, record.follow_up);
        Ok(())
    }

    async fn get_draft(&self, id: DraftId) -> Result<Draft> {
        lock(&self.state)
            .drafts
            .iter()
            .find(|d| d.id == id)
            .cloned()
            .ok_or_else(|| Error::not_found(format!("draft {id}")))
    }

    async fn find_draft_by_submission(&self, id: SubmissionId) -> Result<Option<Draft>> {
        Ok(lock(&self.state)
            .drafts
            .iter()
            .find(|d| d.submission_id == Some(id))
            .cloned())
    }

    async fn find_draft_by_message_id(&self, id: &MessageId) -> Result<Option<Draft>> {
        Ok(lock(&self.state)
            .drafts
            .iter()
            .find(|d| d.message_id.as_ref() == Some(id))
            .cloned())
    }

    async fn list_drafts(&self, filter: &DraftFilter) -> Result<Vec<Draft>> {
        let s = lock(&self.state);
        let mut found: Vec<Draft> = s
            .drafts
            .iter()
            .filter(|d| filter.status.is_none_or(|st| d.status == st))
            .filter(|d| {
                filter
                    .contact
                    .as_ref()
                    .is_none_or(|c| same_address(c, &d.contact_email))
            })
            .cloned()
            .collect();
        found.sort_by_key(|d| std::cmp::Reverse((d.created_at, d.id)));
        found.truncate(limit_of(filter.limit));
        Ok(found)
    }

    async fn update_draft(
        &self,
        draft: &Draft,
        expected_version: u32,
        event: &DraftEvent,
    ) -> Result<()> {
        update_draft(&mut lock(&self.state), draft, expected_version, event)
    }

    async fn update_draft_record(&self, update: &DraftUpdate<'_>) -> Result<()> {
        if update.jobs.iter().any(|j| j.kind.trim().is_empty()) {
            return Err(Error::invalid("kind", "is empty"));
        }
        let now = self.now();
        let mut s = lock(&self.state);
        update_draft(&mut s, update.draft, update.expected_version, update.event)?;
        if let Some(entry) = update.audit {
            append(&mut s, now, entry);
        }
        for job in update.jobs {
            enqueue(&mut s, now, job);
        }
        Ok(())
    }

    async fn draft_events(&self, id: DraftId) -> Result<Vec<DraftEvent>> {
        Ok(lock(&self.state)
            .draft_events
            .iter()
            .filter(|e| e.draft_id == id)
            .cloned()
            .collect())
    }

    async fn draft_counts(&self) -> Result<BTreeMap<DraftStatus, u64>> {
        let s = lock(&self.state);
        let mut counts: BTreeMap<DraftStatus, u64> =
            DraftStatus::ALL.iter().map(|st| (*st, 0)).collect();
        for d in &s.drafts {
            *counts.entry(d.status).or_default() += 1;
        }
        Ok(counts)
    }
}

#[async_trait]
impl RunStore for MemoryStore {
    async fn save_run(&self, run: &WorkflowRun) -> Result<()> {
        save_run(&mut lock(&self.state), run);
        Ok(())
    }

    async fn get_run(&self, id: RunId) -> Result<WorkflowRun> {
        lock(&self.state)
            .runs
            .iter()
            .find(|r| r.id == id)
            .cloned()
            .ok_or_else(|| Error::not_found(format!("run {id}")))
    }

    async fn runs_for_submission(&self, id: SubmissionId) -> Result<Vec<WorkflowRun>> {
        let mut runs: Vec<WorkflowRun> = lock(&self.state)
            .runs
            .iter()
            .filter(|r| r.submission_id == id)
            .cloned()
            .collect();
        runs.sort_by_key(|r| (r.started_at, r.id));
        Ok(runs)
    }
}

impl MemoryStore {
    /// Claims up to `max` runnable jobs of `kinds` (empty = any), oldest first, each under its
    /// own lease token, in one critical section ([`JobStore::claim`] is `max = 1`).
    fn claim_jobs(
        &self,
        worker: &str,
        kinds: &[String],
        lease: Duration,
        max: usize,
    ) -> Vec<ClaimedJob> {
        let now = self.now();
        let mut s = lock(&self.state);
        // A running job whose lease ran out on its last allowed attempt is dead, not retried.
        for e in &mut s.jobs {
            if e.job.state == JobState::Running
                && e.job.lease_expires_at.is_some_and(|t| t <= now)
                && e.job.attempts >= e.job.max_attempts
            {
                e.job.last_error = Some("lease expired on the last attempt".to_owned());
                release_lease(e, JobState::Dead, now);
            }
        }
        let runnable = |e: &JobEntry| {
            (kinds.is_empty() || kinds.contains(&e.job.kind))
                && match e.job.state {
                    JobState::Queued => e.job.run_at <= now,
                    JobState::Running => e.job.lease_expires_at.is_some_and(|t| t <= now),
                    JobState::Done | JobState::Dead => false,
                }
        };
        let mut picked: Vec<(DateTime<Utc>, usize)> = s
            .jobs
            .iter()
            .enumerate()
            .filter(|(_, e)| runnable(e))
            .map(|(i, e)| (e.job.run_at, i))
            .collect();
        if picked.len() > max {
            picked.select_nth_unstable(max);
            picked.truncate(max);
        }
        picked.sort_unstable();
        let expires_at = now + to_delta(lease);
        let mut claimed = Vec::with_capacity(picked.len());
        for (_, pos) in picked {
            let token = LeaseToken(s.fresh_uuid());
            let e = &mut s.jobs[pos];
            e.token = Some(token);
            e.job.state = JobState::Running;
            e.job.attempts += 1;
            e.job.lease_owner = Some(worker.to_owned());
            e.job.lease_expires_at = Some(expires_at);
            e.job.updated_at = now;
            claimed.push(ClaimedJob {
                job: e.job.clone(),
                lease: Lease {
                    job_id: e.job.id,
                    token,
                    owner: worker.to_owned(),
                    expires_at,
                },
            });
        }
        claimed
    }
}

#[async_trait]
impl JobStore for MemoryStore {
    async fn enqueue(&self, job: &NewJob) -> Result<(Job, bool)> {
        if job.kind.trim().is_empty() {
            return Err(Error::invalid("kind", "is empty"));
        }
        let now = self.now();
        Ok(enqueue(&mut lock(&self.state), now, job))
    }

    async fn claim(
        &self,
        worker: &str,
        kinds: &[String],
        lease: Duration,
    ) -> Result<Option<ClaimedJob>> {
        Ok(self.claim_jobs(worker, kinds, lease, 1).pop())
    }

    async fn claim_batch(
        &self,
        worker: &str,
        kinds: &[String],
        lease: Duration,
        max: usize,
    ) -> Result<Vec<ClaimedJob>> {
        Ok(self.claim_jobs(worker, kinds, lease, max))
    }

    async fn heartbeat(&self, lease: &Lease, extend: Duration) -> Result<Lease> {
        let now = self.now();
        let mut s = lock(&self.state);
        let e = s.leased(lease)?;
        let expires_at = now + to_delta(extend);
        e.job.lease_expires_at = Some(expires_at);
        e.job.updated_at = now;
        Ok(Lease {
            expires_at,
            ..lease.clone()
        })
    }

    async fn complete(&self, lease: &Lease) -> Result<()> {
        let now = self.now();
        let mut s = lock(&self.state);
        let e = s.leased(lease)?;
        release_lease(e, JobState::Done, now);
        Ok(())
    }

    async fn complete_batch(&self, leases: &[Lease]) -> Result<Vec<Result<()>>> {
        let now = self.now();
        let mut s = lock(&self.state);
        Ok(leases
            .iter()
            .map(|lease| {
                let e = s.leased(lease)?;
                release_lease(e, JobState::Done, now);
                Ok(())
            })
            .collect())
    }

    async fn fail(&self, lease: &Lease, failure: &JobFailure) -> Result<Job> {
        let now = self.now();
        let policy = self.policy;
        let mut s = lock(&self.state);
        let r = s.rng.next_f64();
        let e = s.leased(lease)?;
        e.job.last_error = Some(failure.error.clone());
        if !failure.retryable || e.job.attempts >= e.job.max_attempts {
            release_lease(e, JobState::Dead, now);
        } else {
            release_lease(e, JobState::Queued, now);
            let delay = policy.delay(e.job.attempts, r, failure.retry_after);
            e.job.run_at = now + to_delta(delay);
        }
        Ok(e.job.clone())
    }

    async fn release(&self, lease: &Lease, run_at: DateTime<Utc>) -> Result<Job> {
        let now = self.now();
        let mut s = lock(&self.state);
        let e = s.leased(lease)?;
        release_lease(e, JobState::Queued, now);
        e.job.attempts = e.job.attempts.saturating_sub(1);
        e.job.run_at = run_at;
        Ok(e.job.clone())
    }

    async fn wake(&self, idempotency_key: &str, at: DateTime<Utc>) -> Result<Option<Job>> {
        let now = self.now();
        let mut s = lock(&self.state);
        let Some(e) = s
            .jobs
            .iter_mut()
            .find(|e| e.job.idempotency_key.as_deref() == Some(idempotency_key))
        else {
            return Ok(None);
        };
        if e.job.state == JobState::Queued && e.job.run_at > at {
            e.job.run_at = at;
            e.job.updated_at = now;
        }
        Ok(Some(e.job.clone()))
    }

    async fn requeue_dead(&self, id: JobId) -> Result<Job> {
        let now = self.now();
        let mut s = lock(&self.state);
        let e = s
            .jobs
            .iter_mut()
            .find(|e| e.job.id == id)
            .ok_or_else(|| Error::not_found(format!("job {id}")))?;
        if e.job.state != JobState::Dead {
            return Err(Error::conflict(format!(
                "job {id} is {}, not dead",
                e.job.state.as_str()
            )));
        }
        release_lease(e, JobState::Queued, now);
        e.job.attempts = 0;
        e.job.run_at = now;
        Ok(e.job.clone())
    }

    async fn get_job(&self, id: JobId) -> Result<Job> {
        lock(&self.state)
            .jobs
            .iter()
            .find(|e| e.job.id == id)
            .map(|e| e.job.clone())
            .ok_or_else(|| Error::not_found(format!("job {id}")))
    }

    async fn list_jobs(&self, filter: &JobFilter) -> Result<Vec<Job>> {
        let s = lock(&self.state);
        Ok(s.jobs
            .iter()
            .map(|e| &e.job)
            .filter(|j| filter.state.is_none_or(|st| j.state == st))
            .filter(|j| filter.kind.as_ref().is_none_or(|k| &j.kind == k))
            .take(limit_of(filter.limit))
            .cloned()
            .collect())
    }

    async fn job_counts(&self) -> Result<BTreeMap<JobState, u64>> {
        let s = lock(&self.state);
        let mut counts: BTreeMap<JobState, u64> = JobState::ALL.iter().map(|st| (*st, 0)).collect();
        for e in &s.jobs {
            *counts.entry(e.job.state).or_default() += 1;
        }
        Ok(counts)
    }
}

#[async_trait]
impl SendStore for MemoryStore {
    /// Executes [`Reservation`](crate::sending::limits::Reservation) under the store's lock.
    async fn reserve_send(
        &self,
        reservation: &SendReservation,
        limits: &SendLimits,
    ) -> Result<SendDecision> {
        use crate::sending::limits::{Reservation, WindowSends};
        let rule = Reservation::new(reservation, limits);
        let mut s = lock(&self.state);
        if s.sends.iter().any(|r| r.draft_id == reservation.draft_id) {
            return Ok(Reservation::repeat());
        }
        let tomb = tombstone(&reservation.contact);
        if s.suppressions
            .iter()
            .any(|x| same_address(&x.email, &reservation.contact))
            || s.tombstones.iter().any(|(h, _)| *h == tomb)
        {
            return Ok(Reservation::suppressed());
        }
        if let Some(denied) = rule.zero_limit() {
            return Ok(denied);
        }
        let contact = reservation.contact.normalized();
        let sender = reservation.sender.normalized();
        let domain = reservation.contact.domain().as_str().to_owned();
        let found: Vec<WindowSends> = rule
            .windows()
            .into_iter()
            .map(|w| {
                let key = match w.scope {
                    LimitScope::Contact => &contact,
                    LimitScope::Sender => &sender,
                    LimitScope::Domain => &domain,
                };
                let times = s
                    .sends
                    .iter()
                    .filter(|r| {
                        let of = match w.scope {
                            LimitScope::Contact => &r.contact,
                            LimitScope::Sender => &r.sender,
                            LimitScope::Domain => &r.domain,
                        };
                        of == key && r.at > w.since
                    })
                    .map(|r| r.at)
                    .collect();
                WindowSends {
                    limit: w.limit,
                    times,
                }
            })
            .collect();
        let decision = rule.decide(&found);
        if decision.is_allow() {
            s.sends.push(SendRecord {
                draft_id: reservation.draft_id,
                contact,
                sender,
                domain,
                at: reservation.at,
            });
        }
        Ok(decision)
    }

    async fn release_send(&self, draft: DraftId) -> Result<()> {
        lock(&self.state).sends.retain(|r| r.draft_id != draft);
        Ok(())
    }

    async fn suppress(&self, entry: &Suppression) -> Result<()> {
        let mut s = lock(&self.state);
        s.suppressions
            .retain(|x| !same_address(&x.email, &entry.email));
        s.suppressions.push(entry.clone());
        Ok(())
    }

    async fn unsuppress(&self, email: &EmailAddress) -> Result<bool> {
        let mut s = lock(&self.state);
        let before = s.suppressions.len();
        s.suppressions.retain(|x| !same_address(&x.email, email));
        Ok(s.suppressions.len() < before)
    }

    async fn suppression(&self, email: &EmailAddress) -> Result<Option<Suppression>> {
        let s = lock(&self.state);
        let found = s
            .suppressions
            .iter()
            .find(|x| same_address(&x.email, email))
            .cloned();
        // An erased address stays suppressed through its tombstone.
        let tomb = tombstone(email);
        Ok(found.or_else(|| {
            s.tombstones
                .iter()
                .find(|(h, _)| *h == tomb)
                .map(|(_, at)| Suppression {
                    email: email.clone(),
                    reason: crate::model::SuppressionReason::Manual,
                    note: Some("erased contact".to_owned()),
                    added_at: *at,
                })
        }))
    }

    async fn list_suppressions(&self) -> Result<Vec<Suppression>> {
        Ok(lock(&self.state).suppressions.clone())
    }

    async fn add_approved_recipient(&self, recipient: &ApprovedRecipient) -> Result<()> {
        let mut s = lock(&self.state);
        if !s
            .approved
            .iter()
            .any(|x| same_address(&x.email, &recipient.email))
        {
            s.approved.push(recipient.clone());
        }
        Ok(())
    }

    async fn remove_approved_recipient(&self, email: &EmailAddress) -> Result<bool> {
        let mut s = lock(&self.state);
        let before = s.approved.len();
        s.approved.retain(|x| !same_address(&x.email, email));
        Ok(s.approved.len() < before)
    }

    async fn is_approved_recipient(&self, email: &EmailAddress) -> Result<bool> {
        Ok(lock(&self.state)
            .approved
            .iter()
            .any(|x| same_address(&x.email, email)))
    }
}

#[async_trait]
impl MessageStore for MemoryStore {
    async fn record_message(&self, message: &MessageRecord) -> Result<()> {
        let mut s = lock(&self.state);
        if !s
            .messages
            .iter()
            .any(|m| m.message_id == message.message_id)
        {
            s.messages.push(message.clone());
        }
        Ok(())
    }

    async fn find_message(&self, id: &MessageId) -> Result<Option<MessageRecord>> {
        Ok(lock(&self.state)
            .messages
            .iter()
            .find(|m| &m.message_id == id)
            .cloned())
    }

    async fn messages_for_contact(&self, email: &EmailAddress) -> Result<Vec<MessageRecord>> {
        let mut found: Vec<MessageRecord> = lock(&self.state)
            .messages
            .iter()
            .filter(|m| same_address(&m.contact_email, email))
            .cloned()
            .collect();
        found.sort_by_key(|m| m.at);
        Ok(found)
    }
}

#[async_trait]
impl OutcomeStore for MemoryStore {
    async fn record_outcome(&self, outcome: &Outcome) -> Result<bool> {
        let mut s = lock(&self.state);
        if s.outcomes
            .iter()
            .any(|o| o.source_event_id == outcome.source_event_id)
        {
            return Ok(false);
        }
        s.outcomes.push(outcome.clone());
        Ok(true)
    }

    async fn list_outcomes(&self, filter: &OutcomeFilter) -> Result<Vec<Outcome>> {
        let s = lock(&self.state);
        let mut found: Vec<Outcome> = s
            .outcomes
            .iter()
            .filter(|o| {
                filter
                    .contact
                    .as_ref()
                    .is_none_or(|c| same_address(c, &o.contact_email))
                    && filter
                        .sender
                        .as_ref()
                        .is_none_or(|c| o.sender.as_ref().is_some_and(|x| same_address(c, x)))
                    && (filter.types.is_empty() || filter.types.contains(&o.outcome_type))
                    && filter.since.is_none_or(|t| o.occurred_at >= t)
                    && filter.until.is_none_or(|t| o.occurred_at < t)
            })
            .cloned()
            .collect();
        found.sort_by_key(|o| std::cmp::Reverse((o.occurred_at, o.id)));
        found.truncate(limit_of(filter.limit));
        Ok(found)
    }
}

#[async_trait]
impl VoiceStore for MemoryStore {
    async fn save_voice_profile(&self, profile: &VoiceProfile) -> Result<VoiceProfile> {
        if profile.name.trim().is_empty() {
            return Err(Error::invalid("name", "is empty"));
        }
        let mut s = lock(&self.state);
        let latest = s
            .voice
            .iter()
            .filter(|p| same_address(&p.owner, &profile.owner) && p.name == profile.name)
            .max_by_key(|p| p.version);
        let mut saved = profile.clone();
        saved.version = latest.map_or(1, |p| p.version + 1);
        if let Some(p) = latest {
            saved.id = p.id;
        }
        s.voice.push(saved.clone());
        Ok(saved)
    }

    async fn voice_profile(
        &self,
        owner: &EmailAddress,
        name: &str,
    ) -> Result<Option<VoiceProfile>> {
        Ok(lock(&self.state)
            .voice
            .iter()
            .filter(|p| same_address(&p.owner, owner) && p.name == name)
            .max_by_key(|p| p.version)
            .cloned())
    }

    async fn voice_profiles(&self, owner: &EmailAddress) -> Result<Vec<VoiceProfile>> {
        let s = lock(&self.state);
        let mut latest: BTreeMap<&str, &VoiceProfile> = BTreeMap::new();
        for p in s.voice.iter().filter(|p| same_address(&p.owner, owner)) {
            let slot = latest.entry(p.name.as_str()).or_insert(p);
            if p.version > slot.version {
                *slot = p;
            }
        }
        Ok(latest.into_values().cloned().collect())
    }
}

#[async_trait]
impl SecretStore for MemoryStore {
    async fn save_token(&self, token: &OAuthToken) -> Result<()> {
        lock(&self.state)
            .tokens
            .insert(token.account.clone(), token.clone());
        Ok(())
    }

    async fn token(&self, account: &str) -> Result<Option<OAuthToken>> {
        Ok(lock(&self.state).tokens.get(account).cloned())
    }

    async fn delete_token(&self, account: &str) -> Result<bool> {
        Ok(lock(&self.state).tokens.remove(account).is_some())
    }
}

#[async_trait]
impl SettingsStore for MemoryStore {
    async fn setting(&self, key: &str) -> Result<Option<String>> {
        Ok(lock(&self.state).settings.get(key).cloned())
    }

    async fn put_setting(&self, key: &str, value: &str) -> Result<()> {
        lock(&self.state)
            .settings
            .insert(key.to_owned(), value.to_owned());
        Ok(())
    }
}

fn append(s: &mut StoreState, at: DateTime<Utc>, entry: &NewAuditEntry) -> AuditEntry {
    let seq = s.audit.len() as u64 + 1;
    let prev_hash = s.audit.last().map(|e| e.hash.clone()).unwrap_or_default();
    // Stored at microsecond precision, as the SQL stores keep it.
    let at = at.trunc_subsecs(6);
    let stored = AuditEntry::chained(prev_hash, seq, at, entry);
    s.audit.push(stored.clone());
    stored
}

/// Inserts a draft and its creation event unless the id or its submission is taken.
fn insert_draft(s: &mut StoreState, draft: &Draft, event: &DraftEvent) -> Result<()> {
    if s.drafts.iter().any(|d| d.id == draft.id) {
        return Err(Error::conflict(format!("draft {} exists", draft.id)));
    }
    if let Some(sub) = draft.submission_id
        && s.drafts.iter().any(|d| d.submission_id == Some(sub))
    {
        return Err(Error::conflict(format!(
            "submission {sub} already has a draft"
        )));
    }
    s.drafts.push(draft.clone());
    s.draft_events.push(event.clone());
    Ok(())
}

/// Replaces a draft at `expected_version` and records its event (the checks of
/// `update_draft`).
fn update_draft(
    s: &mut StoreState,
    draft: &Draft,
    expected_version: u32,
    event: &DraftEvent,
) -> Result<()> {
    let Some(pos) = s.drafts.iter().position(|d| d.id == draft.id) else {
        return Err(Error::not_found(format!("draft {}", draft.id)));
    };
    let stored = s.drafts[pos].version;
    if stored != expected_version {
        return Err(Error::conflict(format!(
            "draft {} is at version {stored}, not {expected_version}",
            draft.id
        )));
    }
    if draft.version <= expected_version {
        return Err(Error::invalid(
            "version",
            "an update must bump the draft's version",
        ));
    }
    if let Some(sub) = draft.submission_id
        && s.drafts
            .iter()
            .any(|d| d.id != draft.id && d.submission_id == Some(sub))
    {
        return Err(Error::conflict(format!(
            "submission {sub} already has a draft"
        )));
    }
    s.drafts[pos] = draft.clone();
    s.draft_events.push(event.clone());
    Ok(())
}

/// Inserts or replaces a run.
fn save_run(s: &mut StoreState, run: &WorkflowRun) {
    match s.runs.iter_mut().find(|r| r.id == run.id) {
        Some(r) => *r = run.clone(),
        None => s.runs.push(run.clone()),
    }
}

/// Enqueues `job` (its kind checked by the caller), or returns the job holding its key.
fn enqueue(s: &mut StoreState, now: DateTime<Utc>, job: &NewJob) -> (Job, bool) {
    if let Some(key) = &job.idempotency_key
        && let Some(e) = s
            .jobs
            .iter()
            .find(|e| e.job.idempotency_key.as_ref() == Some(key))
    {
        return (e.job.clone(), false);
    }
    let stored = Job {
        id: JobId(s.fresh_uuid()),
        kind: job.kind.clone(),
        payload: job.payload.clone(),
        idempotency_key: job.idempotency_key.clone(),
        state: JobState::Queued,
        attempts: 0,
        max_attempts: job.max_attempts.max(1),
        run_at: job.run_at.unwrap_or(now),
        lease_owner: None,
        lease_expires_at: None,
        last_error: None,
        created_at: now,
        updated_at: now,
    };
    s.jobs.push(JobEntry {
        job: stored.clone(),
        token: None,
    });
    (stored, true)
}

#[async_trait]
impl AuditStore for MemoryStore {
    async fn append_audit(&self, entry: &NewAuditEntry) -> Result<AuditEntry> {
        let now = self.now();
        Ok(append(&mut lock(&self.state), now, entry))
    }

    async fn audit_entries(&self, after: u64, limit: u32) -> Result<Vec<AuditEntry>> {
        Ok(lock(&self.state)
            .audit
            .iter()
            .filter(|e| e.seq > after)
            .take(limit_of(limit))
            .cloned()
            .collect())
    }

    async fn verify_audit_chain(&self) -> Result<AuditVerification> {
        Ok(verify_chain(&lock(&self.state).audit))
    }
}

/// Removes the items matching `gone` from `v`; returns how many went.
fn remove_where<T>(v: &mut Vec<T>, gone: impl Fn(&T) -> bool) -> u64 {
    let before = v.len();
    v.retain(|x| !gone(x));
    (before - v.len()) as u64
}

/// Step 1 of the erasure plan: the address's submissions (by lead or raw text), the drafts
/// to it or from them, their CRM ids and the submissions' idempotency keys.
fn erasure_subject(s: &StoreState, email: &EmailAddress) -> ErasureSubject {
    let mut subject = ErasureSubject::new(email);
    let key = &subject.address;
    let subs: Vec<&FormSubmission> = s
        .submissions
        .iter()
        .filter(|x| same_address(&x.lead.email, email) || x.raw.to_lowercase().contains(key))
        .collect();
    let sub_ids: Vec<SubmissionId> = subs.iter().map(|x| x.id).collect();
    let drafts: Vec<&Draft> = s
        .drafts
        .iter()
        .filter(|d| {
            same_address(&d.contact_email, email)
                || d.submission_id.is_some_and(|id| sub_ids.contains(&id))
        })
        .collect();
    subject.submission_keys = subs.iter().map(|x| x.idempotency_key.clone()).collect();
    subject.submissions = sub_ids.iter().map(ToString::to_string).collect();
    subject.crm_ids = drafts
        .iter()
        .filter_map(|d| d.contact_crm_id.as_ref().map(ToString::to_string))
        .collect();
    subject.drafts = drafts.iter().map(|d| d.id.to_string()).collect();
    subject
}

/// Runs one step of the erasure plan on the in-memory collections; returns how many records
/// it touched.
fn erase_step(
    s: &mut StoreState,
    step: ErasureStep,
    subject: &ErasureSubject,
    email: &EmailAddress,
    now: DateTime<Utc>,
) -> u64 {
    let drafts = &subject.drafts;
    let subs = &subject.submissions;
    let of_draft = |id: &DraftId| drafts.contains(&id.to_string());
    let run_erased = |r: &WorkflowRun| {
        subs.contains(&r.submission_id.to_string()) || r.draft_id.as_ref().is_some_and(of_draft)
    };
    match step {
        ErasureStep::DraftEvents => remove_where(&mut s.draft_events, |e| of_draft(&e.draft_id)),
        ErasureStep::Drafts => remove_where(&mut s.drafts, |d| of_draft(&d.id)),
        ErasureStep::WorkflowSteps => s
            .runs
            .iter()
            .filter(|r| run_erased(r))
            .map(|r| r.steps.len() as u64)
            .sum(),
        ErasureStep::WorkflowRuns => remove_where(&mut s.runs, run_erased),
        ErasureStep::Submissions => {
            remove_where(&mut s.submissions, |x| subs.contains(&x.id.to_string()))
        }
        ErasureStep::Messages => remove_where(&mut s.messages, |m| {
            same_address(&m.contact_email, email) || m.draft_id.as_ref().is_some_and(of_draft)
        }),
        ErasureStep::Outcomes => remove_where(&mut s.outcomes, |o| {
            same_address(&o.contact_email, email)
                || o.sender.as_ref().is_some_and(|x| same_address(x, email))
        }),
        ErasureStep::SendLog => remove_where(&mut s.sends, |r| {
            r.contact == subject.address || r.sender == subject.address || of_draft(&r.draft_id)
        }),
        ErasureStep::Suppressions => {
            remove_where(&mut s.suppressions, |x| same_address(&x.email, email))
        }
        ErasureStep::ApprovedRecipients => {
            remove_where(&mut s.approved, |x| same_address(&x.email, email))
        }
        ErasureStep::VoiceProfiles => remove_where(&mut s.voice, |p| same_address(&p.owner, email)),
        ErasureStep::Sequences => {
            remove_where(&mut s.sequences, |q| same_address(&q.contact_email, email))
        }
        ErasureStep::OauthTokens => {
            let before = s.tokens.len();
            s.tokens
                .retain(|account, _| account.to_lowercase() != subject.address);
            (before - s.tokens.len()) as u64
        }
        ErasureStep::Jobs => remove_where(&mut s.jobs, |e| {
            subject.names_job(
                &e.job.payload.to_string(),
                e.job.last_error.as_deref().unwrap_or_default(),
                e.job.idempotency_key.as_deref().unwrap_or_default(),
            )
        }),
        ErasureStep::Settings => {
            let before = s.settings.len();
            s.settings.retain(|k, v| !subject.names_setting(k, v));
            (before - s.settings.len()) as u64
        }
        // Nothing is sealed in memory: no key to shred.
        ErasureStep::ContactKeys => 0,
        ErasureStep::ErasureTombstones => {
            let tomb = tombstone(email);
            if s.tombstones.iter().any(|(h, _)| *h == tomb) {
                0
            } else {
                s.tombstones.push((tomb, now));
                1
            }
        }
    }
}

#[async_trait]
impl AdminStore for MemoryStore {
    /// Executes the [erasure plan](crate::privacy::erasure) under the store's lock (nothing is
    /// sealed here, so there is no key to shred).
    async fn erase_contact(&self, email: &EmailAddress, actor: &str) -> Result<ErasureReport> {
        let now = self.now();
        let mut s = lock(&self.state);
        let subject = erasure_subject(&s, email);
        let mut tally = ErasureTally::new();
        for step in ErasureStep::PLAN {
            let n = erase_step(&mut s, step, &subject, email, now);
            tally.add(step, n);
        }
        let report = tally.finish();
        append(&mut s, now, &erasure_audit_entry(actor, &report));
        Ok(report)
    }

    async fn health(&self) -> Result<()> {
        Ok(())
    }
}

#[async_trait]
impl crate::ports::SequenceStore for MemoryStore {
    async fn get_sequence(
        &self,
        contact: &EmailAddress,
    ) -> Result<Option<crate::sequences::Sequence>> {
        Ok(lock(&self.state)
            .sequences
            .iter()
            .find(|q| same_address(&q.contact_email, contact))
            .cloned())
    }

    async fn save_sequence(
        &self,
        sequence: &crate::sequences::Sequence,
        expected_version: Option<u32>,
        jobs: &[NewJob],
    ) -> Result<()> {
        if jobs.iter().any(|j| j.kind.trim().is_empty()) {
            return Err(Error::invalid("kind", "is empty"));
        }
        if expected_version.is_some_and(|v| sequence.version <= v) {
            return Err(Error::invalid(
                "version",
                "must be past the expected version",
            ));
        }
        let now = self.now();
        let mut s = lock(&self.state);
        let pos = s
            .sequences
            .iter()
            .position(|q| same_address(&q.contact_email, &sequence.contact_email));
        match (pos, expected_version) {
            (Some(_), None) => {
                return Err(Error::conflict("the contact has a sequence already"));
            }
            (None, Some(_)) => return Err(Error::not_found("sequence")),
            (Some(i), Some(v)) if s.sequences[i].version != v => {
                return Err(Error::conflict(format!(
                    "sequence changed since version {v}"
                )));
            }
            (Some(i), Some(_)) => s.sequences[i] = sequence.clone(),
            (None, None) => s.sequences.push(sequence.clone()),
        }
        for job in jobs {
            enqueue(&mut s, now, job);
        }
        Ok(())
    }

    async fn list_sequences(
        &self,
        filter: &crate::sequences::SequenceFilter,
    ) -> Result<Vec<crate::sequences::Sequence>> {
        let s = lock(&self.state);
        let mut out: Vec<_> = s
            .sequences
            .iter()
            .filter(|q| filter.status.is_none_or(|st| q.status == st))
            .cloned()
            .collect();
        out.sort_by(|a, b| {
            b.updated_at.cmp(&a.updated_at).then_with(|| {
                a.contact_email
                    .normalized()
                    .cmp(&b.contact_email.normalized())
            })
        });
        out.truncate(limit_of(filter.limit));
        Ok(out)
    }
}
