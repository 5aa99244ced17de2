//! The core store conformance suite, on every backend, with and without encryption.

use crate::common::{builder, urls};
use salesagent_core::model::RetryPolicy;
use std::time::Duration;

fn short_retries() -> RetryPolicy {
    RetryPolicy {
        base: Duration::from_millis(200),
        max: Duration::from_secs(2),
        jitter: 0.3,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn conformance_encrypted() {
    for (name, url) in urls().await {
        eprintln!("store conformance (encrypted): {name}");
        let s = builder(&url)
            .retry_policy(short_retries())
            .connect()
            .await
            .unwrap();
        salesagent_core::testing::conformance::store::run(&s).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn conformance_plain() {
    for (name, url) in urls().await {
        eprintln!("store conformance (no key): {name}");
        let s = builder(&url)
            .without_encryption()
            .retry_policy(short_retries())
            .connect()
            .await
            .unwrap();
        salesagent_core::testing::conformance::store::run(&s).await;
    }
}
