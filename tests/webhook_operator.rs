//! In-process tests of the operator API: drafts, queue, outcomes, kill switch, rate limit.
#![cfg(feature = "host")]

mod webhook_support;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use salesagent::core::model::DraftStatus;
use salesagent::core::ports::SettingsExt as _;
use salesagent::host::{HostConfig, RateLimit};
use serde_json::json;
use webhook_support::*;

fn new_draft(email: &str, priority: f64) -> serde_json::Value {
    json!({
        "contact_email": email,
        "contact_name": "Ann Example",
        "company_name": "Acme",
        "sender": "sales@ours.io",
        "subject": "Your pricing question",
        "body": "Hi Ann,\n\nthanks for asking.\n",
        "priority": priority
    })
}

async fn create(env: &Env, email: &str, priority: f64) -> serde_json::Value {
    let resp = env
        .send(api("POST", "/api/drafts", Some(new_draft(email, priority))))
        .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    json(resp).await
}

#[tokio::test]
async fn create_list_get_edit_approve() {
    let env = env();
    let low = create(&env, "low@acme.io", 10.0).await;
    let high = create(&env, "high@acme.io", 90.0).await;
    assert_eq!(high["status"], "PENDING");
    assert_eq!(high["version"], 1);

    let q = json(
        env.send(api("GET", "/api/operator/drafts/pending", None))
            .await,
    )
    .await;
    assert_eq!(q["count"], 2);
    assert_eq!(q["drafts"][0]["id"], high["id"], "highest priority first");
    assert_eq!(q["drafts"][1]["id"], low["id"]);

    let id = high["id"].as_str().unwrap();
    let got = json(
        env.send(api("GET", &format!("/api/drafts/{id}"), None))
            .await,
    )
    .await;
    assert_eq!(got["draft"]["subject"], "Your pricing question");
    assert_eq!(got["events"].as_array().unwrap().len(), 1);

    // A stale version loses.
    let resp = env
        .send(api(
            "PATCH",
            &format!("/api/drafts/{id}"),
            Some(json!({"version": 7, "subject": "New"})),
        ))
        .await;
    assert_eq!(resp.status(), StatusCode::CONFLICT);
    let resp = env
        .send(api(
            "PATCH",
            &format!("/api/drafts/{id}"),
            Some(json!({"version": 1, "subject": "Re: pricing"})),
        ))
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let edited = json(resp).await;
    assert_eq!(edited["version"], 2);
    assert_eq!(edited["subject"], "Re: pricing");
    // Header injection through the subject is refused.
    let resp = env
        .send(api(
            "PATCH",
            &format!("/api/drafts/{id}"),
            Some(json!({"version": 2, "subject": "x\r\nBcc: eve@evil.io"})),
        ))
        .await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    // Nothing to change.
    let resp = env
        .send(api(
            "PATCH",
            &format!("/api/drafts/{id}"),
            Some(json!({"version": 2})),
        ))
        .await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);

    let resp = env
        .send(api(
            "POST",
            &format!("/api/operator/drafts/{id}/approve"),
            Some(json!({"version": 2})),
        ))
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(json(resp).await["status"], "APPROVED");
    let stored = env.store.get_draft(id.parse().unwrap()).await.unwrap();
    assert_eq!(stored.status, DraftStatus::Approved);
    // Approving twice is a conflict, not a second approval.
    let resp = env
        .send(api(
            "POST",
            &format!("/api/operator/drafts/{id}/approve"),
            None,
        ))
        .await;
    assert_eq!(resp.status(), StatusCode::CONFLICT);
    let audit = env.store.audit_entries(0, 0).await.unwrap();
    assert!(
        audit
            .iter()
            .any(|e| e.action == "draft.approve" && e.subject == id)
    );

    let q = json(
        env.send(api("GET", "/api/operator/drafts/pending", None))
            .await,
    )
    .await;
    assert_eq!(q["count"], 1);
}

#[tokio::test]
async fn reject_needs_a_reason() {
    let env = env();
    let d = create(&env, "ann@acme.io", 1.0).await;
    let id = d["id"].as_str().unwrap();
    let path = format!("/api/operator/drafts/{id}/reject");
    assert_eq!(
        env.send(api("POST", &path, None)).await.status(),
        StatusCode::BAD_REQUEST
    );
    let resp = env
        .send(api(
            "POST",
            &path,
            Some(json!({"reason": "not a fit", "version": 1})),
        ))
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let v = json(resp).await;
    assert_eq!(v["status"], "REJECTED");
    assert_eq!(v["status_reason"], "not a fit");
}

#[tokio::test]
async fn unknown_and_malformed_drafts() {
    let env = env();
    let unknown = salesagent::core::model::DraftId::new();
    for (m, p) in [
        ("GET", format!("/api/drafts/{unknown}")),
        ("POST", format!("/api/operator/drafts/{unknown}/approve")),
    ] {
        let resp = env.send(api(m, &p, None)).await;
        assert_eq!(resp.status(), StatusCode::NOT_FOUND, "{m} {p}");
        assert_eq!(json(resp).await["error"]["kind"], "not_found");
    }
    assert_eq!(
        env.send(api("GET", "/api/drafts/xyz", None)).await.status(),
        StatusCode::BAD_REQUEST
    );
    // Malformed JSON bodies.
    let req = Request::post("/api/drafts")
        .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
        .body(Body::from("{\"contact_email\":"))
        .unwrap();
    let resp = env.send(req).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(json(resp).await["error"]["kind"], "invalid_input");
    let mut bad = new_draft("not-an-email", 1.0);
    assert_eq!(
        env.send(api("POST", "/api/drafts", Some(bad.clone())))
            .await
            .status(),
        StatusCode::BAD_REQUEST
    );
    bad["contact_email"] = json!("ann@acme.io");
    bad["subject"] = json!("");
    assert_eq!(
        env.send(api("POST", "/api/drafts", Some(bad)))
            .await
            .status(),
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn wrong_or_missing_token_is_401_everywhere() {
    let env = env();
    for path in [
        "/api/operator/drafts/pending",
        "/api/outcomes/types",
        "/api/operator/kill-switch",
    ] {
        let resp = env
            .send(Request::get(path).body(Body::empty()).unwrap())
            .await;
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "{path}");
        let req = Request::get(path)
            .header(header::AUTHORIZATION, format!("Bearer {TOKEN}x"))
            .body(Body::empty())
            .unwrap();
        assert_eq!(
            env.send(req).await.status(),
            StatusCode::UNAUTHORIZED,
            "{path}"
        );
        let req = Request::get(path)
            .header(header::AUTHORIZATION, format!("Basic {TOKEN}"))
            .body(Body::empty())
            .unwrap();
        assert_eq!(
            env.send(req).await.status(),
            StatusCode::UNAUTHORIZED,
            "{path}"
        );
    }
    // Without a configured token the API is closed.
    let closed = env_with(HostConfig {
        operator_token: None,
        ..config()
    });
    let resp = closed
        .send(api("GET", "/api/operator/drafts/pending", None))
        .await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn outcomes_routes() {
    let env = env();
    let types = json(env.send(api("GET", "/api/outcomes/types", None)).await).await;
    assert_eq!(types["types"].as_array().unwrap().len(), 20);
    let rec = json!({"outcome_type": "meeting_booked", "contact_email": "ann@acme.io", "source_event_id": "cal:1"});
    let resp = env
        .send(api("POST", "/api/outcomes/record", Some(rec.clone())))
        .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    assert_eq!(json(resp).await["outcome"]["impact"], 8);
    let resp = env
        .send(api("POST", "/api/outcomes/record", Some(rec)))
        .await;
    assert_eq!(resp.status(), StatusCode::OK, "same event recorded once");
    assert_eq!(json(resp).await["recorded"], false);
    let resp = env
        .send(api(
            "POST",
            "/api/outcomes/record",
            Some(json!({"outcome_type": "email_replied", "contact_email": "bob@beta.io"})),
        ))
        .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let bad = json!({"outcome_type": "party", "contact_email": "ann@acme.io"});
    assert_eq!(
        env.send(api("POST", "/api/outcomes/record", Some(bad)))
            .await
            .status(),
        StatusCode::BAD_REQUEST
    );

    let stats = json(env.send(api("GET", "/api/outcomes/stats", None)).await).await;
    assert_eq!(stats["total"], 2);
    assert_eq!(stats["total_impact"], 13);
    assert_eq!(stats["by_type"]["meeting_booked"]["count"], 1);
    let recent = json(
        env.send(api("GET", "/api/outcomes/recent?limit=1", None))
            .await,
    )
    .await;
    assert_eq!(recent["outcomes"].as_array().unwrap().len(), 1);
    assert_eq!(
        env.send(api("GET", "/api/outcomes/recent?limit=x", None))
            .await
            .status(),
        StatusCode::BAD_REQUEST
    );
    let ann = json(
        env.send(api("GET", "/api/outcomes/contact/ann@acme.io", None))
            .await,
    )
    .await;
    assert_eq!(ann["outcomes"].as_array().unwrap().len(), 1);
    assert_eq!(ann["outcomes"][0]["outcome_type"], "meeting_booked");
    assert_eq!(
        env.send(api("GET", "/api/outcomes/contact/nope", None))
            .await
            .status(),
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn kill_switch_round_trip() {
    let env = env();
    let v = json(
        env.send(api("GET", "/api/operator/kill-switch", None))
            .await,
    )
    .await;
    assert_eq!(v["on"], false);
    let resp = env
        .send(api(
            "POST",
            "/api/operator/kill-switch",
            Some(json!({"on": true})),
        ))
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(env.store.kill_switch().await.unwrap());
    let v = json(
        env.send(api("GET", "/api/operator/kill-switch", None))
            .await,
    )
    .await;
    assert_eq!(v["on"], true);
    let resp = env
        .send(api(
            "POST",
            "/api/operator/kill-switch",
            Some(json!({"on": "maybe"})),
        ))
        .await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn clients_are_rate_limited() {
    let env = env_with(HostConfig {
        rate_limit: RateLimit {
            burst: 3,
            per_minute: 60,
        },
        ..config()
    });
    for _ in 0..3 {
        assert_eq!(
            env.send(api("GET", "/api/outcomes/types", None))
                .await
                .status(),
            StatusCode::OK
        );
    }
    let resp = env.send(api("GET", "/api/outcomes/types", None)).await;
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(resp.headers()[header::RETRY_AFTER], "1");
    // Intake is not limited per client (HubSpot delivers in bursts from few addresses).
    let resp = env
        .send(signed_post(
            "/webhooks/forms",
            &form_body("rl-1", "ann@acme.io"),
            env.now(),
        ))
        .await;
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    env.clock.advance(std::time::Duration::from_secs(2));
    assert_eq!(
        env.send(api("GET", "/api/outcomes/types", None))
            .await
            .status(),
        StatusCode::OK
    );
}
