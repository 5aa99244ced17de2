//! Submissions, drafts, runs, messages, outcomes, voice profiles, tokens and settings.

use crate::common::{ManualClock, builder, draft, email, key, stores, submission, t0, urls};
use salesagent_core::Error;
use salesagent_core::model::{
    DraftAction, DraftStatus, MessageDirection, MessageId, MessageRecord, OAuthToken, Outcome,
    OutcomeId, OutcomeType, RunId, RunStatus, StepRecord, StepStatus, ThreadRef, VoiceProfile,
    VoiceProfileId, VoiceStyle, WorkflowRun,
};
use salesagent_core::ports::{
    AdminStore, AuditStore, DraftFilter, DraftStore, JobStore, MessageStore, OutcomeFilter,
    OutcomeStore, RunStore, SecretStore, SettingsExt, SettingsStore, SubmissionStore, VoiceStore,
};
use salesagent_store::{EncryptionKey, SqlStore};
use secrecy::SecretString;

#[tokio::test]
async fn submissions_are_stored_verbatim_once() {
    for (name, s, _) in stores().await {
        let sub = submission("ann@acme.io", "form-1");
        let (a, new) = s.save_submission(&sub).await.unwrap();
        assert!(new);
        assert_eq!(a, sub);
        let mut again = submission("ann@acme.io", "form-1");
        again.raw.push(' ');
        let (b, new) = s.save_submission(&again).await.unwrap();
        assert!(!new, "{name}");
        assert_eq!(b, sub, "{name}: the first one wins, verbatim");
        assert_eq!(s.get_submission(sub.id).await.unwrap().raw, sub.raw);
        assert_eq!(s.find_submission("form:form-1").await.unwrap(), Some(sub));
        assert_eq!(s.find_submission("form:nope").await.unwrap(), None);
        assert!(matches!(
            s.get_submission(salesagent_core::model::SubmissionId::new())
                .await,
            Err(Error::NotFound { .. })
        ));
        // Concurrent deliveries of one key store one submission.
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let s = s.clone();
            tasks.push(tokio::spawn(async move {
                s.save_submission(&submission("bob@acme.io", "form-2"))
                    .await
                    .unwrap()
                    .1
            }));
        }
        let mut created = 0;
        for t in tasks {
            created += usize::from(t.await.unwrap());
        }
        assert_eq!(created, 1, "{name}");
    }
}

#[tokio::test]
async fn drafts_versions_events_and_lookups() {
    for (name, s, _) in stores().await {
        let sub = submission("ann@acme.io", "f");
        s.save_submission(&sub).await.unwrap();
        let mut d = draft("Ann@acme.io", Some(sub.id));
        s.insert_draft(&d, &d.created_event("system:pipeline"))
            .await
            .unwrap();
        assert_eq!(s.get_draft(d.id).await.unwrap(), d, "{name}");
        let dup = draft("x@acme.io", Some(sub.id));
        assert!(matches!(
            s.insert_draft(&dup, &dup.created_event("x")).await,
            Err(Error::Conflict { .. })
        ));
        assert_eq!(
            s.find_draft_by_submission(sub.id).await.unwrap(),
            Some(d.clone())
        );

        let ev = d
            .apply(DraftAction::Approve, "operator:alice", t0())
            .unwrap();
        s.update_draft(&d, 1, &ev).await.unwrap();
        let mut stale = s.get_draft(d.id).await.unwrap();
        let ev2 = stale
            .apply(
                DraftAction::Reject {
                    reason: "late".into(),
                },
                "operator:bob",
                t0(),
            )
            .err();
        assert!(ev2.is_some(), "approved drafts cannot be rejected");
        let mid = MessageId::parse("<abc@seller.io>").unwrap();
        let ev3 = stale
            .apply(
                DraftAction::BeginSend {
                    message_id: mid.clone(),
                    claim: None,
                },
                "system:sender",
                t0(),
            )
            .unwrap();
        assert!(matches!(
            s.update_draft(&stale, 1, &ev3).await,
            Err(Error::Conflict { .. })
        ));
        s.update_draft(&stale, 2, &ev3).await.unwrap();
        assert_eq!(
            s.find_draft_by_message_id(&mid)
                .await
                .unwrap()
                .map(|d| d.id),
            Some(d.id),
            "{name}"
        );
        let events = s.draft_events(d.id).await.unwrap();
        assert_eq!(events.len(), 3, "{name}");
        assert_eq!(events[1].action, DraftAction::Approve);
        assert_eq!(events[2].after.status, DraftStatus::Sending);

        let other = draft("zed@other.io", None);
        s.insert_draft(&other, &other.created_event("x"))
            .await
            .unwrap();
        let mine = s
            .list_drafts(&DraftFilter {
                contact: Some(email("ANN@ACME.IO")),
                ..DraftFilter::default()
            })
            .await
            .unwrap();
        assert_eq!(mine.len(), 1, "{name}");
        let pending = s
            .list_drafts(&DraftFilter {
                status: Some(DraftStatus::Pending),
                limit: 1,
                ..DraftFilter::default()
            })
            .await
            .unwrap();
        assert_eq!(
            pending.iter().map(|d| d.id).collect::<Vec<_>>(),
            vec![other.id]
        );
        let counts = s.draft_counts().await.unwrap();
        assert_eq!(counts.get(&DraftStatus::Sending), Some(&1), "{name}");
        assert_eq!(counts.get(&DraftStatus::Pending), Some(&1), "{name}");
        let missing = draft("x@y.io", None);
        assert!(matches!(
            s.update_draft(&missing, 1, &missing.created_event("x"))
                .await,
            Err(Error::NotFound { .. })
        ));
    }
}

#[tokio::test]
async fn runs_messages_outcomes_voice_tokens_settings() {
    for (name, s, _) in stores().await {
        let sub = submission("ann@acme.io", "f");
        let run = WorkflowRun {
            id: RunId::new(),
            submission_id: sub.id,
            draft_id: None,
            status: RunStatus::Running,
            started_at: t0(),
            finished_at: None,
            steps: vec![StepRecord {
                name: "resolve_contact".into(),
                status: StepStatus::Degraded,
                started_at: t0(),
                finished_at: Some(t0()),
                duration_ms: Some(12),
                error: Some("CRM timed out".into()),
                degraded_reason: Some("continued without CRM".into()),
            }],
        };
        s.save_run(&run).await.unwrap();
        let mut done = run.clone();
        done.status = RunStatus::Succeeded;
        done.steps.push(StepRecord {
            name: "draft".into(),
            status: StepStatus::Ok,
            started_at: t0(),
            finished_at: None,
            duration_ms: None,
            error: None,
            degraded_reason: None,
        });
        s.save_run(&done).await.unwrap();
        assert_eq!(s.get_run(run.id).await.unwrap(), done, "{name}");
        assert_eq!(s.runs_for_submission(sub.id).await.unwrap(), vec![done]);

        let m = MessageRecord {
            message_id: MessageId::parse("m1@seller.io").unwrap(),
            direction: MessageDirection::Outbound,
            contact_email: email("ann@acme.io"),
            draft_id: None,
            thread: ThreadRef::default(),
            subject: "Hi".into(),
            body: "the body text".into(),
            at: t0(),
        };
        s.record_message(&m).await.unwrap();
        s.record_message(&m).await.unwrap();
        assert_eq!(
            s.find_message(&m.message_id).await.unwrap(),
            Some(m.clone())
        );
        assert_eq!(
            s.messages_for_contact(&email("Ann@acme.io")).await.unwrap(),
            vec![m]
        );

        let o = Outcome {
            id: OutcomeId::new(),
            outcome_type: OutcomeType::EmailReplied,
            contact_email: email("ann@acme.io"),
            sender: Some(email("rep@seller.io")),
            draft_id: None,
            impact: 5,
            source_event_id: "gmail:1".into(),
            occurred_at: t0(),
            recorded_at: t0(),
            details: None,
        };
        assert!(s.record_outcome(&o).await.unwrap());
        assert!(
            !s.record_outcome(&Outcome {
                id: OutcomeId::new(),
                ..o.clone()
            })
            .await
            .unwrap()
        );
        let o2 = Outcome {
            id: OutcomeId::new(),
            outcome_type: OutcomeType::MeetingBooked,
            source_event_id: "cal:1".into(),
            occurred_at: t0() + chrono::Duration::hours(1),
            ..o.clone()
        };
        s.record_outcome(&o2).await.unwrap();
        let all = s.list_outcomes(&OutcomeFilter::default()).await.unwrap();
        assert_eq!(all, vec![o2.clone(), o.clone()], "{name}: newest first");
        let f = OutcomeFilter {
            contact: Some(email("ANN@acme.io")),
            sender: Some(email("rep@seller.io")),
            types: vec![OutcomeType::EmailReplied, OutcomeType::DealWon],
            since: Some(t0()),
            until: Some(t0() + chrono::Duration::minutes(1)),
            limit: 5,
        };
        assert_eq!(s.list_outcomes(&f).await.unwrap(), vec![o], "{name}");

        let owner = email("rep@seller.io");
        let p = VoiceProfile {
            id: VoiceProfileId::new(),
            owner: owner.clone(),
            name: "default".into(),
            version: 0,
            message_count: 10,
            updated_at: t0(),
            style: VoiceStyle::default(),
        };
        let v1 = s.save_voice_profile(&p).await.unwrap();
        let v2 = s
            .save_voice_profile(&VoiceProfile {
                id: VoiceProfileId::new(),
                message_count: 20,
                ..p.clone()
            })
            .await
            .unwrap();
        assert_eq!((v1.version, v2.version), (1, 2), "{name}");
        assert_eq!(v2.id, v1.id, "{name}: id stable across versions");
        s.save_voice_profile(&VoiceProfile {
            name: "formal".into(),
            ..p.clone()
        })
        .await
        .unwrap();
        assert_eq!(
            s.voice_profile(&owner, "default").await.unwrap(),
            Some(v2.clone())
        );
        let names: Vec<(String, u32)> = s
            .voice_profiles(&owner)
            .await
            .unwrap()
            .into_iter()
            .map(|p| (p.name, p.version))
            .collect();
        assert_eq!(
            names,
            vec![("default".into(), 2), ("formal".into(), 1)],
            "{name}"
        );

        let tok = OAuthToken {
            account: "rep@seller.io".into(),
            access_token: SecretString::from("ya29.access-secret"),
            refresh_token: Some(SecretString::from("1//refresh-secret")),
            expires_at: Some(t0()),
            scopes: vec!["gmail.send".into()],
            needs_reauth: false,
        };
        s.save_token(&tok).await.unwrap();
        assert_eq!(s.token("rep@seller.io").await.unwrap(), Some(tok.clone()));
        assert!(s.delete_token("rep@seller.io").await.unwrap());
        assert!(!s.delete_token("rep@seller.io").await.unwrap());
        assert_eq!(s.token("rep@seller.io").await.unwrap(), None);

        assert_eq!(s.setting("cursor").await.unwrap(), None);
        s.put_setting("cursor", "1").await.unwrap();
        s.put_setting("cursor", "2").await.unwrap();
        assert_eq!(s.setting("cursor").await.unwrap().as_deref(), Some("2"));
        assert!(!s.kill_switch().await.unwrap());
        s.set_kill_switch(true).await.unwrap();
        assert!(s.kill_switch().await.unwrap(), "{name}");
        s.health().await.unwrap();
    }
}

/// Tokens and bodies are ciphertext in the database; a store without the key refuses to
/// start, one with the wrong key too, and a rotated key still reads old values.
#[tokio::test]
async fn encryption_at_rest_and_key_handling() {
    for (name, url) in urls().await {
        if url.contains(":memory:") {
            continue; // reconnecting needs a persistent database
        }
        let s = builder(&url)
            .clock(ManualClock::new())
            .connect()
            .await
            .unwrap();
        let tok = OAuthToken {
            account: "rep@seller.io".into(),
            access_token: SecretString::from("ya29.access-secret"),
            refresh_token: None,
            expires_at: None,
            scopes: vec![],
            needs_reauth: false,
        };
        s.save_token(&tok).await.unwrap();
        let d = draft("ann@acme.io", None);
        s.insert_draft(&d, &d.created_event("x")).await.unwrap();
        for (table, secret) in [
            ("oauth_tokens", "ya29.access-secret"),
            ("drafts", "secret draft body"),
            ("draft_events", "secret draft body"),
            ("drafts", "ann@acme.io"),
        ] {
            let q = format!("SELECT doc FROM {table}");
            let rows: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(q))
                .fetch_all(s.pool())
                .await
                .unwrap();
            assert!(!rows.is_empty());
            for r in rows {
                assert!(r.starts_with(&format!("e1:{}:", key().id())), "{name}");
                assert!(
                    !r.contains(secret),
                    "{name}: {table} holds {secret} in clear"
                );
            }
        }
        s.close().await;

        let e = SqlStore::builder(&url)
            .without_encryption()
            .connect()
            .await
            .unwrap_err();
        assert!(
            e.to_string().contains("SALESAGENT_ENCRYPTION_KEY"),
            "{name}: {e}"
        );
        let other = EncryptionKey::from_bytes([1; 32]);
        let e = SqlStore::builder(&url)
            .encryption_key(other.clone())
            .connect()
            .await
            .unwrap_err();
        assert!(e.to_string().contains(key().id()), "{name}: {e}");
        // Rotation: new primary key, old key kept for reading.
        let s = SqlStore::builder(&url)
            .encryption_key(other)
            .decryption_key(key())
            .connect()
            .await
            .unwrap();
        assert_eq!(s.token("rep@seller.io").await.unwrap(), Some(tok), "{name}");
        assert_eq!(
            s.list_drafts(&DraftFilter {
                contact: Some(email("ann@acme.io")),
                ..DraftFilter::default()
            })
            .await
            .unwrap()
            .len(),
            1,
            "{name}: blind index survives rotation"
        );
    }
}

/// A NUL character is a typed `InvalidInput` on PostgreSQL and data on SQLite; never a panic.
#[tokio::test]
async fn nul_bytes_are_typed_errors_on_postgres() {
    for (name, s, _) in stores().await {
        let results = [
            s.put_setting("k", "a\0b").await.err(),
            s.put_setting("k\0", "v").await.err(),
            s.enqueue(&salesagent_core::model::NewJob::new(
                "k\0",
                serde_json::json!(1),
            ))
            .await
            .err(),
            s.append_audit(&salesagent_core::model::NewAuditEntry {
                actor: "a\0".into(),
                action: "x".into(),
                subject: "y".into(),
                details: serde_json::json!("\0 inside JSON is escaped"),
            })
            .await
            .err(),
            s.find_submission("x\0").await.err(),
        ];
        for r in results {
            if name == "postgres" {
                assert!(
                    matches!(r, Some(Error::InvalidInput { .. })),
                    "{name}: {r:?}"
                );
            } else {
                assert!(r.is_none(), "{name}: {r:?}");
            }
        }
        // JSON documents carry NUL escaped, so it round-trips everywhere.
        let (job, _) = s
            .enqueue(&salesagent_core::model::NewJob::new(
                "k",
                serde_json::json!("a\0b"),
            ))
            .await
            .unwrap();
        assert_eq!(
            s.get_job(job.id).await.unwrap().payload,
            serde_json::json!("a\0b")
        );
    }
}

#[tokio::test]
async fn sqlite_draft_writes_commit_with_synchronous_full() {
    // A draft's send state is committed with `synchronous = FULL` (2) so it survives a power
    // failure; the connection then gets its own `NORMAL` (1) back for every other write.
    let s = builder(&crate::common::sqlite_file_url())
        .max_connections(1)
        .connect()
        .await
        .unwrap();
    let level = |s: &SqlStore| {
        let pool = s.pool().clone();
        async move {
            sqlx::query_scalar::<_, i64>("SELECT synchronous FROM pragma_synchronous")
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    assert_eq!(level(&s).await, 1, "the pool's setting is NORMAL");
    // The pool's only connection records the setting each draft update commits under.
    for sql in [
        "CREATE TEMP TABLE seen (level INTEGER)",
        "CREATE TEMP TRIGGER record_level AFTER UPDATE ON main.drafts BEGIN \
         INSERT INTO seen SELECT synchronous FROM pragma_synchronous; END",
    ] {
        sqlx::query(sql).execute(s.pool()).await.unwrap();
    }
    let mut d = draft("ann@acme.io", None);
    s.insert_draft(&d, &d.created_event("system:pipeline"))
        .await
        .unwrap();
    let ev = d
        .apply(DraftAction::Approve, "operator:alice", t0())
        .unwrap();
    s.update_draft(&d, 1, &ev).await.unwrap();
    let mid = MessageId::parse("<durable@seller.io>").unwrap();
    let ev = d
        .apply(
            DraftAction::BeginSend {
                message_id: mid,
                claim: None,
            },
            "system:sender",
            t0(),
        )
        .unwrap();
    s.update_draft_record(&salesagent_core::ports::DraftUpdate {
        draft: &d,
        expected_version: 2,
        event: &ev,
        audit: None,
        jobs: &[],
    })
    .await
    .unwrap();
    let seen: Vec<i64> = sqlx::query_scalar("SELECT level FROM seen")
        .fetch_all(s.pool())
        .await
        .unwrap();
    assert_eq!(
        seen,
        vec![2, 2],
        "both draft updates ran under synchronous = FULL"
    );
    assert_eq!(
        level(&s).await,
        1,
        "the connection is NORMAL again afterwards"
    );
}
