//! GDPR erasure and health checks.

use crate::crypto::Crypto;
use crate::error::db;
use crate::{Backend, SqlStore, col};
use async_trait::async_trait;
use salesagent_core::model::{EmailAddress, ErasureReport, NewAuditEntry};
use salesagent_core::ports::AdminStore;
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

/// True when `v` has a `contact_id`, `objectId` or `idempotency_key` field (at any depth)
/// whose value is one of `exact`.
fn json_names(v: &serde_json::Value, exact: &[String]) -> bool {
    use serde_json::Value;
    match v {
        Value::Object(m) => m.iter().any(|(k, v)| {
            let scalar = match v {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            };
            (matches!(k.as_str(), "contact_id" | "objectId" | "idempotency_key")
                && scalar.is_some_and(|s| exact.contains(&s)))
                || json_names(v, exact)
        }),
        Value::Array(a) => a.iter().any(|v| json_names(v, exact)),
        _ => false,
    }
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
    /// Deletes every row that mentions `email`: rows keyed by its blind index (submissions,
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
        let bidx = self.email_bidx(email);
        let needle = email.normalized().to_lowercase();
        let mut tx = self.begin_write().await?;
        let mut report = ErasureReport::default();
        let mut count = |table: &str, n: u64| {
            if n > 0 {
                *report.per_table.entry(table.to_owned()).or_insert(0) += n;
            }
        };

        let subs = ids_with(
            &mut tx,
            "SELECT id FROM submissions WHERE contact_bidx = $1",
            &bidx,
            &[],
        )
        .await?;
        let drafts = ids_with(
            &mut tx,
            "SELECT id FROM drafts WHERE contact_bidx = $1 OR submission_id IN ({ids})",
            &bidx,
            &subs,
        )
        .await?;
        let runs = ids_with(
            &mut tx,
            "SELECT id FROM workflow_runs WHERE draft_id = $1 OR submission_id IN ({ids})",
            "-",
            &subs,
        )
        .await?;
        let mut runs = runs;
        runs.extend(
            ids_with(
                &mut tx,
                "SELECT id FROM workflow_runs WHERE draft_id = $1 OR draft_id IN ({ids})",
                "-",
                &drafts,
            )
            .await?,
        );
        runs.sort();
        runs.dedup();

        // What jobs may name instead of the address: CRM contact ids (from the drafts) and the
        // submissions' idempotency keys (a `crm_contact_event` job carries its submission's).
        let mut crm_ids = Vec::new();
        for r in rows_with(
            &mut tx,
            "SELECT id, doc FROM drafts WHERE id = $1 OR id IN ({ids})",
            &drafts,
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
                crm_ids.push(c.to_owned());
            }
        }
        let mut sub_keys = Vec::new();
        for r in rows_with(
            &mut tx,
            "SELECT idempotency_key FROM submissions WHERE id = $1 OR id IN ({ids})",
            &subs,
        )
        .await?
        {
            sub_keys.push(col::<String>(&r, "idempotency_key")?);
        }

        let by_ids: [(&str, &str, &[String]); 5] = [
            (
                "draft_events",
                "DELETE FROM draft_events WHERE draft_id = $1 OR draft_id IN ({ids})",
                &drafts,
            ),
            (
                "drafts",
                "DELETE FROM drafts WHERE id = $1 OR id IN ({ids})",
                &drafts,
            ),
            (
                "workflow_steps",
                "DELETE FROM workflow_steps WHERE run_id = $1 OR run_id IN ({ids})",
                &runs,
            ),
            (
                "workflow_runs",
                "DELETE FROM workflow_runs WHERE id = $1 OR id IN ({ids})",
                &runs,
            ),
            (
                "submissions",
                "DELETE FROM submissions WHERE id = $1 OR id IN ({ids})",
                &subs,
            ),
        ];
        for (table, sql, ids) in by_ids {
            let n = exec_with_ids(&mut tx, sql, "-", ids).await?;
            count(table, n);
        }
        let by_bidx = [
            (
                "messages",
                "DELETE FROM messages WHERE contact_bidx = $1 OR draft_id IN ({ids})",
            ),
            (
                "outcomes",
                "DELETE FROM outcomes WHERE contact_bidx = $1 OR sender_bidx = $1",
            ),
            (
                "send_log",
                "DELETE FROM send_log WHERE contact_bidx = $1 OR sender_bidx = $1 \
                 OR draft_id IN ({ids})",
            ),
            (
                "suppressions",
                "DELETE FROM suppressions WHERE email_bidx = $1",
            ),
            (
                "approved_recipients",
                "DELETE FROM approved_recipients WHERE email_bidx = $1",
            ),
            (
                "voice_profiles",
                "DELETE FROM voice_profiles WHERE owner_bidx = $1",
            ),
            ("sequences", "DELETE FROM sequences WHERE contact_bidx = $1"),
        ];
        for (table, sql) in by_bidx {
            let n = exec_with_ids(&mut tx, sql, &bidx, &drafts).await?;
            count(table, n);
        }
        let mut accounts = vec![
            self.account_bidx(&email.to_string()),
            self.account_bidx(&email.normalized()),
        ];
        accounts.dedup();
        let n = exec_with_ids(
            &mut tx,
            "DELETE FROM oauth_tokens WHERE account_bidx = $1 OR account_bidx IN ({ids})",
            "-",
            &accounts,
        )
        .await?;
        count("oauth_tokens", n);

        // Jobs: payloads and errors are sealed, so each job is opened and searched for the
        // address, the erased drafts' and submissions' ids, their submissions' idempotency
        // keys, and the contact's CRM ids (a `crm_contact_event` job names only those).
        let mut needles = vec![needle.clone()];
        needles.extend(drafts.iter().cloned());
        needles.extend(subs.iter().cloned());
        let mut exact = crm_ids;
        exact.extend(sub_keys);
        let jobs = sqlx::query("SELECT id, payload, idempotency_key, last_error FROM jobs")
            .fetch_all(&mut *tx)
            .await
            .map_err(db)?;
        let mut doomed = Vec::new();
        for r in &jobs {
            let id: String = col(r, "id")?;
            let stored: String = col(r, "payload")?;
            // A value that does not open is searched as stored (never skipped).
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
            let text = format!("{payload}\n{error}\n{key}").to_lowercase();
            let hit = needles.iter().any(|n| text.contains(n.as_str()))
                || serde_json::from_str::<serde_json::Value>(&payload)
                    .is_ok_and(|v| json_names(&v, &exact))
                || exact.contains(&key);
            if hit {
                doomed.push(id);
            }
        }
        if !doomed.is_empty() {
            let n = exec_with_ids(
                &mut tx,
                "DELETE FROM jobs WHERE id = $1 OR id IN ({ids})",
                "-",
                &doomed,
            )
            .await?;
            count("jobs", n);
        }
        // Settings are sealed too: each is opened and searched (key and value).
        let settings = sqlx::query("SELECT key, value FROM settings")
            .fetch_all(&mut *tx)
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
            let text = format!("{key}\n{value}").to_lowercase();
            if needles.iter().any(|n| text.contains(n.as_str())) {
                doomed.push(key);
            }
        }
        if !doomed.is_empty() {
            let n = exec_with_ids(
                &mut tx,
                "DELETE FROM settings WHERE key = $1 OR key IN ({ids})",
                "-",
                &doomed,
            )
            .await?;
            count("settings", n);
        }

        // Crypto-shredding: the contact's data key goes, so the details of its audit entries
        // (sealed under it) can no longer be opened; the chain, which hashes the sealed text,
        // still verifies.
        let n = sqlx::query("DELETE FROM contact_keys WHERE contact_bidx = $1")
            .bind(bidx.clone())
            .execute(&mut *tx)
            .await
            .map_err(db)?
            .rows_affected();
        count("contact_keys", n);
        // The tombstone: a keyed hash of the address, so it is never mailed again.
        let tomb = self.tomb_hash_in(&mut tx, email).await?;
        let n = sqlx::query(
            "INSERT INTO erasure_tombstones (tomb_hash, erased_at) VALUES ($1, $2) \
             ON CONFLICT (tomb_hash) DO NOTHING",
        )
        .bind(tomb)
        .bind(crate::ts("now", self.now())?)
        .execute(&mut *tx)
        .await
        .map_err(db)?
        .rows_affected();
        count("erasure_tombstones", n);

        let details = serde_json::to_value(&report.per_table)
            .map_err(|e| Error::backend(format!("erasure report: {e}")))?;
        self.append_audit_in(
            &mut tx,
            &NewAuditEntry {
                actor: actor.to_owned(),
                action: "contact.erase".into(),
                subject: "contact".into(),
                details: serde_json::json!({ "rows_removed": details }),
            },
        )
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
