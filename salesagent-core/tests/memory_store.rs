//! MemoryStore behaviour that needs a controllable clock (the conformance suite runs on real time).
#![cfg(feature = "testing")]

use salesagent_core::model::{
    DraftId, EmailAddress, JobFailure, JobState, NewAuditEntry, NewJob, RetryPolicy, SendDecision,
    SendLimits, SendReservation,
};
use salesagent_core::ports::{AuditStore, Clock, JobStore, SendStore};
use salesagent_core::testing::{ManualClock, MemoryStore};
use std::time::Duration;

fn setup() -> (ManualClock, MemoryStore) {
    let clock = ManualClock::default();
    let store = MemoryStore::new(clock.shared()).with_retry_policy(RetryPolicy {
        base: Duration::from_secs(10),
        max: Duration::from_secs(600),
        jitter: 0.0,
    });
    (clock, store)
}

#[tokio::test]
async fn backoff_follows_the_policy_and_the_clock() {
    let (clock, store) = setup();
    let (job, _) = store
        .enqueue(&NewJob::new("k", serde_json::json!({})).with_max_attempts(3))
        .await
        .unwrap();
    let mut delays = Vec::new();
    for attempt in 1..=3 {
        let claimed = store
            .claim("w", &[], Duration::from_secs(60))
            .await
            .unwrap()
            .expect("job is due");
        assert_eq!(claimed.job.attempts, attempt);
        let failed = store
            .fail(
                &claimed.lease,
                &JobFailure {
                    error: "boom".into(),
                    retryable: true,
                    retry_after: None,
                },
            )
            .await
            .unwrap();
        if attempt < 3 {
            assert_eq!(failed.state, JobState::Queued);
            delays.push(failed.run_at - clock.now());
            assert!(
                store
                    .claim("w", &[], Duration::from_secs(60))
                    .await
                    .unwrap()
                    .is_none()
            );
            clock.set(failed.run_at);
        } else {
            assert_eq!(failed.state, JobState::Dead);
        }
    }
    assert_eq!(
        delays,
        vec![
            chrono::TimeDelta::seconds(10),
            chrono::TimeDelta::seconds(20)
        ]
    );
    assert_eq!(
        store.get_job(job.id).await.unwrap().last_error.as_deref(),
        Some("boom")
    );
}

#[tokio::test]
async fn an_expired_last_attempt_goes_dead() {
    let (clock, store) = setup();
    let (job, _) = store
        .enqueue(&NewJob::new("k", serde_json::json!({})).with_max_attempts(1))
        .await
        .unwrap();
    let claimed = store
        .claim("w1", &[], Duration::from_secs(5))
        .await
        .unwrap()
        .unwrap();
    clock.advance(Duration::from_secs(6));
    assert!(
        store
            .claim("w2", &[], Duration::from_secs(5))
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(store.get_job(job.id).await.unwrap().state, JobState::Dead);
    assert_eq!(
        store.complete(&claimed.lease).await.unwrap_err().kind(),
        "conflict"
    );
}

#[tokio::test]
async fn deferral_names_when_the_window_frees_up() {
    let (clock, store) = setup();
    let contact = EmailAddress::parse("lead@acme.io").unwrap();
    let sender = EmailAddress::parse("me@seller.io").unwrap();
    let limits = SendLimits::default();
    let t0 = clock.now();
    for hours in [0, 5] {
        let r = SendReservation {
            draft_id: DraftId::new(),
            contact: contact.clone(),
            sender: sender.clone(),
            at: t0 + chrono::TimeDelta::hours(hours),
        };
        assert_eq!(
            store.reserve_send(&r, &limits).await.unwrap(),
            SendDecision::Allow
        );
    }
    let third = SendReservation {
        draft_id: DraftId::new(),
        contact: contact.clone(),
        sender,
        at: t0 + chrono::TimeDelta::days(2),
    };
    match store.reserve_send(&third, &limits).await.unwrap() {
        SendDecision::Defer { until, .. } => assert_eq!(until, t0 + chrono::TimeDelta::days(7)),
        other => panic!("expected a deferral, got {other:?}"),
    }
    let later = SendReservation {
        at: t0 + chrono::TimeDelta::days(7),
        ..third
    };
    assert_eq!(
        store.reserve_send(&later, &limits).await.unwrap(),
        SendDecision::Allow
    );
}

#[tokio::test]
async fn tampering_breaks_the_chain_at_the_edited_entry() {
    let (clock, store) = setup();
    for i in 0..4 {
        clock.advance(Duration::from_millis(1500));
        store
            .append_audit(&NewAuditEntry {
                actor: "operator:alice".into(),
                action: format!("draft.approve.{i}"),
                subject: format!("draft:{i}"),
                details: serde_json::json!({ "i": i }),
            })
            .await
            .unwrap();
    }
    assert!(store.verify_audit_chain().await.unwrap().is_intact());
    assert!(store.tamper_audit_entry(3, "draft.reject"));
    let v = store.verify_audit_chain().await.unwrap();
    assert_eq!((v.entries, v.first_broken_seq), (4, Some(3)));
}

/// Enqueues, claims and fails three jobs; returns ids, tokens and the backoff run times.
async fn script(seed: u64) -> Vec<String> {
    let clock = ManualClock::default();
    let store = MemoryStore::new(clock.shared()).with_seed(seed);
    let mut out = Vec::new();
    for i in 0..3 {
        let (job, _) = store
            .enqueue(&NewJob::new("k", serde_json::json!({ "i": i })))
            .await
            .unwrap();
        let c = store
            .claim("w", &[], Duration::from_secs(10))
            .await
            .unwrap()
            .unwrap();
        let failed = store
            .fail(
                &c.lease,
                &JobFailure {
                    error: "x".into(),
                    retryable: true,
                    retry_after: None,
                },
            )
            .await
            .unwrap();
        out.push(format!("{} {} {}", job.id, c.lease.token, failed.run_at));
    }
    out
}

#[tokio::test]
async fn same_seed_same_ids_and_backoff() {
    assert_eq!(script(5).await, script(5).await);
    assert_ne!(script(5).await, script(6).await);
}
