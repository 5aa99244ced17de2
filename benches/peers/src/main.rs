//! salesagent's job queue next to an established Rust job queue (apalis 1.0), on the same
//! database, in one run (`cd benches/peers && cargo run --release`).
//!
//! Workload, identical for both queues: `PEERS_JOBS` jobs (default 2,000) of a JSON payload
//! `{"submission_id": "<uuid>", "n": <i>}` (about 60 bytes), enqueued one job per call by `w`
//! concurrent producers, then claimed and completed by `w` concurrent workers whose handler does
//! nothing, until the queue is empty; `w` is 1 and 8. Both queues use one pool built by
//! `salesagent_store::pool_options` (10 connections, no ping before acquire; on SQLite the
//! store's pragmas on every connection: WAL, `synchronous = NORMAL`, 30 s busy timeout), on the
//! same server (PostgreSQL: a throwaway `TempPostgres`, or `DATABASE_URL`; its durability
//! settings are read back and printed) or the same kind of SQLite file. Each figure is the best
//! of `PEERS_ROUNDS` rounds (default 3), the two queues taking turns going first.
//!
//! apalis runs with its defaults (fetch batches of 10, task locking and result persistence on,
//! polling), in two shapes, and the better one is the peer figure: one worker with
//! `concurrency(w)` + `parallelize(tokio::spawn)`, and `w` workers of concurrency 1. A claim is
//! counted when the job's row says `Done` (apalis acknowledges asynchronously): the clock stops
//! when a 2 ms poll of the jobs table finds all of them done. salesagent runs in two shapes,
//! both measured in the same run: per job, each worker runs `JobStore::claim` +
//! `JobStore::complete` in a loop (each call one committed transaction); batched, each worker
//! runs `JobStore::claim_batch` of up to [`BATCH`] jobs (10, apalis' fetch batch) and then
//! `JobStore::complete` for each job (one claim statement per batch, one committed
//! transaction per completion); grouped, each worker runs `JobStore::claim_batch` and then one
//! `JobStore::complete_batch` for the claimed jobs (one statement each: apalis also
//! acknowledges a batch of results in one statement). The shipped `Worker` claims in batches
//! and completes through a coalescing completer: the jobs that finished while the previous
//! completion was in flight go in one `complete_batch`.
//!
//! Prints `RESULT peers.<backend>.<op>.<w>w.salesagent|salesagent_batched|salesagent_grouped|apalis|ratio…` and
//! `SETTINGS` lines.

use apalis::prelude::*;
use salesagent_core::model::NewJob;
use salesagent_core::ports::JobStore;
use salesagent_store::SqlStore;
use salesagent_store::testing::TempPostgres;
use serde::{Deserialize, Serialize};
use sqlx::{PgPool, Row, SqlitePool};
use std::time::{Duration, Instant};

const POOL: u32 = 10;
const KIND: &str = "bench";
const LEASE: Duration = Duration::from_secs(300);
const WORKERS: [usize; 2] = [1, 8];
/// salesagent's batched claim size: apalis' default fetch batch.
const BATCH: usize = 10;

/// The job payload both queues carry.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Payload {
    submission_id: String,
    n: usize,
}

fn payload(i: usize) -> Payload {
    Payload {
        submission_id: uuid::Uuid::new_v4().to_string(),
        n: i,
    }
}

fn shares(jobs: usize, workers: usize) -> Vec<std::ops::Range<usize>> {
    (0..workers)
        .map(|w| (jobs * w / workers)..(jobs * (w + 1) / workers))
        .collect()
}

#[allow(clippy::cast_precision_loss)]
fn rate(jobs: usize, took: Duration) -> f64 {
    jobs as f64 / took.as_secs_f64().max(1e-9)
}

/// (enqueue, claim+complete) jobs per second.
type Rates = (f64, f64);

fn best(a: Rates, b: Rates) -> Rates {
    (a.0.max(b.0), a.1.max(b.1))
}

/// One salesagent round: enqueue `jobs`, then drain them with `workers` workers claiming one
/// job per call (`batch` = 1) or batches of up to `batch`.
async fn salesagent_round(
    store: &SqlStore,
    workers: usize,
    jobs: usize,
    run: usize,
    batch: usize,
    grouped: bool,
) -> Rates {
    let t = Instant::now();
    let mut tasks = Vec::new();
    for range in shares(jobs, workers) {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            for i in range {
                let p = serde_json::to_value(payload(i)).expect("payload");
                let job = NewJob::new(KIND, p).with_key(format!("peers:{run}:{i}"));
                let (_, new) = store.enqueue(&job).await.expect("enqueue");
                assert!(new);
            }
        }));
    }
    for t in tasks {
        t.await.expect("producer");
    }
    let enqueue = rate(jobs, t.elapsed());
    let t = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..workers {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let owner = format!("peers-{w}");
            let kinds = [KIND.to_owned()];
            let mut n = 0usize;
            if batch == 1 {
                while let Some(c) = store.claim(&owner, &kinds, LEASE).await.expect("claim") {
                    store.complete(&c.lease).await.expect("complete");
                    n += 1;
                }
                return n;
            }
            loop {
                let claimed = store
                    .claim_batch(&owner, &kinds, LEASE, batch)
                    .await
                    .expect("claim_batch");
                if claimed.is_empty() {
                    return n;
                }
                if grouped {
                    let leases: Vec<_> = claimed.iter().map(|c| c.lease.clone()).collect();
                    for done in store.complete_batch(&leases).await.expect("complete_batch") {
                        done.expect("complete");
                    }
                } else {
                    for c in &claimed {
                        store.complete(&c.lease).await.expect("complete");
                    }
                }
                n += claimed.len();
            }
        }));
    }
    let mut done = 0;
    for t in tasks {
        done += t.await.expect("worker");
    }
    let claim = rate(jobs, t.elapsed());
    assert_eq!(done, jobs, "salesagent: every job claimed once");
    (enqueue, claim)
}

async fn handle(_job: Payload) -> Result<(), BoxDynError> {
    Ok(())
}

/// Polls `count` every 2 ms until it reaches `jobs` (or 300 s pass).
async fn wait_done<F, Fut>(jobs: usize, mut count: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = i64>,
{
    let secs = std::env::var("PEERS_TIMEOUT_S")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if usize::try_from(count().await).unwrap_or(0) >= jobs {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// Runs `jobs` queued apalis tasks of `storage` to `Done` with `workers` handlers, in the
/// given shape; returns the claim+complete rate.
macro_rules! apalis_drain {
    ($storage:expr, $name:expr, $workers:expr, $jobs:expr, $one_worker:expr, $count:expr) => {{
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let t = Instant::now();
        let shapes: Vec<usize> = if $one_worker {
            vec![$workers]
        } else {
            vec![1; $workers]
        };
        // The workers run inside this task (their handlers on spawned tasks): apalis' worker
        // future is not `'static`-spawnable with `parallelize(tokio::spawn)`.
        let mut runs = Vec::new();
        for (i, c) in shapes.into_iter().enumerate() {
            let mut rx = stop_rx.clone();
            // A name per round: apalis keeps a registered worker name taken while its last
            // heartbeat is fresh, and a second worker of that name then fetches nothing.
            let worker = WorkerBuilder::new(format!("apalis-{}-{i}", $name).as_str())
                .backend($storage.clone())
                .concurrency(c)
                .parallelize(tokio::spawn)
                .build(handle);
            runs.push(worker.run_until(async move {
                let _ = rx.wait_for(|s| *s).await;
                Ok::<(), std::io::Error>(())
            }));
        }
        let ((all, took), _) = tokio::join!(
            async {
                let all = wait_done($jobs, $count).await;
                let took = t.elapsed();
                let _ = stop_tx.send(true);
                (all, took)
            },
            futures::future::join_all(runs)
        );
        if !all {
            eprintln!("apalis: not every job done in time");
        }
        rate($jobs, took)
    }};
}

async fn apalis_pg_round(
    pool: &PgPool,
    workers: usize,
    jobs: usize,
    run: usize,
    one_worker: bool,
) -> Rates {
    let queue = format!("bench-{run}");
    let storage = apalis_postgres::PostgresStorage::<Payload>::new(pool)
        .with_config(apalis_postgres::Config::default().queue(&queue));
    let t = Instant::now();
    let mut tasks = Vec::new();
    for range in shares(jobs, workers) {
        let mut storage = storage.clone();
        tasks.push(tokio::spawn(async move {
            for i in range {
                storage.push(payload(i)).await.expect("apalis push");
            }
        }));
    }
    for t in tasks {
        t.await.expect("producer");
    }
    let enqueue = rate(jobs, t.elapsed());
    let count = || {
        let (pool, queue) = (pool.clone(), queue.clone());
        async move {
            sqlx::query("SELECT COUNT(*) FROM apalis.jobs WHERE job_type = $1 AND status = 'Done'")
                .bind(queue)
                .fetch_one(&pool)
                .await
                .and_then(|r| r.try_get::<i64, _>(0))
                .unwrap_or(0)
        }
    };
    let claim = apalis_drain!(storage, queue, workers, jobs, one_worker, count);
    if std::env::var("PEERS_DEBUG").is_ok() {
        let rows = sqlx::query(
            "SELECT status, COUNT(*) FROM apalis.jobs WHERE job_type = $1 GROUP BY status",
        )
        .bind(&queue)
        .fetch_all(pool)
        .await
        .unwrap_or_default();
        for r in rows {
            eprintln!(
                "apalis {queue}: {} {}",
                r.try_get::<String, _>(0).unwrap_or_default(),
                r.try_get::<i64, _>(1).unwrap_or_default()
            );
        }
    }
    (enqueue, claim)
}

async fn apalis_sqlite_round(
    pool: &SqlitePool,
    workers: usize,
    jobs: usize,
    run: usize,
    one_worker: bool,
) -> Rates {
    let queue = format!("bench-{run}");
    let storage = apalis_sqlite::SqliteStorage::<Payload>::new(pool)
        .with_config(apalis_sqlite::Config::default().queue(&queue));
    let t = Instant::now();
    let mut tasks = Vec::new();
    for range in shares(jobs, workers) {
        let mut storage = storage.clone();
        tasks.push(tokio::spawn(async move {
            for i in range {
                storage.push(payload(i)).await.expect("apalis push");
            }
        }));
    }
    for t in tasks {
        t.await.expect("producer");
    }
    let enqueue = rate(jobs, t.elapsed());
    let count = || {
        let (pool, queue) = (pool.clone(), queue.clone());
        async move {
            sqlx::query("SELECT COUNT(*) FROM Jobs WHERE job_type = ?1 AND status = 'Done'")
                .bind(queue)
                .fetch_one(&pool)
                .await
                .and_then(|r| r.try_get::<i64, _>(0))
                .unwrap_or(0)
        }
    };
    let claim = apalis_drain!(storage, queue, workers, jobs, one_worker, count);
    (enqueue, claim)
}

fn report(
    backend: &str,
    workers: usize,
    ours: Rates,
    (batched, grouped): (Rates, Rates),
    one: Rates,
    many: Rates,
) {
    let peer = best(one, many);
    for (op, o, p, p1, pn) in [
        ("enqueue", ours.0, peer.0, one.0, many.0),
        ("claim_complete", ours.1, peer.1, one.1, many.1),
    ] {
        let name = format!("peers.{backend}.{op}.{workers}w");
        println!("RESULT {name}.salesagent {o:.0} jobs/s");
        println!("RESULT {name}.apalis {p:.0} jobs/s");
        println!("RESULT {name}.apalis_one_worker {p1:.0} jobs/s");
        println!("RESULT {name}.apalis_n_workers {pn:.0} jobs/s");
        println!("RESULT {name}.ratio_vs_apalis {:.2} ratio", o / p);
    }
    let name = format!("peers.{backend}.claim_complete.{workers}w");
    let b = batched.1;
    println!("RESULT {name}.salesagent_batched {b:.0} jobs/s");
    println!(
        "RESULT {name}.ratio_batched_vs_apalis {:.2} ratio",
        b / peer.1
    );
    println!(
        "RESULT {name}.ratio_batched_vs_per_job {:.2} ratio",
        b / ours.1
    );
    let g = grouped.1;
    println!("RESULT {name}.salesagent_grouped {g:.0} jobs/s");
    println!(
        "RESULT {name}.ratio_grouped_vs_apalis {:.2} ratio",
        g / peer.1
    );
    println!("RESULT {name}.ratio_grouped_vs_batched {:.2} ratio", g / b);
}

async fn settings(pool: &sqlx::AnyPool, backend: &str, jobs: usize, rounds: usize) {
    let read = |sql: &'static str| {
        let pool = pool.clone();
        async move {
            match sqlx::query(sql).fetch_one(&pool).await {
                Ok(r) => r
                    .try_get::<String, _>(0)
                    .or_else(|_| r.try_get::<i64, _>(0).map(|v| v.to_string()))
                    .unwrap_or_else(|_| "?".into()),
                Err(_) => "?".into(),
            }
        }
    };
    let db = if backend == "postgres" {
        format!(
            "server={} fsync={} synchronous_commit={} full_page_writes={}",
            read("SHOW server_version").await,
            read("SHOW fsync").await,
            read("SHOW synchronous_commit").await,
            read("SHOW full_page_writes").await
        )
    } else {
        format!(
            "sqlite={} journal_mode={} synchronous={} (1 = NORMAL)",
            read("SELECT sqlite_version()").await,
            read("SELECT journal_mode FROM pragma_journal_mode()").await,
            read("SELECT CAST(synchronous AS TEXT) FROM pragma_synchronous()").await,
        )
    };
    let cores = std::thread::available_parallelism().map_or(0, std::num::NonZeroUsize::get);
    println!(
        "SETTINGS peers.{backend} {db} pool=salesagent_store::pool_options \
         max_connections={POOL} test_before_acquire=false jobs={jobs} rounds={rounds} (best) \
         payload_bytes={} workers=1,8 producers=workers cores={cores} apalis=1.0.0 \
         (batch_size=10, lock_tasks, persist_results; better of 1 worker x concurrency w and w \
         workers x 1) salesagent=claim+complete per job, \
         salesagent_batched=claim_batch({BATCH})+complete per job, \
         salesagent_grouped=claim_batch({BATCH})+complete_batch of the claimed jobs",
        serde_json::to_string(&payload(0)).map_or(0, |s| s.len())
    );
}

async fn postgres(jobs: usize, rounds: usize) {
    if !TempPostgres::available() {
        println!("peers: PostgreSQL skipped (no server binaries and no DATABASE_URL)");
        return;
    }
    let pg = match TempPostgres::shared().await {
        Ok(pg) => pg,
        Err(e) => {
            println!("peers: PostgreSQL skipped ({e})");
            return;
        }
    };
    let ours_url = pg.fresh_database().await.expect("database");
    let peer_url = pg.fresh_database().await.expect("database");
    let store = SqlStore::builder(&ours_url)
        .without_encryption()
        .max_connections(POOL)
        .connect()
        .await
        .expect("store");
    let pool: PgPool = salesagent_store::pool_options::<sqlx::Postgres>(&peer_url, POOL)
        .expect("options")
        .connect(&peer_url)
        .await
        .expect("peer pool");
    apalis_postgres::PostgresStorage::setup(&pool)
        .await
        .expect("apalis setup");
    settings(store.pool(), "postgres", jobs, rounds).await;
    // Warm-up (unmeasured).
    salesagent_round(&store, 2, 200, 900_000, 1, false).await;
    salesagent_round(&store, 2, 200, 900_001, BATCH, false).await;
    salesagent_round(&store, 2, 200, 900_002, BATCH, true).await;
    apalis_pg_round(&pool, 2, 200, 900_000, true).await;
    let mut run = 0;
    for workers in WORKERS {
        let (mut ours, mut one, mut many) = ((0.0, 0.0), (0.0, 0.0), (0.0, 0.0));
        let (mut batched, mut grouped) = ((0.0, 0.0), (0.0, 0.0));
        for round in 0..rounds {
            run += 1;
            if round % 2 == 0 {
                ours = best(ours, salesagent_round(&store, workers, jobs, run, 1, false).await);
                batched = best(
                    batched,
                    salesagent_round(&store, workers, jobs, run + 2000, BATCH, false).await,
                );
                grouped = best(
                    grouped,
                    salesagent_round(&store, workers, jobs, run + 3000, BATCH, true).await,
                );
                one = best(one, apalis_pg_round(&pool, workers, jobs, run, true).await);
                many = best(
                    many,
                    apalis_pg_round(&pool, workers, jobs, run + 1000, false).await,
                );
            } else {
                many = best(
                    many,
                    apalis_pg_round(&pool, workers, jobs, run + 1000, false).await,
                );
                one = best(one, apalis_pg_round(&pool, workers, jobs, run, true).await);
                batched = best(
                    batched,
                    salesagent_round(&store, workers, jobs, run + 2000, BATCH, false).await,
                );
                grouped = best(
                    grouped,
                    salesagent_round(&store, workers, jobs, run + 3000, BATCH, true).await,
                );
                ours = best(ours, salesagent_round(&store, workers, jobs, run, 1, false).await);
            }
        }
        report("postgres", workers, ours, (batched, grouped), one, many);
    }
    store.close().await;
    pool.close().await;
}

async fn sqlite(jobs: usize, rounds: usize) {
    let dir = std::env::temp_dir().join(format!("peers-bench-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let ours_url = format!("sqlite://{}?mode=rwc", dir.join("ours.db").display());
    let peer_url = format!("sqlite://{}?mode=rwc", dir.join("apalis.db").display());
    let store = SqlStore::builder(&ours_url)
        .without_encryption()
        .max_connections(POOL)
        .connect()
        .await
        .expect("store");
    // apalis' setup also sets `synchronous = OFF` on the one connection it runs on: run it on
    // a pool of its own, then measure on the store's settings.
    {
        let setup = SqlitePool::connect(&peer_url).await.expect("setup pool");
        apalis_sqlite::SqliteStorage::setup(&setup)
            .await
            .expect("apalis setup");
        setup.close().await;
    }
    let pool: SqlitePool = salesagent_store::pool_options::<sqlx::Sqlite>(&peer_url, POOL)
        .expect("options")
        .connect(&peer_url)
        .await
        .expect("peer pool");
    settings(store.pool(), "sqlite", jobs, rounds).await;
    salesagent_round(&store, 2, 200, 900_000, 1, false).await;
    salesagent_round(&store, 2, 200, 900_001, BATCH, false).await;
    salesagent_round(&store, 2, 200, 900_002, BATCH, true).await;
    apalis_sqlite_round(&pool, 2, 200, 900_000, true).await;
    let mut run = 0;
    for workers in WORKERS {
        let (mut ours, mut one, mut many) = ((0.0, 0.0), (0.0, 0.0), (0.0, 0.0));
        let (mut batched, mut grouped) = ((0.0, 0.0), (0.0, 0.0));
        for round in 0..rounds {
            run += 1;
            if round % 2 == 0 {
                ours = best(ours, salesagent_round(&store, workers, jobs, run, 1, false).await);
                batched = best(
                    batched,
                    salesagent_round(&store, workers, jobs, run + 2000, BATCH, false).await,
                );
                grouped = best(
                    grouped,
                    salesagent_round(&store, workers, jobs, run + 3000, BATCH, true).await,
                );
                one = best(
                    one,
                    apalis_sqlite_round(&pool, workers, jobs, run, true).await,
                );
                many = best(
                    many,
                    apalis_sqlite_round(&pool, workers, jobs, run + 1000, false).await,
                );
            } else {
                many = best(
                    many,
                    apalis_sqlite_round(&pool, workers, jobs, run + 1000, false).await,
                );
                one = best(
                    one,
                    apalis_sqlite_round(&pool, workers, jobs, run, true).await,
                );
                batched = best(
                    batched,
                    salesagent_round(&store, workers, jobs, run + 2000, BATCH, false).await,
                );
                grouped = best(
                    grouped,
                    salesagent_round(&store, workers, jobs, run + 3000, BATCH, true).await,
                );
                ours = best(ours, salesagent_round(&store, workers, jobs, run, 1, false).await);
            }
        }
        report("sqlite", workers, ours, (batched, grouped), one, many);
    }
    store.close().await;
    pool.close().await;
    let _ = std::fs::remove_dir_all(&dir);
}

fn env_count(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(default)
}

fn main() {
    let jobs = env_count("PEERS_JOBS", 2_000);
    let rounds = env_count("PEERS_ROUNDS", 3);
    let backends = std::env::var("PEERS_BACKENDS").unwrap_or_else(|_| "postgres,sqlite".into());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        for b in backends.split(',').map(str::trim) {
            match b {
                "postgres" => postgres(jobs, rounds).await,
                "sqlite" => sqlite(jobs, rounds).await,
                other => eprintln!("peers: unknown backend {other:?}"),
            }
        }
    });
}
