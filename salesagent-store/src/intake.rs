//! Intake's write: the acknowledged submission and its job, before the workers' writes.
//!
//! A webhook is acknowledged (`202`) once [`SqlStore::intake_write`] returns. The write is
//! **one round trip** to the database in the usual cases (a new submission, or a redelivery
//! whose job exists), because every hand-off between the request's task and the database (a
//! SQLite connection's thread, a PostgreSQL backend) costs a wake-up, and on a machine whose
//! cores are busy with the workers each wake-up can wait for a CPU:
//!
//! - on a SQLite file it goes on intake's own small pool
//!   ([`INTAKE_CONNECTIONS`](crate::INTAKE_CONNECTIONS)), so it never queues behind the
//!   workers' acquires of the main pool, enters the write gate with priority (it waits for the
//!   one write in progress, not for the workers queued behind it) and sends one multi-statement
//!   command: `BEGIN IMMEDIATE`, the submission's insert, its job's insert (only if the
//!   submission row is the one just inserted), the stored submission and job for a redelivery,
//!   `COMMIT`. One commit, with the connection's `synchronous = NORMAL` (see
//!   [`SQLITE_PRAGMAS`](crate::SQLITE_PRAGMAS)): an acknowledged submission is in the WAL file
//!   and survives the process being killed; it is synced to disk at the next WAL sync (the
//!   store's checkpoint, at most every 500 ms, or the next `synchronous = FULL` commit), so a
//!   power failure just after the acknowledgement can lose it, as before. The command runs in a
//!   task of its own, so a dropped request cannot leave its transaction half done on a pooled
//!   connection;
//! - on PostgreSQL it is one autocommit statement on the main pool (a `WITH` that inserts the
//!   submission and, only if it was inserted, its job), as durable as the server's
//!   `synchronous_commit` makes a commit; a redelivery takes one more statement that reads the
//!   stored submission and its job together.
//!
//! Both rows are deduplicated by idempotency key (unique indexes), so a job is enqueued once
//! per submission however many deliveries race. Anything unusual (a submission stored by an
//! earlier attempt without its job, a job key already taken, a job without a key) goes the
//! long way: the submission, then the job, as separate statements in one transaction
//! ([`SqlStore::intake_write_slow`]).

use crate::batch::Stmt;
use crate::error::db;
use crate::jobs::JOB_COLS;
use crate::{SqlStore, col, ts};
use salesagent_core::model::{FormSubmission, Job, JobId, NewJob};
use salesagent_core::ports::AcceptedSubmission;
use salesagent_core::{Error, Result};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AssertSqlSafe};
use std::sync::LazyLock;

/// A job insert from [`JobValues`] (`$6` id, `$7` kind, `$8` payload, `$9` key, `$10` max
/// attempts, `$11` run at, `$12` now), after the submission's five values.
const JOB_INSERT: &str = "INSERT INTO jobs (id, kind, payload, idempotency_key, state, attempts, \
     max_attempts, run_at, created_at, updated_at) SELECT $6, $7, $8, $9, 'queued', 0, $10, $11, \
     $12, $12";

/// The submission's insert (`$1` id, `$2` key, `$3` contact index, `$4` received at, `$5`
/// sealed document).
const SUBMISSION_INSERT: &str = "INSERT INTO submissions (id, idempotency_key, contact_bidx, \
     received_at, doc) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (idempotency_key) DO NOTHING";

/// SQLite: the whole intake as one command. The job is inserted only when the submission row
/// under the key is the one just inserted (its id is `$1`); for a redelivery the stored
/// submission and the job under the new job's key (`$9`) come back as one `dup` row.
static SQLITE_INTAKE: LazyLock<String> = LazyLock::new(|| {
    format!(
        "BEGIN IMMEDIATE;\n{SUBMISSION_INSERT};\n{JOB_INSERT} WHERE EXISTS (SELECT 1 FROM \
         submissions WHERE idempotency_key = $2 AND id = $1) ON CONFLICT (idempotency_key) DO \
         NOTHING RETURNING 'new' AS src, {JOB_COLS};\nSELECT 'dup' AS src, s.id AS sub_id, \
         s.doc AS sub_doc, j.* FROM submissions s LEFT JOIN jobs j ON j.idempotency_key = $9 \
         WHERE s.idempotency_key = $2 AND s.id <> $1;\nCOMMIT;"
    )
});

/// PostgreSQL: the whole intake for a new submission as one statement, returning one row:
/// `inserted` (1 when the submission was new) and the new job's columns (NULL when none).
static PG_INTAKE: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH s AS ({SUBMISSION_INSERT} RETURNING id), j AS ({JOB_INSERT} FROM s ON CONFLICT \
         (idempotency_key) DO NOTHING RETURNING {JOB_COLS}) SELECT (SELECT count(*) FROM s) AS \
         inserted, j.* FROM (SELECT 1) AS one LEFT JOIN j ON true"
    )
});

/// PostgreSQL, for a redelivery: the stored submission and the job under a key, in one row.
const PG_STORED: &str = "SELECT s.id AS sub_id, s.doc AS sub_doc, j.* FROM submissions s \
     LEFT JOIN jobs j ON j.idempotency_key = $2 WHERE s.idempotency_key = $1";

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

    /// Intake's one round trip (see the module documentation).
    async fn intake_round_trip(&self, (v, j): (IntakeValues, JobValues)) -> Result<Reply> {
        let pg = self.is_pg();
        let sql = if pg {
            PG_INTAKE.as_str()
        } else {
            SQLITE_INTAKE.as_str()
        };
        let (key, job_key) = (v.key.clone(), j.key.clone());
        let command = sqlx::query(AssertSqlSafe(sql))
            .bind(v.sub_id)
            .bind(v.key)
            .bind(v.bidx)
            .bind(v.received_at)
            .bind(v.doc)
            .bind(j.id)
            .bind(j.kind)
            .bind(j.payload)
            .bind(j.key)
            .bind(j.max_attempts)
            .bind(j.run_at)
            .bind(j.now);
        let mut writer = self.intake_writer().await?;
        // In a task of its own: a request dropped while this runs must not leave the SQLite
        // transaction open on a pooled connection (the whole command runs or rolls back).
        let rows = tokio::spawn(async move {
            let rows = command.fetch_all(&mut *writer).await;
            if rows.is_err() && !pg {
                let rolled_back = sqlx::raw_sql("ROLLBACK").execute(&mut *writer).await;
                if rolled_back.is_err() {
                    writer.conn.close_on_drop();
                }
            }
            rows
        })
        .await
        .map_err(|e| Error::unavailable(format!("intake write task: {e}")))?
        .map_err(db)?;
        if !pg {
            // At most one row: the new job's, or (for a redelivery) the stored submission's.
            return Ok(match rows.into_iter().next() {
                Some(row) if col::<String>(&row, "src")? == "new" => Reply::New(row),
                Some(row) => Reply::Duplicate(row),
                // No other submission holds the key: the stored one is this delivery's.
                None => Reply::Other { inserted: true },
            });
        }
        let row = rows
            .into_iter()
            .next()
            .ok_or_else(|| Error::backend("intake: no row from the intake statement"))?;
        if col::<i64>(&row, "inserted")? > 0 {
            return Ok(if col::<Option<String>>(&row, "id")?.is_some() {
                Reply::New(row)
            } else {
                Reply::Other { inserted: true }
            });
        }
        let Some(job_key) = job_key else {
            return Ok(Reply::Other { inserted: false });
        };
        let stored = sqlx::query(PG_STORED)
            .bind(key)
            .bind(job_key)
            .fetch_optional(self.pool())
            .await
            .map_err(db)?;
        Ok(stored.map_or(Reply::Other { inserted: false }, Reply::Duplicate))
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
