//! The daily token budget: once spent, LLM calls fail with `Unavailable` so callers fall back to
//! the template writer until the next UTC day.

use chrono::NaiveDate;
use salesagent_core::Error;
use std::sync::Mutex;

/// Reason prefix of the error returned once the budget is spent.
pub const BUDGET_EXHAUSTED: &str = "openai: daily token budget exhausted";

/// True when `e` is the budget error (so a caller can tell it from an outage).
#[must_use]
pub fn is_budget_exhausted(e: &Error) -> bool {
    matches!(e, Error::Unavailable { reason } if reason.starts_with(BUDGET_EXHAUSTED))
}

/// Tokens used per UTC day against a limit.
#[derive(Debug)]
pub struct TokenBudget {
    limit: Option<u64>,
    used: Mutex<(Option<NaiveDate>, u64)>,
}

impl TokenBudget {
    /// A budget of `limit` tokens a day (`None` = unlimited).
    #[must_use]
    pub fn new(limit: Option<u64>) -> Self {
        Self {
            limit,
            used: Mutex::new((None, 0)),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (Option<NaiveDate>, u64)> {
        self.used
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Tokens used on `day`.
    #[must_use]
    pub fn used(&self, day: NaiveDate) -> u64 {
        let g = self.lock();
        if g.0 == Some(day) { g.1 } else { 0 }
    }

    /// `Err(Unavailable)` when the budget of `day` is spent.
    pub fn check(&self, day: NaiveDate) -> Result<(), Error> {
        match self.limit {
            Some(limit) if self.used(day) >= limit => Err(Error::unavailable(format!(
                "{BUDGET_EXHAUSTED} ({limit} tokens); using templates until tomorrow (UTC)"
            ))),
            _ => Ok(()),
        }
    }

    /// Records `tokens` used on `day`.
    pub fn record(&self, day: NaiveDate, tokens: u64) {
        let mut g = self.lock();
        if g.0 != Some(day) {
            *g = (Some(day), 0);
        }
        g.1 = g.1.saturating_add(tokens);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resets_daily() {
        let b = TokenBudget::new(Some(100));
        let d1 = NaiveDate::from_ymd_opt(2026, 11, 26).unwrap();
        let d2 = d1.succ_opt().unwrap();
        b.check(d1).unwrap();
        b.record(d1, 60);
        b.check(d1).unwrap();
        b.record(d1, 40);
        let e = b.check(d1).unwrap_err();
        assert!(is_budget_exhausted(&e));
        b.check(d2).unwrap();
        assert_eq!(b.used(d2), 0);
        TokenBudget::new(None).check(d1).unwrap();
    }
}
