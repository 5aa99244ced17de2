//! The shared fault knob: latency and injected failures, deterministic per seed.

use super::lock;
use crate::{Error, Result};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A small deterministic pseudo-random generator (SplitMix64): same seed, same sequence.
#[derive(Debug, Clone)]
pub struct SeededRng {
    state: u64,
}

impl SeededRng {
    /// A generator starting from `seed`.
    #[must_use]
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform number in `[0, 1)`.
    pub fn next_f64(&mut self) -> f64 {
        // 53 random bits fill an f64 mantissa exactly.
        #[allow(clippy::cast_precision_loss)]
        let v = (self.next_u64() >> 11) as f64;
        v / (1u64 << 53) as f64
    }
}

/// The kind of failure to inject; each maps onto one core [`Error`] variant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FaultKind {
    /// [`Error::RateLimited`] with this `retry_after`.
    RateLimited {
        /// The delay the "service" asks for.
        retry_after: Option<Duration>,
    },
    /// [`Error::Unavailable`].
    Unavailable,
    /// [`Error::Timeout`].
    Timeout,
    /// [`Error::Unauthenticated`].
    Unauthenticated,
    /// [`Error::PermissionDenied`].
    PermissionDenied,
    /// [`Error::Backend`].
    Backend,
}

impl FaultKind {
    /// The error this fault produces for operation `op`.
    #[must_use]
    pub fn to_error(&self, op: &str) -> Error {
        match self {
            Self::RateLimited { retry_after } => Error::RateLimited {
                retry_after: *retry_after,
            },
            Self::Unavailable => Error::unavailable(format!("injected fault in {op}")),
            Self::Timeout => Error::timeout(format!("{op} (injected fault)")),
            Self::Unauthenticated => Error::unauthenticated(format!("injected fault in {op}")),
            Self::PermissionDenied => Error::PermissionDenied {
                reason: format!("injected fault in {op}"),
            },
            Self::Backend => Error::backend(format!("injected fault in {op}")),
        }
    }

    fn same_kind(&self, other: &Self) -> bool {
        std::mem::discriminant(self) == std::mem::discriminant(other)
    }
}

#[derive(Debug)]
struct FaultState {
    rng: SeededRng,
    latency: Duration,
    jitter: Duration,
    rates: Vec<(FaultKind, f64)>,
    next: VecDeque<FaultKind>,
    calls: u64,
    injected: u64,
}

/// Latency and failure injection shared by a fake's calls (clones share the same state).
///
/// Every call of a fake first asks [`Faults::before_call`]: it draws from a seeded generator
/// (so the same seed and the same call sequence give the same failures), sleeps the configured
/// latency with `tokio::time::sleep` (instant under a paused tokio clock), then fails with a
/// queued or randomly chosen [`FaultKind`], or lets the call through.
#[derive(Debug, Clone)]
pub struct Faults {
    state: Arc<Mutex<FaultState>>,
}

impl Default for Faults {
    fn default() -> Self {
        Self::seeded(0)
    }
}

impl Faults {
    /// No latency and no failures (seed 0).
    #[must_use]
    pub fn none() -> Self {
        Self::default()
    }

    /// No latency and no failures yet, drawing randomness from `seed`.
    #[must_use]
    pub fn seeded(seed: u64) -> Self {
        Self {
            state: Arc::new(Mutex::new(FaultState {
                rng: SeededRng::new(seed),
                latency: Duration::ZERO,
                jitter: Duration::ZERO,
                rates: Vec::new(),
                next: VecDeque::new(),
                calls: 0,
                injected: 0,
            })),
        }
    }

    /// Builder form of [`Faults::set_latency`].
    #[must_use]
    pub fn with_latency(self, base: Duration, jitter: Duration) -> Self {
        self.set_latency(base, jitter);
        self
    }

    /// Builder form of [`Faults::set_failure_rate`].
    #[must_use]
    pub fn with_failure_rate(self, kind: FaultKind, rate: f64) -> Self {
        self.set_failure_rate(kind, rate);
        self
    }

    /// Every call waits `base` plus a uniform random part of `jitter`.
    pub fn set_latency(&self, base: Duration, jitter: Duration) {
        let mut s = lock(&self.state);
        s.latency = base;
        s.jitter = jitter;
    }

    /// Fails calls with `kind` at `rate` (0..=1, clamped), replacing any rate set for that kind.
    /// Rates of different kinds add up (a total above 1 fails every call).
    pub fn set_failure_rate(&self, kind: FaultKind, rate: f64) {
        let rate = if rate.is_nan() {
            0.0
        } else {
            rate.clamp(0.0, 1.0)
        };
        let mut s = lock(&self.state);
        s.rates.retain(|(k, _)| !k.same_kind(&kind));
        if rate > 0.0 {
            s.rates.push((kind, rate));
        }
    }

    /// Fails the next `n` calls with `kind` (queued after any earlier `fail_next`).
    pub fn fail_next(&self, n: usize, kind: &FaultKind) {
        let mut s = lock(&self.state);
        s.next.extend(std::iter::repeat_n(kind.clone(), n));
    }

    /// Removes latency, rates and queued failures (the generator and counters keep going).
    pub fn clear(&self) {
        let mut s = lock(&self.state);
        s.latency = Duration::ZERO;
        s.jitter = Duration::ZERO;
        s.rates.clear();
        s.next.clear();
    }

    /// Calls seen so far.
    #[must_use]
    pub fn calls(&self) -> u64 {
        lock(&self.state).calls
    }

    /// Failures injected so far.
    #[must_use]
    pub fn injected(&self) -> u64 {
        lock(&self.state).injected
    }

    /// Decides this call's fate without waiting: the latency to apply and the failure, if any.
    fn draw(&self) -> (Duration, Option<FaultKind>) {
        let mut s = lock(&self.state);
        s.calls += 1;
        let latency = if s.jitter.is_zero() {
            s.latency
        } else {
            let r = s.rng.next_f64();
            s.latency + s.jitter.mul_f64(r)
        };
        let fault = if let Some(k) = s.next.pop_front() {
            Some(k)
        } else if s.rates.is_empty() {
            None
        } else {
            let r = s.rng.next_f64();
            let mut acc = 0.0;
            s.rates.iter().find_map(|(k, rate)| {
                acc += rate;
                (r < acc).then(|| k.clone())
            })
        };
        if fault.is_some() {
            s.injected += 1;
        }
        (latency, fault)
    }

    /// Applies latency and maybe fails; every fake calls this first with its operation name.
    ///
    /// # Errors
    /// The injected [`FaultKind`]'s error, when this call was chosen to fail.
    pub async fn before_call(&self, op: &str) -> Result<()> {
        let (latency, fault) = self.draw();
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        match fault {
            Some(k) => Err(k.to_error(op)),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rng_is_deterministic_and_uniform_enough() {
        let mut a = SeededRng::new(42);
        let mut b = SeededRng::new(42);
        let xs: Vec<f64> = (0..1000).map(|_| a.next_f64()).collect();
        let ys: Vec<f64> = (0..1000).map(|_| b.next_f64()).collect();
        assert_eq!(xs, ys);
        assert!(xs.iter().all(|x| (0.0..1.0).contains(x)));
        let mean = xs.iter().sum::<f64>() / 1000.0;
        assert!((0.45..0.55).contains(&mean), "mean {mean}");
        assert_ne!(SeededRng::new(1).next_u64(), SeededRng::new(2).next_u64());
    }

    #[tokio::test]
    async fn fail_next_then_pass() {
        let f = Faults::none();
        f.fail_next(2, &FaultKind::Timeout);
        assert!(matches!(
            f.before_call("x").await,
            Err(Error::Timeout { .. })
        ));
        assert!(matches!(
            f.before_call("x").await,
            Err(Error::Timeout { .. })
        ));
        assert!(f.before_call("x").await.is_ok());
        assert_eq!((f.calls(), f.injected()), (3, 2));
    }

    #[tokio::test(start_paused = true)]
    async fn latency_uses_tokio_time() {
        let f = Faults::none().with_latency(Duration::from_secs(3600), Duration::ZERO);
        let t0 = tokio::time::Instant::now();
        f.before_call("slow").await.unwrap();
        assert!(t0.elapsed() >= Duration::from_secs(3600));
    }
}
