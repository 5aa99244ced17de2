//! Crash: worker *processes* (this test binary re-executed as a worker) share one PostgreSQL
//! database and are killed with SIGKILL at random points — mid-pipeline and mid-send — while
//! the others keep working and replacements start → no duplicate sends, no lost drafts, every
//! lease recovered.
//!
//! Each process runs the host's worker ([`salesagent::services::runtime::build`], every job kind,
//! sends included, 2 tasks) with the sender's claims lasting 2 s. Deliveries go to a
//! [`LedgerMailbox`](reliability_support::LedgerMailbox) shared by all processes: it sends
//! mailbox drafts at most once (as Gmail does), each delivery is its own atomically renamed
//! file (so a second delivery of one draft, from any process, would be counted), and a sent
//! message is findable by Message-ID only 4 s after it left (a search lag longer than a claim:
//! a draft taken over right after its holder was killed mid-send cannot be confirmed at once,
//! and the sender must wait, not resend). Reduced size by default (10 kills, 60 submissions);
//! `SALESAGENT_FULL=1` runs 100 kills and 300 submissions. Every other kill targets a process
//! with a send call in progress (when one shows up within 2 s), so kills mid-send are not left
//! to chance.
#![cfg(feature = "services")]

mod reliability_support;

use reliability_support::*;
use salesagent::core::model::{DraftStatus, FormSubmission, JobState, kinds};
use salesagent::core::ports::{Clock as _, DynClock, DynStore, SystemClock};
use salesagent::core::testing::{Faults, SeededRng};
use salesagent::core::worker::WorkerConfig;
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

/// Whether the dead process `pid` was in the middle of a send call (its markers are left);
/// clears them.
fn take_marker(dir: &std::path::Path, pid: u32) -> bool {
    let m = in_flight_dir(dir, pid);
    let was = std::fs::read_dir(&m).is_ok_and(|mut d| d.next().is_some());
    let _ = std::fs::remove_dir_all(m);
    was
}

/// The index of a process of `fleet` with a send call in progress, looking for up to `wait`.
async fn sending_process(fleet: &Fleet, dir: &std::path::Path, wait: Duration) -> Option<usize> {
    let t0 = tokio::time::Instant::now();
    while t0.elapsed() < wait {
        for (i, c) in fleet.children.iter().enumerate() {
            if std::fs::read_dir(in_flight_dir(dir, c.id())).is_ok_and(|mut d| d.next().is_some()) {
                return Some(i);
            }
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    None
}

/// Every draft that is not `Sent`, with its steps and its send jobs.
async fn not_sent(store: &DynStore) -> Vec<String> {
    let mut jobs = Vec::new();
    for state in JobState::ALL {
        jobs.extend(jobs_in(store, kinds::SEND, state).await);
    }
    let mut out = Vec::new();
    for d in store
        .list_drafts(&salesagent::core::ports::DraftFilter::default())
        .await
        .expect("drafts")
    {
        if d.status == DraftStatus::Sent {
            continue;
        }
        let steps: Vec<String> = store
            .draft_events(d.id)
            .await
            .expect("events")
            .iter()
            .map(|e| {
                format!(
                    "{} by {} at {}",
                    e.action.name(),
                    e.actor,
                    e.at.format("%T%.3f")
                )
            })
            .collect();
        let id = d.id.to_string();
        let send_jobs: Vec<String> = jobs
            .iter()
            .filter(|j| j.payload["draft_id"].as_str() == Some(id.as_str()))
            .map(|j| {
                format!(
                    "{:?} attempts {}/{} updated {} error {:?}",
                    j.state,
                    j.attempts,
                    j.max_attempts,
                    j.updated_at.format("%T%.3f"),
                    j.last_error
                )
            })
            .collect();
        out.push(format!(
            "{id} {:?} {:?} mailbox draft {:?} claim {:?}\n  steps {steps:#?}\n  send jobs {send_jobs:#?}",
            d.status, d.status_reason, d.mailbox_draft_id, d.send_claim
        ));
    }
    out
}

struct Fleet {
    extra: Vec<(&'static str, String)>,
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
            &self.extra,
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
    crash("crash", true).await;
}

/// The same with a mailbox that cannot send drafts (the `Mailbox::send_draft` default), which
/// the sender supports by sending with `send` and reconciling by Message-ID.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_worker_processes_send_nothing_twice_without_draft_sending() {
    crash("crash_without_draft_sending", false).await;
}

/// The scenario; figures are prefixed with `p`.
async fn crash(p: &str, draft_sending: bool) {
    let Some(url) = pg_url().await else { return };
    let kills_wanted = size(10, 100);
    let n = size(60, 300);
    let processes = 3;

    let clock: DynClock = Arc::new(SystemClock);
    let store: DynStore = Arc::new(open_store(&url, clock.clone(), 4).await);
    // The submissions arrive as the host's intake takes them; this process runs no job.
    let (services, _) = services(fake_mailbox(Faults::none()), clock.clone(), 2, 0.0);
    let pipe = host_runtime(
        &services,
        store.clone(),
        clock.clone(),
        generous_limits(),
        PROCESS_TIMING,
        WorkerConfig::default(),
    )
    .pipeline;
    for i in 0..n {
        let raw = form_json(&format!("crash-{i}"), &format!("lead{i}@org{i}.io"));
        let sub = FormSubmission::from_canonical_json(&raw, clock.now()).expect("valid form");
        pipe.submit(&sub).await.expect("submit");
    }

    let dir = scratch_dir("crash");
    let mut fleet = Fleet {
        extra: if draft_sending {
            Vec::new()
        } else {
            vec![(worker_env::NO_DRAFT_SENDING, "1".to_owned())]
        },
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
    let mut idle_since = None;
    let deadline = Duration::from_secs(if full() { 900 } else { 120 });
    loop {
        if t0.elapsed() >= deadline {
            let drafts = store.draft_counts().await.expect("draft counts");
            let mut open = Vec::new();
            for kind in [kinds::PIPELINE, kinds::CRM_FOLLOW_UP, kinds::SEND] {
                for state in [JobState::Queued, JobState::Running] {
                    for j in jobs_in(&store, kind, state).await {
                        open.push(format!(
                            "{kind} {state:?} attempts {} run_at {} owner {:?} error {:?}",
                            j.attempts, j.run_at, j.lease_owner, j.last_error
                        ));
                    }
                }
            }
            panic!(
                "the fleet did not finish within {deadline:?}: drafts {drafts:?}, now {}, open jobs {open:#?}",
                clock.now()
            );
        }
        // The operator approves whatever has been drafted so far (each enqueues a send job).
        approved += approve_all(&store, clock.clone()).await;
        if kills < kills_wanted {
            // Every other kill waits (up to 2 s) for a process with a send call in progress and
            // kills that one; the others kill a random process at a random point 50-400 ms from
            // now. The replacement starts at once.
            let victim = if kills % 2 == 1 {
                sending_process(&fleet, &dir, Duration::from_secs(2)).await
            } else {
                let wait = 50 + rng.next_u64() % 350;
                tokio::time::sleep(Duration::from_millis(wait)).await;
                None
            };
            let victim = victim
                .unwrap_or_else(|| usize::try_from(rng.next_u64() % processes as u64).unwrap());
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
        // Nothing left to run but drafts not sent: they are stranded; report them below.
        if open == 0 {
            let since = *idle_since.get_or_insert_with(tokio::time::Instant::now);
            if since.elapsed() > Duration::from_secs(20) {
                break;
            }
        } else {
            idle_since = None;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let elapsed = t0.elapsed().as_secs_f64();
    std::fs::write(stop_file(&dir), b"").expect("stop file");
    drop(fleet);

    // Exactly one draft per submission, each delivered exactly once.
    let sent = drafts_in(&store, DraftStatus::Sent).await;
    let stranded = not_sent(&store).await;
    let total_drafts: u64 = store.draft_counts().await.expect("counts").values().sum();
    let deliveries = LedgerMailbox::deliveries(&dir, "sent");
    let unsent_mailbox_drafts: u64 = LedgerMailbox::deliveries(&dir, "drafts").values().sum();
    let path = send_path(&store).await;
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

    figure(&format!("{p}.submissions"), n);
    figure(&format!("{p}.kills"), kills);
    figure(&format!("{p}.kills_mid_send"), mid_send);
    figure(&format!("{p}.processes_started"), processes + kills);
    figure(&format!("{p}.drafts"), total_drafts);
    figure(&format!("{p}.approved"), approved);
    figure(&format!("{p}.sent"), sent.len());
    figure(&format!("{p}.deliveries"), deliveries.values().sum::<u64>());
    figure(&format!("{p}.duplicate_sends"), duplicates);
    figure(
        &format!("{p}.lost_drafts"),
        n as u64 - total_drafts.min(n as u64) + undelivered,
    );
    figure(&format!("{p}.jobs_reclaimed_after_kill"), reclaimed);
    for step in ["take_over", "await_confirmation", "reconciled"] {
        figure(
            &format!("{p}.send_{step}"),
            path.get(step).copied().unwrap_or(0),
        );
    }
    figure(&format!("{p}.unsent_mailbox_drafts"), unsent_mailbox_drafts);
    figure(&format!("{p}.jobs_still_leased"), running);
    // Each process has its own in-memory fake CRM, so a follow-up run by another process than
    // the one that created the contact finds no contact: a permanent error, dead-lettered with
    // that reason. That is the fake's limit, not the queue's; every other dead letter fails.
    let (fake_crm, other_dead): (Vec<_>, Vec<_>) = dead_jobs.into_iter().partition(|j| {
        j.kind == kinds::CRM_FOLLOW_UP
            && j.last_error
                .as_deref()
                .is_some_and(|e| e.starts_with("not found: contact"))
    });
    figure(&format!("{p}.jobs_dead"), other_dead.len());
    figure(
        &format!("{p}.crm_follow_ups_dead_fake_crm_per_process"),
        fake_crm.len(),
    );
    figure(&format!("{p}.elapsed_s"), format!("{elapsed:.1}"));

    assert_eq!(kills, kills_wanted);
    assert_eq!(total_drafts, n as u64, "exactly one draft per submission");
    assert_eq!(sent.len(), n, "every draft sent; not sent: {stranded:#?}");
    assert_eq!(undelivered, 0, "every sent draft was delivered");
    assert_eq!(duplicates, 0, "no draft delivered twice: {deliveries:?}");
    assert_eq!(deliveries.len(), n, "nothing else was delivered");
    assert_eq!(running, 0, "every lease of a killed worker was recovered");
    assert!(other_dead.is_empty(), "dead-lettered: {other_dead:?}");
}
