//! Follow-up sequences (table `sequences`, migration 0006): one sealed document per contact,
//! written with optimistic versions together with the step jobs.

use crate::batch::Stmt;
use crate::error::db;
use crate::{SqlStore, col, ts};
use async_trait::async_trait;
use salesagent_core::model::{EmailAddress, NewJob};
use salesagent_core::ports::SequenceStore;
use salesagent_core::sequences::{Sequence, SequenceFilter};
use salesagent_core::{Error, Result};
use sqlx::any::AnyRow;

impl SqlStore {
    fn sequence_from(&self, row: &AnyRow) -> Result<Sequence> {
        let id: String = col(row, "id")?;
        self.open(&format!("sequences:{id}"), &col::<String>(row, "doc")?)
    }
}

#[async_trait]
impl SequenceStore for SqlStore {
    async fn get_sequence(&self, contact: &EmailAddress) -> Result<Option<Sequence>> {
        let row = sqlx::query("SELECT id, doc FROM sequences WHERE contact_bidx = $1")
            .bind(self.email_bidx(contact))
            .fetch_optional(self.pool())
            .await
            .map_err(db)?;
        row.as_ref().map(|r| self.sequence_from(r)).transpose()
    }

    async fn save_sequence(
        &self,
        sequence: &Sequence,
        expected_version: Option<u32>,
        jobs: &[NewJob],
    ) -> Result<()> {
        if expected_version.is_some_and(|v| sequence.version <= v) {
            return Err(Error::invalid(
                "version",
                "must be past the expected version",
            ));
        }
        let job_stmts = jobs
            .iter()
            .map(|j| self.enqueue_insert(j, false))
            .collect::<Result<Vec<_>>>()?;
        let id = sequence.id.to_string();
        let doc = self.seal(&format!("sequences:{id}"), sequence)?;
        let bidx = self.email_bidx(&sequence.contact_email);
        let updated = ts("updated_at", sequence.updated_at)?;
        let (_gate, mut tx) = self.begin_gated().await?;
        match expected_version {
            None => {
                Stmt::new(
                    "INSERT INTO sequences (contact_bidx, id, status, version, updated_at, doc) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(bidx)
                .bind(id)
                .bind(sequence.status.as_str())
                .bind(i64::from(sequence.version))
                .bind(updated)
                .bind(doc)
                .execute_raw(&mut *tx)
                .await
                .map_err(|e| match db(e) {
                    Error::Conflict { .. } => Error::conflict("the contact has a sequence already"),
                    other => other,
                })?;
            }
            Some(v) => {
                let done = Stmt::new(
                    "UPDATE sequences SET id = $1, status = $2, version = $3, updated_at = $4, \
                     doc = $5 WHERE contact_bidx = $6 AND version = $7",
                )
                .bind(id)
                .bind(sequence.status.as_str())
                .bind(i64::from(sequence.version))
                .bind(updated)
                .bind(doc)
                .bind(bidx.clone())
                .bind(i64::from(v))
                .execute_raw(&mut *tx)
                .await
                .map_err(db)?;
                if done.rows_affected() == 0 {
                    let exists =
                        sqlx::query("SELECT version FROM sequences WHERE contact_bidx = $1")
                            .bind(bidx)
                            .fetch_optional(&mut *tx)
                            .await
                            .map_err(db)?;
                    return Err(match exists {
                        None => Error::not_found("sequence"),
                        Some(_) => Error::conflict(format!("sequence changed since version {v}")),
                    });
                }
            }
        }
        self.batch(&mut tx, job_stmts).await.map_err(db)?;
        tx.commit().await.map_err(db)
    }

    async fn list_sequences(&self, filter: &SequenceFilter) -> Result<Vec<Sequence>> {
        let limit = if filter.limit == 0 {
            i64::MAX
        } else {
            i64::from(filter.limit)
        };
        let rows = match filter.status {
            Some(st) => sqlx::query(
                "SELECT id, doc FROM sequences WHERE status = $1 \
                 ORDER BY updated_at DESC, contact_bidx LIMIT $2",
            )
            .bind(st.as_str().to_owned())
            .bind(limit),
            None => sqlx::query(
                "SELECT id, doc FROM sequences ORDER BY updated_at DESC, contact_bidx LIMIT $1",
            )
            .bind(limit),
        }
        .fetch_all(self.pool())
        .await
        .map_err(db)?;
        rows.iter().map(|r| self.sequence_from(r)).collect()
    }
}
