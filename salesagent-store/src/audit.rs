//! The append-only, hash-chained audit log.
//!
//! Each row stores the SHA-256 of its own fields and of the previous row's hash
//! ([`AuditEntry::compute_hash`]), so editing, removing or reordering any row breaks the chain
//! from that row on; [`verify_chain`] finds the first break. Appends are serialised (SQLite's
//! write lock, a PostgreSQL advisory lock) so concurrent appends never fork the chain.
//! Deleting the newest rows is not detectable from the chain alone: anchor the latest hash
//! elsewhere (a log line, a setting) if that matters.
//!
//! Details are sealed under a data key of the contact the entry concerns (`d1:<key id>:…`,
//! found through the subject: a draft's or a submission's id), or under the `system` data key;
//! the keys live wrapped by the master key in `contact_keys`. The hash covers the sealed text
//! ([`AuditEntry::sealed_details`]), so erasing a contact destroys its key, its entries' details
//! read as `{"erased": true}`, and the chain still verifies. Rows written before sealing hold
//! plain JSON and are hashed as before.

use crate::batch::Stmt;
use crate::crypto::Crypto;
use crate::error::db;
use crate::{SqlStore, col, from_ts, ts};
use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use salesagent_core::model::{
    AuditEntry, AuditVerification, EmailAddress, NewAuditEntry, verify_chain,
};
use salesagent_core::ports::AuditStore;
use salesagent_core::{Error, Result};
use sqlx::any::AnyRow;
use sqlx::{Any, AssertSqlSafe, Transaction};
use std::collections::HashMap;

/// Advisory-lock key serialising audit appends on PostgreSQL.
const AUDIT_LOCK: i64 = 0x5A_4155_4449_5401;

const AUDIT_COLS: &str = "seq, at, actor, action, subject, details, prev_hash, hash";

/// The `contact_keys` row of entries about no contact.
pub(crate) const SYSTEM_KEY: &str = "system";

/// An entry as stored: sealed details are kept as `sealed_details` (details `null`).
fn entry_raw(row: &AnyRow) -> Result<AuditEntry> {
    let details: String = col(row, "details")?;
    let (details, sealed_details) = if Crypto::data_key_id(&details).is_some() {
        (serde_json::Value::Null, Some(details))
    } else {
        (
            serde_json::from_str(&details)
                .map_err(|e| crate::error::json("audit_log.details", &e))?,
            None,
        )
    };
    Ok(AuditEntry {
        seq: u64::try_from(col::<i64>(row, "seq")?).unwrap_or(0),
        at: from_ts(col(row, "at")?),
        actor: col(row, "actor")?,
        action: col(row, "action")?,
        subject: col(row, "subject")?,
        details,
        sealed_details,
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
        self.append_audit_for(tx, entry, None).await
    }

    /// [`SqlStore::append_audit_in`] for an entry about `contact` (whose data key seals the
    /// details; `None`: the contact is found through the subject).
    pub(crate) async fn append_audit_for(
        &self,
        tx: &mut Transaction<'_, Any>,
        entry: &NewAuditEntry,
        contact: Option<&EmailAddress>,
    ) -> Result<AuditEntry> {
        let (stored, insert) = self.audit_insert_for(tx, entry, contact).await?;
        insert.execute(&mut **tx).await?;
        Ok(stored)
    }

    /// The blind index of the contact an entry's subject names (a draft or a submission id).
    async fn contact_of_subject(
        &self,
        tx: &mut Transaction<'_, Any>,
        subject: &str,
    ) -> Result<Option<String>> {
        if subject.parse::<uuid::Uuid>().is_err() {
            return Ok(None);
        }
        for table in ["drafts", "submissions"] {
            let sql = format!("SELECT contact_bidx FROM {table} WHERE id = $1");
            let row = sqlx::query(AssertSqlSafe(sql))
                .bind(subject.to_owned())
                .fetch_optional(&mut **tx)
                .await
                .map_err(db)?;
            if let Some(r) = row {
                return Ok(Some(col(&r, "contact_bidx")?));
            }
        }
        Ok(None)
    }

    /// Opens a `contact_keys` document: the data key.
    pub(crate) fn open_data_key(&self, key_id: &str, doc: &str) -> Result<[u8; 32]> {
        let ctx = format!("contact_keys:{key_id}");
        let json: serde_json::Value = self.open(&ctx, doc)?;
        json.get("key")
            .and_then(serde_json::Value::as_str)
            .and_then(|k| B64.decode(k).ok())
            .and_then(|k| <[u8; 32]>::try_from(k).ok())
            .ok_or_else(|| Error::backend(format!("{ctx}: data key is malformed")))
    }

    /// A new random data key for `contact_bidx`: its id, the key, and the statement storing it
    /// (doing nothing when the contact has a key already if `or_nothing`; failing otherwise).
    pub(crate) fn new_data_key(
        &self,
        contact_bidx: &str,
        email: Option<&EmailAddress>,
        or_nothing: bool,
    ) -> Result<(String, [u8; 32], Stmt)> {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let key = Crypto::random_key()?;
        let doc = serde_json::json!({
            "email": email.map(EmailAddress::normalized),
            "key": B64.encode(key),
        });
        let mut sql = String::from(
            "INSERT INTO contact_keys (key_id, contact_bidx, created_at, doc) \
             VALUES ($1, $2, $3, $4)",
        );
        if or_nothing {
            sql.push_str(" ON CONFLICT (contact_bidx) DO NOTHING");
        }
        let insert = Stmt::new(sql)
            .bind(id.clone())
            .bind(contact_bidx.to_owned())
            .bind(ts("now", self.now())?)
            .bind(self.seal(&format!("contact_keys:{id}"), &doc)?);
        Ok((id, key, insert))
    }

    /// The data key of `contact_bidx` (made on first use), with its id.
    pub(crate) async fn data_key_in(
        &self,
        tx: &mut Transaction<'_, Any>,
        contact_bidx: &str,
        email: Option<&EmailAddress>,
    ) -> Result<(String, [u8; 32])> {
        for attempt in 0..2 {
            let row = sqlx::query("SELECT key_id, doc FROM contact_keys WHERE contact_bidx = $1")
                .bind(contact_bidx.to_owned())
                .fetch_optional(&mut **tx)
                .await
                .map_err(db)?;
            if let Some(r) = row {
                let id: String = col(&r, "key_id")?;
                let key = self.open_data_key(&id, &col::<String>(&r, "doc")?)?;
                return Ok((id, key));
            }
            if attempt > 0 {
                break;
            }
            let (id, key, insert) = self.new_data_key(contact_bidx, email, true)?;
            if insert.execute(&mut **tx).await?.rows_affected() == 1 {
                return Ok((id, key));
            }
        }
        Err(Error::backend(
            "contact_keys: the data key could not be stored",
        ))
    }

    /// Entries as read: details opened under their data keys (`{"erased": true}` when the key
    /// was destroyed by an erase).
    async fn open_entries(&self, rows: &[AnyRow]) -> Result<Vec<AuditEntry>> {
        let mut keys: HashMap<String, Option<[u8; 32]>> = HashMap::new();
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let mut e = entry_raw(r)?;
            if let Some(sealed) = &e.sealed_details
                && let Some(id) = Crypto::data_key_id(sealed)
            {
                if !keys.contains_key(id) {
                    let row = sqlx::query("SELECT doc FROM contact_keys WHERE key_id = $1")
                        .bind(id.to_owned())
                        .fetch_optional(self.pool())
                        .await
                        .map_err(db)?;
                    let key = row
                        .map(|r| self.open_data_key(id, &col::<String>(&r, "doc")?))
                        .transpose()?;
                    keys.insert(id.to_owned(), key);
                }
                e.details = match keys.get(id).copied().flatten() {
                    Some(key) => {
                        let ctx = format!("audit_log:{}", e.seq);
                        let json = Crypto::open_with(&key, &ctx, sealed)?;
                        serde_json::from_str(&json)
                            .map_err(|err| crate::error::json("audit_log.details", &err))?
                    }
                    None => serde_json::json!({ "erased": true }),
                };
            }
            out.push(e);
        }
        Ok(out)
    }

    /// Inside an open write transaction, takes the append lock, reads the chain's head and
    /// returns the entry chained to it with the statement that inserts it (which must run
    /// in the same transaction); `contact` names the contact whose data key seals the details
    /// (`None`: the contact is found through the subject, else the `system` key).
    pub(crate) async fn audit_insert_for(
        &self,
        tx: &mut Transaction<'_, Any>,
        entry: &NewAuditEntry,
        contact: Option<&EmailAddress>,
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
        let bidx = match contact {
            Some(c) => Some(self.email_bidx(c)),
            None => self.contact_of_subject(tx, &entry.subject).await?,
        };
        let (key_id, key) = self
            .data_key_in(tx, bidx.as_deref().unwrap_or(SYSTEM_KEY), contact)
            .await?;
        self.audit_insert_after(entry, prev_seq, prev_hash, &key_id, &key)
    }

    /// The entry chained to the head `prev_seq`/`prev_hash` (0 and empty: the log is empty),
    /// details sealed under the data key `key_id`, with the statement inserting it (to run in
    /// the write transaction the head was read in, on SQLite under its write lock).
    pub(crate) fn audit_insert_after(
        &self,
        entry: &NewAuditEntry,
        prev_seq: i64,
        prev_hash: String,
        key_id: &str,
        key: &[u8; 32],
    ) -> Result<(AuditEntry, Stmt)> {
        for (field, v) in [
            ("actor", &entry.actor),
            ("action", &entry.action),
            ("subject", &entry.subject),
        ] {
            self.check_text(field, v)?;
        }
        // Whole microseconds: the hash covers the time at that precision.
        let now = self.now();
        let at = from_ts(ts("now", now)? / 1_000 * 1_000);
        let seq = u64::try_from(prev_seq).unwrap_or(0) + 1;
        let sealed = Crypto::seal_with(
            key_id,
            key,
            &format!("audit_log:{seq}"),
            &entry.details.to_string(),
        )?;
        let stored = AuditEntry::chained_sealed(prev_hash, seq, at, entry, sealed);
        let insert = Stmt::new(format!(
            "INSERT INTO audit_log ({AUDIT_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        ))
        .bind(prev_seq + 1)
        .bind(ts("at", at)?)
        .bind(stored.actor.clone())
        .bind(stored.action.clone())
        .bind(stored.subject.clone())
        .bind(stored.sealed_details.clone())
        .bind(stored.prev_hash.clone())
        .bind(stored.hash.clone());
        Ok((stored, insert))
    }
}

#[async_trait]
impl AuditStore for SqlStore {
    async fn append_audit(&self, entry: &NewAuditEntry) -> Result<AuditEntry> {
        let (_gate, mut tx) = self.begin_gated().await?;
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
        self.open_entries(&rows).await
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
            match entry_raw(r) {
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
