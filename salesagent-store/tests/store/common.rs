//! Shared fixtures: stores on every backend, a hand-driven clock, model builders.

use chrono::{DateTime, Duration, Utc};
use salesagent_core::model::{Draft, DraftWriter, EmailAddress, FormSubmission, SubmissionId};
use salesagent_core::ports::Clock;
use salesagent_store::testing::TempPostgres;
use salesagent_store::{EncryptionKey, SqlStore, SqlStoreBuilder};
use std::sync::{Arc, Mutex};

/// A clock the test moves by hand.
#[derive(Debug)]
pub struct ManualClock(Mutex<DateTime<Utc>>);

impl ManualClock {
    pub fn new() -> Arc<Self> {
        Arc::new(Self(Mutex::new(t0())))
    }
    pub fn advance(&self, d: Duration) {
        *self.0.lock().unwrap() += d;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap()
    }
}

/// A fixed start time with sub-microsecond digits, to prove nanoseconds survive.
pub fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-26T10:00:00.123456789Z")
        .unwrap()
        .with_timezone(&Utc)
}

pub fn key() -> EncryptionKey {
    EncryptionKey::from_bytes([42; 32])
}

pub fn email(s: &str) -> EmailAddress {
    EmailAddress::parse(s).unwrap()
}

/// A path for a throwaway SQLite file.
pub fn sqlite_path() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("salesagent-test-{}.db", uuid::Uuid::new_v4()))
}

pub fn sqlite_file_url() -> String {
    format!("sqlite://{}?mode=rwc", sqlite_path().display())
}

/// URL of a fresh PostgreSQL database, or `None` (with a notice) when no server can be had.
/// When the binaries exist, failing to start one fails the test: it is never skipped.
pub async fn pg_url() -> Option<String> {
    TempPostgres::fresh_database_or_skip().await
}

/// The three backends under test: in-memory SQLite, file SQLite, PostgreSQL.
pub async fn urls() -> Vec<(&'static str, String)> {
    let mut v = vec![
        ("sqlite-memory", "sqlite::memory:".to_owned()),
        ("sqlite-file", sqlite_file_url()),
    ];
    if let Some(u) = pg_url().await {
        v.push(("postgres", u));
    }
    v
}

/// Connects with the test key and `clock`.
pub async fn open(url: &str, clock: Arc<ManualClock>) -> SqlStore {
    builder(url).clock(clock).connect().await.expect("connect")
}

pub fn builder(url: &str) -> SqlStoreBuilder {
    SqlStore::builder(url).encryption_key(key())
}

/// Every backend, encrypted, each with its own manual clock.
pub async fn stores() -> Vec<(&'static str, SqlStore, Arc<ManualClock>)> {
    let mut out = Vec::new();
    for (name, url) in urls().await {
        let clock = ManualClock::new();
        out.push((name, open(&url, clock.clone()).await, clock));
    }
    out
}

pub fn submission(contact: &str, key: &str) -> FormSubmission {
    let raw = serde_json::json!({
        "submission_id": key,
        "submitted_at": "2026-11-25T09:00:00Z",
        "fields": {"email": contact, "firstname": "Ann", "message": "Hi, I'm interested"}
    })
    .to_string();
    FormSubmission::from_canonical_json(&raw, t0()).unwrap()
}

pub fn draft(contact: &str, submission: Option<SubmissionId>) -> Draft {
    Draft {
        id: salesagent_core::model::DraftId::new(),
        submission_id: submission,
        contact_name: Some("Ann".into()),
        company_name: Some("Acme".into()),
        priority: 0.5,
        ..Draft::new(
            email(contact),
            email("rep@seller.io"),
            "Hello from Seller",
            "Dear Ann, this is the secret draft body.",
            DraftWriter::Human,
            t0(),
        )
    }
}
