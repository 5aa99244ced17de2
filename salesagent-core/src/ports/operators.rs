//! Named operators: who may act on the review queue, each with a token of their own.
//!
//! A store keeps an operator's name and the SHA-256 of their token, never the token itself.
//! Tokens are made by [`new_operator_token`] (244 random bits), shown once, and carry the
//! operator's name (`sao1.<name>.<secret>`) so a host can throttle failed attempts per operator
//! before it knows whether the token is right. The name in a token is only a hint: identity
//! comes from the stored record the token's hash finds.

use crate::{Error, Result};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The name of the operator the host's single configured token (`SALESAGENT_OPERATOR_TOKEN`)
/// acts as; a stored operator cannot take it.
pub const ADMIN_OPERATOR: &str = "admin";

/// Longest operator name.
pub const MAX_OPERATOR_NAME_LEN: usize = 32;

/// The prefix of every operator token.
const TOKEN_PREFIX: &str = "sao1";

/// An operator as stored: the name, and the token only as a hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperatorRecord {
    /// The name the audit log records (`operator:<name>`).
    pub name: String,
    /// Lowercase hex SHA-256 of the token ([`operator_token_hash`]).
    pub token_hash: String,
    /// When the operator was added (or re-added after a revocation).
    pub created_at: DateTime<Utc>,
    /// When the token was revoked; a revoked operator authenticates nothing.
    pub revoked_at: Option<DateTime<Utc>>,
}

impl OperatorRecord {
    /// True while the token is not revoked.
    #[must_use]
    pub fn is_live(&self) -> bool {
        self.revoked_at.is_none()
    }
}

/// Operators and their hashed tokens.
#[async_trait]
pub trait OperatorStore: Send + Sync {
    /// Adds operator `name` with the token hashing to `token_hash`, stamped with the store's
    /// clock. A revoked operator's name can be added again (its record is replaced).
    ///
    /// Errors: `InvalidInput` for a name [`validate_operator_name`] refuses (including
    /// [`ADMIN_OPERATOR`]) or a hash that is not 64 lowercase hex digits; `Conflict` when a
    /// live operator already has the name or the hash.
    async fn add_operator(&self, name: &str, token_hash: &str) -> Result<OperatorRecord>;
    /// Every operator, revoked ones included, by name.
    async fn list_operators(&self) -> Result<Vec<OperatorRecord>>;
    /// The live operator whose token hashes to `token_hash`, if any.
    async fn operator_by_token_hash(&self, token_hash: &str) -> Result<Option<OperatorRecord>>;
    /// Revokes operator `name`'s token; true when a live operator of that name existed.
    async fn revoke_operator(&self, name: &str) -> Result<bool>;
}

/// Checks an operator name: 1 to [`MAX_OPERATOR_NAME_LEN`] of `a-z`, `0-9`, `-` and `_`,
/// starting with a letter or digit, and not [`ADMIN_OPERATOR`].
///
/// # Errors
/// `InvalidInput` naming what is wrong.
pub fn validate_operator_name(name: &str) -> Result<()> {
    if name.is_empty() || name.len() > MAX_OPERATOR_NAME_LEN {
        return Err(Error::invalid(
            "operator",
            format!("a name has 1 to {MAX_OPERATOR_NAME_LEN} characters"),
        ));
    }
    let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_';
    if !name.chars().all(allowed) || !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return Err(Error::invalid(
            "operator",
            "a name is lowercase letters, digits, '-' and '_', starting with a letter or digit",
        ));
    }
    if name == ADMIN_OPERATOR {
        return Err(Error::invalid(
            "operator",
            "\"admin\" is the operator of SALESAGENT_OPERATOR_TOKEN; choose another name",
        ));
    }
    Ok(())
}

/// Checks a stored token hash: 64 lowercase hex digits.
///
/// # Errors
/// `InvalidInput` otherwise.
pub fn validate_token_hash(hash: &str) -> Result<()> {
    if hash.len() == 64
        && hash
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        Ok(())
    } else {
        Err(Error::invalid(
            "token_hash",
            "must be 64 lowercase hex digits (a SHA-256)",
        ))
    }
}

/// The hash a store keeps of a token: lowercase hex SHA-256 of its bytes (the token is
/// high-entropy, so no salt or slow hash is needed).
#[must_use]
pub fn operator_token_hash(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    let mut out = String::with_capacity(64);
    for b in &digest {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
    out
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// A fresh token for operator `name`: `sao1.<name>.<64 hex digits>`, the digits from two
/// random (v4) UUIDs, 244 bits from the operating system's generator.
///
/// # Errors
/// `InvalidInput` for a name [`validate_operator_name`] refuses.
pub fn new_operator_token(name: &str) -> Result<SecretString> {
    validate_operator_name(name)?;
    Ok(SecretString::from(format!(
        "{TOKEN_PREFIX}.{name}.{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )))
}

/// The operator name a presented token claims (`sao1.<name>.…`), if it has that shape. Only a
/// hint for throttling: the token is not checked.
#[must_use]
pub fn claimed_operator(token: &str) -> Option<&str> {
    let rest = token.strip_prefix(TOKEN_PREFIX)?.strip_prefix('.')?;
    let (name, secret) = rest.split_once('.')?;
    (validate_operator_name(name).is_ok() && !secret.is_empty()).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret as _;

    #[test]
    fn names() {
        for ok in ["alice", "a", "bob-2", "ops_team", &"x".repeat(32)] {
            assert!(validate_operator_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "Alice",
            "-a",
            "_a",
            "a b",
            "a.b",
            "admin",
            "é",
            &"x".repeat(33),
        ] {
            assert!(validate_operator_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn tokens_are_fresh_long_and_name_their_operator() {
        let a = new_operator_token("alice").unwrap();
        let b = new_operator_token("alice").unwrap();
        assert_ne!(a.expose_secret(), b.expose_secret());
        assert_eq!(claimed_operator(a.expose_secret()), Some("alice"));
        let secret = a.expose_secret().rsplit('.').next().unwrap();
        assert_eq!(secret.len(), 64);
        assert!(new_operator_token("admin").is_err());
        assert_eq!(claimed_operator("sao1.alice."), None);
        assert_eq!(claimed_operator("whatever"), None);
    }

    #[test]
    fn hash_is_lowercase_hex_sha256() {
        let h = operator_token_hash("abc");
        assert_eq!(
            h,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(validate_token_hash(&h).is_ok());
        assert!(validate_token_hash(&h.to_uppercase()).is_err());
        assert!(validate_token_hash("abc").is_err());
    }
}
