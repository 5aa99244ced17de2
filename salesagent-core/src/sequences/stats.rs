//! Figures per step: how many contacts received it, how many answered or were stopped after it.

use super::model::{Sequence, SequenceStatus, StepPurpose, StopReason};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Figures of one step (step 0 is the first e-mail).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct StepStats {
    /// 0 = the first e-mail, 1 = the first follow-up, …
    pub step: u32,
    /// The step's purpose (none for the first e-mail).
    pub purpose: Option<StepPurpose>,
    /// Contacts it was sent to.
    pub sent: u64,
    /// Contacts who replied after it (and before the next step).
    pub replied: u64,
    /// Sequences stopped after it, per reason (`replied` included).
    pub stopped: BTreeMap<String, u64>,
}

/// Figures over every sequence.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SequenceStats {
    /// Sequences per status.
    pub by_status: BTreeMap<String, u64>,
    /// Per step, the first e-mail first.
    pub steps: Vec<StepStats>,
}

/// The figures of `sequences`.
#[must_use]
pub fn compute_stats(sequences: &[Sequence]) -> SequenceStats {
    let mut out = SequenceStats::default();
    for st in SequenceStatus::ALL {
        out.by_status.insert(st.as_str().to_owned(), 0);
    }
    let longest = sequences.iter().map(|s| s.plan.len()).max().unwrap_or(0);
    out.steps = (0..=longest)
        .map(|i| StepStats {
            step: u32::try_from(i).unwrap_or(u32::MAX),
            ..StepStats::default()
        })
        .collect();
    for seq in sequences {
        *out.by_status
            .entry(seq.status.as_str().to_owned())
            .or_default() += 1;
        for (i, step) in seq.plan.iter().enumerate() {
            if let Some(s) = out.steps.get_mut(i + 1) {
                s.purpose.get_or_insert(step.purpose);
            }
        }
        for m in &seq.messages {
            if let Some(s) = out.steps.get_mut(m.step as usize) {
                s.sent += 1;
            }
        }
        if let (Some(reason), Some(after)) = (&seq.stop_reason, seq.stopped_after_step)
            && let Some(s) = out.steps.get_mut(after as usize)
        {
            *s.stopped.entry(reason.as_str().to_owned()).or_default() += 1;
            if *reason == StopReason::Replied {
                s.replied += 1;
            }
        }
    }
    out
}
