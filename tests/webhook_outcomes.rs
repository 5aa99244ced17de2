//! Outcomes over the shipped router: a recorded outcome has the effects of a detected one
//! (other pending drafts stopped, address suppressed), and "detect now" makes the source's one
//! scan job due.
#![cfg(feature = "host")]

mod webhook_support;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use salesagent::core::model::{EmailAddress, JobFilter, JobState, kinds};
use salesagent::core::outcomes::{OutcomeScanJob, ScanSource};
use salesagent::core::worker::JobKind as _;
use serde_json::json;
use webhook_support::*;

async fn create(env: &Env, email: &str) -> String {
    let resp = env
        .send(api(
            "POST",
            "/api/drafts",
            Some(json!({
                "contact_email": email,
                "sender": "sales@ours.io",
                "subject": "Your pricing question",
                "body": "Hi,\n\nthanks for asking.\n",
            })),
        ))
        .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    json(resp).await["id"].as_str().unwrap().to_owned()
}

async fn status(env: &Env, id: &str) -> String {
    let got = json(
        env.send(api("GET", &format!("/api/drafts/{id}"), None))
            .await,
    )
    .await;
    got["draft"]["status"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn recorded_outcomes_stop_drafts_and_suppress_like_detected_ones() {
    let env = env();
    let ann_1 = create(&env, "ann@acme.io").await;
    let ann_2 = create(&env, "ann@acme.io").await;
    let bob = create(&env, "bob@beta.io").await;

    let reply = json!({"outcome_type": "email_replied", "contact_email": "ann@acme.io",
        "source_event_id": "mail:r1@acme.io:email_replied"});
    let resp = env
        .send(api("POST", "/api/outcomes/record", Some(reply.clone())))
        .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let body = json(resp).await;
    assert_eq!(body["recorded"], true);
    assert_eq!(body["drafts_stopped"], 2);
    assert_eq!(body["outcome"]["impact"], 5);
    for id in [&ann_1, &ann_2] {
        assert_eq!(
            status(&env, id).await,
            "REJECTED",
            "ann's pending drafts stopped"
        );
    }
    assert_eq!(
        status(&env, &bob).await,
        "PENDING",
        "other contacts untouched"
    );
    assert!(
        env.store
            .suppression(&EmailAddress::parse("ann@acme.io").unwrap())
            .await
            .unwrap()
            .is_none(),
        "a reply does not suppress"
    );

    // The same event again: recorded once, nothing more happens.
    let resp = env
        .send(api("POST", "/api/outcomes/record", Some(reply)))
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let body = json(resp).await;
    assert_eq!(body["recorded"], false);
    assert_eq!(body["drafts_stopped"], 0);

    // A bounce suppresses the address and stops its drafts.
    let resp = env
        .send(api(
            "POST",
            "/api/outcomes/record",
            Some(json!({"outcome_type": "email_bounced", "contact_email": "bob@beta.io"})),
        ))
        .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let body = json(resp).await;
    assert_eq!(body["suppressed"], true);
    assert_eq!(body["drafts_stopped"], 1);
    assert_eq!(status(&env, &bob).await, "REJECTED");
    assert!(
        env.store
            .suppression(&EmailAddress::parse("bob@beta.io").unwrap())
            .await
            .unwrap()
            .is_some()
    );

    // An operator's own weight within the table's bounds; outside is refused.
    let resp = env
        .send(api(
            "POST",
            "/api/outcomes/record",
            Some(json!({"outcome_type": "meeting_held", "contact_email": "cy@gamma.io", "impact": 3})),
        ))
        .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    assert_eq!(json(resp).await["outcome"]["impact"], 3);
    let resp = env
        .send(api(
            "POST",
            "/api/outcomes/record",
            Some(json!({"outcome_type": "meeting_held", "contact_email": "cy@gamma.io", "impact": 11})),
        ))
        .await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn detect_makes_the_sources_one_scan_job_due_now() {
    let env = env();
    // The mailbox scan is scheduled for an hour from now.
    let later = env.now() + chrono::Duration::hours(1);
    let (scheduled, _) = env
        .store
        .enqueue(
            &OutcomeScanJob {
                source: ScanSource::Mailbox,
            }
            .to_job()
            .unwrap()
            .run_at(later),
        )
        .await
        .unwrap();

    let resp = env
        .send(api("POST", "/api/outcomes/detect/mailbox", None))
        .await;
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    let body = json(resp).await;
    assert_eq!(body["job_id"], json!(scheduled.id));
    assert_eq!(body["source"], "mailbox");
    let job = env.store.get_job(scheduled.id).await.unwrap();
    assert_eq!(job.state, JobState::Queued);
    assert_eq!(job.run_at, env.now(), "due now");

    // A source without a job yet gets one, due now; asking twice gives the same job.
    let crm = json(
        env.send(api("POST", "/api/outcomes/detect/crm", None))
            .await,
    )
    .await;
    let again = json(
        env.send(api("POST", "/api/outcomes/detect/crm", None))
            .await,
    )
    .await;
    assert_eq!(crm["job_id"], again["job_id"]);
    let jobs = env
        .store
        .list_jobs(&JobFilter {
            kind: Some(kinds::OUTCOME_SCAN.to_owned()),
            ..JobFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(jobs.len(), 2, "one job per source");
    let crm_job = jobs
        .iter()
        .find(|j| j.idempotency_key.as_deref() == Some("outcome_scan:crm"))
        .unwrap();
    assert_eq!(crm["job_id"], json!(crm_job.id));
    assert_eq!(crm_job.run_at, env.now());

    assert_eq!(
        env.send(api("POST", "/api/outcomes/detect/inbox", None))
            .await
            .status(),
        StatusCode::BAD_REQUEST
    );
    let anonymous = Request::builder()
        .method("POST")
        .uri("/api/outcomes/detect/mailbox")
        .body(Body::empty())
        .unwrap();
    assert_eq!(env.send(anonymous).await.status(), StatusCode::UNAUTHORIZED);
}
