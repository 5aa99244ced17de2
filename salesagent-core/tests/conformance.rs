//! Every fake passes its port's conformance suite.
#![cfg(feature = "testing")]

use salesagent_core::model::RetryPolicy;
use salesagent_core::ports::SystemClock;
use salesagent_core::testing::{MemoryStore, conformance};
use std::sync::Arc;
use std::time::Duration;

fn store() -> MemoryStore {
    // Real time for leases; a short backoff keeps the dead-letter check quick.
    MemoryStore::new(Arc::new(SystemClock)).with_retry_policy(RetryPolicy {
        base: Duration::from_millis(200),
        max: Duration::from_secs(2),
        jitter: 0.3,
    })
}

#[tokio::test]
async fn memory_store_passes_the_store_suite() {
    conformance::store::run(&store()).await;
}

#[tokio::test]
async fn memory_store_passes_the_suite_as_a_dyn_store_reused_twice() {
    let s: salesagent_core::ports::DynStore = Arc::new(store());
    conformance::store::run(s.as_ref()).await;
    conformance::store::run(s.as_ref()).await;
}
