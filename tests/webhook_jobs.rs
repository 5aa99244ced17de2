//! The job queue over the operator API: dead letters listed with `?state=dead` (and `kind`,
//! `limit`), requeued with `POST /api/jobs/{id}/requeue`; bearer token required.

mod webhook_support;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use salesagent::core::model::{JobFailure, JobId, JobState, NewJob};
use std::time::Duration;
use webhook_support::{Env, api, env, json};

/// Enqueues a job of `kind` and, when `dead`, claims it and fails it permanently.
async fn job(env: &Env, kind: &str, dead: bool) -> JobId {
    let (job, _) = env
        .store
        .enqueue(&NewJob::new(kind, serde_json::json!({})))
        .await
        .unwrap();
    if dead {
        let claimed = env
            .store
            .claim("test-worker", &[kind.to_owned()], Duration::from_secs(60))
            .await
            .unwrap()
            .expect("claimable");
        assert_eq!(claimed.job.id, job.id);
        let failed = env
            .store
            .fail(
                &claimed.lease,
                &JobFailure {
                    error: format!("{kind} exploded"),
                    retryable: false,
                    retry_after: None,
                },
            )
            .await
            .unwrap();
        assert_eq!(failed.state, JobState::Dead);
    }
    job.id
}

fn ids(v: &serde_json::Value) -> Vec<String> {
    v["jobs"]
        .as_array()
        .expect("jobs array")
        .iter()
        .map(|j| j["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn dead_letters_are_listed_and_filtered() {
    let env = env();
    let dead_send = job(&env, "send", true).await;
    let dead_pipeline = job(&env, "pipeline", true).await;
    let queued = job(&env, "send", false).await;

    let resp = env.send(api("GET", "/api/jobs?state=dead", None)).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let v = json(resp).await;
    assert_eq!(
        ids(&v),
        vec![dead_send.to_string(), dead_pipeline.to_string()]
    );
    let first = &v["jobs"][0];
    assert_eq!(first["kind"], "send");
    assert_eq!(first["state"], "dead");
    assert_eq!(first["attempts"], 1);
    assert_eq!(first["last_error"], "send exploded");
    for field in ["run_at", "updated_at", "created_at", "max_attempts"] {
        assert!(!first[field].is_null(), "{field}: {first}");
    }
    assert!(first.get("payload").is_none(), "no payload in the list");

    let v = json(
        env.send(api("GET", "/api/jobs?state=dead&kind=pipeline", None))
            .await,
    )
    .await;
    assert_eq!(ids(&v), vec![dead_pipeline.to_string()]);
    let v = json(
        env.send(api("GET", "/api/jobs?state=dead&limit=1", None))
            .await,
    )
    .await;
    assert_eq!(ids(&v), vec![dead_send.to_string()]);
    let v = json(env.send(api("GET", "/api/jobs?state=queued", None)).await).await;
    assert_eq!(ids(&v), vec![queued.to_string()]);
    let v = json(env.send(api("GET", "/api/jobs", None)).await).await;
    assert_eq!(ids(&v).len(), 3);

    for bad in [
        "/api/jobs?state=zombie",
        "/api/jobs?limit=-1",
        "/api/jobs?color=red",
    ] {
        let resp = env.send(api("GET", bad, None)).await;
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{bad}");
    }
    let anonymous = env
        .send(
            Request::get("/api/jobs?state=dead")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_dead_job_is_requeued_once() {
    let env = env();
    let dead = job(&env, "send", true).await;
    let queued = job(&env, "pipeline", false).await;

    let resp = env
        .send(api("POST", &format!("/api/jobs/{dead}/requeue"), None))
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let v = json(resp).await;
    assert_eq!(v["id"], dead.to_string());
    assert_eq!(v["state"], "queued");
    assert_eq!(v["attempts"], 0);
    let stored = env.store.get_job(dead).await.unwrap();
    assert_eq!(stored.state, JobState::Queued);
    let audit = env.store.audit_entries(0, 0).await.unwrap();
    assert!(
        audit
            .iter()
            .any(|e| e.action == "job.requeue" && e.subject == format!("job:{dead}")),
        "{audit:?}"
    );

    // It is no longer dead: 409, as for any job that is not.
    for id in [dead, queued] {
        let resp = env
            .send(api("POST", &format!("/api/jobs/{id}/requeue"), None))
            .await;
        assert_eq!(resp.status(), StatusCode::CONFLICT, "{id}");
    }
    let resp = env
        .send(api(
            "POST",
            &format!("/api/jobs/{}/requeue", JobId::new()),
            None,
        ))
        .await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let resp = env
        .send(api("POST", "/api/jobs/not-a-job/requeue", None))
        .await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let anonymous = env
        .send(
            Request::post(format!("/api/jobs/{dead}/requeue"))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);

    let v = json(
        env.send(api("GET", &format!("/api/jobs/{dead}"), None))
            .await,
    )
    .await;
    assert_eq!(v["state"], "queued");
}
