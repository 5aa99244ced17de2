//! The HTTP layer reports requests, errors by kind, latency and breaker state through the
//! `metrics` facade (checked with a small in-memory recorder).

use metrics::{
    Counter, CounterFn, Gauge, GaugeFn, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder,
    SharedString, Unit,
};
use salesagent_connectors::http::{
    BreakerConfig, HttpConfig, HttpService, Request, RetryPolicy, map_plain, metrics as names,
};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, ResponseTemplate};

type Store = Arc<Mutex<BTreeMap<String, f64>>>;

struct Cell(Store, String);

impl CounterFn for Cell {
    fn increment(&self, value: u64) {
        *self.0.lock().unwrap().entry(self.1.clone()).or_default() += value as f64;
    }
    fn absolute(&self, value: u64) {
        self.0.lock().unwrap().insert(self.1.clone(), value as f64);
    }
}

impl GaugeFn for Cell {
    fn increment(&self, value: f64) {
        *self.0.lock().unwrap().entry(self.1.clone()).or_default() += value;
    }
    fn decrement(&self, value: f64) {
        *self.0.lock().unwrap().entry(self.1.clone()).or_default() -= value;
    }
    fn set(&self, value: f64) {
        self.0.lock().unwrap().insert(self.1.clone(), value);
    }
}

impl HistogramFn for Cell {
    fn record(&self, _value: f64) {
        *self.0.lock().unwrap().entry(self.1.clone()).or_default() += 1.0;
    }
}

struct Rec(Store);

fn render(key: &Key) -> String {
    let mut labels: Vec<String> = key
        .labels()
        .map(|l| format!("{}={}", l.key(), l.value()))
        .collect();
    labels.sort();
    format!("{}{{{}}}", key.name(), labels.join(","))
}

impl Recorder for Rec {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        Counter::from_arc(Arc::new(Cell(self.0.clone(), render(key))))
    }
    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::from_arc(Arc::new(Cell(self.0.clone(), render(key))))
    }
    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::from_arc(Arc::new(Cell(self.0.clone(), render(key))))
    }
}

#[tokio::test]
async fn requests_errors_latency_and_breaker_are_recorded() {
    let store: Store = Arc::default();
    metrics::set_global_recorder(Rec(store.clone())).expect("only recorder in this binary");
    names::describe();

    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(200))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(404))
        .mount(&server)
        .await;
    let config = HttpConfig {
        retry: RetryPolicy {
            base: Duration::from_millis(1),
            max: Duration::from_millis(1),
            jitter: 0.5,
        },
        max_retries: 1,
        max_retry_after: Duration::from_secs(1),
        breaker: BreakerConfig::default(),
        rate_limit: None,
        ..HttpConfig::default()
    };
    let svc = HttpService::new("metered", &server.uri(), config, map_plain).unwrap();
    svc.send(&Request::get("probe", ["a"])).await.unwrap();
    assert_eq!(
        svc.send(&Request::get("probe", ["b"]))
            .await
            .unwrap_err()
            .kind(),
        "not_found"
    );

    let m = store.lock().unwrap().clone();
    let get = |k: &str| {
        m.get(k)
            .copied()
            .unwrap_or_else(|| panic!("missing {k} in {m:#?}"))
    };
    assert_eq!(
        get("salesagent_http_requests_total{op=probe,service=metered,status=503}"),
        1.0
    );
    assert_eq!(
        get("salesagent_http_requests_total{op=probe,service=metered,status=200}"),
        1.0
    );
    assert_eq!(
        get("salesagent_http_requests_total{op=probe,service=metered,status=404}"),
        1.0
    );
    assert_eq!(get("salesagent_http_retries_total{service=metered}"), 1.0);
    assert_eq!(
        get("salesagent_http_errors_total{kind=not_found,service=metered}"),
        1.0
    );
    assert_eq!(
        get("salesagent_http_request_duration_seconds{op=probe,service=metered}"),
        3.0
    );
    assert_eq!(get("salesagent_http_breaker_state{service=metered}"), 0.0);
}
