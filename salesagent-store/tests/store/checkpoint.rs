//! On a SQLite file the store runs WAL checkpoints itself (outside the write gate), so no
//! writer's commit pays for one: every connection it opens has automatic checkpoints off, and
//! the log is still copied back into the database file while the store is open.

use crate::common::{ManualClock, key, sqlite_path, submission};
use salesagent_core::ports::SubmissionStore as _;
use salesagent_store::SqlStore;
use std::time::Duration;

#[tokio::test]
async fn a_sqlite_file_store_checkpoints_itself() {
    let path = sqlite_path();
    let url = format!("sqlite://{}?mode=rwc", path.display());
    let store = SqlStore::builder(url.as_str())
        .encryption_key(key())
        .clock(ManualClock::new())
        .connect()
        .await
        .expect("file store");
    for i in 0..200 {
        store
            .save_submission(&submission("ann@acme.example", &format!("ckpt-{i}")))
            .await
            .expect("save");
    }
    // Every pooled connection leaves checkpoints to the store.
    let mut conns = Vec::new();
    for _ in 0..3 {
        let mut c = store.pool().acquire().await.expect("connection");
        let auto: i64 = sqlx::query_scalar("PRAGMA wal_autocheckpoint")
            .fetch_one(&mut *c)
            .await
            .expect("pragma");
        assert_eq!(
            auto, 0,
            "automatic checkpoints are off on the store's connections"
        );
        conns.push(c);
    }
    drop(conns);
    // The store's task copies the log back: wait (bounded) until the database file holds
    // every page the database has (before a checkpoint it holds only what was there before the
    // writes, the rest being in the log). The probe only reads, so it never checkpoints.
    let probe = sqlx::any::AnyPoolOptions::new()
        .max_connections(1)
        .connect(&url)
        .await
        .expect("probe");
    let mut in_file = false;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let pages: i64 = sqlx::query_scalar("PRAGMA page_count")
            .fetch_one(&probe)
            .await
            .expect("page_count");
        let size: i64 = sqlx::query_scalar("PRAGMA page_size")
            .fetch_one(&probe)
            .await
            .expect("page_size");
        let db = std::fs::metadata(&path).map_or(0, |m| m.len());
        if pages > 10 && u64::try_from(pages * size).ok() == Some(db) {
            in_file = true;
            break;
        }
    }
    assert!(
        in_file,
        "the write-ahead log was checkpointed into the database file"
    );
    probe.close().await;
    store.close().await;
}
