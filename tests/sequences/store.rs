//! Follow-up sequences on the SQL stores (a SQLite file, and PostgreSQL when a server is
//! available): three contacts (silence, a reply, an out-of-office reply with a return date)
//! through the shipped sender, mailbox scan and worker, with the store closed and opened again
//! in the middle (a process restart: nothing of the schedule lives in memory). `replay`
//! re-derives every sequence from its stored history to the stored state before and after the
//! restart and at the end.

use chrono::{DateTime, Datelike, Duration as Td, TimeZone, Timelike, Utc, Weekday};
use salesagent::core::model::{Domain, Draft, DraftStatus, DraftWriter, EmailAddress};
use salesagent::core::offline::{FakeMailbox, ManualClock};
use salesagent::core::outcomes::Outcomes;
use salesagent::core::ports::{DraftFilter, DynStore};
use salesagent::core::sending::{
    MimeOptions, OperatorQueue, PolicyConfig, SendMode, SendPolicy, Sender, SenderConfig,
};
use salesagent::core::sequences::{self, SequenceConfig, SequenceStatus, Sequences, StopReason};
use salesagent::core::worker::{Worker, WorkerConfig};
use salesagent::replay::{SequenceState, replay_sequences};
use salesagent::store::SqlStore;
use salesagent::store::testing::TempPostgres;
use std::sync::Arc;
use std::time::Duration;

const SENDER: &str = "sam@seller.dev";
const SUBJECT: &str = "Quick question";

fn addr(s: &str) -> EmailAddress {
    EmailAddress::parse(s).unwrap()
}

fn contact(i: usize) -> EmailAddress {
    addr(&format!("lead{i}@company{i}.test"))
}

async fn open(url: &str, clock: &ManualClock) -> DynStore {
    Arc::new(
        SqlStore::builder(url)
            .without_encryption()
            .clock(clock.shared())
            .connect()
            .await
            .expect("connect"),
    )
}

fn worker(store: &DynStore, clock: &ManualClock, mailbox: &Arc<FakeMailbox>) -> Worker {
    let mut mime = MimeOptions::new(Domain::parse("mail.seller.dev").unwrap());
    mime.sender_name = Some("Sam Seller".into());
    let sender = Sender::new(
        store.clone(),
        mailbox.clone(),
        clock.shared(),
        SendPolicy::new(PolicyConfig {
            mode: SendMode::RealSends,
            ..PolicyConfig::default()
        }),
        mime,
    )
    .unwrap()
    .with_config(SenderConfig {
        holder: "w".into(),
        claim_lease: Duration::from_secs(600),
        search_lag: Duration::ZERO,
        kill_switch_recheck: Duration::from_secs(60),
    });
    let seq = Sequences::new(store.clone(), clock.shared(), SequenceConfig::default());
    Worker::empty(store.clone(), clock.shared(), WorkerConfig::default())
        .with_sender(sender)
        .register(seq)
}

async fn scenario(name: &str, url: &str) {
    // Monday 2026-11-02 08:00 UTC.
    let start: DateTime<Utc> = Utc.with_ymd_and_hms(2026, 11, 2, 8, 0, 0).unwrap();
    let clock = ManualClock::new(start);
    let mailbox = Arc::new(FakeMailbox::new().with_clock(clock.shared()));
    let mut store = open(url, &clock).await;
    sequences::activate(&*store, &SequenceConfig::default())
        .await
        .unwrap();
    for i in 0..3 {
        let d = Draft::new(
            contact(i),
            addr(SENDER),
            SUBJECT,
            "Hi,\n\nwould a short demo help?\n\nSam",
            DraftWriter::Human,
            start,
        );
        store
            .insert_draft(&d, &d.created_event("test"))
            .await
            .unwrap();
    }
    let mut w = worker(&store, &clock, &mailbox);
    let mut outcomes = Outcomes::new(store.clone(), clock.shared());
    outcomes.scan_mailbox(&*mailbox, None).await.unwrap();
    let mut replied = false;
    let mut away = None;
    let mut restarted = false;
    let hours = (0..24 * 40)
        .map(|h| start + Td::hours(h))
        .filter(|t| !matches!(t.weekday(), Weekday::Sat | Weekday::Sun))
        .filter(|t| (8..=18).contains(&t.hour()));
    for now in hours {
        clock.set(now);
        if !restarted && now >= start + Td::days(8) {
            // `replay` re-derives every sequence from its stored history: the same state as
            // the store holds, before and after the restart.
            let before = replays_to_the_stored_state(name, &store).await;
            // A restart: the worker, the services and the store connection are all new.
            drop(w);
            drop(outcomes);
            store = open(url, &clock).await;
            assert_eq!(replays_to_the_stored_state(name, &store).await, before);
            w = worker(&store, &clock, &mailbox);
            outcomes = Outcomes::new(store.clone(), clock.shared());
            restarted = true;
        }
        let sent = mailbox.sent();
        let last_to = |i: usize| {
            sent.iter()
                .filter(|m| m.to.contains(&contact(i)))
                .map(|m| m.message_id.clone())
                .next_back()
        };
        if !replied && let Some(last) = last_to(1) {
            mailbox.receive(
                &contact(1),
                &addr(SENDER),
                &format!("Re: {SUBJECT}"),
                "Thanks, let's talk.",
                Some(&last),
            );
            replied = true;
        }
        if away.is_none()
            && let Some(last) = last_to(2)
        {
            let until = now + Td::days(6);
            let body = format!(
                "I am out of the office until {}.",
                until.format("%B %-d, %Y")
            );
            mailbox.receive(
                &contact(2),
                &addr(SENDER),
                &format!("Re: {SUBJECT}"),
                &body,
                Some(&last),
            );
            away = Some(
                Utc.with_ymd_and_hms(until.year(), until.month(), until.day(), 9, 0, 0)
                    .unwrap()
                    + Td::days(1),
            );
        }
        outcomes.scan_mailbox(&*mailbox, None).await.unwrap();
        let queue = OperatorQueue::new(store.clone(), clock.shared());
        let pending = store
            .list_drafts(&DraftFilter {
                status: Some(DraftStatus::Pending),
                ..DraftFilter::default()
            })
            .await
            .unwrap();
        for d in pending {
            queue
                .approve(d.id, d.version, "operator:test")
                .await
                .unwrap();
        }
        w.run_until_idle(2).await.unwrap();
    }
    assert!(restarted);
    let end = replays_to_the_stored_state(name, &store).await;
    assert!(
        end.iter().all(|st| st.status.is_finished()),
        "{name}: {end:?}"
    );
    let s0 = store.get_sequence(&contact(0)).await.unwrap().unwrap();
    assert_eq!(
        s0.status,
        SequenceStatus::Completed,
        "{name}: {:#?}",
        s0.events
    );
    assert_eq!(s0.messages.len(), 4, "{name}");
    let s1 = store.get_sequence(&contact(1)).await.unwrap().unwrap();
    assert_eq!(s1.stop_reason, Some(StopReason::Replied), "{name}");
    assert_eq!(s1.messages.len(), 1, "{name}");
    let s2 = store.get_sequence(&contact(2)).await.unwrap().unwrap();
    assert_eq!(
        s2.status,
        SequenceStatus::Completed,
        "{name}: {:#?}",
        s2.events
    );
    let back = away.expect("the out-of-office reply went out");
    let follow_up = store.get_draft(s2.messages[1].draft_id).await.unwrap();
    assert!(
        follow_up.created_at >= back,
        "{name}: drafted before the return date"
    );
    assert!(
        s2.events.iter().any(|e| e.what.starts_with("paused until")),
        "{name}"
    );
    // Every thread: one message per step, each answering the one before.
    for s in [&s0, &s2] {
        for pair in s.messages.windows(2) {
            let d = store.get_draft(pair[1].draft_id).await.unwrap();
            assert_eq!(
                d.thread.in_reply_to.as_ref(),
                Some(&pair[0].message_id),
                "{name}"
            );
        }
    }
}

/// Runs `salesagent::replay::replay_sequences` on the store: every sequence replays to exactly
/// the stored one. Returns the states, by contact.
async fn replays_to_the_stored_state(name: &str, store: &DynStore) -> Vec<SequenceState> {
    let report = replay_sequences(&**store).await.unwrap();
    assert_eq!(report.sequences, 3, "{name}");
    assert_eq!(
        (report.identical, report.differing, report.unreplayable),
        (3, 0, 0),
        "{name}: {report:#?}"
    );
    let mut items = report.items;
    items.sort_by(|a, b| a.contact.cmp(&b.contact));
    items
        .into_iter()
        .map(|i| {
            assert_eq!(i.replayed.as_ref(), Some(&i.live), "{name}");
            assert!(i.changes > 0, "{name}");
            i.live
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sequences_survive_a_restart_on_sqlite_and_postgres() {
    let dir = std::env::temp_dir().join(format!("salesagent-seq-store-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.join("seq.db").display());
    scenario("sqlite-file", &url).await;
    if let Some(pg) = TempPostgres::fresh_database_or_skip().await {
        scenario("postgres", &pg).await;
    }
    let _ = std::fs::remove_dir_all(&dir);
}
