//! The in-memory store passes the operator conformance suite.
#![cfg(feature = "testing")]

use salesagent_core::ports::SystemClock;
use salesagent_core::testing::{MemoryStore, conformance};
use std::sync::Arc;

#[tokio::test]
async fn memory_store_passes_the_operators_suite() {
    let s = MemoryStore::new(Arc::new(SystemClock));
    conformance::operators::run(&s).await;
    conformance::operators::run(&s).await;
}
