//! The store conformance suite.
//!
//! [`run`] calls every part; backends may also run parts on their own. The job tests use real
//! time (leases of about 100 ms, generous sleeps), so pass a store that reads the wall clock
//! (or the database's clock), not a frozen [`ManualClock`](crate::testing::ManualClock). The
//! backoff check waits until a failed job is due again, up to 20 seconds; configure a short
//! [`RetryPolicy`](crate::model::RetryPolicy) to keep it fast.

use super::{base_time, expect_err, ok, unique};
use crate::model::{
    ApprovedRecipient, Draft, DraftAction, DraftId, DraftStatus, DraftWriter, EmailAddress,
    FormSubmission, JobFailure, JobFilter, JobState, LeadFields, MessageDirection, MessageId,
    MessageRecord, NewAuditEntry, NewJob, OAuthToken, Outcome, OutcomeId, OutcomeType, RunId,
    RunStatus, SendDecision, SendLimit, SendLimits, SendReservation, StepRecord, StepStatus,
    SubmissionId, SubmissionSource, Suppression, SuppressionReason, ThreadRef, VoiceProfile,
    VoiceProfileId, VoiceStyle, WorkflowRun,
};
use crate::ports::{DraftFilter, OutcomeFilter, SettingsExt, Store};
use crate::privacy::erasure::{ERASE_ACTION, ErasureStep};
use crate::sending::limits::{Reservation, WindowSends};
use chrono::{DateTime, TimeDelta, Utc};
use futures::future::join_all;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// Runs every part of the store suite.
pub async fn run<S: Store + ?Sized>(store: &S) {
    ok(store.health().await, "store health");
    run_submissions(store).await;
    run_drafts(store).await;
    run_draft_records(store).await;
    run_draft_updates(store).await;
    run_runs(store).await;
    run_jobs(store).await;
    run_job_kinds(store).await;
    run_job_release(store).await;
    run_job_batches(store).await;
    run_job_group_completion(store).await;
    run_job_complete_and_claim(store).await;
    run_send(store).await;
    run_messages(store).await;
    run_outcomes(store).await;
    run_voice(store).await;
    run_secrets(store).await;
    run_settings(store).await;
    run_audit(store).await;
    run_erase(store).await;
    run_sequences(store).await;
}

fn address(local: &str) -> EmailAddress {
    // A fresh domain per address keeps per-domain limits and lookups independent of other runs.
    EmailAddress::parse(&format!("{local}@c{}.example", unique())).expect("valid address")
}

/// The same address with an upper-cased local part (lookups must ignore case).
fn shouting(e: &EmailAddress) -> EmailAddress {
    EmailAddress::parse(&format!(
        "{}@{}",
        e.local_part().to_ascii_uppercase(),
        e.domain()
    ))
    .expect("valid address")
}

fn submission(email: &EmailAddress) -> FormSubmission {
    let key = format!("conformance:{}", unique());
    FormSubmission {
        id: SubmissionId::new(),
        idempotency_key: key.clone(),
        source: SubmissionSource::Canonical,
        form_id: Some("demo".into()),
        page_url: Some("https://example.com/demo".into()),
        submitted_at: base_time(),
        received_at: base_time() + TimeDelta::seconds(1),
        lead: LeadFields {
            email: email.clone(),
            first_name: Some("Ada".into()),
            last_name: Some("Lovelace".into()),
            company: Some("Engines Ltd".into()),
            job_title: None,
            phone: None,
            message: Some("We need help.".into()),
            country: Some("UK".into()),
            time_zone: None,
            extra: BTreeMap::from([("utm_source".to_owned(), "ads".to_owned())]),
        },
        raw: format!(r#"{{"submission_id":"{key}","fields":{{"email":"{email}"}}}}"#),
    }
}

fn draft(submission: Option<SubmissionId>, contact: &EmailAddress, at: DateTime<Utc>) -> Draft {
    Draft {
        submission_id: submission,
        contact_name: Some("Ada Lovelace".into()),
        company_name: Some("Engines Ltd".into()),
        priority: 0.5,
        facts_used: vec!["form:message".into()],
        ..Draft::new(
            contact.clone(),
            EmailAddress::parse("seller@salesagent.example").expect("valid address"),
            "Your analytical engine",
            "Hi Ada,\n\nthanks for writing.\n\nBest,\nSam",
            DraftWriter::Template {
                reason: "conformance".into(),
            },
            at,
        )
    }
}

/// Submissions: stored verbatim, deduplicated by idempotency key even under concurrency.
pub async fn run_submissions<S: Store + ?Sized>(store: &S) {
    let sub = submission(&address("sub"));
    let (stored, new) = ok(store.save_submission(&sub).await, "save_submission");
    assert!(
        new,
        "submissions: a new idempotency key must be stored as new"
    );
    assert_eq!(
        stored, sub,
        "submissions: the stored submission must equal the one saved"
    );
    let again = FormSubmission {
        id: SubmissionId::new(),
        ..sub.clone()
    };
    let (dup, new) = ok(store.save_submission(&again).await, "save_submission again");
    assert!(!new, "submissions: the same key twice must not be new");
    assert_eq!(
        dup.id, sub.id,
        "submissions: a duplicate returns the first submission"
    );
    let got = ok(store.get_submission(sub.id).await, "get_submission");
    assert_eq!(
        got, sub,
        "submissions: get_submission must return what was saved"
    );
    let found = ok(
        store.find_submission(&sub.idempotency_key).await,
        "find_submission",
    );
    assert_eq!(found.map(|s| s.id), Some(sub.id));
    assert!(
        ok(store.find_submission(&unique()).await, "find_submission").is_none(),
        "submissions: an unknown key finds nothing"
    );
    expect_err(
        store.get_submission(SubmissionId::new()).await,
        "not_found",
        "submissions: get_submission of an unknown id",
    );

    // Concurrent saves with one key store exactly one.
    let key = format!("conformance:{}", unique());
    let copies: Vec<FormSubmission> = (0..8)
        .map(|_| FormSubmission {
            id: SubmissionId::new(),
            idempotency_key: key.clone(),
            ..sub.clone()
        })
        .collect();
    let results = join_all(copies.iter().map(|s| store.save_submission(s))).await;
    let results: Vec<(FormSubmission, bool)> = results
        .into_iter()
        .map(|r| ok(r, "concurrent save_submission"))
        .collect();
    let new_count = results.iter().filter(|(_, new)| *new).count();
    assert_eq!(
        new_count, 1,
        "submissions: 8 concurrent saves with one key must store exactly one"
    );
    let ids: BTreeSet<SubmissionId> = results.iter().map(|(s, _)| s.id).collect();
    assert_eq!(
        ids.len(),
        1,
        "submissions: every concurrent save returns the same submission"
    );
}

/// Drafts: one per submission, optimistic versions, events, lookups and listing.
pub async fn run_drafts<S: Store + ?Sized>(store: &S) {
    let contact = address("draft");
    let sub = submission(&contact);
    ok(store.save_submission(&sub).await, "save_submission");
    let mut d = draft(Some(sub.id), &contact, base_time());
    let created = d.created_event("system:pipeline");
    ok(store.insert_draft(&d, &created).await, "insert_draft");
    assert_eq!(
        ok(store.get_draft(d.id).await, "get_draft"),
        d,
        "drafts: get_draft returns the draft as inserted"
    );
    expect_err(
        store.insert_draft(&d, &created).await,
        "conflict",
        "drafts: inserting the same draft id twice",
    );
    let second = draft(Some(sub.id), &contact, base_time());
    expect_err(
        store
            .insert_draft(&second, &second.created_event("system:pipeline"))
            .await,
        "conflict",
        "drafts: a second draft for the same submission",
    );
    let by_sub = ok(
        store.find_draft_by_submission(sub.id).await,
        "find_draft_by_submission",
    );
    assert_eq!(
        by_sub.map(|x| x.id),
        Some(d.id),
        "drafts: find_draft_by_submission"
    );
    assert!(
        ok(
            store.find_draft_by_submission(SubmissionId::new()).await,
            "find_draft_by_submission"
        )
        .is_none()
    );
    expect_err(
        store.get_draft(DraftId::new()).await,
        "not_found",
        "drafts: get_draft of an unknown id",
    );

    // Optimistic concurrency.
    let stale = d.clone();
    let at = base_time() + TimeDelta::minutes(1);
    let ev = ok(
        d.apply(DraftAction::Approve, "operator:conformance", at),
        "apply approve",
    );
    ok(store.update_draft(&d, 1, &ev).await, "update_draft v1→v2");
    let mut stale_edit = stale;
    let ev2 = ok(
        stale_edit.apply(
            DraftAction::Edit {
                subject: Some("Other subject".into()),
                body: None,
            },
            "operator:other",
            at,
        ),
        "apply edit",
    );
    expect_err(
        store.update_draft(&stale_edit, 1, &ev2).await,
        "conflict",
        "drafts: update with a stale expected version",
    );
    let got = ok(store.get_draft(d.id).await, "get_draft");
    assert_eq!(
        (got.status, got.version, got.subject.as_str()),
        (DraftStatus::Approved, 2, d.subject.as_str()),
        "drafts: a stale update must not change the draft"
    );

    // Concurrent writers with the same expected version: exactly one wins.
    let writers: Vec<(Draft, crate::model::DraftEvent)> = (0..8)
        .map(|i| {
            let mut x = d.clone();
            let e = x
                .apply(
                    DraftAction::Edit {
                        subject: Some(format!("Subject {i}")),
                        body: None,
                    },
                    "operator:race",
                    at,
                )
                .expect("edit is legal");
            (x, e)
        })
        .collect();
    let results = join_all(writers.iter().map(|(x, e)| store.update_draft(x, 2, e))).await;
    let wins = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(
        wins, 1,
        "drafts: 8 concurrent updates of version 2 must let exactly one through"
    );
    for r in results.into_iter().filter(Result::is_err) {
        expect_err(r, "conflict", "drafts: a losing concurrent update");
    }
    d = ok(store.get_draft(d.id).await, "get_draft");
    assert_eq!(
        (d.version, d.status),
        (3, DraftStatus::Pending),
        "drafts: the winning edit is stored"
    );

    // Through to sending: lookup by Message-ID.
    let t = base_time() + TimeDelta::minutes(2);
    let ev = ok(
        d.apply(DraftAction::Approve, "operator:conformance", t),
        "approve",
    );
    ok(store.update_draft(&d, 3, &ev).await, "update approve");
    let mid = MessageId::parse(&format!("{}@salesagent.example", unique())).expect("valid id");
    let ev = ok(
        d.apply(
            DraftAction::BeginSend {
                message_id: mid.clone(),
                claim: None,
            },
            "system:sender",
            t,
        ),
        "begin_send",
    );
    ok(store.update_draft(&d, 4, &ev).await, "update begin_send");
    let by_mid = ok(
        store.find_draft_by_message_id(&mid).await,
        "find_draft_by_message_id",
    );
    assert_eq!(
        by_mid.as_ref().map(|x| x.id),
        Some(d.id),
        "drafts: find_draft_by_message_id"
    );
    assert_eq!(by_mid.map(|x| x.status), Some(DraftStatus::Sending));
    let other = MessageId::parse(&format!("{}@salesagent.example", unique())).expect("valid id");
    assert!(
        ok(
            store.find_draft_by_message_id(&other).await,
            "find_draft_by_message_id"
        )
        .is_none()
    );

    let events = ok(store.draft_events(d.id).await, "draft_events");
    assert_eq!(
        events.len(),
        5,
        "drafts: one event per insert/update (got {})",
        events.len()
    );
    assert!(
        events[0].before.is_none(),
        "drafts: the first event is the creation"
    );
    let versions: Vec<u32> = events.iter().map(|e| e.after.version).collect();
    assert_eq!(versions, vec![1, 2, 3, 4, 5], "drafts: events oldest first");

    // Listing: by contact (case-insensitive), status, newest first, limit.
    let later = draft(None, &contact, base_time() + TimeDelta::hours(1));
    ok(
        store
            .insert_draft(&later, &later.created_event("operator:conformance"))
            .await,
        "insert_draft without submission",
    );
    let listed = ok(
        store
            .list_drafts(&DraftFilter {
                contact: Some(shouting(&contact)),
                ..DraftFilter::default()
            })
            .await,
        "list_drafts",
    );
    let ids: Vec<DraftId> = listed.iter().map(|x| x.id).collect();
    assert_eq!(
        ids,
        vec![later.id, d.id],
        "drafts: list by contact, newest first, case-insensitive"
    );
    let pending = ok(
        store
            .list_drafts(&DraftFilter {
                contact: Some(contact.clone()),
                status: Some(DraftStatus::Pending),
                limit: 0,
            })
            .await,
        "list_drafts",
    );
    assert_eq!(
        pending.iter().map(|x| x.id).collect::<Vec<_>>(),
        vec![later.id],
        "drafts: status filter"
    );
    let one = ok(
        store
            .list_drafts(&DraftFilter {
                contact: Some(contact.clone()),
                status: None,
                limit: 1,
            })
            .await,
        "list_drafts",
    );
    assert_eq!(one.len(), 1, "drafts: limit");
    let counts = ok(store.draft_counts().await, "draft_counts");
    assert!(
        counts.get(&DraftStatus::Pending).copied().unwrap_or(0) >= 1,
        "drafts: counts include our pending draft"
    );
    assert!(
        counts.get(&DraftStatus::Sending).copied().unwrap_or(0) >= 1,
        "drafts: counts include our sending draft"
    );
}

/// A new draft stored with its run, audit entry and follow-up job: all or nothing.
pub async fn run_draft_records<S: Store + ?Sized>(store: &S) {
    let contact = address("record");
    let sub = submission(&contact);
    ok(store.save_submission(&sub).await, "save_submission");
    let kind = format!("conformance-follow-up-{}", unique());
    let record_parts = |d: &Draft| {
        let run = WorkflowRun {
            id: RunId::new(),
            submission_id: sub.id,
            draft_id: Some(d.id),
            status: RunStatus::Succeeded,
            started_at: base_time(),
            finished_at: Some(base_time() + TimeDelta::seconds(2)),
            steps: vec![StepRecord {
                name: "store_draft".into(),
                status: StepStatus::Ok,
                started_at: base_time(),
                finished_at: Some(base_time() + TimeDelta::seconds(2)),
                duration_ms: Some(2000),
                error: None,
                degraded_reason: None,
            }],
        };
        let audit = NewAuditEntry {
            actor: "system:pipeline".into(),
            action: "draft.create".into(),
            subject: d.id.to_string(),
            details: serde_json::json!({ "run_id": run.id }),
        };
        let job = NewJob::new(kind.clone(), serde_json::json!({ "draft_id": d.id }))
            .with_key(format!("{kind}:{}", d.id));
        (d.created_event("system:pipeline"), run, audit, job)
    };
    let audited = |entries: &[crate::model::AuditEntry], d: &Draft| {
        entries
            .iter()
            .filter(|e| e.subject == d.id.to_string() && e.action == "draft.create")
            .count()
    };
    let jobs_of_kind = || JobFilter {
        kind: Some(kind.clone()),
        ..JobFilter::default()
    };

    let first = draft(Some(sub.id), &contact, base_time());
    let (event, run, audit, job) = record_parts(&first);
    let record = crate::ports::NewDraftRecord {
        draft: &first,
        event: &event,
        run: &run,
        audit: &audit,
        follow_up: &job,
    };
    ok(
        store.insert_draft_record(&record).await,
        "insert_draft_record",
    );
    assert_eq!(
        ok(store.get_draft(first.id).await, "get_draft"),
        first,
        "draft records: the draft is stored as given"
    );
    assert_eq!(
        ok(store.draft_events(first.id).await, "draft_events"),
        vec![event.clone()],
        "draft records: the creation event is stored"
    );
    assert_eq!(
        ok(store.get_run(run.id).await, "get_run"),
        run,
        "draft records: the run is stored"
    );
    let entries = ok(store.audit_entries(0, 0).await, "audit_entries");
    assert_eq!(
        audited(&entries, &first),
        1,
        "draft records: one audit entry records the creation"
    );
    let chain = ok(store.verify_audit_chain().await, "verify_audit_chain");
    assert_eq!(
        chain.first_broken_seq, None,
        "draft records: the audit entry is chained"
    );
    let jobs = ok(store.list_jobs(&jobs_of_kind()).await, "list_jobs");
    assert_eq!(
        jobs.iter()
            .map(|j| j.idempotency_key.clone())
            .collect::<Vec<_>>(),
        vec![job.idempotency_key.clone()],
        "draft records: the follow-up job is queued"
    );
    assert_eq!(jobs[0].state, JobState::Queued, "draft records: job state");

    // A second draft for the same submission: a conflict, and none of its parts is stored.
    let second = draft(Some(sub.id), &contact, base_time());
    let (event2, run2, audit2, job2) = record_parts(&second);
    expect_err(
        store
            .insert_draft_record(&crate::ports::NewDraftRecord {
                draft: &second,
                event: &event2,
                run: &run2,
                audit: &audit2,
                follow_up: &job2,
            })
            .await,
        "conflict",
        "draft records: a second draft for the same submission",
    );
    expect_err(
        store.get_run(run2.id).await,
        "not_found",
        "draft records: the losing record's run is not stored",
    );
    let entries = ok(store.audit_entries(0, 0).await, "audit_entries");
    assert_eq!(
        audited(&entries, &second),
        0,
        "draft records: the losing record's audit entry is not stored"
    );
    assert_eq!(
        ok(store.list_jobs(&jobs_of_kind()).await, "list_jobs").len(),
        1,
        "draft records: the losing record's follow-up job is not queued"
    );

    // A follow-up whose key is already queued keeps that job.
    let other_contact = address("record-queued");
    let other_sub = submission(&other_contact);
    ok(store.save_submission(&other_sub).await, "save_submission");
    let third = draft(Some(other_sub.id), &other_contact, base_time());
    let (event3, run3, audit3, _) = record_parts(&third);
    let (queued, _) = ok(store.enqueue(&job).await, "enqueue");
    ok(
        store
            .insert_draft_record(&crate::ports::NewDraftRecord {
                draft: &third,
                event: &event3,
                run: &run3,
                audit: &audit3,
                follow_up: &job,
            })
            .await,
        "insert_draft_record with a queued follow-up key",
    );
    let jobs = ok(store.list_jobs(&jobs_of_kind()).await, "list_jobs");
    assert_eq!(
        jobs.iter().map(|j| j.id).collect::<Vec<_>>(),
        vec![queued.id],
        "draft records: an already queued follow-up is kept, not duplicated"
    );
    assert_eq!(
        ok(store.get_draft(third.id).await, "get_draft").id,
        third.id,
        "draft records: the draft is stored beside an already queued follow-up"
    );
}

/// A draft change stored with its audit entry and jobs: all or nothing, under the optimistic
/// version check.
pub async fn run_draft_updates<S: Store + ?Sized>(store: &S) {
    use crate::ports::DraftUpdate;
    let contact = address("update");
    let kind = format!("conformance-update-{}", unique());
    let audit_of = |d: &Draft, action: &str| NewAuditEntry {
        actor: "operator:conformance".into(),
        action: action.into(),
        subject: d.id.to_string(),
        details: serde_json::json!({ "version": d.version }),
    };
    let job_of = |d: &Draft, n: u32| {
        NewJob::new(kind.clone(), serde_json::json!({ "draft_id": d.id }))
            .with_key(format!("{kind}:{}:{n}", d.id))
    };
    let audited = |entries: &[crate::model::AuditEntry], d: &Draft, action: &str| {
        entries
            .iter()
            .filter(|e| e.subject == d.id.to_string() && e.action == action)
            .count()
    };
    let jobs_of_kind = || JobFilter {
        kind: Some(kind.clone()),
        ..JobFilter::default()
    };

    let mut d = draft(None, &contact, base_time());
    ok(
        store
            .insert_draft(&d, &d.created_event("system:pipeline"))
            .await,
        "insert_draft",
    );
    let original = d.clone();
    let at = base_time() + TimeDelta::minutes(1);

    // Approve + audit entry + two jobs, one of whose keys is already queued: that job is kept.
    let approve = ok(
        d.apply(DraftAction::Approve, "operator:conformance", at),
        "apply approve",
    );
    let audit = audit_of(&d, "draft.approve");
    let jobs = [job_of(&d, 1), job_of(&d, 2)];
    let (queued, _) = ok(store.enqueue(&jobs[1]).await, "enqueue");
    ok(
        store
            .update_draft_record(&DraftUpdate {
                draft: &d,
                expected_version: 1,
                event: &approve,
                audit: Some(&audit),
                jobs: &jobs,
            })
            .await,
        "update_draft_record",
    );
    assert_eq!(
        ok(store.get_draft(d.id).await, "get_draft"),
        d,
        "draft updates: the draft is stored as given"
    );
    assert_eq!(
        ok(store.draft_events(d.id).await, "draft_events").last(),
        Some(&approve),
        "draft updates: the event is stored"
    );
    let entries = ok(store.audit_entries(0, 0).await, "audit_entries");
    assert_eq!(
        audited(&entries, &d, "draft.approve"),
        1,
        "draft updates: one audit entry records the change"
    );
    assert_eq!(
        ok(store.verify_audit_chain().await, "verify_audit_chain").first_broken_seq,
        None,
        "draft updates: the audit entry is chained"
    );
    let stored = ok(store.list_jobs(&jobs_of_kind()).await, "list_jobs");
    let keys: BTreeSet<Option<String>> = stored.iter().map(|j| j.idempotency_key.clone()).collect();
    assert_eq!(
        keys,
        BTreeSet::from([
            jobs[0].idempotency_key.clone(),
            jobs[1].idempotency_key.clone()
        ]),
        "draft updates: every job is queued once"
    );
    assert!(
        stored.iter().all(|j| j.state == JobState::Queued),
        "draft updates: the jobs are queued"
    );
    assert!(
        stored.iter().any(|j| j.id == queued.id),
        "draft updates: an already queued job with the same key is kept, not duplicated"
    );

    // A stale version: a conflict, and nothing of the update is stored.
    let mut stale = original.clone();
    let edit = ok(
        stale.apply(
            DraftAction::Edit {
                subject: Some("Stale subject".into()),
                body: None,
            },
            "operator:stale",
            at,
        ),
        "apply edit",
    );
    let stale_jobs = [job_of(&stale, 3)];
    expect_err(
        store
            .update_draft_record(&DraftUpdate {
                draft: &stale,
                expected_version: 1,
                event: &edit,
                audit: Some(&audit_of(&stale, "draft.stale_edit")),
                jobs: &stale_jobs,
            })
            .await,
        "conflict",
        "draft updates: a stale expected version",
    );
    let events = ok(store.draft_events(d.id).await, "draft_events").len();
    let d_ref = &d;
    let check_untouched = |what: &'static str| async move {
        let d = d_ref;
        assert_eq!(
            ok(store.get_draft(d.id).await, "get_draft").version,
            2,
            "draft updates: {what}: the draft is unchanged"
        );
        assert_eq!(
            ok(store.draft_events(d.id).await, "draft_events").len(),
            events,
            "draft updates: {what}: no event is stored"
        );
        let entries = ok(store.audit_entries(0, 0).await, "audit_entries");
        assert_eq!(
            audited(&entries, d, "draft.stale_edit"),
            0,
            "draft updates: {what}: no audit entry is stored"
        );
        assert_eq!(
            ok(store.list_jobs(&jobs_of_kind()).await, "list_jobs").len(),
            2,
            "draft updates: {what}: no job is queued"
        );
    };
    check_untouched("a stale version").await;

    // A job with an empty kind: refused, nothing stored.
    let mut next = d.clone();
    let edit = ok(
        next.apply(
            DraftAction::Edit {
                subject: Some("Next subject".into()),
                body: None,
            },
            "operator:conformance",
            at,
        ),
        "apply edit",
    );
    let bad_jobs = [job_of(&next, 4), NewJob::new(" ", serde_json::json!({}))];
    expect_err(
        store
            .update_draft_record(&DraftUpdate {
                draft: &next,
                expected_version: 2,
                event: &edit,
                audit: Some(&audit_of(&next, "draft.stale_edit")),
                jobs: &bad_jobs,
            })
            .await,
        "invalid_input",
        "draft updates: a job with an empty kind",
    );
    check_untouched("an invalid job").await;

    // An unknown draft.
    let mut unknown = draft(None, &contact, base_time());
    let ev = ok(
        unknown.apply(DraftAction::Approve, "operator:conformance", at),
        "apply approve",
    );
    expect_err(
        store
            .update_draft_record(&DraftUpdate {
                draft: &unknown,
                expected_version: 1,
                event: &ev,
                audit: Some(&audit_of(&unknown, "draft.approve")),
                jobs: &[job_of(&unknown, 5)],
            })
            .await,
        "not_found",
        "draft updates: an unknown draft",
    );
    let entries = ok(store.audit_entries(0, 0).await, "audit_entries");
    assert_eq!(
        audited(&entries, &unknown, "draft.approve"),
        0,
        "draft updates: an unknown draft's audit entry is not stored"
    );

    // Without audit entry or jobs it is `update_draft`.
    ok(
        store
            .update_draft_record(&DraftUpdate {
                draft: &next,
                expected_version: 2,
                event: &edit,
                audit: None,
                jobs: &[],
            })
            .await,
        "update_draft_record without audit or jobs",
    );
    d = ok(store.get_draft(d.id).await, "get_draft");
    assert_eq!(d, next, "draft updates: a bare update is stored");

    // Concurrent updates of one version: exactly one is stored, with its audit entry and job.
    let writers: Vec<(Draft, crate::model::DraftEvent, NewAuditEntry, [NewJob; 1])> = (0..8)
        .map(|i| {
            let mut x = d.clone();
            let e = x
                .apply(
                    DraftAction::Edit {
                        subject: Some(format!("Race {i}")),
                        body: None,
                    },
                    "operator:race",
                    at,
                )
                .expect("edit is legal");
            let audit = audit_of(&x, "draft.race");
            let job = job_of(&x, 10 + i);
            (x, e, audit, [job])
        })
        .collect();
    let updates: Vec<DraftUpdate<'_>> = writers
        .iter()
        .map(|(x, e, a, j)| DraftUpdate {
            draft: x,
            expected_version: 3,
            event: e,
            audit: Some(a),
            jobs: j,
        })
        .collect();
    let results = join_all(updates.iter().map(|u| store.update_draft_record(u))).await;
    let winners: Vec<usize> = results
        .iter()
        .enumerate()
        .filter(|(_, r)| r.is_ok())
        .map(|(i, _)| i)
        .collect();
    assert_eq!(
        winners.len(),
        1,
        "draft updates: 8 concurrent updates of one version must let exactly one through"
    );
    for r in results.into_iter().filter(Result::is_err) {
        expect_err(r, "conflict", "draft updates: a losing concurrent update");
    }
    let (winner, _, _, winner_job) = &writers[winners[0]];
    assert_eq!(
        ok(store.get_draft(d.id).await, "get_draft").subject,
        winner.subject,
        "draft updates: the winning update is stored"
    );
    let entries = ok(store.audit_entries(0, 0).await, "audit_entries");
    assert_eq!(
        audited(&entries, &d, "draft.race"),
        1,
        "draft updates: only the winner's audit entry is stored"
    );
    assert_eq!(
        ok(store.verify_audit_chain().await, "verify_audit_chain").first_broken_seq,
        None,
        "draft updates: concurrent updates keep the audit chain intact"
    );
    let raced: Vec<Option<String>> = ok(store.list_jobs(&jobs_of_kind()).await, "list_jobs")
        .into_iter()
        .map(|j| j.idempotency_key)
        .filter(|k| !keys.contains(k))
        .collect();
    assert_eq!(
        raced,
        vec![winner_job[0].idempotency_key.clone()],
        "draft updates: only the winner's job is queued"
    );
}

/// Workflow runs: save (insert or replace), get, list per submission.
pub async fn run_runs<S: Store + ?Sized>(store: &S) {
    let sub = SubmissionId::new();
    let step = StepRecord {
        name: "resolve_contact".into(),
        status: StepStatus::Ok,
        started_at: base_time(),
        finished_at: Some(base_time() + TimeDelta::seconds(1)),
        duration_ms: Some(1000),
        error: None,
        degraded_reason: None,
    };
    let mut first = WorkflowRun {
        id: RunId::new(),
        submission_id: sub,
        draft_id: None,
        status: RunStatus::Running,
        started_at: base_time(),
        finished_at: None,
        steps: vec![step.clone()],
    };
    ok(store.save_run(&first).await, "save_run");
    assert_eq!(
        ok(store.get_run(first.id).await, "get_run"),
        first,
        "runs: get_run returns the run saved"
    );
    first.status = RunStatus::Succeeded;
    first.finished_at = Some(base_time() + TimeDelta::seconds(5));
    first.steps.push(StepRecord {
        name: "mail_history".into(),
        status: StepStatus::Degraded,
        error: Some("mailbox unavailable".into()),
        degraded_reason: Some("continued without history".into()),
        ..step
    });
    ok(store.save_run(&first).await, "save_run replace");
    assert_eq!(
        ok(store.get_run(first.id).await, "get_run"),
        first,
        "runs: save_run replaces"
    );
    let second = WorkflowRun {
        id: RunId::new(),
        started_at: base_time() + TimeDelta::minutes(1),
        ..first.clone()
    };
    ok(store.save_run(&second).await, "save_run");
    let runs = ok(store.runs_for_submission(sub).await, "runs_for_submission");
    assert_eq!(
        runs.iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![first.id, second.id],
        "runs: runs_for_submission, oldest first"
    );
    expect_err(
        store.get_run(RunId::new()).await,
        "not_found",
        "runs: get_run of an unknown id",
    );
}

fn failure(retryable: bool, retry_after: Option<Duration>) -> JobFailure {
    JobFailure {
        error: "conformance failure".into(),
        retryable,
        retry_after,
    }
}

/// The job queue: idempotent enqueue, exclusive claims, leases, backoff, dead letters.
pub async fn run_jobs<S: Store + ?Sized>(store: &S) {
    let kind = format!("conformance-{}", unique());
    let kinds = std::slice::from_ref(&kind);
    let lease = Duration::from_secs(30);
    let payload = serde_json::json!({ "n": 1 });

    // Enqueue idempotency.
    let key = format!("conformance:{}", unique());
    let (a, new) = ok(
        store
            .enqueue(&NewJob::new(&kind, payload.clone()).with_key(&key))
            .await,
        "enqueue",
    );
    assert!(new, "jobs: a new key creates a job");
    assert_eq!(
        (a.state, a.attempts, a.kind.as_str()),
        (JobState::Queued, 0, kind.as_str()),
        "jobs: a new job is queued with no attempts"
    );
    let (a2, new) = ok(
        store
            .enqueue(&NewJob::new(&kind, payload.clone()).with_key(&key))
            .await,
        "enqueue again",
    );
    assert!(
        !new,
        "jobs: the same idempotency key must not create a second job"
    );
    assert_eq!(a2.id, a.id, "jobs: the same key returns the first job");
    let (b, _) = ok(
        store.enqueue(&NewJob::new(&kind, payload.clone())).await,
        "enqueue",
    );
    let (c, _) = ok(
        store.enqueue(&NewJob::new(&kind, payload.clone())).await,
        "enqueue",
    );
    assert!(b.id != c.id, "jobs: jobs without a key are never merged");
    let listed = ok(
        store
            .list_jobs(&JobFilter {
                kind: Some(kind.clone()),
                ..JobFilter::default()
            })
            .await,
        "list_jobs",
    );
    assert_eq!(
        listed.iter().map(|j| j.id).collect::<BTreeSet<_>>(),
        BTreeSet::from([a.id, b.id, c.id]),
        "jobs: list_jobs by kind"
    );
    let counts = ok(store.job_counts().await, "job_counts");
    assert!(
        counts.get(&JobState::Queued).copied().unwrap_or(0) >= 3,
        "jobs: counts include our queued jobs"
    );

    // Kinds filter and future jobs.
    let other_kind = format!("conformance-other-{}", unique());
    let (later, _) = ok(
        store
            .enqueue(
                &NewJob::new(&other_kind, payload.clone())
                    .run_at(base_time() + TimeDelta::days(365 * 100)),
            )
            .await,
        "enqueue future",
    );
    assert!(
        ok(
            store
                .claim("w", std::slice::from_ref(&other_kind), lease)
                .await,
            "claim"
        )
        .is_none(),
        "jobs: a job due in the future must not be claimed"
    );
    assert_eq!(
        ok(store.get_job(later.id).await, "get_job").state,
        JobState::Queued
    );

    // Oldest runnable first (by due time), whatever the enqueue order.
    let order_kind = format!("conformance-order-{}", unique());
    let ok_kinds = std::slice::from_ref(&order_kind);
    let long_ago = chrono::TimeZone::with_ymd_and_hms(&Utc, 2001, 1, 1, 0, 0, 0)
        .single()
        .expect("valid date");
    let (younger, _) = ok(
        store
            .enqueue(
                &NewJob::new(&order_kind, payload.clone()).run_at(long_ago + TimeDelta::hours(1)),
            )
            .await,
        "enqueue",
    );
    let (older, _) = ok(
        store
            .enqueue(&NewJob::new(&order_kind, payload.clone()).run_at(long_ago))
            .await,
        "enqueue",
    );
    for expected in [older.id, younger.id] {
        let c = ok(store.claim("w", ok_kinds, lease).await, "claim").expect("a due job");
        assert_eq!(
            c.job.id, expected,
            "jobs: claim takes the oldest runnable job first"
        );
        ok(store.complete(&c.lease).await, "complete");
    }

    // N concurrent claimers never get the same job.
    let workers: Vec<String> = (0..8).map(|i| format!("worker-{i}")).collect();
    let claims = join_all(workers.iter().map(|w| store.claim(w, kinds, lease))).await;
    let claimed: Vec<crate::model::ClaimedJob> = claims
        .into_iter()
        .filter_map(|r| ok(r, "concurrent claim"))
        .collect();
    assert_eq!(
        claimed.len(),
        3,
        "jobs: 8 concurrent claimers over 3 jobs must claim exactly 3"
    );
    let ids: BTreeSet<_> = claimed.iter().map(|c| c.job.id).collect();
    assert_eq!(ids.len(), 3, "jobs: no job may be claimed twice");
    for c in &claimed {
        assert_eq!(
            c.job.state,
            JobState::Running,
            "jobs: a claimed job is running"
        );
        assert_eq!(c.job.attempts, 1, "jobs: a claim counts an attempt");
        assert_eq!(c.lease.job_id, c.job.id);
        assert_eq!(
            Some(&c.lease.owner),
            c.job.lease_owner.as_ref(),
            "jobs: the lease names its owner"
        );
    }
    assert!(
        ok(store.claim("w", kinds, lease).await, "claim").is_none(),
        "jobs: nothing left to claim"
    );

    // Complete, heartbeat.
    let (first, second, third) = (&claimed[0], &claimed[1], &claimed[2]);
    ok(store.complete(&first.lease).await, "complete");
    assert_eq!(
        ok(store.get_job(first.job.id).await, "get_job").state,
        JobState::Done,
        "jobs: completed job is done"
    );
    expect_err(
        store.complete(&first.lease).await,
        "conflict",
        "jobs: completing twice",
    );
    let extended = ok(
        store
            .heartbeat(&second.lease, Duration::from_secs(120))
            .await,
        "heartbeat",
    );
    assert!(
        extended.expires_at >= second.lease.expires_at,
        "jobs: heartbeat extends the lease"
    );
    assert_eq!(
        extended.token, second.lease.token,
        "jobs: heartbeat keeps the token"
    );
    ok(store.complete(&extended).await, "complete after heartbeat");

    // Non-retryable failure: dead at once; requeue_dead gives a fresh budget.
    let dead = ok(
        store.fail(&third.lease, &failure(false, None)).await,
        "fail",
    );
    assert_eq!(
        dead.state,
        JobState::Dead,
        "jobs: a non-retryable failure dead-letters at once"
    );
    assert_eq!(
        dead.last_error.as_deref(),
        Some("conformance failure"),
        "jobs: the error is kept"
    );
    expect_err(
        store.fail(&third.lease, &failure(true, None)).await,
        "conflict",
        "jobs: failing with a finished lease",
    );
    let requeued = ok(store.requeue_dead(dead.id).await, "requeue_dead");
    assert_eq!(
        (requeued.state, requeued.attempts),
        (JobState::Queued, 0),
        "jobs: requeue_dead resets the budget"
    );
    expect_err(
        store.requeue_dead(dead.id).await,
        "conflict",
        "jobs: requeue_dead of a queued job",
    );
    expect_err(
        store.requeue_dead(crate::model::JobId::new()).await,
        "not_found",
        "jobs: requeue_dead of an unknown job",
    );
    expect_err(
        store.get_job(crate::model::JobId::new()).await,
        "not_found",
        "jobs: get_job of an unknown job",
    );
    let again = ok(store.claim("w", kinds, lease).await, "claim requeued")
        .expect("the requeued job is runnable");
    assert_eq!(again.job.id, dead.id);
    ok(store.complete(&again.lease).await, "complete requeued");

    // Lease expiry: another worker reclaims; the old lease can do nothing.
    let (j, _) = ok(
        store.enqueue(&NewJob::new(&kind, payload.clone())).await,
        "enqueue",
    );
    let old = ok(
        store.claim("slow", kinds, Duration::from_millis(100)).await,
        "claim short lease",
    )
    .expect("job is runnable");
    assert_eq!(old.job.id, j.id);
    tokio::time::sleep(Duration::from_millis(400)).await;
    let new = ok(store.claim("fast", kinds, lease).await, "reclaim")
        .expect("an expired lease must be reclaimable");
    assert_eq!(new.job.id, j.id, "jobs: the expired job is reclaimed");
    assert!(
        new.lease.token != old.lease.token,
        "jobs: a reclaim issues a new lease token"
    );
    assert_eq!(new.job.attempts, 2, "jobs: a reclaim counts an attempt");
    expect_err(
        store.complete(&old.lease).await,
        "conflict",
        "jobs: completing with a stale lease",
    );
    expect_err(
        store.heartbeat(&old.lease, lease).await,
        "conflict",
        "jobs: heartbeat with a stale lease",
    );
    expect_err(
        store.fail(&old.lease, &failure(true, None)).await,
        "conflict",
        "jobs: failing with a stale lease",
    );
    ok(
        store.complete(&new.lease).await,
        "complete with the new lease",
    );

    // Retry-After is a floor for the backoff.
    let (r, _) = ok(
        store.enqueue(&NewJob::new(&kind, payload.clone())).await,
        "enqueue",
    );
    let cl = ok(store.claim("w", kinds, lease).await, "claim").expect("runnable");
    assert_eq!(cl.job.id, r.id);
    let queued = ok(
        store
            .fail(&cl.lease, &failure(true, Some(Duration::from_secs(3600))))
            .await,
        "fail with retry_after",
    );
    assert_eq!(
        queued.state,
        JobState::Queued,
        "jobs: a retryable failure with attempts left is queued again"
    );
    assert!(
        queued.run_at - queued.updated_at >= TimeDelta::seconds(3599),
        "jobs: the backoff must be at least the Retry-After (run_at {}, updated_at {})",
        queued.run_at,
        queued.updated_at
    );
    assert!(
        ok(store.claim("w", kinds, lease).await, "claim").is_none(),
        "jobs: a backed-off job is not due"
    );

    // Backoff, then dead after max_attempts.
    let backoff_kind = format!("conformance-backoff-{}", unique());
    let bk = std::slice::from_ref(&backoff_kind);
    let (x, _) = ok(
        store
            .enqueue(&NewJob::new(&backoff_kind, payload.clone()).with_max_attempts(2))
            .await,
        "enqueue",
    );
    let cl = ok(store.claim("w", bk, lease).await, "claim").expect("runnable");
    let queued = ok(
        store.fail(&cl.lease, &failure(true, None)).await,
        "fail retryable",
    );
    assert_eq!(
        (queued.state, queued.attempts),
        (JobState::Queued, 1),
        "jobs: first retryable failure requeues"
    );
    assert!(
        queued.run_at > queued.updated_at,
        "jobs: a retried job backs off (run_at after the failure)"
    );
    let wait = (queued.run_at - queued.updated_at)
        .to_std()
        .unwrap_or_default();
    if wait > Duration::from_secs(20) {
        println!(
            "store conformance: backoff of {wait:?} is over 20 s; skipping the dead-after-max-attempts check"
        );
        return;
    }
    tokio::time::sleep(wait + Duration::from_millis(300)).await;
    let cl = ok(store.claim("w", bk, lease).await, "claim after backoff")
        .expect("the job is due after its backoff");
    assert_eq!((cl.job.id, cl.job.attempts), (x.id, 2));
    let dead = ok(
        store.fail(&cl.lease, &failure(true, None)).await,
        "fail last attempt",
    );
    assert_eq!(
        dead.state,
        JobState::Dead,
        "jobs: out of attempts means dead"
    );
    let dead_list = ok(
        store
            .list_jobs(&JobFilter {
                state: Some(JobState::Dead),
                kind: Some(backoff_kind.clone()),
                limit: 0,
            })
            .await,
        "list_jobs dead",
    );
    assert_eq!(
        dead_list.iter().map(|j| j.id).collect::<Vec<_>>(),
        vec![x.id],
        "jobs: list_jobs by state and kind"
    );
}

/// Claims for a list of kinds: the oldest runnable job of any of them, never a job of another
/// kind, each job to exactly one of many concurrent claimers.
pub async fn run_job_kinds<S: Store + ?Sized>(store: &S) {
    let lease = Duration::from_secs(30);
    let [a, b, other] = ["a", "b", "other"].map(|k| format!("conformance-kinds-{k}-{}", unique()));
    let long_ago = chrono::TimeZone::with_ymd_and_hms(&Utc, 2002, 1, 1, 0, 0, 0)
        .single()
        .expect("valid date");
    let enqueue_at = |kind: &String, at: DateTime<Utc>| {
        let job = NewJob::new(kind.clone(), serde_json::json!({})).run_at(at);
        async move { store.enqueue(&job).await }
    };
    // Another kind's jobs are due first; nobody here asks for them.
    for i in 0..20 {
        ok(
            enqueue_at(
                &other,
                long_ago - TimeDelta::hours(1) + TimeDelta::seconds(i),
            )
            .await,
            "enqueue other kind",
        );
    }
    let (a2, _) = ok(
        enqueue_at(&a, long_ago + TimeDelta::hours(2)).await,
        "enqueue",
    );
    let (b1, _) = ok(
        enqueue_at(&b, long_ago + TimeDelta::hours(1)).await,
        "enqueue",
    );
    let (a0, _) = ok(enqueue_at(&a, long_ago).await, "enqueue");
    let (future, _) = ok(
        enqueue_at(&b, base_time() + TimeDelta::days(365 * 100)).await,
        "enqueue future",
    );
    // Duplicates and order of the kinds do not matter.
    let kinds = [b.clone(), a.clone(), b.clone()];
    for expected in [a0.id, b1.id, a2.id] {
        let c = ok(store.claim("w", &kinds, lease).await, "claim")
            .expect("a due job of the kinds asked for");
        assert_eq!(
            c.job.id, expected,
            "job kinds: claim takes the oldest runnable job of any kind asked for"
        );
        ok(store.complete(&c.lease).await, "complete");
    }
    assert!(
        ok(store.claim("w", &kinds, lease).await, "claim").is_none(),
        "job kinds: jobs of other kinds and future jobs are not claimed"
    );
    assert_eq!(
        ok(store.get_job(future.id).await, "get_job").state,
        JobState::Queued
    );
    let others = ok(
        store
            .list_jobs(&JobFilter {
                kind: Some(other.clone()),
                ..JobFilter::default()
            })
            .await,
        "list_jobs",
    );
    assert!(
        others.len() == 20 && others.iter().all(|j| j.state == JobState::Queued),
        "job kinds: jobs of a kind nobody asked for stay queued"
    );

    // Many concurrent claimers over two kinds: every job once, none left behind.
    let mut ids = BTreeSet::new();
    for i in 0..3 {
        for kind in [&a, &b] {
            let (j, _) = ok(
                enqueue_at(kind, long_ago + TimeDelta::minutes(i)).await,
                "enqueue",
            );
            ids.insert(j.id);
        }
    }
    let workers: Vec<String> = (0..12).map(|i| format!("kinds-worker-{i}")).collect();
    let claims = join_all(workers.iter().map(|w| store.claim(w, &kinds, lease))).await;
    let claimed: Vec<crate::model::ClaimedJob> = claims
        .into_iter()
        .filter_map(|r| ok(r, "concurrent claim"))
        .collect();
    let got: BTreeSet<_> = claimed.iter().map(|c| c.job.id).collect();
    assert_eq!(
        (claimed.len(), got),
        (6, ids),
        "job kinds: 12 concurrent claimers over 6 jobs of two kinds claim each exactly once"
    );
    for c in &claimed {
        ok(store.complete(&c.lease).await, "complete");
    }
}

/// Releasing a claimed job (no attempt used up) and waking a scheduled one.
pub async fn run_job_release<S: Store + ?Sized>(store: &S) {
    let kind = format!("conformance-release-{}", unique());
    let kinds = std::slice::from_ref(&kind);
    let lease = Duration::from_secs(30);
    let key = format!("conformance-release:{}", unique());
    let later = base_time() + TimeDelta::days(365 * 100);
    let (job, _) = ok(
        store
            .enqueue(
                &NewJob::new(&kind, serde_json::json!({ "n": 1 }))
                    .with_key(&key)
                    .with_max_attempts(3),
            )
            .await,
        "enqueue",
    );
    let first = ok(store.claim("w", kinds, lease).await, "claim").expect("a due job");
    assert_eq!((first.job.id, first.job.attempts), (job.id, 1));

    // Released to a later time: queued, the attempt given back, the lease gone.
    let released = ok(store.release(&first.lease, later).await, "release");
    assert_eq!(
        (released.state, released.attempts, released.run_at),
        (JobState::Queued, 0, later),
        "job release: queued again at the given time without using up an attempt"
    );
    assert_eq!(
        (
            &released.lease_owner,
            released.lease_expires_at,
            &released.last_error
        ),
        (&None, None, &None),
        "job release: the lease is cleared"
    );
    assert_eq!(
        ok(store.get_job(job.id).await, "get_job"),
        released,
        "job release: returns the job as stored"
    );
    assert!(
        ok(store.claim("w", kinds, lease).await, "claim").is_none(),
        "job release: a job released to a later time is not due"
    );
    expect_err(
        store.release(&first.lease, base_time()).await,
        "conflict",
        "job release: releasing twice",
    );
    expect_err(
        store.complete(&first.lease).await,
        "conflict",
        "job release: completing a released job's lease",
    );
    expect_err(
        store
            .release(
                &crate::model::Lease {
                    job_id: crate::model::JobId::new(),
                    token: crate::model::LeaseToken::new(),
                    owner: "w".into(),
                    expires_at: later,
                },
                base_time(),
            )
            .await,
        "not_found",
        "job release: an unknown job",
    );

    // Waking: unknown keys find nothing; a later `at` leaves an earlier due time alone.
    assert!(
        ok(store.wake(&unique(), base_time()).await, "wake").is_none(),
        "job wake: an unknown key"
    );
    let unchanged =
        ok(store.wake(&key, later + TimeDelta::days(1)).await, "wake").expect("the job exists");
    assert_eq!(
        unchanged.run_at, later,
        "job wake: a job due before `at` keeps its time"
    );
    let woken = ok(store.wake(&key, base_time()).await, "wake").expect("the job exists");
    assert_eq!(
        (woken.id, woken.state, woken.run_at),
        (job.id, JobState::Queued, base_time()),
        "job wake: a scheduled job becomes due at `at`"
    );
    let second = ok(store.claim("w", kinds, lease).await, "claim").expect("the woken job is due");
    assert_eq!(
        (second.job.id, second.job.attempts),
        (job.id, 1),
        "job release: the released attempt was given back"
    );
    assert!(second.lease.token != first.lease.token);
    expect_err(
        store.release(&first.lease, base_time()).await,
        "conflict",
        "job release: a stale lease cannot release the job another worker holds",
    );
    let running = ok(
        store.wake(&key, base_time() - TimeDelta::days(1)).await,
        "wake",
    )
    .expect("the job exists");
    assert_eq!(
        (running.state, running.run_at),
        (JobState::Running, base_time()),
        "job wake: a running job is left alone"
    );

    // A failed attempt's error survives a release; released now, the job is due at once.
    let failed = ok(
        store.fail(&second.lease, &failure(true, None)).await,
        "fail",
    );
    assert_eq!(failed.state, JobState::Queued);
    ok(store.wake(&key, base_time()).await, "wake");
    let third = ok(store.claim("w", kinds, lease).await, "claim").expect("the woken job is due");
    assert_eq!(third.job.attempts, 2);
    let released = ok(store.release(&third.lease, base_time()).await, "release");
    assert_eq!(
        (released.attempts, released.last_error.as_deref()),
        (1, Some("conformance failure")),
        "job release: the attempt is given back and the last error kept"
    );
    let fourth = ok(store.claim("other", kinds, lease).await, "claim")
        .expect("a job released to a past time is due at once");
    assert_eq!((fourth.job.id, fourth.job.attempts), (job.id, 2));
    ok(store.complete(&fourth.lease).await, "complete");
    let done = ok(
        store.wake(&key, base_time() - TimeDelta::days(1)).await,
        "wake",
    )
    .expect("the job exists");
    assert_eq!(
        (done.state, done.run_at),
        (JobState::Done, base_time()),
        "job wake: a finished job is left alone"
    );
}

/// The error kind of one completion outcome (`"ok"` for a completed lease), as the batch
/// completion cases compare them.
fn outcome_kind(o: &crate::Result<()>) -> String {
    match o {
        Ok(()) => "ok".to_owned(),
        Err(e) => e.kind().to_owned(),
    }
}

/// Two leases no completion may honour: `held`'s job under a token nobody was given (stale),
/// and `any`'s lease on a job that does not exist (unknown).
fn stale_and_unknown(
    held: &crate::model::Lease,
    any: &crate::model::Lease,
) -> (crate::model::Lease, crate::model::Lease) {
    let stale = crate::model::Lease {
        token: crate::model::LeaseToken::new(),
        ..held.clone()
    };
    let unknown = crate::model::Lease {
        job_id: crate::model::JobId::new(),
        ..any.clone()
    };
    (stale, unknown)
}

/// Claims up to 10 runnable jobs of `kinds` as worker `slow` under a 100 ms lease and waits
/// until that lease has expired; the jobs it claimed.
async fn claim_and_let_expire<S: Store + ?Sized>(
    store: &S,
    kinds: &[String],
) -> Vec<crate::model::ClaimedJob> {
    let slow = ok(
        store
            .claim_batch("slow", kinds, Duration::from_millis(100), 10)
            .await,
        "claim_batch short lease",
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    slow
}

/// Every job of `kind` (up to the default page).
async fn jobs_of_kind<S: Store + ?Sized>(store: &S, kind: &str) -> Vec<crate::model::Job> {
    ok(
        store
            .list_jobs(&JobFilter {
                kind: Some(kind.to_owned()),
                ..JobFilter::default()
            })
            .await,
        "list_jobs",
    )
}

/// Batch claims: up to `max` runnable jobs at once, oldest first, only of the kinds asked for,
/// each its own lease; expired leases reclaimed; under concurrency every job claimed exactly
/// once and none left behind.
pub async fn run_job_batches<S: Store + ?Sized>(store: &S) {
    let lease = Duration::from_secs(30);
    let [kind, second, other] =
        ["one", "two", "other"].map(|k| format!("conformance-batch-{k}-{}", unique()));
    let kinds = std::slice::from_ref(&kind);
    let long_ago = chrono::TimeZone::with_ymd_and_hms(&Utc, 2003, 1, 1, 0, 0, 0)
        .single()
        .expect("valid date");
    let enqueue_at = |kind: &String, at: DateTime<Utc>| {
        let job = NewJob::new(kind.clone(), serde_json::json!({ "batch": true })).run_at(at);
        async move { ok(store.enqueue(&job).await, "enqueue").0 }
    };
    // Five due jobs enqueued out of order, one due in a century, and older jobs of a kind
    // nobody asks for.
    for i in 0..5 {
        enqueue_at(
            &other,
            long_ago - TimeDelta::hours(1) + TimeDelta::seconds(i),
        )
        .await;
    }
    let mut due = Vec::new();
    for m in [3, 0, 4, 1, 2] {
        due.push(enqueue_at(&kind, long_ago + TimeDelta::minutes(m)).await);
    }
    due.sort_by_key(|j| j.run_at);
    let future = enqueue_at(&kind, base_time() + TimeDelta::days(365 * 100)).await;

    assert!(
        ok(
            store.claim_batch("w", kinds, lease, 0).await,
            "claim_batch 0"
        )
        .is_empty(),
        "job batches: a batch of 0 claims nothing"
    );
    let first = ok(store.claim_batch("w", kinds, lease, 3).await, "claim_batch");
    assert_eq!(
        first.iter().map(|c| c.job.id).collect::<Vec<_>>(),
        due[..3].iter().map(|j| j.id).collect::<Vec<_>>(),
        "job batches: up to max jobs, the oldest runnable first"
    );
    let rest = ok(
        store.claim_batch("w", kinds, lease, 10).await,
        "claim_batch",
    );
    assert_eq!(
        rest.iter().map(|c| c.job.id).collect::<Vec<_>>(),
        due[3..].iter().map(|j| j.id).collect::<Vec<_>>(),
        "job batches: fewer than max when fewer are runnable; never a future job"
    );
    assert!(
        ok(
            store.claim_batch("w", kinds, lease, 10).await,
            "claim_batch"
        )
        .is_empty(),
        "job batches: nothing runnable left"
    );
    for c in first.iter().chain(&rest) {
        assert_eq!(
            (c.job.state, c.job.attempts, c.lease.job_id),
            (JobState::Running, 1, c.job.id),
            "job batches: each claimed job is running, with an attempt counted, under its lease"
        );
        assert_eq!(
            (c.job.lease_owner.as_deref(), c.lease.owner.as_str()),
            (Some("w"), "w"),
            "job batches: the lease names its owner"
        );
        assert_eq!(
            ok(store.get_job(c.job.id).await, "get_job").state,
            JobState::Running
        );
    }
    assert_eq!(
        ok(store.get_job(future.id).await, "get_job").state,
        JobState::Queued
    );

    // Each job of a batch is finished on its own lease.
    ok(store.complete(&first[0].lease).await, "complete");
    ok(
        store.heartbeat(&first[1].lease, lease).await,
        "heartbeat a batch job",
    );
    ok(store.complete(&first[1].lease).await, "complete");
    let released = ok(store.release(&first[2].lease, long_ago).await, "release");
    assert_eq!(
        (released.state, released.attempts),
        (JobState::Queued, 0),
        "job batches: releasing one job of a batch"
    );
    expect_err(
        store.complete(&first[2].lease).await,
        "conflict",
        "job batches: a released batch job's lease",
    );
    ok(store.complete(&rest[0].lease).await, "complete");
    assert_eq!(
        ok(store.get_job(rest[1].job.id).await, "get_job").state,
        JobState::Running,
        "job batches: finishing one job leaves the others of its batch running"
    );
    let again = ok(
        store.claim_batch("w2", kinds, lease, 10).await,
        "claim_batch",
    );
    assert_eq!(
        again.iter().map(|c| c.job.id).collect::<Vec<_>>(),
        vec![first[2].job.id],
        "job batches: a released job is claimed again"
    );
    ok(store.complete(&again[0].lease).await, "complete");
    ok(store.complete(&rest[1].lease).await, "complete");

    // Expired leases are claimed again by the next batch, with a new token.
    let j = enqueue_at(&kind, long_ago).await;
    let slow = claim_and_let_expire(store, kinds).await;
    assert_eq!(
        slow.iter().map(|c| c.job.id).collect::<Vec<_>>(),
        vec![j.id]
    );
    let fast = ok(store.claim_batch("fast", kinds, lease, 10).await, "reclaim");
    assert_eq!(
        fast.iter()
            .map(|c| (c.job.id, c.job.attempts))
            .collect::<Vec<_>>(),
        vec![(j.id, 2)],
        "job batches: a job whose lease expired is claimed again, counting an attempt"
    );
    assert!(
        fast[0].lease.token != slow[0].lease.token,
        "job batches: a reclaim issues a new lease token"
    );
    expect_err(
        store.complete(&slow[0].lease).await,
        "conflict",
        "job batches: completing with the expired lease",
    );
    ok(store.complete(&fast[0].lease).await, "complete");

    // Several kinds: the oldest of any kind asked for, never another kind.
    let b1 = enqueue_at(&second, long_ago + TimeDelta::seconds(30)).await;
    let a0 = enqueue_at(&kind, long_ago).await;
    let a2 = enqueue_at(&kind, long_ago + TimeDelta::minutes(1)).await;
    let both = [second.clone(), kind.clone(), second.clone()];
    let mixed = ok(store.claim_batch("w", &both, lease, 2).await, "claim_batch");
    assert_eq!(
        mixed.iter().map(|c| c.job.id).collect::<Vec<_>>(),
        vec![a0.id, b1.id],
        "job batches: the oldest runnable jobs of any kind asked for"
    );
    let last = ok(
        store.claim_batch("w", &both, lease, 10).await,
        "claim_batch",
    );
    assert_eq!(
        last.iter().map(|c| c.job.id).collect::<Vec<_>>(),
        vec![a2.id]
    );
    for c in mixed.iter().chain(&last) {
        ok(store.complete(&c.lease).await, "complete");
    }

    // Concurrent batch claimers, over one kind and over two: every job exactly once, none
    // left behind.
    for (label, claim_kinds) in [
        ("one kind", vec![kind.clone()]),
        ("two kinds", both.to_vec()),
    ] {
        let mut ids = BTreeSet::new();
        for i in 0..40 {
            let k = &claim_kinds[i % claim_kinds.len()];
            let at = long_ago + TimeDelta::seconds(i64::try_from(i % 7).unwrap_or(0));
            ids.insert(enqueue_at(k, at).await.id);
        }
        let workers: Vec<String> = (0..8).map(|i| format!("batch-worker-{i}")).collect();
        let claim_kinds = &claim_kinds;
        let per_worker = join_all(workers.iter().map(|w| async move {
            let mut mine = Vec::new();
            loop {
                let batch = ok(
                    store.claim_batch(w, claim_kinds, lease, 3).await,
                    "concurrent claim_batch",
                );
                assert!(batch.len() <= 3, "job batches: never more than max");
                if batch.is_empty() {
                    return mine;
                }
                mine.extend(batch);
            }
        }))
        .await;
        let claimed: Vec<crate::model::ClaimedJob> = per_worker.into_iter().flatten().collect();
        let got: BTreeSet<_> = claimed.iter().map(|c| c.job.id).collect();
        assert_eq!(
            got.len(),
            claimed.len(),
            "job batches ({label}): no job may be claimed twice"
        );
        assert_eq!(
            got, ids,
            "job batches ({label}): 8 concurrent batch claimers claim every job, none lost"
        );
        for c in &claimed {
            ok(store.complete(&c.lease).await, "complete");
        }
    }
    let others = jobs_of_kind(store, &other).await;
    assert!(
        others.len() == 5 && others.iter().all(|j| j.state == JobState::Queued),
        "job batches: jobs of a kind nobody asked for stay queued"
    );
}

/// Group completion: one outcome per lease, in order, each what `complete` would answer
/// (lost lease `Conflict`, unknown job `NotFound`, a repeated lease done once); an empty
/// slice does nothing; a second time every lease is lost; concurrent with batch claims every
/// job is done exactly once.
pub async fn run_job_group_completion<S: Store + ?Sized>(store: &S) {
    let lease = Duration::from_secs(30);
    let kind = format!("conformance-group-{}", unique());
    let kinds = std::slice::from_ref(&kind);
    assert!(
        ok(store.complete_batch(&[]).await, "complete_batch []").is_empty(),
        "group completion: an empty slice completes nothing"
    );
    for _ in 0..3 {
        ok(
            store
                .enqueue(&NewJob::new(
                    kind.clone(),
                    serde_json::json!({ "group": 1 }),
                ))
                .await,
            "enqueue",
        );
    }
    let claimed = ok(store.claim_batch("g", kinds, lease, 3).await, "claim_batch");
    assert_eq!(claimed.len(), 3, "group completion: three jobs claimed");
    let [a, b, c] = [0, 1, 2].map(|i| claimed[i].lease.clone());
    let (stale, unknown) = stale_and_unknown(&b, &a);
    let mixed = [a.clone(), stale, c.clone(), unknown, a.clone()];
    let outcomes = ok(store.complete_batch(&mixed).await, "complete_batch mixed");
    assert_eq!(
        outcomes.iter().map(outcome_kind).collect::<Vec<_>>(),
        ["ok", "conflict", "ok", "not_found", "conflict"],
        "group completion: valid leases done, a lost lease `Conflict`, an unknown job \
         `NotFound`, a repeated lease done once"
    );
    let states = |ids: [crate::model::JobId; 3]| async move {
        let mut states = Vec::new();
        for id in ids {
            states.push(ok(store.get_job(id).await, "get_job").state);
        }
        states
    };
    assert_eq!(
        states([a.job_id, b.job_id, c.job_id]).await,
        [JobState::Done, JobState::Running, JobState::Done],
        "group completion: a lost lease leaves its job as it was"
    );
    let done_a = ok(store.get_job(a.job_id).await, "get_job");
    assert!(
        done_a.lease_expires_at.is_none() && done_a.lease_owner.is_none(),
        "group completion: a done job holds no lease"
    );
    let again = ok(
        store
            .complete_batch(&[a.clone(), b.clone(), c.clone()])
            .await,
        "complete_batch again",
    );
    assert_eq!(
        again.iter().map(outcome_kind).collect::<Vec<_>>(),
        ["conflict", "ok", "conflict"],
        "group completion: completing again finds the done jobs' leases lost"
    );
    let twice = ok(
        store.complete_batch(&[a, b.clone(), c]).await,
        "complete_batch twice",
    );
    assert!(
        twice.iter().all(|o| outcome_kind(o) == "conflict"),
        "group completion: idempotent, a finished batch is never finished twice"
    );

    // Batch claimers that complete each batch as a group, all at once: every job claimed and
    // done exactly once.
    let mut ids = BTreeSet::new();
    for i in 0..40 {
        let job = NewJob::new(kind.clone(), serde_json::json!({ "group": i }));
        ids.insert(ok(store.enqueue(&job).await, "enqueue").0.id);
    }
    let workers: Vec<String> = (0..6).map(|i| format!("group-worker-{i}")).collect();
    let per_worker = join_all(workers.iter().map(|w| async move {
        let mut mine = Vec::new();
        loop {
            let batch = ok(
                store.claim_batch(w, kinds, lease, 3).await,
                "concurrent claim_batch",
            );
            if batch.is_empty() {
                return mine;
            }
            let leases: Vec<_> = batch.iter().map(|c| c.lease.clone()).collect();
            let outcomes = ok(
                store.complete_batch(&leases).await,
                "concurrent complete_batch",
            );
            assert!(
                outcomes.len() == leases.len() && outcomes.iter().all(Result::is_ok),
                "group completion: every lease of a fresh batch completes"
            );
            mine.extend(leases.into_iter().map(|l| l.job_id));
        }
    }))
    .await;
    let completed: Vec<_> = per_worker.into_iter().flatten().collect();
    let got: BTreeSet<_> = completed.iter().copied().collect();
    assert_eq!(
        got.len(),
        completed.len(),
        "group completion: no job completed twice"
    );
    let jobs = jobs_of_kind(store, &kind).await;
    assert!(
        ids.iter().all(|id| got.contains(id))
            && jobs
                .iter()
                .filter(|j| ids.contains(&j.id))
                .all(|j| j.state == JobState::Done),
        "group completion: concurrent claimers complete every job, none left behind"
    );
}

/// [`JobStore::complete_and_claim`](crate::ports::JobStore::complete_and_claim): each completion answered as `complete_batch` would, the
/// claim as a `claim_batch` made after them (never a job just completed, never another kind,
/// never a job another worker holds); a lost or stale lease changes nothing; an expired lease
/// that nobody took over still completes and its job is not claimed again; claimed jobs are
/// dead-lettered as any; and 8 concurrent workers that each complete their last batch while
/// claiming the next one claim and complete every job exactly once.
pub async fn run_job_complete_and_claim<S: Store + ?Sized>(store: &S) {
    let lease = Duration::from_secs(30);
    let kind = format!("conformance-cac-{}", unique());
    let other = format!("conformance-cac-other-{}", unique());
    let kinds = std::slice::from_ref(&kind);
    let enqueue = |kind: String, i: usize| async move {
        ok(
            store
                .enqueue(&NewJob::new(kind, serde_json::json!({ "cac": i })))
                .await,
            "enqueue",
        )
        .0
    };
    let (nothing, none) = ok(
        store.complete_and_claim(&[], "w", kinds, lease, 0).await,
        "complete_and_claim nothing",
    );
    assert!(
        nothing.is_empty() && ok(none, "claim nothing").is_empty(),
        "complete and claim: no leases and max 0 do nothing"
    );
    let mut ids = Vec::new();
    for i in 0..4 {
        ids.push(enqueue(kind.clone(), i).await.id);
    }
    let foreign = enqueue(other.clone(), 99).await;
    let first = ok(store.claim_batch("w", kinds, lease, 2).await, "claim_batch");
    assert_eq!(first.len(), 2, "complete and claim: two jobs claimed");
    let (a, b) = (first[0].lease.clone(), first[1].lease.clone());
    let (stale, unknown) = stale_and_unknown(&b, &a);
    let (outcomes, claimed) = ok(
        store
            .complete_and_claim(&[a.clone(), stale, unknown], "w2", kinds, lease, 10)
            .await,
        "complete_and_claim",
    );
    assert_eq!(
        outcomes.iter().map(outcome_kind).collect::<Vec<_>>(),
        ["ok", "conflict", "not_found"],
        "complete and claim: a valid lease done, a stale one `Conflict`, an unknown job \
         `NotFound`"
    );
    let claimed = ok(claimed, "complete_and_claim claim");
    let got: Vec<_> = claimed.iter().map(|c| c.job.id).collect();
    assert_eq!(
        got,
        ids[2..].to_vec(),
        "complete and claim: the claim takes the queued jobs of its kind, oldest first, \
         neither the job just completed nor the one another worker holds"
    );
    assert!(
        claimed.iter().all(|c| c.job.state == JobState::Running
            && c.job.attempts == 1
            && c.job.lease_owner.as_deref() == Some("w2")
            && c.lease.owner == "w2"
            && c.lease.token != a.token),
        "complete and claim: claimed under a fresh lease: {claimed:?}"
    );
    let job = |id| async move { ok(store.get_job(id).await, "get_job") };
    assert_eq!(
        job(a.job_id).await.state,
        JobState::Done,
        "complete and claim: a completed job is done"
    );
    let held = job(b.job_id).await;
    assert_eq!(
        (held.state, held.lease_owner.as_deref()),
        (JobState::Running, Some("w")),
        "complete and claim: a stale lease leaves its job to the worker holding it"
    );
    assert_eq!(
        job(foreign.id).await.state,
        JobState::Queued,
        "complete and claim: jobs of other kinds stay queued"
    );
    // The claimed jobs complete and fail as any claimed job.
    let failed = ok(
        store
            .fail(
                &claimed[0].lease,
                &JobFailure {
                    error: "permanent".into(),
                    retryable: false,
                    retry_after: None,
                },
            )
            .await,
        "fail",
    );
    assert_eq!(
        (failed.state, failed.attempts),
        (JobState::Dead, 1),
        "complete and claim: a claimed job that fails for good is dead-lettered"
    );
    let (outcomes, empty) = ok(
        store
            .complete_and_claim(
                &[
                    b.clone(),
                    claimed[1].lease.clone(),
                    claimed[0].lease.clone(),
                ],
                "w2",
                kinds,
                lease,
                10,
            )
            .await,
        "complete_and_claim the rest",
    );
    assert_eq!(
        outcomes.iter().map(outcome_kind).collect::<Vec<_>>(),
        ["ok", "ok", "conflict"],
        "complete and claim: the holders complete; a failed job's lease is gone"
    );
    assert!(
        ok(empty, "claim from an empty queue").is_empty(),
        "complete and claim: nothing runnable, nothing claimed"
    );

    // An expired lease nobody took over still completes its job, and the same call does not
    // claim that job again; once another worker took it over, the old lease is `Conflict`.
    let j = enqueue(kind.clone(), 10).await;
    let slow = claim_and_let_expire(store, kinds).await;
    assert_eq!(slow.iter().map(|c| c.job.id).collect::<Vec<_>>(), [j.id]);
    let (outcomes, claimed) = ok(
        store
            .complete_and_claim(&[slow[0].lease.clone()], "slow", kinds, lease, 10)
            .await,
        "complete_and_claim expired",
    );
    assert_eq!(
        outcomes.iter().map(outcome_kind).collect::<Vec<_>>(),
        ["ok"],
        "complete and claim: an expired lease nobody took over completes"
    );
    assert!(
        ok(claimed, "claim after expired").is_empty(),
        "complete and claim: the job just completed is not claimed again"
    );
    let finished = job(j.id).await;
    assert_eq!(
        (finished.state, finished.attempts),
        (JobState::Done, 1),
        "complete and claim: done once, on its first attempt"
    );
    let k = enqueue(kind.clone(), 11).await;
    let slow = claim_and_let_expire(store, kinds).await;
    let fast = ok(store.claim_batch("fast", kinds, lease, 10).await, "reclaim");
    assert_eq!(fast.iter().map(|c| c.job.id).collect::<Vec<_>>(), [k.id]);
    let (outcomes, _) = ok(
        store
            .complete_and_claim(&[slow[0].lease.clone()], "slow", kinds, lease, 10)
            .await,
        "complete_and_claim taken over",
    );
    assert_eq!(
        outcomes.iter().map(outcome_kind).collect::<Vec<_>>(),
        ["conflict"],
        "complete and claim: a lease another worker took over is `Conflict`"
    );
    let taken = job(k.id).await;
    assert_eq!(
        (taken.state, taken.lease_owner.as_deref()),
        (JobState::Running, Some("fast")),
        "complete and claim: a lost lease does not touch the new holder's job"
    );
    ok(store.complete(&fast[0].lease).await, "complete");

    // 8 workers at once, each completing its last batch while claiming the next: every job
    // claimed once and done once.
    let mut all = BTreeSet::new();
    for i in 0..80 {
        all.insert(enqueue(kind.clone(), 100 + i).await.id);
    }
    let workers: Vec<String> = (0..8).map(|i| format!("cac-worker-{i}")).collect();
    let per_worker = join_all(workers.iter().map(|w| async move {
        let mut mine = Vec::new();
        let mut batch = ok(
            store.claim_batch(w, kinds, lease, 3).await,
            "concurrent claim_batch",
        );
        while !batch.is_empty() {
            let leases: Vec<_> = batch.iter().map(|c| c.lease.clone()).collect();
            mine.extend(leases.iter().map(|l| l.job_id));
            let (outcomes, next) = ok(
                store.complete_and_claim(&leases, w, kinds, lease, 3).await,
                "concurrent complete_and_claim",
            );
            assert!(
                outcomes.len() == leases.len() && outcomes.iter().all(Result::is_ok),
                "complete and claim: every lease of a fresh batch completes: {outcomes:?}"
            );
            batch = ok(next, "concurrent complete_and_claim claim");
        }
        mine
    }))
    .await;
    let claimed: Vec<_> = per_worker.into_iter().flatten().collect();
    let got: BTreeSet<_> = claimed.iter().copied().collect();
    assert_eq!(
        got.len(),
        claimed.len(),
        "complete and claim: no job claimed twice by 8 concurrent workers"
    );
    assert_eq!(got, all, "complete and claim: every job claimed, none lost");
    let jobs = jobs_of_kind(store, &kind).await;
    assert!(
        jobs.iter()
            .filter(|j| all.contains(&j.id))
            .all(|j| j.state == JobState::Done && j.attempts == 1),
        "complete and claim: every job done on its first attempt"
    );
}

/// Send limits (atomic, idempotent per draft), suppressions, approved recipients.
pub async fn run_send<S: Store + ?Sized>(store: &S) {
    let contact = address("limits");
    let sender = address("sender");
    let limits = SendLimits::default();
    let at = base_time();
    let reservations: Vec<SendReservation> = (0..16)
        .map(|_| SendReservation {
            draft_id: DraftId::new(),
            contact: contact.clone(),
            sender: sender.clone(),
            at,
        })
        .collect();
    let decisions = join_all(reservations.iter().map(|r| store.reserve_send(r, &limits))).await;
    let decisions: Vec<SendDecision> = decisions
        .into_iter()
        .map(|d| ok(d, "reserve_send"))
        .collect();
    let allowed: Vec<&SendReservation> = reservations
        .iter()
        .zip(&decisions)
        .filter(|(_, d)| d.is_allow())
        .map(|(r, _)| r)
        .collect();
    assert_eq!(
        allowed.len(),
        limits.per_contact_week as usize,
        "send: 16 concurrent reservations for one contact must allow exactly the weekly limit"
    );
    // Every refusal is the core rule's decision for the two sends the week already holds.
    let counted: Vec<WindowSends> = [SendLimit::ContactWeek, SendLimit::ContactDay]
        .into_iter()
        .map(|limit| WindowSends {
            limit,
            times: vec![at; allowed.len()],
        })
        .collect();
    for (r, d) in reservations.iter().zip(&decisions) {
        if d.is_allow() {
            continue;
        }
        assert_eq!(
            d,
            &Reservation::new(r, &limits).decide(&counted),
            "send: a refusal must be the core limit rule's decision"
        );
        assert!(
            matches!(d, SendDecision::Defer { until, .. } if *until > at),
            "send: a deferral points to the future"
        );
    }
    let repeat = ok(
        store.reserve_send(allowed[0], &limits).await,
        "reserve_send again",
    );
    assert!(
        repeat.is_allow(),
        "send: reserving again for the same draft is allowed"
    );
    let fresh = SendReservation {
        draft_id: DraftId::new(),
        ..allowed[0].clone()
    };
    assert!(
        !ok(store.reserve_send(&fresh, &limits).await, "reserve_send").is_allow(),
        "send: a repeated reservation must not have counted twice, nor freed a slot"
    );
    ok(
        store.release_send(allowed[0].draft_id).await,
        "release_send",
    );
    ok(
        store.release_send(allowed[0].draft_id).await,
        "release_send twice",
    );
    assert!(
        ok(
            store.reserve_send(&fresh, &limits).await,
            "reserve_send after release"
        )
        .is_allow(),
        "send: a released reservation frees its slot"
    );
    let a_week_later = SendReservation {
        draft_id: DraftId::new(),
        at: at + TimeDelta::days(8),
        ..fresh.clone()
    };
    assert!(
        ok(
            store.reserve_send(&a_week_later, &limits).await,
            "reserve_send"
        )
        .is_allow(),
        "send: the weekly window rolls"
    );

    // Per-sender daily limit.
    let busy_sender = address("busy");
    let tight = SendLimits {
        per_sender_day: 3,
        ..SendLimits::default()
    };
    let mut allowed = 0;
    for _ in 0..5 {
        let r = SendReservation {
            draft_id: DraftId::new(),
            contact: address("c"),
            sender: busy_sender.clone(),
            at,
        };
        if ok(store.reserve_send(&r, &tight).await, "reserve_send").is_allow() {
            allowed += 1;
        }
    }
    assert_eq!(allowed, 3, "send: the per-sender daily limit holds");
    let zero = SendLimits {
        per_domain_day: 0,
        ..SendLimits::default()
    };
    let r = SendReservation {
        draft_id: DraftId::new(),
        contact: address("zero"),
        sender: sender.clone(),
        at,
    };
    assert_eq!(
        Some(ok(store.reserve_send(&r, &zero).await, "reserve_send")),
        Reservation::new(&r, &zero).zero_limit(),
        "send: a zero limit denies, as the core rule says"
    );

    // Suppression.
    let s = address("suppressed");
    let entry = Suppression {
        email: s.clone(),
        reason: SuppressionReason::Unsubscribed,
        note: None,
        added_at: at,
    };
    ok(store.suppress(&entry).await, "suppress");
    assert_eq!(
        ok(store.suppression(&shouting(&s)).await, "suppression"),
        Some(entry.clone()),
        "send: suppression lookup ignores case"
    );
    let to_suppressed = SendReservation {
        draft_id: DraftId::new(),
        contact: shouting(&s),
        sender: sender.clone(),
        at,
    };
    assert_eq!(
        ok(
            store.reserve_send(&to_suppressed, &limits).await,
            "reserve_send"
        ),
        Reservation::suppressed(),
        "send: a suppressed recipient is never reserved"
    );
    let replaced = Suppression {
        reason: SuppressionReason::Bounced,
        note: Some("550".into()),
        ..entry.clone()
    };
    ok(store.suppress(&replaced).await, "suppress again");
    assert_eq!(
        ok(store.suppression(&s).await, "suppression"),
        Some(replaced.clone()),
        "send: suppress replaces"
    );
    let all = ok(store.list_suppressions().await, "list_suppressions");
    assert_eq!(
        all.iter()
            .filter(|x| x.email.normalized() == s.normalized())
            .count(),
        1,
        "send: one suppression per address"
    );
    assert!(
        ok(store.unsuppress(&s).await, "unsuppress"),
        "send: unsuppress reports removal"
    );
    assert!(
        !ok(store.unsuppress(&s).await, "unsuppress"),
        "send: unsuppress twice reports nothing"
    );
    assert!(ok(store.suppression(&s).await, "suppression").is_none());

    // Approved recipients.
    let r = address("approved");
    let rec = ApprovedRecipient {
        email: r.clone(),
        added_by: "operator:conformance".into(),
        added_at: at,
    };
    ok(
        store.add_approved_recipient(&rec).await,
        "add_approved_recipient",
    );
    ok(
        store.add_approved_recipient(&rec).await,
        "add_approved_recipient twice",
    );
    assert!(
        ok(
            store.is_approved_recipient(&shouting(&r)).await,
            "is_approved_recipient"
        ),
        "send: approved lookup ignores case"
    );
    assert!(
        ok(store.remove_approved_recipient(&r).await, "remove"),
        "send: remove reports removal"
    );
    assert!(
        !ok(store.remove_approved_recipient(&r).await, "remove"),
        "send: remove twice reports nothing"
    );
    assert!(!ok(
        store.is_approved_recipient(&r).await,
        "is_approved_recipient"
    ));
}

fn message(contact: &EmailAddress, subject: &str, at: DateTime<Utc>) -> MessageRecord {
    MessageRecord {
        message_id: MessageId::parse(&format!("{}@salesagent.example", unique()))
            .expect("valid id"),
        direction: MessageDirection::Outbound,
        contact_email: contact.clone(),
        draft_id: None,
        thread: ThreadRef::default(),
        subject: subject.into(),
        body: "Hello".into(),
        at,
    }
}

/// Messages: idempotent by Message-ID, listed per contact oldest first.
pub async fn run_messages<S: Store + ?Sized>(store: &S) {
    let contact = address("messages");
    let late = message(&contact, "late", base_time() + TimeDelta::hours(2));
    let early = MessageRecord {
        direction: MessageDirection::Inbound,
        thread: ThreadRef {
            in_reply_to: Some(late.message_id.clone()),
            references: vec![late.message_id.clone()],
            provider_thread_id: None,
        },
        ..message(&contact, "early", base_time())
    };
    ok(store.record_message(&late).await, "record_message");
    ok(store.record_message(&early).await, "record_message");
    let dup = MessageRecord {
        subject: "changed".into(),
        ..late.clone()
    };
    ok(store.record_message(&dup).await, "record_message again");
    assert_eq!(
        ok(store.find_message(&late.message_id).await, "find_message"),
        Some(late.clone()),
        "messages: recording twice keeps the first"
    );
    let listed = ok(
        store.messages_for_contact(&shouting(&contact)).await,
        "messages_for_contact",
    );
    assert_eq!(
        listed,
        vec![early, late],
        "messages: per contact, oldest first, case-insensitive"
    );
    let missing = MessageId::parse(&format!("{}@salesagent.example", unique())).expect("valid id");
    assert!(ok(store.find_message(&missing).await, "find_message").is_none());
}

fn outcome(contact: &EmailAddress, t: OutcomeType, at: DateTime<Utc>) -> Outcome {
    Outcome {
        id: OutcomeId::new(),
        outcome_type: t,
        contact_email: contact.clone(),
        sender: None,
        draft_id: None,
        impact: t.default_impact(),
        source_event_id: format!("conformance:{}", unique()),
        occurred_at: at,
        recorded_at: at,
        details: None,
    }
}

/// Outcomes: idempotent by source event, filtered and listed newest first.
pub async fn run_outcomes<S: Store + ?Sized>(store: &S) {
    let contact = address("outcomes");
    let sent = outcome(&contact, OutcomeType::EmailSent, base_time());
    let replied = outcome(
        &contact,
        OutcomeType::EmailReplied,
        base_time() + TimeDelta::days(1),
    );
    assert!(
        ok(store.record_outcome(&sent).await, "record_outcome"),
        "outcomes: a new event is recorded"
    );
    assert!(ok(store.record_outcome(&replied).await, "record_outcome"));
    let dup = Outcome {
        id: OutcomeId::new(),
        ..sent.clone()
    };
    assert!(
        !ok(store.record_outcome(&dup).await, "record_outcome"),
        "outcomes: the same source_event_id is recorded once"
    );
    let filter = OutcomeFilter {
        contact: Some(shouting(&contact)),
        ..OutcomeFilter::default()
    };
    let all = ok(store.list_outcomes(&filter).await, "list_outcomes");
    assert_eq!(
        all,
        vec![replied.clone(), sent.clone()],
        "outcomes: per contact, newest first"
    );
    let only = ok(
        store
            .list_outcomes(&OutcomeFilter {
                types: vec![OutcomeType::EmailSent],
                ..filter.clone()
            })
            .await,
        "list_outcomes",
    );
    assert_eq!(only, vec![sent.clone()], "outcomes: type filter");
    let window = ok(
        store
            .list_outcomes(&OutcomeFilter {
                since: Some(base_time() + TimeDelta::hours(1)),
                until: Some(base_time() + TimeDelta::days(2)),
                ..filter.clone()
            })
            .await,
        "list_outcomes",
    );
    assert_eq!(window, vec![replied], "outcomes: since/until window");
    let limited = ok(
        store
            .list_outcomes(&OutcomeFilter { limit: 1, ..filter })
            .await,
        "list_outcomes",
    );
    assert_eq!(limited.len(), 1, "outcomes: limit");
}

fn profile(owner: &EmailAddress, name: &str, messages: u32) -> VoiceProfile {
    VoiceProfile {
        id: VoiceProfileId::new(),
        owner: owner.clone(),
        name: name.into(),
        version: 0,
        message_count: messages,
        updated_at: base_time(),
        style: VoiceStyle {
            sentence_len_mean: 12.5,
            formality: 0.25,
            ..VoiceStyle::default()
        },
    }
}

/// Voice profiles: versions 1, 2, … per owner and name.
pub async fn run_voice<S: Store + ?Sized>(store: &S) {
    let owner = address("voice");
    let v1 = ok(
        store
            .save_voice_profile(&profile(&owner, "default", 10))
            .await,
        "save_voice_profile",
    );
    assert_eq!(v1.version, 1, "voice: the first save is version 1");
    let v2 = ok(
        store
            .save_voice_profile(&profile(&owner, "default", 20))
            .await,
        "save_voice_profile",
    );
    assert_eq!(v2.version, 2, "voice: the next save is version 2");
    assert_eq!(v2.id, v1.id, "voice: the id is stable across versions");
    let latest = ok(
        store.voice_profile(&owner, "default").await,
        "voice_profile",
    )
    .expect("profile exists");
    assert_eq!(
        (latest.version, latest.message_count),
        (2, 20),
        "voice: voice_profile returns the latest version"
    );
    assert_eq!(latest.style, v2.style, "voice: the style round-trips");
    ok(
        store
            .save_voice_profile(&profile(&owner, "formal", 5))
            .await,
        "save_voice_profile",
    );
    let all = ok(store.voice_profiles(&owner).await, "voice_profiles");
    let mut names: Vec<(String, u32)> = all.iter().map(|p| (p.name.clone(), p.version)).collect();
    names.sort();
    assert_eq!(
        names,
        vec![("default".to_owned(), 2), ("formal".to_owned(), 1)],
        "voice: latest version of every profile"
    );
    assert!(
        ok(
            store.voice_profile(&owner, "missing").await,
            "voice_profile"
        )
        .is_none()
    );
}

/// Secrets: save, replace, read, delete.
pub async fn run_secrets<S: Store + ?Sized>(store: &S) {
    let account = address("token").to_string();
    let token = OAuthToken {
        account: account.clone(),
        access_token: secrecy::SecretString::from(format!("access-{}", unique())),
        refresh_token: Some(secrecy::SecretString::from("refresh")),
        expires_at: Some(base_time()),
        scopes: vec!["gmail.send".into()],
        needs_reauth: false,
    };
    ok(store.save_token(&token).await, "save_token");
    assert_eq!(
        ok(store.token(&account).await, "token"),
        Some(token.clone()),
        "secrets: a token round-trips"
    );
    let replaced = OAuthToken {
        needs_reauth: true,
        refresh_token: None,
        ..token
    };
    ok(store.save_token(&replaced).await, "save_token replace");
    assert_eq!(
        ok(store.token(&account).await, "token"),
        Some(replaced),
        "secrets: save_token replaces"
    );
    assert!(
        ok(store.delete_token(&account).await, "delete_token"),
        "secrets: delete reports removal"
    );
    assert!(
        !ok(store.delete_token(&account).await, "delete_token"),
        "secrets: delete twice reports nothing"
    );
    assert!(ok(store.token(&account).await, "token").is_none());
}

/// Settings and the kill switch (restored to its previous state afterwards).
pub async fn run_settings<S: Store + ?Sized>(store: &S) {
    let key = format!("conformance.{}", unique());
    assert!(
        ok(store.setting(&key).await, "setting").is_none(),
        "settings: unknown key is None"
    );
    ok(store.put_setting(&key, "one").await, "put_setting");
    ok(store.put_setting(&key, "two").await, "put_setting");
    assert_eq!(
        ok(store.setting(&key).await, "setting").as_deref(),
        Some("two"),
        "settings: put_setting overwrites"
    );
    let was_on = ok(store.kill_switch().await, "kill_switch");
    ok(store.set_kill_switch(true).await, "set_kill_switch");
    assert!(
        ok(store.kill_switch().await, "kill_switch"),
        "settings: kill switch on"
    );
    ok(store.set_kill_switch(false).await, "set_kill_switch");
    assert!(
        !ok(store.kill_switch().await, "kill_switch"),
        "settings: kill switch off"
    );
    ok(store.set_kill_switch(was_on).await, "restore kill switch");
}

/// The audit log: appended in order, chained, never forked by concurrent appends.
pub async fn run_audit<S: Store + ?Sized>(store: &S) {
    let subject = format!("conformance:{}", unique());
    let entry = |i: u32| NewAuditEntry {
        actor: "operator:conformance".into(),
        action: format!("conformance.step{i}"),
        subject: subject.clone(),
        details: serde_json::json!({ "i": i }),
    };
    let first = ok(store.append_audit(&entry(0)).await, "append_audit");
    let entries: Vec<NewAuditEntry> = (1..=8).map(entry).collect();
    let appended = join_all(entries.iter().map(|e| store.append_audit(e))).await;
    for a in appended {
        ok(a, "concurrent append_audit");
    }
    let all = ok(store.audit_entries(first.seq - 1, 0).await, "audit_entries");
    let mut prev = first.prev_hash.clone();
    for (i, e) in all.iter().enumerate() {
        assert_eq!(
            e.seq,
            first.seq + i as u64,
            "audit: sequence numbers have no gaps"
        );
        assert_eq!(
            e.prev_hash, prev,
            "audit: entry {} must chain to the previous hash",
            e.seq
        );
        assert_eq!(
            e.hash,
            e.expected_hash(),
            "audit: entry {} hash must match its fields",
            e.seq
        );
        prev.clone_from(&e.hash);
    }
    let ours = all.iter().filter(|e| e.subject == subject).count();
    assert_eq!(ours, 9, "audit: every appended entry is listed");
    assert_eq!(
        all[0], first,
        "audit: audit_entries returns entries as appended"
    );
    let limited = ok(store.audit_entries(first.seq - 1, 2).await, "audit_entries");
    assert_eq!(limited.len(), 2, "audit: limit");
    let v = ok(store.verify_audit_chain().await, "verify_audit_chain");
    assert!(
        v.is_intact(),
        "audit: the chain must verify, broken at {:?}",
        v.first_broken_seq
    );
    assert!(
        v.entries >= first.seq + 8,
        "audit: verification covers every entry"
    );
}

/// Checks that what a read returned no longer mentions an erased address.
struct Scrubbed {
    needles: [String; 2],
}

impl Scrubbed {
    fn new(erased: &EmailAddress) -> Self {
        // The domain is unique to this run, so it catches the address in any spelling.
        Self {
            needles: [erased.normalized(), erased.domain().as_str().to_owned()],
        }
    }

    #[track_caller]
    fn check<T: serde::Serialize>(&self, r: crate::Result<T>, what: &str) {
        let value = match r {
            Ok(v) => v,
            Err(e) if e.kind() == "not_found" => return,
            Err(e) => panic!("erase: {what} after erase: unexpected error: {e}"),
        };
        let text = serde_json::to_string(&value)
            .expect("records serialise")
            .to_lowercase();
        for n in &self.needles {
            if let Some(i) = text.find(n.as_str()) {
                let from = text[..i].char_indices().rev().nth(80).map_or(0, |(j, _)| j);
                let to = text[i..]
                    .char_indices()
                    .nth(80)
                    .map_or(text.len(), |(j, _)| i + j);
                panic!(
                    "erase: {what} still returns the erased address: …{}…",
                    &text[from..to]
                );
            }
        }
    }
}

/// GDPR erase: after filling every kind of record for an address, nothing returns it any more,
/// other contacts keep their records, and the tombstone names no personal data.
pub async fn run_erase<S: Store + ?Sized>(store: &S) {
    let x = address("erase");
    let keep = address("keep");
    let at = base_time();
    let sub = submission(&x);
    ok(store.save_submission(&sub).await, "save_submission");
    let keep_sub = submission(&keep);
    ok(store.save_submission(&keep_sub).await, "save_submission");
    let mut d = draft(Some(sub.id), &x, at);
    ok(
        store
            .insert_draft(&d, &d.created_event("system:pipeline"))
            .await,
        "insert_draft",
    );
    let ev = ok(
        d.apply(DraftAction::Approve, "operator:conformance", at),
        "approve",
    );
    ok(store.update_draft(&d, 1, &ev).await, "update_draft");
    let mid = MessageId::parse(&format!("{}@salesagent.example", unique())).expect("valid id");
    let ev = ok(
        d.apply(
            DraftAction::BeginSend {
                message_id: mid.clone(),
                claim: None,
            },
            "system:sender",
            at,
        ),
        "begin_send",
    );
    ok(store.update_draft(&d, 2, &ev).await, "update_draft");
    let keep_draft = draft(Some(keep_sub.id), &keep, at);
    ok(
        store
            .insert_draft(&keep_draft, &keep_draft.created_event("system:pipeline"))
            .await,
        "insert_draft",
    );
    let run = WorkflowRun {
        id: RunId::new(),
        submission_id: sub.id,
        draft_id: Some(d.id),
        status: RunStatus::Succeeded,
        started_at: at,
        finished_at: Some(at),
        steps: vec![],
    };
    ok(store.save_run(&run).await, "save_run");
    let kind = format!("conformance-erase-{}", unique());
    ok(
        store
            .enqueue(&NewJob::new(
                &kind,
                serde_json::json!({ "email": x.to_string(), "draft": d.id }),
            ))
            .await,
        "enqueue",
    );
    ok(
        store
            .enqueue(&NewJob::new(
                &kind,
                serde_json::json!({ "email": keep.to_string() }),
            ))
            .await,
        "enqueue",
    );
    let reservation = SendReservation {
        draft_id: d.id,
        contact: x.clone(),
        sender: d.sender.clone(),
        at,
    };
    ok(
        store
            .reserve_send(&reservation, &SendLimits::default())
            .await,
        "reserve_send",
    );
    ok(
        store
            .suppress(&Suppression {
                email: x.clone(),
                reason: SuppressionReason::Manual,
                note: Some("test".into()),
                added_at: at,
            })
            .await,
        "suppress",
    );
    ok(
        store
            .add_approved_recipient(&ApprovedRecipient {
                email: x.clone(),
                added_by: "operator:conformance".into(),
                added_at: at,
            })
            .await,
        "add_approved_recipient",
    );
    let msg = MessageRecord {
        draft_id: Some(d.id),
        message_id: mid.clone(),
        ..message(&x, "hello", at)
    };
    ok(store.record_message(&msg).await, "record_message");
    let keep_msg = message(&keep, "hello", at);
    ok(store.record_message(&keep_msg).await, "record_message");
    let out = outcome(&x, OutcomeType::EmailSent, at);
    ok(store.record_outcome(&out).await, "record_outcome");
    let keep_out = outcome(&keep, OutcomeType::EmailSent, at);
    ok(store.record_outcome(&keep_out).await, "record_outcome");
    ok(
        store.save_voice_profile(&profile(&x, "default", 3)).await,
        "save_voice_profile",
    );
    ok(
        store
            .save_token(&OAuthToken {
                account: x.to_string(),
                access_token: secrecy::SecretString::from("access"),
                refresh_token: None,
                expires_at: None,
                scopes: vec![],
                needs_reauth: false,
            })
            .await,
        "save_token",
    );
    let last_seq = ok(store.audit_entries(0, 0).await, "audit_entries")
        .last()
        .map_or(0, |e| e.seq);

    let report = ok(
        store
            .erase_contact(&shouting(&x), "operator:conformance")
            .await,
        "erase_contact",
    );
    assert!(
        report.total() > 0,
        "erase: the report must count what was removed (got {:?})",
        report.per_table
    );
    // The report follows the core erasure plan: only its tables, and for what was stored
    // above exactly one row each (three draft events: created, approved, sending). Workflow
    // steps, settings and contact keys depend on the backend and are not counted here.
    for table in report.per_table.keys() {
        assert!(
            ErasureStep::from_table(table).is_some(),
            "erase: {table} is not a step of the erasure plan ({:?})",
            report.per_table
        );
    }
    for step in ErasureStep::PLAN {
        let expected = match step {
            ErasureStep::WorkflowSteps | ErasureStep::Settings | ErasureStep::ContactKeys => {
                continue;
            }
            ErasureStep::Sequences => 0,
            ErasureStep::DraftEvents => 3,
            _ => 1,
        };
        assert_eq!(
            report.per_table.get(step.table()).copied().unwrap_or(0),
            expected,
            "erase: the plan's count for {} ({:?})",
            step.table(),
            report.per_table
        );
    }
    let entry = ok(store.audit_entries(last_seq, 0).await, "audit_entries")
        .into_iter()
        .find(|e| e.action == ERASE_ACTION)
        .expect("erase: an audit entry");
    assert_eq!(
        (entry.actor.as_str(), entry.subject.as_str()),
        ("operator:conformance", "contact"),
        "erase: the audit entry of the plan"
    );

    // Every read may answer "not found"/nothing, or records with the address removed or
    // anonymised; none may still carry it.
    let clean = Scrubbed::new(&x);
    clean.check(store.get_submission(sub.id).await, "get_submission");
    clean.check(
        store.find_submission(&sub.idempotency_key).await,
        "find_submission",
    );
    clean.check(store.get_draft(d.id).await, "get_draft");
    clean.check(
        store.find_draft_by_submission(sub.id).await,
        "find_draft_by_submission",
    );
    clean.check(
        store.find_draft_by_message_id(&mid).await,
        "find_draft_by_message_id",
    );
    clean.check(
        store
            .list_drafts(&DraftFilter {
                contact: Some(x.clone()),
                ..DraftFilter::default()
            })
            .await,
        "list_drafts by contact",
    );
    clean.check(
        store.list_drafts(&DraftFilter::default()).await,
        "list_drafts",
    );
    clean.check(store.draft_events(d.id).await, "draft_events");
    clean.check(store.get_run(run.id).await, "get_run");
    clean.check(
        store.runs_for_submission(sub.id).await,
        "runs_for_submission",
    );
    let jobs = ok(
        store
            .list_jobs(&JobFilter {
                kind: Some(kind.clone()),
                ..JobFilter::default()
            })
            .await,
        "list_jobs",
    );
    assert!(
        jobs.iter()
            .any(|j| j.payload.to_string().contains(keep.domain().as_str())),
        "erase: jobs of other contacts stay"
    );
    clean.check(Ok(jobs), "list_jobs");
    // The erased address stays suppressed (a keyed-hash tombstone), listed nowhere.
    assert!(
        ok(store.suppression(&x).await, "suppression").is_some(),
        "erase: an erased address must stay suppressed"
    );
    clean.check(store.list_suppressions().await, "list_suppressions");
    assert!(
        !ok(
            store.is_approved_recipient(&x).await,
            "is_approved_recipient"
        ),
        "erase: the erased address must no longer be an approved recipient"
    );
    clean.check(store.find_message(&mid).await, "find_message");
    clean.check(store.messages_for_contact(&x).await, "messages_for_contact");
    clean.check(
        store
            .list_outcomes(&OutcomeFilter {
                contact: Some(x.clone()),
                ..OutcomeFilter::default()
            })
            .await,
        "list_outcomes by contact",
    );
    clean.check(
        store
            .list_outcomes(&OutcomeFilter {
                since: Some(at),
                until: Some(at + TimeDelta::seconds(1)),
                ..OutcomeFilter::default()
            })
            .await,
        "list_outcomes",
    );
    clean.check(store.voice_profile(&x, "default").await, "voice_profile");
    clean.check(store.voice_profiles(&x).await, "voice_profiles");
    clean.check(store.token(&x.to_string()).await, "token");

    // Other contacts keep everything.
    assert_eq!(
        ok(store.get_submission(keep_sub.id).await, "get_submission"),
        keep_sub,
        "erase: other submissions stay"
    );
    assert_eq!(
        ok(store.get_draft(keep_draft.id).await, "get_draft").id,
        keep_draft.id,
        "erase: other drafts stay"
    );
    assert_eq!(
        ok(
            store.find_message(&keep_msg.message_id).await,
            "find_message"
        ),
        Some(keep_msg),
        "erase: other messages stay"
    );
    let kept = ok(
        store
            .list_outcomes(&OutcomeFilter {
                contact: Some(keep.clone()),
                ..OutcomeFilter::default()
            })
            .await,
        "list_outcomes",
    );
    assert_eq!(kept, vec![keep_out], "erase: other outcomes stay");

    // The tombstone: appended, chained, without the address.
    let after = ok(store.audit_entries(last_seq, 0).await, "audit_entries");
    assert!(
        !after.is_empty(),
        "erase: an audit tombstone must be appended"
    );
    clean.check(Ok(after), "audit_entries (the tombstone)");
    let v = ok(store.verify_audit_chain().await, "verify_audit_chain");
    assert!(v.is_intact(), "erase: the audit chain stays intact");
}

/// Follow-up sequences: one per contact (found case-insensitively), inserted once, replaced
/// only at the version read and only with a higher one, written atomically with their jobs,
/// listed by status, and erased with the contact.
pub async fn run_sequences<S: Store + ?Sized>(store: &S) {
    use crate::sequences::{SequenceConfig, SequenceFilter, SequenceStatus, StopReason, rules};
    let x = address("sequence");
    let at = base_time();
    let mut first = draft(None, &x, at);
    first.message_id =
        Some(MessageId::parse(&format!("{}@salesagent.example", unique())).expect("valid id"));
    first.sent_at = Some(at);
    let seq = rules::enrol(
        &first,
        &SequenceConfig::default(),
        None,
        chrono_tz::Tz::UTC,
        at,
    )
    .expect("enrols");
    assert_eq!(
        ok(store.get_sequence(&x).await, "get_sequence (none yet)"),
        None
    );
    let kind = format!("conformance-sequence-{}", unique());
    let key = format!("{kind}:1");
    let job = NewJob::new(&kind, serde_json::json!({"contact": x.to_string()}))
        .with_key(&key)
        .run_at(at);
    ok(
        store
            .save_sequence(&seq, None, std::slice::from_ref(&job))
            .await,
        "save_sequence (insert)",
    );
    expect_err(
        store.save_sequence(&seq, None, &[]).await,
        "conflict",
        "a second insert for the contact",
    );
    let got = ok(store.get_sequence(&shouting(&x)).await, "get_sequence")
        .expect("stored, found whatever the case");
    assert_eq!(got, seq, "the sequence round-trips");
    let jobs = ok(
        store
            .list_jobs(&JobFilter {
                kind: Some(kind.clone()),
                ..JobFilter::default()
            })
            .await,
        "list_jobs",
    );
    assert_eq!(jobs.len(), 1, "the job was enqueued with the sequence");

    let mut next = got.clone();
    assert!(rules::stop(&mut next, StopReason::Replied, at));
    next.version = got.version + 1;
    let job2 = NewJob::new(&kind, serde_json::json!({})).with_key(format!("{kind}:2"));
    ok(
        store
            .save_sequence(&next, Some(got.version), &[job.clone(), job2])
            .await,
        "save_sequence (update)",
    );
    expect_err(
        store.save_sequence(&next, Some(got.version), &[]).await,
        "conflict",
        "an update at a stale version",
    );
    let mut same = next.clone();
    same.version = next.version;
    expect_err(
        store.save_sequence(&same, Some(next.version), &[]).await,
        "invalid_input",
        "a version not past the expected one",
    );
    let other = address("nosequence");
    let mut stray = next.clone();
    stray.contact_email = other.clone();
    stray.version = 9;
    expect_err(
        store.save_sequence(&stray, Some(3), &[]).await,
        "not_found",
        "an update of a contact without a sequence",
    );
    let jobs = ok(
        store
            .list_jobs(&JobFilter {
                kind: Some(kind.clone()),
                ..JobFilter::default()
            })
            .await,
        "list_jobs",
    );
    assert_eq!(jobs.len(), 2, "a known job key is kept, a new one added");
    let stored = ok(store.get_sequence(&x).await, "get_sequence").expect("stored");
    assert_eq!(stored.status, SequenceStatus::Stopped);
    assert_eq!(stored.stop_reason, Some(StopReason::Replied));
    let stopped = ok(
        store
            .list_sequences(&SequenceFilter {
                status: Some(SequenceStatus::Stopped),
                limit: 0,
            })
            .await,
        "list_sequences",
    );
    assert!(stopped.iter().any(|s| s.contact_email == x));
    let active = ok(
        store
            .list_sequences(&SequenceFilter {
                status: Some(SequenceStatus::Active),
                limit: 0,
            })
            .await,
        "list_sequences",
    );
    assert!(!active.iter().any(|s| s.contact_email == x));
    ok(
        store.erase_contact(&x, "operator:conformance").await,
        "erase_contact",
    );
    assert_eq!(
        ok(store.get_sequence(&x).await, "get_sequence after erase"),
        None,
        "erased with the contact"
    );
}
