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
    /// (operation prefix, kind, rate); an empty prefix matches every operation.
    rates: Vec<(String, FaultKind, f64)>,
    /// (operation prefix, kind) for "fail the next calls".
    next: VecDeque<(String, FaultKind)>,
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
        self.set_failure_rate_for("", kind, rate);
    }

    /// Like [`Faults::set_failure_rate`], for operations whose name starts with `op_prefix`
    /// only. Fakes name operations `<port>.<method>` (`mailbox.send`, `store.claim`, `llm.complete`).
    pub fn set_failure_rate_for(&self, op_prefix: &str, kind: FaultKind, rate: f64) {
        let rate = if rate.is_nan() {
            0.0
        } else {
            rate.clamp(0.0, 1.0)
        };
        let mut s = lock(&self.state);
        s.rates
            .retain(|(p, k, _)| !(p == op_prefix && k.same_kind(&kind)));
        if rate > 0.0 {
            s.rates.push((op_prefix.to_owned(), kind, rate));
        }
    }

    /// Fails the next `n` calls with `kind` (queued after any earlier `fail_next`).
    pub fn fail_next(&self, n: usize, kind: &FaultKind) {
        self.fail_next_for("", n, kind);
    }

    /// Fails the next `n` calls of operations starting with `op_prefix` (e.g. `mailbox.send`)
    /// with `kind`; other operations pass.
    pub fn fail_next_for(&self, op_prefix: &str, n: usize, kind: &FaultKind) {
        let mut s = lock(&self.state);
        s.next
            .extend(std::iter::repeat_n((op_prefix.to_owned(), kind.clone()), n));
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
    fn draw(&self, op: &str) -> (Duration, Option<FaultKind>) {
        let mut s = lock(&self.state);
        s.calls += 1;
        let latency = if s.jitter.is_zero() {
            s.latency
        } else {
            let r = s.rng.next_f64();
            s.latency + s.jitter.mul_f64(r)
        };
        let queued = s.next.iter().position(|(p, _)| op.starts_with(p.as_str()));
        let fault = if let Some(i) = queued {
            s.next.remove(i).map(|(_, k)| k)
        } else if s.rates.is_empty() {
            None
        } else {
            // One draw per call whenever rates exist, so the sequence depends only on the seed
            // and the number of calls.
            let r = s.rng.next_f64();
            let mut acc = 0.0;
            s.rates
                .iter()
                .filter(|(p, _, _)| op.starts_with(p.as_str()))
                .find_map(|(_, k, rate)| {
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
        let (latency, fault) = self.draw(op);
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

    #[tokio::test]
    async fn faults_can_target_one_operation() {
        let f = Faults::none();
        f.fail_next_for("mailbox.send", 1, &FaultKind::Unavailable);
        f.set_failure_rate_for("llm.", FaultKind::Timeout, 1.0);
        assert!(f.before_call("mailbox.search").await.is_ok());
        assert!(f.before_call("mailbox.send").await.is_err());
        assert!(f.before_call("mailbox.send").await.is_ok());
        assert!(matches!(
            f.before_call("llm.complete").await,
            Err(Error::Timeout { .. })
        ));
        assert!(f.before_call("crm.create_task").await.is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn latency_uses_tokio_time() {
        let f = Faults::none().with_latency(Duration::from_secs(3600), Duration::ZERO);
        let t0 = tokio::time::Instant::now();
        f.before_call("slow").await.unwrap();
        assert!(t0.elapsed() >= Duration::from_secs(3600));
    }
}
