//! Exactly-once sending through the shipped send path (`Sender::send_draft`, run by the
//! `Worker`'s send handler): crash points, lost acknowledgements, search lag, fenced claims and
//! concurrent reconcilers, denials after the claim, DRAFT_ONLY, permanent failures, and a
//! property test of the draft state machine driven through the send path.

#[path = "sending_common.rs"]
mod common;

use async_trait::async_trait;
use common::*;
use futures::FutureExt;
use proptest::prelude::*;
use salesagent_core::layers::FaultInjecting;
use salesagent_core::model::{
    DraftId, DraftStatus, HistoryPage, JobState, MailMessage, MailQuery, MessageId, MessagePage,
    OutcomeType, OutgoingMessage, SendDecision, SendLimits, SendReservation, SentMessage,
    Suppression, SuppressionReason, ThreadId,
};
use salesagent_core::ports::{DynMailbox, Mailbox, OutcomeFilter, SettingsExt};
use salesagent_core::sending::{PolicyConfig, SendMode, SendOutcome, Sender};
use salesagent_core::testing::{FakeMailbox, FaultKind, Faults, MemoryStore, SeededRng};
use salesagent_core::worker::WorkerConfig;
use salesagent_core::{Error, Result};
use std::collections::{HashMap, HashSet};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the mailbox wrapper does on one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    /// Do it and answer normally.
    None,
    /// Fail before doing anything (transient).
    Before,
    /// Crash the caller (panic) before doing anything, as if the process died.
    CrashBefore,
    /// Do it, then answer with a timeout (the acknowledgement is lost).
    TimeoutAfter,
    /// Do it, then crash the caller (panic), as if the process died.
    CrashAfter,
    /// Fail before doing anything with a permanent error.
    Permanent,
}

/// Decides the fault of each mailbox call, by operation name (`create_draft`, `send_draft`,
/// `send`, `find_sent`).
type Plan = Box<dyn FnMut(&str) -> Fault + Send>;

/// A mailbox that injects failures around a [`FakeMailbox`] and logs every delivery, counting
/// duplicates even where the fake would deduplicate them (the fake's plain `send` answers a
/// known Message-ID without delivering again; a real provider would deliver twice). Without
/// `drafts`, `send_draft` is unsupported (the port's default), so the sender falls back to
/// `send`. `delete` makes a mailbox draft vanish as if a person deleted it.
struct FaultyMailbox {
    inner: Arc<FakeMailbox>,
    plan: Mutex<Plan>,
    drafts: bool,
    deliveries: Mutex<Vec<MessageId>>,
    deleted: Mutex<HashSet<String>>,
    /// Deliveries whose caller saw a timeout or a crash instead of success.
    lost_acks: AtomicUsize,
}

impl std::fmt::Debug for FaultyMailbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultyMailbox").finish_non_exhaustive()
    }
}

impl FaultyMailbox {
    fn new(inner: Arc<FakeMailbox>, plan: impl FnMut(&str) -> Fault + Send + 'static) -> Self {
        Self {
            inner,
            plan: Mutex::new(Box::new(plan)),
            drafts: true,
            deliveries: Mutex::new(Vec::new()),
            deleted: Mutex::new(HashSet::new()),
            lost_acks: AtomicUsize::new(0),
        }
    }

    /// A wrapper that forwards everything without faults.
    fn clean(inner: Arc<FakeMailbox>) -> Self {
        Self::new(inner, |_| Fault::None)
    }

    /// The same mailbox without draft sending (`send_draft` is unsupported).
    fn without_draft_sending(mut self) -> Self {
        self.drafts = false;
        self
    }

    fn fault(&self, op: &str) -> Fault {
        (self.plan.lock().unwrap())(op)
    }

    fn deliveries(&self) -> Vec<MessageId> {
        self.deliveries.lock().unwrap().clone()
    }

    fn deliveries_of(&self, id: &MessageId) -> usize {
        self.deliveries().iter().filter(|m| *m == id).count()
    }

    /// A person deletes the mailbox draft `id`.
    fn delete(&self, id: &str) {
        self.deleted.lock().unwrap().insert(id.to_owned());
    }

    /// Applies `fault` around `call`, logging a delivery when `delivers` says the call
    /// delivered.
    async fn around<T>(
        &self,
        fault: Fault,
        call: impl std::future::Future<Output = Result<T>>,
        delivered: impl FnOnce(&T) -> Option<MessageId>,
    ) -> Result<T> {
        // Let concurrent callers interleave.
        tokio::task::yield_now().await;
        match fault {
            Fault::Before => return Err(Error::unavailable("injected: before the call")),
            Fault::Permanent => return Err(Error::invalid("to", "injected: rejected")),
            Fault::CrashBefore => panic!("injected crash before the call"),
            _ => {}
        }
        let out = call.await?;
        if let Some(id) = delivered(&out) {
            self.deliveries.lock().unwrap().push(id);
        }
        match fault {
            Fault::TimeoutAfter | Fault::CrashAfter => {
                self.lost_acks.fetch_add(1, Ordering::Relaxed);
            }
            _ => {}
        }
        match fault {
            Fault::TimeoutAfter => Err(Error::timeout("injected: acknowledgement lost")),
            Fault::CrashAfter => panic!("injected crash after the call"),
            _ => Ok(out),
        }
    }
}

#[async_trait]
impl Mailbox for FaultyMailbox {
    async fn search(&self, query: &MailQuery) -> Result<Vec<MailMessage>> {
        self.inner.search(query).await
    }
    async fn get_thread(&self, thread: &ThreadId) -> Result<Vec<MailMessage>> {
        self.inner.get_thread(thread).await
    }
    async fn send(&self, message: &OutgoingMessage) -> Result<SentMessage> {
        let fault = self.fault("send");
        let id = message.message_id.clone();
        self.around(fault, self.inner.send(message), |_| Some(id))
            .await
    }
    async fn send_draft(&self, draft: &SentMessage) -> Result<SentMessage> {
        if !self.drafts {
            return Err(Error::unsupported("sending a mailbox draft"));
        }
        let fault = self.fault("send_draft");
        if self
            .deleted
            .lock()
            .unwrap()
            .contains(draft.provider_id.as_str())
        {
            return Err(Error::not_found("mailbox draft (deleted by a person)"));
        }
        self.around(fault, self.inner.send_draft(draft), |s| {
            Some(s.message_id.clone())
        })
        .await
    }
    async fn create_draft(&self, message: &OutgoingMessage) -> Result<SentMessage> {
        let fault = self.fault("create_draft");
        self.around(fault, self.inner.create_draft(message), |_| None)
            .await
    }
    async fn find_sent(&self, message_id: &MessageId) -> Result<Option<SentMessage>> {
        let fault = self.fault("find_sent");
        self.around(fault, self.inner.find_sent(message_id), |_| None)
            .await
    }
    async fn history(&self, cursor: Option<&str>) -> Result<HistoryPage> {
        self.inner.history(cursor).await
    }
    async fn sent_messages(&self, page_token: Option<&str>, page_size: u32) -> Result<MessagePage> {
        self.inner.sent_messages(page_token, page_size).await
    }
}

/// Runs one "process lifetime" of a sender; a panic inside counts as a crash.
async fn run_once(sender: &Sender, id: DraftId) -> std::result::Result<Result<SendOutcome>, ()> {
    AssertUnwindSafe(sender.send_draft(id))
        .catch_unwind()
        .await
        .map_err(|_| ())
}

fn quiet_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let msg = info
                .payload()
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| info.payload().downcast_ref::<String>().cloned())
                .unwrap_or_default();
            if !msg.starts_with("injected crash") {
                default(info);
            }
        }));
    });
}

/// Names of the draft's events, oldest first.
async fn event_names(env: &Env, id: DraftId) -> Vec<String> {
    env.store
        .draft_events(id)
        .await
        .unwrap()
        .iter()
        .map(|e| e.action.name().to_owned())
        .collect()
}

/// The `email_sent` outcomes recorded for `id`.
async fn email_sent(env: &Env, id: DraftId) -> usize {
    env.store
        .list_outcomes(&OutcomeFilter {
            types: vec![OutcomeType::EmailSent],
            ..OutcomeFilter::default()
        })
        .await
        .unwrap()
        .iter()
        .filter(|o| o.draft_id == Some(id))
        .count()
}

/// Whether a new send to `to` would be within a limit of one per contact per week (i.e. the
/// earlier reservation for that contact was released).
async fn slot_free(env: &Env, to: &str) -> bool {
    let limits = SendLimits {
        per_contact_week: 1,
        ..SendLimits::default()
    };
    let probe = DraftId::new();
    let free = env
        .store
        .reserve_send(
            &SendReservation {
                draft_id: probe,
                contact: email(to),
                sender: email("sam@seller.dev"),
                at: env.now(),
            },
            &limits,
        )
        .await
        .unwrap()
        == SendDecision::Allow;
    env.store.release_send(probe).await.unwrap();
    free
}

fn one_per_week() -> PolicyConfig {
    let mut p = real_sends();
    p.limits.per_contact_week = 1;
    p
}

fn draft_only() -> PolicyConfig {
    PolicyConfig {
        mode: SendMode::DraftOnly,
        window: None,
        ..PolicyConfig::default()
    }
}

/// A mailbox plan failing the first `n` calls of `op` with `fault`.
fn first(op: &'static str, n: usize, fault: Fault) -> impl FnMut(&str) -> Fault + Send {
    let mut calls = 0;
    move |o| {
        if o == op {
            calls += 1;
            if calls <= n {
                return fault;
            }
        }
        Fault::None
    }
}

// ---- ported guarantees ----

#[tokio::test]
async fn timeout_after_delivery_is_reconciled_not_resent() {
    let env = Env::new();
    let d = env.approved("jane@acme.io").await;
    let mb = Arc::new(FaultyMailbox::new(
        env.mailbox.clone(),
        first("send_draft", 1, Fault::TimeoutAfter),
    ));
    let worker = env.worker(env.sender_with(mb.clone(), real_sends()));
    env.sender().enqueue_pending_sends().await.unwrap();
    let stats = env.drive(&worker).await;
    assert_eq!(
        (stats.retrying, stats.done, stats.dead),
        (1, 1, 0),
        "{stats:?}"
    );
    assert_eq!(mb.deliveries().len(), 1);
    let stored = env.store.get_draft(d.id).await.unwrap();
    assert_eq!(stored.status, DraftStatus::Sent);
    assert_eq!(stored.message_id.as_ref(), Some(&mb.deliveries()[0]));
    assert_eq!(stored.send_decision, Some(SendDecision::Allow));
    assert_eq!(
        env.mailbox.drafts().len(),
        1,
        "one mailbox draft, sent once"
    );
    // The Message-ID and the mailbox draft were recorded before the provider call; the retry
    // took the released claim over and found the draft already sent.
    let names = event_names(&env, d.id).await;
    assert_eq!(
        &names[names.len() - 5..],
        [
            "begin_send",
            "record_mailbox_draft",
            "release_claim",
            "take_over",
            "mark_sent"
        ]
    );
    let audit = env.store.audit_entries(0, 0).await.unwrap();
    let sent = audit.iter().find(|e| e.action == "draft.sent").unwrap();
    assert_eq!(sent.details["reconciled"], true);
    assert_eq!(email_sent(&env, d.id).await, 1);
}

#[tokio::test]
async fn crash_after_delivery_then_restart_reconciles() {
    quiet_panics();
    let env = Env::new();
    let d = env.approved("jane@acme.io").await;
    let mb = Arc::new(FaultyMailbox::new(
        env.mailbox.clone(),
        first("send_draft", 1, Fault::CrashAfter),
    ));
    let sender = env.sender_with(mb.clone(), real_sends());
    sender.enqueue_pending_sends().await.unwrap();
    // The worker task dies right after the provider delivered.
    assert!(env.worker(sender.clone()).run_until_idle(1).await.is_err());
    assert_eq!(mb.deliveries().len(), 1);
    let stored = env.store.get_draft(d.id).await.unwrap();
    assert_eq!(stored.status, DraftStatus::Sending);
    let claim = stored.send_claim.clone().expect("the dead holder's claim");
    assert_eq!(claim.holder, "sender");
    assert_eq!(env.send_jobs(JobState::Running).await.len(), 1);
    // Right after the crash the draft is still the dead holder's: another sender leaves it alone.
    let out = env
        .sender_as("other", mb.clone(), real_sends())
        .send_draft(d.id)
        .await
        .unwrap();
    assert_eq!(
        out,
        SendOutcome::InFlight {
            retry_at: claim.expires_at
        }
    );
    // A restarted worker picks the job up when its lease lapses, waits for the claim, takes
    // it over and finds the message sent.
    let restarted = env.worker_named(
        "restarted",
        env.sender_as("restarted", mb.clone(), real_sends()),
    );
    env.drive(&restarted).await;
    assert_eq!(mb.deliveries().len(), 1);
    let stored = env.store.get_draft(d.id).await.unwrap();
    assert_eq!(stored.status, DraftStatus::Sent);
    assert!(
        env.now() >= claim.expires_at,
        "taken over only after the lease"
    );
    assert_eq!(env.mailbox.drafts().len(), 1);
    assert_eq!(email_sent(&env, d.id).await, 1);
}

#[tokio::test]
async fn failed_lookup_never_leads_to_a_send() {
    let env = Env::new();
    let d = env.approved("jane@acme.io").await;
    // The send is delivered but its answer is lost, and every lookup fails afterwards.
    let mb = Arc::new(FaultyMailbox::new(env.mailbox.clone(), |op| match op {
        "send_draft" => Fault::TimeoutAfter,
        "find_sent" => Fault::Before,
        _ => Fault::None,
    }));
    let sender = env.sender_with(mb.clone(), real_sends());
    sender.enqueue_pending_sends().await.unwrap();
    let stats = env.drive(&env.worker(sender)).await;
    // The job used up its attempts; nothing was sent a second time.
    assert_eq!(stats.dead, 1, "{stats:?}");
    assert_eq!(mb.deliveries().len(), 1);
    assert_eq!(env.mailbox.drafts().len(), 1, "no second mailbox draft");
    assert_eq!(env.status(d.id).await, DraftStatus::Sending);
    assert!(
        !event_names(&env, d.id)
            .await
            .contains(&"mark_failed".to_owned())
    );
    // Once lookups work again, a start-up run reconciles it without sending.
    let healthy = env.sender_as(
        "healthy",
        Arc::new(FaultyMailbox::clean(env.mailbox.clone())),
        real_sends(),
    );
    assert_eq!(healthy.enqueue_pending_sends().await.unwrap(), 1);
    env.drive(&env.worker(healthy)).await;
    assert_eq!(env.status(d.id).await, DraftStatus::Sent);
    assert_eq!(env.mailbox.sent().len(), 1);
    assert_eq!(mb.deliveries().len(), 1);
}

#[tokio::test]
async fn transient_failures_are_retried_by_the_job_queue_then_succeed() {
    let env = Env::new();
    let d = env.approved("jane@acme.io").await;
    let mb = Arc::new(FaultyMailbox::new(
        env.mailbox.clone(),
        first("send_draft", 2, Fault::Before),
    ));
    let sender = env.sender_with(mb.clone(), real_sends());
    // One provider attempt per call: the first call fails and gives the claim back.
    let err = sender.send_draft(d.id).await.unwrap_err();
    assert!(err.is_retryable(), "{err:?}");
    let stored = env.store.get_draft(d.id).await.unwrap();
    assert_eq!(stored.status, DraftStatus::Sending);
    assert!(stored.send_claim.is_none(), "claim released for the retry");
    assert!(stored.mailbox_draft_id.is_some());
    // The job queue owns the retries (with backoff).
    let t0 = env.now();
    sender.enqueue_pending_sends().await.unwrap();
    let stats = env.drive(&env.worker(sender)).await;
    assert_eq!((stats.retrying, stats.done), (1, 1), "{stats:?}");
    assert!(env.now() > t0, "the retry waited for its backoff");
    assert_eq!(env.status(d.id).await, DraftStatus::Sent);
    assert_eq!(mb.deliveries().len(), 1);
    assert_eq!(
        env.mailbox.drafts().len(),
        1,
        "the same mailbox draft was sent"
    );
}

#[tokio::test]
async fn out_of_attempts_stays_sending_and_is_picked_up_again_at_start_up() {
    let env = Env::new();
    let d = env.approved("jane@acme.io").await;
    let mb = Arc::new(FaultyMailbox::new(env.mailbox.clone(), |op| {
        if op == "send_draft" {
            Fault::Before
        } else {
            Fault::None
        }
    }));
    let sender = env.sender_with(mb.clone(), real_sends());
    sender.enqueue_pending_sends().await.unwrap();
    let stats = env.drive(&env.worker(sender)).await;
    let attempts = u64::from(salesagent_core::sending::sender::SEND_JOB_ATTEMPTS);
    assert_eq!((stats.retrying, stats.dead), (attempts - 1, 1), "{stats:?}");
    let stored = env.store.get_draft(d.id).await.unwrap();
    assert_eq!(stored.status, DraftStatus::Sending);
    assert!(stored.send_claim.is_none());
    assert!(mb.deliveries().is_empty());
    // Not stranded: the next start-up enqueues it again and it goes out once.
    let healthy = env.sender_as(
        "next",
        Arc::new(FaultyMailbox::clean(env.mailbox.clone())),
        real_sends(),
    );
    assert_eq!(healthy.enqueue_pending_sends().await.unwrap(), 1);
    env.drive(&env.worker(healthy)).await;
    assert_eq!(env.status(d.id).await, DraftStatus::Sent);
    assert_eq!(env.mailbox.sent().len(), 1);
    assert_eq!(env.mailbox.drafts().len(), 1);
}

#[tokio::test]
async fn permanent_failure_ends_failed_and_releases_the_reservation() {
    let env = Env::new();
    let d = env.approved("jane@acme.io").await;
    let mb = Arc::new(FaultyMailbox::new(env.mailbox.clone(), |op| {
        if op == "send_draft" {
            Fault::Permanent
        } else {
            Fault::None
        }
    }));
    let sender = env.sender_with(mb.clone(), one_per_week());
    sender.enqueue_pending_sends().await.unwrap();
    let stats = env.drive(&env.worker(sender)).await;
    // A permanent failure is an outcome of the send, not a job failure.
    assert_eq!((stats.done, stats.dead), (1, 0), "{stats:?}");
    let stored = env.store.get_draft(d.id).await.unwrap();
    assert_eq!(stored.status, DraftStatus::Failed);
    assert!(
        stored
            .status_reason
            .as_deref()
            .is_some_and(|r| r.contains("injected: rejected")),
        "{stored:?}"
    );
    assert!(mb.deliveries().is_empty());
    // The slot was released: another draft to the same contact may go out this week.
    let d2 = env.approved("jane@acme.io").await;
    let out = env
        .sender_with(env.mailbox.clone(), one_per_week())
        .send_draft(d2.id)
        .await
        .unwrap();
    assert!(matches!(out, SendOutcome::Sent { .. }), "{out:?}");
}

#[tokio::test]
async fn sending_twice_sends_nothing_the_second_time() {
    let env = Env::new();
    let a = env.approved("a@acme.io").await;
    let b = env.approved("b@beta.io").await;
    let sender = env.sender();
    assert_eq!(sender.enqueue_pending_sends().await.unwrap(), 2);
    let stats = env.drive(&env.worker(sender.clone())).await;
    assert_eq!(stats.done, 2, "{stats:?}");
    assert_eq!(env.mailbox.sent().len(), 2);
    assert_eq!(sender.enqueue_pending_sends().await.unwrap(), 0);
    for id in [a.id, b.id] {
        let out = sender.send_draft(id).await.unwrap();
        assert_eq!(
            out,
            SendOutcome::Skipped {
                status: DraftStatus::Sent
            }
        );
    }
    // A send job run again (a redelivered job) sends nothing either.
    for d in [&a, &b] {
        env.store
            .enqueue(&salesagent_core::sending::SendJob::new_job(d.id, 99))
            .await
            .unwrap();
    }
    let stats = env.drive(&env.worker(sender)).await;
    assert_eq!(stats.done, 2);
    assert_eq!(env.mailbox.sent().len(), 2);
    assert_eq!(env.mailbox.drafts().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_senders_and_workers_deliver_each_draft_once() {
    let env = Env::new();
    let mut ids = Vec::new();
    for i in 0..10 {
        ids.push(env.approved(&format!("c{i}@d{i}.io")).await.id);
    }
    let mb = Arc::new(FaultyMailbox::clean(env.mailbox.clone()));
    env.sender().enqueue_pending_sends().await.unwrap();
    let mut tasks = Vec::new();
    for n in 0..8 {
        let s = env.sender_as(&format!("s{n}"), mb.clone(), real_sends());
        let mut order = ids.clone();
        order.rotate_left(n);
        tasks.push(tokio::spawn(async move {
            for id in order {
                s.send_draft(id).await.unwrap();
            }
        }));
    }
    let workers: Vec<_> = (0..2)
        .map(|n| {
            let w = env.worker_named(
                &format!("w{n}"),
                env.sender_as(&format!("w{n}"), mb.clone(), real_sends()),
            );
            tokio::spawn(async move { w.run_until_idle(3).await.unwrap() })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    for w in workers {
        w.await.unwrap();
    }
    env.drive(&env.worker(env.sender_with(mb.clone(), real_sends())))
        .await;
    assert_eq!(mb.deliveries().len(), 10);
    assert_eq!(env.mailbox.sent().len(), 10);
    for id in ids {
        let d = env.store.get_draft(id).await.unwrap();
        assert_eq!(d.status, DraftStatus::Sent);
        assert_eq!(mb.deliveries_of(d.message_id.as_ref().unwrap()), 1);
        assert_eq!(email_sent(&env, id).await, 1);
    }
}

#[tokio::test]
async fn kill_switch_stops_an_in_flight_retry() {
    let env = Env::new();
    let d = env.approved("jane@acme.io").await;
    let store = env.memory.clone();
    // The first attempt fails transiently; the kill switch is turned on before the retry.
    let mut armed = true;
    let mb = Arc::new(FaultyMailbox::new(env.mailbox.clone(), move |op| {
        if op == "send_draft" && std::mem::take(&mut armed) {
            futures::executor::block_on(store.set_kill_switch(true)).unwrap();
            return Fault::Before;
        }
        Fault::None
    }));
    let sender = env.sender_with(mb.clone(), one_per_week());
    sender.enqueue_pending_sends().await.unwrap();
    let worker = env.worker(sender);
    // Attempt 1 fails; the retry finds the kill switch on: the draft is given back, its
    // reservation released, and the job deferred.
    worker.run_until_idle(1).await.unwrap();
    let retry_at = env.next_due().await.unwrap();
    env.advance_to(retry_at);
    let stats = worker.run_until_idle(1).await.unwrap();
    assert_eq!(stats.deferred, 1, "{stats:?}");
    let stored = env.store.get_draft(d.id).await.unwrap();
    assert_eq!(stored.status, DraftStatus::Approved);
    assert!(stored.send_claim.is_none());
    assert!(mb.deliveries().is_empty());
    assert!(
        slot_free(&env, "jane@acme.io").await,
        "reservation released"
    );
    let queued = env.send_jobs(JobState::Queued).await;
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].run_at, env.now() + chrono::TimeDelta::seconds(60));
    // Still on at the recheck: deferred again, nothing sent.
    env.advance_to(queued[0].run_at);
    assert_eq!(worker.run_until_idle(1).await.unwrap().deferred, 1);
    assert!(mb.deliveries().is_empty());
    // Switched off: the same mailbox draft goes out, once.
    env.store.set_kill_switch(false).await.unwrap();
    env.drive(&worker).await;
    assert_eq!(env.status(d.id).await, DraftStatus::Sent);
    assert_eq!(mb.deliveries().len(), 1);
    assert_eq!(env.mailbox.drafts().len(), 1);
}

// ---- fenced claims, search lag, DRAFT_ONLY, denials after the claim ----

/// The search-lag bound of the lagging mailboxes below.
const LAG: Duration = Duration::from_secs(30);

/// A fake mailbox on the env's clock whose sent mail becomes findable only [`LAG`] later.
fn lagging_mailbox(env: &Env) -> Arc<FakeMailbox> {
    Arc::new(
        FakeMailbox::new()
            .with_clock(env.clock.shared())
            .with_search_lag(LAG),
    )
}

/// A sender named `holder` whose search-lag bound is [`LAG`] and whose claims last `lease`.
fn lag_aware(env: &Env, holder: &str, mailbox: DynMailbox, lease: Duration) -> Sender {
    env.sender_as(holder, mailbox, real_sends()).with_config(
        salesagent_core::sending::SenderConfig {
            search_lag: LAG,
            claim_lease: lease,
            ..sender_config(holder)
        },
    )
}

/// A worker whose job leases last `lease` (a dead worker's job comes back that soon).
fn worker_with_lease(
    env: &Env,
    name: &str,
    sender: Sender,
    lease: Duration,
) -> salesagent_core::worker::Worker {
    salesagent_core::worker::Worker::empty(
        env.store.clone(),
        env.clock.shared(),
        WorkerConfig {
            name: name.to_owned(),
            lease,
            ..WorkerConfig::default()
        },
    )
    .with_sender(sender)
}

/// Makes `d` a stale `Sending` draft: a sender crashes at the mailbox call `op` (with
/// `fault`), then its claim lapses. Returns the draft's Message-ID.
async fn crash_mid_send(
    env: &Env,
    mb: &Arc<FaultyMailbox>,
    id: DraftId,
    policy: PolicyConfig,
) -> MessageId {
    quiet_panics();
    let s = env.sender_as("crashed", mb.clone(), policy);
    assert!(run_once(&s, id).await.is_err(), "the sender crashed");
    let d = env.store.get_draft(id).await.unwrap();
    assert_eq!(d.status, DraftStatus::Sending);
    let claim = d.send_claim.expect("the crashed holder's claim");
    env.advance_to(claim.expires_at);
    d.message_id.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_reconcilers_on_one_stale_sending_draft_deliver_once() {
    // Crashed with the mailbox draft recorded but not sent, and crashed right after it was
    // sent: either way eight reconcilers and two workers make exactly one delivery.
    for (round, fault) in [Fault::CrashBefore, Fault::CrashAfter]
        .into_iter()
        .cycle()
        .take(12)
        .enumerate()
    {
        let env = Env::new();
        let d = env.approved("jane@acme.io").await;
        let mb = Arc::new(FaultyMailbox::new(
            env.mailbox.clone(),
            first("send_draft", 1, fault),
        ));
        let mid = crash_mid_send(&env, &mb, d.id, real_sends()).await;
        let stale = env.store.get_draft(d.id).await.unwrap();
        assert!(stale.mailbox_draft_id.is_some(), "mailbox draft recorded");
        assert!(stale.send_claim.unwrap().expired(env.now()), "claim lapsed");
        env.sender().enqueue_pending_sends().await.unwrap();
        let mut tasks = Vec::new();
        for n in 0..8 {
            let s = env.sender_as(&format!("reconciler-{n}"), mb.clone(), real_sends());
            tasks.push(tokio::spawn(async move { s.send_draft(d.id).await }));
        }
        let workers: Vec<_> = (0..2)
            .map(|n| {
                let name = format!("w{n}");
                let w = env.worker_named(&name, env.sender_as(&name, mb.clone(), real_sends()));
                tokio::spawn(async move { w.run_until_idle(2).await })
            })
            .collect();
        let mut outcomes = Vec::new();
        for t in tasks {
            outcomes.push(t.await.unwrap().unwrap());
        }
        for w in workers {
            w.await.unwrap().unwrap();
        }
        // Whoever lost the race is told the draft is in flight (or already done).
        assert!(
            outcomes.iter().all(|o| matches!(
                o,
                SendOutcome::Sent { .. }
                    | SendOutcome::Reconciled { .. }
                    | SendOutcome::InFlight { .. }
                    | SendOutcome::Skipped {
                        status: DraftStatus::Sent
                    }
            )),
            "round {round}: {outcomes:?}"
        );
        env.drive(&env.worker(env.sender_with(mb.clone(), real_sends())))
            .await;
        let by_id = env
            .mailbox
            .sent()
            .iter()
            .filter(|m| m.message_id == mid)
            .count();
        assert_eq!(by_id, 1, "round {round} ({fault:?}): one delivery");
        assert_eq!(mb.deliveries_of(&mid), 1, "round {round}");
        assert_eq!(
            env.mailbox.drafts().len(),
            1,
            "round {round}: one mailbox draft"
        );
        assert_eq!(env.status(d.id).await, DraftStatus::Sent, "round {round}");
        assert_eq!(
            email_sent(&env, d.id).await,
            1,
            "round {round}: recorded once"
        );
        let audit = env.store.audit_entries(0, 0).await.unwrap();
        assert_eq!(
            audit.iter().filter(|e| e.action == "draft.sent").count(),
            1,
            "round {round}"
        );
    }
}

/// Steps the clock by 5 s from now until `id` is `Sent`, running `worker` (and, when given, an
/// independent reconciler such as an overlapping `cli send`) at every step. Checks at every
/// step that nothing decided "not sent" (no failure, no give-back, at most one delivery).
/// Returns when it was marked sent.
async fn step_until_sent(
    env: &Env,
    worker: &salesagent_core::worker::Worker,
    reconciler: Option<&Sender>,
    id: DraftId,
) -> chrono::DateTime<chrono::Utc> {
    for _ in 0..40 {
        let _ = worker.run_until_idle(1).await;
        if let Some(r) = reconciler {
            let out = r.send_draft(id).await.unwrap();
            assert!(
                !matches!(out, SendOutcome::Failed { .. } | SendOutcome::Sent { .. }),
                "{out:?}"
            );
        }
        let d = env.store.get_draft(id).await.unwrap();
        assert!(env.mailbox.sent().len() <= 1);
        match d.status {
            DraftStatus::Sent => return env.now(),
            DraftStatus::Sending => {}
            other => panic!("{other:?} at {}", env.now()),
        }
        env.clock.advance(Duration::from_secs(5));
    }
    panic!("never marked sent");
}

#[tokio::test]
async fn a_lost_acknowledgement_under_a_30s_search_lag_is_confirmed_not_resent() {
    let mut env = Env::new();
    env.mailbox = lagging_mailbox(&env);
    let d = env.approved("jane@acme.io").await;
    // The provider delivers, the answer is lost: the job fails right after the provider call.
    env.mailbox.lose_acks("mailbox.send_draft", 1);
    let sender = lag_aware(&env, "w", env.mailbox.clone(), CLAIM_LEASE);
    sender.enqueue_pending_sends().await.unwrap();
    let worker = env.worker(sender);
    let t0 = env.now();
    let sent_at = step_until_sent(&env, &worker, None, d.id).await;
    assert!(
        sent_at >= t0 + chrono::TimeDelta::seconds(30),
        "{sent_at} vs {t0}"
    );
    assert_eq!(env.mailbox.sent().len(), 1);
    assert_eq!(env.mailbox.drafts().len(), 1);
    let names = event_names(&env, d.id).await;
    assert!(
        names.contains(&"await_confirmation".to_owned()),
        "{names:?}"
    );
    assert!(
        !names
            .iter()
            .any(|n| n == "mark_failed" || n == "return_to_approved")
    );
    let stored = env.store.get_draft(d.id).await.unwrap();
    assert!(stored.delivery_unconfirmed_since.is_none());
    assert_eq!(email_sent(&env, d.id).await, 1);
}

#[tokio::test]
async fn a_worker_killed_after_the_provider_call_under_a_30s_search_lag_delivers_once() {
    quiet_panics();
    let mut env = Env::new();
    env.mailbox = lagging_mailbox(&env);
    let d = env.approved("jane@acme.io").await;
    let mb = Arc::new(FaultyMailbox::new(
        env.mailbox.clone(),
        first("send_draft", 1, Fault::CrashAfter),
    ));
    // Short job leases and claims, so the restarted worker is back long before the sent
    // message becomes findable; an overlapping `cli send` reconciles at every step too.
    let lease = Duration::from_secs(5);
    let sender = lag_aware(&env, "w1", mb.clone(), lease);
    sender.enqueue_pending_sends().await.unwrap();
    let t0 = env.now();
    assert!(
        worker_with_lease(&env, "w1", sender, lease)
            .run_until_idle(1)
            .await
            .is_err()
    );
    assert_eq!(mb.deliveries().len(), 1);
    let restarted = worker_with_lease(&env, "w2", lag_aware(&env, "w2", mb.clone(), lease), lease);
    let cli = lag_aware(&env, "cli", mb.clone(), lease);
    let sent_at = step_until_sent(&env, &restarted, Some(&cli), d.id).await;
    assert!(
        sent_at >= t0 + chrono::TimeDelta::seconds(30),
        "{sent_at} vs {t0}"
    );
    assert_eq!(mb.deliveries().len(), 1);
    assert_eq!(env.mailbox.sent().len(), 1);
    assert_eq!(env.mailbox.drafts().len(), 1);
    let names = event_names(&env, d.id).await;
    assert!(
        names.contains(&"await_confirmation".to_owned()),
        "{names:?}"
    );
    assert!(
        !names
            .iter()
            .any(|n| n == "mark_failed" || n == "return_to_approved")
    );
    env.drive(&restarted).await;
    assert_eq!(env.status(d.id).await, DraftStatus::Sent);
    assert_eq!(email_sent(&env, d.id).await, 1);
}

#[tokio::test]
async fn draft_only_makes_a_mailbox_draft_that_real_sends_later_send() {
    let env = Env::new();
    let d = env.approved("jane@acme.io").await;
    let drafting = env.sender_with(env.mailbox.clone(), draft_only());
    assert_eq!(drafting.enqueue_pending_sends().await.unwrap(), 1);
    let stats = env.drive(&env.worker(drafting.clone())).await;
    assert_eq!(stats.done, 1, "{stats:?}");
    let drafted = env.store.get_draft(d.id).await.unwrap();
    assert_eq!(drafted.status, DraftStatus::Drafted);
    let mid = drafted.message_id.clone().unwrap();
    assert!(drafted.mailbox_draft_id.is_some());
    assert!(drafted.sent_at.is_none() && drafted.provider_message_id.is_none());
    let open = env.mailbox.open_drafts();
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].message_id, mid);
    // Not sent, not counted as sent.
    assert!(env.mailbox.sent().is_empty());
    assert_eq!(email_sent(&env, d.id).await, 0);
    assert!(slot_free(&env, "jane@acme.io").await, "no limit reserved");
    let audit = env.store.audit_entries(0, 0).await.unwrap();
    assert!(audit.iter().any(|e| e.action == "draft.drafted"));
    assert!(!audit.iter().any(|e| e.action == "draft.sent"));
    // DRAFT_ONLY leaves it alone from now on.
    assert_eq!(drafting.enqueue_pending_sends().await.unwrap(), 0);
    assert_eq!(
        drafting.send_draft(d.id).await.unwrap(),
        SendOutcome::Skipped {
            status: DraftStatus::Drafted
        }
    );

    // Real sends switched on: that same mailbox draft is sent, once.
    let sending = env.sender_with(env.mailbox.clone(), one_per_week());
    assert_eq!(sending.enqueue_pending_sends().await.unwrap(), 1);
    env.drive(&env.worker(sending.clone())).await;
    let sent = env.store.get_draft(d.id).await.unwrap();
    assert_eq!(sent.status, DraftStatus::Sent);
    assert_eq!(sent.message_id.as_ref(), Some(&mid));
    assert_eq!(env.mailbox.drafts().len(), 1, "no second mailbox draft");
    assert!(env.mailbox.open_drafts().is_empty());
    let out = env.mailbox.sent();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].message_id, mid);
    assert_eq!(email_sent(&env, d.id).await, 1);
    assert!(
        !slot_free(&env, "jane@acme.io").await,
        "the real send counts"
    );
    assert_eq!(sending.enqueue_pending_sends().await.unwrap(), 0);
}

#[tokio::test]
async fn a_mailbox_draft_a_person_sent_by_hand_is_reconciled_when_real_sends_start() {
    // DRAFT_ONLY: a person reviews the mailbox draft and sends it from the mailbox. When real
    // sends are switched on, the sender finds it sent (by Message-ID) and does not resend.
    let mut env = Env::new();
    env.mailbox = lagging_mailbox(&env);
    let d = env.approved("jane@acme.io").await;
    let drafting = env.sender_with(env.mailbox.clone(), draft_only());
    drafting.enqueue_pending_sends().await.unwrap();
    env.drive(&env.worker(drafting)).await;
    let drafted = env.store.get_draft(d.id).await.unwrap();
    let mid = drafted.message_id.clone().unwrap();
    let handle = SentMessage {
        provider_id: salesagent_core::model::ProviderMessageId::new(
            drafted.mailbox_draft_id.clone().unwrap(),
        ),
        thread_id: None,
        message_id: mid.clone(),
    };
    env.mailbox.send_draft(&handle).await.unwrap();
    let sender = env
        .sender_as("w", env.mailbox.clone(), real_sends())
        .with_config(salesagent_core::sending::SenderConfig {
            search_lag: LAG,
            ..sender_config("w")
        });
    assert_eq!(sender.enqueue_pending_sends().await.unwrap(), 1);
    env.drive(&env.worker(sender)).await;
    let stored = env.store.get_draft(d.id).await.unwrap();
    assert_eq!(
        stored.status,
        DraftStatus::Sent,
        "{:?}",
        stored.status_reason
    );
    assert_eq!(env.mailbox.sent().len(), 1, "sent by hand only");
    assert_eq!(env.mailbox.drafts().len(), 1);
    assert_eq!(email_sent(&env, d.id).await, 1);
    let audit = env.store.audit_entries(0, 0).await.unwrap();
    let sent = audit.iter().find(|e| e.action == "draft.sent").unwrap();
    assert_eq!(sent.details["reconciled"], true);
}

#[tokio::test]
async fn a_deleted_mailbox_draft_fails_after_the_lag_bound_and_is_never_resent() {
    let mut env = Env::new();
    env.mailbox = lagging_mailbox(&env);
    let d = env.approved("jane@acme.io").await;
    let mb = Arc::new(FaultyMailbox::clean(env.mailbox.clone()));
    let drafting = env.sender_with(mb.clone(), draft_only());
    drafting.enqueue_pending_sends().await.unwrap();
    env.drive(&env.worker(drafting)).await;
    let drafted = env.store.get_draft(d.id).await.unwrap();
    assert_eq!(drafted.status, DraftStatus::Drafted);
    // A person deletes the mailbox draft.
    mb.delete(drafted.mailbox_draft_id.as_deref().unwrap());
    let sender = env.sender_as("w", mb.clone(), one_per_week()).with_config(
        salesagent_core::sending::SenderConfig {
            search_lag: LAG,
            ..sender_config("w")
        },
    );
    sender.enqueue_pending_sends().await.unwrap();
    let worker = env.worker(sender);
    let t0 = env.now();
    let mut failed_at = None;
    for _ in 0..20 {
        worker.run_until_idle(1).await.unwrap();
        match env.status(d.id).await {
            DraftStatus::Sending => {}
            DraftStatus::Failed => {
                failed_at = Some(env.now());
                break;
            }
            other => panic!("{other:?}"),
        }
        env.clock.advance(Duration::from_secs(5));
    }
    let failed_at = failed_at.expect("failed in the end");
    assert!(
        failed_at >= t0 + chrono::TimeDelta::seconds(30),
        "decided only after the lag bound"
    );
    let stored = env.store.get_draft(d.id).await.unwrap();
    assert!(
        stored
            .status_reason
            .as_deref()
            .is_some_and(|r| r.contains("deleted")),
        "{stored:?}"
    );
    assert!(mb.deliveries().is_empty());
    assert!(env.mailbox.sent().is_empty());
    assert_eq!(env.mailbox.drafts().len(), 1, "never re-created");
    assert!(
        slot_free(&env, "jane@acme.io").await,
        "reservation released"
    );
    assert_eq!(email_sent(&env, d.id).await, 0);
    // Nothing left to do, even at start-up.
    env.drive(&worker).await;
    assert_eq!(env.sender().enqueue_pending_sends().await.unwrap(), 0);
    assert!(mb.deliveries().is_empty());
}

#[tokio::test]
async fn a_stale_sending_draft_whose_contact_was_suppressed_is_rejected_and_released() {
    // Crashed before the mailbox draft was made, and crashed with it made but not sent.
    for (op, fault) in [
        ("create_draft", Fault::CrashBefore),
        ("send_draft", Fault::CrashBefore),
    ] {
        let env = Env::new();
        let d = env.approved("jane@acme.io").await;
        let mb = Arc::new(FaultyMailbox::new(env.mailbox.clone(), first(op, 1, fault)));
        crash_mid_send(&env, &mb, d.id, one_per_week()).await;
        assert!(
            !slot_free(&env, "jane@acme.io").await,
            "{op}: reserved by the claim"
        );
        env.store
            .suppress(&Suppression {
                email: email("jane@acme.io"),
                reason: SuppressionReason::Unsubscribed,
                note: None,
                added_at: env.now(),
            })
            .await
            .unwrap();
        let sender = env.sender_as("w", mb.clone(), one_per_week());
        assert_eq!(sender.enqueue_pending_sends().await.unwrap(), 1);
        let stats = env.drive(&env.worker(sender)).await;
        assert_eq!(stats.done, 1, "{op}: {stats:?}");
        let stored = env.store.get_draft(d.id).await.unwrap();
        assert_eq!(stored.status, DraftStatus::Rejected, "{op}");
        assert!(
            stored
                .status_reason
                .as_deref()
                .is_some_and(|r| r.starts_with("suppressed")),
            "{op}: {stored:?}"
        );
        assert!(stored.send_claim.is_none());
        // A suppressed recipient is never reserved: lift it to see the slot.
        env.store.unsuppress(&email("jane@acme.io")).await.unwrap();
        assert!(
            slot_free(&env, "jane@acme.io").await,
            "{op}: reservation released"
        );
        assert!(mb.deliveries().is_empty(), "{op}");
        assert!(env.mailbox.sent().is_empty(), "{op}");
    }
}

/// A mailbox whose first call of `op` stops before reaching the provider until the test
/// lets it go: a holder stalled longer than its claim (a hung connection, a paused process).
#[derive(Debug)]
struct StalledMailbox {
    inner: Arc<FaultyMailbox>,
    op: &'static str,
    armed: std::sync::atomic::AtomicBool,
    entered: tokio::sync::Notify,
    resume: tokio::sync::Notify,
}

impl StalledMailbox {
    fn new(inner: Arc<FaultyMailbox>, op: &'static str) -> Self {
        Self {
            inner,
            op,
            armed: std::sync::atomic::AtomicBool::new(true),
            entered: tokio::sync::Notify::new(),
            resume: tokio::sync::Notify::new(),
        }
    }

    async fn gate(&self, op: &str) {
        if op == self.op && self.armed.swap(false, Ordering::SeqCst) {
            self.entered.notify_one();
            self.resume.notified().await;
        }
    }
}

#[async_trait]
impl Mailbox for StalledMailbox {
    async fn search(&self, query: &MailQuery) -> Result<Vec<MailMessage>> {
        self.inner.search(query).await
    }
    async fn get_thread(&self, thread: &ThreadId) -> Result<Vec<MailMessage>> {
        self.inner.get_thread(thread).await
    }
    async fn send(&self, message: &OutgoingMessage) -> Result<SentMessage> {
        self.gate("send").await;
        self.inner.send(message).await
    }
    async fn send_draft(&self, draft: &SentMessage) -> Result<SentMessage> {
        self.gate("send_draft").await;
        self.inner.send_draft(draft).await
    }
    async fn create_draft(&self, message: &OutgoingMessage) -> Result<SentMessage> {
        self.gate("create_draft").await;
        self.inner.create_draft(message).await
    }
    async fn find_sent(&self, message_id: &MessageId) -> Result<Option<SentMessage>> {
        self.inner.find_sent(message_id).await
    }
    async fn history(&self, cursor: Option<&str>) -> Result<HistoryPage> {
        self.inner.history(cursor).await
    }
    async fn sent_messages(&self, page_token: Option<&str>, page_size: u32) -> Result<MessagePage> {
        self.inner.sent_messages(page_token, page_size).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_holder_stalled_past_its_claim_is_fenced_and_delivers_nothing_more() {
    // Holder A stalls in a provider call longer than its claim; B takes over and sends. When A
    // wakes up, its late call cannot deliver a second time and its writes are refused.
    for op in ["create_draft", "send_draft"] {
        let env = Env::new();
        let d = env.approved("jane@acme.io").await;
        let mb = Arc::new(FaultyMailbox::clean(env.mailbox.clone()));
        let stalled = Arc::new(StalledMailbox::new(mb.clone(), op));
        let a = env.sender_as("a", stalled.clone(), real_sends());
        let id = d.id;
        let task = tokio::spawn(async move { a.send_draft(id).await });
        stalled.entered.notified().await;
        let held = env.store.get_draft(d.id).await.unwrap();
        assert_eq!(held.send_claim.as_ref().unwrap().holder, "a");
        env.advance_to(held.send_claim.unwrap().expires_at);
        let b = env.sender_as("b", mb.clone(), real_sends());
        let out = b.send_draft(d.id).await.unwrap();
        assert!(matches!(out, SendOutcome::Sent { .. }), "{op}: {out:?}");
        stalled.resume.notify_one();
        let late = task.await.unwrap();
        assert!(
            !matches!(late, Ok(SendOutcome::Sent { .. })),
            "{op}: the stalled holder must not deliver: {late:?}"
        );
        assert_eq!(mb.deliveries().len(), 1, "{op}");
        let stored = env.store.get_draft(d.id).await.unwrap();
        assert_eq!(stored.status, DraftStatus::Sent, "{op}");
        assert_eq!(email_sent(&env, d.id).await, 1, "{op}");
        let audit = env.store.audit_entries(0, 0).await.unwrap();
        assert_eq!(
            audit.iter().filter(|e| e.action == "draft.sent").count(),
            1,
            "{op}"
        );
    }
}

#[tokio::test]
async fn a_mode_switch_to_draft_only_does_not_hide_a_delivered_send() {
    // Real sends: the holder died right after the provider delivered. An operator switches to
    // DRAFT_ONLY before a reconciler runs. The message is out: the draft must end Sent, not
    // Drafted ("not sent").
    let env = Env::new();
    let d = env.approved("jane@acme.io").await;
    let mb = Arc::new(FaultyMailbox::new(
        env.mailbox.clone(),
        first("send_draft", 1, Fault::CrashAfter),
    ));
    crash_mid_send(&env, &mb, d.id, real_sends()).await;
    let drafting = env.sender_as("w", mb.clone(), draft_only());
    drafting.enqueue_pending_sends().await.unwrap();
    env.drive(&env.worker(drafting)).await;
    assert_eq!(mb.deliveries().len(), 1);
    assert_eq!(env.status(d.id).await, DraftStatus::Sent);
    assert_eq!(email_sent(&env, d.id).await, 1);
}

#[tokio::test]
async fn the_kill_switch_on_a_resumed_draft_with_a_mailbox_draft_asks_the_provider_first() {
    // The holder died after recording the mailbox draft: once right after sending it, once
    // before. With the kill switch on, the reconciler must not give a possibly delivered
    // draft back: it looks the Message-ID up, and decides "not sent" only after the lag bound.
    for fault in [Fault::CrashAfter, Fault::CrashBefore] {
        let mut env = Env::new();
        env.mailbox = lagging_mailbox(&env);
        let d = env.approved("jane@acme.io").await;
        let mb = Arc::new(FaultyMailbox::new(
            env.mailbox.clone(),
            first("send_draft", 1, fault),
        ));
        crash_mid_send(&env, &mb, d.id, one_per_week()).await;
        let t_resume = env.now();
        env.store.set_kill_switch(true).await.unwrap();
        let sender = env.sender_as("w", mb.clone(), one_per_week()).with_config(
            salesagent_core::sending::SenderConfig {
                search_lag: LAG,
                ..sender_config("w")
            },
        );
        sender.enqueue_pending_sends().await.unwrap();
        let worker = env.worker(sender);
        let mut statuses = Vec::new();
        for _ in 0..20 {
            worker.run_until_idle(1).await.unwrap();
            let status = env.status(d.id).await;
            statuses.push((env.now(), status));
            if status != DraftStatus::Sending {
                break;
            }
            env.clock.advance(Duration::from_secs(5));
        }
        let (at, last) = *statuses.last().unwrap();
        match fault {
            Fault::CrashAfter => {
                // Delivered: found once searchable, recorded as sent, never given back.
                assert_eq!(last, DraftStatus::Sent, "{statuses:?}");
                assert_eq!(email_sent(&env, d.id).await, 1);
                assert!(!slot_free(&env, "jane@acme.io").await, "the send counts");
                assert_eq!(mb.deliveries().len(), 1);
            }
            _ => {
                // Not delivered: given back only after the lag bound, slot released.
                assert_eq!(last, DraftStatus::Approved, "{statuses:?}");
                assert!(
                    at >= t_resume + chrono::TimeDelta::seconds(30),
                    "{statuses:?}"
                );
                assert!(slot_free(&env, "jane@acme.io").await);
                assert!(mb.deliveries().is_empty());
                // Switched off, it goes out once.
                env.store.set_kill_switch(false).await.unwrap();
                env.drive(&worker).await;
                assert_eq!(env.status(d.id).await, DraftStatus::Sent);
                assert_eq!(mb.deliveries().len(), 1);
                assert_eq!(env.mailbox.drafts().len(), 1, "the same mailbox draft");
            }
        }
        let names = event_names(&env, d.id).await;
        let first_give_back = names.iter().position(|n| n == "return_to_approved");
        if fault == Fault::CrashAfter {
            assert!(first_give_back.is_none(), "{names:?}");
        }
    }
}

#[tokio::test]
async fn the_kill_switch_gives_a_resumed_sending_draft_back_and_defers_its_job() {
    let env = Env::new();
    let d = env.approved("jane@acme.io").await;
    let mb = Arc::new(FaultyMailbox::new(
        env.mailbox.clone(),
        first("create_draft", 1, Fault::CrashBefore),
    ));
    crash_mid_send(&env, &mb, d.id, one_per_week()).await;
    assert!(!slot_free(&env, "jane@acme.io").await);
    env.store.set_kill_switch(true).await.unwrap();
    let sender = env.sender_as("w", mb.clone(), one_per_week());
    sender.enqueue_pending_sends().await.unwrap();
    let worker = env.worker(sender);
    let stats = worker.run_until_idle(1).await.unwrap();
    assert_eq!(stats.deferred, 1, "{stats:?}");
    let stored = env.store.get_draft(d.id).await.unwrap();
    assert_eq!(stored.status, DraftStatus::Approved);
    assert!(stored.send_claim.is_none());
    assert!(
        stored
            .status_reason
            .as_deref()
            .is_some_and(|r| r.starts_with("kill_switch"))
    );
    assert!(
        slot_free(&env, "jane@acme.io").await,
        "reservation released"
    );
    let queued = env.send_jobs(JobState::Queued).await;
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].run_at, env.now() + chrono::TimeDelta::seconds(60));
    assert_eq!(queued[0].attempts, 0, "a deferral uses no attempt");
    assert!(env.mailbox.drafts().is_empty());
    // Switched off: it goes out at the recheck, once.
    env.store.set_kill_switch(false).await.unwrap();
    env.drive(&worker).await;
    assert_eq!(env.status(d.id).await, DraftStatus::Sent);
    assert_eq!(mb.deliveries().len(), 1);
    assert_eq!(env.mailbox.drafts().len(), 1);
}

// ---- paths found while porting (see the report of exactly-once-v2) ----

#[tokio::test]
async fn a_lost_create_draft_answer_then_a_lost_send_answer_under_search_lag_ends_sent() {
    // create_draft's answer is lost (the sender waits for the lag bound, then makes a new
    // mailbox draft), then send_draft delivers and its answer is lost too. The message left
    // once; the draft must end Sent, not Failed as "deleted" from a search younger than the
    // lag bound.
    let mut env = Env::new();
    env.mailbox = lagging_mailbox(&env);
    let d = env.approved("jane@acme.io").await;
    let mut creates = 0;
    let mut sends = 0;
    let mb = Arc::new(FaultyMailbox::new(
        env.mailbox.clone(),
        move |op| match op {
            "create_draft" => {
                creates += 1;
                if creates == 1 {
                    Fault::TimeoutAfter
                } else {
                    Fault::None
                }
            }
            "send_draft" => {
                sends += 1;
                if sends == 1 {
                    Fault::TimeoutAfter
                } else {
                    Fault::None
                }
            }
            _ => Fault::None,
        },
    ));
    let sender = lag_aware(&env, "w", mb.clone(), CLAIM_LEASE);
    sender.enqueue_pending_sends().await.unwrap();
    let worker = env.worker(sender);
    for _ in 0..60 {
        let _ = worker.run_until_idle(1).await;
        let status = env.status(d.id).await;
        if status.is_terminal() {
            break;
        }
        env.clock.advance(Duration::from_secs(5));
    }
    assert_eq!(mb.deliveries().len(), 1);
    let stored = env.store.get_draft(d.id).await.unwrap();
    assert_eq!(
        stored.status,
        DraftStatus::Sent,
        "{:?}",
        stored.status_reason
    );
}

#[tokio::test]

async fn an_edit_after_a_kill_switch_give_back_sends_the_edited_text() {
    // The holder made the mailbox draft and died before sending it; the kill switch gives the
    // draft back (Approved, editable); the operator edits and approves again. What goes out
    // must be the text approved last, not the stale mailbox draft.
    let env = Env::new();
    let d = env.approved("jane@acme.io").await;
    let mb = Arc::new(FaultyMailbox::new(
        env.mailbox.clone(),
        first("send_draft", 1, Fault::CrashBefore),
    ));
    crash_mid_send(&env, &mb, d.id, real_sends()).await;
    env.store.set_kill_switch(true).await.unwrap();
    let sender = env.sender_as("w", mb.clone(), real_sends());
    sender.enqueue_pending_sends().await.unwrap();
    let worker = env.worker(sender);
    worker.run_until_idle(1).await.unwrap();
    let back = env.store.get_draft(d.id).await.unwrap();
    assert_eq!(back.status, DraftStatus::Approved);
    let queue = salesagent_core::sending::OperatorQueue::new(env.store.clone(), env.clock.shared());
    let edited = queue
        .edit(
            d.id,
            back.version,
            "operator:alice",
            Some("Edited subject".into()),
            None,
        )
        .await
        .unwrap();
    queue
        .approve(d.id, edited.version, "operator:alice")
        .await
        .unwrap();
    env.store.set_kill_switch(false).await.unwrap();
    env.drive(&worker).await;
    assert_eq!(env.status(d.id).await, DraftStatus::Sent);
    let out = env.mailbox.sent();
    assert_eq!(out.len(), 1);
    let parsed = mail_parser::MessageParser::default()
        .parse(&out[0].raw)
        .unwrap();
    assert_eq!(parsed.subject(), Some("Edited subject"));
}

#[tokio::test]

async fn a_delivered_draft_resumed_after_its_contact_unsubscribed_is_recorded_as_sent() {
    // The holder died right after the provider delivered; the contact unsubscribes before a
    // reconciler takes over. The message is out: the draft must not end Rejected ("never
    // sent") with no email_sent outcome and its reservation released.
    let env = Env::new();
    let d = env.approved("jane@acme.io").await;
    let mb = Arc::new(FaultyMailbox::new(
        env.mailbox.clone(),
        first("send_draft", 1, Fault::CrashAfter),
    ));
    crash_mid_send(&env, &mb, d.id, one_per_week()).await;
    assert_eq!(mb.deliveries().len(), 1);
    env.store
        .suppress(&Suppression {
            email: email("jane@acme.io"),
            reason: SuppressionReason::Unsubscribed,
            note: None,
            added_at: env.now(),
        })
        .await
        .unwrap();
    let sender = env.sender_as("w", mb.clone(), one_per_week());
    sender.enqueue_pending_sends().await.unwrap();
    env.drive(&env.worker(sender)).await;
    assert_eq!(mb.deliveries().len(), 1);
    assert_eq!(env.status(d.id).await, DraftStatus::Sent);
    assert_eq!(email_sent(&env, d.id).await, 1);
}

#[tokio::test]
async fn without_draft_sending_a_lost_send_answer_is_looked_up_not_resent() {
    // A mailbox without `send_draft` (the port's default): the sender falls back to `send`,
    // whose answer is lost after delivery. A real provider delivers a resent message again,
    // so the retry must look the Message-ID up (after the lag bound) instead of resending.
    let env = Env::new();
    let d = env.approved("jane@acme.io").await;
    let mb = Arc::new(
        FaultyMailbox::new(env.mailbox.clone(), first("send", 1, Fault::TimeoutAfter))
            .without_draft_sending(),
    );
    let sender = env.sender_with(mb.clone(), real_sends());
    sender.enqueue_pending_sends().await.unwrap();
    env.drive(&env.worker(sender)).await;
    assert_eq!(env.status(d.id).await, DraftStatus::Sent);
    assert_eq!(mb.deliveries().len(), 1, "{:?}", mb.deliveries());
}

#[tokio::test]
async fn without_draft_sending_a_send_that_failed_before_delivery_is_sent_after_the_lag_bound() {
    // The plain send fails without delivering (the sender cannot know): after the lag bound
    // nothing carries the Message-ID, so it is sent again, once; it is not "deleted".
    let mut env = Env::new();
    env.mailbox = lagging_mailbox(&env);
    let d = env.approved("jane@acme.io").await;
    let mb = Arc::new(
        FaultyMailbox::new(env.mailbox.clone(), first("send", 1, Fault::Before))
            .without_draft_sending(),
    );
    let sender = lag_aware(&env, "w", mb.clone(), CLAIM_LEASE);
    sender.enqueue_pending_sends().await.unwrap();
    let t0 = env.now();
    env.drive(&env.worker(sender)).await;
    let stored = env.store.get_draft(d.id).await.unwrap();
    assert_eq!(
        stored.status,
        DraftStatus::Sent,
        "{:?}",
        stored.status_reason
    );
    assert_eq!(mb.deliveries().len(), 1);
    assert!(
        env.now() >= t0 + chrono::TimeDelta::seconds(30),
        "resent only after the bound"
    );
}

// ---- random crash points and the state machine through the send path ----

/// Drives three drafts to a terminal state through crashes, lost answers and transient
/// failures at random points (mailbox and store), one worker "process lifetime" at a time: each
/// lifetime enqueues what is pending (start-up) and runs the shipped worker until it is idle
/// or dies; dead jobs are requeued (an operator). Returns (lifetimes, lost acknowledgements).
async fn drive_through_faults(seed: u64, lag: bool) -> (usize, usize) {
    let faults = Faults::seeded(seed ^ 0xA5A5).with_failure_rate(FaultKind::Unavailable, 0.15);
    let mut env = Env::with_store(|c| MemoryStore::new(c).with_seed(seed));
    env.store = Arc::new(FaultInjecting::new(env.memory.clone(), faults.clone()));
    if lag {
        env.mailbox = lagging_mailbox(&env);
    }
    // Set-up without faults.
    faults.clear();
    let mut drafts = Vec::new();
    for i in 0..3 {
        drafts.push(env.approved(&format!("lead{i}@co{i}.io")).await);
    }
    let rolls = Arc::new(Mutex::new(SeededRng::new(seed.wrapping_mul(31))));
    let mb = Arc::new(FaultyMailbox::new(env.mailbox.clone(), move |op| {
        let r = rolls.lock().unwrap().next_f64();
        match op {
            "send_draft" => match r {
                r if r < 0.15 => Fault::Before,
                r if r < 0.3 => Fault::TimeoutAfter,
                r if r < 0.45 => Fault::CrashAfter,
                r if r < 0.55 => Fault::CrashBefore,
                _ => Fault::None,
            },
            "create_draft" => match r {
                r if r < 0.1 => Fault::Before,
                r if r < 0.2 => Fault::TimeoutAfter,
                r if r < 0.25 => Fault::CrashAfter,
                _ => Fault::None,
            },
            _ => match r {
                r if r < 0.15 => Fault::Before,
                r if r < 0.2 => Fault::CrashAfter,
                _ => Fault::None,
            },
        }
    }));
    let mut lifetimes = 0;
    loop {
        lifetimes += 1;
        assert!(lifetimes < 2000, "seed {seed}: drafts never finished");
        let holder = format!("life-{lifetimes}");
        let sender = if lag {
            lag_aware(&env, &holder, mb.clone(), CLAIM_LEASE)
        } else {
            env.sender_as(&holder, mb.clone(), real_sends())
        };
        faults.set_failure_rate(FaultKind::Unavailable, 0.15);
        let _ = sender.enqueue_pending_sends().await;
        let _ = env.worker_named(&holder, sender).run_until_idle(2).await;
        faults.clear();
        let mut done = true;
        for d in &drafts {
            let status = env.status(d.id).await;
            if status.is_terminal() {
                let stored = env.store.get_draft(d.id).await.unwrap();
                assert_eq!(
                    status,
                    DraftStatus::Sent,
                    "seed {seed} lag {lag}: {:?} {:?}",
                    stored.status_reason,
                    event_names(&env, d.id).await
                );
            } else {
                done = false;
            }
        }
        if done {
            break;
        }
        for j in env.send_jobs(JobState::Dead).await {
            env.store.requeue_dead(j.id).await.unwrap();
        }
        match env.next_due().await {
            Some(at) => env.advance_to(at),
            None => env.clock.advance(Duration::from_secs(5)),
        }
    }
    faults.clear();
    let mut per_id: HashMap<MessageId, usize> = HashMap::new();
    for m in mb.deliveries() {
        *per_id.entry(m).or_default() += 1;
    }
    assert_eq!(
        per_id.values().sum::<usize>(),
        drafts.len(),
        "seed {seed} lag {lag}: one delivery per draft, got {per_id:?}"
    );
    for d in &drafts {
        let stored = env.store.get_draft(d.id).await.unwrap();
        let mid = stored.message_id.expect("message id recorded");
        assert_eq!(per_id.get(&mid), Some(&1), "seed {seed} lag {lag}");
        assert!(stored.provider_message_id.is_some());
        // Recording email_sent after MarkSent is best effort (a store failure there is only
        // logged), so under store faults it may be missing, but never doubled.
        assert!(email_sent(&env, d.id).await <= 1, "seed {seed} lag {lag}");
    }
    (lifetimes, mb.lost_acks.load(Ordering::Relaxed))
}

async fn random_crash_points(lag: bool) {
    quiet_panics();
    let (mut lifetimes, mut lost_acks) = (0, 0);
    // `SALESAGENT_FULL=1` runs ten times as many seeds.
    let seeds = if std::env::var_os("SALESAGENT_FULL").is_some() {
        600
    } else {
        60
    };
    for seed in 0..seeds {
        let (l, a) = drive_through_faults(seed, lag).await;
        lifetimes += l;
        lost_acks += a;
    }
    // The faults really fired: many restarts, and many deliveries the sender never heard of.
    assert!(lifetimes > seeds as usize * 3, "only {lifetimes} lifetimes");
    assert!(lost_acks > 30, "only {lost_acks} lost acknowledgements");
    println!(
        "lag {lag}: {lifetimes} worker lifetimes, {lost_acks} deliveries with a lost acknowledgement"
    );
}

#[tokio::test]
async fn random_crash_points_deliver_exactly_once() {
    random_crash_points(false).await;
}

#[tokio::test]
async fn random_crash_points_under_search_lag_deliver_exactly_once() {
    random_crash_points(true).await;
}

/// One step of the state-machine property test.
#[derive(Debug, Clone)]
enum Op {
    Approve(usize),
    Reject(usize),
    Edit(usize),
    /// One run of the send job (one provider attempt).
    Send(usize),
    /// A run that dies right after the provider delivered.
    SendCrashing(usize),
    /// A run that dies after the mailbox draft was recorded, before it was sent.
    SendCrashingBefore(usize),
    KillSwitch(bool),
    Suppress(usize),
    /// Past every claim's lease.
    Advance,
}

fn op() -> impl Strategy<Value = Op> {
    let i = 0usize..3;
    prop_oneof![
        i.clone().prop_map(Op::Approve),
        i.clone().prop_map(Op::Reject),
        i.clone().prop_map(Op::Edit),
        i.clone().prop_map(Op::Send),
        i.clone().prop_map(Op::SendCrashing),
        i.clone().prop_map(Op::SendCrashingBefore),
        any::<bool>().prop_map(Op::KillSwitch),
        i.prop_map(Op::Suppress),
        Just(Op::Advance),
    ]
}

fn allowed(from: DraftStatus, to: DraftStatus) -> bool {
    use DraftStatus as S;
    from == to
        || matches!(
            (from, to),
            (S::Pending, S::Approved | S::Rejected)
                // One send run may go Approved -> Sending -> Sent | Failed | Rejected (denied
                // after the claim), or give the draft back (Approved again).
                | (S::Approved, S::Pending | S::Rejected | S::Sending | S::Sent | S::Failed)
                | (S::Sending, S::Sent | S::Failed | S::Approved | S::Rejected)
        )
}

async fn state_machine(ops: Vec<Op>) {
    quiet_panics();
    let env = Env::new();
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(env.pending(&format!("p{i}@x{i}.io")).await.id);
    }
    let crash_next = Arc::new(Mutex::new(Fault::None));
    let flag = crash_next.clone();
    let mb = Arc::new(FaultyMailbox::new(env.mailbox.clone(), move |op| {
        if op == "send_draft" {
            std::mem::replace(&mut *flag.lock().unwrap(), Fault::None)
        } else {
            Fault::None
        }
    }));
    let queue = salesagent_core::sending::OperatorQueue::new(env.store.clone(), env.clock.shared());
    let mut approved_text: HashMap<DraftId, String> = HashMap::new();
    for op in ops {
        let mut before = Vec::new();
        for id in &ids {
            before.push(env.status(*id).await);
        }
        match op {
            Op::Approve(i) => {
                let d = env.store.get_draft(ids[i]).await.unwrap();
                if queue.approve(d.id, d.version, "operator:p").await.is_ok() {
                    approved_text.insert(d.id, d.subject.clone());
                }
            }
            Op::Reject(i) => {
                let d = env.store.get_draft(ids[i]).await.unwrap();
                let _ = queue.reject(d.id, d.version, "operator:p", "no").await;
            }
            Op::Edit(i) => {
                let d = env.store.get_draft(ids[i]).await.unwrap();
                let subject = format!("Edited v{}", d.version);
                let _ = queue
                    .edit(d.id, d.version, "operator:p", Some(subject), None)
                    .await;
            }
            Op::Send(i) | Op::SendCrashing(i) | Op::SendCrashingBefore(i) => {
                *crash_next.lock().unwrap() = match op {
                    Op::SendCrashing(_) => Fault::CrashAfter,
                    Op::SendCrashingBefore(_) => Fault::CrashBefore,
                    _ => Fault::None,
                };
                let s = env.sender_with(mb.clone(), real_sends());
                let _ = run_once(&s, ids[i]).await;
                *crash_next.lock().unwrap() = Fault::None;
            }
            Op::KillSwitch(on) => env.store.set_kill_switch(on).await.unwrap(),
            Op::Suppress(i) => {
                let d = env.store.get_draft(ids[i]).await.unwrap();
                env.store
                    .suppress(&Suppression {
                        email: d.contact_email,
                        reason: SuppressionReason::Manual,
                        note: None,
                        added_at: env.now(),
                    })
                    .await
                    .unwrap();
            }
            Op::Advance => env.clock.advance(CLAIM_LEASE + Duration::from_secs(1)),
        }
        for (k, id) in ids.iter().enumerate() {
            let after = env.status(*id).await;
            assert!(
                allowed(before[k], after),
                "{:?} -> {:?} after {op:?}",
                before[k],
                after
            );
        }
    }
    // Finish: kill switch off, every claim lapsed, the worker runs what is pending.
    env.store.set_kill_switch(false).await.unwrap();
    env.clock.advance(CLAIM_LEASE + Duration::from_secs(1));
    let sender = env.sender_with(mb.clone(), real_sends());
    sender.enqueue_pending_sends().await.unwrap();
    env.drive(&env.worker(sender)).await;
    let sent = env.mailbox.sent();
    for id in &ids {
        let d = env.store.get_draft(*id).await.unwrap();
        let delivered = d.message_id.as_ref().map_or(0, |m| mb.deliveries_of(m));
        match d.status {
            DraftStatus::Sent => {
                assert_eq!(delivered, 1, "sent drafts are delivered exactly once");
                // What went out is the text that was approved last.
                let out = sent
                    .iter()
                    .find(|m| Some(&m.message_id) == d.message_id.as_ref())
                    .unwrap();
                let parsed = mail_parser::MessageParser::default()
                    .parse(&out.raw)
                    .unwrap();
                assert_eq!(parsed.subject(), Some(d.subject.as_str()));
                assert_eq!(approved_text.get(id), Some(&d.subject));
                assert_eq!(email_sent(&env, *id).await, 1);
            }
            DraftStatus::Sending => panic!("left in flight after the final run"),
            other => assert_eq!(delivered, 0, "{other:?} drafts are never delivered"),
        }
    }
    assert_eq!(
        mb.deliveries().len(),
        sent.len(),
        "no Message-ID delivered twice"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn draft_state_machine_with_the_send_path(ops in prop::collection::vec(op(), 1..30)) {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(state_machine(ops));
    }
}
