//! Outcome scans as recurring jobs: one [`kinds::OUTCOME_SCAN`] job per source, run by the
//! [`Worker`](crate::worker::Worker) like any other job.
//!
//! Each source (mailbox, CRM, calendar, silence) has exactly one job, keyed
//! `outcome_scan:<source>` ([`OutcomeScanJob`]); [`ensure_outcome_scans`] enqueues the four at
//! start-up (enqueueing again finds the same jobs). The queue hands a job to one worker at a
//! time, so one scan per source runs at a time across all workers. After a scan the
//! [`OutcomeScanner`] answers [`JobDone::RunAgainAt`] `now + interval`: the same job goes back
//! to the queue for its next run without using up an attempt. [`wake_outcome_scan`] makes a
//! source's job due now ("scan now", for the HTTP API and the CLI); a scan running at that
//! moment runs once more right after.
//!
//! A scan that fails with a retryable error (the provider is down or rate-limits) comes back at
//! its next interval (or the provider's `retry_after`, when later) without using up an attempt,
//! so a recurring job is never dead-lettered by occasional outages. Errors an operator must fix
//! (revoked credentials, missing permissions, invalid input, unsupported, not found) go to the
//! dead-letter state; [`ensure_outcome_scans`] and [`wake_outcome_scan`] put a dead scan back
//! in the queue.

use super::{Outcomes, ScanReport};
use crate::model::{Job, JobState, kinds};
use crate::ports::{DynCalendar, DynCrm, DynLlm, DynMailbox, JobStore, Store};
use crate::worker::{JobDone, JobHandler, JobKind};
use crate::{Error, Result};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// What one outcome scan reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScanSource {
    /// The mailbox history: replies, bounces, out-of-office, unsubscribe requests.
    Mailbox,
    /// CRM deal changes and the tasks of our contacts.
    Crm,
    /// Calendar events with our contacts.
    Calendar,
    /// Sent drafts without an answer after the silence period (`no_response`).
    Silence,
}

impl ScanSource {
    /// Every source.
    pub const ALL: [ScanSource; 4] = [Self::Mailbox, Self::Crm, Self::Calendar, Self::Silence];

    /// The stable lower-case name (`mailbox`, `crm`, `calendar`, `silence`).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Mailbox => "mailbox",
            Self::Crm => "crm",
            Self::Calendar => "calendar",
            Self::Silence => "silence",
        }
    }

    /// The idempotency key of this source's one job: `outcome_scan:<source>`.
    #[must_use]
    pub fn job_key(self) -> String {
        format!("{}:{}", kinds::OUTCOME_SCAN, self.as_str())
    }
}

impl std::fmt::Display for ScanSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for ScanSource {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let s = s.trim().to_ascii_lowercase();
        Self::ALL
            .into_iter()
            .find(|src| src.as_str() == s)
            .ok_or_else(|| Error::invalid("source", "use mailbox, crm, calendar or silence"))
    }
}

/// Payload of a [`kinds::OUTCOME_SCAN`] job: `{"source": "mailbox"}`. Keyed
/// `outcome_scan:<source>`, unique forever: there is exactly one job per source, which re-arms
/// itself after every run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutcomeScanJob {
    /// What the job scans.
    pub source: ScanSource,
}

impl JobKind for OutcomeScanJob {
    const KIND: &'static str = kinds::OUTCOME_SCAN;
    fn idempotency_key(&self) -> Option<String> {
        Some(self.source.job_key())
    }
}

/// How often each source is scanned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct OutcomeScanConfig {
    /// Between mailbox scans (default 60 s).
    pub mailbox: Duration,
    /// Between CRM scans (default 5 min).
    pub crm: Duration,
    /// Between calendar scans (default 5 min).
    pub calendar: Duration,
    /// Between silence checks (default 1 h).
    pub silence: Duration,
}

impl Default for OutcomeScanConfig {
    fn default() -> Self {
        Self {
            mailbox: Duration::from_secs(60),
            crm: Duration::from_secs(5 * 60),
            calendar: Duration::from_secs(5 * 60),
            silence: Duration::from_secs(3600),
        }
    }
}

impl OutcomeScanConfig {
    /// The environment variables of the intervals, in [`ScanSource::ALL`] order (whole seconds).
    pub const ENV: [&'static str; 4] = [
        "OUTCOME_SCAN_MAILBOX_SECS",
        "OUTCOME_SCAN_CRM_SECS",
        "OUTCOME_SCAN_CALENDAR_SECS",
        "OUTCOME_SCAN_SILENCE_SECS",
    ];

    /// The defaults, with each interval whose variable (see [`OutcomeScanConfig::ENV`]) `get`
    /// returns replaced.
    ///
    /// # Errors
    /// `InvalidInput` naming the variable for a value that is not a whole number of seconds
    /// from 1 to 30 days.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let mut c = Self::default();
        for (source, var) in ScanSource::ALL.into_iter().zip(Self::ENV) {
            let Some(v) = get(var) else { continue };
            let secs: u64 = v
                .trim()
                .parse()
                .ok()
                .filter(|s| (1..=30 * 24 * 3600).contains(s))
                .ok_or_else(|| Error::invalid(var, "seconds from 1 to 2592000 (30 days)"))?;
            let d = Duration::from_secs(secs);
            match source {
                ScanSource::Mailbox => c.mailbox = d,
                ScanSource::Crm => c.crm = d,
                ScanSource::Calendar => c.calendar = d,
                ScanSource::Silence => c.silence = d,
            }
        }
        Ok(c)
    }

    /// [`OutcomeScanConfig::from_lookup`] over the process environment.
    ///
    /// # Errors
    /// As [`OutcomeScanConfig::from_lookup`].
    pub fn from_env() -> Result<Self> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// The interval of `source`.
    #[must_use]
    pub fn interval(&self, source: ScanSource) -> Duration {
        match source {
            ScanSource::Mailbox => self.mailbox,
            ScanSource::Crm => self.crm,
            ScanSource::Calendar => self.calendar,
            ScanSource::Silence => self.silence,
        }
    }
}

/// `at + d`, saturating.
fn after(at: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(d)
        .ok()
        .and_then(|d| at.checked_add_signed(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// Enqueues the scan job of every source, due now (idempotent: a source that has its job keeps
/// it, whatever its schedule), and puts a dead-lettered scan job back in the queue. Hosts call
/// this at start-up. Returns the four jobs as stored.
///
/// # Errors
/// When the store fails.
pub async fn ensure_outcome_scans(store: &dyn JobStore) -> Result<Vec<Job>> {
    let mut jobs = Vec::with_capacity(ScanSource::ALL.len());
    for source in ScanSource::ALL {
        let (job, _) = store.enqueue(&OutcomeScanJob { source }.to_job()?).await?;
        let job = if job.state == JobState::Dead {
            tracing::info!(job = %job.id, %source, "outcome scan was dead-lettered; back in the queue");
            store.requeue_dead(job.id).await?
        } else {
            job
        };
        jobs.push(job);
    }
    Ok(jobs)
}

/// The setting a "scan now" request leaves for a scan that is running (`outcomes.scan_wake.<source>`,
/// RFC 3339): the run that ends after it comes back at once instead of an interval later.
fn wake_key(source: ScanSource) -> String {
    format!("outcomes.scan_wake.{source}")
}

/// Makes `source`'s scan job due at `now` ("scan now"): wakes it when it is queued for later,
/// enqueues it when it is missing, and puts it back in the queue when it was dead-lettered.
/// When the scan is running right now, it is asked to run again as soon as this run ends (the
/// request may have come after the run read its source). Returns the job as stored.
///
/// # Errors
/// When the store fails.
pub async fn wake_outcome_scan(
    store: &dyn Store,
    source: ScanSource,
    now: DateTime<Utc>,
) -> Result<Job> {
    let job = match store.wake(&source.job_key(), now).await? {
        Some(job) => job,
        None => {
            let new = OutcomeScanJob { source }.to_job()?.run_at(now);
            store.enqueue(&new).await?.0
        }
    };
    match job.state {
        JobState::Dead => store.requeue_dead(job.id).await,
        JobState::Running => {
            store
                .put_setting(&wake_key(source), &now.to_rfc3339())
                .await?;
            Ok(job)
        }
        JobState::Queued | JobState::Done => Ok(job),
    }
}

/// Errors a scan cannot get past without an operator: the job is dead-lettered.
fn needs_operator(e: &Error) -> bool {
    matches!(
        e,
        Error::Unauthenticated { .. }
            | Error::PermissionDenied { .. }
            | Error::InvalidInput { .. }
            | Error::Unsupported { .. }
            | Error::NotFound { .. }
    )
}

/// Runs outcome scans: the [`JobHandler`] of [`kinds::OUTCOME_SCAN`] jobs, and the one-off
/// scan of the CLI ([`OutcomeScanner::scan`]).
///
/// A source whose port was not given (no CRM, no calendar) is skipped: its job comes back at
/// its interval and does nothing. Silence needs only the store.
#[derive(Debug, Clone)]
pub struct OutcomeScanner {
    outcomes: Outcomes,
    mailbox: Option<DynMailbox>,
    crm: Option<DynCrm>,
    calendar: Option<DynCalendar>,
    llm: Option<DynLlm>,
    config: OutcomeScanConfig,
}

impl OutcomeScanner {
    /// A scanner recording through `outcomes` (its store and clock), with no ports yet.
    #[must_use]
    pub fn new(outcomes: Outcomes, config: OutcomeScanConfig) -> Self {
        Self {
            outcomes,
            mailbox: None,
            crm: None,
            calendar: None,
            llm: None,
            config,
        }
    }

    /// Scans `mailbox` ([`Outcomes::scan_mailbox`]).
    #[must_use]
    pub fn with_mailbox(mut self, mailbox: DynMailbox) -> Self {
        self.mailbox = Some(mailbox);
        self
    }

    /// Scans `crm`'s deal changes and our contacts' tasks ([`Outcomes::scan_deals`],
    /// [`Outcomes::scan_tasks`]).
    #[must_use]
    pub fn with_crm(mut self, crm: DynCrm) -> Self {
        self.crm = Some(crm);
        self
    }

    /// Scans `calendar`'s events ([`Outcomes::scan_calendar`]).
    #[must_use]
    pub fn with_calendar(mut self, calendar: DynCalendar) -> Self {
        self.calendar = Some(calendar);
        self
    }

    /// Reads the tone of replies with `llm` (without it, the phrase lists decide).
    #[must_use]
    pub fn with_llm(mut self, llm: DynLlm) -> Self {
        self.llm = Some(llm);
        self
    }

    /// The intervals.
    #[must_use]
    pub fn config(&self) -> &OutcomeScanConfig {
        &self.config
    }

    /// The outcomes service it records through.
    #[must_use]
    pub fn outcomes(&self) -> &Outcomes {
        &self.outcomes
    }

    /// Whether this scanner has what `source` needs.
    #[must_use]
    pub fn can_scan(&self, source: ScanSource) -> bool {
        match source {
            ScanSource::Mailbox => self.mailbox.is_some(),
            ScanSource::Crm => self.crm.is_some(),
            ScanSource::Calendar => self.calendar.is_some(),
            ScanSource::Silence => true,
        }
    }

    /// Runs one scan of `source` now and reports what it recorded.
    ///
    /// # Errors
    /// `Unsupported` when the port `source` needs was not given; the scan's own errors.
    pub async fn scan(&self, source: ScanSource) -> Result<ScanReport> {
        let o = &self.outcomes;
        match source {
            ScanSource::Mailbox => {
                let m = self.mailbox.as_ref().ok_or_else(|| missing(source))?;
                o.scan_mailbox(m.as_ref(), self.llm.as_deref()).await
            }
            ScanSource::Crm => {
                let c = self.crm.as_ref().ok_or_else(|| missing(source))?;
                let mut report = o.scan_deals(c.as_ref()).await?;
                report.merge(o.scan_tasks(c.as_ref()).await?);
                Ok(report)
            }
            ScanSource::Calendar => {
                let c = self.calendar.as_ref().ok_or_else(|| missing(source))?;
                o.scan_calendar(c.as_ref()).await
            }
            ScanSource::Silence => o.scan_silence().await,
        }
    }
}

impl OutcomeScanner {
    /// Whether "scan now" was asked for `source` while a run that began at `started` ran.
    async fn woken_since(&self, source: ScanSource, started: DateTime<Utc>) -> Result<bool> {
        let at = self.outcomes.store.setting(&wake_key(source)).await?;
        Ok(at
            .and_then(|t| DateTime::parse_from_rfc3339(t.trim()).ok())
            .is_some_and(|t| t.with_timezone(&Utc) >= started))
    }
}

fn missing(source: ScanSource) -> Error {
    Error::unsupported(format!("an outcome scan of the {source} without one"))
}

#[async_trait]
impl JobHandler for OutcomeScanner {
    fn kind(&self) -> &str {
        kinds::OUTCOME_SCAN
    }

    async fn run(&self, job: &Job) -> Result<JobDone> {
        let p = OutcomeScanJob::from_job(job)?;
        let interval = self.config.interval(p.source);
        if !self.can_scan(p.source) {
            tracing::debug!(job = %job.id, source = %p.source, "no port for this outcome scan; skipped");
            return Ok(JobDone::RunAgainAt(after(
                self.outcomes.clock.now(),
                interval,
            )));
        }
        let started = self.outcomes.clock.now();
        match self.scan(p.source).await {
            Ok(report) => {
                let woken = self.woken_since(p.source, started).await?;
                tracing::info!(job = %job.id, source = %p.source, scanned = report.scanned,
                    recorded = report.recorded.len(), stopped = report.drafts_stopped,
                    suppressed = report.suppressed, resynced = report.resynced,
                    more = report.more, "outcome scan ran");
                let now = self.outcomes.clock.now();
                // More history waiting, or "scan now" asked during this run: run again at
                // once rather than an interval later.
                Ok(JobDone::RunAgainAt(if report.more || woken {
                    now
                } else {
                    after(now, interval)
                }))
            }
            Err(e) if needs_operator(&e) => Err(e),
            Err(e) => {
                let wait = e.retry_after().map_or(interval, |r| r.max(interval));
                tracing::warn!(job = %job.id, source = %p.source, error = %e,
                    "outcome scan failed; trying again at its next run");
                Ok(JobDone::RunAgainAt(after(self.outcomes.clock.now(), wait)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_from_the_environment() {
        let c = OutcomeScanConfig::from_lookup(|_| None).unwrap();
        assert_eq!(c, OutcomeScanConfig::default());
        assert_eq!(c.interval(ScanSource::Silence), Duration::from_secs(3600));
        let c = OutcomeScanConfig::from_lookup(|k| {
            (k == "OUTCOME_SCAN_MAILBOX_SECS").then(|| " 15 ".to_owned())
        })
        .unwrap();
        assert_eq!(c.mailbox, Duration::from_secs(15));
        assert_eq!(c.crm, Duration::from_secs(300));
        for bad in ["0", "-1", "1m", "99999999"] {
            let e = OutcomeScanConfig::from_lookup(|k| {
                (k == "OUTCOME_SCAN_CRM_SECS").then(|| bad.to_owned())
            })
            .unwrap_err();
            assert!(
                e.to_string().contains("OUTCOME_SCAN_CRM_SECS"),
                "{bad}: {e}"
            );
        }
    }
}
