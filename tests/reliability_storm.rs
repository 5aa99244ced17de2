//! Webhook storm: signed deliveries through the real `salesagent::host::app` router, 30 % of
//! them redeliveries of an earlier submission (as HubSpot retries for up to three days), while
//! workers drain the queue, on SQLite and PostgreSQL → exactly one draft per unique submission,
//! none lost.
//!
//! The workers are the host's ([`salesagent::services::runtime::build`]), as
//! `examples/webhook` runs them next to its router.
//!
//! Reduced size by default (1,000 deliveries); `SALESAGENT_FULL=1` runs 10,000.
#![cfg(all(feature = "host", feature = "services"))]

mod reliability_support;
mod webhook_support;

use axum::http::StatusCode;
use futures::StreamExt as _;
use reliability_support::*;
use salesagent::core::model::{JobState, kinds};
use salesagent::core::ports::{Clock as _, DynClock, DynStore, SystemClock};
use salesagent::core::testing::{Faults, SeededRng};
use salesagent::core::worker::WorkerConfig;
use salesagent::host::AppState;
use std::sync::Arc;
use std::time::Duration;
use tower::ServiceExt as _;

/// The delivery order: every unique submission once, plus `dups` redeliveries of random
/// earlier-or-later ones, shuffled (seeded).
fn deliveries(unique: usize, dups: usize, seed: u64) -> Vec<usize> {
    let mut rng = SeededRng::new(seed);
    let mut v: Vec<usize> = (0..unique).collect();
    for _ in 0..dups {
        v.push(usize::try_from(rng.next_u64() % unique as u64).unwrap());
    }
    for i in (1..v.len()).rev() {
        let j = usize::try_from(rng.next_u64() % (i as u64 + 1)).unwrap();
        v.swap(i, j);
    }
    v
}

async fn storm(backend: &str, url: &str, total: usize) {
    let clock: DynClock = Arc::new(SystemClock);
    let store: DynStore = Arc::new(open_store(url, clock.clone(), 8).await);
    let state = AppState::new(store.clone(), clock.clone(), webhook_support::config());
    let app = salesagent::host::app(state);

    let dups = total * 3 / 10;
    let unique = total - dups;
    let order = deliveries(unique, dups, 12);

    // Workers drain while the storm is still arriving.
    let (services, _) = services(fake_mailbox(Faults::none()), clock.clone(), 1, 0.0);
    let worker = host_runtime(
        &services,
        store.clone(),
        clock.clone(),
        generous_limits(),
        PROCESS_TIMING,
        WorkerConfig {
            name: format!("storm-{backend}"),
            poll_interval: Duration::from_millis(20),
            ..WorkerConfig::default()
        },
    )
    .worker;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let background = {
        let w = worker.clone();
        tokio::spawn(async move {
            w.run(2, async {
                let _ = stop_rx.await;
            })
            .await
        })
    };

    let t0 = tokio::time::Instant::now();
    let results: Vec<(bool, u32)> = futures::stream::iter(order)
        .map(|n| {
            let app = app.clone();
            let clock = clock.clone();
            async move {
                let body = webhook_support::form_body(
                    &format!("storm-{n}"),
                    &format!("lead{n}@company{n}.io"),
                );
                // A 5xx would make HubSpot deliver again; so does this client.
                let mut retries = 0;
                loop {
                    let req = webhook_support::signed_post("/webhooks/forms", &body, clock.now());
                    let resp = app
                        .clone()
                        .oneshot(req)
                        .await
                        .expect("router is infallible");
                    let status = resp.status();
                    if status == StatusCode::ACCEPTED {
                        let v = webhook_support::json(resp).await;
                        return (v["duplicate"] == true, retries);
                    }
                    assert!(
                        status.is_server_error() && retries < 20,
                        "delivery refused: {status} {}",
                        webhook_support::text(resp).await
                    );
                    retries += 1;
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        })
        .buffer_unordered(32)
        .collect()
        .await;
    let intake = t0.elapsed();
    let _ = stop_tx.send(());
    background.await.expect("worker task");
    worker.run_until_idle(4).await.expect("drain");
    let drained = t0.elapsed();

    let acked_dups = results.iter().filter(|(d, _)| *d).count();
    let retried: u32 = results.iter().map(|(_, r)| *r).sum();
    let mut lost = 0;
    let mut without_draft = Vec::new();
    for n in 0..unique {
        let sub = store
            .find_submission(&format!("form:storm-{n}"))
            .await
            .expect("find submission");
        let Some(sub) = sub else {
            lost += 1;
            continue;
        };
        if store
            .find_draft_by_submission(sub.id)
            .await
            .expect("find draft")
            .is_none()
        {
            without_draft.push(n);
        }
    }
    let drafts: u64 = store.draft_counts().await.expect("counts").values().sum();
    let done = jobs_in(&store, kinds::PIPELINE, JobState::Done).await.len();
    let dead = jobs_in(&store, kinds::PIPELINE, JobState::Dead).await;

    let p = format!("storm.{backend}");
    figure(&format!("{p}.deliveries"), total);
    figure(&format!("{p}.unique"), unique);
    figure(&format!("{p}.duplicates_acked"), acked_dups);
    figure(&format!("{p}.redelivered_after_5xx"), retried);
    figure(&format!("{p}.drafts"), drafts);
    figure(&format!("{p}.lost"), lost + without_draft.len());
    figure(&format!("{p}.pipeline_jobs_done"), done);
    figure(&format!("{p}.pipeline_jobs_dead"), dead.len());
    figure(
        &format!("{p}.intake_per_s"),
        format!("{:.0}", total as f64 / intake.as_secs_f64()),
    );
    figure(
        &format!("{p}.drain_s"),
        format!("{:.2}", drained.as_secs_f64()),
    );

    assert_eq!(
        acked_dups, dups,
        "every redelivery is acknowledged as a duplicate"
    );
    assert_eq!(lost, 0, "every submission was stored");
    assert!(
        without_draft.is_empty(),
        "submissions without a draft: {without_draft:?}"
    );
    assert_eq!(
        drafts, unique as u64,
        "exactly one draft per unique submission"
    );
    assert_eq!(
        done, unique,
        "one pipeline job per unique submission, all done"
    );
    assert!(dead.is_empty(), "dead-lettered: {dead:?}");
    assert_eq!(open_jobs(&store, kinds::PIPELINE).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storm_of_signed_deliveries_makes_one_draft_per_submission() {
    let total = size(1_000, 10_000);
    for (backend, url) in backends().await {
        storm(backend, &url, total).await;
    }
}
