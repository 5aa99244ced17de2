//! Behaviour of the connector fakes and the fault knob beyond what the conformance suites check.
#![cfg(feature = "testing")]

use salesagent_core::Error;
use salesagent_core::layers::FaultInjecting;
use salesagent_core::model::{
    CrmId, DriveQuery, EmailAddress, EventStatus, Interval, MailQuery, MessageId, NewEvent,
    NewNote, NewTask, OutgoingMessage,
};
use salesagent_core::ports::{
    Audio, AudioFormat, Calendar, ChatMessage, Clock, Crm, Drive, Llm, LlmRequest, Mailbox,
    SpeechToText, TextToSpeech,
};
use salesagent_core::testing::{
    FakeCalendar, FakeCrm, FakeDrive, FakeLlm, FakeMailbox, FakeSpeechToText, FakeTextToSpeech,
    FaultKind, Faults, ManualClock,
};
use std::time::Duration;

fn addr(s: &str) -> EmailAddress {
    EmailAddress::parse(s).unwrap()
}

fn outgoing(from: &str, to: &str, subject: &str, body: &str) -> OutgoingMessage {
    let id = MessageId::generate(addr(from).domain());
    let raw = format!(
        "From: {from}\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: {}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n",
        id.bracketed()
    );
    OutgoingMessage {
        message_id: id,
        from: addr(from),
        to: vec![addr(to)],
        thread_id: None,
        raw: raw.into_bytes(),
    }
}

fn request(text: &str) -> LlmRequest {
    LlmRequest {
        purpose: "test".into(),
        messages: vec![ChatMessage::system("be brief"), ChatMessage::user(text)],
        schema: None,
        max_tokens: None,
        temperature: None,
    }
}

#[tokio::test]
async fn crm_records_writes_and_finds_companies_by_base_domain() {
    let crm = FakeCrm::new();
    let acme = crm.seed_company("Acme", Some("acme.io".parse().unwrap()));
    let ann = crm.seed_contact(&addr("ann@acme.io"), Some("Ann"), None);
    let found = crm
        .find_company_by_domain(&"mail.acme.io".parse().unwrap())
        .await
        .unwrap();
    assert_eq!(found.map(|c| c.crm_id), Some(acme.crm_id.clone()));
    crm.associate_contact_company(&ann.crm_id, &acme.crm_id)
        .await
        .unwrap();
    let task = crm
        .create_task(&NewTask {
            subject: "Follow up".into(),
            body: "Call Ann".into(),
            due_at: None,
            contact_id: Some(ann.crm_id.clone()),
            company_id: Some(acme.crm_id.clone()),
            owner_id: None,
        })
        .await
        .unwrap();
    crm.create_note(&NewNote {
        body: "Draft sent".into(),
        at: ManualClock::default_start(),
        contact_id: Some(ann.crm_id.clone()),
        company_id: None,
    })
    .await
    .unwrap();
    assert_eq!(crm.created_tasks(), vec![task]);
    assert_eq!(crm.created_notes()[0].body, "Draft sent");
    assert_eq!(crm.associations(), vec![(ann.crm_id.clone(), acme.crm_id)]);
    let err = crm
        .create_task(&NewTask {
            subject: "x".into(),
            body: String::new(),
            due_at: None,
            contact_id: Some(CrmId::new("nobody")),
            company_id: None,
            owner_id: None,
        })
        .await
        .unwrap_err();
    assert_eq!(err.kind(), "not_found");
}

#[tokio::test]
async fn mailbox_threads_replies_and_records_sends() {
    let mb = FakeMailbox::new();
    let inbound = mb.receive(
        &addr("lead@acme.io"),
        &addr("me@seller.io"),
        "Question",
        "Do you ship to Norway?",
        None,
    );
    let mut reply = outgoing("me@seller.io", "lead@acme.io", "Re: Question", "We do.");
    let parent = inbound.message_id.clone().unwrap();
    let raw = String::from_utf8(reply.raw.clone()).unwrap().replacen(
        "Content-Type",
        &format!("In-Reply-To: {}\r\nContent-Type", parent.bracketed()),
        1,
    );
    reply.raw = raw.into_bytes();
    let sent = mb.send(&reply).await.unwrap();
    assert_eq!(sent.thread_id, inbound.thread_id, "reply joins the thread");
    let thread = mb.get_thread(&sent.thread_id.unwrap()).await.unwrap();
    assert_eq!(thread.len(), 2);
    assert_eq!(thread[1].in_reply_to.as_ref(), Some(&parent));
    assert_eq!(thread[1].subject, "Re: Question");
    assert!(thread[1].body_text.contains("We do."));
    assert_eq!(mb.sent(), vec![reply.clone()]);
    mb.send(&reply).await.unwrap();
    assert_eq!(mb.sent().len(), 1, "same Message-ID is not delivered twice");
    let found = mb
        .search(&MailQuery {
            text: Some("norway".into()),
            ..MailQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
}

#[tokio::test]
async fn drive_ranks_by_terms_and_cuts_on_char_boundaries() {
    let drive = FakeDrive::new();
    let a = drive.add_text_file("Pricing.txt", "text/plain", "pricing for logistics");
    let b = drive.add_text_file("Case study.txt", "text/plain", "logistics ünd more");
    let hits = drive
        .search(&DriveQuery {
            text: Some("logistics pricing".into()),
            ..DriveQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(
        hits.iter().map(|f| f.id.clone()).collect::<Vec<_>>(),
        vec![a.id, b.id.clone()]
    );
    // "logistics ü" is 12 bytes: the ü (2 bytes) would be split at 11.
    assert_eq!(drive.export_text(&b.id, 11).await.unwrap(), "logistics ");
    assert_eq!(drive.exports().len(), 1);
}

#[tokio::test]
async fn calendar_merges_busy_time() {
    let clock = ManualClock::default();
    let cal = FakeCalendar::new().with_clock(clock.shared());
    let t = clock.now();
    let h = |n: i64| t + chrono::TimeDelta::hours(n);
    cal.add_busy(Interval {
        start: h(1),
        end: h(2),
    });
    cal.insert_event(&NewEvent {
        summary: "Hold".into(),
        description: String::new(),
        interval: Interval {
            start: h(2),
            end: h(3),
        },
        attendees: vec![addr("lead@acme.io")],
        status: EventStatus::Tentative,
    })
    .await
    .unwrap();
    let busy = cal
        .free_busy(Interval {
            start: h(0),
            end: h(10),
        })
        .await
        .unwrap();
    assert_eq!(
        busy,
        vec![Interval {
            start: h(1),
            end: h(3)
        }]
    );
    assert_eq!(cal.inserted_events().len(), 1);
}

#[tokio::test]
async fn llm_script_then_responder_and_recording() {
    let llm = FakeLlm::new();
    assert_eq!(
        llm.complete(&request("hi")).await.unwrap_err().kind(),
        "unavailable"
    );
    llm.push_answer("first");
    llm.push_error(Error::RateLimited { retry_after: None });
    llm.set_responder(|r| Ok(format!("echo {}", r.messages.last().unwrap().content)));
    assert_eq!(llm.complete(&request("a")).await.unwrap().content, "first");
    assert!(llm.complete(&request("b")).await.is_err());
    let r = llm.complete(&request("c")).await.unwrap();
    assert_eq!(r.content, "echo c");
    assert_eq!(r.model, "fake-llm");
    assert!(r.usage.prompt > 0);
    assert_eq!(llm.request_count(), 4);
    assert_eq!(llm.last_request().unwrap().messages[1].content, "c");
}

#[tokio::test]
async fn speech_fakes_round_trip() {
    let tts = FakeTextToSpeech::new();
    let stt = FakeSpeechToText::new();
    let audio = tts
        .synthesize("approve the first draft", AudioFormat::Wav)
        .await
        .unwrap();
    assert_eq!(
        stt.transcribe(&audio).await.unwrap(),
        "approve the first draft"
    );
    tts.refuse_format(AudioFormat::Mp3);
    assert_eq!(
        tts.synthesize("x", AudioFormat::Mp3)
            .await
            .unwrap_err()
            .kind(),
        "unsupported"
    );
    stt.push_transcript("scripted");
    let junk = Audio {
        format: AudioFormat::Webm,
        bytes: vec![0xff, 0xfe],
    };
    assert_eq!(stt.transcribe(&junk).await.unwrap(), "scripted");
    assert_eq!(
        stt.transcribe(&junk).await.unwrap_err().kind(),
        "invalid_input"
    );
    assert_eq!(stt.heard().len(), 3);
    assert_eq!(tts.spoken().len(), 1);
}

/// Runs `n` calls against a fresh CRM with `faults` and returns which ones failed.
async fn failure_pattern(faults: Faults, n: usize) -> Vec<bool> {
    let crm = FaultInjecting::new(FakeCrm::new(), faults);
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(crm.find_contact_by_email(&addr("a@b.io")).await.is_err());
    }
    out
}

#[tokio::test]
async fn failure_rate_is_roughly_honoured_and_deterministic() {
    let make = |seed| {
        Faults::seeded(seed).with_failure_rate(
            FaultKind::RateLimited {
                retry_after: Some(Duration::from_secs(1)),
            },
            0.2,
        )
    };
    let a = failure_pattern(make(7), 5000).await;
    let b = failure_pattern(make(7), 5000).await;
    let c = failure_pattern(make(8), 5000).await;
    assert_eq!(a, b, "same seed, same failures");
    assert_ne!(a, c, "another seed, other failures");
    let failed = a.iter().filter(|f| **f).count();
    assert!(
        (850..=1150).contains(&failed),
        "expected about 1000 of 5000 failures, got {failed}"
    );
}

#[tokio::test]
async fn rates_of_several_kinds_add_up_and_errors_carry_the_kind() {
    let faults = Faults::seeded(3)
        .with_failure_rate(FaultKind::Unavailable, 0.25)
        .with_failure_rate(FaultKind::Timeout, 0.25);
    let crm = FaultInjecting::new(FakeCrm::new(), faults.clone());
    let (mut unavailable, mut timeout, mut ok) = (0, 0, 0);
    for _ in 0..4000 {
        match crm.get_company(&CrmId::new("x")).await {
            Err(Error::Unavailable { .. }) => unavailable += 1,
            Err(Error::Timeout { .. }) => timeout += 1,
            Err(Error::NotFound { .. }) => ok += 1,
            Err(e) => panic!("unexpected error {e}"),
            Ok(_) => panic!("unknown company found"),
        }
    }
    for (name, n) in [("unavailable", unavailable), ("timeout", timeout)] {
        assert!((850..=1150).contains(&n), "{name}: {n} of 4000");
    }
    assert!((1800..=2200).contains(&ok), "passed: {ok} of 4000");
    assert_eq!(faults.calls(), 4000);
    assert_eq!(faults.injected(), (unavailable + timeout) as u64);
    faults.clear();
    assert_eq!(failure_pattern(faults, 100).await, vec![false; 100]);
}

#[tokio::test]
async fn fail_next_hits_every_fake() {
    let faults = Faults::none();
    let retry = FaultKind::RateLimited {
        retry_after: Some(Duration::from_secs(9)),
    };
    faults.fail_next(1, &retry);
    let mb = FaultInjecting::new(FakeMailbox::new(), faults.clone());
    let err = mb.history(None).await.unwrap_err();
    assert_eq!(err.retry_after(), Some(Duration::from_secs(9)));
    assert!(mb.history(None).await.is_ok());
    faults.fail_next(1, &FaultKind::Unauthenticated);
    let llm = FaultInjecting::new(FakeLlm::new(), faults.clone());
    llm.inner().push_answer("never returned");
    assert_eq!(
        llm.complete(&request("x")).await.unwrap_err().kind(),
        "unauthenticated"
    );
    assert_eq!(
        llm.inner().request_count(),
        0,
        "an injected failure never reaches the fake"
    );
    faults.fail_next(1, &FaultKind::Backend);
    let drive = FaultInjecting::new(FakeDrive::new(), faults.clone());
    assert_eq!(
        drive
            .search(&DriveQuery::default())
            .await
            .unwrap_err()
            .kind(),
        "backend"
    );
}

#[tokio::test(start_paused = true)]
async fn latency_is_instant_under_paused_time() {
    let faults = Faults::seeded(1).with_latency(Duration::from_secs(5), Duration::from_secs(5));
    let crm = FaultInjecting::new(FakeCrm::new(), faults);
    let start = tokio::time::Instant::now();
    for _ in 0..10 {
        crm.find_contact_by_email(&addr("a@b.io")).await.unwrap();
    }
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_secs(50) && waited <= Duration::from_secs(100),
        "virtual time waited {waited:?}"
    );
}
