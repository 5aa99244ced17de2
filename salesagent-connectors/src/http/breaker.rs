//! A per-service circuit breaker: after `failure_threshold` consecutive failures it opens and
//! fails fast; after `open_for` it lets one probe through (half-open); the probe's result
//! closes or re-opens it. Time is tokio time, so tests can pause and advance it.

use salesagent_core::Error;
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// Breaker settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerConfig {
    /// Consecutive failures that open the breaker.
    pub failure_threshold: u32,
    /// How long it stays open before a probe is allowed.
    pub open_for: Duration,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self {
            failure_threshold: 5,
            open_for: Duration::from_secs(30),
        }
    }
}

/// The breaker's state, as exported in metrics (`0` closed, `1` half-open, `2` open).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    /// Requests flow.
    Closed,
    /// One probe is in flight.
    HalfOpen,
    /// Failing fast.
    Open,
}

impl BreakerState {
    /// The metrics gauge value.
    #[must_use]
    pub fn as_gauge(self) -> f64 {
        match self {
            Self::Closed => 0.0,
            Self::HalfOpen => 1.0,
            Self::Open => 2.0,
        }
    }
}

#[derive(Debug)]
struct Inner {
    state: BreakerState,
    consecutive_failures: u32,
    opened_at: Option<Instant>,
}

/// A circuit breaker for one service.
#[derive(Debug)]
pub struct CircuitBreaker {
    service: &'static str,
    config: BreakerConfig,
    inner: Mutex<Inner>,
}

/// Permission to send one request; report its result with [`Permit::record`] (or
/// [`CircuitBreaker::record`]). A permit dropped without a result (the caller was cancelled, e.g.
/// by a `tokio::time::timeout` around the request, or gave up locally) judges nothing: a
/// half-open trial goes back to open with its original open time, so the very next request may
/// try again. The breaker can never stay half-open waiting for a trial nobody runs.
#[derive(Debug)]
#[must_use = "a permit dropped at once gives its trial back unused"]
pub struct Permit<'a> {
    breaker: &'a CircuitBreaker,
    probe: bool,
    settled: bool,
}

impl Permit<'_> {
    /// True when this permit is the half-open trial.
    #[must_use]
    pub fn is_trial(&self) -> bool {
        self.probe
    }

    /// Records the outcome of the permitted request (see [`CircuitBreaker::record`]).
    pub fn record(mut self, healthy: bool) {
        self.settled = true;
        self.breaker.settle(self.probe, healthy);
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if !self.settled && self.probe {
            self.breaker.give_back_trial();
        }
    }
}

impl CircuitBreaker {
    /// A closed breaker for `service`.
    #[must_use]
    pub fn new(service: &'static str, config: BreakerConfig) -> Self {
        let b = Self {
            service,
            config,
            inner: Mutex::new(Inner {
                state: BreakerState::Closed,
                consecutive_failures: 0,
                opened_at: None,
            }),
        };
        b.publish(BreakerState::Closed);
        b
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A poisoned lock only means another thread panicked mid-update; the counters stay usable.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The current state.
    #[must_use]
    pub fn state(&self) -> BreakerState {
        self.lock().state
    }

    /// Asks to send a request: `Err(Unavailable)` while open (or while a probe is in flight).
    pub fn acquire(&self) -> Result<Permit<'_>, Error> {
        let mut inner = self.lock();
        let probe = match inner.state {
            BreakerState::Closed => false,
            BreakerState::HalfOpen => return Err(self.open_error()),
            BreakerState::Open => {
                let opened = inner.opened_at.unwrap_or_else(Instant::now);
                if opened.elapsed() < self.config.open_for {
                    return Err(self.open_error());
                }
                inner.state = BreakerState::HalfOpen;
                drop(inner);
                self.publish(BreakerState::HalfOpen);
                true
            }
        };
        Ok(Permit {
            breaker: self,
            probe,
            settled: false,
        })
    }

    /// Records the outcome of a permitted request. `healthy` is false for outages
    /// (5xx, timeouts, connection errors), true for everything the service answered sanely.
    pub fn record(&self, permit: Permit<'_>, healthy: bool) {
        permit.record(healthy);
    }

    /// Gives a permit back without judging the service (the same as dropping it).
    pub fn release(&self, permit: Permit<'_>) {
        drop(permit);
    }

    fn settle(&self, probe: bool, healthy: bool) {
        let mut inner = self.lock();
        let before = inner.state;
        if healthy {
            inner.consecutive_failures = 0;
            inner.state = BreakerState::Closed;
            inner.opened_at = None;
        } else {
            inner.consecutive_failures = inner.consecutive_failures.saturating_add(1);
            if probe || inner.consecutive_failures >= self.config.failure_threshold {
                inner.state = BreakerState::Open;
                inner.opened_at = Some(Instant::now());
            }
        }
        let after = inner.state;
        drop(inner);
        if before != after {
            if after == BreakerState::Open {
                tracing::warn!(service = self.service, "circuit breaker opened");
            } else if after == BreakerState::Closed {
                tracing::info!(service = self.service, "circuit breaker closed");
            }
            self.publish(after);
        }
    }

    /// An unjudged trial: open again, keeping the old open time so the next caller may probe.
    fn give_back_trial(&self) {
        let mut inner = self.lock();
        if inner.state == BreakerState::HalfOpen {
            inner.state = BreakerState::Open;
            drop(inner);
            tracing::debug!(
                service = self.service,
                "half-open trial given back unjudged"
            );
            self.publish(BreakerState::Open);
        }
    }

    fn open_error(&self) -> Error {
        Error::unavailable(format!("{}: circuit breaker open", self.service))
    }

    fn publish(&self, state: BreakerState) {
        metrics::gauge!(super::metrics::BREAKER_STATE, "service" => self.service)
            .set(state.as_gauge());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn opens_fails_fast_probes_and_closes() {
        let b = CircuitBreaker::new(
            "t",
            BreakerConfig {
                failure_threshold: 3,
                open_for: Duration::from_secs(10),
            },
        );
        for _ in 0..3 {
            let p = b.acquire().unwrap();
            b.record(p, false);
        }
        assert_eq!(b.state(), BreakerState::Open);
        assert!(matches!(b.acquire(), Err(Error::Unavailable { .. })));
        tokio::time::advance(Duration::from_secs(11)).await;
        let probe = b.acquire().unwrap();
        assert_eq!(b.state(), BreakerState::HalfOpen);
        // Only one probe at a time.
        assert!(b.acquire().is_err());
        b.record(probe, false);
        assert_eq!(b.state(), BreakerState::Open);
        tokio::time::advance(Duration::from_secs(11)).await;
        let probe = b.acquire().unwrap();
        b.record(probe, true);
        assert_eq!(b.state(), BreakerState::Closed);
        assert!(b.acquire().is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn a_trial_dropped_unjudged_lets_the_next_caller_probe() {
        let b = CircuitBreaker::new(
            "t",
            BreakerConfig {
                failure_threshold: 1,
                open_for: Duration::from_secs(10),
            },
        );
        b.acquire().unwrap().record(false);
        tokio::time::advance(Duration::from_secs(11)).await;
        let trial = b.acquire().unwrap();
        assert!(trial.is_trial());
        assert_eq!(b.state(), BreakerState::HalfOpen);
        drop(trial);
        assert_eq!(b.state(), BreakerState::Open);
        // No new wait: the next caller gets the trial at once, and its success closes.
        let trial = b.acquire().unwrap();
        assert!(trial.is_trial());
        trial.record(true);
        assert_eq!(b.state(), BreakerState::Closed);
        // A closed permit dropped unjudged changes nothing.
        drop(b.acquire().unwrap());
        assert_eq!(b.state(), BreakerState::Closed);
    }

    #[test]
    fn success_resets_the_count() {
        let b = CircuitBreaker::new("t", BreakerConfig::default());
        for _ in 0..4 {
            let p = b.acquire().unwrap();
            b.record(p, false);
        }
        let p = b.acquire().unwrap();
        b.record(p, true);
        for _ in 0..4 {
            let p = b.acquire().unwrap();
            b.record(p, false);
        }
        assert_eq!(b.state(), BreakerState::Closed);
    }
}
