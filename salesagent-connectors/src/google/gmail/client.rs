//! Gmail requests (`Mailbox` port).

use super::Gmail;
use super::model::{
    Draft, History, ListHistoryResponse, ListMessagesResponse, Message, Profile, Thread,
};
use super::parse::parse_mail;
use crate::http::Request;
use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use salesagent_core::model::{
    HistoryPage, MailMessage, MailQuery, MessageId, MessagePage, OutgoingMessage,
    ProviderMessageId, SentMessage, ThreadId,
};
use salesagent_core::ports::Mailbox;
use salesagent_core::{Error, Result};
use std::collections::BTreeSet;

/// Most messages fetched for one search.
pub const MAX_SEARCH: u32 = 100;

fn decode_raw(s: &str) -> Result<Vec<u8>> {
    let cleaned: String = s
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '=')
        .collect();
    URL_SAFE_NO_PAD
        .decode(cleaned.as_bytes())
        .or_else(|_| STANDARD.decode(s.trim()))
        .map_err(|_| Error::backend("gmail: raw message is not base64url"))
}

/// Removes characters that would change the meaning of a Gmail search term.
fn term(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_control() && !matches!(c, '"' | '(' | ')' | '{' | '}'))
        .collect::<String>()
        .trim()
        .to_owned()
}

/// The Gmail `q` for a query.
#[must_use]
pub fn search_query(q: &MailQuery) -> String {
    let mut parts = Vec::new();
    if let Some(p) = &q.participant {
        let a = p.normalized();
        parts.push(format!("(from:{a} OR to:{a} OR cc:{a})"));
    }
    if let Some(m) = &q.message_id {
        parts.push(format!("rfc822msgid:{}", m.as_str()));
    }
    if q.sent_only {
        parts.push("in:sent".to_owned());
    }
    if let Some(t) = q.text.as_deref().map(term).filter(|t| !t.is_empty()) {
        parts.push(format!("\"{t}\""));
    }
    if let Some(after) = q.after {
        parts.push(format!("after:{}", after.timestamp()));
    }
    parts.join(" ")
}

impl Gmail {
    fn users(&self, rest: &[&str]) -> Vec<String> {
        let mut p = vec![
            "gmail".to_owned(),
            "v1".to_owned(),
            "users".to_owned(),
            self.user_id.clone(),
        ];
        p.extend(rest.iter().map(|s| (*s).to_owned()));
        p
    }

    async fn list(
        &self,
        q: Option<&str>,
        label: Option<&str>,
        max: u32,
        page: Option<&str>,
    ) -> Result<ListMessagesResponse> {
        let mut r = Request::get("messages.list", self.users(&["messages"]))
            .query("maxResults", max.to_string());
        if let Some(q) = q.filter(|q| !q.is_empty()) {
            r = r.query("q", q);
        }
        if let Some(l) = label {
            r = r.query("labelIds", l);
        }
        if let Some(p) = page {
            r = r.query("pageToken", p);
        }
        self.http.send(&r).await?.json("gmail")
    }

    /// One message, fetched raw and parsed.
    pub async fn get_message(&self, id: &str) -> Result<MailMessage> {
        let r = Request::get("messages.get", self.users(&["messages", id])).query("format", "raw");
        let m: Message = self.http.send(&r).await?.json("gmail")?;
        let raw = decode_raw(m.raw.as_deref().unwrap_or_default())?;
        Ok(parse_mail(
            &raw,
            ProviderMessageId::new(m.id.unwrap_or_else(|| id.to_owned())),
            m.thread_id.map(ThreadId::new),
            m.label_ids,
            m.internal_date.and_then(|d| d.parse().ok()),
        ))
    }

    async fn get_all(&self, ids: impl IntoIterator<Item = String>) -> Result<Vec<MailMessage>> {
        let mut out = Vec::new();
        for id in ids {
            match self.get_message(&id).await {
                Ok(m) => out.push(m),
                // Deleted between listing and reading: skip it.
                Err(Error::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// The mailbox profile (a harmless authenticated read, for health checks).
    pub async fn profile(&self) -> Result<Profile> {
        self.http
            .send(&Request::get("getProfile", self.users(&["profile"])))
            .await?
            .json("gmail")
    }

    /// A harmless authenticated read: the profile.
    pub async fn check(&self) -> Result<()> {
        self.profile().await.map(|_| ())
    }

    fn encode(message: &OutgoingMessage) -> Result<Message> {
        if message.to.is_empty() {
            return Err(Error::invalid("to", "needs at least one recipient"));
        }
        if message.raw.is_empty() {
            return Err(Error::invalid("raw", "is empty"));
        }
        // The Message-ID inside the raw message must be the one we reconcile on.
        let inner = mail_parser::MessageParser::default()
            .parse(&message.raw)
            .and_then(|m| m.message_id().and_then(|id| MessageId::parse(id).ok()));
        if inner.as_ref() != Some(&message.message_id) {
            return Err(Error::invalid(
                "raw",
                "Message-ID header does not match message_id",
            ));
        }
        Ok(Message {
            raw: Some(URL_SAFE_NO_PAD.encode(&message.raw)),
            thread_id: message.thread_id.as_ref().map(|t| t.as_str().to_owned()),
            ..Message::default()
        })
    }
}

#[async_trait]
impl Mailbox for Gmail {
    async fn search(&self, query: &MailQuery) -> Result<Vec<MailMessage>> {
        let max = match query.limit {
            0 => 20,
            n => n.min(MAX_SEARCH),
        };
        let q = search_query(query);
        let list = self.list(Some(&q), None, max, None).await?;
        let mut msgs = self
            .get_all(list.messages.into_iter().filter_map(|m| m.id))
            .await?;
        msgs.sort_by_key(|m| std::cmp::Reverse(m.date));
        Ok(msgs)
    }

    async fn get_thread(&self, thread: &ThreadId) -> Result<Vec<MailMessage>> {
        let r = Request::get("threads.get", self.users(&["threads", thread.as_str()]))
            .query("format", "minimal");
        let t: Thread = self.http.send(&r).await?.json("gmail")?;
        let mut msgs = self
            .get_all(t.messages.into_iter().filter_map(|m| m.id))
            .await?;
        msgs.sort_by_key(|m| m.date);
        Ok(msgs)
    }

    async fn send(&self, message: &OutgoingMessage) -> Result<SentMessage> {
        let body = Self::encode(message)?;
        // Gmail cannot deduplicate: reconcile first so a retried send does not deliver twice.
        if let Some(sent) = self.find_sent(&message.message_id).await? {
            tracing::info!("message already sent; not sending again");
            return Ok(sent);
        }
        let r = Request::post("messages.send", self.users(&["messages", "send"])).json(&body)?;
        let m: Message = self.http.send(&r).await?.json("gmail")?;
        Ok(SentMessage {
            provider_id: ProviderMessageId::new(
                m.id.ok_or_else(|| Error::backend("gmail: send returned no id"))?,
            ),
            thread_id: m.thread_id.map(ThreadId::new),
            message_id: message.message_id.clone(),
        })
    }

    /// `users.drafts.create`: the answer's `provider_id` is the draft's id (what
    /// [`Mailbox::send_draft`] sends), its thread id the draft message's thread.
    async fn create_draft(&self, message: &OutgoingMessage) -> Result<SentMessage> {
        let draft = Draft {
            id: None,
            message: Some(Self::encode(message)?),
        };
        let r = Request::post("drafts.create", self.users(&["drafts"])).json(&draft)?;
        let d: Draft = self.http.send(&r).await?.json("gmail")?;
        Ok(SentMessage {
            provider_id: ProviderMessageId::new(
                d.id.ok_or_else(|| Error::backend("gmail: draft returned no id"))?,
            ),
            thread_id: d
                .message
                .and_then(|m| m.thread_id)
                .map(ThreadId::new)
                .or_else(|| message.thread_id.clone()),
            message_id: message.message_id.clone(),
        })
    }

    /// `users.drafts.send` with body `{"id": <draft id>}`. Gmail deletes a draft when it sends
    /// it (the sent message gets a new id, returned here), so a second call for the same draft
    /// answers 404 and can never deliver twice: that answer is `NotFound`.
    async fn send_draft(&self, draft: &SentMessage) -> Result<SentMessage> {
        let id = draft.provider_id.as_str();
        if id.is_empty() {
            return Err(Error::invalid("draft", "has no Gmail draft id"));
        }
        let body = Draft {
            id: Some(id.to_owned()),
            message: None,
        };
        let r = Request::post("drafts.send", self.users(&["drafts", "send"])).json(&body)?;
        let m: Message = match self.http.send(&r).await {
            Ok(resp) => resp.json("gmail")?,
            Err(Error::NotFound { .. }) => {
                return Err(Error::not_found(format!(
                    "gmail draft {id} (already sent, or deleted)"
                )));
            }
            Err(e) => return Err(e),
        };
        Ok(SentMessage {
            provider_id: ProviderMessageId::new(
                m.id.ok_or_else(|| Error::backend("gmail: drafts.send returned no id"))?,
            ),
            thread_id: m
                .thread_id
                .map(ThreadId::new)
                .or_else(|| draft.thread_id.clone()),
            message_id: draft.message_id.clone(),
        })
    }

    async fn find_sent(&self, message_id: &MessageId) -> Result<Option<SentMessage>> {
        let q = format!("rfc822msgid:{} in:sent", message_id.as_str());
        let list = self.list(Some(&q), None, 1, None).await?;
        Ok(list.messages.into_iter().find_map(|m| {
            Some(SentMessage {
                provider_id: ProviderMessageId::new(m.id?),
                thread_id: m.thread_id.map(ThreadId::new),
                message_id: message_id.clone(),
            })
        }))
    }

    /// A `cursor` Gmail no longer knows (HTTP 404: history ids are kept for about a week, at
    /// times only hours) is `NotFound`: Gmail's advice is a full sync, which the outcome scan
    /// does by searching the mailbox since its last scan, then starting a new cursor.
    async fn history(&self, cursor: Option<&str>) -> Result<HistoryPage> {
        let Some(start) = cursor else {
            let p = self.profile().await?;
            return Ok(HistoryPage {
                messages: vec![],
                next_cursor: p.history_id,
            });
        };
        if start.is_empty() || !start.chars().all(|c| c.is_ascii_digit()) {
            return Err(Error::invalid("cursor", "not a Gmail history id"));
        }
        let mut ids = Vec::new();
        let mut seen = BTreeSet::new();
        let mut page: Option<String> = None;
        let mut latest = start.to_owned();
        loop {
            let mut r = Request::get("history.list", self.users(&["history"]))
                .query("startHistoryId", start)
                .query("historyTypes", "messageAdded")
                .query("maxResults", "500");
            if let Some(p) = &page {
                r = r.query("pageToken", p.clone());
            }
            let resp: ListHistoryResponse = match self.http.send(&r).await {
                Ok(resp) => resp.json("gmail")?,
                // Gmail forgets old history ids (404): the caller re-syncs rather than skipping
                // the mail in the gap.
                Err(Error::NotFound { .. }) => {
                    return Err(Error::not_found(format!(
                        "gmail history id {start} (expired: re-sync)"
                    )));
                }
                Err(e) => return Err(e),
            };
            for h in resp
                .history
                .iter()
                .flat_map(|h: &History| &h.messages_added)
            {
                if let Some(id) = h.message.as_ref().and_then(|m| m.id.clone())
                    && seen.insert(id.clone())
                {
                    ids.push(id);
                }
            }
            if let Some(h) = resp.history_id {
                latest = h;
            }
            page = resp.next_page_token;
            if page.is_none() {
                break;
            }
            if ids.len() >= 1000 {
                // More pages wait: the next call starts after the last record read here, not
                // at the mailbox's current id (which would skip them).
                if let Some(last) = resp.history.iter().rev().find_map(|h| h.id.clone()) {
                    latest = last;
                }
                break;
            }
        }
        let mut messages = self.get_all(ids).await?;
        messages.sort_by_key(|m| m.date);
        Ok(HistoryPage {
            messages,
            next_cursor: Some(latest),
        })
    }

    async fn sent_messages(&self, page_token: Option<&str>, page_size: u32) -> Result<MessagePage> {
        let size = page_size.clamp(1, MAX_SEARCH);
        let list = self.list(None, Some("SENT"), size, page_token).await?;
        let mut messages = self
            .get_all(list.messages.into_iter().filter_map(|m| m.id))
            .await?;
        messages.sort_by_key(|m| std::cmp::Reverse(m.date));
        Ok(MessagePage {
            messages,
            next_page: list.next_page_token,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use salesagent_core::model::EmailAddress;

    #[test]
    fn queries() {
        let q = MailQuery {
            participant: Some(EmailAddress::parse("Ann@Acme.io").unwrap()),
            sent_only: true,
            text: Some("demo \"call\" (x)".into()),
            ..MailQuery::default()
        };
        assert_eq!(
            search_query(&q),
            "(from:ann@acme.io OR to:ann@acme.io OR cc:ann@acme.io) in:sent \"demo call x\""
        );
    }

    #[test]
    fn raw_decoding_tolerates_padding() {
        assert_eq!(decode_raw("SGk_").unwrap(), b"Hi?");
        assert_eq!(decode_raw("SGk=").unwrap(), b"Hi");
        assert!(decode_raw("!!!").is_err());
    }
}
