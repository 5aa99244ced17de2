//! CLI commands of the operator and the sender: approve, reject, edit, send, rules, kill switch,
//! suppression list and the next draft to review.
//!
//! Wire it into the top-level command enum with `#[command(flatten)] Sending(send::SendCommand)`
//! and call [`run`] with the sending settings, the store and the clock. All logic lives in
//! `salesagent_core::sending`; this module parses flags, reads files and prints.
//!
//! Settings come from the environment (see `SendingConfig::from_lookup`): `ALLOW_REAL_SENDS`,
//! `AUTO_APPROVE_ENABLED`, `SEND_WINDOW`, `SEND_TIME_ZONE`, `MESSAGE_ID_DOMAIN` (default: the
//! sender's domain), … Real sends
//! need `ALLOW_REAL_SENDS=true` or `--allow-real-sends`; otherwise approved drafts only become
//! drafts in the mailbox.

use salesagent::services::Services;
use salesagent_core::Error;
use salesagent_core::model::{
    DraftId, DraftStatus, EmailAddress, SendDecision, Suppression, SuppressionReason,
};
use salesagent_core::pipeline::PipelineConfig;
use salesagent_core::ports::{Clock, DraftFilter, DynClock, DynStore, SettingsExt};
use salesagent_core::sending::{AutoApprover, OperatorQueue, SendMode, SendingConfig};
use salesagent_core::worker::{Worker, WorkerConfig};
use std::path::PathBuf;

/// Operator and sending commands.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum SendCommand {
    /// Approve a pending draft.
    Approve {
        /// Draft id.
        id: DraftId,
        /// The version you reviewed (default: the current one).
        #[arg(long)]
        version: Option<u32>,
        /// Who is approving.
        #[arg(long, env = "SALESAGENT_OPERATOR", default_value = "operator:cli")]
        actor: String,
    },
    /// Reject a pending draft.
    Reject {
        /// Draft id.
        id: DraftId,
        /// Why.
        #[arg(long)]
        reason: String,
        /// The version you reviewed (default: the current one).
        #[arg(long)]
        version: Option<u32>,
        /// Who is rejecting.
        #[arg(long, env = "SALESAGENT_OPERATOR", default_value = "operator:cli")]
        actor: String,
    },
    /// Edit a draft's subject and/or body (it goes back to pending).
    Edit {
        /// Draft id.
        id: DraftId,
        /// New subject.
        #[arg(long)]
        subject: Option<String>,
        /// File with the new body (`-` for standard input).
        #[arg(long)]
        body_file: Option<PathBuf>,
        /// The version you edited (default: the current one).
        #[arg(long)]
        version: Option<u32>,
        /// Who is editing.
        #[arg(long, env = "SALESAGENT_OPERATOR", default_value = "operator:cli")]
        actor: String,
    },
    /// Process approved drafts now (DRAFT_ONLY unless real sends are allowed).
    Send {
        /// Really send (otherwise drafts are only stored in the mailbox).
        #[arg(long)]
        allow_real_sends: bool,
        /// Mailbox to use: `gmail` or `outbox:DIR` (default: Gmail when configured, else the
        /// offline mailbox), as for `work` and the webhook host.
        #[arg(long, env = "SALESAGENT_MAILBOX")]
        mailbox: Option<String>,
        /// Send now even outside the recipients' working hours (limits still apply).
        #[arg(long)]
        ignore_window: bool,
    },
    /// Auto-approval rules.
    Rules {
        /// What to do.
        #[command(subcommand)]
        command: RulesCommand,
    },
    /// The kill switch: stops all sending and auto-approval.
    KillSwitch {
        /// `on`, `off` or `status`.
        #[arg(value_enum)]
        state: KillSwitchState,
    },
    /// The suppression list.
    Suppress {
        /// What to do.
        #[command(subcommand)]
        command: SuppressCommand,
    },
    /// The next draft to review, and why it is first.
    Next {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `rules` sub-commands.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum RulesCommand {
    /// Every rule's verdict on one draft, and why (stores nothing).
    Explain {
        /// Draft id.
        id: DraftId,
    },
    /// What share of existing drafts the rules would approve.
    DryRun,
}

/// Kill-switch states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum KillSwitchState {
    /// Stop sending and auto-approval.
    On,
    /// Resume.
    Off,
    /// Print the current state.
    Status,
}

/// `suppress` sub-commands.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum SuppressCommand {
    /// Never mail this address.
    Add {
        /// The address.
        email: EmailAddress,
        /// Note to keep with it.
        #[arg(long)]
        note: Option<String>,
    },
    /// Remove an address from the list.
    Remove {
        /// The address.
        email: EmailAddress,
    },
    /// Print the list.
    List,
}

/// What `send` builds its worker from: the selected services and the pipeline settings.
#[derive(Debug, Clone, Copy)]
pub struct Hosting<'a> {
    /// The selected services (the mailbox is chosen per command with `--mailbox`).
    pub services: &'a Services,
    /// The pipeline settings.
    pub pipeline: &'a PipelineConfig,
    /// The settings' mailbox (`sending.mailbox`), used when `--mailbox` is not given.
    pub mailbox: Option<&'a str>,
}

async fn seen_version(store: &DynStore, id: DraftId, given: Option<u32>) -> Result<u32, Error> {
    match given {
        Some(v) => Ok(v),
        None => Ok(store.get_draft(id).await?.version),
    }
}

fn read_body(path: &PathBuf) -> Result<String, Error> {
    let text = if path.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin())
    } else {
        std::fs::read_to_string(path)
    };
    text.map_err(|e| Error::invalid("body_file", format!("{}: {e}", path.display())))
}

fn json<T: serde::Serialize>(v: &T) -> Result<String, Error> {
    serde_json::to_string_pretty(v).map_err(|e| Error::backend(e.to_string()))
}

/// Runs one command against `store`, reading time from `clock`.
///
/// # Errors
/// Whatever the operation reports: `Conflict` for a stale version or an illegal transition,
/// `NotFound` for an unknown draft, `InvalidInput` for bad text or settings.
pub async fn run(
    cmd: SendCommand,
    cfg: SendingConfig,
    store: DynStore,
    clock: DynClock,
    hosting: &Hosting<'_>,
) -> Result<(), Error> {
    let queue = OperatorQueue::standard(store.clone(), clock.clone(), cfg.queue);
    match cmd {
        SendCommand::Approve { id, version, actor } => {
            let v = seen_version(&store, id, version).await?;
            let d = queue.approve(id, v, &actor).await?;
            out!("approved {id} (version {})", d.version);
        }
        SendCommand::Reject {
            id,
            reason,
            version,
            actor,
        } => {
            let v = seen_version(&store, id, version).await?;
            queue.reject(id, v, &actor, &reason).await?;
            out!("rejected {id}: {reason}");
        }
        SendCommand::Edit {
            id,
            subject,
            body_file,
            version,
            actor,
        } => {
            let body = body_file.as_ref().map(read_body).transpose()?;
            let v = seen_version(&store, id, version).await?;
            let d = queue.edit(id, v, &actor, subject, body).await?;
            out!("edited {id} (version {}, {})", d.version, d.status);
        }
        SendCommand::Send {
            allow_real_sends,
            mailbox: spec,
            ignore_window,
        } => {
            let mut sending = cfg.clone();
            if allow_real_sends {
                sending.policy.mode = SendMode::RealSends;
            }
            sending.policy.ignore_window = ignore_window;
            let mode = sending.policy.mode;
            let mut services = hosting.services.clone();
            services.use_mailbox(spec.as_deref().or(hosting.mailbox))?;
            let runtime = salesagent::services::runtime::build(
                &services,
                store.clone(),
                clock.clone(),
                hosting.pipeline.clone(),
                &sending,
                WorkerConfig {
                    name: format!("cli-send-{}", std::process::id()),
                    ..WorkerConfig::default()
                },
            )?;
            // The shipped send path: one send job per draft, run by a worker that runs only
            // send jobs (pipeline jobs stay for `work`).
            // What each draft was before this run, so only what this run did is reported.
            let before: std::collections::HashMap<DraftId, u32> = store
                .list_drafts(&DraftFilter::default())
                .await?
                .into_iter()
                .map(|d| (d.id, d.version))
                .collect();
            let queued = runtime.sender.enqueue_pending_sends().await?;
            let worker = Worker::empty(
                store.clone(),
                clock.clone(),
                WorkerConfig {
                    name: format!("cli-send-{}", std::process::id()),
                    ..WorkerConfig::default()
                },
            )
            .with_sender(runtime.sender.clone());
            let stats = worker.run_until_idle(1).await?;
            if queued == 0 && stats.claimed() == 0 {
                out!("nothing to send");
            }
            for status in [
                DraftStatus::Sent,
                DraftStatus::Drafted,
                DraftStatus::Approved,
                DraftStatus::Sending,
                DraftStatus::Failed,
            ] {
                let drafts = store
                    .list_drafts(&DraftFilter {
                        status: Some(status),
                        ..DraftFilter::default()
                    })
                    .await?;
                for d in drafts {
                    let id = d.id;
                    let changed = before.get(&id) != Some(&d.version);
                    let waiting = matches!(status, DraftStatus::Approved | DraftStatus::Sending);
                    if !changed && !waiting {
                        continue;
                    }
                    match status {
                        DraftStatus::Sent | DraftStatus::Drafted => {
                            if let Some(m) = &d.message_id {
                                out!("{id}: {} <{m}>", status.as_str().to_lowercase());
                            }
                        }
                        DraftStatus::Failed => {
                            out!("{id}: FAILED ({})", d.status_reason.unwrap_or_default());
                        }
                        _ => {
                            let why = match &d.send_decision {
                                Some(SendDecision::Defer { until, reason }) => {
                                    format!("deferred until {until} ({reason})")
                                }
                                Some(SendDecision::Deny { reason }) => {
                                    format!("waiting ({reason})")
                                }
                                _ => "will be retried".to_owned(),
                            };
                            out!("{id}: {} ({why})", status.as_str().to_lowercase());
                        }
                    }
                }
            }
            out!(
                "{} done, {} deferred, {} retrying, {} dead",
                stats.done,
                stats.deferred,
                stats.retrying,
                stats.dead
            );
            if mode == SendMode::DraftOnly {
                out!("mode DRAFT_ONLY: nothing was sent (use --allow-real-sends)");
            }
        }
        SendCommand::Rules { command } => {
            let approver = AutoApprover::new(cfg.rules);
            match command {
                RulesCommand::Explain { id } => {
                    let d = approver.explain(&*store, id, clock.now()).await?;
                    out!(
                        "{id}: {}",
                        if d.approve {
                            "would be auto-approved"
                        } else {
                            "needs an operator"
                        }
                    );
                    for v in d.verdicts {
                        let mark = if v.matched { "yes" } else { "no " };
                        out!("  [{mark}] {:<22} {}", v.rule, v.reason);
                    }
                }
                RulesCommand::DryRun => {
                    let r = approver.dry_run(&*store, clock.now()).await?;
                    out!(
                        "{} of {} drafts ({:.1}%) would be auto-approved{}",
                        r.would_approve,
                        r.total,
                        r.share * 100.0,
                        if r.enabled {
                            ""
                        } else {
                            " (auto-approval is disabled)"
                        }
                    );
                    for (rule, n) in r.per_rule {
                        out!("  {rule}: {n}");
                    }
                }
            }
        }
        SendCommand::KillSwitch { state } => {
            match state {
                KillSwitchState::On => store.set_kill_switch(true).await?,
                KillSwitchState::Off => store.set_kill_switch(false).await?,
                KillSwitchState::Status => {}
            }
            if state != KillSwitchState::Status {
                let entry = salesagent_core::model::NewAuditEntry {
                    actor: "operator:cli".to_owned(),
                    action: format!(
                        "kill_switch.{}",
                        if state == KillSwitchState::On {
                            "on"
                        } else {
                            "off"
                        }
                    ),
                    subject: "kill_switch".to_owned(),
                    details: serde_json::Value::Null,
                };
                store.append_audit(&entry).await?;
            }
            let on = store.kill_switch().await?;
            out!("kill switch is {}", if on { "ON" } else { "off" });
        }
        SendCommand::Suppress { command } => match command {
            SuppressCommand::Add { email, note } => {
                store
                    .suppress(&Suppression {
                        email: email.clone(),
                        reason: SuppressionReason::Manual,
                        note,
                        added_at: clock.now(),
                    })
                    .await?;
                out!("suppressed {email}");
            }
            SuppressCommand::Remove { email } => {
                let removed = store.unsuppress(&email).await?;
                out!(
                    "{email} {}",
                    if removed {
                        "removed"
                    } else {
                        "was not suppressed"
                    }
                );
            }
            SuppressCommand::List => {
                for s in store.list_suppressions().await? {
                    out!(
                        "{}\t{}\t{}\t{}",
                        s.email,
                        serde_json::to_value(s.reason)
                            .ok()
                            .and_then(|v| v.as_str().map(str::to_owned))
                            .unwrap_or_default(),
                        s.added_at.format("%Y-%m-%d"),
                        s.note.unwrap_or_default()
                    );
                }
            }
        },
        SendCommand::Next { json: as_json } => match queue.next().await? {
            None if as_json => out!("null"),
            None => out!("the queue is empty"),
            Some(item) if as_json => out!("{}", json(&item)?),
            Some(item) => {
                let d = &item.draft;
                out!(
                    "{} (version {}) priority {:.1}",
                    d.id,
                    d.version,
                    item.priority
                );
                out!("  to:      {}", d.contact_email);
                out!("  subject: {}", d.subject);
                for f in &item.factors {
                    out!("  {:+7.1}  {:<16} {}", f.points, f.name, f.reason);
                }
            }
        },
    }
    Ok(())
}
