//! Send reservations against volume limits, the suppression list and approved recipients.

use crate::error::db;
use crate::{SqlStore, col, from_ts, ts};
use async_trait::async_trait;
use salesagent_core::Result;
use salesagent_core::model::{
    ApprovedRecipient, DraftId, EmailAddress, SendDecision, SendLimits, SendReservation,
    Suppression,
};
use salesagent_core::ports::SendStore;
use sha2::{Digest, Sha256};
use sqlx::{Any, AssertSqlSafe, Transaction};

const DAY_NS: i64 = 86_400 * 1_000_000_000;
const WEEK_NS: i64 = 7 * DAY_NS;

/// The PostgreSQL advisory-lock key of one limit bucket.
fn lock_key(bucket: &str) -> i64 {
    let h = Sha256::digest(format!("salesagent send limit {bucket}").as_bytes());
    i64::from_be_bytes(h[..8].try_into().expect("8 bytes"))
}

/// One rolling-window limit to check.
struct Bucket {
    column: &'static str,
    value: String,
    window_ns: i64,
    limit: u32,
    label: &'static str,
}

impl SqlStore {
    /// When `bucket` is full at `at`, the time its oldest counted send leaves the window.
    async fn full_until(
        &self,
        tx: &mut Transaction<'static, Any>,
        b: &Bucket,
        at: i64,
    ) -> Result<Option<i64>> {
        let since = at.saturating_sub(b.window_ns);
        let sql = format!(
            "SELECT COUNT(*) AS n FROM send_log WHERE {} = $1 AND at > $2",
            b.column
        );
        let n: i64 = col(
            &sqlx::query(AssertSqlSafe(sql))
                .bind(b.value.clone())
                .bind(since)
                .fetch_one(&mut **tx)
                .await
                .map_err(db)?,
            "n",
        )?;
        if n < i64::from(b.limit) {
            return Ok(None);
        }
        // The (n - limit + 1)-th oldest send must leave the window before one more fits.
        let sql = format!(
            "SELECT at FROM send_log WHERE {} = $1 AND at > $2 ORDER BY at LIMIT 1 OFFSET {}",
            b.column,
            n - i64::from(b.limit)
        );
        let oldest: i64 = col(
            &sqlx::query(AssertSqlSafe(sql))
                .bind(b.value.clone())
                .bind(since)
                .fetch_one(&mut **tx)
                .await
                .map_err(db)?,
            "at",
        )?;
        Ok(Some(oldest.saturating_add(b.window_ns).saturating_add(1)))
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
    /// Checks suppression and every limit, then records the send, all in one transaction.
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
            return Ok(SendDecision::Allow);
        }
        let suppressed = sqlx::query("SELECT 1 AS x FROM suppressions WHERE email_bidx = $1")
            .bind(contact.clone())
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?;
        if suppressed.is_some() || self.erased_at(Some(&mut tx), &r.contact).await?.is_some() {
            return Ok(SendDecision::Deny {
                reason: "recipient is on the suppression list".into(),
            });
        }
        let buckets = [
            Bucket {
                column: "contact_bidx",
                value: contact.clone(),
                window_ns: WEEK_NS,
                limit: limits.per_contact_week,
                label: "per-contact weekly limit",
            },
            Bucket {
                column: "contact_bidx",
                value: contact.clone(),
                window_ns: DAY_NS,
                limit: limits.per_contact_day,
                label: "per-contact daily limit",
            },
            Bucket {
                column: "sender_bidx",
                value: sender.clone(),
                window_ns: DAY_NS,
                limit: limits.per_sender_day,
                label: "per-sender daily limit",
            },
            Bucket {
                column: "domain",
                value: domain.clone(),
                window_ns: DAY_NS,
                limit: limits.per_domain_day,
                label: "per-domain daily limit",
            },
        ];
        let mut defer: Option<(i64, Vec<String>)> = None;
        for b in &buckets {
            if b.limit == 0 {
                return Ok(SendDecision::Deny {
                    reason: format!("{} is 0", b.label),
                });
            }
            if let Some(until) = self.full_until(&mut tx, b, at).await? {
                let reason = format!("{} ({}) reached", b.label, b.limit);
                defer = Some(match defer {
                    None => (until, vec![reason]),
                    Some((u, mut rs)) => {
                        rs.push(reason);
                        (u.max(until), rs)
                    }
                });
            }
        }
        if let Some((until, reasons)) = defer {
            return Ok(SendDecision::Defer {
                until: from_ts(until),
                reason: reasons.join("; "),
            });
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
        Ok(SendDecision::Allow)
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
