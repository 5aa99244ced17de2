//! Checks beyond types: ranges, formats and contradictions. Each problem names its key (and,
//! for a contradiction, the other key after it) and says what is allowed.

use super::{PortMode, Settings, parse_hhmm};
use salesagent_core::model::{Domain, EmailAddress};
use salesagent_core::scoring::KeywordRule;

type Found = Vec<(Vec<String>, String)>;

struct Checker {
    found: Found,
}

impl Checker {
    fn fail(&mut self, keys: &[&str], message: impl Into<String>) {
        self.found.push((
            keys.iter().map(|k| (*k).to_owned()).collect(),
            message.into(),
        ));
    }

    fn range<T: PartialOrd + std::fmt::Display + Copy>(&mut self, key: &str, v: T, lo: T, hi: T) {
        if !(v >= lo && v <= hi) {
            self.fail(&[key], format!("{v} is out of range; allowed: {lo}..={hi}"));
        }
    }

    fn float(&mut self, key: &str, v: f64, lo: f64, hi: f64) {
        if !(v.is_finite() && v >= lo && v <= hi) {
            self.fail(
                &[key],
                format!("{v} is out of range; allowed: {lo:?}..={hi:?}"),
            );
        }
    }

    fn zone(&mut self, key: &str, v: &str) {
        if salesagent_core::slots::parse_zone(v).is_none() {
            self.fail(
                &[key],
                format!("{v:?} is not an IANA time zone; allowed: names like \"UTC\", \"Europe/Berlin\", \"America/New_York\""),
            );
        }
    }

    fn text(&mut self, key: &str, v: &str, max: usize) {
        if v.chars().count() > max || v.chars().any(char::is_control) {
            self.fail(
                &[key],
                format!("allowed: at most {max} characters on one line"),
            );
        }
    }

    fn keyword_rules(&mut self, key: &str, rules: &[KeywordRule]) {
        for (i, r) in rules.iter().enumerate() {
            let k = format!("{key}.{i}");
            if r.label.trim().is_empty() {
                self.fail(&[&format!("{k}.label")], "allowed: a non-empty label");
            }
            self.float(&format!("{k}.points"), r.points, -100.0, 100.0);
            let any = !r.keywords.is_empty() || r.by_language.values().any(|l| !l.is_empty());
            if !any {
                self.fail(
                    &[&k],
                    "a rule needs at least one keyword (`keywords` or `by_language`)",
                );
            }
            if r.keywords.iter().any(|w| w.trim().is_empty())
                || r.by_language
                    .values()
                    .flatten()
                    .any(|w| w.trim().is_empty())
            {
                self.fail(&[&k], "allowed: non-empty keywords");
            }
        }
    }
}

/// Every problem with `s`.
pub(super) fn validate(s: &Settings) -> Found {
    let mut c = Checker { found: Vec::new() };

    // Sender.
    let sender = &s.sender;
    if let Err(e) = EmailAddress::parse(&sender.email) {
        c.fail(
            &["sender.email"],
            format!("{:?} is not an e-mail address ({e})", sender.email),
        );
    }
    c.text("sender.name", &sender.name, 100);
    c.text("sender.company", &sender.company, 100);
    c.zone("sender.time_zone", &sender.time_zone);
    if !sender.message_id_domain.trim().is_empty()
        && Domain::parse(&sender.message_id_domain).is_err()
    {
        c.fail(
            &["sender.message_id_domain"],
            format!(
                "{:?} is not a domain; allowed: a domain name like \"example.com\", or \"\" for the sender's",
                sender.message_id_domain
            ),
        );
    }
    if sender.voice_profile.trim().is_empty() {
        c.fail(
            &["sender.voice_profile"],
            "allowed: a profile name, e.g. \"default\"",
        );
    }
    c.float("sender.voice_threshold", sender.voice_threshold, 0.0, 1.0);
    for (i, v) in sender.voice_profiles.iter().enumerate() {
        let key = format!("sender.voice_profiles[{i}]");
        if EmailAddress::parse(&v.sender).is_err() {
            c.fail(
                &["sender.voice_profiles"],
                format!(
                    "{key}: {:?} is not an e-mail address; allowed: {{ sender = \"name@domain\", profile = \"name\" }}",
                    v.sender
                ),
            );
        } else if v.profile.trim().is_empty() {
            c.fail(
                &["sender.voice_profiles"],
                format!("{key}: allowed: a profile name, e.g. \"default\""),
            );
        }
    }

    // Store.
    let db = s.store.database.trim();
    let known = [
        "memory:",
        "memory",
        "sqlite:",
        "postgres://",
        "postgresql://",
    ];
    if !known.iter().any(|p| db.starts_with(p)) {
        c.fail(
            &["store.database"],
            "allowed: \"sqlite://FILE\", \"sqlite::memory:\", \"postgres://…\" or \"memory:\"",
        );
    }

    // Ports.
    if s.ports.mailbox == PortMode::Offline && s.sending.mailbox.trim() == "gmail" {
        c.fail(
            &["sending.mailbox", "ports.mailbox"],
            "\"gmail\" contradicts ports.mailbox = \"offline\"; allowed: \"\", \"imap\" or \"outbox:DIR\" with an offline mailbox port",
        );
    }

    // Host.
    if s.host.listen.parse::<std::net::SocketAddr>().is_err() {
        c.fail(
            &["host.listen"],
            format!(
                "{:?} is not an address; allowed: IP:PORT like \"127.0.0.1:8080\"",
                s.host.listen
            ),
        );
    }
    c.range("host.workers", s.host.workers, 0, 256);
    let url = s.host.public_url.trim();
    if !(url.is_empty() || url.starts_with("http://") || url.starts_with("https://")) {
        c.fail(
            &["host.public_url"],
            "allowed: \"\" or an origin starting with http:// or https://",
        );
    }
    let header = s.host.trusted_proxy_header.trim();
    if !header.is_empty()
        && !header.eq_ignore_ascii_case("x-forwarded-for")
        && !header.eq_ignore_ascii_case("x-real-ip")
    {
        c.fail(
            &["host.trusted_proxy_header"],
            "allowed: \"\", \"X-Forwarded-For\" or \"X-Real-IP\"",
        );
    }

    // Sending.
    let mailbox = s.sending.mailbox.trim();
    let mailbox_ok = mailbox.is_empty()
        || mailbox == "gmail"
        || mailbox == "imap"
        || mailbox.starts_with("imap:")
        || mailbox
            .strip_prefix("outbox:")
            .is_some_and(|d| !d.trim().is_empty());
    if !mailbox_ok {
        c.fail(
            &["sending.mailbox"],
            format!("{mailbox:?} is not a mailbox; allowed: \"\" (Gmail when configured, else offline), \"gmail\", \"imap\", \"outbox:DIR\""),
        );
    }
    let w = &s.sending.window;
    c.range("sending.window.start_hour", w.start_hour, 0, 23);
    c.range("sending.window.end_hour", w.end_hour, 1, 24);
    if w.start_hour <= 23 && w.end_hour <= 24 && w.end_hour <= w.start_hour {
        c.fail(
            &["sending.window.end_hour", "sending.window.start_hour"],
            format!(
                "the window closes ({}) before it opens ({}); allowed: start_hour < end_hour",
                w.end_hour, w.start_hour
            ),
        );
    }
    c.zone("sending.window.time_zone", &w.time_zone);
    let l = s.sending.limits;
    c.range(
        "sending.limits.per_contact_week",
        l.per_contact_week,
        1,
        1000,
    );
    c.range("sending.limits.per_contact_day", l.per_contact_day, 1, 1000);
    c.range(
        "sending.limits.per_sender_day",
        l.per_sender_day,
        1,
        100_000,
    );
    c.range(
        "sending.limits.per_domain_day",
        l.per_domain_day,
        1,
        100_000,
    );
    if l.per_domain_day > l.per_sender_day {
        c.fail(
            &["sending.limits.per_domain_day", "sending.limits.per_sender_day"],
            format!(
                "{} per domain exceeds {} per sender (it could never be reached); allowed: per_domain_day <= per_sender_day",
                l.per_domain_day, l.per_sender_day
            ),
        );
    }
    let mailto = s.sending.unsubscribe_mailto.trim();
    if !mailto.is_empty() && EmailAddress::parse(mailto).is_err() {
        c.fail(
            &["sending.unsubscribe_mailto"],
            format!("{mailto:?} is not an e-mail address; allowed: \"\" or an address"),
        );
    }
    let unsub = s.sending.unsubscribe_url.trim();
    if !unsub.is_empty() && !unsub.starts_with("https://") {
        c.fail(
            &["sending.unsubscribe_url"],
            "allowed: \"\" or an https:// URL",
        );
    }

    // Auto-approval.
    c.range(
        "auto_approval.icp_threshold",
        s.auto_approval.icp_threshold,
        0,
        100,
    );

    // Queue.
    let q = s.queue;
    c.float(
        "queue.recency_half_life_hours",
        q.recency_half_life_hours,
        0.1,
        8760.0,
    );
    c.float("queue.recency_weight", q.recency_weight, 0.0, 100.0);
    c.float("queue.missing_icp_points", q.missing_icp_points, 0.0, 100.0);
    c.float("queue.adjustment_cap", q.adjustment_cap, 0.0, 100.0);

    // Outcomes.
    for (t, v) in &s.outcomes.impacts {
        c.range(
            &format!("outcomes.impacts.{}", t.as_str()),
            *v,
            salesagent_core::outcomes::MIN_IMPACT,
            salesagent_core::outcomes::MAX_IMPACT,
        );
    }
    let si = s.outcomes.scan_interval_secs;
    for (k, v) in [
        ("mailbox", si.mailbox),
        ("crm", si.crm),
        ("calendar", si.calendar),
        ("silence", si.silence),
    ] {
        c.range(
            &format!("outcomes.scan_interval_secs.{k}"),
            v,
            1,
            7 * 86_400,
        );
    }

    // Slots.
    let sl = &s.slots;
    c.range("slots.count", sl.count, 1, 10);
    c.range("slots.duration_minutes", sl.duration_minutes, 5, 480);
    c.range("slots.step_minutes", sl.step_minutes, 5, 240);
    c.range(
        "slots.min_notice_minutes",
        sl.min_notice_minutes,
        0,
        30 * 24 * 60,
    );
    c.range("slots.horizon_days", sl.horizon_days, 1, 90);
    c.range("slots.max_per_day", sl.max_per_day, 0, 24);
    let start = parse_hhmm(&sl.day_start);
    let end = parse_hhmm(&sl.day_end);
    for (k, v, t) in [
        ("slots.day_start", &sl.day_start, start),
        ("slots.day_end", &sl.day_end, end),
    ] {
        if t.is_none() {
            c.fail(
                &[k],
                format!("{v:?} is not a time; allowed: HH:MM like \"09:00\""),
            );
        }
    }
    if let (Some(a), Some(b)) = (start, end)
        && b <= a
    {
        c.fail(
            &["slots.day_end", "slots.day_start"],
            format!(
                "the working day ends ({}) before it starts ({}); allowed: day_start < day_end",
                sl.day_end, sl.day_start
            ),
        );
    }
    if sl.working_days.is_empty() {
        c.fail(
            &["slots.working_days"],
            "allowed: at least one of \"mon\" … \"sun\"",
        );
    }
    for (i, d) in sl.working_days.iter().enumerate() {
        if d.parse::<chrono::Weekday>().is_err() {
            c.fail(
                &[&format!("slots.working_days.{i}")],
                format!("{d:?} is not a weekday; allowed: \"mon\", \"tue\", \"wed\", \"thu\", \"fri\", \"sat\", \"sun\""),
            );
        }
    }

    // ICP.
    validate_icp(s, &mut c);
    validate_sequences(s, &mut c);
    c.found
}

fn validate_icp(s: &Settings, c: &mut Checker) {
    let icp = &s.icp;
    let t = icp.tiers;
    for (k, v) in [("a", t.a), ("b", t.b), ("c", t.c)] {
        c.range(&format!("icp.tiers.{k}"), v, 0, 100);
    }
    if t.b > t.a {
        c.fail(
            &["icp.tiers.b", "icp.tiers.a"],
            format!(
                "tier thresholds out of order (a = {}, b = {}); allowed: 100 >= a >= b >= c >= 0",
                t.a, t.b
            ),
        );
    }
    if t.c > t.b {
        c.fail(
            &["icp.tiers.c", "icp.tiers.b"],
            format!(
                "tier thresholds out of order (b = {}, c = {}); allowed: 100 >= a >= b >= c >= 0",
                t.b, t.c
            ),
        );
    }
    c.float("icp.base", icp.base, -100.0, 100.0);
    c.float(
        "icp.other_industry_points",
        icp.other_industry_points,
        -100.0,
        100.0,
    );
    c.float("icp.free_mail_points", icp.free_mail_points, -100.0, 100.0);
    c.float(
        "icp.company_domain_points",
        icp.company_domain_points,
        -100.0,
        100.0,
    );
    for (i, b) in icp.size_bands.iter().enumerate() {
        let k = format!("icp.size_bands.{i}");
        if let Some(max) = b.max
            && max < b.min
        {
            c.fail(
                &[&format!("{k}.max"), &format!("{k}.min")],
                format!("max ({max}) is below min ({}); allowed: min <= max", b.min),
            );
        }
        c.float(&format!("{k}.points"), b.points, -100.0, 100.0);
    }
    c.keyword_rules("icp.industries", &icp.industries);
    c.keyword_rules("icp.seniority", &icp.seniority);
    c.keyword_rules("icp.countries", &icp.countries);
    c.keyword_rules("icp.intents", &icp.intents);
    // The rule set's own checks catch what the above does not (its keys are relative to `icp`).
    if let Err(salesagent_core::Error::InvalidInput { field, reason }) = icp.validate()
        && !c
            .found
            .iter()
            .any(|(k, _)| k.iter().any(|k| k.starts_with("icp.")))
    {
        let key = format!("icp.{}", field.replace('[', ".").replace(']', ""));
        c.fail(&[&key], reason);
    }
}

fn validate_sequences(s: &Settings, c: &mut Checker) {
    let q = &s.sequences;
    if q.steps.len() > 10 {
        c.fail(
            &["sequences.steps"],
            format!("{} steps; allowed: at most 10", q.steps.len()),
        );
    }
    for (i, step) in q.steps.iter().enumerate() {
        c.range(
            &format!("sequences.steps.{i}.wait_business_days"),
            step.wait_business_days,
            0,
            60,
        );
    }
    c.range(
        "sequences.out_of_office_default_days",
        q.out_of_office_default_days,
        1,
        60,
    );
    if let Some(zone) = &q.time_zone {
        c.zone("sequences.time_zone", zone);
    }
    let holidays = q.holidays.len() + q.holidays_by_country.values().map(Vec::len).sum::<usize>();
    if holidays > salesagent_core::sequences::MAX_HOLIDAYS {
        c.fail(
            &["sequences.holidays"],
            format!(
                "{holidays} holiday dates; allowed: at most {}",
                salesagent_core::sequences::MAX_HOLIDAYS
            ),
        );
    }
    for country in q.holidays_by_country.keys() {
        if country.trim().is_empty() || country.len() > 64 {
            c.fail(
                &["sequences.holidays_by_country"],
                format!("country {country:?}: must be 1 to 64 characters"),
            );
        }
    }
}
