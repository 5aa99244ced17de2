//! Follow-up sequences over the operator API: `GET /api/sequences/{email}` shows a contact's
//! state, `POST /api/sequences/{email}/stop` stops it by hand (recorded), the list and the
//! per-step figures; bearer token required.

use crate::webhook_support::{Env, api, env, json};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use salesagent::core::model::{Draft, DraftWriter, EmailAddress, MessageId};
use salesagent::core::sequences::{self, SequenceConfig};

/// A sent first e-mail to `to`, recorded as the sender would, enrolling the contact.
async fn enrolled(env: &Env, to: &str) {
    sequences::activate(env.store.as_ref(), &SequenceConfig::default())
        .await
        .unwrap();
    let mut d = Draft::new(
        EmailAddress::parse(to).unwrap(),
        EmailAddress::parse("sam@seller.dev").unwrap(),
        "Hello",
        "Hi,\n\nshort demo?\n\nSam",
        DraftWriter::Human,
        env.now(),
    );
    d.status = salesagent::core::model::DraftStatus::Sent;
    d.message_id = Some(MessageId::parse("first-1@mail.seller.dev").unwrap());
    d.sent_at = Some(env.now());
    env.store
        .insert_draft(&d, &d.created_event("test"))
        .await
        .unwrap();
    sequences::on_sent(env.store.as_ref(), d.id, env.now())
        .await
        .unwrap();
}

#[tokio::test]
async fn a_contacts_sequence_is_shown_and_stopped_by_hand() {
    let env = env();
    enrolled(&env, "ann@acme.test").await;

    let unauthenticated = Request::builder()
        .uri("/api/sequences/ann@acme.test")
        .body(Body::empty())
        .unwrap();
    assert_eq!(
        env.send(unauthenticated).await.status(),
        StatusCode::UNAUTHORIZED
    );

    let resp = env
        .send(api("GET", "/api/sequences/ANN@acme.test", None))
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let v = json(resp).await;
    assert_eq!(v["status"], "active");
    assert_eq!(v["sent_steps"], 0);
    assert!(v["next_due"].is_string(), "{v}");
    assert_eq!(v["plan"].as_array().unwrap().len(), 3);

    let resp = env
        .send(api("POST", "/api/sequences/ann@acme.test/stop", None))
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let v = json(resp).await;
    assert_eq!(v["status"], "stopped");
    assert_eq!(v["stop_reason"]["reason"], "manual");
    assert!(
        v["stop_reason"]["actor"]
            .as_str()
            .unwrap()
            .starts_with("operator:")
    );

    let v = json(
        env.send(api("GET", "/api/sequences?status=stopped", None))
            .await,
    )
    .await;
    assert_eq!(v["sequences"].as_array().unwrap().len(), 1);
    let v = json(env.send(api("GET", "/api/sequences/stats", None)).await).await;
    assert_eq!(v["by_status"]["stopped"], 1);
    assert_eq!(v["steps"][0]["sent"], 1);
    assert_eq!(v["steps"][0]["stopped"]["manual"], 1);

    let audit = env.store.audit_entries(0, 100).await.unwrap();
    assert!(audit.iter().any(|e| e.action == "sequence.stop"));
}

#[tokio::test]
async fn unknown_contacts_and_bad_addresses_are_refused() {
    let env = env();
    let resp = env
        .send(api("GET", "/api/sequences/nobody@acme.test", None))
        .await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let resp = env
        .send(api("POST", "/api/sequences/nobody@acme.test/stop", None))
        .await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let resp = env
        .send(api("GET", "/api/sequences/not-an-address", None))
        .await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let resp = env
        .send(api("GET", "/api/sequences?status=bogus", None))
        .await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
}
