//! Rendering a [`Draft`] into an RFC 5322 message with `mail-builder`.
//!
//! Header injection is impossible by construction: addresses and Message-IDs are typed values
//! that cannot hold CR/LF, and every free-text value (display names, subject, unsubscribe URL)
//! is checked for control characters here, before it reaches the builder. The builder then
//! encodes non-ASCII text (RFC 2047), folds headers and picks a body transfer encoding that
//! keeps every line within the RFC 5322 limits.

/// Kept here for callers of `sending::mime::escape_html`; it lives in [`crate::encoding`].
pub use crate::encoding::escape_html;

use super::unsubscribe::{ONE_CLICK_BODY, OneClick};
use crate::model::{Domain, Draft, EmailAddress, MessageId, OutgoingMessage, validate_subject};
use crate::{Error, Result};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use mail_builder::MessageBuilder;
use mail_builder::headers::message_id::MessageId as MimeMessageId;
use mail_builder::headers::raw::Raw;
use mail_builder::headers::url::URL;

/// Longest display name we accept, in bytes.
pub const MAX_DISPLAY_NAME_LEN: usize = 256;
/// Longest unsubscribe URL we accept, in bytes.
pub const MAX_URL_LEN: usize = 512;
/// Placeholder in an unsubscribe URL template replaced by the draft id.
pub const DRAFT_ID_PLACEHOLDER: &str = "{draft_id}";

/// Where recipients can unsubscribe (`List-Unsubscribe`, RFC 2369 / RFC 8058).
///
/// Every rendered message carries a `List-Unsubscribe` header: a `mailto:` URI (the configured
/// [`mailto`](Unsubscribe::mailto), else the draft's sender, with `subject=unsubscribe`) and,
/// when one is configured, one `https` URI with `List-Unsubscribe-Post:
/// List-Unsubscribe=One-Click`. The `https` URI is the [`https`](Unsubscribe::https) template
/// when set, else the [`one_click`](Unsubscribe::one_click) link on our own host.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Unsubscribe {
    /// A mailbox that handles unsubscribe requests (`mailto:` with `subject=unsubscribe`);
    /// `None` means the draft's sender.
    pub mailto: Option<EmailAddress>,
    /// An `https` URL template for one-click unsubscribe; `{draft_id}` is replaced per message.
    pub https: Option<String>,
    /// One-click links served by our own host (`{public_url}/unsubscribe/{token}`, see
    /// [`super::unsubscribe`]); used when no [`https`](Unsubscribe::https) template is set.
    pub one_click: Option<OneClick>,
}

impl Unsubscribe {
    /// Checks the https template: `https://`, printable ASCII, no spaces or angle brackets.
    pub fn validate(&self) -> Result<()> {
        if let Some(url) = &self.https {
            let err = |reason: &str| Error::invalid("unsubscribe_url", reason.to_owned());
            if !url.starts_with("https://") || url.len() <= "https://".len() {
                return Err(err("must be an https:// URL (RFC 8058)"));
            }
            if url.len() > MAX_URL_LEN {
                return Err(err("is too long"));
            }
            if url
                .chars()
                .any(|c| !c.is_ascii_graphic() || matches!(c, '<' | '>' | '"' | ','))
            {
                return Err(err(
                    "must be printable ASCII without spaces, quotes, commas or angle brackets",
                ));
            }
        }
        Ok(())
    }

    /// True when messages carry an `https` one-click URI (and `List-Unsubscribe-Post`).
    #[must_use]
    pub fn has_one_click(&self) -> bool {
        self.https.is_some() || self.one_click.is_some()
    }

    /// The `List-Unsubscribe` URIs for one draft: the `mailto:` URI first, then the `https`
    /// one when configured. Never empty.
    #[must_use]
    pub fn uris(&self, draft: &Draft) -> Vec<String> {
        let mut out = Vec::with_capacity(2);
        out.push(mailto_uri(self.mailto.as_ref().unwrap_or(&draft.sender)));
        if let Some(u) = &self.https {
            out.push(u.replace(DRAFT_ID_PLACEHOLDER, &draft.id.to_string()));
        } else if let Some(link) = &self.one_click {
            out.push(link.url(draft));
        }
        out
    }
}

/// `mailto:{address}?subject=unsubscribe`, with the characters RFC 6068 does not allow in an
/// address percent-encoded (`%`, `?`, `&`, `=`, `#`, `/`, `{`, ...).
#[must_use]
pub fn mailto_uri(address: &EmailAddress) -> String {
    let text = address.to_string();
    let mut out = String::with_capacity(text.len() + 28);
    out.push_str("mailto:");
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~!$'()*+,;:@".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out.push_str("?subject=unsubscribe");
    out
}

/// Settings that are the same for every rendered message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MimeOptions {
    /// Our own domain, the right-hand side of every generated Message-ID.
    pub message_id_domain: Domain,
    /// The sender's display name (`From: "Name" <addr>`), if any.
    pub sender_name: Option<String>,
    /// Unsubscribe addresses.
    pub unsubscribe: Unsubscribe,
}

impl MimeOptions {
    /// Options with Message-IDs on `domain`, no display name, and a `mailto:` unsubscribe to the
    /// draft's sender.
    #[must_use]
    pub fn new(domain: Domain) -> Self {
        Self {
            message_id_domain: domain,
            sender_name: None,
            unsubscribe: Unsubscribe::default(),
        }
    }

    /// A fresh Message-ID on our own domain.
    #[must_use]
    pub fn new_message_id(&self) -> MessageId {
        MessageId::generate(&self.message_id_domain)
    }

    /// Checks the options once (display name and unsubscribe URL).
    pub fn validate(&self) -> Result<()> {
        if let Some(n) = &self.sender_name {
            check_display_name("sender_name", n)?;
        }
        self.unsubscribe.validate()
    }
}

/// Checks a display name: one line, no control characters, at most [`MAX_DISPLAY_NAME_LEN`] bytes.
pub fn check_display_name(field: &str, name: &str) -> Result<()> {
    if name.chars().any(char::is_control) {
        return Err(Error::invalid(
            field,
            "contains control characters (CR, LF, ...)",
        ));
    }
    if name.len() > MAX_DISPLAY_NAME_LEN {
        return Err(Error::invalid(field, "is too long"));
    }
    Ok(())
}

/// The HTML alternative of a plain-text body: escaped, paragraphs on blank lines, `<br>` inside.
#[must_use]
pub fn html_from_text(text: &str) -> String {
    let normalized = text.replace("\r\n", "\n").replace('\r', "\n");
    let mut html =
        String::from("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"></head><body>\n");
    for para in normalized
        .split("\n\n")
        .map(|p| p.trim_matches('\n'))
        .filter(|p| !p.trim().is_empty())
    {
        html.push_str("<p>");
        let lines: Vec<String> = para.lines().map(escape_html).collect();
        html.push_str(&lines.join("<br>\n"));
        html.push_str("</p>\n");
    }
    html.push_str("</body></html>\n");
    html
}

/// Whether plain ASCII `text` contains something a reader would decode as an RFC 2047
/// encoded-word (`=?charset?enc?data?=`), so it must be encoded to survive unchanged.
fn looks_encoded(text: &str) -> bool {
    text.find("=?")
        .is_some_and(|i| text[i + 2..].contains("?="))
}

/// `text` as RFC 2047 "B" encoded-words of at most 64 characters each, split on character
/// boundaries and separated by spaces (where the header may fold).
///
/// Only for ASCII text that [`looks_encoded`]: `mail-builder` encodes everything else itself,
/// but writes ASCII as it is and has no way to ask it to encode (a reader would then decode the
/// look-alike).
fn encoded_words(text: &str) -> String {
    const MAX_CHUNK: usize = 39; // 39 bytes -> 52 base64 chars + 12 of framing
    let mut words = Vec::new();
    let mut start = 0;
    while start < text.len() {
        let mut end = (start + MAX_CHUNK).min(text.len());
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        words.push(format!(
            "=?utf-8?B?{}?=",
            STANDARD.encode(&text.as_bytes()[start..end])
        ));
        start = end;
    }
    words.join(" ")
}

fn some_nonempty(s: Option<&str>) -> Option<&str> {
    s.map(str::trim).filter(|s| !s.is_empty())
}

/// Renders `draft` as an RFC 5322 message with `message_id` and a `Date` of `at`.
///
/// The recipient is `draft.contact_email` (named `draft.contact_name`), the sender
/// `draft.sender` (named `options.sender_name`). When the draft continues a thread, the message
/// carries `In-Reply-To` and `References` and the provider thread id goes into
/// [`OutgoingMessage::thread_id`].
///
/// # Errors
/// [`Error::InvalidInput`] when a display name, the subject, the body or the unsubscribe URL is
/// unsafe (control characters in a header value, empty or over-long text).
pub fn render(
    draft: &Draft,
    message_id: &MessageId,
    at: DateTime<Utc>,
    options: &MimeOptions,
) -> Result<OutgoingMessage> {
    options.validate()?;
    validate_subject(&draft.subject)?;
    crate::model::validate_body(&draft.body)?;
    if let Some(n) = &draft.contact_name {
        check_display_name("contact_name", n)?;
    }

    let mut builder = address_headers(MessageBuilder::new(), draft, options);
    builder = builder
        .date(at.timestamp())
        .message_id(message_id.as_str().to_owned());
    builder = thread_headers(builder, draft);
    builder = unsubscribe_headers(builder, draft, options);

    let text = draft.body.replace("\r\n", "\n").replace('\r', "\n");
    let html = html_from_text(&text).replace('\n', "\r\n");
    let text = text.replace('\n', "\r\n");
    let raw = builder
        .text_body(text)
        .html_body(html)
        .write_to_vec()
        .map_err(|e| Error::backend(format!("rendering MIME: {e}")))?;

    Ok(OutgoingMessage {
        message_id: message_id.clone(),
        from: draft.sender.clone(),
        to: vec![draft.contact_email.clone()],
        thread_id: draft.thread.provider_thread_id.clone(),
        raw,
    })
}

/// `From`, `To` and `Subject`: display names and subject encoded by the builder, except ASCII
/// text that [`looks_encoded`], which is encoded here so a reader does not decode it.
fn address_headers<'x>(
    mut builder: MessageBuilder<'x>,
    draft: &Draft,
    options: &MimeOptions,
) -> MessageBuilder<'x> {
    let from = draft.sender.to_string();
    let to = draft.contact_email.to_string();
    builder = match some_nonempty(options.sender_name.as_deref()) {
        Some(name) if looks_encoded(name) => builder.header(
            "From",
            Raw::new(format!("{} <{from}>", encoded_words(name))),
        ),
        Some(name) => builder.from((name.to_owned(), from)),
        None => builder.from(from),
    };
    builder = match some_nonempty(draft.contact_name.as_deref()) {
        Some(name) if looks_encoded(name) => {
            builder.header("To", Raw::new(format!("{} <{to}>", encoded_words(name))))
        }
        Some(name) => builder.to((name.to_owned(), to)),
        None => builder.to(to),
    };
    let subject = draft.subject.trim();
    if looks_encoded(subject) {
        // Encode it ourselves so a literal "=?...?=" is not decoded by the reader.
        builder.header("Subject", Raw::new(encoded_words(subject)))
    } else {
        builder.subject(subject.to_owned())
    }
}

/// `In-Reply-To` and `References` when the draft continues a thread (the parent last in
/// `References`).
fn thread_headers<'x>(mut builder: MessageBuilder<'x>, draft: &Draft) -> MessageBuilder<'x> {
    let thread = &draft.thread;
    if let Some(parent) = &thread.in_reply_to {
        builder = builder.in_reply_to(parent.as_str().to_owned());
    }
    let mut references: Vec<String> = thread
        .references
        .iter()
        .map(|m| m.as_str().to_owned())
        .collect();
    if let Some(parent) = &thread.in_reply_to
        && references.last().map(String::as_str) != Some(parent.as_str())
    {
        references.push(parent.as_str().to_owned());
    }
    if !references.is_empty() {
        builder = builder.references(MimeMessageId::new_list(references.into_iter()));
    }
    builder
}

/// `List-Unsubscribe`, and `List-Unsubscribe-Post` when a one-click URI is offered.
fn unsubscribe_headers<'x>(
    mut builder: MessageBuilder<'x>,
    draft: &Draft,
    options: &MimeOptions,
) -> MessageBuilder<'x> {
    let uris = options.unsubscribe.uris(draft);
    builder = builder.header("List-Unsubscribe", URL::new_list(uris.into_iter()));
    if options.unsubscribe.has_one_click() {
        builder = builder.header("List-Unsubscribe-Post", Raw::new(ONE_CLICK_BODY));
    }
    builder
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoded_words_for_look_alikes() {
        assert!(looks_encoded("a =?utf-8?Q?x?= b"));
        assert!(!looks_encoded("is 2+2 =? 4"));
        let w = encoded_words(&"ä".repeat(40));
        assert!(
            w.split(' ')
                .all(|x| x.len() <= 75 && x.starts_with("=?utf-8?B?"))
        );
        assert_eq!(encoded_words("=?x?="), "=?utf-8?B?PT94Pz0=?=");
    }

    #[test]
    fn html_is_escaped_and_paragraphed() {
        let html = html_from_text("Hi <b>Bob</b> & co,\nline two\n\nBye \"x\"");
        assert!(html.contains("<p>Hi &lt;b&gt;Bob&lt;/b&gt; &amp; co,<br>\nline two</p>"));
        assert!(html.contains("<p>Bye &quot;x&quot;</p>"));
        assert!(!html.contains("<b>"));
    }

    #[test]
    fn unsubscribe_urls_are_checked() {
        let ok = Unsubscribe {
            https: Some("https://example.com/u/{draft_id}".into()),
            ..Unsubscribe::default()
        };
        assert!(ok.validate().is_ok());
        for bad in [
            "http://example.com/u",
            "https://",
            "https://example.com/u\r\nBcc: x@y.z",
            "https://example.com/a b",
            "https://example.com/<x>",
        ] {
            let u = Unsubscribe {
                https: Some(bad.into()),
                ..Unsubscribe::default()
            };
            assert!(u.validate().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn mailto_uris_escape_what_rfc_6068_does_not_allow() {
        let plain = EmailAddress::parse("sam@seller.dev").unwrap();
        assert_eq!(
            mailto_uri(&plain),
            "mailto:sam@seller.dev?subject=unsubscribe"
        );
        let odd = EmailAddress::parse("a?b&c=d%e#f/g{h}@seller.dev").unwrap();
        assert_eq!(
            mailto_uri(&odd),
            "mailto:a%3Fb%26c%3Dd%25e%23f%2Fg%7Bh%7D@seller.dev?subject=unsubscribe"
        );
    }

    #[test]
    fn display_names_reject_control_characters() {
        assert!(check_display_name("n", "Eve\r\nBcc: x@y.z").is_err());
        assert!(check_display_name("n", "Eve\u{0}").is_err());
        assert!(check_display_name("n", "Zoë \"Boss\" <ceo@evil.com>").is_ok());
        assert!(check_display_name("n", &"x".repeat(MAX_DISPLAY_NAME_LEN + 1)).is_err());
    }
}
