//! Effects of outcomes: the priority nudge, stopping drafts and suppressing addresses.

use crate::model::{
    Draft, DraftAction, DraftStatus, EmailAddress, Outcome, OutcomeType, Suppression,
    SuppressionReason,
};
use crate::ports::{DraftFilter, DraftStore, DynClock, SendStore};
use crate::sending::{Adjustment, AdjustmentFn};
use crate::{Error, Result};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

/// The largest adjustment, either way, that outcomes can give a priority score.
pub const MAX_ADJUSTMENT: f64 = 20.0;

/// How a contact's outcomes adjust its priority score (APS).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApsConfig {
    /// An outcome's weight halves every `half_life` (default 30 days).
    pub half_life: Duration,
    /// Priority points per impact point of a fresh outcome (default 1.0).
    pub points_per_impact: f64,
    /// The cap either way; values above [`MAX_ADJUSTMENT`] are treated as 20 (default 20).
    pub cap: f64,
}

impl Default for ApsConfig {
    fn default() -> Self {
        Self {
            half_life: Duration::from_secs(30 * 24 * 3600),
            points_per_impact: 1.0,
            cap: MAX_ADJUSTMENT,
        }
    }
}

/// The priority adjustment from a contact's outcomes at `now`: the sum of each outcome's impact
/// times `points_per_impact`, halved for every `half_life` of its age, clamped to ±`cap` (never
/// beyond ±20). Outcomes dated in the future count as fresh; a zero half-life counts only
/// outcomes at or after `now`. Non-finite inputs never produce a value outside the cap.
#[must_use]
pub fn priority_adjustment(outcomes: &[Outcome], now: DateTime<Utc>, config: &ApsConfig) -> f64 {
    let cap = if config.cap.is_finite() {
        config.cap.abs().min(MAX_ADJUSTMENT)
    } else {
        MAX_ADJUSTMENT
    };
    let half_life = config.half_life.as_secs_f64();
    let per = if config.points_per_impact.is_finite() {
        config.points_per_impact
    } else {
        0.0
    };
    let total: f64 = outcomes
        .iter()
        .map(|o| {
            #[allow(clippy::cast_precision_loss)] // ages in ms fit an f64 closely enough
            let age = (now - o.occurred_at).num_milliseconds().max(0) as f64 / 1000.0;
            let weight = if half_life > 0.0 {
                (-age / half_life).exp2()
            } else if age == 0.0 {
                1.0
            } else {
                0.0
            };
            f64::from(o.impact) * per * weight
        })
        .sum();
    if total.is_nan() {
        0.0
    } else {
        total.clamp(-cap, cap)
    }
}

/// The operator queue's outcome-history adjustment
/// ([`OperatorQueue::with_adjustment`](crate::sending::OperatorQueue::with_adjustment)):
/// [`priority_adjustment`] at the clock's time, with a one-line reason naming the latest outcomes.
#[must_use]
pub fn queue_adjustment(clock: DynClock, config: ApsConfig) -> AdjustmentFn {
    Arc::new(move |_draft: &Draft, outcomes: &[Outcome]| {
        let now = clock.now();
        let points = priority_adjustment(outcomes, now, &config);
        Adjustment {
            points,
            reason: explain(outcomes, now, points),
        }
    })
}

/// `3 outcomes, latest: email_replied (+5, 2 d ago), email_sent (+1, 4 d ago) → +5.8`.
fn explain(outcomes: &[Outcome], now: DateTime<Utc>, points: f64) -> String {
    if outcomes.is_empty() {
        return "no outcomes yet".to_owned();
    }
    let mut latest: Vec<&Outcome> = outcomes.iter().collect();
    latest.sort_by_key(|o| std::cmp::Reverse(o.occurred_at));
    let shown: Vec<String> = latest
        .iter()
        .take(3)
        .map(|o| {
            let days = (now - o.occurred_at).num_days().max(0);
            format!("{} ({:+}, {days} d ago)", o.outcome_type, o.impact)
        })
        .collect();
    format!(
        "{} outcome{}, latest: {} → {points:+.1}",
        outcomes.len(),
        if outcomes.len() == 1 { "" } else { "s" },
        shown.join(", ")
    )
}

/// Outcomes after which no more mail goes to the contact until an operator decides otherwise.
#[must_use]
pub fn stops_drafts(t: OutcomeType) -> bool {
    matches!(
        t,
        OutcomeType::EmailReplied
            | OutcomeType::PositiveResponse
            | OutcomeType::NegativeResponse
            | OutcomeType::MeetingBooked
            | OutcomeType::EmailUnsubscribed
            | OutcomeType::EmailBounced
    )
}

/// The suppression reason an outcome implies, if any.
#[must_use]
pub fn suppression_reason(t: OutcomeType) -> Option<SuppressionReason> {
    match t {
        OutcomeType::EmailBounced => Some(SuppressionReason::Bounced),
        OutcomeType::EmailUnsubscribed => Some(SuppressionReason::Unsubscribed),
        _ => None,
    }
}

/// Stops every pending, approved or drafted draft to `contact` with `reason`
/// (`DraftAction::Stop`, written with the version it was read at), re-reading and retrying up to
/// three times when someone else changed the draft first. Returns how many were stopped. A
/// `DRAFTED` draft (waiting in the sender's mailbox until real sends are switched on) is stopped
/// too, so it is never sent later; the mailbox draft itself stays for the sender to delete.
pub async fn stop_drafts(
    store: &dyn DraftStore,
    contact: &EmailAddress,
    reason: &str,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<usize> {
    let drafts = store
        .list_drafts(&DraftFilter {
            contact: Some(contact.clone()),
            ..DraftFilter::default()
        })
        .await?;
    let mut stopped = 0;
    for draft in drafts {
        if !matches!(
            draft.status,
            DraftStatus::Pending | DraftStatus::Approved | DraftStatus::Drafted
        ) {
            continue;
        }
        let mut current = draft;
        for attempt in 0..3 {
            let expected = current.version;
            let mut next = current.clone();
            let action = DraftAction::Stop {
                reason: reason.to_owned(),
            };
            if !next.can_apply(&action) {
                break;
            }
            let event = next.apply(action, actor, now)?;
            match store.update_draft(&next, expected, &event).await {
                Ok(()) => {
                    stopped += 1;
                    break;
                }
                Err(Error::Conflict { .. }) if attempt < 2 => {
                    current = store.get_draft(current.id).await?;
                }
                Err(e) => return Err(e),
            }
        }
    }
    Ok(stopped)
}

/// Adds `email` to the suppression list unless it is already there; true when added.
pub async fn suppress(
    store: &dyn SendStore,
    email: &EmailAddress,
    reason: SuppressionReason,
    note: &str,
    now: DateTime<Utc>,
) -> Result<bool> {
    if store.suppression(email).await?.is_some() {
        return Ok(false);
    }
    store
        .suppress(&Suppression {
            email: email.clone(),
            reason,
            note: Some(note.to_owned()),
            added_at: now,
        })
        .await?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::OutcomeId;

    fn outcome(t: OutcomeType, at: DateTime<Utc>) -> Outcome {
        Outcome {
            id: OutcomeId::new(),
            outcome_type: t,
            contact_email: EmailAddress::parse("a@example.com").unwrap(),
            sender: None,
            draft_id: None,
            impact: t.default_impact(),
            source_event_id: format!("t:{}", OutcomeId::new()),
            occurred_at: at,
            recorded_at: at,
            details: None,
        }
    }

    #[test]
    fn decays_and_caps() {
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let cfg = ApsConfig::default();
        let fresh = [outcome(OutcomeType::EmailReplied, now)];
        assert!((priority_adjustment(&fresh, now, &cfg) - 5.0).abs() < 1e-9);
        let old = [outcome(
            OutcomeType::EmailReplied,
            now - chrono::Duration::days(30),
        )];
        assert!((priority_adjustment(&old, now, &cfg) - 2.5).abs() < 1e-6);
        let many: Vec<_> = (0..10)
            .map(|_| outcome(OutcomeType::DealWon, now))
            .collect();
        assert_eq!(priority_adjustment(&many, now, &cfg), 20.0);
        let bad: Vec<_> = (0..10)
            .map(|_| outcome(OutcomeType::EmailUnsubscribed, now))
            .collect();
        assert_eq!(priority_adjustment(&bad, now, &cfg), -20.0);
        assert_eq!(priority_adjustment(&[], now, &cfg), 0.0);
    }
}
