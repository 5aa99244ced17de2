//! The one loop with the IMAP + SMTP mailbox against real servers (a throwaway Dovecot + Postfix
//! from `imap_support`; skipped with a notice where they cannot run): signed form → draft →
//! approve over HTTP → the worker sends through Postfix (delivered to the lead's real mailbox
//! once, a copy in the Sent folder, no draft left in the Drafts folder) → the lead's reply and
//! a DSN arrive over SMTP → the outcome scan reads them through IMAP: `email_replied` (and the
//! lead's other pending draft stopped), `email_bounced` and suppression.
//!
//! The selection is the shipped one: `IMAP_URL` / `SMTP_URL` select the mailbox, and
//! `use_mailbox(Some("imap"))` is what the hosts' `--mailbox imap` does.

#[path = "webhook_support/mod.rs"]
mod support;

#[path = "../salesagent-connectors/tests/imap_support/mod.rs"]
mod imap_support;

use imap_support::{MailServers, USER};
use salesagent::core::model::{EmailAddress, MessageId};
use salesagent::core::ports::DynClock;
use salesagent::core::worker::Worker;
use salesagent::services::{Implementation, Port, ServiceSelector, Services};
use std::collections::HashMap;
use std::time::Duration;
use support::loop_driver::{Loop, ann_replies, host_worker, public_env};

struct World {
    env: support::Env,
    servers: MailServers,
    services: Services,
    worker: Worker,
}

impl World {
    fn driver(&self) -> Loop<'_> {
        Loop {
            env: &self.env,
            worker: &self.worker,
        }
    }
}

async fn world(servers: MailServers) -> World {
    let (env, config) = public_env();
    let clock: DynClock = env.clock.clone();
    let vars: HashMap<&str, String> = [
        ("IMAP_URL", servers.imap_url()),
        ("SMTP_URL", servers.smtp_url()),
    ]
    .into_iter()
    .collect();
    let mut services = ServiceSelector::from_lookup(move |k| vars.get(k).cloned())
        .select(&env.store, &clock)
        .unwrap();
    services.check_configured().unwrap();
    let choice = services.choice(Port::Mailbox).unwrap();
    assert_eq!(choice.implementation, Implementation::Real, "{choice:?}");
    services.use_mailbox(Some("imap")).unwrap();
    let sender = EmailAddress::parse(USER).unwrap();
    let worker = host_worker(&env, &config, &services, sender).await;
    World {
        env,
        servers,
        services,
        worker,
    }
}

/// Submits a form for `email` and returns the new pending draft's (id, version).
async fn form(w: &World, id: &str, email: &str) -> (String, u64) {
    w.driver().form(id, email).await
}

/// Approves over HTTP, runs the worker and returns the sent Message-ID once the lead's real
/// mailbox holds the message.
async fn approve_and_send(w: &World, id: &str, version: u64, lead: &str) -> MessageId {
    let d = w.driver().approve_and_send(id, version).await;
    let mid = d.message_id.unwrap();
    // In the Sent folder (the reconciliation point) ...
    let sent = w.services.mailbox.find_sent(&mid).await.unwrap();
    assert!(sent.is_some(), "the Sent folder holds {mid}");
    // ... and delivered by Postfix into the lead's own mailbox, once.
    wait_for(w, &format!("delivery to {lead}"), || {
        w.servers.maildirs_matching(lead) == vec![(lead.to_owned(), 1)]
    })
    .await;
    mid
}

async fn wait_for(w: &World, what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..300 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{what} never happened\n{}", w.servers.logs());
}

/// Delivers `raw` to the seller over SMTP and waits until IMAP shows it.
async fn arrives(w: &World, from: &str, raw: &str, id: &str) {
    w.servers
        .inject(from, USER, raw.replace('\n', "\r\n").as_bytes());
    let id = MessageId::parse(id).unwrap();
    for _ in 0..300 {
        let found = w
            .services
            .mailbox
            .search(&salesagent::core::model::MailQuery {
                message_id: Some(id.clone()),
                ..Default::default()
            })
            .await
            .unwrap();
        if !found.is_empty() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{id} never arrived\n{}", w.servers.logs());
}

#[tokio::test]
async fn form_to_sent_reply_and_bounce_through_imap_and_smtp() {
    let Some(servers) = MailServers::start() else {
        return;
    };
    let w = world(servers).await;

    // Ann: sent through Postfix; a second form of hers waits in the queue.
    let (ann1, v1) = form(&w, "f-ann-1", "ann@acme-robotics.com").await;
    let mid = approve_and_send(&w, &ann1, v1, "ann@acme-robotics.com").await;
    // The sender stored a mailbox draft before sending; sending it removed it.
    assert_eq!(w.servers.folder_count(USER, "Brouillons"), 0);
    assert_eq!(w.servers.folder_count(USER, "Sent Items"), 1);
    let (ann2, _) = form(&w, "f-ann-2", "ann@acme-robotics.com").await;
    assert_eq!(
        w.driver().outcome_types("ann@acme-robotics.com").await,
        vec!["email_sent".to_owned()]
    );

    // Her reply arrives over SMTP: email_replied, and her other pending draft is stopped.
    arrives(
        &w,
        "ann@acme-robotics.com",
        &ann_replies(USER, &mid.bracketed()),
        "reply-1@acme-robotics.com",
    )
    .await;
    w.driver()
        .scan_finds_reply("ann@acme-robotics.com", &ann2)
        .await;

    // Bob: sent, then a DSN (multipart/report, from <>) for it: email_bounced and suppressed.
    let (bob, vb) = form(&w, "f-bob-1", "bob@globex.example").await;
    let bob_mid = approve_and_send(&w, &bob, vb, "bob@globex.example").await;
    arrives(
        &w,
        "",
        &format!(
            "From: Mail Delivery System <MAILER-DAEMON@mx.globex.example>\n\
             To: {USER}\nAuto-Submitted: auto-replied\n\
             Subject: Undelivered Mail Returned to Sender\nIn-Reply-To: {0}\n\
             References: {0}\nX-Failed-Recipients: bob@globex.example\n\
             Message-ID: <dsn-1@mx.globex.example>\nDate: Tue, 01 Dec 2026 10:05:00 +0000\n\
             MIME-Version: 1.0\n\
             Content-Type: multipart/report; boundary=\"b1\"; report-type=delivery-status\n\n\
             --b1\nContent-Type: text/plain\n\nYour message could not be delivered to bob@globex.example.\n\n\
             --b1\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.globex.example\n\n\
             Final-Recipient: rfc822; bob@globex.example\nAction: failed\nStatus: 5.1.1\n\n\
             --b1--\n",
            bob_mid.bracketed()
        ),
        "dsn-1@mx.globex.example",
    )
    .await;
    w.driver().scan_finds_bounce("bob@globex.example").await;

    // Running the worker again sends nothing more: each lead got exactly one message.
    w.worker.run_until_idle(2).await.unwrap();
    assert_eq!(
        w.servers.maildirs_matching("ann@"),
        vec![("ann@acme-robotics.com".to_owned(), 1)]
    );
    assert_eq!(w.servers.folder_count(USER, "Sent Items"), 2);
}
