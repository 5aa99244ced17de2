//! A sequence's history as data, and its replay.
//!
//! Every change to a stored sequence is made by [`record`]: it applies one [`SequenceOp`] (the
//! input of the change: the follow-up sent, the reply that stopped it, the out-of-office reply
//! that paused it, with the instant and the zone it was counted in) and appends the op to the
//! sequence's [`journal`](super::Sequence::journal), in the same document write. [`replay`]
//! folds a journal through the same [`apply`] from the enrolment on, with the same version and
//! generation bookkeeping as the store writes, so the replay of a stored sequence's journal
//! equals the stored sequence: the state is a function of its recorded inputs, whichever
//! worker, restart or retry wrote it.

use super::model::{Sequence, SequenceStatus, Step, StopReason, ThreadMessage};
use super::rules::due_at;
use super::schedule::business_days_between_except;
use crate::model::{DraftId, EmailAddress, ThreadId};
use crate::sending::policy::parse_time_zone;
use crate::{Error, Result};
use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

/// One change to a sequence, as the input it was made from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum SequenceOp {
    /// A sent first e-mail enrolled its contact.
    Enrolled {
        /// When.
        at: DateTime<Utc>,
        /// The sequence's id.
        id: uuid::Uuid,
        /// The recipient.
        contact: EmailAddress,
        /// The mailbox it goes out from.
        sender: EmailAddress,
        /// The steps as configured.
        plan: Vec<Step>,
        /// The first e-mail.
        first: ThreadMessage,
        /// The provider's thread id of the first e-mail, when known.
        provider_thread_id: Option<ThreadId>,
        /// The stored version (one past a replaced sequence's).
        version: u32,
        /// The generation (one past a replaced sequence's).
        generation: u32,
        /// The holidays in effect (the configuration's global ones).
        holidays: Vec<NaiveDate>,
        /// The zone the first wait was counted in.
        zone: String,
    },
    /// The CRM was asked for the recipient's zone and country.
    ZoneChecked {
        /// When.
        at: DateTime<Utc>,
        /// The recipient's zone, when the CRM knows a valid one.
        zone: Option<String>,
        /// The recipient's country, when the CRM states one.
        country: Option<String>,
        /// The holidays in effect from now on (global and the country's).
        holidays: Vec<NaiveDate>,
        /// The zone used when the recipient's is unknown.
        fallback: String,
    },
    /// The next step's follow-up was drafted.
    Drafted {
        /// When.
        at: DateTime<Utc>,
        /// The draft.
        draft: DraftId,
        /// The generation it was drafted for (a later one ignores it).
        generation: u32,
        /// The provider's thread id found while drafting.
        provider_thread_id: Option<ThreadId>,
    },
    /// The pending follow-up was sent.
    Sent {
        /// When it was noticed.
        at: DateTime<Utc>,
        /// The message (its `step` is set when applied).
        message: ThreadMessage,
        /// The provider's thread id of the message, when known.
        provider_thread_id: Option<ThreadId>,
        /// The zone the next wait is counted in.
        zone: String,
    },
    /// The sequence ended early.
    Stopped {
        /// When.
        at: DateTime<Utc>,
        /// Why.
        reason: StopReason,
    },
    /// An out-of-office reply paused the sequence.
    Paused {
        /// When.
        at: DateTime<Utc>,
        /// Until when.
        until: DateTime<Utc>,
        /// Why, in words.
        reason: String,
        /// The reply's source id.
        source: String,
        /// The zone the remaining wait is counted in.
        zone: String,
        /// A follow-up already handed to the mailbox, kept as pending.
        keep_pending: Option<DraftId>,
    },
    /// A pause ended.
    Resumed {
        /// When.
        at: DateTime<Utc>,
        /// The zone the remaining wait is counted in.
        zone: String,
    },
    /// The pending follow-up's draft is gone (erased): the step is drafted again.
    PendingLost {
        /// When.
        at: DateTime<Utc>,
        /// The draft.
        draft: DraftId,
    },
}

impl SequenceOp {
    /// When the change was made.
    #[must_use]
    pub fn at(&self) -> DateTime<Utc> {
        match self {
            Self::Enrolled { at, .. }
            | Self::ZoneChecked { at, .. }
            | Self::Drafted { at, .. }
            | Self::Sent { at, .. }
            | Self::Stopped { at, .. }
            | Self::Paused { at, .. }
            | Self::Resumed { at, .. }
            | Self::PendingLost { at, .. } => *at,
        }
    }
}

/// What a change needs written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Nothing changed.
    None,
    /// Save it.
    Save,
    /// Save it with a new generation (and its step job).
    Reschedule,
}

fn zone(name: &str) -> Tz {
    parse_time_zone(name).unwrap_or(Tz::UTC)
}

/// A new sequence from its [`SequenceOp::Enrolled`] op (with the op as its journal's first
/// entry); `None` for any other op.
#[must_use]
pub fn enrolled(op: &SequenceOp) -> Option<Sequence> {
    let SequenceOp::Enrolled {
        at,
        id,
        contact,
        sender,
        plan,
        first,
        provider_thread_id,
        version,
        generation,
        holidays,
        zone: tz,
    } = op
    else {
        return None;
    };
    let mut seq = Sequence {
        id: *id,
        contact_email: contact.clone(),
        sender: sender.clone(),
        status: SequenceStatus::Active,
        version: *version,
        generation: *generation,
        plan: plan.clone(),
        sent_steps: 0,
        pending_draft: None,
        drafts: Vec::new(),
        messages: vec![first.clone()],
        provider_thread_id: provider_thread_id.clone(),
        anchor_at: first.sent_at,
        wait_override: None,
        next_due: None,
        time_zone: None,
        time_zone_checked: false,
        country: None,
        holidays: holidays.clone(),
        paused_until: None,
        pause_reason: None,
        stop_reason: None,
        ended_at: None,
        stopped_after_step: None,
        pause_sources: Vec::new(),
        events: Vec::new(),
        journal: vec![op.clone()],
        enrolled_at: *at,
        updated_at: *at,
    };
    seq.next_due = due_at(&seq, zone(tz));
    seq.note(*at, format!("enrolled ({} steps)", seq.plan.len()));
    Some(seq)
}

/// Applies `op` to `seq` and, when it changed something, appends `op` to its journal. The one
/// way the sequences service changes a sequence.
pub fn record(seq: &mut Sequence, op: SequenceOp) -> Effect {
    let effect = apply(seq, &op);
    if effect != Effect::None {
        seq.journal.push(op);
    }
    effect
}

/// Applies `op` to `seq` (without journaling it): the rules of each change.
#[must_use]
pub fn apply(seq: &mut Sequence, op: &SequenceOp) -> Effect {
    match op {
        SequenceOp::Enrolled { .. } => Effect::None,
        SequenceOp::ZoneChecked {
            zone: z,
            country,
            holidays,
            fallback,
            ..
        } => {
            seq.time_zone.clone_from(z);
            seq.time_zone_checked = true;
            seq.country.clone_from(country);
            seq.holidays.clone_from(holidays);
            if seq.status == SequenceStatus::Active && seq.pending_draft.is_none() {
                let tz = seq.time_zone.as_deref().map_or(zone(fallback), zone);
                seq.next_due = due_at(seq, tz);
            }
            Effect::Save
        }
        SequenceOp::Drafted {
            at,
            draft,
            generation,
            provider_thread_id,
        } => {
            if seq.generation != *generation
                || seq.status != SequenceStatus::Active
                || seq.pending_draft.is_some()
            {
                return Effect::None;
            }
            let Some(step) = seq.next_step() else {
                return Effect::None;
            };
            seq.pending_draft = Some(*draft);
            seq.drafts.push(*draft);
            seq.next_due = None;
            if seq.provider_thread_id.is_none() {
                seq.provider_thread_id.clone_from(provider_thread_id);
            }
            let step_no = seq.sent_steps + 1;
            seq.note(
                *at,
                format!("drafted step {step_no} ({})", step.purpose.as_str()),
            );
            Effect::Save
        }
        SequenceOp::Sent {
            at,
            message,
            provider_thread_id,
            zone: z,
        } => sent(seq, *at, message, provider_thread_id.as_ref(), zone(z)),
        SequenceOp::Stopped { at, reason } => {
            if seq.status.is_finished() {
                return Effect::None;
            }
            seq.note(*at, format!("stopped: {reason}"));
            seq.status = SequenceStatus::Stopped;
            seq.stop_reason = Some(reason.clone());
            seq.stopped_after_step = Some(seq.sent_steps);
            seq.ended_at = Some(*at);
            seq.next_due = None;
            seq.paused_until = None;
            Effect::Save
        }
        SequenceOp::Paused {
            at,
            until,
            reason,
            source,
            zone: z,
            keep_pending,
        } => paused(seq, *at, *until, reason, source, zone(z), *keep_pending),
        SequenceOp::Resumed { at, zone: z } => {
            if seq.status != SequenceStatus::Paused || seq.paused_until.is_some_and(|u| *at < u) {
                return Effect::None;
            }
            seq.status = SequenceStatus::Active;
            seq.paused_until = None;
            seq.pause_reason = None;
            seq.next_due = due_at(seq, zone(z));
            seq.note(*at, "resumed");
            Effect::Save
        }
        SequenceOp::PendingLost { draft, .. } => {
            if seq.pending_draft == Some(*draft) {
                seq.pending_draft = None;
                Effect::Reschedule
            } else {
                Effect::None
            }
        }
    }
}

fn sent(
    seq: &mut Sequence,
    now: DateTime<Utc>,
    message: &ThreadMessage,
    provider_thread_id: Option<&ThreadId>,
    tz: Tz,
) -> Effect {
    if seq.pending_draft != Some(message.draft_id) || seq.status.is_finished() {
        return Effect::None;
    }
    seq.sent_steps += 1;
    seq.pending_draft = None;
    seq.messages.push(ThreadMessage {
        step: seq.sent_steps,
        ..message.clone()
    });
    if seq.provider_thread_id.is_none() {
        seq.provider_thread_id = provider_thread_id.cloned();
    }
    // Sent while paused (it was already on its way): the next wait counts from the return.
    seq.anchor_at = match (seq.status, seq.paused_until) {
        (SequenceStatus::Paused, Some(until)) => until.max(message.sent_at),
        _ => message.sent_at,
    };
    seq.wait_override = None;
    seq.note(now, format!("sent step {}", seq.sent_steps));
    if seq.next_step().is_none() {
        seq.status = SequenceStatus::Completed;
        seq.next_due = None;
        seq.ended_at = Some(now);
        seq.note(now, "completed");
    } else {
        seq.next_due = due_at(seq, tz);
    }
    Effect::Reschedule
}

fn paused(
    seq: &mut Sequence,
    now: DateTime<Utc>,
    until: DateTime<Utc>,
    reason: &str,
    source: &str,
    tz: Tz,
    keep_pending: Option<DraftId>,
) -> Effect {
    if seq.status.is_finished() || seq.pause_sources.iter().any(|s| s == source) {
        return Effect::None;
    }
    if until <= now {
        return Effect::None;
    }
    if seq.status == SequenceStatus::Paused && seq.paused_until.is_some_and(|u| u >= until) {
        seq.pause_sources.push(source.to_owned());
        return Effect::Reschedule;
    }
    let remaining = match (seq.status, seq.next_due) {
        (SequenceStatus::Active, Some(due)) => {
            business_days_between_except(now, due, tz, &seq.holidays)
        }
        _ => seq.wait_override.unwrap_or(0),
    };
    seq.status = SequenceStatus::Paused;
    seq.paused_until = Some(until);
    seq.pause_reason = Some(reason.to_owned());
    seq.pause_sources.push(source.to_owned());
    if seq.pause_sources.len() > 20 {
        seq.pause_sources.remove(0);
    }
    seq.pending_draft = keep_pending.filter(|k| seq.pending_draft == Some(*k));
    seq.anchor_at = until;
    seq.wait_override = Some(remaining.max(1));
    seq.next_due = due_at(seq, tz);
    seq.note(
        now,
        format!(
            "paused until {} ({reason})",
            until.format("%Y-%m-%d %H:%M UTC")
        ),
    );
    Effect::Reschedule
}

/// The sequence its journal describes: the enrolment, then every change applied in order, the
/// version bumped by each and the generation by each that rescheduled, as the store writes
/// them.
///
/// # Errors
/// `InvalidInput` when the journal is empty (a sequence stored before journals were kept), does
/// not start with its enrolment, or holds a change that changes nothing when replayed.
pub fn replay(journal: &[SequenceOp]) -> Result<Sequence> {
    let Some((first, rest)) = journal.split_first() else {
        return Err(Error::invalid("journal", "empty: nothing to replay"));
    };
    let mut seq = enrolled(first)
        .ok_or_else(|| Error::invalid("journal", "does not start with the enrolment"))?;
    for (i, op) in rest.iter().enumerate() {
        match record(&mut seq, op.clone()) {
            Effect::None => {
                return Err(Error::invalid(
                    "journal",
                    format!("entry {} changes nothing when replayed", i + 1),
                ));
            }
            Effect::Save => {}
            Effect::Reschedule => seq.generation += 1,
        }
        seq.version += 1;
        seq.updated_at = op.at();
    }
    Ok(seq)
}
