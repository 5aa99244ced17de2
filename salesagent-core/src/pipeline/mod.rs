//! The form → draft pipeline, over the ports.
//!
//! ```text
//! resolve_contact ──▶ ┌ mail_history     ┐
//!   (CRM find or      │ drive_assets     │
//!    create)          │ company_lookup ─▶ company_analysis (LLM)
//!                     │ meeting_slots    │ ──▶ draft (LLM, else template) ──▶ store draft, run,
//!                     └ voice_profile    ┘     icp_score (beside it)         audit entry and the
//!                                                                            CRM follow-up job
//!                                                                            in one atomic write
//! ```
//!
//! Every step runs under its own timeout (`tokio::time`, so a paused test clock works) and leaves
//! a [`StepRecord`] in the [`WorkflowRun`]. Only storing the draft is required: every other step
//! degrades — the draft is still written, with the reason recorded on the run and as a
//! [`DraftFlag::Degraded`] on the draft. The model's answer is checked against the limits the
//! prompt states and [grounded](crate::prompt::grounding) in the facts it was given (invented
//! links removed, invented figures, dates and names refused, the facts used recorded), then
//! framed in the sender's own greeting and sign-off ([`voice::frame`]). Without a usable model
//! answer (error, timeout, invalid or ungrounded twice, or the offline template model) the
//! [template writer](crate::writer) writes the draft, flagged [`DraftFlag::TemplateWritten`],
//! with a typed [`TemplateReason`]; either way the draft carries a [`DraftingReport`] (facts
//! used, repairs, voice profile, reason).
//!
//! The voice profile is the sender's own: the one [`PipelineConfig::voice_profiles`] names for
//! the sender, else [`PipelineConfig::voice_profile`], else their newest. The prompt gets its
//! greeting and sign-off, typical length, [style guide](voice::style_guide) and a few exemplar
//! sentences of the sender's own mail. When the sender's voice profile was learned from mail, the
//! draft body is scored against it ([`crate::voice::similarity`]) into
//! [`Draft::voice_similarity`], and a score under [`PipelineConfig::voice_threshold`] adds
//! [`DraftFlag::LowVoiceSimilarity`]; without a profile (or one without learned statistics)
//! there is no score and no flag. CRM writes (task, note with the draft preview, ICP score and
//! segment as contact properties) happen in a separate [`kinds::CRM_FOLLOW_UP`] job, so a CRM
//! outage delays them but never loses a draft. The draft, its run, the audit entry of its
//! creation and the follow-up job are stored in one atomic write
//! ([`DraftStore::insert_draft_record`](crate::ports::DraftStore::insert_draft_record)).
//!
//! Idempotency: one draft per submission. [`Pipeline::submit`] deduplicates by the submission's
//! idempotency key; [`Pipeline::run`] returns the existing draft when there is one, serialises
//! concurrent runs of one submission in this process, and treats the store's one-draft-per-
//! submission `Conflict` as "someone else finished first" across processes.

mod context;
mod drafting;
pub mod graph;

use crate::model::{
    Company, Contact, CrmId, Draft, DraftFlag, DraftId, DraftWriter, DraftingReport, EmailAddress,
    FormSubmission, JobId, NewAuditEntry, NewContact, NewJob, NewNote, NewTask, RunId, RunStatus,
    StepRecord, StepStatus, SubmissionId, SubmissionSource, TemplateReason, VoiceProfile,
    WorkflowRun, kinds, validate_body, validate_subject,
};
use crate::ports::{
    Clock as _, DynCalendar, DynClock, DynCrm, DynDrive, DynLlm, DynMailbox, DynStore,
    NewDraftRecord,
};
use crate::prompt::{
    self, CompanyAnalysis, CompanyInput, DraftInput, DraftOutput, LeadData, SenderData,
};
use crate::scoring::{IcpAssessment, IcpInput, IcpRules};
use crate::slots::{MeetingSlot, SlotRules, parse_zone};
use crate::voice::{Score, SimilarityThreshold};
use crate::{Error, Result, voice, writer};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The ports a pipeline works over.
#[derive(Debug, Clone)]
pub struct Ports {
    /// The CRM.
    pub crm: DynCrm,
    /// The sender's mailbox.
    pub mailbox: DynMailbox,
    /// The asset drive.
    pub drive: DynDrive,
    /// The sender's calendar.
    pub calendar: DynCalendar,
    /// The language model.
    pub llm: DynLlm,
    /// The store.
    pub store: DynStore,
    /// The clock.
    pub clock: DynClock,
}

/// Per-step deadlines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StepTimeouts {
    /// CRM contact lookup/creation.
    pub resolve_contact: Duration,
    /// Mailbox search.
    pub mail_history: Duration,
    /// Drive search.
    pub drive_assets: Duration,
    /// CRM company lookup.
    pub company_lookup: Duration,
    /// LLM company analysis.
    pub company_analysis: Duration,
    /// Calendar free/busy.
    pub meeting_slots: Duration,
    /// Voice profile from the store.
    pub voice_profile: Duration,
    /// LLM draft, including the one repair retry.
    pub draft: Duration,
    /// Storing the draft, run and audit entry and enqueueing the follow-up.
    pub store: Duration,
}

impl Default for StepTimeouts {
    fn default() -> Self {
        let s = Duration::from_secs;
        Self {
            resolve_contact: s(10),
            mail_history: s(10),
            drive_assets: s(10),
            company_lookup: s(10),
            company_analysis: s(30),
            meeting_slots: s(10),
            voice_profile: s(5),
            draft: s(60),
            store: s(15),
        }
    }
}

/// How a pipeline behaves.
#[derive(Debug, Clone, PartialEq)]
pub struct PipelineConfig {
    /// The mailbox drafts go out from.
    pub sender: EmailAddress,
    /// The sender's display name (signature).
    pub sender_name: String,
    /// The sender's company.
    pub sender_company: String,
    /// Name of the voice profile to use when [`PipelineConfig::voice_profiles`] names none for
    /// the sender; when the sender has no profile of this name either, their most recently
    /// updated profile is used.
    pub voice_profile: String,
    /// The voice profile to use per sender address (`sam@example.com` → `sam-sales`), as the
    /// settings give it. A sender named here gets exactly that profile of theirs (none if it
    /// does not exist); profiles are always the sender's own, never another person's.
    pub voice_profiles: BTreeMap<String, String>,
    /// Drafts whose voice similarity falls below this are flagged (default 0.6).
    pub voice_threshold: SimilarityThreshold,
    /// Step deadlines.
    pub timeouts: StepTimeouts,
    /// Meeting-slot rules.
    pub slots: SlotRules,
    /// ICP rules.
    pub icp: IcpRules,
    /// Earlier messages to look at.
    pub mail_history_limit: u32,
    /// Drive assets to look at.
    pub drive_limit: u32,
    /// When the CRM review task is due after the draft is written.
    pub follow_up_due: Duration,
    /// Attempts of the follow-up job before it is dead-lettered.
    pub follow_up_attempts: u32,
    /// How drafting asks the model: `auto` (JSON, then prose for a model whose JSON drafts
    /// fail), `json` or `prose` ([`prompt::DraftFormat`]; settings `llm.draft_format`).
    pub draft_format: prompt::DraftFormat,
}

impl PipelineConfig {
    /// Defaults for `sender`; the company is named after the sender's domain.
    #[must_use]
    pub fn new(sender: EmailAddress) -> Self {
        let name = sender.name_from_local_part();
        // Nothing names the company: the sender's domain does (`sam@acme-robotics.com` writes
        // for "Acme Robotics"); set `sender_company` to change it.
        let company = sender.domain().organisation_name();
        Self {
            sender,
            sender_name: name,
            sender_company: company,
            voice_profile: "default".to_owned(),
            voice_profiles: BTreeMap::new(),
            voice_threshold: SimilarityThreshold::default(),
            timeouts: StepTimeouts::default(),
            slots: SlotRules::default(),
            icp: IcpRules::default(),
            mail_history_limit: 5,
            drive_limit: 3,
            follow_up_due: Duration::from_secs(24 * 3600),
            follow_up_attempts: 10,
            draft_format: prompt::DraftFormat::default(),
        }
    }
}

impl PipelineConfig {
    /// The profile name set for `sender` in [`PipelineConfig::voice_profiles`] (addresses
    /// compared case-insensitively), if any.
    #[must_use]
    pub fn voice_profile_for(&self, sender: &EmailAddress) -> Option<&str> {
        self.voice_profiles
            .iter()
            .find(|(k, _)| {
                EmailAddress::parse(k).is_ok_and(|a| a.same_mailbox(sender))
                    || k.trim().eq_ignore_ascii_case(&sender.to_string())
            })
            .map(|(_, v)| v.as_str())
    }
}

/// What [`Pipeline::submit`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Submitted {
    /// The stored submission (the first one, for a duplicate).
    pub submission_id: SubmissionId,
    /// The pipeline job (the first one, for a duplicate).
    pub job_id: JobId,
    /// False when this was a duplicate delivery.
    pub new: bool,
}

/// Payload of a [`kinds::PIPELINE`] job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PipelineJob {
    /// The submission to process.
    pub submission_id: SubmissionId,
}

impl PipelineJob {
    /// The one pipeline job of a stored submission: kind [`kinds::PIPELINE`], keyed
    /// `pipeline:` + the submission's idempotency key, so intake, `cli submit` and
    /// [`Pipeline::submit`] never make two jobs for one lead.
    #[must_use]
    pub fn for_submission(submission: &FormSubmission) -> NewJob {
        NewJob::new(
            kinds::PIPELINE,
            serde_json::json!({ "submission_id": submission.id }),
        )
        .with_key(format!("pipeline:{}", submission.idempotency_key))
    }
}

/// Payload of a [`kinds::CRM_CONTACT_EVENT`] job: a CRM said a contact was created or changed;
/// the worker reads the contact and submits it ([`Pipeline::contact_event`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CrmContactEventJob {
    /// The contact's CRM id.
    pub contact_id: CrmId,
    /// The event's idempotency key (becomes the submission's key).
    pub idempotency_key: String,
    /// When the event happened, if the CRM said.
    #[serde(default)]
    pub occurred_at: Option<chrono::DateTime<chrono::Utc>>,
    /// The event exactly as received (kept as the submission's raw payload).
    pub raw: String,
    /// The submission source to record.
    #[serde(default = "hubspot_event_source")]
    pub source: SubmissionSource,
}

fn hubspot_event_source() -> SubmissionSource {
    SubmissionSource::HubspotEvent
}

impl CrmContactEventJob {
    /// The durable job: kind [`kinds::CRM_CONTACT_EVENT`], keyed by the event's idempotency
    /// key, so enqueueing a redelivered event returns the first job.
    ///
    /// # Errors
    /// `Backend` if the payload cannot be serialised (it always can).
    pub fn to_job(&self) -> Result<NewJob> {
        let payload = serde_json::to_value(self).map_err(|e| Error::backend(e.to_string()))?;
        Ok(NewJob::new(kinds::CRM_CONTACT_EVENT, payload).with_key(self.idempotency_key.clone()))
    }
}

/// Payload of a [`kinds::CRM_FOLLOW_UP`] job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FollowUp {
    /// The draft.
    pub draft_id: DraftId,
    /// The company to associate the contact with, when known.
    #[serde(default)]
    pub company_id: Option<CrmId>,
    /// Contact properties to write (ICP score and segment).
    #[serde(default)]
    pub properties: BTreeMap<String, String>,
}

/// CRM contact property names written by the follow-up job.
pub mod properties {
    /// ICP score 0..=100.
    pub const ICP_SCORE: &str = "salesagent_icp_score";
    /// ICP tier A..D.
    pub const ICP_TIER: &str = "salesagent_icp_tier";
    /// Industry segment.
    pub const INDUSTRY_SEGMENT: &str = "salesagent_industry_segment";
    /// Company size band.
    pub const SIZE_BAND: &str = "salesagent_size_band";
}

/// The audit entry recording the creation of `draft` by `run`.
fn creation_audit(draft: &Draft, run: &WorkflowRun) -> NewAuditEntry {
    NewAuditEntry {
        actor: ACTOR.to_owned(),
        action: "draft.create".to_owned(),
        subject: draft.id.to_string(),
        details: serde_json::json!({
            "submission_id": run.submission_id,
            "run_id": run.id,
            "writer": match &draft.writer {
                DraftWriter::Llm { .. } => "llm",
                DraftWriter::Template { .. } => "template",
                DraftWriter::Human => "human",
            },
            "icp_score": draft.icp.as_ref().map(|i| i.score),
            "degraded_steps": run
                .steps
                .iter()
                .filter(|s| s.status == StepStatus::Degraded)
                .map(|s| s.name.as_str())
                .collect::<Vec<_>>(),
        }),
    }
}

/// One line without control or bidi-override characters, for names shown to operators and
/// put in headers.
fn display_safe(s: &str) -> String {
    crate::model::clean_line(
        &s.chars()
            .filter(|c| !writer::is_bidi_control(*c))
            .collect::<String>(),
    )
}

/// Actor name used in draft events and audit entries.
pub const ACTOR: &str = "system:pipeline";

/// The form → draft pipeline. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct Pipeline {
    ports: Ports,
    config: PipelineConfig,
    inflight: Mutex<HashMap<SubmissionId, Arc<tokio::sync::Mutex<()>>>>,
    /// What `auto` drafting learnt about the model.
    auto_format: drafting::AutoFormat,
}

/// The parallel phase's results.
#[derive(Default)]
struct Gathered {
    contact: Option<Contact>,
    company: Option<Company>,
    analysis: Option<CompanyAnalysis>,
    mail: Vec<prompt::Fact>,
    drive: Vec<prompt::Fact>,
    slots: Vec<MeetingSlot>,
    voice: Option<VoiceProfile>,
}

/// What the drafting step produced.
struct Written {
    output: DraftOutput,
    writer: DraftWriter,
    repairs: Vec<String>,
    template_reason: Option<TemplateReason>,
    model: Option<String>,
    /// The format the model wrote in (`json` or `prose`), for a model's draft.
    format: Option<prompt::DraftFormat>,
}

/// Steps and flags collected while a run goes.
struct RunLog {
    run: WorkflowRun,
    flags: Vec<DraftFlag>,
}

impl RunLog {
    /// Records `rec`; on error marks it degraded (drafting continues without it) and returns None.
    fn settle<T>(&mut self, mut rec: StepRecord, res: Result<T>, without: &str) -> Option<T> {
        match res {
            Ok(v) => {
                self.run.steps.push(rec);
                Some(v)
            }
            Err(e) => {
                rec.status = StepStatus::Degraded;
                rec.degraded_reason = Some(format!("drafted without {without}"));
                self.flags.push(DraftFlag::Degraded {
                    reason: format!("{}: {e}", rec.name),
                });
                self.run.steps.push(rec);
                None
            }
        }
    }

    fn skipped(&mut self, name: &str, at: chrono::DateTime<chrono::Utc>, why: &str) {
        self.run.steps.push(StepRecord {
            name: name.to_owned(),
            status: StepStatus::Skipped,
            started_at: at,
            finished_at: Some(at),
            duration_ms: Some(0),
            error: None,
            degraded_reason: Some(why.to_owned()),
        });
    }
}

impl Pipeline {
    /// A pipeline over `ports` configured by `config`.
    #[must_use]
    pub fn new(ports: Ports, config: PipelineConfig) -> Self {
        Self {
            ports,
            config,
            inflight: Mutex::new(HashMap::new()),
            auto_format: drafting::AutoFormat::default(),
        }
    }

    /// The ports.
    #[must_use]
    pub fn ports(&self) -> &Ports {
        &self.ports
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &PipelineConfig {
        &self.config
    }

    /// Stores a submission (deduplicated by idempotency key) and enqueues its pipeline job
    /// (deduplicated too). Safe to call again after a failure.
    pub async fn submit(&self, submission: &FormSubmission) -> Result<Submitted> {
        let (stored, new) = self.ports.store.save_submission(submission).await?;
        let (job, _) = self
            .ports
            .store
            .enqueue(&PipelineJob::for_submission(&stored))
            .await?;
        Ok(Submitted {
            submission_id: stored.id,
            job_id: job.id,
            new,
        })
    }

    /// Handles a CRM contact event: reads the contact from the CRM by id (under the
    /// `resolve_contact` timeout), builds its submission
    /// ([`FormSubmission::from_crm_contact`]) and [submits](Pipeline::submit) it, which
    /// enqueues the pipeline job. Idempotent by the event's key.
    ///
    /// # Errors
    /// The CRM's errors (`NotFound` for an unknown contact, which is permanent; `Unsupported`
    /// for a CRM that cannot read contacts by id), `Timeout`, `InvalidInput` for a contact
    /// that does not make a lead, and store errors.
    pub async fn contact_event(&self, event: &CrmContactEventJob) -> Result<Submitted> {
        let limit = self.config.timeouts.resolve_contact;
        let contact = crate::layers::bounded(
            limit,
            "crm get_contact",
            self.ports.crm.get_contact(&event.contact_id),
        )
        .await?;
        let submission = FormSubmission::from_crm_contact(
            &contact,
            event.source,
            &event.idempotency_key,
            event.occurred_at,
            self.ports.clock.now(),
            event.raw.clone(),
        )?;
        self.submit(&submission).await
    }

    /// Stores `submission` and runs the pipeline now, without the queue. Returns the draft id.
    pub async fn process(&self, submission: &FormSubmission) -> Result<DraftId> {
        let (stored, new) = self.ports.store.save_submission(submission).await?;
        let id = stored.id;
        // A submission this call just stored has no draft yet, so the run need not look for
        // one or read the submission back; a concurrent run of it elsewhere still meets the
        // store's one-draft-per-submission rule.
        self.gated(id, new.then_some(stored)).await
    }

    /// Runs the pipeline for a stored submission and returns its draft id; the existing draft's
    /// id when it already has one.
    ///
    /// Errors: `NotFound` for an unknown submission; store errors when the draft cannot be
    /// stored (retryable ones are worth retrying: no draft was lost, none is duplicated).
    pub async fn run(&self, submission_id: SubmissionId) -> Result<DraftId> {
        self.gated(submission_id, None).await
    }

    /// Runs the pipeline for a submission, one run per submission at a time in this process;
    /// `fresh` is the submission when the caller has just stored it.
    async fn gated(
        &self,
        submission_id: SubmissionId,
        fresh: Option<FormSubmission>,
    ) -> Result<DraftId> {
        let gate = {
            let mut map = self
                .inflight
                .lock()
                .map_err(|_| Error::backend("pipeline gate poisoned"))?;
            map.entry(submission_id).or_default().clone()
        };
        let result = {
            let _held = gate.lock().await;
            self.run_exclusive(submission_id, fresh).await
        };
        if let Ok(mut map) = self.inflight.lock() {
            // Map + our clone = 2: nobody else is waiting on this submission.
            if Arc::strong_count(&gate) <= 2 {
                map.remove(&submission_id);
            }
        }
        result
    }

    async fn run_exclusive(
        &self,
        submission_id: SubmissionId,
        fresh: Option<FormSubmission>,
    ) -> Result<DraftId> {
        let store = &self.ports.store;
        let submission = match fresh {
            Some(submission) => submission,
            None => {
                if let Some(existing) = store.find_draft_by_submission(submission_id).await? {
                    self.ensure_follow_up(&existing).await?;
                    return Ok(existing.id);
                }
                store.get_submission(submission_id).await?
            }
        };
        let mut log = RunLog {
            run: WorkflowRun {
                id: RunId::new(),
                submission_id,
                draft_id: None,
                status: RunStatus::Running,
                started_at: self.ports.clock.now(),
                finished_at: None,
                steps: Vec::with_capacity(12),
            },
            flags: Vec::new(),
        };
        match self.execute(&submission, &mut log).await {
            Ok(id) => Ok(id),
            Err(e) => {
                log.run.status = RunStatus::Failed;
                log.run.finished_at = Some(self.ports.clock.now());
                if let Err(save) = store.save_run(&log.run).await {
                    tracing::warn!(run = %log.run.id, error = %save, "could not save failed run");
                }
                Err(e)
            }
        }
    }

    /// Runs `fut` as step `name` under `limit`, timing it.
    async fn step<T>(
        &self,
        name: &str,
        limit: Duration,
        fut: impl Future<Output = Result<T>>,
    ) -> (StepRecord, Result<T>) {
        let started_at = self.ports.clock.now();
        let t0 = tokio::time::Instant::now();
        let res = crate::layers::bounded(limit, name, fut).await;
        let elapsed = u64::try_from(t0.elapsed().as_millis()).unwrap_or(u64::MAX);
        let rec = StepRecord {
            name: name.to_owned(),
            status: if res.is_ok() {
                StepStatus::Ok
            } else {
                StepStatus::Failed
            },
            started_at,
            finished_at: Some(self.ports.clock.now()),
            duration_ms: Some(elapsed),
            error: res.as_ref().err().map(ToString::to_string),
            degraded_reason: None,
        };
        (rec, res)
    }

    async fn execute(&self, submission: &FormSubmission, log: &mut RunLog) -> Result<DraftId> {
        let g = self.gather(submission, log).await;
        let (input, written, icp) = self.write_and_score(submission, &g, log).await;
        // Phase 4: store the draft with its run, audit entry and follow-up job, atomically.
        let draft = self.build_draft(submission, &g, &input, written, &icp, log);
        let t = self.config.timeouts;
        let follow_up = self.follow_up_payload(&draft, &g, &icp);
        self.store(&draft, &follow_up, log, t.store).await
    }

    /// Phases 1 and 2 of `execute`: the contact, mail history, Drive assets, company
    /// context, meeting slots and voice profile, each step settled into `log`.
    async fn gather(&self, submission: &FormSubmission, log: &mut RunLog) -> Gathered {
        let t = self.config.timeouts;
        let lead = &submission.lead;

        // Phase 1: everything that needs only the submission starts at once; the contact is
        // handed to the steps that read it (the meeting slots, and the company lookup of a
        // free-mail lead or one whose domain the CRM does not know) when it is resolved.
        let (contact_tx, contact_rx) = tokio::sync::oneshot::channel::<Option<Contact>>();
        let contact_then_slots = async {
            let (rec, res) = self
                .step(
                    "resolve_contact",
                    t.resolve_contact,
                    self.resolve_contact(submission),
                )
                .await;
            // The company lookup may have finished without it: nobody listening is fine.
            let _ = contact_tx.send(res.as_ref().ok().cloned());
            let zone = lead.time_zone.as_deref().and_then(parse_zone).or_else(|| {
                res.as_ref()
                    .ok()
                    .and_then(|c| c.time_zone.as_deref())
                    .and_then(parse_zone)
            });
            let slots = self
                .step("meeting_slots", t.meeting_slots, self.meeting_slots(zone))
                .await;
            ((rec, res), slots)
        };
        let contact_later = async { contact_rx.await.ok().flatten() };
        let drive_terms = context::drive_terms(submission, lead.company.as_deref());
        let (
            ((contact_rec, contact_res), (slot_rec, slots)),
            (mail_rec, mail),
            (drive_rec, drive),
            company,
            (voice_rec, voice),
        ) = tokio::join!(
            contact_then_slots,
            self.step(
                "mail_history",
                t.mail_history,
                self.mail_history(&lead.email)
            ),
            self.step(
                "drive_assets",
                t.drive_assets,
                self.drive_assets(drive_terms.as_deref())
            ),
            self.company_context(submission, contact_later),
            self.step("voice_profile", t.voice_profile, self.voice_profile()),
        );
        let contact = log.settle(contact_rec, contact_res, "the CRM contact");
        let mut g = Gathered {
            contact,
            ..Gathered::default()
        };
        g.mail = log
            .settle(mail_rec, mail, "earlier mail")
            .unwrap_or_default();
        g.drive = log
            .settle(drive_rec, drive, "Drive assets")
            .unwrap_or_default();
        let (lookup, analysis) = company;
        match lookup {
            Some((rec, res)) => g.company = log.settle(rec, res, "the CRM company").flatten(),
            None => log.skipped(
                "company_lookup",
                self.ports.clock.now(),
                "free-mail address: no company domain",
            ),
        }
        let (rec, res) = analysis;
        g.analysis = log.settle(rec, res, "the company analysis");
        g.slots = log
            .settle(slot_rec, slots, "meeting slots")
            .unwrap_or_default();
        g.voice = log.settle(voice_rec, voice, "the voice profile").flatten();
        g
    }

    /// Phase 3 of `execute`: the draft (the model's, else the template writer's),
    /// with the ICP score computed beside it.
    async fn write_and_score(
        &self,
        submission: &FormSubmission,
        g: &Gathered,
        log: &mut RunLog,
    ) -> (DraftInput, Written, IcpAssessment) {
        let t = self.config.timeouts;
        // Phase 3: the draft, with the ICP score beside it.
        let input = self.draft_input(submission, g);
        let icp_input = self.icp_input(submission, g);
        let ((draft_rec, written), (icp_rec, icp)) = tokio::join!(
            self.step("draft", t.draft + Duration::from_secs(1), async {
                Ok::<_, Error>(self.write(&input, g.voice.as_ref(), t.draft).await)
            }),
            self.step("icp_score", t.draft, async {
                Ok::<_, Error>(self.config.icp.assess(&icp_input))
            }),
        );
        let written = written.unwrap_or_else(|e| Written {
            output: writer::write_draft_in_voice(&input, g.voice.as_ref()),
            writer: DraftWriter::Template {
                reason: e.to_string(),
            },
            repairs: Vec::new(),
            template_reason: Some(TemplateReason::LlmTimedOut),
            model: None,
            format: None,
        });
        let mut draft_rec = draft_rec;
        if let DraftWriter::Template { reason } = &written.writer {
            draft_rec.status = StepStatus::Degraded;
            draft_rec.degraded_reason = Some(format!("template writer used: {reason}"));
            log.flags.push(DraftFlag::TemplateWritten);
        }
        log.run.steps.push(draft_rec);
        let icp = icp.unwrap_or_else(|_| self.config.icp.assess(&IcpInput::default()));
        log.run.steps.push(icp_rec);
        (input, written, icp)
    }

    async fn resolve_contact(&self, submission: &FormSubmission) -> Result<Contact> {
        let crm = &self.ports.crm;
        let lead = &submission.lead;
        if let Some(c) = crm.find_contact_by_email(&lead.email).await? {
            return Ok(c);
        }
        let mut props = BTreeMap::new();
        props.insert("lifecyclestage".to_owned(), "lead".to_owned());
        if let Some(country) = &lead.country {
            props.insert("country".to_owned(), country.clone());
        }
        let new = NewContact {
            email: Some(lead.email.clone()),
            first_name: lead.first_name.clone(),
            last_name: lead.last_name.clone(),
            job_title: lead.job_title.clone(),
            phone: lead.phone.clone(),
            company_name: lead.company.clone(),
            properties: props,
        };
        match crm.create_contact(&new).await {
            Ok(c) => Ok(c),
            // Created concurrently by someone else: use theirs.
            Err(Error::Conflict { .. }) => crm
                .find_contact_by_email(&lead.email)
                .await?
                .ok_or_else(|| Error::conflict("contact exists but cannot be found")),
            Err(e) => Err(e),
        }
    }

    async fn mail_history(&self, email: &EmailAddress) -> Result<Vec<prompt::Fact>> {
        let query = crate::model::MailQuery {
            participant: Some(email.clone()),
            limit: self.config.mail_history_limit,
            ..crate::model::MailQuery::default()
        };
        let messages = self.ports.mailbox.search(&query).await?;
        Ok(messages
            .iter()
            .take(self.config.mail_history_limit as usize)
            .map(|m| context::mail_fact(m, email))
            .collect())
    }

    async fn drive_assets(&self, terms: Option<&str>) -> Result<Vec<prompt::Fact>> {
        let Some(terms) = terms else {
            return Ok(Vec::new());
        };
        let query = crate::model::DriveQuery {
            text: Some(terms.to_owned()),
            limit: self.config.drive_limit,
            ..crate::model::DriveQuery::default()
        };
        let files = self.ports.drive.search(&query).await?;
        Ok(files
            .iter()
            .take(self.config.drive_limit as usize)
            .map(context::drive_fact)
            .collect())
    }

    /// Company lookup and then the analysis. The lookup goes by the lead's domain at once; only
    /// a free-mail lead, or a domain the CRM does not know, waits for `contact` (resolved
    /// concurrently) and looks the company up by the contact's company id. None when the lead
    /// writes from free mail and the contact names no company.
    #[allow(clippy::type_complexity)]
    async fn company_context(
        &self,
        submission: &FormSubmission,
        contact: impl Future<Output = Option<Contact>>,
    ) -> (
        Option<(StepRecord, Result<Option<Company>>)>,
        (StepRecord, Result<CompanyAnalysis>),
    ) {
        let t = self.config.timeouts;
        let email = &submission.lead.email;
        let lookup = if email.is_free_mail() {
            // Nothing to look up without the contact: wait for it before the step starts.
            match contact.await.and_then(|c| c.company_id) {
                None => None,
                Some(id) => {
                    let (rec, res) = self
                        .step(
                            "company_lookup",
                            t.company_lookup,
                            self.ports.crm.get_company(&id),
                        )
                        .await;
                    Some((rec, res.map(Some)))
                }
            }
        } else {
            Some(self.company_by_domain(email, contact).await)
        };
        let company = lookup
            .as_ref()
            .and_then(|(_, r)| r.as_ref().ok())
            .and_then(Option::as_ref);
        let input = CompanyInput {
            sender_company: self.config.sender_company.clone(),
            name: company
                .map(|c| c.name.clone())
                .or_else(|| submission.lead.company.clone()),
            domain: (!email.is_free_mail()).then(|| email.domain().to_string()),
            industry: company.and_then(|c| c.industry.clone()),
            employee_count: company.and_then(|c| c.employee_count),
            country: company.and_then(|c| c.country.clone()),
            description: company.and_then(|c| c.description.clone()),
            message: submission.lead.message.clone(),
        };
        let analysis = self
            .step("company_analysis", t.company_analysis, async {
                let req = prompt::company_request(&input);
                let answer = self.ports.llm.complete(&req).await?;
                prompt::parse_company(&answer.content)
            })
            .await;
        (lookup, analysis)
    }

    /// The `company_lookup` step of a lead with a company domain: by domain, else (the CRM does
    /// not know the domain) by the company id of `contact`, waiting for it. The wait for the
    /// contact is bounded by its own step's limit and is not charged to this step's limit, which
    /// applies to each CRM call.
    async fn company_by_domain(
        &self,
        email: &EmailAddress,
        contact: impl Future<Output = Option<Contact>>,
    ) -> (StepRecord, Result<Option<Company>>) {
        let t = self.config.timeouts;
        let crm = &self.ports.crm;
        let limited = |name: &'static str| {
            move |_| Error::timeout(format!("{name} after {} ms", t.company_lookup.as_millis()))
        };
        self.step(
            "company_lookup",
            t.company_lookup.saturating_add(t.resolve_contact),
            async {
                let by_domain = tokio::time::timeout(
                    t.company_lookup,
                    crm.find_company_by_domain(email.domain()),
                )
                .await
                .map_err(limited("company_lookup"))??;
                if by_domain.is_some() {
                    return Ok(by_domain);
                }
                match contact.await.and_then(|c| c.company_id) {
                    Some(id) => tokio::time::timeout(t.company_lookup, crm.get_company(&id))
                        .await
                        .map_err(limited("company_lookup"))?
                        .map(Some),
                    None => Ok(None),
                }
            },
        )
        .await
    }

    async fn meeting_slots(&self, zone: Option<chrono_tz::Tz>) -> Result<Vec<MeetingSlot>> {
        let now = self.ports.clock.now();
        let rules = &self.config.slots;
        let busy = self
            .ports
            .calendar
            .free_busy(rules.search_range(now))
            .await?;
        let slots = rules.propose(now, &busy, zone);
        if slots.is_empty() && rules.count > 0 {
            return Err(Error::unavailable(
                "no free slot in working hours within the horizon",
            ));
        }
        Ok(slots)
    }

    /// The sender's own voice profile: the one the settings name for them, else the configured
    /// default name, else their most recently updated profile.
    async fn voice_profile(&self) -> Result<Option<VoiceProfile>> {
        let store = &self.ports.store;
        let sender = &self.config.sender;
        let own = |p: &VoiceProfile| p.owner.same_mailbox(sender);
        if let Some(name) = self.config.voice_profile_for(sender) {
            return Ok(store.voice_profile(sender, name).await?.filter(own));
        }
        // One read for both choices (the latest version of each of the sender's profiles):
        // on a store with one connection (in-memory SQLite) every read is a turn on it.
        let profiles: Vec<VoiceProfile> = store
            .voice_profiles(sender)
            .await?
            .into_iter()
            .filter(own)
            .collect();
        if let Some(i) = profiles
            .iter()
            .position(|p| p.name == self.config.voice_profile)
        {
            return Ok(profiles.into_iter().nth(i));
        }
        Ok(profiles.into_iter().max_by(|a, b| {
            a.updated_at
                .cmp(&b.updated_at)
                .then_with(|| a.version.cmp(&b.version))
        }))
    }

    fn draft_input(&self, submission: &FormSubmission, g: &Gathered) -> DraftInput {
        let lead = &submission.lead;
        let mut facts = Vec::new();
        if let Some(c) = &g.company {
            facts.push(context::company_fact(c));
        }
        if let Some(a) = &g.analysis {
            facts.push(context::analysis_fact(a));
        }
        facts.extend(g.mail.iter().cloned());
        facts.extend(g.drive.iter().cloned());
        facts.extend(context::slot_facts(&g.slots));
        let mut input = DraftInput {
            sender: SenderData {
                name: self.config.sender_name.clone(),
                email: self.config.sender.to_string(),
                company: self.config.sender_company.clone(),
            },
            lead: LeadData {
                email: lead.email.to_string(),
                first_name: lead
                    .first_name
                    .clone()
                    .or_else(|| g.contact.as_ref().and_then(|c| c.first_name.clone())),
                last_name: lead
                    .last_name
                    .clone()
                    .or_else(|| g.contact.as_ref().and_then(|c| c.last_name.clone())),
                company: g
                    .company
                    .as_ref()
                    .map(|c| c.name.clone())
                    .or_else(|| lead.company.clone()),
                job_title: lead
                    .job_title
                    .clone()
                    .or_else(|| g.contact.as_ref().and_then(|c| c.job_title.clone())),
                country: lead.country.clone(),
                message: lead.message.clone(),
            },
            facts,
            voice: g.voice.as_ref().map(context::voice_hints),
        };
        input.cap();
        input
    }

    fn icp_input(&self, submission: &FormSubmission, g: &Gathered) -> IcpInput {
        let lead = &submission.lead;
        IcpInput {
            email: Some(lead.email.clone()),
            industry: g.company.as_ref().and_then(|c| c.industry.clone()),
            employee_count: g.company.as_ref().and_then(|c| c.employee_count),
            job_title: lead
                .job_title
                .clone()
                .or_else(|| g.contact.as_ref().and_then(|c| c.job_title.clone())),
            country: lead
                .country
                .clone()
                .or_else(|| {
                    g.contact
                        .as_ref()
                        .and_then(|c| c.properties.get("country").cloned())
                })
                .or_else(|| g.company.as_ref().and_then(|c| c.country.clone())),
            message: lead.message.as_ref().map(|m| {
                let mut m = m.clone();
                crate::model::truncate_on_char_boundary(&mut m, prompt::MAX_MESSAGE_BYTES);
                m
            }),
        }
    }

    /// The LLM's draft (one repair retry; checked, grounded and framed in the sender's voice),
    /// or the template writer's with the reason.
    async fn write(
        &self,
        input: &DraftInput,
        voice: Option<&VoiceProfile>,
        limit: Duration,
    ) -> Written {
        let attempt = self.llm_draft_in_format(input, voice, limit).await;
        let (reason, detail, model) = match attempt {
            Ok((checked, model, format)) => {
                let first = input
                    .lead
                    .first_name
                    .as_deref()
                    .and_then(writer::greeting_name);
                let hints = input.voice.clone().unwrap_or_default();
                let mut output = checked.output;
                // Prose drafts are framed in the sender's voice when composed.
                if format == prompt::DraftFormat::Json {
                    output.body =
                        voice::frame(&output.body, &hints, first.as_deref(), &input.sender);
                }
                return Written {
                    output,
                    writer: DraftWriter::Llm {
                        model: model.clone(),
                    },
                    repairs: checked.repairs,
                    template_reason: None,
                    model: Some(model),
                    format: Some(format),
                };
            }
            Err(failure) => failure,
        };
        Written {
            output: writer::write_draft_in_voice(input, voice),
            writer: DraftWriter::Template { reason: detail },
            repairs: Vec::new(),
            template_reason: Some(reason),
            model,
            format: None,
        }
    }

    /// Asks the model, checks the answer ([`prompt::check_draft`]), and asks once more with the
    /// problem named. The offline [`writer::TemplateLlm`] counts as no model at all.
    async fn llm_draft(
        &self,
        input: &DraftInput,
    ) -> std::result::Result<(prompt::CheckedDraft, String), (TemplateReason, String, Option<String>)>
    {
        let llm = &self.ports.llm;
        let req = prompt::draft_request(input);
        let first = llm.complete(&req).await.map_err(|e| {
            (
                TemplateReason::LlmUnavailable,
                format!("llm unavailable: {e}"),
                None,
            )
        })?;
        if first.model == writer::TEMPLATE_MODEL {
            return Err((
                TemplateReason::NoModel,
                "no language model configured (offline template writer)".to_owned(),
                None,
            ));
        }
        let e = match prompt::check_draft(&first.content, input) {
            Ok(out) => return Ok((out, first.model)),
            Err(e) => e,
        };
        let repair = prompt::repair_request(&req, &first.content, &e);
        let model = Some(first.model.clone());
        let second = llm.complete(&repair).await.map_err(|e2| {
            (
                TemplateReason::LlmUnavailable,
                format!("llm unavailable on repair: {e2}"),
                model.clone(),
            )
        })?;
        prompt::check_draft(&second.content, input)
            .map(|o| (o, second.model))
            .map_err(|e2| {
                let reason = if matches!(&e2, Error::InvalidInput { field, .. } if field == "grounding")
                {
                    TemplateReason::GroundingFailed
                } else {
                    TemplateReason::InvalidOutput
                };
                (reason, format!("llm answer invalid twice: {e2}"), model)
            })
    }

    fn build_draft(
        &self,
        submission: &FormSubmission,
        g: &Gathered,
        input: &DraftInput,
        written: Written,
        icp: &IcpAssessment,
        log: &RunLog,
    ) -> Draft {
        let Written {
            output,
            writer,
            repairs,
            template_reason,
            model,
            format,
        } = written;
        let drafting = DraftingReport {
            facts: output
                .fact_ids
                .iter()
                .filter_map(|id| input.facts.iter().find(|f| f.id == *id))
                .map(context::used_fact)
                .collect(),
            repairs,
            voice_profile: g
                .voice
                .as_ref()
                .map(|p| format!("{} (version {})", p.name, p.version)),
            template_reason,
            model,
            format: format.map(|f| f.as_str().to_owned()),
        };
        let lead = &submission.lead;
        let now = self.ports.clock.now();
        let name = [lead.first_name.as_deref(), lead.last_name.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
        let contact_name = if name.trim().is_empty() {
            g.contact
                .as_ref()
                .map(Contact::display_name)
                .filter(|n| *n != lead.email.to_string())
        } else {
            Some(name)
        }
        .map(|n| display_safe(&n))
        .filter(|n| !n.is_empty());
        let voice_score = g
            .voice
            .as_ref()
            .filter(|p| voice::is_learned(p))
            .map(|p| voice::similarity(p, &output.body));
        let mut flags = log.flags.clone();
        flags.extend(
            voice_score
                .as_ref()
                .and_then(|s| self.config.voice_threshold.flag(s)),
        );
        Draft {
            submission_id: Some(submission.id),
            contact_name,
            contact_crm_id: g.contact.as_ref().map(|c| c.crm_id.clone()),
            company_name: g
                .company
                .as_ref()
                .map(|c| c.name.clone())
                .or_else(|| lead.company.clone())
                .map(|n| display_safe(&n)),
            icp: Some(icp.score.clone()),
            priority: f64::from(icp.score.score),
            facts_used: output.fact_ids,
            voice_similarity: voice_score.as_ref().map(|s: &Score| s.value),
            flags,
            drafting: Some(drafting),
            ..Draft::new(
                lead.email.clone(),
                self.config.sender.clone(),
                output.subject,
                output.body,
                writer,
                now,
            )
        }
    }

    fn follow_up_payload(&self, draft: &Draft, g: &Gathered, icp: &IcpAssessment) -> FollowUp {
        let mut props = BTreeMap::new();
        props.insert(
            properties::ICP_SCORE.to_owned(),
            icp.score.score.to_string(),
        );
        props.insert(properties::ICP_TIER.to_owned(), icp.segment.tier.clone());
        props.insert(
            properties::INDUSTRY_SEGMENT.to_owned(),
            icp.segment.industry.clone(),
        );
        props.insert(
            properties::SIZE_BAND.to_owned(),
            icp.segment.size_band.clone(),
        );
        FollowUp {
            draft_id: draft.id,
            company_id: g.company.as_ref().map(|c| c.crm_id.clone()),
            properties: props,
        }
    }

    fn follow_up_job(&self, payload: &FollowUp) -> Result<NewJob> {
        Ok(NewJob::new(
            kinds::CRM_FOLLOW_UP,
            serde_json::to_value(payload).map_err(|e| Error::backend(e.to_string()))?,
        )
        .with_key(format!("crm_follow_up:{}", payload.draft_id))
        .with_max_attempts(self.config.follow_up_attempts))
    }

    /// Re-enqueues the follow-up of an existing draft (a no-op when it was enqueued before),
    /// so a run that stored its draft but failed to enqueue still gets its CRM writes.
    async fn ensure_follow_up(&self, draft: &Draft) -> Result<()> {
        let mut props = BTreeMap::new();
        if let Some(icp) = &draft.icp {
            props.insert(properties::ICP_SCORE.to_owned(), icp.score.to_string());
            props.insert(properties::ICP_TIER.to_owned(), icp.tier.clone());
        }
        let job = self.follow_up_job(&FollowUp {
            draft_id: draft.id,
            company_id: None,
            properties: props,
        })?;
        self.ports.store.enqueue(&job).await.map(|_| ())
    }

    /// Stores the new draft, its run, the audit entry of its creation and its follow-up job in
    /// one atomic write ([`DraftStore::insert_draft_record`]). When a concurrent run stored
    /// this submission's draft first, records this run against that draft and returns its id.
    ///
    /// The run is written in the same transaction as the draft, so its `store_draft` step is
    /// recorded as finished when that write starts (its duration covers the preparation only).
    async fn store(
        &self,
        draft: &Draft,
        follow_up: &FollowUp,
        log: &mut RunLog,
        limit: Duration,
    ) -> Result<DraftId> {
        let store = &self.ports.store;
        let started_at = self.ports.clock.now();
        let t0 = tokio::time::Instant::now();
        let mut rec = StepRecord {
            name: "store_draft".to_owned(),
            status: StepStatus::Ok,
            started_at,
            finished_at: Some(started_at),
            duration_ms: Some(0),
            error: None,
            degraded_reason: None,
        };
        let prepared = validate_subject(&draft.subject)
            .and_then(|()| validate_body(&draft.body))
            .and_then(|()| self.follow_up_job(follow_up));
        let job = match prepared {
            Ok(job) => job,
            Err(e) => {
                rec.status = StepStatus::Failed;
                rec.error = Some(e.to_string());
                log.run.steps.push(rec);
                return Err(e);
            }
        };
        log.run.steps.push(rec);
        log.run.draft_id = Some(draft.id);
        log.run.status = RunStatus::Succeeded;
        log.run.finished_at = Some(started_at);
        let audit = creation_audit(draft, &log.run);
        let event = draft.created_event(ACTOR);
        let record = NewDraftRecord {
            draft,
            event: &event,
            run: &log.run,
            audit: &audit,
            follow_up: &job,
        };
        let res = match tokio::time::timeout(limit, store.insert_draft_record(&record)).await {
            Ok(r) => r,
            Err(_) => Err(Error::timeout(format!(
                "store_draft after {} ms",
                limit.as_millis()
            ))),
        };
        let finish = |log: &mut RunLog, error: Option<String>, degraded: Option<&str>| {
            log.run.finished_at = Some(self.ports.clock.now());
            if let Some(rec) = log.run.steps.last_mut() {
                rec.finished_at = log.run.finished_at;
                rec.duration_ms = Some(u64::try_from(t0.elapsed().as_millis()).unwrap_or(u64::MAX));
                if error.is_some() {
                    rec.status = StepStatus::Failed;
                }
                rec.error = error;
                rec.degraded_reason = degraded.map(str::to_owned);
            }
        };
        let e = match res {
            Ok(()) => return Ok(draft.id),
            Err(e) => e,
        };
        // On the one-draft-per-submission conflict, the draft a concurrent run stored first.
        let winner = match (&e, draft.submission_id) {
            (Error::Conflict { .. }, Some(sub)) => store.find_draft_by_submission(sub).await?,
            _ => None,
        };
        let Some(winner) = winner else {
            log.run.draft_id = None;
            finish(log, Some(e.to_string()), None);
            return Err(e);
        };
        log.run.draft_id = Some(winner.id);
        finish(
            log,
            None,
            Some("a concurrent run stored this submission's draft first"),
        );
        // That run audited the draft and enqueued its follow-up.
        match tokio::time::timeout(limit, store.save_run(&log.run)).await {
            Ok(r) => r?,
            Err(_) => return Err(Error::timeout("storing the run")),
        }
        Ok(winner.id)
    }

    /// The CRM follow-up of a draft: make sure the contact exists (the CRM may have been down
    /// when the draft was written), associate the company, write the ICP properties, and create
    /// the review task and a note with the draft preview. Safe to retry: the task and the note
    /// are created once (progress is kept in the settings store).
    pub async fn follow_up(&self, job: &FollowUp) -> Result<()> {
        let store = &self.ports.store;
        let crm = &self.ports.crm;
        let draft = store.get_draft(job.draft_id).await?;
        let contact_id = match &draft.contact_crm_id {
            Some(id) => id.clone(),
            None => {
                let submission = match draft.submission_id {
                    Some(s) => Some(store.get_submission(s).await?),
                    None => None,
                };
                match submission {
                    Some(s) => self.resolve_contact(&s).await?.crm_id,
                    None => {
                        crm.find_contact_by_email(&draft.contact_email)
                            .await?
                            .ok_or_else(|| Error::not_found("CRM contact of the draft"))?
                            .crm_id
                    }
                }
            }
        };
        if let Some(company) = &job.company_id {
            crm.associate_contact_company(&contact_id, company).await?;
        }
        if !job.properties.is_empty() {
            crm.update_contact(&contact_id, &job.properties).await?;
        }
        let now = self.ports.clock.now();
        let task_key = format!("crm_follow_up:{}:task", draft.id);
        if store.setting(&task_key).await?.is_none() {
            let who = draft
                .contact_name
                .clone()
                .unwrap_or_else(|| draft.contact_email.to_string());
            let task = crm
                .create_task(&NewTask {
                    subject: crate::model::clean_line(&format!("Review the draft reply to {who}")),
                    body: format!(
                        "salesagent wrote draft {} (ICP {}). Review, edit and approve it in the queue.",
                        draft.id,
                        draft
                            .icp
                            .as_ref()
                            .map_or_else(|| "n/a".to_owned(), |i| format!("{} {}", i.score, i.tier))
                    ),
                    due_at: chrono::Duration::from_std(self.config.follow_up_due)
                        .ok()
                        .map(|d| now + d),
                    contact_id: Some(contact_id.clone()),
                    company_id: job.company_id.clone(),
                    owner_id: None,
                })
                .await?;
            store.put_setting(&task_key, task.crm_id.as_str()).await?;
        }
        let note_key = format!("crm_follow_up:{}:note", draft.id);
        if store.setting(&note_key).await?.is_none() {
            let mut preview = draft.body.clone();
            crate::model::truncate_on_char_boundary(&mut preview, 600);
            if preview.len() < draft.body.len() {
                preview.push('…');
            }
            let note = crm
                .create_note(&NewNote {
                    body: format!(
                        "Draft reply prepared by salesagent (status {}).\nSubject: {}\n\n{preview}",
                        draft.status, draft.subject
                    ),
                    at: now,
                    contact_id: Some(contact_id.clone()),
                    company_id: job.company_id.clone(),
                })
                .await?;
            store.put_setting(&note_key, note.crm_id.as_str()).await?;
        }
        Ok(())
    }
}
