//! Intake's write: the acknowledged submission and its job, before the workers' writes.
//!
//! A webhook is acknowledged (`202`) once [`SqlStore::intake_write`] returns. That write:
//!
//! - on a SQLite file, goes on intake's own small pool
//!   ([`INTAKE_CONNECTIONS`](crate::INTAKE_CONNECTIONS)), so it never queues behind the workers'
//!   acquires of the main pool, enters the write gate with priority (it waits for the one write in progress,
//!   not for the workers queued behind it) and stores both rows in one `BEGIN IMMEDIATE`
//!   transaction: one commit. The commit has the connection's `synchronous = NORMAL` (see
//!   [`SQLITE_PRAGMAS`](crate::SQLITE_PRAGMAS)): an acknowledged submission is in the WAL file
//!   and survives the process being killed; it is synced to disk at the next WAL sync
//!   (checkpoint, or the next `synchronous = FULL` commit), so a power failure just after the
//!   acknowledgement can lose it, exactly as it could before this write was made one
//!   transaction;
//! - on PostgreSQL, runs on the main pool the two autocommit statements (two round trips; a transaction would
//!   add `BEGIN` and `COMMIT`), each as durable as the server's `synchronous_commit` makes a
//!   commit.
//!
//! Either way both rows are deduplicated by idempotency key, and a redelivery finds (or, if an
//! earlier attempt stored only the submission, creates) the job.

use crate::batch::Stmt;
use crate::error::db;
use crate::jobs::JOB_COLS;
use crate::{SqlStore, col, ts};
use salesagent_core::model::{FormSubmission, Job, NewJob};
use salesagent_core::ports::AcceptedSubmission;
use salesagent_core::{Error, Result};
use sqlx::{AnyConnection, AssertSqlSafe};

impl SqlStore {
    /// The insert of a submission, doing nothing when its idempotency key is taken.
    pub(crate) fn submission_insert(&self, s: &FormSubmission) -> Result<Stmt> {
        self.check_text("idempotency_key", &s.idempotency_key)?;
        let id = s.id.to_string();
        let doc = self.seal(&format!("submissions:{id}"), s)?;
        Ok(Stmt::new(
            "INSERT INTO submissions (id, idempotency_key, contact_bidx, received_at, doc) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (idempotency_key) DO NOTHING",
        )
        .bind(id)
        .bind(s.idempotency_key.clone())
        .bind(self.email_bidx(&s.lead.email))
        .bind(ts("received_at", s.received_at)?)
        .bind(doc))
    }

    /// Stores `s` and enqueues `job(&stored)` (see the module documentation).
    pub(crate) async fn intake_write(
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

    #[tokio::test]
    async fn intake_stores_once_and_a_redelivery_finds_both_rows() {
        let dir = std::env::temp_dir().join(format!("sa-intake-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = format!("sqlite://{}?mode=rwc", dir.join("t.db").display());
        for url in ["sqlite::memory:", file.as_str()] {
            let store = SqlStore::builder(url)
                .without_encryption()
                .connect()
                .await
                .unwrap();
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
