//! The durable job queue.
//!
//! A job row moves `queued → running → done`, or back to `queued` after a failed attempt (with
//! exponential backoff and jitter from the store's [`RetryPolicy`](salesagent_core::model::RetryPolicy)),
//! or to `dead` once out of attempts or on a permanent error. A claim is a single
//! `UPDATE … WHERE id = (SELECT … LIMIT 1) RETURNING …` that sets a fresh lease token:
//! on PostgreSQL the inner select takes `FOR UPDATE SKIP LOCKED`, so concurrent claimers skip
//! each other's rows instead of queueing on them; on SQLite the statement runs inside a
//! `BEGIN IMMEDIATE` transaction, which holds the single write lock. A claim for given kinds
//! looks up each kind's oldest runnable job in the partial index
//! `jobs_kind_runnable (kind, run_at, id)` and takes the oldest of those, so neither the queue's
//! depth nor thousands of queued jobs of kinds the claimer did not ask for slow it down; a claim
//! for any kind walks `jobs_runnable (run_at, id)` in order. A running job whose lease
//! has expired is runnable again, so a crashed worker's job is picked up by the next claim, and
//! the old worker's token no longer finishes it. [`JobStore::claim_batch`] claims up to `n`
//! jobs with the same probes in one statement (`UPDATE … WHERE id = ANY(ARRAY(SELECT … LIMIT n
//! FOR UPDATE SKIP LOCKED))` on PostgreSQL, `id IN (SELECT … LIMIT n)` on SQLite), the batch
//! sharing one fresh lease token. [`JobStore::complete_batch`] finishes many leases in one
//! `UPDATE … WHERE state = 'running' AND ((id = … AND lease_token = …) OR …) RETURNING id`
//! and looks up only the leases it did not match. [`JobStore::complete_and_claim`] does both in
//! one write: on PostgreSQL one statement whose data-modifying `WITH` parts complete the leases
//! and claim the next batch, the claim leaving the completed ids out so the parts touch disjoint
//! rows; on SQLite both statements in one `BEGIN IMMEDIATE` transaction. [`JobStore::release`] hands a job back without
//! using up an attempt, [`JobStore::wake`] makes a scheduled job due now.

use crate::batch::Stmt;
use crate::error::db;
use crate::{Backend, SqlStore, col, from_ts, ts};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use salesagent_core::model::{
    ClaimedJob, Job, JobFailure, JobFilter, JobId, JobState, Lease, LeaseToken, NewJob,
};
use salesagent_core::ports::JobStore;
use salesagent_core::{Error, Result};
use sqlx::AssertSqlSafe;
use sqlx::any::AnyRow;
use std::collections::BTreeMap;
use std::time::Duration;

/// How often the PostgreSQL `complete_and_claim` statement is sent when PostgreSQL aborts it
/// as a deadlock victim (the statement is atomic, so an aborted one changed nothing).
const DEADLOCK_ATTEMPTS: u32 = 3;

pub(crate) const JOB_COLS: &str = "id, kind, payload, idempotency_key, state, attempts, \
    max_attempts, run_at, lease_owner, lease_token, lease_expires_at, last_error, created_at, \
    updated_at";

/// Leases per group-completion statement: two bound values each, well under the bind limits
/// of both databases.
const COMPLETE_CHUNK: usize = 500;

/// Default page size of `list_jobs` when the filter says 0.
const DEFAULT_LIST_LIMIT: u32 = 1000;

fn uuid_of(s: &str) -> Result<uuid::Uuid> {
    s.parse()
        .map_err(|_| Error::backend(format!("bad id {s:?} in jobs")))
}

fn u32_of(n: i64) -> u32 {
    u32::try_from(n.max(0)).unwrap_or(u32::MAX)
}

impl SqlStore {
    /// A job from its row, opening its sealed payload and last error.
    pub(crate) fn job_from(&self, row: &AnyRow) -> Result<Job> {
        let id: String = col(row, "id")?;
        let payload: String = col(row, "payload")?;
        let payload = self.inner.crypto.open(&format!("jobs:{id}"), &payload)?;
        let last_error = col::<Option<String>>(row, "last_error")?
            .map(|e| self.open_job_error(&id, e))
            .transpose()?;
        Ok(Job {
            id: JobId(uuid_of(&id)?),
            kind: col(row, "kind")?,
            payload: serde_json::from_str(&payload)
                .map_err(|e| crate::error::json("jobs.payload", &e))?,
            idempotency_key: col(row, "idempotency_key")?,
            state: col::<String>(row, "state")?.parse()?,
            attempts: u32_of(col(row, "attempts")?),
            max_attempts: u32_of(col(row, "max_attempts")?),
            run_at: from_ts(col(row, "run_at")?),
            lease_owner: col(row, "lease_owner")?,
            lease_expires_at: col::<Option<i64>>(row, "lease_expires_at")?.map(from_ts),
            last_error,
            created_at: from_ts(col(row, "created_at")?),
            updated_at: from_ts(col(row, "updated_at")?),
        })
    }

    /// Opens a job's sealed last error; an unprefixed one is a message the store wrote itself
    /// in SQL (no personal data, e.g. "lease expired on the last attempt").
    fn open_job_error(&self, id: &str, stored: String) -> Result<String> {
        if stored.starts_with("p:") || stored.starts_with("e1:") {
            self.inner
                .crypto
                .open(&format!("jobs.last_error:{id}"), &stored)
        } else {
            Ok(stored)
        }
    }
}

fn after(now: DateTime<Utc>, d: Duration) -> Result<DateTime<Utc>> {
    chrono::Duration::from_std(d)
        .ok()
        .and_then(|d| now.checked_add_signed(d))
        .ok_or_else(|| Error::invalid("duration", "is too long"))
}

/// A uniform random number in [0, 1) for backoff jitter.
fn unit_random() -> f64 {
    let bits = uuid::Uuid::new_v4().as_u128() as u64 >> 11;
    #[allow(clippy::cast_precision_loss)]
    let r = bits as f64 / (1u64 << 53) as f64;
    r
}

/// The ids of the oldest runnable jobs of `kinds` (`$5…`; none = any kind), at most
/// `limit` (a number or a placeholder) of them, locked with `lock` on PostgreSQL; `$4` is
/// now; `pg` for PostgreSQL.
///
/// Every runnable job is due by now (`run_at <= now`: a queued job must be, and a running
/// one was when it was claimed), so each lookup is a range scan of a partial index over
/// queued and running jobs that stops after `limit` matches. For a list of kinds, each kind
/// is looked up on its own in `jobs_kind_runnable (kind, run_at, id)` and the oldest of
/// those candidates win: jobs of kinds nobody asked for are never walked. Without kinds,
/// `jobs_runnable (run_at, id)` is walked in order; no claim by kind can use that index
/// (its predicate names `max_attempts > 0`, which only this claim states), so PostgreSQL's
/// planner cannot pick it for one and walk past other kinds' jobs. SQLite is told which
/// index to use (its planner otherwise sorts every runnable row); PostgreSQL's
/// `FOR UPDATE SKIP LOCKED` makes concurrent claimers pass over each other's rows.
///
/// `exclude` is appended to the runnable condition (e.g. `AND id NOT IN ($9, $11)`: the
/// jobs a combined completion finishes in the same statement).
fn pick_sql(pg: bool, kinds: usize, lock: &str, limit: &str, exclude: &str) -> String {
    let indexed = |name: &str| {
        if pg {
            String::new()
        } else {
            format!(" INDEXED BY {name}")
        }
    };
    // `state IN (…)` repeats the partial indexes' predicate so both planners can use them.
    let runnable = format!(
        "state IN ('queued', 'running') AND run_at <= $4 \
         AND ((state = 'queued' AND run_at <= $4) \
         OR (state = 'running' AND lease_expires_at <= $4 AND attempts < max_attempts)){exclude}"
    );
    match kinds {
        // `max_attempts > 0` (true of every job) is part of `jobs_runnable`'s predicate,
        // so only this claim can use that index (see migration 0002).
        0 => format!(
            "SELECT id FROM jobs{} WHERE max_attempts > 0 AND {runnable} \
             ORDER BY run_at, id LIMIT {limit}{lock}",
            indexed("jobs_runnable")
        ),
        1 => format!(
            "SELECT id FROM jobs{} WHERE kind = $5 AND {runnable} \
             ORDER BY run_at, id LIMIT {limit}{lock}",
            indexed("jobs_kind_runnable")
        ),
        _ => {
            let arms: Vec<String> = (0..kinds)
                .map(|i| {
                    format!(
                        "SELECT id, run_at FROM (SELECT id, run_at FROM jobs{} \
                         WHERE kind = ${} AND {runnable} ORDER BY run_at, id \
                         LIMIT {limit}{lock}) AS k{i}",
                        indexed("jobs_kind_runnable"),
                        i + 5
                    )
                })
                .collect();
            format!(
                "SELECT id FROM ({}) AS candidates ORDER BY run_at, id LIMIT {limit}",
                arms.join(" UNION ALL ")
            )
        }
    }
}

/// `FOR UPDATE SKIP LOCKED` on PostgreSQL, nothing on SQLite (its write lock serialises
/// claims).
fn skip_locked(pg: bool) -> &'static str {
    if pg { " FOR UPDATE SKIP LOCKED" } else { "" }
}

/// The statement with which [`SqlStore`]'s [`JobStore::complete_batch`] completes `leases`
/// leases (of distinct jobs, at most 500 a statement) on either backend: public so that a
/// bare-SQL baseline runs the store's statement. Binds `$1` now (`i64` nanoseconds since the
/// Unix epoch), then each lease's job id and token (hyphenated text); returns the ids of the
/// jobs it completed (those still running under the lease given).
#[must_use]
pub fn complete_batch_sql(leases: usize) -> String {
    let matched = (0..leases)
        .map(|n| format!("(id = ${} AND lease_token = ${})", 2 * n + 2, 2 * n + 3))
        .collect::<Vec<_>>()
        .join(" OR ");
    format!(
        "UPDATE jobs SET state = 'done', lease_owner = NULL, lease_token = NULL, \
         lease_expires_at = NULL, updated_at = $1 \
         WHERE state = 'running' AND ({matched}) RETURNING id"
    )
}

/// The SQL [`SqlStore`]'s [`JobStore::complete_and_claim`] issues when it completes leases and
/// claims the next batch in one write, from [`complete_and_claim_sql`]: public so that a
/// bare-SQL baseline (the queue benchmark) runs the very statements the store runs.
///
/// Placeholders are numbered (`$1`…, as sqlx binds them in order). Timestamps are bound as
/// `i64` nanoseconds since the Unix epoch, ids and lease tokens as their hyphenated text, the
/// batch limit as an `i64`. For `k` kinds, the claim's values are `$1` the worker, `$2` the
/// new lease token, `$3` the new lease's expiry, `$4` now, `$5`…`$(4+k)` the kinds (sorted,
/// without repeats, as the store binds them) and `$(5+k)` the most jobs to claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CompleteAndClaimSql {
    /// PostgreSQL: one statement whose data-modifying `WITH` parts complete the leases and
    /// claim up to the limit of runnable jobs other than the leases' (`FOR UPDATE SKIP
    /// LOCKED`), the completion read first. Binds the claim's values, then each lease's job id
    /// and token. Each row has a `part` column: `'d'` for a completed job (only `id` set),
    /// `'c'` for a claimed one (every job column).
    Postgres(String),
    /// SQLite: two statements, run one after the other in one `BEGIN IMMEDIATE` transaction.
    Sqlite {
        /// The group completion, [`complete_batch_sql`].
        complete: String,
        /// The claim of up to the limit of runnable jobs other than the leases': the claim's
        /// values, then each lease's job id; returns the claimed jobs' columns.
        claim: String,
    },
}

/// The statement(s) with which [`SqlStore`] completes `leases` leases (of distinct jobs, 1 to
/// 500) and claims a batch of jobs of `kinds` kinds (0 = any kind) on `backend`, as
/// [`JobStore::complete_and_claim`] does when it has both to do (see [`CompleteAndClaimSql`]
/// for what each binds).
#[must_use]
pub fn complete_and_claim_sql(
    backend: Backend,
    kinds: usize,
    leases: usize,
) -> CompleteAndClaimSql {
    let pg = backend == Backend::Postgres;
    let set_running = "UPDATE jobs SET state = 'running', attempts = attempts + 1, \
         lease_owner = $1, lease_token = $2, lease_expires_at = $3, updated_at = $4";
    let limit = format!("${}", kinds + 5);
    // The leases' values follow the claim's.
    let first = kinds + 6;
    // On PostgreSQL the claim leaves out the ids bound for the completion; SQLite's claim is a
    // statement of its own that binds only the ids, right after the limit.
    let ids = (0..leases)
        .map(|n| format!("${}", if pg { first + 2 * n } else { first + n }))
        .collect::<Vec<_>>()
        .join(", ");
    let exclude = format!(" AND id NOT IN ({ids})");
    let pick = pick_sql(pg, kinds, skip_locked(pg), &limit, &exclude);
    if !pg {
        return CompleteAndClaimSql::Sqlite {
            complete: complete_batch_sql(leases),
            claim: format!("{set_running} WHERE id IN ({pick}) RETURNING {JOB_COLS}"),
        };
    }
    let matched = (0..leases)
        .map(|n| {
            format!(
                "(id = ${} AND lease_token = ${})",
                first + 2 * n,
                first + 2 * n + 1
            )
        })
        .collect::<Vec<_>>()
        .join(" OR ");
    // The completion's rows come first, so they name the columns: NULL for every job column
    // but the id.
    let nulls = JOB_COLS
        .split(',')
        .map(str::trim)
        .skip(1)
        .map(|c| format!("NULL AS {c}"))
        .collect::<Vec<_>>()
        .join(", ");
    // The completion is read first, so it runs (and takes its rows' locks) before the claim's
    // pick locks anything. With the claim first, two workers' statements deadlocked (seen in
    // the peers bench, 8 workers): a pick working from a snapshot taken before another
    // worker's claim committed locks that worker's fresh running row without returning it,
    // then this statement's completion waits for the other statement, whose own completion
    // waits for a row this pick locked the same way. Completion first, a statement waits only
    // while it holds nothing but its own leased rows, and a pick never waits (SKIP LOCKED), so
    // no cycle forms. PostgreSQL does not promise the order of a statement's `WITH` parts, so
    // the store retries a deadlock that still happens: the aborted statement changed nothing.
    CompleteAndClaimSql::Postgres(format!(
        "WITH done AS (UPDATE jobs SET state = 'done', lease_owner = NULL, lease_token = NULL, \
         lease_expires_at = NULL, updated_at = $4 WHERE state = 'running' \
         AND ({matched}) RETURNING id), \
         claimed AS ({set_running} WHERE id = ANY(ARRAY({pick})) RETURNING {JOB_COLS}) \
         SELECT 'd' AS part, id, {nulls} FROM done \
         UNION ALL SELECT 'c', {JOB_COLS} FROM claimed"
    ))
}

impl SqlStore {
    /// The insert of a new queued job, doing nothing when its idempotency key is taken;
    /// `returning` adds the stored row to the result.
    pub(crate) fn enqueue_insert(&self, job: &NewJob, returning: bool) -> Result<Stmt> {
        if job.kind.trim().is_empty() {
            return Err(Error::invalid("kind", "is empty"));
        }
        self.check_text("kind", &job.kind)?;
        if let Some(k) = &job.idempotency_key {
            self.check_text("idempotency_key", k)?;
        }
        let now = ts("now", self.now())?;
        let run_at = job.run_at.map(|t| ts("run_at", t)).transpose()?;
        let mut sql = String::from(
            "INSERT INTO jobs (id, kind, payload, idempotency_key, state, attempts, max_attempts, \
             run_at, created_at, updated_at) VALUES ($1, $2, $3, $4, 'queued', 0, $5, $6, $7, $7) \
             ON CONFLICT (idempotency_key) DO NOTHING",
        );
        if returning {
            sql.push_str(&format!(" RETURNING {JOB_COLS}"));
        }
        let id = JobId::new().to_string();
        let payload = self
            .inner
            .crypto
            .seal(&format!("jobs:{id}"), &job.payload.to_string())?;
        Ok(Stmt::new(sql)
            .bind(id)
            .bind(job.kind.clone())
            .bind(payload)
            .bind(job.idempotency_key.clone())
            .bind(i64::from(job.max_attempts.max(1)))
            .bind(run_at.unwrap_or(now))
            .bind(now))
    }

    async fn job_by_key(&self, key: &str) -> Result<Option<Job>> {
        let sql = format!("SELECT {JOB_COLS} FROM jobs WHERE idempotency_key = $1");
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(key.to_owned())
            .fetch_optional(self.pool())
            .await
            .map_err(db)?;
        row.map(|r| self.job_from(&r)).transpose()
    }

    /// One claim statement: the oldest runnable job of `kinds` (empty = any), locked with
    /// `lock` on PostgreSQL, becomes running under a new lease.
    ///
    /// Every runnable job is due by now (`run_at <= now`: a queued job must be, and a running
    /// one was when it was claimed), so each lookup is a range scan of a partial index over
    /// queued and running jobs that stops at the first match. For a list of kinds, each kind
    /// is looked up on its own in `jobs_kind_runnable (kind, run_at, id)` and the oldest of
    /// those candidates wins: jobs of kinds nobody asked for are never walked. Without kinds,
    /// `jobs_runnable (run_at, id)` is walked in order; no claim by kind can use that index
    /// (its predicate names `max_attempts > 0`, which only this claim states), so PostgreSQL's
    /// planner cannot pick it for one and walk past other kinds' jobs. SQLite is told which index to use (its
    /// planner otherwise sorts every runnable row); PostgreSQL's `FOR UPDATE SKIP LOCKED`
    /// makes concurrent claimers pass over each other's rows.
    async fn claim_with(
        &self,
        worker: &str,
        token: &LeaseToken,
        expires: DateTime<Utc>,
        now: DateTime<Utc>,
        kinds: &[&String],
        lock: &str,
    ) -> Result<Option<AnyRow>> {
        let pick = pick_sql(self.is_pg(), kinds.len(), lock, "1", "");
        let sql = format!(
            "UPDATE jobs SET state = 'running', attempts = attempts + 1, lease_owner = $1, \
             lease_token = $2, lease_expires_at = $3, updated_at = $4 \
             WHERE id = ({pick}) RETURNING {JOB_COLS}"
        );
        let mut q = sqlx::query(AssertSqlSafe(sql))
            .bind(worker.to_owned())
            .bind(token.to_string())
            .bind(ts("lease", expires)?)
            .bind(ts("now", now)?);
        for k in kinds {
            q = q.bind((*k).clone());
        }
        if self.is_pg() {
            q.fetch_optional(self.pool()).await.map_err(db)
        } else {
            let (_gate, mut tx) = self.begin_gated().await?;
            let row = q.fetch_optional(&mut *tx).await.map_err(db)?;
            tx.commit().await.map_err(db)?;
            Ok(row)
        }
    }

    /// One batch claim statement: up to `max` of the oldest runnable jobs of `kinds` (the
    /// probes of [`pick_sql`]), locked with `lock` on PostgreSQL, become running under
    /// one new lease token. On PostgreSQL the ids are gathered by `ARRAY(…)`, which runs its
    /// locking select exactly once (an `IN (…)` semi-join may run it again and claim more than
    /// `max`); on SQLite the statement runs inside a `BEGIN IMMEDIATE` transaction.
    #[allow(clippy::too_many_arguments)]
    async fn claim_batch_with(
        &self,
        worker: &str,
        token: &LeaseToken,
        expires: DateTime<Utc>,
        now: DateTime<Utc>,
        kinds: &[&String],
        lock: &str,
        max: usize,
    ) -> Result<Vec<AnyRow>> {
        let limit = format!("${}", kinds.len() + 5);
        let pick = pick_sql(self.is_pg(), kinds.len(), lock, &limit, "");
        let which = if self.is_pg() {
            format!("id = ANY(ARRAY({pick}))")
        } else {
            format!("id IN ({pick})")
        };
        let sql = format!(
            "UPDATE jobs SET state = 'running', attempts = attempts + 1, lease_owner = $1, \
             lease_token = $2, lease_expires_at = $3, updated_at = $4 \
             WHERE {which} RETURNING {JOB_COLS}"
        );
        let mut q = sqlx::query(AssertSqlSafe(sql))
            .bind(worker.to_owned())
            .bind(token.to_string())
            .bind(ts("lease", expires)?)
            .bind(ts("now", now)?);
        for k in kinds {
            q = q.bind((*k).clone());
        }
        q = q.bind(i64::try_from(max).unwrap_or(i64::MAX));
        if self.is_pg() {
            q.fetch_all(self.pool()).await.map_err(db)
        } else {
            let (_gate, mut tx) = self.begin_gated().await?;
            let rows = q.fetch_all(&mut *tx).await.map_err(db)?;
            tx.commit().await.map_err(db)?;
            Ok(rows)
        }
    }

    /// The completion of `leases` and the claim of up to `max` jobs of `kinds` as one atomic
    /// write; answers the ids the completion matched and the claimed rows.
    ///
    /// PostgreSQL: one statement, `WITH done AS (UPDATE … done …), claimed AS (UPDATE … running
    /// … WHERE id = ANY(ARRAY(pick … AND id NOT IN (the leases' ids) … FOR UPDATE SKIP
    /// LOCKED))) SELECT …`. Both parts see one snapshot, so the claim leaves the completed jobs
    /// out by id: the two parts update disjoint rows (a row updated twice by one statement is
    /// undefined in PostgreSQL). SQLite: the group completion then the claim (leaving the same
    /// ids out) in one `BEGIN IMMEDIATE` transaction. `leases` holds distinct jobs, at most
    /// [`COMPLETE_CHUNK`] of them.
    #[allow(clippy::too_many_arguments)]
    async fn complete_and_claim_with(
        &self,
        leases: &[Lease],
        worker: &str,
        token: &LeaseToken,
        expires: DateTime<Utc>,
        now: DateTime<Utc>,
        kinds: &[&String],
        max: usize,
    ) -> Result<(std::collections::BTreeSet<String>, Vec<AnyRow>)> {
        let now_ts = ts("now", now)?;
        let claim = |sql: String, tokens: bool| -> Result<_> {
            let mut q = sqlx::query(AssertSqlSafe(sql))
                .bind(worker.to_owned())
                .bind(token.to_string())
                .bind(ts("lease", expires)?)
                .bind(now_ts);
            for k in kinds {
                q = q.bind((*k).clone());
            }
            q = q.bind(i64::try_from(max).unwrap_or(i64::MAX));
            for l in leases {
                q = q.bind(l.job_id.to_string());
                if tokens {
                    q = q.bind(l.token.to_string());
                }
            }
            Ok(q)
        };
        let mut done = std::collections::BTreeSet::new();
        let (complete, claim) =
            match complete_and_claim_sql(self.backend(), kinds.len(), leases.len()) {
                CompleteAndClaimSql::Postgres(sql) => {
                    // The statement reads its completion first (see `complete_and_claim_sql`);
                    // a deadlock that still happens is retried.
                    let mut attempt = 0;
                    let rows = loop {
                        attempt += 1;
                        match claim(sql.clone(), true)?.fetch_all(self.pool()).await {
                            Err(sqlx::Error::Database(d))
                                if d.code().as_deref() == Some("40P01")
                                    && attempt < DEADLOCK_ATTEMPTS =>
                            {
                                tracing::debug!(attempt, "complete_and_claim deadlocked; retrying");
                            }
                            r => break r.map_err(db)?,
                        }
                    };
                    let mut claimed = Vec::with_capacity(rows.len());
                    for row in rows {
                        if col::<String>(&row, "part")? == "d" {
                            done.insert(col::<String>(&row, "id")?);
                        } else {
                            claimed.push(row);
                        }
                    }
                    return Ok((done, claimed));
                }
                CompleteAndClaimSql::Sqlite {
                    complete,
                    claim: sql,
                } => (complete, claim(sql, false)?),
            };
        // SQLite: the group completion (as `complete_batch`), then the claim, in one write
        // transaction.
        let mut complete = sqlx::query(AssertSqlSafe(complete)).bind(now_ts);
        for l in leases {
            complete = complete
                .bind(l.job_id.to_string())
                .bind(l.token.to_string());
        }
        let (_gate, mut tx) = self.begin_gated().await?;
        for row in complete.fetch_all(&mut *tx).await.map_err(db)? {
            done.insert(col::<String>(&row, "id")?);
        }
        let claimed = claim.fetch_all(&mut *tx).await.map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok((done, claimed))
    }

    /// Dead-letters the running jobs whose worker died on their last attempt (lease expired,
    /// no attempts left): they are not runnable, so no claim would ever finish them.
    async fn bury_expired_last_attempts(&self, now: DateTime<Utc>) -> Result<()> {
        sqlx::query(
            "UPDATE jobs SET state = 'dead', lease_owner = NULL, lease_token = NULL, \
             lease_expires_at = NULL, updated_at = $1, last_error = COALESCE(last_error, \
             'lease expired on the last attempt') WHERE state = 'running' \
             AND lease_expires_at <= $1 AND attempts >= max_attempts",
        )
        .bind(ts("now", now)?)
        .execute(&mut *self.writer().await?)
        .await
        .map_err(db)?;
        Ok(())
    }

    /// The claimed jobs of claim rows under one lease token, oldest first.
    fn claimed_from(
        &self,
        rows: &[AnyRow],
        worker: &str,
        token: LeaseToken,
        expires: DateTime<Utc>,
    ) -> Result<Vec<ClaimedJob>> {
        let mut claimed = rows
            .iter()
            .map(|row| {
                let job = self.job_from(row)?;
                Ok(ClaimedJob {
                    lease: Lease {
                        job_id: job.id,
                        token,
                        owner: worker.to_owned(),
                        expires_at: expires,
                    },
                    job,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        // RETURNING gives no order: oldest first, as claimed.
        claimed.sort_by_key(|c| (c.job.run_at, c.job.id));
        Ok(claimed)
    }

    /// A claim's kinds, checked (as the worker's name), sorted and deduplicated.
    fn claim_kinds<'k>(&self, worker: &str, kinds: &'k [String]) -> Result<Vec<&'k String>> {
        self.check_text("worker", worker)?;
        for k in kinds {
            self.check_text("kind", k)?;
        }
        // A fixed order of kinds: PostgreSQL's fallback claim waits for row locks kind by
        // kind, and claimers that lock in one order cannot deadlock.
        let mut kinds: Vec<&String> = kinds.iter().collect();
        kinds.sort();
        kinds.dedup();
        Ok(kinds)
    }

    /// [`skip_locked`] for this store's backend.
    fn skip_locked(&self) -> &'static str {
        skip_locked(self.is_pg())
    }

    /// `NotFound` if the job does not exist, otherwise `Conflict` (the lease was lost).
    async fn lost_lease(&self, lease: &Lease) -> Error {
        match self.get_job(lease.job_id).await {
            Ok(_) => Error::conflict(format!(
                "lease on job {} is no longer held by {}",
                lease.job_id, lease.owner
            )),
            Err(e) => e,
        }
    }
}

#[async_trait]
impl JobStore for SqlStore {
    async fn enqueue(&self, job: &NewJob) -> Result<(Job, bool)> {
        for _ in 0..3 {
            let row = self
                .enqueue_insert(job, true)?
                .fetch_optional(&mut *self.writer().await?)
                .await?;
            if let Some(r) = row {
                return Ok((self.job_from(&r)?, true));
            }
            let key = job.idempotency_key.as_deref().unwrap_or_default();
            if let Some(existing) = self.job_by_key(key).await? {
                return Ok((existing, false));
            }
            // The conflicting insert was rolled back between our two statements: try again.
        }
        Err(Error::unavailable("job enqueue raced repeatedly; retry"))
    }

    async fn claim(
        &self,
        worker: &str,
        kinds: &[String],
        lease: Duration,
    ) -> Result<Option<ClaimedJob>> {
        let kinds = self.claim_kinds(worker, kinds)?;
        let now = self.now();
        let expires = after(now, lease)?;
        let token = LeaseToken::new();
        let mut row = self
            .claim_with(worker, &token, expires, now, &kinds, self.skip_locked())
            .await?;
        if row.is_none() && self.is_pg() && kinds.len() > 1 {
            // Each kind's probe locks its oldest runnable job for the statement, the ones not
            // taken too, so a concurrent claimer may have skipped every job it could have had.
            // Waiting for those locks (they last one statement) settles it: a job that is
            // still runnable afterwards is found.
            row = self
                .claim_with(worker, &token, expires, now, &kinds, " FOR UPDATE")
                .await?;
        }
        let Some(row) = row else {
            // Jobs whose worker died on their last attempt are dead, not runnable.
            self.bury_expired_last_attempts(now).await?;
            return Ok(None);
        };
        let job = self.job_from(&row)?;
        Ok(Some(ClaimedJob {
            lease: Lease {
                job_id: job.id,
                token,
                owner: worker.to_owned(),
                expires_at: expires,
            },
            job,
        }))
    }

    async fn claim_batch(
        &self,
        worker: &str,
        kinds: &[String],
        lease: Duration,
        max: usize,
    ) -> Result<Vec<ClaimedJob>> {
        let kinds = self.claim_kinds(worker, kinds)?;
        if max == 0 {
            return Ok(Vec::new());
        }
        let now = self.now();
        let expires = after(now, lease)?;
        let token = LeaseToken::new();
        let mut rows = self
            .claim_batch_with(
                worker,
                &token,
                expires,
                now,
                &kinds,
                self.skip_locked(),
                max,
            )
            .await?;
        if rows.is_empty() && self.is_pg() && kinds.len() > 1 {
            // As in `claim`: the probes of a concurrent claim may have locked (and left) every
            // job this one could have had; waiting for those locks settles it.
            rows = self
                .claim_batch_with(worker, &token, expires, now, &kinds, " FOR UPDATE", max)
                .await?;
        }
        if rows.is_empty() {
            // Jobs whose worker died on their last attempt are dead, not runnable.
            self.bury_expired_last_attempts(now).await?;
            return Ok(Vec::new());
        }
        self.claimed_from(&rows, worker, token, expires)
    }

    async fn complete_and_claim(
        &self,
        done: &[Lease],
        worker: &str,
        kinds: &[String],
        lease: Duration,
        max: usize,
    ) -> Result<(Vec<Result<()>>, Result<Vec<ClaimedJob>>)> {
        let mut seen = std::collections::BTreeSet::new();
        let distinct = done.iter().all(|l| seen.insert(l.job_id));
        let checked = self.claim_kinds(worker, kinds);
        let (Ok(checked), true, false, true) = (
            checked,
            distinct,
            done.is_empty() || max == 0,
            done.len() <= COMPLETE_CHUNK,
        ) else {
            // Nothing to combine (or a lease twice, or more than one completion statement's
            // worth, or a claim the checks refuse): the two calls one after the other.
            let outcomes = self.complete_batch(done).await?;
            let claimed = self.claim_batch(worker, kinds, lease, max).await;
            return Ok((outcomes, claimed));
        };
        let now = self.now();
        let expires = after(now, lease)?;
        let token = LeaseToken::new();
        let (completed, rows) = self
            .complete_and_claim_with(done, worker, &token, expires, now, &checked, max)
            .await?;
        let mut outcomes = Vec::with_capacity(done.len());
        for l in done {
            outcomes.push(if completed.contains(&l.job_id.to_string()) {
                Ok(())
            } else {
                Err(self.lost_lease(l).await)
            });
        }
        let claimed = if rows.is_empty() {
            // As in `claim_batch`: the probes of a concurrent claim may have locked (and left)
            // every job this one could have had; a plain claim settles it (waiting for those
            // locks when there are several kinds) and dead-letters the jobs whose worker died
            // on their last attempt.
            self.claim_batch(worker, kinds, lease, max).await
        } else {
            self.claimed_from(&rows, worker, token, expires)
        };
        Ok((outcomes, claimed))
    }

    async fn heartbeat(&self, lease: &Lease, extend: Duration) -> Result<Lease> {
        let now = self.now();
        let expires = after(now, extend)?;
        let done = sqlx::query(
            "UPDATE jobs SET lease_expires_at = $1, updated_at = $2 \
             WHERE id = $3 AND lease_token = $4 AND state = 'running'",
        )
        .bind(ts("lease", expires)?)
        .bind(ts("now", now)?)
        .bind(lease.job_id.to_string())
        .bind(lease.token.to_string())
        .execute(&mut *self.writer().await?)
        .await
        .map_err(db)?;
        if done.rows_affected() == 0 {
            return Err(self.lost_lease(lease).await);
        }
        Ok(Lease {
            expires_at: expires,
            ..lease.clone()
        })
    }

    async fn complete(&self, lease: &Lease) -> Result<()> {
        let done = sqlx::query(
            "UPDATE jobs SET state = 'done', lease_owner = NULL, lease_token = NULL, \
             lease_expires_at = NULL, updated_at = $1 \
             WHERE id = $2 AND lease_token = $3 AND state = 'running'",
        )
        .bind(ts("now", self.now())?)
        .bind(lease.job_id.to_string())
        .bind(lease.token.to_string())
        .execute(&mut *self.writer().await?)
        .await
        .map_err(db)?;
        if done.rows_affected() == 0 {
            return Err(self.lost_lease(lease).await);
        }
        Ok(())
    }

    async fn complete_batch(&self, leases: &[Lease]) -> Result<Vec<Result<()>>> {
        let now = ts("now", self.now())?;
        // The first lease of each job goes into the group statement; a later lease of the same
        // job is completed on its own afterwards, as one-after-the-other `complete`s would.
        let mut seen = std::collections::BTreeSet::new();
        let (grouped, repeats): (Vec<usize>, Vec<usize>) =
            (0..leases.len()).partition(|&i| seen.insert(leases[i].job_id));
        let mut done = std::collections::BTreeSet::new();
        for chunk in grouped.chunks(COMPLETE_CHUNK) {
            let mut q = sqlx::query(AssertSqlSafe(complete_batch_sql(chunk.len()))).bind(now);
            for &i in chunk {
                q = q
                    .bind(leases[i].job_id.to_string())
                    .bind(leases[i].token.to_string());
            }
            let rows = q.fetch_all(&mut *self.writer().await?).await.map_err(db)?;
            for row in &rows {
                done.insert(col::<String>(row, "id")?);
            }
        }
        let mut outcomes: Vec<Option<Result<()>>> = vec![None; leases.len()];
        for &i in &grouped {
            outcomes[i] = Some(if done.contains(&leases[i].job_id.to_string()) {
                Ok(())
            } else {
                Err(self.lost_lease(&leases[i]).await)
            });
        }
        for &i in &repeats {
            outcomes[i] = Some(match self.complete(&leases[i]).await {
                Err(e) if !matches!(e, Error::Conflict { .. } | Error::NotFound { .. }) => {
                    return Err(e);
                }
                r => r,
            });
        }
        Ok(outcomes.into_iter().flatten().collect())
    }

    async fn fail(&self, lease: &Lease, failure: &JobFailure) -> Result<Job> {
        let error = failure.error.replace('\0', "\u{FFFD}");
        let error = self
            .inner
            .crypto
            .seal(&format!("jobs.last_error:{}", lease.job_id), &error)?;
        let now = self.now();
        let (_gate, mut tx) = self.begin_gated().await?;
        let lock = if self.is_pg() { " FOR UPDATE" } else { "" };
        let sql = format!(
            "SELECT attempts, max_attempts FROM jobs \
             WHERE id = $1 AND lease_token = $2 AND state = 'running'{lock}"
        );
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(lease.job_id.to_string())
            .bind(lease.token.to_string())
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?;
        let Some(row) = row else {
            drop(tx);
            return Err(self.lost_lease(lease).await);
        };
        let attempts = u32_of(col(&row, "attempts")?);
        let max_attempts = u32_of(col(&row, "max_attempts")?);
        let retry = failure.retryable && attempts < max_attempts;
        let (state, run_at) = if retry {
            let delay = self
                .inner
                .retry
                .delay(attempts, unit_random(), failure.retry_after);
            ("queued", Some(ts("run_at", after(now, delay)?)?))
        } else {
            ("dead", None)
        };
        let sql = format!(
            "UPDATE jobs SET state = $1, run_at = COALESCE($2, run_at), last_error = $3, \
             lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL, updated_at = $4 \
             WHERE id = $5 RETURNING {JOB_COLS}"
        );
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(state)
            .bind(run_at)
            .bind(error)
            .bind(ts("now", now)?)
            .bind(lease.job_id.to_string())
            .fetch_one(&mut *tx)
            .await
            .map_err(db)?;
        let job = self.job_from(&row)?;
        tx.commit().await.map_err(db)?;
        Ok(job)
    }

    async fn release(&self, lease: &Lease, run_at: DateTime<Utc>) -> Result<Job> {
        let sql = format!(
            "UPDATE jobs SET state = 'queued', run_at = $1, \
             attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END, \
             lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL, updated_at = $2 \
             WHERE id = $3 AND lease_token = $4 AND state = 'running' RETURNING {JOB_COLS}"
        );
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(ts("run_at", run_at)?)
            .bind(ts("now", self.now())?)
            .bind(lease.job_id.to_string())
            .bind(lease.token.to_string())
            .fetch_optional(&mut *self.writer().await?)
            .await
            .map_err(db)?;
        match row {
            Some(r) => self.job_from(&r),
            None => Err(self.lost_lease(lease).await),
        }
    }

    async fn wake(&self, idempotency_key: &str, at: DateTime<Utc>) -> Result<Option<Job>> {
        self.check_text("idempotency_key", idempotency_key)?;
        sqlx::query(
            "UPDATE jobs SET run_at = $1, updated_at = $2 \
             WHERE idempotency_key = $3 AND state = 'queued' AND run_at > $1",
        )
        .bind(ts("at", at)?)
        .bind(ts("now", self.now())?)
        .bind(idempotency_key.to_owned())
        .execute(&mut *self.writer().await?)
        .await
        .map_err(db)?;
        self.job_by_key(idempotency_key).await
    }

    async fn requeue_dead(&self, id: JobId) -> Result<Job> {
        let now = ts("now", self.now())?;
        let sql = format!(
            "UPDATE jobs SET state = 'queued', attempts = 0, run_at = $1, updated_at = $1 \
             WHERE id = $2 AND state = 'dead' RETURNING {JOB_COLS}"
        );
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(now)
            .bind(id.to_string())
            .fetch_optional(&mut *self.writer().await?)
            .await
            .map_err(db)?;
        match row {
            Some(r) => self.job_from(&r),
            None => {
                let job = self.get_job(id).await?;
                Err(Error::conflict(format!(
                    "job {id} is {}, not dead",
                    job.state.as_str()
                )))
            }
        }
    }

    async fn get_job(&self, id: JobId) -> Result<Job> {
        let sql = format!("SELECT {JOB_COLS} FROM jobs WHERE id = $1");
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(id.to_string())
            .fetch_optional(self.pool())
            .await
            .map_err(db)?
            .ok_or_else(|| Error::not_found(format!("job {id}")))?;
        self.job_from(&row)
    }

    async fn list_jobs(&self, filter: &JobFilter) -> Result<Vec<Job>> {
        let mut sql = format!("SELECT {JOB_COLS} FROM jobs WHERE 1 = 1");
        let mut args = Vec::new();
        if let Some(s) = filter.state {
            args.push(s.as_str().to_owned());
            sql.push_str(&format!(" AND state = ${}", args.len()));
        }
        if let Some(k) = &filter.kind {
            self.check_text("kind", k)?;
            args.push(k.clone());
            sql.push_str(&format!(" AND kind = ${}", args.len()));
        }
        let limit = if filter.limit == 0 {
            DEFAULT_LIST_LIMIT
        } else {
            filter.limit
        };
        sql.push_str(&format!(" ORDER BY created_at, id LIMIT {limit}"));
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for a in args {
            q = q.bind(a);
        }
        let rows = q.fetch_all(self.pool()).await.map_err(db)?;
        rows.iter().map(|r| self.job_from(r)).collect()
    }

    async fn job_counts(&self) -> Result<BTreeMap<JobState, u64>> {
        let rows = sqlx::query("SELECT state, COUNT(*) AS n FROM jobs GROUP BY state")
            .fetch_all(self.pool())
            .await
            .map_err(db)?;
        let mut out = BTreeMap::new();
        for r in &rows {
            let state: JobState = col::<String>(r, "state")?.parse()?;
            out.insert(state, u64::try_from(col::<i64>(r, "n")?).unwrap_or(0));
        }
        Ok(out)
    }
}
