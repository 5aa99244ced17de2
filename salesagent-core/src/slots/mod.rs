//! Meeting-slot proposals: free times in the sender's working hours, on business days, after a
//! minimum notice, avoiding busy intervals, rendered in the recipient's time zone.
//!
//! Time zones come from the IANA database (`chrono-tz`), so daylight-saving changes are
//! handled: a local working-day start that does not exist (spring forward) is skipped, an
//! ambiguous one (fall back) takes the earlier instant.

use crate::model::Interval;
use chrono::{
    DateTime, Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Timelike, Utc, Weekday,
};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

/// How slots are chosen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SlotRules {
    /// How many slots to propose.
    pub count: usize,
    /// Meeting length in minutes.
    pub duration_minutes: u32,
    /// Granularity of start times in minutes (slots start on multiples of this past the hour).
    pub step_minutes: u32,
    /// Start of the sender's working day (local time).
    pub day_start: NaiveTime,
    /// End of the sender's working day (local time); meetings end by then.
    pub day_end: NaiveTime,
    /// Business days.
    pub working_days: Vec<Weekday>,
    /// The sender's time zone.
    pub sender_zone: Tz,
    /// Minimum notice before the first slot, in minutes.
    pub min_notice_minutes: u32,
    /// How many days ahead to look.
    pub horizon_days: u32,
    /// At most this many slots on one day (spreads the proposals; 0 = no limit).
    pub max_per_day: usize,
}

impl Default for SlotRules {
    fn default() -> Self {
        Self {
            count: 3,
            duration_minutes: 30,
            step_minutes: 30,
            day_start: NaiveTime::from_hms_opt(9, 0, 0).unwrap_or_default(),
            day_end: NaiveTime::from_hms_opt(17, 0, 0).unwrap_or_default(),
            working_days: vec![
                Weekday::Mon,
                Weekday::Tue,
                Weekday::Wed,
                Weekday::Thu,
                Weekday::Fri,
            ],
            sender_zone: chrono_tz::Europe::Berlin,
            min_notice_minutes: 24 * 60,
            horizon_days: 14,
            max_per_day: 1,
        }
    }
}

/// One proposed slot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MeetingSlot {
    /// When, in UTC.
    pub interval: Interval,
    /// The zone the slot is rendered in (IANA name).
    pub zone: String,
    /// Human-readable text in that zone, with the zone shown
    /// (`Tue 1 Dec, 10:00–10:30 CET (Europe/Berlin)`).
    pub display: String,
}

impl SlotRules {
    /// The calendar range to ask free/busy for, starting at `now`.
    #[must_use]
    pub fn search_range(&self, now: DateTime<Utc>) -> Interval {
        Interval {
            start: now,
            end: now + Duration::days(i64::from(self.horizon_days) + 1),
        }
    }

    /// Up to `count` slots after `now + min_notice`, within the sender's working hours on
    /// business days, none overlapping a `busy` interval, rendered in `recipient_zone` (the
    /// sender's zone when `None`). Fewer are returned when the horizon is full.
    ///
    /// With a recipient zone, slots inside the recipient's working hours too (the same hours
    /// and business days, in their local time) come first, earliest first; when the two
    /// working days do not overlap enough, the rest are the slots least far outside the
    /// recipient's hours (a Berlin sender offers Los Angeles the end of the Berlin day, never
    /// 03:00 in the morning). The proposals are returned in time order.
    #[must_use]
    pub fn propose(
        &self,
        now: DateTime<Utc>,
        busy: &[Interval],
        recipient_zone: Option<Tz>,
    ) -> Vec<MeetingSlot> {
        let mut out = Vec::with_capacity(self.count);
        if self.count == 0 || self.duration_minutes == 0 || self.day_end <= self.day_start {
            return out;
        }
        let zone = recipient_zone.unwrap_or(self.sender_zone);
        let len = Duration::minutes(i64::from(self.duration_minutes));
        let earliest = now + Duration::minutes(i64::from(self.min_notice_minutes));
        let mut busy: Vec<Interval> = busy.to_vec();
        busy.sort();
        let first_day = earliest.with_timezone(&self.sender_zone).date_naive();
        let last_day = (now + Duration::days(i64::from(self.horizon_days)))
            .with_timezone(&self.sender_zone)
            .date_naive();
        // Every free slot of the horizon, with the minutes it lies outside the recipient's
        // working hours, then the best ones (earliest first among equals).
        let mut candidates: Vec<(i64, NaiveDate, Interval)> = Vec::new();
        let mut day = first_day;
        while day <= last_day {
            if self.working_days.contains(&day.weekday()) {
                let first = self.day_start.num_seconds_from_midnight() / 60;
                let last = self.day_end.num_seconds_from_midnight() / 60;
                let mut m = first;
                while m + self.duration_minutes <= last {
                    let t = NaiveTime::from_num_seconds_from_midnight_opt(m * 60, 0)
                        .unwrap_or(self.day_start);
                    m += self.step_minutes.max(5);
                    let Some(start) = self
                        .sender_zone
                        .from_local_datetime(&day.and_time(t))
                        .earliest()
                    else {
                        continue; // skipped by a daylight-saving change
                    };
                    let start = start.with_timezone(&Utc);
                    let slot = Interval {
                        start,
                        end: start + len,
                    };
                    if start >= earliest && !busy.iter().any(|b| b.overlaps(&slot)) {
                        let outside = recipient_zone.map_or(0, |z| self.minutes_outside(&slot, z));
                        candidates.push((outside, day, slot));
                    }
                }
            }
            match day.succ_opt() {
                Some(d) => day = d,
                None => break,
            }
        }
        // Stable: among equally good slots the earlier one wins, as without a recipient zone.
        candidates.sort_by_key(|(outside, _, slot)| (*outside, slot.start));
        let mut per_day: std::collections::BTreeMap<NaiveDate, usize> = Default::default();
        let mut chosen = Vec::with_capacity(self.count);
        for (_, day, slot) in candidates {
            if chosen.len() >= self.count {
                break;
            }
            let on_day = per_day.entry(day).or_default();
            if self.max_per_day > 0 && *on_day >= self.max_per_day {
                continue;
            }
            *on_day += 1;
            chosen.push(slot);
        }
        chosen.sort_by_key(|slot| slot.start);
        out.extend(chosen.into_iter().map(|slot| render(slot, zone)));
        out
    }

    /// Minutes of `slot` outside the working hours in `zone` (local time there): 0 inside; a
    /// whole day (1,440) added when it falls on a day off there.
    fn minutes_outside(&self, slot: &Interval, zone: Tz) -> i64 {
        let start = slot.start.with_timezone(&zone).naive_local();
        let end = slot.end.with_timezone(&zone).naive_local();
        let open = start.date().and_time(self.day_start);
        let close = start.date().and_time(self.day_end);
        let before = (open - start).num_minutes().max(0);
        let after = (end - close).num_minutes().max(0);
        let day_off = if self.working_days.contains(&start.date().weekday()) {
            0
        } else {
            24 * 60
        };
        before + after + day_off
    }
}

/// Renders a slot in `zone`, showing the zone abbreviation and IANA name.
#[must_use]
pub fn render(interval: Interval, zone: Tz) -> MeetingSlot {
    let s = interval.start.with_timezone(&zone);
    let e = interval.end.with_timezone(&zone);
    let display = format!(
        "{}, {}–{} {} ({})",
        s.format("%a %-d %b"),
        s.format("%H:%M"),
        e.format("%H:%M"),
        s.format("%Z"),
        zone.name()
    );
    MeetingSlot {
        interval,
        zone: zone.name().to_owned(),
        display,
    }
}

/// Parses an IANA zone name (`Europe/Berlin`), ignoring surrounding space; `None` when unknown.
#[must_use]
pub fn parse_zone(name: &str) -> Option<Tz> {
    name.trim().parse::<Tz>().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn three_slots_on_business_days_after_notice() {
        let rules = SlotRules::default();
        // Thursday 2026-11-26 10:00 UTC; 24 h notice → Friday 11:00 Berlin at the earliest.
        let slots = rules.propose(at("2026-11-26T10:00:00Z"), &[], None);
        let shown: Vec<_> = slots.iter().map(|s| s.display.as_str()).collect();
        assert_eq!(
            shown,
            [
                "Fri 27 Nov, 11:00–11:30 CET (Europe/Berlin)",
                "Mon 30 Nov, 09:00–09:30 CET (Europe/Berlin)",
                "Tue 1 Dec, 09:00–09:30 CET (Europe/Berlin)",
            ]
        );
    }

    #[test]
    fn busy_intervals_are_avoided_and_zone_is_the_recipients() {
        let rules = SlotRules {
            max_per_day: 0,
            ..SlotRules::default()
        };
        // Berlin 9–17 overlaps New York 9–17 (EST) from 15:00 to 17:00 Berlin; busy on
        // Friday from 15:00 to 16:15 Berlin leaves 16:30 Berlin (10:30 in New York).
        let busy = [Interval {
            start: at("2026-11-27T14:00:00Z"),
            end: at("2026-11-27T15:15:00Z"),
        }];
        let ny = parse_zone("America/New_York");
        let slots = rules.propose(at("2026-11-26T10:00:00Z"), &busy, ny);
        assert_eq!(slots.len(), 3);
        for s in &slots {
            assert!(busy.iter().all(|b| !b.overlaps(&s.interval)));
            assert_eq!(s.zone, "America/New_York");
        }
        let shown: Vec<_> = slots.iter().map(|s| s.display.as_str()).collect();
        assert_eq!(
            shown,
            [
                "Fri 27 Nov, 10:30–11:00 EST (America/New_York)",
                "Mon 30 Nov, 09:00–09:30 EST (America/New_York)",
                "Mon 30 Nov, 09:30–10:00 EST (America/New_York)",
            ]
        );
    }

    #[test]
    fn without_overlap_the_slots_nearest_the_recipients_day_are_offered() {
        // Berlin 9–17 is 00:00–08:00 in Los Angeles (PST): the end of the Berlin day is the
        // nearest to a Californian working day, never the middle of their night.
        let la = parse_zone("America/Los_Angeles");
        let slots = SlotRules::default().propose(at("2026-11-26T10:00:00Z"), &[], la);
        let shown: Vec<_> = slots.iter().map(|s| s.display.as_str()).collect();
        assert_eq!(
            shown,
            [
                "Fri 27 Nov, 07:30–08:00 PST (America/Los_Angeles)",
                "Mon 30 Nov, 07:30–08:00 PST (America/Los_Angeles)",
                "Tue 1 Dec, 07:30–08:00 PST (America/Los_Angeles)",
            ]
        );
        // The sender's own zone, or none, changes nothing.
        let berlin = parse_zone("Europe/Berlin");
        let now = at("2026-11-26T10:00:00Z");
        let own: Vec<_> = SlotRules::default().propose(now, &[], berlin);
        let none: Vec<_> = SlotRules::default().propose(now, &[], None);
        assert_eq!(own, none);
    }

    #[test]
    fn dst_change_is_respected() {
        // Europe/Berlin leaves summer time on Sunday 2026-10-25: 09:00 local is 07:00 UTC
        // on Friday and 08:00 UTC on Monday.
        let rules = SlotRules {
            min_notice_minutes: 0,
            count: 2,
            ..SlotRules::default()
        };
        let slots = rules.propose(at("2026-10-23T06:00:00Z"), &[], None);
        assert_eq!(slots[0].interval.start, at("2026-10-23T07:00:00Z"));
        assert_eq!(slots[1].interval.start, at("2026-10-26T08:00:00Z"));
        assert!(slots[0].display.contains("CEST"));
        assert!(slots[1].display.contains("CET"));
    }

    #[test]
    fn full_calendar_yields_fewer_slots_and_bad_rules_none() {
        let rules = SlotRules::default();
        let now = at("2026-11-26T10:00:00Z");
        let all_busy = [rules.search_range(now)];
        assert!(rules.propose(now, &all_busy, None).is_empty());
        let inverted = SlotRules {
            day_start: NaiveTime::from_hms_opt(18, 0, 0).unwrap(),
            ..SlotRules::default()
        };
        assert!(inverted.propose(now, &[], None).is_empty());
        assert!(parse_zone("Mars/Olympus").is_none());
    }
}
