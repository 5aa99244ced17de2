//! The mailbox conformance suite.

use super::{expect_err, ok, unique};
use crate::model::{Domain, EmailAddress, MailQuery, MessageId, OutgoingMessage, ThreadId};
use crate::ports::Mailbox;

/// Who the mailbox under test is, and what its provider can promise.
#[derive(Debug, Clone)]
pub struct MailboxFixture {
    /// The mailbox's own address (the `From` of messages the suite sends).
    pub me: EmailAddress,
    /// Domain of the recipients the suite writes to (fresh local parts each run).
    pub peer_domain: Domain,
    /// The provider refuses to deliver one Message-ID twice (checks the resend rule).
    pub dedupes_message_id: bool,
}

impl Default for MailboxFixture {
    fn default() -> Self {
        Self {
            me: EmailAddress::parse("seller@salesagent.example").expect("valid address"),
            peer_domain: Domain::parse("conformance.example").expect("valid domain"),
            dedupes_message_id: true,
        }
    }
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

/// Runs the mailbox suite against `mailbox`.
pub async fn run<M: Mailbox + ?Sized>(mailbox: &M, fixture: &MailboxFixture) {
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
