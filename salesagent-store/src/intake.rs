//! Intake's write: the acknowledged submission and its job, before the workers' writes.
//!
//! A webhook is acknowledged (`202`) once [`SqlStore::intake_write`] returns, and it returns
//! only after the transaction holding the submission and its job has committed.
//!
//! **Group commit.** Intake writes go through group writers (tasks started when a write
//! arrives, gone when the queue is empty; see the `coalesce` module): one per store on SQLite,
//! up to [`PG_WRITERS`] side by side on PostgreSQL. Every write that arrives while the writers
//! are busy is written in a next transaction, up to [`MAX_GROUP`] per transaction, and each
//! caller is answered after that commit. There is no
//! timer: a lone write goes at once. At 1,000 requests a second a transaction holds the
//! SQLite write gate for a fraction of a millisecond per *group* instead of per request, and
//! PostgreSQL runs one statement (one commit) per group. A group is one command:
//!
//! - on a SQLite file it goes on intake's own small pool
//!   ([`INTAKE_CONNECTIONS`](crate::INTAKE_CONNECTIONS)), so it never queues behind the
//!   workers' acquires of the main pool, enters the write gate with priority (it waits for the
//!   one write in progress, not for the workers queued behind it) and sends one multi-statement
//!   command: `BEGIN IMMEDIATE`; per submission its insert, its job's insert (only if the
//!   submission row is the one just inserted) and the stored submission and job for a
//!   redelivery (also of a submission earlier in the same group); `COMMIT` ([`sqlite_group`]).
//!   One commit, with the connection's `synchronous = NORMAL` (see
//!   [`SQLITE_PRAGMAS`](crate::SQLITE_PRAGMAS)): an acknowledged submission is in the WAL file
//!   and survives the process being killed; it is synced to disk at the next WAL sync (the
//!   store's checkpoint, at most every 500 ms, or the next `synchronous = FULL` commit), so a
//!   power failure just after the acknowledgement can lose it, as before;
//! - on PostgreSQL it is one autocommit statement on the main pool ([`pg_group`]: a `WITH`
//!   over a `VALUES` list that inserts the submissions and the jobs of those inserted, and
//!   returns the stored submission and job of each redelivery it can see), as durable as the
//!   server's `synchronous_commit` makes a commit; a redelivery of a submission of the same
//!   group (or one committed while the statement ran) takes one more statement, by its caller,
//!   that reads the stored submission and its job together.
//!
//! Both rows are deduplicated by idempotency key (unique indexes), so a job is enqueued once
//! per submission however many deliveries race, in one group or in several. One bad write
//! (say, a unique violation no `ON CONFLICT` covers) fails its group's transaction: the writer
//! then writes each of the group again on its own, so only the bad one fails. A transaction
//! the database refused as a whole (unavailable, timed out) fails every write of the group with
//! that error, to be retried by the senders. Anything unusual (a submission stored by an
//! earlier attempt without its job, a job key already taken, a job without a key) goes the
//! long way: the submission, then the job, as separate statements in one transaction
//! ([`SqlStore::intake_write_slow`]).
//!
//! **Cancellation.** The writer runs in a task of its own, so a request dropped while its
//! write is queued or in flight cannot leave a transaction half done on a pooled connection;
//! its write still commits (the sender saw no `202`, and its redelivery finds the submission
//! and its job, one job as always). Only when the writer task itself ends early (the runtime
//! shutting down) are the writes still queued answered with an `unavailable` error.

use crate::batch::Stmt;
use crate::error::db;
use crate::jobs::JOB_COLS;
use crate::{SqlStore, col, ts};
use salesagent_core::model::{FormSubmission, Job, JobId, NewJob};
use salesagent_core::ports::AcceptedSubmission;
use salesagent_core::{Error, Result};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AssertSqlSafe};
use std::sync::OnceLock;
use tokio::sync::oneshot;

/// A job insert from [`JobValues`] (`$6` id, `$7` kind, `$8` payload, `$9` key, `$10` max
/// attempts, `$11` run at, `$12` now), after the submission's five values.
const JOB_INSERT: &str = "INSERT INTO jobs (id, kind, payload, idempotency_key, state, attempts, \
     max_attempts, run_at, created_at, updated_at) SELECT $6, $7, $8, $9, 'queued', 0, $10, $11, \
     $12, $12";

/// The submission's insert (`$1` id, `$2` key, `$3` contact index, `$4` received at, `$5`
/// sealed document).
const SUBMISSION_INSERT: &str = "INSERT INTO submissions (id, idempotency_key, contact_bidx, \
     received_at, doc) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (idempotency_key) DO NOTHING";

/// Intake writes per transaction at most: twelve bound values each, far below SQLite's and
/// PostgreSQL's limits on bound values in one command.
const MAX_GROUP: usize = 64;

/// SQLite, item `i` of a group (its values from `$(12i+1)`): the submission's insert; its job's
/// insert, only when the submission row under the key is the one just inserted (its id is
/// `$1`), returning one `new` row; for a redelivery (also of an earlier item of the same group)
/// the stored submission and the job under the new job's key (`$9`) as one `dup` row.
fn sqlite_item(i: usize) -> String {
    renumber(
        &format!(
            "{SUBMISSION_INSERT};\n{JOB_INSERT} WHERE EXISTS (SELECT 1 FROM submissions WHERE \
             idempotency_key = $2 AND id = $1) ON CONFLICT (idempotency_key) DO NOTHING \
             RETURNING 'new' AS src, {i} AS idx, {JOB_COLS};\nSELECT 'dup' AS src, {i} AS idx, \
             s.id AS sub_id, s.doc AS sub_doc, j.* FROM submissions s LEFT JOIN jobs j ON \
             j.idempotency_key = $9 WHERE s.idempotency_key = $2 AND s.id <> $1;\n"
        ),
        VALUES_PER_ITEM * i,
    )
}

/// PostgreSQL: group writers at once. Its transactions do not exclude each other, so up to
/// this many run side by side (one connection each); writes are grouped when all are busy.
/// One writer at a time there made the acknowledgement tail longer (p99 9.5 vs 5.7 ms, see
/// BENCHMARKS.md, 2026-12-02 afternoon). SQLite has one writer at a time anyway.
const PG_WRITERS: usize = 4;

/// Bound values per intake write.
const VALUES_PER_ITEM: usize = 12;

/// SQLite: a group of `n` intake writes as one command, `BEGIN IMMEDIATE` to `COMMIT`.
fn sqlite_group(n: usize) -> String {
    static CACHE: [OnceLock<String>; MAX_GROUP] = [const { OnceLock::new() }; MAX_GROUP];
    let build = || {
        let mut sql = String::from("BEGIN IMMEDIATE;\n");
        for i in 0..n {
            sql.push_str(&sqlite_item(i));
        }
        sql.push_str("COMMIT;");
        sql
    };
    CACHE
        .get(n.wrapping_sub(1))
        .map_or_else(build, |cell| cell.get_or_init(build).clone())
}

/// PostgreSQL: a group of `n` intake writes as one statement. The inputs are a `VALUES` list
/// (`idx` is the item's place in the group); the submissions are inserted in that order (a
/// second delivery of one key in the group is the one not inserted), the jobs of the inserted
/// ones after them. One row per inserted submission (`new`, the job's columns NULL when its
/// job key was taken) and one per redelivery of a submission stored before the statement
/// (`dup`, the stored submission and the job under the new job's key); nothing for a
/// redelivery of a submission of the same group or of one committed while the statement ran
/// (the statement's snapshot does not show it: the caller reads it afterwards).
fn pg_group(n: usize) -> String {
    static CACHE: [OnceLock<String>; MAX_GROUP] = [const { OnceLock::new() }; MAX_GROUP];
    let build = || {
        let rows: Vec<String> = (0..n)
            .map(|i| {
                renumber(
                    &format!(
                        "({i}::int8, $1::text, $2::text, $3::text, $4::int8, $5::text, \
                         $6::text, $7::text, $8::text, $9::text, $10::int8, $11::int8, \
                         $12::int8)"
                    ),
                    VALUES_PER_ITEM * i,
                )
            })
            .collect();
        let cols = |t: &str| {
            JOB_COLS
                .split(',')
                .map(|c| format!("{t}.{}", c.trim()))
                .collect::<Vec<_>>()
                .join(", ")
        };
        format!(
            "WITH input (idx, sub_id, sub_key, bidx, received_at, doc, job_id, kind, payload, \
             job_key, max_attempts, run_at, at) AS (VALUES {}), \
             s AS (INSERT INTO submissions (id, idempotency_key, contact_bidx, received_at, doc) \
             SELECT sub_id, sub_key, bidx, received_at, doc FROM input ORDER BY idx \
             ON CONFLICT (idempotency_key) DO NOTHING RETURNING id), \
             j AS (INSERT INTO jobs (id, kind, payload, idempotency_key, state, attempts, \
             max_attempts, run_at, created_at, updated_at) SELECT i.job_id, i.kind, i.payload, \
             i.job_key, 'queued', 0, i.max_attempts, i.run_at, i.at, i.at FROM input i JOIN s \
             ON s.id = i.sub_id ORDER BY i.idx ON CONFLICT (idempotency_key) DO NOTHING \
             RETURNING {JOB_COLS}) \
             SELECT 'new' AS src, i.idx, NULL::text AS sub_id, NULL::text AS sub_doc, {} \
             FROM input i JOIN s ON s.id = i.sub_id LEFT JOIN j ON j.id = i.job_id \
             UNION ALL SELECT 'dup', i.idx, o.id, o.doc, {} FROM input i JOIN submissions o \
             ON o.idempotency_key = i.sub_key LEFT JOIN jobs oj ON oj.idempotency_key = \
             i.job_key WHERE NOT EXISTS (SELECT 1 FROM s WHERE s.id = i.sub_id)",
            rows.join(", "),
            cols("j"),
            cols("oj"),
        )
    };
    CACHE
        .get(n.wrapping_sub(1))
        .map_or_else(build, |cell| cell.get_or_init(build).clone())
}

/// `sql` with every placeholder `$n` made `$(n + offset)`.
fn renumber(sql: &str, offset: usize) -> String {
    let mut out = String::with_capacity(sql.len() + 16);
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        out.push(c);
        if c != '$' {
            continue;
        }
        let mut n = String::new();
        while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
            n.push(*d);
            chars.next();
        }
        match n.parse::<usize>() {
            Ok(n) => out.push_str(&(n + offset).to_string()),
            Err(_) => out.push_str(&n),
        }
    }
    out
}

/// PostgreSQL, for a redelivery: the stored submission and the job under a key, in one row.
const PG_STORED: &str = "SELECT s.id AS sub_id, s.doc AS sub_doc, j.* FROM submissions s \
     LEFT JOIN jobs j ON j.idempotency_key = $2 WHERE s.idempotency_key = $1";

/// One intake write: the submission's values and its job's.
type Item = (IntakeValues, JobValues);

/// An intake write waiting for the group writer, and where its outcome goes.
pub(crate) struct Pending {
    item: Item,
    reply: oneshot::Sender<Result<Reply>>,
}

/// The group writer's task while it runs: ending early (cancelled with the runtime, or a
/// panic) it marks the writer stopped and drops what is queued, so those callers get an error
/// instead of waiting, and the next write starts a new writer.
struct Drainer<'s> {
    store: &'s SqlStore,
    finished: bool,
}

impl Drop for Drainer<'_> {
    fn drop(&mut self) {
        if !self.finished {
            drop(self.store.inner.intake_queue.abandon());
        }
    }
}

/// What intake's round trip found.
enum Reply {
    /// The submission and its job were both inserted: the job's row.
    New(AnyRow),
    /// The key was taken: the stored submission's row, with the job under the new job's key
    /// (its columns NULL when there is none).
    Duplicate(AnyRow),
    /// Neither; `inserted` tells whether the submission row is this delivery's.
    Other { inserted: bool },
}

/// Intake's values: the submission's, then (for the one round trip) its job's.
struct IntakeValues {
    sub_id: String,
    key: String,
    bidx: String,
    received_at: i64,
    doc: String,
    job: Option<JobValues>,
}

impl IntakeValues {
    /// The submission's values and its job's, when there are both.
    fn with_job(mut self) -> Option<(Self, JobValues)> {
        let job = self.job.take()?;
        Some((self, job))
    }
}

/// A job's values, in the order of [`JOB_INSERT`]'s placeholders.
struct JobValues {
    id: String,
    kind: String,
    payload: String,
    key: Option<String>,
    max_attempts: i64,
    run_at: i64,
    now: i64,
}

impl SqlStore {
    /// The insert of a submission, doing nothing when its idempotency key is taken.
    pub(crate) fn submission_insert(&self, s: &FormSubmission) -> Result<Stmt> {
        let v = self.intake_values(s, None)?;
        Ok(Stmt::new(SUBMISSION_INSERT)
            .bind(v.sub_id)
            .bind(v.key)
            .bind(v.bidx)
            .bind(v.received_at)
            .bind(v.doc))
    }

    /// The values of intake's statements for `s` and (when given) its job, the job checked
    /// and sealed as [`SqlStore::enqueue_insert`] does it.
    fn intake_values(&self, s: &FormSubmission, job: Option<&NewJob>) -> Result<IntakeValues> {
        self.check_text("idempotency_key", &s.idempotency_key)?;
        let sub_id = s.id.to_string();
        let doc = self.seal(&format!("submissions:{sub_id}"), s)?;
        let job = match job {
            None => None,
            Some(job) => {
                if job.kind.trim().is_empty() {
                    return Err(Error::invalid("kind", "is empty"));
                }
                self.check_text("kind", &job.kind)?;
                if let Some(k) = &job.idempotency_key {
                    self.check_text("idempotency_key", k)?;
                }
                let now = ts("now", self.now())?;
                let run_at = job.run_at.map(|t| ts("run_at", t)).transpose()?;
                let id = JobId::new().to_string();
                let payload = self
                    .inner
                    .crypto
                    .seal(&format!("jobs:{id}"), &job.payload.to_string())?;
                Some(JobValues {
                    id,
                    kind: job.kind.clone(),
                    payload,
                    key: job.idempotency_key.clone(),
                    max_attempts: i64::from(job.max_attempts.max(1)),
                    run_at: run_at.unwrap_or(now),
                    now,
                })
            }
        };
        Ok(IntakeValues {
            sub_id,
            key: s.idempotency_key.clone(),
            bidx: self.email_bidx(&s.lead.email),
            received_at: ts("received_at", s.received_at)?,
            doc,
            job,
        })
    }

    /// Stores `s` and enqueues `job(&stored)` (see the module documentation).
    pub(crate) async fn intake_write(
        &self,
        s: &FormSubmission,
        job: &(dyn for<'s> Fn(&'s FormSubmission) -> NewJob + Send + Sync),
    ) -> Result<AcceptedSubmission> {
        let first = job(s);
        let Some(values) = self.intake_values(s, Some(&first))?.with_job() else {
            return Err(Error::backend("intake: no job values"));
        };
        let reply = self.intake_round_trip(values).await?;
        let inserted = match reply {
            Reply::New(row) => {
                return Ok(AcceptedSubmission {
                    submission: s.clone(),
                    new_submission: true,
                    job: self.job_from(&row)?,
                    new_job: true,
                });
            }
            Reply::Duplicate(row) => {
                let id: String = col(&row, "sub_id")?;
                let stored: FormSubmission = self.open(
                    &format!("submissions:{id}"),
                    &col::<String>(&row, "sub_doc")?,
                )?;
                // The job found is this submission's if the job made from the stored
                // submission has the key it was found under.
                let found = col::<Option<String>>(&row, "id")?.is_some();
                if found && job(&stored).idempotency_key == first.idempotency_key {
                    return Ok(AcceptedSubmission {
                        submission: stored,
                        new_submission: false,
                        job: self.job_from(&row)?,
                        new_job: false,
                    });
                }
                false
            }
            Reply::Other { inserted } => inserted,
        };
        let mut accepted = self.intake_write_slow(s, job).await?;
        // The long way finds this delivery's submission already stored: it was new all the same.
        accepted.new_submission |= inserted;
        Ok(accepted)
    }

    /// Intake's one round trip (see the module documentation): queued for the group writer,
    /// answered once the group's transaction has committed (or failed).
    async fn intake_round_trip(&self, item: Item) -> Result<Reply> {
        let (key, job_key) = (item.0.key.clone(), item.1.key.clone());
        let (tx, rx) = oneshot::channel();
        let limit = if self.is_pg() { PG_WRITERS } else { 1 };
        if self
            .inner
            .intake_queue
            .push(Pending { item, reply: tx }, limit)
        {
            tokio::spawn(self.clone().drain_intake());
        }
        let reply = rx
            .await
            .map_err(|_| Error::unavailable("intake writer stopped; retry"))??;
        // PostgreSQL: a redelivery the statement could not see (its submission is in the same
        // group, or was committed while the statement ran) is read now, after the commit.
        let (true, Reply::Other { inserted: false }, Some(job_key)) =
            (self.is_pg(), &reply, job_key)
        else {
            return Ok(reply);
        };
        let stored = sqlx::query(PG_STORED)
            .bind(key)
            .bind(job_key)
            .fetch_optional(self.pool())
            .await
            .map_err(db)?;
        Ok(stored.map_or(Reply::Other { inserted: false }, Reply::Duplicate))
    }

    /// The group writer: writes what is queued, group by group, until the queue is empty.
    async fn drain_intake(self) {
        let mut guard = Drainer {
            store: &self,
            finished: false,
        };
        loop {
            let group = self.inner.intake_queue.take(MAX_GROUP);
            if group.is_empty() {
                guard.finished = true;
                return;
            }
            self.write_group(group).await;
        }
    }

    /// Writes a group in one transaction and answers each caller. When the transaction fails
    /// for a reason other than the database being unavailable, one bad write must not fail
    /// the others: each is written again on its own and gets its own outcome.
    async fn write_group(&self, group: Vec<Pending>) {
        let (items, replies): (Vec<Item>, Vec<_>) =
            group.into_iter().map(|p| (p.item, p.reply)).unzip();
        match self.intake_command(&items).await {
            Ok(out) => {
                for (reply, r) in replies.into_iter().zip(out) {
                    // A caller gone (its request dropped) finds its write committed when the
                    // sender redelivers: the redelivery dedupes.
                    let _ = reply.send(Ok(r));
                }
            }
            Err(e) if items.len() == 1 || e.is_retryable() => {
                for reply in replies {
                    let _ = reply.send(Err(e.clone()));
                }
            }
            Err(_) => {
                for (item, reply) in items.iter().zip(replies) {
                    let one = self
                        .intake_command(std::slice::from_ref(item))
                        .await
                        .and_then(|mut out| {
                            out.pop()
                                .ok_or_else(|| Error::backend("intake: no outcome for the write"))
                        });
                    let _ = reply.send(one);
                }
            }
        }
    }

    /// One transaction for `items` (see [`sqlite_group`] and [`pg_group`]): what each found,
    /// in order.
    async fn intake_command(&self, items: &[Item]) -> Result<Vec<Reply>> {
        let pg = self.is_pg();
        let sql = if pg {
            pg_group(items.len())
        } else {
            sqlite_group(items.len())
        };
        let mut command = sqlx::query(AssertSqlSafe(sql));
        for (v, j) in items {
            command = command
                .bind(v.sub_id.clone())
                .bind(v.key.clone())
                .bind(v.bidx.clone())
                .bind(v.received_at)
                .bind(v.doc.clone())
                .bind(j.id.clone())
                .bind(j.kind.clone())
                .bind(j.payload.clone())
                .bind(j.key.clone())
                .bind(j.max_attempts)
                .bind(j.run_at)
                .bind(j.now);
        }
        let mut writer = self.intake_writer().await?;
        let rows = command.fetch_all(&mut *writer).await;
        if rows.is_err() && !pg {
            // The command stops at the failing statement: end its transaction here, or close
            // the connection rather than give it back with the transaction open.
            let rolled_back = sqlx::raw_sql("ROLLBACK").execute(&mut *writer).await;
            if rolled_back.is_err() {
                writer.conn.close_on_drop();
            }
        }
        drop(writer);
        let mut found: Vec<Option<AnyRow>> = items.iter().map(|_| None).collect();
        for row in rows.map_err(db)? {
            let idx = usize::try_from(col::<i64>(&row, "idx")?)
                .map_err(|_| Error::backend("intake: negative item index"))?;
            let slot = found
                .get_mut(idx)
                .ok_or_else(|| Error::backend("intake: item index out of range"))?;
            *slot = Some(row);
        }
        found
            .into_iter()
            .map(|row| {
                Ok(match row {
                    Some(row) if col::<String>(&row, "src")? == "dup" => Reply::Duplicate(row),
                    Some(row) if col::<Option<String>>(&row, "id")?.is_some() => Reply::New(row),
                    // The submission is this delivery's, its job's key was taken.
                    Some(_) => Reply::Other { inserted: true },
                    // SQLite: no other submission holds the key, so the stored one is this
                    // delivery's. PostgreSQL: the submission was not inserted and the
                    // statement saw no stored one (the caller reads it after the commit).
                    None => Reply::Other { inserted: !pg },
                })
            })
            .collect()
    }

    /// The long way: the submission, then its job, as separate statements (one transaction
    /// on SQLite, autocommit on PostgreSQL).
    async fn intake_write_slow(
        &self,
        s: &FormSubmission,
        job: &(dyn for<'s> Fn(&'s FormSubmission) -> NewJob + Send + Sync),
    ) -> Result<AcceptedSubmission> {
        let insert = self.submission_insert(s)?;
        let mut writer = self.intake_writer().await?;
        if self.is_pg() {
            return self.intake_on(&mut writer, s, insert, job).await;
        }
        let mut tx = sqlx::Connection::begin_with(&mut *writer, "BEGIN IMMEDIATE")
            .await
            .map_err(db)?;
        let accepted = self.intake_on(&mut tx, s, insert, job).await?;
        tx.commit().await.map_err(db)?;
        Ok(accepted)
    }

    async fn intake_on(
        &self,
        conn: &mut AnyConnection,
        s: &FormSubmission,
        insert: Stmt,
        job: &(dyn for<'s> Fn(&'s FormSubmission) -> NewJob + Send + Sync),
    ) -> Result<AcceptedSubmission> {
        let new_submission = insert.execute(&mut *conn).await?.rows_affected() == 1;
        let submission = if new_submission {
            s.clone()
        } else {
            self.submission_on(conn, &s.idempotency_key)
                .await?
                .ok_or_else(|| Error::conflict("submission changed concurrently; retry"))?
        };
        let new = job(&submission);
        // Three tries, as `enqueue`: on PostgreSQL a conflicting insert can be rolled back
        // between the insert and the lookup (on SQLite the transaction holds the write lock).
        for _ in 0..3 {
            if let Some(row) = self
                .enqueue_insert(&new, true)?
                .fetch_optional(&mut *conn)
                .await?
            {
                return Ok(AcceptedSubmission {
                    submission,
                    new_submission,
                    job: self.job_from(&row)?,
                    new_job: true,
                });
            }
            let key = new.idempotency_key.as_deref().unwrap_or_default();
            if let Some(existing) = self.job_by_key_on(conn, key).await? {
                return Ok(AcceptedSubmission {
                    submission,
                    new_submission,
                    job: existing,
                    new_job: false,
                });
            }
        }
        Err(Error::unavailable("job enqueue raced repeatedly; retry"))
    }

    async fn submission_on(
        &self,
        conn: &mut AnyConnection,
        key: &str,
    ) -> Result<Option<FormSubmission>> {
        let row = sqlx::query("SELECT id, doc FROM submissions WHERE idempotency_key = $1")
            .bind(key.to_owned())
            .fetch_optional(&mut *conn)
            .await
            .map_err(db)?;
        row.map(|r| {
            let id: String = col(&r, "id")?;
            self.open(&format!("submissions:{id}"), &col::<String>(&r, "doc")?)
        })
        .transpose()
    }

    async fn job_by_key_on(&self, conn: &mut AnyConnection, key: &str) -> Result<Option<Job>> {
        let sql = format!("SELECT {JOB_COLS} FROM jobs WHERE idempotency_key = $1");
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(key.to_owned())
            .fetch_optional(&mut *conn)
            .await
            .map_err(db)?;
        row.map(|r| self.job_from(&r)).transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::PG_WRITERS;
    use crate::SqlStore;
    use chrono::{DateTime, Utc};
    use salesagent_core::model::{FormSubmission, NewJob};
    use salesagent_core::ports::{JobStore as _, SubmissionStore as _};

    fn submission(key: &str) -> FormSubmission {
        let raw = serde_json::json!({
            "submission_id": key,
            "submitted_at": "2026-11-25T09:00:00Z",
            "fields": {"email": "ann@acme.example", "message": "Hi"}
        })
        .to_string();
        let at: DateTime<Utc> = "2026-11-25T09:00:01Z".parse().unwrap();
        FormSubmission::from_canonical_json(&raw, at).unwrap()
    }

    fn job(s: &FormSubmission) -> NewJob {
        NewJob::new(
            "pipeline",
            serde_json::json!({"submission_id": s.id.to_string()}),
        )
        .with_key(format!("pipeline:{}", s.idempotency_key))
    }

    /// Encrypted stores on in-memory SQLite, a SQLite file and (with the `testing` feature and
    /// a server) PostgreSQL; the file's directory is removed by the caller.
    async fn stores(dir: &std::path::Path) -> Vec<SqlStore> {
        let file = format!("sqlite://{}?mode=rwc", dir.join("t.db").display());
        let mut urls = vec!["sqlite::memory:".to_owned(), file];
        #[cfg(feature = "testing")]
        if let Some(pg) = crate::testing::TempPostgres::fresh_database_or_skip().await {
            urls.push(pg);
        }
        let mut out = Vec::new();
        for url in urls {
            out.push(
                SqlStore::builder(&url)
                    .encryption_key(crate::EncryptionKey::from_bytes([7; 32]))
                    .connect()
                    .await
                    .unwrap(),
            );
        }
        out
    }

    fn temp_dir() -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("sa-intake-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[tokio::test]
    async fn a_taken_job_key_and_a_keyless_job_go_the_long_way() {
        let dir = temp_dir();
        for store in stores(&dir).await {
            // The job's key is taken before its submission arrives: the submission is new,
            // the job is the existing one.
            let (existing, _) = store.enqueue(&job(&submission("k3"))).await.unwrap();
            let a = store
                .save_submission_and_enqueue(&submission("k3"), &job)
                .await
                .unwrap()
                .unwrap();
            assert!(a.new_submission && !a.new_job);
            assert_eq!(a.job.id, existing.id);
            // A job without a key: one per delivery, as `enqueue` makes them.
            let keyless = |s: &FormSubmission| {
                NewJob::new(
                    "audit",
                    serde_json::json!({"submission_id": s.id.to_string()}),
                )
            };
            let first = store
                .save_submission_and_enqueue(&submission("k4"), &keyless)
                .await
                .unwrap()
                .unwrap();
            assert!(first.new_submission && first.new_job);
            let again = store
                .save_submission_and_enqueue(&submission("k4"), &keyless)
                .await
                .unwrap()
                .unwrap();
            assert!(!again.new_submission && again.new_job);
            assert_eq!(again.submission.id, first.submission.id);
            assert_eq!(again.job.payload, keyless(&first.submission).payload);
            store.close().await;
        }
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn racing_and_dropped_deliveries_leave_one_job_per_submission() {
        let dir = temp_dir();
        for store in stores(&dir).await {
            // Eight deliveries of each of five submissions at once: one submission, one job.
            let mut tasks = Vec::new();
            for i in 0..40 {
                let store = store.clone();
                tasks.push(tokio::spawn(async move {
                    let key = format!("race-{}", i % 5);
                    let a = store
                        .save_submission_and_enqueue(&submission(&key), &job)
                        .await
                        .unwrap()
                        .unwrap();
                    (key, a)
                }));
            }
            let mut first = std::collections::HashMap::new();
            let mut new = 0;
            for t in tasks {
                let (key, a) = t.await.unwrap();
                new += usize::from(a.new_submission);
                assert_eq!(a.job.payload, job(&a.submission).payload);
                let (sub, job_id) = *first.entry(key).or_insert((a.submission.id, a.job.id));
                assert_eq!((a.submission.id, a.job.id), (sub, job_id));
            }
            assert_eq!(new, 5);
            // Deliveries dropped at every point of their write: whatever they stored, a
            // redelivery completes it, and no submission gets two jobs.
            for i in 0..20 {
                let delivery = submission(&format!("drop-{i}"));
                let write = store.save_submission_and_enqueue(&delivery, &job);
                tokio::pin!(write);
                for _ in 0..i {
                    if futures_poll_once(write.as_mut()).await {
                        break;
                    }
                }
            }
            for i in 0..20 {
                let a = store
                    .save_submission_and_enqueue(&submission(&format!("drop-{i}")), &job)
                    .await
                    .unwrap()
                    .unwrap();
                assert_eq!(a.job.payload, job(&a.submission).payload);
            }
            assert_eq!(store.job_counts().await.unwrap().values().sum::<u64>(), 25);
            store.close().await;
        }
        let _ = std::fs::remove_dir_all(dir);
    }

    /// Polls `f` once (yielding to the runtime first); true when it finished.
    async fn futures_poll_once<F: std::future::Future>(f: std::pin::Pin<&mut F>) -> bool {
        tokio::task::yield_now().await;
        let waker = std::task::Waker::noop();
        let mut cx = std::task::Context::from_waker(waker);
        f.poll(&mut cx).is_ready()
    }

    /// What holds intake's writes back while a test queues more: the write gate on SQLite, a
    /// lock on `submissions` that every insert waits for on PostgreSQL.
    enum Hold {
        Gate(Option<crate::gate::GatePermit>),
        Lock(sqlx::Transaction<'static, sqlx::Any>),
    }

    async fn hold(store: &SqlStore) -> Hold {
        if store.is_pg() {
            let mut tx = store.pool().begin().await.unwrap();
            sqlx::query("LOCK TABLE submissions IN SHARE MODE")
                .execute(&mut *tx)
                .await
                .unwrap();
            Hold::Lock(tx)
        } else {
            Hold::Gate(store.enter_gate().await)
        }
    }

    async fn release(hold: Hold) {
        match hold {
            Hold::Gate(permit) => drop(permit),
            Hold::Lock(tx) => tx.commit().await.unwrap(),
        }
    }

    /// Waits until `n` intake writes have been queued since the queue had taken `taken0`.
    async fn queued(store: &SqlStore, taken0: usize, n: usize) {
        let q = &store.inner.intake_queue;
        while q.queued() + q.taken() - taken0 < n {
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_intakes_share_transactions_and_each_gets_its_job() {
        let dir = temp_dir();
        for store in stores(&dir).await {
            // Four submissions stored before: their redeliveries find them.
            let mut first = std::collections::HashMap::new();
            for k in 0..4 {
                let key = format!("burst-{k}");
                let a = store
                    .save_submission_and_enqueue(&submission(&key), &job)
                    .await
                    .unwrap()
                    .unwrap();
                first.insert(key, (a.submission.id, a.job.id));
            }
            let q = &store.inner.intake_queue;
            let (groups0, taken0) = (q.groups(), q.taken());
            // 64 deliveries of 48 submissions at once: 0..4 stored already, 16 of them
            // delivered twice within the burst, so also twice in one group.
            let held = hold(&store).await;
            let mut tasks = Vec::new();
            for i in 0..64 {
                let store = store.clone();
                tasks.push(tokio::spawn(async move {
                    let key = format!("burst-{}", i % 48);
                    let a = store
                        .save_submission_and_enqueue(&submission(&key), &job)
                        .await
                        .unwrap()
                        .unwrap();
                    (key, a)
                }));
            }
            queued(&store, taken0, 64).await;
            release(held).await;
            let mut new = std::collections::HashMap::<String, usize>::new();
            for t in tasks {
                let (key, a) = t.await.unwrap();
                assert_eq!(a.job.payload, job(&a.submission).payload);
                assert_eq!(a.submission.idempotency_key, format!("form:{key}"));
                *new.entry(key.clone()).or_default() += usize::from(a.new_submission);
                assert_eq!(a.new_job, a.new_submission, "{key}");
                let (sub, job_id) = *first.entry(key).or_insert((a.submission.id, a.job.id));
                assert_eq!((a.submission.id, a.job.id), (sub, job_id));
            }
            // Each submission new exactly once (the four stored before: never in the burst).
            for k in 0..48 {
                assert_eq!(new[&format!("burst-{k}")], usize::from(k >= 4), "burst-{k}");
            }
            assert_eq!(store.job_counts().await.unwrap().values().sum::<u64>(), 48);
            // The writers took what was queued while the first writes waited: on SQLite at
            // most the first write alone, then the other 63 in one transaction; on PostgreSQL
            // one more per further writer.
            let bound = if store.is_pg() { PG_WRITERS + 1 } else { 2 };
            assert!(
                q.groups() - groups0 <= bound,
                "{} groups",
                q.groups() - groups0
            );
            store.close().await;
        }
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failing_write_in_a_group_fails_alone() {
        let dir = temp_dir();
        for store in stores(&dir).await {
            let stored = store
                .save_submission_and_enqueue(&submission("pf-stored"), &job)
                .await
                .unwrap()
                .unwrap();
            // A submission reusing a stored submission's id under another key: its insert
            // breaks the primary key, which no ON CONFLICT clause covers.
            let mut bad = submission("pf-bad");
            bad.id = stored.submission.id;
            let q = &store.inner.intake_queue;
            let taken0 = q.taken();
            let held = hold(&store).await;
            // First writes every writer takes and waits with, then a group of four queued
            // behind them: two new, the bad one, a redelivery of the stored one.
            let writers = if store.is_pg() { PG_WRITERS } else { 1 };
            let mut fillers = Vec::new();
            for i in 0..writers {
                let store = store.clone();
                fillers.push(tokio::spawn(async move {
                    store
                        .save_submission_and_enqueue(&submission(&format!("pf-first-{i}")), &job)
                        .await
                }));
            }
            while q.taken() - taken0 < writers {
                tokio::time::sleep(std::time::Duration::from_millis(1)).await;
            }
            let groups0 = q.groups();
            let mut tasks = Vec::new();
            for s in [
                submission("pf-a"),
                bad.clone(),
                submission("pf-b"),
                submission("pf-stored"),
            ] {
                let store = store.clone();
                tasks.push(tokio::spawn(async move {
                    store.save_submission_and_enqueue(&s, &job).await
                }));
            }
            queued(&store, taken0, writers + 4).await;
            release(held).await;
            for filler in fillers {
                assert!(filler.await.unwrap().unwrap().unwrap().new_job);
            }
            let mut out = Vec::new();
            for t in tasks {
                out.push(t.await.unwrap());
            }
            assert_eq!(q.groups() - groups0, 1, "the four went in one group");
            let a = out[0].as_ref().unwrap().as_ref().unwrap();
            assert!(a.new_submission && a.new_job);
            let err = out[1].as_ref().unwrap_err();
            assert_eq!(err.kind(), "conflict", "{err}");
            let b = out[2].as_ref().unwrap().as_ref().unwrap();
            assert!(b.new_submission && b.new_job);
            let again = out[3].as_ref().unwrap().as_ref().unwrap();
            assert!(!again.new_submission && !again.new_job);
            assert_eq!(again.job.id, stored.job.id);
            // No row of the bad write: no submission under its key, no job for it.
            assert!(
                store
                    .find_submission(&bad.idempotency_key)
                    .await
                    .unwrap()
                    .is_none()
            );
            let jobs = store.job_counts().await.unwrap().values().sum::<u64>();
            assert_eq!(jobs, 3 + writers as u64);
            store.close().await;
        }
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test]
    async fn intake_stores_once_and_a_redelivery_finds_both_rows() {
        let dir = temp_dir();
        for store in stores(&dir).await {
            let first = store
                .save_submission_and_enqueue(&submission("k1"), &job)
                .await
                .unwrap()
                .unwrap();
            assert!(first.new_submission && first.new_job);
            // A redelivery parses to a new id: the stored one and its job come back.
            let again = store
                .save_submission_and_enqueue(&submission("k1"), &job)
                .await
                .unwrap()
                .unwrap();
            assert!(!again.new_submission && !again.new_job);
            assert_eq!(again.submission.id, first.submission.id);
            assert_eq!(again.job.id, first.job.id);
            assert_eq!(again.job.payload, job(&first.submission).payload);
            // An earlier attempt that stored only the submission gets its job now.
            let (only, _) = store.save_submission(&submission("k2")).await.unwrap();
            let done = store
                .save_submission_and_enqueue(&submission("k2"), &job)
                .await
                .unwrap()
                .unwrap();
            assert!(!done.new_submission && done.new_job);
            assert_eq!(done.job.payload, job(&only).payload);
            assert_eq!(store.job_counts().await.unwrap().values().sum::<u64>(), 2);
            store.close().await;
        }
        let _ = std::fs::remove_dir_all(dir);
    }
}
