//! [`OperatorStore`] for the in-memory store, with the semantics of the SQL backends.

use super::{MemoryStore, lock};
use crate::ports::{OperatorRecord, OperatorStore, validate_operator_name, validate_token_hash};
use crate::{Error, Result};
use async_trait::async_trait;

#[async_trait]
impl OperatorStore for MemoryStore {
    async fn add_operator(&self, name: &str, token_hash: &str) -> Result<OperatorRecord> {
        validate_operator_name(name)?;
        validate_token_hash(token_hash)?;
        let now = self.now();
        let mut ops = lock(&self.operators);
        if ops.iter().any(|o| o.is_live() && o.name == name) {
            return Err(Error::conflict(format!("operator {name} already exists")));
        }
        if ops.iter().any(|o| o.token_hash == token_hash) {
            return Err(Error::conflict("that token is already in use"));
        }
        ops.retain(|o| o.name != name);
        let record = OperatorRecord {
            name: name.to_owned(),
            token_hash: token_hash.to_owned(),
            created_at: now,
            revoked_at: None,
        };
        ops.push(record.clone());
        Ok(record)
    }

    async fn list_operators(&self) -> Result<Vec<OperatorRecord>> {
        let mut ops = lock(&self.operators).clone();
        ops.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(ops)
    }

    async fn operator_by_token_hash(&self, token_hash: &str) -> Result<Option<OperatorRecord>> {
        Ok(lock(&self.operators)
            .iter()
            .find(|o| o.is_live() && o.token_hash == token_hash)
            .cloned())
    }

    async fn revoke_operator(&self, name: &str) -> Result<bool> {
        let now = self.now();
        let mut ops = lock(&self.operators);
        match ops.iter_mut().find(|o| o.is_live() && o.name == name) {
            Some(o) => {
                o.revoked_at = Some(now);
                Ok(true)
            }
            None => Ok(false),
        }
    }
}
