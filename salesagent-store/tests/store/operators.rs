//! The operator conformance suite on every backend, with and without encryption.

use crate::common::{builder, urls};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operators_conformance() {
    for (name, url) in urls().await {
        eprintln!("operator conformance: {name}");
        let s = builder(&url).connect().await.unwrap();
        salesagent_core::testing::conformance::operators::run(&s).await;
        salesagent_core::testing::conformance::operators::run(&s).await;
        let plain = builder(&url).without_encryption().connect().await;
        // A database holding sealed rows refuses to open without a key; a fresh one opens.
        if let Ok(p) = plain {
            salesagent_core::testing::conformance::operators::run(&p).await;
        }
    }
}
