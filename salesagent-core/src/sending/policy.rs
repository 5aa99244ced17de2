//! The send policy: may this approved draft go out now?
//!
//! Checks run in this order and the first one that says no wins:
//! 1. the kill switch (a stored flag, read on every decision) → `Deny`;
//! 2. the suppression list (unsubscribed, bounced, manual) → `Deny`;
//! 3. the send window in the recipient's working hours and time zone → `Defer` until it opens
//!    (skipped with the operator's `ignore_window` override);
//! 4. the volume limits, reserved atomically through [`SendStore::reserve_send`] → whatever the
//!    store says (`Defer` until a slot frees up, or `Deny`).
//!
//! In [`SendMode::DraftOnly`] nothing leaves the mailbox, so steps 3 and 4 are skipped: the
//! window and the limits are about mail that is actually delivered.

use crate::model::{Denial, Draft, SendDecision, SendLimits, SendReservation};
use crate::ports::{SendStore, SettingsExt, SettingsStore};
use crate::{Error, Result};
use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, TimeDelta, TimeZone, Utc, Weekday};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

/// Whether approved drafts are delivered or only stored as mailbox drafts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SendMode {
    /// The default: an approved draft becomes a draft in the mailbox; nothing is sent.
    #[default]
    DraftOnly,
    /// Approved drafts are sent. Only with an explicit switch (`ALLOW_REAL_SENDS=true` or
    /// `--allow-real-sends`).
    RealSends,
}

impl SendMode {
    /// `RealSends` only when `allow_real_sends` is set explicitly, otherwise `DraftOnly`.
    #[must_use]
    pub fn from_switch(allow_real_sends: bool) -> Self {
        if allow_real_sends {
            Self::RealSends
        } else {
            Self::DraftOnly
        }
    }
}

/// Working hours in the recipient's time zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendWindow {
    /// Opening hour, local time (0..=23).
    pub start_hour: u8,
    /// Closing hour, local time (1..=24), exclusive.
    pub end_hour: u8,
    /// Only Monday to Friday.
    pub weekdays_only: bool,
    /// The time zone used when the recipient's is unknown.
    pub default_time_zone: Tz,
}

impl Default for SendWindow {
    /// 09:00–17:00, Monday to Friday, UTC when the recipient's zone is unknown.
    fn default() -> Self {
        Self {
            start_hour: 9,
            end_hour: 17,
            weekdays_only: true,
            default_time_zone: Tz::UTC,
        }
    }
}

impl SendWindow {
    /// Checks the hours make a non-empty window.
    pub fn validate(&self) -> Result<()> {
        if self.start_hour > 23 || self.end_hour > 24 || self.start_hour >= self.end_hour {
            return Err(Error::invalid(
                "send_window",
                "needs 0 <= start < end <= 24 (hours)",
            ));
        }
        Ok(())
    }

    fn open_day(&self, day: NaiveDate) -> bool {
        !self.weekdays_only || !matches!(day.weekday(), Weekday::Sat | Weekday::Sun)
    }

    fn local_instant(tz: Tz, day: NaiveDate, hour: u8) -> Option<DateTime<Utc>> {
        let naive = day.and_time(NaiveTime::MIN) + TimeDelta::hours(i64::from(hour));
        // A DST gap has no local 09:00; the next hour exists.
        tz.from_local_datetime(&naive)
            .earliest()
            .or_else(|| {
                tz.from_local_datetime(&(naive + TimeDelta::hours(1)))
                    .earliest()
            })
            .map(|t| t.with_timezone(&Utc))
    }

    /// `None` when `now` is inside the window in `tz`, otherwise the next opening time.
    #[must_use]
    pub fn next_opening(&self, now: DateTime<Utc>, tz: Option<Tz>) -> Option<DateTime<Utc>> {
        let tz = tz.unwrap_or(self.default_time_zone);
        let today = now.with_timezone(&tz).date_naive();
        for offset in 0..=8 {
            let Some(day) = today.checked_add_days(chrono::Days::new(offset)) else {
                break;
            };
            if !self.open_day(day) {
                continue;
            }
            let (Some(open), Some(close)) = (
                Self::local_instant(tz, day, self.start_hour),
                Self::local_instant(tz, day, self.end_hour),
            ) else {
                continue;
            };
            if now < open {
                return Some(open);
            }
            if now < close {
                return None;
            }
        }
        // Unreachable for a valid window; never block forever.
        None
    }
}

/// What the policy needs to know, set once per process.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolicyConfig {
    /// Draft-only (default) or real sends.
    pub mode: SendMode,
    /// Volume limits.
    pub limits: SendLimits,
    /// Working-hours window; `None` sends at any hour.
    pub window: Option<SendWindow>,
    /// The operator's "send now" override of the window (never of limits or suppression).
    pub ignore_window: bool,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        Self {
            mode: SendMode::DraftOnly,
            limits: SendLimits::default(),
            window: Some(SendWindow::default()),
            ignore_window: false,
        }
    }
}

/// Decides whether a draft may be sent now. Stateless apart from its configuration; everything
/// else is read from the store on each call.
#[derive(Debug, Clone, Default)]
pub struct SendPolicy {
    /// The configuration.
    pub config: PolicyConfig,
}

/// Reason prefix of a kill-switch denial ([`Denial::KillSwitch`]; its [`Denial::code`]).
pub const REASON_KILL_SWITCH: &str = "kill_switch";
/// Reason prefix of a suppression denial ([`Denial::Suppressed`]; its [`Denial::code`]).
pub const REASON_SUPPRESSED: &str = "suppressed";
/// Reason prefix of a send-window deferral ([`Denial::OutsideWindow`]; its [`Denial::code`]).
pub const REASON_WINDOW: &str = "outside_send_window";

impl SendPolicy {
    /// A policy with `config`.
    #[must_use]
    pub fn new(config: PolicyConfig) -> Self {
        Self { config }
    }

    /// The checks that reserve nothing: kill switch, suppression and (with `check_window`) the
    /// window. `None` means "no objection so far".
    ///
    /// # Errors
    /// Store errors.
    pub async fn precheck<S>(
        &self,
        store: &S,
        draft: &Draft,
        recipient_tz: Option<Tz>,
        now: DateTime<Utc>,
    ) -> Result<Option<SendDecision>>
    where
        S: SettingsStore + SendStore + ?Sized,
    {
        if store.kill_switch().await? {
            return Ok(Some(SendDecision::Deny {
                reason: Denial::KillSwitch,
            }));
        }
        if let Some(s) = store.suppression(&draft.contact_email).await? {
            return Ok(Some(SendDecision::Deny {
                reason: Denial::Suppressed {
                    suppression: Some(s.reason),
                },
            }));
        }
        if self.config.mode == SendMode::RealSends
            && !self.config.ignore_window
            && let Some(window) = &self.config.window
            && let Some(until) = window.next_opening(now, recipient_tz)
        {
            return Ok(Some(SendDecision::Defer {
                until,
                reason: Denial::OutsideWindow {
                    until,
                    start_hour: window.start_hour,
                    end_hour: window.end_hour,
                    time_zone: recipient_tz.unwrap_or(window.default_time_zone),
                },
            }));
        }
        Ok(None)
    }

    /// The full decision for sending `draft` at `now`; on `Allow` in real-send mode the send is
    /// already reserved against the limits (reserving again for the same draft is idempotent).
    ///
    /// # Errors
    /// Store errors; the caller should treat them as "try again later".
    pub async fn decide<S>(
        &self,
        store: &S,
        draft: &Draft,
        recipient_tz: Option<Tz>,
        now: DateTime<Utc>,
    ) -> Result<SendDecision>
    where
        S: SettingsStore + SendStore + ?Sized,
    {
        if let Some(d) = self.precheck(store, draft, recipient_tz, now).await? {
            return Ok(d);
        }
        if self.config.mode == SendMode::DraftOnly {
            return Ok(SendDecision::Allow);
        }
        let reservation = SendReservation {
            draft_id: draft.id,
            contact: draft.contact_email.clone(),
            sender: draft.sender.clone(),
            at: now,
        };
        store.reserve_send(&reservation, &self.config.limits).await
    }
}

/// Parses an IANA time zone name (`Europe/Berlin`); `None` for unknown names.
#[must_use]
pub fn parse_time_zone(name: &str) -> Option<Tz> {
    name.trim().parse::<Tz>().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn utc(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, min, 0).single().unwrap()
    }

    #[test]
    fn window_in_a_time_zone() {
        let w = SendWindow::default();
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        // Monday 2026-01-05 07:30 UTC = 08:30 Berlin: opens at 09:00 Berlin = 08:00 UTC.
        assert_eq!(
            w.next_opening(utc(2026, 1, 5, 7, 30), Some(berlin)),
            Some(utc(2026, 1, 5, 8, 0))
        );
        // 10:00 UTC = 11:00 Berlin: open.
        assert_eq!(w.next_opening(utc(2026, 1, 5, 10, 0), Some(berlin)), None);
        // 16:30 UTC = 17:30 Berlin: closed; next opening Tuesday 08:00 UTC.
        assert_eq!(
            w.next_opening(utc(2026, 1, 5, 16, 30), Some(berlin)),
            Some(utc(2026, 1, 6, 8, 0))
        );
        // Friday 2026-01-09 18:00 Berlin → Monday 2026-01-12 09:00 Berlin.
        assert_eq!(
            w.next_opening(utc(2026, 1, 9, 17, 0), Some(berlin)),
            Some(utc(2026, 1, 12, 8, 0))
        );
        // Same instant is inside the window in New York (12:00 local).
        let ny: Tz = "America/New_York".parse().unwrap();
        assert_eq!(w.next_opening(utc(2026, 1, 9, 17, 0), Some(ny)), None);
        // Unknown zone falls back to the default (UTC).
        assert_eq!(
            w.next_opening(utc(2026, 1, 5, 7, 30), None),
            Some(utc(2026, 1, 5, 9, 0))
        );
    }

    #[test]
    fn window_validation_and_all_week() {
        assert!(
            SendWindow {
                start_hour: 17,
                end_hour: 9,
                ..SendWindow::default()
            }
            .validate()
            .is_err()
        );
        let always = SendWindow {
            start_hour: 0,
            end_hour: 24,
            weekdays_only: false,
            default_time_zone: Tz::UTC,
        };
        assert!(always.validate().is_ok());
        // Saturday, any hour.
        assert_eq!(always.next_opening(utc(2026, 1, 10, 3, 0), None), None);
    }

    #[test]
    fn mode_needs_an_explicit_switch() {
        assert_eq!(SendMode::default(), SendMode::DraftOnly);
        assert_eq!(SendMode::from_switch(false), SendMode::DraftOnly);
        assert_eq!(SendMode::from_switch(true), SendMode::RealSends);
        assert!(parse_time_zone("Europe/Berlin").is_some());
        assert!(parse_time_zone("Mars/Olympus").is_none());
    }
}
