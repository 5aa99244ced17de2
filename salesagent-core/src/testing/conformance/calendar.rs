//! The calendar conformance suite.

use super::{expect_err, ok, unique};
use crate::model::{EmailAddress, EventStatus, Interval, NewEvent};
use crate::ports::Calendar;
use chrono::{DateTime, TimeDelta, TimeZone, Utc};

/// Where the suite may put its events.
#[derive(Debug, Clone)]
pub struct CalendarFixture {
    /// Start of a free stretch of at least a week the suite may use (each run picks a slot in it).
    pub free_from: DateTime<Utc>,
    /// Domain of the invitees the suite uses.
    pub invitee_domain: String,
}

impl Default for CalendarFixture {
    fn default() -> Self {
        Self {
            free_from: Utc
                .with_ymd_and_hms(2031, 6, 2, 0, 0, 0)
                .single()
                .expect("valid date"),
            invitee_domain: "conformance.example".into(),
        }
    }
}

/// Runs the calendar suite against `calendar`.
pub async fn run<C: Calendar + ?Sized>(calendar: &C, fixture: &CalendarFixture) {
    let token = unique();
    // A slot somewhere in the free week, on a whole quarter hour, so reruns rarely collide.
    let quarter = u32::from_str_radix(&token[..4], 16).unwrap_or(0) % (6 * 24 * 4);
    let start = fixture.free_from + TimeDelta::minutes(i64::from(quarter) * 15);
    let slot = Interval {
        start,
        end: start + TimeDelta::minutes(30),
    };
    let around = Interval {
        start: start - TimeDelta::hours(2),
        end: start + TimeDelta::hours(2),
    };
    let invitee = EmailAddress::parse(&format!("lead.{token}@{}", fixture.invitee_domain))
        .expect("valid address");
    let summary = format!("Conformance hold {token}");

    let event = ok(
        calendar
            .insert_event(&NewEvent {
                summary: summary.clone(),
                description: "Held by the conformance suite".into(),
                interval: slot,
                attendees: vec![invitee.clone()],
                status: EventStatus::Tentative,
            })
            .await,
        "insert_event",
    );
    assert_eq!(
        event.summary, summary,
        "calendar: the event keeps its summary"
    );
    assert_eq!(
        event.interval, slot,
        "calendar: the event keeps its interval"
    );
    assert_eq!(
        event.status,
        EventStatus::Tentative,
        "calendar: a hold is tentative"
    );
    assert!(
        event
            .attendees
            .iter()
            .any(|a| a.email.normalized() == invitee.normalized()),
        "calendar: the invitee is an attendee"
    );

    let events = ok(calendar.events(around).await, "events");
    assert!(
        events.iter().any(|e| e.id == event.id),
        "calendar: events lists the inserted event"
    );
    assert!(
        events
            .windows(2)
            .all(|w| w[0].interval.start <= w[1].interval.start),
        "calendar: events are sorted by start"
    );
    assert!(
        events.iter().all(|e| e.interval.overlaps(&around)),
        "calendar: events overlap the range"
    );
    let elsewhere = Interval {
        start: slot.end + TimeDelta::hours(1),
        end: slot.end + TimeDelta::hours(2),
    };
    let none = ok(calendar.events(elsewhere).await, "events");
    assert!(
        none.iter().all(|e| e.id != event.id),
        "calendar: events outside the range are not listed"
    );

    let busy = ok(calendar.free_busy(around).await, "free_busy");
    assert!(
        busy.iter()
            .any(|b| b.start <= slot.start && slot.end <= b.end),
        "calendar: free_busy covers the inserted hold"
    );
    assert!(
        busy.windows(2).all(|w| w[0].start <= w[1].start),
        "calendar: busy intervals are sorted by start"
    );
    assert!(
        busy.iter().all(|b| b.overlaps(&around)),
        "calendar: busy intervals overlap the range"
    );

    expect_err(
        calendar
            .insert_event(&NewEvent {
                summary: summary.clone(),
                description: String::new(),
                interval: Interval {
                    start: slot.end,
                    end: slot.start,
                },
                attendees: vec![],
                status: EventStatus::Tentative,
            })
            .await,
        "invalid_input",
        "calendar: an event ending before it starts",
    );
}
