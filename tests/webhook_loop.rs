//! The whole loop through the shipped host: the router (`salesagent::host::app`) and the worker
//! the hosts build (`salesagent::services::runtime::build`) over one store and the file outbox.
//!
//! signed form → draft → approve over HTTP → the send job puts the mail in `sent/` (valid RFC
//! 5322 with `List-Unsubscribe` and `List-Unsubscribe-Post`) → a reply in `inbox/` →
//! `email_replied`, the contact's other pending drafts stopped → a DSN for another sent mail →
//! `email_bounced` and suppression → a POST to a third mail's one-click URL → suppressed.

#[path = "webhook_support/mod.rs"]
mod support;

use salesagent::core::model::{DraftStatus, FormSubmission};
use salesagent::core::pipeline::PipelineConfig;
use salesagent::core::ports::{Clock as _, DraftFilter, DynClock, DynStore};
use salesagent::core::sending::SendingConfig;
use salesagent::core::worker::{Worker, WorkerConfig};
use salesagent::services::ServiceSelector;
use std::collections::HashMap;
use std::path::Path;
use support::{api, json, signed_post};

fn sending(domain: &salesagent::core::model::Domain) -> SendingConfig {
    let env: HashMap<&str, &str> = [("ALLOW_REAL_SENDS", "true"), ("SEND_WINDOW", "off")]
        .into_iter()
        .collect();
    SendingConfig::from_lookup(|k| env.get(k).map(|v| (*v).to_owned()), domain).unwrap()
}

fn worker(store: &DynStore, clock: &DynClock, outbox: &Path) -> Worker {
    let mut services = ServiceSelector::from_lookup(|_| None)
        .offline(true)
        .select(store, clock)
        .unwrap();
    services
        .use_mailbox(Some(&format!("outbox:{}", outbox.display())))
        .unwrap();
    let sender = salesagent::core::model::EmailAddress::parse("sam@seller.example").unwrap();
    salesagent::services::runtime::build(
        &services,
        store.clone(),
        clock.clone(),
        PipelineConfig::new(sender.clone()),
        &sending(sender.domain()),
        WorkerConfig::default(),
    )
    .unwrap()
    .worker
}

/// A directory under the system's temp dir, removed on drop.
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn new() -> Self {
        let p = std::env::temp_dir().join(format!("salesagent-loop-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&p).unwrap();
        Self(p)
    }
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn sent_files(outbox: &Path) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(outbox.join("sent")) {
        for e in rd.flatten() {
            out.push(std::fs::read(e.path()).unwrap());
        }
    }
    out
}

#[tokio::test]
async fn form_to_sent_mail_through_the_shipped_host_and_worker() {
    let env = support::env();
    let dir = TempDir::new();
    let clock: DynClock = env.clock.clone();
    let worker = worker(&env.store, &clock, dir.path());

    // A signed form becomes a draft.
    let body = support::form_body("f-loop-1", "ann@acme-robotics.com");
    let resp = env
        .send(signed_post("/webhooks/forms", &body, env.now()))
        .await;
    assert_eq!(resp.status(), 202);
    let stats = worker.run_until_idle(2).await.unwrap();
    assert_eq!(stats.dead, 0, "{stats:?}");
    let pending = json(
        env.send(api("GET", "/api/operator/drafts/pending", None))
            .await,
    )
    .await;
    assert_eq!(pending["count"], 1, "{pending}");
    let draft = &pending["drafts"][0];
    assert!(
        draft["priority_factors"]
            .as_array()
            .is_some_and(|f| f.len() == 3)
    );
    let id = draft["id"].as_str().unwrap().to_owned();
    let version = draft["version"].as_u64().unwrap();

    // Approved over HTTP: approval, audit entry and send job in one write.
    support::loop_driver::Loop {
        env: &env,
        worker: &worker,
    }
    .approve_and_send(&id, version)
    .await;

    // The mail is in the outbox's sent/ folder, once, as RFC 5322 with List-Unsubscribe.
    let sent = sent_files(dir.path());
    assert_eq!(sent.len(), 1);
    let parsed = mail_parser::MessageParser::default()
        .parse(&sent[0])
        .expect("valid RFC 5322");
    assert!(parsed.message_id().is_some());
    assert!(
        parsed.header("List-Unsubscribe").is_some(),
        "{}",
        String::from_utf8_lossy(&sent[0])
    );
    let drafts = env
        .store
        .list_drafts(&DraftFilter {
            status: Some(DraftStatus::Sent),
            ..DraftFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(drafts.len(), 1);
    assert!(drafts[0].sent_at.is_some());

    // Running the worker again sends nothing more.
    worker.run_until_idle(2).await.unwrap();
    assert_eq!(sent_files(dir.path()).len(), 1);
    let _ = FormSubmission::from_canonical_json(&body, clock.now()).unwrap();
}

/// The loop with outcomes: replies, bounces and one-click unsubscribes come back.
mod outcomes {
    use super::*;
    use salesagent::core::model::EmailAddress;
    use support::loop_driver::{Loop, PUBLIC, ann_replies, host_worker, public_env};

    struct World {
        env: support::Env,
        dir: TempDir,
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

    async fn world() -> World {
        let (env, config) = public_env();
        let dir = TempDir::new();
        let clock: DynClock = env.clock.clone();
        let mut services = ServiceSelector::from_lookup(|_| None)
            .offline(true)
            .select(&env.store, &clock)
            .unwrap();
        services
            .use_mailbox(Some(&format!("outbox:{}", dir.path().display())))
            .unwrap();
        let sender = EmailAddress::parse("sam@seller.example").unwrap();
        let worker = host_worker(&env, &config, &services, sender).await;
        World { env, dir, worker }
    }

    /// Submits a form for `email` and returns the new pending draft's (id, version).
    async fn form(w: &World, id: &str, email: &str) -> (String, u64) {
        w.driver().form(id, email).await
    }

    /// Approves over HTTP and runs the worker; returns the sent mail's raw bytes.
    async fn approve_and_send(w: &World, id: &str, version: u64) -> Vec<u8> {
        let before = sent_files(w.dir.path()).len();
        let d = w.driver().approve_and_send(id, version).await;
        let sent = sent_files(w.dir.path());
        assert_eq!(sent.len(), before + 1);
        let mid = d.message_id.unwrap().to_string();
        sent.into_iter()
            .find(|m| String::from_utf8_lossy(m).contains(&mid))
            .unwrap()
    }

    fn drop_in_inbox(w: &World, name: &str, raw: &str) {
        let inbox = w.dir.path().join("inbox");
        std::fs::create_dir_all(&inbox).unwrap();
        std::fs::write(inbox.join(name), raw.replace('\n', "\r\n")).unwrap();
    }

    fn message_id_of(raw: &[u8]) -> String {
        mail_parser::MessageParser::default()
            .parse(raw)
            .unwrap()
            .message_id()
            .unwrap()
            .to_owned()
    }

    #[tokio::test]
    async fn replies_bounces_and_one_click_unsubscribes_come_back() {
        let w = world().await;
        // Ann: sent; a second form of hers waits in the queue.
        let (ann1, v1) = form(&w, "f-ann-1", "ann@acme-robotics.com").await;
        let ann_mail = approve_and_send(&w, &ann1, v1).await;
        let text = String::from_utf8_lossy(&ann_mail).to_string();
        assert!(
            text.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click"),
            "{text}"
        );
        assert!(text.contains(&format!("{PUBLIC}/unsubscribe/")), "{text}");
        let (ann2, _) = form(&w, "f-ann-2", "ann@acme-robotics.com").await;
        assert_eq!(
            w.driver().outcome_types("ann@acme-robotics.com").await,
            vec!["email_sent".to_owned()]
        );

        // Her reply arrives: email_replied, and her other pending draft is stopped.
        let mid = message_id_of(&ann_mail);
        drop_in_inbox(
            &w,
            "reply-ann.eml",
            &ann_replies("sam@seller.example", &format!("<{mid}>")),
        );
        w.driver()
            .scan_finds_reply("ann@acme-robotics.com", &ann2)
            .await;

        // Bob: sent, then a DSN for it: email_bounced and suppressed.
        let (bob, vb) = form(&w, "f-bob-1", "bob@globex.example").await;
        let bob_mail = approve_and_send(&w, &bob, vb).await;
        let bob_mid = message_id_of(&bob_mail);
        drop_in_inbox(
            &w,
            "dsn-bob.eml",
            &format!(
                "From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>\n\
                 To: sam@seller.example\nAuto-Submitted: auto-replied\n\
                 Subject: Delivery Status Notification (Failure)\nIn-Reply-To: <{bob_mid}>\n\
                 References: <{bob_mid}>\nX-Failed-Recipients: bob@globex.example\n\
                 Message-ID: <dsn-1@mx.google.com>\nDate: Tue, 01 Dec 2026 10:05:00 +0000\n\
                 MIME-Version: 1.0\n\
                 Content-Type: multipart/report; boundary=\"b1\"; report-type=delivery-status\n\n\
                 --b1\nContent-Type: text/plain\n\nYour message wasn't delivered to bob@globex.example.\n\n\
                 --b1\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; googlemail.com\n\n\
                 Final-Recipient: rfc822; bob@globex.example\nAction: failed\nStatus: 5.1.1\n\n\
                 --b1--\n"
            ),
        );
        w.driver().scan_finds_bounce("bob@globex.example").await;

        // Cy: sent; he clicks the one-click link: suppressed.
        let (cy, vc) = form(&w, "f-cy-1", "cy@initech.example").await;
        let cy_mail = String::from_utf8_lossy(&approve_and_send(&w, &cy, vc).await).to_string();
        let start = cy_mail.find(&format!("{PUBLIC}/unsubscribe/")).unwrap();
        let url: String = cy_mail[start..]
            .chars()
            .take_while(|c| *c != '>' && !c.is_whitespace())
            .collect();
        let path = url.strip_prefix(PUBLIC).unwrap().to_owned();
        let resp = w
            .env
            .send(
                axum::http::Request::post(&path)
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(axum::body::Body::from("List-Unsubscribe=One-Click"))
                    .unwrap(),
            )
            .await;
        assert_eq!(resp.status(), 200);
        let cy_addr = EmailAddress::parse("cy@initech.example").unwrap();
        assert!(w.env.store.suppression(&cy_addr).await.unwrap().is_some());
    }
}

/// Auto-approval in the service: an approved recipient's draft is approved by the rules (with
/// the rule and its explanation recorded) and leaves through the same send path; with the kill
/// switch on, nothing is auto-approved.
mod auto_approval {
    use super::*;
    use salesagent::core::model::{ApprovedRecipient, EmailAddress};
    use salesagent::core::ports::SettingsExt as _;

    fn worker_with_rules(store: &DynStore, clock: &DynClock, outbox: &Path) -> Worker {
        let mut services = ServiceSelector::from_lookup(|_| None)
            .offline(true)
            .select(store, clock)
            .unwrap();
        services
            .use_mailbox(Some(&format!("outbox:{}", outbox.display())))
            .unwrap();
        let sender = EmailAddress::parse("sam@seller.example").unwrap();
        let env: HashMap<&str, &str> = [
            ("ALLOW_REAL_SENDS", "true"),
            ("SEND_WINDOW", "off"),
            ("AUTO_APPROVE_ENABLED", "true"),
        ]
        .into_iter()
        .collect();
        let sending =
            SendingConfig::from_lookup(|k| env.get(k).map(|v| (*v).to_owned()), sender.domain())
                .unwrap();
        salesagent::services::runtime::build(
            &services,
            store.clone(),
            clock.clone(),
            PipelineConfig::new(sender),
            &sending,
            WorkerConfig::default(),
        )
        .unwrap()
        .worker
    }

    async fn approve_recipient(env: &support::Env, email: &str) {
        env.store
            .add_approved_recipient(&ApprovedRecipient {
                email: EmailAddress::parse(email).unwrap(),
                added_by: "operator:test".into(),
                added_at: env.now(),
            })
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn an_approved_recipient_is_auto_approved_and_sent_unless_the_kill_switch_is_on() {
        let env = support::env();
        let dir = TempDir::new();
        let clock: DynClock = env.clock.clone();
        let worker = worker_with_rules(&env.store, &clock, dir.path());
        approve_recipient(&env, "ann@acme-robotics.com").await;
        approve_recipient(&env, "bob@globex.example").await;

        let body = support::form_body("f-auto-1", "ann@acme-robotics.com");
        let resp = env
            .send(signed_post("/webhooks/forms", &body, env.now()))
            .await;
        assert_eq!(resp.status(), 202);
        worker.run_until_idle(2).await.unwrap();
        let sent = env
            .store
            .list_drafts(&DraftFilter {
                status: Some(DraftStatus::Sent),
                ..DraftFilter::default()
            })
            .await
            .unwrap();
        assert_eq!(sent.len(), 1);
        let decision = sent[0].rule_decision.as_ref().expect("the rules' decision");
        assert!(decision.approve);
        assert!(
            decision
                .verdicts
                .iter()
                .any(|v| v.matched && !v.reason.is_empty())
        );
        assert_eq!(sent_files(dir.path()).len(), 1);

        // Kill switch on: the next approved recipient's draft waits for an operator.
        env.store.set_kill_switch(true).await.unwrap();
        let body = support::form_body("f-auto-2", "bob@globex.example");
        let resp = env
            .send(signed_post("/webhooks/forms", &body, env.now()))
            .await;
        assert_eq!(resp.status(), 202);
        worker.run_until_idle(2).await.unwrap();
        let pending = json(
            env.send(api("GET", "/api/operator/drafts/pending", None))
                .await,
        )
        .await;
        assert_eq!(pending["count"], 1, "{pending}");
        assert_eq!(sent_files(dir.path()).len(), 1);
    }
}
