//! The operator queue (ordering, reasons, approve/reject/edit, audit, optimistic versions) and
//! the auto-approval rules (explanations, dry run, enable flag, kill switch).

#[path = "sending_common.rs"]
mod common;

use common::*;
use salesagent_core::Error;
use salesagent_core::model::{
    ApprovedRecipient, DraftAction, DraftStatus, JobFilter, MessageDirection, MessageId,
    MessageRecord, Outcome, OutcomeId, OutcomeType, ThreadRef, kinds,
};
use salesagent_core::ports::SettingsExt;
use salesagent_core::sending::approval::{
    GATE_ENABLED, GATE_KILL_SWITCH, RULE_APPROVED_RECIPIENT, RULE_ICP_VERIFIED_DOMAIN,
    RULE_REPLIED_BEFORE,
};
use salesagent_core::sending::{Adjustment, AutoApprover, OperatorQueue, QueueConfig, RulesConfig};
use salesagent_core::testing::FakeCrm;
use std::sync::Arc;
use std::time::Duration;

#[tokio::test]
async fn pending_drafts_are_ordered_by_priority_with_reasons() {
    let env = Env::new();
    let mut low = draft("low@acme.io", env.now());
    low.icp = Some(icp(40));
    let mut high = draft("high@acme.io", env.now());
    high.icp = Some(icp(90));
    let mut old_high = draft("old@acme.io", env.now() - chrono::TimeDelta::hours(48));
    old_high.icp = Some(icp(90));
    let mut history = draft("hist@acme.io", env.now());
    history.icp = Some(icp(40));
    for d in [&low, &high, &old_high, &history] {
        env.store
            .insert_draft(d, &d.created_event("pipeline"))
            .await
            .unwrap();
    }
    // An approved draft is not in the queue.
    env.approved("approved@acme.io").await;

    let adj: salesagent_core::sending::AdjustmentFn = Arc::new(|d, outcomes| {
        if d.contact_email.local_part() == "hist" {
            Adjustment {
                points: 45.0 + outcomes.len() as f64,
                reason: "booked meetings before".into(),
            }
        } else {
            Adjustment {
                points: 0.0,
                reason: "no history".into(),
            }
        }
    });
    let queue = OperatorQueue::new(env.store.clone(), env.clock.shared()).with_adjustment(adj);
    let items = queue.pending().await.unwrap();
    let order: Vec<&str> = items
        .iter()
        .map(|i| i.draft.contact_email.local_part())
        .collect();
    // high: 90 + 30; old: 90 + 7.5; hist: 40 + 30 + 20 (capped); low: 40 + 30.
    assert_eq!(order, ["high", "old", "hist", "low"]);
    let hist = &items[2];
    assert!((hist.priority - 90.0).abs() < 1e-9, "{}", hist.priority);
    let names: Vec<&str> = hist.factors.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["icp_fit", "recency", "outcome_history"]);
    assert!(hist.factors[2].reason.contains("capped"));
    assert!((items[1].factors[1].points - 7.5).abs() < 1e-9);

    let next = queue.next().await.unwrap().unwrap();
    assert_eq!(next.draft.id, high.id);
    assert!(next.factors[0].reason.contains("ICP score 90"));

    // A shorter half-life makes age matter more.
    let fast = queue.clone().with_config(QueueConfig {
        recency_half_life: Duration::from_secs(3600),
        ..QueueConfig::default()
    });
    let items = fast.pending().await.unwrap();
    assert!(items[1].factors[1].points < 1e-6);
}

#[tokio::test]
async fn approve_reject_edit_are_audited_with_before_and_after() {
    let env = Env::new();
    let queue = OperatorQueue::new(env.store.clone(), env.clock.shared());
    let a = env.pending("a@acme.io").await;
    let b = env.pending("b@acme.io").await;

    let edited = queue
        .edit(
            a.id,
            a.version,
            "operator:alice",
            Some("New subject".into()),
            Some("New body".into()),
        )
        .await
        .unwrap();
    assert_eq!(edited.version, a.version + 1);
    let approved = queue
        .approve(a.id, edited.version, "operator:alice")
        .await
        .unwrap();
    assert_eq!(approved.status, DraftStatus::Approved);
    let rejected = queue
        .reject(b.id, b.version, "operator:bob", "not a fit")
        .await
        .unwrap();
    assert_eq!(rejected.status, DraftStatus::Rejected);
    assert_eq!(rejected.status_reason.as_deref(), Some("not a fit"));

    let events = env.store.draft_events(a.id).await.unwrap();
    let edit = events
        .iter()
        .find(|e| e.action.name() == "edit" && e.before.is_some())
        .unwrap();
    assert_eq!(edit.actor, "operator:alice");
    assert_eq!(edit.at, env.now());
    assert_eq!(edit.before.as_ref().unwrap().subject, a.subject);
    assert_eq!(edit.after.subject, "New subject");

    let audit = env.store.audit_entries(0, 0).await.unwrap();
    let actions: Vec<&str> = audit.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["draft.edit", "draft.approve", "draft.reject"]);
    assert_eq!(audit[0].details["before"]["subject"], a.subject.as_str());
    assert_eq!(audit[0].details["after"]["body"], "New body");
    assert_eq!(audit[2].actor, "operator:bob");
    assert!(env.store.verify_audit_chain().await.unwrap().is_intact());

    // Approval enqueued exactly one send job for that version.
    let jobs = env
        .store
        .list_jobs(&JobFilter {
            kind: Some(kinds::SEND.into()),
            ..JobFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].payload["draft_id"], a.id.to_string());

    // Bad input is typed.
    let c = env.pending("c@acme.io").await;
    assert!(matches!(
        queue.reject(c.id, c.version, "operator:bob", "  ").await,
        Err(Error::InvalidInput { .. })
    ));
    assert!(matches!(
        queue
            .edit(c.id, c.version, "operator:bob", None, None)
            .await,
        Err(Error::InvalidInput { .. })
    ));
    assert!(matches!(
        queue
            .edit(
                c.id,
                c.version,
                "operator:bob",
                Some("a\r\nBcc: x".into()),
                None
            )
            .await,
        Err(Error::InvalidInput { .. })
    ));
    assert!(matches!(
        queue.approve(c.id, c.version, "operator:\nx").await,
        Err(Error::InvalidInput { .. })
    ));
}

#[tokio::test]
async fn two_operators_never_double_approve() {
    let env = Env::new();
    let d = env.pending("a@acme.io").await;
    let mut tasks = Vec::new();
    for i in 0..8 {
        let q = OperatorQueue::new(env.store.clone(), env.clock.shared());
        let (id, v) = (d.id, d.version);
        tasks.push(tokio::spawn(async move {
            q.approve(id, v, &format!("operator:{i}")).await
        }));
    }
    let mut ok = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => ok += 1,
            Err(Error::Conflict { .. }) => {}
            Err(e) => panic!("{e:?}"),
        }
    }
    assert_eq!(ok, 1);
    let approvals = env
        .store
        .draft_events(d.id)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.action == DraftAction::Approve)
        .count();
    assert_eq!(approvals, 1);
}

#[tokio::test]
async fn approving_a_stale_version_fails_after_an_edit() {
    let env = Env::new();
    let queue = OperatorQueue::new(env.store.clone(), env.clock.shared());
    let d = env.pending("a@acme.io").await;
    let seen_by_bob = d.version;
    queue
        .edit(
            d.id,
            d.version,
            "operator:alice",
            Some("Changed".into()),
            None,
        )
        .await
        .unwrap();
    let err = queue
        .approve(d.id, seen_by_bob, "operator:bob")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Conflict { .. }), "{err:?}");
    assert_eq!(env.status(d.id).await, DraftStatus::Pending);
    // Editing an approved draft sends it back to pending: the new text needs a new approval.
    let current = queue.next().await.unwrap().unwrap().draft;
    let approved = queue
        .approve(d.id, current.version, "operator:bob")
        .await
        .unwrap();
    let back = queue
        .edit(
            d.id,
            approved.version,
            "operator:alice",
            None,
            Some("Other".into()),
        )
        .await
        .unwrap();
    assert_eq!(back.status, DraftStatus::Pending);
}

async fn rule_env() -> (Env, Arc<FakeCrm>, AutoApprover) {
    let env = Env::new();
    let crm = Arc::new(FakeCrm::new());
    let acme = crm.seed_company("Acme", Some("acme.io".parse().unwrap()));
    for addr in ["icp@acme.io", "mail@sub.acme.io", "lowicp@acme.io"] {
        let mut c = crm.seed_contact(&email(addr), None, None);
        c.company_id = Some(acme.crm_id.clone());
        crm.add_contact(c);
    }
    let mut other = crm.seed_contact(&email("x@other.io"), None, None);
    other.company_id = Some(acme.crm_id.clone());
    crm.add_contact(other);
    let approver = AutoApprover::new(RulesConfig {
        enabled: true,
        icp_threshold: 80,
    })
    .with_crm(crm.clone());
    (env, crm, approver)
}

#[tokio::test]
async fn rules_explain_every_verdict() {
    let (env, _crm, approver) = rule_env().await;
    let mk = |to: &str, score: Option<u8>| {
        let mut d = draft(to, env.now());
        d.icp = score.map(icp);
        d
    };
    let cases = [
        (
            mk("icp@acme.io", Some(85)),
            true,
            RULE_ICP_VERIFIED_DOMAIN,
            "matches the CRM company domain",
        ),
        (
            mk("mail@sub.acme.io", Some(85)),
            true,
            RULE_ICP_VERIFIED_DOMAIN,
            "matches",
        ),
        (
            mk("lowicp@acme.io", Some(50)),
            false,
            RULE_ICP_VERIFIED_DOMAIN,
            "below the threshold 80",
        ),
        (
            mk("x@other.io", Some(95)),
            false,
            RULE_ICP_VERIFIED_DOMAIN,
            "does not match",
        ),
        (
            mk("someone@gmail.com", Some(95)),
            false,
            RULE_ICP_VERIFIED_DOMAIN,
            "free-mail",
        ),
        (
            mk("nocrm@acme.io", Some(95)),
            false,
            RULE_ICP_VERIFIED_DOMAIN,
            "contact not found",
        ),
        (
            mk("icp@acme.io", None),
            false,
            RULE_ICP_VERIFIED_DOMAIN,
            "no ICP score",
        ),
    ];
    for (d, matched, rule, why) in cases {
        env.store
            .insert_draft(&d, &d.created_event("pipeline"))
            .await
            .unwrap();
        let decision = approver
            .explain(&*env.store, d.id, env.now())
            .await
            .unwrap();
        let names: Vec<&str> = decision.verdicts.iter().map(|v| v.rule.as_str()).collect();
        assert_eq!(
            names,
            [
                RULE_REPLIED_BEFORE,
                RULE_APPROVED_RECIPIENT,
                RULE_ICP_VERIFIED_DOMAIN,
                GATE_ENABLED,
                GATE_KILL_SWITCH
            ]
        );
        let v = decision.verdicts.iter().find(|v| v.rule == rule).unwrap();
        assert_eq!(v.matched, matched, "{}: {}", d.contact_email, v.reason);
        assert!(v.reason.contains(why), "{}: {}", d.contact_email, v.reason);
        assert_eq!(decision.approve, matched);
        // Explaining stores nothing.
        assert_eq!(env.store.get_draft(d.id).await.unwrap().rule_decision, None);
    }
}

#[tokio::test]
async fn replied_before_and_approved_recipient_rules() {
    let (env, _crm, approver) = rule_env().await;
    let replied = env.pending("fan@else.io").await;
    env.store
        .record_message(&MessageRecord {
            message_id: MessageId::parse("in.1@else.io").unwrap(),
            direction: MessageDirection::Inbound,
            contact_email: email("fan@else.io"),
            draft_id: None,
            thread: ThreadRef::default(),
            subject: "Re: hi".into(),
            body: "thanks".into(),
            at: env.now(),
        })
        .await
        .unwrap();
    let by_outcome = env.pending("happy@else.io").await;
    env.store
        .record_outcome(&Outcome {
            id: OutcomeId::new(),
            outcome_type: OutcomeType::EmailReplied,
            contact_email: email("happy@else.io"),
            sender: None,
            draft_id: None,
            impact: 5,
            source_event_id: "gmail:1".into(),
            occurred_at: env.now(),
            recorded_at: env.now(),
            details: None,
        })
        .await
        .unwrap();
    let listed = env.pending("vip@else.io").await;
    env.store
        .add_approved_recipient(&ApprovedRecipient {
            email: email("VIP@else.io"),
            added_by: "operator:alice".into(),
            added_at: env.now(),
        })
        .await
        .unwrap();
    let stranger = env.pending("nobody@else.io").await;

    for (d, rule) in [
        (&replied, RULE_REPLIED_BEFORE),
        (&by_outcome, RULE_REPLIED_BEFORE),
        (&listed, RULE_APPROVED_RECIPIENT),
    ] {
        let decision = approver.apply(&*env.store, d.id, env.now()).await.unwrap();
        assert!(decision.approve, "{}", d.contact_email);
        assert!(
            decision
                .verdicts
                .iter()
                .any(|v| v.rule == rule && v.matched)
        );
        let stored = env.store.get_draft(d.id).await.unwrap();
        assert_eq!(stored.status, DraftStatus::Approved);
        assert_eq!(stored.rule_decision, Some(decision));
        let events = env.store.draft_events(d.id).await.unwrap();
        assert_eq!(events.last().unwrap().actor, "rule:auto_approve");
    }
    let decision = approver
        .apply(&*env.store, stranger.id, env.now())
        .await
        .unwrap();
    assert!(!decision.approve);
    let stored = env.store.get_draft(stranger.id).await.unwrap();
    assert_eq!(stored.status, DraftStatus::Pending);
    assert_eq!(
        stored.rule_decision,
        Some(decision),
        "stored even when not approved"
    );
    // Applying to a non-pending draft is a conflict.
    assert!(matches!(
        approver.apply(&*env.store, listed.id, env.now()).await,
        Err(Error::Conflict { .. })
    ));
}

#[tokio::test]
async fn disabled_or_kill_switch_never_auto_approves() {
    let (env, crm, _) = rule_env().await;
    let mut d = draft("icp@acme.io", env.now());
    d.icp = Some(icp(99));
    env.store
        .insert_draft(&d, &d.created_event("pipeline"))
        .await
        .unwrap();
    let disabled = AutoApprover::new(RulesConfig::default()).with_crm(crm.clone());
    let decision = disabled.apply(&*env.store, d.id, env.now()).await.unwrap();
    assert!(!decision.approve);
    let gate = decision
        .verdicts
        .iter()
        .find(|v| v.rule == GATE_ENABLED)
        .unwrap();
    assert!(!gate.matched && gate.reason.contains("AUTO_APPROVE_ENABLED"));

    env.store.set_kill_switch(true).await.unwrap();
    let enabled = AutoApprover::new(RulesConfig {
        enabled: true,
        icp_threshold: 80,
    })
    .with_crm(crm);
    let decision = enabled.apply(&*env.store, d.id, env.now()).await.unwrap();
    assert!(!decision.approve);
    assert!(
        decision
            .verdicts
            .iter()
            .any(|v| v.rule == GATE_KILL_SWITCH && !v.matched)
    );
    assert_eq!(env.status(d.id).await, DraftStatus::Pending);
    env.store.set_kill_switch(false).await.unwrap();
    assert!(
        enabled
            .apply(&*env.store, d.id, env.now())
            .await
            .unwrap()
            .approve
    );
    assert_eq!(env.status(d.id).await, DraftStatus::Approved);
}

#[tokio::test]
async fn dry_run_reports_the_share_that_would_be_approved() {
    let (env, crm, _) = rule_env().await;
    for (to, score) in [
        ("icp@acme.io", 90),
        ("mail@sub.acme.io", 85),
        ("lowicp@acme.io", 10),
        ("someone@gmail.com", 99),
    ] {
        let mut d = draft(to, env.now());
        d.icp = Some(icp(score));
        env.store
            .insert_draft(&d, &d.created_event("pipeline"))
            .await
            .unwrap();
    }
    // Disabled and kill switch on: the dry run still answers "what if".
    env.store.set_kill_switch(true).await.unwrap();
    let approver = AutoApprover::new(RulesConfig::default()).with_crm(crm);
    let report = approver.dry_run(&*env.store, env.now()).await.unwrap();
    assert_eq!(report.total, 4);
    assert_eq!(report.would_approve, 2);
    assert!((report.share - 0.5).abs() < 1e-9);
    assert_eq!(report.per_rule.get(RULE_ICP_VERIFIED_DOMAIN), Some(&2));
    assert!(!report.enabled);
    // Nothing was stored or approved.
    let pending = OperatorQueue::new(env.store.clone(), env.clock.shared())
        .pending()
        .await
        .unwrap();
    assert_eq!(pending.len(), 4);
    assert!(pending.iter().all(|i| i.draft.rule_decision.is_none()));
}
