//! Backoff with jitter and `Retry-After` parsing: the one retry policy of every connector.

use chrono::{DateTime, Utc};
use std::time::Duration;

/// How often and how long to wait between attempts of one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt (0 = never retry).
    pub max_retries: u32,
    /// Delay before the first retry, doubled for each further one.
    pub base_delay: Duration,
    /// Cap of a computed (not server-requested) delay.
    pub max_delay: Duration,
    /// Longest `Retry-After` we wait in-process; a longer one is returned to the caller as
    /// `RateLimited { retry_after }` so a job queue can reschedule.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 3,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(10),
            max_retry_after: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// No retries at all.
    #[must_use]
    pub fn none() -> Self {
        Self {
            max_retries: 0,
            ..Self::default()
        }
    }

    /// The delay before retry number `retry` (0-based): exponential, capped, with "equal
    /// jitter" (half fixed, half random) so concurrent clients spread out but still back off.
    #[must_use]
    pub fn backoff(&self, retry: u32) -> Duration {
        let exp = self
            .base_delay
            .saturating_mul(1u32.checked_shl(retry.min(20)).unwrap_or(u32::MAX));
        let capped = exp.min(self.max_delay);
        let half = capped / 2;
        half + jitter(half)
    }
}

/// A uniformly random duration in `[0, max]`.
fn jitter(max: Duration) -> Duration {
    let nanos = u64::try_from(max.as_nanos()).unwrap_or(u64::MAX);
    if nanos == 0 {
        return Duration::ZERO;
    }
    // uuid v4 draws from the OS RNG; good enough for spreading retries.
    let r = uuid::Uuid::new_v4().as_u64_pair().0;
    Duration::from_nanos(r % (nanos + 1))
}

/// Parses a `Retry-After` value: delta-seconds or an HTTP date (relative to `now`).
/// A date in the past gives zero; garbage gives `None`.
#[must_use]
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = DateTime::parse_from_rfc2822(v).ok()?.with_timezone(&Utc);
    Some((when - now).to_std().unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2015-10-21T07:28:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        assert_eq!(
            parse_retry_after("120", now()),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now()),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now()),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now()), None);
        assert_eq!(parse_retry_after("-1", now()), None);
    }

    proptest! {
        #[test]
        fn backoff_stays_within_bounds(retry in 0u32..64) {
            let p = RetryPolicy::default();
            let d = p.backoff(retry);
            prop_assert!(d <= p.max_delay);
            let floor = (p.base_delay.saturating_mul(1u32.checked_shl(retry.min(20)).unwrap_or(u32::MAX))).min(p.max_delay) / 2;
            prop_assert!(d >= floor);
        }

        #[test]
        fn retry_after_never_panics(s in "\\PC{0,64}") {
            let _ = parse_retry_after(&s, now());
        }
    }
}
