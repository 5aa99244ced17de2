//! An in-memory calendar.

use super::{ManualClock, lock};
use crate::model::{
    Attendee, AttendeeResponse, CalendarEvent, EventId, EventStatus, Interval, NewEvent,
};
use crate::ports::{Calendar, DynClock};
use crate::{Error, Result};
use async_trait::async_trait;
use std::sync::{Arc, Mutex};

#[derive(Debug, Default)]
struct CalendarState {
    next_id: u64,
    busy: Vec<Interval>,
    events: Vec<CalendarEvent>,
    inserted: Vec<NewEvent>,
}

/// An in-memory [`Calendar`]: seeded busy intervals and events, plus inserted holds.
///
/// `free_busy` merges the seeded busy intervals with every event that is not cancelled, clips
/// them to the range, and joins overlapping or touching ones.
#[derive(Debug)]
pub struct FakeCalendar {
    state: Mutex<CalendarState>,
    clock: DynClock,
}

impl Default for FakeCalendar {
    fn default() -> Self {
        Self::new()
    }
}

impl FakeCalendar {
    /// An empty calendar on a default [`ManualClock`].
    #[must_use]
    pub fn new() -> Self {
        Self {
            state: Mutex::default(),
            clock: Arc::new(ManualClock::default()),
        }
    }

    /// Stamps inserted events with `clock`.
    #[must_use]
    pub fn with_clock(mut self, clock: DynClock) -> Self {
        self.clock = clock;
        self
    }

    /// Seeds a busy interval (from events not visible to us).
    pub fn add_busy(&self, interval: Interval) {
        lock(&self.state).busy.push(interval);
    }

    /// Seeds an event as given (replacing one with the same id).
    pub fn add_event(&self, event: CalendarEvent) {
        let mut s = lock(&self.state);
        s.events.retain(|e| e.id != event.id);
        s.events.push(event);
    }

    /// Events inserted through the port, in order.
    #[must_use]
    pub fn inserted_events(&self) -> Vec<NewEvent> {
        lock(&self.state).inserted.clone()
    }
}

fn check_range(range: Interval) -> Result<()> {
    if range.end <= range.start {
        return Err(Error::invalid("range", "end must be after start"));
    }
    Ok(())
}

#[async_trait]
impl Calendar for FakeCalendar {
    async fn free_busy(&self, range: Interval) -> Result<Vec<Interval>> {
        check_range(range)?;
        let s = lock(&self.state);
        let mut busy: Vec<Interval> = s
            .busy
            .iter()
            .copied()
            .chain(
                s.events
                    .iter()
                    .filter(|e| e.status != EventStatus::Cancelled)
                    .map(|e| e.interval),
            )
            .filter(|i| i.overlaps(&range))
            .map(|i| Interval {
                start: i.start.max(range.start),
                end: i.end.min(range.end),
            })
            .collect();
        busy.sort();
        let mut merged: Vec<Interval> = Vec::with_capacity(busy.len());
        for i in busy {
            match merged.last_mut() {
                Some(last) if i.start <= last.end => last.end = last.end.max(i.end),
                _ => merged.push(i),
            }
        }
        Ok(merged)
    }

    async fn events(&self, range: Interval) -> Result<Vec<CalendarEvent>> {
        check_range(range)?;
        let s = lock(&self.state);
        let mut found: Vec<CalendarEvent> = s
            .events
            .iter()
            .filter(|e| e.interval.overlaps(&range))
            .cloned()
            .collect();
        found.sort_by_key(|e| (e.interval.start, e.interval.end));
        Ok(found)
    }

    async fn insert_event(&self, event: &NewEvent) -> Result<CalendarEvent> {
        if event.interval.end <= event.interval.start {
            return Err(Error::invalid("interval", "end must be after start"));
        }
        if event.summary.trim().is_empty() {
            return Err(Error::invalid("summary", "is empty"));
        }
        let now = self.clock.now();
        let mut s = lock(&self.state);
        s.next_id += 1;
        let created = CalendarEvent {
            id: EventId::new(format!("event-{}", s.next_id)),
            summary: event.summary.clone(),
            interval: event.interval,
            status: event.status,
            attendees: event
                .attendees
                .iter()
                .map(|a| Attendee {
                    email: a.clone(),
                    response: AttendeeResponse::NeedsAction,
                })
                .collect(),
            created_at: Some(now),
            updated_at: Some(now),
        };
        s.events.push(created.clone());
        s.inserted.push(event.clone());
        Ok(created)
    }
}
