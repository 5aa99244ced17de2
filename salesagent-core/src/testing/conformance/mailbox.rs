//! The mailbox conformance suite.

use super::{expect_err, ok, unique};
use crate::model::{
    Domain, EmailAddress, MailQuery, MessageId, OutgoingMessage, ProviderMessageId, SentMessage,
    ThreadId,
};
use crate::ports::Mailbox;
use crate::testing::ManualClock;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// Who the mailbox under test is, and what its provider can promise.
#[derive(Debug, Clone)]
pub struct MailboxFixture {
    /// The mailbox's own address (the `From` of messages the suite sends).
    pub me: EmailAddress,
    /// Domain of the recipients the suite writes to (fresh local parts each run).
    pub peer_domain: Domain,
    /// The provider refuses to deliver one Message-ID twice (checks the resend rule).
    pub dedupes_message_id: bool,
    /// How long a message sent from a draft may take to become findable by
    /// [`Mailbox::find_sent`], and how the suite lets that time pass (draft-send part only).
    pub search_lag: SearchLag,
}

impl Default for MailboxFixture {
    fn default() -> Self {
        Self {
            me: EmailAddress::parse("seller@salesagent.example").expect("valid address"),
            peer_domain: Domain::parse("conformance.example").expect("valid domain"),
            dedupes_message_id: true,
            search_lag: SearchLag::none(),
        }
    }
}

/// Lets `d` pass for the mailbox under test (advance a manual clock, or sleep).
pub type Wait = Arc<dyn Fn(Duration) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// The bound on a provider's search lag (how long after a send [`Mailbox::find_sent`] may still
/// answer `None`) and how the suite waits it out: it polls `find_sent` once, then after each of
/// `steps` equal waits, and fails only when the message is still not found after `bound`.
#[derive(Clone)]
pub struct SearchLag {
    /// After this long a sent message must be findable.
    pub bound: Duration,
    /// Equal waits the bound is split into (a poll follows each).
    pub steps: u32,
    /// Lets one step pass.
    pub wait: Wait,
}

impl std::fmt::Debug for SearchLag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SearchLag")
            .field("bound", &self.bound)
            .field("steps", &self.steps)
            .finish_non_exhaustive()
    }
}

impl SearchLag {
    /// Searches see a send at once.
    #[must_use]
    pub fn none() -> Self {
        Self {
            bound: Duration::ZERO,
            steps: 0,
            wait: Arc::new(|_| Box::pin(async {})),
        }
    }

    /// A lag of at most `bound` measured on `clock`, which the suite advances in `steps` steps.
    #[must_use]
    pub fn manual(clock: ManualClock, bound: Duration, steps: u32) -> Self {
        Self {
            bound,
            steps: steps.max(1),
            wait: Arc::new(move |d| {
                clock.advance(d);
                Box::pin(async {})
            }),
        }
    }

    /// A lag of at most `bound` in real (tokio) time, waited in `steps` sleeps.
    #[must_use]
    pub fn real_time(bound: Duration, steps: u32) -> Self {
        Self {
            bound,
            steps: steps.max(1),
            wait: Arc::new(|d| Box::pin(tokio::time::sleep(d))),
        }
    }

    fn step(&self) -> Duration {
        if self.steps == 0 {
            Duration::ZERO
        } else {
            self.bound / self.steps
        }
    }

    /// Lets the whole bound pass.
    async fn wait_out(&self) {
        for _ in 0..self.steps {
            (self.wait)(self.step()).await;
        }
    }
}

/// `find_sent` polled until it answers or the lag bound has passed.
async fn find_sent_within<M: Mailbox + ?Sized>(
    mailbox: &M,
    id: &MessageId,
    lag: &SearchLag,
) -> Option<SentMessage> {
    for waited in 0..=lag.steps {
        if waited > 0 {
            (lag.wait)(lag.step()).await;
        }
        if let Some(found) = ok(mailbox.find_sent(id).await, "find_sent") {
            return Some(found);
        }
    }
    None
}

/// A plain-text RFC 5322 message, optionally replying to `parent`.
fn compose(
    from: &EmailAddress,
    to: &EmailAddress,
    subject: &str,
    body: &str,
    parent: Option<(&MessageId, &ThreadId)>,
) -> OutgoingMessage {
    let message_id = MessageId::generate(from.domain());
    let mut raw = format!(
        "From: {from}\r\nTo: {to}\r\nSubject: {subject}\r\nDate: Mon, 2 Mar 2026 10:00:00 +0000\r\nMessage-ID: {}\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n",
        message_id.bracketed()
    );
    if let Some((p, _)) = parent {
        raw.push_str(&format!(
            "In-Reply-To: {0}\r\nReferences: {0}\r\n",
            p.bracketed()
        ));
    }
    raw.push_str("\r\n");
    raw.push_str(body);
    raw.push_str("\r\n");
    OutgoingMessage {
        message_id,
        from: from.clone(),
        to: vec![to.clone()],
        thread_id: parent.map(|(_, t)| t.clone()),
        raw: raw.into_bytes(),
    }
}

/// Runs the mailbox suite against `mailbox` (including [`run_draft_sends`]).
pub async fn run<M: Mailbox + ?Sized>(mailbox: &M, fixture: &MailboxFixture) {
    run_basics(mailbox, fixture).await;
    run_draft_sends(mailbox, fixture).await;
}

/// The exactly-once send path: a draft stored by `create_draft` and sent by `send_draft` is
/// delivered once and found by `find_sent` within the fixture's search-lag bound; sending it
/// again is `NotFound` and delivers nothing; a draft id that never existed is `NotFound`.
/// Skipped when the mailbox answers `send_draft` with `Unsupported` (checked first, with a
/// draft that does not exist, so a skipping run stores nothing).
pub async fn run_draft_sends<M: Mailbox + ?Sized>(mailbox: &M, fixture: &MailboxFixture) {
    let token = unique();
    let never = SentMessage {
        provider_id: ProviderMessageId::new(format!("conformance-missing-{token}")),
        thread_id: None,
        message_id: MessageId::generate(fixture.me.domain()),
    };
    match mailbox.send_draft(&never).await {
        Err(crate::Error::Unsupported { .. }) => return,
        r => expect_err(
            r,
            "not_found",
            "mailbox: send_draft of a draft that never existed",
        ),
    }

    let peer =
        EmailAddress::parse(&format!("draft.{token}@{}", fixture.peer_domain)).expect("valid");
    let message = compose(
        &fixture.me,
        &peer,
        &format!("Draft send {token}"),
        "Sent from a mailbox draft.",
        None,
    );
    let draft = ok(mailbox.create_draft(&message).await, "create_draft");
    assert_eq!(
        draft.message_id, message.message_id,
        "mailbox: create_draft reports the Message-ID"
    );
    assert!(
        ok(mailbox.find_sent(&message.message_id).await, "find_sent").is_none(),
        "mailbox: a draft must not count as sent before send_draft"
    );
    let sent = ok(mailbox.send_draft(&draft).await, "send_draft");
    assert_eq!(
        sent.message_id, message.message_id,
        "mailbox: send_draft reports the draft's Message-ID"
    );
    let found = find_sent_within(mailbox, &message.message_id, &fixture.search_lag)
        .await
        .expect("mailbox: find_sent must find a sent draft within the search-lag bound");
    assert_eq!(
        found.provider_id, sent.provider_id,
        "mailbox: find_sent reports the provider id send_draft returned"
    );

    expect_err(
        mailbox.send_draft(&draft).await,
        "not_found",
        "mailbox: sending a sent draft again",
    );
    // A second delivery (if there were one) could be hidden by the lag too: wait it out.
    fixture.search_lag.wait_out().await;
    let delivered = ok(
        mailbox
            .search(&MailQuery {
                message_id: Some(message.message_id.clone()),
                sent_only: true,
                ..MailQuery::default()
            })
            .await,
        "search sent by Message-ID",
    );
    assert_eq!(
        delivered.len(),
        1,
        "mailbox: a draft sent twice is delivered once"
    );
}

/// Every check but the draft-send part: search, threads, history, drafts, the sent folder.
pub async fn run_basics<M: Mailbox + ?Sized>(mailbox: &M, fixture: &MailboxFixture) {
    let start = ok(mailbox.history(None).await, "history(None)");
    assert!(
        start.messages.is_empty(),
        "mailbox: history(None) starts a cursor and returns nothing"
    );
    let cursor = start
        .next_cursor
        .expect("mailbox: history(None) must return a cursor");

    let token = unique();
    let peer =
        EmailAddress::parse(&format!("lead.{token}@{}", fixture.peer_domain)).expect("valid");
    let subject = format!("Conformance {token}");
    let first = compose(
        &fixture.me,
        &peer,
        &subject,
        "Hello from the conformance suite.",
        None,
    );
    let sent = ok(mailbox.send(&first).await, "send");
    assert_eq!(
        sent.message_id, first.message_id,
        "mailbox: send reports the Message-ID it sent"
    );
    let found = ok(mailbox.find_sent(&first.message_id).await, "find_sent")
        .expect("mailbox: find_sent must find a message just sent");
    assert_eq!(
        found.provider_id, sent.provider_id,
        "mailbox: find_sent reports the provider id of the send"
    );
    if fixture.dedupes_message_id {
        let again = ok(mailbox.send(&first).await, "send again");
        assert_eq!(
            again.provider_id, sent.provider_id,
            "mailbox: resending a Message-ID returns the first send"
        );
    }
    let by_id = ok(
        mailbox
            .search(&MailQuery {
                message_id: Some(first.message_id.clone()),
                ..MailQuery::default()
            })
            .await,
        "search by Message-ID",
    );
    assert_eq!(
        by_id.len(),
        1,
        "mailbox: one message carries the Message-ID"
    );
    let m = &by_id[0];
    assert_eq!(m.subject, subject, "mailbox: the stored subject");
    assert!(
        m.body_text.contains("Hello from the conformance suite."),
        "mailbox: the stored body text"
    );
    assert_eq!(
        m.from.as_ref().map(EmailAddress::normalized),
        Some(fixture.me.normalized()),
        "mailbox: the stored sender"
    );
    assert!(
        m.to.iter().any(|t| t.normalized() == peer.normalized()),
        "mailbox: the stored recipient"
    );
    let sent_only = ok(
        mailbox
            .search(&MailQuery {
                participant: Some(peer.clone()),
                sent_only: true,
                ..MailQuery::default()
            })
            .await,
        "search sent only",
    );
    assert!(
        sent_only
            .iter()
            .any(|x| x.message_id.as_ref() == Some(&first.message_id)),
        "mailbox: sent_only search finds sent mail"
    );

    // A reply in the same thread.
    let thread = sent
        .thread_id
        .clone()
        .expect("mailbox: send must report a thread id");
    let reply = compose(
        &fixture.me,
        &peer,
        &format!("Re: {subject}"),
        "A follow-up.",
        Some((&first.message_id, &thread)),
    );
    let sent2 = ok(mailbox.send(&reply).await, "send reply");
    assert_eq!(
        sent2.thread_id.as_ref(),
        Some(&thread),
        "mailbox: a reply stays in its thread"
    );
    let messages = ok(mailbox.get_thread(&thread).await, "get_thread");
    let ids: Vec<Option<&MessageId>> = messages.iter().map(|x| x.message_id.as_ref()).collect();
    assert_eq!(
        ids,
        vec![Some(&first.message_id), Some(&reply.message_id)],
        "mailbox: get_thread lists the thread oldest first"
    );
    assert_eq!(
        messages[1].in_reply_to.as_ref(),
        Some(&first.message_id),
        "mailbox: In-Reply-To is read back"
    );
    expect_err(
        mailbox
            .get_thread(&ThreadId::new(format!("conformance-missing-{token}")))
            .await,
        "not_found",
        "mailbox: get_thread of an unknown thread",
    );
    let by_peer = ok(
        mailbox
            .search(&MailQuery {
                participant: Some(peer.clone()),
                ..MailQuery::default()
            })
            .await,
        "search by participant",
    );
    assert_eq!(
        by_peer.len(),
        2,
        "mailbox: both messages to the peer are found"
    );
    assert!(
        by_peer.windows(2).all(|w| w[0].date >= w[1].date),
        "mailbox: search returns newest first"
    );
    assert_eq!(
        by_peer[0].message_id.as_ref(),
        Some(&reply.message_id),
        "mailbox: the reply is the newest"
    );
    let limited = ok(
        mailbox
            .search(&MailQuery {
                participant: Some(peer.clone()),
                limit: 1,
                ..MailQuery::default()
            })
            .await,
        "search with limit",
    );
    assert_eq!(limited.len(), 1, "mailbox: search honours the limit");

    // History since the cursor contains both sends; the next cursor does not repeat them.
    let page = ok(mailbox.history(Some(&cursor)).await, "history");
    for id in [&first.message_id, &reply.message_id] {
        assert!(
            page.messages
                .iter()
                .any(|x| x.message_id.as_ref() == Some(id)),
            "mailbox: history since the cursor includes sent message {id}"
        );
    }
    let next = page
        .next_cursor
        .expect("mailbox: history returns the next cursor");
    let later = ok(
        mailbox.history(Some(&next)).await,
        "history with next cursor",
    );
    assert!(
        later
            .messages
            .iter()
            .all(|x| x.message_id.as_ref() != Some(&first.message_id)),
        "mailbox: the next cursor does not repeat messages"
    );

    // A mailbox draft is not a sent message.
    let draft = compose(
        &fixture.me,
        &peer,
        &format!("Draft {token}"),
        "Not sent.",
        None,
    );
    let stored = ok(mailbox.create_draft(&draft).await, "create_draft");
    assert_eq!(
        stored.message_id, draft.message_id,
        "mailbox: create_draft reports the Message-ID"
    );
    assert!(
        ok(mailbox.find_sent(&draft.message_id).await, "find_sent").is_none(),
        "mailbox: a draft must not count as sent"
    );

    // The sent folder, paged.
    let mut token_page: Option<String> = None;
    let mut seen = Vec::new();
    for _ in 0..50 {
        let page = ok(
            mailbox.sent_messages(token_page.as_deref(), 2).await,
            "sent_messages",
        );
        assert!(
            page.messages.len() <= 2,
            "mailbox: sent_messages honours the page size"
        );
        seen.extend(page.messages.into_iter().filter_map(|x| x.message_id));
        if seen.contains(&first.message_id) && seen.contains(&reply.message_id) {
            break;
        }
        match page.next_page {
            Some(t) => token_page = Some(t),
            None => break,
        }
    }
    assert!(
        seen.contains(&first.message_id) && seen.contains(&reply.message_id),
        "mailbox: sent_messages pages through the messages just sent"
    );
}
