//! The erasure plan: which records a GDPR erase of one address removes, which it shreds or
//! tombstones, in what order, and what its [`ErasureReport`] and audit entry say. Every store
//! backend ([`AdminStore::erase_contact`](crate::ports::AdminStore::erase_contact)) executes
//! this plan with its own reads and writes, in one transaction (or under one lock), so the rule
//! exists once.
//!
//! 1. **Collect** ([`ErasureSubject`]): the address's submissions, the drafts of the address or
//!    of those submissions, the workflow runs of either, the CRM contact ids those drafts carry
//!    and the submissions' idempotency keys: what other records may name instead of the address.
//! 2. **Delete**, in [`ErasureStep::PLAN`] order, every record each step selects (as its
//!    variant's documentation says); jobs and settings are opened and matched with
//!    [`ErasureSubject::names_job`] and [`ErasureSubject::names_setting`].
//! 3. **Shred** the contact's data key (backends that seal per contact): audit entries are never
//!    rewritten (the chain must verify), their sealed details become unreadable.
//! 4. **Tombstone**: a hash of the address, so it stays suppressed while nothing stores it.
//! 5. **Audit**: one `contact.erase` entry ([`erasure_audit_entry`]) holding only the counts.

use crate::model::{EmailAddress, ErasureReport, NewAuditEntry};
use serde::{Deserialize, Serialize};

/// What an [`ErasureStep`] does to the records it selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErasureAction {
    /// The records are deleted.
    Delete,
    /// The key the records were sealed under is deleted (crypto-shredding).
    Shred,
    /// A keyed hash of the address is recorded, so it is never mailed again.
    Tombstone,
}

/// One step of the erasure plan; its [`table`](Self::table) is its key in the
/// [`ErasureReport`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErasureStep {
    /// Events of the erased drafts.
    DraftEvents,
    /// Drafts to the address or from its submissions.
    Drafts,
    /// Steps of the erased workflow runs.
    WorkflowSteps,
    /// Workflow runs of the erased submissions or drafts.
    WorkflowRuns,
    /// Submissions from the address.
    Submissions,
    /// Messages with the address or of the erased drafts.
    Messages,
    /// Outcomes of the address, or sent by it.
    Outcomes,
    /// Send reservations to or from the address, or of the erased drafts.
    SendLog,
    /// The address's suppression (the tombstone keeps it suppressed).
    Suppressions,
    /// The address as an approved recipient.
    ApprovedRecipients,
    /// Voice profiles the address owns.
    VoiceProfiles,
    /// The address's follow-up sequence.
    Sequences,
    /// OAuth tokens of the address as an account.
    OauthTokens,
    /// Jobs that name the address or what was erased ([`ErasureSubject::names_job`]).
    Jobs,
    /// Settings that name the address or an erased id ([`ErasureSubject::names_setting`]).
    Settings,
    /// The contact's data key (crypto-shredding).
    ContactKeys,
    /// The tombstone of the address.
    ErasureTombstones,
}

impl ErasureStep {
    /// Every step, in the order a backend runs them.
    pub const PLAN: [Self; 17] = [
        Self::DraftEvents,
        Self::Drafts,
        Self::WorkflowSteps,
        Self::WorkflowRuns,
        Self::Submissions,
        Self::Messages,
        Self::Outcomes,
        Self::SendLog,
        Self::Suppressions,
        Self::ApprovedRecipients,
        Self::VoiceProfiles,
        Self::Sequences,
        Self::OauthTokens,
        Self::Jobs,
        Self::Settings,
        Self::ContactKeys,
        Self::ErasureTombstones,
    ];

    /// Its key in the [`ErasureReport`] (the SQL table name).
    #[must_use]
    pub fn table(self) -> &'static str {
        match self {
            Self::DraftEvents => "draft_events",
            Self::Drafts => "drafts",
            Self::WorkflowSteps => "workflow_steps",
            Self::WorkflowRuns => "workflow_runs",
            Self::Submissions => "submissions",
            Self::Messages => "messages",
            Self::Outcomes => "outcomes",
            Self::SendLog => "send_log",
            Self::Suppressions => "suppressions",
            Self::ApprovedRecipients => "approved_recipients",
            Self::VoiceProfiles => "voice_profiles",
            Self::Sequences => "sequences",
            Self::OauthTokens => "oauth_tokens",
            Self::Jobs => "jobs",
            Self::Settings => "settings",
            Self::ContactKeys => "contact_keys",
            Self::ErasureTombstones => "erasure_tombstones",
        }
    }

    /// The step whose report key is `table`.
    #[must_use]
    pub fn from_table(table: &str) -> Option<Self> {
        Self::PLAN.into_iter().find(|s| s.table() == table)
    }

    /// What the step does.
    #[must_use]
    pub fn action(self) -> ErasureAction {
        match self {
            Self::ContactKeys => ErasureAction::Shred,
            Self::ErasureTombstones => ErasureAction::Tombstone,
            _ => ErasureAction::Delete,
        }
    }
}

/// Everything an erasure collects before it deletes (step 1 of the plan): the address and
/// what other records may name instead of it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ErasureSubject {
    /// The address, normalised and lower-cased.
    pub address: String,
    /// Ids of the address's submissions.
    pub submissions: Vec<String>,
    /// Ids of the drafts to the address or from its submissions.
    pub drafts: Vec<String>,
    /// CRM contact ids the erased drafts carry.
    pub crm_ids: Vec<String>,
    /// Idempotency keys of the erased submissions.
    pub submission_keys: Vec<String>,
}

impl ErasureSubject {
    /// The subject of erasing `email`, before anything is collected.
    #[must_use]
    pub fn new(email: &EmailAddress) -> Self {
        Self {
            address: email.normalized().to_lowercase(),
            ..Self::default()
        }
    }

    /// Texts whose presence (case-insensitive) in a job or setting names the subject: the
    /// address and the erased drafts' and submissions' ids.
    fn needles(&self) -> impl Iterator<Item = String> + '_ {
        std::iter::once(self.address.clone()).chain(
            self.drafts
                .iter()
                .chain(&self.submissions)
                .map(|s| s.to_lowercase()),
        )
    }

    /// Values that name the subject when a job's key equals one, or a `contact_id`,
    /// `objectId` or `idempotency_key` field of its payload does.
    fn exact(&self) -> impl Iterator<Item = &String> {
        self.crm_ids.iter().chain(&self.submission_keys)
    }

    /// True when a job (its payload as JSON text, its last error, its idempotency key, each
    /// opened) names the subject: a needle occurs in any of them, its key is an exact value,
    /// or a `contact_id` / `objectId` / `idempotency_key` field holds one (a
    /// `crm_contact_event` job names only the CRM id and the submission's key).
    #[must_use]
    pub fn names_job(&self, payload: &str, error: &str, key: &str) -> bool {
        let text = format!("{payload}\n{error}\n{key}").to_lowercase();
        if self.needles().any(|n| text.contains(n.as_str())) {
            return true;
        }
        let exact: Vec<&String> = self.exact().collect();
        exact.iter().any(|e| e.as_str() == key)
            || serde_json::from_str::<serde_json::Value>(payload)
                .is_ok_and(|v| json_names(&v, &exact))
    }

    /// True when a setting (key and opened value) names the address or an erased id.
    #[must_use]
    pub fn names_setting(&self, key: &str, value: &str) -> bool {
        let text = format!("{key}\n{value}").to_lowercase();
        self.needles().any(|n| text.contains(n.as_str()))
    }
}

/// True when `v` has a `contact_id`, `objectId` or `idempotency_key` field (at any depth)
/// whose value is one of `exact`.
fn json_names(v: &serde_json::Value, exact: &[&String]) -> bool {
    use serde_json::Value;
    match v {
        Value::Object(m) => m.iter().any(|(k, v)| {
            let scalar = match v {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            };
            (matches!(k.as_str(), "contact_id" | "objectId" | "idempotency_key")
                && scalar.is_some_and(|s| exact.iter().any(|e| **e == s)))
                || json_names(v, exact)
        }),
        Value::Array(a) => a.iter().any(|v| json_names(v, exact)),
        _ => false,
    }
}

/// The report being built while a backend runs the plan.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ErasureTally {
    report: ErasureReport,
}

impl ErasureTally {
    /// An empty tally.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Counts `n` records of `step` (nothing for 0, so the report lists only what was touched).
    pub fn add(&mut self, step: ErasureStep, n: u64) {
        if n > 0 {
            *self
                .report
                .per_table
                .entry(step.table().to_owned())
                .or_insert(0) += n;
        }
    }

    /// The report so far.
    #[must_use]
    pub fn report(&self) -> &ErasureReport {
        &self.report
    }

    /// The finished report.
    #[must_use]
    pub fn finish(self) -> ErasureReport {
        self.report
    }
}

/// Action of the erasure's audit entry.
pub const ERASE_ACTION: &str = "contact.erase";

/// The audit entry an erasure appends (step 5): who erased, and only the counts per table
/// (`{"rows_removed": {table: n}}`), never the address.
#[must_use]
pub fn erasure_audit_entry(actor: &str, report: &ErasureReport) -> NewAuditEntry {
    NewAuditEntry {
        actor: actor.to_owned(),
        action: ERASE_ACTION.to_owned(),
        subject: "contact".to_owned(),
        details: serde_json::json!({ "rows_removed": report.per_table }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plan_names_each_table_once_and_ends_with_shred_then_tombstone() {
        let tables: std::collections::BTreeSet<&str> =
            ErasureStep::PLAN.iter().map(|s| s.table()).collect();
        assert_eq!(tables.len(), ErasureStep::PLAN.len());
        for s in ErasureStep::PLAN {
            assert_eq!(ErasureStep::from_table(s.table()), Some(s));
        }
        let n = ErasureStep::PLAN.len();
        assert_eq!(ErasureStep::PLAN[n - 2].action(), ErasureAction::Shred);
        assert_eq!(ErasureStep::PLAN[n - 1].action(), ErasureAction::Tombstone);
    }

    #[test]
    fn jobs_are_matched_by_address_ids_and_crm_ids() {
        let mut s = ErasureSubject::new(&EmailAddress::parse("Jane@Acme.io").unwrap());
        s.drafts.push("d-1".into());
        s.crm_ids.push("501".into());
        s.submission_keys.push("form:abc".into());
        assert!(s.names_job(r#"{"to":"JANE@acme.io"}"#, "", ""));
        assert!(s.names_job(r#"{"draft_id":"d-1"}"#, "", ""));
        assert!(s.names_job(r#"{"event":{"objectId":501}}"#, "", ""));
        assert!(s.names_job("{}", "", "form:abc"));
        assert!(!s.names_job(r#"{"objectId":5012}"#, "", "other"));
        assert!(s.names_setting("cursor", "jane@acme.io"));
        assert!(!s.names_setting("cursor", "bob@acme.io"));
        let mut t = ErasureTally::new();
        t.add(ErasureStep::Drafts, 2);
        t.add(ErasureStep::Jobs, 0);
        let report = t.finish();
        assert_eq!(report.per_table.len(), 1);
        let entry = erasure_audit_entry("operator:dpo", &report);
        assert_eq!(entry.details["rows_removed"]["drafts"], 2);
    }
}
