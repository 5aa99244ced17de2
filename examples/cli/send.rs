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

use salesagent_core::Error;
use salesagent_core::model::{DraftId, EmailAddress, Suppression, SuppressionReason};
use salesagent_core::ports::{Clock, DynClock, DynMailbox, DynStore, SettingsExt};
use salesagent_core::sending::{
    AutoApprover, OperatorQueue, SendMode, SendOutcome, SendPolicy, Sender, SendingConfig,
};
use std::path::PathBuf;
use std::sync::Arc;

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
        /// Mailbox to use (`outbox:DIR`).
        #[arg(long, env = "SALESAGENT_MAILBOX", default_value = "outbox:outbox")]
        mailbox: String,
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

async fn seen_version(store: &DynStore, id: DraftId, given: Option<u32>) -> Result<u32, Error> {
    match given {
        Some(v) => Ok(v),
        None => Ok(store.get_draft(id).await?.version),
    }
}

fn mailbox(spec: &str) -> Result<DynMailbox, Error> {
    if spec.starts_with("outbox:") {
        Ok(Arc::new(salesagent_connectors::outbox::Outbox::from_spec(
            spec,
        )?))
    } else {
        Err(Error::unsupported(format!(
            "mailbox {spec:?}: this command supports outbox:DIR"
        )))
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
) -> Result<(), Error> {
    let queue = OperatorQueue::new(store.clone(), clock.clone()).with_config(cfg.queue);
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
            let mut policy = cfg.policy.clone();
            if allow_real_sends {
                policy.mode = SendMode::RealSends;
            }
            policy.ignore_window = ignore_window;
            let mode = policy.mode;
            let sender = Sender::new(
                store.clone(),
                mailbox(&spec)?,
                clock,
                SendPolicy::new(policy),
                cfg.mime.clone(),
            )?;
            let results = sender.send_all().await?;
            if results.is_empty() {
                out!("nothing to send");
            }
            for (id, r) in results {
                match r {
                    Ok(SendOutcome::Sent {
                        message_id,
                        draft_only,
                        ..
                    }) => out!(
                        "{id}: {} <{message_id}>",
                        if draft_only { "drafted" } else { "sent" }
                    ),
                    Ok(SendOutcome::Reconciled { message_id, .. }) => {
                        out!("{id}: already delivered <{message_id}>");
                    }
                    Ok(SendOutcome::Deferred { until, reason }) => {
                        out!("{id}: deferred until {until} ({reason})");
                    }
                    Ok(SendOutcome::Denied { reason }) => out!("{id}: denied ({reason})"),
                    Ok(SendOutcome::InFlight { retry_at }) => {
                        out!("{id}: in flight elsewhere; retry after {retry_at}");
                    }
                    Ok(SendOutcome::Failed { reason }) => out!("{id}: FAILED ({reason})"),
                    Ok(SendOutcome::Skipped { status }) => out!("{id}: skipped ({status})"),
                    Err(e) => out!("{id}: error, will retry ({e})"),
                }
            }
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
