//! The IMAP + SMTP mailbox against real servers: a throwaway Dovecot (IMAP, LMTP) and Postfix
//! (SMTP, delivering into Dovecot) started by `imap_support` (skipped with a notice where they
//! cannot run). The `Mailbox` conformance suite, then what the suite cannot see: special-use
//! folder discovery, real delivery to the recipient (once), mail arriving over SMTP in the
//! history, a `UIDVALIDITY` change, and refused credentials.
#![cfg(feature = "imap")]

mod imap_support;

use imap_support::{MailServers, PASSWORD, USER};
use salesagent_connectors::imap::{ImapBuilder, ImapMailbox};
use salesagent_core::model::{EmailAddress, MailQuery, MessageId, OutgoingMessage};
use salesagent_core::ports::Mailbox;
use salesagent_core::testing::conformance;
use std::time::Duration;

fn mailbox(s: &MailServers) -> ImapMailbox {
    ImapBuilder::from_urls(&s.imap_url(), &s.smtp_url())
        .build()
        .expect("mailbox")
}

/// Polls `f` until it answers `Some` (mail delivery through Postfix is asynchronous).
async fn eventually<T, F: std::future::Future<Output = Option<T>>>(
    what: &str,
    s: &MailServers,
    mut f: impl FnMut() -> F,
) -> T {
    for _ in 0..300 {
        if let Some(v) = f().await {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{what} never happened\n{}", s.logs());
}

#[tokio::test]
async fn imap_smtp_passes_the_mailbox_suite_against_dovecot_and_postfix() {
    let Some(servers) = MailServers::start() else {
        return;
    };
    let mb = mailbox(&servers);
    mb.check()
        .await
        .expect("doctor check: login + NOOP, SMTP login");
    // Discovered from the special-use attributes: neither name is a guess's first choice.
    assert_eq!(
        mb.folders().await.unwrap(),
        ("Sent Items".to_owned(), "Brouillons".to_owned())
    );
    let fixture = conformance::mailbox::MailboxFixture {
        me: EmailAddress::parse(USER).unwrap(),
        ..conformance::mailbox::MailboxFixture::default()
    };
    conformance::mailbox::run(&mb, &fixture).await;
    // Reused: a second run uses fresh addresses (and a fresh connection after close).
    mb.close().await;
    conformance::mailbox::run(&mb, &fixture).await;

    // Each run sends two messages to one peer (the second send of the first one is answered
    // from the Sent folder): the peer's real mailbox got exactly two per run, never three.
    let peers = servers.maildirs_matching("lead.");
    assert_eq!(peers.len(), 2, "{peers:?}");
    for (peer, count) in peers {
        assert_eq!(count, 2, "{peer} got each message once");
    }
    // No draft is ever delivered, and the suite's unsent drafts stay in the Drafts folder.
    assert!(servers.maildirs_matching("draft.").is_empty());
}

fn message(to: &str, subject: &str) -> OutgoingMessage {
    let from = EmailAddress::parse(USER).unwrap();
    let id = MessageId::generate(from.domain());
    let raw = format!(
        "From: {from}\r\nTo: {to}\r\nSubject: {subject}\r\nDate: Tue, 3 Mar 2026 09:00:00 +0000\r\nMessage-ID: {}\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHello.\r\n",
        id.bracketed()
    );
    OutgoingMessage {
        message_id: id,
        from,
        to: vec![EmailAddress::parse(to).unwrap()],
        thread_id: None,
        raw: raw.into_bytes(),
    }
}

#[tokio::test]
async fn mail_arriving_over_smtp_shows_in_history_search_and_thread() {
    let Some(servers) = MailServers::start() else {
        return;
    };
    let mb = mailbox(&servers);
    let cursor = mb.history(None).await.unwrap().next_cursor.unwrap();
    let out = message("ann@acme-robotics.example", "Pilot for Acme");
    let sent = mb.send(&out).await.unwrap();
    let reply = format!(
        "From: Ann <ann@acme-robotics.example>\r\nTo: {USER}\r\nSubject: Re: Pilot for Acme\r\nDate: Tue, 3 Mar 2026 10:00:00 +0000\r\nMessage-ID: <reply-1@acme-robotics.example>\r\nIn-Reply-To: {0}\r\nReferences: {0}\r\n\r\nSounds good, call me.\r\n",
        out.message_id.bracketed()
    );
    servers.inject("ann@acme-robotics.example", USER, reply.as_bytes());
    let reply_id = MessageId::parse("reply-1@acme-robotics.example").unwrap();
    let page = eventually("the reply in history", &servers, || {
        let (mb, cursor, id) = (mb.clone(), cursor.clone(), reply_id.clone());
        async move {
            let page = mb.history(Some(&cursor)).await.unwrap();
            page.messages
                .iter()
                .any(|m| m.message_id.as_ref() == Some(&id))
                .then_some(page)
        }
    })
    .await;
    let ids: Vec<_> = page.messages.iter().map(|m| m.message_id.clone()).collect();
    assert_eq!(
        ids,
        vec![Some(out.message_id.clone()), Some(reply_id.clone())],
        "oldest first"
    );
    let inbound = &page.messages[1];
    assert_eq!(inbound.labels, vec!["INBOX".to_owned()]);
    assert_eq!(inbound.in_reply_to.as_ref(), Some(&out.message_id));
    assert!(inbound.body_text.contains("call me"));
    let thread = mb
        .get_thread(sent.thread_id.as_ref().unwrap())
        .await
        .unwrap();
    assert_eq!(thread.len(), 2, "our message and the reply share a thread");
    let by_lead = mb
        .search(&MailQuery {
            participant: Some(EmailAddress::parse("ann@acme-robotics.example").unwrap()),
            ..MailQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(
        by_lead[0].message_id.as_ref(),
        Some(&reply_id),
        "newest first"
    );
    let next = page.next_cursor.unwrap();
    assert!(mb.history(Some(&next)).await.unwrap().messages.is_empty());

    // The inbox's UIDVALIDITY changes (a server restore, a recreated folder): the cursor is
    // expired (NotFound), so the outcome scan re-syncs by search instead of skipping mail.
    servers.set_uid_validity("INBOX", 4242);
    mb.close().await;
    let err = mb.history(Some(&next)).await.unwrap_err();
    assert_eq!(err.kind(), "not_found", "{err}");
    assert!(mb.history(None).await.unwrap().next_cursor.is_some());
    assert_eq!(
        mb.history(Some("gmail:123")).await.unwrap_err().kind(),
        "invalid_input"
    );
}

#[tokio::test]
async fn refused_credentials_are_unauthenticated_and_a_refused_recipient_is_invalid() {
    let Some(servers) = MailServers::start() else {
        return;
    };
    let wrong = servers.imap_url().replace(PASSWORD, "wrong");
    let mb = ImapBuilder::from_urls(&wrong, &servers.smtp_url())
        .build()
        .unwrap();
    let err = mb.check().await.unwrap_err();
    assert_eq!(err.kind(), "unauthenticated", "{err}");
    let err = mb
        .find_sent(&MessageId::parse("x@y.example").unwrap())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), "unauthenticated", "{err}");
    // SMTP alone with a wrong password: refused before anything is submitted.
    let smtp_wrong = format!(
        "smtp://{}:wrong@127.0.0.1:{}?tls=none",
        USER.replace('@', "%40"),
        servers.smtp_port
    );
    let mb = ImapBuilder::from_urls(&servers.imap_url(), &smtp_wrong)
        .build()
        .unwrap();
    let err = mb
        .send(&message("bob@acme-robotics.example", "Hi"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), "unauthenticated", "{err}");
    assert!(servers.maildirs_matching("bob@").is_empty());
}
