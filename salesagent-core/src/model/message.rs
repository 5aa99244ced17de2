//! Mail messages, RFC Message-IDs and thread references.

use super::{EmailAddress, ProviderMessageId, ThreadId};
use crate::{Error, Result};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

/// An RFC 5322 Message-ID without the angle brackets (`id-left@id-right`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct MessageId(String);

impl MessageId {
    /// Parses `<left@right>` or `left@right`; rejects whitespace, control characters and
    /// anything over 995 octets.
    pub fn parse(input: &str) -> Result<Self> {
        let s = input.trim();
        let s = s
            .strip_prefix('<')
            .and_then(|r| r.strip_suffix('>'))
            .unwrap_or(s);
        let err = |reason: &str| Error::invalid("message_id", reason.to_owned());
        if s.is_empty() || s.len() > 995 {
            return Err(err("must be 1..=995 octets"));
        }
        if s.chars()
            .any(|c| c.is_control() || c.is_whitespace() || c == '<' || c == '>' || !c.is_ascii())
        {
            return Err(err(
                "must be printable ASCII without spaces or angle brackets",
            ));
        }
        let Some((left, right)) = s.split_once('@') else {
            return Err(err("needs an '@'"));
        };
        if left.is_empty() || right.is_empty() || right.contains('@') {
            return Err(err("must look like left@right"));
        }
        Ok(Self(s.to_owned()))
    }

    /// A new unique id on `domain`, from a random-enough UUID v7.
    #[must_use]
    pub fn generate(domain: &super::Domain) -> Self {
        Self(format!("{}@{}", uuid::Uuid::now_v7().simple(), domain))
    }

    /// Without brackets.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// With angle brackets, as it appears in a header.
    #[must_use]
    pub fn bracketed(&self) -> String {
        format!("<{}>", self.0)
    }
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for MessageId {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        Self::parse(&s)
    }
}

impl From<MessageId> for String {
    fn from(m: MessageId) -> Self {
        m.0
    }
}

/// Where a message sits in a conversation.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ThreadRef {
    /// Provider thread id (Gmail `threadId`).
    pub provider_thread_id: Option<ThreadId>,
    /// The Message-ID being replied to.
    pub in_reply_to: Option<MessageId>,
    /// The whole chain, oldest first.
    pub references: Vec<MessageId>,
}

impl ThreadRef {
    /// True when this continues an existing conversation.
    #[must_use]
    pub fn is_reply(&self) -> bool {
        self.in_reply_to.is_some() || self.provider_thread_id.is_some()
    }
}

/// A message read from a mailbox.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MailMessage {
    /// Provider's id.
    pub provider_id: ProviderMessageId,
    /// Provider's thread id.
    pub thread_id: Option<ThreadId>,
    /// RFC Message-ID, when present and valid.
    pub message_id: Option<MessageId>,
    /// In-Reply-To, when present and valid.
    pub in_reply_to: Option<MessageId>,
    /// References, when present.
    pub references: Vec<MessageId>,
    /// From address, when it parses.
    pub from: Option<EmailAddress>,
    /// To addresses that parse.
    pub to: Vec<EmailAddress>,
    /// Subject (decoded).
    pub subject: String,
    /// Date header or provider's internal date.
    pub date: Option<DateTime<Utc>>,
    /// Plain-text body (decoded; HTML converted to text when there is no text part).
    pub body_text: String,
    /// Every header, name and decoded value, in order.
    pub headers: Vec<(String, String)>,
    /// Provider labels (`SENT`, `INBOX`, …).
    pub labels: Vec<String>,
    /// The raw RFC 5322 bytes, when the provider gave them.
    pub raw: Option<Vec<u8>>,
}

impl MailMessage {
    /// The first header with this name (case-insensitive).
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether `address` is the sender or one of the To recipients (case-insensitive local part).
    #[must_use]
    pub fn is_between(&self, address: &EmailAddress) -> bool {
        self.from
            .iter()
            .chain(self.to.iter())
            .any(|a| a.same_mailbox(address))
    }
}

/// A mailbox search.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct MailQuery {
    /// Messages from or to this address.
    pub participant: Option<EmailAddress>,
    /// Only messages with this RFC Message-ID.
    pub message_id: Option<MessageId>,
    /// Only the sent folder.
    pub sent_only: bool,
    /// Free text.
    pub text: Option<String>,
    /// Only messages after this time.
    pub after: Option<DateTime<Utc>>,
    /// At most this many (the connector may cap it further).
    pub limit: u32,
}

impl MailQuery {
    /// Whether `message` passes this query: the participant is its sender or a To recipient,
    /// and [`matches_besides_participant`](Self::matches_besides_participant).
    ///
    /// `sent_only` and `limit` are not checked here: which folder a message comes from and how
    /// many are returned are the mailbox's to decide.
    #[must_use]
    pub fn matches(&self, message: &MailMessage) -> bool {
        self.participant
            .as_ref()
            .is_none_or(|p| message.is_between(p))
            && self.matches_besides_participant(message)
    }

    /// Whether `message` passes every filter of this query but the participant: the Message-ID
    /// is the one asked for, the free text is in the subject or body (case-insensitive), and the
    /// date is after `after` (a message without a date is not).
    #[must_use]
    pub fn matches_besides_participant(&self, message: &MailMessage) -> bool {
        if let Some(id) = &self.message_id
            && message.message_id.as_ref() != Some(id)
        {
            return false;
        }
        if let Some(text) = &self.text {
            let needle = text.to_lowercase();
            if !message.subject.to_lowercase().contains(&needle)
                && !message.body_text.to_lowercase().contains(&needle)
            {
                return false;
            }
        }
        if let Some(after) = self.after
            && message.date.is_none_or(|d| d <= after)
        {
            return false;
        }
        true
    }
}

/// A rendered message to send or store as a draft.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutgoingMessage {
    /// Its Message-ID (also inside `raw`).
    pub message_id: MessageId,
    /// Envelope sender.
    pub from: EmailAddress,
    /// Recipients.
    pub to: Vec<EmailAddress>,
    /// Provider thread to file it in.
    pub thread_id: Option<ThreadId>,
    /// The full RFC 5322 message.
    pub raw: Vec<u8>,
}

/// What the provider said after accepting a message or draft.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SentMessage {
    /// Provider's message (or draft) id.
    pub provider_id: ProviderMessageId,
    /// Provider's thread id.
    pub thread_id: Option<ThreadId>,
    /// The RFC Message-ID.
    pub message_id: MessageId,
}

/// New mailbox messages since a cursor.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct HistoryPage {
    /// Messages that arrived or were sent since the cursor, oldest first.
    pub messages: Vec<MailMessage>,
    /// The cursor to pass next time.
    pub next_cursor: Option<String>,
}

/// A page of the sent folder, for voice learning.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct MessagePage {
    /// Messages in this page.
    pub messages: Vec<MailMessage>,
    /// Token for the next page, if any.
    pub next_page: Option<String>,
}

/// Direction of a stored message record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageDirection {
    /// We sent it.
    Outbound,
    /// We received it.
    Inbound,
}

/// A message we sent or received, as stored for threading and outcome detection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageRecord {
    /// RFC Message-ID.
    pub message_id: MessageId,
    /// Direction.
    pub direction: MessageDirection,
    /// The contact on the other side.
    pub contact_email: EmailAddress,
    /// Our draft, for outbound messages.
    pub draft_id: Option<super::DraftId>,
    /// Thread.
    pub thread: ThreadRef,
    /// Subject.
    pub subject: String,
    /// Body text (encrypted at rest by SQL stores).
    pub body: String,
    /// When sent or received.
    pub at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_ids() {
        let m = MessageId::parse("<abc.123@mail.example.com>").unwrap();
        assert_eq!(m.as_str(), "abc.123@mail.example.com");
        assert_eq!(m.bracketed(), "<abc.123@mail.example.com>");
        for bad in ["", "<>", "no-at", "a b@c", "a@b\r\nBcc: x", "a@b@c"] {
            assert!(MessageId::parse(bad).is_err(), "{bad:?}");
        }
        let d = super::super::Domain::parse("salesagent.dev").unwrap();
        let g = MessageId::generate(&d);
        assert!(MessageId::parse(g.as_str()).is_ok());
        assert_ne!(g, MessageId::generate(&d));
    }
}
