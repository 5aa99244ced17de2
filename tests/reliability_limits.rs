//! Multi-worker limits: 8 worker processes (this test binary re-executed) send approved drafts
//! from one PostgreSQL database at the same time; one hot contact has many drafts, its domain
//! and the sender have tight daily caps → the send log in the store never exceeds any limit,
//! and neither do the deliveries. Limits: 2 per contact per week, 20 per contact per day,
//! 5 per recipient domain per day, 23 per sender per day.
//!
//! Each process runs the host's worker ([`salesagent::services::runtime::build`], every job kind,
//! sends included, 2 tasks) over a shared [`LedgerMailbox`](reliability_support::LedgerMailbox),
//! until the queue holds only sends deferred to a later day; then they shut down gracefully.
//!
//! Reduced size by default (one hot contact with 20 drafts, 50 drafts in all);
//! `SALESAGENT_FULL=1` runs 100 hot drafts and 250 in all.
#![cfg(feature = "services")]

mod reliability_support;

use reliability_support::*;
use salesagent::core::model::{DraftStatus, FormSubmission, JobState, SendLimits, kinds};
use salesagent::core::ports::{Clock as _, DynClock, DynStore, SystemClock};
use salesagent::core::sending::OperatorQueue;
use salesagent::core::testing::Faults;
use salesagent::core::worker::WorkerConfig;
use salesagent::store::SqlStore;
use sqlx::Row as _;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

const ENTRY: &str = "limits_worker_process";

/// Not a test of its own: the body of a worker process when re-executed by the scenario.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "worker process entry of the limits scenario; does nothing when run directly"]
async fn limits_worker_process() {
    worker_process_main().await;
}

const LIMITS: SendLimits = SendLimits {
    per_contact_week: 2,
    per_contact_day: 20,
    per_sender_day: 23,
    per_domain_day: 5,
};

/// Largest count per value of `column` in the send log.
async fn max_per(store: &SqlStore, column: &str) -> (i64, i64) {
    let sql = format!(
        "SELECT COUNT(*) AS n FROM send_log GROUP BY {column} ORDER BY COUNT(*) DESC LIMIT 1"
    );
    let max: i64 = sqlx::query(sqlx::AssertSqlSafe(sql))
        .fetch_optional(store.pool())
        .await
        .expect("send log")
        .map_or(0, |r| r.get("n"));
    let total: i64 = sqlx::query("SELECT COUNT(*) AS n FROM send_log")
        .fetch_one(store.pool())
        .await
        .expect("send log")
        .get("n");
    (max, total)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_worker_processes_never_exceed_the_limits() {
    let Some(url) = pg_url().await else { return };
    let hot = size(20, 100);
    let colleagues = size(10, 50);
    let others = size(20, 100);
    let processes = 8;

    let clock: DynClock = Arc::new(SystemClock);
    let sql = Arc::new(open_store(&url, clock.clone(), 4).await);
    let store: DynStore = sql.clone();
    // This process drafts (the host's worker, before anything is approved); the worker
    // processes send.
    let (services, _) = services(fake_mailbox(Faults::none()), clock.clone(), 4, 0.0);
    let rt = host_runtime(
        &services,
        store.clone(),
        clock.clone(),
        LIMITS,
        PROCESS_TIMING,
        WorkerConfig::default(),
    );
    let pipe = rt.pipeline.clone();
    let mut forms = Vec::new();
    for i in 0..hot {
        forms.push((format!("hot-{i}"), "hot.lead@hot.io".to_owned()));
    }
    for i in 0..colleagues {
        forms.push((format!("colleague-{i}"), format!("colleague{i}@hot.io")));
    }
    for i in 0..others {
        forms.push((format!("other-{i}"), format!("lead{i}@cool{i}.io")));
    }
    for (key, email) in &forms {
        let sub = FormSubmission::from_canonical_json(&form_json(key, email), clock.now())
            .expect("valid form");
        pipe.submit(&sub).await.expect("submit");
    }
    drain(
        &rt.worker,
        &store,
        &[kinds::PIPELINE, kinds::CRM_FOLLOW_UP],
        100,
    )
    .await;
    assert_eq!(
        open_jobs(&store, kinds::SEND).await,
        0,
        "nothing approved yet"
    );
    // Approve the hot contact's drafts first, then its colleagues', then the rest, so the
    // workers hammer the hot contact and its domain at once (send jobs are claimed in order).
    let mut pending = drafts_in(&store, DraftStatus::Pending).await;
    pending.sort_by_key(|d| {
        let e = d.contact_email.to_string();
        (
            e != "hot.lead@hot.io",
            !e.ends_with("@hot.io"),
            d.created_at,
        )
    });
    let queue = OperatorQueue::new(store.clone(), clock.clone());
    for d in &pending {
        queue
            .approve(d.id, d.version, "operator@seller.io")
            .await
            .expect("approve");
    }
    let approved = pending.len();
    assert_eq!(approved, forms.len(), "one draft per submission");

    let dir = scratch_dir("limits");
    let limits_json = serde_json::to_string(&LIMITS).expect("limits json");
    let t0 = tokio::time::Instant::now();
    let mut children: Vec<_> = (0..processes)
        .map(|i| {
            spawn_worker(
                ENTRY,
                &format!("limits-{i}"),
                &url,
                &dir,
                &[(worker_env::LIMITS, limits_json.clone())],
            )
        })
        .collect();
    let deadline = Duration::from_secs(if full() { 600 } else { 120 });
    let kill_all = |children: &mut Vec<std::process::Child>| {
        for c in children {
            let _ = c.kill();
            let _ = c.wait();
        }
    };
    // Settled: no send job running or due within the next minute (the rest wait for a later
    // day, or week, under the limits), three times in a row.
    let mut settled = 0;
    while settled < 3 {
        if t0.elapsed() > deadline {
            kill_all(&mut children);
            panic!("the sends did not settle within {deadline:?}");
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        if due_jobs(&store, &clock, kinds::SEND, Duration::from_secs(60)).await == 0 {
            settled += 1;
        } else {
            settled = 0;
        }
    }
    // Shut the workers down the way a host does (stop claiming, finish, exit).
    std::fs::write(stop_file(&dir), b"").expect("stop file");
    for i in 0..children.len() {
        while children[i].try_wait().expect("worker status").is_none() {
            if t0.elapsed() > deadline {
                kill_all(&mut children);
                panic!("workers did not stop within {deadline:?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let elapsed = t0.elapsed().as_secs_f64();

    let (contact_max, logged) = max_per(&sql, "contact_bidx").await;
    let (sender_max, _) = max_per(&sql, "sender_bidx").await;
    let (domain_max, _) = max_per(&sql, "domain").await;
    let sent = drafts_in(&store, DraftStatus::Sent).await;
    let mut per_contact: BTreeMap<String, u64> = BTreeMap::new();
    let mut per_domain: BTreeMap<String, u64> = BTreeMap::new();
    for d in &sent {
        *per_contact.entry(d.contact_email.to_string()).or_default() += 1;
        *per_domain
            .entry(d.contact_email.domain().as_str().to_owned())
            .or_default() += 1;
    }
    let mut decisions: BTreeMap<String, u64> = BTreeMap::new();
    for d in drafts_in(&store, DraftStatus::Approved).await {
        let why = match &d.send_decision {
            Some(salesagent::core::model::SendDecision::Defer { reason, .. }) => {
                format!(
                    "defer: {}",
                    reason.to_string().split(':').next().unwrap_or_default()
                )
            }
            Some(salesagent::core::model::SendDecision::Deny { reason }) => {
                format!(
                    "deny: {}",
                    reason.to_string().split(':').next().unwrap_or_default()
                )
            }
            other => format!("{other:?}"),
        };
        *decisions.entry(why).or_default() += 1;
    }
    for (why, n) in &decisions {
        println!("  not sent ({why}): {n}");
    }
    let deliveries = LedgerMailbox::deliveries(&dir, "sent");
    let delivered: u64 = deliveries.values().sum();
    let waiting = jobs_in(&store, kinds::SEND, JobState::Queued).await.len();
    let dead = jobs_in(&store, kinds::SEND, JobState::Dead).await;

    figure("limits.processes", processes);
    figure("limits.approved", approved);
    figure("limits.send_log_rows", logged);
    figure("limits.sent", sent.len());
    figure("limits.deliveries", delivered);
    figure("limits.max_per_contact", contact_max);
    figure("limits.max_per_sender", sender_max);
    figure("limits.max_per_domain", domain_max);
    figure(
        "limits.hot_contact_sent",
        per_contact.get("hot.lead@hot.io").copied().unwrap_or(0),
    );
    figure("limits.deferred_send_jobs_waiting", waiting);
    figure("limits.send_jobs_dead", dead.len());
    figure("limits.elapsed_s", format!("{elapsed:.1}"));

    let contact_cap = i64::from(LIMITS.per_contact_week.min(LIMITS.per_contact_day));
    assert!(
        contact_max <= contact_cap,
        "contact limit exceeded: {contact_max}"
    );
    assert!(
        sender_max <= i64::from(LIMITS.per_sender_day),
        "sender cap exceeded"
    );
    assert!(
        domain_max <= i64::from(LIMITS.per_domain_day),
        "domain cap exceeded"
    );
    assert!(per_contact.values().all(|&n| n <= contact_cap as u64));
    assert!(
        per_domain
            .values()
            .all(|&n| n <= u64::from(LIMITS.per_domain_day))
    );
    assert_eq!(logged, sent.len() as i64, "one send-log row per sent draft");
    assert_eq!(delivered, sent.len() as u64, "one delivery per sent draft");
    assert!(
        deliveries.values().all(|&n| n == 1),
        "no duplicate delivery"
    );
    // The caps bind: the hot contact gets exactly its weekly 2, hot.io its daily 5, and as at
    // least 25 sends were allowed by those, the sender's daily cap of 23 is reached exactly.
    assert_eq!(per_contact.get("hot.lead@hot.io"), Some(&2));
    assert_eq!(per_domain.get("hot.io"), Some(&5));
    assert_eq!(sender_max, i64::from(LIMITS.per_sender_day));
    assert!(dead.is_empty(), "dead-lettered: {dead:?}");
    assert_eq!(
        open_jobs(&store, kinds::SEND).await,
        waiting,
        "no send job left running"
    );
}
