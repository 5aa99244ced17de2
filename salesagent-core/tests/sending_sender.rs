//! Exactly-once sending: crash points, reconciliation, retries, permanent failures, and a
//! property test of the draft state machine driven through the send path.

#[path = "sending_common.rs"]
mod common;

use async_trait::async_trait;
use common::*;
use futures::FutureExt;
use proptest::prelude::*;
use salesagent_core::model::{
    DraftId, DraftStatus, HistoryPage, MailMessage, MailQuery, MessageId, MessagePage,
    OutgoingMessage, SendDecision, SentMessage, ThreadId,
};
use salesagent_core::ports::{Mailbox, SettingsExt};
use salesagent_core::sending::{SendOutcome, Sender};
use salesagent_core::testing::{FakeMailbox, FaultKind, Faults, MemoryStore, SeededRng};
use salesagent_core::{Error, Result};
use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the mailbox wrapper does on one `send` call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SendFault {
    /// Deliver and answer normally.
    None,
    /// Fail before delivering (transient).
    Before,
    /// Deliver, then answer with a timeout.
    TimeoutAfter,
    /// Deliver, then crash the caller (panic), as if the process died.
    CrashAfter,
    /// Fail before delivering with a permanent error.
    Permanent,
}

/// Decides the fault of each mailbox call, by operation name.
type Plan = Box<dyn FnMut(&str) -> SendFault + Send>;

/// A mailbox that injects failures around a [`FakeMailbox`] and logs every delivery, counting
/// duplicates even where the fake would deduplicate them.
struct FaultyMailbox {
    inner: Arc<FakeMailbox>,
    plan: Mutex<Plan>,
    deliveries: Mutex<Vec<MessageId>>,
    /// Deliveries whose caller saw a timeout or a crash instead of success.
    lost_acks: std::sync::atomic::AtomicUsize,
}

impl std::fmt::Debug for FaultyMailbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultyMailbox").finish_non_exhaustive()
    }
}

impl FaultyMailbox {
    fn new(inner: Arc<FakeMailbox>, plan: impl FnMut(&str) -> SendFault + Send + 'static) -> Self {
        Self {
            inner,
            plan: Mutex::new(Box::new(plan)),
            deliveries: Mutex::new(Vec::new()),
            lost_acks: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    fn fault(&self, op: &str) -> SendFault {
        (self.plan.lock().unwrap())(op)
    }

    fn deliveries(&self) -> Vec<MessageId> {
        self.deliveries.lock().unwrap().clone()
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
        match fault {
            SendFault::Before => return Err(Error::unavailable("injected: before delivery")),
            SendFault::Permanent => return Err(Error::invalid("to", "injected: rejected")),
            _ => {}
        }
        let sent = self.inner.send(message).await?;
        self.deliveries
            .lock()
            .unwrap()
            .push(message.message_id.clone());
        if matches!(fault, SendFault::TimeoutAfter | SendFault::CrashAfter) {
            self.lost_acks
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        match fault {
            SendFault::TimeoutAfter => Err(Error::timeout("injected: after delivery")),
            SendFault::CrashAfter => panic!("injected crash after delivery"),
            _ => Ok(sent),
        }
    }
    async fn create_draft(&self, message: &OutgoingMessage) -> Result<SentMessage> {
        self.inner.create_draft(message).await
    }
    async fn find_sent(&self, message_id: &MessageId) -> Result<Option<SentMessage>> {
        match self.fault("find_sent") {
            SendFault::None => self.inner.find_sent(message_id).await,
            SendFault::CrashAfter => panic!("injected crash in find_sent"),
            _ => Err(Error::unavailable("injected: find_sent")),
        }
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

#[tokio::test]
async fn timeout_after_delivery_is_reconciled_not_resent() {
    let env = Env::new();
    let d = env.approved("jane@acme.io").await;
    let mut calls = 0;
    let mb = Arc::new(FaultyMailbox::new(env.mailbox.clone(), move |op| {
        if op == "send" {
            calls += 1;
            if calls == 1 {
                return SendFault::TimeoutAfter;
            }
        }
        SendFault::None
    }));
    let sender = env.sender_with(mb.clone(), real_sends());
    let out = sender.send_draft(d.id).await.unwrap();
    assert!(matches!(out, SendOutcome::Reconciled { .. }), "{out:?}");
    assert_eq!(mb.deliveries().len(), 1);
    let stored = env.store.get_draft(d.id).await.unwrap();
    assert_eq!(stored.status, DraftStatus::Sent);
    assert_eq!(stored.message_id.as_ref(), Some(&mb.deliveries()[0]));
    assert_eq!(stored.send_decision, Some(SendDecision::Allow));
    // The Message-ID was recorded before the provider call: BeginSend precedes MarkSent.
    let events = env.store.draft_events(d.id).await.unwrap();
    let names: Vec<&str> = events.iter().map(|e| e.action.name()).collect();
    assert_eq!(&names[names.len() - 2..], ["begin_send", "mark_sent"]);
}

#[tokio::test]
async fn crash_after_delivery_then_restart_reconciles() {
    quiet_panics();
    let env = Env::new();
    let d = env.approved("jane@acme.io").await;
    let mut calls = 0;
    let mb = Arc::new(FaultyMailbox::new(env.mailbox.clone(), move |op| {
        if op == "send" {
            calls += 1;
            if calls == 1 {
                return SendFault::CrashAfter;
            }
        }
        SendFault::None
    }));
    let sender = env.sender_with(mb.clone(), real_sends());
    assert!(run_once(&sender, d.id).await.is_err(), "crashed");
    assert_eq!(env.status(d.id).await, DraftStatus::Sending);
    // Right after the crash the draft may still be another worker's: left alone.
    let out = sender.send_draft(d.id).await.unwrap();
    assert!(matches!(out, SendOutcome::InFlight { .. }), "{out:?}");
    env.clock.advance(Duration::from_secs(601));
    let restarted = env.sender_with(mb.clone(), real_sends());
    let out = restarted.send_draft(d.id).await.unwrap();
    assert!(matches!(out, SendOutcome::Reconciled { .. }), "{out:?}");
    assert_eq!(mb.deliveries().len(), 1);
    assert_eq!(env.status(d.id).await, DraftStatus::Sent);
}

#[tokio::test]
async fn failed_lookup_never_leads_to_a_send() {
    let env = Env::new();
    let d = env.approved("jane@acme.io").await;
    // send times out after delivering, and every lookup fails: the sender must give up for now.
    let mb = Arc::new(FaultyMailbox::new(env.mailbox.clone(), |op| match op {
        "send" => SendFault::TimeoutAfter,
        _ => SendFault::Before,
    }));
    let sender = env.sender_with(mb.clone(), real_sends());
    let err = sender.send_draft(d.id).await.unwrap_err();
    assert!(err.is_retryable());
    assert_eq!(mb.deliveries().len(), 1);
    assert_eq!(env.status(d.id).await, DraftStatus::Sending);
}

#[tokio::test]
async fn transient_failures_retry_with_backoff_then_succeed() {
    let env = Env::new();
    let d = env.approved("jane@acme.io").await;
    let mut calls = 0;
    let mb = Arc::new(FaultyMailbox::new(env.mailbox.clone(), move |op| {
        if op == "send" {
            calls += 1;
            if calls <= 2 {
                return SendFault::Before;
            }
        }
        SendFault::None
    }));
    let out = env
        .sender_with(mb.clone(), real_sends())
        .send_draft(d.id)
        .await
        .unwrap();
    assert!(matches!(out, SendOutcome::Sent { .. }), "{out:?}");
    assert_eq!(mb.deliveries().len(), 1);
}

#[tokio::test]
async fn out_of_attempts_stays_sending_for_a_later_retry() {
    let env = Env::new();
    let d = env.approved("jane@acme.io").await;
    let mb = Arc::new(FaultyMailbox::new(env.mailbox.clone(), |op| {
        if op == "send" {
            SendFault::Before
        } else {
            SendFault::None
        }
    }));
    let err = env
        .sender_with(mb.clone(), real_sends())
        .send_draft(d.id)
        .await
        .unwrap_err();
    assert!(err.is_retryable(), "{err:?}");
    assert_eq!(env.status(d.id).await, DraftStatus::Sending);
    assert!(mb.deliveries().is_empty());
}

#[tokio::test]
async fn permanent_failure_ends_failed_and_releases_the_reservation() {
    let env = Env::new();
    let mut limits = real_sends();
    limits.limits.per_contact_week = 1;
    let d = env.approved("jane@acme.io").await;
    let mb = Arc::new(FaultyMailbox::new(env.mailbox.clone(), |op| {
        if op == "send" {
            SendFault::Permanent
        } else {
            SendFault::None
        }
    }));
    let out = env
        .sender_with(mb.clone(), limits.clone())
        .send_draft(d.id)
        .await
        .unwrap();
    let SendOutcome::Failed { reason } = out else {
        panic!("{out:?}")
    };
    assert!(reason.contains("injected: rejected"));
    let stored = env.store.get_draft(d.id).await.unwrap();
    assert_eq!(stored.status, DraftStatus::Failed);
    assert_eq!(stored.status_reason.as_deref(), Some(reason.as_str()));
    // The slot was released: another draft to the same contact may go out this week.
    let d2 = env.approved("jane@acme.io").await;
    let out = env
        .sender_with(env.mailbox.clone(), limits)
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
    let first = sender.send_all().await.unwrap();
    assert_eq!(first.len(), 2);
    assert!(first.iter().all(|(_, r)| r.as_ref().unwrap().is_done()));
    assert_eq!(env.mailbox.sent().len(), 2);
    let second = sender.send_all().await.unwrap();
    assert!(second.is_empty(), "{second:?}");
    for id in [a.id, b.id] {
        let out = sender.send_draft(id).await.unwrap();
        assert_eq!(
            out,
            SendOutcome::Skipped {
                status: DraftStatus::Sent
            }
        );
    }
    assert_eq!(env.mailbox.sent().len(), 2);
}

#[tokio::test]
async fn concurrent_senders_deliver_each_draft_once() {
    let env = Env::new();
    let mut ids = Vec::new();
    for i in 0..10 {
        ids.push(env.approved(&format!("c{i}@d{i}.io")).await.id);
    }
    let mb = Arc::new(FaultyMailbox::new(env.mailbox.clone(), |_| SendFault::None));
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let s = env.sender_with(mb.clone(), real_sends());
        tasks.push(tokio::spawn(async move { s.send_all().await.unwrap() }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(mb.deliveries().len(), 10);
    for id in ids {
        assert_eq!(env.status(id).await, DraftStatus::Sent);
    }
}

/// Drives one draft to a terminal state through crashes and transient failures at random
/// points (mailbox and store); returns (process lifetimes, deliveries whose ack was lost).
async fn drive_through_faults(seed: u64) -> (usize, usize) {
    let env = Env::with_store(|c| {
        MemoryStore::new(c).with_faults(
            Faults::seeded(seed ^ 0xA5A5).with_failure_rate(FaultKind::Unavailable, 0.15),
        )
    });
    let memory = env.memory.clone();
    // Set-up without faults.
    memory.faults().clear();
    let mut drafts = Vec::new();
    for i in 0..3 {
        drafts.push(env.approved(&format!("lead{i}@co{i}.io")).await);
    }
    memory
        .faults()
        .set_failure_rate(FaultKind::Unavailable, 0.15);
    let mut rng = SeededRng::new(seed);
    let rolls = Arc::new(Mutex::new(SeededRng::new(seed.wrapping_mul(31))));
    let plan_rng = rolls.clone();
    let mb = Arc::new(FaultyMailbox::new(env.mailbox.clone(), move |op| {
        let r = plan_rng.lock().unwrap().next_f64();
        match op {
            "send" => match r {
                r if r < 0.2 => SendFault::Before,
                r if r < 0.4 => SendFault::TimeoutAfter,
                r if r < 0.6 => SendFault::CrashAfter,
                _ => SendFault::None,
            },
            _ => match r {
                r if r < 0.15 => SendFault::Before,
                r if r < 0.25 => SendFault::CrashAfter,
                _ => SendFault::None,
            },
        }
    }));
    let mut total_lifetimes = 0;
    for d in &drafts {
        let mut lifetimes = 0;
        loop {
            lifetimes += 1;
            total_lifetimes += 1;
            assert!(lifetimes < 500, "seed {seed}: draft never finished");
            let sender = env.sender_with(mb.clone(), real_sends());
            let _ = run_once(&sender, d.id).await;
            // Next lifetime starts after the in-flight grace (the crashed worker is gone).
            env.clock
                .advance(Duration::from_secs(rng.next_u64() % 5 + 601));
            memory.faults().clear();
            let status = env.status(d.id).await;
            memory
                .faults()
                .set_failure_rate(FaultKind::Unavailable, 0.15);
            if status.is_terminal() {
                assert_eq!(status, DraftStatus::Sent, "seed {seed}");
                break;
            }
        }
    }
    memory.faults().clear();
    let deliveries = mb.deliveries();
    assert_eq!(
        deliveries.len(),
        drafts.len(),
        "seed {seed}: one delivery per draft, got {deliveries:?}"
    );
    let mut per_id: HashMap<MessageId, usize> = HashMap::new();
    for m in &deliveries {
        *per_id.entry(m.clone()).or_default() += 1;
    }
    for d in &drafts {
        let stored = env.store.get_draft(d.id).await.unwrap();
        let mid = stored.message_id.expect("message id recorded");
        assert_eq!(per_id.get(&mid), Some(&1), "seed {seed}");
        assert!(stored.provider_message_id.is_some());
    }
    (
        total_lifetimes,
        mb.lost_acks.load(std::sync::atomic::Ordering::Relaxed),
    )
}

#[tokio::test]
async fn random_crash_points_deliver_exactly_once() {
    quiet_panics();
    let (mut lifetimes, mut lost_acks) = (0, 0);
    for seed in 0..60 {
        let (l, a) = drive_through_faults(seed).await;
        lifetimes += l;
        lost_acks += a;
    }
    // The faults really fired: many restarts, and many deliveries the sender never heard of.
    assert!(lifetimes > 60 * 3 * 2, "only {lifetimes} lifetimes");
    assert!(lost_acks > 30, "only {lost_acks} lost acknowledgements");
    println!("{lifetimes} process lifetimes, {lost_acks} deliveries with a lost acknowledgement");
}

#[tokio::test]
async fn kill_switch_stops_an_in_flight_retry() {
    let env = Env::new();
    let d = env.approved("jane@acme.io").await;
    let store = env.memory.clone();
    // First attempt fails transiently; the kill switch is turned on before the retry.
    let mb = Arc::new(FaultyMailbox::new(env.mailbox.clone(), move |op| {
        if op == "send" {
            let s = store.clone();
            futures::executor::block_on(s.set_kill_switch(true)).unwrap();
            return SendFault::Before;
        }
        SendFault::None
    }));
    let out = env
        .sender_with(mb.clone(), real_sends())
        .send_draft(d.id)
        .await
        .unwrap();
    assert!(matches!(out, SendOutcome::Denied { ref reason } if reason.starts_with("kill_switch")));
    assert!(mb.deliveries().is_empty());
    assert_eq!(env.status(d.id).await, DraftStatus::Sending);
    env.store.set_kill_switch(false).await.unwrap();
    env.clock.advance(Duration::from_secs(601));
    let out = env.sender().send_draft(d.id).await.unwrap();
    assert!(matches!(out, SendOutcome::Sent { .. }), "{out:?}");
}

/// One step of the state-machine property test.
#[derive(Debug, Clone)]
enum Op {
    Approve(usize),
    Reject(usize),
    Edit(usize),
    Send(usize),
    SendCrashing(usize),
    KillSwitch(bool),
    Suppress(usize),
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
                // One send call may run Approved -> Sending -> Sent | Failed.
                | (S::Approved, S::Pending | S::Rejected | S::Sending | S::Sent | S::Failed)
                | (S::Sending, S::Sent | S::Failed)
        )
}

async fn state_machine(ops: Vec<Op>) {
    quiet_panics();
    let env = Env::new();
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(env.pending(&format!("p{i}@x{i}.io")).await.id);
    }
    let crash_next = Arc::new(Mutex::new(false));
    let flag = crash_next.clone();
    let mb = Arc::new(FaultyMailbox::new(env.mailbox.clone(), move |op| {
        if op == "send" && std::mem::take(&mut *flag.lock().unwrap()) {
            SendFault::CrashAfter
        } else {
            SendFault::None
        }
    }));
    let queue = salesagent_core::sending::OperatorQueue::new(env.store.clone(), env.clock.shared());
    let mut approved_text: HashMap<DraftId, String> = HashMap::new();
    for op in ops {
        let before: Vec<DraftStatus> = {
            let mut v = Vec::new();
            for id in &ids {
                v.push(env.status(*id).await);
            }
            v
        };
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
            Op::Send(i) => {
                let s = env.sender_with(mb.clone(), real_sends());
                let _ = run_once(&s, ids[i]).await;
            }
            Op::SendCrashing(i) => {
                *crash_next.lock().unwrap() = true;
                let s = env.sender_with(mb.clone(), real_sends());
                let _ = run_once(&s, ids[i]).await;
                *crash_next.lock().unwrap() = false;
            }
            Op::KillSwitch(on) => env.store.set_kill_switch(on).await.unwrap(),
            Op::Suppress(i) => {
                let d = env.store.get_draft(ids[i]).await.unwrap();
                env.store
                    .suppress(&salesagent_core::model::Suppression {
                        email: d.contact_email,
                        reason: salesagent_core::model::SuppressionReason::Manual,
                        note: None,
                        added_at: env.now(),
                    })
                    .await
                    .unwrap();
            }
            Op::Advance => env.clock.advance(Duration::from_secs(601)),
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
    // Finish: kill switch off, time moves on, everything approved or in flight goes out.
    env.store.set_kill_switch(false).await.unwrap();
    env.clock.advance(Duration::from_secs(601));
    env.sender_with(mb.clone(), real_sends())
        .send_all()
        .await
        .unwrap();
    let deliveries = mb.deliveries();
    let sent = env.mailbox.sent();
    for id in &ids {
        let d = env.store.get_draft(*id).await.unwrap();
        let delivered = d
            .message_id
            .as_ref()
            .map_or(0, |m| deliveries.iter().filter(|x| *x == m).count());
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
            }
            DraftStatus::Sending => panic!("left in flight after the final run"),
            other => assert_eq!(delivered, 0, "{other:?} drafts are never delivered"),
        }
    }
    assert_eq!(
        deliveries.len(),
        sent.len(),
        "no Message-ID delivered twice"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn draft_state_machine_with_the_send_path(ops in prop::collection::vec(op(), 1..30)) {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(state_machine(ops));
    }
}
