//! Detectors: mailbox history, CRM deals and tasks, calendar events, and silence after a send.
//!
//! Every detector is idempotent: each outcome carries a `source_event_id` derived from the
//! provider event (`mail:<message-id>:<type>`, `crm-deal:<id>:…`, `calendar:<id>:…`,
//! `crm-task:<id>:…`, `no_response:<draft>`), so scanning the same history twice records nothing
//! new. Cursors and last-seen states live in the settings store under [`settings_keys`].
//!
//! Contacts are linked through our drafts: a reply through In-Reply-To/References to the
//! Message-ID of a sent draft (or, without those, a message from an address we have sent to);
//! deals, tasks and meetings through the draft's CRM id or address. Events about people we never
//! wrote to are ignored.
//!
//! Calendar rules, for each attendee we have a draft to, on confirmed events (cancelled events and
//! tentative holds are skipped):
//! first sight → `meeting_booked`; a later scan that sees another interval →
//! `meeting_rescheduled`; once the event has ended, `Accepted` → `meeting_held`, `Declined` or
//! `NeedsAction` → `meeting_no_show` (a declined invitation that was not rescheduled or cancelled
//! is counted as a no-show), `Tentative` → nothing.
//!
//! Deal rules: a deal seen for the first time → `deal_created`; a stage change into a closed-won
//! stage → `deal_won`, closed-lost → `deal_lost`; otherwise a higher `stage_order` →
//! `deal_stage_advanced`, a lower one → `deal_stage_regressed`; without stage orders a change
//! is not scored. Changes not newer than the last seen `updated_at` are skipped.
//!
//! Task rules: `Completed` with a completion time → `task_completed`; not completed, not
//! `Deferred`, and due before now → `task_overdue`.

use super::classify::{BounceInfo, Classification, MailKind, classify_message};
use super::record::{NewOutcome, Outcomes, Recorded, settings_keys};
use super::sentiment::classify_sentiment;
use crate::model::{
    AttendeeResponse, CrmId, DealChange, DealClosed, Draft, DraftStatus, EmailAddress, EventStatus,
    Interval, MailMessage, MailQuery, Outcome, OutcomeType, SuppressionReason, TaskStatus,
};
use crate::ports::{Calendar, Crm, DraftFilter, Llm, Mailbox, OutcomeFilter};
use crate::{Error, Result};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// What a detector scan did.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ScanReport {
    /// Provider events looked at (messages, deal changes, events, tasks, sent drafts).
    pub scanned: usize,
    /// Outcomes newly recorded.
    pub recorded: Vec<Outcome>,
    /// Events that meant nothing for us (automatic replies, unrelated mail, unknown contacts).
    pub ignored: usize,
    /// Drafts stopped by the effects.
    pub drafts_stopped: usize,
    /// Addresses newly suppressed.
    pub suppressed: usize,
    /// The mailbox no longer knew the history cursor (it expired), so the scan searched the
    /// mailbox since the last scan instead, and started a new cursor.
    #[serde(default)]
    pub resynced: bool,
    /// The scan stopped at its page limit with more history to read; the next scan continues
    /// from the saved cursor.
    #[serde(default)]
    pub more: bool,
}

impl ScanReport {
    /// Adds another report's counts and outcomes to this one.
    pub fn merge(&mut self, other: ScanReport) {
        self.scanned += other.scanned;
        self.recorded.extend(other.recorded);
        self.ignored += other.ignored;
        self.drafts_stopped += other.drafts_stopped;
        self.suppressed += other.suppressed;
        self.resynced |= other.resynced;
        self.more |= other.more;
    }

    pub(crate) fn absorb(&mut self, r: Recorded) {
        self.drafts_stopped += r.drafts_stopped;
        self.suppressed += usize::from(r.suppressed);
        if r.new {
            self.recorded.push(r.outcome);
        }
    }
}

/// Our drafts, indexed for linking events to contacts (newest draft per key).
struct Leads {
    by_email: HashMap<EmailAddress, Draft>,
    sent_by_email: HashMap<EmailAddress, Draft>,
    by_crm: HashMap<CrmId, Draft>,
}

/// One classified inbound message, with what the mailbox scan knows about it.
struct Inbound<'a> {
    /// What the message is.
    c: &'a Classification,
    /// Prefix of the outcomes' source event ids (`mail:<message-id>`, else
    /// `mail-provider:<id>`).
    key: String,
    /// When it arrived.
    occurred_at: DateTime<Utc>,
    /// Our draft it answers, found through its parent Message-IDs.
    draft: Option<Draft>,
}

impl Leads {
    fn is_lead(&self, email: &EmailAddress) -> bool {
        self.by_email.contains_key(email)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct DealState {
    stage: String,
    stage_order: Option<u32>,
    closed: Option<DealClosed>,
    updated_at: DateTime<Utc>,
}

fn to_std(d: std::time::Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

/// A history error meaning the stored cursor cannot be used: expired (`NotFound`) or not one
/// this mailbox issued (`InvalidInput` for the cursor).
fn cursor_unusable(e: &Error) -> bool {
    match e {
        Error::NotFound { .. } => true,
        Error::InvalidInput { field, .. } => field == "cursor",
        _ => false,
    }
}

fn backend(e: &serde_json::Error) -> Error {
    Error::backend(format!("outcome detector state: {e}"))
}

impl Outcomes {
    async fn leads(&self) -> Result<Leads> {
        // Newest first, so the first draft seen per key is the latest.
        let drafts = self.store.list_drafts(&DraftFilter::default()).await?;
        let mut leads = Leads {
            by_email: HashMap::new(),
            sent_by_email: HashMap::new(),
            by_crm: HashMap::new(),
        };
        for d in drafts {
            if d.status == DraftStatus::Sent {
                leads
                    .sent_by_email
                    .entry(d.contact_email.clone())
                    .or_insert_with(|| d.clone());
            }
            if let Some(id) = &d.contact_crm_id {
                leads.by_crm.entry(id.clone()).or_insert_with(|| d.clone());
            }
            leads.by_email.entry(d.contact_email.clone()).or_insert(d);
        }
        Ok(leads)
    }

    /// Runs every detector whose port is given, then the silence check, and merges the reports.
    /// Stops at the first error; what was recorded before it stays recorded and a later run
    /// picks up from the saved cursors without duplicates.
    pub async fn scan_all(
        &self,
        mailbox: Option<&dyn Mailbox>,
        crm: Option<&dyn Crm>,
        calendar: Option<&dyn Calendar>,
        llm: Option<&dyn Llm>,
    ) -> Result<ScanReport> {
        let mut report = ScanReport::default();
        if let Some(m) = mailbox {
            report.merge(self.scan_mailbox(m, llm).await?);
        }
        if let Some(c) = crm {
            report.merge(self.scan_deals(c).await?);
            report.merge(self.scan_tasks(c).await?);
        }
        if let Some(c) = calendar {
            report.merge(self.scan_calendar(c).await?);
        }
        report.merge(self.scan_silence().await?);
        Ok(report)
    }

    /// Reads the mailbox history since the stored cursor, page after page to the end (at most
    /// `max_pages`; [`ScanReport::more`] says the rest waits for the next scan), and records
    /// replies, positive and negative responses, unsubscribe requests and permanent bounces;
    /// automatic replies (out-of-office), transient delays and unrelated mail are ignored. `llm`
    /// reads the tone of replies (the phrase lists are used without it). The cursor is saved after
    /// each page, and the scan's start time once it has finished.
    ///
    /// When the mailbox no longer knows the cursor (`NotFound`: Gmail forgets old history ids;
    /// or `InvalidInput` for the `cursor`: another mailbox's, after switching mailboxes), or
    /// there is no cursor but an earlier scan finished, the scan re-syncs instead of skipping
    /// the gap: it starts a new cursor, then searches the mailbox for messages since the last
    /// finished scan (less an hour; without one, `mailbox_resync_window` back, at most
    /// `mailbox_resync_limit` messages) and reads those. Messages seen before record nothing new.
    pub async fn scan_mailbox(
        &self,
        mailbox: &dyn Mailbox,
        llm: Option<&dyn Llm>,
    ) -> Result<ScanReport> {
        let started = self.clock.now();
        let mut report = ScanReport::default();
        let leads = self.leads().await?;
        let last_scan = self.mailbox_scanned_at().await?;
        let mut cursor = self.store.setting(settings_keys::MAILBOX_CURSOR).await?;
        if cursor.is_none() && last_scan.is_some() {
            self.resync_mailbox(mailbox, llm, &leads, last_scan, &mut report)
                .await?;
        } else {
            let max = self.config.max_pages.max(1);
            for n in 1..=max {
                let page = match mailbox.history(cursor.as_deref()).await {
                    Ok(page) => page,
                    Err(e) if cursor.is_some() && cursor_unusable(&e) => {
                        tracing::warn!(error = %e, "mailbox history cursor expired or not this mailbox's; re-syncing the gap");
                        self.resync_mailbox(mailbox, llm, &leads, last_scan, &mut report)
                            .await?;
                        break;
                    }
                    Err(e) => return Err(e),
                };
                for message in &page.messages {
                    report.scanned += 1;
                    self.process_mail(message, &leads, llm, &mut report).await?;
                }
                let moved = page.next_cursor.is_some() && page.next_cursor != cursor;
                if let Some(next) = &page.next_cursor {
                    self.store
                        .put_setting(settings_keys::MAILBOX_CURSOR, next)
                        .await?;
                }
                if page.messages.is_empty() || !moved {
                    break;
                }
                cursor = page.next_cursor;
                report.more = n == max;
            }
        }
        self.store
            .put_setting(settings_keys::MAILBOX_SCANNED_AT, &started.to_rfc3339())
            .await?;
        Ok(report)
    }

    /// When the last finished mailbox scan began; an unreadable value counts as none.
    async fn mailbox_scanned_at(&self) -> Result<Option<DateTime<Utc>>> {
        let raw = self
            .store
            .setting(settings_keys::MAILBOX_SCANNED_AT)
            .await?;
        Ok(raw
            .and_then(|s| DateTime::parse_from_rfc3339(s.trim()).ok())
            .map(|t| t.with_timezone(&Utc)))
    }

    /// The re-sync of [`Outcomes::scan_mailbox`]: a new cursor first (so nothing arriving
    /// during the search falls between the two), then every message since `last_scan` less an
    /// hour, oldest first.
    async fn resync_mailbox(
        &self,
        mailbox: &dyn Mailbox,
        llm: Option<&dyn Llm>,
        leads: &Leads,
        last_scan: Option<DateTime<Utc>>,
        report: &mut ScanReport,
    ) -> Result<()> {
        let now = self.clock.now();
        let since = last_scan.map_or_else(
            || now - to_std(self.config.mailbox_resync_window),
            |t| t - chrono::Duration::hours(1),
        );
        let fresh = mailbox.history(None).await?;
        let limit = self.config.mailbox_resync_limit.max(1);
        let mut found = mailbox
            .search(&MailQuery {
                after: Some(since),
                limit,
                ..MailQuery::default()
            })
            .await?;
        if found.len() >= limit as usize {
            tracing::warn!(limit, %since, "mailbox re-sync read only the newest messages of the gap");
        }
        // Search answers newest first; replies are read in arrival order as from history.
        found.reverse();
        for message in &found {
            report.scanned += 1;
            self.process_mail(message, leads, llm, report).await?;
        }
        if let Some(next) = &fresh.next_cursor {
            self.store
                .put_setting(settings_keys::MAILBOX_CURSOR, next)
                .await?;
        }
        report.resynced = true;
        Ok(())
    }

    /// Classifies one mailbox message and records what it means (see [`Outcomes::scan_mailbox`]).
    async fn process_mail(
        &self,
        message: &MailMessage,
        leads: &Leads,
        llm: Option<&dyn Llm>,
        report: &mut ScanReport,
    ) -> Result<()> {
        if message
            .labels
            .iter()
            .any(|l| l.eq_ignore_ascii_case("SENT") || l.eq_ignore_ascii_case("DRAFT"))
        {
            report.ignored += 1;
            return Ok(());
        }
        let c = classify_message(message);
        let key = c.message_id.as_ref().map_or_else(
            || format!("mail-provider:{}", message.provider_id),
            |id| format!("mail:{id}"),
        );
        let occurred_at = message.date.or(c.date).unwrap_or_else(|| self.clock.now());
        let draft = self.answered_draft(&c).await?;
        if let (Some(d), Some(from)) = (&draft, &c.from)
            && &d.sender == from
        {
            // Our own follow-up in the thread.
            report.ignored += 1;
            return Ok(());
        }
        let mail = Inbound {
            c: &c,
            key,
            occurred_at,
            draft,
        };
        match &c.kind {
            MailKind::Bounce(info) => self.record_bounce(&mail, info, leads, report).await,
            MailKind::Unsubscribe => self.record_unsubscribe(&mail, leads, report).await,
            MailKind::HumanReply | MailKind::HumanMessage => {
                self.record_reply(&mail, leads, llm, report).await
            }
            MailKind::Automatic | MailKind::DeliveryNotice(_) | MailKind::Unparsable => {
                self.note_automatic(&mail, leads, report).await
            }
        }
    }

    /// Our draft a message answers: the first of its parent Message-IDs that is one of ours.
    async fn answered_draft(&self, c: &Classification) -> Result<Option<Draft>> {
        for parent in c.candidate_parents() {
            if let Some(d) = self.store.find_draft_by_message_id(&parent).await? {
                return Ok(Some(d));
            }
        }
        Ok(None)
    }

    /// A bounce: `email_bounced` for each failed recipient that is one of our leads; any other
    /// failed address is only suppressed.
    async fn record_bounce(
        &self,
        mail: &Inbound<'_>,
        info: &BounceInfo,
        leads: &Leads,
        report: &mut ScanReport,
    ) -> Result<()> {
        let mut recipients = info.recipients.clone();
        if recipients.is_empty()
            && let Some(d) = &mail.draft
        {
            recipients.push(d.contact_email.clone());
        }
        if recipients.is_empty() {
            report.ignored += 1;
        }
        for r in recipients {
            let d = mail
                .draft
                .as_ref()
                .filter(|d| d.contact_email == r)
                .or_else(|| leads.sent_by_email.get(&r))
                .or_else(|| leads.by_email.get(&r));
            let Some(d) = d else {
                // Not one of our leads: keep the address off future sends, record nothing.
                self.suppress_only(&r, SuppressionReason::Bounced, &mail.key, report)
                    .await?;
                continue;
            };
            let rec = self
                .record(NewOutcome {
                    outcome_type: OutcomeType::EmailBounced,
                    contact_email: r.clone(),
                    sender: Some(d.sender.clone()),
                    draft_id: Some(d.id),
                    source_event_id: format!("{}:email_bounced:{r}", mail.key),
                    occurred_at: mail.occurred_at,
                    details: Some(mail.c.reason.clone()),
                })
                .await?;
            report.absorb(rec);
        }
        Ok(())
    }

    /// A request to stop: `email_unsubscribed` for the lead, and the address that asked
    /// suppressed even when we never wrote to it.
    async fn record_unsubscribe(
        &self,
        mail: &Inbound<'_>,
        leads: &Leads,
        report: &mut ScanReport,
    ) -> Result<()> {
        let c = mail.c;
        let d = mail
            .draft
            .as_ref()
            .or_else(|| c.from.as_ref().and_then(|f| leads.by_email.get(f)));
        let Some(d) = d else {
            // Honour the request even from someone we never wrote to.
            match &c.from {
                Some(from) => {
                    self.suppress_only(from, SuppressionReason::Unsubscribed, &mail.key, report)
                        .await?;
                }
                None => report.ignored += 1,
            }
            return Ok(());
        };
        let rec = self
            .record(NewOutcome {
                outcome_type: OutcomeType::EmailUnsubscribed,
                contact_email: d.contact_email.clone(),
                sender: Some(d.sender.clone()),
                draft_id: Some(d.id),
                source_event_id: format!("{}:email_unsubscribed", mail.key),
                occurred_at: mail.occurred_at,
                details: Some(c.reason.clone()),
            })
            .await?;
        report.absorb(rec);
        if let Some(from) = &c.from
            && from != &d.contact_email
        {
            // The person who asked (a colleague, a new address) is suppressed too.
            self.suppress_only(from, SuppressionReason::Unsubscribed, &mail.key, report)
                .await?;
        }
        Ok(())
    }

    /// A human reply to one of our sends: its tone (model or phrase lists), then
    /// `email_replied`.
    async fn record_reply(
        &self,
        mail: &Inbound<'_>,
        leads: &Leads,
        llm: Option<&dyn Llm>,
        report: &mut ScanReport,
    ) -> Result<()> {
        let c = mail.c;
        let d = mail.draft.as_ref().or_else(|| {
            c.from
                .as_ref()
                .and_then(|from| leads.sent_by_email.get(from))
        });
        let Some(d) = d else {
            report.ignored += 1;
            return Ok(());
        };
        let reply = NewOutcome {
            outcome_type: OutcomeType::EmailReplied,
            contact_email: d.contact_email.clone(),
            sender: Some(d.sender.clone()),
            draft_id: Some(d.id),
            source_event_id: format!("{}:email_replied", mail.key),
            occurred_at: mail.occurred_at,
            details: Some(c.reason.clone()),
        };
        if self.find_by_source(&reply).await?.is_some() {
            // Seen before: no second model call.
            return Ok(());
        }
        // The tone is recorded before the reply, so a crash in between repeats the
        // whole step on the next scan instead of losing the tone.
        let sentiment = classify_sentiment(llm, &c.subject, &c.new_text).await;
        if let Some(t) = sentiment.outcome {
            let rec = self
                .record(NewOutcome {
                    outcome_type: t,
                    source_event_id: format!("{}:{t}", mail.key),
                    details: Some(format!("{:?}: {}", sentiment.source, sentiment.reason)),
                    ..reply.clone()
                })
                .await?;
            report.absorb(rec);
        }
        let rec = self.record(reply).await?;
        report.absorb(rec);
        Ok(())
    }

    /// An automatic reply, delivery notice or unreadable message: nothing is recorded, but an
    /// out-of-office reply pauses the contact's follow-up sequence.
    async fn note_automatic(
        &self,
        mail: &Inbound<'_>,
        leads: &Leads,
        report: &mut ScanReport,
    ) -> Result<()> {
        let contact = mail
            .draft
            .as_ref()
            .map(|d| d.contact_email.clone())
            .or_else(|| {
                mail.c
                    .from
                    .clone()
                    .filter(|f| leads.sent_by_email.contains_key(f))
            });
        crate::sequences::on_automatic_reply(
            self.store.as_ref(),
            mail.c,
            contact.as_ref(),
            &mail.key,
            mail.occurred_at,
            self.clock.now(),
        )
        .await?;
        report.ignored += 1;
        Ok(())
    }

    /// Suppresses an address without recording an outcome (it is not one of our leads).
    async fn suppress_only(
        &self,
        email: &EmailAddress,
        reason: SuppressionReason,
        key: &str,
        report: &mut ScanReport,
    ) -> Result<()> {
        let now = self.clock.now();
        let note = format!("from mailbox event {key}");
        if super::effects::suppress(self.store.as_ref(), email, reason, &note, now).await? {
            report.suppressed += 1;
        } else {
            report.ignored += 1;
        }
        Ok(())
    }

    /// Reads CRM deal changes since the stored cursor and records created / advanced /
    /// regressed / won / lost for the deal's contacts we have drafts for.
    pub async fn scan_deals(&self, crm: &dyn Crm) -> Result<ScanReport> {
        let mut report = ScanReport::default();
        let leads = self.leads().await?;
        let mut cursor = self.store.setting(settings_keys::DEAL_CURSOR).await?;
        let max = self.config.max_pages.max(1);
        for n in 1..=max {
            let page = match crm.deal_changes(cursor.as_deref()).await {
                Ok(page) => page,
                // Another CRM's cursor (the CRM was switched): start over from the beginning;
                // the per-deal states keep that from recording anything twice.
                Err(e) if cursor.is_some() && cursor_unusable(&e) => {
                    tracing::warn!(error = %e, "deal cursor not usable; reading deal changes from the start");
                    cursor = None;
                    crm.deal_changes(None).await?
                }
                Err(e) => return Err(e),
            };
            for deal in &page.deals {
                report.scanned += 1;
                self.process_deal(deal, &leads, &mut report).await?;
            }
            let moved = page.next_cursor.is_some() && page.next_cursor != cursor;
            if let Some(next) = &page.next_cursor {
                self.store
                    .put_setting(settings_keys::DEAL_CURSOR, next)
                    .await?;
            }
            if page.deals.is_empty() || !moved {
                break;
            }
            cursor = page.next_cursor;
            report.more = n == max;
        }
        Ok(report)
    }

    async fn process_deal(
        &self,
        deal: &DealChange,
        leads: &Leads,
        report: &mut ScanReport,
    ) -> Result<()> {
        let state_key = format!("{}{}", settings_keys::DEAL_STATE_PREFIX, deal.deal_id);
        let prev: Option<DealState> = match self.store.setting(&state_key).await? {
            Some(json) => Some(serde_json::from_str(&json).map_err(|e| backend(&e))?),
            None => None,
        };
        if prev
            .as_ref()
            .is_some_and(|p| deal.updated_at <= p.updated_at)
        {
            report.ignored += 1;
            return Ok(());
        }
        let id = &deal.deal_id;
        let mut events: Vec<(OutcomeType, String)> = Vec::new();
        if prev.is_none() {
            events.push((OutcomeType::DealCreated, format!("crm-deal:{id}:created")));
        }
        let stage_changed = prev.as_ref().is_none_or(|p| p.stage != deal.stage);
        if stage_changed {
            match deal.closed {
                Some(DealClosed::Won) => {
                    events.push((OutcomeType::DealWon, format!("crm-deal:{id}:won")));
                }
                Some(DealClosed::Lost) => {
                    events.push((OutcomeType::DealLost, format!("crm-deal:{id}:lost")));
                }
                None => {
                    if let Some((before, now)) = prev
                        .as_ref()
                        .and_then(|p| p.stage_order)
                        .zip(deal.stage_order)
                    {
                        let ts = deal.updated_at.timestamp();
                        let stage = &deal.stage;
                        if now > before {
                            events.push((
                                OutcomeType::DealStageAdvanced,
                                format!("crm-deal:{id}:advanced:{stage}:{ts}"),
                            ));
                        } else if now < before {
                            events.push((
                                OutcomeType::DealStageRegressed,
                                format!("crm-deal:{id}:regressed:{stage}:{ts}"),
                            ));
                        }
                    }
                }
            }
        }
        let contacts: Vec<&Draft> = deal
            .contact_ids
            .iter()
            .filter_map(|c| leads.by_crm.get(c))
            .collect();
        if contacts.is_empty() || events.is_empty() {
            report.ignored += 1;
        }
        for (t, source) in &events {
            for d in &contacts {
                let occurred_at = if *t == OutcomeType::DealCreated {
                    deal.created_at
                } else {
                    deal.updated_at
                };
                let rec = self
                    .record(NewOutcome {
                        outcome_type: *t,
                        contact_email: d.contact_email.clone(),
                        sender: Some(d.sender.clone()),
                        draft_id: Some(d.id),
                        source_event_id: format!("{source}:{}", d.contact_email),
                        occurred_at,
                        details: Some(format!(
                            "deal {:?} stage {}",
                            crate::model::clean_line(&deal.name),
                            deal.stage
                        )),
                    })
                    .await?;
                report.absorb(rec);
            }
        }
        let state = DealState {
            stage: deal.stage.clone(),
            stage_order: deal.stage_order,
            closed: deal.closed,
            updated_at: deal.updated_at,
        };
        let json = serde_json::to_string(&state).map_err(|e| backend(&e))?;
        self.store.put_setting(&state_key, &json).await
    }

    /// Reads calendar events from `calendar_lookback` ago to `calendar_lookahead` ahead and
    /// records booked / rescheduled / held / no-show for attendees we have drafts for.
    pub async fn scan_calendar(&self, calendar: &dyn Calendar) -> Result<ScanReport> {
        let mut report = ScanReport::default();
        let leads = self.leads().await?;
        let now = self.clock.now();
        let range = Interval {
            start: now - to_std(self.config.calendar_lookback),
            end: now + to_std(self.config.calendar_lookahead),
        };
        for event in calendar.events(range).await? {
            report.scanned += 1;
            let attendees: Vec<_> = event
                .attendees
                .iter()
                .filter(|a| leads.is_lead(&a.email))
                .collect();
            // Cancelled events mean nothing; tentative ones are our own holds, not bookings.
            if attendees.is_empty() || event.status != EventStatus::Confirmed {
                report.ignored += 1;
                continue;
            }
            let state_key = format!("{}{}", settings_keys::EVENT_STATE_PREFIX, event.id);
            let prev: Option<Interval> = match self.store.setting(&state_key).await? {
                Some(json) => Some(serde_json::from_str(&json).map_err(|e| backend(&e))?),
                None => None,
            };
            let id = &event.id;
            let mut events: Vec<(OutcomeType, String, DateTime<Utc>, Option<&EmailAddress>)> =
                Vec::new();
            match prev {
                None => events.push((
                    OutcomeType::MeetingBooked,
                    format!("calendar:{id}:booked"),
                    event.created_at.unwrap_or(now),
                    None,
                )),
                Some(p) if p != event.interval => events.push((
                    OutcomeType::MeetingRescheduled,
                    format!(
                        "calendar:{id}:rescheduled:{}",
                        event.interval.start.timestamp()
                    ),
                    event.updated_at.unwrap_or(now),
                    None,
                )),
                Some(_) => {}
            }
            if event.interval.end <= now {
                for a in &attendees {
                    let t = match a.response {
                        AttendeeResponse::Accepted => OutcomeType::MeetingHeld,
                        AttendeeResponse::Declined | AttendeeResponse::NeedsAction => {
                            OutcomeType::MeetingNoShow
                        }
                        AttendeeResponse::Tentative => continue,
                    };
                    events.push((
                        t,
                        format!("calendar:{id}:{t}"),
                        event.interval.end,
                        Some(&a.email),
                    ));
                }
            }
            for (t, source, occurred_at, only) in events {
                for a in &attendees {
                    if only.is_some_and(|o| o != &a.email) {
                        continue;
                    }
                    let d = leads.by_email.get(&a.email);
                    let rec = self
                        .record(NewOutcome {
                            outcome_type: t,
                            contact_email: a.email.clone(),
                            sender: d.map(|d| d.sender.clone()),
                            draft_id: d.map(|d| d.id),
                            source_event_id: format!("{source}:{}", a.email),
                            occurred_at,
                            details: Some(format!(
                                "event {:?}",
                                crate::model::clean_line(&event.summary)
                            )),
                        })
                        .await?;
                    report.absorb(rec);
                }
            }
            if prev != Some(event.interval) {
                let json = serde_json::to_string(&event.interval).map_err(|e| backend(&e))?;
                self.store.put_setting(&state_key, &json).await?;
            }
        }
        Ok(report)
    }

    /// Reads the CRM tasks of every contact we have drafts for and records completed / overdue.
    pub async fn scan_tasks(&self, crm: &dyn Crm) -> Result<ScanReport> {
        let mut report = ScanReport::default();
        let leads = self.leads().await?;
        let now = self.clock.now();
        let mut crm_ids: Vec<&CrmId> = leads.by_crm.keys().collect();
        crm_ids.sort();
        for crm_id in crm_ids {
            let d = &leads.by_crm[crm_id];
            for task in crm.tasks_for_contact(crm_id).await? {
                report.scanned += 1;
                let (t, source, occurred_at) = match (task.status, task.completed_at, task.due_at) {
                    (TaskStatus::Completed, Some(done), _) => (
                        OutcomeType::TaskCompleted,
                        format!("crm-task:{}:completed", task.crm_id),
                        done,
                    ),
                    (TaskStatus::Completed | TaskStatus::Deferred, _, _) | (_, _, None) => {
                        report.ignored += 1;
                        continue;
                    }
                    (_, _, Some(due)) if due < now => (
                        OutcomeType::TaskOverdue,
                        format!("crm-task:{}:overdue", task.crm_id),
                        due,
                    ),
                    _ => {
                        report.ignored += 1;
                        continue;
                    }
                };
                let rec = self
                    .record(NewOutcome {
                        outcome_type: t,
                        contact_email: d.contact_email.clone(),
                        sender: Some(d.sender.clone()),
                        draft_id: Some(d.id),
                        source_event_id: source,
                        occurred_at,
                        details: Some(format!(
                            "task {:?}",
                            crate::model::clean_line(&task.subject)
                        )),
                    })
                    .await?;
                report.absorb(rec);
            }
        }
        Ok(report)
    }

    /// Records `no_response` for every sent draft whose contact has been silent (no reply,
    /// response, unsubscribe, bounce or booked meeting since the send) for `no_response_after`.
    pub async fn scan_silence(&self) -> Result<ScanReport> {
        let mut report = ScanReport::default();
        let now = self.clock.now();
        let silence = to_std(self.config.no_response_after);
        let sent = self
            .store
            .list_drafts(&DraftFilter {
                status: Some(DraftStatus::Sent),
                ..DraftFilter::default()
            })
            .await?;
        for d in sent {
            report.scanned += 1;
            let Some(sent_at) = d.sent_at else {
                report.ignored += 1;
                continue;
            };
            if now - sent_at < silence {
                report.ignored += 1;
                continue;
            }
            let answers = self
                .store
                .list_outcomes(&OutcomeFilter {
                    contact: Some(d.contact_email.clone()),
                    types: vec![
                        OutcomeType::EmailReplied,
                        OutcomeType::PositiveResponse,
                        OutcomeType::NegativeResponse,
                        OutcomeType::EmailUnsubscribed,
                        OutcomeType::EmailBounced,
                        OutcomeType::MeetingBooked,
                    ],
                    since: Some(sent_at),
                    limit: 1,
                    ..OutcomeFilter::default()
                })
                .await?;
            if !answers.is_empty() {
                report.ignored += 1;
                continue;
            }
            let rec = self
                .record(NewOutcome {
                    outcome_type: OutcomeType::NoResponse,
                    contact_email: d.contact_email.clone(),
                    sender: Some(d.sender.clone()),
                    draft_id: Some(d.id),
                    source_event_id: format!("no_response:{}", d.id),
                    occurred_at: sent_at + silence,
                    details: Some(format!(
                        "no answer {} days after the send",
                        silence.num_days()
                    )),
                })
                .await?;
            report.absorb(rec);
        }
        Ok(report)
    }
}
