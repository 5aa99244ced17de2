//! Every fake passes its port's conformance suite.
#![cfg(feature = "testing")]

use salesagent_core::model::RetryPolicy;
use salesagent_core::ports::SystemClock;
use salesagent_core::testing::{MemoryStore, conformance};
use std::sync::Arc;
use std::time::Duration;

fn store() -> MemoryStore {
    // Real time for leases; a short backoff keeps the dead-letter check quick.
    MemoryStore::new(Arc::new(SystemClock)).with_retry_policy(RetryPolicy {
        base: Duration::from_millis(200),
        max: Duration::from_secs(2),
        jitter: 0.3,
    })
}

#[tokio::test]
async fn memory_store_passes_the_store_suite() {
    conformance::store::run(&store()).await;
}

#[tokio::test]
async fn memory_store_passes_the_suite_as_a_dyn_store_reused_twice() {
    let s: salesagent_core::ports::DynStore = Arc::new(store());
    conformance::store::run(s.as_ref()).await;
    conformance::store::run(s.as_ref()).await;
}

#[tokio::test]
async fn memory_store_passes_with_random_latency_interleaving_calls() {
    // Jittered latency makes concurrent calls interleave at random points; every operation
    // must still be atomic.
    let faults = salesagent_core::testing::Faults::seeded(99)
        .with_latency(Duration::ZERO, Duration::from_millis(2));
    conformance::store::run(&salesagent_core::layers::FaultInjecting::new(
        store(),
        faults.clone(),
    ))
    .await;
    assert!(
        faults.calls() > 200,
        "every store call passes the fault knob"
    );
}

mod connectors {
    use salesagent_core::Error;
    use salesagent_core::layers::FaultInjecting;
    use salesagent_core::model::{Domain, DriveFile, FileId};
    use salesagent_core::testing::conformance::{calendar, crm, drive, llm, mailbox};
    use salesagent_core::testing::{
        FakeCalendar, FakeCrm, FakeDrive, FakeLlm, FakeMailbox, Faults, ManualClock,
    };
    use std::time::Duration;

    #[tokio::test]
    async fn fake_crm_passes_the_crm_suite() {
        let crm = FakeCrm::new();
        let domain = Domain::parse("acme-industries.example").unwrap();
        let company = crm.seed_company("Acme Industries", Some(domain.clone()));
        let fixture = crm::CrmFixture {
            known_company: Some((domain, company.crm_id)),
            ..crm::CrmFixture::default()
        };
        crm::run(&crm, &fixture).await;
        // The backend may be reused: a second run uses fresh addresses.
        crm::run(&crm, &fixture).await;
        assert_eq!(crm.created_contacts().len(), 2);
        assert_eq!(crm.created_tasks().len(), 2);
        assert_eq!(crm.created_notes().len(), 2);
    }

    #[tokio::test]
    async fn fake_mailbox_passes_the_mailbox_suite() {
        let clock = ManualClock::default();
        let mb = FakeMailbox::new().with_clock(clock.shared());
        mailbox::run(&mb, &mailbox::MailboxFixture::default()).await;
        clock.advance(Duration::from_secs(60));
        mailbox::run(&mb, &mailbox::MailboxFixture::default()).await;
        assert_eq!(
            mb.sent().len(),
            6,
            "two messages and one sent draft per run, resends not delivered"
        );
        assert_eq!(mb.open_drafts().len(), 2, "one unsent draft per run");
    }

    #[tokio::test]
    async fn fake_mailbox_with_search_lag_passes_the_draft_send_part() {
        // Sent mail becomes findable only 30 s later; the suite waits on the manual clock.
        let clock = ManualClock::default();
        let lag = Duration::from_secs(30);
        let mb = FakeMailbox::new()
            .with_clock(clock.shared())
            .with_search_lag(lag);
        let fixture = mailbox::MailboxFixture {
            search_lag: mailbox::SearchLag::manual(clock.clone(), lag, 3),
            ..mailbox::MailboxFixture::default()
        };
        mailbox::run_draft_sends(&mb, &fixture).await;
        assert_eq!(mb.sent().len(), 1);
    }

    #[tokio::test]
    async fn fake_drive_passes_the_drive_suite() {
        let d = FakeDrive::new();
        let file = d.add_text_file(
            "Logistics case study.txt",
            "text/plain",
            "How Nordfreight cut empty miles by 18 %. Ünïcödé text makes the caps interesting.",
        );
        d.add_file(
            DriveFile {
                id: FileId::new("deck"),
                name: "Pitch deck.pdf".into(),
                mime_type: "application/pdf".into(),
                web_link: None,
                description: None,
                modified_at: None,
                size: Some(1024),
            },
            None,
        );
        let fixture = drive::DriveFixture {
            text_file: Some((file.id, "nordfreight".into(), "empty miles".into())),
            binary_file: Some(FileId::new("deck")),
            ..drive::DriveFixture::default()
        };
        drive::run(&d, &fixture).await;
        assert!(d.exports().len() >= 5);
    }

    #[tokio::test]
    async fn fake_calendar_passes_the_calendar_suite() {
        let cal = FakeCalendar::new();
        calendar::run(&cal, &calendar::CalendarFixture::default()).await;
        calendar::run(&cal, &calendar::CalendarFixture::default()).await;
        assert_eq!(cal.inserted_events().len(), 2);
    }

    #[tokio::test]
    async fn fake_llm_passes_the_llm_suite() {
        let fake = FakeLlm::with_responder(|r| {
            Ok(if r.schema.is_some() {
                r#"{"greeting":"hello"}"#.to_owned()
            } else {
                "Hello, suite.".to_owned()
            })
        });
        llm::run(
            &fake,
            &llm::LlmFixture {
                structured_output: true,
            },
        )
        .await;
        assert_eq!(fake.request_count(), 3, "every request is recorded");
    }

    #[tokio::test(start_paused = true)]
    async fn fakes_pass_with_latency_and_survive_a_retry() {
        let faults = Faults::seeded(11).with_latency(Duration::from_millis(250), Duration::ZERO);
        let crm = FaultInjecting::new(FakeCrm::new(), faults.clone());
        crm::run(&crm, &crm::CrmFixture::default()).await;
        assert!(faults.calls() > 5);
        faults.fail_next(1, &salesagent_core::testing::FaultKind::Unavailable);
        let fake = FaultInjecting::new(FakeLlm::new(), faults);
        fake.inner().push_answer("late but fine");
        let err = salesagent_core::ports::Llm::complete(
            &fake,
            &salesagent_core::ports::LlmRequest {
                purpose: "t".into(),
                messages: vec![salesagent_core::ports::ChatMessage::user("hi")],
                schema: None,
                max_tokens: None,
                temperature: None,
            },
        )
        .await
        .unwrap_err();
        assert!(matches!(err, Error::Unavailable { .. }) && err.is_retryable());
    }
}
