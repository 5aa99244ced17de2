//! The job runner: a handler per kind, kinds it does not know left for others, deferrals and
//! shutdown that give jobs back without using an attempt.

use async_trait::async_trait;
use chrono::TimeDelta;
use salesagent_core::Result;
use salesagent_core::model::{Job, JobFilter, JobState, NewJob};
use salesagent_core::ports::{Clock as _, DynClock, DynStore};
use salesagent_core::testing::{ManualClock, MemoryStore};
use salesagent_core::worker::{JobDone, JobHandler, JobKind, Worker, WorkerConfig};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

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
