//! GDPR erase: fill every table, erase one contact, then scan every column of every table
//! (found through the catalog) for the address and its local part.

use crate::common::{ManualClock, builder, draft, email, pg_url, submission, t0};
use salesagent_core::model::{
    ApprovedRecipient, DraftAction, JobFailure, MessageDirection, MessageId, MessageRecord,
    NewAuditEntry, NewJob, OAuthToken, Outcome, OutcomeId, OutcomeType, RunId, RunStatus,
    SendLimits, SendReservation, StepRecord, StepStatus, Suppression, SuppressionReason, ThreadRef,
    VoiceProfile, VoiceProfileId, VoiceStyle, WorkflowRun,
};
use salesagent_core::ports::{
    AdminStore, AuditStore, DraftStore, JobStore, MessageStore, OutcomeStore, RunStore,
    SecretStore, SendStore, SettingsStore, SubmissionStore, VoiceStore,
};
use salesagent_store::{Backend, SqlStore};
use secrecy::SecretString;
use sqlx::Row;
use std::time::Duration;

const TARGET: &str = "gdpr.target-7f3a@victim-corp.io";
const LOCAL: &str = "gdpr.target-7f3a";
const BYSTANDER: &str = "carol@other-corp.io";

/// Writes rows mentioning `who` into every table.
async fn fill(s: &SqlStore, who: &str, tag: &str) {
    let sub = submission(who, &format!("form-{tag}"));
    s.save_submission(&sub).await.unwrap();
    let mut d = draft(who, Some(sub.id));
    d.body = format!("Hi {who}, following up.");
    s.insert_draft(&d, &d.created_event("system:pipeline"))
        .await
        .unwrap();
    let ev = d
        .apply(DraftAction::Approve, "operator:alice", t0())
        .unwrap();
    s.update_draft(&d, 1, &ev).await.unwrap();
    s.save_run(&WorkflowRun {
        id: RunId::new(),
        submission_id: sub.id,
        draft_id: Some(d.id),
        status: RunStatus::Succeeded,
        started_at: t0(),
        finished_at: Some(t0()),
        steps: vec![StepRecord {
            name: "resolve_contact".into(),
            status: StepStatus::Degraded,
            started_at: t0(),
            finished_at: Some(t0()),
            duration_ms: Some(3),
            error: Some(format!("no CRM contact for {who}")),
            degraded_reason: Some("created one".into()),
        }],
    })
    .await
    .unwrap();
    s.record_message(&MessageRecord {
        message_id: MessageId::parse(&format!("{tag}-1@mail.example")).unwrap(),
        direction: MessageDirection::Inbound,
        contact_email: email(who),
        draft_id: Some(d.id),
        thread: ThreadRef::default(),
        subject: format!("Re: hello {who}"),
        body: format!("> {who} wrote: thanks"),
        at: t0(),
    })
    .await
    .unwrap();
    s.record_outcome(&Outcome {
        id: OutcomeId::new(),
        outcome_type: OutcomeType::EmailReplied,
        contact_email: email(who),
        sender: Some(email("rep@seller.io")),
        draft_id: Some(d.id),
        impact: 5,
        source_event_id: format!("gmail:{tag}"),
        occurred_at: t0(),
        recorded_at: t0(),
        details: Some(format!("reply from {who}")),
    })
    .await
    .unwrap();
    s.save_voice_profile(&VoiceProfile {
        id: VoiceProfileId::new(),
        owner: email(who),
        name: "default".into(),
        version: 0,
        message_count: 1,
        updated_at: t0(),
        style: VoiceStyle::default(),
    })
    .await
    .unwrap();
    s.add_approved_recipient(&ApprovedRecipient {
        email: email(who),
        added_by: "operator:alice".into(),
        added_at: t0(),
    })
    .await
    .unwrap();
    s.reserve_send(
        &SendReservation {
            draft_id: d.id,
            contact: email(who),
            sender: email("rep@seller.io"),
            at: t0(),
        },
        &SendLimits::default(),
    )
    .await
    .unwrap();
    s.suppress(&Suppression {
        email: email(who),
        reason: SuppressionReason::Manual,
        note: Some(format!("{who} asked")),
        added_at: t0(),
    })
    .await
    .unwrap();
    s.save_token(&OAuthToken {
        account: who.to_owned(),
        access_token: SecretString::from(format!("token-of-{tag}")),
        refresh_token: None,
        expires_at: None,
        scopes: vec![],
        needs_reauth: false,
    })
    .await
    .unwrap();
    s.put_setting(&format!("last_reply_{tag}"), who)
        .await
        .unwrap();
    s.enqueue(&NewJob::new("send", serde_json::json!({ "to": who })))
        .await
        .unwrap();
    s.enqueue(
        &NewJob::new("crm_follow_up", serde_json::json!({ "draft_id": d.id }))
            .with_key(format!("crm:{}", d.id)),
    )
    .await
    .unwrap();
    // A failed job whose error quotes the address.
    s.enqueue(&NewJob::new(
        "outcome_scan",
        serde_json::json!({ "n": tag }),
    ))
    .await
    .unwrap();
    while let Some(c) = s
        .claim("w", &["outcome_scan".into()], Duration::from_secs(60))
        .await
        .unwrap()
    {
        s.fail(
            &c.lease,
            &JobFailure {
                error: format!("mailbox rejected {who}"),
                retryable: false,
                retry_after: None,
            },
        )
        .await
        .unwrap();
    }
    s.append_audit(&NewAuditEntry {
        actor: "operator:alice".into(),
        action: "draft.approve".into(),
        subject: d.id.to_string(),
        details: serde_json::json!({"version": 2}),
    })
    .await
    .unwrap();
    // A follow-up sequence (table `sequences`).
    let mut first = d.clone();
    first.message_id = Some(MessageId::parse(&format!("{tag}-first@mail.example")).unwrap());
    first.sent_at = Some(t0());
    let utc = salesagent_core::sending::policy::parse_time_zone("UTC").unwrap();
    let seq = salesagent_core::sequences::rules::enrol(
        &first,
        &salesagent_core::sequences::SequenceConfig::default(),
        None,
        utc,
        t0(),
    )
    .unwrap();
    salesagent_core::ports::SequenceStore::save_sequence(s, &seq, None, &[])
        .await
        .unwrap();
}

/// Every table of the database and its columns, from the catalog.
async fn columns(s: &SqlStore) -> Vec<(String, Vec<String>)> {
    let tables: Vec<String> = match s.backend() {
        Backend::Sqlite => {
            sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        }
        Backend::Postgres => sqlx::query_scalar(
            "SELECT table_name::text FROM information_schema.tables \
             WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY 1",
        ),
    }
    .fetch_all(s.pool())
    .await
    .unwrap();
    let mut out = Vec::new();
    for t in tables {
        let cols: Vec<String> = match s.backend() {
            Backend::Sqlite => sqlx::query_scalar("SELECT name FROM pragma_table_info($1)"),
            Backend::Postgres => sqlx::query_scalar(
                "SELECT column_name::text FROM information_schema.columns \
                 WHERE table_schema = current_schema() AND table_name = $1",
            ),
        }
        .bind(t.clone())
        .fetch_all(s.pool())
        .await
        .unwrap();
        out.push((t, cols));
    }
    out
}

/// Rows (per table.column) whose text contains `needle`, case-insensitively.
async fn hits(s: &SqlStore, needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for (table, cols) in columns(s).await {
        for c in cols {
            let sql = match s.backend() {
                Backend::Sqlite => format!(
                    "SELECT COUNT(*) AS n FROM \"{table}\" \
                     WHERE instr(lower(CAST(\"{c}\" AS TEXT)), $1) > 0"
                ),
                Backend::Postgres => format!(
                    "SELECT COUNT(*) AS n FROM \"{table}\" \
                     WHERE strpos(lower(\"{c}\"::text), $1) > 0"
                ),
            };
            let n: i64 = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(needle.to_lowercase())
                .fetch_one(s.pool())
                .await
                .unwrap()
                .get("n");
            if n > 0 {
                found.push(format!("{table}.{c} ({n})"));
            }
        }
    }
    found
}

async fn erase_leaves_nothing(name: &str, s: SqlStore, encrypted: bool) {
    fill(&s, TARGET, "t").await;
    fill(&s, BYSTANDER, "b").await;
    // Every table holds rows before the erase.
    for (table, _) in columns(&s).await {
        let n: i64 = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT COUNT(*) AS n FROM \"{table}\""
        )))
        .fetch_one(s.pool())
        .await
        .unwrap()
        .get("n");
        // Tombstones are written by an erase only; operators name no contact.
        assert!(
            n > 0 || table == "erasure_tombstones" || table == "operators",
            "{name}: table {table} was not filled"
        );
    }
    let before = hits(&s, LOCAL).await;
    if encrypted {
        // Only the plain columns that are erased by text search mention the contact.
        assert!(
            before.iter().all(|h| h.starts_with("jobs.")
                || h.starts_with("settings.")
                || h.starts_with("workflow_steps.")),
            "{name}: clear text outside the searchable columns: {before:?}"
        );
    } else {
        assert!(
            before.len() >= 8,
            "{name}: the scanner sees plain documents: {before:?}"
        );
    }

    let report = s
        .erase_contact(&email(TARGET), "operator:dpo")
        .await
        .unwrap();
    for table in [
        "submissions",
        "drafts",
        "draft_events",
        "workflow_runs",
        "workflow_steps",
        "messages",
        "outcomes",
        "voice_profiles",
        "approved_recipients",
        "suppressions",
        "send_log",
        "oauth_tokens",
        "settings",
        "jobs",
    ] {
        assert!(
            report.per_table.get(table).copied().unwrap_or(0) > 0,
            "{name}: nothing erased from {table}: {report:?}"
        );
    }
    for needle in [TARGET, LOCAL] {
        let left = hits(&s, needle).await;
        assert!(left.is_empty(), "{name}: {needle} still in {left:?}");
    }
    // The bystander is untouched and the audit chain holds, ending in a tombstone.
    assert!(!hits(&s, "carol@other-corp.io").await.is_empty() || encrypted);
    assert_eq!(
        s.messages_for_contact(&email(BYSTANDER))
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(s.token(BYSTANDER).await.unwrap().is_some(), "{name}");
    assert!(s.verify_audit_chain().await.unwrap().is_intact(), "{name}");
    let last = s.audit_entries(0, 0).await.unwrap().pop().unwrap();
    assert_eq!(last.action, "contact.erase");
    // Erasing again finds nothing more.
    let again = s
        .erase_contact(&email(TARGET), "operator:dpo")
        .await
        .unwrap();
    assert_eq!(again.total(), 0, "{name}: {again:?}");
}

#[tokio::test]
async fn erase_contact_sqlite() {
    for encrypted in [true, false] {
        for url in [
            "sqlite::memory:".to_owned(),
            crate::common::sqlite_file_url(),
        ] {
            let b = builder(&url).clock(ManualClock::new());
            let b = if encrypted { b } else { b.without_encryption() };
            erase_leaves_nothing(&url, b.connect().await.unwrap(), encrypted).await;
        }
    }
}

#[tokio::test]
async fn erase_contact_postgres() {
    for encrypted in [true, false] {
        let Some(url) = pg_url().await else { return };
        let b = builder(&url).clock(ManualClock::new());
        let b = if encrypted { b } else { b.without_encryption() };
        erase_leaves_nothing("postgres", b.connect().await.unwrap(), encrypted).await;
    }
}
