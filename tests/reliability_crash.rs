//! Crash: worker *processes* (this test binary re-executed as a worker) share one PostgreSQL
//! database and are killed with SIGKILL at random points — mid-pipeline and mid-send — while
//! the others keep working and replacements start → no duplicate sends, no lost drafts, every
//! lease recovered.
//!
//! Deliveries go to a [`LedgerMailbox`](reliability_support::LedgerMailbox): each delivery is
//! its own atomically renamed file, so a second delivery of one draft (from any process) would
//! be counted. Reduced size by default (10 kills, 60 submissions); `SALESAGENT_FULL=1` runs
//! 100 kills and 300 submissions.

mod reliability_support;

use reliability_support::*;
use salesagent::core::model::{DraftStatus, FormSubmission, JobState, kinds};
use salesagent::core::ports::{Clock as _, DynClock, DynStore, SystemClock};
use salesagent::core::testing::SeededRng;
use std::process::Child;
use std::sync::Arc;
use std::time::Duration;

const ENTRY: &str = "crash_worker_process";

/// Not a test of its own: the body of a worker process when re-executed by the scenario.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "worker process entry of the crash scenario; does nothing when run directly"]
async fn crash_worker_process() {
    worker_process_main().await;
}

/// Markers of deliveries in progress by a process that is now dead: kills mid-send.
fn take_marker(dir: &std::path::Path, pid: u32) -> bool {
    let m = dir.join("inflight").join(pid.to_string());
    let was = m.exists();
    let _ = std::fs::remove_file(m);
    was
}

struct Fleet {
    url: String,
    dir: std::path::PathBuf,
    children: Vec<Child>,
    spawned: usize,
}

impl Fleet {
    fn spawn(&mut self) -> Child {
        self.spawned += 1;
        spawn_worker(
            ENTRY,
            &format!("proc-{}", self.spawned),
            &self.url,
            &self.dir,
            &[],
        )
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_worker_processes_lose_nothing_and_send_nothing_twice() {
    let Some(url) = pg_url().await else { return };
    let kills_wanted = size(10, 100);
    let n = size(60, 300);
    let processes = 3;

    let clock: DynClock = Arc::new(SystemClock);
    let store: DynStore = Arc::new(open_store(&url, clock.clone(), 4).await);
    let (ports, _) = ports(store.clone(), clock.clone(), 2, 0.0);
    let pipe = pipeline(ports);
    for i in 0..n {
        let raw = form_json(&format!("crash-{i}"), &format!("lead{i}@org{i}.io"));
        let sub = FormSubmission::from_canonical_json(&raw, clock.now()).expect("valid form");
        pipe.submit(&sub).await.expect("submit");
    }

    let dir = scratch_dir("crash");
    let mut fleet = Fleet {
        url: url.clone(),
        dir: dir.clone(),
        children: Vec::new(),
        spawned: 0,
    };
    for _ in 0..processes {
        let c = fleet.spawn();
        fleet.children.push(c);
    }

    let mut rng = SeededRng::new(2026);
    let t0 = tokio::time::Instant::now();
    let mut kills = 0;
    let mut mid_send = 0;
    let mut approved = 0;
    let deadline = Duration::from_secs(if full() { 900 } else { 120 });
    loop {
        assert!(
            t0.elapsed() < deadline,
            "the fleet did not finish within {deadline:?}"
        );
        // The operator approves whatever has been drafted so far (each enqueues a send job).
        approved += approve_all(&store, clock.clone()).await;
        if kills < kills_wanted {
            // Kill at a random point 50-400 ms from now; the replacement starts at once.
            let wait = 50 + rng.next_u64() % 350;
            tokio::time::sleep(Duration::from_millis(wait)).await;
            let victim = usize::try_from(rng.next_u64() % processes as u64).unwrap();
            let mut child = fleet.children.swap_remove(victim);
            let pid = child.id();
            child.kill().expect("SIGKILL");
            child.wait().expect("reap");
            kills += 1;
            if take_marker(&dir, pid) {
                mid_send += 1;
            }
            let c = fleet.spawn();
            fleet.children.push(c);
            continue;
        }
        let sent = drafts_in(&store, DraftStatus::Sent).await.len();
        let open = open_jobs(&store, kinds::PIPELINE).await
            + open_jobs(&store, kinds::CRM_FOLLOW_UP).await
            + open_jobs(&store, kinds::SEND).await;
        if sent == n && open == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let elapsed = t0.elapsed().as_secs_f64();
    drop(fleet);

    // Exactly one draft per submission, each delivered exactly once.
    let sent = drafts_in(&store, DraftStatus::Sent).await;
    let total_drafts: u64 = store.draft_counts().await.expect("counts").values().sum();
    let deliveries = LedgerMailbox::deliveries(&dir, "sent");
    let duplicates: u64 = deliveries.values().map(|c| c.saturating_sub(1)).sum();
    let mut undelivered = 0;
    for d in &sent {
        let key = LedgerMailbox::key(d.message_id.as_ref().expect("message id"));
        if !deliveries.contains_key(&key) {
            undelivered += 1;
        }
    }
    let mut reclaimed = 0;
    let mut running = 0;
    for kind in [kinds::PIPELINE, kinds::CRM_FOLLOW_UP, kinds::SEND] {
        for state in [JobState::Done, JobState::Dead, JobState::Running] {
            for j in jobs_in(&store, kind, state).await {
                if state == JobState::Running {
                    running += 1;
                }
                if j.attempts > 1 {
                    reclaimed += 1;
                }
            }
        }
    }
    let mut dead_jobs = Vec::new();
    for kind in [kinds::PIPELINE, kinds::CRM_FOLLOW_UP, kinds::SEND] {
        dead_jobs.extend(jobs_in(&store, kind, JobState::Dead).await);
    }

    figure("crash.submissions", n);
    figure("crash.kills", kills);
    figure("crash.kills_mid_send", mid_send);
    figure("crash.processes_started", processes + kills);
    figure("crash.drafts", total_drafts);
    figure("crash.approved", approved);
    figure("crash.sent", sent.len());
    figure("crash.deliveries", deliveries.values().sum::<u64>());
    figure("crash.duplicate_sends", duplicates);
    figure(
        "crash.lost_drafts",
        n as u64 - total_drafts.min(n as u64) + undelivered,
    );
    figure("crash.jobs_reclaimed_after_kill", reclaimed);
    figure("crash.jobs_still_leased", running);
    // Each process has its own in-memory fake CRM, so a follow-up run by another process than
    // the one that created the contact finds no contact: a permanent error, dead-lettered with
    // that reason. That is the fake's limit, not the queue's; every other dead letter fails.
    let (fake_crm, other_dead): (Vec<_>, Vec<_>) = dead_jobs.into_iter().partition(|j| {
        j.kind == kinds::CRM_FOLLOW_UP
            && j.last_error
                .as_deref()
                .is_some_and(|e| e.starts_with("not found: contact"))
    });
    figure("crash.jobs_dead", other_dead.len());
    figure(
        "crash.crm_follow_ups_dead_fake_crm_per_process",
        fake_crm.len(),
    );
    figure("crash.elapsed_s", format!("{elapsed:.1}"));

    assert_eq!(kills, kills_wanted);
    assert_eq!(total_drafts, n as u64, "exactly one draft per submission");
    assert_eq!(sent.len(), n, "every draft sent");
    assert_eq!(undelivered, 0, "every sent draft was delivered");
    assert_eq!(duplicates, 0, "no draft delivered twice: {deliveries:?}");
    assert_eq!(deliveries.len(), n, "nothing else was delivered");
    assert_eq!(running, 0, "every lease of a killed worker was recovered");
    assert!(other_dead.is_empty(), "dead-lettered: {other_dead:?}");
}
