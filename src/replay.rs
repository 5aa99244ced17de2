//! Dry-run replay: recorded form submissions through the full pipeline, the auto-approval rules
//! and the send policy, on the connectors you hand in (offline fakes or recordings), sending
//! nothing, with a report of every decision.
//!
//! A [`Replay`] owns a scratch store (in-memory SQLite, dropped with it) and a fixed clock, so
//! nothing touches a real database and every run at the same time gives the same decisions.
//! Its mailbox refuses `send` and `create_draft`, so no message can leave even if a connector
//! were live. The send policy is evaluated as for real sends (send window, suppression, kill
//! switch, limits reserved in the scratch store, so the limits see the replayed batch as a
//! whole): DRAFT_ONLY would allow everything and say nothing.
//!
//! Follow-up sequences replay too ([`replay_sequences`]): each contact's sequence is re-derived
//! from its stored history (the journal of the changes' inputs, see
//! [`salesagent_core::sequences::history`]) and compared with the state the store holds.
//!
//! ```no_run
//! # async fn demo(ports: salesagent::core::pipeline::Ports) -> salesagent::Result<()> {
//! use salesagent::replay::{Replay, ReplayConfig};
//! use salesagent::EmailAddress;
//! let config = ReplayConfig::new(EmailAddress::parse("rep@seller.io")?, chrono::Utc::now());
//! let replay = Replay::new(ports, config).await?;
//! let report = replay.run_dir("examples/data/forms".as_ref()).await?;
//! println!("{}", serde_json::to_string_pretty(&report).unwrap());
//! # Ok(()) }
//! ```

use chrono::{DateTime, Utc};
use salesagent_core::model::{
    DraftFlag, DraftId, DraftWriter, EmailAddress, FormSubmission, HistoryPage, IcpScore,
    MailMessage, MailQuery, MessageId, MessagePage, OutgoingMessage, RuleDecision, ScoreFactor,
    SendDecision, SentMessage, Suppression, ThreadId,
};
use salesagent_core::pipeline::{Pipeline, PipelineConfig, Ports};
use salesagent_core::ports::{Clock, DynMailbox, DynStore, Mailbox, SettingsExt as _, Store};
use salesagent_core::sending::policy::parse_time_zone;
use salesagent_core::sending::{
    AutoApprover, OperatorQueue, PolicyConfig, QueueConfig, RulesConfig, SendMode, SendPolicy,
};
use salesagent_core::sequences::{Sequence, SequenceFilter, SequenceStatus, history};
use salesagent_core::{Error, Result};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

/// A clock stopped at one instant: the time the replay pretends it is.
#[derive(Debug, Clone, Copy)]
pub struct FixedClock(pub DateTime<Utc>);

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        self.0
    }
}

/// A mailbox that reads through to another and refuses to send or store drafts.
#[derive(Debug)]
pub struct ReadOnlyMailbox(pub DynMailbox);

fn refuse() -> Error {
    Error::PermissionDenied {
        reason: "a dry-run replay sends nothing".to_owned(),
    }
}

#[async_trait::async_trait]
impl Mailbox for ReadOnlyMailbox {
    async fn search(&self, query: &MailQuery) -> Result<Vec<MailMessage>> {
        self.0.search(query).await
    }
    async fn get_thread(&self, thread: &ThreadId) -> Result<Vec<MailMessage>> {
        self.0.get_thread(thread).await
    }
    async fn send(&self, _message: &OutgoingMessage) -> Result<SentMessage> {
        Err(refuse())
    }
    async fn create_draft(&self, _message: &OutgoingMessage) -> Result<SentMessage> {
        Err(refuse())
    }
    async fn find_sent(&self, message_id: &MessageId) -> Result<Option<SentMessage>> {
        self.0.find_sent(message_id).await
    }
    async fn history(&self, cursor: Option<&str>) -> Result<HistoryPage> {
        self.0.history(cursor).await
    }
    async fn sent_messages(&self, page_token: Option<&str>, page_size: u32) -> Result<MessagePage> {
        self.0.sent_messages(page_token, page_size).await
    }
}

/// What a replay runs with.
#[derive(Debug, Clone)]
pub struct ReplayConfig {
    /// The pipeline's settings (sender, voice, slots, ICP rules).
    pub pipeline: PipelineConfig,
    /// The send policy (its mode is ignored: the replay evaluates as for real sends).
    pub policy: PolicyConfig,
    /// Auto-approval rules (evaluated even when disabled; the decision says so).
    pub rules: RulesConfig,
    /// Operator-queue priority settings.
    pub queue: QueueConfig,
    /// The time the replay pretends it is.
    pub now: DateTime<Utc>,
}

impl ReplayConfig {
    /// Defaults for `sender` at `now`: default policy, rules and queue settings.
    #[must_use]
    pub fn new(sender: EmailAddress, now: DateTime<Utc>) -> Self {
        Self {
            pipeline: PipelineConfig::new(sender),
            policy: PolicyConfig::default(),
            rules: RulesConfig::default(),
            queue: QueueConfig::default(),
            now,
        }
    }
}

/// The draft a replayed submission produced.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReplayDraft {
    /// Its id in the scratch store.
    pub id: DraftId,
    /// Subject.
    pub subject: String,
    /// Body.
    pub body: String,
    /// Who wrote it (model or template).
    pub writer: DraftWriter,
    /// ICP score with its factors.
    pub icp: Option<IcpScore>,
    /// Review flags.
    pub flags: Vec<DraftFlag>,
    /// Pipeline steps that degraded, with why.
    pub degraded_steps: Vec<String>,
}

/// Every decision for one recorded file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReplayItem {
    /// The file name.
    pub file: String,
    /// The submission's idempotency key.
    pub submission_key: Option<String>,
    /// The contact's address.
    pub contact: Option<String>,
    /// The earlier file with the same submission (a redelivery), if any.
    pub duplicate_of: Option<String>,
    /// Why the file could not be replayed (invalid submission, pipeline error).
    pub error: Option<String>,
    /// The draft.
    pub draft: Option<ReplayDraft>,
    /// Operator-queue priority.
    pub priority: Option<f64>,
    /// The priority's factors.
    pub priority_factors: Vec<ScoreFactor>,
    /// The auto-approval decision, rule by rule.
    pub rule_decision: Option<RuleDecision>,
    /// The send-policy decision, if approved now.
    pub policy_decision: Option<SendDecision>,
    /// When it would be sent (`None` when denied).
    pub would_send_at: Option<DateTime<Utc>>,
}

/// Counts over a replay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct ReplayTotals {
    /// Files read.
    pub files: u64,
    /// Files that were not valid submissions.
    pub invalid: u64,
    /// Redeliveries of an earlier file's submission.
    pub duplicates: u64,
    /// Distinct submissions that produced a draft.
    pub drafted: u64,
    /// Distinct submissions whose pipeline failed.
    pub failed: u64,
    /// Drafts the rules would approve without an operator.
    pub would_auto_approve: u64,
    /// Policy: send now.
    pub allow: u64,
    /// Policy: send later.
    pub defer: u64,
    /// Policy: never.
    pub deny: u64,
}

/// The report of a replay.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReplayReport {
    /// The directory replayed.
    pub directory: String,
    /// The time the replay pretended it was.
    pub evaluated_at: DateTime<Utc>,
    /// What was (not) done.
    pub mode: &'static str,
    /// Counts.
    pub totals: ReplayTotals,
    /// One entry per file, in file-name order.
    pub items: Vec<ReplayItem>,
}

/// Runs recorded submissions through the pipeline, rules and policy on a scratch store.
#[derive(Debug)]
pub struct Replay {
    pipeline: Pipeline,
    store: DynStore,
    config: ReplayConfig,
}

impl Replay {
    /// A replay over `ports`' connectors; their store and clock are replaced by a scratch
    /// in-memory SQLite store and a [`FixedClock`] at `config.now`, and the mailbox by a
    /// [`ReadOnlyMailbox`].
    ///
    /// # Errors
    /// When the scratch store cannot be created.
    pub async fn new(ports: Ports, config: ReplayConfig) -> Result<Self> {
        let clock = Arc::new(FixedClock(config.now));
        let store: DynStore = Arc::new(
            salesagent_store::SqlStore::builder("sqlite::memory:")
                .without_encryption()
                .clock(clock.clone())
                .connect()
                .await?,
        );
        let ports = Ports {
            mailbox: Arc::new(ReadOnlyMailbox(ports.mailbox)),
            store: store.clone(),
            clock,
            ..ports
        };
        Ok(Self {
            pipeline: Pipeline::new(ports, config.pipeline.clone()),
            store,
            config,
        })
    }

    /// The scratch store, to seed before running (voice profiles, suppressions, approved
    /// recipients, the kill switch).
    #[must_use]
    pub fn store(&self) -> &DynStore {
        &self.store
    }

    /// Copies the suppression list and the kill switch from a real store (read only there),
    /// so the policy decides as it would in production.
    ///
    /// # Errors
    /// Store errors.
    pub async fn import_policy_state(&self, from: &DynStore) -> Result<usize> {
        let list: Vec<Suppression> = from.list_suppressions().await?;
        for s in &list {
            self.store.suppress(s).await?;
        }
        self.store
            .set_kill_switch(from.kill_switch().await?)
            .await?;
        Ok(list.len())
    }

    /// Replays every `*.json` file in `dir`, in file-name order.
    ///
    /// # Errors
    /// `InvalidInput` when `dir` cannot be read; store errors. A bad file or a failing
    /// pipeline is reported in its item, not as an error.
    pub async fn run_dir(&self, dir: &Path) -> Result<ReplayReport> {
        let entries = std::fs::read_dir(dir)
            .map_err(|e| Error::invalid("dir", format!("cannot read {}: {e}", dir.display())))?;
        let mut files: Vec<_> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "json"))
            .collect();
        files.sort();
        let mut recorded = Vec::with_capacity(files.len());
        for path in files {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let text = std::fs::read_to_string(&path).map_err(|e| e.to_string());
            recorded.push((name, text));
        }
        let mut report = self.run(recorded).await?;
        report.directory = dir.display().to_string();
        Ok(report)
    }

    /// Replays `(name, contents)` pairs in the given order (a read error is reported as the
    /// item's error).
    ///
    /// # Errors
    /// Store errors.
    pub async fn run(
        &self,
        recorded: Vec<(String, std::result::Result<String, String>)>,
    ) -> Result<ReplayReport> {
        let now = self.config.now;
        let mut totals = ReplayTotals::default();
        let mut items = Vec::with_capacity(recorded.len());
        let mut first_file: BTreeMap<String, String> = BTreeMap::new();
        let mut drafted: Vec<(usize, DraftId)> = Vec::new();
        for (file, text) in recorded {
            totals.files += 1;
            let mut item = ReplayItem {
                file: file.clone(),
                submission_key: None,
                contact: None,
                duplicate_of: None,
                error: None,
                draft: None,
                priority: None,
                priority_factors: Vec::new(),
                rule_decision: None,
                policy_decision: None,
                would_send_at: None,
            };
            let parsed = text.and_then(|t| {
                FormSubmission::from_canonical_json(&t, now).map_err(|e| e.to_string())
            });
            let submission = match parsed {
                Ok(s) => s,
                Err(e) => {
                    totals.invalid += 1;
                    item.error = Some(e);
                    items.push(item);
                    continue;
                }
            };
            item.submission_key = Some(submission.idempotency_key.clone());
            item.contact = Some(submission.lead.email.to_string());
            if let Some(first) = first_file.get(&submission.idempotency_key) {
                totals.duplicates += 1;
                item.duplicate_of = Some(first.clone());
                items.push(item);
                continue;
            }
            first_file.insert(submission.idempotency_key.clone(), file);
            match self.pipeline.process(&submission).await {
                Ok(id) => {
                    totals.drafted += 1;
                    drafted.push((items.len(), id));
                }
                Err(e) => {
                    totals.failed += 1;
                    item.error = Some(format!("pipeline: {e}"));
                }
            }
            items.push(item);
        }

        // Priorities as the operator queue would show them, over the whole batch.
        let queue = OperatorQueue::new(self.store.clone(), Arc::new(FixedClock(now)))
            .with_config(self.config.queue);
        let ranked: BTreeMap<DraftId, (f64, Vec<ScoreFactor>)> = queue
            .pending()
            .await?
            .into_iter()
            .map(|q| (q.draft.id, (q.priority, q.factors)))
            .collect();
        let approver =
            AutoApprover::new(self.config.rules).with_crm(self.pipeline.ports().crm.clone());
        let policy = SendPolicy::new(PolicyConfig {
            mode: SendMode::RealSends,
            ..self.config.policy.clone()
        });
        // Highest priority first, as an operator (or the rules) would approve them, so the
        // limits fall on the least important drafts.
        drafted.sort_by(|a, b| {
            let pa = ranked.get(&a.1).map_or(0.0, |r| r.0);
            let pb = ranked.get(&b.1).map_or(0.0, |r| r.0);
            pb.total_cmp(&pa)
        });
        for (index, id) in drafted {
            let draft = self.store.get_draft(id).await?;
            let item = &mut items[index];
            let rules = approver.explain(&*self.store, id, now).await?;
            if rules.approve {
                totals.would_auto_approve += 1;
            }
            let tz = match self
                .pipeline
                .ports()
                .crm
                .find_contact_by_email(&draft.contact_email)
                .await
            {
                Ok(Some(c)) => c.time_zone.as_deref().and_then(parse_time_zone),
                _ => None,
            };
            let decision = policy.decide(&*self.store, &draft, tz, now).await?;
            item.would_send_at = match &decision {
                SendDecision::Allow => {
                    totals.allow += 1;
                    Some(now)
                }
                SendDecision::Defer { until, .. } => {
                    totals.defer += 1;
                    Some(*until)
                }
                SendDecision::Deny { .. } => {
                    totals.deny += 1;
                    None
                }
            };
            if let Some((p, f)) = ranked.get(&id) {
                item.priority = Some(*p);
                item.priority_factors.clone_from(f);
            }
            let degraded_steps = match draft.submission_id {
                Some(sid) => self
                    .store
                    .runs_for_submission(sid)
                    .await?
                    .into_iter()
                    .flat_map(|r| r.steps)
                    .filter_map(|s| s.degraded_reason.map(|why| format!("{}: {why}", s.name)))
                    .collect(),
                None => Vec::new(),
            };
            item.draft = Some(ReplayDraft {
                id,
                subject: draft.subject.clone(),
                body: draft.body.clone(),
                writer: draft.writer.clone(),
                icp: draft.icp.clone(),
                flags: draft.flags.clone(),
                degraded_steps,
            });
            item.rule_decision = Some(rules);
            item.policy_decision = Some(decision);
        }
        Ok(ReplayReport {
            directory: String::new(),
            evaluated_at: now,
            mode: "dry run: nothing sent; the send policy is evaluated as for real sends",
            totals,
            items,
        })
    }
}

/// A contact's sequence state as an operator sees it: the step, when the next is due, and why
/// it is paused or stopped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SequenceState {
    /// `active`, `paused`, `stopped` or `completed`.
    pub status: SequenceStatus,
    /// Follow-ups sent.
    pub step: u32,
    /// When the next follow-up is due to be drafted.
    pub next_due: Option<DateTime<Utc>>,
    /// Until when it is paused.
    pub paused_until: Option<DateTime<Utc>>,
    /// Why it is paused.
    pub pause_reason: Option<String>,
    /// Why it stopped.
    pub stop_reason: Option<String>,
    /// The drafted follow-up waiting for approval and sending.
    pub pending_draft: Option<DraftId>,
}

impl From<&Sequence> for SequenceState {
    fn from(s: &Sequence) -> Self {
        Self {
            status: s.status,
            step: s.sent_steps,
            next_due: s.next_due,
            paused_until: s.paused_until,
            pause_reason: s.pause_reason.clone(),
            stop_reason: s.stop_reason.as_ref().map(ToString::to_string),
            pending_draft: s.pending_draft,
        }
    }
}

/// One contact's sequence, live and replayed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SequenceReplayItem {
    /// The contact.
    pub contact: String,
    /// The state the store holds.
    pub live: SequenceState,
    /// The state its history replays to (`None` when it cannot be replayed).
    pub replayed: Option<SequenceState>,
    /// Whether the replayed sequence equals the stored one in every field (thread, drafts,
    /// versions and history included), not only in the state shown.
    pub identical: bool,
    /// Changes in its history.
    pub changes: usize,
    /// Why it could not be replayed.
    pub error: Option<String>,
}

/// The replay of every stored sequence.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SequenceReplayReport {
    /// Sequences read.
    pub sequences: u64,
    /// Replayed to exactly the stored sequence.
    pub identical: u64,
    /// Replayed to something else.
    pub differing: u64,
    /// Without a replayable history.
    pub unreplayable: u64,
    /// One entry per contact, in the store's order (most recently changed first).
    pub items: Vec<SequenceReplayItem>,
}

/// Replays every sequence in `store` (read only) from its stored history and compares it with
/// the stored state.
///
/// # Errors
/// Store errors.
pub async fn replay_sequences(store: &dyn Store) -> Result<SequenceReplayReport> {
    let all = store.list_sequences(&SequenceFilter::default()).await?;
    let mut report = SequenceReplayReport {
        sequences: 0,
        identical: 0,
        differing: 0,
        unreplayable: 0,
        items: Vec::with_capacity(all.len()),
    };
    for live in &all {
        report.sequences += 1;
        let mut item = SequenceReplayItem {
            contact: live.contact_email.to_string(),
            live: SequenceState::from(live),
            replayed: None,
            identical: false,
            changes: live.journal.len(),
            error: None,
        };
        match history::replay(&live.journal) {
            Ok(replayed) => {
                item.identical = &replayed == live;
                item.replayed = Some(SequenceState::from(&replayed));
                if item.identical {
                    report.identical += 1;
                } else {
                    report.differing += 1;
                }
            }
            Err(e) => {
                report.unreplayable += 1;
                item.error = Some(e.to_string());
            }
        }
        report.items.push(item);
    }
    Ok(report)
}
