//! The outcomes service: recording, statistics and the queries the CLI and the queue use.

use super::ImpactTable;
use super::effects::{self, ApsConfig};
use crate::model::{Draft, DraftId, DraftStatus, EmailAddress, Outcome, OutcomeId, OutcomeType};
use crate::ports::{DraftFilter, DynClock, DynStore, OutcomeFilter};
use crate::{Error, Result};
use chrono::{DateTime, Datelike, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// Setting keys the detectors keep their cursors and last-seen states under.
pub mod settings_keys {
    /// The mailbox history cursor.
    pub const MAILBOX_CURSOR: &str = "outcomes.mailbox_cursor";
    /// The CRM deal-changes cursor.
    pub const DEAL_CURSOR: &str = "outcomes.deal_cursor";
    /// Prefix of the last seen state of one deal (`outcomes.deal.<id>`).
    pub const DEAL_STATE_PREFIX: &str = "outcomes.deal.";
    /// Prefix of the last seen interval of one calendar event (`outcomes.event.<id>`).
    pub const EVENT_STATE_PREFIX: &str = "outcomes.event.";
    /// When the last mailbox scan that finished began (RFC 3339): where a re-sync after an
    /// expired cursor starts.
    pub const MAILBOX_SCANNED_AT: &str = "outcomes.mailbox_scanned_at";
}

/// Longest accepted `source_event_id`, in bytes.
const MAX_SOURCE_ID_LEN: usize = 512;

/// Settings of the outcomes service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutcomeConfig {
    /// Points per outcome type.
    pub impacts: ImpactTable,
    /// How outcomes adjust priority.
    pub aps: ApsConfig,
    /// Silence after our send before `no_response` is recorded (default 7 days).
    pub no_response_after: Duration,
    /// How far back the calendar scan looks (default 30 days).
    pub calendar_lookback: Duration,
    /// How far ahead the calendar scan looks (default 90 days).
    pub calendar_lookahead: Duration,
    /// Actor name on draft events written by the effects (default `system:outcomes`).
    pub actor: String,
    /// Most history/deal pages read in one scan (default 50); a scan that stops there says so
    /// ([`ScanReport::more`]) and the next one continues from the saved cursor.
    pub max_pages: u32,
    /// How far back a mailbox re-sync searches when no earlier scan time is known (default 7
    /// days). A re-sync replaces history reading when the mailbox no longer knows the cursor.
    #[serde(default = "default_resync_window")]
    pub mailbox_resync_window: Duration,
    /// Most messages one mailbox re-sync reads (default 500).
    #[serde(default = "default_resync_limit")]
    pub mailbox_resync_limit: u32,
}

fn default_resync_window() -> Duration {
    Duration::from_secs(7 * 24 * 3600)
}

fn default_resync_limit() -> u32 {
    500
}

impl Default for OutcomeConfig {
    fn default() -> Self {
        Self {
            impacts: ImpactTable::default(),
            aps: ApsConfig::default(),
            no_response_after: Duration::from_secs(7 * 24 * 3600),
            calendar_lookback: Duration::from_secs(30 * 24 * 3600),
            calendar_lookahead: Duration::from_secs(90 * 24 * 3600),
            actor: "system:outcomes".into(),
            max_pages: 50,
            mailbox_resync_window: default_resync_window(),
            mailbox_resync_limit: default_resync_limit(),
        }
    }
}

/// An outcome to record; the impact comes from the [`ImpactTable`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewOutcome {
    /// What happened.
    pub outcome_type: OutcomeType,
    /// The contact it concerns.
    pub contact_email: EmailAddress,
    /// The sender involved, if known.
    pub sender: Option<EmailAddress>,
    /// The draft involved, if known.
    pub draft_id: Option<DraftId>,
    /// Idempotency key of the provider event (`mail:<message-id>:email_replied`, …).
    pub source_event_id: String,
    /// When it happened.
    pub occurred_at: DateTime<Utc>,
    /// Free-text detail, without message bodies.
    pub details: Option<String>,
}

/// What recording did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recorded {
    /// The outcome as stored (the earlier one when it already existed).
    pub outcome: Outcome,
    /// False when an outcome with the same source event id was already recorded.
    pub new: bool,
    /// Pending, approved or drafted drafts stopped because of it.
    pub drafts_stopped: usize,
    /// Whether the contact was newly suppressed.
    pub suppressed: bool,
}

/// A one-click unsubscribe (RFC 8058 `List-Unsubscribe-Post`) receipt, as the webhook host
/// received it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnsubscribeReceipt {
    /// The address that unsubscribed.
    pub email: EmailAddress,
    /// A stable id of the receipt (the token in the unsubscribe URL), for idempotency.
    pub receipt_id: String,
    /// The draft whose link was used, when the token names one.
    pub draft_id: Option<DraftId>,
    /// When the POST arrived.
    pub received_at: DateTime<Utc>,
}

/// Which outcomes the statistics cover.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct StatsQuery {
    /// Occurred at or after.
    pub since: Option<DateTime<Utc>>,
    /// Occurred before.
    pub until: Option<DateTime<Utc>>,
    /// Only this sender.
    pub sender: Option<EmailAddress>,
    /// Also break the figures down by day, ISO week or month (UTC).
    pub bucket: Option<StatsBucket>,
}

/// A calendar period to group statistics by (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StatsBucket {
    /// `2025-03-07`.
    Day,
    /// ISO week, `2025-W10`.
    Week,
    /// `2025-03`.
    Month,
}

impl StatsBucket {
    /// The label of the period `at` falls in.
    #[must_use]
    pub fn label(self, at: DateTime<Utc>) -> String {
        match self {
            Self::Day => at.format("%Y-%m-%d").to_string(),
            Self::Week => {
                let w = at.iso_week();
                format!("{}-W{:02}", w.year(), w.week())
            }
            Self::Month => at.format("%Y-%m").to_string(),
        }
    }
}

impl std::str::FromStr for StatsBucket {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "day" => Ok(Self::Day),
            "week" => Ok(Self::Week),
            "month" => Ok(Self::Month),
            _ => Err(Error::invalid("bucket", "use day, week or month")),
        }
    }
}

/// Send and reply figures of one sender (or of everyone).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SenderStats {
    /// `email_sent` outcomes.
    pub sent: u64,
    /// Distinct sends that bounced permanently.
    pub bounced: u64,
    /// `sent − bounced`.
    pub delivered: u64,
    /// Distinct sends (by draft, else by contact) that got a human reply.
    pub human_replies: u64,
    /// `human_replies / delivered`, in 0..=1 (0 when nothing was delivered).
    pub reply_rate: f64,
    /// Outcomes counted.
    pub total: u64,
    /// Sum of impacts.
    pub net_impact: i64,
}

/// Outcome statistics for a period.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct OutcomeStats {
    /// Start of the period, if bounded.
    pub since: Option<DateTime<Utc>>,
    /// End of the period, if bounded.
    pub until: Option<DateTime<Utc>>,
    /// Figures over all senders.
    pub overall: SenderStats,
    /// Count per type (types with no outcome are left out).
    pub by_type: BTreeMap<OutcomeType, u64>,
    /// Figures per sender address (outcomes without a sender under `unknown`).
    pub per_sender: BTreeMap<String, SenderStats>,
    /// Figures per period label, when a [`StatsBucket`] was asked for.
    pub per_period: BTreeMap<String, SenderStats>,
}

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

/// Records outcomes, runs the detectors and applies the effects, over a store and a clock.
#[derive(Debug, Clone)]
pub struct Outcomes {
    pub(crate) store: DynStore,
    pub(crate) clock: DynClock,
    pub(crate) config: OutcomeConfig,
}

impl Outcomes {
    /// A service with the default configuration.
    #[must_use]
    pub fn new(store: DynStore, clock: DynClock) -> Self {
        Self::with_config(store, clock, OutcomeConfig::default())
    }

    /// A service with `config`.
    #[must_use]
    pub fn with_config(store: DynStore, clock: DynClock, config: OutcomeConfig) -> Self {
        Self {
            store,
            clock,
            config,
        }
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &OutcomeConfig {
        &self.config
    }

    /// Records an outcome unless one with the same source event id exists, and applies its
    /// effects first: on a reply, a positive or negative response, a booked meeting, an
    /// unsubscribe or a bounce, pending, approved and drafted (DRAFT_ONLY) drafts to the contact
    /// are stopped; bounces and unsubscribes suppress the address. Effects run before the record
    /// is written, so a crash in between repeats them (they are idempotent) rather than losing
    /// them.
    ///
    /// `InvalidInput` for an empty, over-long or control-character source event id.
    pub async fn record(&self, new: NewOutcome) -> Result<Recorded> {
        self.record_with_impact(new, None).await
    }

    /// [`Outcomes::record`] with the impact given instead of taken from the [`ImpactTable`]
    /// (`None`: the table's), for outcomes an operator records with their own weight. The
    /// effects are those of the type, whatever the impact.
    ///
    /// `InvalidInput` for an impact outside `MIN_IMPACT..=MAX_IMPACT` or a bad source event id.
    pub async fn record_with_impact(
        &self,
        new: NewOutcome,
        impact: Option<i32>,
    ) -> Result<Recorded> {
        if let Some(i) = impact
            && !(super::MIN_IMPACT..=super::MAX_IMPACT).contains(&i)
        {
            return Err(Error::invalid(
                "impact",
                format!(
                    "must be within {}..={}",
                    super::MIN_IMPACT,
                    super::MAX_IMPACT
                ),
            ));
        }
        let id = new.source_event_id.trim();
        if id.is_empty() || id.len() > MAX_SOURCE_ID_LEN || id.chars().any(char::is_control) {
            return Err(Error::invalid(
                "source_event_id",
                "must be 1..=512 bytes without control characters",
            ));
        }
        if let Some(existing) = self.find_by_source(&new).await? {
            return Ok(Recorded {
                outcome: existing,
                new: false,
                drafts_stopped: 0,
                suppressed: false,
            });
        }
        let now = self.clock.now();
        let mut drafts_stopped = 0;
        if effects::stops_drafts(new.outcome_type) {
            let reason = format!("stopped: {}", new.outcome_type);
            drafts_stopped = effects::stop_drafts(
                self.store.as_ref(),
                &new.contact_email,
                &reason,
                &self.config.actor,
                now,
            )
            .await?;
        }
        let mut suppressed = false;
        if let Some(reason) = effects::suppression_reason(new.outcome_type) {
            suppressed = effects::suppress(
                self.store.as_ref(),
                &new.contact_email,
                reason,
                &format!("outcome {} ({id})", new.outcome_type),
                now,
            )
            .await?;
        }
        let outcome = Outcome {
            id: OutcomeId::new(),
            outcome_type: new.outcome_type,
            contact_email: new.contact_email,
            sender: new.sender,
            draft_id: new.draft_id,
            impact: impact.unwrap_or_else(|| self.config.impacts.impact(new.outcome_type)),
            source_event_id: id.to_owned(),
            occurred_at: new.occurred_at,
            recorded_at: now,
            details: new.details,
        };
        // The contact's follow-up sequence: enrolled on a first send, moved on by a follow-up's,
        // stopped by a reply, meeting, unsubscribe, bounce or deal (idempotent, like the rest).
        crate::sequences::on_outcome(self.store.as_ref(), &outcome, now).await?;
        let is_new = self.store.record_outcome(&outcome).await?;
        Ok(Recorded {
            outcome,
            new: is_new,
            drafts_stopped,
            suppressed,
        })
    }

    /// The outcome already recorded for `new`'s source event, if any.
    pub(crate) async fn find_by_source(&self, new: &NewOutcome) -> Result<Option<Outcome>> {
        let existing = self
            .store
            .list_outcomes(&OutcomeFilter {
                contact: Some(new.contact_email.clone()),
                types: vec![new.outcome_type],
                ..OutcomeFilter::default()
            })
            .await?;
        Ok(existing
            .into_iter()
            .find(|o| o.source_event_id == new.source_event_id.trim()))
    }

    /// Records an outcome an operator entered by hand (each call is a new event).
    pub async fn record_manual(
        &self,
        contact: EmailAddress,
        outcome_type: OutcomeType,
        actor: &str,
    ) -> Result<Recorded> {
        let now = self.clock.now();
        self.record(NewOutcome {
            outcome_type,
            contact_email: contact,
            sender: None,
            draft_id: None,
            source_event_id: format!("manual:{}", OutcomeId::new()),
            occurred_at: now,
            details: Some(format!("recorded by {}", crate::model::clean_line(actor))),
        })
        .await
    }

    /// Records `email_sent` for a sent draft (idempotent per draft).
    pub async fn record_sent(&self, draft: &Draft) -> Result<Recorded> {
        self.record(NewOutcome {
            outcome_type: OutcomeType::EmailSent,
            contact_email: draft.contact_email.clone(),
            sender: Some(draft.sender.clone()),
            draft_id: Some(draft.id),
            source_event_id: format!("sent:{}", draft.id),
            occurred_at: draft.sent_at.unwrap_or_else(|| self.clock.now()),
            details: None,
        })
        .await
    }

    /// Records a one-click unsubscribe receipt: `email_unsubscribed`, suppression and stopped
    /// drafts. Called by the webhook host; the same receipt twice records once.
    pub async fn record_unsubscribe_receipt(
        &self,
        receipt: &UnsubscribeReceipt,
    ) -> Result<Recorded> {
        let sender = match receipt.draft_id {
            Some(id) => match self.store.get_draft(id).await {
                Ok(d) => Some(d.sender),
                Err(Error::NotFound { .. }) => None,
                Err(e) => return Err(e),
            },
            None => None,
        };
        self.record(NewOutcome {
            outcome_type: OutcomeType::EmailUnsubscribed,
            contact_email: receipt.email.clone(),
            sender,
            draft_id: receipt.draft_id,
            source_event_id: format!("unsubscribe:{}", receipt.receipt_id.trim()),
            occurred_at: receipt.received_at,
            details: Some("one-click unsubscribe (RFC 8058)".into()),
        })
        .await
    }

    /// The newest `limit` outcomes (0 = all).
    pub async fn recent(&self, limit: u32) -> Result<Vec<Outcome>> {
        self.store
            .list_outcomes(&OutcomeFilter {
                limit,
                ..OutcomeFilter::default()
            })
            .await
    }

    /// Every outcome of a contact, newest first.
    pub async fn for_contact(&self, contact: &EmailAddress) -> Result<Vec<Outcome>> {
        self.store
            .list_outcomes(&OutcomeFilter {
                contact: Some(contact.clone()),
                ..OutcomeFilter::default()
            })
            .await
    }

    /// The priority adjustment a contact's outcome history gives now (within ±20).
    pub async fn priority_adjustment_for(&self, contact: &EmailAddress) -> Result<f64> {
        let outcomes = self.for_contact(contact).await?;
        Ok(effects::priority_adjustment(
            &outcomes,
            self.clock.now(),
            &self.config.aps,
        ))
    }

    /// Statistics over the outcomes matching `query`.
    pub async fn stats(&self, query: &StatsQuery) -> Result<OutcomeStats> {
        let outcomes = self
            .store
            .list_outcomes(&OutcomeFilter {
                sender: query.sender.clone(),
                since: query.since,
                until: query.until,
                ..OutcomeFilter::default()
            })
            .await?;
        let sent = self
            .store
            .list_drafts(&DraftFilter {
                status: Some(DraftStatus::Sent),
                ..DraftFilter::default()
            })
            .await?;
        Ok(compute_stats(&outcomes, &sent, query))
    }
}

/// Statistics over a list of outcomes and our sent drafts (pure; see [`Outcomes::stats`]).
///
/// A send is counted once per draft, whether it shows up as an `email_sent` outcome, as a draft
/// with status `Sent`, or both; bounces and replies are counted once per draft (per contact
/// when no draft is known). Net impact sums the outcomes' impacts only.
#[must_use]
pub fn compute_stats(
    outcomes: &[Outcome],
    sent_drafts: &[Draft],
    query: &StatsQuery,
) -> OutcomeStats {
    #[derive(Default)]
    struct Acc {
        sent: BTreeSet<String>,
        bounced: BTreeSet<String>,
        replied: BTreeSet<String>,
        total: u64,
        net: i64,
    }
    let key = |o: &Outcome| {
        o.draft_id
            .map_or_else(|| format!("contact:{}", o.contact_email), |d| d.to_string())
    };
    let add = |acc: &mut Acc, o: &Outcome| {
        acc.total += 1;
        acc.net += i64::from(o.impact);
        match o.outcome_type {
            OutcomeType::EmailSent => {
                acc.sent.insert(
                    o.draft_id
                        .map_or_else(|| o.id.to_string(), |d| d.to_string()),
                );
            }
            OutcomeType::EmailBounced => {
                acc.bounced.insert(key(o));
            }
            OutcomeType::EmailReplied => {
                acc.replied.insert(key(o));
            }
            _ => {}
        }
    };
    let finish = |acc: Acc| {
        let sent = acc.sent.len() as u64;
        let bounced = acc.bounced.len() as u64;
        let delivered = sent.saturating_sub(bounced);
        let replies = acc.replied.len() as u64;
        #[allow(clippy::cast_precision_loss)] // counts far below 2^52
        let reply_rate = if delivered == 0 {
            0.0
        } else {
            (replies as f64 / delivered as f64).min(1.0)
        };
        SenderStats {
            sent,
            bounced,
            delivered,
            human_replies: replies,
            reply_rate,
            total: acc.total,
            net_impact: acc.net,
        }
    };
    let mut overall = Acc::default();
    let mut per: BTreeMap<String, Acc> = BTreeMap::new();
    let mut periods: BTreeMap<String, Acc> = BTreeMap::new();
    let mut by_type = BTreeMap::new();
    for o in outcomes {
        if query.since.is_some_and(|s| o.occurred_at < s)
            || query.until.is_some_and(|u| o.occurred_at >= u)
            || query
                .sender
                .as_ref()
                .is_some_and(|s| o.sender.as_ref() != Some(s))
        {
            continue;
        }
        add(&mut overall, o);
        let sender = o
            .sender
            .as_ref()
            .map_or_else(|| "unknown".to_owned(), ToString::to_string);
        add(per.entry(sender).or_default(), o);
        if let Some(b) = query.bucket {
            add(periods.entry(b.label(o.occurred_at)).or_default(), o);
        }
        *by_type.entry(o.outcome_type).or_insert(0) += 1;
    }
    for d in sent_drafts {
        let Some(at) = d.sent_at else { continue };
        if d.status != DraftStatus::Sent
            || query.since.is_some_and(|s| at < s)
            || query.until.is_some_and(|u| at >= u)
            || query.sender.as_ref().is_some_and(|s| &d.sender != s)
        {
            continue;
        }
        let k = d.id.to_string();
        overall.sent.insert(k.clone());
        per.entry(d.sender.to_string())
            .or_default()
            .sent
            .insert(k.clone());
        if let Some(b) = query.bucket {
            periods.entry(b.label(at)).or_default().sent.insert(k);
        }
    }
    OutcomeStats {
        since: query.since,
        until: query.until,
        overall: finish(overall),
        by_type,
        per_sender: per.into_iter().map(|(k, v)| (k, finish(v))).collect(),
        per_period: periods.into_iter().map(|(k, v)| (k, finish(v))).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn o(t: OutcomeType, draft: Option<DraftId>, sender: &str, at: DateTime<Utc>) -> Outcome {
        Outcome {
            id: OutcomeId::new(),
            outcome_type: t,
            contact_email: EmailAddress::parse("lead@example.com").unwrap(),
            sender: Some(EmailAddress::parse(sender).unwrap()),
            draft_id: draft,
            impact: t.default_impact(),
            source_event_id: format!("t:{}", OutcomeId::new()),
            occurred_at: at,
            recorded_at: at,
            details: None,
        }
    }

    #[test]
    fn reply_rate_excludes_bounces_and_counts_each_send_once() {
        let t0 = DateTime::from_timestamp(1_741_000_000, 0).unwrap(); // 2025-03-03
        let later = t0 + chrono::Duration::days(8);
        let (a, b, c, d) = (
            DraftId::new(),
            DraftId::new(),
            DraftId::new(),
            DraftId::new(),
        );
        let x = "ann@salesagent.test";
        let y = "max@salesagent.test";
        let all = vec![
            o(OutcomeType::EmailSent, Some(a), x, t0),
            o(OutcomeType::EmailSent, Some(b), x, t0),
            o(OutcomeType::EmailSent, Some(c), x, t0),
            o(OutcomeType::EmailSent, Some(d), y, later),
            o(OutcomeType::EmailBounced, Some(c), x, t0),
            // Two replies on one send count once.
            o(OutcomeType::EmailReplied, Some(a), x, t0),
            o(OutcomeType::EmailReplied, Some(a), x, later),
            o(OutcomeType::EmailReplied, Some(d), y, later),
        ];
        let s = compute_stats(
            &all,
            &[],
            &StatsQuery {
                bucket: Some(StatsBucket::Week),
                ..StatsQuery::default()
            },
        );
        assert_eq!(s.overall.sent, 4);
        assert_eq!(s.overall.bounced, 1);
        assert_eq!(s.overall.delivered, 3);
        assert_eq!(s.overall.human_replies, 2);
        assert!((s.overall.reply_rate - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(s.overall.net_impact, 4 - 3 + 15);
        assert_eq!(s.per_sender[x].delivered, 2);
        assert!((s.per_sender[x].reply_rate - 0.5).abs() < 1e-12);
        assert!((s.per_sender[y].reply_rate - 1.0).abs() < 1e-12);
        assert_eq!(
            s.per_period.keys().collect::<Vec<_>>(),
            vec!["2025-W10", "2025-W11"]
        );
        let only_y = compute_stats(
            &all,
            &[],
            &StatsQuery {
                sender: Some(EmailAddress::parse(y).unwrap()),
                ..StatsQuery::default()
            },
        );
        assert_eq!(only_y.overall.total, 2);
        let first_week = compute_stats(
            &all,
            &[],
            &StatsQuery {
                until: Some(t0 + chrono::Duration::days(1)),
                ..StatsQuery::default()
            },
        );
        assert_eq!(first_week.overall.sent, 3);
        assert_eq!(StatsBucket::Month.label(t0), "2025-03");
        assert_eq!(StatsBucket::Day.label(t0), "2025-03-03");
        assert!("fortnight".parse::<StatsBucket>().is_err());
    }
}
