//! `replay <dir> [--report out.json]`: recorded form submissions through the pipeline, the
//! auto-approval rules and the send policy on the offline connectors, sending nothing (see
//! [`salesagent::replay`]). The suppression list and kill switch are read from `--database`;
//! nothing is written there.

use super::{App, Cli, Failure};
use salesagent::replay::{Replay, ReplayConfig, ReplayReport};
use salesagent::services::ServiceSelector;
use salesagent_core::model::SendDecision;
use salesagent_core::ports::Clock as _;
use std::path::Path;

/// Runs the replay of `dir`, prints one line per file and the totals, and writes the full
/// report to `report` when given.
pub async fn run(app: &App, cli: &Cli, dir: &Path, report: Option<&Path>) -> Result<(), Failure> {
    let sender = super::fixtures::sender(&cli.data())?;
    let pipeline = app.pipeline.config().clone();
    let sending = app.sending()?;
    let config = ReplayConfig {
        pipeline,
        policy: sending.policy,
        rules: sending.rules,
        queue: sending.queue,
        now: app.clock.now(),
    };
    // Always the offline connectors: a dry run must not create contacts or notes in a real CRM,
    // whatever the environment configures.
    let offline = ServiceSelector::from_env()
        .offline(true)
        .fixtures(cli.data())
        .select(&app.store, &app.clock)?;
    let replay = Replay::new(offline.ports(app.store.clone(), app.clock.clone()), config).await?;
    super::fixtures::seed_voice(replay.store(), &sender, app.clock.now()).await?;
    replay.import_policy_state(&app.store).await?;
    let result = replay.run_dir(dir).await?;
    print_report(&result);
    if let Some(path) = report {
        let text =
            serde_json::to_string_pretty(&result).map_err(|e| Failure::runtime(e.to_string()))?;
        std::fs::write(path, text)
            .map_err(|e| Failure::runtime(format!("{}: {e}", path.display())))?;
        out!("Report written to {}", path.display());
    }
    Ok(())
}

fn print_report(r: &ReplayReport) {
    out!(
        "Dry run of {} ({}); nothing was sent.",
        r.directory,
        r.evaluated_at.to_rfc3339()
    );
    for item in &r.items {
        let what = if let Some(e) = &item.error {
            format!("ERROR {e}")
        } else if let Some(first) = &item.duplicate_of {
            format!("duplicate of {first}")
        } else {
            let icp = item
                .draft
                .as_ref()
                .and_then(|d| d.icp.as_ref())
                .map_or("-".to_owned(), |i| format!("{} {}", i.score, i.tier));
            let rules = item.rule_decision.as_ref().map_or("-", |d| {
                if d.approve {
                    "auto-approve"
                } else {
                    "operator"
                }
            });
            let policy = match &item.policy_decision {
                Some(SendDecision::Allow) => "send now".to_owned(),
                Some(SendDecision::Defer { until, .. }) => {
                    format!("defer to {}", until.format("%Y-%m-%d %H:%M UTC"))
                }
                Some(SendDecision::Deny { reason }) => format!("deny ({reason})"),
                None => "-".to_owned(),
            };
            format!(
                "icp {icp}, priority {:.1}, {rules}, {policy}",
                item.priority.unwrap_or_default()
            )
        };
        out!(
            "  {:<28} {:<40} {what}",
            item.file,
            item.contact.as_deref().unwrap_or("-")
        );
    }
    let t = &r.totals;
    out!(
        "Files {}, drafted {}, duplicates {}, invalid {}, failed {}; rules would auto-approve {}; \
         policy: {} now, {} deferred, {} denied",
        t.files,
        t.drafted,
        t.duplicates,
        t.invalid,
        t.failed,
        t.would_auto_approve,
        t.allow,
        t.defer,
        t.deny
    );
}
