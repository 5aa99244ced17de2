//! Exactly-once sending of approved drafts.
//!
//! The protocol, per draft:
//! 1. `Approved`: ask the [`SendPolicy`]; on `Allow`, move the draft to `Sending` with a fresh
//!    Message-ID recorded in the store (`BeginSend`) **before** the provider is called.
//! 2. Render and hand the message to the mailbox (`send`, or `create_draft` in DRAFT_ONLY mode).
//! 3. On any error, look the Message-ID up in the mailbox ([`Mailbox::find_sent`](crate::ports::Mailbox::find_sent)) before doing
//!    anything else: a timeout after delivery is a success. Transient errors retry with backoff;
//!    permanent ones end `Failed` with the reason and release the limit reservation.
//! 4. A draft found in `Sending` later (crash, timeout, lost lease) is reconciled the same way:
//!    look first, send only when the lookup says it never went out.
//!
//! A failed lookup never leads to a send: the draft stays `Sending` and is retried later.
//! A draft in `Sending` that changed less than [`SenderConfig::in_flight_grace`] ago belongs to
//! another worker that may still be talking to the provider, so it is left alone until then.

use super::mime::{MimeOptions, render};
use super::policy::{REASON_SUPPRESSED, SendMode, SendPolicy, parse_time_zone};
use crate::model::{
    Draft, DraftAction, DraftId, DraftStatus, Job, MailQuery, MessageDirection, MessageId,
    MessageRecord, NewAuditEntry, NewJob, RetryPolicy, SendDecision, kinds,
};
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
    /// Backoff between provider attempts.
    pub retry: RetryPolicy,
    /// Provider attempts per call before leaving the draft `Sending` for a later retry.
    pub max_attempts: u32,
    /// A `Sending` draft younger than this is assumed to be in another worker's hands.
    pub in_flight_grace: Duration,
}

impl Default for SenderConfig {
    fn default() -> Self {
        Self {
            retry: RetryPolicy {
                base: Duration::from_secs(2),
                max: Duration::from_secs(30),
                jitter: 0.3,
            },
            max_attempts: 3,
            in_flight_grace: Duration::from_secs(10 * 60),
        }
    }
}

/// What one call to [`Sender::send_draft`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum SendOutcome {
    /// The provider accepted the message (or stored the mailbox draft in DRAFT_ONLY mode).
    Sent {
        /// The Message-ID.
        message_id: MessageId,
        /// Provider's id.
        provider_id: String,
        /// True when only a mailbox draft was created.
        draft_only: bool,
    },
    /// A previous attempt had delivered it; found by Message-ID and marked sent without resending.
    Reconciled {
        /// The Message-ID.
        message_id: MessageId,
        /// Provider's id.
        provider_id: String,
    },
    /// Not now (send window, limits); try again at `until`.
    Deferred {
        /// Earliest retry.
        until: DateTime<Utc>,
        /// Why.
        reason: String,
    },
    /// Refused (kill switch, suppression, limits); a suppressed draft is stopped.
    Denied {
        /// Why.
        reason: String,
    },
    /// Another worker changed less than the grace period ago; look again at `retry_at`.
    InFlight {
        /// When the draft counts as abandoned.
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
        matches!(self, Self::Sent { .. } | Self::Reconciled { .. })
    }
}

/// Payload of a [`kinds::SEND`] job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendJob {
    /// The draft to send.
    pub draft_id: DraftId,
}

impl SendJob {
    /// A send job for `draft` at `version`; enqueueing twice for one version yields one job.
    #[must_use]
    pub fn new_job(draft: DraftId, version: u32) -> NewJob {
        NewJob::new(kinds::SEND, serde_json::json!({ "draft_id": draft }))
            .with_key(format!("send:{draft}:v{version}"))
    }
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

    /// Replaces the retry and grace settings.
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

    /// Sends every approved draft and reconciles abandoned `Sending` ones, oldest first.
    ///
    /// # Errors
    /// Only listing errors; per-draft errors are reported in the list.
    pub async fn send_all(&self) -> Result<Vec<(DraftId, Result<SendOutcome>)>> {
        let mut out = Vec::new();
        for status in [DraftStatus::Sending, DraftStatus::Approved] {
            let mut drafts = self
                .store
                .list_drafts(&DraftFilter {
                    status: Some(status),
                    ..DraftFilter::default()
                })
                .await?;
            drafts.sort_by_key(|d| (d.created_at, d.id));
            for d in drafts {
                let r = self.send_draft(d.id).await;
                out.push((d.id, r));
            }
        }
        Ok(out)
    }

    /// Sends one draft if it is approved, or reconciles it if it was left `Sending`.
    /// Calling it again after success does nothing ([`SendOutcome::Skipped`]).
    ///
    /// # Errors
    /// Store or mailbox errors that leave the outcome open (the draft stays `Approved` or
    /// `Sending` and a later call picks it up): retry later.
    pub async fn send_draft(&self, id: DraftId) -> Result<SendOutcome> {
        let draft = self.store.get_draft(id).await?;
        match draft.status {
            DraftStatus::Approved => self.start(draft).await,
            DraftStatus::Sending => self.resume(draft).await,
            status => Ok(SendOutcome::Skipped { status }),
        }
    }

    async fn start(&self, draft: Draft) -> Result<SendOutcome> {
        let now = self.clock.now();
        let tz = self.recipient_tz(&draft).await;
        let decision = self.policy.decide(&*self.store, &draft, tz, now).await?;
        match decision {
            SendDecision::Allow => {
                let mut d = draft;
                let expected = d.version;
                d.send_decision = Some(SendDecision::Allow);
                let message_id = self.mime.new_message_id();
                let event = d.apply(
                    DraftAction::BeginSend {
                        message_id: message_id.clone(),
                    },
                    SENDER_ACTOR,
                    now,
                )?;
                match self.store.update_draft(&d, expected, &event).await {
                    Ok(()) => {}
                    Err(Error::Conflict { .. }) => {
                        // Someone else moved it first (another sender, an edit, a stop).
                        let current = self.store.get_draft(d.id).await?;
                        return Ok(SendOutcome::Skipped {
                            status: current.status,
                        });
                    }
                    Err(e) => return Err(e),
                }
                self.deliver(d).await
            }
            SendDecision::Defer { until, reason } => {
                let decision = SendDecision::Defer {
                    until,
                    reason: reason.clone(),
                };
                self.record_decision(draft, decision, None).await?;
                Ok(SendOutcome::Deferred { until, reason })
            }
            SendDecision::Deny { reason } => {
                let stop = reason
                    .starts_with(REASON_SUPPRESSED)
                    .then(|| reason.clone());
                let decision = SendDecision::Deny {
                    reason: reason.clone(),
                };
                self.record_decision(draft, decision, stop).await?;
                Ok(SendOutcome::Denied { reason })
            }
        }
    }

    /// Stores a non-Allow decision; with `stop`, also stops the draft (suppressed recipient).
    async fn record_decision(
        &self,
        mut draft: Draft,
        decision: SendDecision,
        stop: Option<String>,
    ) -> Result<()> {
        let expected = draft.version;
        let now = self.clock.now();
        let event = if let Some(reason) = stop {
            draft.send_decision = Some(decision);
            draft.apply(DraftAction::Stop { reason }, SENDER_ACTOR, now)?
        } else {
            draft.apply(
                DraftAction::RecordDecision {
                    send: Some(decision),
                    rules: None,
                },
                SENDER_ACTOR,
                now,
            )?
        };
        match self.store.update_draft(&draft, expected, &event).await {
            // Someone changed it meanwhile; the decision is re-made next time.
            Ok(()) | Err(Error::Conflict { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn resume(&self, draft: Draft) -> Result<SendOutcome> {
        let now = self.clock.now();
        let grace = TimeDelta::from_std(self.config.in_flight_grace).unwrap_or(TimeDelta::MAX);
        let stale_at = draft.updated_at.checked_add_signed(grace).unwrap_or(now);
        if now < stale_at {
            return Ok(SendOutcome::InFlight { retry_at: stale_at });
        }
        let Some(message_id) = draft.message_id.clone() else {
            return self
                .fail(draft, "sending without a recorded Message-ID".into())
                .await;
        };
        if let Some(provider_id) = self.find_delivered(&message_id).await? {
            self.mark_sent(draft, provider_id.clone()).await?;
            return Ok(SendOutcome::Reconciled {
                message_id,
                provider_id,
            });
        }
        self.deliver(draft).await
    }

    /// The provider id of the message with this Message-ID, if the mailbox has it.
    async fn find_delivered(&self, message_id: &MessageId) -> Result<Option<String>> {
        if let Some(sent) = self.mailbox.find_sent(message_id).await? {
            return Ok(Some(sent.provider_id.0));
        }
        if self.mode() == SendMode::DraftOnly {
            // Mailbox drafts are not in the sent folder; search everything.
            let found = self
                .mailbox
                .search(&MailQuery {
                    message_id: Some(message_id.clone()),
                    limit: 1,
                    ..MailQuery::default()
                })
                .await?;
            if let Some(m) = found.into_iter().next() {
                return Ok(Some(m.provider_id.0));
            }
        }
        Ok(None)
    }

    fn jitter(draft: &Draft, attempt: u32) -> f64 {
        // Deterministic per draft and attempt: spreads retries without a random source.
        let bits = draft.id.as_uuid().as_u128() as u64 ^ u64::from(attempt).wrapping_mul(0x9E37);
        (bits % 1000) as f64 / 1000.0
    }

    async fn deliver(&self, draft: Draft) -> Result<SendOutcome> {
        let Some(message_id) = draft.message_id.clone() else {
            return self
                .fail(draft, "sending without a recorded Message-ID".into())
                .await;
        };
        let message = match render(&draft, &message_id, self.clock.now(), &self.mime) {
            Ok(m) => m,
            Err(e) => return self.fail(draft, format!("cannot render: {e}")).await,
        };
        let attempts = self.config.max_attempts.max(1);
        for attempt in 1..=attempts {
            if self.store.kill_switch().await? {
                // Stays `Sending`; a later call reconciles and continues.
                return Ok(SendOutcome::Denied {
                    reason: format!(
                        "{}: sending is stopped by the kill switch",
                        super::policy::REASON_KILL_SWITCH
                    ),
                });
            }
            let result = match self.mode() {
                SendMode::RealSends => self.mailbox.send(&message).await,
                SendMode::DraftOnly => self.mailbox.create_draft(&message).await,
            };
            let err = match result {
                Ok(sent) => {
                    let provider_id = sent.provider_id.0;
                    self.mark_sent(draft, provider_id.clone()).await?;
                    return Ok(SendOutcome::Sent {
                        message_id,
                        provider_id,
                        draft_only: self.mode() == SendMode::DraftOnly,
                    });
                }
                Err(e) => e,
            };
            // It may have gone out before the error (timeout after delivery): look first.
            if let Some(provider_id) = self.find_delivered(&message_id).await? {
                self.mark_sent(draft, provider_id.clone()).await?;
                return Ok(SendOutcome::Reconciled {
                    message_id,
                    provider_id,
                });
            }
            if !err.is_retryable() {
                return self.fail(draft, err.to_string()).await;
            }
            if attempt == attempts {
                return Err(err);
            }
            let delay =
                self.config
                    .retry
                    .delay(attempt, Self::jitter(&draft, attempt), err.retry_after());
            tracing::info!(draft = %draft.id, attempt, ?delay, error = %err, "transient send failure; retrying");
            tokio::time::sleep(delay).await;
        }
        Err(Error::unavailable("no send attempt was made"))
    }

    async fn mark_sent(&self, mut draft: Draft, provider_id: String) -> Result<()> {
        let expected = draft.version;
        let now = self.clock.now();
        let event = draft.apply(
            DraftAction::MarkSent {
                provider_message_id: provider_id.clone(),
            },
            SENDER_ACTOR,
            now,
        )?;
        match self.store.update_draft(&draft, expected, &event).await {
            Ok(()) => {}
            Err(Error::Conflict { .. }) => {
                let current = self.store.get_draft(draft.id).await?;
                if current.status == DraftStatus::Sent {
                    return Ok(());
                }
                return Err(Error::conflict(format!(
                    "draft {} changed while being marked sent (now {})",
                    draft.id, current.status
                )));
            }
            Err(e) => return Err(e),
        }
        if self.mode() == SendMode::RealSends
            && let Some(message_id) = &draft.message_id
        {
            let record = MessageRecord {
                message_id: message_id.clone(),
                direction: MessageDirection::Outbound,
                contact_email: draft.contact_email.clone(),
                draft_id: Some(draft.id),
                thread: draft.thread.clone(),
                subject: draft.subject.clone(),
                body: draft.body.clone(),
                at: now,
            };
            if let Err(e) = self.store.record_message(&record).await {
                tracing::warn!(draft = %draft.id, error = %e, "sent, but recording the message failed");
            }
        }
        self.audit(
            &draft,
            "draft.sent",
            serde_json::json!({
                "message_id": draft.message_id,
                "provider_message_id": provider_id,
                "mode": self.mode(),
            }),
        )
        .await;
        Ok(())
    }

    async fn fail(&self, mut draft: Draft, reason: String) -> Result<SendOutcome> {
        let expected = draft.version;
        let event = draft.apply(
            DraftAction::MarkFailed {
                reason: reason.clone(),
            },
            SENDER_ACTOR,
            self.clock.now(),
        )?;
        self.store.update_draft(&draft, expected, &event).await?;
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

/// The worker's handler for [`kinds::SEND`] jobs: sends (or reconciles) the draft named in the
/// payload; when the outcome is "not now", enqueues a follow-up job for the right time.
///
/// # Errors
/// [`Error::InvalidInput`] for a malformed payload (do not retry); otherwise the errors of
/// [`Sender::send_draft`] (retry with the job's backoff).
pub async fn handle_send_job(sender: &Sender, job: &Job) -> Result<SendOutcome> {
    let payload: SendJob = serde_json::from_value(job.payload.clone())
        .map_err(|e| Error::invalid("payload", format!("send job: {e}")))?;
    let outcome = sender.send_draft(payload.draft_id).await?;
    let retry_at = match &outcome {
        SendOutcome::Deferred { until, .. } => Some(*until),
        SendOutcome::InFlight { retry_at } => Some(*retry_at),
        _ => None,
    };
    if let Some(at) = retry_at {
        let next = NewJob::new(kinds::SEND, job.payload.clone())
            .with_key(format!("send:{}:at{}", payload.draft_id, at.timestamp()))
            .run_at(at);
        sender.store.enqueue(&next).await?;
    }
    Ok(outcome)
}
