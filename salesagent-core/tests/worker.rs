//! The job runner: a handler per kind, kinds it does not know left for others, deferrals and
//! shutdown that give jobs back without using an attempt.

use async_trait::async_trait;
use chrono::TimeDelta;
use salesagent_core::Result;
use salesagent_core::layers::{Layer, Layered};
use salesagent_core::model::{Job, JobFilter, JobState, NewJob};
use salesagent_core::ports::{Clock as _, DynClock, DynStore};
use salesagent_core::testing::{ManualClock, MemoryStore};
use salesagent_core::worker::{JobDone, JobHandler, JobKind, Worker, WorkerConfig};
use serde::{Deserialize, Serialize};
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Greet {
    name: String,
}

impl JobKind for Greet {
    const KIND: &'static str = "greet";
    fn idempotency_key(&self) -> Option<String> {
        Some(format!("greet:{}", self.name))
    }
}

/// Greets; "later" asks to run again an hour on; "slow" takes a (tokio) minute.
#[derive(Debug)]
struct GreetHandler {
    runs: Arc<AtomicUsize>,
    clock: DynClock,
}

#[async_trait]
impl JobHandler for GreetHandler {
    fn kind(&self) -> &str {
        Greet::KIND
    }
    async fn run(&self, job: &Job) -> Result<JobDone> {
        let g = Greet::from_job(job)?;
        let n = self.runs.fetch_add(1, Ordering::SeqCst) + 1;
        match g.name.as_str() {
            "later" if n == 1 => Ok(JobDone::RunAgainAt(self.clock.now() + TimeDelta::hours(1))),
            "slow" => {
                tokio::time::sleep(Duration::from_secs(60)).await;
                Ok(JobDone::Complete)
            }
            _ => Ok(JobDone::Complete),
        }
    }
}

fn setup() -> (ManualClock, DynStore, DynClock, Arc<AtomicUsize>, Worker) {
    let clock = ManualClock::new(ManualClock::default_start());
    let shared = clock.shared();
    let store: DynStore = Arc::new(MemoryStore::new(shared.clone()));
    let runs = Arc::new(AtomicUsize::new(0));
    let worker = Worker::empty(
        store.clone(),
        shared.clone(),
        WorkerConfig {
            shutdown_grace: Duration::from_millis(50),
            poll_interval: Duration::from_millis(5),
            ..WorkerConfig::default()
        },
    )
    .register(GreetHandler {
        runs: runs.clone(),
        clock: shared.clone(),
    });
    (clock, store, shared, runs, worker)
}

#[tokio::test]
async fn registered_kinds_run_and_unknown_kinds_stay_queued() {
    let (_clock, store, _c, runs, worker) = setup();
    assert_eq!(worker.kinds(), vec!["greet".to_owned()]);
    let job = Greet { name: "ann".into() }.to_job().unwrap();
    store.enqueue(&job).await.unwrap();
    // The same payload again is the same job.
    let (_, new) = store.enqueue(&job).await.unwrap();
    assert!(!new);
    store
        .enqueue(&NewJob::new("from_a_newer_version", serde_json::json!({})))
        .await
        .unwrap();
    let stats = worker.run_until_idle(2).await.unwrap();
    assert_eq!((stats.done, stats.dead), (1, 0), "{stats:?}");
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    let queued = store
        .list_jobs(&JobFilter {
            state: Some(JobState::Queued),
            ..JobFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].kind, "from_a_newer_version");
    assert_eq!(queued[0].attempts, 0);
}

#[tokio::test]
async fn not_now_gives_the_job_back_for_later_without_using_an_attempt() {
    let (clock, store, shared, runs, worker) = setup();
    let (job, _) = store
        .enqueue(
            &Greet {
                name: "later".into(),
            }
            .to_job()
            .unwrap(),
        )
        .await
        .unwrap();
    let stats = worker.run_until_idle(1).await.unwrap();
    assert_eq!(stats.deferred, 1, "{stats:?}");
    let stored = store.get_job(job.id).await.unwrap();
    assert_eq!(stored.state, JobState::Queued);
    assert_eq!(stored.attempts, 0);
    assert_eq!(stored.run_at, shared.now() + TimeDelta::hours(1));
    // Not runnable before its time; runs once the hour has passed.
    assert_eq!(worker.run_until_idle(1).await.unwrap().claimed(), 0);
    clock.advance(Duration::from_secs(3600));
    let stats = worker.run_until_idle(1).await.unwrap();
    assert_eq!(stats.done, 1, "{stats:?}");
    assert_eq!(runs.load(Ordering::SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn shutdown_lets_jobs_finish_within_the_grace_then_gives_the_rest_back() {
    let (_clock, store, _c, runs, worker) = setup();
    let (slow, _) = store
        .enqueue(
            &Greet {
                name: "slow".into(),
            }
            .to_job()
            .unwrap(),
        )
        .await
        .unwrap();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let w = worker.clone();
    let run = tokio::spawn(async move {
        w.run(1, async {
            let _ = stop_rx.await;
        })
        .await
    });
    // Let the worker claim the slow job, then ask it to stop: the job outlives the grace.
    while runs.load(Ordering::SeqCst) == 0 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    stop_tx.send(()).unwrap();
    let stats = run.await.unwrap();
    assert_eq!(stats.released, 1, "{stats:?}");
    let stored = store.get_job(slow.id).await.unwrap();
    assert_eq!(stored.state, JobState::Queued, "{stored:?}");
    assert_eq!(stored.attempts, 0, "giving a job back uses no attempt");
    assert!(stored.lease_owner.is_none());
}

/// Records the store's claim calls and holds the worker's first batch claim, once it has its
/// jobs, until the test says `resume`.
#[derive(Debug, Clone, Default)]
struct ClaimGate(Arc<GateState>);

#[derive(Debug, Default)]
struct GateState {
    /// (operation, key arguments) of every claim.
    claims: Mutex<Vec<(&'static str, String)>>,
    held: AtomicBool,
    /// Notified when the first batch is claimed (and held).
    claimed: Notify,
    resume: Notify,
}

impl Layer for ClaimGate {
    async fn around<'a, T, F>(
        &'a self,
        op: &'static str,
        args: &'a (dyn Fn() -> String + Sync),
        call: F,
    ) -> Result<T>
    where
        T: Send + 'a,
        F: Future<Output = Result<T>> + Send + 'a,
    {
        async move {
            if op.starts_with("store.claim") {
                self.0.claims.lock().unwrap().push((op, args()));
            }
            let r = call.await;
            if op == "store.claim_batch" && !self.0.held.swap(true, Ordering::SeqCst) {
                self.0.claimed.notify_one();
                self.0.resume.notified().await;
            }
            r
        }
        .await
    }
}

/// A worker over a gated store, claiming at most `claim_batch` jobs per poll.
fn gated(claim_batch: usize) -> (DynStore, ClaimGate, Arc<AtomicUsize>, Worker) {
    let clock = ManualClock::new(ManualClock::default_start());
    let shared = clock.shared();
    let gate = ClaimGate::default();
    let store: DynStore = Arc::new(Layered::wrap(
        MemoryStore::new(shared.clone()),
        gate.clone(),
    ));
    let runs = Arc::new(AtomicUsize::new(0));
    let worker = Worker::empty(
        store.clone(),
        shared.clone(),
        WorkerConfig {
            shutdown_grace: Duration::from_millis(50),
            poll_interval: Duration::from_millis(5),
            claim_batch,
            ..WorkerConfig::default()
        },
    )
    .register(GreetHandler {
        runs: runs.clone(),
        clock: shared,
    });
    (store, gate, runs, worker)
}

async fn enqueue_greets(store: &DynStore, n: usize) {
    for i in 0..n {
        let job = Greet {
            name: format!("guest-{i}"),
        }
        .to_job()
        .unwrap();
        store.enqueue(&job).await.unwrap();
    }
}

#[tokio::test]
async fn the_worker_claims_batches_of_at_most_its_free_slots_and_the_configured_size() {
    let (store, gate, runs, worker) = gated(3);
    enqueue_greets(&store, 25).await;
    let w = worker.clone();
    let run = tokio::spawn(async move { w.run_until_idle(4).await });
    // The first poll, with 4 free slots, claims a batch of 3 in one call.
    gate.0.claimed.notified().await;
    let counts = store.job_counts().await.unwrap();
    assert_eq!(
        (
            counts.get(&JobState::Running),
            counts.get(&JobState::Queued)
        ),
        (Some(&3), Some(&22)),
        "one claim took a batch of 3: {counts:?}"
    );
    gate.0.resume.notify_one();
    let stats = run.await.unwrap().unwrap();
    assert_eq!((stats.done, stats.claimed()), (25, 25), "{stats:?}");
    assert_eq!(runs.load(Ordering::SeqCst), 25, "each job ran once");
    let claims = gate.0.claims.lock().unwrap().clone();
    assert!(
        claims.iter().all(|(op, _)| *op == "store.claim_batch"),
        "the worker claims in batches only: {claims:?}"
    );
    let sizes: Vec<usize> = claims
        .iter()
        .map(|(_, args)| args.rsplit(", ").next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(sizes[0], 3, "4 free slots, batches of at most 3");
    assert!(
        sizes.iter().all(|n| (1..=3).contains(n)),
        "never more than the batch size or the free slots: {sizes:?}"
    );
    assert!(
        claims.len() < 25,
        "fewer claims than jobs: {} claims",
        claims.len()
    );
    let done = store
        .list_jobs(&JobFilter {
            state: Some(JobState::Done),
            ..JobFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(done.len(), 25);
}

#[tokio::test]
async fn a_batch_claimed_as_shutdown_begins_goes_back_to_the_queue_unstarted() {
    // A current-thread runtime: the shutdown future lets the held claim go on and `run` marks
    // the shutdown before the worker's task can run again.
    let (store, gate, runs, worker) = gated(10);
    enqueue_greets(&store, 3).await;
    let g = gate.clone();
    let stats = worker
        .run(4, async move {
            g.0.claimed.notified().await;
            g.0.resume.notify_one();
        })
        .await;
    assert_eq!((stats.released, stats.claimed()), (3, 3), "{stats:?}");
    assert_eq!(
        runs.load(Ordering::SeqCst),
        0,
        "no job of the batch started"
    );
    let jobs = store.list_jobs(&JobFilter::default()).await.unwrap();
    assert_eq!(jobs.len(), 3);
    for j in &jobs {
        assert_eq!(
            (j.state, j.attempts, j.lease_owner.as_deref()),
            (JobState::Queued, 0, None),
            "given back without using an attempt: {j:?}"
        );
    }
}

/// Records the store's group completions (their sizes, whether alone or with the next claim)
/// and holds the first one until every job's handler has run, so the finishes that arrive
/// meanwhile must wait for the next group.
#[derive(Debug, Clone, Default)]
struct CompletionLog {
    groups: Arc<Mutex<Vec<(&'static str, usize)>>>,
    singles: Arc<AtomicUsize>,
    runs: Arc<AtomicUsize>,
    expected: usize,
}

impl Layer for CompletionLog {
    async fn around<'a, T, F>(
        &'a self,
        op: &'static str,
        args: &'a (dyn Fn() -> String + Sync),
        call: F,
    ) -> Result<T>
    where
        T: Send + 'a,
        F: Future<Output = Result<T>> + Send + 'a,
    {
        async move {
            if op == "store.complete" {
                self.singles.fetch_add(1, Ordering::SeqCst);
            }
            if op == "store.complete_batch" || op == "store.complete_and_claim" {
                // The number of leases is the first argument of both.
                let size = args()
                    .split(", ")
                    .next()
                    .and_then(|n| n.parse().ok())
                    .unwrap();
                let first = {
                    let mut groups = self.groups.lock().unwrap();
                    groups.push((op, size));
                    groups.len() == 1
                };
                while first && self.runs.load(Ordering::SeqCst) < self.expected {
                    tokio::task::yield_now().await;
                }
            }
            call.await
        }
        .await
    }
}

#[tokio::test]
async fn concurrent_finishes_are_completed_in_groups() {
    let n = 8;
    let clock = ManualClock::new(ManualClock::default_start());
    let shared = clock.shared();
    let runs = Arc::new(AtomicUsize::new(0));
    let log = CompletionLog {
        runs: runs.clone(),
        expected: n,
        ..CompletionLog::default()
    };
    let store: DynStore = Arc::new(Layered::wrap(MemoryStore::new(shared.clone()), log.clone()));
    let worker = Worker::empty(
        store.clone(),
        shared.clone(),
        WorkerConfig {
            poll_interval: Duration::from_millis(5),
            ..WorkerConfig::default()
        },
    )
    .register(GreetHandler {
        runs: runs.clone(),
        clock: shared,
    });
    enqueue_greets(&store, n).await;
    let stats = worker.run_until_idle(n).await.unwrap();
    assert_eq!(stats.done, n as u64, "{stats:?}");
    let groups = log.groups.lock().unwrap().clone();
    assert_eq!(
        log.singles.load(Ordering::SeqCst),
        0,
        "no job completed alone"
    );
    assert!(
        (1..n).contains(&groups.len()),
        "{n} concurrent finishes coalesce into fewer group completions: {groups:?}"
    );
    let total: usize = groups.iter().map(|(_, size)| size).sum();
    assert_eq!(total, n, "every lease completed once: {groups:?}");
    assert!(
        groups
            .iter()
            .all(|(op, _)| *op == "store.complete_and_claim"),
        "a running worker completes with its next claim: {groups:?}"
    );
    let jobs = store.list_jobs(&JobFilter::default()).await.unwrap();
    assert!(jobs.iter().all(|j| j.state == JobState::Done), "{jobs:?}");
}

/// Counts the store's claims and completions by operation.
#[derive(Debug, Clone, Default)]
struct OpCount(Arc<Mutex<std::collections::BTreeMap<&'static str, usize>>>);

impl Layer for OpCount {
    async fn around<'a, T, F>(
        &'a self,
        op: &'static str,
        _args: &'a (dyn Fn() -> String + Sync),
        call: F,
    ) -> Result<T>
    where
        T: Send + 'a,
        F: Future<Output = Result<T>> + Send + 'a,
    {
        *self.0.lock().unwrap().entry(op).or_default() += 1;
        call.await
    }
}

#[tokio::test]
async fn a_busy_worker_completes_finished_jobs_with_its_next_claim() {
    let clock = ManualClock::new(ManualClock::default_start());
    let shared = clock.shared();
    let ops = OpCount::default();
    let store: DynStore = Arc::new(Layered::wrap(MemoryStore::new(shared.clone()), ops.clone()));
    let runs = Arc::new(AtomicUsize::new(0));
    let worker = Worker::empty(
        store.clone(),
        shared.clone(),
        WorkerConfig {
            claim_batch: 2,
            ..WorkerConfig::default()
        },
    )
    .register(GreetHandler {
        runs: runs.clone(),
        clock: shared,
    });
    enqueue_greets(&store, 30).await;
    let stats = worker.run_until_idle(2).await.unwrap();
    assert_eq!((stats.done, stats.claimed()), (30, 30), "{stats:?}");
    assert_eq!(runs.load(Ordering::SeqCst), 30, "each job ran once");
    let ops = ops.0.lock().unwrap().clone();
    let n = |op| ops.get(op).copied().unwrap_or(0);
    assert_eq!(
        (n("store.complete"), n("store.complete_batch")),
        (0, 0),
        "while running, completions only go in with claims: {ops:?}"
    );
    assert!(
        n("store.complete_and_claim") >= 15 && n("store.claim_batch") <= 2,
        "30 jobs in batches of 2: one combined call per batch, one plain claim to start \
         (and at most one more): {ops:?}"
    );
    let jobs = store.list_jobs(&JobFilter::default()).await.unwrap();
    assert!(
        jobs.iter()
            .all(|j| j.state == JobState::Done && j.attempts == 1),
        "{jobs:?}"
    );
}
