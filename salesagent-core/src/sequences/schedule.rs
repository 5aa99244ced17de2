//! Business days in a time zone: when a step is due, and what is left of a wait. A business day
//! is a Monday to Friday that is not one of the given public holidays (local dates in the
//! recipient's zone).

use chrono::{
    DateTime, Datelike, Days, LocalResult, NaiveDate, NaiveDateTime, TimeZone, Utc, Weekday,
};
use chrono_tz::Tz;

fn is_business_day(d: NaiveDate, holidays: &[NaiveDate]) -> bool {
    !matches!(d.weekday(), Weekday::Sat | Weekday::Sun) && !holidays.contains(&d)
}

/// The instant of `local` in `tz`; a local time skipped by a clock change moves an hour on.
fn resolve(tz: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => t.with_timezone(&Utc),
        LocalResult::None => {
            let later = local + chrono::Duration::hours(1);
            tz.from_local_datetime(&later)
                .earliest()
                .map_or_else(|| later.and_utc(), |t| t.with_timezone(&Utc))
        }
    }
}

/// `at` moved on by `days` business days (Monday to Friday) in `tz`, keeping the local time of
/// day: Friday + 1 is Monday, Saturday + 1 is Monday. With `days` = 0, `at` itself when it falls
/// on a business day, else the next business day's same local time.
#[must_use]
pub fn add_business_days(at: DateTime<Utc>, days: u32, tz: Tz) -> DateTime<Utc> {
    add_business_days_except(at, days, tz, &[])
}

/// [`add_business_days`] that also skips `holidays` (local dates in `tz`): with 25 and 26
/// December off, Thursday 24 December + 1 is Monday 28 December.
#[must_use]
pub fn add_business_days_except(
    at: DateTime<Utc>,
    days: u32,
    tz: Tz,
    holidays: &[NaiveDate],
) -> DateTime<Utc> {
    let local = at.with_timezone(&tz).naive_local();
    let mut date = local.date();
    let mut left = days;
    if left == 0 {
        if is_business_day(date, holidays) {
            return at;
        }
        left = 1;
    }
    while left > 0 {
        let Some(next) = date.checked_add_days(Days::new(1)) else {
            return at;
        };
        date = next;
        if is_business_day(date, holidays) {
            left -= 1;
        }
    }
    resolve(tz, date.and_time(local.time()))
}

/// How many business days (in `tz`) lie after `from`'s date up to and including `to`'s date;
/// 0 when `to` is not after `from`.
#[must_use]
pub fn business_days_between(from: DateTime<Utc>, to: DateTime<Utc>, tz: Tz) -> u32 {
    business_days_between_except(from, to, tz, &[])
}

/// [`business_days_between`] not counting `holidays` (local dates in `tz`).
#[must_use]
pub fn business_days_between_except(
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    tz: Tz,
    holidays: &[NaiveDate],
) -> u32 {
    let a = from.with_timezone(&tz).date_naive();
    let b = to.with_timezone(&tz).date_naive();
    let mut n = 0u32;
    let mut d = a;
    while d < b && n < 10_000 {
        let Some(next) = d.checked_add_days(Days::new(1)) else {
            break;
        };
        d = next;
        if is_business_day(d, holidays) {
            n += 1;
        }
    }
    n
}

/// 09:00 local time in `tz` on `date` (when an out-of-office contact is back).
#[must_use]
pub fn morning_of(date: NaiveDate, tz: Tz) -> DateTime<Utc> {
    let nine = chrono::NaiveTime::from_hms_opt(9, 0, 0).unwrap_or_default();
    resolve(tz, date.and_time(nine))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(d: u32, h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, d, h, 0, 0).unwrap()
    }

    #[test]
    fn weekends_are_skipped() {
        // 2026-12-04 is a Friday.
        assert_eq!(add_business_days(utc(4, 10), 1, Tz::UTC), utc(7, 10));
        assert_eq!(add_business_days(utc(4, 10), 3, Tz::UTC), utc(9, 10));
        assert_eq!(add_business_days(utc(5, 10), 1, Tz::UTC), utc(7, 10));
        assert_eq!(add_business_days(utc(5, 10), 0, Tz::UTC), utc(7, 10));
        assert_eq!(add_business_days(utc(2, 10), 0, Tz::UTC), utc(2, 10));
        assert_eq!(business_days_between(utc(4, 10), utc(9, 10), Tz::UTC), 3);
        assert_eq!(business_days_between(utc(9, 10), utc(4, 10), Tz::UTC), 0);
    }

    #[test]
    fn counted_in_the_recipients_zone() {
        // Friday 23:00 UTC is already Saturday in Tokyo: one business day on is Monday there.
        let tokyo: Tz = "Asia/Tokyo".parse().unwrap();
        let due = add_business_days(utc(4, 23), 1, tokyo);
        assert_eq!(due.with_timezone(&tokyo).weekday(), Weekday::Mon);
        assert_eq!(due, utc(6, 23)); // Monday 08:00 Tokyo
        assert_eq!(add_business_days(utc(4, 23), 1, Tz::UTC), utc(7, 23));
    }

    fn day(m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, m, d).unwrap()
    }

    #[test]
    fn holidays_are_skipped_in_the_recipients_zone() {
        // 2026-12-24 is a Thursday; 25 (Friday) and 26 (Saturday) December are holidays.
        let off = [day(12, 25), day(12, 26)];
        assert_eq!(day(12, 24).weekday(), Weekday::Thu);
        assert_eq!(
            add_business_days_except(utc(24, 10), 1, Tz::UTC, &off),
            Utc.with_ymd_and_hms(2026, 12, 28, 10, 0, 0).unwrap()
        );
        // Without them the Friday counts.
        assert_eq!(add_business_days(utc(24, 10), 1, Tz::UTC), utc(25, 10));
        // A step due on the 24th waiting 0 days stays there; one computed on the holiday moves.
        assert_eq!(
            add_business_days_except(utc(24, 10), 0, Tz::UTC, &off),
            utc(24, 10)
        );
        assert_eq!(
            add_business_days_except(utc(25, 10), 0, Tz::UTC, &off),
            Utc.with_ymd_and_hms(2026, 12, 28, 10, 0, 0).unwrap()
        );
        // Three business days from Wednesday 23rd: 24th, 28th, 29th.
        assert_eq!(
            add_business_days_except(utc(23, 10), 3, Tz::UTC, &off),
            Utc.with_ymd_and_hms(2026, 12, 29, 10, 0, 0).unwrap()
        );
        assert_eq!(
            business_days_between_except(utc(23, 10), utc(29, 10), Tz::UTC, &off),
            3
        );
        assert_eq!(business_days_between(utc(23, 10), utc(29, 10), Tz::UTC), 4);
        // New Year's Day 2027 is a Friday: Thursday 31 December + 1 is Monday 4 January.
        let new_year = [NaiveDate::from_ymd_opt(2027, 1, 1).unwrap()];
        assert_eq!(
            add_business_days_except(utc(31, 10), 1, Tz::UTC, &new_year),
            Utc.with_ymd_and_hms(2027, 1, 4, 10, 0, 0).unwrap()
        );
    }

    #[test]
    fn a_holiday_is_a_local_date() {
        // Thursday 24 December 23:30 UTC is already Friday 25th in Berlin, a holiday there:
        // one business day on is Monday 28th, 00:30 Berlin.
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        let at = Utc.with_ymd_and_hms(2026, 12, 24, 23, 30, 0).unwrap();
        let off = [day(12, 25), day(12, 26)];
        let due = add_business_days_except(at, 1, berlin, &off);
        assert_eq!(due.with_timezone(&berlin).date_naive(), day(12, 28));
        // In UTC the same instant is still the 24th: one on is the 28th too (25th is off),
        // but from the 24th's own time of day.
        assert_eq!(
            add_business_days_except(at, 1, Tz::UTC, &off),
            Utc.with_ymd_and_hms(2026, 12, 28, 23, 30, 0).unwrap()
        );
    }
}
