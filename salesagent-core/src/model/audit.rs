//! The append-only, hash-chained audit log.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// An entry to append.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewAuditEntry {
    /// Who (`operator:alice`, `system:worker-1`).
    pub actor: String,
    /// What (`draft.approve`, `kill_switch.on`, `contact.erase`).
    pub action: String,
    /// The object concerned (an id; never personal data for erase tombstones).
    pub subject: String,
    /// Extra detail as JSON.
    pub details: serde_json::Value,
}

/// A stored entry; `hash` covers every other field including `prev_hash`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Position in the log, from 1, without gaps.
    pub seq: u64,
    /// When appended.
    pub at: DateTime<Utc>,
    /// Who.
    pub actor: String,
    /// What.
    pub action: String,
    /// The object concerned.
    pub subject: String,
    /// Extra detail (`{"erased": true}` once the data key it was sealed under is destroyed).
    pub details: serde_json::Value,
    /// The details as stored when the store seals them (under a per-contact data key, so
    /// erasing the contact makes them unrecoverable); when present the hash covers this text
    /// instead of `details`, so the chain verifies whether or not the details still open.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sealed_details: Option<String>,
    /// Hash of the previous entry (hex), empty for the first.
    pub prev_hash: String,
    /// Hash of this entry (hex).
    pub hash: String,
}

/// What `verify_audit_chain` found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditVerification {
    /// Entries checked.
    pub entries: u64,
    /// The first sequence number whose entry was edited, removed or reordered, if any.
    pub first_broken_seq: Option<u64>,
}

impl AuditVerification {
    /// True when the chain is intact.
    #[must_use]
    pub fn is_intact(&self) -> bool {
        self.first_broken_seq.is_none()
    }
}

/// What a GDPR erase removed or anonymised, per table (or fake collection).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ErasureReport {
    /// Rows touched per table.
    pub per_table: std::collections::BTreeMap<String, u64>,
}

impl ErasureReport {
    /// Total rows touched.
    #[must_use]
    pub fn total(&self) -> u64 {
        self.per_table.values().sum()
    }
}

impl AuditEntry {
    /// The SHA-256 (hex) over the entry's fields and the previous hash, as every store computes it.
    #[must_use]
    pub fn compute_hash(
        prev_hash: &str,
        seq: u64,
        at: DateTime<Utc>,
        actor: &str,
        action: &str,
        subject: &str,
        details: &serde_json::Value,
    ) -> String {
        Self::hash_of(
            prev_hash,
            seq,
            at,
            actor,
            action,
            subject,
            &details.to_string(),
        )
    }

    /// [`AuditEntry::compute_hash`] over the details as text (JSON, or the sealed form).
    fn hash_of(
        prev_hash: &str,
        seq: u64,
        at: DateTime<Utc>,
        actor: &str,
        action: &str,
        subject: &str,
        details: &str,
    ) -> String {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        // Length-prefix every field so no two entries share a byte stream.
        let at = at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        for part in [
            prev_hash,
            &seq.to_string(),
            &at,
            actor,
            action,
            subject,
            details,
        ] {
            h.update((part.len() as u64).to_be_bytes());
            h.update(part.as_bytes());
        }
        crate::encoding::to_hex(&h.finalize())
    }

    /// The entry that appends `entry` after the one whose hash is `prev_hash` (empty for the
    /// first), at position `seq` and time `at` (callers truncate `at` to the precision they
    /// store: the hash covers it).
    #[must_use]
    pub fn chained(prev_hash: String, seq: u64, at: DateTime<Utc>, entry: &NewAuditEntry) -> Self {
        let mut stored = Self {
            seq,
            at,
            actor: entry.actor.clone(),
            action: entry.action.clone(),
            subject: entry.subject.clone(),
            details: entry.details.clone(),
            sealed_details: None,
            prev_hash,
            hash: String::new(),
        };
        stored.hash = stored.expected_hash();
        stored
    }

    /// Like [`AuditEntry::chained`], for a store that keeps the details sealed as `sealed`
    /// (the hash covers `sealed`).
    #[must_use]
    pub fn chained_sealed(
        prev_hash: String,
        seq: u64,
        at: DateTime<Utc>,
        entry: &NewAuditEntry,
        sealed: String,
    ) -> Self {
        let mut stored = Self::chained(prev_hash, seq, at, entry);
        stored.sealed_details = Some(sealed);
        stored.hash = stored.expected_hash();
        stored
    }

    /// Recomputes this entry's hash from its fields.
    #[must_use]
    pub fn expected_hash(&self) -> String {
        if let Some(sealed) = &self.sealed_details {
            return Self::hash_of(
                &self.prev_hash,
                self.seq,
                self.at,
                &self.actor,
                &self.action,
                &self.subject,
                sealed,
            );
        }
        Self::compute_hash(
            &self.prev_hash,
            self.seq,
            self.at,
            &self.actor,
            &self.action,
            &self.subject,
            &self.details,
        )
    }
}

/// Checks a chain of entries in sequence order; used by every store's `verify_audit_chain`.
#[must_use]
pub fn verify_chain(entries: &[AuditEntry]) -> AuditVerification {
    let mut prev = String::new();
    for (i, e) in entries.iter().enumerate() {
        let expected_seq = i as u64 + 1;
        if e.seq != expected_seq || e.prev_hash != prev || e.hash != e.expected_hash() {
            return AuditVerification {
                entries: entries.len() as u64,
                first_broken_seq: Some(expected_seq),
            };
        }
        prev.clone_from(&e.hash);
    }
    AuditVerification {
        entries: entries.len() as u64,
        first_broken_seq: None,
    }
}
