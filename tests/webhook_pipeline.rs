//! Intake and the pipeline worker together: every unique submission becomes exactly one draft,
//! and intake enqueues the very job `Pipeline::submit` would.
#![cfg(feature = "host")]

mod webhook_support;

use axum::http::StatusCode;
use salesagent::core::model::{
    Contact, CrmId, EmailAddress, FormSubmission, JobFilter, JobState, SubmissionSource, kinds,
};
use salesagent::core::pipeline::{Pipeline, PipelineConfig, Ports};
use salesagent::core::testing::{FakeCalendar, FakeCrm, FakeDrive, FakeMailbox};
use salesagent::core::worker::{Worker, WorkerConfig};
use salesagent::core::writer::TemplateLlm;
use std::sync::Arc;
use webhook_support::*;

fn pipeline(env: &Env) -> Arc<Pipeline> {
    pipeline_with(env, Arc::new(FakeCrm::new()))
}

fn pipeline_with(env: &Env, crm: Arc<FakeCrm>) -> Arc<Pipeline> {
    let ports = Ports {
        crm,
        mailbox: Arc::new(FakeMailbox::new()),
        drive: Arc::new(FakeDrive::new()),
        calendar: Arc::new(FakeCalendar::new()),
        llm: Arc::new(TemplateLlm),
        store: env.store.clone(),
        clock: env.clock.clone(),
    };
    let sender = EmailAddress::parse("sales@ours.io").unwrap();
    Arc::new(Pipeline::new(ports, PipelineConfig::new(sender)))
}

#[tokio::test]
async fn workers_turn_unique_deliveries_into_one_draft_each() {
    let env = env();
    let mut unique = 0;
    for i in 0..12 {
        // Every third delivery repeats the previous submission.
        let n = if i % 3 == 2 { i - 1 } else { i };
        if n == i {
            unique += 1;
        }
        let body = form_body(&format!("lead-{n}"), &format!("lead{n}@company{n}.io"));
        let resp = env
            .send(signed_post("/webhooks/forms", &body, env.now()))
            .await;
        assert_eq!(resp.status(), StatusCode::ACCEPTED);
    }
    let worker = Worker::new(pipeline(&env), WorkerConfig::default());
    let stats = worker.run_until_idle(4).await.unwrap();
    assert_eq!(stats.dead, 0, "{stats:?}");
    let counts = env.store.draft_counts().await.unwrap();
    assert_eq!(counts.values().sum::<u64>(), unique);

    // The job route now reports the finished job.
    let first = form_body("lead-0", "lead0@company0.io");
    let v = json(
        env.send(signed_post("/webhooks/forms", &first, env.now()))
            .await,
    )
    .await;
    assert_eq!(v["duplicate"], true);
    let job = json(
        env.send(api(
            "GET",
            &format!("/api/jobs/{}", v["job_id"].as_str().unwrap()),
            None,
        ))
        .await,
    )
    .await;
    assert_eq!(job["state"], "done");
    assert_eq!(job["attempts"], 1);
}

#[tokio::test]
async fn intake_and_pipeline_submit_share_one_job() {
    let env = env();
    let body = form_body("shared-1", "ann@acme.io");
    let v = json(
        env.send(signed_post("/webhooks/forms", &body, env.now()))
            .await,
    )
    .await;
    let submission = FormSubmission::from_canonical_json(&body, env.now()).unwrap();
    let submitted = pipeline(&env).submit(&submission).await.unwrap();
    assert!(!submitted.new);
    assert_eq!(submitted.job_id.to_string(), v["job_id"].as_str().unwrap());
}

const CREATION: &str = r#"[{"eventId":1,"subscriptionId":12345,"portalId":62515,"occurredAt":1764000000000,"subscriptionType":"contact.creation","attemptNumber":0,"objectId":123,"changeSource":"FORM","changeFlag":"NEW","appId":54321},
{"eventId":2,"subscriptionId":12346,"portalId":62515,"occurredAt":1764000000000,"subscriptionType":"company.creation","attemptNumber":0,"objectId":9,"changeSource":"CRM","appId":54321}]"#;

fn contact_123() -> Contact {
    Contact {
        crm_id: CrmId::new("123"),
        email: EmailAddress::parse("zoe@delta-robotics.io").unwrap(),
        first_name: Some("Zoe".into()),
        last_name: Some("Ng".into()),
        job_title: Some("VP Sales".into()),
        phone: None,
        company_id: None,
        time_zone: Some("Europe/Berlin".into()),
        properties: std::collections::BTreeMap::from([(
            "company".to_owned(),
            "Delta Robotics".to_owned(),
        )]),
    }
}

#[tokio::test]
async fn a_contact_event_becomes_exactly_one_draft() {
    let env = env();
    let v = json(
        env.send(signed_post("/webhooks/hubspot", CREATION, env.now()))
            .await,
    )
    .await;
    assert_eq!(v["ignored"], 1, "{v}");
    let event_job = v["job_id"].as_str().unwrap().to_owned();
    let crm = Arc::new(FakeCrm::new());
    crm.add_contact(contact_123());
    let worker = Worker::new(pipeline_with(&env, crm.clone()), WorkerConfig::default());
    let stats = worker.run_until_idle(2).await.unwrap();
    // The event job, the pipeline job it enqueued, and the CRM follow-up.
    assert_eq!((stats.done, stats.dead), (3, 0), "{stats:?}");
    assert_eq!(
        env.store
            .draft_counts()
            .await
            .unwrap()
            .values()
            .sum::<u64>(),
        1
    );
    let pipeline_jobs = env
        .store
        .list_jobs(&JobFilter {
            kind: Some(kinds::PIPELINE.into()),
            ..JobFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(pipeline_jobs.len(), 1);
    assert_eq!(
        pipeline_jobs[0].idempotency_key.as_deref(),
        Some("pipeline:hubspot-event:12345:1")
    );
    let submission = env
        .store
        .get_submission(
            pipeline_jobs[0].payload["submission_id"]
                .as_str()
                .unwrap()
                .parse()
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(submission.source, SubmissionSource::HubspotEvent);
    assert_eq!(submission.lead.email.to_string(), "zoe@delta-robotics.io");
    assert_eq!(submission.lead.company.as_deref(), Some("Delta Robotics"));
    assert_eq!(
        submission.submitted_at.timestamp_millis(),
        1_764_000_000_000
    );
    assert!(
        submission.raw.contains(r#""eventId":1,"#),
        "{}",
        submission.raw
    );

    // A redelivery after the work is done: same job, nothing new to run, still one draft.
    let again = json(
        env.send(signed_post("/webhooks/hubspot", CREATION, env.now()))
            .await,
    )
    .await;
    assert_eq!(again["job_id"], event_job.as_str());
    let stats = worker.run_until_idle(2).await.unwrap();
    assert_eq!(stats.claimed(), 0, "{stats:?}");
    assert_eq!(
        env.store
            .draft_counts()
            .await
            .unwrap()
            .values()
            .sum::<u64>(),
        1
    );
    let job = json(
        env.send(api("GET", &format!("/api/jobs/{event_job}"), None))
            .await,
    )
    .await;
    assert_eq!(job["kind"], kinds::CRM_CONTACT_EVENT);
    assert_eq!(job["state"], "done");
}

#[tokio::test]
async fn an_unknown_contact_dead_letters_the_event_job_with_a_reason() {
    let env = env();
    let v = json(
        env.send(signed_post("/webhooks/hubspot", CREATION, env.now()))
            .await,
    )
    .await;
    let event_job = v["job_id"].as_str().unwrap().to_owned();
    // The CRM does not know contact 123.
    let worker = Worker::new(pipeline(&env), WorkerConfig::default());
    let stats = worker.run_until_idle(2).await.unwrap();
    assert_eq!(
        (stats.done, stats.dead, stats.retrying),
        (0, 1, 0),
        "{stats:?}"
    );
    let job = env.store.get_job(event_job.parse().unwrap()).await.unwrap();
    assert_eq!(job.state, JobState::Dead);
    assert_eq!(job.attempts, 1, "NotFound is permanent: no retries");
    let reason = job.last_error.unwrap_or_default();
    assert!(
        reason.contains("123"),
        "the reason names the contact: {reason}"
    );
    assert_eq!(
        env.store
            .draft_counts()
            .await
            .unwrap()
            .values()
            .sum::<u64>(),
        0
    );
    let reported = json(
        env.send(api("GET", &format!("/api/jobs/{event_job}"), None))
            .await,
    )
    .await;
    assert_eq!(reported["state"], "dead");
    assert_eq!(reported["last_error"], reason.as_str());
}
