//! Follow-up sequences, one rule at a time over the in-memory store and the shipped worker:
//! who is enrolled, the follow-up the model writes (with the thread as context) or the template
//! when its answer is unusable, and the stops that no mail scan makes: a deal, a manual stop, a
//! rejected follow-up.

use chrono::{DateTime, Duration as Td, TimeZone, Utc};
use salesagent_core::model::{
    Draft, DraftStatus, DraftWriter, EmailAddress, MessageId, OutcomeType, ThreadRef,
};
use salesagent_core::outcomes::{NewOutcome, Outcomes};
use salesagent_core::ports::DynStore;
use salesagent_core::sending::OperatorQueue;
use salesagent_core::sequences::{
    self, SequenceConfig, SequenceStatus, Sequences, StopReason, follow_up::PURPOSE_FOLLOW_UP,
};
use salesagent_core::testing::{FakeLlm, ManualClock, MemoryStore};
use salesagent_core::worker::{Worker, WorkerConfig};
use std::sync::Arc;

fn addr(s: &str) -> EmailAddress {
    EmailAddress::parse(s).unwrap()
}

/// Monday 2026-11-02 09:00 UTC.
fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 2, 9, 0, 0).unwrap()
}

struct World {
    clock: ManualClock,
    store: DynStore,
    llm: Arc<FakeLlm>,
    seq: Sequences,
    worker: Worker,
}

async fn world(activate: bool) -> World {
    let clock = ManualClock::new(t0());
    let store: DynStore = Arc::new(MemoryStore::new(clock.shared()));
    if activate {
        sequences::activate(&*store, &SequenceConfig::default())
            .await
            .unwrap();
    }
    let llm = Arc::new(FakeLlm::new());
    let seq = Sequences::new(store.clone(), clock.shared(), SequenceConfig::default())
        .with_llm(llm.clone());
    let worker =
        Worker::empty(store.clone(), clock.shared(), WorkerConfig::default()).register(seq.clone());
    World {
        clock,
        store,
        llm,
        seq,
        worker,
    }
}

/// A first e-mail to `to`, stored as sent, and the hook the sender's `email_sent` runs.
async fn sent_first(w: &World, to: &str, thread: ThreadRef) -> Draft {
    let mut d = Draft {
        contact_name: Some("Ann Example".into()),
        thread,
        ..Draft::new(
            addr(to),
            addr("sam@seller.dev"),
            "Hello",
            "Hi Ann,\n\nwould a short demo help?\n\nCheers,\nSam",
            DraftWriter::Human,
            t0(),
        )
    };
    d.status = DraftStatus::Sent;
    d.message_id = Some(MessageId::parse(&format!("first.{to}")).unwrap());
    d.sent_at = Some(t0());
    w.store
        .insert_draft(&d, &d.created_event("test"))
        .await
        .unwrap();
    sequences::on_sent(&*w.store, d.id, t0()).await.unwrap();
    d
}

/// Moves to the first step's due time (Thursday 09:00) and runs the step job.
async fn first_follow_up(w: &World, to: &str) -> Draft {
    w.clock.set(t0() + Td::days(3));
    w.worker.run_until_idle(1).await.unwrap();
    let s = w.seq.get(&addr(to)).await.unwrap().unwrap();
    let id = s.pending_draft.expect("a follow-up is drafted");
    w.store.get_draft(id).await.unwrap()
}

#[tokio::test]
async fn only_sent_first_emails_enrol_and_only_when_sequences_are_active() {
    let off = world(false).await;
    sent_first(&off, "ann@acme.test", ThreadRef::default()).await;
    assert!(off.seq.get(&addr("ann@acme.test")).await.unwrap().is_none());

    let on = world(true).await;
    let reply = ThreadRef {
        in_reply_to: Some(MessageId::parse("theirs@acme.test").unwrap()),
        ..ThreadRef::default()
    };
    sent_first(&on, "bo@acme.test", reply).await;
    assert!(on.seq.get(&addr("bo@acme.test")).await.unwrap().is_none());
    let first = sent_first(&on, "ann@acme.test", ThreadRef::default()).await;
    let s = on.seq.get(&addr("ann@acme.test")).await.unwrap().unwrap();
    assert_eq!(s.status, SequenceStatus::Active);
    assert_eq!(s.next_due, Some(t0() + Td::days(3)));
    // The same send reported twice enrols once.
    sequences::on_sent(&*on.store, first.id, t0())
        .await
        .unwrap();
    let again = on.seq.get(&addr("ann@acme.test")).await.unwrap().unwrap();
    assert_eq!(again.version, s.version);
}

#[tokio::test]
async fn the_model_writes_a_threaded_follow_up_and_a_manual_stop_discards_it() {
    let w = world(true).await;
    w.llm
        .push_answer(r#"{"body": "Hi Ann,\n\njust checking my note reached you.\n\nSam"}"#);
    let first = sent_first(&w, "ann@acme.test", ThreadRef::default()).await;
    // Not due before Thursday.
    w.clock.set(t0() + Td::days(2));
    w.worker.run_until_idle(1).await.unwrap();
    assert!(
        w.seq
            .get(&addr("ann@acme.test"))
            .await
            .unwrap()
            .unwrap()
            .pending_draft
            .is_none()
    );

    let d = first_follow_up(&w, "ann@acme.test").await;
    assert_eq!(d.status, DraftStatus::Pending);
    assert_eq!(d.subject, "Re: Hello");
    assert_eq!(d.thread.in_reply_to, first.message_id);
    assert_eq!(d.thread.references, vec![first.message_id.clone().unwrap()]);
    assert!(d.body.contains("checking my note"), "{}", d.body);
    assert!(matches!(d.writer, DraftWriter::Llm { .. }));
    let req = w.llm.last_request().unwrap();
    assert_eq!(req.purpose, PURPOSE_FOLLOW_UP);
    let data = &req.messages.last().unwrap().content;
    assert!(
        data.contains("would a short demo help?") && data.contains("bump"),
        "{data}"
    );

    let s = w
        .seq
        .stop(&addr("ann@acme.test"), "operator:ann")
        .await
        .unwrap();
    assert_eq!(s.status, SequenceStatus::Stopped);
    assert_eq!(
        s.stop_reason,
        Some(StopReason::Manual {
            actor: "operator:ann".into()
        })
    );
    assert_eq!(
        w.store.get_draft(d.id).await.unwrap().status,
        DraftStatus::Rejected
    );
    // Nothing more is drafted.
    w.clock.set(t0() + Td::days(30));
    w.worker.run_until_idle(1).await.unwrap();
    let drafts = w
        .store
        .list_drafts(&salesagent_core::ports::DraftFilter::default())
        .await
        .unwrap();
    assert_eq!(drafts.len(), 2);
}

#[tokio::test]
async fn a_new_deal_stops_the_sequence_and_an_unusable_answer_falls_back_to_the_template() {
    let w = world(true).await;
    w.llm.push_answer("Sure! Here is a follow-up: ...");
    sent_first(&w, "ann@acme.test", ThreadRef::default()).await;
    let d = first_follow_up(&w, "ann@acme.test").await;
    assert!(matches!(d.writer, DraftWriter::Template { .. }));
    assert!(d.body.starts_with("Hi Ann,"), "{}", d.body);
    assert!(d.body.ends_with("Cheers,\nSam"), "{}", d.body);

    let outcomes = Outcomes::new(w.store.clone(), w.clock.shared());
    outcomes
        .record(NewOutcome {
            outcome_type: OutcomeType::DealCreated,
            contact_email: addr("ann@acme.test"),
            sender: None,
            draft_id: None,
            source_event_id: "crm-deal:1:created".into(),
            occurred_at: salesagent_core::ports::Clock::now(&w.clock),
            details: None,
        })
        .await
        .unwrap();
    let s = w.seq.get(&addr("ann@acme.test")).await.unwrap().unwrap();
    assert_eq!(s.stop_reason, Some(StopReason::DealCreated));
    assert_eq!(s.stopped_after_step, Some(0));
    assert_eq!(
        w.store.get_draft(d.id).await.unwrap().status,
        DraftStatus::Rejected
    );
}

#[tokio::test]
async fn a_rejected_follow_up_ends_the_sequence() {
    let w = world(true).await;
    sent_first(&w, "ann@acme.test", ThreadRef::default()).await;
    let d = first_follow_up(&w, "ann@acme.test").await;
    OperatorQueue::new(w.store.clone(), w.clock.shared())
        .reject(d.id, d.version, "operator:ann", "not this one")
        .await
        .unwrap();
    w.clock.set(t0() + Td::days(4));
    w.worker.run_until_idle(1).await.unwrap();
    let s = w.seq.get(&addr("ann@acme.test")).await.unwrap().unwrap();
    assert_eq!(s.status, SequenceStatus::Stopped);
    assert_eq!(s.stop_reason, Some(StopReason::FollowUpRejected));
}
