//! Property test of the draft state machine: random operation sequences never reach an
//! illegal state, and refused operations leave the draft exactly as it was.

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use proptest::prelude::*;
use salesagent_core::model::{
    Draft, DraftAction, DraftStatus, DraftWriter, EmailAddress, MessageId, SendClaim, SendDecision,
    validate_body, validate_subject,
};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 5, 9, 0, 0).unwrap()
}

fn new_draft() -> Draft {
    Draft::new(
        EmailAddress::parse("lead@acme.io").unwrap(),
        EmailAddress::parse("me@seller.io").unwrap(),
        "Hello",
        "Hi there",
        DraftWriter::Llm { model: "m".into() },
        t0(),
    )
}

/// Texts for edits: mostly valid, sometimes empty, multi-line (for subjects) or with NUL.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => "[a-zA-Z ]{1,30}",
        1 => Just(String::new()),
        1 => Just("line\r\nBcc: x@y.z".to_owned()),
        1 => Just("nul\0byte".to_owned()),
    ]
}

fn claim() -> impl Strategy<Value = SendClaim> {
    ("[a-z]{1,6}", 0i64..120)
        .prop_map(|(holder, mins)| SendClaim::new(holder, t0() + TimeDelta::minutes(mins)))
}

fn action() -> impl Strategy<Value = DraftAction> {
    prop_oneof![
        Just(DraftAction::Approve),
        "[a-z]{1,8}".prop_map(|reason| DraftAction::Reject { reason }),
        (proptest::option::of(text()), proptest::option::of(text()))
            .prop_map(|(subject, body)| DraftAction::Edit { subject, body }),
        ("[a-z0-9]{1,12}", proptest::option::of(claim())).prop_map(|(l, claim)| {
            DraftAction::BeginSend {
                message_id: MessageId::parse(&format!("{l}@seller.io")).unwrap(),
                claim,
            }
        }),
        claim().prop_map(|claim| DraftAction::TakeOver { claim }),
        "[a-z0-9]{1,12}"
            .prop_map(|mailbox_draft_id| DraftAction::RecordMailboxDraft { mailbox_draft_id }),
        (0i64..120).prop_map(|m| DraftAction::AwaitConfirmation {
            since: t0() + TimeDelta::minutes(m)
        }),
        "[a-z0-9]{1,12}".prop_map(|mailbox_draft_id| DraftAction::MarkDrafted { mailbox_draft_id }),
        "[a-z]{1,8}".prop_map(|reason| DraftAction::ReturnToApproved { reason }),
        Just(DraftAction::ReleaseClaim),
        (0i64..100_000).prop_map(|s| DraftAction::RecordSendAttempt {
            at: t0() + TimeDelta::seconds(s)
        }),
        "[a-z0-9]{1,12}".prop_map(|provider_message_id| DraftAction::MarkSent {
            provider_message_id
        }),
        "[a-z]{1,8}".prop_map(|reason| DraftAction::MarkFailed { reason }),
        "[a-z]{1,8}".prop_map(|reason| DraftAction::Stop { reason }),
        "[a-z]{1,8}".prop_map(|reason| DraftAction::RecordDecision {
            send: Some(SendDecision::Deny {
                reason: reason.into()
            }),
            rules: None,
        }),
    ]
}

/// The transition table, written independently of `Draft::can_apply` (one arm per kind of
/// transition, even where two arms reach the same status).
#[allow(clippy::match_same_arms)]
fn expected_next(status: DraftStatus, action: &DraftAction) -> Option<DraftStatus> {
    use DraftAction as A;
    use DraftStatus as S;
    match (status, action) {
        (S::Pending, A::Approve) => Some(S::Approved),
        (S::Pending, A::Reject { .. })
        | (S::Pending | S::Approved | S::Drafted, A::Stop { .. }) => Some(S::Rejected),
        (S::Pending | S::Approved, A::Edit { .. }) => Some(S::Pending),
        // DRAFT_ONLY drafts are sent later from the same mailbox draft.
        (S::Approved | S::Drafted, A::BeginSend { .. }) => Some(S::Sending),
        // Steps of the claim holder (or a taker-over) that keep the draft in flight.
        (
            S::Sending,
            A::TakeOver { .. }
            | A::RecordMailboxDraft { .. }
            | A::AwaitConfirmation { .. }
            | A::ReleaseClaim
            | A::RecordSendAttempt { .. },
        ) => Some(S::Sending),
        (S::Sending, A::MarkDrafted { .. }) => Some(S::Drafted),
        (S::Sending, A::ReturnToApproved { .. }) => Some(S::Approved),
        (S::Sending, A::MarkSent { .. }) => Some(S::Sent),
        (S::Sending, A::MarkFailed { .. }) => Some(S::Failed),
        (S::Pending | S::Approved | S::Sending | S::Drafted, A::RecordDecision { .. }) => {
            Some(status)
        }
        _ => None,
    }
}

/// What the send fields should hold after a sequence of successful actions, tracked
/// independently of `Draft::apply`.
#[derive(Debug, Default, Clone)]
struct SendModel {
    message_id: Option<MessageId>,
    claim: Option<SendClaim>,
    mailbox_draft_id: Option<String>,
    unconfirmed_since: Option<DateTime<Utc>>,
}

impl SendModel {
    fn apply(&mut self, action: &DraftAction) {
        use DraftAction as A;
        match action {
            A::BeginSend { message_id, claim } => {
                self.message_id = Some(message_id.clone());
                self.claim.clone_from(claim);
            }
            A::TakeOver { claim } => self.claim = Some(claim.clone()),
            A::RecordMailboxDraft { mailbox_draft_id } => {
                self.mailbox_draft_id = Some(mailbox_draft_id.clone());
            }
            A::AwaitConfirmation { since } => {
                self.claim = None;
                // The first time the provider said "gone" is kept.
                if self.unconfirmed_since.is_none() {
                    self.unconfirmed_since = Some(*since);
                }
            }
            A::MarkDrafted { mailbox_draft_id } => {
                self.claim = None;
                self.mailbox_draft_id = Some(mailbox_draft_id.clone());
            }
            A::ReleaseClaim | A::MarkFailed { .. } => self.claim = None,
            // The latest attempt counts: "not sent" is decided a search-lag bound after it.
            A::RecordSendAttempt { at } => self.unconfirmed_since = Some(*at),
            A::ReturnToApproved { .. } | A::MarkSent { .. } => {
                self.claim = None;
                self.unconfirmed_since = None;
            }
            // New text, new message: nothing made for the old text is kept.
            A::Edit { .. } => {
                self.message_id = None;
                self.mailbox_draft_id = None;
                self.unconfirmed_since = None;
            }
            A::Approve | A::Reject { .. } | A::Stop { .. } | A::RecordDecision { .. } => {}
        }
    }

    fn check(&self, d: &Draft) -> Result<(), TestCaseError> {
        prop_assert_eq!(&d.message_id, &self.message_id, "Message-ID");
        prop_assert_eq!(&d.send_claim, &self.claim, "send claim");
        prop_assert_eq!(&d.mailbox_draft_id, &self.mailbox_draft_id, "mailbox draft");
        prop_assert_eq!(
            d.delivery_unconfirmed_since,
            self.unconfirmed_since,
            "unconfirmed since"
        );
        Ok(())
    }
}

fn edit_is_valid(action: &DraftAction) -> bool {
    match action {
        DraftAction::Edit { subject, body } => {
            subject
                .as_deref()
                .is_none_or(|s| validate_subject(s).is_ok())
                && body.as_deref().is_none_or(|b| validate_body(b).is_ok())
        }
        _ => true,
    }
}

fn check_invariants(d: &Draft, successes: u32, edited: bool) -> Result<(), TestCaseError> {
    use DraftStatus as S;
    prop_assert_eq!(
        d.version,
        1 + successes,
        "version counts successful operations"
    );
    if matches!(d.status, S::Sending | S::Sent | S::Failed | S::Drafted) {
        prop_assert!(
            d.message_id.is_some(),
            "a Message-ID exists once sending has started"
        );
    }
    prop_assert!(
        d.send_claim.is_none() || d.status == S::Sending,
        "only a Sending draft has a send claim"
    );
    if d.status == S::Drafted {
        prop_assert!(
            d.mailbox_draft_id.is_some(),
            "a Drafted draft names its mailbox draft"
        );
    }
    prop_assert_eq!(
        d.sent_at.is_some(),
        d.status == S::Sent,
        "sent_at only when sent"
    );
    prop_assert_eq!(
        d.provider_message_id.is_some(),
        d.status == S::Sent,
        "provider id only when sent"
    );
    if matches!(d.status, S::Rejected | S::Failed) {
        prop_assert!(d.status_reason.is_some(), "rejected/failed drafts say why");
    }
    if let Some(sent) = d.sent_at {
        prop_assert!(sent <= d.updated_at && sent >= d.created_at);
    }
    prop_assert!(validate_subject(&d.subject).is_ok(), "subject stays valid");
    prop_assert!(validate_body(&d.body).is_ok(), "body stays valid");
    prop_assert_eq!(
        d.writer == DraftWriter::Human,
        edited,
        "the writer is Human exactly after an edit"
    );
    prop_assert!(d.updated_at >= d.created_at);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_operation_sequences_stay_legal(actions in prop::collection::vec(action(), 0..40)) {
        let mut d = new_draft();
        let mut successes = 0;
        let mut edited = false;
        let mut model = SendModel::default();
        for (i, action) in actions.into_iter().enumerate() {
            let at = t0() + TimeDelta::minutes(i as i64 + 1);
            let before = d.clone();
            let expected = expected_next(d.status, &action);
            prop_assert_eq!(d.can_apply(&action), expected.is_some(), "can_apply agrees with the table");
            let valid_text = edit_is_valid(&action);
            let is_edit = matches!(action, DraftAction::Edit { .. });
            match d.apply(action.clone(), "prop", at) {
                Ok(event) => {
                    let next = expected.expect("an operation outside the table succeeded");
                    prop_assert!(valid_text, "an invalid edit was accepted");
                    prop_assert_eq!(d.status, next);
                    prop_assert_eq!(d.version, before.version + 1);
                    prop_assert_eq!(d.updated_at, at);
                    prop_assert_eq!(event.before, Some(before.snapshot()));
                    prop_assert_eq!(event.after, d.snapshot());
                    prop_assert_eq!(&event.action, &action);
                    prop_assert_eq!(event.draft_id, d.id);
                    successes += 1;
                    edited |= is_edit;
                    model.apply(&action);
                }
                Err(e) => {
                    prop_assert_eq!(&d, &before, "a refused operation must leave the draft unchanged");
                    if expected.is_none() {
                        prop_assert_eq!(e.kind(), "conflict", "illegal transitions are conflicts");
                        prop_assert!(before.status.is_terminal() || !before.can_apply(&action));
                    } else {
                        prop_assert!(!valid_text, "a legal, valid operation failed: {}", e);
                        prop_assert_eq!(e.kind(), "invalid_input", "bad text is invalid input");
                    }
                }
            }
            check_invariants(&d, successes, edited)?;
            model.check(&d)?;
        }
    }

    #[test]
    fn terminal_drafts_refuse_everything(actions in prop::collection::vec(action(), 1..20)) {
        let mut d = new_draft();
        d.apply(DraftAction::Reject { reason: "no".into() }, "prop", t0()).unwrap();
        let frozen = d.clone();
        for a in actions {
            let err = d.apply(a, "prop", t0()).unwrap_err();
            prop_assert_eq!(err.kind(), "conflict");
            prop_assert_eq!(&d, &frozen);
        }
    }
}
