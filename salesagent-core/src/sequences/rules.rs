//! The rules of a sequence as pure functions of plain values: who is enrolled, what stops a
//! sequence, and how sends, stops, pauses and resumptions change its state.

use super::history::{self, Effect, SequenceOp};
use super::model::{Sequence, SequenceConfig, StopReason, ThreadMessage};
use super::schedule::add_business_days_except;
use crate::model::{Draft, OutcomeType};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;

/// Why a sent e-mail did not enrol its contact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Skip {
    /// Sequences are switched off, or have no steps.
    Disabled,
    /// The e-mail continues a thread: it is not a first e-mail.
    NotFirst,
    /// The e-mail has no Message-ID to thread follow-ups on.
    NoMessageId,
    /// The contact is in a running sequence already.
    AlreadyEnrolled,
    /// The contact's earlier sequence was ended by an unsubscribe or a bounce.
    Refused,
}

/// The outcome types that end a sequence, with the reason recorded.
#[must_use]
pub fn stop_reason_for(t: OutcomeType) -> Option<StopReason> {
    Some(match t {
        OutcomeType::EmailReplied
        | OutcomeType::PositiveResponse
        | OutcomeType::NegativeResponse => StopReason::Replied,
        OutcomeType::MeetingBooked => StopReason::MeetingBooked,
        OutcomeType::EmailUnsubscribed => StopReason::Unsubscribed,
        OutcomeType::EmailBounced => StopReason::Bounced,
        OutcomeType::DealCreated => StopReason::DealCreated,
        OutcomeType::DealStageAdvanced | OutcomeType::DealWon => StopReason::DealAdvanced,
        _ => return None,
    })
}

/// The zone business days are counted in: the sequence's contact's, else `fallback`.
#[must_use]
pub fn zone_of(seq: &Sequence, fallback: Tz) -> Tz {
    seq.time_zone
        .as_deref()
        .and_then(crate::sending::policy::parse_time_zone)
        .unwrap_or(fallback)
}

/// A sequence for the contact of a sent first e-mail, or why there is none. `existing` is the
/// contact's stored sequence, if any: a finished one is replaced (a new first e-mail starts a
/// new sequence) unless an unsubscribe or bounce ended it.
///
/// # Errors
/// The reason the contact is not enrolled.
pub fn enrol(
    draft: &Draft,
    config: &SequenceConfig,
    existing: Option<&Sequence>,
    tz: Tz,
    now: DateTime<Utc>,
) -> Result<Sequence, Skip> {
    if !config.enabled || config.steps.is_empty() {
        return Err(Skip::Disabled);
    }
    if draft.thread.is_reply() {
        return Err(Skip::NotFirst);
    }
    let Some(message_id) = draft.message_id.clone() else {
        return Err(Skip::NoMessageId);
    };
    if let Some(s) = existing {
        if !s.status.is_finished() {
            return Err(Skip::AlreadyEnrolled);
        }
        if matches!(
            s.stop_reason,
            Some(StopReason::Unsubscribed | StopReason::Bounced | StopReason::Suppressed)
        ) {
            return Err(Skip::Refused);
        }
    }
    let sent_at = draft.sent_at.unwrap_or(now);
    let op = SequenceOp::Enrolled {
        at: now,
        id: uuid::Uuid::now_v7(),
        contact: draft.contact_email.clone(),
        sender: draft.sender.clone(),
        plan: config.steps.clone(),
        first: ThreadMessage {
            draft_id: draft.id,
            message_id,
            subject: draft.subject.clone(),
            sent_at,
            step: 0,
        },
        provider_thread_id: draft.thread.provider_thread_id.clone(),
        version: existing.map_or(1, |s| s.version + 1),
        generation: existing.map_or(1, |s| s.generation + 1),
        holidays: config.holidays_for(None),
        zone: tz.name().to_owned(),
    };
    history::enrolled(&op).ok_or(Skip::Disabled)
}

/// When the next follow-up is due to be drafted: the step's wait (or what was left of it after
/// a pause) in business days after the anchor, in `tz`. `None` when no step is left.
#[must_use]
pub fn due_at(seq: &Sequence, tz: Tz) -> Option<DateTime<Utc>> {
    let step = seq.next_step()?;
    let wait = seq.wait_override.unwrap_or(step.wait_business_days);
    Some(add_business_days_except(
        seq.anchor_at,
        wait,
        tz,
        &seq.holidays,
    ))
}

/// Records that the sequence's pending follow-up `draft` was sent: the step is done, the next
/// one counts from `sent_at` (from the return date when it was sent during a pause), or the
/// sequence is complete. False (nothing changed) when `draft`
/// is not the pending follow-up.
pub fn record_sent(seq: &mut Sequence, draft: &Draft, tz: Tz, now: DateTime<Utc>) -> bool {
    sent_op(draft, tz, now).is_some_and(|op| history::record(seq, op) != Effect::None)
}

/// The [`SequenceOp::Sent`] of a sent follow-up `draft` (`None` without a Message-ID).
#[must_use]
pub fn sent_op(draft: &Draft, tz: Tz, now: DateTime<Utc>) -> Option<SequenceOp> {
    Some(SequenceOp::Sent {
        at: now,
        message: ThreadMessage {
            draft_id: draft.id,
            message_id: draft.message_id.clone()?,
            subject: draft.subject.clone(),
            sent_at: draft.sent_at.unwrap_or(now),
            step: 0,
        },
        provider_thread_id: draft.thread.provider_thread_id.clone(),
        zone: tz.name().to_owned(),
    })
}

/// Ends a running or paused sequence with `reason`. False when it had ended already.
pub fn stop(seq: &mut Sequence, reason: StopReason, now: DateTime<Utc>) -> bool {
    history::record(seq, SequenceOp::Stopped { at: now, reason }) != Effect::None
}

/// Pauses a running (or extends a paused) sequence until `until` because of an out-of-office
/// reply identified by `source`. The step's remaining wait (at least one business day) counts
/// again from `until`, so the schedule shifts by the absence. A pending follow-up is given up
/// (the caller discards its draft) and written again after the pause. False when nothing
/// changed (ended, the same message seen before, or an earlier end than already set).
pub fn pause(
    seq: &mut Sequence,
    until: DateTime<Utc>,
    reason: &str,
    source: &str,
    tz: Tz,
    now: DateTime<Utc>,
) -> bool {
    let op = SequenceOp::Paused {
        at: now,
        until,
        reason: reason.to_owned(),
        source: source.to_owned(),
        zone: tz.name().to_owned(),
        keep_pending: None,
    };
    history::record(seq, op) != Effect::None
}

/// Resumes a paused sequence whose pause is over. False when it is not paused or not yet.
pub fn resume(seq: &mut Sequence, tz: Tz, now: DateTime<Utc>) -> bool {
    let op = SequenceOp::Resumed {
        at: now,
        zone: tz.name().to_owned(),
    };
    history::record(seq, op) != Effect::None
}

#[cfg(test)]
mod tests {
    use super::super::model::SequenceStatus;
    use super::*;
    use crate::model::{DraftWriter, EmailAddress, MessageId};
    use chrono::TimeZone;

    fn sent_draft(at: DateTime<Utc>) -> Draft {
        let mut d = Draft::new(
            EmailAddress::parse("ann@example.com").unwrap(),
            EmailAddress::parse("sam@seller.dev").unwrap(),
            "Hello",
            "Hi Ann",
            DraftWriter::Human,
            at,
        );
        d.message_id = Some(MessageId::generate(d.sender.domain()));
        d.sent_at = Some(at);
        d
    }

    #[test]
    fn a_follow_up_sent_during_a_pause_counts_the_next_wait_from_the_return() {
        let t0 = Utc.with_ymd_and_hms(2026, 12, 2, 10, 0, 0).unwrap();
        let mut seq = enrol(
            &sent_draft(t0),
            &SequenceConfig::default(),
            None,
            Tz::UTC,
            t0,
        )
        .unwrap();
        let mut follow = sent_draft(t0 + chrono::Duration::days(5));
        seq.pending_draft = Some(follow.id);
        let back = Utc.with_ymd_and_hms(2026, 12, 21, 9, 0, 0).unwrap();
        assert!(pause(
            &mut seq,
            back,
            "ooo",
            "m1",
            Tz::UTC,
            t0 + chrono::Duration::days(5)
        ));
        seq.pending_draft = Some(follow.id); // in flight: kept by the service
        follow.thread.in_reply_to = seq.messages[0].message_id.clone().into();
        assert!(record_sent(
            &mut seq,
            &follow,
            Tz::UTC,
            t0 + chrono::Duration::days(5)
        ));
        assert_eq!(seq.status, SequenceStatus::Paused);
        assert_eq!(seq.anchor_at, back);
        // The value step's 4 business days count from Monday the 21st.
        assert!(resume(&mut seq, Tz::UTC, back));
        assert_eq!(
            seq.next_due,
            Some(Utc.with_ymd_and_hms(2026, 12, 25, 9, 0, 0).unwrap())
        );
    }

    #[test]
    fn enrol_pause_resume_stop() {
        // Wednesday 2026-12-02 10:00 UTC.
        let t0 = Utc.with_ymd_and_hms(2026, 12, 2, 10, 0, 0).unwrap();
        let cfg = SequenceConfig::default();
        let first = sent_draft(t0);
        let mut seq = enrol(&first, &cfg, None, Tz::UTC, t0).unwrap();
        // 3 business days after Wednesday: Monday.
        assert_eq!(
            seq.next_due,
            Some(Utc.with_ymd_and_hms(2026, 12, 7, 10, 0, 0).unwrap())
        );
        assert_eq!(
            enrol(&first, &cfg, Some(&seq), Tz::UTC, t0),
            Err(Skip::AlreadyEnrolled)
        );
        // Out of office on Thursday until Monday 14th 09:00: 2 business days were left.
        let t1 = t0 + chrono::Duration::days(1);
        let back = Utc.with_ymd_and_hms(2026, 12, 14, 9, 0, 0).unwrap();
        assert!(pause(&mut seq, back, "ooo", "m1", Tz::UTC, t1));
        assert!(!pause(&mut seq, back, "ooo", "m1", Tz::UTC, t1));
        assert_eq!(
            seq.next_due,
            Some(Utc.with_ymd_and_hms(2026, 12, 16, 9, 0, 0).unwrap())
        );
        assert!(!resume(&mut seq, Tz::UTC, t1));
        assert!(resume(&mut seq, Tz::UTC, back));
        assert_eq!(seq.status, SequenceStatus::Active);
        assert!(stop(&mut seq, StopReason::Replied, back));
        assert!(!stop(&mut seq, StopReason::Bounced, back));
        assert_eq!(seq.stop_reason, Some(StopReason::Replied));
        let mut again = first.clone();
        again.id = crate::model::DraftId::new();
        assert!(enrol(&again, &cfg, Some(&seq), Tz::UTC, back).is_ok());
        seq.stop_reason = Some(StopReason::Bounced);
        assert_eq!(
            enrol(&again, &cfg, Some(&seq), Tz::UTC, back),
            Err(Skip::Refused)
        );
    }
}
