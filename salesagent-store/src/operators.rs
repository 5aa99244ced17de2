//! Named operators and their hashed tokens (table `operators`, migration 0003).

use crate::error::db;
use crate::{SqlStore, col, from_ts, ts};
use async_trait::async_trait;
use salesagent_core::ports::{
    OperatorRecord, OperatorStore, validate_operator_name, validate_token_hash,
};
use salesagent_core::{Error, Result};
use sqlx::any::AnyRow;

fn record(row: &AnyRow) -> Result<OperatorRecord> {
    Ok(OperatorRecord {
        name: col(row, "name")?,
        token_hash: col(row, "token_hash")?,
        created_at: from_ts(col(row, "created_at")?),
        revoked_at: col::<Option<i64>>(row, "revoked_at")?.map(from_ts),
    })
}

#[async_trait]
impl OperatorStore for SqlStore {
    async fn add_operator(&self, name: &str, token_hash: &str) -> Result<OperatorRecord> {
        validate_operator_name(name)?;
        validate_token_hash(token_hash)?;
        let now = self.now();
        // A revoked name is taken over; a live one is left alone (no row changes).
        let done = sqlx::query(
            "INSERT INTO operators (name, token_hash, created_at, revoked_at) \
             VALUES ($1, $2, $3, NULL) \
             ON CONFLICT (name) DO UPDATE SET token_hash = excluded.token_hash, \
             created_at = excluded.created_at, revoked_at = NULL \
             WHERE operators.revoked_at IS NOT NULL",
        )
        .bind(name.to_owned())
        .bind(token_hash.to_owned())
        .bind(ts("now", now)?)
        .execute(&mut *self.writer().await?)
        .await
        .map_err(|e| match db(e) {
            Error::Conflict { .. } => Error::conflict("that token is already in use"),
            other => other,
        })?;
        if done.rows_affected() == 0 {
            return Err(Error::conflict(format!("operator {name} already exists")));
        }
        Ok(OperatorRecord {
            name: name.to_owned(),
            token_hash: token_hash.to_owned(),
            created_at: now,
            revoked_at: None,
        })
    }

    async fn list_operators(&self) -> Result<Vec<OperatorRecord>> {
        sqlx::query("SELECT name, token_hash, created_at, revoked_at FROM operators ORDER BY name")
            .fetch_all(self.pool())
            .await
            .map_err(db)?
            .iter()
            .map(record)
            .collect()
    }

    async fn operator_by_token_hash(&self, token_hash: &str) -> Result<Option<OperatorRecord>> {
        if validate_token_hash(token_hash).is_err() {
            return Ok(None);
        }
        let row = sqlx::query(
            "SELECT name, token_hash, created_at, revoked_at FROM operators \
             WHERE token_hash = $1 AND revoked_at IS NULL",
        )
        .bind(token_hash.to_owned())
        .fetch_optional(self.pool())
        .await
        .map_err(db)?;
        row.as_ref().map(record).transpose()
    }

    async fn revoke_operator(&self, name: &str) -> Result<bool> {
        self.check_text("operator", name)?;
        let done = sqlx::query(
            "UPDATE operators SET revoked_at = $1 WHERE name = $2 AND revoked_at IS NULL",
        )
        .bind(ts("now", self.now())?)
        .bind(name.to_owned())
        .execute(&mut *self.writer().await?)
        .await
        .map_err(db)?;
        Ok(done.rows_affected() > 0)
    }
}
