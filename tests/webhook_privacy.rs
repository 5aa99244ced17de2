//! A host that leaks nothing, through the shipped router: request ids, `500` bodies without
//! internal detail, `/readyz` without error text, a request timeout, `Secure` cookies and the
//! https signed URI behind TLS, and failed logins throttled per client address (from a
//! trusted proxy header only) and per operator. Counting only: the clock is a `ManualClock`
//! that never moves, and the timeout runs on tokio's paused clock.
#![cfg(feature = "host")]

mod webhook_support;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use salesagent::core::layers::FaultInjecting;
use salesagent::core::ports::{DynStore, new_operator_token, operator_token_hash};
use salesagent::core::testing::{FaultKind, Faults, ManualClock, MemoryStore};
use salesagent::host::{AppState, HostConfig, RateLimit};
use secrecy::ExposeSecret as _;
use std::sync::Arc;
use std::time::Duration;
use webhook_support::*;

const PENDING: &str = "/api/operator/drafts/pending";

fn bearer(token: &str) -> Request<Body> {
    Request::get(PENDING)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap()
}

fn from(mut req: Request<Body>, header_name: &str, value: &str) -> Request<Body> {
    req.headers_mut().insert(
        header_name.parse::<header::HeaderName>().unwrap(),
        value.parse().unwrap(),
    );
    req
}

/// A host over a store whose faults the test controls.
fn faulty_env(config: HostConfig) -> (Env, Faults) {
    let clock = Arc::new(ManualClock::new(ManualClock::default_start()));
    let faults = Faults::seeded(7);
    let store: DynStore = Arc::new(FaultInjecting::new(
        MemoryStore::new(clock.clone()),
        faults.clone(),
    ));
    let state = AppState::new(store.clone(), clock.clone(), config);
    (
        Env {
            clock,
            store,
            state,
        },
        faults,
    )
}

async fn add_operator(env: &Env, name: &str) -> String {
    let token = new_operator_token(name).unwrap().expose_secret().to_owned();
    env.store
        .add_operator(name, &operator_token_hash(&token))
        .await
        .unwrap();
    token
}

#[tokio::test]
async fn every_response_carries_its_own_request_id() {
    let env = env();
    let mut seen = std::collections::HashSet::new();
    for path in ["/healthz", "/readyz", "/nope", PENDING] {
        let resp = env
            .send(Request::get(path).body(Body::empty()).unwrap())
            .await;
        let id = resp.headers()["x-request-id"].to_str().unwrap().to_owned();
        assert_eq!(id.len(), 32, "{path}: {id}");
        assert!(seen.insert(id), "ids are per request");
    }
}

#[tokio::test]
async fn a_500_body_carries_only_a_request_id() {
    let (env, faults) = faulty_env(config());
    faults.fail_next_for("store.", 1, &FaultKind::Backend);
    let resp = env.send(api("GET", PENDING, None)).await;
    assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let id = resp.headers()["x-request-id"].to_str().unwrap().to_owned();
    let body = text(resp).await;
    assert!(!body.contains("injected"), "no internal detail: {body}");
    assert!(!body.contains("store."), "no operation names: {body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        v,
        serde_json::json!({"error": {
            "kind": "internal",
            "message": "internal error",
            "request_id": id,
        }})
    );

    // A 503 from inside says to retry, with the id, and nothing of the cause.
    faults.fail_next_for("store.", 1, &FaultKind::Unavailable);
    let resp = env.send(api("GET", PENDING, None)).await;
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    let id = resp.headers()["x-request-id"].to_str().unwrap().to_owned();
    let v = json(resp).await;
    assert!(!v.to_string().contains("injected"), "{v}");
    assert_eq!(v["error"]["request_id"], id.as_str());

    // Client mistakes keep their explanations.
    let resp = env.send(api("GET", "/api/drafts/not-an-id", None)).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(
        json(resp).await["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not-an-id")
    );
}

#[tokio::test]
async fn readiness_says_not_ready_and_nothing_else() {
    let (env, faults) = faulty_env(config());
    let resp = env
        .send(Request::get("/readyz").body(Body::empty()).unwrap())
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(json(resp).await, serde_json::json!({"status": "ready"}));
    for kind in [
        FaultKind::Unavailable,
        FaultKind::Backend,
        FaultKind::Timeout,
    ] {
        faults.fail_next(1, &kind);
        let resp = env
            .send(Request::get("/readyz").body(Body::empty()).unwrap())
            .await;
        assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            json(resp).await,
            serde_json::json!({"status": "not_ready"}),
            "{kind:?}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn a_slow_request_times_out() {
    let (env, faults) = faulty_env(HostConfig {
        request_timeout: Duration::from_secs(5),
        ..config()
    });
    // The store answers after a minute (tokio's paused clock: no real waiting).
    faults.set_latency(Duration::from_secs(60), Duration::ZERO);
    let resp = env.send(api("GET", PENDING, None)).await;
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(resp.headers().contains_key("x-request-id"));
}

async fn login_cookies(env: &Env) -> Vec<String> {
    let resp = env
        .send(Request::get("/operator/login").body(Body::empty()).unwrap())
        .await;
    resp.headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn cookies_are_secure_behind_tls() {
    let plain = login_cookies(&env()).await;
    assert!(!plain.is_empty());
    assert!(plain.iter().all(|c| !c.contains("Secure")), "{plain:?}");
    for config in [
        HostConfig {
            behind_tls: true,
            ..config()
        },
        HostConfig {
            public_url: Some("https://leads.example.com".to_owned()),
            ..config()
        },
    ] {
        let set = login_cookies(&env_with(config)).await;
        assert!(!set.is_empty());
        assert!(set.iter().all(|c| c.contains("; Secure")), "{set:?}");
    }
}

#[tokio::test]
async fn behind_tls_the_signed_uri_is_https() {
    let env = env_with(HostConfig {
        behind_tls: true,
        ..config()
    });
    let body = form_body("sub-tls-1", "ann@acme.io");
    let at = env.now();
    // Signed for http:// (what a plain host rebuilds): refused behind TLS.
    let resp = env.send(signed_post("/webhooks/forms", &body, at)).await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    // Signed for https://, as HubSpot calls a host behind TLS.
    let ts = at.timestamp_millis().to_string();
    let sig = sign_v3(
        SECRET,
        "POST",
        &format!("https://{HOST}/webhooks/forms"),
        body.as_bytes(),
        &ts,
    );
    let req = Request::post("/webhooks/forms")
        .header(header::HOST, HOST)
        .header(header::CONTENT_TYPE, "application/json")
        .header("X-HubSpot-Signature-v3", sig)
        .header("X-HubSpot-Request-Timestamp", ts)
        .body(Body::from(body))
        .unwrap();
    assert_eq!(env.send(req).await.status(), StatusCode::ACCEPTED);
}

#[tokio::test]
async fn failed_bearer_tokens_are_throttled_per_client_address() {
    let env = env();
    for i in 0..10 {
        let resp = env.send(bearer(&format!("wrong-{i}"))).await;
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "attempt {i}");
    }
    // The 11th attempt is refused before the token is checked, even the right one.
    let resp = env.send(bearer(TOKEN)).await;
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(resp.headers().contains_key(header::RETRY_AFTER));
    // Without a trusted proxy header, a forwarded address changes nothing.
    let resp = env
        .send(from(bearer(TOKEN), "x-forwarded-for", "203.0.113.9"))
        .await;
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    // Missing credentials are not attempts.
    let resp = env
        .send(Request::get(PENDING).body(Body::empty()).unwrap())
        .await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_trusted_proxy_header_names_the_client_by_its_last_hop() {
    let env = env_with(HostConfig {
        trusted_proxy_header: Some("X-Forwarded-For".to_owned()),
        ..config()
    });
    // A client varying the hops it writes itself still lands in the bucket of the address
    // the trusted proxy appended last.
    for i in 0..10 {
        let resp = env
            .send(from(
                bearer(&format!("wrong-{i}")),
                "x-forwarded-for",
                &format!("10.9.9.{i}, 198.51.100.7"),
            ))
            .await;
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    }
    let resp = env
        .send(from(
            bearer(TOKEN),
            "x-forwarded-for",
            "1.1.1.1, 198.51.100.7",
        ))
        .await;
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    // Another client behind the same proxy is not affected (with a named operator's token:
    // the guesses above also spent the budget of the operator they aimed at, admin).
    let bob = add_operator(&env, "bob").await;
    let resp = env
        .send(from(bearer(&bob), "x-forwarded-for", "198.51.100.8"))
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let resp = env
        .send(from(bearer(TOKEN), "x-forwarded-for", "198.51.100.8"))
        .await;
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn failed_tokens_are_throttled_per_operator_across_addresses() {
    let env = env_with(HostConfig {
        trusted_proxy_header: Some("X-Real-IP".to_owned()),
        ..config()
    });
    let alice = add_operator(&env, "alice").await;
    let bob = add_operator(&env, "bob").await;
    // Ten guesses at alice's token from ten addresses.
    for i in 0..10 {
        let guess = format!("sao1.alice.{i:064}");
        let resp = env
            .send(from(bearer(&guess), "x-real-ip", &format!("192.0.2.{i}")))
            .await;
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    }
    let resp = env
        .send(from(bearer(&alice), "x-real-ip", "192.0.2.200"))
        .await;
    assert_eq!(
        resp.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "alice's budget of failures is spent, from any address"
    );
    let resp = env
        .send(from(bearer(&bob), "x-real-ip", "192.0.2.201"))
        .await;
    assert_eq!(
        resp.status(),
        StatusCode::OK,
        "other operators are unaffected"
    );
    // Guesses at the admin token count against admin.
    for i in 0..10 {
        env.send(from(
            bearer(&format!("guess-{i}")),
            "x-real-ip",
            &format!("192.0.2.{}", 20 + i),
        ))
        .await;
    }
    let resp = env
        .send(from(bearer(TOKEN), "x-real-ip", "192.0.2.202"))
        .await;
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn failed_web_logins_are_throttled() {
    let env = env_with(HostConfig {
        failed_login_limit: RateLimit {
            burst: 3,
            per_minute: 3,
        },
        ..config()
    });
    let login = |token: &str| {
        let cookie = "sa_login=abc";
        Request::post("/operator/login")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::COOKIE, cookie)
            .body(Body::from(format!("csrf=abc&token={token}")))
            .unwrap()
    };
    for i in 0..3 {
        let resp = env.send(login(&format!("wrong-{i}"))).await;
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "attempt {i}");
    }
    let resp = env.send(login(TOKEN)).await;
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    // The bearer API shares the budget: the same client is throttled there too.
    assert_eq!(
        env.send(bearer(TOKEN)).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
}
