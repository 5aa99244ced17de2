//! The generic port wrappers (`salesagent_core::layers`): each one around every kind of port,
//! stacked, and through the conformance suites (a wrapped port must behave like the port).
#![cfg(feature = "testing")]

use salesagent_core::Error;
use salesagent_core::layers::{FaultInjecting, Recorder, Recording, WithTimeout, bounded};
use salesagent_core::model::{CrmId, DriveQuery, EmailAddress, Interval, MailQuery, RetryPolicy};
use salesagent_core::ports::{
    Audio, AudioFormat, Calendar, ChatMessage, Crm, Drive, DynCrm, DynStore, Llm, LlmRequest,
    Mailbox, SpeechToText, SystemClock, TextToSpeech,
};
use salesagent_core::testing::conformance::{calendar, crm, drive, mailbox, store};
use salesagent_core::testing::{
    FakeCalendar, FakeCrm, FakeDrive, FakeLlm, FakeMailbox, FakeSpeechToText, FakeTextToSpeech,
    FaultKind, Faults, ManualClock, MemoryStore,
};
use std::sync::Arc;
use std::time::Duration;

fn request() -> LlmRequest {
    LlmRequest {
        purpose: "draft".into(),
        messages: vec![ChatMessage::user("hi")],
        schema: None,
        max_tokens: None,
        temperature: None,
    }
}

#[tokio::test]
async fn fault_injecting_fails_before_the_port_is_reached() {
    let faults = Faults::none();
    let fake = Arc::new(FakeCrm::new());
    let crm = FaultInjecting::new(fake.clone(), faults.clone());
    faults.fail_next_for("crm.create_task", 1, &FaultKind::Unavailable);
    let task = salesagent_core::model::NewTask {
        subject: "call".into(),
        body: String::new(),
        due_at: None,
        contact_id: None,
        company_id: None,
        owner_id: None,
    };
    let err = crm.create_task(&task).await.unwrap_err();
    assert!(matches!(err, Error::Unavailable { .. }), "{err}");
    assert!(err.to_string().contains("crm.create_task"), "{err}");
    assert!(fake.created_tasks().is_empty(), "the fake never saw it");
    crm.create_task(&task).await.unwrap();
    assert_eq!(fake.created_tasks().len(), 1);
    assert_eq!((faults.calls(), faults.injected()), (2, 1));
    assert_eq!(
        crm.faults().calls(),
        2,
        "the wrapper hands out the same knob"
    );
}

#[tokio::test]
async fn every_kind_of_port_takes_the_same_wrapper() {
    let faults = Faults::none();
    let mb = FaultInjecting::new(FakeMailbox::new(), faults.clone());
    let drive = FaultInjecting::new(FakeDrive::new(), faults.clone());
    let cal = FaultInjecting::new(FakeCalendar::new(), faults.clone());
    let llm = FaultInjecting::new(FakeLlm::new(), faults.clone());
    let stt = FaultInjecting::new(FakeSpeechToText::new(), faults.clone());
    let tts = FaultInjecting::new(FakeTextToSpeech::new(), faults.clone());
    let store: DynStore = Arc::new(FaultInjecting::new(
        MemoryStore::new(ManualClock::default().shared()),
        faults.clone(),
    ));
    faults.set_failure_rate(FaultKind::Backend, 1.0);
    let range = Interval {
        start: ManualClock::default_start(),
        end: ManualClock::default_start() + chrono::TimeDelta::hours(1),
    };
    let audio = Audio {
        format: AudioFormat::Wav,
        bytes: b"hello".to_vec(),
    };
    let errors = [
        mb.search(&MailQuery::default()).await.unwrap_err(),
        drive.search(&DriveQuery::default()).await.unwrap_err(),
        cal.free_busy(range).await.unwrap_err(),
        llm.complete(&request()).await.unwrap_err(),
        stt.transcribe(&audio).await.unwrap_err(),
        tts.synthesize("hi", AudioFormat::Wav).await.unwrap_err(),
        store.health().await.unwrap_err(),
    ];
    let names = [
        "mailbox.search",
        "drive.search",
        "calendar.free_busy",
        "llm.complete",
        "speech.transcribe",
        "speech.synthesize",
        "store.health",
    ];
    for (err, name) in errors.iter().zip(names) {
        assert_eq!(err.kind(), "backend");
        assert!(err.to_string().contains(name), "{err} should name {name}");
    }
    assert_eq!(llm.inner().request_count(), 0);
    faults.clear();
    assert!(store.health().await.is_ok());
}

#[tokio::test(start_paused = true)]
async fn with_timeout_bounds_each_call_and_names_the_operation() {
    let slow = Faults::none().with_latency(Duration::from_secs(30), Duration::ZERO);
    let fake = Arc::new(FakeCrm::new());
    let crm: DynCrm = Arc::new(WithTimeout::new(
        FaultInjecting::new(fake.clone(), slow.clone()),
        Duration::from_secs(10),
    ));
    let email = EmailAddress::parse("ann@acme.example").unwrap();
    let err = crm.find_contact_by_email(&email).await.unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("crm.find_contact_by_email after 10000 ms"),
        "{err}"
    );
    slow.clear();
    assert_eq!(crm.find_contact_by_email(&email).await.unwrap(), None);
    let err = crm.get_contact(&CrmId::new("nobody")).await.unwrap_err();
    assert_eq!(
        err.kind(),
        "not_found",
        "the port's own errors pass through"
    );
}

#[tokio::test(start_paused = true)]
async fn bounded_answers_or_times_out() {
    let ok = bounded(Duration::from_secs(1), "quick", async { Ok(7) }).await;
    assert_eq!(ok.unwrap(), 7);
    let late = bounded(Duration::from_secs(1), "resolve_contact", async {
        tokio::time::sleep(Duration::from_secs(5)).await;
        Ok(())
    })
    .await
    .unwrap_err();
    assert!(matches!(late, Error::Timeout { .. }));
    assert!(late.to_string().contains("resolve_contact after 1000 ms"));
}

#[tokio::test]
async fn recording_keeps_operations_and_key_arguments_in_order_across_ports() {
    let recorder = Recorder::new();
    let crm = Recording::with_recorder(FakeCrm::new(), recorder.clone());
    let mb = Recording::with_recorder(FakeMailbox::new(), recorder.clone());
    let email = EmailAddress::parse("ann@acme.example").unwrap();
    crm.find_contact_by_email(&email).await.unwrap();
    mb.history(None).await.unwrap();
    let _ = crm.get_company(&CrmId::new("co-9")).await;
    assert_eq!(
        recorder.ops(),
        [
            "crm.find_contact_by_email",
            "mailbox.history",
            "crm.get_company"
        ]
    );
    let calls = recorder.calls();
    assert!(
        calls[0].args.contains("ann") && calls[0].args.contains("acme.example"),
        "{calls:?}"
    );
    assert!(calls[2].args.contains("co-9"), "{calls:?}");
    assert_eq!(recorder.count("crm."), 2);
    assert_eq!(crm.recorder().count(""), 3, "one shared list");
    recorder.clear();
    assert!(recorder.calls().is_empty());
}

#[tokio::test]
async fn wrapped_ports_pass_their_conformance_suites() {
    // Each wrapper stacked around each fake must be invisible to the port's contract.
    let clock = ManualClock::default();
    // Real time for the suite's leases, a short backoff for its dead-letter check (as the
    // memory store's own run in tests/conformance.rs).
    let memory = MemoryStore::new(Arc::new(SystemClock)).with_retry_policy(RetryPolicy {
        base: Duration::from_millis(200),
        max: Duration::from_secs(2),
        jitter: 0.3,
    });
    let wrapped_store = Recording::new(WithTimeout::new(
        FaultInjecting::new(memory, Faults::seeded(5)),
        Duration::from_secs(60),
    ));
    store::run(&wrapped_store).await;
    assert!(wrapped_store.recorder().count("store.") > 100);

    let crm_fake = Arc::new(FakeCrm::new());
    let wrapped_crm = Recording::new(WithTimeout::new(crm_fake.clone(), Duration::from_secs(60)));
    crm::run(&wrapped_crm, &crm::CrmFixture::default()).await;
    assert_eq!(crm_fake.created_contacts().len(), 1);

    let mb = Recording::new(WithTimeout::new(
        FakeMailbox::new().with_clock(clock.shared()),
        Duration::from_secs(60),
    ));
    mailbox::run(&mb, &mailbox::MailboxFixture::default()).await;
    assert!(mb.recorder().count("mailbox.send") > 0);

    let d = Recording::new(FaultInjecting::new(FakeDrive::new(), Faults::none()));
    drive::run(&d, &drive::DriveFixture::default()).await;

    let cal = WithTimeout::new(Recording::new(FakeCalendar::new()), Duration::from_secs(60));
    calendar::run(&cal, &calendar::CalendarFixture::default()).await;
    assert_eq!(cal.inner().inner().inserted_events().len(), 1);
}
