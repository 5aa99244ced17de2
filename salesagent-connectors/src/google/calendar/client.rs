//! Calendar requests (`Calendar` port).

use super::GoogleCalendar;
use super::model::{
    Event, EventAttendee, EventDateTime, Events, FreeBusyRequest, FreeBusyRequestItem,
    FreeBusyResponse,
};
use crate::http::Request;
use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use salesagent_core::model::{
    Attendee, AttendeeResponse, CalendarEvent, EmailAddress, EventId, EventStatus, Interval,
    NewEvent,
};
use salesagent_core::ports::Calendar;
use salesagent_core::{Error, Result};

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

fn when(t: Option<&EventDateTime>) -> Option<DateTime<Utc>> {
    let t = t?;
    if let Some(dt) = t.date_time.as_deref() {
        return parse_time(dt);
    }
    // All-day events: the date at midnight UTC.
    let d = NaiveDate::parse_from_str(t.date.as_deref()?, "%Y-%m-%d").ok()?;
    Some(d.and_hms_opt(0, 0, 0)?.and_utc())
}

fn check_range(range: &Interval) -> Result<()> {
    if range.end <= range.start {
        return Err(Error::invalid("range", "end must be after start"));
    }
    Ok(())
}

fn status(s: Option<&str>) -> EventStatus {
    match s {
        Some("tentative") => EventStatus::Tentative,
        Some("cancelled") => EventStatus::Cancelled,
        _ => EventStatus::Confirmed,
    }
}

fn to_event(e: Event) -> Option<CalendarEvent> {
    let start = when(e.start.as_ref())?;
    let end = when(e.end.as_ref())?;
    let attendees = e
        .attendees
        .iter()
        .filter_map(|a| {
            Some(Attendee {
                email: EmailAddress::parse(a.email.as_deref()?).ok()?,
                response: match a.response_status.as_deref() {
                    Some("accepted") => AttendeeResponse::Accepted,
                    Some("declined") => AttendeeResponse::Declined,
                    Some("tentative") => AttendeeResponse::Tentative,
                    _ => AttendeeResponse::NeedsAction,
                },
            })
        })
        .collect();
    Some(CalendarEvent {
        id: EventId::new(e.id?),
        summary: e.summary.unwrap_or_default(),
        interval: Interval { start, end },
        status: status(e.status.as_deref()),
        attendees,
        created_at: e.created.as_deref().and_then(parse_time),
        updated_at: e.updated.as_deref().and_then(parse_time),
    })
}

impl GoogleCalendar {
    fn events_path(&self) -> Vec<String> {
        vec![
            "calendar".into(),
            "v3".into(),
            "calendars".into(),
            self.calendar_id.clone(),
            "events".into(),
        ]
    }

    /// A harmless authenticated read: free/busy for the next minute.
    pub async fn check(&self) -> Result<()> {
        #[allow(clippy::disallowed_methods)] // health check around "now"
        let now = Utc::now();
        self.free_busy(Interval {
            start: now,
            end: now + chrono::Duration::minutes(1),
        })
        .await
        .map(|_| ())
    }
}

#[async_trait]
impl Calendar for GoogleCalendar {
    async fn free_busy(&self, range: Interval) -> Result<Vec<Interval>> {
        check_range(&range)?;
        let body = FreeBusyRequest {
            time_min: rfc3339(range.start),
            time_max: rfc3339(range.end),
            items: vec![FreeBusyRequestItem {
                id: self.calendar_id.clone(),
            }],
        };
        let r = Request::post("freebusy.query", ["calendar", "v3", "freeBusy"])
            .json(&body)?
            .idempotent();
        let resp: FreeBusyResponse = self.http.send(&r).await?.json("calendar")?;
        let cal = resp
            .calendars
            .get(&self.calendar_id)
            .ok_or_else(|| Error::backend("calendar: free/busy answer without our calendar"))?;
        if let Some(e) = cal.errors.first() {
            let reason = e.reason.clone().unwrap_or_default();
            return Err(if reason == "notFound" {
                Error::not_found(format!("calendar {}", self.calendar_id))
            } else {
                Error::unavailable(format!("calendar free/busy: {reason}"))
            });
        }
        let mut busy: Vec<Interval> = cal
            .busy
            .iter()
            .filter_map(|p| {
                Some(Interval {
                    start: parse_time(&p.start)?,
                    end: parse_time(&p.end)?,
                })
            })
            .filter(|i| i.start < i.end)
            .collect();
        busy.sort();
        Ok(busy)
    }

    async fn events(&self, range: Interval) -> Result<Vec<CalendarEvent>> {
        check_range(&range)?;
        let mut out = Vec::new();
        let mut page: Option<String> = None;
        loop {
            let mut r = Request::get("events.list", self.events_path())
                .query("timeMin", rfc3339(range.start))
                .query("timeMax", rfc3339(range.end))
                .query("singleEvents", "true")
                .query("orderBy", "startTime")
                .query("showDeleted", "true")
                .query("maxResults", "250");
            if let Some(p) = &page {
                r = r.query("pageToken", p.clone());
            }
            let resp: Events = self.http.send(&r).await?.json("calendar")?;
            out.extend(resp.items.into_iter().filter_map(to_event));
            page = resp.next_page_token;
            if page.is_none() || out.len() >= 2500 {
                break;
            }
        }
        out.retain(|e| e.interval.overlaps(&range));
        out.sort_by(|a, b| {
            a.interval
                .start
                .cmp(&b.interval.start)
                .then(a.id.cmp(&b.id))
        });
        Ok(out)
    }

    async fn insert_event(&self, event: &NewEvent) -> Result<CalendarEvent> {
        check_range(&event.interval)?;
        let body = Event {
            summary: Some(event.summary.clone()),
            description: Some(event.description.clone()),
            start: Some(EventDateTime {
                date: None,
                date_time: Some(rfc3339(event.interval.start)),
            }),
            end: Some(EventDateTime {
                date: None,
                date_time: Some(rfc3339(event.interval.end)),
            }),
            status: Some(
                match event.status {
                    EventStatus::Tentative => "tentative",
                    EventStatus::Confirmed => "confirmed",
                    EventStatus::Cancelled => {
                        return Err(Error::invalid("status", "cannot insert a cancelled event"));
                    }
                }
                .to_owned(),
            ),
            attendees: event
                .attendees
                .iter()
                .map(|a| EventAttendee {
                    email: Some(a.to_string()),
                    response_status: None,
                })
                .collect(),
            ..Event::default()
        };
        // A hold must not e-mail anyone.
        let r = Request::post("events.insert", self.events_path())
            .query("sendUpdates", "none")
            .json(&body)?;
        let created: Event = self.http.send(&r).await?.json("calendar")?;
        to_event(created)
            .ok_or_else(|| Error::backend("calendar: inserted event lacks id or times"))
    }
}
