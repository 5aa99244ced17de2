//! Intake and the pipeline worker together: every unique submission becomes exactly one draft,
//! and intake enqueues the very job `Pipeline::submit` would.
#![cfg(feature = "host")]

mod webhook_support;

use axum::http::StatusCode;
use salesagent::core::model::{EmailAddress, FormSubmission};
use salesagent::core::pipeline::{Pipeline, PipelineConfig, Ports};
use salesagent::core::testing::{FakeCalendar, FakeCrm, FakeDrive, FakeMailbox};
use salesagent::core::worker::{Worker, WorkerConfig};
use salesagent::core::writer::TemplateLlm;
use std::sync::Arc;
use webhook_support::*;

fn pipeline(env: &Env) -> Arc<Pipeline> {
    let ports = Ports {
        crm: Arc::new(FakeCrm::new()),
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
