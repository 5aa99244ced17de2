//! The send policy through the sender: every Deny and Defer reason, the window in a time zone,
//! limits, DRAFT_ONLY, and deferred send jobs given back to the queue by the shipped worker.

#[path = "sending_common.rs"]
mod common;

use chrono::{TimeZone, Utc};
use common::*;
use salesagent_core::model::{
    Denial, DraftStatus, JobState, NewJob, SendDecision, Suppression, SuppressionReason, kinds,
};
use salesagent_core::ports::SettingsExt;
use salesagent_core::sending::{
    PolicyConfig, SendJob, SendMode, SendOutcome, SendPolicy, SendWindow, send_job_payload,
};
use salesagent_core::testing::FakeCrm;
use std::sync::Arc;

fn windowed() -> PolicyConfig {
    PolicyConfig {
        mode: SendMode::RealSends,
        window: Some(SendWindow::default()),
        ..PolicyConfig::default()
    }
}

#[tokio::test]
async fn kill_switch_defers_and_keeps_the_draft_approved() {
    let env = Env::new();
    let d = env.approved("jane@acme.io").await;
    env.store.set_kill_switch(true).await.unwrap();
    let out = env.sender().send_draft(d.id).await.unwrap();
    let SendOutcome::Deferred { reason, until } = out else {
        panic!("{out:?}")
    };
    assert_eq!(reason, Denial::KillSwitch, "{reason}");
    // Looked at again after the configured recheck period.
    assert_eq!(until, env.now() + chrono::TimeDelta::seconds(60));
    let stored = env.store.get_draft(d.id).await.unwrap();
    assert_eq!(stored.status, DraftStatus::Approved);
    assert_eq!(stored.send_decision, Some(SendDecision::Deny { reason }));
    assert!(env.mailbox.sent().is_empty());
    // Switched off, the same draft goes out.
    env.store.set_kill_switch(false).await.unwrap();
    let out = env.sender().send_draft(d.id).await.unwrap();
    assert!(matches!(out, SendOutcome::Sent { .. }), "{out:?}");
    assert_eq!(env.mailbox.sent().len(), 1);
}

#[tokio::test]
async fn suppressed_recipients_are_denied_and_stopped() {
    for reason in [
        SuppressionReason::Unsubscribed,
        SuppressionReason::Bounced,
        SuppressionReason::Manual,
    ] {
        let env = Env::new();
        let d = env.approved("Jane@ACME.io").await;
        env.store
            .suppress(&Suppression {
                email: email("jane@acme.io"),
                reason,
                note: None,
                added_at: env.now(),
            })
            .await
            .unwrap();
        let out = env.sender().send_draft(d.id).await.unwrap();
        let SendOutcome::Denied { reason: why } = out else {
            panic!("{out:?}")
        };
        assert_eq!(
            why,
            Denial::Suppressed {
                suppression: Some(reason)
            }
        );
        let why = why.to_string();
        assert!(why.starts_with("suppressed"), "{why}");
        let label = serde_json::to_value(reason).unwrap();
        assert!(why.contains(label.as_str().unwrap()), "{why}");
        let stored = env.store.get_draft(d.id).await.unwrap();
        assert_eq!(stored.status, DraftStatus::Rejected);
        assert_eq!(stored.status_reason.as_deref(), Some(why.as_str()));
        assert!(matches!(
            stored.send_decision,
            Some(SendDecision::Deny { .. })
        ));
        assert!(env.mailbox.sent().is_empty());
    }
}

#[tokio::test]
async fn window_defers_until_it_opens_in_the_recipients_time_zone() {
    let env = Env::new();
    let crm = Arc::new(FakeCrm::new());
    let mut berlin = crm.seed_contact(&email("ber@acme.io"), Some("B"), None);
    berlin.time_zone = Some("Europe/Berlin".into());
    crm.add_contact(berlin);
    let mut ny = crm.seed_contact(&email("ny@acme.io"), Some("N"), None);
    ny.time_zone = Some("America/New_York".into());
    crm.add_contact(ny);
    // Monday 2026-01-05 06:30 UTC: 07:30 in Berlin, 01:30 in New York.
    env.clock
        .set(Utc.with_ymd_and_hms(2026, 1, 5, 6, 30, 0).unwrap());
    let b = env.approved("ber@acme.io").await;
    let n = env.approved("ny@acme.io").await;
    let u = env.approved("unknown@acme.io").await;
    let sender = env
        .sender_with(env.mailbox.clone(), windowed())
        .with_crm(crm.clone());
    let expect = [
        (b.id, Utc.with_ymd_and_hms(2026, 1, 5, 8, 0, 0).unwrap()),
        (n.id, Utc.with_ymd_and_hms(2026, 1, 5, 14, 0, 0).unwrap()),
        // Unknown zone: the default (UTC) window.
        (u.id, Utc.with_ymd_and_hms(2026, 1, 5, 9, 0, 0).unwrap()),
    ];
    for (id, at) in expect {
        let out = sender.send_draft(id).await.unwrap();
        let SendOutcome::Deferred { until, reason } = out else {
            panic!("{out:?}")
        };
        assert_eq!(until, at, "{reason}");
        assert!(matches!(reason, Denial::OutsideWindow { .. }), "{reason}");
        assert!(
            reason.to_string().starts_with("outside_send_window"),
            "{reason}"
        );
        let stored = env.store.get_draft(id).await.unwrap();
        assert_eq!(stored.status, DraftStatus::Approved);
        assert!(
            matches!(stored.send_decision, Some(SendDecision::Defer { until: t, .. }) if t == at)
        );
    }
    assert!(env.mailbox.sent().is_empty());

    // 08:00 UTC: Berlin is open, the others still wait.
    env.clock
        .set(Utc.with_ymd_and_hms(2026, 1, 5, 8, 0, 0).unwrap());
    assert!(sender.send_draft(b.id).await.unwrap().is_done());
    assert!(matches!(
        sender.send_draft(n.id).await.unwrap(),
        SendOutcome::Deferred { .. }
    ));

    // The operator's "send now" override skips the window only.
    let now = env
        .sender_with(
            env.mailbox.clone(),
            PolicyConfig {
                ignore_window: true,
                ..windowed()
            },
        )
        .with_crm(crm);
    assert!(now.send_draft(n.id).await.unwrap().is_done());
    assert_eq!(env.mailbox.sent().len(), 2);
}

#[tokio::test]
async fn per_contact_limits_two_per_week() {
    let env = Env::new();
    let sender = env.sender();
    let mut outs = Vec::new();
    for _ in 0..3 {
        let d = env.approved("jane@acme.io").await;
        outs.push(sender.send_draft(d.id).await.unwrap());
    }
    assert!(outs[0].is_done() && outs[1].is_done());
    let SendOutcome::Deferred { until, reason } = &outs[2] else {
        panic!("{:?}", outs[2])
    };
    assert!(
        reason.to_string().contains("per-contact weekly"),
        "{reason}"
    );
    assert_eq!(*until, env.now() + chrono::TimeDelta::days(7));
    assert_eq!(env.mailbox.sent().len(), 2);
}

#[tokio::test]
async fn per_sender_and_per_domain_daily_caps() {
    let env = Env::new();
    let mut cfg = real_sends();
    cfg.limits.per_domain_day = 2;
    let sender = env.sender_with(env.mailbox.clone(), cfg.clone());
    let a = env.approved("a@acme.io").await;
    let b = env.approved("b@acme.io").await;
    let c = env.approved("c@acme.io").await;
    assert!(sender.send_draft(a.id).await.unwrap().is_done());
    assert!(sender.send_draft(b.id).await.unwrap().is_done());
    let out = sender.send_draft(c.id).await.unwrap();
    assert!(
        matches!(&out, SendOutcome::Deferred { reason, .. } if reason.to_string().contains("per-domain daily")),
        "{out:?}"
    );

    let env = Env::new();
    cfg.limits.per_sender_day = 1;
    let sender = env.sender_with(env.mailbox.clone(), cfg);
    let a = env.approved("a@one.io").await;
    let b = env.approved("b@two.io").await;
    assert!(sender.send_draft(a.id).await.unwrap().is_done());
    let out = sender.send_draft(b.id).await.unwrap();
    assert!(
        matches!(&out, SendOutcome::Deferred { reason, .. } if reason.to_string().contains("per-sender daily")),
        "{out:?}"
    );
    assert_eq!(env.mailbox.sent().len(), 1);
}

#[tokio::test]
async fn draft_only_puts_nothing_in_sent() {
    let env = Env::new();
    let mut ids = Vec::new();
    // Same contact three times: limits do not apply to mailbox drafts.
    for _ in 0..3 {
        ids.push(env.approved("jane@acme.io").await.id);
    }
    let sender = env.sender_with(env.mailbox.clone(), PolicyConfig::default());
    assert_eq!(sender.policy().config.mode, SendMode::DraftOnly);
    for id in &ids {
        let out = sender.send_draft(*id).await.unwrap();
        assert!(matches!(out, SendOutcome::Drafted { .. }), "{out:?}");
        assert!(out.is_done());
        assert_eq!(env.status(*id).await, DraftStatus::Drafted);
    }
    assert!(env.mailbox.sent().is_empty());
    assert_eq!(env.mailbox.drafts().len(), 3);
    assert_eq!(env.mailbox.open_drafts().len(), 3);
    // Running it again makes no second mailbox draft.
    for id in &ids {
        let out = sender.send_draft(*id).await.unwrap();
        assert_eq!(
            out,
            SendOutcome::Skipped {
                status: DraftStatus::Drafted
            }
        );
    }
    assert_eq!(env.mailbox.drafts().len(), 3);
    // Nothing was reserved against the limits either.
    let reserved = env
        .store
        .reserve_send(
            &salesagent_core::model::SendReservation {
                draft_id: salesagent_core::model::DraftId::new(),
                contact: email("jane@acme.io"),
                sender: email("sam@seller.dev"),
                at: env.now(),
            },
            &salesagent_core::model::SendLimits::default(),
        )
        .await
        .unwrap();
    assert_eq!(reserved, SendDecision::Allow);
}

#[tokio::test]
async fn draft_only_ignores_the_window_but_not_the_kill_switch() {
    let env = Env::new();
    env.clock
        .set(Utc.with_ymd_and_hms(2026, 1, 10, 3, 0, 0).unwrap()); // Saturday night
    let d = env.approved("jane@acme.io").await;
    let cfg = PolicyConfig {
        mode: SendMode::DraftOnly,
        window: Some(SendWindow::default()),
        ..PolicyConfig::default()
    };
    env.store.set_kill_switch(true).await.unwrap();
    let sender = env.sender_with(env.mailbox.clone(), cfg);
    assert!(matches!(
        sender.send_draft(d.id).await.unwrap(),
        SendOutcome::Deferred { ref reason, .. } if reason.is_kill_switch()
    ));
    assert!(env.mailbox.drafts().is_empty());
    env.store.set_kill_switch(false).await.unwrap();
    assert!(matches!(
        sender.send_draft(d.id).await.unwrap(),
        SendOutcome::Drafted { .. }
    ));
    assert_eq!(env.mailbox.drafts().len(), 1);
}

#[tokio::test]
async fn policy_decide_reports_without_a_sender() {
    let env = Env::new();
    let d = env.approved("jane@acme.io").await;
    let policy = SendPolicy::new(windowed());
    // Monday 09:00 UTC is inside the default window.
    assert_eq!(
        policy
            .decide(&*env.store, &d, None, env.now())
            .await
            .unwrap(),
        SendDecision::Allow
    );
    env.store.set_kill_switch(true).await.unwrap();
    assert!(matches!(
        policy
            .decide(&*env.store, &d, None, env.now())
            .await
            .unwrap(),
        SendDecision::Deny { .. }
    ));
}

#[tokio::test]
async fn a_deferred_send_job_is_given_back_until_the_window_opens_then_sent() {
    let env = Env::new();
    // Monday 06:00 UTC: the default window opens at 09:00.
    env.clock
        .set(Utc.with_ymd_and_hms(2026, 1, 5, 6, 0, 0).unwrap());
    let opening = Utc.with_ymd_and_hms(2026, 1, 5, 9, 0, 0).unwrap();
    let d = env.approved("jane@acme.io").await;
    let (job, new) = env
        .store
        .enqueue(&SendJob::new_job(d.id, d.version))
        .await
        .unwrap();
    assert!(new);
    assert_eq!(job.kind, kinds::SEND);
    assert_eq!(send_job_payload(&job).unwrap().draft_id, d.id);
    let worker = env.worker(env.sender_with(env.mailbox.clone(), windowed()));
    let stats = worker.run_until_idle(2).await.unwrap();
    assert_eq!((stats.deferred, stats.done), (1, 0), "{stats:?}");
    // The same job is back in the queue for the window's opening, with no attempt used up.
    let queued = env.send_jobs(JobState::Queued).await;
    assert_eq!(queued.len(), 1, "{queued:?}");
    assert_eq!(queued[0].id, job.id);
    assert_eq!(queued[0].run_at, opening);
    assert_eq!(queued[0].attempts, 0);
    assert_eq!(env.status(d.id).await, DraftStatus::Approved);
    assert!(env.mailbox.sent().is_empty());
    // Nothing runs before it is due.
    env.clock.set(opening - chrono::TimeDelta::seconds(1));
    assert_eq!(worker.run_until_idle(2).await.unwrap().claimed(), 0);
    // At the opening it runs and sends.
    env.clock.set(opening);
    let stats = worker.run_until_idle(2).await.unwrap();
    assert_eq!(stats.done, 1, "{stats:?}");
    assert_eq!(env.status(d.id).await, DraftStatus::Sent);
    assert_eq!(env.mailbox.sent().len(), 1);
    assert_eq!(env.send_jobs(JobState::Done).await.len(), 1);
}

#[tokio::test]
async fn a_malformed_send_job_is_dead_at_once() {
    let env = Env::new();
    let bad = NewJob::new(kinds::SEND, serde_json::json!({"draft": 1}));
    let (job, _) = env.store.enqueue(&bad).await.unwrap();
    let e = send_job_payload(&job).unwrap_err();
    assert!(!e.is_retryable());
    let stats = env.worker(env.sender()).run_until_idle(1).await.unwrap();
    assert_eq!(stats.dead, 1, "{stats:?}");
    assert_eq!(env.send_jobs(JobState::Dead).await.len(), 1);
}
