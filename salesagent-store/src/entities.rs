//! Submissions, drafts, runs, messages, outcomes, voice profiles, secrets and settings.

use crate::batch::{Stmt, join};
use crate::error::db;
use crate::{SqlStore, Writer, col, enum_str, from_ts, parse_enum, ts};
use async_trait::async_trait;
use salesagent_core::model::NewJob;
use salesagent_core::model::{
    Draft, DraftEvent, DraftId, DraftStatus, EmailAddress, FormSubmission, MessageId,
    MessageRecord, NewAuditEntry, OAuthToken, Outcome, RunId, StepRecord, SubmissionId,
    VoiceProfile, WorkflowRun,
};
use salesagent_core::ports::AcceptedSubmission;
use salesagent_core::ports::{
    DraftFilter, DraftStore, DraftUpdate, MessageStore, NewDraftRecord, OutcomeFilter,
    OutcomeStore, RunStore, SecretStore, SettingsStore, SubmissionStore, VoiceStore,
};
use salesagent_core::{Error, Result};
use sqlx::AssertSqlSafe;
use std::collections::BTreeMap;

/// The first command of a draft write on SQLite ([`SqlStore::insert_draft_with`]): opens the
/// write transaction and reads, under its lock, the audit log's head (`seq`, `hash`) and the
/// data key of the contact `$1` (`key_id`, `key_doc`); NULLs where there is none. One row.
const SQLITE_BEGIN_AND_HEADS: &str = "BEGIN IMMEDIATE;\n\
     SELECT h.seq AS seq, h.hash AS hash, k.key_id AS key_id, k.doc AS key_doc \
     FROM (SELECT 1 AS one) AS o \
     LEFT JOIN (SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1) AS h ON 1 = 1 \
     LEFT JOIN contact_keys AS k ON k.contact_bidx = $1";

/// A write transaction on SQLite that the store's own statements begin (`BEGIN IMMEDIATE`)
/// and end (`COMMIT`), so both share a command with the statements around them: the
/// connection (and the write gate) it holds is released only once the transaction is over.
/// Dropped before [`SqliteTx::committed`] or [`SqliteTx::rollback`] (the caller's future
/// cancelled), it rolls back on a spawned task first. A connection that cannot be rolled back
/// is closed rather than returned to the pool.
struct SqliteTx(Option<Writer>);

impl SqliteTx {
    fn conn(&mut self) -> Result<&mut sqlx::AnyConnection> {
        self.0
            .as_deref_mut()
            .ok_or_else(|| Error::backend("the write transaction has ended"))
    }

    /// The batch ending in `COMMIT` succeeded: nothing is left to undo.
    fn committed(&mut self) {
        self.0 = None;
    }

    /// Rolls back whatever the transaction did (nothing when it never began or has ended).
    async fn rollback(&mut self) {
        if let Some(writer) = self.0.take() {
            rollback_sqlite(writer).await;
        }
    }
}

impl Drop for SqliteTx {
    fn drop(&mut self) {
        if let Some(mut writer) = self.0.take() {
            match tokio::runtime::Handle::try_current() {
                // Queued behind the command in flight, on the connection nobody else can take.
                Ok(rt) => drop(rt.spawn(rollback_sqlite(writer))),
                Err(_) => writer.conn.close_on_drop(),
            }
        }
    }
}

/// `ROLLBACK` on `writer`; "no transaction is active" (it never began, or failed and SQLite
/// rolled it back) is fine, any other failure closes the connection.
async fn rollback_sqlite(mut writer: Writer) {
    if let Err(e) = sqlx::query("ROLLBACK").execute(&mut *writer).await
        && !e.to_string().contains("no transaction is active")
    {
        tracing::warn!(error = %e, "rollback of a draft write failed; closing the connection");
        writer.conn.close_on_drop();
    }
}

/// Appends `$n` placeholders for `values` as `col IN (…)`.
fn in_list(col: &str, first: usize, n: usize) -> String {
    let ps: Vec<String> = (first..first + n).map(|i| format!("${i}")).collect();
    format!("{col} IN ({})", ps.join(", "))
}

#[async_trait]
impl SubmissionStore for SqlStore {
    async fn save_submission(&self, s: &FormSubmission) -> Result<(FormSubmission, bool)> {
        let done = self
            .submission_insert(s)?
            .execute(&mut *self.writer().await?)
            .await?;
        if done.rows_affected() == 1 {
            return Ok((s.clone(), true));
        }
        match self.find_submission(&s.idempotency_key).await? {
            Some(existing) => Ok((existing, false)),
            None => Err(Error::conflict("submission changed concurrently; retry")),
        }
    }

    async fn get_submission(&self, id: SubmissionId) -> Result<FormSubmission> {
        let row = sqlx::query("SELECT id, doc FROM submissions WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(self.pool())
            .await
            .map_err(db)?
            .ok_or_else(|| Error::not_found(format!("submission {id}")))?;
        self.open(&format!("submissions:{id}"), &col::<String>(&row, "doc")?)
    }

    async fn save_submission_and_enqueue(
        &self,
        submission: &FormSubmission,
        job: &(dyn for<'s> Fn(&'s FormSubmission) -> NewJob + Send + Sync),
    ) -> Result<Option<AcceptedSubmission>> {
        self.intake_write(submission, job).await.map(Some)
    }

    async fn find_submission(&self, key: &str) -> Result<Option<FormSubmission>> {
        self.check_text("idempotency_key", key)?;
        let row = sqlx::query("SELECT id, doc FROM submissions WHERE idempotency_key = $1")
            .bind(key.to_owned())
            .fetch_optional(self.pool())
            .await
            .map_err(db)?;
        row.map(|r| {
            let id: String = col(&r, "id")?;
            self.open(&format!("submissions:{id}"), &col::<String>(&r, "doc")?)
        })
        .transpose()
    }
}

impl SqlStore {
    fn draft_from(&self, row: &sqlx::any::AnyRow) -> Result<Draft> {
        let id: String = col(row, "id")?;
        self.open(&format!("drafts:{id}"), &col::<String>(row, "doc")?)
    }

    async fn draft_where(&self, clause: &'static str, value: String) -> Result<Option<Draft>> {
        let sql = format!(
            "SELECT id, doc FROM drafts WHERE {clause} = $1 ORDER BY created_at DESC LIMIT 1"
        );
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(value)
            .fetch_optional(self.pool())
            .await
            .map_err(db)?;
        row.map(|r| self.draft_from(&r)).transpose()
    }

    /// The insert of a draft's event.
    pub(crate) fn event_insert(&self, event: &DraftEvent) -> Result<Stmt> {
        let ctx = format!("draft_events:{}", event.draft_id);
        Ok(
            Stmt::new("INSERT INTO draft_events (draft_id, at, doc) VALUES ($1, $2, $3)")
                .bind(event.draft_id.to_string())
                .bind(ts("event.at", event.at)?)
                .bind(self.seal(&ctx, event)?),
        )
    }

    /// The insert of a new draft.
    fn draft_insert(&self, draft: &Draft) -> Result<Stmt> {
        if let Some(m) = &draft.message_id {
            self.check_text("message_id", m.as_str())?;
        }
        let id = draft.id.to_string();
        let doc = self.seal(&format!("drafts:{id}"), draft)?;
        Ok(Stmt::new(
            "INSERT INTO drafts (id, submission_id, contact_bidx, status, message_id, version, \
             created_at, doc) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(id)
        .bind(draft.submission_id.map(|s| s.to_string()))
        .bind(self.email_bidx(&draft.contact_email))
        .bind(draft.status.as_str())
        .bind(draft.message_id.as_ref().map(|m| m.as_str().to_owned()))
        .bind(i64::from(draft.version))
        .bind(ts("created_at", draft.created_at)?)
        .bind(doc))
    }

    /// Inserts `draft` and the statements that belong with it in one write transaction; a
    /// unique violation means the draft or its submission's draft exists.
    async fn insert_draft_with(
        &self,
        draft: &Draft,
        mut stmts: Vec<Stmt>,
        audit: Option<&NewAuditEntry>,
    ) -> Result<()> {
        stmts.insert(0, self.draft_insert(draft)?);
        let exists = |e: sqlx::Error| match db(e) {
            Error::Conflict { .. } => Error::conflict(format!(
                "draft {} or a draft for its submission already exists",
                draft.id
            )),
            other => other,
        };
        if !self.is_pg() {
            return self.insert_draft_sqlite(draft, stmts, audit, exists).await;
        }
        let (_gate, mut tx) = self.begin_gated().await?;
        // The draft first (a duplicate fails before any lock is taken), the audit append
        // last, so its lock, which serialises every append, is held only until the commit.
        self.batch(&mut tx, stmts).await.map_err(exists)?;
        if let Some(entry) = audit {
            self.append_audit_for(&mut tx, entry, Some(&draft.contact_email))
                .await?;
        }
        tx.commit().await.map_err(db)
    }

    /// [`SqlStore::insert_draft_with`] on SQLite: one `BEGIN IMMEDIATE` … `COMMIT`
    /// transaction in two commands to the connection, the first opening it and reading the
    /// audit log's head and the contact's data key under the write lock
    /// ([`SQLITE_BEGIN_AND_HEADS`]), the second inserting everything (the contact's new data
    /// key, if any, and the audit entry last) and committing. Without an audit entry, one
    /// command. Through sqlx's `Transaction` the same writes took five commands (`BEGIN`, the
    /// audit head, the data key and its insert, the batch, `COMMIT`), each a round trip to the
    /// connection's thread with the one write lock held. Any failure, or the caller's future
    /// being dropped, rolls the transaction back before the connection and the write gate are
    /// released ([`SqliteTx`]).
    async fn insert_draft_sqlite(
        &self,
        draft: &Draft,
        stmts: Vec<Stmt>,
        audit: Option<&NewAuditEntry>,
        exists: impl Fn(sqlx::Error) -> Error,
    ) -> Result<()> {
        let contact = self.email_bidx(&draft.contact_email);
        let mut tx = SqliteTx(Some(self.writer().await?));
        let result = async {
            let mut stmts = stmts;
            if let Some(entry) = audit {
                // `fetch_all`: the driver's `fetch_optional` looks at the first statement only.
                let rows = sqlx::query(SQLITE_BEGIN_AND_HEADS)
                    .bind(contact.clone())
                    .fetch_all(tx.conn()?)
                    .await
                    .map_err(db)?;
                let row = rows
                    .first()
                    .ok_or_else(|| Error::backend("the audit head query returned no row"))?;
                let prev_seq: Option<i64> = col(row, "seq")?;
                let prev_hash: Option<String> = col(row, "hash")?;
                let key_id: Option<String> = col(row, "key_id")?;
                let key_doc: Option<String> = col(row, "key_doc")?;
                let (key_id, key) = match (key_id, key_doc) {
                    (Some(id), Some(doc)) => {
                        let key = self.open_data_key(&id, &doc)?;
                        (id, key)
                    }
                    _ => {
                        // No key yet, and none can appear before the commit (this transaction
                        // holds the write lock): a plain insert, which fails rather than
                        // leave the entry sealed under a key that was not stored.
                        let (id, key, insert) =
                            self.new_data_key(&contact, Some(&draft.contact_email), false)?;
                        stmts.push(insert);
                        (id, key)
                    }
                };
                let (_, insert) = self.audit_insert_after(
                    entry,
                    prev_seq.unwrap_or(0),
                    prev_hash.unwrap_or_default(),
                    &key_id,
                    &key,
                )?;
                stmts.push(insert);
            } else {
                stmts.insert(0, Stmt::new("BEGIN IMMEDIATE"));
            }
            stmts.push(Stmt::new("COMMIT"));
            join(stmts).execute_raw(tx.conn()?).await.map_err(&exists)?;
            Ok(())
        }
        .await;
        match result {
            Ok(()) => {
                tx.committed();
                Ok(())
            }
            Err(e) => {
                tx.rollback().await;
                Err(e)
            }
        }
    }

    /// Replaces `draft` if its stored version is `expected_version` and runs the statements
    /// that belong with the change (and appends `audit`) in the same write transaction. On
    /// SQLite the commit is synced to disk before this returns (`synchronous = FULL` for this
    /// transaction, see [`SQLITE_PRAGMAS`](crate::SQLITE_PRAGMAS)): a draft's send state must
    /// survive a power failure.
    async fn update_draft_with(
        &self,
        draft: &Draft,
        expected_version: u32,
        stmts: Vec<Stmt>,
        audit: Option<&NewAuditEntry>,
    ) -> Result<()> {
        if let Some(m) = &draft.message_id {
            self.check_text("message_id", m.as_str())?;
        }
        let id = draft.id.to_string();
        let doc = self.seal(&format!("drafts:{id}"), draft)?;
        let update = Stmt::new(
            "UPDATE drafts SET contact_bidx = $1, status = $2, message_id = $3, version = $4, \
             doc = $5 WHERE id = $6 AND version = $7",
        )
        .bind(self.email_bidx(&draft.contact_email))
        .bind(draft.status.as_str())
        .bind(draft.message_id.as_ref().map(|m| m.as_str().to_owned()))
        .bind(i64::from(draft.version))
        .bind(doc)
        .bind(id)
        .bind(i64::from(expected_version));
        if self.is_pg() {
            let (_gate, mut tx) = self.begin_gated().await?;
            self.update_draft_in(&mut tx, draft, expected_version, update, stmts, audit)
                .await?;
            return tx.commit().await.map_err(db);
        }
        let (mut conn, level) = self.durable_connection().await?;
        let result = async {
            let mut tx = sqlx::Connection::begin_with(&mut *conn, "BEGIN IMMEDIATE")
                .await
                .map_err(db)?;
            self.update_draft_in(&mut tx, draft, expected_version, update, stmts, audit)
                .await?;
            tx.commit().await.map_err(db)
        }
        .await;
        self.restore_sync(&mut conn, level).await;
        result
    }

    /// The body of [`SqlStore::update_draft_with`] inside its open write transaction.
    async fn update_draft_in(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        draft: &Draft,
        expected_version: u32,
        update: Stmt,
        mut stmts: Vec<Stmt>,
        audit: Option<&NewAuditEntry>,
    ) -> Result<()> {
        let done = update.execute(&mut **tx).await?;
        if done.rows_affected() == 0 {
            let exists = sqlx::query("SELECT version FROM drafts WHERE id = $1")
                .bind(draft.id.to_string())
                .fetch_optional(&mut **tx)
                .await
                .map_err(db)?;
            return Err(match exists {
                None => Error::not_found(format!("draft {}", draft.id)),
                Some(_) => Error::conflict(format!(
                    "draft {} changed since version {expected_version}",
                    draft.id
                )),
            });
        }
        if self.is_pg() {
            // The audit append last, so its lock, which serialises every append, is held only
            // until the commit.
            self.batch(tx, stmts).await.map_err(db)?;
            if let Some(entry) = audit {
                self.append_audit_for(tx, entry, Some(&draft.contact_email))
                    .await?;
            }
        } else {
            // SQLite's `BEGIN IMMEDIATE` already holds the write lock: read the audit head
            // first, so the remaining inserts go to the connection as one command.
            if let Some(entry) = audit {
                let (_, insert) = self
                    .audit_insert_for(tx, entry, Some(&draft.contact_email))
                    .await?;
                stmts.push(insert);
            }
            self.batch(tx, stmts).await.map_err(db)?;
        }
        Ok(())
    }

    /// The statements saving a run: upsert the run, replace its steps.
    fn run_upsert(&self, run: &WorkflowRun) -> Result<Vec<Stmt>> {
        for s in &run.steps {
            self.check_text("step.name", &s.name)?;
            self.check_text("step.error", s.error.as_deref().unwrap_or(""))?;
            self.check_text(
                "step.degraded_reason",
                s.degraded_reason.as_deref().unwrap_or(""),
            )?;
        }
        let id = run.id.to_string();
        let mut stmts = vec![
            Stmt::new(
                "INSERT INTO workflow_runs (id, submission_id, draft_id, status, started_at, \
                 finished_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO UPDATE SET \
                 submission_id = excluded.submission_id, draft_id = excluded.draft_id, \
                 status = excluded.status, started_at = excluded.started_at, \
                 finished_at = excluded.finished_at",
            )
            .bind(id.clone())
            .bind(run.submission_id.to_string())
            .bind(run.draft_id.map(|d| d.to_string()))
            .bind(enum_str(&run.status))
            .bind(ts("started_at", run.started_at)?)
            .bind(run.finished_at.map(|t| ts("finished_at", t)).transpose()?),
            Stmt::new("DELETE FROM workflow_steps WHERE run_id = $1").bind(id.clone()),
        ];
        if !run.steps.is_empty() {
            // One multi-row INSERT: a round trip per step was most of a pipeline's store time.
            let rows: Vec<String> = (0..run.steps.len())
                .map(|i| {
                    let p: Vec<String> = (1..=9).map(|k| format!("${}", i * 9 + k)).collect();
                    format!("({})", p.join(", "))
                })
                .collect();
            let mut q = Stmt::new(format!(
                "INSERT INTO workflow_steps (run_id, position, name, status, started_at, \
                 finished_at, duration_ms, error, degraded_reason) VALUES {}",
                rows.join(", ")
            ));
            for (i, s) in run.steps.iter().enumerate() {
                q = q
                    .bind(id.clone())
                    .bind(i64::try_from(i).unwrap_or(i64::MAX))
                    .bind(s.name.clone())
                    .bind(enum_str(&s.status))
                    .bind(ts("step.started_at", s.started_at)?)
                    .bind(
                        s.finished_at
                            .map(|t| ts("step.finished_at", t))
                            .transpose()?,
                    )
                    .bind(s.duration_ms.map(|d| i64::try_from(d).unwrap_or(i64::MAX)))
                    .bind(
                        s.error
                            .as_ref()
                            .map(|e| {
                                self.inner
                                    .crypto
                                    .seal(&format!("workflow_steps:{id}:{i}"), e)
                            })
                            .transpose()?,
                    )
                    .bind(s.degraded_reason.clone());
            }
            stmts.push(q);
        }
        Ok(stmts)
    }
}

#[async_trait]
impl DraftStore for SqlStore {
    async fn insert_draft(&self, draft: &Draft, event: &DraftEvent) -> Result<()> {
        self.insert_draft_with(draft, vec![self.event_insert(event)?], None)
            .await
    }

    async fn insert_draft_record(&self, record: &NewDraftRecord<'_>) -> Result<()> {
        let mut stmts = vec![self.event_insert(record.event)?];
        stmts.extend(self.run_upsert(record.run)?);
        stmts.push(self.enqueue_insert(record.follow_up, false)?);
        self.insert_draft_with(record.draft, stmts, Some(record.audit))
            .await
    }

    async fn get_draft(&self, id: DraftId) -> Result<Draft> {
        self.draft_where("id", id.to_string())
            .await?
            .ok_or_else(|| Error::not_found(format!("draft {id}")))
    }

    async fn find_draft_by_submission(&self, id: SubmissionId) -> Result<Option<Draft>> {
        self.draft_where("submission_id", id.to_string()).await
    }

    async fn find_draft_by_message_id(&self, id: &MessageId) -> Result<Option<Draft>> {
        self.check_text("message_id", id.as_str())?;
        self.draft_where("message_id", id.as_str().to_owned()).await
    }

    async fn list_drafts(&self, filter: &DraftFilter) -> Result<Vec<Draft>> {
        let mut sql = String::from("SELECT id, doc FROM drafts WHERE 1 = 1");
        let mut args = Vec::new();
        if let Some(s) = filter.status {
            args.push(s.as_str().to_owned());
            sql.push_str(&format!(" AND status = ${}", args.len()));
        }
        if let Some(c) = &filter.contact {
            args.push(self.email_bidx(c));
            sql.push_str(&format!(" AND contact_bidx = ${}", args.len()));
        }
        sql.push_str(" ORDER BY created_at DESC, id DESC");
        if filter.limit > 0 {
            sql.push_str(&format!(" LIMIT {}", filter.limit));
        }
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for a in args {
            q = q.bind(a);
        }
        let rows = q.fetch_all(self.pool()).await.map_err(db)?;
        rows.iter().map(|r| self.draft_from(r)).collect()
    }

    async fn update_draft(
        &self,
        draft: &Draft,
        expected_version: u32,
        event: &DraftEvent,
    ) -> Result<()> {
        self.update_draft_with(
            draft,
            expected_version,
            vec![self.event_insert(event)?],
            None,
        )
        .await
    }

    async fn update_draft_record(&self, update: &DraftUpdate<'_>) -> Result<()> {
        let mut stmts = vec![self.event_insert(update.event)?];
        for job in update.jobs {
            stmts.push(self.enqueue_insert(job, false)?);
        }
        self.update_draft_with(update.draft, update.expected_version, stmts, update.audit)
            .await
    }

    async fn draft_events(&self, id: DraftId) -> Result<Vec<DraftEvent>> {
        let rows = sqlx::query("SELECT doc FROM draft_events WHERE draft_id = $1 ORDER BY seq")
            .bind(id.to_string())
            .fetch_all(self.pool())
            .await
            .map_err(db)?;
        let ctx = format!("draft_events:{id}");
        rows.iter()
            .map(|r| self.open(&ctx, &col::<String>(r, "doc")?))
            .collect()
    }

    async fn draft_counts(&self) -> Result<BTreeMap<DraftStatus, u64>> {
        let rows = sqlx::query("SELECT status, COUNT(*) AS n FROM drafts GROUP BY status")
            .fetch_all(self.pool())
            .await
            .map_err(db)?;
        let mut out = BTreeMap::new();
        for r in &rows {
            let status: DraftStatus = col::<String>(r, "status")?.parse()?;
            out.insert(status, u64::try_from(col::<i64>(r, "n")?).unwrap_or(0));
        }
        Ok(out)
    }
}

impl SqlStore {
    async fn load_run(&self, row: &sqlx::any::AnyRow) -> Result<WorkflowRun> {
        let id: String = col(row, "id")?;
        let steps = sqlx::query(
            "SELECT position, name, status, started_at, finished_at, duration_ms, error, \
             degraded_reason FROM workflow_steps WHERE run_id = $1 ORDER BY position",
        )
        .bind(id.clone())
        .fetch_all(self.pool())
        .await
        .map_err(db)?;
        let steps = steps
            .iter()
            .map(|s| {
                let ctx = format!("workflow_steps:{id}:{}", col::<i64>(s, "position")?);
                Ok(StepRecord {
                    name: col(s, "name")?,
                    status: parse_enum("step status", &col::<String>(s, "status")?)?,
                    started_at: from_ts(col(s, "started_at")?),
                    finished_at: col::<Option<i64>>(s, "finished_at")?.map(from_ts),
                    duration_ms: col::<Option<i64>>(s, "duration_ms")?
                        .map(|d| u64::try_from(d).unwrap_or(0)),
                    error: col::<Option<String>>(s, "error")?
                        .map(|e| self.inner.crypto.open(&ctx, &e))
                        .transpose()?,
                    degraded_reason: col(s, "degraded_reason")?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let parse_id = |s: String| {
            s.parse::<uuid::Uuid>()
                .map_err(|_| Error::backend("bad id in workflow_runs"))
        };
        Ok(WorkflowRun {
            id: RunId(parse_id(id)?),
            submission_id: SubmissionId(parse_id(col(row, "submission_id")?)?),
            draft_id: col::<Option<String>>(row, "draft_id")?
                .map(parse_id)
                .transpose()?
                .map(DraftId),
            status: parse_enum("run status", &col::<String>(row, "status")?)?,
            started_at: from_ts(col(row, "started_at")?),
            finished_at: col::<Option<i64>>(row, "finished_at")?.map(from_ts),
            steps,
        })
    }
}

const RUN_COLS: &str = "id, submission_id, draft_id, status, started_at, finished_at";

#[async_trait]
impl RunStore for SqlStore {
    async fn save_run(&self, run: &WorkflowRun) -> Result<()> {
        let stmts = self.run_upsert(run)?;
        let (_gate, mut tx) = self.begin_gated().await?;
        self.batch(&mut tx, stmts).await.map_err(db)?;
        tx.commit().await.map_err(db)
    }

    async fn get_run(&self, id: RunId) -> Result<WorkflowRun> {
        let sql = format!("SELECT {RUN_COLS} FROM workflow_runs WHERE id = $1");
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(id.to_string())
            .fetch_optional(self.pool())
            .await
            .map_err(db)?
            .ok_or_else(|| Error::not_found(format!("run {id}")))?;
        self.load_run(&row).await
    }

    async fn runs_for_submission(&self, id: SubmissionId) -> Result<Vec<WorkflowRun>> {
        let sql = format!(
            "SELECT {RUN_COLS} FROM workflow_runs WHERE submission_id = $1 \
             ORDER BY started_at, id"
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(id.to_string())
            .fetch_all(self.pool())
            .await
            .map_err(db)?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            out.push(self.load_run(r).await?);
        }
        Ok(out)
    }
}

#[async_trait]
impl MessageStore for SqlStore {
    async fn record_message(&self, m: &MessageRecord) -> Result<()> {
        self.check_text("message_id", m.message_id.as_str())?;
        let id = m.message_id.as_str().to_owned();
        let doc = self.seal(&format!("messages:{id}"), m)?;
        sqlx::query(
            "INSERT INTO messages (message_id, contact_bidx, draft_id, at, doc) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (message_id) DO NOTHING",
        )
        .bind(id)
        .bind(self.email_bidx(&m.contact_email))
        .bind(m.draft_id.map(|d| d.to_string()))
        .bind(ts("at", m.at)?)
        .bind(doc)
        .execute(&mut *self.writer().await?)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn find_message(&self, id: &MessageId) -> Result<Option<MessageRecord>> {
        self.check_text("message_id", id.as_str())?;
        let row = sqlx::query("SELECT doc FROM messages WHERE message_id = $1")
            .bind(id.as_str().to_owned())
            .fetch_optional(self.pool())
            .await
            .map_err(db)?;
        row.map(|r| self.open(&format!("messages:{id}"), &col::<String>(&r, "doc")?))
            .transpose()
    }

    async fn messages_for_contact(&self, email: &EmailAddress) -> Result<Vec<MessageRecord>> {
        let rows = sqlx::query(
            "SELECT message_id, doc FROM messages WHERE contact_bidx = $1 \
             ORDER BY at, message_id",
        )
        .bind(self.email_bidx(email))
        .fetch_all(self.pool())
        .await
        .map_err(db)?;
        rows.iter()
            .map(|r| {
                let id: String = col(r, "message_id")?;
                self.open(&format!("messages:{id}"), &col::<String>(r, "doc")?)
            })
            .collect()
    }
}

#[async_trait]
impl OutcomeStore for SqlStore {
    async fn record_outcome(&self, o: &Outcome) -> Result<bool> {
        self.check_text("source_event_id", &o.source_event_id)?;
        let id = o.id.to_string();
        let doc = self.seal(&format!("outcomes:{id}"), o)?;
        let done = sqlx::query(
            "INSERT INTO outcomes (id, source_event_id, outcome_type, contact_bidx, sender_bidx, \
             occurred_at, doc) VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (source_event_id) DO NOTHING",
        )
        .bind(id)
        .bind(o.source_event_id.clone())
        .bind(o.outcome_type.as_str())
        .bind(self.email_bidx(&o.contact_email))
        .bind(o.sender.as_ref().map(|s| self.email_bidx(s)))
        .bind(ts("occurred_at", o.occurred_at)?)
        .bind(doc)
        .execute(&mut *self.writer().await?)
        .await
        .map_err(db)?;
        Ok(done.rows_affected() == 1)
    }

    async fn list_outcomes(&self, f: &OutcomeFilter) -> Result<Vec<Outcome>> {
        let mut sql = String::from("SELECT id, doc FROM outcomes WHERE 1 = 1");
        let mut texts: Vec<String> = Vec::new();
        let mut n = 0usize;
        if let Some(c) = &f.contact {
            texts.push(self.email_bidx(c));
            n += 1;
            sql.push_str(&format!(" AND contact_bidx = ${n}"));
        }
        if let Some(s) = &f.sender {
            texts.push(self.email_bidx(s));
            n += 1;
            sql.push_str(&format!(" AND sender_bidx = ${n}"));
        }
        if !f.types.is_empty() {
            sql.push_str(" AND ");
            sql.push_str(&in_list("outcome_type", n + 1, f.types.len()));
            n += f.types.len();
            texts.extend(f.types.iter().map(|t| t.as_str().to_owned()));
        }
        let mut ints = Vec::new();
        if let Some(t) = f.since {
            ints.push(ts("since", t)?);
            sql.push_str(&format!(" AND occurred_at >= ${}", n + ints.len()));
        }
        if let Some(t) = f.until {
            ints.push(ts("until", t)?);
            sql.push_str(&format!(" AND occurred_at < ${}", n + ints.len()));
        }
        sql.push_str(" ORDER BY occurred_at DESC, id DESC");
        if f.limit > 0 {
            sql.push_str(&format!(" LIMIT {}", f.limit));
        }
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for t in texts {
            q = q.bind(t);
        }
        for i in ints {
            q = q.bind(i);
        }
        let rows = q.fetch_all(self.pool()).await.map_err(db)?;
        rows.iter()
            .map(|r| {
                let id: String = col(r, "id")?;
                self.open(&format!("outcomes:{id}"), &col::<String>(r, "doc")?)
            })
            .collect()
    }
}

#[async_trait]
impl VoiceStore for SqlStore {
    async fn save_voice_profile(&self, profile: &VoiceProfile) -> Result<VoiceProfile> {
        self.check_text("name", &profile.name)?;
        let owner = self.email_bidx(&profile.owner);
        let ctx = format!("voice_profiles:{owner}:{}", profile.name);
        for _ in 0..5 {
            let (_gate, mut tx) = self.begin_gated().await?;
            let latest = sqlx::query(
                "SELECT version, doc FROM voice_profiles WHERE owner_bidx = $1 AND name = $2 \
                 ORDER BY version DESC LIMIT 1",
            )
            .bind(owner.clone())
            .bind(profile.name.clone())
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?;
            let mut saved = profile.clone();
            saved.version = 1;
            if let Some(r) = latest {
                let prev: VoiceProfile = self.open(&ctx, &col::<String>(&r, "doc")?)?;
                saved.version = prev.version.saturating_add(1);
                saved.id = prev.id;
            }
            let res = sqlx::query(
                "INSERT INTO voice_profiles (owner_bidx, name, version, updated_at, doc) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(owner.clone())
            .bind(profile.name.clone())
            .bind(i64::from(saved.version))
            .bind(ts("updated_at", saved.updated_at)?)
            .bind(self.seal(&ctx, &saved)?)
            .execute(&mut *tx)
            .await
            .map_err(db);
            match res {
                Ok(_) => {
                    tx.commit().await.map_err(db)?;
                    return Ok(saved);
                }
                // Another writer took this version number first: read again.
                Err(Error::Conflict { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Err(Error::unavailable(
            "voice profile is being saved concurrently; retry",
        ))
    }

    async fn voice_profile(
        &self,
        owner: &EmailAddress,
        name: &str,
    ) -> Result<Option<VoiceProfile>> {
        self.check_text("name", name)?;
        let owner = self.email_bidx(owner);
        let row = sqlx::query(
            "SELECT doc FROM voice_profiles WHERE owner_bidx = $1 AND name = $2 \
             ORDER BY version DESC LIMIT 1",
        )
        .bind(owner.clone())
        .bind(name.to_owned())
        .fetch_optional(self.pool())
        .await
        .map_err(db)?;
        row.map(|r| {
            self.open(
                &format!("voice_profiles:{owner}:{name}"),
                &col::<String>(&r, "doc")?,
            )
        })
        .transpose()
    }

    async fn voice_profiles(&self, owner: &EmailAddress) -> Result<Vec<VoiceProfile>> {
        let owner = self.email_bidx(owner);
        let rows = sqlx::query(
            "SELECT v.name, v.doc FROM voice_profiles v WHERE v.owner_bidx = $1 AND v.version = \
             (SELECT MAX(w.version) FROM voice_profiles w \
              WHERE w.owner_bidx = v.owner_bidx AND w.name = v.name) ORDER BY v.name",
        )
        .bind(owner.clone())
        .fetch_all(self.pool())
        .await
        .map_err(db)?;
        rows.iter()
            .map(|r| {
                let name: String = col(r, "name")?;
                self.open(
                    &format!("voice_profiles:{owner}:{name}"),
                    &col::<String>(r, "doc")?,
                )
            })
            .collect()
    }
}

impl SqlStore {
    pub(crate) fn account_bidx(&self, account: &str) -> String {
        self.inner.crypto.bidx(&format!("account:{account}"))
    }
}

#[async_trait]
impl SecretStore for SqlStore {
    async fn save_token(&self, token: &OAuthToken) -> Result<()> {
        let key = self.account_bidx(&token.account);
        let doc = self.seal(&format!("oauth_tokens:{key}"), token)?;
        sqlx::query(
            "INSERT INTO oauth_tokens (account_bidx, updated_at, doc) VALUES ($1, $2, $3) \
             ON CONFLICT (account_bidx) DO UPDATE SET updated_at = excluded.updated_at, \
             doc = excluded.doc",
        )
        .bind(key)
        .bind(ts("now", self.now())?)
        .bind(doc)
        .execute(&mut *self.writer().await?)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn token(&self, account: &str) -> Result<Option<OAuthToken>> {
        let key = self.account_bidx(account);
        let row = sqlx::query("SELECT doc FROM oauth_tokens WHERE account_bidx = $1")
            .bind(key.clone())
            .fetch_optional(self.pool())
            .await
            .map_err(db)?;
        row.map(|r| self.open(&format!("oauth_tokens:{key}"), &col::<String>(&r, "doc")?))
            .transpose()
    }

    async fn delete_token(&self, account: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM oauth_tokens WHERE account_bidx = $1")
            .bind(self.account_bidx(account))
            .execute(&mut *self.writer().await?)
            .await
            .map_err(db)?;
        Ok(done.rows_affected() > 0)
    }
}

#[async_trait]
impl SettingsStore for SqlStore {
    async fn setting(&self, key: &str) -> Result<Option<String>> {
        self.check_text("key", key)?;
        let row = sqlx::query("SELECT value FROM settings WHERE key = $1")
            .bind(key.to_owned())
            .fetch_optional(self.pool())
            .await
            .map_err(db)?;
        // Sealed like documents (a setting may hold a secret or quote a contact).
        row.map(|r| {
            self.inner
                .crypto
                .open(&format!("settings:{key}"), &col::<String>(&r, "value")?)
        })
        .transpose()
    }

    async fn put_setting(&self, key: &str, value: &str) -> Result<()> {
        self.check_text("key", key)?;
        self.check_text("value", value)?;
        sqlx::query(
            "INSERT INTO settings (key, value, updated_at) VALUES ($1, $2, $3) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value, \
             updated_at = excluded.updated_at",
        )
        .bind(key.to_owned())
        .bind(self.inner.crypto.seal(&format!("settings:{key}"), value)?)
        .bind(ts("now", self.now())?)
        .execute(&mut *self.writer().await?)
        .await
        .map_err(db)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::SqlStore;
    use chrono::{DateTime, Utc};
    use salesagent_core::model::{
        Draft, DraftEvent, DraftWriter, EmailAddress, FormSubmission, JobFilter, NewAuditEntry,
        NewJob, RunId, RunStatus, SubmissionId, WorkflowRun,
    };
    use salesagent_core::ports::{
        AuditStore as _, DraftStore as _, JobStore as _, NewDraftRecord, RunStore as _,
        SettingsStore as _, SubmissionStore as _,
    };
    use std::future::Future as _;
    use std::task::{Context, Waker};

    fn at() -> DateTime<Utc> {
        "2026-11-25T09:00:00Z".parse().unwrap()
    }

    fn submission(key: &str, email: &str) -> FormSubmission {
        let raw = serde_json::json!({
            "submission_id": key,
            "submitted_at": "2026-11-25T09:00:00Z",
            "fields": {"email": email, "message": "Hi"}
        })
        .to_string();
        FormSubmission::from_canonical_json(&raw, at()).unwrap()
    }

    struct Parts {
        draft: Draft,
        event: DraftEvent,
        run: WorkflowRun,
        audit: NewAuditEntry,
        job: NewJob,
    }

    impl Parts {
        fn new(submission: SubmissionId, email: &str) -> Self {
            let mut draft = Draft::new(
                EmailAddress::parse(email).unwrap(),
                EmailAddress::parse("seller@salesagent.example").unwrap(),
                "Hello",
                "Hi,\n\nthanks.\n\nSam",
                DraftWriter::Template {
                    reason: "test".into(),
                },
                at(),
            );
            draft.submission_id = Some(submission);
            let run = WorkflowRun {
                id: RunId::new(),
                submission_id: submission,
                draft_id: Some(draft.id),
                status: RunStatus::Succeeded,
                started_at: at(),
                finished_at: Some(at()),
                steps: Vec::new(),
            };
            Self {
                event: draft.created_event("system:test"),
                audit: NewAuditEntry {
                    actor: "system:test".into(),
                    action: "draft.create".into(),
                    subject: draft.id.to_string(),
                    details: serde_json::json!({ "run_id": run.id }),
                },
                job: NewJob::new(
                    "follow-up-test",
                    serde_json::json!({ "draft_id": draft.id }),
                )
                .with_key(format!("follow-up-test:{}", draft.id)),
                draft,
                run,
            }
        }

        fn record(&self) -> NewDraftRecord<'_> {
            NewDraftRecord {
                draft: &self.draft,
                event: &self.event,
                run: &self.run,
                audit: &self.audit,
                follow_up: &self.job,
            }
        }

        /// Which of the record's parts are stored: draft, run, audit entry, job, the contact's
        /// data key.
        async fn stored(&self, store: &SqlStore) -> [bool; 5] {
            let draft = store.get_draft(self.draft.id).await.is_ok();
            let run = store.get_run(self.run.id).await.is_ok();
            let audit = store
                .audit_entries(0, 0)
                .await
                .unwrap()
                .iter()
                .any(|e| e.subject == self.audit.subject);
            let key = self.job.idempotency_key.clone();
            let job = store
                .list_jobs(&JobFilter {
                    kind: Some(self.job.kind.clone()),
                    ..JobFilter::default()
                })
                .await
                .unwrap()
                .iter()
                .any(|j| j.idempotency_key == key);
            let data_key: i64 =
                sqlx::query_scalar("SELECT COUNT(*) FROM contact_keys WHERE contact_bidx = $1")
                    .bind(store.email_bidx(&self.draft.contact_email))
                    .fetch_one(store.pool())
                    .await
                    .unwrap();
            [draft, run, audit, job, data_key == 1]
        }
    }

    /// A draft record written on SQLite by statements that open and commit the transaction
    /// themselves: abandoned after any number of polls (its future dropped mid-write), or
    /// failing on a duplicate, it leaves all of its parts or none (the contact's new data key
    /// included), the connection is usable afterwards and the audit chain verifies.
    #[tokio::test]
    async fn a_draft_record_is_all_or_nothing_when_cancelled_or_conflicting() {
        let dir = std::env::temp_dir().join(format!("sa-draftrec-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = format!("sqlite://{}?mode=rwc", dir.join("t.db").display());
        for url in ["sqlite::memory:", file.as_str()] {
            let store = SqlStore::builder(url)
                .without_encryption()
                .connect()
                .await
                .unwrap();
            let mut committed = 0;
            for polls in 0..16 {
                let email = format!("lead{polls}@acme.example");
                let (sub, _) = store
                    .save_submission(&submission(&format!("k{polls}"), &email))
                    .await
                    .unwrap();
                let parts = Parts::new(sub.id, &email);
                {
                    let record = parts.record();
                    let mut write = Box::pin(store.insert_draft_record(&record));
                    let mut cx = Context::from_waker(Waker::noop());
                    for _ in 0..polls {
                        if write.as_mut().poll(&mut cx).is_ready() {
                            break;
                        }
                        tokio::task::yield_now().await;
                    }
                }
                // Another write waits for the abandoned one's rollback (or commit).
                store
                    .put_setting("after", &polls.to_string())
                    .await
                    .unwrap();
                let stored = parts.stored(&store).await;
                assert!(
                    stored.iter().all(|s| *s) || stored.iter().all(|s| !*s),
                    "{url}, dropped after {polls} polls: stored {stored:?}"
                );
                let again = store.insert_draft_record(&parts.record()).await;
                if stored[0] {
                    committed += 1;
                    assert!(matches!(
                        again,
                        Err(salesagent_core::Error::Conflict { .. })
                    ));
                } else {
                    again.unwrap();
                }
                assert!(parts.stored(&store).await.iter().all(|s| *s));

                // A second draft for the submission, for a contact without a data key: a
                // conflict, and none of its parts (nor the new key) is left behind.
                let other = Parts::new(sub.id, &format!("other{polls}@acme.example"));
                let dup = store.insert_draft_record(&other.record()).await;
                assert!(
                    matches!(dup, Err(salesagent_core::Error::Conflict { .. })),
                    "{dup:?}"
                );
                assert_eq!(other.stored(&store).await, [false; 5]);
            }
            // How many abandoned writes had committed depends on the machine's timing.
            println!("{url}: {committed} of 16 abandoned writes had committed");
            let chain = store.verify_audit_chain().await.unwrap();
            assert_eq!(chain.entries, 16);
            assert_eq!(chain.first_broken_seq, None);
            store.close().await;
        }
        let _ = std::fs::remove_dir_all(dir);
    }
}
