//! `outcomes` subcommands: the impact table, classifying `.eml` files, statistics and recording an
//! outcome by hand. The work happens in `salesagent_core::outcomes`; this module only parses
//! arguments and prints.

use chrono::{DateTime, NaiveDate, Utc};
use clap::Subcommand;
use salesagent_core::Error;
use salesagent_core::model::{EmailAddress, OutcomeType};
use salesagent_core::outcomes::{
    ImpactTable, OutcomeStats, Outcomes, SenderStats, StatsQuery, classify_raw,
};
use salesagent_core::ports::{DynClock, DynStore};
use std::path::PathBuf;

/// `outcomes …`
#[derive(Debug, Clone, Subcommand)]
pub enum OutcomesCommand {
    /// Every outcome type with its category and impact.
    Types {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Classify `.eml` files: one line per file, `<path>\t<type or "none">\t<reason>`.
    Classify {
        /// The files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Reply rate, net impact and counts, overall and per sender.
    Stats {
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// Only outcomes at or after this time (RFC 3339 or YYYY-MM-DD).
        #[arg(long)]
        since: Option<String>,
        /// Only outcomes before this time (RFC 3339 or YYYY-MM-DD).
        #[arg(long)]
        until: Option<String>,
        /// Only this sender.
        #[arg(long)]
        sender: Option<String>,
        /// Also break down by `day`, `week` or `month`.
        #[arg(long)]
        by: Option<String>,
    },
    /// Record an outcome by hand (drafts are stopped and addresses suppressed as for detected ones).
    Record {
        /// The contact's e-mail address.
        email: String,
        /// The outcome type (`email_replied`, `meeting_booked`, … see `outcomes types`).
        outcome_type: String,
    },
}

/// Runs an `outcomes` subcommand.
pub async fn run(cmd: OutcomesCommand, store: DynStore, clock: DynClock) -> Result<(), Error> {
    match cmd {
        OutcomesCommand::Types { json } => {
            types(json);
            Ok(())
        }
        OutcomesCommand::Classify { files } => classify(&files),
        OutcomesCommand::Stats {
            json,
            since,
            until,
            sender,
            by,
        } => {
            let query = StatsQuery {
                since: since
                    .as_deref()
                    .map(|s| parse_time("since", s))
                    .transpose()?,
                until: until
                    .as_deref()
                    .map(|s| parse_time("until", s))
                    .transpose()?,
                sender: sender.as_deref().map(EmailAddress::parse).transpose()?,
                bucket: by.as_deref().map(str::parse).transpose()?,
            };
            let stats = Outcomes::new(store, clock).stats(&query).await?;
            if json {
                out!("{}", to_json(&stats)?);
            } else {
                print_stats(&stats);
            }
            Ok(())
        }
        OutcomesCommand::Record {
            email,
            outcome_type,
        } => {
            let email = EmailAddress::parse(&email)?;
            let t: OutcomeType = outcome_type.parse()?;
            let r = Outcomes::new(store, clock)
                .record_manual(email, t, "cli")
                .await?;
            out!(
                "recorded {} for {} (impact {:+}){}{}",
                r.outcome.outcome_type,
                r.outcome.contact_email,
                r.outcome.impact,
                if r.drafts_stopped > 0 {
                    format!(", {} draft(s) stopped", r.drafts_stopped)
                } else {
                    String::new()
                },
                if r.suppressed {
                    ", address suppressed"
                } else {
                    ""
                },
            );
            Ok(())
        }
    }
}

fn to_json<T: serde::Serialize>(v: &T) -> Result<String, Error> {
    serde_json::to_string_pretty(v).map_err(|e| Error::backend(format!("json: {e}")))
}

fn types(json: bool) {
    let rows = ImpactTable::default().rows();
    if json {
        let v: Vec<_> = rows
            .iter()
            .map(|r| {
                serde_json::json!({
                    "type": r.outcome_type,
                    "category": r.category,
                    "impact": r.impact,
                })
            })
            .collect();
        out!("{}", serde_json::Value::Array(v));
    } else {
        out!("{:<22} {:<8} {:>6}", "type", "category", "impact");
        for r in rows {
            let category = serde_json::to_value(r.category)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            out!(
                "{:<22} {:<8} {:>+6}",
                r.outcome_type.as_str(),
                category,
                r.impact
            );
        }
    }
}

fn classify(files: &[PathBuf]) -> Result<(), Error> {
    let mut unreadable = 0;
    for path in files {
        match std::fs::read(path) {
            Ok(raw) => {
                let c = classify_raw(&raw);
                let t = c.outcome_type().map_or("none", OutcomeType::as_str);
                out!("{}\t{t}\t{}", path.display(), one_line(&c.reason));
            }
            Err(e) => {
                unreadable += 1;
                out!(
                    "{}\tnone\tunreadable: {}",
                    path.display(),
                    one_line(&e.to_string())
                );
            }
        }
    }
    if unreadable > 0 {
        return Err(Error::invalid(
            "files",
            format!("{unreadable} file(s) could not be read"),
        ));
    }
    Ok(())
}

/// Keeps the tab-separated output one line per file.
fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn parse_time(field: &str, s: &str) -> Result<DateTime<Utc>, Error> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s.trim()) {
        return Ok(t.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
        .ok_or_else(|| Error::invalid(field, "use RFC 3339 or YYYY-MM-DD"))
}

fn stats_line(s: &SenderStats) -> String {
    format!(
        "sent {}  bounced {}  delivered {}  human replies {}  reply rate {:.1}%  net impact {:+}  outcomes {}",
        s.sent,
        s.bounced,
        s.delivered,
        s.human_replies,
        s.reply_rate * 100.0,
        s.net_impact,
        s.total
    )
}

fn print_stats(stats: &OutcomeStats) {
    let bound = |t: Option<DateTime<Utc>>| t.map_or_else(|| "…".to_owned(), |t| t.to_rfc3339());
    if stats.since.is_none() && stats.until.is_none() {
        out!("period: all time");
    } else {
        out!("period: {} – {}", bound(stats.since), bound(stats.until));
    }
    out!("overall: {}", stats_line(&stats.overall));
    if !stats.by_type.is_empty() {
        let by_type: Vec<String> = stats
            .by_type
            .iter()
            .map(|(t, n)| format!("{t} {n}"))
            .collect();
        out!("by type: {}", by_type.join(", "));
    }
    for (sender, s) in &stats.per_sender {
        out!("sender {sender}: {}", stats_line(s));
    }
    for (period, s) in &stats.per_period {
        out!("period {period}: {}", stats_line(s));
    }
}
