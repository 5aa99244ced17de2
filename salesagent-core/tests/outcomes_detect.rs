//! Detectors over the in-memory fakes: what they record, the effects they apply (drafts
//! stopped, addresses suppressed), and idempotency (scanning the same history twice records
//! nothing new).

use chrono::{DateTime, Duration as Td, Utc};
use salesagent_core::model::{
    Attendee, AttendeeResponse, CalendarEvent, CrmId, DealChange, DealClosed, Draft, DraftId,
    DraftStatus, DraftWriter, EmailAddress, EventId, EventStatus, Interval, MailMessage, MessageId,
    OutcomeType, ProviderMessageId, SuppressionReason, Task, TaskStatus, ThreadRef,
};
use salesagent_core::outcomes::{
    OutcomeConfig, Outcomes, StatsQuery, UnsubscribeReceipt, settings_keys,
};
use salesagent_core::ports::{Clock, DynStore};
use salesagent_core::testing::{
    FakeCalendar, FakeCrm, FakeLlm, FakeMailbox, ManualClock, MemoryStore,
};
use std::path::PathBuf;
use std::sync::Arc;

const SENDER: &str = "ann@salesagent.test";

fn addr(s: &str) -> EmailAddress {
    EmailAddress::parse(s).unwrap()
}

struct World {
    clock: ManualClock,
    store: DynStore,
    outcomes: Outcomes,
}

fn world() -> World {
    let clock = ManualClock::default();
    let store: DynStore = Arc::new(MemoryStore::new(clock.shared()));
    let outcomes = Outcomes::new(store.clone(), clock.shared());
    World {
        clock,
        store,
        outcomes,
    }
}

fn draft(
    contact: &str,
    status: DraftStatus,
    message_id: Option<&str>,
    crm: Option<&str>,
    at: DateTime<Utc>,
) -> Draft {
    Draft {
        id: DraftId::new(),
        submission_id: None,
        contact_email: addr(contact),
        contact_name: None,
        contact_crm_id: crm.map(CrmId::new),
        company_name: None,
        sender: addr(SENDER),
        subject: "Quick question about your pipeline".into(),
        body: "Hi, saw your form on our site.".into(),
        status,
        version: 1,
        icp: None,
        priority: 50.0,
        writer: DraftWriter::Human,
        facts_used: Vec::new(),
        voice_similarity: None,
        flags: Vec::new(),
        thread: ThreadRef::default(),
        message_id: message_id.map(|m| MessageId::parse(m).unwrap()),
        provider_message_id: message_id.map(|_| "p-1".to_owned()),
        rule_decision: None,
        send_decision: None,
        status_reason: None,
        created_at: at,
        updated_at: at,
        sent_at: (status == DraftStatus::Sent).then_some(at),
        send_claim: None,
        mailbox_draft_id: None,
        delivery_unconfirmed_since: None,
        drafting: None,
    }
}

async fn insert(store: &DynStore, d: &Draft) -> Draft {
    store
        .insert_draft(d, &d.created_event("test"))
        .await
        .unwrap();
    d.clone()
}

fn fixture_message(name: &str) -> MailMessage {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/outcomes")
        .join(name);
    MailMessage {
        provider_id: ProviderMessageId::new(""),
        thread_id: None,
        message_id: None,
        in_reply_to: None,
        references: Vec::new(),
        from: None,
        to: Vec::new(),
        subject: String::new(),
        date: None,
        body_text: String::new(),
        headers: Vec::new(),
        labels: vec!["INBOX".into()],
        raw: Some(std::fs::read(path).unwrap()),
    }
}

async fn status_of(store: &DynStore, d: &Draft) -> DraftStatus {
    store.get_draft(d.id).await.unwrap().status
}

#[tokio::test]
async fn mailbox_scan_records_applies_effects_and_is_idempotent() {
    let w = world();
    let past = w.clock.now() - Td::days(1);
    let bob_sent = insert(
        &w.store,
        &draft(
            "bob@acme-corp.example",
            DraftStatus::Sent,
            Some("draft-1.fixture@salesagent.test"),
            None,
            past,
        ),
    )
    .await;
    let bob_pending = insert(
        &w.store,
        &draft(
            "bob@acme-corp.example",
            DraftStatus::Pending,
            None,
            None,
            past,
        ),
    )
    .await;
    let bob_approved = insert(
        &w.store,
        &draft(
            "bob@acme-corp.example",
            DraftStatus::Approved,
            None,
            None,
            past,
        ),
    )
    .await;
    insert(
        &w.store,
        &draft(
            "former.employee@contoso.example",
            DraftStatus::Sent,
            Some("draft-5.fixture@salesagent.test"),
            None,
            past,
        ),
    )
    .await;
    let former_pending = insert(
        &w.store,
        &draft(
            "former.employee@contoso.example",
            DraftStatus::Pending,
            None,
            None,
            past,
        ),
    )
    .await;
    insert(
        &w.store,
        &draft(
            "frank@umbrella.example",
            DraftStatus::Sent,
            Some("draft-12.fixture@salesagent.test"),
            None,
            past,
        ),
    )
    .await;
    let frank_pending = insert(
        &w.store,
        &draft(
            "frank@umbrella.example",
            DraftStatus::Pending,
            None,
            None,
            past,
        ),
    )
    .await;
    insert(
        &w.store,
        &draft(
            "slow@initech.example",
            DraftStatus::Sent,
            Some("draft-2.fixture@salesagent.test"),
            None,
            past,
        ),
    )
    .await;
    let slow_pending = insert(
        &w.store,
        &draft(
            "slow@initech.example",
            DraftStatus::Pending,
            None,
            None,
            past,
        ),
    )
    .await;

    let mailbox = FakeMailbox::new().with_clock(w.clock.shared());
    // The first scan starts the cursor at "now".
    let first = w.outcomes.scan_mailbox(&mailbox, None).await.unwrap();
    assert!(first.recorded.is_empty());
    assert!(
        w.store
            .setting(settings_keys::MAILBOX_CURSOR)
            .await
            .unwrap()
            .is_some()
    );

    for name in [
        "ooo_en_exchange.eml",
        "reply_positive_gmail_quoted.eml",
        "dsn_exchange_undeliverable.eml",
        "dsn_postfix_delayed.eml",
        "unsubscribe_reply_en.eml",
        // A hard bounce for an address we never drafted for: suppressed, no outcome.
        "dsn_qmail_failure_notice.eml",
    ] {
        mailbox.deliver(fixture_message(name));
    }
    // Our own sent copy and mail from a stranger are ignored.
    let mut own = fixture_message("reply_positive_gmail_quoted.eml");
    own.labels = vec!["SENT".into()];
    mailbox.deliver(own);
    mailbox.receive(
        &addr("stranger@elsewhere.example"),
        &addr(SENDER),
        "Lunch?",
        "Are you free for lunch?",
        None,
    );

    let report = w.outcomes.scan_mailbox(&mailbox, None).await.unwrap();
    assert_eq!(report.scanned, 8);
    let mut got: Vec<(OutcomeType, String)> = report
        .recorded
        .iter()
        .map(|o| (o.outcome_type, o.contact_email.to_string()))
        .collect();
    got.sort();
    assert_eq!(
        got,
        vec![
            (OutcomeType::EmailReplied, "bob@acme-corp.example".into()),
            (
                OutcomeType::EmailBounced,
                "former.employee@contoso.example".into()
            ),
            (
                OutcomeType::EmailUnsubscribed,
                "frank@umbrella.example".into()
            ),
            (
                OutcomeType::PositiveResponse,
                "bob@acme-corp.example".into()
            ),
        ]
    );
    assert_eq!(report.ignored, 4, "OOO, delay, own copy, stranger");
    for o in &report.recorded {
        assert_eq!(o.sender, Some(addr(SENDER)));
        assert!(o.draft_id.is_some());
        assert_eq!(o.impact, o.outcome_type.default_impact());
        assert!(o.source_event_id.starts_with("mail:"));
    }
    let reply = report
        .recorded
        .iter()
        .find(|o| o.outcome_type == OutcomeType::EmailReplied)
        .unwrap();
    assert_eq!(reply.draft_id, Some(bob_sent.id));

    // Effects: no follow-up after a reply, a bounce or an unsubscribe.
    assert_eq!(report.drafts_stopped, 4);
    for d in [&bob_pending, &bob_approved, &former_pending, &frank_pending] {
        let stored = w.store.get_draft(d.id).await.unwrap();
        assert_eq!(stored.status, DraftStatus::Rejected, "{}", d.contact_email);
        assert!(stored.status_reason.unwrap().starts_with("stopped:"));
        assert_eq!(stored.version, d.version + 1);
    }
    assert_eq!(
        status_of(&w.store, &slow_pending).await,
        DraftStatus::Pending
    );
    let events = w.store.draft_events(bob_pending.id).await.unwrap();
    assert_eq!(events.last().unwrap().action.name(), "stop");
    assert_eq!(events.last().unwrap().actor, "system:outcomes");

    assert_eq!(report.suppressed, 3);
    let gavin = w
        .store
        .suppression(&addr("gavin@hooli.example"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(gavin.reason, SuppressionReason::Bounced);
    assert!(
        w.outcomes
            .for_contact(&addr("gavin@hooli.example"))
            .await
            .unwrap()
            .is_empty()
    );
    let s = w
        .store
        .suppression(&addr("former.employee@contoso.example"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(s.reason, SuppressionReason::Bounced);
    let s = w
        .store
        .suppression(&addr("frank@umbrella.example"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(s.reason, SuppressionReason::Unsubscribed);
    assert!(
        w.store
            .suppression(&addr("slow@initech.example"))
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        w.store
            .suppression(&addr("bob@acme-corp.example"))
            .await
            .unwrap()
            .is_none()
    );

    // Idempotency: again from the saved cursor, then the same history from the start.
    let total = w.outcomes.recent(0).await.unwrap().len();
    let again = w.outcomes.scan_mailbox(&mailbox, None).await.unwrap();
    assert!(again.recorded.is_empty());
    w.store
        .put_setting(settings_keys::MAILBOX_CURSOR, "0")
        .await
        .unwrap();
    let replay = w.outcomes.scan_mailbox(&mailbox, None).await.unwrap();
    assert_eq!(replay.scanned, 8);
    assert!(replay.recorded.is_empty(), "{:?}", replay.recorded);
    assert_eq!(replay.drafts_stopped, 0);
    assert_eq!(replay.suppressed, 0);
    assert_eq!(w.outcomes.recent(0).await.unwrap().len(), total);

    // Reply rate: human replies / delivered sends, bounces excluded. Sent drafts count as sends
    // even before anything records `email_sent` for them.
    let before = w.outcomes.stats(&StatsQuery::default()).await.unwrap();
    assert_eq!(before.overall.sent, 4);
    assert_eq!(before.overall.delivered, 3);
    assert!((before.overall.reply_rate - 1.0 / 3.0).abs() < 1e-9);
    for d in w
        .store
        .list_drafts(&salesagent_core::ports::DraftFilter {
            status: Some(DraftStatus::Sent),
            ..Default::default()
        })
        .await
        .unwrap()
    {
        w.outcomes.record_sent(&d).await.unwrap();
    }
    let stats = w.outcomes.stats(&StatsQuery::default()).await.unwrap();
    assert_eq!(stats.overall.sent, 4);
    assert_eq!(stats.overall.bounced, 1);
    assert_eq!(stats.overall.delivered, 3);
    assert_eq!(stats.overall.human_replies, 1);
    assert!((stats.overall.reply_rate - 1.0 / 3.0).abs() < 1e-9);
    assert_eq!(stats.by_type[&OutcomeType::EmailSent], 4);
    let per = &stats.per_sender[SENDER];
    assert_eq!(per.sent, 4);
    let expected_net: i64 = w
        .outcomes
        .recent(0)
        .await
        .unwrap()
        .iter()
        .map(|o| i64::from(o.impact))
        .sum();
    assert_eq!(stats.overall.net_impact, expected_net);
    // A period that starts after everything happened is empty.
    let empty = w
        .outcomes
        .stats(&StatsQuery {
            since: Some(w.clock.now() + Td::days(1)),
            ..StatsQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(empty.overall.total, 0);
    assert_eq!(empty.overall.reply_rate, 0.0);
}

#[tokio::test]
async fn reply_tone_comes_from_the_llm_with_a_fallback() {
    let w = world();
    let past = w.clock.now() - Td::days(1);
    let d = insert(
        &w.store,
        &draft(
            "carl@initech.example",
            DraftStatus::Sent,
            Some("carl-1@salesagent.test"),
            None,
            past,
        ),
    )
    .await;
    let mailbox = FakeMailbox::new().with_clock(w.clock.shared());
    w.outcomes.scan_mailbox(&mailbox, None).await.unwrap();
    let llm = FakeLlm::new();
    llm.push_answer(r#"{"sentiment":"negative","reason":"declines politely"}"#);
    // Neutral wording: only the model can tell.
    mailbox.receive(
        &addr("carl@initech.example"),
        &addr(SENDER),
        "Re: Quick question",
        "Thanks. We will revisit this next year.",
        d.message_id.as_ref(),
    );
    let report = w.outcomes.scan_mailbox(&mailbox, Some(&llm)).await.unwrap();
    let types: Vec<_> = report.recorded.iter().map(|o| o.outcome_type).collect();
    assert_eq!(
        types,
        vec![OutcomeType::NegativeResponse, OutcomeType::EmailReplied]
    );
    let req = llm.last_request().unwrap();
    assert_eq!(req.purpose, "reply_sentiment");
    assert!(req.schema.is_some());
    assert!(req.messages[1].content.contains("revisit this next year"));
    assert!(
        report.recorded[0]
            .details
            .as_deref()
            .unwrap()
            .contains("Llm")
    );
    // Scanning the same reply again asks the model nothing.
    w.store
        .put_setting(settings_keys::MAILBOX_CURSOR, "0")
        .await
        .unwrap();
    let calls = llm.request_count();
    let replay = w.outcomes.scan_mailbox(&mailbox, Some(&llm)).await.unwrap();
    assert!(replay.recorded.is_empty());
    assert_eq!(llm.request_count(), calls);

    // The model fails: the phrase lists decide.
    llm.push_error(salesagent_core::Error::unavailable("down"));
    mailbox.receive(
        &addr("carl@initech.example"),
        &addr(SENDER),
        "Re: Quick question",
        "Actually, sounds good, let's talk.",
        d.message_id.as_ref(),
    );
    let report = w.outcomes.scan_mailbox(&mailbox, Some(&llm)).await.unwrap();
    let types: Vec<_> = report.recorded.iter().map(|o| o.outcome_type).collect();
    assert_eq!(
        types,
        vec![OutcomeType::PositiveResponse, OutcomeType::EmailReplied]
    );
    assert!(
        report.recorded[0]
            .details
            .as_deref()
            .unwrap()
            .contains("Fallback")
    );
}

fn deal(
    id: &str,
    stage: &str,
    order: u32,
    closed: Option<DealClosed>,
    at: DateTime<Utc>,
) -> DealChange {
    DealChange {
        deal_id: CrmId::new(id),
        name: format!("Deal {id}"),
        pipeline: "default".into(),
        stage: stage.into(),
        stage_order: Some(order),
        closed,
        contact_ids: vec![CrmId::new("c-bob")],
        created_at: at,
        updated_at: at,
    }
}

#[tokio::test]
async fn deal_changes_follow_stage_order_and_are_idempotent() {
    let w = world();
    let t0 = w.clock.now() - Td::days(10);
    insert(
        &w.store,
        &draft(
            "bob@acme-corp.example",
            DraftStatus::Sent,
            Some("b1@salesagent.test"),
            Some("c-bob"),
            t0,
        ),
    )
    .await;
    let crm = FakeCrm::new();
    crm.add_deal_change(deal("d1", "appointment", 1, None, t0));
    crm.add_deal_change(deal("d1", "contract", 3, None, t0 + Td::days(1)));
    crm.add_deal_change(deal("d1", "qualified", 2, None, t0 + Td::days(2)));
    crm.add_deal_change(deal("d1", "qualified", 2, None, t0 + Td::days(3))); // no stage change
    crm.add_deal_change(deal(
        "d1",
        "closedwon",
        5,
        Some(DealClosed::Won),
        t0 + Td::days(4),
    ));
    let mut other = deal("d2", "appointment", 1, None, t0);
    other.contact_ids = vec![CrmId::new("c-unknown")];
    crm.add_deal_change(other);
    crm.add_deal_change(deal("d3", "closedlost", 6, Some(DealClosed::Lost), t0));

    let report = w.outcomes.scan_deals(&crm).await.unwrap();
    let types: Vec<_> = report.recorded.iter().map(|o| o.outcome_type).collect();
    assert_eq!(
        types,
        vec![
            OutcomeType::DealCreated,
            OutcomeType::DealStageAdvanced,
            OutcomeType::DealStageRegressed,
            OutcomeType::DealWon,
            OutcomeType::DealCreated,
            OutcomeType::DealLost,
        ]
    );
    assert!(
        report
            .recorded
            .iter()
            .all(|o| o.contact_email == addr("bob@acme-corp.example"))
    );
    assert_eq!(report.recorded[3].occurred_at, t0 + Td::days(4));

    let again = w.outcomes.scan_deals(&crm).await.unwrap();
    assert!(again.recorded.is_empty());
    // Replaying the whole history from the start records nothing either.
    w.store
        .put_setting(settings_keys::DEAL_CURSOR, "0")
        .await
        .unwrap();
    let replay = w.outcomes.scan_deals(&crm).await.unwrap();
    assert_eq!(replay.scanned, 7);
    assert!(replay.recorded.is_empty(), "{:?}", replay.recorded);
}

fn event(id: &str, start: DateTime<Utc>, who: &str, response: AttendeeResponse) -> CalendarEvent {
    CalendarEvent {
        id: EventId::new(id),
        summary: "Intro call".into(),
        interval: Interval {
            start,
            end: start + Td::minutes(30),
        },
        status: EventStatus::Confirmed,
        attendees: vec![
            Attendee {
                email: addr(SENDER),
                response: AttendeeResponse::Accepted,
            },
            Attendee {
                email: addr(who),
                response,
            },
        ],
        created_at: None,
        updated_at: None,
    }
}

#[tokio::test]
async fn calendar_booked_rescheduled_held_and_no_show() {
    let w = world();
    let now = w.clock.now();
    insert(
        &w.store,
        &draft(
            "bob@acme-corp.example",
            DraftStatus::Sent,
            Some("b1@salesagent.test"),
            None,
            now - Td::days(2),
        ),
    )
    .await;
    let follow_up = insert(
        &w.store,
        &draft(
            "bob@acme-corp.example",
            DraftStatus::Pending,
            None,
            None,
            now - Td::days(1),
        ),
    )
    .await;
    insert(
        &w.store,
        &draft(
            "dora@explorer.example",
            DraftStatus::Sent,
            Some("d1@salesagent.test"),
            None,
            now - Td::days(2),
        ),
    )
    .await;
    let calendar = FakeCalendar::new().with_clock(w.clock.shared());
    let start = now + Td::days(2);
    calendar.add_event(event(
        "e1",
        start,
        "bob@acme-corp.example",
        AttendeeResponse::NeedsAction,
    ));
    calendar.add_event(event(
        "e2",
        now + Td::days(1),
        "dora@explorer.example",
        AttendeeResponse::Declined,
    ));
    let mut cancelled = event(
        "e3",
        start,
        "dora@explorer.example",
        AttendeeResponse::Accepted,
    );
    cancelled.status = EventStatus::Cancelled;
    calendar.add_event(cancelled);
    // Our own tentative hold is not a booking.
    let mut hold = event(
        "e5",
        start + Td::days(3),
        "dora@explorer.example",
        AttendeeResponse::NeedsAction,
    );
    hold.status = EventStatus::Tentative;
    calendar.add_event(hold);
    // Someone we never wrote to.
    calendar.add_event(event(
        "e4",
        start,
        "nobody@else.example",
        AttendeeResponse::Accepted,
    ));

    let r = w.outcomes.scan_calendar(&calendar).await.unwrap();
    let mut got: Vec<_> = r
        .recorded
        .iter()
        .map(|o| (o.outcome_type, o.contact_email.to_string()))
        .collect();
    got.sort();
    assert_eq!(
        got,
        vec![
            (OutcomeType::MeetingBooked, "bob@acme-corp.example".into()),
            (OutcomeType::MeetingBooked, "dora@explorer.example".into()),
        ]
    );
    // A booked meeting stops the pending follow-up.
    assert_eq!(status_of(&w.store, &follow_up).await, DraftStatus::Rejected);
    assert!(
        w.outcomes
            .scan_calendar(&calendar)
            .await
            .unwrap()
            .recorded
            .is_empty()
    );

    // Moved by a day.
    calendar.add_event(event(
        "e1",
        start + Td::days(1),
        "bob@acme-corp.example",
        AttendeeResponse::Accepted,
    ));
    let r = w.outcomes.scan_calendar(&calendar).await.unwrap();
    let types: Vec<_> = r.recorded.iter().map(|o| o.outcome_type).collect();
    assert_eq!(types, vec![OutcomeType::MeetingRescheduled]);

    // After both meetings: bob accepted (held), dora declined and never rescheduled (no-show).
    w.clock
        .advance(std::time::Duration::from_secs(5 * 24 * 3600));
    let r = w.outcomes.scan_calendar(&calendar).await.unwrap();
    let mut got: Vec<_> = r
        .recorded
        .iter()
        .map(|o| (o.outcome_type, o.contact_email.to_string()))
        .collect();
    got.sort();
    assert_eq!(
        got,
        vec![
            (OutcomeType::MeetingHeld, "bob@acme-corp.example".into()),
            (OutcomeType::MeetingNoShow, "dora@explorer.example".into()),
        ]
    );
    let held = r
        .recorded
        .iter()
        .find(|o| o.outcome_type == OutcomeType::MeetingHeld)
        .unwrap();
    assert_eq!(held.occurred_at, start + Td::days(1) + Td::minutes(30));
    assert!(
        w.outcomes
            .scan_calendar(&calendar)
            .await
            .unwrap()
            .recorded
            .is_empty()
    );
}

#[tokio::test]
async fn tasks_completed_and_overdue() {
    let w = world();
    let now = w.clock.now();
    insert(
        &w.store,
        &draft(
            "bob@acme-corp.example",
            DraftStatus::Sent,
            Some("b1@salesagent.test"),
            Some("c-bob"),
            now - Td::days(5),
        ),
    )
    .await;
    let crm = FakeCrm::new();
    let task = |id: &str, status, due: Option<DateTime<Utc>>, done: Option<DateTime<Utc>>| Task {
        crm_id: CrmId::new(id),
        subject: format!("Task {id}"),
        body: String::new(),
        status,
        due_at: due,
        completed_at: done,
        contact_id: Some(CrmId::new("c-bob")),
    };
    crm.add_task(task(
        "t1",
        TaskStatus::Completed,
        Some(now - Td::days(1)),
        Some(now - Td::hours(30)),
    ));
    crm.add_task(task(
        "t2",
        TaskStatus::NotStarted,
        Some(now - Td::days(1)),
        None,
    ));
    crm.add_task(task(
        "t3",
        TaskStatus::InProgress,
        Some(now + Td::days(1)),
        None,
    ));
    crm.add_task(task(
        "t4",
        TaskStatus::Deferred,
        Some(now - Td::days(3)),
        None,
    ));
    let r = w.outcomes.scan_tasks(&crm).await.unwrap();
    assert_eq!(r.scanned, 4);
    let mut types: Vec<_> = r.recorded.iter().map(|o| o.outcome_type).collect();
    types.sort();
    assert_eq!(
        types,
        vec![OutcomeType::TaskCompleted, OutcomeType::TaskOverdue]
    );
    assert!(
        w.outcomes
            .scan_tasks(&crm)
            .await
            .unwrap()
            .recorded
            .is_empty()
    );
    // t3 becomes overdue once its due time passes.
    w.clock
        .advance(std::time::Duration::from_secs(2 * 24 * 3600));
    let r = w.outcomes.scan_tasks(&crm).await.unwrap();
    assert_eq!(r.recorded.len(), 1);
    assert_eq!(r.recorded[0].source_event_id, "crm-task:t3:overdue");
}

#[tokio::test]
async fn silence_after_a_send_is_no_response() {
    let clock = ManualClock::default();
    let store: DynStore = Arc::new(MemoryStore::new(clock.shared()));
    let cfg = OutcomeConfig {
        no_response_after: std::time::Duration::from_secs(5 * 24 * 3600),
        ..OutcomeConfig::default()
    };
    let outcomes = Outcomes::with_config(store.clone(), clock.shared(), cfg);
    let now = clock.now();
    let quiet = insert(
        &store,
        &draft(
            "quiet@stark.example",
            DraftStatus::Sent,
            Some("q1@salesagent.test"),
            None,
            now - Td::days(6),
        ),
    )
    .await;
    let replied = insert(
        &store,
        &draft(
            "bob@acme-corp.example",
            DraftStatus::Sent,
            Some("b1@salesagent.test"),
            None,
            now - Td::days(6),
        ),
    )
    .await;
    insert(
        &store,
        &draft(
            "fresh@stark.example",
            DraftStatus::Sent,
            Some("f1@salesagent.test"),
            None,
            now - Td::days(1),
        ),
    )
    .await;
    outcomes
        .record(salesagent_core::outcomes::NewOutcome {
            outcome_type: OutcomeType::EmailReplied,
            contact_email: replied.contact_email.clone(),
            sender: None,
            draft_id: Some(replied.id),
            source_event_id: "mail:test-reply".into(),
            occurred_at: now - Td::days(5),
            details: None,
        })
        .await
        .unwrap();
    let r = outcomes.scan_silence().await.unwrap();
    assert_eq!(r.scanned, 3);
    assert_eq!(r.recorded.len(), 1);
    assert_eq!(r.recorded[0].outcome_type, OutcomeType::NoResponse);
    assert_eq!(r.recorded[0].draft_id, Some(quiet.id));
    assert_eq!(r.recorded[0].occurred_at, now - Td::days(1));
    assert!(outcomes.scan_silence().await.unwrap().recorded.is_empty());
    // The combined scan runs the silence check too, and finds nothing new either.
    let mailbox = FakeMailbox::new().with_clock(clock.shared());
    let crm = FakeCrm::new();
    let calendar = FakeCalendar::new().with_clock(clock.shared());
    let all = outcomes
        .scan_all(Some(&mailbox), Some(&crm), Some(&calendar), None)
        .await
        .unwrap();
    assert!(all.recorded.is_empty());
    assert_eq!(all.scanned, 3, "the three sent drafts");
    // No follow-up is stopped by silence: it is what a follow-up is for.
    assert_eq!(r.drafts_stopped, 0);
}

#[tokio::test]
async fn one_click_unsubscribe_receipt_is_recorded_once() {
    let w = world();
    let now = w.clock.now();
    let sent = insert(
        &w.store,
        &draft(
            "grace@wayne.example",
            DraftStatus::Sent,
            Some("g1@salesagent.test"),
            None,
            now,
        ),
    )
    .await;
    let pending = insert(
        &w.store,
        &draft(
            "grace@wayne.example",
            DraftStatus::Approved,
            None,
            None,
            now,
        ),
    )
    .await;
    let receipt = UnsubscribeReceipt {
        email: addr("grace@wayne.example"),
        receipt_id: "tok-123".into(),
        draft_id: Some(sent.id),
        received_at: now,
    };
    let first = w
        .outcomes
        .record_unsubscribe_receipt(&receipt)
        .await
        .unwrap();
    assert!(first.new);
    assert!(first.suppressed);
    assert_eq!(first.drafts_stopped, 1);
    assert_eq!(first.outcome.sender, Some(addr(SENDER)));
    assert_eq!(status_of(&w.store, &pending).await, DraftStatus::Rejected);
    let second = w
        .outcomes
        .record_unsubscribe_receipt(&receipt)
        .await
        .unwrap();
    assert!(!second.new);
    assert_eq!(second.outcome.id, first.outcome.id);
    assert_eq!(
        w.store
            .list_outcomes(&Default::default())
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        w.store
            .suppression(&addr("grace@wayne.example"))
            .await
            .unwrap()
            .unwrap()
            .reason,
        SuppressionReason::Unsubscribed
    );
}

#[tokio::test]
async fn bad_source_ids_are_rejected_and_priority_follows_history() {
    let w = world();
    let now = w.clock.now();
    let bad = w
        .outcomes
        .record(salesagent_core::outcomes::NewOutcome {
            outcome_type: OutcomeType::EmailReplied,
            contact_email: addr("bob@acme-corp.example"),
            sender: None,
            draft_id: None,
            source_event_id: "bad\r\nid".into(),
            occurred_at: now,
            details: None,
        })
        .await;
    assert!(matches!(
        bad,
        Err(salesagent_core::Error::InvalidInput { .. })
    ));
    let bob = addr("bob@acme-corp.example");
    assert_eq!(w.outcomes.priority_adjustment_for(&bob).await.unwrap(), 0.0);
    for t in [
        OutcomeType::MeetingHeld,
        OutcomeType::DealWon,
        OutcomeType::DealCreated,
    ] {
        w.outcomes
            .record_manual(bob.clone(), t, "operator:alice")
            .await
            .unwrap();
    }
    assert_eq!(
        w.outcomes.priority_adjustment_for(&bob).await.unwrap(),
        20.0
    );
    // Half-life 30 days: 28 points become 14 after a month.
    w.clock
        .advance(std::time::Duration::from_secs(30 * 24 * 3600));
    let adj = w.outcomes.priority_adjustment_for(&bob).await.unwrap();
    assert!((adj - 14.0).abs() < 1e-6, "{adj}");
    assert_eq!(w.outcomes.for_contact(&bob).await.unwrap().len(), 3);
}

#[tokio::test]
async fn outcome_history_orders_the_operator_queue() {
    use salesagent_core::outcomes::{ApsConfig, queue_adjustment};
    use salesagent_core::sending::OperatorQueue;
    let w = world();
    let at = w.clock.now() - Td::hours(1);
    let warm = insert(
        &w.store,
        &draft("warm@lead.example", DraftStatus::Pending, None, None, at),
    )
    .await;
    let cold = insert(
        &w.store,
        &draft("cold@lead.example", DraftStatus::Pending, None, None, at),
    )
    .await;
    for t in [OutcomeType::DealCreated, OutcomeType::TaskCompleted] {
        w.outcomes
            .record_manual(warm.contact_email.clone(), t, "operator:alice")
            .await
            .unwrap();
    }
    for t in [OutcomeType::DealLost, OutcomeType::TaskOverdue] {
        w.outcomes
            .record_manual(cold.contact_email.clone(), t, "operator:alice")
            .await
            .unwrap();
    }
    let queue = OperatorQueue::new(w.store.clone(), w.clock.shared())
        .with_adjustment(queue_adjustment(w.clock.shared(), ApsConfig::default()));
    let items = queue.pending().await.unwrap();
    let order: Vec<_> = items.iter().map(|i| i.draft.id).collect();
    assert_eq!(order, vec![warm.id, cold.id]);
    let history = |i: usize| {
        items[i]
            .factors
            .iter()
            .find(|f| f.name == "outcome_history")
            .unwrap()
            .clone()
    };
    assert!((history(0).points - 10.0).abs() < 1e-6, "{:?}", history(0));
    assert!((history(1).points + 6.0).abs() < 1e-6, "{:?}", history(1));
    assert!(
        history(0).reason.contains("deal_created"),
        "{}",
        history(0).reason
    );
    assert!(
        history(1).reason.contains("deal_lost"),
        "{}",
        history(1).reason
    );
}
