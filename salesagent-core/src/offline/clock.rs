//! A clock tests set and advance by hand.

use super::lock;
use crate::ports::Clock;
use chrono::{DateTime, TimeZone, Utc};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A [`Clock`] that only moves when told to. Clones share the same time.
#[derive(Debug, Clone)]
pub struct ManualClock {
    now: Arc<Mutex<DateTime<Utc>>>,
}

impl ManualClock {
    /// A clock showing `start`.
    #[must_use]
    pub fn new(start: DateTime<Utc>) -> Self {
        Self {
            now: Arc::new(Mutex::new(start)),
        }
    }

    /// The fixed instant [`ManualClock::default`] starts at: Monday 2026-01-05 09:00 UTC.
    #[must_use]
    pub fn default_start() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 5, 9, 0, 0)
            .single()
            .unwrap_or(DateTime::<Utc>::MIN_UTC)
    }

    /// Sets the time (it may go backwards).
    pub fn set(&self, to: DateTime<Utc>) {
        *lock(&self.now) = to;
    }

    /// Moves the time forward by `by`.
    pub fn advance(&self, by: Duration) {
        let delta = chrono::TimeDelta::from_std(by).unwrap_or(chrono::TimeDelta::MAX);
        let mut now = lock(&self.now);
        *now = now
            .checked_add_signed(delta)
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
    }

    /// A shared handle of this clock as a [`DynClock`](crate::ports::DynClock).
    #[must_use]
    pub fn shared(&self) -> crate::ports::DynClock {
        Arc::new(self.clone())
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new(Self::default_start())
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *lock(&self.now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_and_advance_are_shared_by_clones() {
        let c = ManualClock::default();
        let other = c.clone();
        let t0 = c.now();
        c.advance(Duration::from_secs(90));
        assert_eq!(other.now() - t0, chrono::TimeDelta::seconds(90));
        other.set(t0);
        assert_eq!(c.now(), t0);
    }
}
