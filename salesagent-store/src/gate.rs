//! One writer at a time on SQLite, decided in the process rather than by SQLite's busy handler.
//!
//! SQLite in WAL mode has a single write lock. A connection that finds it taken waits in
//! SQLite's busy handler, which sleeps 1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50, 100 ms between
//! attempts: with eight workers writing, a webhook acknowledgement waited tens of milliseconds
//! for a lock that was free again after a fraction of one. Every write of a [`SqlStore`] on
//! SQLite therefore enters this gate first (before it takes a pooled connection), so writers of
//! one process queue here, in order, and are handed the lock the moment it is free; SQLite's
//! busy handler is left for writers of other processes.
//!
//! Intake writes (the acknowledged submission and its job,
//! [`SubmissionStore::save_submission_and_enqueue`](salesagent_core::ports::SubmissionStore::save_submission_and_enqueue))
//! enter with priority: while one waits, other writers step aside, so an acknowledgement waits
//! for at most the one write in progress, never for a queue of worker writes.
//!
//! [`SqlStore`]: crate::SqlStore

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::sync::{Mutex, Notify, OwnedMutexGuard};

/// The gate: a fair lock plus a count of priority writers waiting for it.
#[derive(Debug, Default)]
pub(crate) struct WriteGate {
    lock: Arc<Mutex<()>>,
    urgent: AtomicUsize,
    clear: Notify,
}

/// The right to write until dropped.
#[derive(Debug)]
pub(crate) struct GatePermit {
    _held: OwnedMutexGuard<()>,
}

/// Counts a priority writer while it waits (also when its wait is cancelled).
struct Urgent<'g>(&'g WriteGate);

impl Drop for Urgent<'_> {
    fn drop(&mut self) {
        if self.0.urgent.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.clear.notify_waiters();
        }
    }
}

impl WriteGate {
    /// Enters as an ordinary writer: after every priority writer waiting now or arriving while
    /// this one waits.
    pub(crate) async fn enter(&self) -> GatePermit {
        loop {
            self.no_urgent_waiting().await;
            let held = Arc::clone(&self.lock).lock_owned().await;
            if self.urgent.load(Ordering::SeqCst) == 0 {
                return GatePermit { _held: held };
            }
            // A priority writer queued behind us meanwhile: let it pass.
            drop(held);
        }
    }

    /// Enters as a priority writer: after the write in progress (and other priority writers).
    pub(crate) async fn enter_urgent(&self) -> GatePermit {
        self.urgent.fetch_add(1, Ordering::SeqCst);
        let waiting = Urgent(self);
        let held = Arc::clone(&self.lock).lock_owned().await;
        drop(waiting);
        GatePermit { _held: held }
    }

    async fn no_urgent_waiting(&self) {
        loop {
            let cleared = self.clear.notified();
            tokio::pin!(cleared);
            cleared.as_mut().enable();
            if self.urgent.load(Ordering::SeqCst) == 0 {
                return;
            }
            cleared.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_priority_writer_goes_before_queued_ordinary_writers() {
        let gate = Arc::new(WriteGate::default());
        let first = gate.enter().await;
        let order = Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for i in 0..3 {
            let (gate, order) = (Arc::clone(&gate), Arc::clone(&order));
            tasks.push(tokio::spawn(async move {
                let _p = gate.enter().await;
                order.lock().unwrap().push(format!("worker{i}"));
            }));
            tokio::task::yield_now().await;
        }
        let (g, o) = (Arc::clone(&gate), Arc::clone(&order));
        let urgent = tokio::spawn(async move {
            let _p = g.enter_urgent().await;
            o.lock().unwrap().push("intake".to_owned());
        });
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        drop(first);
        urgent.await.unwrap();
        for t in tasks {
            t.await.unwrap();
        }
        let order = order.lock().unwrap().clone();
        assert_eq!(order.first().map(String::as_str), Some("intake"));
        assert_eq!(order.len(), 4);
    }
}
