//! Sealing a plaintext database in place (`keys encrypt`) and key rotation (`keys rotate`).
//!
//! Both are one operation, [`SqlStoreBuilder::reseal`]: every sealed value is opened under the
//! keys the database uses today (or as plaintext) and sealed again under the new key, and every
//! blind index is re-derived under the new key from the value it indexes (the addresses are
//! inside the sealed documents). Audit details are sealed under data keys, which are re-wrapped
//! (the audit rows themselves are never rewritten, so the hash chain still verifies). Erasure
//! tombstones cannot be re-derived (the addresses are gone): their random key is re-wrapped.
//!
//! The work is done table by table, each in batches of committed transactions; a table that
//! is finished is marked in `store_meta` (`reseal_done:<table>`), with the new key's id in
//! `reseal_target`. An interrupted run is resumed by running it again with the same keys:
//! re-sealing is idempotent (a value already under the new key opens, a blind index already
//! re-derived is derived again to the same hash). Only when every table is done does
//! `store_meta.blind_index_key` name the new key and the markers go; from then on the old key
//! can be removed. Run it with the workers stopped: until it ends, lookups by address may miss.

use crate::batch::Stmt;
use crate::crypto::{Crypto, EncryptionKey};
use crate::error::db;
use crate::{KeySource, SqlStore, SqlStoreBuilder, col};
use salesagent_core::model::EmailAddress;
use salesagent_core::{Error, Result};
use serde_json::Value;
use sqlx::any::AnyRow;
use sqlx::{AnyPool, AssertSqlSafe};
use std::collections::{BTreeMap, HashMap};

/// What [`SqlStoreBuilder::reseal`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResealReport {
    /// Values re-sealed (or blind indexes re-derived) per table.
    pub per_table: BTreeMap<String, u64>,
    /// Tables skipped because an earlier, interrupted run had finished them.
    pub resumed: Vec<String>,
    /// The id of the key everything is sealed under now.
    pub key_id: String,
}

/// Rows written per transaction.
const BATCH: usize = 200;

/// The tables re-sealed, in order; `send_log` (blind indexes only) comes last.
pub(crate) const RESEAL_TABLES: [&str; 16] = [
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
    "contact_keys",
    "jobs",
    "workflow_steps",
    "settings",
    "store_meta",
    "send_log",
];

/// Reads a stored value that may predate sealing (unprefixed JSON in `jobs.payload`).
fn open_any(c: &Crypto, ctx: &str, stored: &str) -> Result<String> {
    if stored.starts_with("p:") || stored.starts_with("e1:") {
        c.open(ctx, stored)
    } else {
        Ok(stored.to_owned())
    }
}

fn email_at(doc: &Value, path: &[&str]) -> Option<EmailAddress> {
    let mut v = doc;
    for p in path {
        v = v.get(p)?;
    }
    v.as_str().and_then(|s| EmailAddress::parse(s).ok())
}

struct Rekey {
    from: Crypto,
    to: Crypto,
    /// Old blind index to new, for every address seen (send_log has no documents).
    map: HashMap<String, String>,
}

impl Rekey {
    fn email(&mut self, e: &EmailAddress) -> String {
        let label = format!("email:{}", e.normalized());
        let new = self.to.bidx(&label);
        self.map.insert(self.from.bidx(&label), new.clone());
        new
    }
}

async fn rows(pool: &AnyPool, sql: &str) -> Result<Vec<AnyRow>> {
    sqlx::query(AssertSqlSafe(sql.to_owned()))
        .fetch_all(pool)
        .await
        .map_err(db)
}

async fn meta(pool: &AnyPool, key: &str) -> Result<Option<String>> {
    sqlx::query("SELECT value FROM store_meta WHERE key = $1")
        .bind(key.to_owned())
        .fetch_optional(pool)
        .await
        .map_err(db)?
        .map(|r| col::<String>(&r, "value"))
        .transpose()
}

fn put_meta(key: &str, value: &str) -> Stmt {
    Stmt::new(
        "INSERT INTO store_meta (key, value) VALUES ($1, $2) \
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    )
    .bind(key)
    .bind(value)
}

impl SqlStoreBuilder {
    /// Seals every value under `new_key` and re-derives every blind index from it: `keys
    /// encrypt` (a database written without a key: connect [`without_encryption`]) and `keys
    /// rotate` (the current key set with [`encryption_key`], older ones with
    /// [`decryption_key`]). Afterwards only `new_key` is needed. Resumable: see the module
    /// documentation of `keys.rs` (markers in `store_meta`).
    ///
    /// Errors: [`Error::Backend`] when a value does not open under the configured keys (nothing
    /// of that batch is written), or when another re-seal to a different key was interrupted
    /// (finish that one first).
    ///
    /// [`without_encryption`]: SqlStoreBuilder::without_encryption
    /// [`encryption_key`]: SqlStoreBuilder::encryption_key
    /// [`decryption_key`]: SqlStoreBuilder::decryption_key
    pub async fn reseal(self, new_key: EncryptionKey) -> Result<ResealReport> {
        sqlx::any::install_default_drivers();
        let backend = crate::backend_of(&self.url)?;
        let pool = match self.pool.clone() {
            Some(p) => p,
            None => self.open_pool(backend).await?,
        };
        if self.migrate {
            crate::migrate_pool(&pool, backend).await?;
        }
        let mut keys: Vec<EncryptionKey> = Vec::new();
        match &self.key {
            KeySource::Env => keys.extend(EncryptionKey::from_env()?),
            KeySource::Given(k) => keys.push(k.clone()),
            KeySource::Disabled => {}
        }
        keys.extend(self.old_keys.iter().cloned());
        keys.push(new_key.clone());
        // The sealing key of the reader is irrelevant (it only opens): put the new key first.
        keys.rotate_right(1);
        let recorded = meta(&pool, "blind_index_key").await?;
        let target = meta(&pool, "reseal_target").await?;
        if let Some(t) = &target
            && t != new_key.id()
        {
            return Err(Error::backend(format!(
                "an interrupted re-seal to key {t} is unfinished: run it again with that key"
            )));
        }
        // Blind indexes are read under the key the database records until the very end.
        let from = Crypto::reader(&keys, recorded.as_deref())?;
        let to = Crypto::new(Some(&new_key), &[], None)?;
        // A store handle sealing under the new key (for transactions and timestamps).
        let store = SqlStore {
            inner: std::sync::Arc::new(crate::Inner {
                pool: pool.clone(),
                intake: None,
                gate: (backend == crate::Backend::Sqlite).then(crate::gate::WriteGate::default),
                backend,
                crypto: Crypto::new(Some(&new_key), &[], None)?,
                clock: self.clock.clone(),
                retry: self.retry,
            }),
        };
        let mut report = ResealReport {
            key_id: new_key.id().to_owned(),
            ..ResealReport::default()
        };
        store
            .exec_all(vec![put_meta("reseal_target", new_key.id())])
            .await?;
        let mut rk = Rekey {
            from,
            to,
            map: HashMap::new(),
        };
        for table in RESEAL_TABLES {
            let done = meta(&pool, &format!("reseal_done:{table}"))
                .await?
                .is_some();
            // The address map is rebuilt even for finished tables (send_log needs it).
            let stmts = rk.table(&pool, table).await?;
            if done {
                report.resumed.push(table.to_owned());
                continue;
            }
            let n = stmts.len() as u64;
            for chunk in stmts.chunks(BATCH) {
                store.exec_all(chunk.to_vec()).await?;
            }
            store
                .exec_all(vec![put_meta(&format!("reseal_done:{table}"), "1")])
                .await?;
            if n > 0 {
                report.per_table.insert(table.to_owned(), n);
            }
        }
        let mut finish = vec![put_meta("blind_index_key", new_key.id())];
        finish.push(Stmt::new(
            "DELETE FROM store_meta WHERE key = 'reseal_target'",
        ));
        for table in RESEAL_TABLES {
            finish.push(
                Stmt::new("DELETE FROM store_meta WHERE key = $1")
                    .bind(format!("reseal_done:{table}")),
            );
        }
        store.exec_all(finish).await?;
        if self.pool.is_none() {
            pool.close().await;
        }
        Ok(report)
    }
}

impl SqlStore {
    /// Runs `stmts` in one write transaction.
    async fn exec_all(&self, stmts: Vec<Stmt>) -> Result<()> {
        let (_gate, mut tx) = self.begin_gated().await?;
        for s in stmts {
            s.execute(&mut *tx).await?;
        }
        tx.commit().await.map_err(db)
    }
}

impl Rekey {
    /// The updates that re-seal `table`.
    async fn table(&mut self, pool: &AnyPool, table: &str) -> Result<Vec<Stmt>> {
        let mut out = Vec::new();
        match table {
            "submissions" | "drafts" | "messages" | "outcomes" | "sequences" => {
                let (pk, path): (&str, &[&[&str]]) = match table {
                    "submissions" => ("id", &[&["lead", "email"]]),
                    "drafts" | "sequences" => ("id", &[&["contact_email"]]),
                    "messages" => ("message_id", &[&["contact_email"]]),
                    _ => ("id", &[&["contact_email"], &["sender"]]),
                };
                for r in rows(pool, &format!("SELECT {pk}, doc FROM {table}")).await? {
                    let id: String = col(&r, pk)?;
                    let ctx = format!("{table}:{id}");
                    let json = self.from.open(&ctx, &col::<String>(&r, "doc")?)?;
                    let doc: Value =
                        serde_json::from_str(&json).map_err(|e| crate::error::json(&ctx, &e))?;
                    let contact = email_at(&doc, path[0])
                        .map(|e| self.email(&e))
                        .ok_or_else(|| Error::backend(format!("{ctx}: no contact address")))?;
                    let mut s = Stmt::new(format!(
                        "UPDATE {table} SET doc = $1, contact_bidx = $2{} WHERE {pk} = ${}",
                        if path.len() > 1 {
                            ", sender_bidx = $3"
                        } else {
                            ""
                        },
                        path.len() + 2
                    ))
                    .bind(self.to.seal(&ctx, &json)?)
                    .bind(contact);
                    if let Some(p) = path.get(1) {
                        s = s.bind(email_at(&doc, p).map(|e| self.email(&e)));
                    }
                    out.push(s.bind(id));
                }
            }
            "draft_events" => {
                for r in rows(pool, "SELECT seq, draft_id, doc FROM draft_events").await? {
                    let ctx = format!("draft_events:{}", col::<String>(&r, "draft_id")?);
                    let json = self.from.open(&ctx, &col::<String>(&r, "doc")?)?;
                    out.push(
                        Stmt::new("UPDATE draft_events SET doc = $1 WHERE seq = $2")
                            .bind(self.to.seal(&ctx, &json)?)
                            .bind(col::<i64>(&r, "seq")?),
                    );
                }
            }
            "voice_profiles" => {
                let sql = "SELECT owner_bidx, name, version, doc FROM voice_profiles";
                for r in rows(pool, sql).await? {
                    let owner: String = col(&r, "owner_bidx")?;
                    let name: String = col(&r, "name")?;
                    let ctx = format!("voice_profiles:{owner}:{name}");
                    let json = self.from.open(&ctx, &col::<String>(&r, "doc")?)?;
                    let doc: Value =
                        serde_json::from_str(&json).map_err(|e| crate::error::json(&ctx, &e))?;
                    let new = email_at(&doc, &["owner"])
                        .map(|e| self.email(&e))
                        .ok_or_else(|| Error::backend(format!("{ctx}: no owner")))?;
                    out.push(
                        Stmt::new(
                            "UPDATE voice_profiles SET owner_bidx = $1, doc = $2 \
                             WHERE owner_bidx = $3 AND name = $4 AND version = $5",
                        )
                        .bind(new.clone())
                        .bind(
                            self.to
                                .seal(&format!("voice_profiles:{new}:{name}"), &json)?,
                        )
                        .bind(owner)
                        .bind(name)
                        .bind(col::<i64>(&r, "version")?),
                    );
                }
            }
            "approved_recipients" | "suppressions" => {
                let sql = format!("SELECT email_bidx, doc FROM {table}");
                for r in rows(pool, &sql).await? {
                    let old: String = col(&r, "email_bidx")?;
                    let json = self
                        .from
                        .open(&format!("{table}:{old}"), &col::<String>(&r, "doc")?)?;
                    let doc: Value =
                        serde_json::from_str(&json).map_err(|e| crate::error::json(table, &e))?;
                    let new = email_at(&doc, &["email"])
                        .map(|e| self.email(&e))
                        .ok_or_else(|| Error::backend(format!("{table}: no address")))?;
                    out.push(
                        Stmt::new(format!(
                            "UPDATE {table} SET email_bidx = $1, doc = $2 WHERE email_bidx = $3"
                        ))
                        .bind(new.clone())
                        .bind(self.to.seal(&format!("{table}:{new}"), &json)?)
                        .bind(old),
                    );
                }
            }
            "oauth_tokens" => {
                for r in rows(pool, "SELECT account_bidx, doc FROM oauth_tokens").await? {
                    let old: String = col(&r, "account_bidx")?;
                    let json = self
                        .from
                        .open(&format!("oauth_tokens:{old}"), &col::<String>(&r, "doc")?)?;
                    let doc: Value = serde_json::from_str(&json)
                        .map_err(|e| crate::error::json("oauth_tokens", &e))?;
                    let account = doc
                        .get("account")
                        .and_then(Value::as_str)
                        .ok_or_else(|| Error::backend("oauth_tokens: no account"))?;
                    let new = self.to.bidx(&format!("account:{account}"));
                    out.push(
                        Stmt::new(
                            "UPDATE oauth_tokens SET account_bidx = $1, doc = $2 \
                             WHERE account_bidx = $3",
                        )
                        .bind(new.clone())
                        .bind(self.to.seal(&format!("oauth_tokens:{new}"), &json)?)
                        .bind(old),
                    );
                }
            }
            "contact_keys" => {
                let sql = "SELECT key_id, contact_bidx, doc FROM contact_keys";
                for r in rows(pool, sql).await? {
                    let id: String = col(&r, "key_id")?;
                    let old: String = col(&r, "contact_bidx")?;
                    let ctx = format!("contact_keys:{id}");
                    let json = self.from.open(&ctx, &col::<String>(&r, "doc")?)?;
                    let doc: Value = serde_json::from_str(&json)
                        .map_err(|e| crate::error::json("contact_keys", &e))?;
                    let new = match email_at(&doc, &["email"]) {
                        Some(e) => self.email(&e),
                        // Made for an audit entry whose subject named the contact's draft or
                        // submission: re-derived through the address those documents hold.
                        None => self.map.get(&old).cloned().unwrap_or(old),
                    };
                    out.push(
                        Stmt::new(
                            "UPDATE contact_keys SET contact_bidx = $1, doc = $2 WHERE key_id = $3",
                        )
                        .bind(new)
                        .bind(self.to.seal(&ctx, &json)?)
                        .bind(id),
                    );
                }
            }
            "jobs" => {
                for r in rows(pool, "SELECT id, payload, last_error FROM jobs").await? {
                    let id: String = col(&r, "id")?;
                    let ctx = format!("jobs:{id}");
                    let payload = open_any(&self.from, &ctx, &col::<String>(&r, "payload")?)?;
                    let ectx = format!("jobs.last_error:{id}");
                    let err = col::<Option<String>>(&r, "last_error")?
                        .map(|e| open_any(&self.from, &ectx, &e))
                        .transpose()?
                        .map(|e| self.to.seal(&ectx, &e))
                        .transpose()?;
                    out.push(
                        Stmt::new("UPDATE jobs SET payload = $1, last_error = $2 WHERE id = $3")
                            .bind(self.to.seal(&ctx, &payload)?)
                            .bind(err)
                            .bind(id),
                    );
                }
            }
            "workflow_steps" => {
                let sql = "SELECT run_id, position, error FROM workflow_steps \
                           WHERE error IS NOT NULL";
                for r in rows(pool, sql).await? {
                    let run: String = col(&r, "run_id")?;
                    let pos: i64 = col(&r, "position")?;
                    let ctx = format!("workflow_steps:{run}:{pos}");
                    let e = open_any(&self.from, &ctx, &col::<String>(&r, "error")?)?;
                    out.push(
                        Stmt::new(
                            "UPDATE workflow_steps SET error = $1 \
                             WHERE run_id = $2 AND position = $3",
                        )
                        .bind(self.to.seal(&ctx, &e)?)
                        .bind(run)
                        .bind(pos),
                    );
                }
            }
            "settings" => {
                for r in rows(pool, "SELECT key, value FROM settings").await? {
                    let key: String = col(&r, "key")?;
                    let ctx = format!("settings:{key}");
                    let v = open_any(&self.from, &ctx, &col::<String>(&r, "value")?)?;
                    out.push(
                        Stmt::new("UPDATE settings SET value = $1 WHERE key = $2")
                            .bind(self.to.seal(&ctx, &v)?)
                            .bind(key),
                    );
                }
            }
            "store_meta" => {
                let ctx = "store_meta:tombstone_key";
                if let Some(v) = meta(pool, "tombstone_key").await? {
                    let key = self.from.unwrap_key(ctx, &v)?;
                    out.push(put_meta("tombstone_key", &self.to.wrap_key(ctx, &key)?));
                }
            }
            "send_log" => {
                for r in rows(
                    pool,
                    "SELECT draft_id, contact_bidx, sender_bidx FROM send_log",
                )
                .await?
                {
                    let c: String = col(&r, "contact_bidx")?;
                    let s: String = col(&r, "sender_bidx")?;
                    // An address no document names any more keeps its old hash (it matches
                    // nothing after the rotation: the address is unknown).
                    if !self.map.contains_key(&c) && !self.map.contains_key(&s) {
                        continue;
                    }
                    let nc = self.map.get(&c).unwrap_or(&c);
                    let ns = self.map.get(&s).unwrap_or(&s);
                    out.push(
                        Stmt::new(
                            "UPDATE send_log SET contact_bidx = $1, sender_bidx = $2 \
                             WHERE draft_id = $3",
                        )
                        .bind(nc.clone())
                        .bind(ns.clone())
                        .bind(col::<String>(&r, "draft_id")?),
                    );
                }
            }
            other => return Err(Error::backend(format!("reseal: unknown table {other}"))),
        }
        Ok(out)
    }
}
