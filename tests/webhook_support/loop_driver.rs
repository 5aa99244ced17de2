//! The shared flow of the whole-loop tests (`webhook_loop.rs` over the file outbox,
//! `webhook_loop_imap.rs` over IMAP + SMTP): the shipped router and a worker the hosts build,
//! driven as an operator would. Each test keeps only what its mailbox makes different (where a
//! sent mail shows up, how a reply arrives).

use super::{Env, SECRET, api, form_body, json, sign_v3};
use axum::body::Body;
use axum::http::{Request, header};
use salesagent::core::model::{Draft, DraftStatus, EmailAddress};
use salesagent::core::pipeline::PipelineConfig;
use salesagent::core::ports::DynClock;
use salesagent::core::sending::SendingConfig;
use salesagent::core::worker::{Worker, WorkerConfig};
use salesagent::host::{AppState, HostConfig};
use salesagent::services::Services;
use std::collections::HashMap;

/// The external origin the loop tests configure ([`salesagent::host::HostConfig::public_url`]):
/// webhooks are signed for it and one-click links point at it.
pub const PUBLIC: &str = "https://hooks.example.test";

/// One host and the worker draining its queue.
pub struct Loop<'a> {
    /// The host (router, store, clock).
    pub env: &'a Env,
    /// The worker the hosts build.
    pub worker: &'a Worker,
}

impl Loop<'_> {
    /// A POST of `body` to `path`, signed (HubSpot v3) for [`PUBLIC`] + `path`.
    pub fn signed(&self, path: &str, body: &str) -> Request<Body> {
        let ts = self.env.now().timestamp_millis().to_string();
        let sig = sign_v3(
            SECRET,
            "POST",
            &format!("{PUBLIC}{path}"),
            body.as_bytes(),
            &ts,
        );
        Request::post(path)
            .header(header::HOST, super::HOST)
            .header(header::CONTENT_TYPE, "application/json")
            .header("X-HubSpot-Signature-v3", sig)
            .header("X-HubSpot-Request-Timestamp", ts)
            .body(Body::from(body.to_owned()))
            .unwrap()
    }

    /// Submits a signed form for `email`, runs the worker and returns the new pending draft's
    /// (id, version).
    pub async fn form(&self, id: &str, email: &str) -> (String, u64) {
        let resp = self
            .env
            .send(self.signed("/webhooks/forms", &form_body(id, email)))
            .await;
        assert_eq!(resp.status(), 202);
        self.worker.run_until_idle(2).await.unwrap();
        let pending = json(
            self.env
                .send(api("GET", "/api/operator/drafts/pending", None))
                .await,
        )
        .await;
        let d = pending["drafts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["contact_email"] == email && d["submission_id"].is_string())
            .unwrap_or_else(|| panic!("no pending draft for {email}: {pending}"))
            .clone();
        (
            d["id"].as_str().unwrap().to_owned(),
            d["version"].as_u64().unwrap(),
        )
    }

    /// Approves draft `id` seen at `version` over HTTP, runs the worker (no job dead or
    /// retrying) and returns the draft, sent.
    pub async fn approve_and_send(&self, id: &str, version: u64) -> Draft {
        let resp = self
            .env
            .send(api(
                "POST",
                &format!("/api/operator/drafts/{id}/approve"),
                Some(serde_json::json!({ "version": version })),
            ))
            .await;
        assert_eq!(resp.status(), 200);
        let stats = self.worker.run_until_idle(2).await.unwrap();
        assert_eq!((stats.dead, stats.retrying), (0, 0), "{stats:?}");
        let d = self.env.store.get_draft(id.parse().unwrap()).await.unwrap();
        assert_eq!(d.status, DraftStatus::Sent, "{d:?}");
        d
    }

    /// Makes the mailbox scan due over HTTP and runs it.
    pub async fn scan_mailbox_now(&self) {
        let resp = self
            .env
            .send(api("POST", "/api/outcomes/detect/mailbox", None))
            .await;
        assert_eq!(resp.status(), 202);
        self.worker.run_until_idle(2).await.unwrap();
    }

    /// Scans the mailbox, which holds a reply from `email` to a sent draft: `email_replied` is
    /// recorded and the contact's other pending draft `other` is stopped (rejected).
    pub async fn scan_finds_reply(&self, email: &str, other: &str) {
        self.scan_mailbox_now().await;
        let types = self.outcome_types(email).await;
        assert!(types.contains(&"email_replied".to_owned()), "{types:?}");
        let other = self
            .env
            .store
            .get_draft(other.parse().unwrap())
            .await
            .unwrap();
        assert_eq!(other.status, DraftStatus::Rejected, "{other:?}");
    }

    /// Scans the mailbox, which holds a bounce for `email`: `email_bounced` is recorded and the
    /// address suppressed.
    pub async fn scan_finds_bounce(&self, email: &str) {
        self.scan_mailbox_now().await;
        let types = self.outcome_types(email).await;
        assert!(types.contains(&"email_bounced".to_owned()), "{types:?}");
        let address = EmailAddress::parse(email).unwrap();
        assert!(
            self.env
                .store
                .suppression(&address)
                .await
                .unwrap()
                .is_some()
        );
    }

    /// The outcome types recorded for `email`, as the API lists them.
    pub async fn outcome_types(&self, email: &str) -> Vec<String> {
        let v = json(
            self.env
                .send(api("GET", &format!("/api/outcomes/contact/{email}"), None))
                .await,
        )
        .await;
        v["outcomes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["outcome_type"].as_str().unwrap_or_default().to_owned())
            .collect()
    }
}

/// Ann's reply (`Message-ID: <reply-1@acme-robotics.com>`) to the seller at `to`, in reply to
/// `in_reply_to` (bracketed), with `\n` line ends.
pub fn ann_replies(to: &str, in_reply_to: &str) -> String {
    format!(
        "From: Ann <ann@acme-robotics.com>\nTo: {to}\n\
         Subject: Re: your note\nMessage-ID: <reply-1@acme-robotics.com>\n\
         In-Reply-To: {in_reply_to}\nReferences: {in_reply_to}\n\
         Date: Tue, 01 Dec 2026 10:00:00 +0000\n\
         Content-Type: text/plain; charset=utf-8\n\nSounds great, let's talk on Tuesday.\n"
    )
}

/// The host of a loop test: [`super::config`] with [`PUBLIC`] as its public URL (no metrics
/// recorder).
pub fn public_env() -> (Env, HostConfig) {
    let config = HostConfig {
        public_url: Some(PUBLIC.to_owned()),
        ..super::config()
    };
    let mut env = super::env_with(config.clone());
    env.state = AppState::new(env.store.clone(), env.clock.clone(), config.clone());
    (env, config)
}

/// The worker the hosts build over `services` for `env`'s store and clock, mailing as
/// `sender` with real sends allowed and no send window, one-click links configured as the
/// host configures them, and the recurring jobs the host ensures at start-up.
pub async fn host_worker(
    env: &Env,
    config: &HostConfig,
    services: &Services,
    sender: EmailAddress,
) -> Worker {
    let vars: HashMap<&str, &str> = [("ALLOW_REAL_SENDS", "true"), ("SEND_WINDOW", "off")]
        .into_iter()
        .collect();
    let mut sending =
        SendingConfig::from_lookup(|k| vars.get(k).map(|v| (*v).to_owned()), sender.domain())
            .unwrap();
    salesagent::host::configure_mime(&mut sending.mime, config, &env.store)
        .await
        .unwrap();
    let clock: DynClock = env.clock.clone();
    let worker = salesagent::services::runtime::build(
        services,
        env.store.clone(),
        clock,
        PipelineConfig::new(sender),
        &sending,
        WorkerConfig::default(),
    )
    .unwrap()
    .worker;
    salesagent::services::runtime::ensure_jobs(&env.store)
        .await
        .unwrap();
    worker
}
