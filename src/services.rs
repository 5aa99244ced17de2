//! Per-service selection of the ports a host runs on (feature `services`).
//!
//! Each port uses its real connector from [`salesagent_connectors`] when that service is
//! configured in the environment, and the offline implementation otherwise, so salesagent can
//! run with, say, only an OpenAI-compatible model server configured and fixtures for the rest:
//!
//! | port | real (configured when …) | offline |
//! |---|---|---|
//! | CRM | HubSpot (`HUBSPOT_ACCESS_TOKEN`/`HUBSPOT_API_KEY`, or `HUBSPOT_BASE_URL`) | [`fixtures::crm`] |
//! | mailbox | Gmail (`GOOGLE_CLIENT_ID` + `GOOGLE_CLIENT_SECRET`, or `GOOGLE_API_BASE_URL`) | [`fixtures::mailbox`] |
//! | mailbox | any IMAP + SMTP account (`IMAP_URL` + `SMTP_URL`; preferred over Gmail when set) | [`fixtures::mailbox`] |
//! | drive | Google Drive (as Gmail) | [`fixtures::drive`] |
//! | calendar | Google Calendar (as Gmail) | [`fixtures::calendar`] |
//! | LLM | OpenAI-compatible (`OPENAI_API_KEY`, or `OPENAI_BASE_URL`) | [`TemplateLlm`] |
//!
//! `offline(true)` forces every port offline. A service that is configured but cannot be built
//! (a base URL without credentials, a missing `GOOGLE_REDIRECT_URI`, a malformed URL) runs
//! offline too, and its [`PortChoice::problem`] says why, so `doctor` reports it as failing.
//! Google tokens are read from (and refreshed into) the store, for the account set with
//! [`ServiceSelector::google_account`].
//!
//! ```no_run
//! # fn demo(store: salesagent::core::ports::DynStore, clock: salesagent::core::ports::DynClock) -> salesagent::Result<()> {
//! use salesagent::services::ServiceSelector;
//! let services = ServiceSelector::from_env()
//!     .fixtures("examples/data")
//!     .select(&store, &clock)?;
//! for choice in &services.choices {
//!     println!("{choice}");
//! }
//! let ports = services.ports(store, clock);
//! # let _ = ports; Ok(()) }
//! ```

pub mod doctor;
pub mod fixtures;
pub mod runtime;

use salesagent_connectors::calendar::GoogleCalendar;
use salesagent_connectors::drive::GoogleDrive;
use salesagent_connectors::gmail::Gmail;
use salesagent_connectors::google_api::{GoogleApi, GoogleApiBuilder};
use salesagent_connectors::google_oauth::{GoogleAccount, GoogleOAuthBuilder};
use salesagent_connectors::http::HttpConfig;
use salesagent_connectors::hubspot::{HubSpot, HubSpotBuilder};
use salesagent_connectors::openai::{OpenAi, OpenAiBuilder};
use salesagent_core::offline::{FakeCalendar, FakeCrm, FakeDrive, FakeMailbox};
use salesagent_core::pipeline::Ports;
use salesagent_core::ports::{
    DynCalendar, DynClock, DynCrm, DynDrive, DynLlm, DynMailbox, DynStore, SecretStore,
};
use salesagent_core::writer::TemplateLlm;
use salesagent_core::{Error, Result};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// One of the ports a host selects an implementation for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Port {
    /// The CRM (HubSpot).
    Crm,
    /// The sender's mailbox (Gmail).
    Mailbox,
    /// The asset drive (Google Drive).
    Drive,
    /// The sender's calendar (Google Calendar).
    Calendar,
    /// The language model (OpenAI-compatible).
    Llm,
}

impl Port {
    /// Every port, in the order hosts report them.
    pub const ALL: [Port; 5] = [
        Port::Crm,
        Port::Mailbox,
        Port::Drive,
        Port::Calendar,
        Port::Llm,
    ];

    /// The port's lower-case name (`crm`, `mailbox`, `drive`, `calendar`, `llm`).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Port::Crm => "crm",
            Port::Mailbox => "mailbox",
            Port::Drive => "drive",
            Port::Calendar => "calendar",
            Port::Llm => "llm",
        }
    }

    /// The real service behind the port.
    #[must_use]
    pub fn service(self) -> &'static str {
        match self {
            Port::Crm => "HubSpot",
            Port::Mailbox => "Gmail",
            Port::Drive => "Google Drive",
            Port::Calendar => "Google Calendar",
            Port::Llm => "OpenAI-compatible",
        }
    }
}

impl fmt::Display for Port {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether a port runs on its real connector or offline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Implementation {
    /// The real service's connector.
    Real,
    /// The offline stand-in (fixture-backed fake or template writer).
    Offline,
}

impl Implementation {
    /// `real` or `offline`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Implementation::Real => "real",
            Implementation::Offline => "offline",
        }
    }
}

/// Which implementation one port got, and why.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PortChoice {
    /// The port.
    pub port: Port,
    /// Real or offline.
    pub implementation: Implementation,
    /// What runs: the service name, or the offline stand-in (e.g. `fixtures`, `template writer`).
    pub name: String,
    /// Why this implementation was chosen (which variables are, or are not, set).
    pub reason: String,
    /// The service is configured but its connector could not be built (it runs offline).
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "error_text")]
    pub problem: Option<Error>,
}

fn error_text<S: serde::Serializer>(
    e: &Option<Error>,
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    match e {
        Some(e) => s.serialize_str(&e.to_string()),
        None => s.serialize_none(),
    }
}

impl PortChoice {
    /// True when the service is configured (whether or not its connector could be built).
    #[must_use]
    pub fn configured(&self) -> bool {
        self.implementation == Implementation::Real || self.problem.is_some()
    }
}

impl fmt::Display for PortChoice {
    /// One log line: `crm: offline (fixtures) — HUBSPOT_ACCESS_TOKEN is not set`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} ({}) — {}",
            self.port,
            self.implementation.as_str(),
            self.name,
            self.reason
        )?;
        if let Some(p) = &self.problem {
            write!(f, "; not usable: {p}")?;
        }
        Ok(())
    }
}

/// The real connectors that were selected (for health checks); `None` where a port is offline.
#[derive(Debug, Clone, Default)]
pub struct RealConnectors {
    /// HubSpot, when the CRM is real.
    pub hubspot: Option<Arc<HubSpot>>,
    /// Gmail, when the mailbox is real.
    pub gmail: Option<Arc<Gmail>>,
    /// Google Drive, when the drive is real.
    pub drive: Option<Arc<GoogleDrive>>,
    /// Google Calendar, when the calendar is real.
    pub calendar: Option<Arc<GoogleCalendar>>,
    /// The Google account the three Google connectors act for.
    pub google_account: Option<Arc<GoogleAccount>>,
    /// The OpenAI-compatible model, when the LLM is real.
    pub openai: Option<Arc<OpenAi>>,
    /// The IMAP + SMTP mailbox, when `IMAP_URL` and `SMTP_URL` are set.
    pub imap: Option<Arc<salesagent_connectors::imap::ImapMailbox>>,
}

/// The selected ports, with one [`PortChoice`] per port.
#[derive(Debug, Clone)]
pub struct Services {
    /// The CRM.
    pub crm: DynCrm,
    /// The sender's mailbox.
    pub mailbox: DynMailbox,
    /// The asset drive.
    pub drive: DynDrive,
    /// The sender's calendar.
    pub calendar: DynCalendar,
    /// The language model.
    pub llm: DynLlm,
    /// One entry per port, in [`Port::ALL`] order.
    pub choices: Vec<PortChoice>,
    /// The real connectors among them.
    pub real: RealConnectors,
}

impl Services {
    /// The language model when it is a real one (not the offline template writer): what the
    /// assistant may fall back to for requests its parser does not recognise.
    #[must_use]
    pub fn real_llm(&self) -> Option<DynLlm> {
        self.real.openai.clone().map(|o| o as DynLlm)
    }

    /// The pipeline's ports: these services plus `store` and `clock`.
    #[must_use]
    pub fn ports(&self, store: DynStore, clock: DynClock) -> Ports {
        Ports {
            crm: self.crm.clone(),
            mailbox: self.mailbox.clone(),
            drive: self.drive.clone(),
            calendar: self.calendar.clone(),
            llm: self.llm.clone(),
            store,
            clock,
        }
    }

    /// The choice made for `port`.
    #[must_use]
    pub fn choice(&self, port: Port) -> Option<&PortChoice> {
        self.choices.iter().find(|c| c.port == port)
    }

    /// Refuses a service that is configured but could not be built: a host must not quietly
    /// run on an in-memory stand-in (CRM notes would vanish, an empty calendar would offer every
    /// slot). The error names the port, the variables that configured it and the problem.
    ///
    /// # Errors
    /// `InvalidInput` for the first port with a problem.
    pub fn check_configured(&self) -> Result<()> {
        match self.choices.iter().find(|c| c.problem.is_some()) {
            Some(c) => Err(Error::invalid(
                c.port.as_str(),
                format!(
                    "{} is configured ({}) but cannot be used: {}; fix it, or run with --offline",
                    c.port.service(),
                    c.reason,
                    c.problem
                        .as_ref()
                        .map(ToString::to_string)
                        .unwrap_or_default()
                ),
            )),
            None => Ok(()),
        }
    }

    /// Uses the mailbox `spec` names for sending, drafting and outcome scans: `gmail` (Gmail
    /// must be configured), `outbox:DIR` (the file outbox), or `None`: Gmail when it is
    /// configured, else the offline mailbox. Both hosts and `cli send` / `cli work` take the
    /// same choices with the same default.
    ///
    /// # Errors
    /// `InvalidInput` for an unknown spec or `gmail` without Gmail configured; outbox errors.
    pub fn use_mailbox(&mut self, spec: Option<&str>) -> Result<()> {
        match spec.map(str::trim) {
            None | Some("") => Ok(()),
            Some("gmail") => match &self.real.gmail {
                Some(g) => {
                    self.mailbox = g.clone();
                    Ok(())
                }
                None => Err(Error::invalid(
                    "mailbox",
                    "gmail is not configured (set GOOGLE_CLIENT_ID, GOOGLE_CLIENT_SECRET and GOOGLE_REDIRECT_URI, then run `cli auth google`)",
                )),
            },
            Some(other) if other.starts_with("outbox:") => {
                let outbox = salesagent_connectors::outbox::Outbox::from_spec(other)?;
                self.mailbox = Arc::new(outbox);
                if let Some(c) = self.choices.iter_mut().find(|c| c.port == Port::Mailbox) {
                    c.implementation = Implementation::Offline;
                    c.name = other.to_owned();
                    c.reason = "--mailbox".to_owned();
                    c.problem = None;
                }
                Ok(())
            }
            Some("imap") => match &self.real.imap {
                Some(m) => {
                    self.mailbox = m.clone();
                    Ok(())
                }
                None => Err(Error::invalid(
                    "mailbox",
                    "imap is not configured (set IMAP_URL and SMTP_URL)",
                )),
            },
            Some(other) => Err(Error::invalid(
                "mailbox",
                format!("{other:?}: expected gmail, imap or outbox:DIR"),
            )),
        }
    }
}

type Lookup = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// Chooses each port's implementation from environment variables (or an injected lookup).
#[derive(Clone)]
pub struct ServiceSelector {
    lookup: Lookup,
    offline: bool,
    fixtures: Option<PathBuf>,
    google_account: Option<String>,
    http: Option<HttpConfig>,
    modes: std::collections::BTreeMap<Port, crate::settings::PortMode>,
}

impl fmt::Debug for ServiceSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceSelector")
            .field("offline", &self.offline)
            .field("fixtures", &self.fixtures)
            .field("google_account", &self.google_account)
            .finish_non_exhaustive()
    }
}

impl ServiceSelector {
    /// Reads the process environment.
    #[must_use]
    pub fn from_env() -> Self {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads variables through `lookup` (tests pass a map instead of mutating the environment).
    #[must_use]
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String> + Send + Sync + 'static) -> Self {
        Self {
            lookup: Arc::new(lookup),
            offline: false,
            fixtures: None,
            google_account: None,
            http: None,
            modes: std::collections::BTreeMap::new(),
        }
    }

    /// Forces every port offline (`--offline`).
    #[must_use]
    pub fn offline(mut self, offline: bool) -> Self {
        self.offline = offline;
        self
    }

    /// Seeds the offline fakes from this fixture directory (see [`fixtures`]); without one
    /// they start empty.
    #[must_use]
    pub fn fixtures(mut self, dir: impl Into<PathBuf>) -> Self {
        self.fixtures = Some(dir.into());
        self
    }

    /// The Google account (mailbox address) whose stored tokens Gmail, Drive and Calendar use.
    #[must_use]
    pub fn google_account(mut self, account: impl Into<String>) -> Self {
        self.google_account = Some(account.into());
        self
    }

    /// How `port` is chosen (settings `ports.*`): `auto` (the default: real when configured),
    /// `offline` (always the stand-in) or `real` (a port that is not configured is a
    /// [`PortChoice::problem`], so [`Services::check_configured`] refuses to start).
    #[must_use]
    pub fn port_mode(mut self, port: Port, mode: crate::settings::PortMode) -> Self {
        self.modes.insert(port, mode);
        self
    }

    /// Every port's mode from the settings' `[ports]` table.
    #[must_use]
    pub fn port_modes(self, ports: &crate::settings::PortSettings) -> Self {
        Port::ALL
            .iter()
            .fold(self, |s, &p| s.port_mode(p, ports.mode(p)))
    }

    fn forced_offline(&self, port: Port) -> bool {
        self.modes.get(&port) == Some(&crate::settings::PortMode::Offline)
    }

    /// Transport settings for the HubSpot and Google connectors (default: each connector's own).
    #[must_use]
    pub fn http_config(mut self, config: HttpConfig) -> Self {
        self.http = Some(config);
        self
    }

    fn var(&self, key: &str) -> Option<String> {
        (self.lookup)(key).filter(|v| !v.trim().is_empty())
    }

    fn set(&self, keys: &[&str]) -> Vec<String> {
        keys.iter()
            .filter(|k| self.var(k).is_some())
            .map(|k| (*k).to_owned())
            .collect()
    }

    /// Selects every port. Fails only when the fixture directory cannot be read.
    pub fn select(&self, store: &DynStore, clock: &DynClock) -> Result<Services> {
        let lookup = self.lookup.clone();
        let var = move |k: &str| lookup(k);
        let offline = Offline {
            dir: self.fixtures.as_deref(),
            clock,
        };
        let mut choices = Vec::with_capacity(Port::ALL.len());
        let mut real = RealConnectors::default();

        // CRM.
        let crm: DynCrm = match self.hubspot(&var, clock) {
            Some(Ok((hs, reason))) => {
                let hs = Arc::new(hs);
                real.hubspot = Some(hs.clone());
                choices.push(real_choice(Port::Crm, reason));
                hs
            }
            other => {
                choices.push(self.offline_choice(
                    Port::Crm,
                    other.and_then(Result::err),
                    self.fake_name(),
                ));
                Arc::new(offline.crm()?)
            }
        };

        // Google: one account for mailbox, drive and calendar.
        let google = self.google(&var, store, clock);
        real.gmail = self.google_port(Port::Mailbox, &var, &google, &mut choices);
        let mailbox: DynMailbox = match &real.gmail {
            Some(c) => c.clone(),
            None => Arc::new(offline.mailbox()?),
        };
        let mailbox = self
            .imap_mailbox(&var, store, clock, &mut real, &mut choices)
            .unwrap_or(mailbox);
        real.drive = self.google_port(Port::Drive, &var, &google, &mut choices);
        let drive: DynDrive = match &real.drive {
            Some(c) => c.clone(),
            None => Arc::new(offline.drive()?),
        };
        real.calendar = self.google_port(Port::Calendar, &var, &google, &mut choices);
        let calendar: DynCalendar = match &real.calendar {
            Some(c) => c.clone(),
            None => Arc::new(offline.calendar()?),
        };
        if let Some(Ok(g)) = &google
            && (real.gmail.is_some() || real.drive.is_some() || real.calendar.is_some())
        {
            real.google_account = Some(g.account.clone());
        }

        // LLM.
        let llm: DynLlm = match self.openai(&var, clock) {
            Some(Ok((ai, reason))) => {
                let ai = Arc::new(ai);
                real.openai = Some(ai.clone());
                choices.push(real_choice(Port::Llm, reason));
                ai
            }
            other => {
                choices.push(self.offline_choice(
                    Port::Llm,
                    other.and_then(Result::err),
                    "template writer",
                ));
                Arc::new(TemplateLlm)
            }
        };

        // `ports.X = "real"`: a port left offline cannot start.
        for c in &mut choices {
            if self.modes.get(&c.port) == Some(&crate::settings::PortMode::Real)
                && c.implementation != Implementation::Real
                && c.problem.is_none()
            {
                c.problem = Some(Error::invalid(
                    format!("ports.{}", c.port),
                    format!("is \"real\" but {}", c.reason),
                ));
            }
        }

        Ok(Services {
            crm,
            mailbox,
            drive,
            calendar,
            llm,
            choices,
            real,
        })
    }

    /// What the offline CRM, mailbox, drive and calendar are.
    fn fake_name(&self) -> &'static str {
        if self.fixtures.is_some() {
            "fixtures"
        } else {
            "empty in-memory fake"
        }
    }

    /// The offline entry: forced, configured-but-broken, or not configured.
    fn offline_choice(
        &self,
        port: Port,
        failure: Option<(Error, String)>,
        name: &str,
    ) -> PortChoice {
        let (reason, problem) = if self.offline {
            ("--offline".to_owned(), None)
        } else if self.forced_offline(port) {
            (format!("settings: ports.{port} = \"offline\""), None)
        } else {
            match failure {
                Some((e, reason)) => (reason, Some(e)),
                None => (not_configured(port), None),
            }
        };
        PortChoice {
            port,
            implementation: Implementation::Offline,
            name: name.to_owned(),
            reason,
            problem,
        }
    }

    /// `None` when HubSpot is not configured (or offline is forced).
    fn hubspot(
        &self,
        var: &(impl Fn(&str) -> Option<String> + Send + Sync),
        clock: &DynClock,
    ) -> Option<std::result::Result<(HubSpot, String), (Error, String)>> {
        let set = self.set(&[
            "HUBSPOT_ACCESS_TOKEN",
            "HUBSPOT_API_KEY",
            "HUBSPOT_BASE_URL",
        ]);
        if self.offline || set.is_empty() || self.forced_offline(Port::Crm) {
            return None;
        }
        let reason = format!("{} set", join(&set));
        let mut b = HubSpotBuilder::from_lookup(var).with_clock(clock.clone());
        if let Some(h) = &self.http {
            b = b.with_http_config(h.clone());
        }
        Some(
            b.build()
                .map(|c| (c, reason.clone()))
                .map_err(|e| (e, reason)),
        )
    }

    /// `None` when no Google variable is set (or offline is forced).
    fn google(
        &self,
        var: &(impl Fn(&str) -> Option<String> + Send + Sync),
        store: &DynStore,
        clock: &DynClock,
    ) -> Option<std::result::Result<Google, (Error, String)>> {
        let set = self.set(&[
            "GOOGLE_CLIENT_ID",
            "GOOGLE_CLIENT_SECRET",
            "GOOGLE_API_BASE_URL",
        ]);
        if self.offline || set.is_empty() {
            return None;
        }
        let reason = format!("{} set", join(&set));
        let fail = |e: Error| Some(Err((e, reason.clone())));
        let oauth = GoogleOAuthBuilder::from_lookup(var);
        if !oauth.is_configured() {
            return fail(Error::invalid(
                "GOOGLE_CLIENT_ID/GOOGLE_CLIENT_SECRET",
                "are needed for the Google services (OAuth client)",
            ));
        }
        let Some(account) = self.google_account.clone() else {
            return fail(Error::invalid(
                "google account",
                "no mailbox address to act for was given",
            ));
        };
        let secrets: Arc<dyn SecretStore> = store.clone();
        let oauth = match oauth.with_clock(clock.clone()).build(secrets) {
            Ok(o) => o,
            Err(e) => return fail(e),
        };
        Some(Ok(Google {
            account: oauth.account(account),
            reason,
        }))
    }

    /// The real Google connector `T` for `port` when the Google account is usable and `T`
    /// builds; `None` (use the offline one) otherwise. Records the port's choice either way.
    fn google_port<T: GoogleApi>(
        &self,
        port: Port,
        var: &(impl Fn(&str) -> Option<String> + Send + Sync),
        google: &Option<std::result::Result<Google, (Error, String)>>,
        choices: &mut Vec<PortChoice>,
    ) -> Option<Arc<T>> {
        if self.forced_offline(port) {
            choices.push(self.offline_choice(port, None, self.fake_name()));
            return None;
        }
        let failure = match google {
            Some(Ok(g)) => {
                let mut b =
                    GoogleApiBuilder::<T>::from_lookup(var).with_authorizer(g.account.clone());
                if let Some(h) = &self.http {
                    b = b.with_http_config(h.clone());
                }
                match b.build() {
                    Ok(c) => {
                        choices.push(real_choice(port, g.reason.clone()));
                        return Some(Arc::new(c));
                    }
                    Err(e) => Some((e, g.reason.clone())),
                }
            }
            other => google_failure(other),
        };
        choices.push(self.offline_choice(port, failure, self.fake_name()));
        None
    }

    /// The IMAP + SMTP mailbox when `IMAP_URL` or `SMTP_URL` is set (and the mailbox is not
    /// forced offline): it then replaces Gmail as the mailbox choice. `?auth=xoauth2` takes its
    /// tokens from the OAuth provider of `OAUTH_PROVIDER` (Google or Microsoft), stored in the
    /// store's secrets for the IMAP user. A configuration that does not build is the mailbox
    /// choice's problem (the host refuses to start).
    fn imap_mailbox(
        &self,
        var: &(impl Fn(&str) -> Option<String> + Send + Sync),
        store: &DynStore,
        clock: &DynClock,
        real: &mut RealConnectors,
        choices: &mut [PortChoice],
    ) -> Option<DynMailbox> {
        use salesagent_connectors::imap::ImapBuilder;
        use salesagent_connectors::oauth_provider::OAuthProvider;
        let set = self.set(&["IMAP_URL", "SMTP_URL"]);
        if self.offline || set.is_empty() || self.forced_offline(Port::Mailbox) {
            return None;
        }
        let reason = format!("{} set", join(&set));
        let build = || -> Result<salesagent_connectors::imap::ImapMailbox> {
            let mut b = ImapBuilder::from_lookup(var);
            let xoauth2 = var("IMAP_URL").is_some_and(|u| u.contains("auth=xoauth2"))
                || var("SMTP_URL").is_some_and(|u| u.contains("auth=xoauth2"));
            if xoauth2 {
                let user = b
                    .username()
                    .ok_or_else(|| Error::invalid("IMAP_URL", "needs a user"))?
                    .to_owned();
                let provider = OAuthProvider::from_lookup(var)?;
                let secrets: Arc<dyn SecretStore> = store.clone();
                let oauth = provider
                    .client(var)
                    .with_clock(clock.clone())
                    .build(secrets)?;
                b = b.with_xoauth2(None, oauth.account(user));
            }
            b.build()
        };
        let slot = choices.iter_mut().find(|c| c.port == Port::Mailbox)?;
        match build() {
            Ok(m) => {
                let m = Arc::new(m);
                real.imap = Some(m.clone());
                *slot = PortChoice {
                    name: format!("IMAP + SMTP ({})", m.imap_endpoint().host),
                    ..real_choice(Port::Mailbox, reason)
                };
                Some(m)
            }
            Err(e) => {
                slot.problem = Some(e);
                slot.reason = reason;
                None
            }
        }
    }

    /// `None` when no OpenAI variable is set (or offline is forced).
    fn openai(
        &self,
        var: &(impl Fn(&str) -> Option<String> + Send + Sync),
        clock: &DynClock,
    ) -> Option<std::result::Result<(OpenAi, String), (Error, String)>> {
        let set = self.set(&["OPENAI_API_KEY", "OPENAI_BASE_URL"]);
        if self.offline || set.is_empty() || self.forced_offline(Port::Llm) {
            return None;
        }
        let reason = format!("{} set", join(&set));
        let mut b = OpenAiBuilder::from_lookup(var).with_clock(clock.clone());
        if let Some(t) = self.http.as_ref().and_then(|h| h.request_timeout) {
            b = b.with_timeout(t);
        }
        Some(
            b.build()
                .map(|c| (c, reason.clone()))
                .map_err(|e| (e, reason)),
        )
    }
}

/// A built Google OAuth client bound to one account.
struct Google {
    account: Arc<GoogleAccount>,
    reason: String,
}

fn google_failure(
    g: &Option<std::result::Result<Google, (Error, String)>>,
) -> Option<(Error, String)> {
    match g {
        Some(Err((e, r))) => Some((e.clone(), r.clone())),
        _ => None,
    }
}

fn real_choice(port: Port, reason: String) -> PortChoice {
    PortChoice {
        port,
        implementation: Implementation::Real,
        name: port.service().to_owned(),
        reason,
        problem: None,
    }
}

fn not_configured(port: Port) -> String {
    match port {
        Port::Crm => "HUBSPOT_ACCESS_TOKEN is not set".to_owned(),
        Port::Mailbox | Port::Drive | Port::Calendar => {
            "GOOGLE_CLIENT_ID and GOOGLE_CLIENT_SECRET are not set".to_owned()
        }
        Port::Llm => "OPENAI_API_KEY and OPENAI_BASE_URL are not set".to_owned(),
    }
}

fn join(names: &[String]) -> String {
    match names {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

/// The offline stand-ins: fixture-seeded when a directory is given, empty otherwise.
struct Offline<'a> {
    dir: Option<&'a Path>,
    clock: &'a DynClock,
}

impl Offline<'_> {
    fn crm(&self) -> Result<FakeCrm> {
        self.dir.map_or_else(|| Ok(FakeCrm::new()), fixtures::crm)
    }
    fn mailbox(&self) -> Result<FakeMailbox> {
        match self.dir {
            Some(d) => fixtures::mailbox(d, self.clock),
            None => Ok(FakeMailbox::new().with_clock(self.clock.clone())),
        }
    }
    fn drive(&self) -> Result<FakeDrive> {
        self.dir
            .map_or_else(|| Ok(FakeDrive::new()), fixtures::drive)
    }
    fn calendar(&self) -> Result<FakeCalendar> {
        match self.dir {
            Some(d) => fixtures::calendar(d, self.clock),
            None => Ok(FakeCalendar::new().with_clock(self.clock.clone())),
        }
    }
}

/// Opens the store a host was pointed at: `memory:` (or `memory`: in-process, lost on exit),
/// `sqlite://file.db` (created on first use), `sqlite::memory:`, or `postgres://…`. Migrations
/// are applied on connect.
///
/// Encrypted by default: without `SALESAGENT_ENCRYPTION_KEY`, a SQLite file database gets a
/// key file `<file>.key` (mode 0600) on first start, printed once, and uses it from then on
/// (back it up with the database).
///
/// # Errors
/// `InvalidInput` for an empty or unknown URL; what [`salesagent_store::SqlStore`] reports when
/// the database cannot be opened or migrated.
pub async fn open_store(url: &str, clock: DynClock) -> Result<DynStore> {
    let url = url.trim();
    if url.is_empty() {
        return Err(Error::invalid("database", "the store URL is empty"));
    }
    if url == "memory:" || url == "memory" {
        return Ok(Arc::new(salesagent_core::offline::MemoryStore::new(clock)));
    }
    let url = if url.starts_with("sqlite:") && !url.contains(":memory:") && !url.contains("mode=") {
        // Create the database file on first use.
        format!("{url}{}mode=rwc", if url.contains('?') { '&' } else { '?' })
    } else {
        url.to_owned()
    };
    let mut builder = salesagent_store::SqlStore::builder(url.clone()).clock(clock);
    if let Some(key) = embedded_key(&url)? {
        builder = builder.encryption_key(key);
    }
    let store = builder.connect().await?;
    Ok(Arc::new(store))
}

/// The key of an embedded (SQLite file) database when `SALESAGENT_ENCRYPTION_KEY` is not set:
/// read from `<database file>.key`, or, on first start (no database file yet), a new random key
/// written there (mode 0600) and its path printed once. A database file that exists without a
/// key file stays as it is (unencrypted: `cli keys encrypt` seals it). `None` for PostgreSQL,
/// in-memory databases and when the variable is set.
fn embedded_key(url: &str) -> Result<Option<salesagent_store::EncryptionKey>> {
    use salesagent_store::EncryptionKey;
    if std::env::var(salesagent_store::ENCRYPTION_KEY_ENV).is_ok_and(|v| !v.trim().is_empty()) {
        return Ok(None);
    }
    let Some(path) = sqlite_file(url) else {
        return Ok(None);
    };
    let key_path = std::path::PathBuf::from(format!("{}.key", path.display()));
    let io = |what: &str, e: std::io::Error| {
        Error::unavailable(format!(
            "encryption key file {}: {what}: {e}",
            key_path.display()
        ))
    };
    match std::fs::read_to_string(&key_path) {
        Ok(text) => return EncryptionKey::parse(&text).map(Some),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io("cannot be read", e)),
    }
    if path.exists() {
        tracing::warn!(
            "{} has no key file and {} is not set: stored unencrypted (run `cli keys encrypt`)",
            path.display(),
            salesagent_store::ENCRYPTION_KEY_ENV
        );
        return Ok(None);
    }
    let key = EncryptionKey::generate()?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options
        .open(&key_path)
        .map_err(|e| io("cannot be created", e))?;
    std::io::Write::write_all(&mut file, format!("{}\n", key.expose_hex()).as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| io("cannot be written", e))?;
    eprintln!(
        "salesagent: created the encryption key {} (back it up: without it the database \
         cannot be read)",
        key_path.display()
    );
    tracing::info!(path = %key_path.display(), "created the database encryption key file");
    Ok(Some(key))
}

/// The file of a `sqlite:` URL (`None` for an in-memory database or another backend).
fn sqlite_file(url: &str) -> Option<std::path::PathBuf> {
    let rest = url.strip_prefix("sqlite:")?;
    if rest.contains(":memory:") || url.contains("mode=memory") {
        return None;
    }
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let path = rest.split('?').next().unwrap_or(rest);
    (!path.is_empty()).then(|| std::path::PathBuf::from(path))
}
