//! Drafts and their status state machine.
//!
//! ```text
//! Pending ──approve──▶ Approved ──begin_send──▶ Sending ──▶ Sent
//!    │                    │  ▲                     ├──────▶ Failed
//!    │                    │  └──return_to_approved─┤
//!    │                    │                        └──────▶ Drafted (DRAFT_ONLY) ──begin_send──▶ Sending
//!    └──reject──▶ Rejected ◀──stop──┘ (also from Drafted)
//! ```
//! A draft is taken for sending by one compare-and-swap (`begin_send` or `take_over`, both
//! checked against the stored version) that records a [`SendClaim`]: a fencing token and a
//! lease. Every later write of the holder names the version it saw, so a holder whose claim was
//! taken over can no longer change the draft.
//! Edits are allowed while `Pending` or `Approved`; editing an approved draft sends it back to
//! `Pending`, so nobody can approve one text and have another go out. Every change bumps
//! `version` (optimistic concurrency) and yields a [`DraftEvent`] for the audit trail;
//! `RecordDecision` stores a policy or rule verdict on a live draft without moving it.

use super::{DraftId, EmailAddress, MessageId, SendDecision, SubmissionId, ThreadRef};
use crate::{Error, Result};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Where a draft is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DraftStatus {
    /// Waiting for an operator (or an auto-approval rule).
    Pending,
    /// Approved; waiting for the sender.
    Approved,
    /// Rejected or stopped; never sent.
    Rejected,
    /// Handed to the mailbox; the Message-ID is recorded, delivery not yet confirmed.
    Sending,
    /// Delivered to the provider (or stored as a mailbox draft in DRAFT_ONLY mode).
    Sent,
    /// Failed permanently.
    Failed,
    /// Stored as a draft in the sender's mailbox (DRAFT_ONLY mode); not sent, not counted as
    /// sent. Sending it later (real sends switched on) sends that same mailbox draft.
    Drafted,
}

impl DraftStatus {
    /// Every status, in lifecycle order.
    pub const ALL: [DraftStatus; 7] = [
        Self::Pending,
        Self::Approved,
        Self::Rejected,
        Self::Sending,
        Self::Sent,
        Self::Failed,
        Self::Drafted,
    ];

    /// The stable upper-case name (`PENDING`, …).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Approved => "APPROVED",
            Self::Rejected => "REJECTED",
            Self::Sending => "SENDING",
            Self::Sent => "SENT",
            Self::Failed => "FAILED",
            Self::Drafted => "DRAFTED",
        }
    }

    /// True for statuses a draft never leaves.
    #[must_use]
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Rejected | Self::Sent | Self::Failed)
    }

    /// True while the text may still be edited.
    #[must_use]
    pub fn is_editable(self) -> bool {
        matches!(self, Self::Pending | Self::Approved)
    }
}

impl std::fmt::Display for DraftStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for DraftStatus {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|st| st.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| Error::invalid("status", format!("unknown draft status {s:?}")))
    }
}

/// Who wrote the draft text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum DraftWriter {
    /// A language model, by model name.
    Llm {
        /// Model name.
        model: String,
    },
    /// The deterministic template writer (LLM unavailable, over budget, or offline).
    Template {
        /// Why the template writer was used.
        reason: String,
    },
    /// A human operator wrote or replaced the text.
    Human,
}

/// One factor of an ICP score, with its contribution and explanation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoreFactor {
    /// Factor name (`industry`, `company_size`, …).
    pub name: String,
    /// Points contributed (may be negative).
    pub points: f64,
    /// Human-readable reason.
    pub reason: String,
}

/// An ideal-customer-profile fit score in 0..=100 with its explanation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IcpScore {
    /// 0..=100.
    pub score: u8,
    /// Tier label (`A`, `B`, `C`, `D`).
    pub tier: String,
    /// How the score was reached.
    pub factors: Vec<ScoreFactor>,
}

/// A rule's verdict in an auto-approval decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleVerdict {
    /// Rule name.
    pub rule: String,
    /// Whether it matched.
    pub matched: bool,
    /// Why it matched or not.
    pub reason: String,
}

/// The auto-approval decision stored with a draft.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleDecision {
    /// Whether the draft was auto-approved.
    pub approve: bool,
    /// Every rule evaluated.
    pub verdicts: Vec<RuleVerdict>,
    /// When decided.
    pub decided_at: DateTime<Utc>,
}

/// Flags an operator should see on a draft.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "flag")]
pub enum DraftFlag {
    /// Written by the template writer, not the LLM.
    TemplateWritten,
    /// Voice similarity under the configured threshold.
    LowVoiceSimilarity {
        /// Similarity in thousandths (0..=1000), to stay `Eq`.
        score_milli: u16,
    },
    /// Optional context was missing when drafting.
    Degraded {
        /// Which step degraded and why.
        reason: String,
    },
}

/// Why the template writer wrote a draft instead of the language model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TemplateReason {
    /// No language model is configured (the offline template model answered).
    NoModel,
    /// The model could not be reached or refused the request.
    LlmUnavailable,
    /// The model did not answer within the drafting deadline.
    LlmTimedOut,
    /// The model's answer was not a valid draft, twice (JSON, subject or body limits).
    InvalidOutput,
    /// The model's draft stated links, figures, dates or names that are in no fact, twice.
    GroundingFailed,
}

impl TemplateReason {
    /// A short phrase for operators (`language model unavailable`).
    #[must_use]
    pub fn describe(self) -> &'static str {
        match self {
            Self::NoModel => "no language model configured",
            Self::LlmUnavailable => "language model unavailable",
            Self::LlmTimedOut => "language model timed out",
            Self::InvalidOutput => "language model answer invalid",
            Self::GroundingFailed => "language model draft not grounded in the facts",
        }
    }
}

/// A fact a draft's text rests on, as the operator sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsedFact {
    /// Provenance id (`drive:…`, `slot:1`, `crm:company:…`).
    pub id: String,
    /// Where it came from (`crm`, `mail`, `drive`, `analysis`, `calendar`).
    pub source: String,
    /// The fact as given to the writer.
    pub text: String,
    /// Its link, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
}

/// How a draft was written: the facts its text rests on, what validation repaired, the voice
/// profile it was written in, and why the template writer was used. Stored with the draft and
/// shown on its page.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct DraftingReport {
    /// The facts the text uses (the same ids as [`Draft::facts_used`]).
    pub facts: Vec<UsedFact>,
    /// Repairs grounding made to the model's text (invented links or addresses removed).
    pub repairs: Vec<String>,
    /// The voice profile used (`name` version `n`), if any.
    pub voice_profile: Option<String>,
    /// Why the template writer wrote the text, when it did.
    pub template_reason: Option<TemplateReason>,
    /// The model asked first, when one answered.
    pub model: Option<String>,
    /// The format the model wrote the draft in (`json`: the whole draft as a JSON object;
    /// `prose`: body sentences the code composed the draft around), for a model's draft.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
}

/// Who holds a draft for sending, until when: recorded by the compare-and-swap that takes the
/// draft (`begin_send` / `take_over`). Only the holder calls the provider; another sender may
/// take over only after `expires_at`, and must then ask the provider before doing anything.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendClaim {
    /// Fencing token, unique per claim.
    pub token: String,
    /// Who holds it (worker name).
    pub holder: String,
    /// When the claim lapses unless the holder finished.
    pub expires_at: DateTime<Utc>,
}

impl SendClaim {
    /// A fresh claim for `holder` lasting until `expires_at`.
    #[must_use]
    pub fn new(holder: impl Into<String>, expires_at: DateTime<Utc>) -> Self {
        Self {
            token: uuid::Uuid::new_v4().to_string(),
            holder: holder.into(),
            expires_at,
        }
    }

    /// True once the lease has run out at `now`.
    #[must_use]
    pub fn expired(&self, now: DateTime<Utc>) -> bool {
        now >= self.expires_at
    }
}

/// A proposed e-mail to a lead.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Draft {
    /// Our id.
    pub id: DraftId,
    /// The submission this draft answers, if any (drafts can also be created by hand).
    pub submission_id: Option<SubmissionId>,
    /// Recipient.
    pub contact_email: EmailAddress,
    /// Recipient's display name (single line, no control characters).
    pub contact_name: Option<String>,
    /// Recipient's CRM id, when resolved.
    pub contact_crm_id: Option<super::CrmId>,
    /// Company name, for display.
    pub company_name: Option<String>,
    /// The mailbox it goes out from.
    pub sender: EmailAddress,
    /// Subject line (single line).
    pub subject: String,
    /// Plain-text body.
    pub body: String,
    /// Status in the state machine.
    pub status: DraftStatus,
    /// Bumped on every change; updates name the version they saw.
    pub version: u32,
    /// ICP fit.
    pub icp: Option<IcpScore>,
    /// Priority score in the operator queue (higher first).
    pub priority: f64,
    /// Who wrote the text.
    pub writer: DraftWriter,
    /// Provenance ids of the facts the text uses.
    pub facts_used: Vec<String>,
    /// Voice similarity 0..=1, if a profile was applied.
    pub voice_similarity: Option<f64>,
    /// Operator-facing flags.
    pub flags: Vec<DraftFlag>,
    /// Thread to continue, if any.
    pub thread: ThreadRef,
    /// RFC Message-ID assigned when sending starts.
    pub message_id: Option<MessageId>,
    /// Provider's id of the sent message or mailbox draft.
    pub provider_message_id: Option<String>,
    /// The auto-approval decision, once evaluated.
    pub rule_decision: Option<RuleDecision>,
    /// The last send-policy decision.
    pub send_decision: Option<SendDecision>,
    /// Why it was rejected or failed.
    pub status_reason: Option<String>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
    /// When it was sent.
    pub sent_at: Option<DateTime<Utc>>,
    /// The current send claim while `Sending` (None when nobody holds it).
    #[serde(default)]
    pub send_claim: Option<SendClaim>,
    /// The mailbox draft holding this message (created before sending, or in DRAFT_ONLY mode).
    #[serde(default)]
    pub mailbox_draft_id: Option<String>,
    /// How the text was written (facts used, repairs, voice profile, template reason); `None`
    /// for drafts written by hand or stored before it was recorded.
    #[serde(default)]
    pub drafting: Option<DraftingReport>,
    /// Since when the provider said the mailbox draft is gone (sent or deleted) while the sent
    /// message could not be found yet: "not sent" may be concluded only from a search made at
    /// least the mailbox's search-lag bound after this.
    #[serde(default)]
    pub delivery_unconfirmed_since: Option<DateTime<Utc>>,
}

/// An operation on a draft.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "action")]
pub enum DraftAction {
    /// Approve for sending.
    Approve,
    /// Reject, with a reason.
    Reject {
        /// Why.
        reason: String,
    },
    /// Change subject and/or body.
    Edit {
        /// New subject, if changed.
        subject: Option<String>,
        /// New body, if changed.
        body: Option<String>,
    },
    /// Take the draft for sending with this Message-ID (recorded before the provider call).
    BeginSend {
        /// The Message-ID the message will carry.
        message_id: MessageId,
        /// The claim taken (fencing token and lease).
        #[serde(default)]
        claim: Option<SendClaim>,
    },
    /// Take over a `Sending` draft whose claim has lapsed (or was released).
    TakeOver {
        /// The new claim.
        claim: SendClaim,
    },
    /// The mailbox draft that will be sent was created (recorded before it is sent).
    RecordMailboxDraft {
        /// The mailbox's draft id.
        mailbox_draft_id: String,
    },
    /// The provider says the mailbox draft is gone but the sent message is not findable yet:
    /// release the claim and look again after the search-lag bound.
    AwaitConfirmation {
        /// When the provider said so (kept from the first time).
        since: DateTime<Utc>,
    },
    /// The holder is about to send with a mailbox that cannot send drafts (no idempotent send):
    /// from `at` on, a reconciler must look the Message-ID up (after the search-lag bound)
    /// before sending again.
    RecordSendAttempt {
        /// When the send starts.
        at: DateTime<Utc>,
    },
    /// Stored as a mailbox draft (DRAFT_ONLY): nothing was sent.
    MarkDrafted {
        /// The mailbox's draft id.
        mailbox_draft_id: String,
    },
    /// The holder gives up its claim after a failed provider call whose retry belongs to the
    /// job queue; the draft stays `Sending` and the next run takes it over at once.
    ReleaseClaim,
    /// Give a claimed draft back before the provider was called (kill switch, suppression,
    /// limit found after the claim): it is `Approved` again.
    ReturnToApproved {
        /// Why.
        reason: String,
    },
    /// The provider accepted the message.
    MarkSent {
        /// Provider's message id.
        provider_message_id: String,
    },
    /// Sending failed permanently.
    MarkFailed {
        /// Why.
        reason: String,
    },
    /// Stop a pending or approved draft (reply received, unsubscribed, bounced).
    Stop {
        /// Why.
        reason: String,
    },
    /// Record a send-policy and/or auto-approval decision without changing the status.
    RecordDecision {
        /// The send-policy decision, stored in [`Draft::send_decision`] when present.
        send: Option<SendDecision>,
        /// The rule decision, stored in [`Draft::rule_decision`] when present.
        rules: Option<RuleDecision>,
    },
}

impl DraftAction {
    /// The action's stable name for audit records.
    #[must_use]
    pub fn name(&self) -> &'static str {
        match self {
            Self::Approve => "approve",
            Self::Reject { .. } => "reject",
            Self::Edit { .. } => "edit",
            Self::BeginSend { .. } => "begin_send",
            Self::TakeOver { .. } => "take_over",
            Self::RecordMailboxDraft { .. } => "record_mailbox_draft",
            Self::AwaitConfirmation { .. } => "await_confirmation",
            Self::MarkDrafted { .. } => "mark_drafted",
            Self::ReturnToApproved { .. } => "return_to_approved",
            Self::ReleaseClaim => "release_claim",
            Self::RecordSendAttempt { .. } => "record_send_attempt",
            Self::MarkSent { .. } => "mark_sent",
            Self::MarkFailed { .. } => "mark_failed",
            Self::Stop { .. } => "stop",
            Self::RecordDecision { .. } => "record_decision",
        }
    }
}

/// The part of a draft an audit event records before and after a change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DraftSnapshot {
    /// Status.
    pub status: DraftStatus,
    /// Version.
    pub version: u32,
    /// Subject.
    pub subject: String,
    /// Body.
    pub body: String,
}

/// An audit record of one change to a draft.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DraftEvent {
    /// The draft.
    pub draft_id: DraftId,
    /// What was done.
    pub action: DraftAction,
    /// Who did it (`operator:alice`, `rule:auto_approve`, `system:sender`).
    pub actor: String,
    /// When.
    pub at: DateTime<Utc>,
    /// State before (None on creation).
    pub before: Option<DraftSnapshot>,
    /// State after.
    pub after: DraftSnapshot,
}

/// Longest subject we accept, in bytes.
pub const MAX_SUBJECT_LEN: usize = 998 - "Subject: ".len();
/// Longest body we accept, in bytes.
pub const MAX_BODY_LEN: usize = 256 * 1024;

/// Checks a subject: non-empty, one line, no control characters, within the header limit.
pub fn validate_subject(subject: &str) -> Result<()> {
    if subject.trim().is_empty() {
        return Err(Error::invalid("subject", "is empty"));
    }
    if subject.chars().any(char::is_control) {
        return Err(Error::invalid(
            "subject",
            "contains control characters (CR, LF, ...)",
        ));
    }
    if subject.len() > MAX_SUBJECT_LEN {
        return Err(Error::invalid("subject", "is too long"));
    }
    Ok(())
}

/// Checks a body: non-empty, no NUL, at most [`MAX_BODY_LEN`] bytes.
pub fn validate_body(body: &str) -> Result<()> {
    if body.trim().is_empty() {
        return Err(Error::invalid("body", "is empty"));
    }
    if body.contains('\0') {
        return Err(Error::invalid("body", "contains NUL"));
    }
    if body.len() > MAX_BODY_LEN {
        return Err(Error::invalid("body", "is too long"));
    }
    Ok(())
}

impl Draft {
    /// A new `Pending` draft at version 1 with nothing decided yet (no submission, CRM ids, ICP
    /// score, facts, flags, thread, rule or send decision); created and updated `at`. Set the
    /// rest with struct update syntax: `Draft { contact_name, ..Draft::new(..) }`.
    #[must_use]
    pub fn new(
        contact_email: EmailAddress,
        sender: EmailAddress,
        subject: impl Into<String>,
        body: impl Into<String>,
        writer: DraftWriter,
        at: DateTime<Utc>,
    ) -> Self {
        Self {
            id: DraftId::new(),
            submission_id: None,
            contact_email,
            contact_name: None,
            contact_crm_id: None,
            company_name: None,
            sender,
            subject: subject.into(),
            body: body.into(),
            status: DraftStatus::Pending,
            version: 1,
            icp: None,
            priority: 0.0,
            writer,
            facts_used: Vec::new(),
            voice_similarity: None,
            flags: Vec::new(),
            thread: ThreadRef::default(),
            message_id: None,
            provider_message_id: None,
            rule_decision: None,
            send_decision: None,
            status_reason: None,
            created_at: at,
            updated_at: at,
            sent_at: None,
            send_claim: None,
            mailbox_draft_id: None,
            delivery_unconfirmed_since: None,
            drafting: None,
        }
    }

    /// The snapshot an audit event records.
    #[must_use]
    pub fn snapshot(&self) -> DraftSnapshot {
        DraftSnapshot {
            status: self.status,
            version: self.version,
            subject: self.subject.clone(),
            body: self.body.clone(),
        }
    }

    /// The creation event for a new draft.
    #[must_use]
    pub fn created_event(&self, actor: &str) -> DraftEvent {
        DraftEvent {
            draft_id: self.id,
            action: DraftAction::Edit {
                subject: Some(self.subject.clone()),
                body: Some(self.body.clone()),
            },
            actor: actor.to_owned(),
            at: self.created_at,
            before: None,
            after: self.snapshot(),
        }
    }

    /// Whether `action` is legal from the current status (without applying it).
    #[must_use]
    pub fn can_apply(&self, action: &DraftAction) -> bool {
        use DraftStatus as S;
        matches!(
            (self.status, action),
            (
                S::Pending,
                DraftAction::Approve | DraftAction::Reject { .. }
            ) | (S::Pending | S::Approved, DraftAction::Edit { .. })
                | (
                    S::Pending | S::Approved | S::Drafted,
                    DraftAction::Stop { .. }
                )
                | (S::Approved | S::Drafted, DraftAction::BeginSend { .. })
                | (
                    S::Sending,
                    DraftAction::MarkSent { .. }
                        | DraftAction::MarkFailed { .. }
                        | DraftAction::TakeOver { .. }
                        | DraftAction::RecordMailboxDraft { .. }
                        | DraftAction::AwaitConfirmation { .. }
                        | DraftAction::MarkDrafted { .. }
                        | DraftAction::ReturnToApproved { .. }
                        | DraftAction::ReleaseClaim
                        | DraftAction::RecordSendAttempt { .. }
                )
                | (
                    S::Pending | S::Approved | S::Sending | S::Drafted,
                    DraftAction::RecordDecision { .. }
                )
        )
    }

    /// Applies `action`, bumping the version; returns the audit event.
    ///
    /// Illegal transitions and invalid edits are errors and leave the draft unchanged:
    /// [`Error::Conflict`] for a transition the status forbids, [`Error::InvalidInput`] for text.
    pub fn apply(
        &mut self,
        action: DraftAction,
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<DraftEvent> {
        if !self.can_apply(&action) {
            return Err(Error::conflict(format!(
                "cannot {} a draft that is {}",
                action.name(),
                self.status
            )));
        }
        let before = self.snapshot();
        self.change(&action, at)?;
        self.version += 1;
        self.updated_at = at;
        Ok(DraftEvent {
            draft_id: self.id,
            action,
            actor: actor.to_owned(),
            at,
            before: Some(before),
            after: self.snapshot(),
        })
    }

    /// The change `action` makes to the draft's fields (everything but version and
    /// `updated_at`); an invalid edit changes nothing.
    fn change(&mut self, action: &DraftAction, at: DateTime<Utc>) -> Result<()> {
        match action {
            DraftAction::Approve => self.status = DraftStatus::Approved,
            DraftAction::Reject { reason } | DraftAction::Stop { reason } => {
                self.status = DraftStatus::Rejected;
                self.status_reason = Some(reason.clone());
            }
            DraftAction::Edit { subject, body } => {
                self.edit(subject.as_deref(), body.as_deref())?;
            }
            DraftAction::BeginSend { message_id, claim } => {
                self.status = DraftStatus::Sending;
                self.message_id = Some(message_id.clone());
                self.send_claim.clone_from(claim);
            }
            DraftAction::TakeOver { claim } => self.send_claim = Some(claim.clone()),
            DraftAction::ReleaseClaim => self.send_claim = None,
            DraftAction::RecordSendAttempt { at } => self.delivery_unconfirmed_since = Some(*at),
            DraftAction::RecordMailboxDraft { mailbox_draft_id } => {
                self.mailbox_draft_id = Some(mailbox_draft_id.clone());
            }
            DraftAction::AwaitConfirmation { since } => {
                self.send_claim = None;
                self.delivery_unconfirmed_since.get_or_insert(*since);
            }
            DraftAction::MarkDrafted { mailbox_draft_id } => {
                self.status = DraftStatus::Drafted;
                self.mailbox_draft_id = Some(mailbox_draft_id.clone());
                self.send_claim = None;
            }
            DraftAction::ReturnToApproved { reason } => {
                self.status = DraftStatus::Approved;
                self.status_reason = Some(reason.clone());
                self.send_claim = None;
                self.delivery_unconfirmed_since = None;
            }
            DraftAction::MarkSent {
                provider_message_id,
            } => {
                self.status = DraftStatus::Sent;
                self.provider_message_id = Some(provider_message_id.clone());
                self.sent_at = Some(at);
                self.send_claim = None;
                self.delivery_unconfirmed_since = None;
            }
            DraftAction::MarkFailed { reason } => {
                self.status = DraftStatus::Failed;
                self.status_reason = Some(reason.clone());
                self.send_claim = None;
            }
            DraftAction::RecordDecision { send, rules } => {
                if let Some(d) = send {
                    self.send_decision = Some(d.clone());
                }
                if let Some(r) = rules {
                    self.rule_decision = Some(r.clone());
                }
            }
        }
        Ok(())
    }

    /// An operator's edit: new text (validated first), written by a human, back to `Pending`,
    /// and no Message-ID or mailbox draft of the old text kept.
    fn edit(&mut self, subject: Option<&str>, body: Option<&str>) -> Result<()> {
        if let Some(s) = subject {
            validate_subject(s)?;
        }
        if let Some(b) = body {
            validate_body(b)?;
        }
        if let Some(s) = subject {
            s.clone_into(&mut self.subject);
        }
        if let Some(b) = body {
            b.clone_into(&mut self.body);
        }
        self.writer = DraftWriter::Human;
        self.status = DraftStatus::Pending;
        // New text, new message: a mailbox draft made for the old text (e.g. before a
        // kill switch gave the draft back) is never the one sent.
        self.message_id = None;
        self.mailbox_draft_id = None;
        self.delivery_unconfirmed_since = None;
        Ok(())
    }
}
