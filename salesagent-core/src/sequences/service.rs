//! The sequences service: enrolment on a sent first e-mail, the durable step job, and the stop
//! and pause hooks the outcome detectors call.

use super::follow_up::{self, EarlierMessage, FollowUpInput};
use super::history::{self, Effect, SequenceOp};
use super::model::{Sequence, SequenceConfig, SequenceFilter, SequenceStatus, StopReason};
use super::ooo;
use super::rules::{self, Skip};
use super::schedule::morning_of;
use super::stats::{SequenceStats, compute_stats};
use crate::model::{
    Draft, DraftAction, DraftId, DraftStatus, EmailAddress, Job, NewJob, Outcome, OutcomeType,
    ThreadId,
};
use crate::outcomes::Classification;
use crate::ports::{
    DynClock, DynCrm, DynLlm, DynMailbox, DynStore, OutcomeFilter, SettingsStore, Store,
};
use crate::worker::{AutoApproveJob, JobDone, JobHandler, JobKind};
use crate::{Error, Result};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The job kind of a sequence's step timer.
pub const SEQUENCE_STEP: &str = "sequence_step";

/// The settings key under which [`Sequences::activate`] stores the running configuration: the
/// hooks in the outcome service read it, so a deployment that never activates sequences
/// enrols nobody and leaves no step jobs behind.
pub const CONFIG_KEY: &str = "sequences.config";

/// The actor recorded on drafts the sequences write or stop.
pub const ACTOR: &str = "system:sequences";

/// Payload of a [`SEQUENCE_STEP`] job: move the contact's sequence on (draft the next
/// follow-up when due, resume after a pause, notice a sent or rejected follow-up). Keyed by
/// sequence and generation; a job of an older generation does nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SequenceStepJob {
    /// The sequence.
    pub sequence_id: uuid::Uuid,
    /// Its contact.
    pub contact: EmailAddress,
    /// The generation the job was scheduled for.
    pub generation: u32,
}

impl JobKind for SequenceStepJob {
    const KIND: &'static str = SEQUENCE_STEP;
    fn idempotency_key(&self) -> Option<String> {
        Some(format!("sequence:{}:{}", self.sequence_id, self.generation))
    }
}

/// The step job of `seq`'s current generation, due when the sequence next needs looking at.
fn step_job(seq: &Sequence, now: DateTime<Utc>) -> Result<NewJob> {
    let at = match seq.status {
        SequenceStatus::Paused => seq.paused_until,
        _ => seq.next_due,
    }
    .unwrap_or(now);
    Ok(SequenceStepJob {
        sequence_id: seq.id,
        contact: seq.contact_email.clone(),
        generation: seq.generation,
    }
    .to_job()?
    .with_max_attempts(25)
    .run_at(at))
}

/// Reads the contact's sequence, applies `f` (a [`history::record`]) and writes it back at the
/// version read, with `extra` jobs; re-reads and tries again when someone else wrote first. `None` when the
/// contact has no sequence; the bool says whether `f` changed it.
async fn update(
    store: &dyn Store,
    contact: &EmailAddress,
    now: DateTime<Utc>,
    extra: &[NewJob],
    mut f: impl FnMut(&mut Sequence) -> Effect + Send,
) -> Result<Option<(Sequence, bool)>> {
    for _ in 0..8 {
        let Some(current) = store.get_sequence(contact).await? else {
            return Ok(None);
        };
        let mut next = current.clone();
        let change = f(&mut next);
        let mut jobs = Vec::new();
        match change {
            Effect::None => return Ok(Some((current, false))),
            Effect::Save => {}
            Effect::Reschedule => {
                next.generation += 1;
                if !next.status.is_finished() {
                    jobs.push(step_job(&next, now)?);
                }
            }
        }
        jobs.extend_from_slice(extra);
        next.version = current.version + 1;
        next.updated_at = now;
        match store
            .save_sequence(&next, Some(current.version), &jobs)
            .await
        {
            Ok(()) => return Ok(Some((next, true))),
            Err(Error::Conflict { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Err(Error::unavailable(
        "the sequence kept changing under concurrent writers; try again",
    ))
}

/// Stores `config` as the running sequence configuration (see [`CONFIG_KEY`]).
///
/// # Errors
/// `InvalidInput` for an invalid configuration; store errors.
pub async fn activate(store: &dyn SettingsStore, config: &SequenceConfig) -> Result<()> {
    config.validate()?;
    let json = serde_json::to_string(config).map_err(|e| Error::backend(e.to_string()))?;
    store.put_setting(CONFIG_KEY, &json).await
}

/// The running sequence configuration, `None` when sequences were never activated (an
/// unreadable value counts as none, with a warning).
///
/// # Errors
/// Store errors.
pub async fn active_config(store: &dyn SettingsStore) -> Result<Option<SequenceConfig>> {
    let Some(raw) = store.setting(CONFIG_KEY).await? else {
        return Ok(None);
    };
    match serde_json::from_str::<SequenceConfig>(&raw) {
        Ok(c) => Ok(Some(c)),
        Err(e) => {
            tracing::warn!(error = %e, "stored sequence configuration unreadable; sequences off");
            Ok(None)
        }
    }
}

fn config_zone(config: Option<&SequenceConfig>) -> Tz {
    config
        .and_then(|c| c.time_zone.as_deref())
        .and_then(crate::sending::policy::parse_time_zone)
        .unwrap_or(Tz::UTC)
}

/// The effect of a recorded outcome on the contact's sequence: `email_sent` enrols the contact
/// of a first e-mail or completes the step of a follow-up; a reply, a booked meeting, an
/// unsubscribe, a bounce, a new or advancing deal stop the sequence and discard its unsent
/// follow-up. Idempotent. Called by [`Outcomes::record`](crate::outcomes::Outcomes::record).
///
/// # Errors
/// Store errors.
pub async fn on_outcome(store: &dyn Store, outcome: &Outcome, now: DateTime<Utc>) -> Result<()> {
    if outcome.outcome_type == OutcomeType::EmailSent {
        if let Some(id) = outcome.draft_id {
            on_sent(store, id, now).await?;
        }
        return Ok(());
    }
    if let Some(reason) = rules::stop_reason_for(outcome.outcome_type) {
        stop_contact(store, &outcome.contact_email, reason, now).await?;
    }
    Ok(())
}

/// A draft was sent: the step of the sequence's pending follow-up is done, or a first e-mail
/// enrols its contact (when sequences are active and the rules allow). Idempotent.
///
/// # Errors
/// Store errors.
pub async fn on_sent(store: &dyn Store, draft_id: DraftId, now: DateTime<Utc>) -> Result<()> {
    let draft = match store.get_draft(draft_id).await {
        Ok(d) => d,
        Err(Error::NotFound { .. }) => return Ok(()),
        Err(e) => return Err(e),
    };
    if draft.status != DraftStatus::Sent {
        return Ok(());
    }
    let existing = store.get_sequence(&draft.contact_email).await?;
    let config = active_config(store).await?;
    if let Some(seq) = &existing
        && seq.pending_draft == Some(draft.id)
    {
        let tz = rules::zone_of(seq, config_zone(config.as_ref()));
        update(store, &draft.contact_email, now, &[], |s| {
            if rules::record_sent(s, &draft, tz, now) {
                Effect::Reschedule
            } else {
                Effect::None
            }
        })
        .await?;
        return Ok(());
    }
    let Some(config) = config else {
        return Ok(());
    };
    if existing.as_ref().is_some_and(|s| {
        s.messages.iter().any(|m| m.draft_id == draft.id) || s.drafts.contains(&draft.id)
    }) {
        return Ok(());
    }
    let tz = config_zone(Some(&config));
    match rules::enrol(&draft, &config, existing.as_ref(), tz, now) {
        Ok(seq) => {
            let job = step_job(&seq, now)?;
            match store
                .save_sequence(&seq, existing.as_ref().map(|s| s.version), &[job])
                .await
            {
                Ok(()) => {
                    tracing::info!(draft = %draft.id, sequence = %seq.id, "contact enrolled in the follow-up sequence");
                    Ok(())
                }
                // Enrolled by a concurrent call for the same send.
                Err(Error::Conflict { .. }) => Ok(()),
                Err(e) => Err(e),
            }
        }
        Err(skip) => {
            tracing::debug!(draft = %draft.id, ?skip, "not enrolled");
            Ok(())
        }
    }
}

/// Stops the contact's running or paused sequence with `reason` and discards its unsent
/// follow-up. Returns the sequence as stored (`None` when the contact has none).
///
/// # Errors
/// Store errors.
pub async fn stop_contact(
    store: &dyn Store,
    contact: &EmailAddress,
    reason: StopReason,
    now: DateTime<Utc>,
) -> Result<Option<Sequence>> {
    let mut pending = None;
    let label = reason.to_string();
    let result = update(store, contact, now, &[], |s| {
        pending = s.pending_draft;
        if rules::stop(s, reason.clone(), now) {
            Effect::Save
        } else {
            Effect::None
        }
    })
    .await?;
    // Also when it was stopped already: a crash may have come between the stop and the discard.
    if let (Some((seq, _)), Some(id)) = (&result, pending)
        && seq.status == SequenceStatus::Stopped
    {
        discard(store, id, &format!("sequence stopped: {label}"), now).await?;
    }
    Ok(result.map(|(s, _)| s))
}

/// An operator stops `contact`'s sequence by hand: [`stop_contact`] with reason `manual` naming
/// `actor`, then a `sequence.stop` audit entry (with `via` in its details when given). The one
/// path of the API, the operator page and the assistant. `None` when the contact has none.
///
/// # Errors
/// Store errors.
pub async fn stop_by_operator(
    store: &dyn Store,
    contact: &EmailAddress,
    actor: &str,
    via: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Option<Sequence>> {
    let reason = StopReason::Manual {
        actor: actor.to_owned(),
    };
    let Some(seq) = stop_contact(store, contact, reason, now).await? else {
        return Ok(None);
    };
    let mut details = serde_json::json!({ "status": seq.status });
    if let Some(via) = via {
        details["via"] = via.into();
    }
    store
        .append_audit(&crate::model::NewAuditEntry {
            actor: actor.to_owned(),
            action: "sequence.stop".to_owned(),
            subject: format!("sequence:{}", seq.id),
            details,
        })
        .await?;
    Ok(Some(seq))
}

/// Stops a follow-up draft that is still pending, approved or parked in the mailbox; one that
/// is being sent or was sent is left alone.
async fn discard(store: &dyn Store, id: DraftId, reason: &str, now: DateTime<Utc>) -> Result<()> {
    for _ in 0..3 {
        let mut d = match store.get_draft(id).await {
            Ok(d) => d,
            Err(Error::NotFound { .. }) => return Ok(()),
            Err(e) => return Err(e),
        };
        let action = DraftAction::Stop {
            reason: reason.to_owned(),
        };
        if !d.can_apply(&action) {
            return Ok(());
        }
        let expected = d.version;
        let event = d.apply(action, ACTOR, now)?;
        match store.update_draft(&d, expected, &event).await {
            Ok(()) => return Ok(()),
            Err(Error::Conflict { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// An automatic reply arrived from (or about) `contact`: when it is out-of-office, the
/// contact's sequence pauses until the return date it states (read in the recipient's zone),
/// or for the configured default (one week) when it states none, and its unsent follow-up is
/// discarded (written again after the pause). `source` identifies the message, so a rescan
/// pauses once. Anything else is left alone.
///
/// # Errors
/// Store errors.
pub async fn on_automatic_reply(
    store: &dyn Store,
    c: &Classification,
    contact: Option<&EmailAddress>,
    source: &str,
    received_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<()> {
    let Some(contact) = contact else {
        return Ok(());
    };
    if !ooo::is_out_of_office(c) {
        return Ok(());
    }
    let Some(seq) = store.get_sequence(contact).await? else {
        return Ok(());
    };
    if seq.status.is_finished() {
        return Ok(());
    }
    let config = active_config(store).await?.unwrap_or_default();
    let tz = rules::zone_of(&seq, config_zone(Some(&config)));
    let text = format!("{}\n{}", c.subject, c.new_text);
    let received_day = received_at.with_timezone(&tz).date_naive();
    let (until, reason) = match ooo::return_date(&text, received_day) {
        Some(day) => (morning_of(day, tz), format!("out of office, back {day}")),
        None => (
            received_at + chrono::Duration::days(i64::from(config.out_of_office_default_days)),
            format!(
                "out of office, no return date: {} days",
                config.out_of_office_default_days
            ),
        ),
    };
    // A follow-up already handed to the mailbox cannot be called back: the sequence keeps
    // waiting for it (its send moves the next step past the return date).
    let in_flight = match seq.pending_draft {
        Some(id) => match store.get_draft(id).await {
            Ok(d) => matches!(d.status, DraftStatus::Sending | DraftStatus::Sent),
            Err(Error::NotFound { .. }) => false,
            Err(e) => return Err(e),
        },
        None => false,
    };
    let mut pending = None;
    let result = update(store, contact, now, &[], |s| {
        pending = s.pending_draft;
        let op = SequenceOp::Paused {
            at: now,
            until,
            reason: reason.clone(),
            source: source.to_owned(),
            zone: tz.name().to_owned(),
            keep_pending: pending.filter(|_| in_flight),
        };
        history::record(s, op)
    })
    .await?;
    if let (Some((_, true)), Some(id)) = (result, pending) {
        discard(store, id, "sequence paused: out of office", now).await?;
    }
    Ok(())
}

/// The optional connectors of the sequences service: each one it has improves a follow-up
/// (a model writes it, the CRM names the contact's zone and country, the mailbox the Gmail
/// thread id); without them it still runs.
#[derive(Debug, Clone, Default)]
struct Connectors {
    llm: Option<DynLlm>,
    crm: Option<DynCrm>,
    mailbox: Option<DynMailbox>,
}

/// Runs the sequences: the [`SEQUENCE_STEP`] job handler, and the operator's view (state,
/// manual stop, statistics). Cheap to clone.
#[derive(Debug, Clone)]
pub struct Sequences {
    store: DynStore,
    clock: DynClock,
    config: SequenceConfig,
    connectors: Connectors,
    auto_approve: bool,
    recheck: Duration,
}

impl Sequences {
    /// A service over `store` following `config`; follow-ups written by template until
    /// [`Sequences::with_llm`].
    #[must_use]
    pub fn new(store: DynStore, clock: DynClock, config: SequenceConfig) -> Self {
        Self {
            store,
            clock,
            config,
            connectors: Connectors::default(),
            auto_approve: false,
            recheck: Duration::from_secs(24 * 3600),
        }
    }

    /// The service with one more connector, set by `plug`.
    fn connect(mut self, plug: impl FnOnce(&mut Connectors)) -> Self {
        plug(&mut self.connectors);
        self
    }

    /// Writes follow-ups with `llm` (the template when it fails).
    #[must_use]
    pub fn with_llm(self, llm: DynLlm) -> Self {
        self.connect(|c| c.llm = Some(llm))
    }

    /// Reads contacts' time zones (and countries, for their holidays) from `crm`.
    #[must_use]
    pub fn with_crm(self, crm: DynCrm) -> Self {
        self.connect(|c| c.crm = Some(crm))
    }

    /// Finds the provider's thread id (Gmail `threadId`) of sent messages in `mailbox`.
    #[must_use]
    pub fn with_mailbox(self, mailbox: DynMailbox) -> Self {
        self.connect(|c| c.mailbox = Some(mailbox))
    }

    /// Enqueues an [`AutoApproveJob`] for every follow-up drafted (set this when the worker
    /// runs the auto-approval rules).
    #[must_use]
    pub fn with_auto_approval(mut self, on: bool) -> Self {
        self.auto_approve = on;
        self
    }

    /// How often a drafted follow-up waiting for approval or sending is looked at (default one
    /// day; a send moves the sequence on at once).
    #[must_use]
    pub fn with_recheck(mut self, every: Duration) -> Self {
        self.recheck = every;
        self
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &SequenceConfig {
        &self.config
    }

    /// Stores the configuration as the running one, so sent first e-mails enrol their contacts
    /// (see [`CONFIG_KEY`]). Call at start-up.
    ///
    /// # Errors
    /// `InvalidInput` for an invalid configuration; store errors.
    pub async fn activate(&self) -> Result<()> {
        activate(&*self.store, &self.config).await
    }

    /// The contact's sequence, if any.
    ///
    /// # Errors
    /// Store errors.
    pub async fn get(&self, contact: &EmailAddress) -> Result<Option<Sequence>> {
        self.store.get_sequence(contact).await
    }

    /// Stops the contact's sequence by hand (`actor`: `operator:alice`, `cli`, `assistant`) and
    /// discards its unsent follow-up; a finished sequence is returned unchanged.
    ///
    /// # Errors
    /// `NotFound` when the contact has no sequence; store errors.
    pub async fn stop(&self, contact: &EmailAddress, actor: &str) -> Result<Sequence> {
        let reason = StopReason::Manual {
            actor: crate::model::clean_line(actor),
        };
        stop_contact(&*self.store, contact, reason, self.clock.now())
            .await?
            .ok_or_else(|| Error::not_found(format!("sequence of {contact}")))
    }

    /// Sequences matching `filter`.
    ///
    /// # Errors
    /// Store errors.
    pub async fn list(&self, filter: &SequenceFilter) -> Result<Vec<Sequence>> {
        self.store.list_sequences(filter).await
    }

    /// Figures per step over every stored sequence.
    ///
    /// # Errors
    /// Store errors.
    pub async fn stats(&self) -> Result<SequenceStats> {
        let all = self
            .store
            .list_sequences(&SequenceFilter::default())
            .await?;
        Ok(compute_stats(&all))
    }

    fn zone(&self, seq: &Sequence) -> Tz {
        rules::zone_of(seq, config_zone(Some(&self.config)))
    }

    /// The stop an outcome recorded since enrolment (or a suppression) calls for, in case its
    /// hook did not run (a crash between the outcome and the sequence write).
    async fn missed_stop(&self, seq: &Sequence) -> Result<Option<StopReason>> {
        let outcomes = self
            .store
            .list_outcomes(&OutcomeFilter {
                contact: Some(seq.contact_email.clone()),
                ..OutcomeFilter::default()
            })
            .await?;
        if let Some(r) = outcomes
            .iter()
            .filter(|o| o.recorded_at >= seq.enrolled_at)
            .find_map(|o| rules::stop_reason_for(o.outcome_type))
        {
            return Ok(Some(r));
        }
        Ok(self
            .store
            .suppression(&seq.contact_email)
            .await?
            .map(|_| StopReason::Suppressed))
    }

    /// One run of a step job (see [`SequenceStepJob`]).
    ///
    /// # Errors
    /// Store errors (the job is retried); a model failure is not one (the template writes).
    pub async fn tick(&self, job: &SequenceStepJob) -> Result<JobDone> {
        let now = self.clock.now();
        let store = &*self.store;
        for _ in 0..6 {
            let Some(seq) = store.get_sequence(&job.contact).await? else {
                return Ok(JobDone::Complete);
            };
            if seq.id != job.sequence_id
                || seq.generation != job.generation
                || seq.status.is_finished()
            {
                return Ok(JobDone::Complete);
            }
            if !seq.time_zone_checked
                && let Some(crm) = &self.connectors.crm
            {
                let op = self.zone_check(crm, &seq.contact_email, now).await?;
                update(store, &seq.contact_email, now, &[], |s| {
                    history::record(s, op.clone())
                })
                .await?;
                continue;
            }
            let tz = self.zone(&seq);
            if let Some(reason) = self.missed_stop(&seq).await? {
                stop_contact(store, &seq.contact_email, reason, now).await?;
                return Ok(JobDone::Complete);
            }
            if seq.status == SequenceStatus::Paused {
                if let Some(until) = seq.paused_until
                    && now < until
                {
                    return Ok(JobDone::RunAgainAt(until));
                }
                update(store, &seq.contact_email, now, &[], |s| {
                    if rules::resume(s, tz, now) {
                        Effect::Save
                    } else {
                        Effect::None
                    }
                })
                .await?;
                continue;
            }
            if let Some(id) = seq.pending_draft {
                return self.watch_pending(&seq, id, tz, now).await;
            }
            let Some(due) = rules::due_at(&seq, tz) else {
                return Ok(JobDone::Complete);
            };
            if now < due {
                return Ok(JobDone::RunAgainAt(due));
            }
            self.draft_follow_up(&seq, now).await?;
            return Ok(JobDone::RunAgainAt(now + chrono_delta(self.recheck)));
        }
        Err(Error::unavailable(
            "sequence kept changing; step job will retry",
        ))
    }

    /// The sequence waits for its drafted follow-up: sent moves it on, rejected or failed stops
    /// it, anything else is looked at again later.
    async fn watch_pending(
        &self,
        seq: &Sequence,
        id: DraftId,
        tz: Tz,
        now: DateTime<Utc>,
    ) -> Result<JobDone> {
        let store = &*self.store;
        let draft = match store.get_draft(id).await {
            Ok(d) => d,
            Err(Error::NotFound { .. }) => {
                // Erased or never stored: write it again.
                let op = SequenceOp::PendingLost { at: now, draft: id };
                update(store, &seq.contact_email, now, &[], |s| {
                    history::record(s, op.clone())
                })
                .await?;
                return Ok(JobDone::Complete);
            }
            Err(e) => return Err(e),
        };
        match draft.status {
            DraftStatus::Sent => {
                update(store, &seq.contact_email, now, &[], |s| {
                    if rules::record_sent(s, &draft, tz, now) {
                        Effect::Reschedule
                    } else {
                        Effect::None
                    }
                })
                .await?;
                Ok(JobDone::Complete)
            }
            DraftStatus::Rejected => {
                stop_contact(store, &seq.contact_email, StopReason::FollowUpRejected, now).await?;
                Ok(JobDone::Complete)
            }
            DraftStatus::Failed => {
                stop_contact(store, &seq.contact_email, StopReason::SendFailed, now).await?;
                Ok(JobDone::Complete)
            }
            _ => Ok(JobDone::RunAgainAt(now + chrono_delta(self.recheck))),
        }
    }

    /// The [`SequenceOp::ZoneChecked`] of `contact` from what `crm` knows: its zone (when
    /// valid), its country and the holidays that come with it.
    async fn zone_check(
        &self,
        crm: &DynCrm,
        contact: &EmailAddress,
        now: DateTime<Utc>,
    ) -> Result<SequenceOp> {
        let found = match crm.find_contact_by_email(contact).await {
            Ok(c) => c,
            Err(e) if e.is_retryable() => return Err(e),
            Err(_) => None,
        };
        let zone = found
            .as_ref()
            .and_then(|c| c.time_zone.clone())
            .filter(|z| crate::sending::policy::parse_time_zone(z).is_some());
        let country = found
            .and_then(|c| c.properties.get("country").cloned())
            .map(|c| crate::model::clean_line(&c))
            .filter(|c| !c.is_empty());
        Ok(SequenceOp::ZoneChecked {
            at: now,
            zone,
            holidays: self.config.holidays_for(country.as_deref()),
            country,
            fallback: config_zone(Some(&self.config)).name().to_owned(),
        })
    }

    /// Writes the next step's follow-up and records it as pending, in that order: the draft's
    /// id is derived from the sequence's generation and step, so a second run stores no second
    /// draft, and a draft written for a sequence that stopped meanwhile is discarded.
    async fn draft_follow_up(&self, seq: &Sequence, now: DateTime<Utc>) -> Result<()> {
        let Some(step) = seq.next_step() else {
            return Ok(());
        };
        let Some((first, thread)) = self.thread_so_far(seq).await? else {
            // The thread was erased: nothing to follow up on.
            let erased = StopReason::Manual {
                actor: "erasure".to_owned(),
            };
            stop_contact(&*self.store, &seq.contact_email, erased, now).await?;
            return Ok(());
        };
        let mut seq = seq.clone();
        if seq.provider_thread_id.is_none() {
            seq.provider_thread_id = self.provider_thread_id(&seq).await;
        }
        let input = FollowUpInput {
            first_name: first
                .contact_name
                .as_deref()
                .and_then(|n| n.split_whitespace().next())
                .map(str::to_owned),
            company: first.company_name.clone(),
            purpose: step.purpose,
            step: seq.sent_steps + 1,
            steps: u32::try_from(seq.plan.len()).unwrap_or(u32::MAX),
            thread,
            signature: follow_up::signature_of(&first.body),
        };
        let (body, writer) = follow_up::write_body(self.connectors.llm.as_deref(), &input).await;
        let draft = follow_up::follow_up_draft(&seq, &first, body, writer, now);
        self.store_draft(&draft).await?;
        self.claim_pending(&seq, draft.id, now).await
    }

    /// The first e-mail's draft and every message sent in the thread so far (what the writer
    /// is shown); `None` when the thread was erased.
    async fn thread_so_far(&self, seq: &Sequence) -> Result<Option<(Draft, Vec<EarlierMessage>)>> {
        let mut thread = Vec::new();
        let mut first: Option<Draft> = None;
        for m in &seq.messages {
            match self.store.get_draft(m.draft_id).await {
                Ok(d) => {
                    thread.push(EarlierMessage {
                        sent_at: m.sent_at,
                        subject: d.subject.clone(),
                        body: d.body.clone(),
                    });
                    first.get_or_insert(d);
                }
                Err(Error::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(first.map(|f| (f, thread)))
    }

    /// The provider's thread id of the first e-mail, asked of the mailbox (`None` without one,
    /// or when the lookup fails: the follow-up is then threaded by its headers only).
    async fn provider_thread_id(&self, seq: &Sequence) -> Option<ThreadId> {
        let (mailbox, m) = (self.connectors.mailbox.as_ref()?, seq.messages.first()?);
        match mailbox.find_sent(&m.message_id).await {
            Ok(found) => found.and_then(|s| s.thread_id),
            Err(e) => {
                tracing::debug!(error = %e, "thread id lookup failed; threading by headers only");
                None
            }
        }
    }

    /// Stores the follow-up draft; one stored by an earlier run (same id) is kept.
    async fn store_draft(&self, draft: &Draft) -> Result<()> {
        match self
            .store
            .insert_draft(draft, &draft.created_event(ACTOR))
            .await
        {
            Ok(()) | Err(Error::Conflict { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Records `draft` as the pending follow-up of `seq`'s generation (with its auto-approval
    /// job when the rules run), or discards it when the sequence changed meanwhile.
    async fn claim_pending(
        &self,
        seq: &Sequence,
        draft: DraftId,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let store = &*self.store;
        let extra = if self.auto_approve {
            vec![AutoApproveJob { draft_id: draft }.to_job()?]
        } else {
            Vec::new()
        };
        let op = SequenceOp::Drafted {
            at: now,
            draft,
            generation: seq.generation,
            provider_thread_id: seq.provider_thread_id.clone(),
        };
        let result = update(store, &seq.contact_email, now, &extra, |s| {
            history::record(s, op.clone())
        })
        .await?;
        let ours = result
            .as_ref()
            .is_some_and(|(s, _)| s.pending_draft == Some(draft));
        if ours {
            tracing::info!(%draft, step = seq.sent_steps + 1, "follow-up drafted");
        } else {
            discard(store, draft, "sequence changed while drafting", now).await?;
        }
        Ok(())
    }
}

fn chrono_delta(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::days(1))
}

#[async_trait]
impl JobHandler for Sequences {
    fn kind(&self) -> &str {
        SEQUENCE_STEP
    }
    async fn run(&self, job: &Job) -> Result<JobDone> {
        let p = SequenceStepJob::from_job(job)?;
        self.tick(&p).await
    }
}

/// `Skip` is reported in logs only.
impl std::fmt::Display for Skip {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Disabled => "sequences are off",
            Self::NotFirst => "not a first e-mail",
            Self::NoMessageId => "no Message-ID",
            Self::AlreadyEnrolled => "already in a sequence",
            Self::Refused => "an earlier sequence ended with an unsubscribe or bounce",
        })
    }
}
