//! The durable job queue on every backend.

use crate::common::{ManualClock, builder, open, pg_url, sqlite_file_url, stores, urls};
use chrono::Duration as CDuration;
use salesagent_core::Error;
use salesagent_core::model::{JobFailure, JobFilter, JobState, NewJob, RetryPolicy};
use salesagent_core::ports::{Clock, JobStore};
use salesagent_store::SqlStore;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const LEASE: Duration = Duration::from_secs(30);

#[tokio::test]
async fn enqueue_is_idempotent_by_key() {
    for (name, s, _) in stores().await {
        let j = NewJob::new("pipeline", serde_json::json!({"n": 1})).with_key("sub-1");
        let (a, new_a) = s.enqueue(&j).await.unwrap();
        let (b, new_b) = s.enqueue(&j).await.unwrap();
        assert!(new_a && !new_b, "{name}");
        assert_eq!(a.id, b.id, "{name}");
        // Concurrent duplicates: still exactly one job.
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let s = s.clone();
            tasks.push(tokio::spawn(async move {
                s.enqueue(&NewJob::new("send", serde_json::json!({})).with_key("race"))
                    .await
                    .unwrap()
            }));
        }
        let mut ids = Vec::new();
        let mut created = 0;
        for t in tasks {
            let (job, new) = t.await.unwrap();
            ids.push(job.id);
            created += usize::from(new);
        }
        ids.dedup();
        assert_eq!((created, ids.len()), (1, 1), "{name}");
        // Keyless jobs are never deduplicated.
        let (c, _) = s
            .enqueue(&NewJob::new("x", serde_json::json!(1)))
            .await
            .unwrap();
        let (d, _) = s
            .enqueue(&NewJob::new("x", serde_json::json!(1)))
            .await
            .unwrap();
        assert_ne!(c.id, d.id, "{name}");
        assert_eq!(s.get_job(a.id).await.unwrap(), a, "{name}");
        assert!(matches!(
            s.enqueue(&NewJob::new(" ", serde_json::json!(1))).await,
            Err(Error::InvalidInput { .. })
        ));
    }
}

#[tokio::test]
async fn claim_heartbeat_complete_and_lost_leases() {
    for (name, s, clock) in stores().await {
        let later = NewJob::new("pipeline", serde_json::json!({"k": "later"}))
            .run_at(clock.now_plus(CDuration::minutes(5)));
        s.enqueue(&later).await.unwrap();
        let (job, _) = s
            .enqueue(&NewJob::new("pipeline", serde_json::json!({"k": "now"})))
            .await
            .unwrap();
        s.enqueue(&NewJob::new("send", serde_json::json!({})))
            .await
            .unwrap();
        // Kind filter and due time.
        let c = s
            .claim("w1", &["pipeline".into()], LEASE)
            .await
            .unwrap()
            .expect("due pipeline job");
        assert_eq!(c.job.id, job.id, "{name}");
        assert_eq!(c.job.state, JobState::Running);
        assert_eq!(c.job.attempts, 1);
        assert_eq!(c.job.lease_owner.as_deref(), Some("w1"));
        assert!(
            s.claim("w2", &["pipeline".into()], LEASE)
                .await
                .unwrap()
                .is_none(),
            "{name}: the delayed job is not due and the other is leased"
        );
        // Heartbeat extends; a stale token cannot.
        clock.advance(CDuration::seconds(20));
        let lease = s.heartbeat(&c.lease, LEASE).await.unwrap();
        assert!(lease.expires_at > c.lease.expires_at);
        clock.advance(CDuration::seconds(20));
        assert!(
            s.claim("w2", &["pipeline".into()], LEASE)
                .await
                .unwrap()
                .is_none(),
            "{name}: heartbeat kept the lease"
        );
        let mut forged = lease.clone();
        forged.token = salesagent_core::model::LeaseToken::new();
        assert!(matches!(
            s.complete(&forged).await,
            Err(Error::Conflict { .. })
        ));
        s.complete(&lease).await.unwrap();
        assert_eq!(s.get_job(job.id).await.unwrap().state, JobState::Done);
        assert!(
            matches!(s.complete(&lease).await, Err(Error::Conflict { .. })),
            "{name}"
        );
        let counts = s.job_counts().await.unwrap();
        assert_eq!(counts.get(&JobState::Done), Some(&1), "{name}");
        assert_eq!(counts.get(&JobState::Queued), Some(&2), "{name}");
        let queued = s
            .list_jobs(&JobFilter {
                state: Some(JobState::Queued),
                kind: None,
                limit: 0,
            })
            .await
            .unwrap();
        assert_eq!(queued.len(), 2, "{name}");
        assert!(matches!(
            s.get_job(salesagent_core::model::JobId::new()).await,
            Err(Error::NotFound { .. })
        ));
    }
}

#[tokio::test]
async fn failures_back_off_then_dead_letter_then_requeue() {
    for (name, url) in crate::common::urls().await {
        let clock = ManualClock::new();
        let s = builder(&url)
            .clock(clock.clone())
            .retry_policy(RetryPolicy {
                base: Duration::from_secs(10),
                max: Duration::from_secs(3600),
                jitter: 0.5,
            })
            .connect()
            .await
            .unwrap();
        let (job, _) = s
            .enqueue(&NewJob::new("crm_follow_up", serde_json::json!({})).with_max_attempts(3))
            .await
            .unwrap();
        let boom = JobFailure {
            error: "CRM unavailable".into(),
            retryable: true,
            retry_after: None,
        };
        let mut delays = Vec::new();
        for attempt in 1..=3u32 {
            let c = s.claim("w", &[], LEASE).await.unwrap().expect("runnable");
            assert_eq!(c.job.attempts, attempt, "{name}");
            let after = s.fail(&c.lease, &boom).await.unwrap();
            assert_eq!(after.last_error.as_deref(), Some("CRM unavailable"));
            if attempt < 3 {
                assert_eq!(after.state, JobState::Queued, "{name}");
                let delay = after.run_at - clock.now();
                // base 10 s · 2^(n-1), ±50 % jitter.
                let nominal = 10 * 2i64.pow(attempt - 1);
                assert!(
                    delay >= CDuration::seconds(nominal / 2)
                        && delay <= CDuration::seconds(nominal * 3 / 2),
                    "{name}: attempt {attempt} delay {delay}"
                );
                delays.push(delay);
                assert!(
                    s.claim("w", &[], LEASE).await.unwrap().is_none(),
                    "{name}: backing off"
                );
                clock.advance(delay);
            } else {
                assert_eq!(after.state, JobState::Dead, "{name}");
            }
        }
        assert!(s.claim("w", &[], LEASE).await.unwrap().is_none());
        // A permanent error dead-letters at once.
        let (p, _) = s
            .enqueue(&NewJob::new("send", serde_json::json!({})))
            .await
            .unwrap();
        let c = s.claim("w", &[], LEASE).await.unwrap().unwrap();
        assert_eq!(c.job.id, p.id);
        let dead = s
            .fail(
                &c.lease,
                &JobFailure {
                    error: "recipient rejected".into(),
                    retryable: false,
                    retry_after: None,
                },
            )
            .await
            .unwrap();
        assert_eq!((dead.state, dead.attempts), (JobState::Dead, 1), "{name}");
        // Requeue gives a fresh budget.
        let again = s.requeue_dead(job.id).await.unwrap();
        assert_eq!(
            (again.state, again.attempts),
            (JobState::Queued, 0),
            "{name}"
        );
        assert!(matches!(
            s.requeue_dead(job.id).await,
            Err(Error::Conflict { .. })
        ));
        let c = s.claim("w", &[], LEASE).await.unwrap().unwrap();
        assert_eq!(c.job.id, job.id);
        s.complete(&c.lease).await.unwrap();
        // Retry-After is a floor.
        let (r, _) = s
            .enqueue(&NewJob::new("x", serde_json::json!({})))
            .await
            .unwrap();
        let c = s.claim("w", &[], LEASE).await.unwrap().unwrap();
        assert_eq!(c.job.id, r.id);
        let after = s
            .fail(
                &c.lease,
                &JobFailure {
                    error: "429".into(),
                    retryable: true,
                    retry_after: Some(Duration::from_secs(600)),
                },
            )
            .await
            .unwrap();
        assert!(
            after.run_at - clock.now() >= CDuration::seconds(600),
            "{name}"
        );
    }
}

/// A worker that dies mid-job: its lease expires, another worker runs the job to completion
/// exactly once, and the dead worker's late completion is refused.
#[tokio::test]
async fn expired_lease_is_reclaimed_and_completes_once() {
    for (name, s, clock) in stores().await {
        let (job, _) = s
            .enqueue(&NewJob::new("pipeline", serde_json::json!({"id": 7})).with_max_attempts(2))
            .await
            .unwrap();
        let crashed = s.claim("crashed", &[], LEASE).await.unwrap().unwrap();
        assert!(s.claim("w2", &[], LEASE).await.unwrap().is_none());
        clock.advance(CDuration::seconds(31));
        let second = s.claim("w2", &[], LEASE).await.unwrap().expect("reclaimed");
        assert_eq!(second.job.id, job.id, "{name}");
        assert_eq!(second.job.attempts, 2);
        assert_ne!(second.lease.token, crashed.lease.token);
        assert!(matches!(
            s.complete(&crashed.lease).await,
            Err(Error::Conflict { .. })
        ));
        assert!(matches!(
            s.heartbeat(&crashed.lease, LEASE).await,
            Err(Error::Conflict { .. })
        ));
        s.complete(&second.lease).await.unwrap();
        let done = s.get_job(job.id).await.unwrap();
        assert_eq!((done.state, done.attempts), (JobState::Done, 2), "{name}");
        // A job whose worker dies on its last attempt goes to the dead letters.
        let (last, _) = s
            .enqueue(&NewJob::new("pipeline", serde_json::json!({})).with_max_attempts(1))
            .await
            .unwrap();
        s.claim("crashed", &[], LEASE).await.unwrap().unwrap();
        clock.advance(CDuration::seconds(31));
        assert!(s.claim("w2", &[], LEASE).await.unwrap().is_none());
        assert_eq!(
            s.get_job(last.id).await.unwrap().state,
            JobState::Dead,
            "{name}"
        );
    }
}

/// Workers claim and complete `jobs` jobs concurrently; each must be completed exactly once.
async fn exactly_once(s: &SqlStore, workers: usize, jobs: usize) {
    for i in 0..jobs {
        s.enqueue(&NewJob::new("bulk", serde_json::json!({ "i": i })))
            .await
            .unwrap();
    }
    let seen: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
    let mut tasks = Vec::new();
    for w in 0..workers {
        let s = s.clone();
        let seen = seen.clone();
        tasks.push(tokio::spawn(async move {
            let me = format!("worker-{w}");
            while let Some(c) = s.claim(&me, &[], Duration::from_secs(300)).await.unwrap() {
                s.complete(&c.lease).await.unwrap();
                *seen
                    .lock()
                    .unwrap()
                    .entry(c.job.id.to_string())
                    .or_default() += 1;
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), jobs, "every job completed");
    assert!(seen.values().all(|n| *n == 1), "no job completed twice");
    let counts = s.job_counts().await.unwrap();
    assert_eq!(counts.get(&JobState::Done), Some(&(jobs as u64)));
    assert_eq!(
        counts.len(),
        1,
        "nothing left queued or running: {counts:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_workers_exactly_once_postgres() {
    let Some(url) = pg_url().await else { return };
    let s = builder(&url).max_connections(12).connect().await.unwrap();
    exactly_once(&s, 8, 2_000).await;
}

/// The full acceptance run: 8 workers × 10,000 jobs on PostgreSQL.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "about a minute on 2 cores; run with --ignored"]
async fn eight_workers_ten_thousand_jobs_postgres() {
    let Some(url) = pg_url().await else { return };
    let s = builder(&url).max_connections(12).connect().await.unwrap();
    exactly_once(&s, 8, 10_000).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_workers_exactly_once_sqlite_file() {
    let s = open(&sqlite_file_url(), ManualClock::new()).await;
    exactly_once(&s, 8, 500).await;
}

/// Workers claim batches of up to `batch` jobs (of any kind) and complete each, concurrently;
/// every job must be claimed and completed exactly once, none left behind.
async fn exactly_once_batched(s: &SqlStore, workers: usize, jobs: usize, batch: usize) {
    for i in 0..jobs {
        s.enqueue(&NewJob::new("bulk", serde_json::json!({ "i": i })))
            .await
            .unwrap();
    }
    let seen: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
    let mut tasks = Vec::new();
    for w in 0..workers {
        let s = s.clone();
        let seen = seen.clone();
        tasks.push(tokio::spawn(async move {
            let me = format!("batch-worker-{w}");
            loop {
                let claimed = s
                    .claim_batch(&me, &[], Duration::from_secs(300), batch)
                    .await
                    .unwrap();
                assert!(claimed.len() <= batch, "at most a batch per claim");
                if claimed.is_empty() {
                    break;
                }
                for c in claimed {
                    s.complete(&c.lease).await.unwrap();
                    *seen
                        .lock()
                        .unwrap()
                        .entry(c.job.id.to_string())
                        .or_default() += 1;
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), jobs, "every job completed");
    assert!(seen.values().all(|n| *n == 1), "no job completed twice");
    let counts = s.job_counts().await.unwrap();
    assert_eq!(counts.get(&JobState::Done), Some(&(jobs as u64)));
    assert_eq!(
        counts.len(),
        1,
        "nothing left queued or running: {counts:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_batch_workers_exactly_once_postgres() {
    let Some(url) = pg_url().await else { return };
    let s = builder(&url).max_connections(12).connect().await.unwrap();
    exactly_once_batched(&s, 8, 2_000, 10).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_batch_workers_exactly_once_sqlite_file() {
    let s = open(&sqlite_file_url(), ManualClock::new()).await;
    exactly_once_batched(&s, 8, 500, 10).await;
}

trait NowPlus {
    fn now_plus(&self, d: CDuration) -> chrono::DateTime<chrono::Utc>;
}

impl NowPlus for ManualClock {
    fn now_plus(&self, d: CDuration) -> chrono::DateTime<chrono::Utc> {
        use salesagent_core::ports::Clock as _;
        self.now() + d
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn group_completion_conformance_every_backend() {
    for (name, url) in urls().await {
        eprintln!("group completion: {name}");
        let s = builder(&url).connect().await.unwrap();
        salesagent_core::testing::conformance::store::run_job_group_completion(&s).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn complete_and_claim_conformance_every_backend() {
    for (name, url) in urls().await {
        eprintln!("complete and claim: {name}");
        let s = builder(&url).connect().await.unwrap();
        salesagent_core::testing::conformance::store::run_job_complete_and_claim(&s).await;
    }
}

/// Counts a job's runs by id.
#[derive(Debug, Clone, Default)]
struct CountRuns(Arc<Mutex<HashMap<String, usize>>>);

#[async_trait::async_trait]
impl salesagent_core::worker::JobHandler for CountRuns {
    fn kind(&self) -> &str {
        "counted"
    }
    async fn run(
        &self,
        job: &salesagent_core::model::Job,
    ) -> salesagent_core::Result<salesagent_core::worker::JobDone> {
        *self
            .0
            .lock()
            .unwrap()
            .entry(job.id.to_string())
            .or_default() += 1;
        Ok(salesagent_core::worker::JobDone::Complete)
    }
}

/// Counts the store calls by operation.
#[derive(Debug, Clone, Default)]
struct OpCount(Arc<Mutex<HashMap<&'static str, usize>>>);

impl salesagent_core::layers::Layer for OpCount {
    async fn around<'a, T, F>(
        &'a self,
        op: &'static str,
        _args: &'a (dyn Fn() -> String + Sync),
        call: F,
    ) -> salesagent_core::Result<T>
    where
        T: Send + 'a,
        F: std::future::Future<Output = salesagent_core::Result<T>> + Send + 'a,
    {
        *self.0.lock().unwrap().entry(op).or_default() += 1;
        call.await
    }
}

/// Eight shipped `Worker`s of four slots each on one store, every backend: every job runs
/// once and ends done on its first attempt, and the finished jobs went in with the next claims
/// (`complete_and_claim`), never completed one by one.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_shipped_workers_run_every_job_once_every_backend() {
    use salesagent_core::worker::{Worker, WorkerConfig};
    for (name, url) in urls().await {
        let s = builder(&url).max_connections(12).connect().await.unwrap();
        let ops = OpCount::default();
        let store: salesagent_core::ports::DynStore = Arc::new(
            salesagent_core::layers::Layered::wrap(s.clone(), ops.clone()),
        );
        let jobs = 400;
        for i in 0..jobs {
            s.enqueue(&NewJob::new("counted", serde_json::json!({ "i": i })))
                .await
                .unwrap();
        }
        let runs = CountRuns::default();
        let clock: salesagent_core::ports::DynClock = Arc::new(salesagent_core::ports::SystemClock);
        let workers: Vec<_> = (0..8)
            .map(|w| {
                let worker = Worker::empty(
                    store.clone(),
                    clock.clone(),
                    WorkerConfig {
                        name: format!("shipped-{w}"),
                        ..WorkerConfig::default()
                    },
                )
                .register(runs.clone());
                tokio::spawn(async move { worker.run_until_idle(4).await })
            })
            .collect();
        let mut done = 0;
        for w in workers {
            done += w.await.unwrap().unwrap().done;
        }
        assert_eq!(done, jobs, "{name}: every job done by exactly one worker");
        let runs = runs.0.lock().unwrap().clone();
        assert!(
            runs.len() == jobs as usize && runs.values().all(|n| *n == 1),
            "{name}: every job ran exactly once"
        );
        let listed = s
            .list_jobs(&JobFilter {
                kind: Some("counted".into()),
                ..JobFilter::default()
            })
            .await
            .unwrap();
        assert!(
            listed.len() == jobs as usize
                && listed
                    .iter()
                    .all(|j| j.state == JobState::Done && j.attempts == 1),
            "{name}: every job done on its first attempt"
        );
        let ops = ops.0.lock().unwrap().clone();
        assert!(
            ops.get("store.complete_and_claim").copied().unwrap_or(0) > 0
                && !ops.contains_key("store.complete"),
            "{name}: completions go in with claims: {ops:?}"
        );
    }
}
