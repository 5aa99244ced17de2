//! Conformance suites: `pub async fn run(...)` per port, for any implementation to run against
//! itself inside a `#[tokio::test]`. A violation panics with a message naming the rule broken.
//!
//! The suites only use port methods, and every run uses fresh addresses, keys and kinds, so a
//! backend (a database, a sandbox account) can be reused across runs. Where a port cannot create
//! the data a check needs, the suite takes a small fixture describing data the caller seeded.

pub mod calendar;
pub mod crm;
pub mod drive;
pub mod llm;
pub mod mailbox;
pub mod operators;
pub mod store;

use crate::Result;
use chrono::{DateTime, TimeZone, Utc};
use std::fmt::Debug;

/// A fresh token for names and addresses (32 hex digits).
pub(crate) fn unique() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// A fixed instant at whole seconds, so backends storing microseconds round-trip it exactly.
pub(crate) fn base_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 10, 0, 0)
        .single()
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// Unwraps `r`, panicking with `what` and the error.
#[track_caller]
pub(crate) fn ok<T>(r: Result<T>, what: &str) -> T {
    match r {
        Ok(v) => v,
        Err(e) => panic!("{what}: unexpected error: {e}"),
    }
}

/// Asserts `r` failed with the error kind `kind` (`conflict`, `not_found`, …).
#[track_caller]
pub(crate) fn expect_err<T: Debug>(r: Result<T>, kind: &str, what: &str) {
    match r {
        Ok(v) => panic!("{what}: expected a {kind} error, got Ok({v:?})"),
        Err(e) => assert_eq!(e.kind(), kind, "{what}: expected a {kind} error, got {e}"),
    }
}
