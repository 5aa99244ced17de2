//! GDPR erasure and health checks.

use crate::error::db;
use crate::{Backend, SqlStore, col};
use async_trait::async_trait;
use salesagent_core::model::{EmailAddress, ErasureReport, NewAuditEntry};
use salesagent_core::ports::AdminStore;
use salesagent_core::{Error, Result};
use sqlx::{Any, AssertSqlSafe, Transaction};

/// Tables whose `doc` column holds sealed documents.
pub(crate) const SEALED_TABLES: [&str; 9] = [
    "submissions",
    "drafts",
    "draft_events",
    "messages",
    "outcomes",
    "voice_profiles",
    "approved_recipients",
    "suppressions",
    "oauth_tokens",
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
    let ids = if ids.is_empty() { &none[..] } else { ids };
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

impl SqlStore {
    fn contains_fn(&self) -> &'static str {
        match self.backend() {
            Backend::Sqlite => "instr",
            Backend::Postgres => "strpos",
        }
    }
}

#[async_trait]
impl AdminStore for SqlStore {
    /// Deletes every row that mentions `email`: rows keyed by its blind index (submissions,
    /// drafts, messages, outcomes, send log, suppressions, approved recipients, voice profiles,
    /// OAuth tokens of that account), rows hanging off those (draft events, workflow runs and
    /// steps), and jobs and settings whose text contains the address or the id of an erased
    /// draft or submission. Then appends a `contact.erase` audit entry holding only counts.
    ///
    /// Audit entries are never rewritten (that would break the chain): callers must keep
    /// personal data out of them, as [`NewAuditEntry`] asks.
    async fn erase_contact(&self, email: &EmailAddress, actor: &str) -> Result<ErasureReport> {
        self.check_text("actor", actor)?;
        let bidx = self.email_bidx(email);
        let needle = email.normalized().to_lowercase();
        let contains = self.contains_fn();
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

        // Free text that may quote the address or point at erased rows.
        let mut needles = vec![needle];
        needles.extend(drafts.iter().cloned());
        needles.extend(subs.iter().cloned());
        for n in &needles {
            let sql = format!(
                "DELETE FROM jobs WHERE {contains}(lower(payload), $1) > 0 \
                 OR {contains}(lower(COALESCE(idempotency_key, '')), $1) > 0 \
                 OR {contains}(lower(COALESCE(last_error, '')), $1) > 0"
            );
            let done = sqlx::query(AssertSqlSafe(sql))
                .bind(n.clone())
                .execute(&mut *tx)
                .await
                .map_err(db)?;
            count("jobs", done.rows_affected());
            let sql = format!(
                "DELETE FROM settings WHERE {contains}(lower(value), $1) > 0 \
                 OR {contains}(lower(key), $1) > 0"
            );
            let done = sqlx::query(AssertSqlSafe(sql))
                .bind(n.clone())
                .execute(&mut *tx)
                .await
                .map_err(db)?;
            count("settings", done.rows_affected());
        }

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
