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
//! settings are read back and printed) or the same kind of SQLite file. `PEERS_ROUNDS` rounds
//! (default 5) run every shape of both queues once each, interleaved (a salesagent shape, an
//! apalis shape, …, the order reversed every other round, apalis' two shapes taking turns),
//! and each shape gets two figures: its best round, and the median over rounds of its rate
//! divided by apalis' rate (the better of apalis' two shapes) in the same round; the latter
//! is the headline ratio, since a shared machine's slow spells then hit both sides of a ratio.
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
//! acknowledges a batch of results in one statement); chained, each worker claims one batch
//! and then runs `JobStore::complete_and_claim` (the last batch's leases done and the next
//! batch claimed in one statement) until nothing is claimed; worker, `w` shipped `Worker`s
//! each running `run_until_idle` with [`BATCH`] slots and a handler that does nothing (it
//! claims batches of up to 10 and completes the finished jobs with its next claim).
//!
//! Prints `RESULT peers.<backend>.<op>.<w>w.salesagent|salesagent_batched|salesagent_grouped|
//! salesagent_chained|salesagent_worker|apalis|ratio_<shape>_vs_apalis|
//! ratio_<shape>_vs_apalis_median_of_rounds`, `ROUNDS` (every round's rates and ratios) and
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

/// How salesagent's workers drain the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ours {
    /// `claim` + `complete` per job.
    PerJob,
    /// `claim_batch(BATCH)` + `complete` per job.
    Batched,
    /// `claim_batch(BATCH)` + one `complete_batch` of the claimed jobs.
    Grouped,
    /// `claim_batch(BATCH)` once, then `complete_and_claim` (the last batch's leases, the next
    /// `BATCH`) until nothing is claimed.
    Chained,
    /// The shipped `Worker` (`run_until_idle` with `BATCH` slots, default config: claims
    /// batches of up to 10, completes with its next claim).
    Worker,
}

/// A handler that does nothing, for the shipped `Worker`.
#[derive(Debug)]
struct Noop;

#[async_trait::async_trait]
impl salesagent_core::worker::JobHandler for Noop {
    fn kind(&self) -> &str {
        KIND
    }
    async fn run(
        &self,
        _job: &salesagent_core::model::Job,
    ) -> salesagent_core::Result<salesagent_core::worker::JobDone> {
        Ok(salesagent_core::worker::JobDone::Complete)
    }
}

/// One salesagent round: enqueue `jobs`, then drain them with `workers` workers in `shape`.
async fn salesagent_round(
    store: &SqlStore,
    workers: usize,
    jobs: usize,
    run: usize,
    shape: Ours,
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
            if shape == Ours::Worker {
                let dyn_store: salesagent_core::ports::DynStore = std::sync::Arc::new(store);
                let worker = salesagent_core::worker::Worker::empty(
                    dyn_store,
                    std::sync::Arc::new(salesagent_core::ports::SystemClock),
                    salesagent_core::worker::WorkerConfig {
                        name: owner,
                        lease: LEASE,
                        claim_batch: BATCH,
                        ..salesagent_core::worker::WorkerConfig::default()
                    },
                )
                .register(Noop);
                let stats = worker.run_until_idle(BATCH).await.expect("worker");
                return usize::try_from(stats.done).unwrap_or(0);
            }
            if shape == Ours::Chained {
                let mut claimed = store
                    .claim_batch(&owner, &kinds, LEASE, BATCH)
                    .await
                    .expect("claim_batch");
                while !claimed.is_empty() {
                    let leases: Vec<_> = claimed.iter().map(|c| c.lease.clone()).collect();
                    let (done, next) = store
                        .complete_and_claim(&leases, &owner, &kinds, LEASE, BATCH)
                        .await
                        .expect("complete_and_claim");
                    for d in done {
                        d.expect("complete");
                    }
                    n += leases.len();
                    claimed = next.expect("claim");
                }
                return n;
            }
            let batch = if shape == Ours::PerJob { 1 } else { BATCH };
            let grouped = shape == Ours::Grouped;
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

/// The peer database, for apalis' rounds.
enum Peer {
    Postgres(PgPool),
    Sqlite(SqlitePool),
}

impl Peer {
    async fn round(&self, workers: usize, jobs: usize, run: usize, one_worker: bool) -> Rates {
        match self {
            Peer::Postgres(pool) => apalis_pg_round(pool, workers, jobs, run, one_worker).await,
            Peer::Sqlite(pool) => apalis_sqlite_round(pool, workers, jobs, run, one_worker).await,
        }
    }
}

/// salesagent's shapes, in the order of a round (reversed every other round).
const OURS: [(Ours, &str); 5] = [
    (Ours::PerJob, "salesagent"),
    (Ours::Batched, "salesagent_batched"),
    (Ours::Grouped, "salesagent_grouped"),
    (Ours::Chained, "salesagent_chained"),
    (Ours::Worker, "salesagent_worker"),
];

/// One round's entries: salesagent's shapes (index into [`OURS`]) and apalis' two shapes
/// (`None`: one worker × concurrency w; `Some(())`: w workers), interleaved.
fn round_order(round: usize) -> Vec<Option<usize>> {
    // salesagent shape, apalis, salesagent shape, apalis, … so each apalis figure sits between
    // salesagent figures; reversed every other round.
    let mut order = vec![Some(0), None, Some(1), Some(2), None, Some(3), Some(4)];
    if round % 2 == 1 {
        order.reverse();
    }
    order
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        f64::midpoint(v[n / 2 - 1], v[n / 2])
    }
}

/// Runs `rounds` rounds of every shape with `workers` workers and prints the figures: per shape
/// the best round (as before) and the median over rounds of the shape's rate divided by
/// apalis' rate (the better of its two shapes) in the same round.
async fn measure(
    backend: &str,
    store: &SqlStore,
    peer: &Peer,
    workers: usize,
    jobs: usize,
    rounds: usize,
    run: &mut usize,
) {
    let mut ours: Vec<Vec<Rates>> = vec![Vec::new(); OURS.len()];
    let (mut one, mut many): (Vec<Rates>, Vec<Rates>) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        *run += 1;
        let mut apalis_turn = round % 2;
        for entry in round_order(round) {
            match entry {
                Some(i) => {
                    let r =
                        salesagent_round(store, workers, jobs, *run + 2000 * (i + 1), OURS[i].0)
                            .await;
                    ours[i].push(r);
                }
                None => {
                    // The two apalis shapes take turns being first.
                    if apalis_turn == 0 {
                        one.push(peer.round(workers, jobs, *run, true).await);
                    } else {
                        many.push(peer.round(workers, jobs, *run + 1000, false).await);
                    }
                    apalis_turn ^= 1;
                }
            }
        }
    }
    let best_of = |v: &[Rates]| v.iter().copied().fold((0.0, 0.0), best);
    let (one_b, many_b) = (best_of(&one), best_of(&many));
    let peer_b = best(one_b, many_b);
    let peer_round: Vec<Rates> = one.iter().zip(&many).map(|(a, b)| best(*a, *b)).collect();
    let name = format!("peers.{backend}.claim_complete.{workers}w");
    let ename = format!("peers.{backend}.enqueue.{workers}w");
    println!("RESULT {name}.apalis {:.0} jobs/s", peer_b.1);
    println!("RESULT {name}.apalis_one_worker {:.0} jobs/s", one_b.1);
    println!("RESULT {name}.apalis_n_workers {:.0} jobs/s", many_b.1);
    println!("RESULT {ename}.apalis {:.0} jobs/s", peer_b.0);
    println!(
        "ROUNDS {name}.apalis {}",
        peer_round
            .iter()
            .map(|r| format!("{:.0}", r.1))
            .collect::<Vec<_>>()
            .join(" ")
    );
    for (i, (_, label)) in OURS.iter().enumerate() {
        let b = best_of(&ours[i]);
        let ratios: Vec<f64> = ours[i]
            .iter()
            .zip(&peer_round)
            .map(|(o, p)| o.1 / p.1)
            .collect();
        let short = label.strip_prefix("salesagent_").unwrap_or("per_job");
        println!("RESULT {name}.{label} {:.0} jobs/s", b.1);
        println!(
            "RESULT {name}.ratio_{short}_vs_apalis {:.2} ratio",
            b.1 / peer_b.1
        );
        println!(
            "RESULT {name}.ratio_{short}_vs_apalis_median_of_rounds {:.2} ratio",
            median(ratios.clone())
        );
        println!(
            "ROUNDS {name}.{label} {} (ratios {})",
            ours[i]
                .iter()
                .map(|r| format!("{:.0}", r.1))
                .collect::<Vec<_>>()
                .join(" "),
            ratios
                .iter()
                .map(|r| format!("{r:.2}"))
                .collect::<Vec<_>>()
                .join(" ")
        );
        if i == 0 {
            println!("RESULT {ename}.salesagent {:.0} jobs/s", b.0);
            println!("RESULT {ename}.ratio_vs_apalis {:.2} ratio", b.0 / peer_b.0);
        }
    }
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
         max_connections={POOL} test_before_acquire=false jobs={jobs} rounds={rounds} \
         (best, and median of per-round ratios; shapes interleaved) \
         payload_bytes={} workers=1,8 producers=workers cores={cores} apalis=1.0.0 \
         (batch_size=10, lock_tasks, persist_results; better of 1 worker x concurrency w and w \
         workers x 1) salesagent=claim+complete per job, \
         salesagent_batched=claim_batch({BATCH})+complete per job, \
         salesagent_grouped=claim_batch({BATCH})+complete_batch of the claimed jobs, \
         salesagent_chained=complete_and_claim(last batch, {BATCH}), \
         salesagent_worker=shipped Worker x w, run_until_idle({BATCH} slots), claim_batch={BATCH}",
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
    // Warm-up (unmeasured).
    for (i, (shape, _)) in OURS.iter().enumerate() {
        salesagent_round(&store, 2, 200, 900_000 + i, *shape).await;
    }
    let peer = Peer::Postgres(pool.clone());
    peer.round(2, 200, 900_000, true).await;
    let mut run = 0;
    for workers in WORKERS {
        measure("postgres", &store, &peer, workers, jobs, rounds, &mut run).await;
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
    // Warm-up (unmeasured).
    for (i, (shape, _)) in OURS.iter().enumerate() {
        salesagent_round(&store, 2, 200, 900_000 + i, *shape).await;
    }
    let peer = Peer::Sqlite(pool.clone());
    peer.round(2, 200, 900_000, true).await;
    let mut run = 0;
    for workers in WORKERS {
        measure("sqlite", &store, &peer, workers, jobs, rounds, &mut run).await;
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
    let rounds = env_count("PEERS_ROUNDS", 5);
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
