//! Exactly-once sending of approved drafts.
//!
//! The protocol, per draft (each call makes at most one provider attempt; retries, backoff and
//! `Retry-After` belong to the job queue that runs [`kinds::SEND`] jobs):
//! 1. `Approved` (or `Drafted` once real sends are on): ask the [`SendPolicy`]; on `Allow`, take
//!    the draft with one compare-and-swap on its version (`BeginSend`) that records the
//!    Message-ID and a [`SendClaim`] (fencing token and lease) **before** the provider is called.
//!    Only the holder calls the provider, and every later write of the holder names the version
//!    it saw, so a holder whose claim was taken over can no longer change the draft.
//! 2. The holder checks the kill switch once more, renders the message and stores it as a
//!    mailbox draft ([`Mailbox::create_draft`](crate::ports::Mailbox::create_draft)), records
//!    the mailbox draft's id (fenced), then sends **that draft**
//!    ([`Mailbox::send_draft`](crate::ports::Mailbox::send_draft)). A mailbox draft that was
//!    sent is no longer a draft, so repeating the send can never deliver twice: this is the
//!    provider-level idempotency every retry and every reconciler relies on.
//! 3. In DRAFT_ONLY mode the mailbox draft is the result: the draft becomes `Drafted` (not
//!    `Sent`); sending it later sends that same mailbox draft.
//! 4. When the provider says the mailbox draft is gone (`NotFound`), it was sent (or deleted by a
//!    person): the sent message is looked up by Message-ID. A search younger than the mailbox's
//!    search-lag bound ([`SenderConfig::search_lag`]) never concludes "not sent": the draft
//!    waits (`AwaitConfirmation`) and is looked up again after the bound.
//! 5. A `Sending` draft whose claim lapsed (crash, lost lease) is taken over by another
//!    compare-and-swap and continued the same way: with a recorded mailbox draft, by sending that
//!    draft again (which cannot deliver twice); without one, no provider send was ever made.
//!
//! Any denial after the claim (kill switch, suppression) gives the draft back (`Approved`, or
//! `Rejected` for a suppressed recipient) and releases its limit reservation. Mailboxes without
//! draft sending ([`Error::Unsupported`] from `send_draft`) fall back to
//! [`Mailbox::send`](crate::ports::Mailbox::send) with reconciliation by Message-ID, under the
//! same claim and the same search-lag rule.

use super::mime::{MimeOptions, render};
use super::policy::{SendMode, SendPolicy, parse_time_zone};
use crate::model::{
    Denial, Draft, DraftAction, DraftId, DraftStatus, Job, MessageDirection, MessageId,
    MessageRecord, NewAuditEntry, NewJob, OutgoingMessage, ProviderMessageId, SendClaim,
    SendDecision, SentMessage, kinds,
};
use crate::outcomes::Outcomes;
use crate::ports::{DraftFilter, DynClock, DynCrm, DynMailbox, DynStore, SettingsExt};
use crate::{Error, Result};
use chrono::{DateTime, TimeDelta, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Actor name recorded on the sender's draft events.
pub const SENDER_ACTOR: &str = "system:sender";

/// How the sender behaves.
#[derive(Debug, Clone, PartialEq)]
pub struct SenderConfig {
    /// Who takes send claims (worker or process name).
    pub holder: String,
    /// How long a send claim lasts; far longer than one provider call (the HTTP layer's
    /// timeout), so a live holder never loses it mid-call.
    pub claim_lease: Duration,
    /// Bound on how long a sent message may take to become findable in the mailbox's search;
    /// "not sent" is never concluded from a search younger than this.
    pub search_lag: Duration,
    /// How long a send waits before looking again while the kill switch is on.
    pub kill_switch_recheck: Duration,
}

impl Default for SenderConfig {
    fn default() -> Self {
        Self {
            holder: "sender".to_owned(),
            claim_lease: Duration::from_secs(5 * 60),
            search_lag: Duration::from_secs(5 * 60),
            kill_switch_recheck: Duration::from_secs(60),
        }
    }
}

/// What one call to [`Sender::send_draft`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum SendOutcome {
    /// The provider accepted the message.
    Sent {
        /// The Message-ID.
        message_id: MessageId,
        /// Provider's id.
        provider_id: String,
    },
    /// DRAFT_ONLY: the message is a draft in the sender's mailbox; nothing was sent.
    Drafted {
        /// The Message-ID.
        message_id: MessageId,
        /// The mailbox draft's id.
        mailbox_draft_id: String,
    },
    /// A previous attempt had delivered it; found by Message-ID and marked sent without resending.
    Reconciled {
        /// The Message-ID.
        message_id: MessageId,
        /// Provider's id.
        provider_id: String,
    },
    /// Not now (send window, limits, kill switch); try again at `until`.
    Deferred {
        /// Earliest retry.
        until: DateTime<Utc>,
        /// Why.
        reason: Denial,
    },
    /// Refused for good (suppressed recipient: the draft is stopped).
    Denied {
        /// Why.
        reason: Denial,
    },
    /// Another sender holds the draft's claim; look again at `retry_at` (when it lapses).
    InFlight {
        /// When the claim lapses.
        retry_at: DateTime<Utc>,
    },
    /// The mailbox draft is gone but the sent message is not findable yet; look again at
    /// `retry_at` (the search-lag bound after the provider said so).
    Unconfirmed {
        /// When a search may decide.
        retry_at: DateTime<Utc>,
    },
    /// Failed permanently; the draft is `Failed`.
    Failed {
        /// Why.
        reason: String,
    },
    /// Nothing to do: the draft is not approved (already sent, rejected, pending, …).
    Skipped {
        /// Its status.
        status: DraftStatus,
    },
}

impl SendOutcome {
    /// True when this call delivered (or stored) a message or confirmed an earlier delivery.
    #[must_use]
    pub fn is_done(&self) -> bool {
        matches!(
            self,
            Self::Sent { .. } | Self::Reconciled { .. } | Self::Drafted { .. }
        )
    }

    /// When the send job should run again, for the "not now" outcomes.
    #[must_use]
    pub fn run_again_at(&self) -> Option<DateTime<Utc>> {
        match self {
            Self::Deferred { until, .. } => Some(*until),
            Self::InFlight { retry_at } | Self::Unconfirmed { retry_at } => Some(*retry_at),
            _ => None,
        }
    }
}

/// Payload of a [`kinds::SEND`] job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendJob {
    /// The draft to send.
    pub draft_id: DraftId,
}

/// Attempts of a send job before it is dead-lettered. A send job must outlive crashes of the
/// workers running it (each lease that runs out counts as an attempt) and provider outages: a
/// draft left `Sending` is only ever finished or reconciled by its send job. With the queue's
/// backoff capped at 15 minutes this is about a day of retries; permanent errors still end the
/// job at once.
pub const SEND_JOB_ATTEMPTS: u32 = 100;

impl SendJob {
    /// A send job for `draft` at `version`; enqueueing twice for one version yields one job.
    #[must_use]
    pub fn new_job(draft: DraftId, version: u32) -> NewJob {
        NewJob::new(kinds::SEND, serde_json::json!({ "draft_id": draft }))
            .with_key(format!("send:{draft}:v{version}"))
            .with_max_attempts(SEND_JOB_ATTEMPTS)
    }
}

fn after(now: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    TimeDelta::from_std(d)
        .ok()
        .and_then(|d| now.checked_add_signed(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// Sends approved drafts exactly once through a mailbox.
#[derive(Debug, Clone)]
pub struct Sender {
    store: DynStore,
    mailbox: DynMailbox,
    clock: DynClock,
    crm: Option<DynCrm>,
    policy: SendPolicy,
    mime: MimeOptions,
    config: SenderConfig,
}

/// Which provider call failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// Creating the mailbox draft (or a store write before any send): nothing was sent.
    Prepare,
    /// Sending the mailbox draft: an earlier attempt of the same draft may have delivered.
    SendDraft,
    /// `Mailbox::send` of a mailbox without draft sending: this very call may have delivered.
    Send,
}

/// How a claimed draft's send ended, before it is turned into a [`SendOutcome`].
enum Delivery {
    Sent(SentMessage),
    Gone,
}

impl Sender {
    /// A sender over `store` and `mailbox`, deciding with `policy` and rendering with `mime`.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when `mime` or the send window is invalid.
    pub fn new(
        store: DynStore,
        mailbox: DynMailbox,
        clock: DynClock,
        policy: SendPolicy,
        mime: MimeOptions,
    ) -> Result<Self> {
        mime.validate()?;
        if let Some(w) = &policy.config.window {
            w.validate()?;
        }
        Ok(Self {
            store,
            mailbox,
            clock,
            crm: None,
            policy,
            mime,
            config: SenderConfig::default(),
        })
    }

    /// Looks recipients' time zones up in this CRM (otherwise the window's default zone).
    #[must_use]
    pub fn with_crm(mut self, crm: DynCrm) -> Self {
        self.crm = Some(crm);
        self
    }

    /// Replaces the claim, search-lag and kill-switch settings.
    #[must_use]
    pub fn with_config(mut self, config: SenderConfig) -> Self {
        self.config = config;
        self
    }

    /// The policy in use.
    #[must_use]
    pub fn policy(&self) -> &SendPolicy {
        &self.policy
    }

    /// The store in use.
    #[must_use]
    pub fn store(&self) -> &DynStore {
        &self.store
    }

    /// The settings in use.
    #[must_use]
    pub fn config(&self) -> &SenderConfig {
        &self.config
    }

    fn mode(&self) -> SendMode {
        self.policy.config.mode
    }

    async fn recipient_tz(&self, draft: &Draft) -> Option<Tz> {
        let crm = self.crm.as_ref()?;
        match crm.find_contact_by_email(&draft.contact_email).await {
            Ok(Some(c)) => c.time_zone.as_deref().and_then(parse_time_zone),
            Ok(None) => None,
            Err(e) => {
                tracing::warn!(draft = %draft.id, error = %e, "time zone lookup failed; using the default zone");
                None
            }
        }
    }

    /// Enqueues a send job for every draft this sender would act on: `Approved` and abandoned
    /// `Sending` ones, and `Drafted` ones when real sends are on (they are sent from the same
    /// mailbox draft); a dead send job of such a draft is requeued. Returns how many jobs were
    /// new or requeued. Used by `cli send` and at start-up; the
    /// jobs are keyed per draft and version, so calling it again adds nothing.
    ///
    /// # Errors
    /// Store errors.
    pub async fn enqueue_pending_sends(&self) -> Result<usize> {
        let mut statuses = vec![DraftStatus::Sending, DraftStatus::Approved];
        if self.mode() == SendMode::RealSends {
            statuses.push(DraftStatus::Drafted);
        }
        let mut new = 0;
        for status in statuses {
            let drafts = self
                .store
                .list_drafts(&DraftFilter {
                    status: Some(status),
                    ..DraftFilter::default()
                })
                .await?;
            for d in drafts {
                let (job, created) = self
                    .store
                    .enqueue(&SendJob::new_job(d.id, d.version))
                    .await?;
                if created {
                    new += 1;
                } else if job.state == crate::model::JobState::Dead {
                    // Its job ran out of attempts (e.g. a long provider outage): an explicit
                    // send gives it a fresh budget.
                    self.store.requeue_dead(job.id).await?;
                    new += 1;
                }
            }
        }
        Ok(new)
    }

    /// Makes one step of sending draft `id`: takes an `Approved` draft (or a `Drafted` one when
    /// real sends are on) and sends it, continues a `Sending` one whose claim lapsed, and does
    /// nothing for the rest ([`SendOutcome::Skipped`]). At most one provider attempt.
    ///
    /// # Errors
    /// Store or mailbox errors that leave the outcome open (the draft stays `Approved` or
    /// `Sending` without a claim): run it again later, with backoff.
    pub async fn send_draft(&self, id: DraftId) -> Result<SendOutcome> {
        let draft = self.store.get_draft(id).await?;
        match draft.status {
            DraftStatus::Approved => self.start(draft).await,
            DraftStatus::Drafted if self.mode() == SendMode::RealSends => self.start(draft).await,
            DraftStatus::Sending => self.resume(draft).await,
            status => Ok(SendOutcome::Skipped { status }),
        }
    }

    fn new_claim(&self, now: DateTime<Utc>) -> SendClaim {
        SendClaim::new(
            self.config.holder.clone(),
            after(now, self.config.claim_lease),
        )
    }

    /// Applies `action` to `draft` (as the holder saw it) with the store's version check.
    /// `Ok(false)` when someone else changed the draft first: the holder lost it.
    async fn write(&self, draft: &mut Draft, action: DraftAction) -> Result<bool> {
        let expected = draft.version;
        let event = draft.apply(action, SENDER_ACTOR, self.clock.now())?;
        match self.store.update_draft(draft, expected, &event).await {
            Ok(()) => Ok(true),
            Err(Error::Conflict { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// What to answer when the holder lost the draft to another writer.
    async fn lost(&self, id: DraftId) -> Result<SendOutcome> {
        let current = self.store.get_draft(id).await?;
        let now = self.clock.now();
        match (&current.status, &current.send_claim) {
            (DraftStatus::Sending, Some(c)) if !c.expired(now) => Ok(SendOutcome::InFlight {
                retry_at: c.expires_at,
            }),
            (DraftStatus::Sending, _) => Ok(SendOutcome::InFlight { retry_at: now }),
            (status, _) => Ok(SendOutcome::Skipped { status: *status }),
        }
    }

    async fn start(&self, draft: Draft) -> Result<SendOutcome> {
        let now = self.clock.now();
        let tz = self.recipient_tz(&draft).await;
        let decision = self.policy.decide(&*self.store, &draft, tz, now).await?;
        match decision {
            SendDecision::Allow => {
                let mut d = draft;
                d.send_decision = Some(SendDecision::Allow);
                let message_id = d
                    .message_id
                    .clone()
                    .unwrap_or_else(|| self.mime.new_message_id());
                let claim = self.new_claim(now);
                let action = DraftAction::BeginSend {
                    message_id,
                    claim: Some(claim),
                };
                if !self.write(&mut d, action).await? {
                    // Someone moved it first (another sender, an edit, a stop).
                    let outcome = self.lost(d.id).await?;
                    if let SendOutcome::Skipped { status } = &outcome
                        && !matches!(status, DraftStatus::Sent | DraftStatus::Drafted)
                    {
                        self.store.release_send(d.id).await?;
                    }
                    return Ok(outcome);
                }
                self.deliver(d).await
            }
            SendDecision::Defer { until, reason } => {
                self.record_decision(
                    draft,
                    SendDecision::Defer {
                        until,
                        reason: reason.clone(),
                    },
                )
                .await?;
                Ok(SendOutcome::Deferred { until, reason })
            }
            SendDecision::Deny { reason } if reason.is_kill_switch() => {
                let until = after(now, self.config.kill_switch_recheck);
                self.record_decision(
                    draft,
                    SendDecision::Deny {
                        reason: reason.clone(),
                    },
                )
                .await?;
                Ok(SendOutcome::Deferred { until, reason })
            }
            SendDecision::Deny { reason } => {
                let mut d = draft;
                d.send_decision = Some(SendDecision::Deny {
                    reason: reason.clone(),
                });
                if reason.is_suppressed() {
                    self.write(
                        &mut d,
                        DraftAction::Stop {
                            reason: reason.to_string(),
                        },
                    )
                    .await?;
                } else {
                    let send = d.send_decision.clone();
                    self.write(&mut d, DraftAction::RecordDecision { send, rules: None })
                        .await?;
                }
                self.store.release_send(d.id).await?;
                Ok(SendOutcome::Denied { reason })
            }
        }
    }

    /// Stores a non-Allow decision; a conflict means someone changed the draft meanwhile and the
    /// decision is re-made next time.
    async fn record_decision(&self, mut draft: Draft, decision: SendDecision) -> Result<()> {
        self.write(
            &mut draft,
            DraftAction::RecordDecision {
                send: Some(decision),
                rules: None,
            },
        )
        .await
        .map(|_| ())
    }

    async fn resume(&self, mut draft: Draft) -> Result<SendOutcome> {
        let now = self.clock.now();
        if let Some(c) = &draft.send_claim
            && !c.expired(now)
        {
            return Ok(SendOutcome::InFlight {
                retry_at: c.expires_at,
            });
        }
        let claim = self.new_claim(now);
        if !self
            .write(&mut draft, DraftAction::TakeOver { claim })
            .await?
        {
            return self.lost(draft.id).await;
        }
        if let Some(since) = draft.delivery_unconfirmed_since {
            return self.confirm(draft, since).await;
        }
        // Only a real-send holder records a mailbox draft while `Sending`: in DRAFT_ONLY mode such
        // a draft may already have gone out, so it is looked up as for a denial.
        if draft.mailbox_draft_id.is_some()
            && (self.mode() == SendMode::DraftOnly || self.denied_now(&draft).await?)
        {
            // The previous holder may have sent the recorded mailbox draft before it died: ask
            // the provider before any denial gives the draft back or stops it, and decide "not
            // sent" only a search-lag bound later (then `confirm` applies the denial).
            return match self.look_up_sent(draft, now).await? {
                Ok(outcome) => Ok(outcome),
                Err(draft) => self.deliver(draft).await,
            };
        }
        self.deliver(draft).await
    }

    /// True when the kill switch is on or the recipient is suppressed.
    async fn denied_now(&self, draft: &Draft) -> Result<bool> {
        Ok(self.store.kill_switch().await?
            || self
                .store
                .suppression(&draft.contact_email)
                .await?
                .is_some())
    }

    /// The provider said the message left (or the mailbox draft vanished) at `since`: find it,
    /// or wait until a search may decide.
    async fn confirm(&self, draft: Draft, since: DateTime<Utc>) -> Result<SendOutcome> {
        let draft = match self.look_up_sent(draft, since).await? {
            Ok(outcome) => return Ok(outcome),
            Err(draft) => draft,
        };
        // Past the search-lag bound and nothing carries our Message-ID: the ambiguous attempt did
        // not deliver. Sending the mailbox draft again is safe (a sent draft cannot be sent
        // again; a draft a person deleted ends `Failed` below, never re-created); a mailbox
        // without draft sending sends the message again.
        self.deliver(draft).await
    }

    /// Finds the sent message, or (while a search may not yet decide) records that the draft
    /// waits and answers `Unconfirmed`. `Err(draft)` when the search-lag bound has passed and
    /// nothing carries our Message-ID: the caller decides.
    async fn look_up_sent(
        &self,
        mut draft: Draft,
        since: DateTime<Utc>,
    ) -> Result<std::result::Result<SendOutcome, Draft>> {
        let Some(message_id) = draft.message_id.clone() else {
            let outcome = self
                .fail(draft, "sending without a recorded Message-ID".into())
                .await?;
            return Ok(Ok(outcome));
        };
        if let Some(sent) = self.mailbox.find_sent(&message_id).await? {
            return self.mark_sent(draft, &sent, true).await.map(Ok);
        }
        let decisive_at = after(since, self.config.search_lag);
        if self.clock.now() < decisive_at {
            if !self
                .write(&mut draft, DraftAction::AwaitConfirmation { since })
                .await?
            {
                return self.lost(draft.id).await.map(Ok);
            }
            return Ok(Ok(SendOutcome::Unconfirmed {
                retry_at: decisive_at,
            }));
        }
        Ok(Err(draft))
    }

    /// Gives a claimed draft back (nothing was sent by this call) and releases its reservation.
    async fn give_back(&self, mut draft: Draft, reason: String) -> Result<bool> {
        let ok = self
            .write(&mut draft, DraftAction::ReturnToApproved { reason })
            .await?;
        if ok {
            self.store.release_send(draft.id).await?;
        }
        Ok(ok)
    }

    /// The holder's part: checks, then the provider call. `draft` is `Sending` with our claim.
    async fn deliver(&self, mut draft: Draft) -> Result<SendOutcome> {
        let now = self.clock.now();
        if let Some(outcome) = self.refuse_claimed(&draft, now).await? {
            return Ok(outcome);
        }
        let Some(message_id) = draft.message_id.clone() else {
            return self
                .fail(draft, "sending without a recorded Message-ID".into())
                .await;
        };
        let message = match render(&draft, &message_id, now, &self.mime) {
            Ok(m) => m,
            Err(e) => return self.fail(draft, format!("cannot render: {e}")).await,
        };
        let mailbox_draft = match self
            .mailbox_draft(&mut draft, &message, &message_id)
            .await?
        {
            Ok(m) => m,
            Err(outcome) => return Ok(outcome),
        };
        if self.mode() == SendMode::DraftOnly {
            return self.keep_drafted(draft, &mailbox_draft, message_id).await;
        }
        match self.send_once(&mut draft, &mailbox_draft, &message).await {
            Ok(Delivery::Sent(sent)) => self.mark_sent(draft, &sent, false).await,
            Ok(Delivery::Gone) => self.gone_before_send(draft).await,
            Err((e, step)) => self.provider_error(draft, e, step).await,
        }
    }

    /// The checks after the claim: with the kill switch on the draft is given back (deferred);
    /// for a suppressed recipient it is given back and stopped. `None` when neither applies.
    async fn refuse_claimed(
        &self,
        draft: &Draft,
        now: DateTime<Utc>,
    ) -> Result<Option<SendOutcome>> {
        if self.store.kill_switch().await? {
            let reason = Denial::KillSwitch;
            if !self.give_back(draft.clone(), reason.to_string()).await? {
                return self.lost(draft.id).await.map(Some);
            }
            return Ok(Some(SendOutcome::Deferred {
                until: after(now, self.config.kill_switch_recheck),
                reason,
            }));
        }
        if self
            .store
            .suppression(&draft.contact_email)
            .await?
            .is_some()
        {
            let reason = Denial::Suppressed { suppression: None };
            let id = draft.id;
            if !self.give_back(draft.clone(), reason.to_string()).await? {
                return self.lost(id).await.map(Some);
            }
            let mut back = self.store.get_draft(id).await?;
            self.write(
                &mut back,
                DraftAction::Stop {
                    reason: reason.to_string(),
                },
            )
            .await?;
            return Ok(Some(SendOutcome::Denied { reason }));
        }
        Ok(None)
    }

    /// The mailbox draft to send: the recorded one, or a new one (recorded, fenced). In
    /// DRAFT_ONLY mode a new mailbox draft is the result (`Err(Drafted)`); `Err` also carries
    /// the outcome when the claim was lost or the provider refused.
    async fn mailbox_draft(
        &self,
        draft: &mut Draft,
        message: &OutgoingMessage,
        message_id: &MessageId,
    ) -> Result<std::result::Result<SentMessage, SendOutcome>> {
        if let Some(id) = &draft.mailbox_draft_id {
            return Ok(Ok(SentMessage {
                provider_id: ProviderMessageId::new(id.clone()),
                thread_id: message.thread_id.clone(),
                message_id: message_id.clone(),
            }));
        }
        let created = match self.mailbox.create_draft(message).await {
            Ok(c) => c,
            // Nothing was sent: an unsent (or orphaned) mailbox draft at most.
            Err(e) => {
                return self
                    .provider_error(draft.clone(), e, Step::Prepare)
                    .await
                    .map(Err);
            }
        };
        let mailbox_draft_id = created.provider_id.as_str().to_owned();
        let recorded = if self.mode() == SendMode::DraftOnly {
            DraftAction::MarkDrafted { mailbox_draft_id }
        } else {
            DraftAction::RecordMailboxDraft { mailbox_draft_id }
        };
        if !self.write(draft, recorded).await? {
            // Taken over meanwhile: the new holder sends; our mailbox draft stays unsent.
            return self.lost(draft.id).await.map(Err);
        }
        if self.mode() == SendMode::DraftOnly {
            self.audit(
                draft,
                "draft.drafted",
                serde_json::json!({
                    "message_id": message_id,
                    "mailbox_draft_id": created.provider_id.as_str(),
                }),
            )
            .await;
            return Ok(Err(SendOutcome::Drafted {
                message_id: message_id.clone(),
                mailbox_draft_id: created.provider_id.as_str().to_owned(),
            }));
        }
        Ok(Ok(created))
    }

    /// Back to DRAFT_ONLY with a mailbox draft already made (e.g. given back by the kill switch
    /// after real sends were switched off): that draft is the result.
    async fn keep_drafted(
        &self,
        mut draft: Draft,
        mailbox_draft: &SentMessage,
        message_id: MessageId,
    ) -> Result<SendOutcome> {
        let id = mailbox_draft.provider_id.as_str().to_owned();
        if !self
            .write(
                &mut draft,
                DraftAction::MarkDrafted {
                    mailbox_draft_id: id.clone(),
                },
            )
            .await?
        {
            return self.lost(draft.id).await;
        }
        Ok(SendOutcome::Drafted {
            message_id,
            mailbox_draft_id: id,
        })
    }

    /// The provider says the mailbox draft is gone: find the sent message, or wait, or (a
    /// search-lag bound after the provider first said so, with no sent message carrying our
    /// Message-ID) fail: a person deleted it, and sending anew could surprise them.
    async fn gone_before_send(&self, draft: Draft) -> Result<SendOutcome> {
        let since = draft
            .delivery_unconfirmed_since
            .unwrap_or_else(|| self.clock.now());
        match self.look_up_sent(draft, since).await? {
            Ok(outcome) => Ok(outcome),
            Err(draft) => {
                self.fail(
                    draft,
                    "the mailbox draft was deleted before it was sent".into(),
                )
                .await
            }
        }
    }

    /// One provider send: the mailbox draft, or the rendered message where the mailbox cannot
    /// send drafts.
    async fn send_once(
        &self,
        draft: &mut Draft,
        mailbox_draft: &SentMessage,
        message: &OutgoingMessage,
    ) -> std::result::Result<Delivery, (Error, Step)> {
        match self.mailbox.send_draft(mailbox_draft).await {
            Ok(sent) => Ok(Delivery::Sent(sent)),
            Err(Error::NotFound { .. }) => Ok(Delivery::Gone),
            // Without idempotent draft sending, a send may deliver even if its caller dies:
            // record the attempt first (fenced), so a reconciler looks the Message-ID up after
            // the search-lag bound before it sends again.
            Err(Error::Unsupported { .. }) => {
                let at = self.clock.now();
                match self
                    .write(draft, DraftAction::RecordSendAttempt { at })
                    .await
                {
                    Ok(true) => {}
                    Ok(false) => {
                        return Err((
                            Error::conflict("the send claim was taken over before the send"),
                            Step::Prepare,
                        ));
                    }
                    Err(e) => return Err((e, Step::Prepare)),
                }
                self.mailbox
                    .send(message)
                    .await
                    .map(Delivery::Sent)
                    .map_err(|e| (e, Step::Send))
            }
            // Sending the same mailbox draft again can never deliver twice.
            Err(e) => Err((e, Step::SendDraft)),
        }
    }

    /// A failed provider call. A rejection of the message itself ends the draft `Failed`, but
    /// only when nothing can have been delivered: a refusal of a send step whose earlier attempt
    /// may have delivered (a lost acknowledgement) first looks the Message-ID up, and fails the
    /// draft only when a search made a search-lag bound later finds nothing. Any other error
    /// (transient, or ambiguous) releases the claim and goes back to the job queue, whose next
    /// run sends the same mailbox draft again (which cannot deliver twice) or, for a mailbox
    /// without drafts, looks the Message-ID up after the search-lag bound first.
    async fn provider_error(&self, mut draft: Draft, e: Error, step: Step) -> Result<SendOutcome> {
        if matches!(
            e,
            Error::InvalidInput { .. } | Error::PermissionDenied { .. }
        ) {
            if step == Step::Prepare {
                return self.fail(draft, e.to_string()).await;
            }
            let since = draft
                .delivery_unconfirmed_since
                .unwrap_or_else(|| self.clock.now());
            return match self.look_up_sent(draft, since).await? {
                Ok(outcome) => Ok(outcome),
                Err(draft) => self.fail(draft, e.to_string()).await,
            };
        }
        let action = if step == Step::Send {
            // A mailbox without draft sending may have delivered: decide only after the lag
            // bound, by Message-ID.
            DraftAction::AwaitConfirmation {
                since: self.clock.now(),
            }
        } else {
            DraftAction::ReleaseClaim
        };
        let id = draft.id;
        if let Err(we) = self.write(&mut draft, action).await {
            tracing::warn!(draft = %id, error = %we, "could not release the send claim; it lapses with its lease");
        }
        Err(e)
    }

    async fn mark_sent(
        &self,
        mut draft: Draft,
        sent: &SentMessage,
        reconciled: bool,
    ) -> Result<SendOutcome> {
        let provider_id = sent.provider_id.as_str().to_owned();
        let message_id = sent.message_id.clone();
        if !self
            .write(
                &mut draft,
                DraftAction::MarkSent {
                    provider_message_id: provider_id.clone(),
                },
            )
            .await?
        {
            let current = self.store.get_draft(draft.id).await?;
            if current.status == DraftStatus::Sent {
                // Another sender confirmed the same message (same Message-ID, same mailbox
                // draft): one delivery, recorded once.
                return Ok(SendOutcome::Reconciled {
                    message_id,
                    provider_id,
                });
            }
            return self.lost(draft.id).await;
        }
        if let Some(message_id) = &draft.message_id {
            let record = MessageRecord {
                message_id: message_id.clone(),
                direction: MessageDirection::Outbound,
                contact_email: draft.contact_email.clone(),
                draft_id: Some(draft.id),
                thread: draft.thread.clone(),
                subject: draft.subject.clone(),
                body: draft.body.clone(),
                at: self.clock.now(),
            };
            if let Err(e) = self.store.record_message(&record).await {
                tracing::warn!(draft = %draft.id, error = %e, "sent, but recording the message failed");
            }
        }
        let outcomes = Outcomes::new(self.store.clone(), self.clock.clone());
        if let Err(e) = outcomes.record_sent(&draft).await {
            tracing::warn!(draft = %draft.id, error = %e, "sent, but recording email_sent failed");
        }
        self.audit(
            &draft,
            "draft.sent",
            serde_json::json!({
                "message_id": draft.message_id,
                "provider_message_id": provider_id,
                "reconciled": reconciled,
            }),
        )
        .await;
        Ok(if reconciled {
            SendOutcome::Reconciled {
                message_id,
                provider_id,
            }
        } else {
            SendOutcome::Sent {
                message_id,
                provider_id,
            }
        })
    }

    async fn fail(&self, mut draft: Draft, reason: String) -> Result<SendOutcome> {
        if !self
            .write(
                &mut draft,
                DraftAction::MarkFailed {
                    reason: reason.clone(),
                },
            )
            .await?
        {
            return self.lost(draft.id).await;
        }
        self.store.release_send(draft.id).await?;
        self.audit(
            &draft,
            "draft.send_failed",
            serde_json::json!({ "reason": reason }),
        )
        .await;
        Ok(SendOutcome::Failed { reason })
    }

    async fn audit(&self, draft: &Draft, action: &str, details: serde_json::Value) {
        let entry = NewAuditEntry {
            actor: SENDER_ACTOR.to_owned(),
            action: action.to_owned(),
            subject: draft.id.to_string(),
            details,
        };
        if let Err(e) = self.store.append_audit(&entry).await {
            tracing::warn!(draft = %draft.id, error = %e, "audit append failed");
        }
    }
}

/// The payload of a [`kinds::SEND`] job.
///
/// # Errors
/// [`Error::InvalidInput`] for a malformed payload (do not retry).
pub fn send_job_payload(job: &Job) -> Result<SendJob> {
    serde_json::from_value(job.payload.clone())
        .map_err(|e| Error::invalid("payload", format!("send job: {e}")))
}
