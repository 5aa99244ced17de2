//! `sequences`: follow-up sequences. A list (by `--status`), `sequences show EMAIL` (step, next
//! due time, why paused or stopped, history), `sequences stop EMAIL` (manual stop, audited, its
//! unsent follow-up discarded), `sequences stats` (per step: sent, replied, stopped by
//! reason) and `sequences replay` (each stored sequence re-derived from its journal and compared
//! with the stored state, see [`salesagent::replay::replay_sequences`]).

use super::{Failure, print_json};
use clap::{Args, Subcommand};
use salesagent_core::model::{EmailAddress, NewAuditEntry};
use salesagent_core::ports::{Clock as _, DynClock, DynStore};
use salesagent_core::sequences::{
    Sequence, SequenceFilter, SequenceStatus, StopReason, compute_stats, stop_contact,
};

/// `sequences` arguments.
#[derive(Debug, Clone, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub(crate) struct SequencesArgs {
    /// What to do (default: list).
    #[command(subcommand)]
    command: Option<SequencesCommand>,
    /// Only sequences in this status (active, paused, stopped, completed).
    #[arg(long)]
    status: Option<String>,
    /// At most this many (0: all).
    #[arg(long, default_value_t = 0)]
    limit: u32,
    /// One JSON document instead of a table.
    #[arg(long)]
    json: bool,
}

/// `sequences` subcommands.
#[derive(Debug, Clone, Subcommand)]
enum SequencesCommand {
    /// One contact's sequence: step, next due time, why paused or stopped, history.
    Show {
        /// The contact's address.
        email: String,
        /// One JSON document instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Stop a contact's sequence by hand; its unsent follow-up is discarded.
    Stop {
        /// The contact's address.
        email: String,
        /// Print the stopped sequence as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Per step: sent, replied, stopped by reason; sequences per status.
    Stats {
        /// One JSON document instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Re-derive every stored sequence from its journal and compare it with the stored state
    /// (fails when one differs).
    Replay {
        /// One JSON document instead of text.
        #[arg(long)]
        json: bool,
    },
}

/// Who the audit log records for a manual stop.
fn actor() -> String {
    std::env::var("SALESAGENT_OPERATOR")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| "operator:cli".to_owned())
}

/// Runs `sequences`.
pub(crate) async fn run(
    args: &SequencesArgs,
    store: &DynStore,
    clock: &DynClock,
) -> Result<(), Failure> {
    match &args.command {
        Some(SequencesCommand::Show { email, json }) => show(store, email, *json).await,
        Some(SequencesCommand::Stop { email, json }) => stop(store, clock, email, *json).await,
        Some(SequencesCommand::Stats { json }) => stats(store, *json).await,
        Some(SequencesCommand::Replay { json }) => replay(store, *json).await,
        None => list(args, store).await,
    }
}

fn address(raw: &str) -> Result<EmailAddress, Failure> {
    Ok(EmailAddress::parse(raw.trim())?)
}

/// The state in a few words: `step 1/3, next 2026-12-07 09:00 UTC`, `paused until …: …`,
/// `stopped after step 0: replied`, `completed`.
fn state_line(s: &Sequence) -> String {
    let steps = s.plan.len();
    match s.status {
        SequenceStatus::Active => match (s.pending_draft, s.next_due) {
            (Some(d), _) => format!(
                "step {}/{steps} drafted ({d}), waiting for approval and sending",
                s.sent_steps + 1
            ),
            (None, Some(at)) => format!(
                "{}/{steps} sent, next {}",
                s.sent_steps,
                at.format("%Y-%m-%d %H:%M UTC")
            ),
            (None, None) => format!("{}/{steps} sent", s.sent_steps),
        },
        SequenceStatus::Paused => format!(
            "paused until {}: {}",
            s.paused_until
                .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
                .unwrap_or_default(),
            s.pause_reason.as_deref().unwrap_or("")
        ),
        SequenceStatus::Stopped => format!(
            "stopped after step {}: {}",
            s.stopped_after_step.unwrap_or(s.sent_steps),
            s.stop_reason
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default()
        ),
        SequenceStatus::Completed => format!("completed ({steps}/{steps} sent)"),
    }
}

async fn show(store: &DynStore, email: &str, json: bool) -> Result<(), Failure> {
    let contact = address(email)?;
    let Some(s) = store.get_sequence(&contact).await? else {
        return Err(salesagent_core::Error::not_found(format!("sequence of {contact}")).into());
    };
    if json {
        return print_json(&s);
    }
    out!("contact:  {}", s.contact_email);
    out!("status:   {}", s.status);
    out!("state:    {}", state_line(&s));
    out!("enrolled: {}", s.enrolled_at.format("%Y-%m-%d %H:%M UTC"));
    for m in &s.messages {
        out!(
            "sent:     step {} at {} <{}>",
            m.step,
            m.sent_at.format("%Y-%m-%d %H:%M UTC"),
            m.message_id
        );
    }
    out!("history:");
    for e in &s.events {
        out!("  {}  {}", e.at.format("%Y-%m-%d %H:%M"), e.what);
    }
    Ok(())
}

async fn stop(store: &DynStore, clock: &DynClock, email: &str, json: bool) -> Result<(), Failure> {
    let contact = address(email)?;
    let who = actor();
    let reason = StopReason::Manual { actor: who.clone() };
    let Some(s) = stop_contact(store.as_ref(), &contact, reason, clock.now()).await? else {
        return Err(salesagent_core::Error::not_found(format!("sequence of {contact}")).into());
    };
    store
        .append_audit(&NewAuditEntry {
            actor: who,
            action: "sequence.stop".to_owned(),
            subject: format!("sequence:{}", s.id),
            details: serde_json::json!({ "status": s.status }),
        })
        .await?;
    if json {
        return print_json(&s);
    }
    out!("{}: {}", s.contact_email, state_line(&s));
    Ok(())
}

async fn stats(store: &DynStore, json: bool) -> Result<(), Failure> {
    let all = store.list_sequences(&SequenceFilter::default()).await?;
    let stats = compute_stats(&all);
    if json {
        return print_json(&stats);
    }
    let by_status: Vec<String> = stats
        .by_status
        .iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    out!("sequences: {}", by_status.join(", "));
    out!(
        "{:<5}  {:<9}  {:>6}  {:>7}  STOPPED",
        "STEP",
        "PURPOSE",
        "SENT",
        "REPLIED"
    );
    for s in &stats.steps {
        let stopped: Vec<String> = s.stopped.iter().map(|(k, v)| format!("{k} {v}")).collect();
        out!(
            "{:<5}  {:<9}  {:>6}  {:>7}  {}",
            s.step,
            s.purpose.map_or("first", |p| p.as_str()),
            s.sent,
            s.replied,
            stopped.join(", ")
        );
    }
    Ok(())
}

async fn list(args: &SequencesArgs, store: &DynStore) -> Result<(), Failure> {
    let status = args
        .status
        .as_deref()
        .filter(|s| !s.trim().is_empty())
        .map(str::parse::<SequenceStatus>)
        .transpose()?;
    let all = store
        .list_sequences(&SequenceFilter {
            status,
            limit: args.limit,
        })
        .await?;
    if args.json {
        return print_json(&all);
    }
    if all.is_empty() {
        out!("(no sequences)");
        return Ok(());
    }
    out!("{:<40}  {:<9}  STATE", "CONTACT", "STATUS");
    for s in &all {
        out!(
            "{:<40}  {:<9}  {}",
            s.contact_email.to_string(),
            s.status.as_str(),
            state_line(s)
        );
    }
    Ok(())
}

async fn replay(store: &DynStore, json: bool) -> Result<(), Failure> {
    let report = salesagent::replay::replay_sequences(&**store).await?;
    if json {
        print_json(&report)?;
    } else {
        for item in report.items.iter().filter(|i| !i.identical) {
            let why = item
                .error
                .clone()
                .unwrap_or_else(|| "replays to a different state".to_owned());
            out!("{}  {why}", item.contact);
        }
        out!(
            "sequences: {} replayed, {} identical, {} differing, {} without a history",
            report.sequences,
            report.identical,
            report.differing,
            report.unreplayable
        );
    }
    if report.differing > 0 {
        return Err(Failure::runtime(format!(
            "{} sequence(s) replay to a different state than the store holds",
            report.differing
        )));
    }
    Ok(())
}
