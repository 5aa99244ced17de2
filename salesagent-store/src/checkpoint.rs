//! WAL checkpoints of a SQLite file, run by the store instead of inside a writer's commit.
//!
//! By default SQLite checkpoints automatically: the commit that takes the write-ahead log past
//! 1,000 pages copies the log back into the database file and syncs it before it returns,
//! while it still holds the write lock. Every writer queued behind it (in the write gate, see
//! the `gate` module: an acknowledged webhook among them) then waits for that copy and its
//! `fsync`, tens of milliseconds on a virtual disk. The store therefore opens its connections
//! to a SQLite file with `wal_autocheckpoint = 0` and runs a `PASSIVE` checkpoint itself every
//! [`INTERVAL`] on a pooled connection, outside the gate: a passive checkpoint takes no write
//! lock, so writers carry on while it runs.
//!
//! Durability is unchanged or better: with `synchronous = NORMAL` a commit reaches the disk at
//! the next checkpoint, which now comes at least every [`INTERVAL`] while the store is open
//! rather than after 1,000 pages. The task ends when the store is dropped or closed.

use crate::Inner;
use std::sync::Weak;
use std::time::Duration;

/// How often the store checkpoints a SQLite file's write-ahead log.
pub(crate) const INTERVAL: Duration = Duration::from_millis(500);

/// Starts the checkpoint task of the store behind `inner` (a SQLite file).
pub(crate) fn spawn(inner: Weak<Inner>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tick.tick().await;
            let pool = match inner.upgrade() {
                Some(inner) if !inner.pool.is_closed() => inner.pool.clone(),
                _ => break,
            };
            if let Err(e) = sqlx::raw_sql("PRAGMA wal_checkpoint(PASSIVE)")
                .execute(&pool)
                .await
            {
                if pool.is_closed() {
                    break;
                }
                tracing::warn!(error = %e, "salesagent store: WAL checkpoint failed");
            }
        }
    });
}
