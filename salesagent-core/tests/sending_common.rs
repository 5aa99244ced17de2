//! Shared set-up for the sending tests (included with `#[path]` by each `sending_*.rs`).
#![allow(dead_code, missing_docs, clippy::new_without_default)]

use chrono::{DateTime, Utc};
use salesagent_core::model::{
    Domain, Draft, DraftAction, DraftId, DraftStatus, DraftWriter, EmailAddress, IcpScore,
};
use salesagent_core::ports::{DynClock, DynMailbox, DynStore};
use salesagent_core::sending::{
    MimeOptions, PolicyConfig, SendMode, SendPolicy, Sender, SenderConfig,
};
use salesagent_core::testing::{FakeMailbox, ManualClock, MemoryStore};
use std::sync::Arc;
use std::time::Duration;

/// A store, a mailbox and a clock shared by a test.
pub struct Env {
    pub clock: ManualClock,
    pub memory: Arc<MemoryStore>,
    pub store: DynStore,
    pub mailbox: Arc<FakeMailbox>,
}

impl Env {
    pub fn new() -> Self {
        Self::with_store(MemoryStore::new)
    }

    pub fn with_store(make: impl FnOnce(DynClock) -> MemoryStore) -> Self {
        let clock = ManualClock::default();
        let memory = Arc::new(make(clock.shared()));
        let store: DynStore = memory.clone();
        let mailbox = Arc::new(FakeMailbox::new().with_clock(clock.shared()));
        Self {
            clock,
            memory,
            store,
            mailbox,
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        use salesagent_core::ports::Clock;
        self.clock.now()
    }

    /// Inserts a pending draft to `to` and returns it.
    pub async fn pending(&self, to: &str) -> Draft {
        let d = draft(to, self.now());
        self.store
            .insert_draft(&d, &d.created_event("pipeline"))
            .await
            .unwrap();
        d
    }

    /// Inserts a draft to `to` and approves it directly in the store.
    pub async fn approved(&self, to: &str) -> Draft {
        let mut d = self.pending(to).await;
        let v = d.version;
        let ev = d
            .apply(DraftAction::Approve, "operator:test", self.now())
            .unwrap();
        self.store.update_draft(&d, v, &ev).await.unwrap();
        d
    }

    pub async fn status(&self, id: DraftId) -> DraftStatus {
        self.store.get_draft(id).await.unwrap().status
    }

    /// A sender over this env's store and `mailbox`.
    pub fn sender_with(&self, mailbox: DynMailbox, policy: PolicyConfig) -> Sender {
        Sender::new(
            self.store.clone(),
            mailbox,
            self.clock.shared(),
            SendPolicy::new(policy),
            mime(),
        )
        .unwrap()
        .with_config(fast_retries())
    }

    /// A real-sending sender over the fake mailbox, without a send window.
    pub fn sender(&self) -> Sender {
        self.sender_with(self.mailbox.clone(), real_sends())
    }
}

pub fn real_sends() -> PolicyConfig {
    PolicyConfig {
        mode: SendMode::RealSends,
        window: None,
        ..PolicyConfig::default()
    }
}

pub fn fast_retries() -> SenderConfig {
    SenderConfig {
        retry: salesagent_core::model::RetryPolicy {
            base: Duration::from_millis(1),
            max: Duration::from_millis(4),
            jitter: 0.5,
        },
        max_attempts: 3,
        in_flight_grace: Duration::from_secs(600),
    }
}

pub fn mime() -> MimeOptions {
    let mut m = MimeOptions::new(Domain::parse("mail.seller.dev").unwrap());
    m.sender_name = Some("Sam Seller".into());
    m
}

pub fn email(s: &str) -> EmailAddress {
    EmailAddress::parse(s).unwrap()
}

pub fn draft(to: &str, at: DateTime<Utc>) -> Draft {
    Draft {
        contact_name: Some("Jane Doe".into()),
        company_name: Some("Acme".into()),
        ..Draft::new(
            email(to),
            email("sam@seller.dev"),
            format!("Hello {to}"),
            "Hi,\n\nshort note.\n\nSam",
            DraftWriter::Template {
                reason: "test".into(),
            },
            at,
        )
    }
}

pub fn icp(score: u8) -> IcpScore {
    IcpScore {
        score,
        tier: if score >= 80 { "A" } else { "C" }.into(),
        factors: vec![],
    }
}
