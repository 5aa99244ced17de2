//! A queue whose drainers (at most a given number at a time) take everything that arrived
//! meanwhile.
//!
//! Intake's group commit (see the `intake` module) is built on it: a caller queues its write
//! with [`Coalescer::push`]; when fewer drainers than the limit run the caller starts one, which takes
//! what is queued ([`Coalescer::take`]), writes it in one transaction, and takes again until
//! the queue is empty. There is no timer: a lone write is taken at once, and only writes that
//! arrive while a transaction is in flight wait for the next one.

use std::sync::Mutex;

/// Items waiting for a drainer, and how many are running.
#[derive(Debug)]
pub(crate) struct Coalescer<T> {
    state: Mutex<State<T>>,
}

#[derive(Debug)]
struct State<T> {
    pending: Vec<T>,
    drainers: usize,
    /// Groups taken so far (tests check that concurrent writes share transactions).
    #[cfg(test)]
    groups: usize,
    /// Items taken so far.
    #[cfg(test)]
    taken: usize,
}

impl<T> Default for Coalescer<T> {
    fn default() -> Self {
        Self {
            state: Mutex::new(State {
                pending: Vec::new(),
                drainers: 0,
                #[cfg(test)]
                groups: 0,
                #[cfg(test)]
                taken: 0,
            }),
        }
    }
}

impl<T> Coalescer<T> {
    fn state(&self) -> std::sync::MutexGuard<'_, State<T>> {
        // The lock is held only to move items in and out: a panic cannot leave it half done.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Queues `item`. True when fewer than `limit` (at least one) drainers are running: the
    /// caller must start one (and it is counted as running from now on).
    pub(crate) fn push(&self, item: T, limit: usize) -> bool {
        let mut s = self.state();
        s.pending.push(item);
        if s.drainers < limit.max(1) {
            s.drainers += 1;
            return true;
        }
        false
    }

    /// Up to `max` queued items, oldest first. Empty when nothing is queued, and then the
    /// drainer counts as stopped: it must return (a later [`Coalescer::push`] starts another).
    pub(crate) fn take(&self, max: usize) -> Vec<T> {
        let mut s = self.state();
        if s.pending.is_empty() {
            s.drainers = s.drainers.saturating_sub(1);
            return Vec::new();
        }
        let n = s.pending.len().min(max.max(1));
        #[cfg(test)]
        {
            s.groups += 1;
            s.taken += n;
        }
        s.pending.drain(..n).collect()
    }

    /// Items queued and not yet taken.
    #[cfg(test)]
    pub(crate) fn queued(&self) -> usize {
        self.state().pending.len()
    }

    /// Groups taken so far.
    #[cfg(test)]
    pub(crate) fn groups(&self) -> usize {
        self.state().groups
    }

    /// Items taken so far.
    #[cfg(test)]
    pub(crate) fn taken(&self) -> usize {
        self.state().taken
    }

    /// For a drainer ending early (its task cancelled or panicking): marks it stopped and,
    /// when it was the last one running, returns what is still queued, so the caller can
    /// answer those items (the others' drainers would take them otherwise).
    pub(crate) fn abandon(&self) -> Vec<T> {
        let mut s = self.state();
        s.drainers = s.drainers.saturating_sub(1);
        if s.drainers > 0 {
            return Vec::new();
        }
        std::mem::take(&mut s.pending)
    }
}

#[cfg(test)]
mod tests {
    use super::Coalescer;

    #[test]
    fn one_drainer_takes_what_arrived_meanwhile_in_order() {
        let q = Coalescer::default();
        assert!(q.push(1, 1), "the first push starts a drainer");
        assert!(!q.push(2, 1), "a drainer is running");
        assert!(!q.push(3, 1));
        assert_eq!(q.take(2), vec![1, 2]);
        assert_eq!(q.take(8), vec![3]);
        assert_eq!(q.groups(), 2);
        assert!(q.take(8).is_empty(), "empty: the drainer stops");
        assert!(q.push(4, 1), "the next push starts a new drainer");
        assert!(!q.push(5, 1));
        assert_eq!(q.abandon(), vec![4, 5]);
        assert!(q.push(6, 1), "after abandon a push starts a drainer again");
    }

    #[test]
    fn up_to_the_limit_of_drainers_run_at_once() {
        let q = Coalescer::default();
        assert!(q.push(1, 2));
        assert!(q.push(2, 2), "a second drainer under a limit of two");
        assert!(!q.push(3, 2), "two are running");
        assert_eq!(q.take(8), vec![1, 2, 3]);
        assert!(q.take(8).is_empty(), "one drainer stops");
        assert!(q.push(4, 2), "one runs: a push starts another");
        assert!(
            q.abandon().is_empty(),
            "another drainer still runs and takes 4"
        );
        assert_eq!(q.take(8), vec![4]);
    }
}
