//! `outcomes` subcommands: the impact table, classifying `.eml` files, statistics, recording an
//! outcome by hand, and scanning for outcomes now. The work happens in
//! `salesagent_core::outcomes`; this module only parses arguments and prints.

use chrono::{DateTime, NaiveDate, Utc};
use clap::Subcommand;
use salesagent::services::Services;
use salesagent_core::Error;
use salesagent_core::model::{EmailAddress, OutcomeType};
use salesagent_core::outcomes::{
    ImpactTable, OutcomeScanConfig, OutcomeScanner, OutcomeStats, Outcomes, ScanReport, ScanSource,
    SenderStats, StatsQuery, classify_raw, wake_outcome_scan,
};
use salesagent_core::ports::{Clock as _, DynClock, DynStore};
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
    /// Scan for outcomes now: makes each source's scan job due now (the service's workers run
    /// it), then, unless `--no-wait`, runs the scan here once and prints what it recorded.
    Scan {
        /// Only this source: `mailbox`, `crm`, `calendar` or `silence` (default: all four).
        #[arg(long)]
        source: Option<String>,
        /// Only make the jobs due; print their ids and leave the scan to a worker.
        #[arg(long)]
        no_wait: bool,
        /// The mailbox to scan: `gmail` or `outbox:DIR` (default: Gmail when configured, else
        /// the offline mailbox).
        #[arg(long)]
        mailbox: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Runs an `outcomes` subcommand; `services` are the ports `outcomes scan` reads; `config`
/// holds the impacts of the settings (`outcomes.impacts`).
pub async fn run(
    cmd: OutcomesCommand,
    store: DynStore,
    clock: DynClock,
    services: &Services,
    config: &salesagent_core::outcomes::OutcomeConfig,
) -> Result<(), Error> {
    match cmd {
        OutcomesCommand::Scan {
            source,
            no_wait,
            mailbox,
            json,
        } => {
            let sources = match source.as_deref() {
                Some(s) => vec![s.parse::<ScanSource>()?],
                None => ScanSource::ALL.to_vec(),
            };
            let mut services = services.clone();
            services.use_mailbox(mailbox.as_deref())?;
            scan(&sources, no_wait, json, store, clock, &services, config).await
        }
        OutcomesCommand::Types { json } => {
            types(json, &config.impacts);
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
            let stats = Outcomes::with_config(store, clock, config.clone())
                .stats(&query)
                .await?;
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
            let r = Outcomes::with_config(store, clock, config.clone())
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

/// `outcomes scan`: wakes each source's job, then (unless `no_wait`) runs the scan once here.
async fn scan(
    sources: &[ScanSource],
    no_wait: bool,
    json: bool,
    store: DynStore,
    clock: DynClock,
    services: &Services,
    config: &salesagent_core::outcomes::OutcomeConfig,
) -> Result<(), Error> {
    let mut scanner = OutcomeScanner::new(
        Outcomes::with_config(store.clone(), clock.clone(), config.clone()),
        OutcomeScanConfig::default(),
    )
    .with_mailbox(services.mailbox.clone())
    .with_crm(services.crm.clone())
    .with_calendar(services.calendar.clone());
    if let Some(llm) = services.real_llm() {
        scanner = scanner.with_llm(llm);
    }
    let mut results = Vec::new();
    for &source in sources {
        let job = wake_outcome_scan(store.as_ref(), source, clock.now()).await?;
        let report = if no_wait {
            None
        } else {
            Some(scanner.scan(source).await?)
        };
        if !json {
            print_scan(source, &job.id.to_string(), report.as_ref());
        }
        results.push(serde_json::json!({
            "source": source,
            "job_id": job.id,
            "report": report,
        }));
    }
    if json {
        out!("{}", to_json(&results)?);
    }
    Ok(())
}

fn print_scan(source: ScanSource, job_id: &str, report: Option<&ScanReport>) {
    let Some(r) = report else {
        out!("{source}: job {job_id} due now; a worker will run it");
        return;
    };
    out!(
        "{source}: job {job_id}; scanned {}, recorded {}, ignored {}, drafts stopped {}, suppressed {}{}{}",
        r.scanned,
        r.recorded.len(),
        r.ignored,
        r.drafts_stopped,
        r.suppressed,
        if r.resynced {
            " (cursor expired: re-synced by search)"
        } else {
            ""
        },
        if r.more { " (more to read)" } else { "" },
    );
    for o in &r.recorded {
        out!("  {} {} ({:+})", o.outcome_type, o.contact_email, o.impact);
    }
}

fn to_json<T: serde::Serialize>(v: &T) -> Result<String, Error> {
    serde_json::to_string_pretty(v).map_err(|e| Error::backend(format!("json: {e}")))
}

fn types(json: bool, impacts: &ImpactTable) {
    let rows = impacts.rows();
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
