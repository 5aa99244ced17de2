//! An in-memory mailbox.

use super::{ManualClock, lock};
use crate::model::{
    EmailAddress, HistoryPage, MailMessage, MailQuery, MessageId, MessagePage, OutgoingMessage,
    ProviderMessageId, SentMessage, ThreadId,
};
use crate::ports::{DynClock, Mailbox};
use crate::{Error, Result};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Label of sent messages, as Gmail names it.
const SENT: &str = "SENT";
/// Label of received messages.
const INBOX: &str = "INBOX";

#[derive(Debug, Default)]
struct MailboxState {
    next_id: u64,
    /// Every message in arrival order; the history cursor is an index into it.
    messages: Vec<MailMessage>,
    sent: Vec<OutgoingMessage>,
    drafts: Vec<OutgoingMessage>,
    /// Mailbox drafts not sent yet, by draft id.
    open_drafts: BTreeMap<String, OutgoingMessage>,
    /// When each message (by index in `messages`) becomes findable by `search` and `find_sent`.
    findable_from: BTreeMap<usize, DateTime<Utc>>,
    /// (operation prefix, count): calls that succeed but answer with a timeout.
    lost_acks: Vec<(String, usize)>,
}

impl MailboxState {
    fn id(&mut self, prefix: &str) -> String {
        self.next_id += 1;
        format!("{prefix}-{}", self.next_id)
    }

    /// The thread of the message with this Message-ID, if we have it.
    fn thread_of(&self, id: &MessageId) -> Option<ThreadId> {
        self.messages
            .iter()
            .find(|m| m.message_id.as_ref() == Some(id))
            .and_then(|m| m.thread_id.clone())
    }

    fn findable(&self, index: usize, now: DateTime<Utc>) -> bool {
        self.findable_from.get(&index).is_none_or(|at| now >= *at)
    }

    /// True (and counted) when this call's answer is to be lost.
    fn lose_ack(&mut self, op: &str) -> bool {
        if let Some(slot) = self
            .lost_acks
            .iter_mut()
            .find(|(p, n)| *n > 0 && op.starts_with(p.as_str()))
        {
            slot.1 -= 1;
            return true;
        }
        false
    }
}

/// An in-memory [`Mailbox`] that records what was sent and drafted, and lets tests deliver mail.
///
/// Sending a Message-ID that was already sent returns the first result without delivering again.
/// Mailbox drafts behave like Gmail's: every `create_draft` makes a new draft, and
/// `send_draft` of a draft that was already sent (or never existed) is `NotFound`, so one draft
/// is delivered at most once. Sent messages are parsed (subject, body, In-Reply-To, References)
/// and show up in `search`, `get_thread`, `history` and `sent_messages` like real ones; with
/// `with_search_lag` (feature `testing`) they become findable by `search` and `find_sent` only
/// that long after they were sent (Gmail's search is not documented as read-after-write
/// consistent).
#[derive(Debug)]
pub struct FakeMailbox {
    state: Mutex<MailboxState>,
    clock: DynClock,
    search_lag: Duration,
}

impl Default for FakeMailbox {
    fn default() -> Self {
        Self::new()
    }
}

impl FakeMailbox {
    /// An empty mailbox on a default [`ManualClock`].
    #[must_use]
    pub fn new() -> Self {
        Self {
            state: Mutex::default(),
            clock: Arc::new(ManualClock::default()),
            search_lag: Duration::ZERO,
        }
    }

    /// Sent messages become findable by `search` and `find_sent` only `lag` after they were sent
    /// (by the mailbox's clock).
    #[must_use]
    #[cfg(feature = "testing")]
    pub fn with_search_lag(mut self, lag: Duration) -> Self {
        self.search_lag = lag;
        self
    }

    /// The search-lag bound this mailbox was given.
    #[must_use]
    #[cfg(feature = "testing")]
    pub fn search_lag(&self) -> Duration {
        self.search_lag
    }

    /// The next `n` calls of operations starting with `op` (e.g. `mailbox.send_draft`) do their
    /// work and then answer with a timeout, as when the provider's acknowledgement is lost.
    #[cfg(feature = "testing")]
    pub fn lose_acks(&self, op: &str, n: usize) {
        lock(&self.state).lost_acks.push((op.to_owned(), n));
    }

    /// Records `message` as sent now (findable after the search lag) and returns its ids.
    fn deliver_sent(&self, s: &mut MailboxState, message: &OutgoingMessage) -> SentMessage {
        let now = self.clock.now();
        let provider_id = ProviderMessageId::new(s.id("msg"));
        let mut record = sent_record(message, provider_id.clone(), ThreadId::new(""), now);
        let thread_id = message
            .thread_id
            .clone()
            .or_else(|| record.in_reply_to.as_ref().and_then(|id| s.thread_of(id)))
            .unwrap_or_else(|| ThreadId::new(s.id("thread")));
        record.thread_id = Some(thread_id.clone());
        if !self.search_lag.is_zero() {
            let lag =
                chrono::TimeDelta::from_std(self.search_lag).unwrap_or(chrono::TimeDelta::MAX);
            let at = now
                .checked_add_signed(lag)
                .unwrap_or(DateTime::<Utc>::MAX_UTC);
            s.findable_from.insert(s.messages.len(), at);
        }
        s.messages.push(record);
        s.sent.push(message.clone());
        SentMessage {
            provider_id,
            thread_id: Some(thread_id),
            message_id: message.message_id.clone(),
        }
    }

    /// Mailbox drafts that have not been sent.
    #[must_use]
    pub fn open_drafts(&self) -> Vec<OutgoingMessage> {
        lock(&self.state).open_drafts.values().cloned().collect()
    }

    /// Dates sent messages with `clock`.
    #[must_use]
    pub fn with_clock(mut self, clock: DynClock) -> Self {
        self.clock = clock;
        self
    }

    /// Adds a message as if it arrived (or was found in the mailbox); it appears in `history`.
    /// An empty `provider_id` gets one assigned; a missing thread id is derived from
    /// In-Reply-To when that message is known, or a new thread is started. Returns it as stored.
    pub fn deliver(&self, mut message: MailMessage) -> MailMessage {
        let mut s = lock(&self.state);
        if message.provider_id.as_str().is_empty() {
            message.provider_id = ProviderMessageId::new(s.id("msg"));
        }
        if message.thread_id.is_none() {
            message.thread_id = message
                .in_reply_to
                .as_ref()
                .and_then(|id| s.thread_of(id))
                .or_else(|| Some(ThreadId::new(s.id("thread"))));
        }
        s.messages.push(message.clone());
        message
    }

    /// Delivers a plain inbound message from `from` to `to`; a reply when `in_reply_to` is given.
    pub fn receive(
        &self,
        from: &EmailAddress,
        to: &EmailAddress,
        subject: &str,
        body: &str,
        in_reply_to: Option<&MessageId>,
    ) -> MailMessage {
        let mut headers = vec![
            ("From".to_owned(), from.to_string()),
            ("To".to_owned(), to.to_string()),
            ("Subject".to_owned(), subject.to_owned()),
        ];
        let n = {
            let mut s = lock(&self.state);
            s.next_id += 1;
            s.next_id
        };
        let message_id = MessageId::parse(&format!("fake-{n}@{}", from.domain()))
            .unwrap_or_else(|_| MessageId::generate(from.domain()));
        headers.push(("Message-ID".to_owned(), message_id.bracketed()));
        if let Some(r) = in_reply_to {
            headers.push(("In-Reply-To".to_owned(), r.bracketed()));
        }
        self.deliver(MailMessage {
            provider_id: ProviderMessageId::new(""),
            thread_id: None,
            message_id: Some(message_id),
            in_reply_to: in_reply_to.cloned(),
            references: in_reply_to.into_iter().cloned().collect(),
            from: Some(from.clone()),
            to: vec![to.clone()],
            subject: subject.to_owned(),
            date: Some(self.clock.now()),
            body_text: body.to_owned(),
            headers,
            labels: vec![INBOX.to_owned()],
            raw: None,
        })
    }

    /// Every message sent through the port, in order (duplicates by Message-ID excluded).
    #[must_use]
    pub fn sent(&self) -> Vec<OutgoingMessage> {
        lock(&self.state).sent.clone()
    }

    /// Every mailbox draft created through the port, in order.
    #[must_use]
    pub fn drafts(&self) -> Vec<OutgoingMessage> {
        lock(&self.state).drafts.clone()
    }

    /// Every message in the mailbox (delivered and sent), in arrival order.
    #[must_use]
    pub fn messages(&self) -> Vec<MailMessage> {
        lock(&self.state).messages.clone()
    }
}

fn parse_ids(text: &str) -> Vec<MessageId> {
    text.split_whitespace()
        .filter_map(|t| MessageId::parse(t).ok())
        .collect()
}

/// What a mailbox stores for a message we sent.
fn sent_record(
    message: &OutgoingMessage,
    provider_id: ProviderMessageId,
    thread_id: ThreadId,
    at: DateTime<Utc>,
) -> MailMessage {
    let parsed = mail_parser::MessageParser::default().parse(&message.raw);
    let headers: Vec<(String, String)> = parsed
        .as_ref()
        .map(|p| {
            p.headers_raw()
                .map(|(n, v)| (n.to_owned(), v.trim().replace("\r\n", "")))
                .collect()
        })
        .unwrap_or_default();
    let header = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    let subject = parsed
        .as_ref()
        .and_then(|p| p.subject().map(str::to_owned))
        .unwrap_or_default();
    let body_text = parsed
        .as_ref()
        .and_then(|p| p.body_text(0).map(std::borrow::Cow::into_owned))
        .unwrap_or_default();
    MailMessage {
        provider_id,
        thread_id: Some(thread_id),
        message_id: Some(message.message_id.clone()),
        in_reply_to: header("In-Reply-To").and_then(|v| parse_ids(&v).into_iter().next()),
        references: header("References")
            .map(|v| parse_ids(&v))
            .unwrap_or_default(),
        from: Some(message.from.clone()),
        to: message.to.clone(),
        subject,
        date: Some(at),
        body_text,
        headers,
        labels: vec![SENT.to_owned()],
        raw: Some(message.raw.clone()),
    }
}

/// The query's own check, plus `sent_only` by the `SENT` label (one list holds every folder).
fn matches(m: &MailMessage, q: &MailQuery) -> bool {
    q.matches(m) && (!q.sent_only || m.labels.iter().any(|l| l == SENT))
}

fn parse_cursor(cursor: &str) -> Result<usize> {
    cursor
        .parse()
        .map_err(|_| Error::invalid("cursor", "is not a cursor this mailbox issued"))
}

#[async_trait]
impl Mailbox for FakeMailbox {
    async fn search(&self, query: &MailQuery) -> Result<Vec<MailMessage>> {
        let now = self.clock.now();
        let s = lock(&self.state);
        // Arrival order breaks ties between equal dates: later arrivals count as newer.
        let mut found: Vec<(usize, &MailMessage)> = s
            .messages
            .iter()
            .enumerate()
            .filter(|(i, m)| s.findable(*i, now) && matches(m, query))
            .collect();
        found.sort_by_key(|m| std::cmp::Reverse((m.1.date, m.0)));
        let limit = if query.limit == 0 {
            usize::MAX
        } else {
            query.limit as usize
        };
        Ok(found
            .into_iter()
            .take(limit)
            .map(|(_, m)| m.clone())
            .collect())
    }

    async fn get_thread(&self, thread: &ThreadId) -> Result<Vec<MailMessage>> {
        let s = lock(&self.state);
        let mut found: Vec<(usize, &MailMessage)> = s
            .messages
            .iter()
            .enumerate()
            .filter(|(_, m)| m.thread_id.as_ref() == Some(thread))
            .collect();
        if found.is_empty() {
            return Err(Error::not_found(format!("thread {thread}")));
        }
        found.sort_by_key(|m| (m.1.date, m.0));
        Ok(found.into_iter().map(|(_, m)| m.clone()).collect())
    }

    async fn send(&self, message: &OutgoingMessage) -> Result<SentMessage> {
        if message.to.is_empty() {
            return Err(Error::invalid("to", "needs at least one recipient"));
        }
        let mut s = lock(&self.state);
        if let Some(m) = s.messages.iter().find(|m| {
            m.message_id.as_ref() == Some(&message.message_id) && m.labels.iter().any(|l| l == SENT)
        }) {
            return Ok(SentMessage {
                provider_id: m.provider_id.clone(),
                thread_id: m.thread_id.clone(),
                message_id: message.message_id.clone(),
            });
        }
        let sent = self.deliver_sent(&mut s, message);
        if s.lose_ack("mailbox.send") {
            return Err(Error::timeout("mailbox.send (acknowledgement lost)"));
        }
        Ok(sent)
    }

    async fn send_draft(&self, draft: &SentMessage) -> Result<SentMessage> {
        let mut s = lock(&self.state);
        let Some(message) = s.open_drafts.remove(draft.provider_id.as_str()) else {
            return Err(Error::not_found(format!(
                "mailbox draft {}",
                draft.provider_id.as_str()
            )));
        };
        let sent = self.deliver_sent(&mut s, &message);
        if s.lose_ack("mailbox.send_draft") {
            return Err(Error::timeout("mailbox.send_draft (acknowledgement lost)"));
        }
        Ok(sent)
    }

    async fn create_draft(&self, message: &OutgoingMessage) -> Result<SentMessage> {
        if message.to.is_empty() {
            return Err(Error::invalid("to", "needs at least one recipient"));
        }
        let mut s = lock(&self.state);
        let provider_id = ProviderMessageId::new(s.id("draft"));
        s.drafts.push(message.clone());
        s.open_drafts
            .insert(provider_id.as_str().to_owned(), message.clone());
        if s.lose_ack("mailbox.create_draft") {
            return Err(Error::timeout(
                "mailbox.create_draft (acknowledgement lost)",
            ));
        }
        Ok(SentMessage {
            provider_id,
            thread_id: message.thread_id.clone(),
            message_id: message.message_id.clone(),
        })
    }

    async fn find_sent(&self, message_id: &MessageId) -> Result<Option<SentMessage>> {
        let now = self.clock.now();
        let s = lock(&self.state);
        Ok(s.messages
            .iter()
            .enumerate()
            .find(|(i, m)| {
                m.message_id.as_ref() == Some(message_id)
                    && m.labels.iter().any(|l| l == SENT)
                    && s.findable(*i, now)
            })
            .map(|(_, m)| SentMessage {
                provider_id: m.provider_id.clone(),
                thread_id: m.thread_id.clone(),
                message_id: message_id.clone(),
            }))
    }

    async fn history(&self, cursor: Option<&str>) -> Result<HistoryPage> {
        let s = lock(&self.state);
        let end = s.messages.len();
        let messages = match cursor {
            None => Vec::new(),
            Some(c) => {
                let from = parse_cursor(c)?;
                s.messages.get(from..).unwrap_or_default().to_vec()
            }
        };
        Ok(HistoryPage {
            messages,
            next_cursor: Some(end.to_string()),
        })
    }

    async fn sent_messages(&self, page_token: Option<&str>, page_size: u32) -> Result<MessagePage> {
        let offset = page_token.map(parse_cursor).transpose()?.unwrap_or(0);
        let size = page_size.max(1) as usize;
        let s = lock(&self.state);
        let mut sent: Vec<(usize, &MailMessage)> = s
            .messages
            .iter()
            .enumerate()
            .filter(|(_, m)| m.labels.iter().any(|l| l == SENT))
            .collect();
        sent.sort_by_key(|m| std::cmp::Reverse((m.1.date, m.0)));
        let messages: Vec<MailMessage> = sent
            .iter()
            .skip(offset)
            .take(size)
            .map(|(_, m)| (*m).clone())
            .collect();
        let next = offset + messages.len();
        Ok(MessagePage {
            messages,
            next_page: (next < sent.len()).then(|| next.to_string()),
        })
    }
}
