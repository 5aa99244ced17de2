//! The loop on PostgreSQL with two worker processes: the shipped router in this process does
//! intake and the operator API; two `cli work` processes (the shipped worker, every job kind)
//! share the database and the file outbox, as a deployment with separate worker machines would.
//!
//! signed form → draft → approve over HTTP → one mail in `sent/` → a reply in `inbox/` →
//! `email_replied` and the contact's other pending draft stopped → a DSN for another sent mail →
//! `email_bounced` and suppression; never a second copy of any mail.
//!
//! Skips with a notice when PostgreSQL cannot be started here or the `cli` example is not built.

#[path = "webhook_support/mod.rs"]
mod support;

use salesagent::core::model::{DraftId, DraftStatus, EmailAddress};
use salesagent::core::ports::{Clock, DynClock, DynStore, SystemClock};
use salesagent::host::AppState;
use salesagent::store::testing::TempPostgres;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;
use support::{api, json};

/// Generous bound for each step (the workers poll every 0.5 s; scans are woken over HTTP).
const STEP: Duration = Duration::from_secs(90);

fn cli_binary() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let bin = exe
        .parent()?
        .parent()?
        .join("examples")
        .join(format!("cli{}", std::env::consts::EXE_SUFFIX));
    bin.is_file().then_some(bin)
}

/// Worker processes, killed on drop.
struct Workers(Vec<Child>);

impl Drop for Workers {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn spawn_workers(bin: &Path, url: &str, outbox: &Path, log_dir: &Path, n: usize) -> Workers {
    let mut children = Vec::new();
    for i in 0..n {
        let log = std::fs::File::create(log_dir.join(format!("worker-{i}.log"))).unwrap();
        let child = Command::new(bin)
            .args(["--database", url, "--offline", "work", "--concurrency", "2"])
            .arg("--mailbox")
            .arg(format!("outbox:{}", outbox.display()))
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env_remove("DATABASE_URL")
            .env_remove("OPENAI_API_KEY")
            .env_remove("HUBSPOT_ACCESS_TOKEN")
            .env_remove("GOOGLE_CLIENT_ID")
            .env("ALLOW_REAL_SENDS", "true")
            .env("SEND_WINDOW", "off")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        children.push(child);
    }
    Workers(children)
}

/// Polls `check` until it returns `Some`, for at most [`STEP`].
async fn eventually<T, F, Fut>(what: &str, logs: &Path, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = std::time::Instant::now();
    loop {
        if let Some(v) = check().await {
            return v;
        }
        if start.elapsed() > STEP {
            for i in 0..2 {
                let log = std::fs::read_to_string(logs.join(format!("worker-{i}.log")))
                    .unwrap_or_default();
                eprintln!("--- worker {i} log (tail) ---");
                for line in log
                    .lines()
                    .rev()
                    .take(30)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                {
                    eprintln!("{line}");
                }
            }
            panic!("timed out waiting for: {what}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Every mail in `sent/`, by Message-ID (a duplicate would show as a count above 1).
fn sent_by_message_id(outbox: &Path) -> HashMap<String, (usize, Vec<u8>)> {
    let mut out: HashMap<String, (usize, Vec<u8>)> = HashMap::new();
    if let Ok(rd) = std::fs::read_dir(outbox.join("sent")) {
        for e in rd.flatten() {
            let raw = std::fs::read(e.path()).unwrap();
            let id = mail_parser::MessageParser::default()
                .parse(&raw)
                .and_then(|m| m.message_id().map(str::to_owned))
                .unwrap_or_default();
            let entry = out.entry(id).or_insert((0, raw));
            entry.0 += 1;
        }
    }
    out
}

fn drop_in_inbox(outbox: &Path, name: &str, raw: &str) {
    let inbox = outbox.join("inbox");
    std::fs::create_dir_all(&inbox).unwrap();
    let tmp = inbox.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, raw.replace('\n', "\r\n")).unwrap();
    std::fs::rename(tmp, inbox.join(name)).unwrap();
}

struct World {
    store: DynStore,
    state: AppState,
    outbox: PathBuf,
    logs: PathBuf,
}

impl World {
    async fn send(
        &self,
        req: axum::http::Request<axum::body::Body>,
    ) -> axum::http::Response<axum::body::Body> {
        use tower::ServiceExt as _;
        salesagent::host::app(self.state.clone())
            .oneshot(req)
            .await
            .unwrap()
    }

    /// Posts a signed form for `email` and waits for its pending draft: (id, version).
    async fn form(&self, id: &str, email: &str) -> (String, u64) {
        let now = SystemClock.now();
        let resp = self
            .send(support::signed_post(
                "/webhooks/forms",
                &support::form_body(id, email),
                now,
            ))
            .await;
        assert_eq!(resp.status(), 202);
        eventually(&format!("a pending draft for {id}"), &self.logs, || async {
            let pending = json(
                self.send(api("GET", "/api/operator/drafts/pending", None))
                    .await,
            )
            .await;
            pending["drafts"].as_array().and_then(|ds| {
                ds.iter().find(|d| d["contact_email"] == email).map(|d| {
                    (
                        d["id"].as_str().unwrap().to_owned(),
                        d["version"].as_u64().unwrap(),
                    )
                })
            })
        })
        .await
    }

    /// Approves over HTTP and waits until the draft is sent; returns its raw mail.
    async fn approve_and_wait_sent(&self, id: &str, version: u64) -> Vec<u8> {
        let resp = self
            .send(api(
                "POST",
                &format!("/api/operator/drafts/{id}/approve"),
                Some(serde_json::json!({ "version": version })),
            ))
            .await;
        assert_eq!(resp.status(), 200);
        let draft_id: DraftId = id.parse().unwrap();
        let mid = eventually(&format!("draft {id} sent"), &self.logs, || async {
            let d = self.store.get_draft(draft_id).await.ok()?;
            (d.status == DraftStatus::Sent).then(|| d.message_id.unwrap().to_string())
        })
        .await;
        let sent = sent_by_message_id(&self.outbox);
        let (count, raw) = sent.get(&mid).cloned().expect("the sent mail is in sent/");
        assert_eq!(count, 1);
        raw
    }

    async fn outcome_types(&self, email: &str) -> Vec<String> {
        let v = json(
            self.send(api("GET", &format!("/api/outcomes/contact/{email}"), None))
                .await,
        )
        .await;
        v["outcomes"]
            .as_array()
            .map(|os| {
                os.iter()
                    .map(|o| o["outcome_type"].as_str().unwrap_or_default().to_owned())
                    .collect()
            })
            .unwrap_or_default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_loop_on_postgres_with_two_worker_processes() {
    let Some(bin) = cli_binary() else {
        eprintln!("SKIPPED: the cli example binary is not built (plain `cargo test` builds it)");
        return;
    };
    let Some(url) = TempPostgres::fresh_database_or_skip().await else {
        return;
    };
    let clock: DynClock = Arc::new(SystemClock);
    let store = salesagent::services::open_store(&url, clock.clone())
        .await
        .unwrap();
    let dir = std::env::temp_dir().join(format!("salesagent-loop-pg-{}", uuid::Uuid::new_v4()));
    let outbox = dir.join("outbox");
    std::fs::create_dir_all(&outbox).unwrap();
    let _workers = spawn_workers(&bin, &url, &outbox, &dir, 2);
    let world = World {
        state: AppState::new(store.clone(), clock, support::config()),
        store,
        outbox: outbox.clone(),
        logs: dir.clone(),
    };

    // Ann: one form approved and sent; a second form waits.
    let (ann1, v1) = world.form("f-pg-ann-1", "ann@acme-robotics.com").await;
    let ann_mail = world.approve_and_wait_sent(&ann1, v1).await;
    let text = String::from_utf8_lossy(&ann_mail).to_string();
    assert!(text.contains("List-Unsubscribe:"), "{text}");
    let resp = world
        .send(support::signed_post(
            "/webhooks/forms",
            &support::form_body("f-pg-ann-2", "ann@acme-robotics.com"),
            SystemClock.now(),
        ))
        .await;
    assert_eq!(resp.status(), 202);
    let ann2: DraftId = eventually("Ann's second draft", &world.logs, || async {
        let pending = json(
            world
                .send(api("GET", "/api/operator/drafts/pending", None))
                .await,
        )
        .await;
        pending["drafts"].as_array().and_then(|ds| {
            ds.iter()
                .find(|d| d["contact_email"] == "ann@acme-robotics.com")
                .and_then(|d| d["id"].as_str().map(|s| s.parse().unwrap()))
        })
    })
    .await;

    // Her reply: email_replied, and the second draft is stopped.
    let mid = mail_parser::MessageParser::default()
        .parse(&ann_mail)
        .unwrap()
        .message_id()
        .unwrap()
        .to_owned();
    drop_in_inbox(
        &outbox,
        "reply-ann.eml",
        &format!(
            "From: Ann <ann@acme-robotics.com>\nTo: sales@example.com\nSubject: Re: your note\n\
             Message-ID: <pg-reply-1@acme-robotics.com>\nIn-Reply-To: <{mid}>\nReferences: <{mid}>\n\
             Date: Tue, 01 Dec 2026 10:00:00 +0000\nContent-Type: text/plain; charset=utf-8\n\n\
             Sounds great, let's talk on Tuesday.\n"
        ),
    );
    assert_eq!(
        world
            .send(api("POST", "/api/outcomes/detect/mailbox", None))
            .await
            .status(),
        202
    );
    eventually("email_replied for Ann", &world.logs, || async {
        world
            .outcome_types("ann@acme-robotics.com")
            .await
            .contains(&"email_replied".to_owned())
            .then_some(())
    })
    .await;
    eventually("Ann's other draft stopped", &world.logs, || async {
        let d = world.store.get_draft(ann2).await.ok()?;
        (d.status == DraftStatus::Rejected).then_some(())
    })
    .await;

    // Bob: sent, then a DSN: email_bounced and suppressed.
    let (bob, vb) = world.form("f-pg-bob-1", "bob@globex.example").await;
    let bob_mail = world.approve_and_wait_sent(&bob, vb).await;
    let bob_mid = mail_parser::MessageParser::default()
        .parse(&bob_mail)
        .unwrap()
        .message_id()
        .unwrap()
        .to_owned();
    drop_in_inbox(
        &outbox,
        "dsn-bob.eml",
        &format!(
            "From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>\nTo: sales@example.com\n\
             Auto-Submitted: auto-replied\nSubject: Delivery Status Notification (Failure)\n\
             In-Reply-To: <{bob_mid}>\nReferences: <{bob_mid}>\nX-Failed-Recipients: bob@globex.example\n\
             Message-ID: <pg-dsn-1@mx.google.com>\nDate: Tue, 01 Dec 2026 10:05:00 +0000\nMIME-Version: 1.0\n\
             Content-Type: multipart/report; boundary=\"b1\"; report-type=delivery-status\n\n\
             --b1\nContent-Type: text/plain\n\nYour message wasn't delivered to bob@globex.example.\n\n\
             --b1\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; googlemail.com\n\n\
             Final-Recipient: rfc822; bob@globex.example\nAction: failed\nStatus: 5.1.1\n\n--b1--\n"
        ),
    );
    assert_eq!(
        world
            .send(api("POST", "/api/outcomes/detect/mailbox", None))
            .await
            .status(),
        202
    );
    let bob_addr = EmailAddress::parse("bob@globex.example").unwrap();
    // The scan writes the suppression and the outcome one after the other (another process):
    // wait for both, not for the first.
    eventually(
        "Bob suppressed and email_bounced recorded",
        &world.logs,
        || async {
            let suppressed = world.store.suppression(&bob_addr).await.ok().flatten();
            let bounced = world
                .outcome_types("bob@globex.example")
                .await
                .contains(&"email_bounced".to_owned());
            suppressed.filter(|_| bounced).map(|_| ())
        },
    )
    .await;

    // Never a second copy of any mail.
    let sent = sent_by_message_id(&outbox);
    assert_eq!(sent.len(), 2, "{:?}", sent.keys().collect::<Vec<_>>());
    assert!(sent.values().all(|(n, _)| *n == 1));
    let _ = std::fs::remove_dir_all(&dir);
}
