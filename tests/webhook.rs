//! In-process tests of the webhook intake, jobs route and operations routes.
#![cfg(feature = "host")]

mod webhook_support;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use salesagent::core::layers::FaultInjecting;
use salesagent::core::model::{JobState, SubmissionSource, kinds};
use salesagent::core::testing::{FaultKind, Faults, ManualClock, MemoryStore};
use salesagent::host::{AppState, HostConfig};
use secrecy::SecretString;
use std::sync::Arc;
use std::time::Duration;
use webhook_support::*;

#[tokio::test]
async fn form_submission_is_stored_enqueued_and_acknowledged() {
    let env = env();
    let body = form_body("sub-1", "Ann@Acme.io");
    let resp = env
        .send(signed_post("/webhooks/forms", &body, env.now()))
        .await;
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    let v = json(resp).await;
    assert_eq!(v["duplicate"], false);
    let job_id: salesagent::core::model::JobId = v["job_id"].as_str().unwrap().parse().unwrap();
    let job = env.store.get_job(job_id).await.unwrap();
    assert_eq!(job.kind, kinds::PIPELINE);
    assert_eq!(job.state, JobState::Queued);
    assert_eq!(job.idempotency_key.as_deref(), Some("pipeline:form:sub-1"));
    let sub_id = job.payload["submission_id"].as_str().unwrap();
    assert_eq!(sub_id, v["submission_id"].as_str().unwrap());
    let stored = env
        .store
        .get_submission(sub_id.parse().unwrap())
        .await
        .unwrap();
    assert_eq!(stored.raw, body, "raw payload kept verbatim");
    assert_eq!(stored.source, SubmissionSource::Canonical);
    assert_eq!(stored.lead.email.to_string(), "Ann@acme.io");
}

#[tokio::test]
async fn redelivery_answers_the_same_job_id() {
    let env = env();
    let body = form_body("sub-dup", "bob@beta.io");
    let first = json(
        env.send(signed_post("/webhooks/forms", &body, env.now()))
            .await,
    )
    .await;
    env.clock.advance(Duration::from_secs(30));
    let resp = env
        .send(signed_post("/webhooks/forms", &body, env.now()))
        .await;
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    let second = json(resp).await;
    assert_eq!(first["job_id"], second["job_id"]);
    assert_eq!(first["submission_id"], second["submission_id"]);
    assert_eq!(second["duplicate"], true);
    let jobs = env.store.job_counts().await.unwrap();
    assert_eq!(jobs.values().sum::<u64>(), 1, "one job for two deliveries");
}

#[tokio::test]
async fn concurrent_redeliveries_make_one_job() {
    let env = env();
    let body = form_body("sub-race", "cy@gamma.io");
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let app = env.app();
        let req = signed_post("/webhooks/forms", &body, env.now());
        tasks.push(tokio::spawn(async move {
            use tower::ServiceExt as _;
            json(app.oneshot(req).await.unwrap()).await["job_id"].clone()
        }));
    }
    let mut ids = Vec::new();
    for t in tasks {
        ids.push(t.await.unwrap());
    }
    assert!(ids.iter().all(|i| *i == ids[0] && i.is_string()));
    assert_eq!(
        env.store.job_counts().await.unwrap().values().sum::<u64>(),
        1
    );
}

async fn assert_401_nothing_stored(env: &Env, req: Request<Body>) {
    let resp = env.send(req).await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let v = json(resp).await;
    assert_eq!(v["error"]["kind"], "unauthenticated");
    assert!(
        !v.to_string().contains(SECRET),
        "the secret never reaches a response"
    );
    assert_eq!(
        env.store.job_counts().await.unwrap().values().sum::<u64>(),
        0
    );
}

#[tokio::test]
async fn bad_signature_is_401() {
    let env = env();
    let body = form_body("sub-2", "ann@acme.io");
    let mut req = signed_post("/webhooks/forms", &body, env.now());
    let wrong = sign_v3(
        "another-secret",
        "POST",
        "http://hooks.example.test/webhooks/forms",
        body.as_bytes(),
        &env.now().timestamp_millis().to_string(),
    );
    req.headers_mut()
        .insert("X-HubSpot-Signature-v3", wrong.parse().unwrap());
    assert_401_nothing_stored(&env, req).await;
    // The signature covers the body: a changed body fails too.
    let req = signed_post("/webhooks/forms", &body, env.now());
    let (parts, _) = req.into_parts();
    let tampered = Request::from_parts(parts, Body::from(body.replace("ann@", "eve@")));
    assert_401_nothing_stored(&env, tampered).await;
}

#[tokio::test]
async fn stale_or_future_timestamp_is_401() {
    let env = env();
    let body = form_body("sub-3", "ann@acme.io");
    let six_minutes_ago = env.now() - chrono::TimeDelta::minutes(6);
    assert_401_nothing_stored(&env, signed_post("/webhooks/forms", &body, six_minutes_ago)).await;
    let later = env.now() + chrono::TimeDelta::minutes(5);
    assert_401_nothing_stored(&env, signed_post("/webhooks/forms", &body, later)).await;
    // Four minutes old is still fine.
    let ok = env.now() - chrono::TimeDelta::minutes(4);
    let resp = env.send(signed_post("/webhooks/forms", &body, ok)).await;
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
}

#[tokio::test]
async fn truncated_missing_or_garbage_headers_are_401() {
    let env = env();
    let body = form_body("sub-4", "ann@acme.io");
    let mut req = signed_post("/webhooks/forms", &body, env.now());
    let sig = req.headers()["x-hubspot-signature-v3"]
        .to_str()
        .unwrap()
        .to_owned();
    req.headers_mut().insert(
        "x-hubspot-signature-v3",
        sig[..sig.len() - 5].parse().unwrap(),
    );
    assert_401_nothing_stored(&env, req).await;

    let mut req = signed_post("/webhooks/forms", &body, env.now());
    req.headers_mut().remove("x-hubspot-signature-v3");
    assert_401_nothing_stored(&env, req).await;

    let mut req = signed_post("/webhooks/forms", &body, env.now());
    req.headers_mut().remove("x-hubspot-request-timestamp");
    assert_401_nothing_stored(&env, req).await;

    let mut req = signed_post("/webhooks/forms", &body, env.now());
    req.headers_mut()
        .insert("x-hubspot-request-timestamp", "yesterday".parse().unwrap());
    assert_401_nothing_stored(&env, req).await;

    let mut req = signed_post("/webhooks/forms", &body, env.now());
    req.headers_mut()
        .insert("x-hubspot-signature-v3", "%%%not base64".parse().unwrap());
    assert_401_nothing_stored(&env, req).await;

    // v1 is not accepted on the forms route.
    let mut req = signed_post("/webhooks/forms", &body, env.now());
    req.headers_mut().remove("x-hubspot-signature-v3");
    req.headers_mut()
        .insert("x-hubspot-signature", "00".repeat(32).parse().unwrap());
    assert_401_nothing_stored(&env, req).await;
}

#[tokio::test]
async fn public_url_is_what_gets_signed() {
    let env = env_with(HostConfig {
        public_url: Some("https://leads.example.com/".to_owned()),
        ..config()
    });
    let body = form_body("sub-5", "ann@acme.io");
    // Signed for the Host header's URL: wrong when a public URL is configured.
    assert_401_nothing_stored(&env, signed_post("/webhooks/forms", &body, env.now())).await;
    let ts = env.now().timestamp_millis().to_string();
    let sig = sign_v3(
        SECRET,
        "POST",
        "https://leads.example.com/webhooks/forms?src=hs",
        body.as_bytes(),
        &ts,
    );
    let req = Request::post("/webhooks/forms?src=hs")
        .header(header::HOST, "internal:8080")
        .header("X-HubSpot-Signature-v3", sig)
        .header("X-HubSpot-Request-Timestamp", ts)
        .body(Body::from(body))
        .unwrap();
    assert_eq!(env.send(req).await.status(), StatusCode::ACCEPTED);
}

#[tokio::test]
async fn unsigned_intake_needs_a_secret_or_explicit_opt_in() {
    let no_secret = HostConfig {
        hubspot_secret: None,
        ..config()
    };
    let env = env_with(no_secret.clone());
    let body = form_body("sub-6", "ann@acme.io");
    assert_401_nothing_stored(&env, signed_post("/webhooks/forms", &body, env.now())).await;
    let env = env_with(HostConfig {
        allow_unsigned: true,
        ..no_secret
    });
    let req = Request::post("/webhooks/forms")
        .body(Body::from(body))
        .unwrap();
    assert_eq!(env.send(req).await.status(), StatusCode::ACCEPTED);
}

#[tokio::test]
async fn oversize_body_is_413() {
    let env = env();
    let big = format!(
        "{{\"submission_id\":\"big\",\"submitted_at\":\"2026-11-25T09:12:00Z\",\"fields\":{{\"email\":\"a@b.io\",\"message\":\"{}\"}}}}",
        "x".repeat(salesagent::host::MAX_BODY_BYTES)
    );
    let resp = env
        .send(signed_post("/webhooks/forms", &big, env.now()))
        .await;
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(json(resp).await["error"]["kind"], "payload_too_large");
    assert_eq!(
        env.store.job_counts().await.unwrap().values().sum::<u64>(),
        0
    );
}

#[tokio::test]
async fn malformed_bodies_are_400_with_a_json_error() {
    let env = env();
    for (i, body) in [
        "{".to_owned(),
        "[]".to_owned(),
        "{\"submission_id\":\"x\"}".to_owned(),
        form_body("sub-7", "not-an-email"),
        form_body("", "ann@acme.io"),
        form_body("sub-8", "ann@acme.io\r\nBcc: eve@evil.io"),
    ]
    .into_iter()
    .enumerate()
    {
        let resp = env
            .send(signed_post("/webhooks/forms", &body, env.now()))
            .await;
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "case {i}: {body}");
        let v = json(resp).await;
        assert_eq!(v["error"]["kind"], "invalid_input", "case {i}");
        assert!(
            v["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
    }
    // Not UTF-8.
    let bytes = [0xff_u8, 0xfe, b'{'];
    let ts = env.now().timestamp_millis().to_string();
    let sig = sign_v3(
        SECRET,
        "POST",
        &format!("http://{HOST}/webhooks/forms"),
        &bytes,
        &ts,
    );
    let req = Request::post("/webhooks/forms")
        .header(header::HOST, HOST)
        .header("X-HubSpot-Signature-v3", sig)
        .header("X-HubSpot-Request-Timestamp", ts)
        .body(Body::from(bytes.to_vec()))
        .unwrap();
    assert_eq!(env.send(req).await.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        env.store.job_counts().await.unwrap().values().sum::<u64>(),
        0
    );
}

#[tokio::test]
async fn store_outage_is_503_not_a_lost_ack() {
    let clock = Arc::new(ManualClock::new(ManualClock::default_start()));
    let faults = Faults::seeded(1);
    let store: salesagent::core::ports::DynStore = Arc::new(FaultInjecting::new(
        MemoryStore::new(clock.clone()),
        faults.clone(),
    ));
    let state = AppState::new(store.clone(), clock.clone(), config());
    let env = Env {
        clock,
        store,
        state,
    };
    faults.fail_next(1, &FaultKind::Unavailable);
    let body = form_body("sub-9", "ann@acme.io");
    let resp = env
        .send(signed_post("/webhooks/forms", &body, env.now()))
        .await;
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(resp.headers().contains_key(header::RETRY_AFTER));
    // HubSpot retries; the retry succeeds.
    let resp = env
        .send(signed_post("/webhooks/forms", &body, env.now()))
        .await;
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
}

#[tokio::test]
async fn job_route_reports_state_and_needs_the_token() {
    let env = env();
    let v = json(
        env.send(signed_post(
            "/webhooks/forms",
            &form_body("sub-10", "ann@acme.io"),
            env.now(),
        ))
        .await,
    )
    .await;
    let id = v["job_id"].as_str().unwrap();
    let resp = env.send(api("GET", &format!("/api/jobs/{id}"), None)).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let job = json(resp).await;
    assert_eq!(job["state"], "queued");
    assert_eq!(job["attempts"], 0);
    assert!(job["last_error"].is_null());

    let req = Request::get(format!("/api/jobs/{id}"))
        .body(Body::empty())
        .unwrap();
    let resp = env.send(req).await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert!(resp.headers().contains_key(header::WWW_AUTHENTICATE));
    let req = Request::get(format!("/api/jobs/{id}"))
        .header(header::AUTHORIZATION, "Bearer wrong-token")
        .body(Body::empty())
        .unwrap();
    assert_eq!(env.send(req).await.status(), StatusCode::UNAUTHORIZED);

    let unknown = salesagent::core::model::JobId::new();
    assert_eq!(
        env.send(api("GET", &format!("/api/jobs/{unknown}"), None))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        env.send(api("GET", "/api/jobs/not-a-uuid", None))
            .await
            .status(),
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn health_readiness_and_unknown_routes() {
    let env = env();
    let resp = env
        .send(Request::get("/healthz").body(Body::empty()).unwrap())
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(json(resp).await["status"], "ok");
    let resp = env
        .send(Request::get("/readyz").body(Body::empty()).unwrap())
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let resp = env
        .send(Request::get("/nope").body(Body::empty()).unwrap())
        .await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    assert_eq!(json(resp).await["error"]["kind"], "not_found");
    let resp = env
        .send(Request::get("/webhooks/forms").body(Body::empty()).unwrap())
        .await;
    assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn readiness_fails_when_the_store_is_down() {
    let clock = Arc::new(ManualClock::new(ManualClock::default_start()));
    let faults = Faults::seeded(2);
    let store = Arc::new(FaultInjecting::new(
        MemoryStore::new(clock.clone()),
        faults.clone(),
    ));
    let state = AppState::new(store, clock, config());
    faults.fail_next(1, &FaultKind::Unavailable);
    use tower::ServiceExt as _;
    let resp = salesagent::host::app(state)
        .oneshot(Request::get("/readyz").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(json(resp).await["status"], "not_ready");
}

#[tokio::test]
async fn metrics_are_prometheus_text() {
    let env = env();
    env.send(signed_post(
        "/webhooks/forms",
        &form_body("sub-11", "ann@acme.io"),
        env.now(),
    ))
    .await;
    let resp = env
        .send(Request::get("/metrics").body(Body::empty()).unwrap())
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(
        resp.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = text(resp).await;
    for needle in [
        "http_requests_total{",
        "route=\"/webhooks/forms\"",
        "http_request_duration_seconds_bucket{",
        "salesagent_jobs{state=\"queued\"}",
        "salesagent_drafts{status=\"PENDING\"}",
        "salesagent_webhook_submissions_total{",
        "salesagent_kill_switch",
    ] {
        assert!(text.contains(needle), "missing {needle} in\n{text}");
    }
}

#[test]
fn config_debug_never_prints_secrets() {
    let c = HostConfig {
        hubspot_secret: Some(SecretString::from("hs-secret-value".to_owned())),
        operator_token: Some(SecretString::from("op-token-value".to_owned())),
        ..HostConfig::default()
    };
    let s = format!("{c:?}");
    assert!(
        !s.contains("hs-secret-value") && !s.contains("op-token-value"),
        "{s}"
    );
}

// ---- POST /webhooks/hubspot -------------------------------------------------------------

const WORKFLOW: &str = r#"{"vid":501,"properties":{"email":{"value":"ann@acme.io"},"firstname":{"value":"Ann"},"company":{"value":"Acme"},"recent_conversion_date":{"value":"1764000000000"}}}"#;

const EVENTS: &str = r#"[{"eventId":1,"subscriptionId":12345,"portalId":62515,"occurredAt":1764000000000,"subscriptionType":"contact.creation","attemptNumber":0,"objectId":123,"changeSource":"FORM","changeFlag":"NEW","appId":54321},
{"eventId":2,"subscriptionId":12346,"portalId":62515,"occurredAt":1764000000000,"subscriptionType":"company.creation","attemptNumber":0,"objectId":9,"changeSource":"CRM","appId":54321}]"#;

#[tokio::test]
async fn hubspot_workflow_payload_is_stored_enqueued_and_redelivery_same_job() {
    let env = env();
    let resp = env
        .send(signed_post("/webhooks/hubspot", WORKFLOW, env.now()))
        .await;
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    let v = json(resp).await;
    assert_eq!(v["duplicate"], false);
    let job_id: salesagent::core::model::JobId = v["job_id"].as_str().unwrap().parse().unwrap();
    let job = env.store.get_job(job_id).await.unwrap();
    assert_eq!(job.kind, kinds::PIPELINE);
    assert_eq!(
        job.idempotency_key.as_deref(),
        Some("pipeline:hubspot-workflow:501:1764000000000")
    );
    let stored = env
        .store
        .get_submission(v["submission_id"].as_str().unwrap().parse().unwrap())
        .await
        .unwrap();
    assert_eq!(stored.raw, WORKFLOW, "raw payload kept verbatim");
    assert_eq!(stored.source, SubmissionSource::HubspotWorkflow);
    assert_eq!(stored.lead.email.to_string(), "ann@acme.io");
    assert_eq!(stored.lead.company.as_deref(), Some("Acme"));

    env.clock.advance(Duration::from_secs(60));
    let again = env
        .send(signed_post("/webhooks/hubspot", WORKFLOW, env.now()))
        .await;
    assert_eq!(again.status(), StatusCode::ACCEPTED);
    let again = json(again).await;
    assert_eq!(again["job_id"], v["job_id"]);
    assert_eq!(again["duplicate"], true);
    assert_eq!(
        env.store.job_counts().await.unwrap().values().sum::<u64>(),
        1
    );
}

#[tokio::test]
async fn hubspot_event_array_enqueues_one_job_per_contact_event() {
    let env = env();
    let resp = env
        .send(signed_post("/webhooks/hubspot", EVENTS, env.now()))
        .await;
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    let v = json(resp).await;
    assert_eq!(v["ignored"], 1, "{v}");
    assert_eq!(v["duplicates"], 0, "{v}");
    let ids = v["job_ids"].as_array().unwrap();
    assert_eq!(ids.len(), 1, "{v}");
    assert_eq!(v["job_id"], ids[0]);
    let job = env
        .store
        .get_job(ids[0].as_str().unwrap().parse().unwrap())
        .await
        .unwrap();
    assert_eq!(job.kind, kinds::CRM_CONTACT_EVENT);
    assert_eq!(job.state, JobState::Queued);
    assert_eq!(
        job.idempotency_key.as_deref(),
        Some("hubspot-event:12345:1")
    );
    assert_eq!(job.payload["contact_id"], "123");
    assert_eq!(job.payload["idempotency_key"], "hubspot-event:12345:1");
    assert_eq!(
        job.payload["occurred_at"].as_str().map(|t| t
            .parse::<chrono::DateTime<chrono::Utc>>()
            .unwrap()
            .timestamp_millis()),
        Some(1_764_000_000_000)
    );
    let raw = job.payload["raw"].as_str().unwrap();
    assert!(
        raw.starts_with(r#"{"eventId":1,"#) && raw.ends_with('}'),
        "{raw}"
    );
    // No submission yet: the CRM is read by a worker, never at intake.
    assert_eq!(
        env.store.job_counts().await.unwrap().values().sum::<u64>(),
        1
    );

    // HubSpot retries with a higher attemptNumber: same event, same job.
    env.clock.advance(Duration::from_secs(30));
    let retry = EVENTS.replace(r#""attemptNumber":0"#, r#""attemptNumber":1"#);
    let again = json(
        env.send(signed_post("/webhooks/hubspot", &retry, env.now()))
            .await,
    )
    .await;
    assert_eq!(again["job_ids"], v["job_ids"]);
    assert_eq!(again["duplicates"], 1);
    assert_eq!(
        env.store.job_counts().await.unwrap().values().sum::<u64>(),
        1
    );
}

#[tokio::test]
async fn hubspot_array_with_nothing_usable_is_acknowledged_without_jobs() {
    let env = env();
    for (body, ignored) in [
        (
            r#"[{"eventId":5,"subscriptionId":1,"occurredAt":1764000000000,"subscriptionType":"contact.deletion","objectId":7},"not an event"]"#,
            2,
        ),
        ("[]", 0),
    ] {
        let resp = env
            .send(signed_post("/webhooks/hubspot", body, env.now()))
            .await;
        assert_eq!(resp.status(), StatusCode::ACCEPTED, "{body}");
        let v = json(resp).await;
        assert_eq!(v["job_ids"], serde_json::json!([]), "{body}");
        assert_eq!(v["ignored"], ignored, "{body}");
        assert!(v.get("job_id").is_none(), "{v}");
    }
    assert_eq!(
        env.store.job_counts().await.unwrap().values().sum::<u64>(),
        0
    );
}

#[tokio::test]
async fn hubspot_bad_signature_is_401() {
    let env = env();
    let mut req = signed_post("/webhooks/hubspot", EVENTS, env.now());
    req.headers_mut().insert(
        "x-hubspot-signature-v3",
        sign_v3(
            "wrong-secret",
            "POST",
            &format!("http://{HOST}/webhooks/hubspot"),
            EVENTS.as_bytes(),
            &env.now().timestamp_millis().to_string(),
        )
        .parse()
        .unwrap(),
    );
    assert_401_nothing_stored(&env, req).await;
    // Signed for another route.
    let mut req = signed_post("/webhooks/forms", EVENTS, env.now());
    *req.uri_mut() = "/webhooks/hubspot".parse().unwrap();
    assert_401_nothing_stored(&env, req).await;
}

#[tokio::test]
async fn hubspot_malformed_bodies_are_400_with_a_json_error() {
    let env = env();
    for body in [
        "{",
        "[{\"eventId\":1",
        "42",
        "\"text\"",
        r#"{"vid":1,"properties":{"firstname":{"value":"Ann"}}}"#,
        r#"{"email":"not-an-email"}"#,
        r#"{"email":"ann@acme.io\r\nBcc: eve@evil.io"}"#,
    ] {
        let resp = env
            .send(signed_post("/webhooks/hubspot", body, env.now()))
            .await;
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{body}");
        let v = json(resp).await;
        assert_eq!(v["error"]["kind"], "invalid_input", "{body}");
    }
    assert_eq!(
        env.store.job_counts().await.unwrap().values().sum::<u64>(),
        0
    );
}
