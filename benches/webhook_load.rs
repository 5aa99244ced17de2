//! Webhook load benchmark (`cargo bench --bench webhook_load`): open-loop, loopback, bounded.
//!
//! For SQLite (a file in WAL mode) and PostgreSQL (a throwaway server from
//! `salesagent_store::testing::TempPostgres`, or `DATABASE_URL`): serves
//! `salesagent::host::app` on `127.0.0.1:0` over the (encrypted) SQL store, with in-process
//! pipeline workers (`Worker::run`, offline fakes and the template writer, as
//! `examples/webhook --offline` runs them) draining the queue *while* the load runs.
//!
//! The load is open-loop: request `i` is due at `start + i / rate`, whatever happened to the
//! requests before it. A generator thread sleeps until each due time and hands the request to a
//! client runtime of its own (one thread), which sends it over a pooled loopback connection;
//! each request's latency is taken from its *scheduled* time to its `202` (so a stall delays
//! the figures of every request due during it: no coordinated omission), recorded in an
//! HdrHistogram (µs, 3 significant digits). 30 % of the deliveries repeat an earlier
//! submission. Every body is signed (HubSpot v3) before the clock starts.
//!
//! Prints, per backend:
//!
//! - `webhook.<b>.ack_p50_ms`, `ack_p99_ms`, `ack_p999_ms`, `ack_max_ms` at the fixed rate
//!   (`WEBHOOK_LOAD_RPS`, default 1,000 req/s, `WEBHOOK_LOAD_REQUESTS` requests, default 10,000)
//!   with the workers draining; target p99 ≤ 5 ms;
//! - `webhook.<b>.client_lag_p99_ms`: how late the generator itself handed requests to the
//!   client (part of every latency above; the measurement's own floor);
//! - `webhook.<b>.intake_jobs_per_s` and `drain_jobs_per_s`: jobs enqueued and jobs completed per
//!   second during that window (the workers' rate while intake runs);
//! - after the workers have drained the queue: `drafts` and `unique` (must be equal);
//! - the capacity sweep (`WEBHOOK_LOAD_SWEEP=0` skips it): `WEBHOOK_LOAD_SWEEP_SECS` (default
//!   3) seconds at each of 250, 500, 1,000, 1,500, 2,000, 3,000, 4,000, 6,000 and 8,000 req/s until the p99
//!   exceeds the target (or a request fails), then one rate halfway between the last that held
//!   and the first that did not; `webhook.<b>.sweep.<rate>.p99_ms` per step and
//!   `webhook.<b>.capacity_rps`, the highest rate whose p99 stayed ≤ 5 ms. The workers keep
//!   draining through the sweep (the backlog carries from step to step).
//!
//! Exits non-zero when a request of the fixed-rate window is not answered `202`, a re-delivery
//! gets a different job id, or drafts != unique submissions. Other knobs:
//! `WEBHOOK_LOAD_WORKERS` (worker tasks, default 8), `WEBHOOK_LOAD_BACKENDS` (default
//! `sqlite,postgres`). Quick mode: `WEBHOOK_LOAD_REQUESTS=2000 WEBHOOK_LOAD_SWEEP_SECS=1`.

#[path = "common/mod.rs"]
mod common;

use base64::Engine as _;
use hdrhistogram::Histogram;
use hmac::{Hmac, KeyInit, Mac};
use salesagent::core::model::{EmailAddress, JobState};
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
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const SECRET: &str = "load-bench-client-secret";
const PATH: &str = "/webhooks/forms";
/// Share of deliveries that repeat an earlier submission, in percent.
const DUPLICATE_PERCENT: u64 = 30;
/// The acknowledgement target.
const P99_TARGET_MS: f64 = 5.0;
/// Store pool size (the store's default).
const POOL: u32 = 10;
/// The workers' idle poll.
const POLL: Duration = Duration::from_millis(50);
/// Rates the capacity sweep tries, in order.
const SWEEP_RATES: [f64; 9] = [
    250.0, 500.0, 1_000.0, 1_500.0, 2_000.0, 3_000.0, 4_000.0, 6_000.0, 8_000.0,
];

#[derive(Debug, Clone, Copy)]
struct Settings {
    requests: usize,
    rps: f64,
    workers: usize,
    sweep: bool,
    sweep_secs: f64,
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
    #[allow(clippy::cast_precision_loss)]
    fn from_env() -> Result<Self, String> {
        Ok(Self {
            requests: env_number("WEBHOOK_LOAD_REQUESTS", 10_000)?,
            rps: env_number("WEBHOOK_LOAD_RPS", 1_000)? as f64,
            workers: env_number("WEBHOOK_LOAD_WORKERS", 8)?,
            sweep: std::env::var("WEBHOOK_LOAD_SWEEP").map_or(true, |v| v.trim() != "0"),
            sweep_secs: env_number("WEBHOOK_LOAD_SWEEP_SECS", 3)? as f64,
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

/// One prepared delivery.
struct Prepared {
    n: usize,
    body: String,
    signature: String,
    timestamp: String,
}

/// What one open-loop phase saw.
struct Phase {
    latency_us: Histogram<u64>,
    lag_us: Histogram<u64>,
    failures: Vec<String>,
    answered: usize,
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 120_000_000, 3).expect("histogram bounds")
}

#[allow(clippy::cast_precision_loss)]
fn ms(h: &Histogram<u64>, q: f64) -> f64 {
    h.value_at_quantile(q) as f64 / 1e3
}

struct Shared {
    latency: Histogram<u64>,
    lag: Histogram<u64>,
    failures: Vec<String>,
    answered: usize,
    job_ids: Vec<Option<String>>,
}

/// Sends `plan` open-loop at `rate` to `addr` (with bodies of run `run`), recording each
/// request's latency from its scheduled time. Runs on its own threads; call from blocking code.
fn open_loop(addr: SocketAddr, rate: f64, run: &str, plan: &[usize]) -> Phase {
    let client_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("load-client")
        .enable_all()
        .build()
        .expect("client runtime");
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .timeout(Duration::from_secs(60))
        .build()
        .expect("http client");
    let uri = format!("http://{addr}{PATH}");
    let ts = chrono::Utc::now().timestamp_millis().to_string();
    let prepared: Vec<Arc<Prepared>> = plan
        .iter()
        .map(|&n| {
            let body = body(run, n);
            let signature = sign_v3(&uri, &body, &ts);
            Arc::new(Prepared {
                n,
                body,
                signature,
                timestamp: ts.clone(),
            })
        })
        .collect();
    let shared = Arc::new(Mutex::new(Shared {
        latency: histogram(),
        lag: histogram(),
        failures: Vec::new(),
        answered: 0,
        job_ids: vec![None; plan.iter().max().map_or(0, |m| m + 1)],
    }));
    // Open connections before the clock starts, as a steady sender would have them.
    client_rt.block_on(async {
        let warm: Vec<_> = (0..16)
            .map(|_| client.get(format!("http://{addr}/healthz")).send())
            .collect();
        futures::future::join_all(warm).await;
    });
    let start = Instant::now() + Duration::from_millis(20);
    let mut handles = Vec::with_capacity(prepared.len());
    for (i, p) in prepared.into_iter().enumerate() {
        #[allow(clippy::cast_precision_loss)]
        let due = start + Duration::from_secs_f64(i as f64 / rate);
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        let (client, uri, shared) = (client.clone(), uri.clone(), shared.clone());
        handles.push(client_rt.spawn(async move {
            let lag = due.elapsed();
            let resp = client
                .post(&uri)
                .header("content-type", "application/json")
                .header("x-hubspot-signature-v3", &p.signature)
                .header("x-hubspot-request-timestamp", &p.timestamp)
                .body(p.body.clone())
                .send()
                .await;
            let outcome = match resp {
                Ok(r) => {
                    let status = r.status();
                    let text = r.text().await.unwrap_or_default();
                    Ok((status, text))
                }
                Err(e) => Err(e.to_string()),
            };
            let took = due.elapsed();
            let us = |d: Duration| u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1);
            let mut s = shared.lock().expect("load results");
            s.latency.saturating_record(us(took));
            s.lag.saturating_record(us(lag));
            let (status, text) = match outcome {
                Ok(o) => o,
                Err(e) => {
                    s.failures.push(format!("request {i}: {e}"));
                    return;
                }
            };
            s.answered += 1;
            if status != reqwest::StatusCode::ACCEPTED {
                s.failures.push(format!("request {i}: {status} {text}"));
                return;
            }
            let job = serde_json::from_str::<serde_json::Value>(&text)
                .ok()
                .and_then(|v| v["job_id"].as_str().map(str::to_owned));
            let Some(job) = job else {
                s.failures.push(format!("request {i}: no job_id in {text}"));
                return;
            };
            let n = p.n;
            let first = s.job_ids[n].clone();
            match first {
                Some(first) if first != job => s.failures.push(format!(
                    "submission {n}: re-delivery got job {job}, first delivery {first}"
                )),
                Some(_) => {}
                None => s.job_ids[n] = Some(job),
            }
        }));
    }
    client_rt.block_on(async {
        for h in handles {
            let _ = h.await;
        }
    });
    drop(client_rt);
    let s = Arc::try_unwrap(shared)
        .ok()
        .expect("all requests finished")
        .into_inner()
        .expect("load results");
    Phase {
        latency_us: s.latency,
        lag_us: s.lag,
        failures: s.failures,
        answered: s.answered,
    }
}

/// Runs [`open_loop`] on a blocking thread.
async fn phase(addr: SocketAddr, rate: f64, run: String, plan: Arc<Vec<usize>>) -> Phase {
    tokio::task::spawn_blocking(move || open_loop(addr, rate, &run, &plan))
        .await
        .expect("load thread")
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

/// Jobs per state: (queued + running, done).
async fn job_state(store: &DynStore) -> Result<(u64, u64), String> {
    let counts = store.job_counts().await.map_err(|e| e.to_string())?;
    let get = |s: JobState| counts.get(&s).copied().unwrap_or(0);
    Ok((
        get(JobState::Queued) + get(JobState::Running),
        get(JobState::Done),
    ))
}

#[allow(clippy::cast_precision_loss)]
fn per_s(n: u64, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64().max(1e-9)
}

/// Runs the whole scenario on the store at `url`; `Err` lists what went wrong.
#[allow(clippy::too_many_lines)]
async fn run_backend(backend: &str, url: &str, s: Settings) -> Result<(), String> {
    let clock: DynClock = Arc::new(SystemClock);
    let mut key = [0u8; 32];
    key[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    key[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    let key = EncryptionKey::from_bytes(key);
    let sql = SqlStore::builder(url)
        .encryption_key(key)
        .clock(clock.clone())
        .max_connections(POOL)
        .connect()
        .await
        .map_err(|e| format!("{backend}: connect: {e}"))?;
    println!(
        "SETTINGS webhook.{backend} {} {} encrypted_store=true rate={} requests={} \
         duplicates={DUPLICATE_PERCENT}% body_bytes={} workers={} worker_poll_ms={} \
         client=open-loop, 1 thread, latency from scheduled send, hdrhistogram us/3 digits; \
         sweep={} sweep_secs={}",
        common::describe(sql.pool(), POOL).await,
        common::machine(),
        s.rps,
        s.requests,
        body("0123456789abcdef0123456789abcdef", 1).len(),
        s.workers,
        POLL.as_millis(),
        s.sweep,
        s.sweep_secs,
    );
    let store: DynStore = Arc::new(sql);
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

    // Workers drain from the start, as a deployed host's do.
    let worker = Worker::new(
        pipeline(&store, &clock),
        WorkerConfig {
            name: format!("load-{backend}"),
            poll_interval: POLL,
            ..WorkerConfig::default()
        },
    );
    let (workers_stop, workers_stop_rx) = tokio::sync::oneshot::channel::<()>();
    let workers = {
        let worker = worker.clone();
        let n = s.workers;
        tokio::spawn(async move {
            worker
                .run(n, async {
                    let _ = workers_stop_rx.await;
                })
                .await
        })
    };

    let mut problems = Vec::new();
    let run = uuid::Uuid::new_v4().simple().to_string();
    let (main_plan, unique) = plan(s.requests, 0x5EED_0000_0000_0001);
    let (_, done0) = job_state(&store).await?;
    let (open0, _) = job_state(&store).await?;
    let t = Instant::now();
    let main = phase(addr, s.rps, run.clone(), Arc::new(main_plan)).await;
    let window = t.elapsed();
    let (open1, done1) = job_state(&store).await?;
    let drained = done1 - done0;
    let enqueued = (open1 + done1).saturating_sub(open0 + done0);
    println!(
        "RESULT webhook.{backend}.ack_p50_ms {:.2} ms",
        ms(&main.latency_us, 0.50)
    );
    println!(
        "RESULT webhook.{backend}.ack_p99_ms {:.2} ms",
        ms(&main.latency_us, 0.99)
    );
    println!(
        "RESULT webhook.{backend}.ack_p999_ms {:.2} ms",
        ms(&main.latency_us, 0.999)
    );
    #[allow(clippy::cast_precision_loss)]
    let max = main.latency_us.max() as f64 / 1e3;
    println!("RESULT webhook.{backend}.ack_max_ms {max:.2} ms");
    println!(
        "RESULT webhook.{backend}.ack_p99_over_target {:.2} ratio",
        ms(&main.latency_us, 0.99) / P99_TARGET_MS
    );
    println!(
        "RESULT webhook.{backend}.client_lag_p99_ms {:.2} ms",
        ms(&main.lag_us, 0.99)
    );
    println!(
        "RESULT webhook.{backend}.offered_rps {:.0} req/s",
        per_s(main.answered as u64, window)
    );
    println!(
        "RESULT webhook.{backend}.intake_jobs_per_s {:.0} jobs/s",
        per_s(enqueued, window)
    );
    println!(
        "RESULT webhook.{backend}.drain_jobs_per_s {:.0} jobs/s",
        per_s(drained, window)
    );
    problems.extend(main.failures);

    // Let the workers finish the fixed-rate window's jobs, then count drafts.
    let t = Instant::now();
    loop {
        let (open, _) = job_state(&store).await?;
        if open == 0 {
            break;
        }
        if t.elapsed() > Duration::from_secs(600) {
            problems.push(format!("{open} jobs still open after 600 s"));
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
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

    if s.sweep {
        let mut held: Option<f64> = None;
        let mut broke: Option<f64> = None;
        let mut step = 0u64;
        let mut try_rate = |rate: f64| {
            step += 1;
            let run = format!("{run}-sweep{step}");
            async move {
                #[allow(
                    clippy::cast_possible_truncation,
                    clippy::cast_sign_loss,
                    clippy::cast_precision_loss
                )]
                let n = (rate * s.sweep_secs).round() as usize;
                let (p, _) = plan(n.max(1), 0x5EED_0000_0000_0002 + step);
                let r = phase(addr, rate, run, Arc::new(p)).await;
                let p99 = ms(&r.latency_us, 0.99);
                println!("RESULT webhook.{backend}.sweep.{rate:.0}.p99_ms {p99:.2} ms");
                r.failures.is_empty() && p99 <= P99_TARGET_MS
            }
        };
        for rate in SWEEP_RATES {
            if try_rate(rate).await {
                held = Some(rate);
            } else {
                broke = Some(rate);
                break;
            }
        }
        if let (Some(lo), Some(hi)) = (held, broke) {
            let mid = ((lo + hi) / 2.0 / 100.0).round() * 100.0;
            if mid > lo && mid < hi && try_rate(mid).await {
                held = Some(mid);
            }
        }
        match held {
            Some(rate) => println!("RESULT webhook.{backend}.capacity_rps {rate:.0} req/s"),
            None => println!(
                "RESULT webhook.{backend}.capacity_rps 0 req/s (p99 over {P99_TARGET_MS} ms \
                 at the lowest rate tried)"
            ),
        }
    }

    let _ = workers_stop.send(());
    let stats = workers.await.map_err(|e| format!("workers: {e}"))?;
    if stats.dead > 0 {
        let filter = salesagent::core::model::JobFilter {
            state: Some(JobState::Dead),
            limit: 1,
            ..Default::default()
        };
        let first = store
            .list_jobs(&filter)
            .await
            .ok()
            .and_then(|j| j.into_iter().next())
            .and_then(|j| j.last_error);
        problems.push(format!(
            "workers: {stats:?}; first dead job's error: {first:?}"
        ));
    }
    let _ = stop_tx.send(());
    let _ = server.await;
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
