//! `jobs`: the queue (all jobs, `--dead` letters, by `--state` or `--kind`) and `jobs requeue ID`
//! to put a dead job back in the queue with a fresh attempt budget (audited).

use super::{Failure, one_line, print_json};
use clap::{Args, Subcommand};
use salesagent_core::model::{Job, JobFilter, JobId, JobState, NewAuditEntry};
use salesagent_core::ports::DynStore;
use serde::Serialize;

/// `jobs` arguments.
#[derive(Debug, Clone, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub(crate) struct JobsArgs {
    /// What to do (default: list).
    #[command(subcommand)]
    command: Option<JobsCommand>,
    /// Only dead jobs (out of attempts or failed permanently; they wait for `jobs requeue`).
    #[arg(long, conflicts_with = "state")]
    dead: bool,
    /// Only jobs in this state (queued, running, done, dead).
    #[arg(long)]
    state: Option<String>,
    /// Only jobs of this kind (pipeline, send, ...).
    #[arg(long)]
    kind: Option<String>,
    /// At most this many (0: all).
    #[arg(long, default_value_t = 0)]
    limit: u32,
    /// One JSON document instead of a table.
    #[arg(long)]
    json: bool,
}

/// `jobs` subcommands.
#[derive(Debug, Clone, Subcommand)]
enum JobsCommand {
    /// Put a dead job back in the queue, runnable now, with a fresh attempt budget.
    Requeue {
        /// The job id.
        id: String,
        /// Print the requeued job as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// A job as `--json` prints it; field names are stable.
#[derive(Debug, Serialize)]
struct JobJson<'a> {
    id: String,
    kind: &'a str,
    state: JobState,
    attempts: u32,
    max_attempts: u32,
    run_at: chrono::DateTime<chrono::Utc>,
    last_error: Option<&'a str>,
    created_at: chrono::DateTime<chrono::Utc>,
    updated_at: chrono::DateTime<chrono::Utc>,
}

impl<'a> From<&'a Job> for JobJson<'a> {
    fn from(j: &'a Job) -> Self {
        Self {
            id: j.id.to_string(),
            kind: &j.kind,
            state: j.state,
            attempts: j.attempts,
            max_attempts: j.max_attempts,
            run_at: j.run_at,
            last_error: j.last_error.as_deref(),
            created_at: j.created_at,
            updated_at: j.updated_at,
        }
    }
}

/// Who the audit log records for a requeue.
fn actor() -> String {
    std::env::var("SALESAGENT_OPERATOR")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| "operator:cli".to_owned())
}

/// Runs `jobs`.
pub(crate) async fn run(args: &JobsArgs, store: &DynStore) -> Result<(), Failure> {
    match &args.command {
        Some(JobsCommand::Requeue { id, json }) => requeue(store, id, *json).await,
        None => list(args, store).await,
    }
}

async fn requeue(store: &DynStore, id: &str, json: bool) -> Result<(), Failure> {
    let id: JobId = id.parse()?;
    let job = store.requeue_dead(id).await?;
    store
        .append_audit(&NewAuditEntry {
            actor: actor(),
            action: "job.requeue".to_owned(),
            subject: format!("job:{id}"),
            details: serde_json::json!({ "kind": job.kind }),
        })
        .await?;
    if json {
        print_json(&JobJson::from(&job))?;
    } else {
        out!("requeued job {} ({}), runnable now", job.id, job.kind);
    }
    Ok(())
}

async fn list(args: &JobsArgs, store: &DynStore) -> Result<(), Failure> {
    let state = if args.dead {
        Some(JobState::Dead)
    } else {
        args.state
            .as_deref()
            .map(str::parse::<JobState>)
            .transpose()?
    };
    let mut jobs = store
        .list_jobs(&JobFilter {
            state,
            kind: args.kind.clone().filter(|k| !k.trim().is_empty()),
            limit: args.limit,
        })
        .await?;
    if args.limit > 0 {
        jobs.truncate(args.limit as usize);
    }
    if args.json {
        return print_json(&jobs.iter().map(JobJson::from).collect::<Vec<_>>());
    }
    if jobs.is_empty() {
        out!(
            "{}",
            if args.dead {
                "(no dead jobs)"
            } else {
                "(no jobs)"
            }
        );
        return Ok(());
    }
    out!(
        "{:<36}  {:<14}  {:<7}  {:>8}  LAST ERROR",
        "ID",
        "KIND",
        "STATE",
        "ATTEMPTS"
    );
    for j in &jobs {
        out!(
            "{:<36}  {:<14}  {:<7}  {:>4}/{:<3}  {}",
            j.id,
            j.kind,
            j.state.as_str(),
            j.attempts,
            j.max_attempts,
            j.last_error
                .as_deref()
                .map(|e| one_line(e, 60))
                .unwrap_or_default()
        );
    }
    if args.dead {
        out!();
        out!("requeue one with: jobs requeue ID");
    }
    Ok(())
}
