//! What the operator API, the operator page and the assistant routes do alike, as methods of
//! [`AppState`] so no handler file reaches into another: draft decisions, the pending queue,
//! the kill switch, outcome counts.

use super::AppState;
use salesagent_core::model::{Draft, DraftAction, DraftId, NewAuditEntry};
use salesagent_core::ports::{OutcomeFilter, SettingsExt as _};
use salesagent_core::sending::QueueItem;
use salesagent_core::{Error, Result};
use std::collections::BTreeMap;

impl AppState {
    /// Applies an operator's `action` (approve, reject, edit) to draft `id` seen at `version`
    /// (`None`: whatever is stored now) through the one operator path,
    /// [`OperatorQueue`](salesagent_core::sending::OperatorQueue): the optimistic version
    /// check, the audit entry and (for an approval) the send job are one atomic store write,
    /// exactly as for the CLI and the assistant.
    pub(super) async fn act(
        &self,
        id: DraftId,
        version: Option<u32>,
        actor: &str,
        action: DraftAction,
    ) -> Result<Draft> {
        let seen = match version {
            Some(v) => v,
            None => self.store().get_draft(id).await?.version,
        };
        let queue = self.queue();
        let name = action.name();
        let draft = match action {
            DraftAction::Approve => queue.approve(id, seen, actor).await?,
            DraftAction::Reject { reason } => queue.reject(id, seen, actor, &reason).await?,
            DraftAction::Edit { subject, body } => {
                queue.edit(id, seen, actor, subject, body).await?
            }
            other => {
                return Err(Error::invalid(
                    "action",
                    format!("{} is not an operator action", other.name()),
                ));
            }
        };
        metrics::counter!("salesagent_operator_actions_total", "action" => name).increment(1);
        Ok(draft)
    }

    /// Pending drafts in the operator queue's order (ICP fit, recency, outcome history), each
    /// with its priority and the factors behind it: the same order and reasons on every surface.
    pub(super) async fn pending_drafts(&self) -> Result<Vec<QueueItem>> {
        self.queue().pending().await
    }

    /// Turns the kill switch on or off, with an audit entry.
    pub(super) async fn switch_kill(&self, on: bool, actor: &str) -> Result<()> {
        self.store().set_kill_switch(on).await?;
        self.store()
            .append_audit(&NewAuditEntry {
                actor: actor.to_owned(),
                action: format!("kill_switch.{}", if on { "on" } else { "off" }),
                subject: "kill_switch".to_owned(),
                details: serde_json::json!({}),
            })
            .await?;
        Ok(())
    }

    /// Counts and total impact per outcome type.
    pub(super) async fn outcome_stats(&self) -> Result<serde_json::Value> {
        let all = self
            .store()
            .list_outcomes(&OutcomeFilter::default())
            .await?;
        let mut by_type: BTreeMap<&'static str, (u64, i64)> = BTreeMap::new();
        for o in &all {
            let e = by_type.entry(o.outcome_type.as_str()).or_default();
            e.0 += 1;
            e.1 += i64::from(o.impact);
        }
        let total_impact: i64 = by_type.values().map(|(_, i)| i).sum();
        let by_type: serde_json::Map<String, serde_json::Value> = by_type
            .into_iter()
            .map(|(k, (n, i))| (k.to_owned(), serde_json::json!({"count": n, "impact": i})))
            .collect();
        Ok(
            serde_json::json!({"total": all.len(), "total_impact": total_impact, "by_type": by_type}),
        )
    }
}
