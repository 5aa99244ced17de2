//! The calendar port (Google Calendar, or any).

use crate::Result;
use crate::model::{CalendarEvent, Interval, NewEvent};
use async_trait::async_trait;
use std::sync::Arc;

/// Availability and events of the sender's calendar.
#[async_trait]
pub trait Calendar: Send + Sync + std::fmt::Debug + 'static {
    /// Busy intervals within `range`, sorted by start.
    async fn free_busy(&self, range: Interval) -> Result<Vec<Interval>>;

    /// Events overlapping `range`, sorted by start (cancelled ones included, for outcome detection).
    async fn events(&self, range: Interval) -> Result<Vec<CalendarEvent>>;

    /// Inserts an event (a tentative hold for a proposed slot).
    async fn insert_event(&self, event: &NewEvent) -> Result<CalendarEvent>;
}

/// A shared calendar.
pub type DynCalendar = Arc<dyn Calendar>;
