//! `examples/embed_axum.rs` driven in-process: the application's own routes and auth work,
//! a signed form submission to the mounted intake is accepted, and a worker in the same
//! process drains it into a draft stored next to the application's table in one database.
#![cfg(feature = "host")]

#[path = "../examples/embed_axum.rs"]
#[allow(dead_code)]
mod embed_axum;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use base64::Engine as _;
use embed_axum::{EmbedConfig, Embedded, MOUNT, build};
use hmac::{Hmac, KeyInit, Mac};
use salesagent::core::model::EmailAddress;
use salesagent::core::ports::{Clock as _, DraftFilter, DraftStore as _};
use salesagent::core::testing::ManualClock;
use salesagent::host::HostConfig;
use salesagent::store::EncryptionKey;
use secrecy::SecretString;
use sha2::Sha256;
use std::path::Path;
use std::sync::Arc;
use tower::ServiceExt as _;

const SECRET: &str = "hubspot-client-secret";
const PUBLIC: &str = "https://app.example.test";

async fn embedded(url: String) -> (Embedded, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(ManualClock::default_start()));
    let config = EmbedConfig {
        database_url: url,
        public_url: PUBLIC.to_owned(),
        app_api_key: SecretString::from("app-key-1"),
        host: HostConfig {
            hubspot_secret: Some(SecretString::from(SECRET)),
            operator_token: Some(SecretString::from("operator-token")),
            ..HostConfig::default()
        },
        encryption_key: Some(EncryptionKey::from_bytes([9; 32])),
        clock: clock.clone(),
        sender: EmailAddress::parse("sam@example.com").unwrap(),
    };
    (build(config).await.expect("the embedded service"), clock)
}

fn sqlite_url() -> String {
    let path = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("embed-axum-{}.db", uuid::Uuid::new_v4().simple()));
    format!("sqlite://{}?mode=rwc", path.display())
}

/// HubSpot v3, from HubSpot's published recipe: base64(HMAC-SHA256(method + uri + body + ts)).
fn signed_form(body: &str, at_ms: i64) -> Request<Body> {
    signed("/webhooks/forms", body, at_ms)
}

/// A POST to `{MOUNT}{route}`, signed over the full public URL HubSpot calls (prefix
/// included): `public_url` is the bare origin.
fn signed(route: &str, body: &str, at_ms: i64) -> Request<Body> {
    signed_as(&format!("{PUBLIC}{MOUNT}{route}"), route, body, at_ms)
}

/// A POST to `{MOUNT}{route}` whose signature covers `uri`.
fn signed_as(uri: &str, route: &str, body: &str, at_ms: i64) -> Request<Body> {
    let ts = at_ms.to_string();
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    for part in [
        b"POST".as_slice(),
        uri.as_bytes(),
        body.as_bytes(),
        ts.as_bytes(),
    ] {
        mac.update(part);
    }
    let sig = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    Request::post(format!("{MOUNT}{route}"))
        .header(header::HOST, "app.example.test")
        .header(header::CONTENT_TYPE, "application/json")
        .header("X-HubSpot-Signature-v3", sig)
        .header("X-HubSpot-Request-Timestamp", ts)
        .body(Body::from(body.to_owned()))
        .unwrap()
}

async fn call(e: &Embedded, req: Request<Body>) -> (StatusCode, serde_json::Value) {
    let resp = e.router.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
    )
}

fn get(path: &str, key: Option<&str>) -> Request<Body> {
    let mut r = Request::get(path);
    if let Some(k) = key {
        r = r.header("x-api-key", k);
    }
    r.body(Body::empty()).unwrap()
}

const FORM: &str = r#"{
  "submission_id": "embed-0001",
  "form_id": "contact-sales",
  "submitted_at": "2026-11-25T09:12:00Z",
  "fields": {"email": "ann.lee@acme-robotics.com", "firstname": "Ann", "company": "Acme Robotics"}
}"#;

async fn embedded_service_end_to_end(url: String) {
    let (e, clock) = embedded(url).await;
    sqlx::query(
        "INSERT INTO app_customers (id, name, email) VALUES (1, 'Globex', 'ops@globex.example')",
    )
    .execute(&e.pool)
    .await
    .unwrap();

    // The application's own route, behind its own auth.
    let (status, _) = call(&e, get("/api/customers", None)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = call(&e, get("/api/customers", Some("wrong-key-"))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, body) = call(&e, get("/api/customers", Some("app-key-1"))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body[0]["name"], "Globex");

    // salesagent under the prefix, not behind the application's key.
    let (status, body) = call(&e, get(&format!("{MOUNT}/readyz"), None)).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // The operator web page, reachable at the absolute paths it links to.
    let resp = e
        .router
        .clone()
        .oneshot(get("/operator/login", None))
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let page = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .unwrap();
    let page = String::from_utf8_lossy(&page);
    assert!(page.contains("action=\"/operator/login\""), "{page}");
    // The operator API under the prefix, behind salesagent's token, not the application's.
    let pending = format!("{MOUNT}/api/operator/drafts/pending");
    let (status, _) = call(&e, get(&pending, Some("app-key-1"))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // An unsigned submission is refused; a signed one is accepted as a durable job.
    let unsigned = Request::post(format!("{MOUNT}/webhooks/forms"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(FORM))
        .unwrap();
    let (status, _) = call(&e, unsigned).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let now_ms = clock.now().timestamp_millis();
    let (status, accepted) = call(&e, signed_form(FORM, now_ms)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    assert_eq!(accepted["duplicate"], false);
    // The HubSpot route under the prefix checks the same full URL: an event batch with only a
    // company event is acknowledged with no job.
    let batch = r#"[{"eventId":9,"subscriptionId":5,"portalId":1,"occurredAt":1764000000000,"subscriptionType":"company.creation","attemptNumber":0,"objectId":77,"changeSource":"CRM"}]"#;
    let (status, events) = call(&e, signed("/webhooks/hubspot", batch, now_ms)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{events}");
    assert_eq!(events["job_ids"], serde_json::json!([]));
    assert_eq!(events["ignored"], 1);
    // A signature over the URL without the prefix does not match the URL called.
    let wrong = format!("{PUBLIC}/webhooks/hubspot");
    let (status, _) = call(&e, signed_as(&wrong, "/webhooks/hubspot", batch, now_ms)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // HubSpot redelivers: same job, no second draft later.
    let (status, again) = call(&e, signed_form(FORM, now_ms)).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(again["job_id"], accepted["job_id"]);

    // The in-process worker drains the queue into one draft.
    let stats = e.worker.run_until_idle(2).await.unwrap();
    assert_eq!(
        (stats.done, stats.dead),
        (2, 0),
        "pipeline and CRM follow-up: {stats:?}"
    );
    let drafts = e.store.list_drafts(&DraftFilter::default()).await.unwrap();
    assert_eq!(drafts.len(), 1);
    assert_eq!(
        drafts[0].contact_email.to_string(),
        "ann.lee@acme-robotics.com"
    );

    // The application sees the draft through its own route, and both schemas share the pool.
    let (status, leads) = call(&e, get("/api/leads", Some("app-key-1"))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(leads["pending"], 1, "{leads}");
    let operator = Request::get(format!("{MOUNT}/api/operator/drafts/pending"))
        .header(header::AUTHORIZATION, "Bearer operator-token")
        .body(Body::empty())
        .unwrap();
    let (status, listed) = call(&e, operator).await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    assert!(
        listed.to_string().contains("ann.lee@acme-robotics.com"),
        "{listed}"
    );
    let drafts_in_db: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM drafts")
        .fetch_one(&e.pool)
        .await
        .unwrap();
    let customers_via_store: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM app_customers")
        .fetch_one(e.store.pool())
        .await
        .unwrap();
    assert_eq!((drafts_in_db, customers_via_store), (1, 1));
    e.pool.close().await;
}

#[tokio::test]
async fn embedded_in_an_axum_app_on_sqlite() {
    embedded_service_end_to_end(sqlite_url()).await;
}

#[tokio::test]
async fn embedded_in_an_axum_app_on_postgres() {
    use salesagent::store::testing::TempPostgres;
    let Some(url) = TempPostgres::fresh_database_or_skip().await else {
        return;
    };
    embedded_service_end_to_end(url).await;
}
