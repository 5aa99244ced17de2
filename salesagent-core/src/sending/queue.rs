//! The operator queue: pending drafts by priority, and approve / reject / edit with an audit
//! trail and optimistic versioning.
//!
//! Priority (APS) = ICP fit (0..=100) + recency (`recency_weight`, halving every
//! `recency_half_life`) + an outcome-history adjustment capped at ±[`QueueConfig::adjustment_cap`].
//! The adjustment is computed by a function the caller hands in (the outcomes module provides
//! one); without it, it is 0.
//!
//! Every operator action names the version the operator saw; a draft that changed since (an
//! edit, another operator's approval) is a [`Error::Conflict`], so two operators can never
//! double-approve and nobody can approve text they have not seen.

use crate::model::{Draft, DraftAction, DraftId, DraftStatus, NewAuditEntry, Outcome, ScoreFactor};
use crate::ports::{DraftFilter, DraftUpdate, DynClock, DynStore, OutcomeFilter};
use crate::{Error, Result};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

/// An outcome-history adjustment: points (capped by the queue) and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Adjustment {
    /// Points; the queue clamps them to ±`adjustment_cap`.
    pub points: f64,
    /// Why.
    pub reason: String,
}

/// Computes the outcome-history adjustment of a draft from the contact's recorded outcomes.
pub type AdjustmentFn = Arc<dyn Fn(&Draft, &[Outcome]) -> Adjustment + Send + Sync>;

/// Settings of the [`OperatorQueue`]: how a draft's priority is computed (recency, missing ICP
/// score, adjustment bound), and whether an approval enqueues a send job.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct QueueConfig {
    /// Age at which the recency bonus halves.
    pub recency_half_life: Duration,
    /// Recency bonus of a brand-new draft.
    pub recency_weight: f64,
    /// ICP points used when a draft has no ICP score.
    pub missing_icp_points: f64,
    /// Bound of the outcome-history adjustment (±).
    pub adjustment_cap: f64,
    /// Enqueue a send job when a draft is approved.
    pub enqueue_send_jobs: bool,
}

impl Default for QueueConfig {
    fn default() -> Self {
        Self {
            recency_half_life: Duration::from_secs(24 * 3600),
            recency_weight: 30.0,
            missing_icp_points: 0.0,
            adjustment_cap: 20.0,
            enqueue_send_jobs: true,
        }
    }
}

/// A pending draft with its priority and the reasons for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueueItem {
    /// The draft.
    pub draft: Draft,
    /// Priority (higher first).
    pub priority: f64,
    /// How the priority was reached.
    pub factors: Vec<ScoreFactor>,
}

/// Computes a draft's priority and its factors (pure).
#[must_use]
pub fn priority(
    config: &QueueConfig,
    draft: &Draft,
    now: DateTime<Utc>,
    adjustment: Option<&Adjustment>,
) -> (f64, Vec<ScoreFactor>) {
    let mut factors = Vec::with_capacity(3);
    match &draft.icp {
        Some(icp) => factors.push(ScoreFactor {
            name: "icp_fit".into(),
            points: f64::from(icp.score),
            reason: format!("ICP score {} (tier {})", icp.score, icp.tier),
        }),
        // A hand-written draft has no ICP score; the priority its author gave stands in for it.
        None if draft.priority.is_finite() && draft.priority != 0.0 => {
            factors.push(ScoreFactor {
                name: "icp_fit".into(),
                points: draft.priority,
                reason: "no ICP score; the priority given when the draft was created".into(),
            });
        }
        None => factors.push(ScoreFactor {
            name: "icp_fit".into(),
            points: config.missing_icp_points,
            reason: "no ICP score".into(),
        }),
    }
    let age_secs = (now - draft.created_at).num_seconds().max(0) as f64;
    let half = config.recency_half_life.as_secs_f64().max(1.0);
    let recency = config.recency_weight * 0.5f64.powf(age_secs / half);
    factors.push(ScoreFactor {
        name: "recency".into(),
        points: recency,
        reason: format!(
            "{:.1} h old, half-life {:.1} h",
            age_secs / 3600.0,
            half / 3600.0
        ),
    });
    let cap = config.adjustment_cap.abs();
    let adj = adjustment.map_or(0.0, |a| {
        if a.points.is_finite() {
            a.points.clamp(-cap, cap)
        } else {
            0.0
        }
    });
    factors.push(ScoreFactor {
        name: "outcome_history".into(),
        points: adj,
        reason: adjustment.map_or_else(
            || "no outcome history adjustment".to_owned(),
            |a| {
                if (a.points - adj).abs() > f64::EPSILON {
                    format!("{} (capped from {:.1} to {adj:.1})", a.reason, a.points)
                } else {
                    a.reason.clone()
                }
            },
        ),
    });
    let total = factors.iter().map(|f| f.points).sum();
    (total, factors)
}

/// The operator service over a store.
#[derive(Clone)]
pub struct OperatorQueue {
    store: DynStore,
    clock: DynClock,
    config: QueueConfig,
    adjustment: Option<AdjustmentFn>,
}

impl std::fmt::Debug for OperatorQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OperatorQueue")
            .field("config", &self.config)
            .field("adjustment", &self.adjustment.is_some())
            .finish_non_exhaustive()
    }
}

impl OperatorQueue {
    /// A queue over `store` with default settings and no outcome adjustment.
    #[must_use]
    pub fn new(store: DynStore, clock: DynClock) -> Self {
        Self {
            store,
            clock,
            config: QueueConfig::default(),
            adjustment: None,
        }
    }

    /// The queue every surface uses (operator API, web page, CLI, assistant): `config`, and the
    /// outcome-history adjustment of [`queue_adjustment`](crate::outcomes::queue_adjustment)
    /// with its default settings.
    #[must_use]
    pub fn standard(store: DynStore, clock: DynClock, config: QueueConfig) -> Self {
        let adjustment =
            crate::outcomes::queue_adjustment(clock.clone(), crate::outcomes::ApsConfig::default());
        Self::new(store, clock)
            .with_config(config)
            .with_adjustment(adjustment)
    }

    /// Replaces the settings.
    #[must_use]
    pub fn with_config(mut self, config: QueueConfig) -> Self {
        self.config = config;
        self
    }

    /// Uses `f` for the outcome-history adjustment.
    #[must_use]
    pub fn with_adjustment(mut self, f: AdjustmentFn) -> Self {
        self.adjustment = Some(f);
        self
    }

    async fn item(&self, draft: Draft, now: DateTime<Utc>) -> Result<QueueItem> {
        let adjustment = match &self.adjustment {
            Some(f) => {
                let outcomes = self
                    .store
                    .list_outcomes(&OutcomeFilter {
                        contact: Some(draft.contact_email.clone()),
                        ..OutcomeFilter::default()
                    })
                    .await?;
                Some(f(&draft, &outcomes))
            }
            None => None,
        };
        let (priority, factors) = priority(&self.config, &draft, now, adjustment.as_ref());
        Ok(QueueItem {
            draft,
            priority,
            factors,
        })
    }

    /// Pending drafts, highest priority first (ties: oldest first).
    ///
    /// # Errors
    /// Store errors.
    pub async fn pending(&self) -> Result<Vec<QueueItem>> {
        let now = self.clock.now();
        let drafts = self
            .store
            .list_drafts(&DraftFilter {
                status: Some(DraftStatus::Pending),
                ..DraftFilter::default()
            })
            .await?;
        let mut items = Vec::with_capacity(drafts.len());
        for d in drafts {
            items.push(self.item(d, now).await?);
        }
        items.sort_by(|a, b| {
            b.priority
                .total_cmp(&a.priority)
                .then(a.draft.created_at.cmp(&b.draft.created_at))
                .then(a.draft.id.cmp(&b.draft.id))
        });
        Ok(items)
    }

    /// The top pending draft and why, if any.
    ///
    /// # Errors
    /// Store errors.
    pub async fn next(&self) -> Result<Option<QueueItem>> {
        Ok(self.pending().await?.into_iter().next())
    }

    async fn act(
        &self,
        id: DraftId,
        seen_version: u32,
        actor: &str,
        action: DraftAction,
    ) -> Result<Draft> {
        self.act_with(id, seen_version, actor, action, false).await
    }

    /// Applies `action` and stores the draft, its audit entry and (with `send`) its send job in
    /// one atomic write.
    async fn act_with(
        &self,
        id: DraftId,
        seen_version: u32,
        actor: &str,
        action: DraftAction,
        send: bool,
    ) -> Result<Draft> {
        if actor.trim().is_empty() || actor.chars().any(char::is_control) {
            return Err(Error::invalid("actor", "must be a non-empty single line"));
        }
        let mut draft = self.store.get_draft(id).await?;
        if draft.version != seen_version {
            return Err(Error::conflict(format!(
                "draft {id} changed since you saw it (version {seen_version}, now {}); reload it",
                draft.version
            )));
        }
        let name = action.name();
        let event = draft.apply(action, actor, self.clock.now())?;
        let entry = NewAuditEntry {
            actor: actor.to_owned(),
            action: format!("draft.{name}"),
            subject: id.to_string(),
            details: serde_json::json!({
                "at": event.at,
                "action": event.action,
                "before": event.before,
                "after": event.after,
            }),
        };
        let jobs = if send {
            vec![super::sender::SendJob::new_job(draft.id, draft.version)]
        } else {
            Vec::new()
        };
        // The store re-checks the version atomically: a concurrent change still loses, and
        // nothing of it (audit entry, send job) is stored.
        self.store
            .update_draft_record(&DraftUpdate {
                draft: &draft,
                expected_version: seen_version,
                event: &event,
                audit: Some(&entry),
                jobs: &jobs,
            })
            .await?;
        Ok(draft)
    }

    /// Approves a pending draft the operator saw at `seen_version`; enqueues its send job.
    ///
    /// # Errors
    /// `Conflict` when it changed since or is not pending; `NotFound`; store errors.
    pub async fn approve(&self, id: DraftId, seen_version: u32, actor: &str) -> Result<Draft> {
        self.act_with(
            id,
            seen_version,
            actor,
            DraftAction::Approve,
            self.config.enqueue_send_jobs,
        )
        .await
    }

    /// Rejects a pending draft with a reason.
    ///
    /// # Errors
    /// `InvalidInput` for an empty reason; `Conflict` when it changed since or is not pending.
    pub async fn reject(
        &self,
        id: DraftId,
        seen_version: u32,
        actor: &str,
        reason: &str,
    ) -> Result<Draft> {
        let reason = reason.trim();
        if reason.is_empty() {
            return Err(Error::invalid("reason", "is empty"));
        }
        self.act(
            id,
            seen_version,
            actor,
            DraftAction::Reject {
                reason: reason.to_owned(),
            },
        )
        .await
    }

    /// Edits subject and/or body of a pending or approved draft (it returns to pending).
    ///
    /// # Errors
    /// `InvalidInput` for bad text or no change; `Conflict` when it changed since.
    pub async fn edit(
        &self,
        id: DraftId,
        seen_version: u32,
        actor: &str,
        subject: Option<String>,
        body: Option<String>,
    ) -> Result<Draft> {
        if subject.is_none() && body.is_none() {
            return Err(Error::invalid("edit", "nothing to change"));
        }
        self.act(id, seen_version, actor, DraftAction::Edit { subject, body })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adjustment_is_capped_and_explained() {
        let cfg = QueueConfig::default();
        let d = crate::sending::tests_support::draft();
        let now = d.created_at;
        let (p0, f0) = priority(&cfg, &d, now, None);
        assert_eq!(f0.len(), 3);
        let big = Adjustment {
            points: 55.0,
            reason: "won two deals".into(),
        };
        let (p1, f1) = priority(&cfg, &d, now, Some(&big));
        assert!((p1 - p0 - 20.0).abs() < 1e-9);
        assert!(f1[2].reason.contains("capped"));
        let neg = Adjustment {
            points: -100.0,
            reason: "bounced".into(),
        };
        let (p2, _) = priority(&cfg, &d, now, Some(&neg));
        assert!((p0 - p2 - 20.0).abs() < 1e-9);
        let nan = Adjustment {
            points: f64::NAN,
            reason: "broken".into(),
        };
        assert!(priority(&cfg, &d, now, Some(&nan)).0.is_finite());
    }

    #[test]
    fn recency_halves_per_half_life() {
        let cfg = QueueConfig::default();
        let d = crate::sending::tests_support::draft();
        let (fresh, _) = priority(&cfg, &d, d.created_at, None);
        let later = d.created_at + chrono::TimeDelta::hours(24);
        let (old, f) = priority(&cfg, &d, later, None);
        assert!((fresh - old - 15.0).abs() < 1e-9, "{fresh} {old}");
        assert!(f[1].reason.contains("24.0 h old"));
    }
}
