//! Pipeline benchmark (`cargo bench --bench pipeline`), printing `RESULT <name> <value> <unit>`.
//!
//! (a) Latency: simulated step latencies (CRM 300 ms per call, mail search 900 ms, Drive 700 ms,
//!     company analysis LLM 4,000 ms, calendar 400 ms, store 10 ms per call, LLM draft 8,000 ms)
//!     on a paused tokio clock, so the run takes well under a second of real time. Reports the
//!     median time from submission to draft id divided by the dependency critical path, and the
//!     seed's sequential sum divided by our time.
//! (b) Throughput: zero-latency fakes and the in-memory store (the SQL store plugs in when it
//!     lands), pipelines per second in one process, directly and through the job queue.
//! (c) Heap bytes per in-flight pipeline, measured with a counting global allocator while many
//!     pipelines wait on the (simulated) LLM.

use async_trait::async_trait;
use salesagent_core::model::{Company, CrmId, Domain, EmailAddress, FormSubmission, SubmissionId};
use salesagent_core::pipeline::{Pipeline, PipelineConfig, Ports};
use salesagent_core::ports::{
    Clock, DynClock, DynStore, Llm, LlmRequest, LlmResponse, SystemClock,
};
use salesagent_core::prompt::PURPOSE_DRAFT;
use salesagent_core::testing::{
    FakeCalendar, FakeCrm, FakeDrive, FakeMailbox, Faults, ManualClock, MemoryStore,
};
use salesagent_core::worker::{Worker, WorkerConfig};
use salesagent_core::writer::TemplateLlm;
use salesagent_store::SqlStore;
use stats_alloc::{INSTRUMENTED_SYSTEM, StatsAlloc};
use std::alloc::System;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Simulated latencies of the scenario.
const CRM: u64 = 300;
const MAIL: u64 = 900;
const DRIVE: u64 = 700;
const ANALYSIS: u64 = 4_000;
const CALENDAR: u64 = 400;
const VOICE: u64 = 20;
const DRAFT: u64 = 8_000;
const STORE: u64 = 10;

/// Contact, then the slowest parallel branch (company lookup + analysis), then draft, then store.
const CRITICAL_PATH_MS: u64 =
    CRM + max(max(MAIL, DRIVE), max(CRM + ANALYSIS, max(CALENDAR, VOICE))) + DRAFT + STORE;
/// The seed runs every step one after the other.
const SEQUENTIAL_MS: u64 = CRM + MAIL + DRIVE + CRM + ANALYSIS + CALENDAR + VOICE + DRAFT + STORE;

const fn max(a: u64, b: u64) -> u64 {
    if a > b { a } else { b }
}

fn live_bytes() -> i64 {
    let s = GLOBAL.stats();
    i64::try_from(s.bytes_allocated).unwrap_or(i64::MAX)
        - i64::try_from(s.bytes_deallocated).unwrap_or(i64::MAX)
        + i64::try_from(s.bytes_reallocated).unwrap_or(0)
}

/// The template model behind a per-purpose delay (company analysis vs draft).
#[derive(Debug)]
struct SlowLlm {
    analysis: Duration,
    draft: Duration,
}

#[async_trait]
impl Llm for SlowLlm {
    async fn complete(&self, request: &LlmRequest) -> salesagent_core::Result<LlmResponse> {
        let d = if request.purpose == PURPOSE_DRAFT {
            self.draft
        } else {
            self.analysis
        };
        if !d.is_zero() {
            tokio::time::sleep(d).await;
        }
        TemplateLlm.complete(request).await
    }
}

fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

fn latency(v: u64, on: bool) -> Faults {
    if on {
        Faults::none().with_latency(ms(v), Duration::ZERO)
    } else {
        Faults::none()
    }
}

struct World {
    pipeline: Arc<Pipeline>,
    store: DynStore,
    clock: DynClock,
}

const COMPANIES: usize = 50;

/// Fakes (with the scenario's latencies when `slow`) over `store`, or over the in-memory store
/// (with the 10 ms store latency when `slow`) when `store` is None.
fn world(slow: bool, clock: DynClock, store: Option<DynStore>) -> World {
    let crm = FakeCrm::with_faults(latency(CRM, slow));
    let mailbox = FakeMailbox::new()
        .with_faults(latency(MAIL, slow))
        .with_clock(clock.clone());
    let drive = FakeDrive::with_faults(latency(DRIVE, slow));
    let calendar = FakeCalendar::new()
        .with_faults(latency(CALENDAR, slow))
        .with_clock(clock.clone());
    // The store is one fake with one latency: the voice profile read (20 ms in the scenario)
    // costs 10 ms here, which is off the critical path either way.
    let store: DynStore = store.unwrap_or_else(|| {
        Arc::new(MemoryStore::new(clock.clone()).with_faults(latency(STORE, slow)))
    });
    let _ = VOICE;
    for i in 0..COMPANIES {
        let domain = Domain::parse(&format!("company{i}.example")).unwrap();
        crm.add_company(Company {
            crm_id: CrmId::new(format!("co-{i}")),
            name: format!("Company {i}"),
            domain: Some(domain),
            industry: Some(["Software", "Manufacturing", "Logistics"][i % 3].to_owned()),
            employee_count: Some(40 + 30 * u32::try_from(i).unwrap()),
            country: Some("Germany".to_owned()),
            description: Some("Builds things for other companies.".to_owned()),
            properties: BTreeMap::new(),
        });
    }
    drive.add_text_file(
        "Case study - fleet automation.pdf",
        "application/pdf",
        "fleet automation demo pricing case study",
    );
    drive.add_text_file("Pricing overview.pdf", "application/pdf", "pricing plans");
    let sender = EmailAddress::parse("sam@salesagent.dev").unwrap();
    let mut config = PipelineConfig::new(sender);
    config.sender_name = "Sam Seller".to_owned();
    let ports = Ports {
        crm: Arc::new(crm),
        mailbox: Arc::new(mailbox),
        drive: Arc::new(drive),
        calendar: Arc::new(calendar),
        llm: if slow {
            Arc::new(SlowLlm {
                analysis: ms(ANALYSIS),
                draft: ms(DRAFT),
            })
        } else {
            Arc::new(TemplateLlm)
        },
        store: store.clone(),
        clock: clock.clone(),
    };
    World {
        pipeline: Arc::new(Pipeline::new(ports, config)),
        store,
        clock,
    }
}

fn submission(i: usize, clock: &DynClock) -> FormSubmission {
    let doc = serde_json::json!({
        "submission_id": format!("bench-{i}"),
        "form_id": "demo",
        "submitted_at": "2026-11-26T08:00:00Z",
        "fields": {
            "email": format!("lead{i}@company{}.example", i % COMPANIES),
            "firstname": "Alex",
            "lastname": format!("Lead{i}"),
            "company": format!("Company {}", i % COMPANIES),
            "jobtitle": "Head of Operations",
            "message": "We would like a demo and pricing for fleet automation this quarter.",
        }
    });
    FormSubmission::from_canonical_json(&doc.to_string(), clock.now()).unwrap()
}

/// Seeds the CRM contacts so contact resolution is one lookup (300 ms), as in the scenario.
async fn seed_contacts(w: &World, n: usize) {
    for i in 0..n {
        let s = submission(i, &w.clock);
        let c = w
            .pipeline
            .ports()
            .crm
            .create_contact(&salesagent_core::model::NewContact {
                email: Some(s.lead.email.clone()),
                first_name: s.lead.first_name.clone(),
                ..Default::default()
            })
            .await
            .unwrap();
        drop(c);
    }
}

fn latency_bench() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    rt.block_on(async {
        let clock = ManualClock::new(ManualClock::default_start());
        let w = world(true, clock.shared(), None);
        let runs = 21;
        seed_contacts(&w, runs).await;
        let mut times = Vec::with_capacity(runs);
        for i in 0..runs {
            let sub = submission(i, &w.clock);
            let t0 = tokio::time::Instant::now();
            w.pipeline.process(&sub).await.unwrap();
            times.push(t0.elapsed());
        }
        times.sort();
        let median = times[runs / 2].as_secs_f64() * 1000.0;
        #[allow(clippy::cast_precision_loss)]
        let (cp, seq) = (CRITICAL_PATH_MS as f64, SEQUENTIAL_MS as f64);
        println!("RESULT pipeline.time_to_draft_ms {median:.1} ms");
        println!("RESULT pipeline.critical_path_ms {cp:.0} ms");
        println!("RESULT pipeline.latency_ratio {:.4} ratio", median / cp);
        println!("RESULT pipeline.sequential_sum_ms {seq:.0} ms");
        println!(
            "RESULT pipeline.sequential_over_ours {:.3} ratio",
            seq / median
        );
    });
}

/// Pipelines per second through `Pipeline::process`, `concurrency` tasks, after a warm-up.
async fn direct_rate(w: &World, n: usize, concurrency: usize) -> f64 {
    let warm = 200;
    let subs: Arc<Vec<FormSubmission>> =
        Arc::new((0..n + warm).map(|i| submission(i, &w.clock)).collect());
    for s in &subs[..warm] {
        w.pipeline.process(s).await.unwrap();
    }
    let next = Arc::new(AtomicUsize::new(warm));
    let t0 = std::time::Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let (p, subs, next) = (w.pipeline.clone(), subs.clone(), next.clone());
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= subs.len() {
                        break;
                    }
                    p.process(&subs[i]).await.unwrap();
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    #[allow(clippy::cast_precision_loss)]
    let rate = n as f64 / t0.elapsed().as_secs_f64();
    rate
}

fn throughput_bench() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let clock: DynClock = Arc::new(SystemClock);
        // Direct: submission → draft id, 64 in flight, on an in-memory SQLite store (five
        // rounds of 3,000, each on a fresh store; the median is the figure, as single rounds
        // on two shared cores spread widely) and on the in-memory fake store.
        let mut rounds = Vec::new();
        for _ in 0..5 {
            let sql = SqlStore::builder("sqlite::memory:")
                .without_encryption()
                .clock(clock.clone())
                .connect()
                .await
                .unwrap();
            let w = world(false, clock.clone(), Some(Arc::new(sql)));
            rounds.push(direct_rate(&w, 3_000, 64).await);
        }
        rounds.sort_by(f64::total_cmp);
        println!("RESULT pipeline.throughput {:.0} pipelines/s", rounds[2]);
        println!(
            "RESULT pipeline.throughput_round_min {:.0} pipelines/s",
            rounds[0]
        );
        println!(
            "RESULT pipeline.throughput_round_max {:.0} pipelines/s",
            rounds[4]
        );
        let w = world(false, clock.clone(), None);
        let rate = direct_rate(&w, 6_000, 64).await;
        println!("RESULT pipeline.throughput_memory_store {rate:.0} pipelines/s");

        // Through the queue: submit, then 8 workers run pipeline and CRM follow-up jobs.
        let w = world(false, clock.clone(), None);
        let n = 3_000;
        let subs: Vec<_> = (0..n).map(|i| submission(i, &clock)).collect();
        let t0 = std::time::Instant::now();
        for s in &subs {
            w.pipeline.submit(s).await.unwrap();
        }
        let worker = Worker::new(w.pipeline.clone(), WorkerConfig::default());
        let stats = worker.run_until_idle(8).await.unwrap();
        let secs = t0.elapsed().as_secs_f64();
        assert_eq!(stats.done, 2 * n as u64, "{stats:?}");
        #[allow(clippy::cast_precision_loss)]
        let rate = n as f64 / secs;
        println!("RESULT pipeline.throughput_queued {rate:.0} pipelines/s");
    });
}

fn heap_bench() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    rt.block_on(async {
        let clock = ManualClock::new(ManualClock::default_start());
        let w = world(true, clock.shared(), None);
        let k = 2_000;
        seed_contacts(&w, k).await;
        let mut ids: Vec<SubmissionId> = Vec::with_capacity(k);
        for i in 0..k {
            let (s, _) = w
                .store
                .save_submission(&submission(i, &w.clock))
                .await
                .unwrap();
            ids.push(s.id);
        }
        let mut handles = Vec::with_capacity(k);
        let before = live_bytes();
        for id in ids {
            let p = w.pipeline.clone();
            handles.push(tokio::spawn(async move { p.run(id).await }));
        }
        // All pipelines are now waiting on the 8 s draft call (it starts at ~4.3 s).
        tokio::time::sleep(ms(CRM + CRM + ANALYSIS + 2 * STORE + 1_500)).await;
        let during = live_bytes();
        for h in handles {
            h.await.unwrap().unwrap();
        }
        #[allow(clippy::cast_precision_loss)]
        let per = (during - before) as f64 / k as f64;
        println!("RESULT pipeline.heap_bytes_per_inflight {per:.0} bytes");
    });
}

/// `cargo bench --bench pipeline [latency|throughput|heap]...` runs only the named parts
/// (all when none is named; cargo's own `--bench` flag is ignored).
fn main() {
    let wanted: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let run = |part: &str| wanted.is_empty() || wanted.iter().any(|w| w == part);
    if run("latency") {
        latency_bench();
    }
    if run("throughput") {
        throughput_bench();
    }
    if run("heap") {
        heap_bench();
    }
}
