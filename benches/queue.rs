//! Job-queue benchmark (`cargo bench --bench queue`), printing `RESULT <name> <value> <unit>`.
//!
//! For SQLite (a file in WAL mode) and PostgreSQL (a throwaway server from
//! `salesagent_store::testing::TempPostgres`, or `DATABASE_URL`), with 1 and 8 concurrent
//! workers:
//!
//! - `queue.<backend>.enqueue.<n>w`: jobs enqueued per second through [`JobStore::enqueue`]
//!   (every job with its own idempotency key, as intake does);
//! - `queue.<backend>.claim_complete.<n>w`: jobs claimed and completed per second through
//!   [`JobStore::claim`] + [`JobStore::complete`], from a queue several times deeper than the
//!   window (what is left is marked done, unmeasured, before the next round);
//! - `….bare`: the same statements the store issues for those calls (read from
//!   `salesagent-store/src/jobs.rs`), run with sqlx's native driver on an identical schema, with
//!   no row decoding beyond the job id;
//! - `….ratio_vs_bare`: store rate divided by bare rate (the target is at least 0.5);
//! - `queue.<backend>.claim_complete_batched.<n>w` (with `.bare` and `.ratio_vs_bare`): the same
//!   through [`JobStore::claim_batch`] of up to [`BATCH`] jobs (apalis' fetch batch, as the
//!   shipped `Worker` claims) + [`JobStore::complete`] per job, the bare loop issuing the
//!   store's batch claim statement; `….ratio_vs_per_job` divides it by the per-job figure;
//! - `queue.<backend>.claim_complete_chained.<n>w` (same suffixes): each batch after a worker's
//!   first claimed together with the completion of the one before through
//!   [`JobStore::complete_and_claim`] (one statement on PostgreSQL, one transaction on SQLite),
//!   the last batch completed as a group; the bare loop issues the store's statements;
//! - `queue.<backend>.claim_complete_other_kind.<n>w.none` and `….5000`: the store's
//!   claim+complete rate without and with 5,000 due jobs of a kind no worker claims (as during
//!   a rolling deploy, or a kind only some workers run) queued beside the claimed kind, and
//!   `….ratio_5000_vs_none` (1.0 = those jobs cost the claims nothing).
//!
//! `QUEUE_BENCH_JOBS` sets the claim+complete count per measurement (default 1,000; four times
//! as many are enqueued, since enqueueing is much faster) and `QUEUE_BENCH_ROUNDS` the number
//! of rounds (default 3; store and bare alternate going first, and each figure is the best
//! round, since a shared machine's noise only ever slows a run). Both pools are warmed up with
//! a few hundred unmeasured jobs first. `QUEUE_BENCH_ANY=1` adds `….bare_any` lines: the bare
//! statements through sqlx's `Any` driver on the store's own pool, which separates driver
//! overhead from the store's own work. PostgreSQL is skipped with a printed notice when no
//! server can be had.

#[path = "common/mod.rs"]
mod common;

use salesagent_core::model::{JobState, NewJob};
use salesagent_core::ports::JobStore;
use salesagent_store::SqlStore;
use salesagent_store::testing::TempPostgres;
use sqlx::{AnyPool, PgPool, SqlitePool};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const KIND: &str = "bench";
const LEASE: Duration = Duration::from_secs(300);
const POOL: u32 = 10;
const WORKERS: [usize; 2] = [1, 8];
/// Jobs per batch claim in the `claim_complete_batched` figures.
const BATCH: usize = 10;
/// Jobs enqueued and drained (unmeasured) before the first measurement.
const WARMUP_JOBS: usize = 200;
/// Run number of the warm-up's idempotency keys.
const WARMUP_RUN: usize = 1_000;

/// The columns the store reads back (`JOB_COLS` in `jobs.rs`).
const JOB_COLS: &str = "id, kind, payload, idempotency_key, state, attempts, \
    max_attempts, run_at, lease_owner, lease_token, lease_expires_at, last_error, created_at, \
    updated_at";

fn enqueue_sql() -> String {
    format!(
        "INSERT INTO jobs (id, kind, payload, idempotency_key, state, attempts, max_attempts, \
         run_at, created_at, updated_at) VALUES ($1, $2, $3, $4, 'queued', 0, $5, $6, $7, $7) \
         ON CONFLICT (idempotency_key) DO NOTHING RETURNING {JOB_COLS}"
    )
}

/// The store's claim of one kind (`claim_with` in `jobs.rs`).
fn claim_sql(pg: bool) -> String {
    let (index, lock) = if pg {
        ("", " FOR UPDATE SKIP LOCKED")
    } else {
        (" INDEXED BY jobs_kind_runnable", "")
    };
    format!(
        "UPDATE jobs SET state = 'running', attempts = attempts + 1, lease_owner = $1, \
         lease_token = $2, lease_expires_at = $3, updated_at = $4 \
         WHERE id = (SELECT id FROM jobs{index} WHERE kind = $5 \
         AND state IN ('queued', 'running') AND run_at <= $4 \
         AND ((state = 'queued' AND run_at <= $4) \
         OR (state = 'running' AND lease_expires_at <= $4 AND attempts < max_attempts)) \
         ORDER BY run_at, id LIMIT 1{lock}) RETURNING {JOB_COLS}"
    )
}

/// The store's batch claim of one kind (`claim_batch_with` in `jobs.rs`), the batch size in `$6`.
fn claim_batch_sql(pg: bool) -> String {
    let (index, lock) = if pg {
        ("", " FOR UPDATE SKIP LOCKED")
    } else {
        (" INDEXED BY jobs_kind_runnable", "")
    };
    let pick = format!(
        "SELECT id FROM jobs{index} WHERE kind = $5 \
         AND state IN ('queued', 'running') AND run_at <= $4 \
         AND ((state = 'queued' AND run_at <= $4) \
         OR (state = 'running' AND lease_expires_at <= $4 AND attempts < max_attempts)) \
         ORDER BY run_at, id LIMIT $6{lock}"
    );
    let which = if pg {
        format!("id = ANY(ARRAY({pick}))")
    } else {
        format!("id IN ({pick})")
    };
    format!(
        "UPDATE jobs SET state = 'running', attempts = attempts + 1, lease_owner = $1, \
         lease_token = $2, lease_expires_at = $3, updated_at = $4 \
         WHERE {which} RETURNING {JOB_COLS}"
    )
}

const COMPLETE_SQL: &str = "UPDATE jobs SET state = 'done', lease_owner = NULL, \
    lease_token = NULL, lease_expires_at = NULL, updated_at = $1 \
    WHERE id = $2 AND lease_token = $3 AND state = 'running'";

fn now_ns() -> i64 {
    chrono::Utc::now().timestamp_nanos_opt().unwrap_or(i64::MAX)
}

fn payload(i: usize) -> serde_json::Value {
    serde_json::json!({ "submission_id": uuid::Uuid::new_v4(), "n": i })
}

/// Splits `0..jobs` into `workers` contiguous ranges.
fn shares(jobs: usize, workers: usize) -> Vec<std::ops::Range<usize>> {
    (0..workers)
        .map(|w| (jobs * w / workers)..(jobs * (w + 1) / workers))
        .collect()
}

/// A bare pool on the native driver, with the same settings the store uses.
#[derive(Clone)]
enum Bare {
    Sqlite(SqlitePool),
    Pg(PgPool),
    /// sqlx's `Any` driver, as the store uses (diagnostic: `QUEUE_BENCH_ANY=1`); true on SQLite.
    Any(AnyPool, bool),
}

macro_rules! on_pool {
    ($bare:expr, $pool:ident => $body:expr) => {
        match $bare {
            Bare::Sqlite($pool) => $body,
            Bare::Pg($pool) => $body,
            Bare::Any($pool, _) => $body,
        }
    };
}

impl Bare {
    async fn enqueue(&self, sql: &str, i: usize, run: usize) -> Result<(), sqlx::Error> {
        let now = now_ns();
        let inserted = on_pool!(self, p => sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
            .bind(uuid::Uuid::now_v7().to_string())
            .bind(KIND)
            .bind(payload(i).to_string())
            .bind(format!("bench:{run}:{i}"))
            .bind(5_i64)
            .bind(now)
            .bind(now)
            .fetch_optional(p)
            .await?
            .is_some());
        if !inserted {
            return Err(sqlx::Error::RowNotFound);
        }
        Ok(())
    }

    /// True for a PostgreSQL pool.
    fn is_pg(&self) -> bool {
        matches!(self, Bare::Pg(_) | Bare::Any(_, false))
    }

    /// Runs a claim statement of [`KIND`] for `worker` under `token`, binding as the store
    /// does (worker, token, lease expiry, now, kind, then `max` for a batch claim), inside
    /// `BEGIN IMMEDIATE` on SQLite; the claimed ids. Without `max` (the per-job claim) the
    /// row is read with `fetch_optional`, as the store's `claim` reads it.
    async fn claim_ids(
        &self,
        sql: &str,
        worker: &str,
        token: &str,
        now: i64,
        max: Option<usize>,
    ) -> Result<Vec<String>, sqlx::Error> {
        use sqlx::Row as _;
        let expires = now + i64::try_from(LEASE.as_nanos()).unwrap_or(i64::MAX);
        macro_rules! claim_on {
            ($exec:expr) => {{
                let q = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
                    .bind(worker)
                    .bind(token)
                    .bind(expires)
                    .bind(now)
                    .bind(KIND);
                let rows = match max {
                    Some(max) => {
                        q.bind(i64::try_from(max).unwrap_or(i64::MAX))
                            .fetch_all($exec)
                            .await?
                    }
                    None => q.fetch_optional($exec).await?.into_iter().collect(),
                };
                rows.iter()
                    .map(|r| r.try_get::<String, _>("id"))
                    .collect::<Result<Vec<String>, _>>()?
            }};
        }
        Ok(match self {
            Bare::Any(p, true) => {
                let mut tx = p.begin_with("BEGIN IMMEDIATE").await?;
                let ids = claim_on!(&mut *tx);
                tx.commit().await?;
                ids
            }
            Bare::Sqlite(p) => {
                let mut tx = p.begin_with("BEGIN IMMEDIATE").await?;
                let ids = claim_on!(&mut *tx);
                tx.commit().await?;
                ids
            }
            Bare::Any(p, false) => claim_on!(p),
            Bare::Pg(p) => claim_on!(p),
        })
    }

    /// Completes one claimed job with the store's `complete` statement.
    async fn complete_one(&self, id: &str, token: &str) -> Result<(), sqlx::Error> {
        let done = on_pool!(self, p => sqlx::query(COMPLETE_SQL)
            .bind(now_ns())
            .bind(id)
            .bind(token)
            .execute(p)
            .await?
            .rows_affected());
        if done != 1 {
            return Err(sqlx::Error::RowNotFound);
        }
        Ok(())
    }

    /// One claim + complete; false when the queue was empty.
    async fn claim_complete(&self, sql: &str, worker: &str) -> Result<bool, sqlx::Error> {
        let now = now_ns();
        let token = uuid::Uuid::new_v4().to_string();
        let Some(id) = self.claim_ids(sql, worker, &token, now, None).await?.pop() else {
            return Ok(false);
        };
        self.complete_one(&id, &token).await?;
        Ok(true)
    }

    /// One batch claim of up to `max` jobs, then a complete per job; the number claimed.
    async fn claim_batch_complete(
        &self,
        sql: &str,
        worker: &str,
        max: usize,
    ) -> Result<usize, sqlx::Error> {
        let now = now_ns();
        let token = uuid::Uuid::new_v4().to_string();
        let ids = self.claim_ids(sql, worker, &token, now, Some(max)).await?;
        for id in &ids {
            self.complete_one(id, &token).await?;
        }
        Ok(ids.len())
    }

    /// The group completion of `prev` (id, token) with the store's `complete_batch` statement.
    async fn complete_group(&self, prev: &[(String, String)]) -> Result<(), sqlx::Error> {
        let sql = salesagent_store::complete_batch_sql(prev.len());
        let done = on_pool!(self, p => {
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql.clone())).bind(now_ns());
            for (id, token) in prev {
                q = q.bind(id).bind(token);
            }
            q.fetch_all(p).await?.len()
        });
        if done != prev.len() {
            return Err(sqlx::Error::RowNotFound);
        }
        Ok(())
    }

    /// Completes `prev` (id, token) and claims up to `max` jobs in one write with the store's
    /// statements ([`salesagent_store::complete_and_claim_sql`]), as its `complete_and_claim`;
    /// the claimed (id, token).
    async fn complete_and_claim(
        &self,
        prev: &[(String, String)],
        worker: &str,
        max: usize,
    ) -> Result<Vec<(String, String)>, sqlx::Error> {
        use salesagent_store::{Backend, CompleteAndClaimSql};
        use sqlx::Row as _;
        let now = now_ns();
        let token = uuid::Uuid::new_v4().to_string();
        let with_token = |ids: Vec<String>| ids.into_iter().map(|id| (id, token.clone())).collect();
        if prev.is_empty() {
            // The store claims a plain batch when there is nothing to complete.
            let ids = self
                .claim_ids(
                    &claim_batch_sql(self.is_pg()),
                    worker,
                    &token,
                    now,
                    Some(max),
                )
                .await?;
            return Ok(with_token(ids));
        }
        let backend = if self.is_pg() {
            Backend::Postgres
        } else {
            Backend::Sqlite
        };
        let expires = now + i64::try_from(LEASE.as_nanos()).unwrap_or(i64::MAX);
        let max = i64::try_from(max).unwrap_or(i64::MAX);
        macro_rules! claim_query {
            ($sql:expr, $tokens:expr) => {{
                let mut q = sqlx::query(sqlx::AssertSqlSafe($sql))
                    .bind(worker)
                    .bind(&token)
                    .bind(expires)
                    .bind(now)
                    .bind(KIND)
                    .bind(max);
                for (id, t) in prev {
                    q = q.bind(id);
                    if $tokens {
                        q = q.bind(t);
                    }
                }
                q
            }};
        }
        macro_rules! pg_rows {
            ($rows:expr) => {{
                let mut done = 0;
                let mut claimed = Vec::new();
                for r in $rows {
                    let id: String = r.try_get("id")?;
                    if r.try_get::<String, _>("part")? == "d" {
                        done += 1;
                    } else {
                        claimed.push(id);
                    }
                }
                (done, claimed)
            }};
        }
        macro_rules! sqlite_tx {
            ($pool:expr, $complete:expr, $claim:expr) => {{
                let mut tx = $pool.begin_with("BEGIN IMMEDIATE").await?;
                let mut q = sqlx::query(sqlx::AssertSqlSafe($complete)).bind(now);
                for (id, t) in prev {
                    q = q.bind(id).bind(t);
                }
                let done = q.fetch_all(&mut *tx).await?.len();
                let claimed = claim_query!($claim, false)
                    .fetch_all(&mut *tx)
                    .await?
                    .iter()
                    .map(|r| r.try_get::<String, _>("id"))
                    .collect::<Result<Vec<_>, _>>()?;
                tx.commit().await?;
                (done, claimed)
            }};
        }
        let (done, claimed) = match (
            self,
            salesagent_store::complete_and_claim_sql(backend, 1, prev.len()),
        ) {
            (Bare::Pg(p), CompleteAndClaimSql::Postgres(sql)) => {
                pg_rows!(claim_query!(sql, true).fetch_all(p).await?)
            }
            (Bare::Any(p, false), CompleteAndClaimSql::Postgres(sql)) => {
                pg_rows!(claim_query!(sql, true).fetch_all(p).await?)
            }
            (Bare::Sqlite(p), CompleteAndClaimSql::Sqlite { complete, claim }) => {
                sqlite_tx!(p, complete, claim)
            }
            (Bare::Any(p, true), CompleteAndClaimSql::Sqlite { complete, claim }) => {
                sqlite_tx!(p, complete, claim)
            }
            _ => return Err(sqlx::Error::RowNotFound),
        };
        if done != prev.len() {
            return Err(sqlx::Error::RowNotFound);
        }
        Ok(with_token(claimed))
    }
}

/// Rates in jobs per second: (enqueue, claim+complete).
type Rates = (f64, f64);

/// Enqueues this many times the claim+complete count per measurement: enqueueing is an order of
/// magnitude faster, and a longer window keeps one scheduler hiccup from deciding the figure.
const ENQUEUE_FACTOR: usize = 4;

/// Marks what the claim+complete window left queued as done (unmeasured), so every round starts
/// from an empty queue.
const CLEANUP_SQL: &str =
    "UPDATE jobs SET state = 'done' WHERE state = 'queued' AND kind = 'bench'";

/// A kind no worker of the bench claims.
const OTHER_KIND: &str = "bench-other";
/// How many jobs of [`OTHER_KIND`] are queued for the `claim_complete_other_kind` figure.
const OTHER_JOBS: usize = 5_000;
/// Marks the queued jobs of [`OTHER_KIND`] done (unmeasured).
const OTHER_CLEANUP_SQL: &str =
    "UPDATE jobs SET state = 'done' WHERE state = 'queued' AND kind = 'bench-other'";

/// Takes up to `n` units from `budget`: how many are left of `limit` (0 once all are taken).
fn take(budget: &AtomicUsize, limit: usize, n: usize) -> usize {
    let before = budget.fetch_add(n, Ordering::Relaxed);
    limit.saturating_sub(before).min(n)
}

/// Enqueues `jobs` × [`ENQUEUE_FACTOR`] jobs and claims + completes `jobs` of them with
/// `workers` workers, claiming one job per call (`batch` = 1) or batches of up to `batch`;
/// with `chain`, each batch after the first is claimed together with the completion of the
/// one before ([`JobStore::complete_and_claim`]) and the last one completed as a group.
async fn bench_store(
    store: &SqlStore,
    workers: usize,
    jobs: usize,
    run: usize,
    batch: usize,
    chain: bool,
) -> Rates {
    let enqueued = jobs * ENQUEUE_FACTOR;
    let start = Instant::now();
    let mut tasks = Vec::new();
    for range in shares(enqueued, workers) {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            for i in range {
                let job = NewJob::new(KIND, payload(i)).with_key(format!("bench:{run}:{i}"));
                let (_, new) = store.enqueue(&job).await.expect("store enqueue");
                assert!(new, "every key is fresh");
            }
        }));
    }
    for t in tasks {
        t.await.expect("enqueue task");
    }
    let enqueue = rate(enqueued, start.elapsed());

    let budget = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..workers {
        let store = store.clone();
        let (budget, done) = (budget.clone(), done.clone());
        tasks.push(tokio::spawn(async move {
            let worker = format!("bench-{w}");
            let kinds = [KIND.to_owned()];
            let mut prev: Vec<salesagent_core::model::Lease> = Vec::new();
            loop {
                let n = take(&budget, jobs, batch);
                if n == 0 {
                    let outcomes = store.complete_batch(&prev).await.expect("complete_batch");
                    assert!(outcomes.iter().all(Result::is_ok), "every lease completes");
                    break;
                }
                if chain {
                    let (outcomes, claimed) = store
                        .complete_and_claim(&prev, &worker, &kinds, LEASE, n)
                        .await
                        .expect("store complete_and_claim");
                    assert!(outcomes.iter().all(Result::is_ok), "every lease completes");
                    let claimed = claimed.expect("store complete_and_claim claim");
                    assert_eq!(claimed.len(), n, "a full batch of queued jobs");
                    prev = claimed.into_iter().map(|c| c.lease).collect();
                } else if batch == 1 {
                    let c = store
                        .claim(&worker, &kinds, LEASE)
                        .await
                        .expect("store claim")
                        .expect("a queued job");
                    store.complete(&c.lease).await.expect("store complete");
                } else {
                    let claimed = store
                        .claim_batch(&worker, &kinds, LEASE, n)
                        .await
                        .expect("store claim_batch");
                    assert_eq!(claimed.len(), n, "a full batch of queued jobs");
                    for c in &claimed {
                        store.complete(&c.lease).await.expect("store complete");
                    }
                }
                done.fetch_add(n, Ordering::Relaxed);
            }
        }));
    }
    for t in tasks {
        t.await.expect("claim task");
    }
    let claim = rate(jobs, start.elapsed());
    assert_eq!(done.load(Ordering::Relaxed), jobs, "claimed jobs completed");
    let queued: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM jobs WHERE state = 'queued' AND kind = 'bench'")
            .fetch_one(store.pool())
            .await
            .expect("queued count");
    assert_eq!(
        usize::try_from(queued).unwrap_or(usize::MAX),
        enqueued - jobs,
        "nothing claimed twice"
    );
    let counts = store.job_counts().await.expect("job counts");
    assert_eq!(counts.get(&JobState::Running).copied().unwrap_or(0), 0);
    sqlx::query(CLEANUP_SQL)
        .execute(store.pool())
        .await
        .expect("cleanup");
    (enqueue, claim)
}

/// [`bench_store`]'s workload through the store's statements on a bare pool.
async fn bench_bare(
    bare: &Bare,
    workers: usize,
    jobs: usize,
    run: usize,
    batch: usize,
    chain: bool,
) -> Rates {
    let pg = bare.is_pg();
    let enqueue_sql = Arc::new(enqueue_sql());
    let claim_sql = Arc::new(if batch == 1 {
        claim_sql(pg)
    } else {
        claim_batch_sql(pg)
    });
    let enqueued = jobs * ENQUEUE_FACTOR;
    let start = Instant::now();
    let mut tasks = Vec::new();
    for range in shares(enqueued, workers) {
        let bare = bare.clone();
        let sql = enqueue_sql.clone();
        tasks.push(tokio::spawn(async move {
            for i in range {
                bare.enqueue(&sql, i, run).await.expect("bare enqueue");
            }
        }));
    }
    for t in tasks {
        t.await.expect("enqueue task");
    }
    let enqueue = rate(enqueued, start.elapsed());

    let budget = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..workers {
        let bare = bare.clone();
        let sql = claim_sql.clone();
        let (budget, done) = (budget.clone(), done.clone());
        tasks.push(tokio::spawn(async move {
            let worker = format!("bench-{w}");
            let mut prev: Vec<(String, String)> = Vec::new();
            loop {
                let n = take(&budget, jobs, batch);
                if n == 0 {
                    if !prev.is_empty() {
                        bare.complete_group(&prev)
                            .await
                            .expect("bare complete group");
                    }
                    break;
                }
                if chain {
                    prev = bare
                        .complete_and_claim(&prev, &worker, n)
                        .await
                        .expect("bare complete_and_claim");
                    assert_eq!(prev.len(), n, "a full batch of queued jobs");
                } else if batch == 1 {
                    let claimed = bare
                        .claim_complete(&sql, &worker)
                        .await
                        .expect("bare claim");
                    assert!(claimed, "a queued job");
                } else {
                    let claimed = bare
                        .claim_batch_complete(&sql, &worker, n)
                        .await
                        .expect("bare claim batch");
                    assert_eq!(claimed, n, "a full batch of queued jobs");
                }
                done.fetch_add(n, Ordering::Relaxed);
            }
        }));
    }
    for t in tasks {
        t.await.expect("claim task");
    }
    let claim = rate(jobs, start.elapsed());
    assert_eq!(done.load(Ordering::Relaxed), jobs, "claimed jobs completed");
    let left = on_pool!(bare, p => sqlx::query(CLEANUP_SQL)
        .execute(p)
        .await
        .expect("cleanup")
        .rows_affected());
    assert_eq!(
        left,
        u64::try_from(enqueued - jobs).unwrap_or(u64::MAX),
        "nothing claimed twice"
    );
    (enqueue, claim)
}

#[allow(clippy::cast_precision_loss)]
fn rate(jobs: usize, took: Duration) -> f64 {
    jobs as f64 / took.as_secs_f64().max(1e-9)
}

fn report(backend: &str, workers: usize, store: Rates, bare: Rates) {
    for (op, s, b) in [
        ("enqueue", store.0, bare.0),
        ("claim_complete", store.1, bare.1),
    ] {
        let name = format!("queue.{backend}.{op}.{workers}w");
        println!("RESULT {name} {s:.0} jobs/s");
        println!("RESULT {name}.bare {b:.0} jobs/s");
        println!("RESULT {name}.ratio_vs_bare {:.2} ratio", s / b);
    }
}

/// The batched (or chained) claim+complete figures beside the per-job one (`per_job`).
fn report_batched(backend: &str, workers: usize, shape: &str, store: f64, bare: f64, per_job: f64) {
    let name = format!("queue.{backend}.claim_complete_{shape}.{workers}w");
    println!("RESULT {name} {store:.0} jobs/s");
    println!("RESULT {name}.bare {bare:.0} jobs/s");
    println!("RESULT {name}.ratio_vs_bare {:.2} ratio", store / bare);
    println!(
        "RESULT {name}.ratio_vs_per_job {:.2} ratio",
        store / per_job
    );
}

/// Queues [`OTHER_JOBS`] due jobs of [`OTHER_KIND`] through the store (unmeasured).
async fn queue_other_kind(store: &SqlStore, run: usize) {
    let mut tasks = Vec::new();
    for range in shares(OTHER_JOBS, 4) {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            for i in range {
                let job = NewJob::new(OTHER_KIND, payload(i)).with_key(format!("other:{run}:{i}"));
                store.enqueue(&job).await.expect("enqueue other kind");
            }
        }));
    }
    for t in tasks {
        t.await.expect("enqueue task");
    }
}

/// Claim+complete rates without and with [`OTHER_JOBS`] queued jobs of a kind nobody claims;
/// the best of `rounds` each, alternating which goes first.
async fn bench_other_kind(store: &SqlStore, backend: &str, jobs: usize, rounds: usize) {
    let mut run = 20_000;
    for workers in WORKERS {
        let (mut none, mut with) = (0.0_f64, 0.0_f64);
        for round in 0..rounds {
            for with_other in [round % 2 == 1, round % 2 == 0] {
                run += 1;
                if with_other {
                    queue_other_kind(store, run).await;
                    let counts = store.job_counts().await.expect("job counts");
                    assert!(
                        counts.get(&JobState::Queued).copied().unwrap_or(0)
                            >= u64::try_from(OTHER_JOBS).unwrap_or(u64::MAX),
                        "the other kind's jobs are queued"
                    );
                    with = with.max(bench_store(store, workers, jobs, run, 1, false).await.1);
                    sqlx::query(OTHER_CLEANUP_SQL)
                        .execute(store.pool())
                        .await
                        .expect("cleanup");
                } else {
                    none = none.max(bench_store(store, workers, jobs, run, 1, false).await.1);
                }
            }
        }
        let name = format!("queue.{backend}.claim_complete_other_kind.{workers}w");
        println!("RESULT {name}.none {none:.0} jobs/s");
        println!("RESULT {name}.{OTHER_JOBS} {with:.0} jobs/s");
        println!(
            "RESULT {name}.ratio_{OTHER_JOBS}_vs_none {:.2} ratio",
            with / none
        );
    }
}

async fn open_store(url: &str) -> SqlStore {
    SqlStore::builder(url)
        .without_encryption()
        .max_connections(POOL)
        .connect()
        .await
        .unwrap_or_else(|e| panic!("connect {url}: {e}"))
}

fn best(a: Rates, b: Rates) -> Rates {
    (a.0.max(b.0), a.1.max(b.1))
}

async fn run_backend(backend: &str, store_url: &str, bare: Bare, jobs: usize, rounds: usize) {
    let store = open_store(store_url).await;
    println!(
        "SETTINGS queue.{backend} {} {} claims_per_round={jobs} enqueued_per_round={} \
         rounds={rounds} (best round) payload_bytes={} lease_s={} bare=native sqlx driver, \
         same pool_options, same statements; claim_complete=claim+complete per job, \
         claim_complete_batched=claim_batch({BATCH})+complete per job, \
         claim_complete_chained=complete_and_claim(last batch, {BATCH}) per batch",
        common::describe(store.pool(), POOL).await,
        common::machine(),
        jobs * ENQUEUE_FACTOR,
        payload(0).to_string().len(),
        LEASE.as_secs(),
    );
    let any = std::env::var("QUEUE_BENCH_ANY").is_ok_and(|v| v == "1");
    let any_pool = Bare::Any(store.pool().clone(), backend == "sqlite");
    // Warm both pools (connections, statement caches) before measuring.
    let warm = jobs.min(WARMUP_JOBS);
    bench_bare(&bare, 2, warm, WARMUP_RUN, 1, false).await;
    bench_store(&store, 2, warm, WARMUP_RUN, 1, false).await;
    bench_bare(&bare, 2, warm, WARMUP_RUN + 2, BATCH, false).await;
    bench_store(&store, 2, warm, WARMUP_RUN + 2, BATCH, false).await;
    bench_bare(&bare, 2, warm, WARMUP_RUN + 3, BATCH, true).await;
    bench_store(&store, 2, warm, WARMUP_RUN + 3, BATCH, true).await;
    if any {
        bench_bare(&any_pool, 2, warm, WARMUP_RUN + 1, 1, false).await;
    }
    let mut run = 0;
    for workers in WORKERS {
        let (mut s, mut b, mut a) = ((0.0, 0.0), (0.0, 0.0), (0.0, 0.0));
        let (mut sb, mut bb) = (0.0_f64, 0.0_f64);
        let (mut sc, mut bc) = (0.0_f64, 0.0_f64);
        for round in 0..rounds {
            run += 1;
            // Alternate who goes first, so neither always meets the fresher database.
            let batched = run + 30_000;
            let chained = run + 40_000;
            if round % 2 == 0 {
                bc = bc.max(
                    bench_bare(&bare, workers, jobs, chained, BATCH, true)
                        .await
                        .1,
                );
                sc = sc.max(
                    bench_store(&store, workers, jobs, chained, BATCH, true)
                        .await
                        .1,
                );
            } else {
                sc = sc.max(
                    bench_store(&store, workers, jobs, chained, BATCH, true)
                        .await
                        .1,
                );
                bc = bc.max(
                    bench_bare(&bare, workers, jobs, chained, BATCH, true)
                        .await
                        .1,
                );
            }
            if round % 2 == 0 {
                b = best(b, bench_bare(&bare, workers, jobs, run, 1, false).await);
                s = best(s, bench_store(&store, workers, jobs, run, 1, false).await);
                bb = bb.max(
                    bench_bare(&bare, workers, jobs, batched, BATCH, false)
                        .await
                        .1,
                );
                sb = sb.max(
                    bench_store(&store, workers, jobs, batched, BATCH, false)
                        .await
                        .1,
                );
            } else {
                sb = sb.max(
                    bench_store(&store, workers, jobs, batched, BATCH, false)
                        .await
                        .1,
                );
                bb = bb.max(
                    bench_bare(&bare, workers, jobs, batched, BATCH, false)
                        .await
                        .1,
                );
                s = best(s, bench_store(&store, workers, jobs, run, 1, false).await);
                b = best(b, bench_bare(&bare, workers, jobs, run, 1, false).await);
            }
            if any {
                a = best(
                    a,
                    bench_bare(&any_pool, workers, jobs, run + 10_000, 1, false).await,
                );
            }
        }
        report(backend, workers, s, b);
        report_batched(backend, workers, "batched", sb, bb, s.1);
        report_batched(backend, workers, "chained", sc, bc, s.1);
        if any {
            for (op, v) in [("enqueue", a.0), ("claim_complete", a.1)] {
                println!("RESULT queue.{backend}.{op}.{workers}w.bare_any {v:.0} jobs/s");
            }
        }
    }
    bench_other_kind(&store, backend, jobs, rounds).await;
    store.close().await;
    on_pool!(&bare, p => p.close().await);
}

async fn sqlite(jobs: usize, rounds: usize) {
    let dir = std::env::temp_dir().join(format!("queue-bench-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let store_url = format!("sqlite://{}?mode=rwc", dir.join("store.db").display());
    let bare_url = format!("sqlite://{}?mode=rwc", dir.join("bare.db").display());
    // The bare loop runs on its own database with the store's schema (migrations applied).
    open_store(&bare_url).await.close().await;
    // The store's own pool options and pragmas (one shared constructor), on the native driver.
    let bare = salesagent_store::pool_options::<sqlx::Sqlite>(&bare_url, POOL)
        .expect("pool options")
        .connect(&bare_url)
        .await
        .expect("bare sqlite pool");
    run_backend("sqlite", &store_url, Bare::Sqlite(bare), jobs, rounds).await;
    let _ = std::fs::remove_dir_all(&dir);
}

async fn postgres(jobs: usize, rounds: usize) {
    if !TempPostgres::available() {
        println!("queue bench: PostgreSQL skipped (no server binaries and no DATABASE_URL)");
        return;
    }
    let pg = match TempPostgres::shared().await {
        Ok(pg) => pg,
        Err(e) => {
            println!("queue bench: PostgreSQL skipped ({e})");
            return;
        }
    };
    let store_url = pg.fresh_database().await.expect("store database");
    let bare_url = pg.fresh_database().await.expect("bare database");
    open_store(&bare_url).await.close().await;
    let bare = salesagent_store::pool_options::<sqlx::Postgres>(&bare_url, POOL)
        .expect("pool options")
        .connect(&bare_url)
        .await
        .expect("bare postgres pool");
    run_backend("postgres", &store_url, Bare::Pg(bare), jobs, rounds).await;
}

fn env_count(name: &str, default: usize) -> Result<usize, String> {
    match std::env::var(name) {
        Ok(v) => match v.trim().parse::<usize>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(format!("{name} must be a positive integer, got {v:?}")),
        },
        Err(_) => Ok(default),
    }
}

fn main() -> ExitCode {
    let (jobs, rounds) = match (
        env_count("QUEUE_BENCH_JOBS", 1_000),
        env_count("QUEUE_BENCH_ROUNDS", 3),
    ) {
        (Ok(j), Ok(r)) => (j, r),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(async {
        sqlite(jobs, rounds).await;
        postgres(jobs, rounds).await;
    });
    ExitCode::SUCCESS
}
