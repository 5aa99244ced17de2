//! [`Recording`]: which operations a port was asked for, with their key arguments.

use super::{Layer, Layered};
use crate::Result;
use crate::offline::lock;
use std::future::Future;
use std::sync::{Arc, Mutex};

/// One call seen by a [`Recorder`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedCall {
    /// The operation, `<port>.<method>` (`crm.get_contact`).
    pub op: &'static str,
    /// The key arguments' `Debug` forms, joined by `", "`.
    pub args: String,
}

/// The [`Layer`] of [`Recording`]: the calls seen, in order (clones share the list, so one
/// recorder can watch several ports and show how their calls interleave).
#[derive(Debug, Clone, Default)]
pub struct Recorder {
    calls: Arc<Mutex<Vec<RecordedCall>>>,
}

impl Recorder {
    /// A recorder that has seen nothing.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Every call seen so far, in the order they were made.
    #[must_use]
    pub fn calls(&self) -> Vec<RecordedCall> {
        lock(&self.calls).clone()
    }

    /// The operations seen so far, in order.
    #[must_use]
    pub fn ops(&self) -> Vec<&'static str> {
        lock(&self.calls).iter().map(|c| c.op).collect()
    }

    /// How many calls of operations starting with `op_prefix` were seen.
    #[must_use]
    pub fn count(&self, op_prefix: &str) -> usize {
        lock(&self.calls)
            .iter()
            .filter(|c| c.op.starts_with(op_prefix))
            .count()
    }

    /// Forgets the calls seen so far.
    pub fn clear(&self) {
        lock(&self.calls).clear();
    }
}

impl Layer for Recorder {
    async fn around<'a, T, F>(
        &'a self,
        op: &'static str,
        args: &'a (dyn Fn() -> String + Sync),
        call: F,
    ) -> Result<T>
    where
        T: Send + 'a,
        F: Future<Output = Result<T>> + Send + 'a,
    {
        let args = args();
        lock(&self.calls).push(RecordedCall { op, args });
        call.await
    }
}

/// A port that records each call (operation and key arguments) before delegating; feature
/// `testing`. Build it with `Recording::new`.
pub type Recording<P> = Layered<P, Recorder>;

impl<P> Layered<P, Recorder> {
    /// `inner`, recording into a fresh [`Recorder`].
    pub fn new(inner: P) -> Self {
        Self::wrap(inner, Recorder::new())
    }

    /// `inner`, recording into `recorder` (shared with other wrappers).
    pub fn with_recorder(inner: P, recorder: Recorder) -> Self {
        Self::wrap(inner, recorder)
    }

    /// The recorder (clones share its list).
    pub fn recorder(&self) -> &Recorder {
        self.layer()
    }
}
