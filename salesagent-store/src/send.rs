//! Send reservations against volume limits, the suppression list and approved recipients.

use crate::error::db;
use crate::{SqlStore, col, from_ts, ts};
use async_trait::async_trait;
use salesagent_core::Result;
use salesagent_core::model::{
    ApprovedRecipient, DraftId, EmailAddress, LimitScope, SendDecision, SendLimits,
    SendReservation, Suppression,
};
use salesagent_core::ports::SendStore;
use salesagent_core::sending::limits::{LimitWindow, Reservation, WindowSends};
use sha2::{Digest, Sha256};
use sqlx::{Any, AssertSqlSafe, Transaction};

/// The PostgreSQL advisory-lock key of one limit bucket.
fn lock_key(bucket: &str) -> i64 {
    let h = Sha256::digest(format!("salesagent send limit {bucket}").as_bytes());
    i64::from_be_bytes(h[..8].try_into().expect("8 bytes"))
}

impl SqlStore {
    /// The newest sends (at most `w.take`) counted against `w`'s scope key `value` after
    /// `w.since`.
    async fn window_sends(
        &self,
        tx: &mut Transaction<'static, Any>,
        w: &LimitWindow,
        value: &str,
    ) -> Result<WindowSends> {
        let column = match w.scope {
            LimitScope::Contact => "contact_bidx",
            LimitScope::Sender => "sender_bidx",
            LimitScope::Domain => "domain",
        };
        let sql = format!(
            "SELECT at FROM send_log WHERE {column} = $1 AND at > $2 ORDER BY at DESC LIMIT {}",
            w.take
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(value.to_owned())
            .bind(ts("since", w.since)?)
            .fetch_all(&mut **tx)
            .await
            .map_err(db)?;
        let times = rows
            .iter()
            .map(|r| col::<i64>(r, "at").map(from_ts))
            .collect::<Result<Vec<_>>>()?;
        Ok(WindowSends {
            limit: w.limit,
            times,
        })
    }

    async fn by_bidx<T: serde::de::DeserializeOwned>(
        &self,
        table: &'static str,
        bidx: String,
    ) -> Result<Option<T>> {
        let sql = format!("SELECT doc FROM {table} WHERE email_bidx = $1");
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(bidx.clone())
            .fetch_optional(self.pool())
            .await
            .map_err(db)?;
        row.map(|r| self.open(&format!("{table}:{bidx}"), &col::<String>(&r, "doc")?))
            .transpose()
    }
}

#[async_trait]
impl SendStore for SqlStore {
    /// Executes [`Reservation`] (the send-limit rule in core) in one transaction: suppression,
    /// every limit, then the record of the send.
    ///
    /// Concurrency: on SQLite the transaction is `BEGIN IMMEDIATE`, so reservations run one at a
    /// time under the database's single write lock. On PostgreSQL the transaction first takes
    /// transaction-scoped advisory locks (`pg_advisory_xact_lock`) on the three buckets the send
    /// counts against (its contact, its sender, its recipient domain), always in ascending key
    /// order so two reservers never deadlock. Any two reservations that share a bucket are
    /// therefore serialised, and because each statement under READ COMMITTED takes a fresh
    /// snapshot after the locks are held, the counts include every earlier reservation committed
    /// before the lock was released. Reservations on disjoint buckets run in parallel. This was
    /// chosen over SERIALIZABLE (which would need a retry loop for serialization failures) and
    /// over counter rows (rolling windows do not fit a single counter).
    async fn reserve_send(&self, r: &SendReservation, limits: &SendLimits) -> Result<SendDecision> {
        let rule = Reservation::new(r, limits);
        let contact = self.email_bidx(&r.contact);
        let sender = self.email_bidx(&r.sender);
        let domain = r.contact.domain().as_str().to_owned();
        let at = ts("at", r.at)?;
        let draft = r.draft_id.to_string();
        let mut tx = self.begin_write().await?;
        if self.is_pg() {
            let mut keys = vec![
                lock_key(&format!("contact:{contact}")),
                lock_key(&format!("sender:{sender}")),
                lock_key(&format!("domain:{domain}")),
            ];
            keys.sort_unstable();
            keys.dedup();
            for k in keys {
                sqlx::query("SELECT COUNT(*) FROM pg_advisory_xact_lock($1)")
                    .bind(k)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(db)?;
            }
        }
        let existing = sqlx::query("SELECT at FROM send_log WHERE draft_id = $1")
            .bind(draft.clone())
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?;
        if existing.is_some() {
            return Ok(Reservation::repeat());
        }
        let suppressed = sqlx::query("SELECT 1 AS x FROM suppressions WHERE email_bidx = $1")
            .bind(contact.clone())
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?;
        if suppressed.is_some() || self.erased_at(Some(&mut tx), &r.contact).await?.is_some() {
            return Ok(Reservation::suppressed());
        }
        if let Some(denied) = rule.zero_limit() {
            return Ok(denied);
        }
        let mut found = Vec::new();
        for w in rule.windows() {
            let value = match w.scope {
                LimitScope::Contact => &contact,
                LimitScope::Sender => &sender,
                LimitScope::Domain => &domain,
            };
            found.push(self.window_sends(&mut tx, &w, value).await?);
        }
        let decision = rule.decide(&found);
        if !decision.is_allow() {
            return Ok(decision);
        }
        sqlx::query(
            "INSERT INTO send_log (draft_id, contact_bidx, sender_bidx, domain, at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(draft)
        .bind(contact)
        .bind(sender)
        .bind(domain)
        .bind(at)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(decision)
    }

    async fn release_send(&self, draft: DraftId) -> Result<()> {
        sqlx::query("DELETE FROM send_log WHERE draft_id = $1")
            .bind(draft.to_string())
            .execute(self.pool())
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn suppress(&self, entry: &Suppression) -> Result<()> {
        let key = self.email_bidx(&entry.email);
        let doc = self.seal(&format!("suppressions:{key}"), entry)?;
        sqlx::query(
            "INSERT INTO suppressions (email_bidx, added_at, doc) VALUES ($1, $2, $3) \
             ON CONFLICT (email_bidx) DO UPDATE SET added_at = excluded.added_at, \
             doc = excluded.doc",
        )
        .bind(key)
        .bind(ts("added_at", entry.added_at)?)
        .bind(doc)
        .execute(self.pool())
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn unsuppress(&self, email: &EmailAddress) -> Result<bool> {
        let done = sqlx::query("DELETE FROM suppressions WHERE email_bidx = $1")
            .bind(self.email_bidx(email))
            .execute(self.pool())
            .await
            .map_err(db)?;
        Ok(done.rows_affected() > 0)
    }

    async fn suppression(&self, email: &EmailAddress) -> Result<Option<Suppression>> {
        let found = self.by_bidx("suppressions", self.email_bidx(email)).await?;
        if found.is_some() {
            return Ok(found);
        }
        // An erased address stays suppressed (its tombstone; no other record names it).
        Ok(self.erased_at(None, email).await?.map(|at| Suppression {
            email: email.clone(),
            reason: salesagent_core::model::SuppressionReason::Manual,
            note: Some("erased contact".to_owned()),
            added_at: at,
        }))
    }

    async fn list_suppressions(&self) -> Result<Vec<Suppression>> {
        let rows =
            sqlx::query("SELECT email_bidx, doc FROM suppressions ORDER BY added_at, email_bidx")
                .fetch_all(self.pool())
                .await
                .map_err(db)?;
        rows.iter()
            .map(|r| {
                let key: String = col(r, "email_bidx")?;
                self.open(&format!("suppressions:{key}"), &col::<String>(r, "doc")?)
            })
            .collect()
    }

    async fn add_approved_recipient(&self, recipient: &ApprovedRecipient) -> Result<()> {
        let key = self.email_bidx(&recipient.email);
        let doc = self.seal(&format!("approved_recipients:{key}"), recipient)?;
        sqlx::query(
            "INSERT INTO approved_recipients (email_bidx, added_at, doc) VALUES ($1, $2, $3) \
             ON CONFLICT (email_bidx) DO NOTHING",
        )
        .bind(key)
        .bind(ts("added_at", recipient.added_at)?)
        .bind(doc)
        .execute(self.pool())
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn remove_approved_recipient(&self, email: &EmailAddress) -> Result<bool> {
        let done = sqlx::query("DELETE FROM approved_recipients WHERE email_bidx = $1")
            .bind(self.email_bidx(email))
            .execute(self.pool())
            .await
            .map_err(db)?;
        Ok(done.rows_affected() > 0)
    }

    async fn is_approved_recipient(&self, email: &EmailAddress) -> Result<bool> {
        Ok(self
            .by_bidx::<ApprovedRecipient>("approved_recipients", self.email_bidx(email))
            .await?
            .is_some())
    }
}
