//! Sending safely: the operator queue, the send policy, auto-approval rules, MIME rendering and
//! the exactly-once sender.
//!
//! - [`queue`]: pending drafts by priority; approve / reject / edit with audit and versioning.
//! - [`approval`]: auto-approval rules with an explanation per draft, and a dry run.
//! - [`limits`]: the send-limit rule every store backend executes when it reserves a send.
//! - [`policy`]: kill switch, suppression, send window, volume limits, DRAFT_ONLY vs real sends.
//! - [`mime`]: a draft rendered as RFC 5322 with `mail-builder`, injection-proof by construction.
//! - [`unsubscribe`]: RFC 8058 one-click unsubscribe tokens and links, keyed with a server secret.
//! - [`sender`]: `Approved → Sending → Sent | Drafted | Failed` under a fenced send claim, through
//!   a mailbox draft that can be sent at most once.

pub mod approval;
pub mod limits;
pub mod mime;
pub mod policy;
pub mod queue;
pub mod sender;
pub mod unsubscribe;

/// The auto-approval rules under their old name; use [`approval`].
#[deprecated(since = "0.1.0", note = "renamed to `sending::approval`")]
pub mod rules {
    pub use super::approval::*;
}

pub use approval::{AutoApprover, DryRunReport, RuleFacts, RulesConfig};
pub use mime::{MimeOptions, Unsubscribe, render};
pub use policy::{PolicyConfig, SendMode, SendPolicy, SendWindow};
pub use queue::{Adjustment, AdjustmentFn, OperatorQueue, QueueConfig, QueueItem};
pub use sender::{SendJob, SendOutcome, Sender, SenderConfig, send_job_payload};
pub use unsubscribe::{
    OneClick, UnsubscribeSecret, UnsubscribeToken, is_one_click_body, load_or_create_secret,
};

use crate::model::{Domain, EmailAddress, SendLimits};
use crate::{Error, Result};
use std::time::Duration;

/// Everything the sending side is configured with, usually read from the environment.
#[derive(Debug, Clone, PartialEq)]
pub struct SendingConfig {
    /// Send policy (mode, limits, window).
    pub policy: PolicyConfig,
    /// MIME rendering.
    pub mime: MimeOptions,
    /// Auto-approval.
    pub rules: RulesConfig,
    /// Operator queue.
    pub queue: QueueConfig,
}

/// Parses a boolean setting (`true/1/yes/on`, `false/0/no/off`, empty = false).
///
/// # Errors
/// [`Error::InvalidInput`] for anything else.
pub fn parse_bool(field: &str, value: &str) -> Result<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" | "" => Ok(false),
        other => Err(Error::invalid(
            field,
            format!("expected true or false, got {other:?}"),
        )),
    }
}

fn parse_num<T: std::str::FromStr>(field: &str, value: &str) -> Result<T> {
    value
        .trim()
        .parse()
        .map_err(|_| Error::invalid(field, format!("expected a number, got {value:?}")))
}

impl SendingConfig {
    /// Defaults: DRAFT_ONLY, seed limits, 09–17 weekday window in UTC, auto-approval off,
    /// Message-IDs on `message_id_domain`.
    #[must_use]
    pub fn new(message_id_domain: Domain) -> Self {
        Self {
            policy: PolicyConfig::default(),
            mime: MimeOptions::new(message_id_domain),
            rules: RulesConfig::default(),
            queue: QueueConfig::default(),
        }
    }

    /// Reads the settings through `get` (an environment lookup):
    /// `ALLOW_REAL_SENDS`, `AUTO_APPROVE_ENABLED`, `AUTO_APPROVE_ICP_THRESHOLD`,
    /// `SEND_WINDOW` (`9-17`, or `off`), `SEND_WINDOW_WEEKENDS`, `SEND_TIME_ZONE`,
    /// `SEND_LIMIT_CONTACT_WEEK`, `SEND_LIMIT_CONTACT_DAY`, `SEND_LIMIT_SENDER_DAY`,
    /// `SEND_LIMIT_DOMAIN_DAY`, `MESSAGE_ID_DOMAIN` (else `fallback_domain`), `SENDER_NAME`,
    /// `UNSUBSCRIBE_MAILTO`, `UNSUBSCRIBE_URL`, `QUEUE_HALF_LIFE_HOURS`.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming the first malformed variable.
    pub fn from_lookup(
        get: impl Fn(&str) -> Option<String>,
        fallback_domain: &Domain,
    ) -> Result<Self> {
        let domain = match get("MESSAGE_ID_DOMAIN") {
            Some(d) if !d.trim().is_empty() => Domain::parse(&d)?,
            _ => fallback_domain.clone(),
        };
        let mut c = Self::new(domain);
        let flag = |k: &str| get(k).map_or(Ok(false), |v| parse_bool(k, &v));
        c.policy.mode = SendMode::from_switch(flag("ALLOW_REAL_SENDS")?);
        c.rules.enabled = flag("AUTO_APPROVE_ENABLED")?;
        if let Some(v) = get("AUTO_APPROVE_ICP_THRESHOLD") {
            let t: u8 = parse_num("AUTO_APPROVE_ICP_THRESHOLD", &v)?;
            if t > 100 {
                return Err(Error::invalid(
                    "AUTO_APPROVE_ICP_THRESHOLD",
                    "must be 0..=100",
                ));
            }
            c.rules.icp_threshold = t;
        }
        let mut window = SendWindow::default();
        if let Some(tz) = get("SEND_TIME_ZONE") {
            window.default_time_zone = policy::parse_time_zone(&tz)
                .ok_or_else(|| Error::invalid("SEND_TIME_ZONE", "unknown IANA time zone"))?;
        }
        window.weekdays_only = !flag("SEND_WINDOW_WEEKENDS")?;
        c.policy.window = match get("SEND_WINDOW") {
            Some(v) if v.trim().eq_ignore_ascii_case("off") => None,
            Some(v) => {
                let (a, b) = v
                    .split_once('-')
                    .ok_or_else(|| Error::invalid("SEND_WINDOW", "expected START-END hours"))?;
                window.start_hour = parse_num("SEND_WINDOW", a)?;
                window.end_hour = parse_num("SEND_WINDOW", b)?;
                window.validate().map_err(|e| match e {
                    Error::InvalidInput { reason, .. } => Error::invalid("SEND_WINDOW", reason),
                    other => other,
                })?;
                Some(window)
            }
            None => Some(window),
        };
        let limits = &mut c.policy.limits;
        for (key, slot) in [
            ("SEND_LIMIT_CONTACT_WEEK", &mut limits.per_contact_week),
            ("SEND_LIMIT_CONTACT_DAY", &mut limits.per_contact_day),
            ("SEND_LIMIT_SENDER_DAY", &mut limits.per_sender_day),
            ("SEND_LIMIT_DOMAIN_DAY", &mut limits.per_domain_day),
        ] {
            if let Some(v) = get(key) {
                *slot = parse_num(key, &v)?;
            }
        }
        c.mime.sender_name = get("SENDER_NAME").filter(|s| !s.trim().is_empty());
        if let Some(m) = get("UNSUBSCRIBE_MAILTO").filter(|s| !s.trim().is_empty()) {
            c.mime.unsubscribe.mailto = Some(EmailAddress::parse(&m)?);
        }
        c.mime.unsubscribe.https = get("UNSUBSCRIBE_URL").filter(|s| !s.trim().is_empty());
        c.mime.validate().map_err(|e| match e {
            Error::InvalidInput { field, reason } if field == "unsubscribe_url" => {
                Error::invalid("UNSUBSCRIBE_URL", reason)
            }
            other => other,
        })?;
        if let Some(v) = get("QUEUE_HALF_LIFE_HOURS") {
            let h: f64 = parse_num("QUEUE_HALF_LIFE_HOURS", &v)?;
            if !(h.is_finite() && h > 0.0) {
                return Err(Error::invalid("QUEUE_HALF_LIFE_HOURS", "must be > 0"));
            }
            c.queue.recency_half_life = Duration::from_secs_f64(h * 3600.0);
        }
        Ok(c)
    }

    /// [`SendingConfig::from_lookup`] over the process environment.
    ///
    /// # Errors
    /// As [`SendingConfig::from_lookup`].
    pub fn from_env(fallback_domain: &Domain) -> Result<Self> {
        Self::from_lookup(|k| std::env::var(k).ok(), fallback_domain)
    }

    /// The volume limits.
    #[must_use]
    pub fn limits(&self) -> SendLimits {
        self.policy.limits
    }
}

#[cfg(test)]
pub(crate) mod tests_support {
    use crate::model::{Draft, DraftWriter, EmailAddress};
    use chrono::TimeZone;

    /// A plain pending draft for unit tests.
    pub fn draft() -> Draft {
        let at = chrono::Utc
            .with_ymd_and_hms(2026, 1, 5, 9, 0, 0)
            .single()
            .unwrap();
        Draft {
            contact_name: Some("Jane Doe".into()),
            company_name: Some("Acme".into()),
            ..Draft::new(
                EmailAddress::parse("jane@acme.io").unwrap(),
                EmailAddress::parse("sam@seller.dev").unwrap(),
                "Hello",
                "Hi Jane",
                DraftWriter::Human,
                at,
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn config_from_lookup() {
        let fallback = Domain::parse("seller.dev").unwrap();
        let env: HashMap<&str, &str> = HashMap::new();
        let c =
            SendingConfig::from_lookup(|k| env.get(k).map(|s| (*s).to_owned()), &fallback).unwrap();
        assert_eq!(c.policy.mode, SendMode::DraftOnly);
        assert!(!c.rules.enabled);
        assert_eq!(c.mime.message_id_domain.as_str(), "seller.dev");

        let env: HashMap<&str, &str> = [
            ("ALLOW_REAL_SENDS", "true"),
            ("AUTO_APPROVE_ENABLED", "1"),
            ("AUTO_APPROVE_ICP_THRESHOLD", "70"),
            ("SEND_WINDOW", "8-18"),
            ("SEND_TIME_ZONE", "Europe/Berlin"),
            ("SEND_LIMIT_CONTACT_WEEK", "3"),
            ("MESSAGE_ID_DOMAIN", "mail.seller.dev"),
            ("UNSUBSCRIBE_URL", "https://seller.dev/u/{draft_id}"),
        ]
        .into_iter()
        .collect();
        let c =
            SendingConfig::from_lookup(|k| env.get(k).map(|s| (*s).to_owned()), &fallback).unwrap();
        assert_eq!(c.policy.mode, SendMode::RealSends);
        assert!(c.rules.enabled);
        assert_eq!(c.rules.icp_threshold, 70);
        let w = c.policy.window.unwrap();
        assert_eq!((w.start_hour, w.end_hour), (8, 18));
        assert_eq!(w.default_time_zone.name(), "Europe/Berlin");
        assert_eq!(c.policy.limits.per_contact_week, 3);
        assert_eq!(c.mime.message_id_domain.as_str(), "mail.seller.dev");

        for (k, v) in [
            ("ALLOW_REAL_SENDS", "maybe"),
            ("SEND_WINDOW", "18-8"),
            ("SEND_TIME_ZONE", "Nowhere/Land"),
            ("UNSUBSCRIBE_URL", "http://x.dev/u"),
            ("AUTO_APPROVE_ICP_THRESHOLD", "101"),
        ] {
            let r = SendingConfig::from_lookup(|key| (key == k).then(|| v.to_owned()), &fallback);
            assert!(
                matches!(r, Err(Error::InvalidInput { ref field, .. }) if field == k),
                "{k}={v}: {r:?}"
            );
        }
    }
}
