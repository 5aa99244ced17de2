//! Reading settings: defaults, the file, the environment and flags, with where each value came
//! from and errors that point at the file position.

use super::Settings;
use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use toml::de::{DeTable, DeValue};

/// The environment variable naming the settings file when `--config` is not given.
pub const CONFIG_ENV: &str = "SALESAGENT_CONFIG";

/// Where a value came from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "name")]
pub enum Source {
    /// The built-in default.
    Default,
    /// The host's fixture data (the CLI's `sender.json`): above the default, below the file.
    Fixtures,
    /// The settings file.
    File,
    /// An environment variable (its name).
    Env(String),
    /// A command-line flag of the host (its name).
    Flag(String),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Default => f.write_str("default"),
            Source::Fixtures => f.write_str("fixtures"),
            Source::File => f.write_str("file"),
            Source::Env(v) => write!(f, "env {v}"),
            Source::Flag(v) => write!(f, "flag {v}"),
        }
    }
}

/// Where a problem is.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Where {
    /// A position in the settings file (1-based line and column, in characters).
    File {
        /// The file as named.
        path: String,
        /// Line.
        line: usize,
        /// Column.
        column: usize,
    },
    /// The settings file as a whole (it cannot be read, or the key is missing from it).
    WholeFile {
        /// The file as named.
        path: String,
    },
    /// An environment variable.
    Env {
        /// Its name.
        name: String,
    },
    /// A command-line flag.
    Flag {
        /// Its name.
        name: String,
    },
    /// A default value (a contradiction between defaults and what was set elsewhere).
    Default,
}

/// One thing wrong with the settings.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Problem {
    /// Where it is.
    pub at: Where,
    /// The key (`sending.window.end_hour`, `icp.size_bands[2].max`); empty for a file-level
    /// problem such as a TOML syntax error outside any key.
    pub key: String,
    /// What is wrong, with the allowed values.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let key = if self.key.is_empty() {
            String::new()
        } else {
            format!("{}: ", self.key)
        };
        match &self.at {
            Where::File { path, line, column } => {
                write!(f, "{path}:{line}:{column}: {key}{}", self.message)
            }
            Where::WholeFile { path } => write!(f, "{path}: {key}{}", self.message),
            Where::Env { name } => {
                write!(f, "environment variable {name}: {key}{}", self.message)
            }
            Where::Flag { name } => write!(f, "flag {name}: {key}{}", self.message),
            Where::Default => write!(f, "{key}{}", self.message),
        }
    }
}

/// Settings that cannot be used: every problem found (at least one), each with its position.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SettingsError {
    /// The problems, in file order where they have a position.
    pub problems: Vec<Problem>,
}

impl fmt::Display for SettingsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for SettingsError {}

impl From<SettingsError> for salesagent_core::Error {
    fn from(e: SettingsError) -> Self {
        let key = e
            .problems
            .first()
            .map_or_else(|| "settings".to_owned(), |p| p.key.clone());
        salesagent_core::Error::invalid(key, e.to_string())
    }
}

/// How an environment variable's text becomes values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EnvKind {
    Text,
    Bool,
    U8,
    U32,
    U64,
    F64,
    /// `true` → `real_sends`, `false` → `draft_only`.
    RealSends,
    /// `START-END` hours, or `off`.
    Window,
    /// `type=impact,…`.
    Impacts,
}

/// An environment variable a setting can come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnvVar {
    /// The variable.
    pub name: &'static str,
    /// The key (or table) it sets.
    pub key: &'static str,
    /// What it holds.
    pub doc: &'static str,
    kind: EnvKind,
}

const fn var(name: &'static str, key: &'static str, kind: EnvKind, doc: &'static str) -> EnvVar {
    EnvVar {
        name,
        key,
        doc,
        kind,
    }
}

/// Every environment variable that sets a key (they override the file).
pub const ENV_VARS: &[EnvVar] = &[
    var(
        "SALESAGENT_SENDER",
        "sender.email",
        EnvKind::Text,
        "the sender's address",
    ),
    var("SENDER_NAME", "sender.name", EnvKind::Text, "display name"),
    var("SENDER_COMPANY", "sender.company", EnvKind::Text, "company"),
    var(
        "SENDER_TIME_ZONE",
        "sender.time_zone",
        EnvKind::Text,
        "IANA zone",
    ),
    var(
        "MESSAGE_ID_DOMAIN",
        "sender.message_id_domain",
        EnvKind::Text,
        "domain",
    ),
    var(
        "VOICE_PROFILE",
        "sender.voice_profile",
        EnvKind::Text,
        "profile name",
    ),
    var(
        "VOICE_THRESHOLD",
        "sender.voice_threshold",
        EnvKind::F64,
        "0..=1",
    ),
    var("DATABASE_URL", "store.database", EnvKind::Text, "store URL"),
    var(
        "SALESAGENT_DRAFT_FORMAT",
        "llm.draft_format",
        EnvKind::Text,
        "auto, json or prose",
    ),
    var(
        "SALESAGENT_FIXTURES",
        "ports.fixtures",
        EnvKind::Text,
        "directory",
    ),
    var(
        "SALESAGENT_LISTEN",
        "host.listen",
        EnvKind::Text,
        "address:port",
    ),
    var("SALESAGENT_WORKERS", "host.workers", EnvKind::U32, "count"),
    var(
        "SALESAGENT_PUBLIC_URL",
        "host.public_url",
        EnvKind::Text,
        "origin",
    ),
    var(
        "SALESAGENT_BEHIND_TLS",
        "host.behind_tls",
        EnvKind::Bool,
        "true/false",
    ),
    var(
        "SALESAGENT_TRUSTED_PROXY_HEADER",
        "host.trusted_proxy_header",
        EnvKind::Text,
        "header name",
    ),
    var(
        "ALLOW_REAL_SENDS",
        "sending.mode",
        EnvKind::RealSends,
        "true: real_sends",
    ),
    var(
        "SALESAGENT_MAILBOX",
        "sending.mailbox",
        EnvKind::Text,
        "mailbox spec",
    ),
    var(
        "SEND_WINDOW",
        "sending.window",
        EnvKind::Window,
        "START-END or off",
    ),
    var(
        "SEND_WINDOW_WEEKENDS",
        "sending.window.weekends",
        EnvKind::Bool,
        "true/false",
    ),
    var(
        "SEND_TIME_ZONE",
        "sending.window.time_zone",
        EnvKind::Text,
        "IANA zone",
    ),
    var(
        "SEND_LIMIT_CONTACT_WEEK",
        "sending.limits.per_contact_week",
        EnvKind::U32,
        "count",
    ),
    var(
        "SEND_LIMIT_CONTACT_DAY",
        "sending.limits.per_contact_day",
        EnvKind::U32,
        "count",
    ),
    var(
        "SEND_LIMIT_SENDER_DAY",
        "sending.limits.per_sender_day",
        EnvKind::U32,
        "count",
    ),
    var(
        "SEND_LIMIT_DOMAIN_DAY",
        "sending.limits.per_domain_day",
        EnvKind::U32,
        "count",
    ),
    var(
        "UNSUBSCRIBE_MAILTO",
        "sending.unsubscribe_mailto",
        EnvKind::Text,
        "address",
    ),
    var(
        "UNSUBSCRIBE_URL",
        "sending.unsubscribe_url",
        EnvKind::Text,
        "https URL",
    ),
    var(
        "AUTO_APPROVE_ENABLED",
        "auto_approval.enabled",
        EnvKind::Bool,
        "true/false",
    ),
    var(
        "AUTO_APPROVE_ICP_THRESHOLD",
        "auto_approval.icp_threshold",
        EnvKind::U8,
        "0..=100",
    ),
    var(
        "QUEUE_HALF_LIFE_HOURS",
        "queue.recency_half_life_hours",
        EnvKind::F64,
        "hours",
    ),
    var(
        "OUTCOME_IMPACTS",
        "outcomes.impacts",
        EnvKind::Impacts,
        "type=impact,…",
    ),
    var(
        "OUTCOME_SCAN_MAILBOX_SECS",
        "outcomes.scan_interval_secs.mailbox",
        EnvKind::U64,
        "s",
    ),
    var(
        "OUTCOME_SCAN_CRM_SECS",
        "outcomes.scan_interval_secs.crm",
        EnvKind::U64,
        "s",
    ),
    var(
        "OUTCOME_SCAN_CALENDAR_SECS",
        "outcomes.scan_interval_secs.calendar",
        EnvKind::U64,
        "s",
    ),
    var(
        "OUTCOME_SCAN_SILENCE_SECS",
        "outcomes.scan_interval_secs.silence",
        EnvKind::U64,
        "s",
    ),
];

impl EnvVar {
    /// The values `text` sets, or why it cannot.
    fn values(&self, text: &str) -> Result<Vec<(String, toml::Value)>, String> {
        use toml::Value as V;
        let t = text.trim();
        let one = |v: V| Ok(vec![(self.key.to_owned(), v)]);
        let int = |max: u64| -> Result<V, String> {
            let n: u64 = t
                .parse()
                .map_err(|_| format!("expected a whole number, got {t:?}"))?;
            if n > max {
                return Err(format!("{n} is too large (at most {max})"));
            }
            i64::try_from(n)
                .map(V::Integer)
                .map_err(|_| format!("{n} is too large"))
        };
        match self.kind {
            EnvKind::Text => one(V::String(t.to_owned())),
            EnvKind::Bool => one(V::Boolean(parse_bool(t)?)),
            EnvKind::RealSends => one(V::String(
                if parse_bool(t)? {
                    "real_sends"
                } else {
                    "draft_only"
                }
                .to_owned(),
            )),
            EnvKind::U8 => one(int(u64::from(u8::MAX))?),
            EnvKind::U32 => one(int(u64::from(u32::MAX))?),
            EnvKind::U64 => one(int(i64::MAX as u64)?),
            EnvKind::F64 => {
                let f: f64 = t
                    .parse()
                    .map_err(|_| format!("expected a number, got {t:?}"))?;
                one(V::Float(f))
            }
            EnvKind::Window => {
                if t.eq_ignore_ascii_case("off") {
                    return Ok(vec![(
                        "sending.window.enabled".to_owned(),
                        V::Boolean(false),
                    )]);
                }
                let (a, b) = t
                    .split_once('-')
                    .ok_or_else(|| format!("expected START-END hours (9-17) or off, got {t:?}"))?;
                let hour = |s: &str| {
                    s.trim()
                        .parse::<u8>()
                        .map(|h| V::Integer(i64::from(h)))
                        .map_err(|_| format!("expected START-END hours (9-17) or off, got {t:?}"))
                };
                Ok(vec![
                    ("sending.window.enabled".to_owned(), V::Boolean(true)),
                    ("sending.window.start_hour".to_owned(), hour(a)?),
                    ("sending.window.end_hour".to_owned(), hour(b)?),
                ])
            }
            EnvKind::Impacts => {
                let table =
                    salesagent_core::outcomes::ImpactTable::parse(t).map_err(|e| e.to_string())?;
                let mut out = Vec::new();
                for row in table.rows() {
                    out.push((
                        format!("outcomes.impacts.{}", row.outcome_type.as_str()),
                        V::Integer(i64::from(row.impact)),
                    ));
                }
                // Only the types the variable names count as set by it.
                let named: Vec<String> = t
                    .split(',')
                    .filter_map(|p| p.split_once('=').map(|(k, _)| k.trim().to_owned()))
                    .collect();
                out.retain(|(k, _)| named.iter().any(|n| k.ends_with(&format!(".{n}"))));
                Ok(out)
            }
        }
    }
}

fn parse_bool(t: &str) -> Result<bool, String> {
    match t.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" | "" => Ok(false),
        other => Err(format!(
            "expected true or false (also 1/0, yes/no, on/off), got {other:?}"
        )),
    }
}

type Lookup = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// Reads settings from a file, the environment and flags (see the module documentation).
#[derive(Clone)]
pub struct SettingsLoader {
    lookup: Lookup,
    path: Option<PathBuf>,
    text: Option<(String, String)>,
    flags: Vec<(String, String, toml::Value)>,
    fixtures: Vec<(String, toml::Value)>,
}

impl fmt::Debug for SettingsLoader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SettingsLoader")
            .field("path", &self.path)
            .field(
                "flags",
                &self.flags.iter().map(|f| &f.0).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl Default for SettingsLoader {
    fn default() -> Self {
        Self::from_env()
    }
}

/// The result of loading: the settings, where each value came from, and the file read.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedSettings {
    /// The effective settings.
    pub settings: Settings,
    /// The file that was read (`None`: defaults and environment only).
    pub path: Option<PathBuf>,
    /// Where each key was set, by dotted key; keys not listed have their default.
    pub provenance: BTreeMap<String, Source>,
}

impl LoadedSettings {
    /// Where the value of `key` (dotted: `sending.window.start_hour`) came from: the entry of
    /// the key or of the nearest table above it, else [`Source::Default`].
    #[must_use]
    pub fn source_of(&self, key: &str) -> Source {
        let mut k = key;
        loop {
            if let Some(s) = self.provenance.get(k) {
                return s.clone();
            }
            match k.rsplit_once('.') {
                Some((parent, _)) => k = parent,
                None => return Source::Default,
            }
        }
    }

    /// Every effective value as `(dotted key, value as TOML, source)`, in key order; arrays
    /// (ICP rule lists, working days) are one entry each. The database URL's password is
    /// redacted.
    #[must_use]
    pub fn entries(&self) -> Vec<(String, String, Source)> {
        let mut out = Vec::new();
        if let Ok(toml::Value::Table(t)) = toml::Value::try_from(&self.settings) {
            flatten("", &toml::Value::Table(t), &mut out);
        }
        out.into_iter()
            .map(|(k, v)| {
                let shown = if k == "store.database" {
                    redact_url(&v)
                } else {
                    v
                };
                let src = self.source_of(&k);
                (k, shown, src)
            })
            .collect()
    }
}

fn flatten(prefix: &str, v: &toml::Value, out: &mut Vec<(String, String)>) {
    match v {
        toml::Value::Table(t) => {
            for (k, v) in t {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, v, out);
            }
        }
        other => out.push((prefix.to_owned(), inline(other))),
    }
}

fn flatten_values(prefix: &str, v: &toml::Value, out: &mut Vec<(String, toml::Value)>) {
    match v {
        toml::Value::Table(t) => {
            for (k, v) in t {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten_values(&key, v, out);
            }
        }
        other => out.push((prefix.to_owned(), other.clone())),
    }
}

/// A value as inline TOML (`"text"`, `9`, `["mon", "tue"]`, `{ label = "x" }`).
pub(crate) fn inline(v: &toml::Value) -> String {
    match v {
        toml::Value::Array(a) => {
            format!("[{}]", a.iter().map(inline).collect::<Vec<_>>().join(", "))
        }
        toml::Value::Table(t) => format!(
            "{{ {} }}",
            t.iter()
                .map(|(k, v)| format!("{k} = {}", inline(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        other => other.to_string(),
    }
}

/// `postgres://user:secret@host/db` → `postgres://user:***@host/db`.
pub(crate) fn redact_url(v: &str) -> String {
    let Some(scheme_end) = v.find("://") else {
        return v.to_owned();
    };
    let rest = &v[scheme_end + 3..];
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    match authority.rfind('@') {
        Some(at) => {
            let userinfo = &authority[..at];
            let user = userinfo.split(':').next().unwrap_or_default();
            let masked = if userinfo.contains(':') {
                format!("{user}:***")
            } else {
                user.to_owned()
            };
            format!(
                "{}{masked}{}",
                &v[..scheme_end + 3],
                &v[scheme_end + 3 + at..]
            )
        }
        None => v.to_owned(),
    }
}

impl SettingsLoader {
    /// Reads the process environment (for `SALESAGENT_CONFIG` and the variables of
    /// [`ENV_VARS`]).
    #[must_use]
    pub fn from_env() -> Self {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads variables through `lookup` (tests pass a map).
    #[must_use]
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String> + Send + Sync + 'static) -> Self {
        Self {
            lookup: Arc::new(lookup),
            path: None,
            text: None,
            flags: Vec::new(),
            fixtures: Vec::new(),
        }
    }

    /// Reads this file (`--config`); without it, the file named by `SALESAGENT_CONFIG`, if any.
    #[must_use]
    pub fn file(mut self, path: Option<impl Into<PathBuf>>) -> Self {
        if let Some(p) = path {
            self.path = Some(p.into());
        }
        self
    }

    /// Uses `text` as the file's contents, named `name` in errors (no file is read).
    #[must_use]
    pub fn text(mut self, name: impl Into<String>, text: impl Into<String>) -> Self {
        self.text = Some((name.into(), text.into()));
        self
    }

    /// A command-line flag `flag` setting `key` (strongest of all sources).
    #[must_use]
    pub fn flag(
        mut self,
        flag: impl Into<String>,
        key: impl Into<String>,
        value: impl Into<toml::Value>,
    ) -> Self {
        self.flags.push((flag.into(), key.into(), value.into()));
        self
    }

    /// A value from the host's fixture data, weaker than the file (the CLI's demo sender).
    #[must_use]
    pub fn fixture(mut self, key: impl Into<String>, value: impl Into<toml::Value>) -> Self {
        self.fixtures.push((key.into(), value.into()));
        self
    }

    fn var(&self, k: &str) -> Option<String> {
        (self.lookup)(k).filter(|v| !v.trim().is_empty())
    }

    /// The file that [`SettingsLoader::load`] reads: `--config`, else `SALESAGENT_CONFIG`.
    #[must_use]
    pub fn path(&self) -> Option<PathBuf> {
        self.path
            .clone()
            .or_else(|| self.var(CONFIG_ENV).map(PathBuf::from))
    }

    /// Loads, merges and validates.
    ///
    /// # Errors
    /// [`SettingsError`] with every problem found: an unreadable file, TOML syntax, unknown
    /// keys, wrong types, out-of-range values, contradictions, malformed variables.
    pub fn load(&self) -> Result<LoadedSettings, SettingsError> {
        let path = self.path();
        let (name, text) = match (&self.text, &path) {
            (Some((n, t)), _) => (Some(n.clone()), Some(t.clone())),
            (None, Some(p)) => match std::fs::read_to_string(p) {
                Ok(t) => (Some(p.display().to_string()), Some(t)),
                Err(e) => {
                    return Err(SettingsError {
                        problems: vec![Problem {
                            at: Where::WholeFile {
                                path: p.display().to_string(),
                            },
                            key: String::new(),
                            message: format!("cannot be read: {e}"),
                        }],
                    });
                }
            },
            (None, None) => (None, None),
        };
        let file = match (&name, &text) {
            (Some(n), Some(t)) => Some(FileText::new(n, t)?),
            _ => None,
        };
        let mut provenance = BTreeMap::new();
        let mut merged = toml::Table::new();
        for (key, value) in &self.fixtures {
            set(&mut merged, key, value.clone());
            provenance.insert(key.clone(), Source::Fixtures);
        }
        if let Some(f) = &file {
            f.record(&mut provenance);
            let mut leaves = Vec::new();
            flatten_values("", &toml::Value::Table(f.table.clone()), &mut leaves);
            for (k, v) in leaves {
                set(&mut merged, &k, v);
            }
        }
        let mut problems = Vec::new();
        for v in ENV_VARS {
            let Some(text) = self.var(v.name) else {
                continue;
            };
            match v.values(&text) {
                Ok(values) => {
                    for (k, val) in values {
                        set(&mut merged, &k, val);
                        provenance.insert(k, Source::Env(v.name.to_owned()));
                    }
                }
                Err(message) => problems.push(Problem {
                    at: Where::Env {
                        name: v.name.to_owned(),
                    },
                    key: v.key.to_owned(),
                    message,
                }),
            }
        }
        for (flag, key, value) in &self.flags {
            set(&mut merged, key, value.clone());
            provenance.insert(key.clone(), Source::Flag(flag.clone()));
        }
        if !problems.is_empty() {
            return Err(SettingsError { problems });
        }
        let settings: Settings = match toml::Value::Table(merged).try_into() {
            Ok(s) => s,
            Err(e) => {
                // The file alone deserialised, so an environment variable or a flag is wrong.
                return Err(SettingsError {
                    problems: vec![Problem {
                        at: Where::Default,
                        key: String::new(),
                        message: format!("environment or flags: {}", e.message()),
                    }],
                });
            }
        };
        let loaded = LoadedSettings {
            settings,
            path: file.as_ref().map(|f| PathBuf::from(&f.name)),
            provenance,
        };
        let found = super::validate::validate(&loaded.settings);
        if found.is_empty() {
            return Ok(loaded);
        }
        let mut problems: Vec<Problem> = found
            .into_iter()
            .map(|(keys, message)| locate(&loaded, file.as_ref(), &keys, message))
            .collect();
        problems.sort_by_key(|p| match &p.at {
            Where::File { line, column, .. } => (0, *line, *column),
            _ => (1, 0, 0),
        });
        Err(SettingsError { problems })
    }
}

/// Where the problem about `keys` (the first is the one to name; later ones are the other side
/// of a contradiction) is: the first of them that was set somewhere.
fn locate(
    loaded: &LoadedSettings,
    file: Option<&FileText>,
    keys: &[String],
    message: String,
) -> Problem {
    let first = keys.first().cloned().unwrap_or_default();
    for key in keys {
        let at = match loaded.source_of(key) {
            Source::Default | Source::Fixtures => continue,
            Source::File => match file.and_then(|f| f.position(key)) {
                Some(at) => at,
                None => continue,
            },
            Source::Env(name) => Where::Env { name },
            Source::Flag(name) => Where::Flag { name },
        };
        return Problem {
            at,
            key: display_key(key),
            message,
        };
    }
    Problem {
        at: Where::Default,
        key: display_key(&first),
        message,
    }
}

/// `icp.size_bands.2.max` → `icp.size_bands[2].max`.
pub(crate) fn display_key(key: &str) -> String {
    let mut out = String::new();
    for seg in key.split('.') {
        if !seg.is_empty() && seg.bytes().all(|b| b.is_ascii_digit()) {
            out.push_str(&format!("[{seg}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(seg);
        }
    }
    out
}

/// Sets a dotted key in a table, creating tables on the way.
fn set(table: &mut toml::Table, key: &str, value: toml::Value) {
    let mut t = table;
    let mut segs = key.split('.').peekable();
    while let Some(seg) = segs.next() {
        if segs.peek().is_none() {
            t.insert(seg.to_owned(), value);
            return;
        }
        let entry = t
            .entry(seg.to_owned())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if !entry.is_table() {
            *entry = toml::Value::Table(toml::Table::new());
        }
        match entry {
            toml::Value::Table(next) => t = next,
            _ => return,
        }
    }
}

/// A parsed settings file with its spans.
struct FileText {
    name: String,
    text: String,
    table: toml::Table,
}

impl FileText {
    /// Parses and deserialises `text`; the first syntax or type error is a problem with its
    /// position and key.
    fn new(name: &str, text: &str) -> Result<Self, SettingsError> {
        let fail = |e: &toml::de::Error| {
            let (at, key) = match e.span() {
                Some(span) => {
                    let (line, column) = line_col(text, span.start);
                    let key = DeTable::parse(text)
                        .ok()
                        .and_then(|t| key_at(t.get_ref(), span.start, ""))
                        .unwrap_or_default();
                    (
                        Where::File {
                            path: name.to_owned(),
                            line,
                            column,
                        },
                        key,
                    )
                }
                None => (
                    Where::WholeFile {
                        path: name.to_owned(),
                    },
                    String::new(),
                ),
            };
            SettingsError {
                problems: vec![Problem {
                    at,
                    key: display_key(&key),
                    message: explain(e.message()),
                }],
            }
        };
        if let Err(e) = toml::from_str::<Settings>(text) {
            return Err(fail(&e));
        }
        let table: toml::Table = text.parse().map_err(|e| fail(&e))?;
        Ok(Self {
            name: name.to_owned(),
            text: text.to_owned(),
            table,
        })
    }

    /// Records every key the file sets (leaves and arrays) as [`Source::File`].
    fn record(&self, provenance: &mut BTreeMap<String, Source>) {
        let mut leaves = Vec::new();
        flatten("", &toml::Value::Table(self.table.clone()), &mut leaves);
        for (k, _) in leaves {
            provenance.insert(k, Source::File);
        }
    }

    /// The position of `key`'s value in the file.
    fn position(&self, key: &str) -> Option<Where> {
        let doc = DeTable::parse(&self.text).ok()?;
        let mut segs = key.split('.');
        let first = segs.next()?;
        let mut cur = doc.get_ref().get(first)?;
        for seg in segs {
            cur = match cur.get_ref() {
                DeValue::Table(t) => t.get(seg)?,
                DeValue::Array(a) => a.get(seg.parse::<usize>().ok()?)?,
                _ => return None,
            };
        }
        let (line, column) = line_col(&self.text, cur.span().start);
        Some(Where::File {
            path: self.name.clone(),
            line,
            column,
        })
    }
}

/// Makes serde's wording read as settings advice.
fn explain(message: &str) -> String {
    let m = message.trim().to_owned();
    if let Some(rest) = m.strip_prefix("unknown field ") {
        return format!("unknown key {}", rest.replace("expected", "allowed keys:"));
    }
    if let Some(rest) = m.strip_prefix("unknown variant ") {
        return format!(
            "unknown value {}",
            rest.replace("expected", "allowed values:")
        );
    }
    m
}

/// 1-based line and column (in characters) of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before.get(line_start..).map_or(0, |s| s.chars().count()) + 1;
    (line, column)
}

/// The dotted key whose name or value holds byte `pos`, innermost first.
fn key_at(table: &DeTable<'_>, pos: usize, prefix: &str) -> Option<String> {
    for (k, v) in table {
        let key = if prefix.is_empty() {
            k.get_ref().to_string()
        } else {
            format!("{prefix}.{}", k.get_ref())
        };
        if let Some(inner) = value_key_at(v.get_ref(), pos, &key) {
            return Some(inner);
        }
        if k.span().contains(&pos) || v.span().contains(&pos) {
            return Some(key);
        }
    }
    None
}

fn value_key_at(v: &DeValue<'_>, pos: usize, key: &str) -> Option<String> {
    match v {
        DeValue::Table(t) => key_at(t, pos, key),
        DeValue::Array(a) => a.iter().enumerate().find_map(|(i, e)| {
            let k = format!("{key}.{i}");
            value_key_at(e.get_ref(), pos, &k).or_else(|| e.span().contains(&pos).then_some(k))
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_database_passwords() {
        assert_eq!(
            redact_url("postgres://app:s3cret@db:5432/x"),
            "postgres://app:***@db:5432/x"
        );
        assert_eq!(
            redact_url("sqlite://salesagent.db"),
            "sqlite://salesagent.db"
        );
        assert_eq!(redact_url("postgres://app@db/x"), "postgres://app@db/x");
    }

    #[test]
    fn line_and_column_count_characters() {
        assert_eq!(line_col("a = 1\nbé = 2\n", 10), (2, 4));
        assert_eq!(line_col("x", 0), (1, 1));
    }

    #[test]
    fn keys_display_indices() {
        assert_eq!(display_key("icp.size_bands.2.max"), "icp.size_bands[2].max");
    }
}
