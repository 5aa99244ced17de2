//! Shared helpers of the in-process webhook host tests: state over a `MemoryStore`, request
//! signing (HubSpot v3, written from HubSpot's published recipe), and response reading.
#![allow(dead_code)]

pub mod loop_driver;
pub mod web;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, Response, header};
use base64::Engine as _;
use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use salesagent::core::ports::DynStore;
use salesagent::core::testing::{ManualClock, MemoryStore};
use salesagent::host::{AppState, HostConfig, RateLimit};
use secrecy::SecretString;
use sha2::Sha256;
use std::sync::Arc;
use tower::ServiceExt as _;

pub const SECRET: &str = "test-client-secret";
pub const TOKEN: &str = "operator-token-123";
pub const HOST: &str = "hooks.example.test";

pub struct Env {
    pub clock: Arc<ManualClock>,
    pub store: DynStore,
    pub state: AppState,
}

impl Env {
    pub fn app(&self) -> Router {
        salesagent::host::app(self.state.clone())
    }

    pub fn now(&self) -> DateTime<Utc> {
        use salesagent::core::ports::Clock as _;
        self.clock.now()
    }

    pub async fn send(&self, req: Request<Body>) -> Response<Body> {
        self.app().oneshot(req).await.expect("router is infallible")
    }
}

pub fn config() -> HostConfig {
    HostConfig {
        hubspot_secret: Some(SecretString::from(SECRET.to_owned())),
        operator_token: Some(SecretString::from(TOKEN.to_owned())),
        rate_limit: RateLimit {
            burst: 10_000,
            per_minute: 60_000,
        },
        ..HostConfig::default()
    }
}

pub fn env_with(config: HostConfig) -> Env {
    let clock = Arc::new(ManualClock::new(ManualClock::default_start()));
    let store: DynStore = Arc::new(MemoryStore::new(clock.clone()));
    let state = AppState::new(store.clone(), clock.clone(), config)
        .with_metrics(salesagent::host::install_metrics());
    Env {
        clock,
        store,
        state,
    }
}

pub fn env() -> Env {
    env_with(config())
}

/// HubSpot v3: base64(HMAC-SHA256(secret, method + uri + body + timestamp)).
pub fn sign_v3(secret: &str, method: &str, uri: &str, body: &[u8], timestamp: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(method.as_bytes());
    mac.update(uri.as_bytes());
    mac.update(body);
    mac.update(timestamp.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// A POST signed for `http://{HOST}{path}` at time `at`.
pub fn signed_post(path: &str, body: &str, at: DateTime<Utc>) -> Request<Body> {
    let ts = at.timestamp_millis().to_string();
    let sig = sign_v3(
        SECRET,
        "POST",
        &format!("http://{HOST}{path}"),
        body.as_bytes(),
        &ts,
    );
    Request::post(path)
        .header(header::HOST, HOST)
        .header(header::CONTENT_TYPE, "application/json")
        .header("X-HubSpot-Signature-v3", sig)
        .header("X-HubSpot-Request-Timestamp", ts)
        .body(Body::from(body.to_owned()))
        .unwrap()
}

pub fn form_body(id: &str, email: &str) -> String {
    serde_json::json!({
        "submission_id": id,
        "form_id": "contact-sales",
        "submitted_at": "2026-11-25T09:12:00Z",
        "page_url": "https://example.com/pricing",
        "fields": {"email": email, "firstname": "Ann", "company": "Acme", "message": "Pricing?"}
    })
    .to_string()
}

/// A request to the operator API with the admin's bearer token ([`TOKEN`]).
pub fn api(method: &str, path: &str, body: Option<serde_json::Value>) -> Request<Body> {
    as_operator(TOKEN, method, path, body)
}

/// A request to the operator API with bearer `token` (a JSON body when given).
pub fn as_operator(
    token: &str,
    method: &str,
    path: &str,
    body: Option<serde_json::Value>,
) -> Request<Body> {
    let b = Request::builder()
        .method(method)
        .uri(path)
        .header(header::AUTHORIZATION, format!("Bearer {token}"));
    match body {
        Some(v) => b
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(v.to_string()))
            .unwrap(),
        None => b.body(Body::empty()).unwrap(),
    }
}

pub async fn text(resp: Response<Body>) -> String {
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    String::from_utf8(bytes.to_vec()).unwrap()
}

pub async fn json(resp: Response<Body>) -> serde_json::Value {
    let t = text(resp).await;
    serde_json::from_str(&t).unwrap_or_else(|e| panic!("not JSON ({e}): {t}"))
}
