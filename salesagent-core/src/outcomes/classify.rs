//! Classifying one inbound message: human reply, automatic reply, bounce, unsubscribe request.
//!
//! Raw mail is parsed with `mail-parser`; headers are read from its parsed header list, never by
//! pattern-matching raw header text. The rules, in order:
//!
//! 1. **Delivery status notifications** (RFC 3464): a `multipart/report; report-type=delivery-status`
//!    message (or any top-level `message/delivery-status` / `message/global-delivery-status` part).
//!    A recipient with `Action: failed` or a `Status: 5.x.x` is a permanent bounce
//!    (`email_bounced`, and the address is suppressed); `Action: delayed` or `Status: 4.x.x` is a
//!    transient delay (no outcome); `delivered`/`relayed`/`expanded` are success notices (no outcome).
//!    A `report-type=disposition-notification` (read receipt, RFC 8098) is automatic.
//! 2. **Non-standard bounces** of MTAs that send plain text (qmail, old Exim, some Exchange and
//!    hosted gateways): sender `MAILER-DAEMON`/`postmaster`/"Mail Delivery Subsystem", or a bounce
//!    subject (`Undelivered Mail Returned to Sender`, `Undeliverable:`, `failure notice`,
//!    `Mail delivery failed`, `Unzustellbar:` …). The enhanced status code in the text decides
//!    permanent (5.x.x) or transient (4.x.x); without one, phrases such as "permanent error" or
//!    "user unknown" versus "delayed"/"will retry" decide, and with neither no outcome is recorded.
//!    Failed recipients come from `X-Failed-Recipients` or the addresses named in the text.
//! 3. **Automatic replies** (RFC 3834 and common practice): `Auto-Submitted` other than `no`,
//!    `X-Autoreply`, `X-Autorespond`, `X-Autoresponse`, `Precedence: bulk/junk/list/auto_reply`,
//!    `List-Id` (mailing-list traffic), an out-of-office subject in one of a dozen languages, a
//!    short new text (at most 600 characters) in out-of-office wording even without any such
//!    header (some servers send a plain threaded "out of the office until …" reply), or a
//!    null `Return-Path: <>` together with out-of-office wording. Automatic replies record nothing
//!    (an out-of-office one pauses the contact's follow-up sequence, see `sequences`).
//! 4. **Requests to stop**: a reply whose new text (quotes and signature removed) is short
//!    (at most 600 characters) and asks to be removed, or any message whose subject does
//!    (`unsubscribe`, `remove me`, `bitte abmelden`, `darme de baja` …) → `email_unsubscribed`.
//! 5. **Human replies**: `In-Reply-To`/`References` present or a `Re:`-style subject →
//!    `email_replied`. Any other human message is not an outcome.

use super::reply_text;
use crate::model::{EmailAddress, MailMessage, MessageId, OutcomeType};
use chrono::{DateTime, Utc};
use mail_parser::{Address, HeaderValue, MessageParser, MimeHeaders};
use serde::{Deserialize, Serialize};

/// Longest new text (in characters) whose wording may count as a request to stop.
const STOP_TEXT_LIMIT: usize = 600;

/// What kind of message it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum MailKind {
    /// A person answered one of our messages.
    HumanReply,
    /// A person wrote, but not in reply to anything.
    HumanMessage,
    /// A person (or a form) asked us to stop writing.
    Unsubscribe,
    /// An auto-responder, out-of-office note, read receipt or list/bulk mail.
    Automatic,
    /// Mail could not be delivered, permanently.
    Bounce(BounceInfo),
    /// Delivery is delayed or was reported successful; nothing to record.
    DeliveryNotice(BounceInfo),
    /// Not a parsable message.
    Unparsable,
}

/// What a delivery status notification said.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct BounceInfo {
    /// True for permanent failures (5.x.x).
    pub permanent: bool,
    /// The enhanced status code (`5.1.1`), when one was given.
    pub status: Option<String>,
    /// The recipients it is about.
    pub recipients: Vec<EmailAddress>,
    /// The Message-ID of the message that failed, when the report includes it.
    pub original_message_id: Option<MessageId>,
    /// The remote server's diagnostic, shortened, when given.
    pub diagnostic: Option<String>,
}

/// The verdict on one message, with what is needed to link it to our drafts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Classification {
    /// The kind.
    pub kind: MailKind,
    /// Why, in a few words (shown by `outcomes classify`).
    pub reason: String,
    /// The sender's address, when it parses.
    pub from: Option<EmailAddress>,
    /// The message's own Message-ID.
    pub message_id: Option<MessageId>,
    /// In-Reply-To.
    pub in_reply_to: Option<MessageId>,
    /// References, oldest first.
    pub references: Vec<MessageId>,
    /// Subject (decoded).
    pub subject: String,
    /// The new text of a reply: quoted lines, attributions and signature removed.
    pub new_text: String,
    /// Date header, when it parses.
    pub date: Option<DateTime<Utc>>,
}

impl Classification {
    /// The outcome this message means, if any: `email_replied`, `email_unsubscribed` or
    /// `email_bounced` (permanent only). Automatic replies and delays mean nothing.
    #[must_use]
    pub fn outcome_type(&self) -> Option<OutcomeType> {
        match &self.kind {
            MailKind::HumanReply => Some(OutcomeType::EmailReplied),
            MailKind::Unsubscribe => Some(OutcomeType::EmailUnsubscribed),
            MailKind::Bounce(_) => Some(OutcomeType::EmailBounced),
            _ => None,
        }
    }

    /// The Message-IDs this message may answer or report on, most specific first: the bounced
    /// message, In-Reply-To, then References newest first.
    #[must_use]
    pub fn candidate_parents(&self) -> Vec<MessageId> {
        let mut out: Vec<MessageId> = Vec::new();
        let bounced = match &self.kind {
            MailKind::Bounce(b) | MailKind::DeliveryNotice(b) => b.original_message_id.clone(),
            _ => None,
        };
        for id in bounced
            .into_iter()
            .chain(self.in_reply_to.clone())
            .chain(self.references.iter().rev().cloned())
        {
            if !out.contains(&id) {
                out.push(id);
            }
        }
        out
    }
}

/// A message reduced to what the rules look at.
#[derive(Debug, Default)]
struct MailView {
    headers: Vec<(String, String)>,
    subject: String,
    from: Option<EmailAddress>,
    from_name: Option<String>,
    from_raw: Option<String>,
    message_id: Option<MessageId>,
    in_reply_to: Option<MessageId>,
    references: Vec<MessageId>,
    date: Option<DateTime<Utc>>,
    body: String,
    /// `(type, subtype, report-type)` of the top-level Content-Type, lower-case.
    content_type: Option<(String, String, String)>,
    /// Per-recipient field groups of a delivery-status part.
    dsn: Option<Vec<Vec<(String, String)>>>,
    /// Message-ID of a returned message attached to a report.
    returned_message_id: Option<MessageId>,
}

impl MailView {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Classifies raw RFC 5322 bytes (an `.eml` file or a provider's raw message). Never panics;
/// bytes that are not a message give [`MailKind::Unparsable`].
#[must_use]
pub fn classify_raw(raw: &[u8]) -> Classification {
    match view_from_raw(raw) {
        Some(view) => classify_view(&view),
        None => Classification {
            kind: MailKind::Unparsable,
            reason: "not a parsable message".into(),
            from: None,
            message_id: None,
            in_reply_to: None,
            references: Vec::new(),
            subject: String::new(),
            new_text: String::new(),
            date: None,
        },
    }
}

/// Classifies a message read from a mailbox: from its raw bytes when the provider gave them,
/// otherwise from its decoded headers and text (then report parts are not available and only the
/// text rules for bounces apply).
#[must_use]
pub fn classify_message(message: &MailMessage) -> Classification {
    if let Some(raw) = &message.raw
        && let Some(mut view) = view_from_raw(raw)
    {
        // The provider's parsed ids win when the raw headers were odd.
        view.message_id = view.message_id.or_else(|| message.message_id.clone());
        view.in_reply_to = view.in_reply_to.or_else(|| message.in_reply_to.clone());
        if view.references.is_empty() {
            view.references.clone_from(&message.references);
        }
        view.from = view.from.or_else(|| message.from.clone());
        view.date = view.date.or(message.date);
        return classify_view(&view);
    }
    let view = MailView {
        headers: message.headers.clone(),
        subject: message.subject.clone(),
        from: message.from.clone(),
        from_name: message.header("From").and_then(display_name),
        from_raw: message
            .from
            .as_ref()
            .map(ToString::to_string)
            .or_else(|| message.header("From").map(str::to_owned)),
        message_id: message.message_id.clone(),
        in_reply_to: message.in_reply_to.clone(),
        references: message.references.clone(),
        date: message.date,
        body: message.body_text.clone(),
        content_type: message.header("Content-Type").map(|ct| {
            let lower = ct.to_lowercase();
            let (mime, params) = lower.split_once(';').unwrap_or((&lower, ""));
            let (t, s) = mime.trim().split_once('/').unwrap_or((mime.trim(), ""));
            let report = params
                .split(';')
                .filter_map(|p| p.trim().split_once('='))
                .find(|(k, _)| k.trim() == "report-type")
                .map(|(_, v)| v.trim().trim_matches('"').to_owned())
                .unwrap_or_default();
            (t.to_owned(), s.to_owned(), report)
        }),
        dsn: None,
        returned_message_id: None,
    };
    classify_view(&view)
}

/// The display name of a decoded `From` value (`"Mail Delivery Subsystem" <x@y>` → the name).
fn display_name(from: &str) -> Option<String> {
    let (name, _) = from.split_once('<')?;
    let name = name.trim().trim_matches('"').trim();
    (!name.is_empty()).then(|| name.to_owned())
}

/// Drops an mbox `From ` envelope line before the first header, if there is one.
fn skip_mbox_line(raw: &[u8]) -> &[u8] {
    if raw.starts_with(b"From ") {
        match raw.iter().position(|&b| b == b'\n') {
            Some(i) => &raw[i + 1..],
            None => &[],
        }
    } else {
        raw
    }
}

fn header_value_text(value: &HeaderValue<'_>) -> String {
    match value {
        HeaderValue::Text(t) => t.to_string(),
        HeaderValue::TextList(list) => list.join(", "),
        HeaderValue::Address(a) => address_list(a)
            .iter()
            .map(|(_, addr)| addr.clone())
            .collect::<Vec<_>>()
            .join(", "),
        HeaderValue::DateTime(d) => d.to_rfc3339(),
        HeaderValue::ContentType(ct) => match ct.subtype() {
            Some(s) => format!("{}/{}", ct.ctype(), s),
            None => ct.ctype().to_owned(),
        },
        _ => String::new(),
    }
}

fn address_list(a: &Address<'_>) -> Vec<(Option<String>, String)> {
    a.iter()
        .filter_map(|addr| {
            addr.address()
                .map(|s| (addr.name().map(str::to_owned), s.to_owned()))
        })
        .collect()
}

fn message_ids(value: &HeaderValue<'_>) -> Vec<MessageId> {
    let items: Vec<String> = match value {
        HeaderValue::Text(t) => t.split_whitespace().map(str::to_owned).collect(),
        HeaderValue::TextList(list) => list.iter().map(ToString::to_string).collect(),
        _ => Vec::new(),
    };
    items
        .iter()
        .filter_map(|s| MessageId::parse(s).ok())
        .collect()
}

fn headers_of(headers: &[mail_parser::Header<'_>]) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|h| {
            (
                h.name().to_owned(),
                reply_text::collapse(&header_value_text(h.value())),
            )
        })
        .collect()
}

fn view_from_raw(raw: &[u8]) -> Option<MailView> {
    let raw = skip_mbox_line(raw);
    let message = MessageParser::default().parse(raw)?;
    if message.headers().is_empty() {
        return None;
    }
    let from = message.from().map(address_list).unwrap_or_default();
    let (from_name, from_raw) = from.first().cloned().unzip();
    let content_type = message.content_type().map(|ct| {
        (
            ct.ctype().to_lowercase(),
            ct.subtype().unwrap_or_default().to_lowercase(),
            ct.attribute("report-type")
                .unwrap_or_default()
                .to_lowercase(),
        )
    });
    let mut dsn = None;
    let mut returned_message_id = None;
    for part in message.parts.iter().skip(1) {
        let Some(ct) = part.content_type() else {
            continue;
        };
        let t = ct.ctype().to_lowercase();
        let s = ct.subtype().unwrap_or_default().to_lowercase();
        match (t.as_str(), s.as_str()) {
            ("message", "delivery-status" | "global-delivery-status") if dsn.is_none() => {
                dsn = Some(dsn_groups(part.contents()));
            }
            ("message", "rfc822" | "global") if returned_message_id.is_none() => {
                returned_message_id = part
                    .message()
                    .and_then(|m| m.message_id())
                    .and_then(|id| MessageId::parse(id).ok());
            }
            ("text", "rfc822-headers") | ("message", "rfc822-headers" | "global-headers")
                if returned_message_id.is_none() =>
            {
                returned_message_id = MessageParser::default()
                    .parse_headers(part.contents())
                    .and_then(|m| m.message_id().and_then(|id| MessageId::parse(id).ok()));
            }
            _ => {}
        }
    }
    Some(MailView {
        headers: headers_of(message.headers()),
        subject: message.subject().unwrap_or_default().to_owned(),
        from: from_raw
            .as_deref()
            .and_then(|a| EmailAddress::parse(a).ok()),
        from_name: from_name.flatten(),
        from_raw,
        message_id: message
            .message_id()
            .and_then(|id| MessageId::parse(id).ok()),
        in_reply_to: message_ids(message.in_reply_to()).into_iter().next(),
        references: message_ids(message.references()),
        date: message
            .date()
            .and_then(|d| DateTime::from_timestamp(d.to_timestamp(), 0)),
        body: message
            .body_text(0)
            .map(std::borrow::Cow::into_owned)
            .unwrap_or_default(),
        content_type,
        dsn,
        returned_message_id,
    })
}

/// Splits a delivery-status body into its field groups (per-message, then one per recipient),
/// each parsed as a header block by `mail-parser`.
fn dsn_groups(contents: &[u8]) -> Vec<Vec<(String, String)>> {
    let text = String::from_utf8_lossy(contents);
    // Whitespace-only lines separate groups too (some MTAs write " " between them).
    let mut blocks: Vec<Vec<&str>> = vec![Vec::new()];
    for line in text.lines() {
        if line.trim().is_empty() {
            if blocks.last().is_some_and(|b| !b.is_empty()) {
                blocks.push(Vec::new());
            }
        } else if let Some(b) = blocks.last_mut() {
            b.push(line.trim_end_matches('\r'));
        }
    }
    let mut groups = Vec::new();
    for block in blocks.iter().filter(|b| !b.is_empty()) {
        let mut bytes = block.join("\n").into_bytes();
        bytes.extend_from_slice(b"\n\n");
        if let Some(m) = MessageParser::default().parse_headers(&bytes) {
            let fields = headers_of(m.headers());
            if !fields.is_empty() {
                groups.push(fields);
            }
        }
    }
    groups
}

fn field<'a>(group: &'a [(String, String)], name: &str) -> Option<&'a str> {
    group
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// `rfc822; user@example.com` → the address.
fn typed_address(value: &str) -> Option<EmailAddress> {
    let addr = value.split_once(';').map_or(value, |(_, a)| a);
    EmailAddress::parse(addr.trim().trim_start_matches('<').trim_end_matches('>')).ok()
}

/// The first enhanced status code (`5.1.1`, RFC 3463) in a text, if any.
fn enhanced_status(text: &str) -> Option<String> {
    text.split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .map(|t| t.trim_end_matches('.'))
        .find(|t| {
            let parts: Vec<&str> = t.split('.').collect();
            parts.len() == 3
                && matches!(parts[0], "2" | "4" | "5")
                && (1..=3).contains(&parts[1].len())
                && (1..=3).contains(&parts[2].len())
                && parts[1..]
                    .iter()
                    .all(|p| p.bytes().all(|b| b.is_ascii_digit()))
        })
        .map(str::to_owned)
}

/// The first basic SMTP failure reply code (`550`, `554`, `451` …, RFC 5321 §4.2) in a text,
/// for bounces that give no enhanced status code.
fn smtp_reply_code(text: &str) -> Option<&'static str> {
    const CODES: &[&str] = &[
        "550", "551", "552", "553", "554", "421", "450", "451", "452",
    ];
    text.split(|c: char| !c.is_ascii_digit())
        .find_map(|t| CODES.iter().find(|c| **c == t).copied())
}

fn shorten(s: &str, max: usize) -> String {
    let s = reply_text::collapse(s);
    if s.chars().count() <= max {
        s
    } else {
        let cut: String = s.chars().take(max).collect();
        format!("{cut}…")
    }
}

fn base(view: &MailView, kind: MailKind, reason: String) -> Classification {
    Classification {
        kind,
        reason,
        from: view.from.clone(),
        message_id: view.message_id.clone(),
        in_reply_to: view.in_reply_to.clone(),
        references: view.references.clone(),
        subject: view.subject.clone(),
        new_text: String::new(),
        date: view.date,
    }
}

fn classify_view(view: &MailView) -> Classification {
    if let Some(c) = classify_report(view) {
        return c;
    }
    if let Some(c) = classify_plain_bounce(view) {
        return c;
    }
    if let Some(reason) = automatic_reason(view) {
        let mut c = base(view, MailKind::Automatic, format!("automatic: {reason}"));
        // Kept for the out-of-office return date (see `sequences::ooo`).
        c.new_text = reply_text::new_text(&view.body);
        return c;
    }
    let new_text = reply_text::new_text(&view.body);
    let is_reply = view.in_reply_to.is_some()
        || !view.references.is_empty()
        || reply_text::subject_is_reply(&view.subject);
    let stop = if is_reply && new_text.chars().count() <= STOP_TEXT_LIMIT {
        reply_text::stop_request(&view.subject, &new_text)
    } else {
        reply_text::stop_request(&view.subject, "")
    };
    let mut c = if let Some(phrase) = stop {
        base(
            view,
            MailKind::Unsubscribe,
            format!("asks to stop ({phrase:?})"),
        )
    } else if is_reply {
        let how = if view.in_reply_to.is_some() {
            "In-Reply-To"
        } else if view.references.is_empty() {
            "reply subject"
        } else {
            "References"
        };
        base(view, MailKind::HumanReply, format!("human reply ({how})"))
    } else {
        base(
            view,
            MailKind::HumanMessage,
            "human message, not a reply".into(),
        )
    };
    c.new_text = new_text;
    c
}

/// Rule 1: RFC 3464 reports (and RFC 8098 read receipts).
fn classify_report(view: &MailView) -> Option<Classification> {
    let report_type = view
        .content_type
        .as_ref()
        .filter(|(t, s, _)| t == "multipart" && s == "report")
        .map(|(_, _, r)| r.as_str());
    if report_type == Some("disposition-notification") {
        return Some(base(
            view,
            MailKind::Automatic,
            "automatic: read receipt (RFC 8098 disposition notification)".into(),
        ));
    }
    let groups = view.dsn.as_ref()?;
    let mut failed = BounceInfo {
        permanent: true,
        original_message_id: view.returned_message_id.clone(),
        ..BounceInfo::default()
    };
    let mut delayed = BounceInfo {
        original_message_id: view.returned_message_id.clone(),
        ..BounceInfo::default()
    };
    let mut other_actions = Vec::new();
    for group in groups.iter().skip(1) {
        let action = field(group, "Action").unwrap_or_default().to_lowercase();
        let status = field(group, "Status").and_then(enhanced_status);
        let recipient = field(group, "Final-Recipient")
            .and_then(typed_address)
            .or_else(|| field(group, "Original-Recipient").and_then(typed_address));
        let diagnostic = field(group, "Diagnostic-Code")
            .map(|d| shorten(d.split_once(';').map_or(d, |(_, rest)| rest), 160));
        let target = if action == "failed"
            || action == "failure"
            || status.as_deref().is_some_and(|s| s.starts_with('5'))
        {
            &mut failed
        } else if action == "delayed" || status.as_deref().is_some_and(|s| s.starts_with('4')) {
            &mut delayed
        } else {
            other_actions.push(if action.is_empty() {
                "no action".to_owned()
            } else {
                action
            });
            continue;
        };
        if let Some(r) = recipient
            && !target.recipients.contains(&r)
        {
            target.recipients.push(r);
        }
        if target.status.is_none() {
            target.status = status;
        }
        if target.diagnostic.is_none() {
            target.diagnostic = diagnostic;
        }
    }
    if !failed.recipients.is_empty() || failed.status.is_some() {
        if failed.recipients.is_empty()
            && let Some(r) = failed_recipients_header(view).into_iter().next()
        {
            failed.recipients.push(r);
        }
        let reason = format!(
            "permanent bounce {} (RFC 3464 report){}",
            failed.status.as_deref().unwrap_or("failed"),
            recipients_suffix(&failed.recipients)
        );
        return Some(base(view, MailKind::Bounce(failed), reason));
    }
    if !delayed.recipients.is_empty() || delayed.status.is_some() {
        let reason = format!(
            "transient delivery delay {} (RFC 3464 report): no outcome",
            delayed.status.as_deref().unwrap_or("delayed")
        );
        return Some(base(view, MailKind::DeliveryNotice(delayed), reason));
    }
    let reason = if other_actions.is_empty() {
        "delivery report without recipients: no outcome".to_owned()
    } else {
        format!("delivery report ({}): no outcome", other_actions.join(", "))
    };
    Some(base(
        view,
        MailKind::DeliveryNotice(BounceInfo {
            original_message_id: view.returned_message_id.clone(),
            ..BounceInfo::default()
        }),
        reason,
    ))
}

fn recipients_suffix(r: &[EmailAddress]) -> String {
    if r.is_empty() {
        String::new()
    } else {
        format!(
            " for {}",
            r.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        )
    }
}

fn failed_recipients_header(view: &MailView) -> Vec<EmailAddress> {
    view.headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("X-Failed-Recipients"))
        .flat_map(|(_, v)| v.split([',', ' ']).map(str::to_owned).collect::<Vec<_>>())
        .filter_map(|a| EmailAddress::parse(a.trim().trim_matches(['<', '>'])).ok())
        .collect()
}

/// Local parts of MTA senders.
const MTA_SENDERS: &[&str] = &[
    "mailer-daemon",
    "mailerdaemon",
    "postmaster",
    "mail-daemon",
    "mail-delivery-subsystem",
];

/// Bounce subjects of common MTAs, lower-case.
const BOUNCE_SUBJECTS: &[&str] = &[
    "undelivered mail returned to sender",
    "mail delivery failed",
    "mail delivery failure",
    "delivery status notification",
    "undeliverable",
    "undelivered mail",
    "returned mail",
    "failure notice",
    "delivery failure",
    "delivery has failed",
    "delivery notification",
    "non-delivery",
    "nondeliverable",
    "message not delivered",
    "could not be delivered",
    "warning: could not send message",
    "unzustellbar",
    "nicht zustellbar",
    "non remis",
    "non distribuable",
    "no se puede entregar",
    "no entregado",
];

const PERMANENT_PHRASES: &[&str] = &[
    "permanent error",
    "permanent fatal",
    "permanently",
    "i've given up",
    "user unknown",
    "unknown user",
    "no such user",
    "does not exist",
    "doesn't exist",
    "address not found",
    "mailbox not found",
    "mailbox unavailable",
    "recipient address rejected",
    "recipient not found",
    "account has been disabled",
    "account is disabled",
    "address couldn't be found",
    "wasn't found at",
];

const TRANSIENT_PHRASES: &[&str] = &[
    "delayed",
    "will retry",
    "will keep trying",
    "still trying",
    "not yet been delivered",
    "temporary failure",
    "temporarily",
];

/// Rule 2: plain-text bounces without a delivery-status part.
fn classify_plain_bounce(view: &MailView) -> Option<Classification> {
    let mta_sender = from_mta(view);
    let subject = reply_text::normalise(&view.subject);
    let bounce_subject = BOUNCE_SUBJECTS
        .iter()
        .find(|p| reply_text::contains_phrase(&subject, p));
    let failed_header = failed_recipients_header(view);
    if !mta_sender && bounce_subject.is_none() && failed_header.is_empty() {
        return None;
    }
    // A person replying "Re: Undeliverable?" is not a bounce.
    if !mta_sender && failed_header.is_empty() && reply_text::subject_is_reply(&view.subject) {
        return None;
    }
    let status = enhanced_status(&view.body)
        .or_else(|| smtp_reply_code(&view.body).map(|c| format!("smtp {c}")));
    // A bounce subject alone (a person writing "Delivery failure of our parcel") needs a machine
    // sign too: a status code, a null Return-Path or an Auto-Submitted header.
    if !mta_sender && failed_header.is_empty() && status.is_none() && !machine_sent(view) {
        return None;
    }
    let permanent = bounce_permanence(
        status.as_deref(),
        &reply_text::normalise(&view.body),
        !failed_header.is_empty(),
    );
    let mut recipients = failed_header;
    if recipients.is_empty() {
        recipients = addresses_in_failure_text(&view.body, view);
    }
    let info = BounceInfo {
        permanent: permanent.unwrap_or(false),
        status,
        recipients,
        original_message_id: view
            .returned_message_id
            .clone()
            .or_else(|| returned_id_in_text(&view.body)),
        diagnostic: None,
    };
    let shape = if mta_sender {
        "MTA sender"
    } else {
        "bounce subject"
    };
    Some(plain_bounce_result(view, info, permanent, shape))
}

/// Whether the sender is a mail system (`mailer-daemon@`, `postmaster@`, Exchange, a "Mail
/// Delivery" display name).
fn from_mta(view: &MailView) -> bool {
    let from_local = view
        .from_raw
        .as_deref()
        .and_then(|a| a.split('@').next())
        .unwrap_or_default()
        .to_lowercase();
    let from_name = view.from_name.as_deref().map(str::to_lowercase);
    MTA_SENDERS.contains(&from_local.as_str())
        || from_local.starts_with("microsoftexchange")
        || from_name
            .as_deref()
            .is_some_and(|n| n.contains("mail delivery") || n.contains("mailer-daemon"))
}

/// Whether the headers say a machine sent the message: a null Return-Path or an
/// Auto-Submitted header other than `no`.
fn machine_sent(view: &MailView) -> bool {
    let null_sender = view
        .header("Return-Path")
        .is_some_and(|v| v.trim().trim_matches(['<', '>']).trim().is_empty());
    let auto = view
        .header("Auto-Submitted")
        .is_some_and(|v| !v.trim().to_lowercase().starts_with("no"));
    null_sender || auto
}

/// Permanent (`Some(true)`), transient (`Some(false)`) or unknown, from the status code, else
/// from the wording of the normalised `body`, else from a Failed-Recipients header.
fn bounce_permanence(status: Option<&str>, body: &str, failed_header: bool) -> Option<bool> {
    match status {
        Some(s) if s.starts_with('5') || s.starts_with("smtp 5") => Some(true),
        Some(s) if s.starts_with('4') || s.starts_with("smtp 4") => Some(false),
        _ => {
            if TRANSIENT_PHRASES
                .iter()
                .any(|p| reply_text::contains_phrase(body, p))
                && !body.contains("permanent")
            {
                Some(false)
            } else if PERMANENT_PHRASES
                .iter()
                .any(|p| reply_text::contains_phrase(body, p))
                || failed_header
            {
                Some(true)
            } else {
                None
            }
        }
    }
}

/// A plain bounce as a [`Classification`]: a permanent one is a bounce, anything else a
/// delivery notice that records no outcome. `shape` says what made it a bounce.
fn plain_bounce_result(
    view: &MailView,
    info: BounceInfo,
    permanent: Option<bool>,
    shape: &str,
) -> Classification {
    let status = info.status.clone();
    match permanent {
        Some(true) => {
            let reason = format!(
                "permanent bounce {} ({shape}){}",
                status.as_deref().unwrap_or("(permanent wording)"),
                recipients_suffix(&info.recipients)
            );
            base(view, MailKind::Bounce(info), reason)
        }
        Some(false) => {
            let reason = format!(
                "transient delivery delay {} ({shape}): no outcome",
                status.as_deref().unwrap_or("(delay wording)")
            );
            base(view, MailKind::DeliveryNotice(info), reason)
        }
        None => base(
            view,
            MailKind::DeliveryNotice(info),
            format!("delivery notice without a failure code ({shape}): no outcome"),
        ),
    }
}

/// Addresses named in the failure part of a plain bounce, before any returned headers, minus the
/// bounce's own sender and recipients.
fn addresses_in_failure_text(body: &str, view: &MailView) -> Vec<EmailAddress> {
    let own: Vec<&str> = view
        .headers
        .iter()
        .filter(|(n, _)| {
            ["to", "from", "return-path", "delivered-to"]
                .iter()
                .any(|h| n.eq_ignore_ascii_case(h))
        })
        .map(|(_, v)| v.as_str())
        .collect();
    let mut out: Vec<EmailAddress> = Vec::new();
    for line in body.lines() {
        let lower = line.trim().to_lowercase();
        // Stop where the returned message starts.
        if lower.starts_with("received:")
            || lower.starts_with("return-path:")
            || lower.starts_with("message-id:")
            || lower.contains("original message")
            || lower.starts_with("------ this is a copy")
        {
            break;
        }
        for token in line.split(|c: char| {
            c.is_whitespace()
                || matches!(
                    c,
                    '<' | '>' | '(' | ')' | ',' | ';' | '"' | '\'' | '[' | ']'
                )
        }) {
            let token = token.trim_matches(|c: char| c == '.' || c == ':');
            if !token.contains('@') {
                continue;
            }
            let Ok(addr) = EmailAddress::parse(token) else {
                continue;
            };
            let s = addr.to_string();
            let local = s.split('@').next().unwrap_or_default();
            if MTA_SENDERS.contains(&local) || own.iter().any(|o| o.contains(&s)) {
                continue;
            }
            if !out.contains(&addr) {
                out.push(addr);
            }
        }
    }
    out
}

/// A `Message-ID:` line of a returned message quoted in a plain bounce.
fn returned_id_in_text(body: &str) -> Option<MessageId> {
    body.lines().find_map(|line| {
        let t = line.trim();
        let (name, value) = t.split_once(':')?;
        if name.trim().eq_ignore_ascii_case("message-id") {
            MessageId::parse(value.trim()).ok()
        } else {
            None
        }
    })
}

/// Rule 3: why a message is automatic, if it is.
fn automatic_reason(view: &MailView) -> Option<String> {
    if let Some(v) = view.header("Auto-Submitted") {
        let v = v.trim().to_lowercase();
        if !v.is_empty() && !v.starts_with("no") {
            return Some(format!("Auto-Submitted: {v} (RFC 3834)"));
        }
    }
    for h in [
        "X-Autoreply",
        "X-Autorespond",
        "X-Autoresponse",
        "X-Auto-Reply",
    ] {
        if view.header(h).is_some() {
            return Some(format!("{h} header"));
        }
    }
    if let Some(v) = view.header("Precedence") {
        let v = v.trim().to_lowercase();
        if ["bulk", "junk", "list", "auto_reply", "auto-reply"].contains(&v.as_str()) {
            return Some(format!("Precedence: {v}"));
        }
    }
    if view.header("List-Id").is_some() {
        return Some("mailing list (List-Id)".into());
    }
    if let Some(p) = reply_text::out_of_office_subject(&view.subject) {
        return Some(format!("out-of-office subject ({p:?})"));
    }
    // Some servers send a threaded out-of-office reply with no header saying so: a short new
    // text in out-of-office wording is enough, so it never counts as a human reply.
    let fresh = reply_text::new_text(&view.body);
    if fresh.chars().count() <= STOP_TEXT_LIMIT
        && let Some(p) = reply_text::out_of_office_body(&fresh)
    {
        return Some(format!("out-of-office text ({p:?})"));
    }
    let null_sender = view
        .header("Return-Path")
        .is_some_and(|v| v.trim().trim_matches(['<', '>']).trim().is_empty());
    if null_sender && let Some(p) = reply_text::out_of_office_body(&view.body) {
        return Some(format!("null Return-Path and out-of-office text ({p:?})"));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_does_not_panic() {
        for raw in [
            &b""[..],
            b"\n\n\n",
            b"From x\n",
            b"not a message at all",
            &[0xff; 64],
        ] {
            let _ = classify_raw(raw);
        }
        assert_eq!(classify_raw(b"").kind, MailKind::Unparsable);
    }

    #[test]
    fn status_codes() {
        assert_eq!(
            enhanced_status("smtp; 550 5.1.1 <a@b.c>: User unknown"),
            Some("5.1.1".into())
        );
        assert_eq!(
            enhanced_status("4.4.7 (delivery time expired)"),
            Some("4.4.7".into())
        );
        assert_eq!(enhanced_status("version 1.2.3.4 and 10.0.0.1"), None);
        assert_eq!(enhanced_status("5.1.10"), Some("5.1.10".into()));
        assert_eq!(
            smtp_reply_code("Remote host said: 554 delivery error"),
            Some("554")
        );
        assert_eq!(smtp_reply_code("call 5550 or 12345"), None);
    }
}
