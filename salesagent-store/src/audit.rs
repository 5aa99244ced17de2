//! The append-only, hash-chained audit log.
//!
//! Each row stores the SHA-256 of its own fields and of the previous row's hash
//! ([`AuditEntry::compute_hash`]), so editing, removing or reordering any row breaks the chain
//! from that row on; [`verify_chain`] finds the first break. Appends are serialised (SQLite's
//! write lock, a PostgreSQL advisory lock) so concurrent appends never fork the chain.
//! Deleting the newest rows is not detectable from the chain alone: anchor the latest hash
//! elsewhere (a log line, a setting) if that matters.

use crate::batch::Stmt;
use crate::error::db;
use crate::{SqlStore, col, from_ts, ts};
use async_trait::async_trait;
use salesagent_core::model::{AuditEntry, AuditVerification, NewAuditEntry, verify_chain};
use salesagent_core::ports::AuditStore;
use salesagent_core::{Error, Result};
use sqlx::any::AnyRow;
use sqlx::{Any, AssertSqlSafe, Transaction};

/// Advisory-lock key serialising audit appends on PostgreSQL.
const AUDIT_LOCK: i64 = 0x5A_4155_4449_5401;

const AUDIT_COLS: &str = "seq, at, actor, action, subject, details, prev_hash, hash";

fn entry_from(row: &AnyRow) -> Result<AuditEntry> {
    let details: String = col(row, "details")?;
    Ok(AuditEntry {
        seq: u64::try_from(col::<i64>(row, "seq")?).unwrap_or(0),
        at: from_ts(col(row, "at")?),
        actor: col(row, "actor")?,
        action: col(row, "action")?,
        subject: col(row, "subject")?,
        details: serde_json::from_str(&details)
            .map_err(|e| crate::error::json("audit_log.details", &e))?,
        prev_hash: col(row, "prev_hash")?,
        hash: col(row, "hash")?,
    })
}

impl SqlStore {
    /// Appends inside an open write transaction (also used by `erase_contact`).
    pub(crate) async fn append_audit_in(
        &self,
        tx: &mut Transaction<'_, Any>,
        entry: &NewAuditEntry,
    ) -> Result<AuditEntry> {
        let (stored, insert) = self.audit_insert(tx, entry).await?;
        insert.execute(&mut **tx).await?;
        Ok(stored)
    }

    /// Inside an open write transaction, takes the append lock, reads the chain's head and
    /// returns the entry chained to it with the statement that inserts it (which must run
    /// in the same transaction).
    pub(crate) async fn audit_insert(
        &self,
        tx: &mut Transaction<'_, Any>,
        entry: &NewAuditEntry,
    ) -> Result<(AuditEntry, Stmt)> {
        for (field, v) in [
            ("actor", &entry.actor),
            ("action", &entry.action),
            ("subject", &entry.subject),
        ] {
            self.check_text(field, v)?;
        }
        if self.is_pg() {
            sqlx::query("SELECT COUNT(*) FROM pg_advisory_xact_lock($1)")
                .bind(AUDIT_LOCK)
                .fetch_one(&mut **tx)
                .await
                .map_err(db)?;
        }
        let last = sqlx::query("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
            .fetch_optional(&mut **tx)
            .await
            .map_err(db)?;
        let (prev_seq, prev_hash) = match last {
            Some(r) => (col::<i64>(&r, "seq")?, col::<String>(&r, "hash")?),
            None => (0, String::new()),
        };
        // Whole microseconds: the hash covers the time at that precision.
        let now = self.now();
        let at = from_ts(ts("now", now)? / 1_000 * 1_000);
        let seq = u64::try_from(prev_seq).unwrap_or(0) + 1;
        let stored = AuditEntry::chained(prev_hash, seq, at, entry);
        let insert = Stmt::new(format!(
            "INSERT INTO audit_log ({AUDIT_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        ))
        .bind(prev_seq + 1)
        .bind(ts("at", at)?)
        .bind(stored.actor.clone())
        .bind(stored.action.clone())
        .bind(stored.subject.clone())
        .bind(stored.details.to_string())
        .bind(stored.prev_hash.clone())
        .bind(stored.hash.clone());
        Ok((stored, insert))
    }
}

#[async_trait]
impl AuditStore for SqlStore {
    async fn append_audit(&self, entry: &NewAuditEntry) -> Result<AuditEntry> {
        let mut tx = self.begin_write().await?;
        let stored = self.append_audit_in(&mut tx, entry).await?;
        tx.commit().await.map_err(db)?;
        Ok(stored)
    }

    async fn audit_entries(&self, after: u64, limit: u32) -> Result<Vec<AuditEntry>> {
        let after = i64::try_from(after).map_err(|_| Error::invalid("after", "is too large"))?;
        let mut sql = format!("SELECT {AUDIT_COLS} FROM audit_log WHERE seq > $1 ORDER BY seq");
        if limit > 0 {
            sql.push_str(&format!(" LIMIT {limit}"));
        }
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(after)
            .fetch_all(self.pool())
            .await
            .map_err(db)?;
        rows.iter().map(entry_from).collect()
    }

    async fn verify_audit_chain(&self) -> Result<AuditVerification> {
        // A row whose details no longer parse was tampered with: report it as the break.
        let sql = format!("SELECT {AUDIT_COLS} FROM audit_log ORDER BY seq");
        let rows = sqlx::query(AssertSqlSafe(sql))
            .fetch_all(self.pool())
            .await
            .map_err(db)?;
        let mut entries = Vec::with_capacity(rows.len());
        for (i, r) in rows.iter().enumerate() {
            match entry_from(r) {
                Ok(e) => entries.push(e),
                Err(_) => {
                    let v = verify_chain(&entries);
                    return Ok(AuditVerification {
                        entries: rows.len() as u64,
                        first_broken_seq: v.first_broken_seq.or(Some(i as u64 + 1)),
                    });
                }
            }
        }
        Ok(verify_chain(&entries))
    }
}
