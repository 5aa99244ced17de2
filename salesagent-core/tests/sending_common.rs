//! Shared set-up for the sending tests (included with `#[path]` by each `sending_*.rs`).
#![allow(dead_code, missing_docs, clippy::new_without_default)]

use chrono::{DateTime, Utc};
use salesagent_core::model::{
    Domain, Draft, DraftAction, DraftId, DraftStatus, DraftWriter, EmailAddress, IcpScore, Job,
    JobFilter, JobState, kinds,
};
use salesagent_core::ports::{DynClock, DynMailbox, DynStore};
use salesagent_core::sending::{
    MimeOptions, PolicyConfig, SendMode, SendPolicy, Sender, SenderConfig,
};
use salesagent_core::testing::{FakeMailbox, ManualClock, MemoryStore};
use salesagent_core::worker::{WorkStats, Worker, WorkerConfig};
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

    /// A sender over this env's store and `mailbox` (holder `sender`).
    pub fn sender_with(&self, mailbox: DynMailbox, policy: PolicyConfig) -> Sender {
        self.sender_as("sender", mailbox, policy)
    }

    /// A sender named `holder` (its send claims carry that name).
    pub fn sender_as(&self, holder: &str, mailbox: DynMailbox, policy: PolicyConfig) -> Sender {
        Sender::new(
            self.store.clone(),
            mailbox,
            self.clock.shared(),
            SendPolicy::new(policy),
            mime(),
        )
        .unwrap()
        .with_config(sender_config(holder))
    }

    /// The shipped job runner with only the send handler, over this env's store and clock.
    pub fn worker(&self, sender: Sender) -> Worker {
        self.worker_named("worker", sender)
    }

    /// [`Env::worker`] with a lease-owner prefix.
    pub fn worker_named(&self, name: &str, sender: Sender) -> Worker {
        Worker::empty(
            self.store.clone(),
            self.clock.shared(),
            WorkerConfig {
                name: name.to_owned(),
                ..WorkerConfig::default()
            },
        )
        .with_sender(sender)
    }

    /// Send jobs in `state`.
    pub async fn send_jobs(&self, state: JobState) -> Vec<Job> {
        self.store
            .list_jobs(&JobFilter {
                state: Some(state),
                kind: Some(kinds::SEND.into()),
                limit: 0,
            })
            .await
            .unwrap()
    }

    /// When the next send job becomes runnable: a queued job's `run_at`, or a running job's
    /// lease expiry (its worker died). `None` when no send job is left to run.
    pub async fn next_due(&self) -> Option<DateTime<Utc>> {
        let queued = self.send_jobs(JobState::Queued).await;
        let running = self.send_jobs(JobState::Running).await;
        queued
            .iter()
            .map(|j| j.run_at)
            .chain(running.iter().filter_map(|j| j.lease_expires_at))
            .min()
    }

    /// Moves the clock to `at` when that is later than now.
    pub fn advance_to(&self, at: DateTime<Utc>) {
        if at > self.now() {
            self.clock.set(at);
        }
    }

    /// Runs `worker` until no send job is left, moving the clock to each next due time (a job
    /// given back for later, a retry backoff, a dead worker's lease). A worker task that
    /// fails (a crash) ends that pass; the next pass carries on. Returns the summed stats.
    pub async fn drive(&self, worker: &Worker) -> WorkStats {
        let mut total = WorkStats::default();
        for _ in 0..500 {
            if let Ok(s) = worker.run_until_idle(2).await {
                total.done += s.done;
                total.deferred += s.deferred;
                total.retrying += s.retrying;
                total.dead += s.dead;
                total.lease_lost += s.lease_lost;
                total.released += s.released;
            }
            match self.next_due().await {
                Some(at) => self.advance_to(at),
                None => return total,
            }
        }
        panic!("send jobs still pending after 500 passes: {total:?}");
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

/// Claims lasting 10 minutes; no search lag (the fake mailbox finds sent mail at once unless a
/// test gives it a lag, and then the sender's bound too).
pub fn sender_config(holder: &str) -> SenderConfig {
    SenderConfig {
        holder: holder.to_owned(),
        claim_lease: CLAIM_LEASE,
        search_lag: Duration::ZERO,
        kill_switch_recheck: Duration::from_secs(60),
    }
}

/// How long the test senders' claims last.
pub const CLAIM_LEASE: Duration = Duration::from_secs(600);

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
