//! The [`Mailbox`] port over one IMAP connection and SMTP submissions.

use super::conn::{Conn, Fetched, tls_config};
use super::{ImapMailbox, SentCopy, smtp};
use crate::google::gmail::parse::parse_mail;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use salesagent_core::model::{
    EmailAddress, HistoryPage, MailMessage, MailQuery, MessageId, MessagePage, OutgoingMessage,
    ProviderMessageId, SentMessage, ThreadId,
};
use salesagent_core::ports::Mailbox;
use salesagent_core::{Error, Result};
use std::time::Duration;

/// A connection idle longer than this is probed with `NOOP` before it is reused.
const PROBE_AFTER: Duration = Duration::from_secs(30);
/// Most messages one search reads from a folder (the newest).
const SEARCH_CAP: usize = 500;
/// Cursor prefix (format version).
const CURSOR_V1: &str = "imap1";

/// Which folder a message was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Inbox,
    Sent,
}

impl Kind {
    fn label(self) -> &'static str {
        match self {
            Self::Inbox => "INBOX",
            Self::Sent => "SENT",
        }
    }
}

/// A message with what orders it.
struct Read {
    message: MailMessage,
    internal_ms: i64,
    kind: Kind,
    uid: u32,
}

impl Read {
    /// Oldest-first order: Date header, then arrival, then folder and UID.
    fn key(&self) -> (Option<DateTime<Utc>>, i64, Kind, u32) {
        (self.message.date, self.internal_ms, self.kind, self.uid)
    }
}

fn provider_id(validity: u32, uid: u32, folder: &str) -> ProviderMessageId {
    ProviderMessageId::new(format!("{validity}:{uid}:{folder}"))
}

/// The thread a message belongs to: the root of its References, else its parent, else itself.
fn thread_of(m: &MailMessage) -> Option<ThreadId> {
    m.references
        .first()
        .or(m.in_reply_to.as_ref())
        .or(m.message_id.as_ref())
        .map(|id| ThreadId::new(id.as_str()))
}

fn to_message(f: &Fetched, validity: u32, folder: &str, kind: Kind) -> Read {
    let mut message = parse_mail(
        &f.raw,
        provider_id(validity, f.uid, folder),
        None,
        vec![kind.label().to_owned()],
        f.internal_ms,
    );
    message.thread_id = thread_of(&message);
    Read {
        message,
        internal_ms: f.internal_ms.unwrap_or_default(),
        kind,
        uid: f.uid,
    }
}

/// An IMAP quoted string, or `None` when `s` cannot be one (non-ASCII or control characters:
/// such criteria are checked on the parsed messages only).
fn quoted(s: &str) -> Option<String> {
    if s.is_empty() || !s.chars().all(|c| c.is_ascii() && !c.is_ascii_control()) {
        return None;
    }
    Some(format!(
        "\"{}\"",
        s.replace('\\', "\\\\").replace('"', "\\\"")
    ))
}

/// The server-side part of a search (a superset of the answer).
fn criteria(q: &MailQuery) -> String {
    let mut parts = Vec::new();
    if let Some(p) = q.participant.as_ref().and_then(|p| quoted(&p.to_string())) {
        parts.push(format!("OR FROM {p} OR TO {p} CC {p}"));
    }
    if let Some(id) = q.message_id.as_ref().and_then(|m| quoted(m.as_str())) {
        parts.push(format!("HEADER Message-ID {id}"));
    }
    if let Some(t) = q.text.as_deref().and_then(quoted) {
        parts.push(format!("TEXT {t}"));
    }
    if let Some(after) = q.after {
        parts.push(format!("SENTSINCE {}", after.format("%-d-%b-%Y")));
    }
    if parts.is_empty() {
        "ALL".to_owned()
    } else {
        parts.join(" ")
    }
}

/// The exact check, on a parsed message: the query's own, with a participant also found in `Cc`.
fn matches(m: &MailMessage, q: &MailQuery) -> bool {
    let involved = |p: &EmailAddress| {
        m.is_between(p)
            || m.header("Cc")
                .is_some_and(|cc| cc.to_lowercase().contains(&p.normalized()))
    };
    q.participant.as_ref().is_none_or(involved) && q.matches_besides_participant(m)
}

fn sent_message(m: &MailMessage, id: &MessageId) -> SentMessage {
    SentMessage {
        provider_id: m.provider_id.clone(),
        thread_id: m.thread_id.clone(),
        message_id: id.clone(),
    }
}

/// A history cursor: `UIDVALIDITY` and next UID of the inbox and of the Sent folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Cursor {
    inbox: (u32, u32),
    sent: (u32, u32),
}

impl Cursor {
    fn encode(self) -> String {
        format!(
            "{CURSOR_V1}:{}:{}:{}:{}",
            self.inbox.0, self.inbox.1, self.sent.0, self.sent.1
        )
    }

    fn parse(s: &str) -> Result<Self> {
        let bad = || Error::invalid("cursor", "not an IMAP history cursor");
        let mut parts = s.split(':');
        if parts.next() != Some(CURSOR_V1) {
            return Err(bad());
        }
        let mut n = || -> Result<u32> { parts.next().and_then(|p| p.parse().ok()).ok_or_else(bad) };
        let c = Self {
            inbox: (n()?, n()?),
            sent: (n()?, n()?),
        };
        if parts.next().is_some() {
            return Err(bad());
        }
        Ok(c)
    }
}

impl ImapMailbox {
    /// Runs `f` on the shared connection (connecting first when needed), under the deadline.
    /// Any failure but a plain answer (`NotFound`, `InvalidInput`, `Conflict`) drops the
    /// connection, so the next call starts afresh.
    async fn with_conn<T: Send>(
        &self,
        what: &'static str,
        f: impl for<'c> FnOnce(&'c mut Conn) -> BoxFuture<'c, Result<T>> + Send,
    ) -> Result<T> {
        let inner = &self.inner;
        let mut guard = inner.conn.lock().await;
        let run = async {
            if let Some(c) = guard.as_mut()
                && c.last_used.elapsed() > PROBE_AFTER
                && c.noop().await.is_err()
            {
                *guard = None;
            }
            let conn = match guard.as_mut() {
                Some(c) => c,
                None => {
                    let tls = tls_config(&inner.extra_roots)?;
                    let c = Conn::open(&inner.imap, &inner.imap_auth, &inner.folders, &tls).await?;
                    guard.insert(c)
                }
            };
            let out = f(conn).await;
            conn.last_used = tokio::time::Instant::now();
            out
        };
        let result = match tokio::time::timeout(inner.timeout, run).await {
            Ok(r) => r,
            Err(_) => Err(Error::timeout(format!("imap {what}"))),
        };
        if let Err(e) = &result
            && !matches!(
                e,
                Error::NotFound { .. } | Error::InvalidInput { .. } | Error::Conflict { .. }
            )
        {
            *guard = None;
        }
        result
    }

    /// Logs in to the IMAP server (when not connected) and sends `NOOP`, then logs in to the
    /// SMTP server: the `doctor` check. Reads and changes nothing.
    ///
    /// # Errors
    /// `Unauthenticated` for refused credentials, `Unavailable` when a server cannot be reached.
    pub async fn check(&self) -> Result<()> {
        self.with_conn("NOOP", |c| Box::pin(c.noop())).await?;
        smtp::check(&self.inner).await
    }

    /// Logs out and closes the IMAP connection (the next call reconnects).
    pub async fn close(&self) {
        if let Some(c) = self.inner.conn.lock().await.take() {
            c.logout().await;
        }
    }

    /// The Sent and Drafts folders in use (discovered on the first connection).
    ///
    /// # Errors
    /// Connection and login failures.
    pub async fn folders(&self) -> Result<(String, String)> {
        self.with_conn("LIST", |c| {
            Box::pin(async move { Ok((c.folders.sent.clone(), c.folders.drafts.clone())) })
        })
        .await
    }

    /// Appends a received message to the inbox (demos and tests: a reply or bounce dropped into
    /// the mailbox as raw RFC 5322 bytes).
    ///
    /// # Errors
    /// IMAP failures.
    pub async fn deliver_to_inbox(&self, raw: Vec<u8>) -> Result<()> {
        self.with_conn("APPEND", move |c| {
            Box::pin(async move {
                let inbox = c.folders.inbox.clone();
                c.append(&inbox, "()", &raw).await
            })
        })
        .await
    }
}

/// Reads `folder` messages matching `criteria` (at most the newest `cap`).
async fn read_folder(
    c: &mut Conn,
    kind: Kind,
    criteria: &str,
    cap: usize,
) -> Result<(u32, Vec<Read>)> {
    let folder = match kind {
        Kind::Inbox => c.folders.inbox.clone(),
        Kind::Sent => c.folders.sent.clone(),
    };
    let (validity, _) = c.select(&folder).await?;
    let uids = c.search(criteria).await?;
    let skip = uids.len().saturating_sub(cap);
    let fetched = c.fetch(&uids[skip..]).await?;
    Ok((
        validity,
        fetched
            .into_iter()
            .map(|f| to_message(&f, validity, &folder, kind))
            .collect(),
    ))
}

/// UIDs in the selected folder whose Message-ID is exactly `id` (ascending).
async fn uids_with_id(c: &mut Conn, id: &MessageId) -> Result<Vec<(u32, MailMessage)>> {
    let Some(q) = quoted(id.as_str()) else {
        return Ok(Vec::new());
    };
    let uids = c.search(&format!("HEADER Message-ID {q}")).await?;
    let fetched = c.fetch(&uids).await?;
    Ok(fetched
        .into_iter()
        .filter_map(|f| {
            let uid = f.uid;
            let m = parse_mail(&f.raw, ProviderMessageId::new(""), None, Vec::new(), None);
            (m.message_id.as_ref() == Some(id)).then_some((uid, m))
        })
        .collect())
}

/// The first copy of `id` in the Sent folder.
async fn find_in_sent(c: &mut Conn, id: &MessageId) -> Result<Option<SentMessage>> {
    let sent = c.folders.sent.clone();
    let (validity, _) = c.select(&sent).await?;
    Ok(uids_with_id(c, id)
        .await?
        .into_iter()
        .next()
        .map(|(uid, mut m)| {
            m.provider_id = provider_id(validity, uid, &sent);
            m.thread_id = thread_of(&m);
            sent_message(&m, id)
        }))
}

/// Deletes every draft carrying `id`.
async fn delete_drafts(c: &mut Conn, id: &MessageId) -> Result<()> {
    let drafts = c.folders.drafts.clone();
    c.select(&drafts).await?;
    let uids: Vec<u32> = uids_with_id(c, id)
        .await?
        .into_iter()
        .map(|(u, _)| u)
        .collect();
    c.delete(&uids).await
}

fn with_thread(mut sent: SentMessage, message: &OutgoingMessage) -> SentMessage {
    if let Some(t) = &message.thread_id {
        sent.thread_id = Some(t.clone());
    }
    if sent.thread_id.is_none() {
        let m = parse_mail(
            &message.raw,
            ProviderMessageId::new(""),
            None,
            Vec::new(),
            None,
        );
        sent.thread_id = thread_of(&m).or_else(|| Some(ThreadId::new(message.message_id.as_str())));
    }
    sent
}

#[async_trait]
impl Mailbox for ImapMailbox {
    async fn search(&self, query: &MailQuery) -> Result<Vec<MailMessage>> {
        let query = query.clone();
        let mut found = self
            .with_conn("search", move |c| {
                Box::pin(async move {
                    let kinds: &[Kind] = if query.sent_only {
                        &[Kind::Sent]
                    } else {
                        &[Kind::Inbox, Kind::Sent]
                    };
                    let criteria = criteria(&query);
                    let mut out = Vec::new();
                    for kind in kinds {
                        let (_, read) = read_folder(c, *kind, &criteria, SEARCH_CAP).await?;
                        out.extend(read.into_iter().filter(|r| matches(&r.message, &query)));
                    }
                    let limit = if query.limit == 0 {
                        usize::MAX
                    } else {
                        query.limit as usize
                    };
                    Ok((out, limit))
                })
            })
            .await
            .map(|(mut out, limit)| {
                out.sort_by_key(|r| std::cmp::Reverse(r.key()));
                out.truncate(limit);
                out
            })?;
        Ok(found.drain(..).map(|r| r.message).collect())
    }

    async fn get_thread(&self, thread: &ThreadId) -> Result<Vec<MailMessage>> {
        let thread = thread.clone();
        let Some(q) = quoted(thread.as_str()) else {
            return Err(Error::not_found(format!("thread {thread}")));
        };
        let criteria =
            format!("OR HEADER Message-ID {q} OR HEADER In-Reply-To {q} HEADER References {q}");
        let mut found = self
            .with_conn("thread", move |c| {
                Box::pin(async move {
                    let mut out = Vec::new();
                    for kind in [Kind::Inbox, Kind::Sent] {
                        let (_, read) = read_folder(c, kind, &criteria, SEARCH_CAP).await?;
                        out.extend(read);
                    }
                    Ok(out)
                })
            })
            .await?;
        found.retain(|r| r.message.thread_id.as_ref() == Some(&thread));
        if found.is_empty() {
            return Err(Error::not_found(format!("thread {thread}")));
        }
        found.sort_by_key(Read::key);
        Ok(found.into_iter().map(|r| r.message).collect())
    }

    /// Looks the Message-ID up in the Sent folder first (an earlier send is returned, nothing is
    /// submitted again), submits over SMTP, appends the Sent copy ([`SentCopy::Append`]) and
    /// deletes any draft with the same Message-ID. A failed `APPEND` after the SMTP server took
    /// the message is retried once and then only logged: the message was sent.
    async fn send(&self, message: &OutgoingMessage) -> Result<SentMessage> {
        if message.to.is_empty() {
            return Err(Error::invalid("to", "needs at least one recipient"));
        }
        let id = message.message_id.clone();
        let look = id.clone();
        if let Some(earlier) = self
            .with_conn("find_sent", move |c| {
                Box::pin(async move { find_in_sent(c, &look).await })
            })
            .await?
        {
            return Ok(with_thread(earlier, message));
        }
        smtp::submit(&self.inner, message).await?;
        let fallback = SentMessage {
            provider_id: ProviderMessageId::new(format!("smtp:{id}")),
            thread_id: None,
            message_id: id.clone(),
        };
        let file = |append: bool| {
            let raw = message.raw.clone();
            let id = id.clone();
            self.with_conn("sent copy", move |c| {
                Box::pin(async move {
                    if append {
                        let sent = c.folders.sent.clone();
                        c.append(&sent, "(\\Seen)", &raw).await?;
                    }
                    let found = find_in_sent(c, &id).await?;
                    if let Err(e) = delete_drafts(c, &id).await {
                        tracing::warn!(message_id = %id, error = %e, "imap: sent draft not deleted");
                    }
                    Ok(found)
                })
            })
        };
        let append = self.inner.sent_copy == SentCopy::Append;
        let filed = match file(append).await {
            Ok(f) => Ok(f),
            // Once more on a fresh connection (the first one may have died mid-APPEND: then
            // the copy may be there already, and a second one would only be a duplicate copy).
            Err(_) => file(append).await,
        };
        let sent = match filed {
            Ok(Some(found)) => found,
            Ok(None) => {
                if append {
                    tracing::warn!(message_id = %id, "imap: Sent copy not findable after APPEND");
                }
                fallback
            }
            Err(e) => {
                tracing::warn!(message_id = %id, error = %e, "imap: sent, but no Sent copy stored");
                fallback
            }
        };
        Ok(with_thread(sent, message))
    }

    /// Appends the message to the Drafts folder with `\Draft` (replacing a draft with the same
    /// Message-ID). A Message-ID already in the Sent folder is `Conflict`: it was sent.
    async fn create_draft(&self, message: &OutgoingMessage) -> Result<SentMessage> {
        let id = message.message_id.clone();
        let raw = message.raw.clone();
        let stored = self
            .with_conn("create_draft", move |c| {
                Box::pin(async move {
                    if find_in_sent(c, &id).await?.is_some() {
                        return Err(Error::conflict(format!(
                            "imap: message {id} was already sent"
                        )));
                    }
                    delete_drafts(c, &id).await?;
                    let drafts = c.folders.drafts.clone();
                    c.append(&drafts, "(\\Draft \\Seen)", &raw).await?;
                    let (validity, _) = c.select(&drafts).await?;
                    let found = uids_with_id(c, &id).await?;
                    let (uid, mut m) = found.into_iter().next_back().ok_or_else(|| {
                        Error::backend("imap: the appended draft is not findable")
                    })?;
                    m.provider_id = provider_id(validity, uid, &drafts);
                    m.thread_id = thread_of(&m);
                    Ok(sent_message(&m, &id))
                })
            })
            .await?;
        Ok(with_thread(stored, message))
    }

    async fn find_sent(&self, message_id: &MessageId) -> Result<Option<SentMessage>> {
        let id = message_id.clone();
        self.with_conn("find_sent", move |c| {
            Box::pin(async move { find_in_sent(c, &id).await })
        })
        .await
    }

    /// New messages of the inbox and the Sent folder since the cursor, oldest first. A folder
    /// whose `UIDVALIDITY` changed makes the cursor `NotFound` (re-sync by search).
    async fn history(&self, cursor: Option<&str>) -> Result<HistoryPage> {
        let from = cursor.map(Cursor::parse).transpose()?;
        self.with_conn("history", move |c| {
            Box::pin(async move {
                let inbox = c.folders.inbox.clone();
                let sent = c.folders.sent.clone();
                let Some(from) = from else {
                    let i = c.select(&inbox).await?;
                    let s = c.select(&sent).await?;
                    return Ok(HistoryPage {
                        messages: Vec::new(),
                        next_cursor: Some(Cursor { inbox: i, sent: s }.encode()),
                    });
                };
                let mut out = Vec::new();
                let mut next = from;
                for (kind, folder, (validity, start)) in [
                    (Kind::Inbox, &inbox, from.inbox),
                    (Kind::Sent, &sent, from.sent),
                ] {
                    let (now_validity, _) = c.select(folder).await?;
                    if now_validity != validity {
                        return Err(Error::not_found(format!(
                            "imap history cursor: UIDVALIDITY of {folder} changed \
                             ({validity} -> {now_validity}); re-sync"
                        )));
                    }
                    let uids: Vec<u32> = c
                        .search(&format!("UID {start}:*"))
                        .await?
                        .into_iter()
                        .filter(|u| *u >= start)
                        .collect();
                    let fetched = c.fetch(&uids).await?;
                    let last = fetched.iter().map(|f| f.uid).max();
                    out.extend(
                        fetched
                            .into_iter()
                            .map(|f| to_message(&f, validity, folder, kind)),
                    );
                    if let Some(last) = last {
                        let slot = if kind == Kind::Inbox {
                            &mut next.inbox
                        } else {
                            &mut next.sent
                        };
                        slot.1 = slot.1.max(last.saturating_add(1));
                    }
                }
                out.sort_by_key(Read::key);
                Ok(HistoryPage {
                    messages: out.into_iter().map(|r| r.message).collect(),
                    next_cursor: Some(next.encode()),
                })
            })
        })
        .await
    }

    /// The Sent folder, newest first; the page token is `UIDVALIDITY:UID` of the last message
    /// returned.
    async fn sent_messages(&self, page_token: Option<&str>, page_size: u32) -> Result<MessagePage> {
        let bad = || Error::invalid("page_token", "not an IMAP page token");
        let below: Option<(u32, u32)> = match page_token {
            Some(t) => {
                let (v, u) = t.split_once(':').ok_or_else(bad)?;
                Some((v.parse().map_err(|_| bad())?, u.parse().map_err(|_| bad())?))
            }
            None => None,
        };
        let size = if page_size == 0 {
            50
        } else {
            page_size as usize
        };
        self.with_conn("sent_messages", move |c| {
            Box::pin(async move {
                let sent = c.folders.sent.clone();
                let (validity, _) = c.select(&sent).await?;
                let mut uids = c.search("ALL").await?;
                if let Some((v, u)) = below {
                    if v != validity {
                        return Err(Error::invalid(
                            "page_token",
                            "the Sent folder changed (UIDVALIDITY); start again",
                        ));
                    }
                    uids.retain(|x| *x < u);
                }
                uids.reverse();
                let page: Vec<u32> = uids.iter().take(size).copied().collect();
                let more = uids.len() > page.len();
                let mut read: Vec<Read> = c
                    .fetch(&page)
                    .await?
                    .into_iter()
                    .map(|f| to_message(&f, validity, &sent, Kind::Sent))
                    .collect();
                read.sort_by_key(|r| std::cmp::Reverse(r.uid));
                let next_page = match (more, read.last()) {
                    (true, Some(last)) => Some(format!("{validity}:{}", last.uid)),
                    _ => None,
                };
                Ok(MessagePage {
                    messages: read.into_iter().map(|r| r.message).collect(),
                    next_page,
                })
            })
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use salesagent_core::model::EmailAddress;

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let c = Cursor {
            inbox: (17, 5),
            sent: (18, 1),
        };
        assert_eq!(Cursor::parse(&c.encode()).unwrap(), c);
        for bad in [
            "",
            "imap1:1:2:3",
            "imap1:1:2:3:4:5",
            "gmail:1",
            "imap1:a:2:3:4",
        ] {
            assert_eq!(
                Cursor::parse(bad).unwrap_err().kind(),
                "invalid_input",
                "{bad}"
            );
        }
    }

    #[test]
    fn search_criteria_are_quoted_or_left_to_the_exact_check() {
        let q = MailQuery {
            participant: Some(EmailAddress::parse("ann@acme.example").unwrap()),
            text: Some("say \"hi\"".into()),
            ..MailQuery::default()
        };
        assert_eq!(
            criteria(&q),
            "OR FROM \"ann@acme.example\" OR TO \"ann@acme.example\" CC \"ann@acme.example\" TEXT \"say \\\"hi\\\"\""
        );
        let q = MailQuery {
            text: Some("Grüße\r\n".into()),
            ..MailQuery::default()
        };
        assert_eq!(criteria(&q), "ALL");
    }
}
