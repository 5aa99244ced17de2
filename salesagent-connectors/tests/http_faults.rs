//! Faults through the shared HTTP layer, against a loopback mock server.

mod common;

use salesagent_connectors::http::{
    BreakerConfig, BreakerState, HttpConfig, HttpService, Idempotency, Request, RetryPolicy,
    map_plain, may_send_again,
};
use salesagent_core::Error;
use std::time::Duration;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn config() -> HttpConfig {
    HttpConfig {
        connect_timeout: Duration::from_secs(5),
        // No request timeout: these tests run on a paused clock.
        request_timeout: None,
        retry: RetryPolicy {
            base: Duration::from_millis(100),
            max: Duration::from_secs(2),
            jitter: 0.5,
        },
        max_retries: 3,
        max_retry_after: Duration::from_secs(120),
        breaker: BreakerConfig {
            failure_threshold: 3,
            open_for: Duration::from_secs(30),
        },
        rate_limit: None,
    }
}

async fn service(server: &MockServer, config: HttpConfig) -> HttpService {
    HttpService::new("test", &server.uri(), config, map_plain).unwrap()
}

#[tokio::test(start_paused = true)]
async fn retry_after_seconds_is_waited_then_succeeds() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/thing"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "90"))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/thing"))
        .respond_with(ResponseTemplate::new(200).set_body_string("{\"ok\":true}"))
        .expect(1)
        .mount(&server)
        .await;
    let svc = service(&server, config()).await;
    let started = tokio::time::Instant::now();
    let resp = svc
        .send(&Request::get("thing", ["v1", "thing"]))
        .await
        .unwrap();
    assert_eq!(resp.status, 200);
    // On the paused clock the layer must have slept the full Retry-After.
    assert!(started.elapsed() >= Duration::from_secs(90));
}

#[tokio::test(start_paused = true)]
async fn retry_after_http_date_on_503_is_honoured() {
    let server = MockServer::start().await;
    let when = (chrono::Utc::now() + chrono::Duration::seconds(40)).to_rfc2822();
    let when = when.replace("+0000", "GMT");
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(503).insert_header("Retry-After", when.as_str()))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    let svc = service(&server, config()).await;
    let started = tokio::time::Instant::now();
    svc.send(&Request::get("thing", ["x"])).await.unwrap();
    assert!(started.elapsed() >= Duration::from_secs(30));
    assert_eq!(server.received_requests().await.unwrap().len(), 2);
}

#[tokio::test(start_paused = true)]
async fn too_long_retry_after_is_returned_to_the_caller() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "3600"))
        .expect(1)
        .mount(&server)
        .await;
    let svc = service(&server, config()).await;
    let err = svc.send(&Request::get("thing", ["x"])).await.unwrap_err();
    assert_eq!(
        err,
        Error::RateLimited {
            retry_after: Some(Duration::from_secs(3600))
        }
    );
}

#[tokio::test(start_paused = true)]
async fn server_errors_are_retried_then_surface_as_unavailable() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(502).set_body_string("bad gateway"))
        .expect(4)
        .mount(&server)
        .await;
    let mut cfg = config();
    cfg.breaker.failure_threshold = 10;
    let svc = service(&server, cfg).await;
    let err = svc.send(&Request::get("thing", ["x"])).await.unwrap_err();
    assert!(matches!(err, Error::Unavailable { .. }), "{err:?}");
}

#[tokio::test(start_paused = true)]
async fn non_idempotent_post_is_not_repeated_after_a_5xx() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500))
        .expect(1)
        .mount(&server)
        .await;
    let svc = service(&server, config()).await;
    let err = svc
        .send(&Request::post("send", ["send"]))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), "unavailable");
}

#[tokio::test(start_paused = true)]
async fn non_idempotent_post_is_not_repeated_after_a_503_or_429_with_retry_after() {
    // The HTTP layer used to resend a POST after a 503 carrying Retry-After; the job queue owns
    // that retry now (the delay travels in the error).
    for status in [503, 429] {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(status).insert_header("Retry-After", "2"))
            .expect(1)
            .mount(&server)
            .await;
        let svc = service(&server, config()).await;
        let err = svc
            .send(&Request::post("send", ["send"]))
            .await
            .unwrap_err();
        assert_eq!(
            err,
            Error::RateLimited {
                retry_after: Some(Duration::from_secs(2))
            },
            "{status}"
        );
    }
}

#[tokio::test]
async fn non_idempotent_post_is_not_repeated_after_a_timeout() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(5)))
        .expect(1)
        .mount(&server)
        .await;
    let mut cfg = config();
    cfg.request_timeout = Some(Duration::from_millis(100));
    cfg.retry.base = Duration::from_millis(1);
    let svc = service(&server, cfg).await;
    let err = svc
        .send(&Request::post("send", ["send"]))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), "unavailable", "{err}");
}

#[tokio::test(start_paused = true)]
async fn a_post_marked_idempotent_is_retried() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(2)
        .expect(2)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .expect(1)
        .mount(&server)
        .await;
    let svc = service(&server, config()).await;
    let search = Request::post("search", ["search"]).idempotent();
    assert_eq!(search.idempotency(), Idempotency::Idempotent);
    svc.send(&search).await.unwrap();
}

#[test]
fn the_resend_rule() {
    assert_eq!(
        Request::post("x", ["x"]).idempotency(),
        Idempotency::NotIdempotent
    );
    assert_eq!(
        Request::new("x", reqwest::Method::PATCH, ["x"]).idempotency(),
        Idempotency::NotIdempotent
    );
    for m in [
        reqwest::Method::GET,
        reqwest::Method::PUT,
        reqwest::Method::DELETE,
    ] {
        assert_eq!(
            Request::new("x", m, ["x"]).idempotency(),
            Idempotency::Idempotent
        );
    }
    // A non-idempotent request goes again only when no byte can have reached the server.
    assert!(may_send_again(Idempotency::NotIdempotent, false));
    assert!(!may_send_again(Idempotency::NotIdempotent, true));
    assert!(may_send_again(Idempotency::Idempotent, true));
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_half_open_trial_does_not_stick_the_breaker() {
    let server = MockServer::start().await;
    let storm = Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(503))
        .mount_as_scoped(&server)
        .await;
    let mut cfg = config();
    cfg.max_retries = 0;
    let svc = service(&server, cfg).await;
    for _ in 0..3 {
        svc.send(&Request::get("thing", ["x"])).await.unwrap_err();
    }
    assert_eq!(svc.breaker().state(), BreakerState::Open);
    drop(storm);
    // The trial hangs (the server answers only after 60 s of real time) and its caller gives up
    // first, as the pipeline's timeouts around connector calls do.
    let hang = Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(60)))
        .mount_as_scoped(&server)
        .await;
    tokio::time::advance(Duration::from_secs(31)).await;
    let cancelled = tokio::time::timeout(
        Duration::from_secs(1),
        svc.send(&Request::get("thing", ["x"])),
    )
    .await;
    assert!(cancelled.is_err(), "the caller timed out during the trial");
    assert_ne!(
        svc.breaker().state(),
        BreakerState::HalfOpen,
        "the dropped trial permit was given back"
    );
    drop(hang);
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    // The next caller gets a trial at once; its success closes the breaker.
    svc.send(&Request::get("thing", ["x"])).await.unwrap();
    assert_eq!(svc.breaker().state(), BreakerState::Closed);
}

#[tokio::test(start_paused = true)]
async fn storm_opens_breaker_fails_fast_then_recovers() {
    let server = MockServer::start().await;
    let storm = Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(503))
        .mount_as_scoped(&server)
        .await;
    let mut cfg = config();
    cfg.max_retries = 0;
    let svc = service(&server, cfg).await;
    for _ in 0..3 {
        let e = svc.send(&Request::get("thing", ["x"])).await.unwrap_err();
        assert_eq!(e.kind(), "unavailable");
    }
    assert_eq!(svc.breaker().state(), BreakerState::Open);
    let seen = server.received_requests().await.unwrap().len();
    assert_eq!(seen, 3);
    // Open: fails fast without touching the server.
    for _ in 0..5 {
        let e = svc.send(&Request::get("thing", ["x"])).await.unwrap_err();
        assert!(e.to_string().contains("circuit breaker open"), "{e}");
    }
    assert_eq!(server.received_requests().await.unwrap().len(), seen);
    drop(storm);
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    tokio::time::advance(Duration::from_secs(31)).await;
    svc.send(&Request::get("thing", ["x"])).await.unwrap();
    assert_eq!(svc.breaker().state(), BreakerState::Closed);
    svc.send(&Request::get("thing", ["x"])).await.unwrap();
}

#[tokio::test]
async fn timeout_is_unavailable() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(5)))
        .mount(&server)
        .await;
    let mut cfg = config();
    cfg.request_timeout = Some(Duration::from_millis(100));
    cfg.max_retries = 1;
    cfg.retry.base = Duration::from_millis(1);
    let svc = service(&server, cfg).await;
    let err = svc.send(&Request::get("thing", ["x"])).await.unwrap_err();
    assert!(matches!(err, Error::Unavailable { .. }), "{err:?}");
    assert!(err.to_string().contains("timed out"));
}

#[tokio::test]
async fn connection_refused_is_unavailable() {
    // A port that nothing listens on any more.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let uri = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let mut cfg = config();
    cfg.max_retries = 1;
    cfg.retry.base = Duration::from_millis(1);
    let svc = HttpService::new("test", &uri, cfg, map_plain).unwrap();
    let err = svc.send(&Request::get("thing", ["x"])).await.unwrap_err();
    assert_eq!(err.kind(), "unavailable");
}

#[tokio::test]
async fn path_segments_are_encoded_and_bad_base_is_invalid() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/files/a%2Fb%20c"))
        .respond_with(ResponseTemplate::new(200))
        .expect(1)
        .mount(&server)
        .await;
    let svc = HttpService::new(
        "test",
        &format!("{}/api", server.uri()),
        config(),
        map_plain,
    )
    .unwrap();
    svc.send(&Request::get("file", ["files", "a/b c"]))
        .await
        .unwrap();
    assert_eq!(
        HttpService::new("t", "ftp://x", config(), map_plain)
            .unwrap_err()
            .kind(),
        "invalid_input"
    );
}
