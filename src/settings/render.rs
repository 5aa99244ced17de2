//! The commented file `cli config init` writes, and the effective settings as
//! `cli config check` prints them.

use super::load::{ENV_VARS, LoadedSettings, inline};
use super::{RELOADABLE, Settings};
use std::fmt::Write as _;

/// Secrets read only from the environment: `cli config check` says whether each is set, never
/// its value.
pub const SECRET_ENV_VARS: [&str; 10] = [
    "HUBSPOT_ACCESS_TOKEN",
    "HUBSPOT_API_KEY",
    "HUBSPOT_CLIENT_SECRET",
    "GOOGLE_CLIENT_ID",
    "GOOGLE_CLIENT_SECRET",
    "OPENAI_API_KEY",
    "SALESAGENT_OPERATOR_TOKEN",
    "SALESAGENT_ENCRYPTION_KEY",
    "SALESAGENT_UNSUBSCRIBE_SECRET",
    "IMAP_URL",
];

const SECTIONS: &[(&str, &str)] = &[
    (
        "sender",
        "Who the mail comes from. Subjects, signatures and the From name use these values only:\n\
         nothing a customer reads names salesagent unless you write it here.",
    ),
    ("store", "Where drafts, jobs and the audit log are kept."),
    (
        "ports",
        "Which implementation each port uses: \"auto\" (the real service when its credentials are in\n\
         the environment, else offline), \"real\" (start-up fails without them) or \"offline\".\n\
         Credentials (HUBSPOT_ACCESS_TOKEN, GOOGLE_CLIENT_ID/SECRET, OPENAI_API_KEY) stay in the\n\
         environment, never in this file.",
    ),
    (
        "host",
        "The webhook host (examples/webhook). Secrets (HUBSPOT_CLIENT_SECRET,\n\
         SALESAGENT_OPERATOR_TOKEN) stay in the environment.",
    ),
    (
        "sending",
        "Sending. Reloaded without a restart: window and limits.",
    ),
    (
        "auto_approval",
        "Auto-approval rules (reloaded without a restart).",
    ),
    ("queue", "Draft priority in the operator queue."),
    (
        "outcomes",
        "Outcomes: impacts are reloaded without a restart.",
    ),
    (
        "slots",
        "Meeting slots proposed in drafts, in the sender's time zone (sender.time_zone).",
    ),
    (
        "sequences",
        "Follow-ups: a sent first e-mail enrols its contact; each step waits the given business days\n\
         (Monday to Friday, in the recipient's time zone) after the previous send, then drafts a\n\
         threaded follow-up (purpose: bump, value or break_up) for approval like any draft. Any\n\
         human reply, a meeting, a bounce, an unsubscribe or a deal ends it; an out-of-office reply\n\
         pauses it until the stated return date. Changes apply after a restart, to new enrolments.",
    ),
    (
        "llm",
        "The language model's drafting (ports.llm chooses the model; OPENAI_* in the environment).\n\
         Changes apply after a restart.",
    ),
];

const KEY_DOCS: &[(&str, &str)] = &[
    (
        "llm.draft_format",
        "\"auto\" (JSON first; for a model whose JSON drafts fail twice, prose), \"json\" (the\n\
         whole draft as one JSON object) or \"prose\" (the model writes body sentences only; subject,\n\
         greeting, sign-off, links and slots are written by code). Small local models: \"prose\".",
    ),
    ("sender.email", "The mailbox drafts go out from."),
    (
        "sequences.enabled",
        "Whether sent first e-mails enrol their contact.",
    ),
    (
        "sequences.steps",
        "The follow-ups in order (at most 10; waits of at most 60 business days).",
    ),
    (
        "sequences.out_of_office_default_days",
        "Days an out-of-office reply without a return date pauses the sequence (1..=60).",
    ),
    (
        "sequences.time_zone",
        "IANA zone for business days when the contact's is unknown (absent: UTC).",
    ),
    (
        "sequences.holidays",
        "Public holidays that are no business day for any recipient (dates in the recipient's zone).",
    ),
    (
        "sender.name",
        "Display name and signature; \"\" = made from the address's local part (sam@… signs as Sam).",
    ),
    (
        "sender.company",
        "Company named in subjects and signatures; \"\" = from the sender's domain\n(sam@acme-robotics.com -> \"Acme Robotics\").",
    ),
    (
        "sender.time_zone",
        "IANA time zone of the sender's working hours.",
    ),
    (
        "sender.message_id_domain",
        "Domain of Message-IDs; \"\" = the sender's domain.",
    ),
    (
        "sender.voice_profile",
        "Voice profile applied to this sender's drafts.",
    ),
    (
        "sender.voice_threshold",
        "Drafts whose voice similarity is below this (0..=1) are flagged.",
    ),
    (
        "sender.voice_profiles",
        "Voice profile per sending address, over voice_profile for mail from that address (each\n\
         the sender's own, learned from their sent mail):\n\
         [{ sender = \"alice@acme.com\", profile = \"alice-formal\" }].",
    ),
    (
        "store.database",
        "sqlite://FILE, sqlite::memory:, postgres://USER@HOST/DB (password from the URL is\nnever printed) or memory:.",
    ),
    (
        "ports.fixtures",
        "Fixture directory seeding the offline ports; \"\" = the host's default.",
    ),
    ("host.listen", "Address to listen on."),
    ("host.workers", "In-process workers (0: intake only)."),
    (
        "host.public_url",
        "External origin HubSpot calls (https://leads.example.com); \"\" = Host header.",
    ),
    (
        "host.behind_tls",
        "Behind a TLS-terminating proxy (Secure cookies, https:// signed URI).",
    ),
    (
        "host.trusted_proxy_header",
        "\"X-Forwarded-For\" or \"X-Real-IP\" when a proxy fronts every request.",
    ),
    (
        "host.hubspot_legacy_signatures",
        "Also accept HubSpot v1/v2 signatures.",
    ),
    (
        "host.allow_unsigned",
        "Accept unsigned webhooks without HUBSPOT_CLIENT_SECRET (development only).",
    ),
    (
        "sending.mode",
        "\"draft_only\" (approved drafts become mailbox drafts) or \"real_sends\".",
    ),
    (
        "sending.mailbox",
        "\"\" (Gmail when configured, else offline), \"gmail\", \"imap\" or \"outbox:DIR\".",
    ),
    (
        "sending.unsubscribe_mailto",
        "mailto: address of List-Unsubscribe; \"\" = none.",
    ),
    (
        "sending.unsubscribe_url",
        "https:// List-Unsubscribe URL; \"\" = the host's one-click route.",
    ),
    ("sending.window.enabled", "false: send at any hour."),
    (
        "sending.window.start_hour",
        "Opening hour in the recipient's time zone (0..=23).",
    ),
    (
        "sending.window.end_hour",
        "Closing hour, exclusive (1..=24, after start_hour).",
    ),
    (
        "sending.window.weekends",
        "Also send on Saturdays and Sundays.",
    ),
    (
        "sending.window.time_zone",
        "Zone used when the recipient's is unknown.",
    ),
    (
        "sending.limits.per_contact_week",
        "Sends to one contact per rolling 7 days.",
    ),
    (
        "sending.limits.per_contact_day",
        "Sends to one contact per rolling 24 hours.",
    ),
    (
        "sending.limits.per_sender_day",
        "Sends from the sender per rolling 24 hours.",
    ),
    (
        "sending.limits.per_domain_day",
        "Sends to one recipient domain per 24 hours (<= per_sender_day).",
    ),
    (
        "auto_approval.enabled",
        "Evaluate the rules for every new draft.",
    ),
    (
        "auto_approval.icp_threshold",
        "Lowest ICP score approved on a verified company domain (0..=100).",
    ),
    (
        "queue.recency_half_life_hours",
        "Age at which the recency bonus halves.",
    ),
    (
        "queue.recency_weight",
        "Recency bonus of a brand-new draft (0..=100).",
    ),
    (
        "queue.missing_icp_points",
        "ICP points of a draft without a score (0..=100).",
    ),
    (
        "queue.adjustment_cap",
        "Bound (+/-) of the outcome-history priority adjustment (0..=100).",
    ),
    ("slots.count", "Slots proposed per draft (1..=10)."),
    ("slots.duration_minutes", "Meeting length in minutes."),
    (
        "slots.step_minutes",
        "Start times fall on multiples of this many minutes.",
    ),
    ("slots.day_start", "Start of the working day, HH:MM."),
    (
        "slots.day_end",
        "End of the working day, HH:MM (after day_start).",
    ),
    ("slots.working_days", "Business days: \"mon\" ... \"sun\"."),
    (
        "slots.min_notice_minutes",
        "Minimum notice before the first slot.",
    ),
    ("slots.horizon_days", "Days ahead to look (1..=90)."),
    (
        "slots.max_per_day",
        "At most this many slots on one day (0: no limit).",
    ),
];

const SUBTABLE_DOCS: &[(&str, &str)] = &[
    (
        "sequences.holidays_by_country",
        "More holidays per recipient country, keyed by the CRM contact's `country` property\n\
         (\"DE\", \"France\"; ignoring case): DE = [\"2026-12-25\", \"2026-12-26\"].",
    ),
    (
        "sending.window",
        "Working hours in the recipient's time zone (env SEND_WINDOW=9-17 or off).",
    ),
    ("sending.limits", "Volume limits."),
    (
        "outcomes.impacts",
        "Points per outcome type, -5..=+10 (env OUTCOME_IMPACTS=\"email_replied=6,no_response=0\").",
    ),
    (
        "outcomes.scan_interval_secs",
        "Seconds between outcome scans, per source.",
    ),
];

fn env_of(key: &str) -> Vec<&'static str> {
    ENV_VARS
        .iter()
        .filter(|v| v.key == key)
        .map(|v| v.name)
        .collect()
}

fn comment(out: &mut String, text: &str) {
    for line in text.lines() {
        let _ = writeln!(out, "# {line}");
    }
}

fn doc(table: &'static [(&'static str, &'static str)], key: &str) -> Option<&'static str> {
    table.iter().find(|(k, _)| *k == key).map(|(_, d)| *d)
}

fn leaves_and_tables(
    out: &mut String,
    prefix: &str,
    table: &toml::Table,
    subtables: &mut Vec<(String, toml::Table)>,
) {
    for (k, v) in table {
        let key = format!("{prefix}.{k}");
        match v {
            toml::Value::Table(t) => subtables.push((key, t.clone())),
            other => {
                if let Some(d) = doc(KEY_DOCS, &key) {
                    let env = env_of(&key);
                    let d = if env.is_empty() {
                        d.to_owned()
                    } else {
                        format!("{d} (env {})", env.join(", "))
                    };
                    comment(out, &d);
                }
                let _ = writeln!(out, "{k} = {}", inline(other));
            }
        }
    }
}

/// The settings file `cli config init` writes: every key with its default and a comment saying
/// what it does, its allowed values and the environment variable that overrides it. Loading it
/// unchanged gives [`Settings::default`] (a test keeps `examples/salesagent.toml` equal to it).
#[must_use]
pub fn init_file() -> String {
    let mut out = String::new();
    comment(
        &mut out,
        "salesagent settings (written by `cli config init`; check with `cli config check FILE`).\n\
         Every key is optional: a key left out keeps the default shown here.\n\
         Precedence, strongest first: command-line flag > environment variable > this file > default.\n\
         Use it with `--config FILE` or SALESAGENT_CONFIG=FILE. A running webhook host re-reads it on\n\
         SIGHUP or when it changes; these parts apply without a restart:",
    );
    let _ = writeln!(out, "#   {}", RELOADABLE.join(", "));
    let defaults = Settings::default();
    let Ok(toml::Value::Table(all)) = toml::Value::try_from(&defaults) else {
        return out;
    };
    for (section, text) in SECTIONS {
        let Some(toml::Value::Table(t)) = all.get(*section) else {
            continue;
        };
        out.push('\n');
        comment(&mut out, text);
        let _ = writeln!(out, "[{section}]");
        let mut subtables = Vec::new();
        leaves_and_tables(&mut out, section, t, &mut subtables);
        while !subtables.is_empty() {
            let (key, table) = subtables.remove(0);
            out.push('\n');
            if let Some(d) = doc(SUBTABLE_DOCS, &key) {
                comment(&mut out, d);
            }
            let _ = writeln!(out, "[{key}]");
            let mut nested = Vec::new();
            leaves_and_tables(&mut out, &key, &table, &mut nested);
            subtables.splice(0..0, nested);
        }
    }
    out.push('\n');
    comment(
        &mut out,
        "Ideal-customer-profile rules (reloaded without a restart). Lists replace the default list\n\
         as a whole. Keywords match whole words or phrases in any language, ignoring case and\n\
         accents; `by_language` only groups them for the reader. Tiers: 100 >= a >= b >= c >= 0.",
    );
    #[derive(serde::Serialize)]
    struct Icp<'a> {
        icp: &'a salesagent_core::scoring::IcpRules,
    }
    if let Ok(text) = toml::to_string(&Icp { icp: &defaults.icp }) {
        out.push_str(&text);
    }
    out
}

impl LoadedSettings {
    /// The effective settings as text, one `key = value  # source` line each (the database
    /// password redacted), then whether each secret variable of [`SECRET_ENV_VARS`] is set
    /// (through `lookup`), never its value.
    #[must_use]
    pub fn describe(&self, lookup: &dyn Fn(&str) -> Option<String>) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# settings file: {}",
            self.path
                .as_ref()
                .map_or_else(|| "(none)".to_owned(), |p| p.display().to_string())
        );
        let _ = writeln!(out, "# precedence: flag > env > file > default");
        let entries = self.entries();
        let width = entries
            .iter()
            .map(|(k, v, _)| k.len() + v.len())
            .filter(|w| *w < 70)
            .max()
            .unwrap_or(40);
        for (k, v, src) in entries {
            let pad = width.saturating_sub(k.len() + v.len());
            let _ = writeln!(out, "{k} = {v}{}  # {src}", " ".repeat(pad));
        }
        let _ = writeln!(out, "# secrets (environment only):");
        for name in SECRET_ENV_VARS {
            let set = lookup(name).is_some_and(|v| !v.trim().is_empty());
            let _ = writeln!(
                out,
                "#   {name}: {}",
                if set { "set (redacted)" } else { "not set" }
            );
        }
        out
    }

    /// The effective settings as JSON: `{"file": …, "settings": [{"key", "value", "source"}],
    /// "secrets": {"NAME": true|false}}` (values as inline TOML, the database password
    /// redacted).
    #[must_use]
    pub fn describe_json(&self, lookup: &dyn Fn(&str) -> Option<String>) -> serde_json::Value {
        let settings: Vec<serde_json::Value> = self
            .entries()
            .into_iter()
            .map(|(k, v, s)| serde_json::json!({"key": k, "value": v, "source": s.to_string()}))
            .collect();
        let secrets: serde_json::Map<String, serde_json::Value> = SECRET_ENV_VARS
            .iter()
            .map(|n| {
                (
                    (*n).to_owned(),
                    serde_json::Value::Bool(lookup(n).is_some_and(|v| !v.trim().is_empty())),
                )
            })
            .collect();
        serde_json::json!({
            "file": self.path.as_ref().map(|p| p.display().to_string()),
            "settings": settings,
            "secrets": secrets,
        })
    }
}
