//! One validated settings file for both hosts (feature `services`).
//!
//! A [`Settings`] value holds everything a team tunes without writing Rust: the sender's
//! identity, which implementation each port uses, the send mode, window and limits, the
//! auto-approval rules, the priority adjustment, outcome impacts and scan intervals, meeting-slot
//! rules and the ICP rules. Both hosts (`examples/webhook`, `examples/cli`) read it the same way
//! with a [`SettingsLoader`]; integrators can load it too and turn it into the library's
//! configuration types ([`Settings::pipeline_config`], [`Settings::sending_config`], …).
//!
//! ## Where values come from
//!
//! Each key takes the first of, from strongest to weakest:
//!
//! 1. a command-line flag of the host (`--sender`, `--database`, `--mailbox`, …),
//! 2. an environment variable ([`ENV_VARS`] lists each one with its key),
//! 3. the settings file: `--config FILE`, else the file named by `SALESAGENT_CONFIG`
//!    ([`CONFIG_ENV`]); without either no file is read,
//! 4. the default ([`Settings::default`], which is what the hosts did before there was a file).
//!
//! So a twelve-factor deployment needs no file, and a file sets what the environment does not.
//! [`LoadedSettings::provenance`] says, per key, which of these it came from (`cli config check`
//! prints it). Secrets (tokens, client secrets, keys) are never read from the file: they stay in
//! the environment, and the database URL's password is redacted whenever settings are printed.
//!
//! ## Validation
//!
//! Unknown keys, wrong types, out-of-range values and contradictions (a window that closes
//! before it opens, ICP tiers out of order) are errors naming the file, line and column, the key
//! and the allowed values ([`SettingsError`]); a value from the environment names its variable.
//! Nothing falls back to a default silently.
//!
//! ## Sender identity
//!
//! `sender.company` empty (the default) means "derived from the sender's domain":
//! `sam@acme-robotics.com` writes as "Acme Robotics" ([`company_from_domain`]). The name
//! defaults to the address's local part. No customer-facing text names salesagent unless the
//! settings say so.
//!
//! ## Reload
//!
//! [`LiveSettings`] re-reads the file on SIGHUP or when it changes and swaps the operator-facing
//! parts ([`RELOADABLE`]: ICP rules, send limits and window, auto-approval rules, outcome
//! impacts) atomically; a file that does not validate leaves the running settings as they are
//! and the reason is logged. Changes to other keys are reported as needing a restart.
//!
//! ```
//! use salesagent::settings::{SettingsLoader, Source};
//! let text = r#"
//! [sender]
//! email = "ann@acme-robotics.com"
//!
//! [sending.window]
//! start_hour = 8
//! "#;
//! let loaded = SettingsLoader::from_lookup(|_| None).text("salesagent.toml", text).load()?;
//! assert_eq!(loaded.settings.sender.email, "ann@acme-robotics.com");
//! assert_eq!(loaded.source_of("sending.window.start_hour"), Source::File);
//! assert_eq!(loaded.source_of("sending.window.end_hour"), Source::Default);
//! let pipeline = loaded.settings.pipeline_config()?;
//! assert_eq!(pipeline.sender_company, "Acme Robotics");
//!
//! let broken = SettingsLoader::from_lookup(|_| None)
//!     .text("salesagent.toml", "[sending.window]\nstart_hour = 18\n")
//!     .load()
//!     .unwrap_err();
//! // The window closes (17, the default) before it opens: the key set in the file is named.
//! assert!(broken.to_string().starts_with("salesagent.toml:2:14: sending.window.start_hour"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod live;
mod load;
mod render;
mod validate;

pub use live::{LiveSettings, Reload, ReloadWatcher, audit_reload, run_reloads};
pub use load::{
    CONFIG_ENV, ENV_VARS, EnvVar, LoadedSettings, Problem, SettingsError, SettingsLoader, Source,
    Where,
};
pub use render::{SECRET_ENV_VARS, init_file};

use salesagent_core::model::{Domain, EmailAddress, OutcomeType, SendLimits};
use salesagent_core::outcomes::{ImpactTable, OutcomeConfig, OutcomeScanConfig};
use salesagent_core::pipeline::PipelineConfig;
use salesagent_core::scoring::IcpRules;
use salesagent_core::sending::{
    MimeOptions, PolicyConfig, QueueConfig, RulesConfig, SendMode, SendWindow, SendingConfig,
};
use salesagent_core::sequences::SequenceConfig;
use salesagent_core::slots::SlotRules;
use salesagent_core::voice::SimilarityThreshold;
use salesagent_core::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

/// The keys (and key prefixes) a reload applies without a restart.
pub const RELOADABLE: [&str; 5] = [
    "icp",
    "sending.limits",
    "sending.window",
    "auto_approval",
    "outcomes.impacts",
];

/// Everything a host is configured with. Every key is optional in the file; see the module
/// documentation for the precedence of file, environment and flags.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Who the mail comes from.
    pub sender: SenderSettings,
    /// The store.
    pub store: StoreSettings,
    /// Which implementation each port uses.
    pub ports: PortSettings,
    /// The webhook host (listening address, workers, proxy).
    pub host: HostSettings,
    /// Send mode, mailbox, window, limits, unsubscribe links.
    pub sending: SendingSettings,
    /// Auto-approval rules.
    pub auto_approval: AutoApprovalSettings,
    /// Draft priority in the operator queue.
    pub queue: QueueSettings,
    /// Outcome impacts and scan intervals.
    pub outcomes: OutcomeSettings,
    /// Meeting-slot rules.
    pub slots: SlotSettings,
    /// The ideal-customer-profile rules.
    pub icp: IcpRules,
    /// The follow-up sequence sent first e-mails enrol their contacts in (restart to change).
    pub sequences: SequenceConfig,
    /// How drafting uses the language model.
    pub llm: LlmSettings,
}

/// How drafting uses the language model (`[llm]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct LlmSettings {
    /// `auto` (JSON, then prose for a model whose JSON drafts fail), `json` (the whole draft
    /// as one JSON object) or `prose` (the model writes body sentences only; the code composes
    /// the draft around them).
    pub draft_format: salesagent_core::prompt::DraftFormat,
}

/// The sender's identity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SenderSettings {
    /// The mailbox drafts go out from.
    pub email: String,
    /// Display name and signature; empty: the address's local part.
    pub name: String,
    /// The company named in subjects and signatures; empty: derived from the sender's domain.
    pub company: String,
    /// IANA time zone of the sender's working hours (meeting slots).
    pub time_zone: String,
    /// Domain of generated Message-IDs; empty: the sender's domain.
    pub message_id_domain: String,
    /// Name of the voice profile applied to this sender's drafts.
    pub voice_profile: String,
    /// Drafts whose voice similarity falls below this (0..=1) are flagged.
    pub voice_threshold: f64,
    /// Voice profile per sending address, chosen over `voice_profile` for drafts sent from
    /// that address (compared case-insensitively).
    pub voice_profiles: Vec<SenderVoiceProfile>,
}

/// One entry of `sender.voice_profiles`:
/// `{ sender = "alice@acme.com", profile = "alice-formal" }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SenderVoiceProfile {
    /// The sending address.
    pub sender: String,
    /// The name of that sender's own voice profile.
    pub profile: String,
}

impl Default for SenderSettings {
    fn default() -> Self {
        Self {
            email: "sales@example.com".to_owned(),
            name: String::new(),
            company: String::new(),
            time_zone: "Europe/Berlin".to_owned(),
            message_id_domain: String::new(),
            voice_profile: "default".to_owned(),
            voice_threshold: SimilarityThreshold::default().min_score,
            voice_profiles: Vec::new(),
        }
    }
}

/// The store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreSettings {
    /// `sqlite://file.db`, `sqlite::memory:`, `postgres://…` or `memory:`.
    pub database: String,
}

impl Default for StoreSettings {
    fn default() -> Self {
        Self {
            database: "sqlite://salesagent.db".to_owned(),
        }
    }
}

/// Which implementation a port uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PortMode {
    /// The real connector when its service is configured in the environment, else offline.
    #[default]
    Auto,
    /// The real connector; start-up fails when its service is not configured.
    Real,
    /// The offline stand-in, even when the service is configured.
    Offline,
}

impl PortMode {
    /// `auto`, `real` or `offline`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            PortMode::Auto => "auto",
            PortMode::Real => "real",
            PortMode::Offline => "offline",
        }
    }
}

/// Which implementation each port uses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct PortSettings {
    /// The CRM (HubSpot).
    pub crm: PortMode,
    /// The mailbox (Gmail).
    pub mailbox: PortMode,
    /// The drive (Google Drive).
    pub drive: PortMode,
    /// The calendar (Google Calendar).
    pub calendar: PortMode,
    /// The language model (OpenAI-compatible).
    pub llm: PortMode,
    /// Fixture directory seeding the offline ports; empty: the host's default.
    pub fixtures: String,
}

impl PortSettings {
    /// The mode of `port`.
    #[must_use]
    pub fn mode(&self, port: crate::services::Port) -> PortMode {
        use crate::services::Port;
        match port {
            Port::Crm => self.crm,
            Port::Mailbox => self.mailbox,
            Port::Drive => self.drive,
            Port::Calendar => self.calendar,
            Port::Llm => self.llm,
        }
    }
}

/// The webhook host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HostSettings {
    /// Address to listen on.
    pub listen: String,
    /// In-process workers (0: intake only).
    pub workers: u32,
    /// The external origin HubSpot calls; empty: `http://` + the Host header.
    pub public_url: String,
    /// Behind a TLS-terminating proxy.
    pub behind_tls: bool,
    /// Header the trusted proxy puts the client address in; empty: the socket address.
    pub trusted_proxy_header: String,
    /// Also accept HubSpot v1/v2 signatures.
    pub hubspot_legacy_signatures: bool,
    /// Accept unsigned webhooks when no HubSpot secret is set (local development only).
    pub allow_unsigned: bool,
}

impl Default for HostSettings {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".to_owned(),
            workers: 2,
            public_url: String::new(),
            behind_tls: false,
            trusted_proxy_header: String::new(),
            hubspot_legacy_signatures: false,
            allow_unsigned: false,
        }
    }
}

/// Send mode, mailbox, window, limits and unsubscribe links.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct SendingSettings {
    /// `draft_only` (approved drafts become mailbox drafts) or `real_sends`.
    pub mode: SendMode,
    /// The mailbox sends go through: empty (Gmail when configured, else offline), `gmail`,
    /// `imap`, or `outbox:DIR`.
    pub mailbox: String,
    /// Working hours in the recipient's time zone.
    pub window: WindowSettings,
    /// Volume limits.
    pub limits: LimitSettings,
    /// `mailto:` address of the List-Unsubscribe header; empty: none.
    pub unsubscribe_mailto: String,
    /// `https://` List-Unsubscribe URL; empty: the host's one-click route when it has one.
    pub unsubscribe_url: String,
}

/// The send window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WindowSettings {
    /// `false`: send at any hour.
    pub enabled: bool,
    /// Opening hour, recipient's local time (0..=23).
    pub start_hour: u8,
    /// Closing hour, exclusive (1..=24, after `start_hour`).
    pub end_hour: u8,
    /// Also send on Saturdays and Sundays.
    pub weekends: bool,
    /// The zone used when the recipient's is unknown.
    pub time_zone: String,
}

impl Default for WindowSettings {
    fn default() -> Self {
        let w = SendWindow::default();
        Self {
            enabled: true,
            start_hour: w.start_hour,
            end_hour: w.end_hour,
            weekends: !w.weekdays_only,
            time_zone: w.default_time_zone.name().to_owned(),
        }
    }
}

/// Volume limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitSettings {
    /// Sends to one contact per rolling 7 days.
    pub per_contact_week: u32,
    /// Sends to one contact per rolling 24 hours.
    pub per_contact_day: u32,
    /// Sends from the sender per rolling 24 hours.
    pub per_sender_day: u32,
    /// Sends to one recipient domain per rolling 24 hours.
    pub per_domain_day: u32,
}

impl Default for LimitSettings {
    fn default() -> Self {
        let l = SendLimits::default();
        Self {
            per_contact_week: l.per_contact_week,
            per_contact_day: l.per_contact_day,
            per_sender_day: l.per_sender_day,
            per_domain_day: l.per_domain_day,
        }
    }
}

/// Auto-approval rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AutoApprovalSettings {
    /// Evaluate the rules for every new draft.
    pub enabled: bool,
    /// Lowest ICP score approved on a verified company domain (0..=100).
    pub icp_threshold: u8,
}

impl Default for AutoApprovalSettings {
    fn default() -> Self {
        let r = RulesConfig::default();
        Self {
            enabled: r.enabled,
            icp_threshold: r.icp_threshold,
        }
    }
}

/// Draft priority in the operator queue.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QueueSettings {
    /// Age in hours at which the recency bonus halves.
    pub recency_half_life_hours: f64,
    /// Recency bonus of a brand-new draft.
    pub recency_weight: f64,
    /// ICP points of a draft without an ICP score.
    pub missing_icp_points: f64,
    /// Bound (±) of the outcome-history priority adjustment.
    pub adjustment_cap: f64,
}

impl Default for QueueSettings {
    fn default() -> Self {
        let q = QueueConfig::default();
        Self {
            recency_half_life_hours: q.recency_half_life.as_secs_f64() / 3600.0,
            recency_weight: q.recency_weight,
            missing_icp_points: q.missing_icp_points,
            adjustment_cap: q.adjustment_cap,
        }
    }
}

/// Outcome impacts and scan intervals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OutcomeSettings {
    /// Points per outcome type (−5..=+10); a type left out keeps its default.
    pub impacts: BTreeMap<OutcomeType, i32>,
    /// Seconds between scans, per source.
    pub scan_interval_secs: ScanIntervals,
}

impl Default for OutcomeSettings {
    fn default() -> Self {
        Self {
            impacts: OutcomeType::ALL
                .iter()
                .map(|&t| (t, t.default_impact()))
                .collect(),
            scan_interval_secs: ScanIntervals::default(),
        }
    }
}

/// Seconds between outcome scans.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScanIntervals {
    /// Mailbox (replies, bounces).
    pub mailbox: u64,
    /// CRM deals.
    pub crm: u64,
    /// Calendar meetings.
    pub calendar: u64,
    /// Silence (no response).
    pub silence: u64,
}

impl Default for ScanIntervals {
    fn default() -> Self {
        let s = OutcomeScanConfig::default();
        Self {
            mailbox: s.mailbox.as_secs(),
            crm: s.crm.as_secs(),
            calendar: s.calendar.as_secs(),
            silence: s.silence.as_secs(),
        }
    }
}

/// Meeting-slot rules (in the sender's time zone, `sender.time_zone`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SlotSettings {
    /// Slots proposed per draft.
    pub count: u32,
    /// Meeting length in minutes.
    pub duration_minutes: u32,
    /// Start times fall on multiples of this many minutes.
    pub step_minutes: u32,
    /// Start of the working day, `HH:MM`.
    pub day_start: String,
    /// End of the working day, `HH:MM` (after `day_start`).
    pub day_end: String,
    /// Business days (`mon` … `sun`).
    pub working_days: Vec<String>,
    /// Minimum notice before the first slot, in minutes.
    pub min_notice_minutes: u32,
    /// Days ahead to look.
    pub horizon_days: u32,
    /// At most this many slots on one day (0: no limit).
    pub max_per_day: u32,
}

impl Default for SlotSettings {
    fn default() -> Self {
        let r = SlotRules::default();
        Self {
            count: u32::try_from(r.count).unwrap_or(3),
            duration_minutes: r.duration_minutes,
            step_minutes: r.step_minutes,
            day_start: r.day_start.format("%H:%M").to_string(),
            day_end: r.day_end.format("%H:%M").to_string(),
            working_days: r
                .working_days
                .iter()
                .map(|d| weekday_name(*d).to_owned())
                .collect(),
            min_notice_minutes: r.min_notice_minutes,
            horizon_days: r.horizon_days,
            max_per_day: u32::try_from(r.max_per_day).unwrap_or(1),
        }
    }
}

fn weekday_name(d: chrono::Weekday) -> &'static str {
    use chrono::Weekday::{Fri, Mon, Sat, Sun, Thu, Tue, Wed};
    match d {
        Mon => "mon",
        Tue => "tue",
        Wed => "wed",
        Thu => "thu",
        Fri => "fri",
        Sat => "sat",
        Sun => "sun",
    }
}

fn parse_hhmm(s: &str) -> Option<chrono::NaiveTime> {
    chrono::NaiveTime::parse_from_str(s.trim(), "%H:%M").ok()
}

/// The company name a sender's domain suggests: its first label, words split at `-`,
/// capitalised (`acme-robotics.com` → "Acme Robotics", `mail.example.co.uk` → "Mail").
#[must_use]
pub fn company_from_domain(domain: &Domain) -> String {
    domain.organisation_name()
}

impl Settings {
    /// The sender's address.
    ///
    /// # Errors
    /// `InvalidInput` when `sender.email` is not an address (a loaded value never is).
    pub fn sender_email(&self) -> Result<EmailAddress> {
        EmailAddress::parse(&self.sender.email)
    }

    /// The sender's display name: `sender.name`, else one made from the address's local part
    /// ([`EmailAddress::name_from_local_part`]: `sam@…` signs as "Sam").
    ///
    /// # Errors
    /// As [`Settings::sender_email`].
    pub fn sender_name(&self) -> Result<String> {
        Ok(match self.sender.name.trim() {
            "" => self.sender_email()?.name_from_local_part(),
            n => n.to_owned(),
        })
    }

    /// The sender's company: `sender.company`, else [`company_from_domain`].
    ///
    /// # Errors
    /// As [`Settings::sender_email`].
    pub fn sender_company(&self) -> Result<String> {
        Ok(match self.sender.company.trim() {
            "" => company_from_domain(self.sender_email()?.domain()),
            c => c.to_owned(),
        })
    }

    /// The pipeline's configuration: sender identity, voice profile and threshold, meeting-slot
    /// and ICP rules (the rest keeps [`PipelineConfig::new`]'s defaults).
    ///
    /// # Errors
    /// `InvalidInput` for a value [`SettingsLoader::load`] would have refused.
    pub fn pipeline_config(&self) -> Result<PipelineConfig> {
        let mut c = PipelineConfig::new(self.sender_email()?);
        c.sender_name = self.sender_name()?;
        c.sender_company = self.sender_company()?;
        c.voice_profile = self.sender.voice_profile.clone();
        c.voice_profiles = self
            .sender
            .voice_profiles
            .iter()
            .map(|v| (v.sender.clone(), v.profile.clone()))
            .collect();
        c.voice_threshold = SimilarityThreshold {
            min_score: self.sender.voice_threshold,
        };
        c.slots = self.slot_rules()?;
        c.icp = self.icp.clone();
        c.draft_format = self.llm.draft_format;
        Ok(c)
    }

    /// The meeting-slot rules.
    ///
    /// # Errors
    /// `InvalidInput` for an unknown zone, time or weekday.
    pub fn slot_rules(&self) -> Result<SlotRules> {
        let s = &self.slots;
        let zone = salesagent_core::slots::parse_zone(&self.sender.time_zone)
            .ok_or_else(|| Error::invalid("sender.time_zone", "unknown IANA time zone"))?;
        let time =
            |key: &str, v: &str| parse_hhmm(v).ok_or_else(|| Error::invalid(key, "expected HH:MM"));
        let working_days = s
            .working_days
            .iter()
            .map(|d| {
                d.parse::<chrono::Weekday>()
                    .map_err(|_| Error::invalid("slots.working_days", format!("{d:?}")))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(SlotRules {
            count: s.count as usize,
            duration_minutes: s.duration_minutes,
            step_minutes: s.step_minutes,
            day_start: time("slots.day_start", &s.day_start)?,
            day_end: time("slots.day_end", &s.day_end)?,
            working_days,
            sender_zone: zone,
            min_notice_minutes: s.min_notice_minutes,
            horizon_days: s.horizon_days,
            max_per_day: s.max_per_day as usize,
        })
    }

    /// The send policy (mode, window, limits).
    ///
    /// # Errors
    /// `InvalidInput` for an unknown zone or an empty window.
    pub fn policy_config(&self) -> Result<PolicyConfig> {
        let w = &self.sending.window;
        let window = if w.enabled {
            let window = SendWindow {
                start_hour: w.start_hour,
                end_hour: w.end_hour,
                weekdays_only: !w.weekends,
                default_time_zone: salesagent_core::sending::policy::parse_time_zone(&w.time_zone)
                    .ok_or_else(|| {
                        Error::invalid("sending.window.time_zone", "unknown IANA time zone")
                    })?,
            };
            window.validate()?;
            Some(window)
        } else {
            None
        };
        let l = self.sending.limits;
        Ok(PolicyConfig {
            mode: self.sending.mode,
            limits: SendLimits {
                per_contact_week: l.per_contact_week,
                per_contact_day: l.per_contact_day,
                per_sender_day: l.per_sender_day,
                per_domain_day: l.per_domain_day,
            },
            window,
            ignore_window: false,
        })
    }

    /// The auto-approval rules.
    #[must_use]
    pub fn rules_config(&self) -> RulesConfig {
        RulesConfig {
            enabled: self.auto_approval.enabled,
            icp_threshold: self.auto_approval.icp_threshold,
        }
    }

    /// The operator queue's priority settings.
    #[must_use]
    pub fn queue_config(&self) -> QueueConfig {
        let q = self.queue;
        QueueConfig {
            recency_half_life: Duration::from_secs_f64(
                (q.recency_half_life_hours * 3600.0).clamp(1.0, 1e9),
            ),
            recency_weight: q.recency_weight,
            missing_icp_points: q.missing_icp_points,
            adjustment_cap: q.adjustment_cap,
            ..QueueConfig::default()
        }
    }

    /// Everything the sending side needs: policy, MIME options (Message-ID domain, the sender's
    /// display name, unsubscribe links), auto-approval rules and queue settings.
    ///
    /// # Errors
    /// `InvalidInput` for a value [`SettingsLoader::load`] would have refused.
    pub fn sending_config(&self) -> Result<SendingConfig> {
        let sender = self.sender_email()?;
        let domain = match self.sender.message_id_domain.trim() {
            "" => sender.domain().clone(),
            d => Domain::parse(d)?,
        };
        let mut mime = MimeOptions::new(domain);
        // The From display name only when one is set (the address alone otherwise).
        mime.sender_name = Some(self.sender.name.trim().to_owned()).filter(|n| !n.is_empty());
        if !self.sending.unsubscribe_mailto.trim().is_empty() {
            mime.unsubscribe.mailto = Some(EmailAddress::parse(&self.sending.unsubscribe_mailto)?);
        }
        if !self.sending.unsubscribe_url.trim().is_empty() {
            mime.unsubscribe.https = Some(self.sending.unsubscribe_url.trim().to_owned());
        }
        mime.validate()?;
        Ok(SendingConfig {
            policy: self.policy_config()?,
            mime,
            rules: self.rules_config(),
            queue: self.queue_config(),
        })
    }

    /// The outcome impacts.
    ///
    /// # Errors
    /// `InvalidInput` for an impact outside −5..=+10.
    pub fn impact_table(&self) -> Result<ImpactTable> {
        ImpactTable::with_overrides(self.outcomes.impacts.iter().map(|(t, v)| (*t, *v)))
    }

    /// The outcomes service's settings (impacts; the rest default).
    ///
    /// # Errors
    /// As [`Settings::impact_table`].
    pub fn outcome_config(&self) -> Result<OutcomeConfig> {
        Ok(OutcomeConfig {
            impacts: self.impact_table()?,
            ..OutcomeConfig::default()
        })
    }

    /// The outcome scans' intervals.
    #[must_use]
    pub fn scan_config(&self) -> OutcomeScanConfig {
        let s = self.outcomes.scan_interval_secs;
        OutcomeScanConfig {
            mailbox: Duration::from_secs(s.mailbox),
            crm: Duration::from_secs(s.crm),
            calendar: Duration::from_secs(s.calendar),
            silence: Duration::from_secs(s.silence),
        }
    }

    /// Everything the worker runtime is built from
    /// ([`crate::services::runtime::build_configured`]).
    ///
    /// # Errors
    /// `InvalidInput` for a value [`SettingsLoader::load`] would have refused.
    pub fn runtime_config(&self) -> Result<crate::services::runtime::RuntimeConfig> {
        Ok(crate::services::runtime::RuntimeConfig {
            pipeline: self.pipeline_config()?,
            sending: self.sending_config()?,
            scans: self.scan_config(),
            outcomes: self.outcome_config()?,
            sequences: self.sequences.clone(),
        })
    }
}
