//! Health checks of the selected services: one harmless authenticated read per configured
//! service (HubSpot contact search with limit 1, Gmail profile or IMAP login + `NOOP` and
//! SMTP login, Drive list of one file,
//! Calendar free/busy for the next minute, one tiny OpenAI chat completion).
//!
//! Offline ports are reported but not checked. A configured service whose connector could
//! not be built, or whose read fails, makes the report unhealthy; its detail names the core
//! error kind in words (needs re-authorisation, rate limited until …, unavailable, …).

use super::{Implementation, Port, PortChoice, Services};
use chrono::{DateTime, SecondsFormat, Utc};
use salesagent_connectors::http::HttpConfig;
use salesagent_core::Error;
use salesagent_core::ports::{Clock as _, DynClock};
use serde::Serialize;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// The outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// The read succeeded.
    Ok,
    /// The service is configured and failed (or could not be built).
    Failed,
    /// The port is offline: nothing to check.
    Offline,
}

impl Status {
    /// `ok`, `FAILED` or `offline`, as the table prints it.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Failed => "FAILED",
            Status::Offline => "offline",
        }
    }
}

/// One row of the report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Check {
    /// The port.
    pub port: Port,
    /// The service behind it (`HubSpot`, `Gmail`, …).
    pub service: &'static str,
    /// Real or offline.
    pub implementation: Implementation,
    /// What runs (service name or offline stand-in).
    pub name: String,
    /// Why that implementation was selected.
    pub reason: String,
    /// The outcome.
    pub status: Status,
    /// How long the read took, in milliseconds (checked services only).
    pub latency_ms: Option<u64>,
    /// The core error kind of a failure (`unauthenticated`, `rate_limited`, …).
    pub error_kind: Option<&'static str>,
    /// What the read returned, or what is wrong and what to do about it.
    pub detail: String,
}

/// Every port's check, in [`Port::ALL`] order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// When the checks ran.
    pub checked_at: DateTime<Utc>,
    /// One row per port.
    pub checks: Vec<Check>,
}

impl Report {
    /// True when no configured service failed.
    #[must_use]
    pub fn healthy(&self) -> bool {
        self.checks.iter().all(|c| c.status != Status::Failed)
    }

    /// The failed rows.
    pub fn failures(&self) -> impl Iterator<Item = &Check> {
        self.checks.iter().filter(|c| c.status == Status::Failed)
    }

    /// The report as a fixed-width text table (one header line, one line per port).
    #[must_use]
    pub fn table(&self) -> String {
        let rows: Vec<[String; 5]> = self
            .checks
            .iter()
            .map(|c| {
                [
                    c.service.to_owned(),
                    format!("{} ({})", c.implementation.as_str(), c.reason),
                    c.status.as_str().to_owned(),
                    c.latency_ms
                        .map_or_else(|| "-".to_owned(), |ms| format!("{ms} ms")),
                    one_line(&c.detail),
                ]
            })
            .collect();
        let header = ["SERVICE", "IMPLEMENTATION", "STATUS", "LATENCY", "DETAIL"];
        let mut width = header.map(str::len);
        for r in &rows {
            for (w, cell) in width.iter_mut().zip(r) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let mut out = String::new();
        let mut line = |cells: [&str; 5]| {
            for (i, cell) in cells.iter().enumerate() {
                if i == 4 {
                    out.push_str(cell);
                } else {
                    let pad = width[i].saturating_sub(cell.chars().count());
                    out.push_str(cell);
                    out.push_str(&" ".repeat(pad + 2));
                }
            }
            let trimmed = out.trim_end().len();
            out.truncate(trimmed);
            out.push('\n');
        };
        line(header);
        for r in &rows {
            line([&r[0], &r[1], &r[2], &r[3], &r[4]]);
        }
        out
    }
}

fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// What a failure means for the operator, from the core error kind.
#[must_use]
pub fn describe(error: &Error, now: DateTime<Utc>) -> String {
    match error {
        Error::Unauthenticated { reason } => format!("needs re-authorisation: {reason}"),
        Error::RateLimited {
            retry_after: Some(d),
        } => {
            let until = chrono::Duration::from_std(*d)
                .ok()
                .and_then(|d| now.checked_add_signed(d))
                .map_or_else(
                    || format!("in {}s", d.as_secs()),
                    |t| t.to_rfc3339_opts(SecondsFormat::Secs, true),
                );
            format!("rate limited until {until}")
        }
        Error::RateLimited { retry_after: None } => "rate limited (no retry time given)".to_owned(),
        Error::PermissionDenied { reason } => {
            format!("permission denied (missing scope or role?): {reason}")
        }
        other => other.to_string(),
    }
}

/// Transport for the checks: no retries and no client-side pacing, so a failure shows at once
/// (pass it to [`ServiceSelector::http_config`](super::ServiceSelector::http_config)).
#[must_use]
pub fn http_config() -> HttpConfig {
    HttpConfig {
        max_retries: 0,
        rate_limit: None,
        ..HttpConfig::default()
    }
}

type CheckFuture<'a> = Pin<Box<dyn Future<Output = Result<String, Error>> + Send + 'a>>;

/// Runs the check of every configured service concurrently and reports every port.
pub async fn run(services: &Services, clock: &DynClock) -> Report {
    let checked_at = clock.now();
    let futures = services.choices.iter().map(|choice| async move {
        let probe = probe(services, choice);
        let outcome = match probe {
            None => None,
            Some(f) => {
                let started = tokio::time::Instant::now();
                let result = f.await;
                Some((result, started.elapsed()))
            }
        };
        row(choice, outcome, clock.now())
    });
    let checks = futures::future::join_all(futures).await;
    Report { checked_at, checks }
}

/// The read for a port whose real connector was selected.
fn probe<'a>(services: &'a Services, choice: &PortChoice) -> Option<CheckFuture<'a>> {
    if choice.implementation != Implementation::Real {
        return None;
    }
    let r = &services.real;
    match choice.port {
        Port::Crm => r.hubspot.as_ref().map(|c| -> CheckFuture<'a> {
            Box::pin(async move {
                c.check().await?;
                Ok("contact search (limit 1) answered".to_owned())
            })
        }),
        Port::Mailbox if r.imap.is_some() => r.imap.as_ref().map(|c| -> CheckFuture<'a> {
            Box::pin(async move {
                c.check().await?;
                Ok(format!(
                    "IMAP login + NOOP and SMTP login as {}",
                    c.username()
                ))
            })
        }),
        Port::Mailbox => r.gmail.as_ref().map(|c| -> CheckFuture<'a> {
            Box::pin(async move {
                let p = c.profile().await?;
                Ok(format!(
                    "profile of {}",
                    p.email_address.as_deref().unwrap_or("(no address)")
                ))
            })
        }),
        Port::Drive => r.drive.as_ref().map(|c| -> CheckFuture<'a> {
            Box::pin(async move {
                c.check().await?;
                Ok("listed one file".to_owned())
            })
        }),
        Port::Calendar => r.calendar.as_ref().map(|c| -> CheckFuture<'a> {
            Box::pin(async move {
                c.check().await?;
                Ok("free/busy for now answered".to_owned())
            })
        }),
        Port::Llm => r.openai.as_ref().map(|c| -> CheckFuture<'a> {
            Box::pin(async move {
                c.check().await?;
                Ok(format!("chat completion with {}", c.models().chat))
            })
        }),
    }
}

fn row(
    choice: &PortChoice,
    outcome: Option<(Result<String, Error>, Duration)>,
    now: DateTime<Utc>,
) -> Check {
    let latency = |d: Duration| Some(u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    let (status, latency_ms, error_kind, detail) = match (outcome, &choice.problem) {
        (Some((Ok(detail), d)), _) => (Status::Ok, latency(d), None, detail),
        (Some((Err(e), d)), _) => (
            Status::Failed,
            latency(d),
            Some(e.kind()),
            describe(&e, now),
        ),
        (None, Some(p)) => (
            Status::Failed,
            None,
            Some(p.kind()),
            format!("configured but not usable: {}", describe(p, now)),
        ),
        (None, None) => (
            Status::Offline,
            None,
            None,
            format!("{} in use", choice.name),
        ),
    };
    Check {
        port: choice.port,
        service: choice.port.service(),
        implementation: choice.implementation,
        name: choice.name.clone(),
        reason: choice.reason.clone(),
        status,
        latency_ms,
        error_kind,
        detail,
    }
}
