//! Time limits: [`bounded`] for one future, [`WithTimeout`] for every call of a port.

use super::{Layer, Layered};
use crate::{Error, Result};
use std::future::Future;
use std::time::Duration;

/// Runs `fut` for at most `limit`; when time runs out, `fut` is dropped and the answer is
/// [`Error::Timeout`] naming `what` and the limit (`"<what> after <ms> ms"`).
///
/// # Errors
/// `fut`'s own error, or `Timeout`.
pub async fn bounded<T>(
    limit: Duration,
    what: &str,
    fut: impl Future<Output = Result<T>>,
) -> Result<T> {
    match tokio::time::timeout(limit, fut).await {
        Ok(r) => r,
        Err(_) => Err(Error::timeout(format!(
            "{what} after {} ms",
            limit.as_millis()
        ))),
    }
}

/// The [`Layer`] of [`WithTimeout`]: each call bounded by one limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeLimit(pub Duration);

impl Layer for TimeLimit {
    fn around<'a, T, F>(
        &'a self,
        op: &'static str,
        _args: &'a (dyn Fn() -> String + Sync),
        call: F,
    ) -> impl Future<Output = Result<T>> + Send + 'a
    where
        T: Send + 'a,
        F: Future<Output = Result<T>> + Send + 'a,
    {
        bounded(self.0, op, call)
    }
}

/// A port whose every call is bounded by a time limit: a call still running when the limit
/// passes is dropped and answers [`Error::Timeout`] naming the operation
/// (`"crm.get_contact after 2000 ms"`). Build it with
/// `WithTimeout::new`.
pub type WithTimeout<P> = Layered<P, TimeLimit>;

impl<P> Layered<P, TimeLimit> {
    /// `inner` with each call bounded by `limit`.
    pub fn new(inner: P, limit: Duration) -> Self {
        Self::wrap(inner, TimeLimit(limit))
    }

    /// The limit of each call.
    pub fn limit(&self) -> Duration {
        self.layer().0
    }
}
