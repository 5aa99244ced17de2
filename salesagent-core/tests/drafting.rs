//! Drafting guarantees through the shipped pipeline: grounded drafts (invented links repaired,
//! invented figures refused), the sender's own voice profile, the template writer's reasons,
//! and drafts stored before the drafting report still loading.
#![cfg(feature = "testing")]

use chrono::{DateTime, Utc};
use salesagent_core::model::{
    Domain, Draft, DraftFlag, DraftWriter, EmailAddress, FormSubmission, TemplateReason,
    VoiceProfile,
};
use salesagent_core::pipeline::{Pipeline, PipelineConfig, Ports};
use salesagent_core::ports::{Clock as _, DraftStore as _, Llm as _, VoiceStore as _};
use salesagent_core::prompt::{DraftInput, check_draft, extract_data, ground};
use salesagent_core::testing::{
    FakeCalendar, FakeCrm, FakeDrive, FakeLlm, FakeMailbox, ManualClock, MemoryStore,
};
use salesagent_core::voice;
use salesagent_core::writer::TemplateLlm;
use std::sync::Arc;

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn email(s: &str) -> EmailAddress {
    EmailAddress::parse(s).unwrap()
}

const SENDER: &str = "sam@salesagent.dev";

struct Harness {
    clock: ManualClock,
    llm: Arc<FakeLlm>,
    store: Arc<MemoryStore>,
    pipeline: Arc<Pipeline>,
}

impl Harness {
    fn new(llm: FakeLlm, config: impl FnOnce(&mut PipelineConfig)) -> Self {
        let clock = ManualClock::new(at("2026-11-26T08:00:00Z"));
        let crm = Arc::new(FakeCrm::new());
        let mut company = crm.seed_company(
            "Acme Robotics",
            Some(Domain::parse("acme-robotics.de").unwrap()),
        );
        company.industry = Some("Industrial Machinery".into());
        company.employee_count = Some(420);
        crm.add_company(company);
        let drive = Arc::new(FakeDrive::new());
        drive.add_text_file(
            "Case study - welding automation.pdf",
            "application/pdf",
            "welding robots fleet case study demo",
        );
        let llm = Arc::new(llm);
        let store = Arc::new(MemoryStore::new(clock.shared()));
        let mut cfg = PipelineConfig::new(email(SENDER));
        cfg.sender_name = "Sam Seller".into();
        config(&mut cfg);
        let ports = Ports {
            crm,
            mailbox: Arc::new(FakeMailbox::new().with_clock(clock.shared())),
            drive,
            calendar: Arc::new(FakeCalendar::new().with_clock(clock.shared())),
            llm: llm.clone(),
            store: store.clone(),
            clock: clock.shared(),
        };
        let pipeline = Arc::new(Pipeline::new(ports, cfg));
        Self {
            clock,
            llm,
            store,
            pipeline,
        }
    }

    fn ann(&self, id: &str) -> FormSubmission {
        let doc = serde_json::json!({
            "submission_id": id,
            "submitted_at": "2026-11-26T07:59:00Z",
            "fields": {
                "email": "ann@acme-robotics.de",
                "firstname": "Ann",
                "company": "Acme Robotics",
                "message": "We would like a demo for our welding robots fleet.",
            },
        });
        FormSubmission::from_canonical_json(&doc.to_string(), self.clock.now()).unwrap()
    }

    async fn draft(&self, id: &str) -> Draft {
        let id = self.pipeline.process(&self.ann(id)).await.unwrap();
        self.store.get_draft(id).await.unwrap()
    }

    /// The data the pipeline gave the model for its (last) drafting request.
    fn draft_input(&self) -> DraftInput {
        self.llm
            .requests()
            .iter()
            .rev()
            .find(|r| r.purpose == "draft")
            .and_then(extract_data)
            .expect("a drafting request")
    }
}

/// A model that answers the company analysis sensibly and every drafting request with `body`.
fn model_writing(bodies: Vec<&'static str>) -> FakeLlm {
    let queue = std::sync::Mutex::new(std::collections::VecDeque::from(bodies));
    FakeLlm::with_responder(move |req| {
        if req.purpose != "draft" {
            return futures::executor::block_on(TemplateLlm.complete(req)).map(|r| r.content);
        }
        let mut q = queue.lock().unwrap();
        let body = if q.len() > 1 {
            q.pop_front().unwrap()
        } else {
            q.front().copied().unwrap()
        };
        Ok(serde_json::json!({
            "subject": "A demo for Acme Robotics",
            "body": body,
            "fact_ids": [],
        })
        .to_string())
    })
}

/// The stored draft passes grounding against the data the model was given.
fn assert_grounded(h: &Harness, d: &Draft) {
    let input = h.draft_input();
    let g = ground(&d.body, &input).unwrap_or_else(|e| panic!("{e}\n{}", d.body));
    assert!(g.repairs.is_empty(), "{:?}\n{}", g.repairs, d.body);
}

#[tokio::test]
async fn an_invented_link_is_removed_and_the_repair_recorded() {
    let h = Harness::new(
        model_writing(vec![
            "Hi Ann,\n\nThanks for asking about a demo for Acme Robotics. \
             Book it at https://salesagent.dev/book-now right away.\n\
             The case study on welding automation may help: https://drive.example/file-1.\n\n\
             Best,\nSam Seller",
        ]),
        |_| {},
    );
    let d = h.draft("s-link").await;
    assert!(
        matches!(&d.writer, DraftWriter::Llm { model } if model == "fake-llm"),
        "{:?}",
        d.writer
    );
    assert!(!d.body.contains("book-now"), "{}", d.body);
    assert!(
        d.body.contains("https://drive.example/file-1"),
        "{}",
        d.body
    );
    let report = d.drafting.as_ref().expect("a drafting report");
    assert_eq!(report.repairs.len(), 1, "{:?}", report.repairs);
    assert!(report.repairs[0].contains("https://salesagent.dev/book-now"));
    assert!(
        report.facts.iter().any(|f| f.id == "drive:file-1"),
        "{report:?}"
    );
    assert_eq!(d.facts_used, ["drive:file-1"]);
    assert_grounded(&h, &d);
}

#[tokio::test]
async fn an_invented_price_is_never_stored() {
    // The model invents a price in a draft that says something else too: the sentence with the
    // price is dropped, the repair recorded, and the rest stored as the model's draft.
    let h = Harness::new(
        model_writing(vec![
            "Hi Ann,\n\nThanks for asking about a demo for Acme Robotics, we would be glad to show \
             your team how replies get drafted. Our plan costs $49 per seat, so 10 seats are cheap.\n\n\
             Best,\nSam Seller",
        ]),
        |_| {},
    );
    let d = h.draft("s-price-repaired").await;
    assert!(!d.body.contains("$49"), "{}", d.body);
    assert!(d.body.contains("demo for Acme Robotics"), "{}", d.body);
    assert!(
        matches!(&d.writer, DraftWriter::Llm { .. }),
        "{:?}",
        d.writer
    );
    let report = d.drafting.as_ref().unwrap();
    assert!(
        report.repairs.iter().any(|r| r.contains("$49")),
        "{:?}",
        report.repairs
    );
    assert_grounded(&h, &d);

    // A draft that is nothing but the invented price, twice: the template writes.
    let h = Harness::new(
        model_writing(vec![
            "Hi Ann,\n\nOur plan costs $49 per seat, so 10 seats are cheap.\n\nBest,\nSam Seller",
        ]),
        |_| {},
    );
    let d = h.draft("s-price").await;
    assert!(!d.body.contains("$49"), "{}", d.body);
    assert!(
        matches!(&d.writer, DraftWriter::Template { .. }),
        "{:?}",
        d.writer
    );
    let report = d.drafting.as_ref().unwrap();
    assert_eq!(report.template_reason, Some(TemplateReason::InvalidOutput));
    assert_eq!(report.model.as_deref(), Some("fake-llm"));
    assert!(d.flags.contains(&DraftFlag::TemplateWritten));
    // The repair request named the problem.
    let repair = h.llm.requests().into_iter().rfind(|r| r.purpose == "draft");
    let last = repair.unwrap().messages.last().unwrap().content.clone();
    assert!(last.contains("rejected"), "{last}");
    assert_grounded(&h, &d);

    // Told about it, a model that drops the claim gets its draft stored.
    let h = Harness::new(
        model_writing(vec![
            "Hi Ann,\n\nIt is 35% cheaper than your tools.\n\nBest,\nSam Seller",
            "Hi Ann,\n\nThanks for asking about a demo for Acme Robotics. \
             Would next week suit you?\n\nBest,\nSam Seller",
        ]),
        |_| {},
    );
    let d = h.draft("s-price-fixed").await;
    assert!(
        matches!(d.writer, DraftWriter::Llm { .. }),
        "{:?}",
        d.writer
    );
    assert!(!d.body.contains("35%"));
    assert_grounded(&h, &d);
}

#[test]
fn validation_limits_equal_the_prompts() {
    let input = DraftInput {
        lead: salesagent_core::prompt::LeadData {
            company: Some("Acme".into()),
            ..Default::default()
        },
        ..DraftInput::default()
    };
    let answer = |subject: &str, body: &str| {
        serde_json::json!({"subject": subject, "body": body, "fact_ids": []}).to_string()
    };
    let words = |n: usize| format!("Acme {}", vec!["word"; n - 1].join(" "));
    assert!(check_draft(&answer(&"s".repeat(120), &words(20)), &input).is_ok());
    assert!(check_draft(&answer(&"s".repeat(121), &words(20)), &input).is_err());
    assert!(check_draft(&answer("Hi there", &words(250)), &input).is_ok());
    let e = check_draft(&answer("Hi there", &words(251)), &input).unwrap_err();
    assert!(e.to_string().contains("250"), "{e}");
}

fn learned(owner: &str, name: &str, mails: &[&str], now: DateTime<Utc>) -> VoiceProfile {
    voice::learn(email(owner), name, mails, now).unwrap()
}

const SAM_MAIL: &[&str] = &[
    "Hey Jo,\n\nLove the plan, let's get the deck over to the team today.\nShout if anything looks off to you.\n\nCheers,\nSam",
    "Hey Max,\n\nQuick one from me on the rollout timing.\nLet's keep it simple and ship the small version first.\n\nCheers,\nSam",
    "Hey Kim,\n\nThanks for the notes, they really help.\nI reckon we can wrap this up by the end of the week.\n\nCheers,\nSam",
];

const OTHER_MAIL: &[&str] = &[
    "Dear colleagues,\n\nPlease find the quarterly compliance summary enclosed for your review.\nKindly confirm receipt at your earliest convenience.\n\nYours sincerely,\nMargaret",
    "Dear Mr Brown,\n\nI acknowledge receipt of your correspondence regarding the audit schedule.\nThe committee shall consider the matter at its next session.\n\nYours sincerely,\nMargaret",
];

#[tokio::test]
async fn the_senders_own_profile_is_chosen_by_the_settings_and_applied() {
    let h = Harness::new(
        model_writing(vec![
            "Dear Ann,\n\nThanks for asking about a demo for Acme Robotics. \
             Would next week suit you?\n\nKind regards,\nSam Seller\nSalesagent",
        ]),
        |c| {
            c.voice_profiles
                .insert("Sam@SalesAgent.dev".into(), "casual".into());
        },
    );
    let now = h.clock.now();
    // A formal "default" of Sam's, the "casual" one the settings name, and someone else's
    // profile under the same name: only Sam's "casual" may be used.
    h.store
        .save_voice_profile(&learned(SENDER, "default", OTHER_MAIL, now))
        .await
        .unwrap();
    let casual = h
        .store
        .save_voice_profile(&learned(SENDER, "casual", SAM_MAIL, now))
        .await
        .unwrap();
    h.store
        .save_voice_profile(&learned(
            "margaret@other.example",
            "casual",
            OTHER_MAIL,
            now,
        ))
        .await
        .unwrap();
    let d = h.draft("s-voice").await;

    let hints = h.draft_input().voice.expect("voice hints");
    assert_eq!(hints.greeting.as_deref(), Some("Hey {name},"));
    assert_eq!(hints.sign_off.as_deref(), Some("Cheers,\nSam"));
    assert!(hints.sign_off_has_name);
    assert!(
        hints
            .style_guide
            .as_deref()
            .is_some_and(|g| g.contains("3 of their sent emails")),
        "{hints:?}"
    );
    assert!(!hints.exemplars.is_empty());
    for e in &hints.exemplars {
        assert!(
            SAM_MAIL.iter().any(|m| m.contains(e.as_str())),
            "{e:?} is not Sam's"
        );
    }
    // The model's greeting and sign-off are replaced by Sam's own.
    assert!(d.body.starts_with("Hey Ann,\n\n"), "{}", d.body);
    assert!(d.body.ends_with("\n\nCheers,\nSam"), "{}", d.body);
    assert!(!d.body.contains("Kind regards"), "{}", d.body);
    // The similarity stored is to that profile, and the report names it.
    let score = voice::similarity(&casual, &d.body);
    assert_eq!(d.voice_similarity, Some(score.value));
    let report = d.drafting.as_ref().unwrap();
    assert_eq!(report.voice_profile.as_deref(), Some("casual (version 1)"));
    assert_eq!(
        d.flags
            .iter()
            .any(|f| matches!(f, DraftFlag::LowVoiceSimilarity { .. })),
        score.value < 0.6
    );
}

#[tokio::test]
async fn without_a_setting_the_senders_newest_profile_is_used() {
    let h = Harness::new(FakeLlm::new(), |_| {});
    let now = h.clock.now();
    h.store
        .save_voice_profile(&learned(SENDER, "older", OTHER_MAIL, now))
        .await
        .unwrap();
    h.clock.advance(std::time::Duration::from_secs(3600));
    h.store
        .save_voice_profile(&learned(SENDER, "newer", SAM_MAIL, h.clock.now()))
        .await
        .unwrap();
    h.store
        .save_voice_profile(&learned(
            "margaret@other.example",
            "default",
            OTHER_MAIL,
            h.clock.now(),
        ))
        .await
        .unwrap();
    let d = h.draft("s-newest").await;
    assert_eq!(
        d.drafting.as_ref().unwrap().voice_profile.as_deref(),
        Some("newer (version 1)")
    );
    // The model is down: the template writes, in Sam's greeting and sign-off.
    assert!(d.body.starts_with("Hey Ann,"), "{}", d.body);
    assert!(d.body.ends_with("Cheers,\nSam"), "{}", d.body);
    assert_eq!(
        d.drafting.as_ref().unwrap().template_reason,
        Some(TemplateReason::LlmUnavailable)
    );
}

#[tokio::test]
async fn the_offline_template_model_is_recorded_as_the_template_writer() {
    let h = Harness::new(
        FakeLlm::with_responder(|req| {
            futures::executor::block_on(TemplateLlm.complete(req)).map(|r| r.content)
        })
        .with_model("template"),
        |_| {},
    );
    let d = h.draft("s-offline").await;
    assert!(
        matches!(&d.writer, DraftWriter::Template { reason } if reason.contains("no language model")),
        "{:?}",
        d.writer
    );
    let report = d.drafting.as_ref().unwrap();
    assert_eq!(report.template_reason, Some(TemplateReason::NoModel));
    assert!(!d.body.contains("From what I know so far"), "{}", d.body);
    assert!(d.body.starts_with("Hi Ann,"), "{}", d.body);
    assert!(d.body.contains("Sam Seller"), "{}", d.body);
    assert!(d.body.split_whitespace().count() <= 120, "{}", d.body);
    assert!(
        report.facts.iter().any(|f| f.id == "drive:file-1"),
        "{report:?}"
    );
    assert_grounded(&h, &d);
}

#[test]
fn drafts_stored_before_the_report_still_load() {
    let d = Draft::new(
        email("ann@acme-robotics.de"),
        email(SENDER),
        "Hello",
        "Hi Ann",
        DraftWriter::Template {
            reason: "llm down".into(),
        },
        at("2026-11-26T08:00:00Z"),
    );
    let mut json = serde_json::to_value(&d).unwrap();
    json.as_object_mut().unwrap().remove("drafting");
    let back: Draft = serde_json::from_value(json).unwrap();
    assert_eq!(back.drafting, None);
    assert_eq!(back, d);
}
