//! Pipeline benchmark (`cargo bench --bench pipeline`), printing `RESULT <name> <value> <unit>`.
//!
//! (a) Latency: simulated step latencies (CRM 300 ms per call, mail search 900 ms, Drive 700 ms,
//!     company analysis LLM 4,000 ms, calendar 400 ms, store 10 ms per call, LLM draft 8,000 ms)
//!     on a paused tokio clock, so the run takes well under a second of real time. The critical
//!     path is computed from the step graph declared in the pipeline
//!     (`salesagent_core::pipeline::graph::STEP_GRAPH`, what each step reads) and these
//!     latencies; the bench reports the median time from submission to draft id divided by it
//!     (target ≤ 1.03), the path of the schedule the pipeline actually runs
//!     (`PIPELINE_SCHEDULE`), and the time of the same steps run one after another through the
//!     same ports (the seed's way), measured, divided by ours.
//! (b) Throughput: zero-latency fakes, pipelines per second on an in-memory SQLite store (the
//!     median of five rounds), beside a bare loop that performs only the pipeline's unavoidable
//!     store writes (`save_submission` and `insert_draft_record`, the store's own statements on
//!     the same settings, with records shaped like the pipeline's) at the same concurrency: the
//!     ratio pipeline / bare loop is the target (≥ 0.5). Also on the in-memory fake store and
//!     through the job queue on it.
//! (c) Heap bytes per in-flight pipeline, measured with a counting global allocator while many
//!     pipelines wait on the (simulated) LLM.
//!
//! `PIPELINE_BENCH_ROUNDS` (default 5) and `PIPELINE_BENCH_N` (default 3,000 pipelines per
//! round) scale part (b).

#[path = "common/mod.rs"]
mod common;

use async_trait::async_trait;
use salesagent_core::layers::FaultInjecting;
use salesagent_core::model::{
    Company, CrmId, Domain, Draft, DraftEvent, DraftId, DriveQuery, EmailAddress, FormSubmission,
    JobFilter, MailQuery, NewAuditEntry, NewJob, RunId, SubmissionId, WorkflowRun, kinds,
};
use salesagent_core::pipeline::graph::{PIPELINE_SCHEDULE, STEP_GRAPH, Step, critical_path};
use salesagent_core::pipeline::{ACTOR, Pipeline, PipelineConfig, Ports};
use salesagent_core::ports::{
    Clock, DynClock, DynStore, Llm, LlmRequest, LlmResponse, NewDraftRecord, SystemClock,
};
use salesagent_core::prompt::{self, CompanyInput, DraftInput, PURPOSE_DRAFT};
use salesagent_core::scoring::IcpInput;
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
const DRAFT: u64 = 8_000;
const STORE: u64 = 10;

/// The simulated latency of each step of the pipeline's graph (the ports each step calls).
fn step_cost(step: Step) -> Duration {
    ms(match step {
        // One store call each (the voice profile read is 20 ms in the scenario; the fake store
        // has one latency, and the step is off the critical path either way).
        Step::Submission | Step::VoiceProfile | Step::StoreDraft => STORE,
        // Contacts are seeded: one CRM lookup. The company lookup is one CRM call too.
        Step::ResolveContact | Step::CompanyLookup => CRM,
        Step::MailHistory => MAIL,
        Step::DriveAssets => DRIVE,
        Step::CompanyAnalysis => ANALYSIS,
        Step::MeetingSlots => CALENDAR,
        Step::Draft => DRAFT,
        Step::IcpScore => 0,
    })
}

fn path_names(path: &[Step]) -> String {
    path.iter().map(|s| s.name()).collect::<Vec<_>>().join(">")
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
    let crm = FakeCrm::new();
    let mailbox = FaultInjecting::new(
        FakeMailbox::new().with_clock(clock.clone()),
        latency(MAIL, slow),
    );
    let drive = FakeDrive::new();
    let calendar = FaultInjecting::new(
        FakeCalendar::new().with_clock(clock.clone()),
        latency(CALENDAR, slow),
    );
    // The store is one fake with one latency: the voice profile read (20 ms in the scenario)
    // costs 10 ms here, which is off the critical path either way.
    let store: DynStore = store.unwrap_or_else(|| {
        Arc::new(FaultInjecting::new(
            MemoryStore::new(clock.clone()),
            latency(STORE, slow),
        ))
    });
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
        crm: Arc::new(FaultInjecting::new(crm, latency(CRM, slow))),
        mailbox: Arc::new(mailbox),
        drive: Arc::new(FaultInjecting::new(drive, latency(DRIVE, slow))),
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

/// A draft record shaped like the pipeline's, taken from one pipeline run and re-keyed per
/// submission, so the bare-write loop writes rows of the same sizes with the same statements.
struct Template {
    draft: Draft,
    run: WorkflowRun,
    audit: NewAuditEntry,
    job: NewJob,
}

/// One record's parts, owned ([`NewDraftRecord`] borrows them).
struct Record {
    draft: Draft,
    event: DraftEvent,
    run: WorkflowRun,
    audit: NewAuditEntry,
    job: NewJob,
}

impl Record {
    fn as_new(&self) -> NewDraftRecord<'_> {
        NewDraftRecord {
            draft: &self.draft,
            event: &self.event,
            run: &self.run,
            audit: &self.audit,
            follow_up: &self.job,
        }
    }
}

impl Template {
    /// Runs the pipeline for `sub` on `w` and reads back what it stored.
    async fn capture(w: &World, sub: &FormSubmission) -> Template {
        w.pipeline.process(sub).await.unwrap();
        let store = &w.store;
        let draft = store
            .find_draft_by_submission(sub.id)
            .await
            .unwrap()
            .unwrap();
        let run = store.runs_for_submission(sub.id).await.unwrap().remove(0);
        let entries = store.audit_entries(0, 10_000).await.unwrap();
        let last = entries
            .iter()
            .rev()
            .find(|e| e.action == "draft.create")
            .unwrap();
        let audit = NewAuditEntry {
            actor: last.actor.clone(),
            action: last.action.clone(),
            subject: last.subject.clone(),
            details: last.details.clone(),
        };
        let job = store
            .list_jobs(&JobFilter {
                kind: Some(kinds::CRM_FOLLOW_UP.to_owned()),
                limit: 1,
                ..JobFilter::default()
            })
            .await
            .unwrap()
            .remove(0);
        let job = NewJob::new(job.kind.clone(), job.payload.clone())
            .with_key(job.idempotency_key.clone().unwrap_or_default())
            .with_max_attempts(job.max_attempts);
        Template {
            draft,
            run,
            audit,
            job,
        }
    }

    /// The record of a new draft for `submission`.
    fn record(&self, submission: SubmissionId) -> Record {
        let mut draft = self.draft.clone();
        draft.id = DraftId::new();
        draft.submission_id = Some(submission);
        let mut run = self.run.clone();
        run.id = RunId::new();
        run.submission_id = submission;
        run.draft_id = Some(draft.id);
        let mut audit = self.audit.clone();
        audit.subject = draft.id.to_string();
        audit.details["submission_id"] = serde_json::json!(submission);
        audit.details["run_id"] = serde_json::json!(run.id);
        let mut payload = self.job.payload.clone();
        payload["draft_id"] = serde_json::json!(draft.id);
        let job = NewJob::new(self.job.kind.clone(), payload)
            .with_key(format!("crm_follow_up:{}", draft.id))
            .with_max_attempts(self.job.max_attempts);
        Record {
            event: draft.created_event(ACTOR),
            draft,
            run,
            audit,
            job,
        }
    }
}

/// The steps of the graph run one after another through `w`'s ports (the seed's way): each
/// step makes the port calls the pipeline makes for it, with the same simulated latencies.
async fn sequential_once(w: &World, sub: &FormSubmission, template: &Template) -> Duration {
    let p = w.pipeline.ports();
    let config = w.pipeline.config();
    let t0 = tokio::time::Instant::now();
    for step in Step::ALL {
        match step {
            Step::Submission => drop(p.store.save_submission(sub).await.unwrap()),
            Step::ResolveContact => drop(p.crm.find_contact_by_email(&sub.lead.email).await),
            Step::MailHistory => {
                let q = MailQuery {
                    participant: Some(sub.lead.email.clone()),
                    limit: config.mail_history_limit,
                    ..MailQuery::default()
                };
                drop(p.mailbox.search(&q).await);
            }
            Step::DriveAssets => {
                let q = DriveQuery {
                    text: Some("fleet automation".to_owned()),
                    limit: config.drive_limit,
                    ..DriveQuery::default()
                };
                drop(p.drive.search(&q).await);
            }
            Step::CompanyLookup => {
                drop(p.crm.find_company_by_domain(sub.lead.email.domain()).await);
            }
            Step::CompanyAnalysis => {
                let req = prompt::company_request(&CompanyInput::default());
                drop(p.llm.complete(&req).await);
            }
            Step::MeetingSlots => {
                let range = config.slots.search_range(p.clock.now());
                drop(p.calendar.free_busy(range).await);
            }
            Step::VoiceProfile => {
                drop(
                    p.store
                        .voice_profile(&config.sender, &config.voice_profile)
                        .await,
                );
            }
            Step::Draft => {
                let req = prompt::draft_request(&DraftInput::default());
                drop(p.llm.complete(&req).await);
            }
            Step::IcpScore => drop(config.icp.assess(&IcpInput::default())),
            Step::StoreDraft => {
                let record = template.record(sub.id);
                p.store.insert_draft_record(&record.as_new()).await.unwrap();
            }
        }
    }
    t0.elapsed()
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
        seed_contacts(&w, 2 * runs + 1).await;
        let mut times = Vec::with_capacity(runs);
        for i in 0..runs {
            let sub = submission(i, &w.clock);
            let t0 = tokio::time::Instant::now();
            w.pipeline.process(&sub).await.unwrap();
            times.push(t0.elapsed());
        }
        times.sort();
        let median = times[runs / 2].as_secs_f64() * 1000.0;
        let template = Template::capture(&w, &submission(2 * runs, &w.clock)).await;
        let mut seq = Vec::with_capacity(runs);
        for i in runs..2 * runs {
            seq.push(sequential_once(&w, &submission(i, &w.clock), &template).await);
        }
        seq.sort();
        let seq = seq[runs / 2].as_secs_f64() * 1000.0;
        let (cp, cp_path) = critical_path(STEP_GRAPH, step_cost);
        let (sched, sched_path) = critical_path(PIPELINE_SCHEDULE, step_cost);
        let (cp, sched) = (cp.as_secs_f64() * 1000.0, sched.as_secs_f64() * 1000.0);
        println!(
            "SETTINGS pipeline.latency paused tokio clock, in-memory fake store, latencies ms: \
             crm={CRM} mail={MAIL} drive={DRIVE} analysis={ANALYSIS} calendar={CALENDAR} \
             store={STORE} draft={DRAFT}; median of {runs} runs each; critical path \
             {} (graph::STEP_GRAPH); pipeline schedule path {} (graph::PIPELINE_SCHEDULE)",
            path_names(&cp_path),
            path_names(&sched_path),
        );
        println!("RESULT pipeline.time_to_draft_ms {median:.1} ms");
        println!("RESULT pipeline.critical_path_ms {cp:.0} ms");
        println!("RESULT pipeline.latency_ratio {:.4} ratio", median / cp);
        println!("RESULT pipeline.schedule_path_ms {sched:.0} ms");
        println!(
            "RESULT pipeline.latency_ratio_vs_schedule {:.4} ratio",
            median / sched
        );
        println!("RESULT pipeline.sequential_ms {seq:.1} ms");
        println!(
            "RESULT pipeline.sequential_over_ours {:.3} ratio",
            seq / median
        );
        println!(
            "RESULT pipeline.sequential_over_critical_path {:.3} ratio",
            seq / cp
        );
    });
}

/// Runs `op(i)` for `i` in `0..n` from `concurrency` tasks; returns items per second.
async fn rate_of<F, Fut>(n: usize, concurrency: usize, op: F) -> f64
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let op = Arc::new(op);
    let next = Arc::new(AtomicUsize::new(0));
    let t0 = std::time::Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let (op, next) = (op.clone(), next.clone());
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        break;
                    }
                    op(i).await;
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

/// Pipelines per second through `Pipeline::process`, `concurrency` tasks, after a warm-up.
async fn direct_rate(w: &World, n: usize, concurrency: usize) -> f64 {
    let warm = 200;
    let subs: Arc<Vec<FormSubmission>> =
        Arc::new((0..n + warm).map(|i| submission(i, &w.clock)).collect());
    for s in &subs[..warm] {
        w.pipeline.process(s).await.unwrap();
    }
    let p = w.pipeline.clone();
    rate_of(n, concurrency, move |i| {
        let (p, subs) = (p.clone(), subs.clone());
        async move {
            p.process(&subs[warm + i]).await.unwrap();
        }
    })
    .await
}

/// The bare-write loop: per item, `save_submission` and `insert_draft_record` on `store`
/// (records re-keyed from `template`), `concurrency` tasks, after the same warm-up.
async fn bare_write_rate(
    store: DynStore,
    clock: &DynClock,
    template: Arc<Template>,
    n: usize,
    concurrency: usize,
) -> f64 {
    let warm = 200;
    // Submission numbers far from the pipeline's, so both may share a CRM or a store.
    let subs: Arc<Vec<FormSubmission>> = Arc::new(
        (0..n + warm)
            .map(|i| submission(1_000_000 + i, clock))
            .collect(),
    );
    for s in &subs[..warm] {
        let (stored, _) = store.save_submission(s).await.unwrap();
        let record = template.record(stored.id);
        store.insert_draft_record(&record.as_new()).await.unwrap();
    }
    rate_of(n, concurrency, move |i| {
        let (store, subs, template) = (store.clone(), subs.clone(), template.clone());
        async move {
            let (stored, new) = store.save_submission(&subs[warm + i]).await.unwrap();
            assert!(new);
            let record = template.record(stored.id);
            store.insert_draft_record(&record.as_new()).await.unwrap();
        }
    })
    .await
}

async fn sqlite_memory(clock: &DynClock) -> DynStore {
    Arc::new(
        SqlStore::builder("sqlite::memory:")
            .without_encryption()
            .clock(clock.clone())
            .connect()
            .await
            .unwrap(),
    )
}

fn env_count(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(default)
}

#[allow(clippy::too_many_lines)]
fn throughput_bench() {
    let rounds = env_count("PIPELINE_BENCH_ROUNDS", 5);
    let n = env_count("PIPELINE_BENCH_N", 3_000);
    let concurrency = 64;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let clock: DynClock = Arc::new(SystemClock);
        println!(
            "SETTINGS pipeline.throughput sqlite::memory: (one connection, store defaults, \
             unencrypted), zero-latency fakes, template writer, {concurrency} in flight, \
             tokio 2 worker threads, {rounds} rounds of {n} (each on fresh stores, pipeline \
             and bare loop taking turns), median shown; {}",
            common::machine()
        );
        // The record shape: one pipeline run on a scratch store.
        let scratch = world(false, clock.clone(), Some(sqlite_memory(&clock).await));
        let template = Arc::new(Template::capture(&scratch, &submission(999_999, &clock)).await);
        let mut pipe = Vec::new();
        let mut bare = Vec::new();
        for round in 0..rounds {
            for first in [round % 2 == 0, round % 2 == 1] {
                if first {
                    let w = world(false, clock.clone(), Some(sqlite_memory(&clock).await));
                    pipe.push(direct_rate(&w, n, concurrency).await);
                } else {
                    let store = sqlite_memory(&clock).await;
                    bare.push(
                        bare_write_rate(store, &clock, template.clone(), n, concurrency).await,
                    );
                }
            }
        }
        let mut ratios: Vec<f64> = pipe.iter().zip(&bare).map(|(p, b)| p / b).collect();
        pipe.sort_by(f64::total_cmp);
        bare.sort_by(f64::total_cmp);
        ratios.sort_by(f64::total_cmp);
        let mid = rounds / 2;
        println!("RESULT pipeline.throughput {:.0} pipelines/s", pipe[mid]);
        println!(
            "RESULT pipeline.throughput_round_min {:.0} pipelines/s",
            pipe[0]
        );
        println!(
            "RESULT pipeline.throughput_round_max {:.0} pipelines/s",
            pipe[rounds - 1]
        );
        println!(
            "RESULT pipeline.bare_writes {:.0} writes/s (submission + draft record)",
            bare[mid]
        );
        println!(
            "RESULT pipeline.throughput_over_bare_writes {:.3} ratio",
            pipe[mid] / bare[mid]
        );
        println!(
            "RESULT pipeline.throughput_over_bare_writes_round_min {:.3} ratio",
            ratios[0]
        );
        println!(
            "RESULT pipeline.throughput_over_bare_writes_round_max {:.3} ratio",
            ratios[rounds - 1]
        );

        let w = world(false, clock.clone(), None);
        let rate = direct_rate(&w, 2 * n, concurrency).await;
        println!("RESULT pipeline.throughput_memory_store {rate:.0} pipelines/s");

        // Through the queue: submit, then 8 workers run pipeline and CRM follow-up jobs.
        let w = world(false, clock.clone(), None);
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

/// One side of part (b) alone, `PIPELINE_BENCH_ROUNDS` rounds on fresh in-memory SQLite
/// stores, printing each round's rate: for a profiler (`perf record`) to see only that loop.
/// `bare`: the bare-write loop; otherwise the pipeline.
fn profile_one(bare: bool) {
    let rounds = env_count("PIPELINE_BENCH_ROUNDS", 5);
    let n = env_count("PIPELINE_BENCH_N", 3_000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let clock: DynClock = Arc::new(SystemClock);
        let scratch = world(false, clock.clone(), Some(sqlite_memory(&clock).await));
        let template = Arc::new(Template::capture(&scratch, &submission(999_999, &clock)).await);
        for _ in 0..rounds {
            let rate = if bare {
                let store = sqlite_memory(&clock).await;
                bare_write_rate(store, &clock, template.clone(), n, 64).await
            } else {
                let w = world(false, clock.clone(), Some(sqlite_memory(&clock).await));
                direct_rate(&w, n, 64).await
            };
            let name = if bare { "bare_writes" } else { "throughput" };
            println!("RESULT pipeline.profile.{name} {rate:.0} per_s");
        }
    });
}

/// `cargo bench --bench pipeline [latency|throughput|heap]...` runs only the named parts
/// (all when none is named; cargo's own `--bench` flag is ignored); `profile-bare` and
/// `profile-pipeline` run one side of the throughput part alone (see [`profile_one`]).
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
    if wanted.iter().any(|w| w == "profile-bare") {
        profile_one(true);
    }
    if wanted.iter().any(|w| w == "profile-pipeline") {
        profile_one(false);
    }
}
