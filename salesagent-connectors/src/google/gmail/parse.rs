//! Inbound mail parsed with `mail-parser` into the core [`MailMessage`]. Never panics and never
//! fails: whatever does not parse is left out, and the raw bytes are kept.

use chrono::{DateTime, TimeZone, Utc};
use mail_parser::{Address, HeaderValue, MessageParser};
use salesagent_core::model::{EmailAddress, MailMessage, MessageId, ProviderMessageId, ThreadId};

/// Longest body text kept, in bytes.
pub const MAX_BODY_TEXT: usize = 256 * 1024;

fn addresses(a: Option<&Address<'_>>) -> Vec<EmailAddress> {
    a.map(|a| {
        a.iter()
            .filter_map(|x| x.address())
            .filter_map(|s| EmailAddress::parse(s).ok())
            .collect()
    })
    .unwrap_or_default()
}

fn render(v: &HeaderValue<'_>) -> Option<String> {
    match v {
        HeaderValue::Text(t) => Some(t.to_string()),
        HeaderValue::TextList(l) => Some(l.join(" ")),
        HeaderValue::Address(a) => Some(
            a.iter()
                .map(|x| match (x.name(), x.address()) {
                    (Some(n), Some(e)) => format!("{n} <{e}>"),
                    (None, Some(e)) => e.to_owned(),
                    (Some(n), None) => n.to_owned(),
                    (None, None) => String::new(),
                })
                .collect::<Vec<_>>()
                .join(", "),
        ),
        HeaderValue::DateTime(d) => Some(d.to_rfc3339()),
        _ => None,
    }
}

fn ids(v: &HeaderValue<'_>) -> Vec<MessageId> {
    match v {
        HeaderValue::Text(t) => MessageId::parse(t).ok().into_iter().collect(),
        HeaderValue::TextList(l) => l.iter().filter_map(|t| MessageId::parse(t).ok()).collect(),
        _ => Vec::new(),
    }
}

/// Parses raw RFC 5322 bytes. `internal_date_ms` (Gmail's `internalDate`) is used when the
/// `Date` header is missing or bad.
#[must_use]
pub fn parse_mail(
    raw: &[u8],
    provider_id: ProviderMessageId,
    thread_id: Option<ThreadId>,
    labels: Vec<String>,
    internal_date_ms: Option<i64>,
) -> MailMessage {
    let fallback_date = internal_date_ms.and_then(|ms| Utc.timestamp_millis_opt(ms).single());
    let mut out = MailMessage {
        provider_id,
        thread_id,
        message_id: None,
        in_reply_to: None,
        references: Vec::new(),
        from: None,
        to: Vec::new(),
        subject: String::new(),
        date: fallback_date,
        body_text: String::new(),
        headers: Vec::new(),
        labels,
        raw: Some(raw.to_vec()),
    };
    let Some(msg) = MessageParser::default().parse(raw) else {
        return out;
    };
    out.message_id = msg.message_id().and_then(|m| MessageId::parse(m).ok());
    out.in_reply_to = ids(msg.in_reply_to()).into_iter().next();
    out.references = ids(msg.references());
    out.from = addresses(msg.from()).into_iter().next();
    out.to = addresses(msg.to());
    out.subject = msg.subject().unwrap_or_default().to_owned();
    if let Some(d) = msg.date() {
        let parsed = DateTime::parse_from_rfc3339(&d.to_rfc3339())
            .ok()
            .map(|d| d.with_timezone(&Utc));
        if parsed.is_some() {
            out.date = parsed;
        }
    }
    let mut body = msg
        .body_text(0)
        .map(std::borrow::Cow::into_owned)
        .unwrap_or_default();
    salesagent_core::model::truncate_on_char_boundary(&mut body, MAX_BODY_TEXT);
    out.body_text = body;
    let raw_text = msg.raw_message();
    out.headers = msg
        .headers()
        .iter()
        .map(|h| {
            let value = render(h.value()).unwrap_or_else(|| {
                let start = usize::try_from(h.offset_start()).unwrap_or(0);
                let end = usize::try_from(h.offset_end()).unwrap_or(0);
                raw_text
                    .get(start..end.max(start))
                    .map(|b| {
                        String::from_utf8_lossy(b)
                            .split_whitespace()
                            .collect::<Vec<_>>()
                            .join(" ")
                    })
                    .unwrap_or_default()
            });
            (h.name().to_owned(), value)
        })
        .collect();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_a_reply() {
        let raw = b"From: Ann Lee <ann@acme.io>\r\nTo: me@seller.io, bad address\r\nSubject: =?UTF-8?Q?Re:_Gr=C3=BC=C3=9Fe?=\r\nDate: Tue, 24 Nov 2026 10:00:00 +0100\r\nMessage-ID: <r1@acme.io>\r\nIn-Reply-To: <m1@seller.io>\r\nReferences: <m0@seller.io> <m1@seller.io>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nYes, let's talk.\r\n";
        let m = parse_mail(
            raw,
            "g1".into(),
            Some("t1".into()),
            vec!["INBOX".into()],
            None,
        );
        assert_eq!(m.subject, "Re: Grüße");
        assert_eq!(m.from.as_ref().unwrap().to_string(), "ann@acme.io");
        assert_eq!(m.to.len(), 1);
        assert_eq!(m.message_id.as_ref().unwrap().as_str(), "r1@acme.io");
        assert_eq!(m.in_reply_to.as_ref().unwrap().as_str(), "m1@seller.io");
        assert_eq!(m.references.len(), 2);
        assert_eq!(m.date.unwrap().to_rfc3339(), "2026-11-24T09:00:00+00:00");
        assert!(m.body_text.contains("let's talk"));
        assert_eq!(m.header("subject"), Some("Re: Grüße"));
    }

    #[test]
    fn html_only_becomes_text_and_garbage_survives() {
        let raw = b"From: a@b.io\r\nContent-Type: text/html\r\n\r\n<p>Hello <b>there</b></p>";
        let m = parse_mail(raw, "g".into(), None, vec![], Some(0));
        assert!(m.body_text.contains("Hello"), "{}", m.body_text);
        assert!(!m.body_text.contains("<b>"));
        let m = parse_mail(b"", "g".into(), None, vec![], Some(1_700_000_000_000));
        assert!(m.date.is_some());
    }

    proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse_mail(&bytes, "x".into(), None, vec![], None);
        }
    }
}
