//! `Retry-After` parsing and the backoff between attempts of one request. The backoff shape is
//! the library's one [`RetryPolicy`] (`salesagent_core::model::RetryPolicy`, the job queue's
//! too); this module only draws its jitter.

use chrono::{DateTime, Utc};
pub use salesagent_core::model::RetryPolicy;
use std::time::Duration;

/// The delay before retry number `retry` (0-based) of one request under `policy`: exponential
/// from `policy.base`, capped at `policy.max`, jittered by `policy.jitter`.
#[must_use]
pub fn backoff(policy: &RetryPolicy, retry: u32) -> Duration {
    policy.delay(retry.saturating_add(1), unit_random(), None)
}

/// A uniformly random number in `[0, 1)`.
fn unit_random() -> f64 {
    // uuid v4 draws from the OS RNG; good enough for spreading retries.
    let r = uuid::Uuid::new_v4().as_u64_pair().0 >> 11;
    // 53 random bits: exactly representable, and below 1.
    #[allow(clippy::cast_precision_loss)]
    let f = r as f64 / (1u64 << 53) as f64;
    f
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
            let p = RetryPolicy {
                base: Duration::from_millis(250),
                max: Duration::from_secs(10),
                jitter: 0.5,
            };
            let d = backoff(&p, retry);
            prop_assert!(d <= p.max);
            let exp = p.base.saturating_mul(1u32.checked_shl(retry.min(20)).unwrap_or(u32::MAX));
            prop_assert!(d + Duration::from_micros(1) >= exp.min(p.max) / 2);
        }

        #[test]
        fn retry_after_never_panics(s in "\\PC{0,64}") {
            let _ = parse_retry_after(&s, now());
        }
    }
}
