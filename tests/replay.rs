//! Dry-run replay of `examples/data/forms` on offline fakes: every decision is reported, the
//! duplicate is recognised, nothing is sent, and the policy sees suppressions, the kill switch,
//! the send window and the limits.
#![cfg(feature = "replay")]

use chrono::{DateTime, Utc};
use salesagent::core::model::{
    EmailAddress, SendDecision, SendLimits, Suppression, SuppressionReason,
};
use salesagent::core::pipeline::Ports;
use salesagent::core::ports::{DynStore, SettingsExt as _};
use salesagent::core::testing::{
    FakeCalendar, FakeCrm, FakeDrive, FakeMailbox, ManualClock, MemoryStore,
};
use salesagent::core::writer::TemplateLlm;
use salesagent::replay::{Replay, ReplayConfig, ReplayReport};
use std::path::{Path, PathBuf};
use std::sync::Arc;

fn forms_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/data/forms")
}

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// Offline ports; the store and clock given here are replaced by the replay's own.
fn ports(mailbox: Arc<FakeMailbox>) -> Ports {
    let clock = Arc::new(ManualClock::new(ManualClock::default_start()));
    Ports {
        crm: Arc::new(FakeCrm::new()),
        mailbox,
        drive: Arc::new(FakeDrive::new()),
        calendar: Arc::new(FakeCalendar::new()),
        llm: Arc::new(TemplateLlm),
        store: Arc::new(MemoryStore::new(clock.clone())),
        clock,
    }
}

fn config(now: &str) -> ReplayConfig {
    ReplayConfig::new(EmailAddress::parse("sam@salesagent.dev").unwrap(), at(now))
}

/// A Thursday morning, inside the default 09-17 UTC window.
const THURSDAY: &str = "2026-11-26T10:00:00Z";

async fn replay_forms(now: &str) -> (ReplayReport, Arc<FakeMailbox>) {
    let mailbox = Arc::new(FakeMailbox::new());
    let replay = Replay::new(ports(mailbox.clone()), config(now))
        .await
        .unwrap();
    (replay.run_dir(&forms_dir()).await.unwrap(), mailbox)
}

#[tokio::test]
async fn replays_the_sample_forms_and_reports_every_decision() {
    let (report, mailbox) = replay_forms(THURSDAY).await;
    let t = report.totals;
    println!("FIGURE replay.files {}", t.files);
    println!("FIGURE replay.drafted {}", t.drafted);
    println!("FIGURE replay.duplicates {}", t.duplicates);
    println!("FIGURE replay.allow {}", t.allow);
    assert_eq!(
        (t.files, t.drafted, t.duplicates, t.invalid, t.failed),
        (7, 6, 1, 0, 0)
    );
    assert_eq!(t.allow + t.defer + t.deny, 6);
    assert_eq!(t.would_auto_approve, 0, "auto-approval is off by default");

    let dup = report
        .items
        .iter()
        .find(|i| i.file.starts_with("06-"))
        .unwrap();
    assert_eq!(dup.duplicate_of.as_deref(), Some("01-acme-demo.json"));
    assert!(dup.draft.is_none());

    for item in report.items.iter().filter(|i| i.duplicate_of.is_none()) {
        let draft = item.draft.as_ref().unwrap_or_else(|| panic!("{item:?}"));
        assert!(!draft.subject.is_empty() && !draft.body.is_empty());
        assert!(item.priority.is_some() && !item.priority_factors.is_empty());
        let rules = item.rule_decision.as_ref().unwrap();
        assert_eq!(rules.verdicts.len(), 5, "every rule explained");
        assert!(rules.verdicts.iter().all(|v| !v.reason.is_empty()));
        // Thursday 10:00 UTC is inside the window and nothing is limited: send now.
        assert_eq!(
            item.policy_decision,
            Some(SendDecision::Allow),
            "{}",
            item.file
        );
        assert_eq!(item.would_send_at, Some(at(THURSDAY)));
    }
    // The hostile form's CR/LF never reaches the draft as a header line.
    let hostile = report
        .items
        .iter()
        .find(|i| i.file.starts_with("05-"))
        .unwrap();
    assert!(!hostile.draft.as_ref().unwrap().subject.contains('\n'));

    assert!(mailbox.sent().is_empty(), "a dry run sends nothing");
    assert!(mailbox.drafts().is_empty(), "nor stores mailbox drafts");

    // The report is JSON and the same decisions come out again.
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["items"].as_array().unwrap().len(), 7);
    let (again, _) = replay_forms(THURSDAY).await;
    let decisions = |r: &ReplayReport| -> Vec<_> {
        r.items
            .iter()
            .map(|i| {
                (
                    i.file.clone(),
                    i.policy_decision.clone(),
                    i.priority,
                    i.would_send_at,
                )
            })
            .collect()
    };
    assert_eq!(decisions(&report), decisions(&again));
}

#[tokio::test]
async fn outside_the_window_every_send_is_deferred_to_the_opening() {
    // Saturday: the default window opens on Monday at 09:00 UTC.
    let (report, _) = replay_forms("2026-11-28T12:00:00Z").await;
    assert_eq!(report.totals.defer, 6, "{:?}", report.totals);
    for item in report.items.iter().filter(|i| i.draft.is_some()) {
        assert!(matches!(
            item.policy_decision,
            Some(SendDecision::Defer { .. })
        ));
        assert_eq!(item.would_send_at, Some(at("2026-11-30T09:00:00Z")));
    }
}

#[tokio::test]
async fn suppressions_kill_switch_and_limits_are_honoured() {
    // The production store's policy state is imported, read only.
    let clock = Arc::new(ManualClock::new(at(THURSDAY)));
    let production: DynStore = Arc::new(MemoryStore::new(clock));
    production
        .suppress(&Suppression {
            email: EmailAddress::parse("li.wei@helix-bio.com").unwrap(),
            reason: SuppressionReason::Unsubscribed,
            note: None,
            added_at: at(THURSDAY),
        })
        .await
        .unwrap();
    let replay = Replay::new(ports(Arc::new(FakeMailbox::new())), config(THURSDAY))
        .await
        .unwrap();
    assert_eq!(replay.import_policy_state(&production).await.unwrap(), 1);
    let report = replay.run_dir(&forms_dir()).await.unwrap();
    let helix = report
        .items
        .iter()
        .find(|i| i.file.starts_with("03-"))
        .unwrap();
    assert!(
        matches!(&helix.policy_decision, Some(SendDecision::Deny { reason }) if reason.is_suppressed())
    );
    assert_eq!(helix.would_send_at, None);
    assert_eq!(report.totals.deny, 1);

    // Kill switch on: everything is denied.
    production.set_kill_switch(true).await.unwrap();
    let replay = Replay::new(ports(Arc::new(FakeMailbox::new())), config(THURSDAY))
        .await
        .unwrap();
    replay.import_policy_state(&production).await.unwrap();
    let report = replay.run_dir(&forms_dir()).await.unwrap();
    assert_eq!(report.totals.deny, 6);

    // Limits see the batch: three forms from one contact with a limit of one a week.
    let mut cfg = config(THURSDAY);
    cfg.policy.limits = SendLimits {
        per_contact_week: 1,
        ..SendLimits::default()
    };
    let replay = Replay::new(ports(Arc::new(FakeMailbox::new())), cfg)
        .await
        .unwrap();
    let form = |id: &str| {
        Ok(serde_json::json!({
            "submission_id": id,
            "submitted_at": "2026-11-26T09:00:00Z",
            "fields": {"email": "ann@acme.io", "firstname": "Ann", "message": "Hello"}
        })
        .to_string())
    };
    let report = replay
        .run(vec![
            ("a.json".into(), form("a")),
            ("b.json".into(), form("b")),
            ("c.json".into(), form("c")),
            ("bad.json".into(), Ok("{not json".into())),
            ("missing.json".into(), Err("unreadable".into())),
        ])
        .await
        .unwrap();
    let t = report.totals;
    assert_eq!(
        (t.drafted, t.allow, t.defer, t.invalid),
        (3, 1, 2, 2),
        "{t:?}"
    );
    assert!(report.items[3].error.is_some() && report.items[4].error.is_some());
}

#[tokio::test]
async fn a_missing_directory_is_a_typed_error() {
    let replay = Replay::new(ports(Arc::new(FakeMailbox::new())), config(THURSDAY))
        .await
        .unwrap();
    let err = replay
        .run_dir(Path::new("/nonexistent/salesagent-forms"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, salesagent::Error::InvalidInput { .. }),
        "{err:?}"
    );
}
