//! Outcome statistics: sends, bounces, replies and reply rate overall, per sender and per
//! period ([`compute_stats`], [`Outcomes::stats`]).

use super::Outcomes;
use crate::model::{Draft, DraftStatus, EmailAddress, Outcome, OutcomeType};
use crate::ports::{DraftFilter, OutcomeFilter};
use crate::{Error, Result};
use chrono::{DateTime, Datelike, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

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

impl Outcomes {
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
    let mut tallies = Tallies::default();
    for o in outcomes {
        if query.covers(o.occurred_at, o.sender.as_ref()) {
            tallies.add_outcome(o, query.bucket);
        }
    }
    for d in sent_drafts {
        let Some(at) = d.sent_at else { continue };
        if d.status == DraftStatus::Sent && query.covers(at, Some(&d.sender)) {
            tallies.add_send(d, at, query.bucket);
        }
    }
    tallies.finish(query)
}

impl StatsQuery {
    /// Whether something that happened at `at` for `sender` falls in the query.
    fn covers(&self, at: DateTime<Utc>, sender: Option<&EmailAddress>) -> bool {
        !(self.since.is_some_and(|s| at < s)
            || self.until.is_some_and(|u| at >= u)
            || self.sender.as_ref().is_some_and(|s| sender != Some(s)))
    }
}

/// The distinct sends, bounces and replies of one group (everyone, a sender, a period), before
/// they become [`SenderStats`].
#[derive(Default)]
struct Tally {
    sent: BTreeSet<String>,
    bounced: BTreeSet<String>,
    replied: BTreeSet<String>,
    total: u64,
    net: i64,
}

impl Tally {
    fn add(&mut self, o: &Outcome) {
        // Bounces and replies count once per draft, or per contact when no draft is known.
        let key = || {
            o.draft_id
                .map_or_else(|| format!("contact:{}", o.contact_email), |d| d.to_string())
        };
        self.total += 1;
        self.net += i64::from(o.impact);
        match o.outcome_type {
            OutcomeType::EmailSent => {
                self.sent.insert(
                    o.draft_id
                        .map_or_else(|| o.id.to_string(), |d| d.to_string()),
                );
            }
            OutcomeType::EmailBounced => {
                self.bounced.insert(key());
            }
            OutcomeType::EmailReplied => {
                self.replied.insert(key());
            }
            _ => {}
        }
    }

    fn finish(self) -> SenderStats {
        let sent = self.sent.len() as u64;
        let bounced = self.bounced.len() as u64;
        let delivered = sent.saturating_sub(bounced);
        let replies = self.replied.len() as u64;
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
            total: self.total,
            net_impact: self.net,
        }
    }
}

/// The tallies of every group [`compute_stats`] reports.
#[derive(Default)]
struct Tallies {
    overall: Tally,
    per_sender: BTreeMap<String, Tally>,
    per_period: BTreeMap<String, Tally>,
    by_type: BTreeMap<OutcomeType, u64>,
}

impl Tallies {
    fn add_outcome(&mut self, o: &Outcome, bucket: Option<StatsBucket>) {
        self.overall.add(o);
        let sender = o
            .sender
            .as_ref()
            .map_or_else(|| "unknown".to_owned(), ToString::to_string);
        self.per_sender.entry(sender).or_default().add(o);
        if let Some(b) = bucket {
            self.per_period
                .entry(b.label(o.occurred_at))
                .or_default()
                .add(o);
        }
        *self.by_type.entry(o.outcome_type).or_insert(0) += 1;
    }

    /// A draft sent at `at` (counted once with its `email_sent` outcome, if any).
    fn add_send(&mut self, d: &Draft, at: DateTime<Utc>, bucket: Option<StatsBucket>) {
        let k = d.id.to_string();
        self.overall.sent.insert(k.clone());
        self.per_sender
            .entry(d.sender.to_string())
            .or_default()
            .sent
            .insert(k.clone());
        if let Some(b) = bucket {
            self.per_period
                .entry(b.label(at))
                .or_default()
                .sent
                .insert(k);
        }
    }

    fn finish(self, query: &StatsQuery) -> OutcomeStats {
        OutcomeStats {
            since: query.since,
            until: query.until,
            overall: self.overall.finish(),
            by_type: self.by_type,
            per_sender: self
                .per_sender
                .into_iter()
                .map(|(k, v)| (k, v.finish()))
                .collect(),
            per_period: self
                .per_period
                .into_iter()
                .map(|(k, v)| (k, v.finish()))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{DraftId, OutcomeId};

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
