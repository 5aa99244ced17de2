//! GDPR erasure and health checks.

use crate::crypto::Crypto;
use crate::error::db;
use crate::{Backend, SqlStore, col};
use async_trait::async_trait;
use salesagent_core::model::{EmailAddress, ErasureReport};
use salesagent_core::ports::AdminStore;
use salesagent_core::privacy::erasure::{
    ErasureStep, ErasureSubject, ErasureTally, erasure_audit_entry,
};
use salesagent_core::{Error, Result};
use sqlx::{Any, AssertSqlSafe, Transaction};

/// Tables whose `doc` column holds sealed documents.
pub(crate) const SEALED_TABLES: [&str; 10] = [
    "submissions",
    "drafts",
    "draft_events",
    "messages",
    "outcomes",
    "voice_profiles",
    "approved_recipients",
    "suppressions",
    "oauth_tokens",
    "sequences",
];

fn placeholders(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Runs `sql` with `{ids}` replaced by placeholders `$2…` for `ids` (`$1` is `first`), and
/// returns the rows affected.
async fn exec_with_ids(
    tx: &mut Transaction<'static, Any>,
    sql: &str,
    first: &str,
    ids: &[String],
) -> Result<u64> {
    // An empty IN list is not valid SQL; a value no id has keeps the statement uniform.
    let none = [String::from("-")];
    let ids = if !sql.contains("{ids}") {
        &[][..]
    } else if ids.is_empty() {
        &none[..]
    } else {
        ids
    };
    let sql = sql.replace("{ids}", &placeholders(2, ids.len()));
    let mut q = sqlx::query(AssertSqlSafe(sql)).bind(first.to_owned());
    for id in ids {
        q = q.bind(id.clone());
    }
    Ok(q.execute(&mut **tx).await.map_err(db)?.rows_affected())
}

async fn ids_with(
    tx: &mut Transaction<'static, Any>,
    sql: &str,
    first: &str,
    ids: &[String],
) -> Result<Vec<String>> {
    let none = [String::from("-")];
    let ids = if ids.is_empty() { &none[..] } else { ids };
    let sql = sql.replace("{ids}", &placeholders(2, ids.len()));
    let mut q = sqlx::query(AssertSqlSafe(sql)).bind(first.to_owned());
    for id in ids {
        q = q.bind(id.clone());
    }
    q.fetch_all(&mut **tx)
        .await
        .map_err(db)?
        .iter()
        .map(|r| col::<String>(r, "id"))
        .collect()
}

async fn rows_with(
    tx: &mut Transaction<'static, Any>,
    sql: &str,
    ids: &[String],
) -> Result<Vec<sqlx::any::AnyRow>> {
    let none = [String::from("-")];
    let ids = if ids.is_empty() { &none[..] } else { ids };
    let sql = sql.replace("{ids}", &placeholders(2, ids.len()));
    let mut q = sqlx::query(AssertSqlSafe(sql)).bind("-".to_owned());
    for id in ids {
        q = q.bind(id.clone());
    }
    q.fetch_all(&mut **tx).await.map_err(db)
}

/// What one erasure collected (step 1 of the plan) plus the SQL keys it deletes by.
struct Erasing {
    /// The address's blind index.
    bidx: String,
    /// The erased workflow runs (of the submissions or drafts).
    runs: Vec<String>,
    subject: ErasureSubject,
}

impl SqlStore {
    /// The erasure-tombstone key (made on first use, kept sealed in `store_meta`).
    async fn tomb_key_in(&self, tx: &mut Transaction<'_, Any>) -> Result<[u8; 32]> {
        if let Some(k) = self.inner.crypto.tomb_key.get() {
            return Ok(*k);
        }
        let ctx = "store_meta:tombstone_key";
        let row = sqlx::query("SELECT value FROM store_meta WHERE key = 'tombstone_key'")
            .fetch_optional(&mut **tx)
            .await
            .map_err(db)?;
        let key = match row {
            Some(r) => self
                .inner
                .crypto
                .unwrap_key(ctx, &col::<String>(&r, "value")?)?,
            None => {
                let key = Crypto::random_key()?;
                sqlx::query(
                    "INSERT INTO store_meta (key, value) VALUES ('tombstone_key', $1) \
                     ON CONFLICT (key) DO NOTHING",
                )
                .bind(self.inner.crypto.wrap_key(ctx, &key)?)
                .execute(&mut **tx)
                .await
                .map_err(db)?;
                // Another process may have made it first: use the stored one.
                let r = sqlx::query("SELECT value FROM store_meta WHERE key = 'tombstone_key'")
                    .fetch_one(&mut **tx)
                    .await
                    .map_err(db)?;
                self.inner
                    .crypto
                    .unwrap_key(ctx, &col::<String>(&r, "value")?)?
            }
        };
        Ok(*self.inner.crypto.tomb_key.get_or_init(|| key))
    }

    async fn tomb_hash_in(
        &self,
        tx: &mut Transaction<'_, Any>,
        email: &EmailAddress,
    ) -> Result<String> {
        let key = self.tomb_key_in(tx).await?;
        Ok(Crypto::keyed_hash(
            &key,
            &format!("email:{}", email.normalized()),
        ))
    }

    /// When `email` was erased, if it was: erased addresses are suppressed for good. Runs in
    /// `tx` when given (a store with one connection has no other to use), else on the pool.
    pub(crate) async fn erased_at(
        &self,
        tx: Option<&mut Transaction<'_, Any>>,
        email: &EmailAddress,
    ) -> Result<Option<chrono::DateTime<chrono::Utc>>> {
        let meta = "SELECT value FROM store_meta WHERE key = 'tombstone_key'";
        let mut tx = tx;
        let key = match self.inner.crypto.tomb_key.get() {
            Some(k) => *k,
            None => {
                let q = sqlx::query(meta);
                let row = match tx.as_deref_mut() {
                    Some(t) => q.fetch_optional(&mut **t).await,
                    None => q.fetch_optional(self.pool()).await,
                }
                .map_err(db)?;
                let Some(r) = row else { return Ok(None) };
                let key = self
                    .inner
                    .crypto
                    .unwrap_key("store_meta:tombstone_key", &col::<String>(&r, "value")?)?;
                *self.inner.crypto.tomb_key.get_or_init(|| key)
            }
        };
        let hash = Crypto::keyed_hash(&key, &format!("email:{}", email.normalized()));
        let q =
            sqlx::query("SELECT erased_at FROM erasure_tombstones WHERE tomb_hash = $1").bind(hash);
        let row = match tx {
            Some(t) => q.fetch_optional(&mut **t).await,
            None => q.fetch_optional(self.pool()).await,
        }
        .map_err(db)?;
        row.map(|r| col::<i64>(&r, "erased_at").map(crate::from_ts))
            .transpose()
    }
}

#[async_trait]
impl AdminStore for SqlStore {
    /// Executes the core [erasure plan](salesagent_core::privacy::erasure) in one
    /// transaction. Deletes every row that mentions `email`: rows keyed by its blind index (submissions,
    /// drafts, messages, outcomes, send log, suppressions, approved recipients, voice profiles,
    /// OAuth tokens of that account), rows hanging off those (draft events, workflow runs and
    /// steps), jobs of every kind that carry the contact (each job is opened: its payload,
    /// error or key names the address, an erased draft or submission, a submission's
    /// idempotency key, or one of the contact's CRM ids, as a `crm_contact_event` does), and
    /// settings whose text contains the address or an erased id. Then:
    ///
    /// - **crypto-shredding**: the contact's data key (`contact_keys`) is deleted. Audit entries
    ///   are never rewritten (that would break the chain); their details were sealed under that
    ///   key, so they now read as `{"erased": true}` and the chain, which hashes the sealed text,
    ///   still verifies;
    /// - **tombstone**: a keyed hash of the address (under a random key kept sealed in
    ///   `store_meta`) goes into `erasure_tombstones`, so `suppression` and `reserve_send` keep
    ///   refusing the address while nothing stores it;
    /// - a `contact.erase` audit entry holding only counts per table.
    ///
    /// **Bytes left behind.** SQLite: every connection runs `PRAGMA secure_delete = ON`, so
    /// deleted rows are overwritten with zeros in the database pages, and after the commit
    /// `PRAGMA wal_checkpoint(TRUNCATE)` copies the write-ahead log back and truncates it (a
    /// reader still open can hold it back; the next checkpoint finishes it). PostgreSQL: a
    /// `DELETE` only marks the row versions dead; they stay in the table's data files until
    /// `VACUUM` (or autovacuum, typically within minutes on a busy table) marks the space
    /// reusable and later writes overwrite it, and only `VACUUM FULL` (which rewrites the table
    /// under an exclusive lock) removes them at once. The WAL segments holding the rows are
    /// recycled after checkpoints, but archived WAL and base backups keep them for as long as
    /// they are retained: run `VACUUM FULL` on the erased tables and age out backups when an
    /// erasure must reach the disk.
    async fn erase_contact(&self, email: &EmailAddress, actor: &str) -> Result<ErasureReport> {
        self.check_text("actor", actor)?;
        let mut tx = self.begin_write().await?;
        let erasing = self.erasure_collect(&mut tx, email).await?;
        let mut tally = ErasureTally::new();
        for step in ErasureStep::PLAN {
            let n = self.erase_step(&mut tx, step, &erasing, email).await?;
            tally.add(step, n);
        }
        let report = tally.finish();
        self.append_audit_in(&mut tx, &erasure_audit_entry(actor, &report))
            .await?;
        tx.commit().await.map_err(db)?;
        if self.backend() == Backend::Sqlite {
            // `secure_delete` (see SQLITE_PRAGMAS) zeroed the deleted rows in the database
            // pages; the write-ahead log still holds page images from before the erase until
            // a checkpoint copies them back and truncates it. Readers still open keep the log
            // (the checkpoint then reports busy): the next erase, or SQLite's own checkpoints,
            // finish it.
            let done = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                .fetch_optional(self.pool())
                .await
                .map_err(db)?;
            if let Some(r) = done
                && sqlx::Row::try_get::<i64, _>(&r, 0).unwrap_or(0) != 0
            {
                tracing::warn!("erase: the WAL checkpoint was blocked by a reader; retried later");
            }
        }
        Ok(report)
    }

    async fn health(&self) -> Result<()> {
        let expected = match self.backend() {
            Backend::Sqlite => sqlx::migrate!("migrations/sqlite").iter().count(),
            Backend::Postgres => sqlx::migrate!("migrations/postgres").iter().count(),
        };
        let row = sqlx::query("SELECT COUNT(*) AS n FROM _sqlx_migrations WHERE success")
            .fetch_one(self.pool())
            .await
            .map_err(|e| match db(e) {
                Error::Backend { .. } => Error::backend("the database is not migrated"),
                other => other,
            })?;
        let applied = usize::try_from(col::<i64>(&row, "n")?).unwrap_or(0);
        if applied < expected {
            return Err(Error::backend(format!(
                "the database is missing migrations ({applied} of {expected} applied)"
            )));
        }
        Ok(())
    }
}

impl SqlStore {
    /// Step 1 of the erasure plan: the address's submissions, the drafts to it or from them,
    /// their workflow runs, CRM ids and the submissions' idempotency keys.
    async fn erasure_collect(
        &self,
        tx: &mut Transaction<'static, Any>,
        email: &EmailAddress,
    ) -> Result<Erasing> {
        let bidx = self.email_bidx(email);
        let mut subject = ErasureSubject::new(email);
        subject.submissions = ids_with(
            tx,
            "SELECT id FROM submissions WHERE contact_bidx = $1",
            &bidx,
            &[],
        )
        .await?;
        subject.drafts = ids_with(
            tx,
            "SELECT id FROM drafts WHERE contact_bidx = $1 OR submission_id IN ({ids})",
            &bidx,
            &subject.submissions,
        )
        .await?;
        let mut runs = ids_with(
            tx,
            "SELECT id FROM workflow_runs WHERE draft_id = $1 OR submission_id IN ({ids})",
            "-",
            &subject.submissions,
        )
        .await?;
        runs.extend(
            ids_with(
                tx,
                "SELECT id FROM workflow_runs WHERE draft_id = $1 OR draft_id IN ({ids})",
                "-",
                &subject.drafts,
            )
            .await?,
        );
        runs.sort();
        runs.dedup();
        // What jobs may name instead of the address: CRM contact ids (from the drafts) and the
        // submissions' idempotency keys (a `crm_contact_event` job carries its submission's).
        for r in rows_with(
            tx,
            "SELECT id, doc FROM drafts WHERE id = $1 OR id IN ({ids})",
            &subject.drafts,
        )
        .await?
        {
            let id: String = col(&r, "id")?;
            let doc: serde_json::Value =
                self.open(&format!("drafts:{id}"), &col::<String>(&r, "doc")?)?;
            if let Some(c) = doc
                .get("contact_crm_id")
                .and_then(serde_json::Value::as_str)
            {
                subject.crm_ids.push(c.to_owned());
            }
        }
        for r in rows_with(
            tx,
            "SELECT idempotency_key FROM submissions WHERE id = $1 OR id IN ({ids})",
            &subject.submissions,
        )
        .await?
        {
            subject
                .submission_keys
                .push(col::<String>(&r, "idempotency_key")?);
        }
        Ok(Erasing {
            bidx,
            runs,
            subject,
        })
    }

    /// The delete statement of a step that deletes by the address's blind index or by
    /// collected ids: `(sql, $1, ids for {ids})`; `None` for the steps with their own code.
    fn erase_statement(step: ErasureStep, e: &Erasing) -> Option<(&'static str, &str, &[String])> {
        let drafts = &e.subject.drafts;
        Some(match step {
            ErasureStep::DraftEvents => (
                "DELETE FROM draft_events WHERE draft_id = $1 OR draft_id IN ({ids})",
                "-",
                drafts,
            ),
            ErasureStep::Drafts => (
                "DELETE FROM drafts WHERE id = $1 OR id IN ({ids})",
                "-",
                drafts,
            ),
            ErasureStep::WorkflowSteps => (
                "DELETE FROM workflow_steps WHERE run_id = $1 OR run_id IN ({ids})",
                "-",
                &e.runs,
            ),
            ErasureStep::WorkflowRuns => (
                "DELETE FROM workflow_runs WHERE id = $1 OR id IN ({ids})",
                "-",
                &e.runs,
            ),
            ErasureStep::Submissions => (
                "DELETE FROM submissions WHERE id = $1 OR id IN ({ids})",
                "-",
                &e.subject.submissions,
            ),
            ErasureStep::Messages => (
                "DELETE FROM messages WHERE contact_bidx = $1 OR draft_id IN ({ids})",
                &e.bidx,
                drafts,
            ),
            ErasureStep::Outcomes => (
                "DELETE FROM outcomes WHERE contact_bidx = $1 OR sender_bidx = $1",
                &e.bidx,
                &[],
            ),
            ErasureStep::SendLog => (
                "DELETE FROM send_log WHERE contact_bidx = $1 OR sender_bidx = $1 \
                 OR draft_id IN ({ids})",
                &e.bidx,
                drafts,
            ),
            ErasureStep::Suppressions => (
                "DELETE FROM suppressions WHERE email_bidx = $1",
                &e.bidx,
                &[],
            ),
            ErasureStep::ApprovedRecipients => (
                "DELETE FROM approved_recipients WHERE email_bidx = $1",
                &e.bidx,
                &[],
            ),
            ErasureStep::VoiceProfiles => (
                "DELETE FROM voice_profiles WHERE owner_bidx = $1",
                &e.bidx,
                &[],
            ),
            ErasureStep::Sequences => (
                "DELETE FROM sequences WHERE contact_bidx = $1",
                &e.bidx,
                &[],
            ),
            // Crypto-shredding: the contact's data key goes, so the details of its audit
            // entries (sealed under it) can no longer be opened; the chain, which hashes the
            // sealed text, still verifies.
            ErasureStep::ContactKeys => (
                "DELETE FROM contact_keys WHERE contact_bidx = $1",
                &e.bidx,
                &[],
            ),
            ErasureStep::OauthTokens
            | ErasureStep::Jobs
            | ErasureStep::Settings
            | ErasureStep::ErasureTombstones => return None,
        })
    }

    /// Runs one step of the erasure plan in `tx`; returns the rows it touched.
    async fn erase_step(
        &self,
        tx: &mut Transaction<'static, Any>,
        step: ErasureStep,
        e: &Erasing,
        email: &EmailAddress,
    ) -> Result<u64> {
        if let Some((sql, first, ids)) = Self::erase_statement(step, e) {
            return exec_with_ids(tx, sql, first, ids).await;
        }
        match step {
            ErasureStep::OauthTokens => {
                let mut accounts = vec![
                    self.account_bidx(&email.to_string()),
                    self.account_bidx(&email.normalized()),
                ];
                accounts.dedup();
                exec_with_ids(
                    tx,
                    "DELETE FROM oauth_tokens WHERE account_bidx = $1 OR account_bidx IN ({ids})",
                    "-",
                    &accounts,
                )
                .await
            }
            ErasureStep::Jobs => self.erase_jobs(tx, &e.subject).await,
            ErasureStep::Settings => self.erase_settings(tx, &e.subject).await,
            ErasureStep::ErasureTombstones => {
                let tomb = self.tomb_hash_in(tx, email).await?;
                Ok(sqlx::query(
                    "INSERT INTO erasure_tombstones (tomb_hash, erased_at) VALUES ($1, $2) \
                     ON CONFLICT (tomb_hash) DO NOTHING",
                )
                .bind(tomb)
                .bind(crate::ts("now", self.now())?)
                .execute(&mut **tx)
                .await
                .map_err(db)?
                .rows_affected())
            }
            _ => Ok(0),
        }
    }

    /// Jobs are sealed: each is opened (payload, error, key) and matched with
    /// [`ErasureSubject::names_job`]; a value that does not open is matched as stored.
    async fn erase_jobs(
        &self,
        tx: &mut Transaction<'static, Any>,
        subject: &ErasureSubject,
    ) -> Result<u64> {
        let jobs = sqlx::query("SELECT id, payload, idempotency_key, last_error FROM jobs")
            .fetch_all(&mut **tx)
            .await
            .map_err(db)?;
        let mut doomed = Vec::new();
        for r in &jobs {
            let id: String = col(r, "id")?;
            let stored: String = col(r, "payload")?;
            let payload = self
                .inner
                .crypto
                .open(&format!("jobs:{id}"), &stored)
                .unwrap_or(stored);
            let error = col::<Option<String>>(r, "last_error")?
                .map(|e| {
                    self.inner
                        .crypto
                        .open(&format!("jobs.last_error:{id}"), &e)
                        .unwrap_or(e)
                })
                .unwrap_or_default();
            let key = col::<Option<String>>(r, "idempotency_key")?.unwrap_or_default();
            if subject.names_job(&payload, &error, &key) {
                doomed.push(id);
            }
        }
        if doomed.is_empty() {
            return Ok(0);
        }
        exec_with_ids(
            tx,
            "DELETE FROM jobs WHERE id = $1 OR id IN ({ids})",
            "-",
            &doomed,
        )
        .await
    }

    /// Settings are sealed too: each is opened and matched (key and value) with
    /// [`ErasureSubject::names_setting`].
    async fn erase_settings(
        &self,
        tx: &mut Transaction<'static, Any>,
        subject: &ErasureSubject,
    ) -> Result<u64> {
        let settings = sqlx::query("SELECT key, value FROM settings")
            .fetch_all(&mut **tx)
            .await
            .map_err(db)?;
        let mut doomed = Vec::new();
        for r in &settings {
            let key: String = col(r, "key")?;
            let stored: String = col(r, "value")?;
            let value = self
                .inner
                .crypto
                .open(&format!("settings:{key}"), &stored)
                .unwrap_or(stored);
            if subject.names_setting(&key, &value) {
                doomed.push(key);
            }
        }
        if doomed.is_empty() {
            return Ok(0);
        }
        exec_with_ids(
            tx,
            "DELETE FROM settings WHERE key = $1 OR key IN ({ids})",
            "-",
            &doomed,
        )
        .await
    }
}
