//! The send-limit rule, as plain values in and out: every store backend executes it with its
//! own reads and writes (inside its own transaction or lock), so the rule exists once.
//!
//! A reservation ([`SendStore::reserve_send`](crate::ports::SendStore::reserve_send)) runs, in
//! this order, under the backend's atomicity:
//! 1. the draft already holds a reservation → [`Reservation::repeat`] (allowed, not counted again);
//! 2. the recipient is suppressed or erased → [`Reservation::suppressed`];
//! 3. a limit set to 0 → [`Reservation::zero_limit`];
//! 4. for each [`Reservation::windows`] entry the backend reads the newest sends of that
//!    scope inside the window (at most [`LimitWindow::take`]), and [`Reservation::decide`]
//!    says `Allow` (the backend then records the send) or `Defer` until every full limit has
//!    a free slot.

use crate::model::{
    Denial, LimitHit, LimitScope, SendDecision, SendLimit, SendLimits, SendReservation,
};
use chrono::{DateTime, Utc};

/// One rolling window a backend must look up: the newest sends of `limit`'s scope made after
/// `since` (exclusive), at most `take` of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitWindow {
    /// Which limit.
    pub limit: SendLimit,
    /// What the sends are counted by (the backend's key for it).
    pub scope: LimitScope,
    /// Sends strictly after this instant are inside the window.
    pub since: DateTime<Utc>,
    /// How many of the newest sends the rule needs (the limit's value).
    pub take: u32,
}

/// The sends a backend found for one [`LimitWindow`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowSends {
    /// Which limit.
    pub limit: SendLimit,
    /// Times of the newest sends inside the window, any order; more than `take` is fine.
    pub times: Vec<DateTime<Utc>>,
}

/// The limit rule for one reservation.
#[derive(Debug, Clone, Copy)]
pub struct Reservation<'a> {
    /// The send being reserved.
    pub request: &'a SendReservation,
    /// The limits in force.
    pub limits: &'a SendLimits,
}

impl<'a> Reservation<'a> {
    /// The rule for `request` under `limits`.
    #[must_use]
    pub fn new(request: &'a SendReservation, limits: &'a SendLimits) -> Self {
        Self { request, limits }
    }

    /// Step 1: the draft is already reserved; allowed without counting it twice.
    #[must_use]
    pub fn repeat() -> SendDecision {
        SendDecision::Allow
    }

    /// Step 2: the recipient is suppressed (or erased).
    #[must_use]
    pub fn suppressed() -> SendDecision {
        SendDecision::Deny {
            reason: Denial::Suppressed { suppression: None },
        }
    }

    /// Step 3: the first limit set to 0, as a denial.
    #[must_use]
    pub fn zero_limit(&self) -> Option<SendDecision> {
        SendLimit::ALL
            .into_iter()
            .find(|l| l.of(self.limits) == 0)
            .map(|limit| SendDecision::Deny {
                reason: Denial::LimitZero { limit },
            })
    }

    /// Step 4a: the windows to look up, one per limit in [`SendLimit::ALL`] order.
    #[must_use]
    pub fn windows(&self) -> Vec<LimitWindow> {
        SendLimit::ALL
            .into_iter()
            .map(|limit| LimitWindow {
                limit,
                scope: limit.scope(),
                since: self
                    .request
                    .at
                    .checked_sub_signed(limit.window())
                    .unwrap_or(DateTime::<Utc>::MIN_UTC),
                take: limit.of(self.limits),
            })
            .collect()
    }

    /// Step 4b: `Allow` (record the send) when every window has room, else `Defer` until the
    /// latest time one of the full windows frees a slot: a full window frees one when its
    /// `take`-th newest send leaves it. Windows missing from `found` count as empty.
    #[must_use]
    pub fn decide(&self, found: &[WindowSends]) -> SendDecision {
        let mut hits = Vec::new();
        let mut until: Option<DateTime<Utc>> = None;
        for limit in SendLimit::ALL {
            let max = limit.of(self.limits);
            let Some(sends) = found.iter().find(|w| w.limit == limit) else {
                continue;
            };
            let mut inside: Vec<DateTime<Utc>> = sends
                .times
                .iter()
                .copied()
                .filter(|t| *t + limit.window() > self.request.at)
                .collect();
            let Some(n) = usize::try_from(max).ok().filter(|n| *n > 0) else {
                continue;
            };
            if inside.len() < n {
                continue;
            }
            inside.sort_unstable_by(|a, b| b.cmp(a));
            let frees_at = inside[n - 1] + limit.window();
            until = Some(until.map_or(frees_at, |u| u.max(frees_at)));
            hits.push(LimitHit { limit, max });
        }
        match until {
            None => SendDecision::Allow,
            Some(until) => SendDecision::Defer {
                until,
                reason: Denial::LimitReached {
                    until,
                    limits: hits,
                },
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{DraftId, EmailAddress};
    use chrono::{TimeDelta, TimeZone};

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 5, 9, 0, 0).single().unwrap()
    }

    fn request(at: DateTime<Utc>) -> SendReservation {
        SendReservation {
            draft_id: DraftId::new(),
            contact: EmailAddress::parse("jane@acme.io").unwrap(),
            sender: EmailAddress::parse("sam@seller.dev").unwrap(),
            at,
        }
    }

    #[test]
    fn full_windows_defer_until_the_latest_one_frees_a_slot() {
        let limits = SendLimits {
            per_contact_week: 2,
            per_contact_day: 1,
            ..SendLimits::default()
        };
        let r = request(t0() + TimeDelta::hours(2));
        let rule = Reservation::new(&r, &limits);
        assert_eq!(rule.zero_limit(), None);
        let week = rule.windows()[0];
        assert_eq!(
            (week.limit, week.since, week.take),
            (SendLimit::ContactWeek, r.at - TimeDelta::days(7), 2)
        );
        let sends = vec![t0(), t0() + TimeDelta::hours(1)];
        let found = [
            WindowSends {
                limit: SendLimit::ContactWeek,
                times: sends.clone(),
            },
            WindowSends {
                limit: SendLimit::ContactDay,
                times: sends,
            },
        ];
        let d = rule.decide(&found);
        let until = t0() + TimeDelta::days(7);
        assert_eq!(
            d,
            SendDecision::Defer {
                until,
                reason: Denial::LimitReached {
                    until,
                    limits: vec![
                        LimitHit {
                            limit: SendLimit::ContactWeek,
                            max: 2
                        },
                        LimitHit {
                            limit: SendLimit::ContactDay,
                            max: 1
                        },
                    ],
                },
            }
        );
        assert_eq!(
            d.denial().unwrap().to_string(),
            "per-contact weekly limit (2) reached; per-contact daily limit (1) reached"
        );
        // At `until` the oldest send has left the week.
        let later = request(until);
        let found = [WindowSends {
            limit: SendLimit::ContactWeek,
            times: vec![t0(), t0() + TimeDelta::hours(1)],
        }];
        assert!(Reservation::new(&later, &limits).decide(&found).is_allow());
    }

    #[test]
    fn a_zero_limit_denies() {
        let limits = SendLimits {
            per_sender_day: 0,
            ..SendLimits::default()
        };
        let r = request(t0());
        let d = Reservation::new(&r, &limits).zero_limit().unwrap();
        assert_eq!(
            d.denial().unwrap().to_string(),
            "per-sender daily limit is 0"
        );
    }
}
