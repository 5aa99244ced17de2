//! Outcomes over the shipped router: a recorded outcome has the effects of a detected one
//! (other pending drafts stopped, address suppressed), and "detect now" makes the source's one
//! scan job due.
#![cfg(feature = "host")]

mod webhook_support;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use salesagent::connectors::outbox::Outbox;
use salesagent::core::model::{
    Draft, DraftStatus, DraftWriter, EmailAddress, JobFilter, JobState, MessageId, kinds,
};
use salesagent::core::outcomes::{
    OutcomeScanConfig, OutcomeScanJob, OutcomeScanner, Outcomes, ScanSource, settings_keys,
};
use salesagent::core::worker::{JobKind as _, Worker, WorkerConfig};
use serde_json::json;
use std::sync::Arc;
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

/// Writes an inbound message into the outbox's `inbox/` folder, as a mail client would.
fn drop_in_inbox(dir: &std::path::Path, name: &str, headers: &str, body: &str) {
    let raw = format!(
        "{}\r\n\r\n{body}\r\n",
        headers.trim_end().replace('\n', "\r\n")
    );
    std::fs::write(dir.join("inbox").join(name), raw).unwrap();
}

#[tokio::test]
async fn detect_then_a_worker_scans_the_outbox_inbox_offline() {
    let env = env();
    let dir = std::env::temp_dir().join(format!("sa-outcomes-{}", uuid::Uuid::new_v4()));
    let outbox = Arc::new(Outbox::open(&dir).unwrap());
    let sender = EmailAddress::parse("sales@ours.io").unwrap();
    let mut sent = Draft::new(
        EmailAddress::parse("dana@delta.io").unwrap(),
        sender.clone(),
        "Your pricing question",
        "Hi Dana",
        DraftWriter::Human,
        env.now() - chrono::Duration::days(1),
    );
    sent.status = DraftStatus::Sent;
    sent.sent_at = Some(env.now() - chrono::Duration::days(1));
    sent.message_id = Some(MessageId::parse("m1@ours.io").unwrap());
    env.store
        .insert_draft(&sent, &sent.created_event("test"))
        .await
        .unwrap();
    let pending = create(&env, "dana@delta.io").await;

    let outcomes = Outcomes::new(env.store.clone(), env.clock.clone());
    let scanner =
        OutcomeScanner::new(outcomes, OutcomeScanConfig::default()).with_mailbox(outbox.clone());
    let worker = Worker::empty(
        env.store.clone(),
        env.clock.clone(),
        WorkerConfig::default(),
    )
    .with_outcome_scans(scanner);
    // The first scan starts the cursor.
    let resp = env
        .send(api("POST", "/api/outcomes/detect/mailbox", None))
        .await;
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    assert_eq!(worker.run_until_idle(1).await.unwrap().claimed(), 1);

    let date = env.now().to_rfc2822();
    drop_in_inbox(
        &dir,
        "reply.eml",
        &format!(
            "From: Dana <dana@delta.io>\nTo: sales@ours.io\nSubject: Re: Your pricing question\n\
             Date: {date}\nMessage-ID: <r1@delta.io>\nIn-Reply-To: <m1@ours.io>\n\
             References: <m1@ours.io>"
        ),
        "Thanks, can we talk on Thursday?",
    );
    let resp = env
        .send(api("POST", "/api/outcomes/detect/mailbox", None))
        .await;
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    assert_eq!(worker.run_until_idle(1).await.unwrap().claimed(), 1);
    let dana = json(
        env.send(api("GET", "/api/outcomes/contact/dana@delta.io", None))
            .await,
    )
    .await;
    let types: Vec<&str> = dana["outcomes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["outcome_type"].as_str().unwrap())
        .collect();
    assert!(types.contains(&"email_replied"), "{dana}");
    assert_eq!(status(&env, &pending).await, "REJECTED");

    // A cursor the outbox cannot use: the scan re-syncs by search and still finds a message
    // that arrived meanwhile.
    env.store
        .put_setting(settings_keys::MAILBOX_CURSOR, "4711")
        .await
        .unwrap();
    drop_in_inbox(
        &dir,
        "unsubscribe.eml",
        &format!(
            "From: eve@epsilon.io\nTo: sales@ours.io\nSubject: unsubscribe\nDate: {date}\n\
             Message-ID: <u1@epsilon.io>"
        ),
        "",
    );
    env.send(api("POST", "/api/outcomes/detect/mailbox", None))
        .await;
    assert_eq!(worker.run_until_idle(1).await.unwrap().claimed(), 1);
    assert!(
        env.store
            .suppression(&EmailAddress::parse("eve@epsilon.io").unwrap())
            .await
            .unwrap()
            .is_some()
    );
    assert_ne!(
        env.store
            .setting(settings_keys::MAILBOX_CURSOR)
            .await
            .unwrap()
            .as_deref(),
        Some("4711"),
        "a new cursor"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn recorded_outcomes_use_the_configured_impacts_and_follow_a_reload() {
    use salesagent::core::model::OutcomeType;
    use salesagent::core::outcomes::{ImpactTable, OutcomeConfig};
    let mut env = env();
    let impacts = |replied: i32| OutcomeConfig {
        impacts: ImpactTable::with_overrides([(OutcomeType::EmailReplied, replied)])
            .expect("valid impact"),
        ..OutcomeConfig::default()
    };
    env.state = env.state.clone().with_outcome_config(impacts(8));
    let record = |n: u32| {
        api(
            "POST",
            "/api/outcomes/record",
            Some(
                json!({"outcome_type": "email_replied", "contact_email": "dee@delta.io",
                "source_event_id": format!("mail:r{n}@delta.io:email_replied")}),
            ),
        )
    };
    let resp = env.send(record(1)).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    assert_eq!(
        json(resp).await["outcome"]["impact"],
        8,
        "the configured impact"
    );

    // A settings reload sets the shared cell; the next request uses the new table.
    env.state.outcome_config().set(impacts(2));
    let resp = env.send(record(2)).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    assert_eq!(
        json(resp).await["outcome"]["impact"],
        2,
        "the reloaded impact"
    );
}
