//! Webhook load benchmark (`cargo bench --bench webhook_load`), loopback only, bounded.
//!
//! For SQLite (a file in WAL mode) and PostgreSQL (a throwaway server from
//! `salesagent_store::testing::TempPostgres`, or `DATABASE_URL`): serves
//! `salesagent::host::app` on `127.0.0.1:0` over the SQL store, then sends signed
//! (HubSpot v3) form submissions to `POST /webhooks/forms` at a fixed arrival rate over a fixed
//! number of connections, 30% of them re-deliveries of an earlier submission. Prints
//!
//! - `RESULT webhook.<backend>.ack_p50_ms` / `ack_p99_ms` / `ack_max_ms`: time from sending a
//!   request to its `202` (target p99 ≤ 5 ms);
//! - `RESULT webhook.<backend>.throughput_rps`: requests answered per second of the run;
//! - then runs in-process pipeline workers (offline fakes, template writer, as
//!   `examples/webhook` does with `--offline`) until the queue is drained, and prints
//!   `webhook.<backend>.drain_jobs_per_s`, `webhook.<backend>.drafts` and
//!   `webhook.<backend>.unique`.
//!
//! Exits non-zero when any request is not answered `202`, a re-delivery gets a different job
//! id, or drafts != unique submissions.
//!
//! Scale with `WEBHOOK_LOAD_REQUESTS` (default 10,000), `WEBHOOK_LOAD_RPS` (default 1,000),
//! `WEBHOOK_LOAD_CONNECTIONS` (default 64), `WEBHOOK_LOAD_WORKERS` (pipeline workers, default 8)
//! and `WEBHOOK_LOAD_BACKENDS` (default `sqlite,postgres`). Quick mode:
//! `WEBHOOK_LOAD_REQUESTS=500 cargo bench --bench webhook_load`.

use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use salesagent::core::model::EmailAddress;
use salesagent::core::pipeline::{Pipeline, PipelineConfig, Ports};
use salesagent::core::ports::{DynClock, DynStore, SystemClock};
use salesagent::core::testing::{FakeCalendar, FakeCrm, FakeDrive, FakeMailbox};
use salesagent::core::worker::{Worker, WorkerConfig};
use salesagent::core::writer::TemplateLlm;
use salesagent::host::{AppState, HostConfig};
use salesagent::store::testing::TempPostgres;
use salesagent::store::{EncryptionKey, SqlStore};
use secrecy::SecretString;
use sha2::Sha256;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const SECRET: &str = "load-bench-client-secret";
const PATH: &str = "/webhooks/forms";
/// Share of deliveries that repeat an earlier submission, in percent.
const DUPLICATE_PERCENT: u64 = 30;

#[derive(Debug, Clone, Copy)]
struct Settings {
    requests: usize,
    rps: f64,
    connections: usize,
    workers: usize,
}

fn env_number(name: &str, default: usize) -> Result<usize, String> {
    match std::env::var(name) {
        Ok(v) => match v.trim().parse::<usize>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(format!("{name} must be a positive integer, got {v:?}")),
        },
        Err(_) => Ok(default),
    }
}

impl Settings {
    fn from_env() -> Result<Self, String> {
        #[allow(clippy::cast_precision_loss)]
        let rps = env_number("WEBHOOK_LOAD_RPS", 1_000)? as f64;
        Ok(Self {
            requests: env_number("WEBHOOK_LOAD_REQUESTS", 10_000)?,
            rps,
            connections: env_number("WEBHOOK_LOAD_CONNECTIONS", 64)?,
            workers: env_number("WEBHOOK_LOAD_WORKERS", 8)?,
        })
    }
}

/// A small deterministic generator (xorshift64*), so every run sends the same mix.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

/// For each delivery, the index of the submission it carries: 70% new ones, 30% repeats of a
/// submission delivered earlier. Returns the plan and the number of unique submissions.
fn plan(requests: usize, seed: u64) -> (Vec<usize>, usize) {
    let mut rng = Rng(seed | 1);
    let mut out = Vec::with_capacity(requests);
    let mut unique = 0usize;
    for _ in 0..requests {
        let repeat = unique > 0 && rng.next() % 100 < DUPLICATE_PERCENT;
        if repeat {
            let earlier = usize::try_from(rng.next() % unique as u64).unwrap_or(0);
            out.push(earlier);
        } else {
            out.push(unique);
            unique += 1;
        }
    }
    (out, unique)
}

fn body(run: &str, n: usize) -> String {
    serde_json::json!({
        "submission_id": format!("{run}-lead-{n}"),
        "form_id": "contact-sales",
        "submitted_at": "2026-11-25T09:12:00Z",
        "page_url": "https://example.com/pricing",
        "fields": {
            "email": format!("lead{n}@company{}.io", n % 997),
            "firstname": "Ann",
            "lastname": format!("Lead {n}"),
            "company": format!("Company {}", n % 997),
            "jobtitle": "Head of Operations",
            "message": "We are onboarding three new teams next quarter. What does pricing look like?"
        }
    })
    .to_string()
}

/// HubSpot v3: base64(HMAC-SHA256(secret, method + uri + body + timestamp)).
fn sign_v3(uri: &str, body: &str, timestamp: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).expect("any key length");
    mac.update(b"POST");
    mac.update(uri.as_bytes());
    mac.update(body.as_bytes());
    mac.update(timestamp.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// What the load phase saw.
struct Load {
    latencies_ms: Vec<f64>,
    elapsed: Duration,
    failures: Vec<String>,
}

async fn load(addr: SocketAddr, s: Settings, run: &str, plan: Arc<Vec<usize>>) -> Load {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(s.connections)
        .timeout(Duration::from_secs(30))
        .build()
        .expect("http client");
    let uri = format!("http://{addr}{PATH}");
    let next = Arc::new(AtomicUsize::new(0));
    let job_ids: Arc<Mutex<Vec<Option<String>>>> =
        Arc::new(Mutex::new(vec![
            None;
            plan.iter().max().map_or(0, |m| m + 1)
        ]));
    let start = tokio::time::Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..s.connections {
        let client = client.clone();
        let uri = uri.clone();
        let next = next.clone();
        let plan = plan.clone();
        let job_ids = job_ids.clone();
        let run = run.to_owned();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut failures = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(&n) = plan.get(i) else { break };
                // Open loop: request i is due at start + i / rps.
                #[allow(clippy::cast_precision_loss)]
                let due = start + Duration::from_secs_f64(i as f64 / s.rps);
                tokio::time::sleep_until(due).await;
                let payload = body(&run, n);
                let ts = chrono::Utc::now().timestamp_millis().to_string();
                let sig = sign_v3(&uri, &payload, &ts);
                let sent = Instant::now();
                let resp = client
                    .post(&uri)
                    .header("content-type", "application/json")
                    .header("x-hubspot-signature-v3", sig)
                    .header("x-hubspot-request-timestamp", ts)
                    .body(payload)
                    .send()
                    .await;
                let resp = match resp {
                    Ok(r) => r,
                    Err(e) => {
                        failures.push(format!("request {i}: {e}"));
                        continue;
                    }
                };
                let status = resp.status();
                let text = resp.text().await.unwrap_or_default();
                lat.push(sent.elapsed().as_secs_f64() * 1e3);
                if status != reqwest::StatusCode::ACCEPTED {
                    failures.push(format!("request {i}: {status} {text}"));
                    continue;
                }
                let job = serde_json::from_str::<serde_json::Value>(&text)
                    .ok()
                    .and_then(|v| v["job_id"].as_str().map(str::to_owned));
                let Some(job) = job else {
                    failures.push(format!("request {i}: no job_id in {text}"));
                    continue;
                };
                let mut ids = job_ids.lock().expect("job id table");
                match &ids[n] {
                    Some(first) if *first != job => failures.push(format!(
                        "submission {n}: re-delivery got job {job}, first delivery {first}"
                    )),
                    Some(_) => {}
                    None => ids[n] = Some(job),
                }
            }
            (lat, failures)
        }));
    }
    let mut latencies_ms = Vec::with_capacity(plan.len());
    let mut failures = Vec::new();
    for t in tasks {
        let (l, f) = t.await.expect("client task");
        latencies_ms.extend(l);
        failures.extend(f);
    }
    Load {
        latencies_ms,
        elapsed: start.elapsed(),
        failures,
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn pipeline(store: &DynStore, clock: &DynClock) -> Arc<Pipeline> {
    let ports = Ports {
        crm: Arc::new(FakeCrm::new()),
        mailbox: Arc::new(FakeMailbox::new().with_clock(clock.clone())),
        drive: Arc::new(FakeDrive::new()),
        calendar: Arc::new(FakeCalendar::new().with_clock(clock.clone())),
        llm: Arc::new(TemplateLlm),
        store: store.clone(),
        clock: clock.clone(),
    };
    let sender = EmailAddress::parse("sales@seller.dev").expect("sender address");
    Arc::new(Pipeline::new(ports, PipelineConfig::new(sender)))
}

/// Runs the whole scenario on the store at `url`; `Err` lists what went wrong.
async fn run_backend(backend: &str, url: &str, s: Settings) -> Result<(), String> {
    let clock: DynClock = Arc::new(SystemClock);
    let mut key = [0u8; 32];
    key[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    key[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    let key = EncryptionKey::from_bytes(key);
    let store = SqlStore::builder(url)
        .encryption_key(key)
        .clock(clock.clone())
        .connect()
        .await
        .map_err(|e| format!("{backend}: connect: {e}"))?;
    let store: DynStore = Arc::new(store);
    let config = HostConfig {
        hubspot_secret: Some(SecretString::from(SECRET.to_owned())),
        ..HostConfig::default()
    };
    let state = AppState::new(store.clone(), clock.clone(), config)
        .with_metrics(salesagent::host::install_metrics());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| format!("bind: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        axum::serve(
            listener,
            salesagent::host::app(state).into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async {
            let _ = stop_rx.await;
        })
        .await
    });

    let run = uuid::Uuid::new_v4().simple().to_string();
    let (plan, unique) = plan(s.requests, 0x5EED_0000_0000_0001);
    let plan = Arc::new(plan);
    let result = load(addr, s, &run, plan.clone()).await;
    let _ = stop_tx.send(());
    let _ = server.await;

    let mut lat = result.latencies_ms;
    lat.sort_by(f64::total_cmp);
    #[allow(clippy::cast_precision_loss)]
    let rps = lat.len() as f64 / result.elapsed.as_secs_f64().max(1e-9);
    println!(
        "RESULT webhook.{backend}.ack_p50_ms {:.2} ms",
        percentile(&lat, 50.0)
    );
    println!(
        "RESULT webhook.{backend}.ack_p99_ms {:.2} ms",
        percentile(&lat, 99.0)
    );
    println!(
        "RESULT webhook.{backend}.ack_max_ms {:.2} ms",
        lat.last().copied().unwrap_or(f64::NAN)
    );
    println!("RESULT webhook.{backend}.throughput_rps {rps:.0} req/s");
    let mut problems = result.failures;

    let worker = Worker::new(
        pipeline(&store, &clock),
        WorkerConfig {
            name: format!("load-{backend}"),
            ..WorkerConfig::default()
        },
    );
    let t = Instant::now();
    let stats = worker
        .run_until_idle(s.workers)
        .await
        .map_err(|e| format!("{backend}: workers: {e}"))?;
    #[allow(clippy::cast_precision_loss)]
    let drain = stats.claimed() as f64 / t.elapsed().as_secs_f64().max(1e-9);
    println!("RESULT webhook.{backend}.drain_jobs_per_s {drain:.0} jobs/s");
    if stats.dead > 0 || stats.retrying > 0 {
        problems.push(format!("workers: {stats:?}"));
    }
    let drafts: u64 = store
        .draft_counts()
        .await
        .map_err(|e| format!("{backend}: draft counts: {e}"))?
        .values()
        .sum();
    println!("RESULT webhook.{backend}.drafts {drafts} count");
    println!("RESULT webhook.{backend}.unique {unique} count");
    if drafts != unique as u64 {
        problems.push(format!("drafts {drafts} != unique submissions {unique}"));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        let shown: Vec<&str> = problems.iter().take(10).map(String::as_str).collect();
        Err(format!(
            "{backend}: {} problem(s): {}",
            problems.len(),
            shown.join("; ")
        ))
    }
}

async fn run_all(s: Settings, backends: &[String]) -> Vec<String> {
    let mut errors = Vec::new();
    for backend in backends {
        let url = match backend.as_str() {
            "sqlite" => {
                let dir =
                    std::env::temp_dir().join(format!("webhook-load-{}", uuid::Uuid::new_v4()));
                if let Err(e) = std::fs::create_dir_all(&dir) {
                    errors.push(format!("sqlite: {}: {e}", dir.display()));
                    continue;
                }
                let url = format!("sqlite://{}?mode=rwc", dir.join("load.db").display());
                if let Err(e) = run_backend("sqlite", &url, s).await {
                    errors.push(e);
                }
                let _ = std::fs::remove_dir_all(&dir);
                continue;
            }
            "postgres" => {
                if !TempPostgres::available() {
                    println!(
                        "webhook load: PostgreSQL skipped (no server binaries, no DATABASE_URL)"
                    );
                    continue;
                }
                match TempPostgres::shared().await {
                    Ok(pg) => match pg.fresh_database().await {
                        Ok(url) => url,
                        Err(e) => {
                            errors.push(format!("postgres: {e}"));
                            continue;
                        }
                    },
                    Err(e) => {
                        println!("webhook load: PostgreSQL skipped ({e})");
                        continue;
                    }
                }
            }
            other => {
                errors.push(format!("unknown backend {other:?} (sqlite, postgres)"));
                continue;
            }
        };
        if let Err(e) = run_backend(backend, &url, s).await {
            errors.push(e);
        }
    }
    errors
}

fn main() -> ExitCode {
    let settings = match Settings::from_env() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let backends: Vec<String> = std::env::var("WEBHOOK_LOAD_BACKENDS")
        .unwrap_or_else(|_| "sqlite,postgres".to_owned())
        .split(',')
        .map(|b| b.trim().to_ascii_lowercase())
        .filter(|b| !b.is_empty())
        .collect();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let errors = rt.block_on(run_all(settings, &backends));
    if errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        for e in &errors {
            eprintln!("webhook load: {e}");
        }
        ExitCode::FAILURE
    }
}
