//! Sending benchmarks: MIME render + send-policy decision per draft, and sends per second
//! through the file outbox (real-send mode: the shipped worker runs one send job per draft,
//! each a claim, a mailbox draft in `drafts/` and its send, which moves it to `sent/<id>.eml`).
//!
//! `cargo bench --bench sending` prints `RESULT <name> <value> <unit>` lines.

use chrono::{TimeZone, Utc};
use salesagent_core::model::{
    Domain, Draft, DraftAction, DraftStatus, DraftWriter, EmailAddress, SendLimits,
};
use salesagent_core::ports::{Clock, DraftFilter, DynStore};
use salesagent_core::sending::{
    MimeOptions, PolicyConfig, SendMode, SendPolicy, Sender, Unsubscribe, render,
};
use salesagent_core::testing::{ManualClock, MemoryStore};
use salesagent_core::worker::{Worker, WorkerConfig};
use std::sync::Arc;
use std::time::Instant;

const DRAFTS: usize = 2_000;
const SENDS: usize = 500;

fn draft(i: usize, at: chrono::DateTime<Utc>) -> Draft {
    Draft {
        contact_name: Some(format!("Lead Nümber {i}")),
        company_name: Some("Company".into()),
        status: DraftStatus::Approved,
        version: 2,
        ..Draft::new(
            EmailAddress::parse(&format!("lead{i}@company{}.io", i % 97)).unwrap(),
            EmailAddress::parse("sam@seller.dev").unwrap(),
            format!("Quick question about your onboarding, lead {i}"),
            "Hi there,\n\nI read your note about onboarding three new teams next quarter and \
               thought our playbook could help. Would a 20-minute call next week work?\n\n\
               Best,\nSam",
            DraftWriter::Human,
            at,
        )
    }
}

fn mime() -> MimeOptions {
    let mut m = MimeOptions::new(Domain::parse("mail.seller.dev").unwrap());
    m.sender_name = Some("Sam Seller".into());
    m.unsubscribe = Unsubscribe {
        mailto: Some(EmailAddress::parse("unsubscribe@seller.dev").unwrap()),
        https: Some("https://seller.dev/u/{draft_id}".into()),
        ..Unsubscribe::default()
    };
    m
}

fn policy() -> PolicyConfig {
    PolicyConfig {
        mode: SendMode::RealSends,
        window: None,
        limits: SendLimits {
            per_contact_week: 10,
            per_contact_day: 10,
            per_sender_day: 1_000_000,
            per_domain_day: 1_000_000,
        },
        ignore_window: false,
    }
}

async fn render_and_decide() {
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 1, 5, 10, 0, 0).unwrap());
    let store = MemoryStore::new(clock.shared());
    let policy = SendPolicy::new(policy());
    let opts = mime();
    let now = clock.now();
    let drafts: Vec<Draft> = (0..DRAFTS).map(|i| draft(i, now)).collect();

    let t = Instant::now();
    let mut bytes = 0usize;
    for d in &drafts {
        let m = render(d, &opts.new_message_id(), now, &opts).unwrap();
        bytes += m.raw.len();
    }
    let render_us = t.elapsed().as_secs_f64() * 1e6 / DRAFTS as f64;

    let t = Instant::now();
    for d in &drafts {
        let decision = policy.decide(&store, d, None, now).await.unwrap();
        assert!(decision.is_allow());
    }
    let decide_us = t.elapsed().as_secs_f64() * 1e6 / DRAFTS as f64;

    let store = MemoryStore::new(clock.shared());
    let t = Instant::now();
    for d in &drafts {
        let decision = policy.decide(&store, d, None, now).await.unwrap();
        assert!(decision.is_allow());
        let m = render(d, &opts.new_message_id(), now, &opts).unwrap();
        bytes += m.raw.len();
    }
    let both_us = t.elapsed().as_secs_f64() * 1e6 / DRAFTS as f64;
    println!("RESULT sending_mime_render_per_draft {render_us:.2} us");
    println!("RESULT sending_policy_decision_per_draft {decide_us:.2} us");
    println!("RESULT sending_render_plus_decision_per_draft {both_us:.2} us");
    println!(
        "RESULT sending_mime_avg_size {} bytes",
        bytes / (2 * DRAFTS)
    );
}

/// `SENDS` approved drafts in a memory store and a real-sending sender over a fresh outbox.
async fn outbox_setup() -> (std::path::PathBuf, ManualClock, DynStore, Sender) {
    let dir = std::env::temp_dir().join(format!("sending-bench-{}", uuid::Uuid::new_v4()));
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 1, 5, 10, 0, 0).unwrap());
    let store: DynStore = Arc::new(MemoryStore::new(clock.shared()));
    let now = clock.now();
    for i in 0..SENDS {
        let mut d = draft(i, now);
        d.status = DraftStatus::Pending;
        d.version = 1;
        store
            .insert_draft(&d, &d.created_event("bench"))
            .await
            .unwrap();
        let ev = d
            .apply(DraftAction::Approve, "operator:bench", now)
            .unwrap();
        store.update_draft(&d, 1, &ev).await.unwrap();
    }
    let outbox = salesagent_connectors::outbox::Outbox::open(&dir).unwrap();
    let sender = Sender::new(
        store.clone(),
        Arc::new(outbox),
        clock.shared(),
        SendPolicy::new(policy()),
        mime(),
    )
    .unwrap();
    (dir, clock, store, sender)
}

/// Checks that every draft was sent once and removes the outbox.
async fn outbox_check(dir: &std::path::Path, store: &DynStore) {
    let sent = store
        .list_drafts(&DraftFilter {
            status: Some(DraftStatus::Sent),
            ..DraftFilter::default()
        })
        .await
        .unwrap()
        .len();
    assert_eq!(sent, SENDS);
    let files = std::fs::read_dir(dir.join("sent")).unwrap().count();
    assert_eq!(files, SENDS);
    let _ = std::fs::remove_dir_all(dir);
}

/// Sends through the shipped path: one send job per draft, run by the worker (2 tasks).
async fn outbox_throughput() {
    let (dir, clock, store, sender) = outbox_setup().await;
    let worker = Worker::empty(store.clone(), clock.shared(), WorkerConfig::default())
        .with_sender(sender.clone());
    let t = Instant::now();
    let queued = sender.enqueue_pending_sends().await.unwrap();
    assert_eq!(queued, SENDS);
    let stats = worker.run_until_idle(2).await.unwrap();
    let secs = t.elapsed().as_secs_f64();
    assert_eq!(stats.done, SENDS as u64, "{stats:?}");
    outbox_check(&dir, &store).await;
    println!(
        "RESULT sending_outbox_sends_per_s {:.0} sends/s",
        SENDS as f64 / secs
    );

    // The same sends made by calling the sender directly, one after another: the difference
    // is the job queue's share.
    let (dir, _clock, store, sender) = outbox_setup().await;
    let ids: Vec<_> = store
        .list_drafts(&DraftFilter::default())
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.id)
        .collect();
    let t = Instant::now();
    for id in ids {
        assert!(sender.send_draft(id).await.unwrap().is_done());
    }
    let secs = t.elapsed().as_secs_f64();
    outbox_check(&dir, &store).await;
    println!(
        "RESULT sending_outbox_direct_sends_per_s {:.0} sends/s",
        SENDS as f64 / secs
    );
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        render_and_decide().await;
        outbox_throughput().await;
    });
}
