//! Privacy: plaintext rejected under a key, sealing a plaintext database in place, key
//! rotation that retires the old key (resumably), and erasure by crypto-shredding that leaves
//! no bytes behind in any table or in the SQLite file and its write-ahead log.

use crate::common::{ManualClock, email, pg_url, sqlite_path, t0};
use salesagent_core::model::{
    CrmId, DraftAction, DraftId, Job, JobFailure, JobFilter, MessageDirection, MessageId,
    MessageRecord, NewAuditEntry, NewJob, OAuthToken, Outcome, OutcomeId, OutcomeType, RunId,
    RunStatus, SendDecision, SendLimits, SendReservation, StepRecord, StepStatus, Suppression,
    SuppressionReason, ThreadRef, WorkflowRun,
};
use salesagent_core::ports::{
    AdminStore, AuditStore, DraftStore, DraftUpdate, JobStore, MessageStore, OutcomeStore,
    SecretStore, SendStore, SettingsStore, SubmissionStore,
};
use salesagent_store::{Backend, EncryptionKey, SqlStore, SqlStoreBuilder};
use secrecy::SecretString;
use sqlx::Row;
use std::time::Duration;

/// The personal strings of one contact, each unique enough to be searched for in raw bytes.
struct Person {
    address: String,
    name: &'static str,
    company: &'static str,
    draft_text: String,
    token: String,
    crm_id: String,
}

fn person(tag: &str) -> Person {
    Person {
        address: format!("privacy.{tag}-q7z@zyxcorp-{tag}.example"),
        name: if tag == "t" {
            "Zebulon Quixote"
        } else {
            "Bystander Person"
        },
        company: if tag == "t" {
            "Quuxcorp Industries"
        } else {
            "Other Company Ltd"
        },
        draft_text: format!("secret pitch {tag} 88417 about widgets"),
        token: format!("ya29.refresh-token-of-{tag}-4411"),
        crm_id: format!("90210{}", tag.len() * 7 + usize::from(tag == "t")),
    }
}

fn key_a() -> EncryptionKey {
    EncryptionKey::from_bytes([11; 32])
}

fn key_b() -> EncryptionKey {
    EncryptionKey::from_bytes([22; 32])
}

/// Writes drafts (created, approved, edited, with audit entries), runs, messages, outcomes,
/// a suppression, a token, and jobs of several kinds (one failed, one `crm_contact_event`
/// naming the contact by CRM id only) for `p`. Returns the draft id.
async fn fill(s: &SqlStore, p: &Person, tag: &str) -> DraftId {
    let raw = serde_json::json!({
        "submission_id": format!("form-{tag}"),
        "submitted_at": "2026-11-25T09:00:00Z",
        "fields": {"email": p.address, "firstname": p.name, "company": p.company,
                   "message": format!("I work at {}", p.company)}
    })
    .to_string();
    let sub = salesagent_core::model::FormSubmission::from_canonical_json(&raw, t0()).unwrap();
    s.save_submission(&sub).await.unwrap();
    let mut d = salesagent_core::model::Draft {
        id: DraftId::new(),
        submission_id: Some(sub.id),
        contact_name: Some(p.name.into()),
        company_name: Some(p.company.into()),
        contact_crm_id: Some(CrmId::new(p.crm_id.clone())),
        ..salesagent_core::model::Draft::new(
            email(&p.address),
            email("rep@seller.io"),
            "Hello",
            format!("Dear {}, {}", p.name, p.draft_text),
            salesagent_core::model::DraftWriter::Human,
            t0(),
        )
    };
    let created = d.created_event("system:pipeline");
    let run = WorkflowRun {
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
            error: Some(format!(
                "CRM said: no contact {} at {}",
                p.address, p.company
            )),
            degraded_reason: Some("created one".into()),
        }],
    };
    s.insert_draft_record(&salesagent_core::ports::NewDraftRecord {
        draft: &d,
        event: &created,
        run: &run,
        audit: &NewAuditEntry {
            actor: "system:pipeline".into(),
            action: "draft.create".into(),
            subject: d.id.to_string(),
            details: serde_json::json!({ "contact": p.address, "name": p.name }),
        },
        follow_up: &NewJob::new("send", serde_json::json!({ "draft_id": d.id })),
    })
    .await
    .unwrap();
    // Approve, then edit: each audited with the draft's text before and after.
    for action in [
        DraftAction::Approve,
        DraftAction::Edit {
            subject: None,
            body: Some(format!("Dear {}, edited: {}", p.name, p.draft_text)),
        },
    ] {
        let before = d.version;
        let ev = d.apply(action, "operator:alice", t0()).unwrap();
        let audit = NewAuditEntry {
            actor: "operator:alice".into(),
            action: format!("draft.{}", ev.action.name()),
            subject: d.id.to_string(),
            details: serde_json::to_value(&ev).unwrap(),
        };
        s.update_draft_record(&DraftUpdate {
            draft: &d,
            expected_version: before,
            event: &ev,
            audit: Some(&audit),
            jobs: &[],
        })
        .await
        .unwrap();
    }
    s.record_message(&MessageRecord {
        message_id: MessageId::parse(&format!("{tag}-1@mail.example")).unwrap(),
        direction: MessageDirection::Inbound,
        contact_email: email(&p.address),
        draft_id: Some(d.id),
        thread: ThreadRef::default(),
        subject: format!("Re: {}", p.draft_text),
        body: format!("{} wrote: thanks", p.name),
        at: t0(),
    })
    .await
    .unwrap();
    s.record_outcome(&Outcome {
        id: OutcomeId::new(),
        outcome_type: OutcomeType::EmailReplied,
        contact_email: email(&p.address),
        sender: Some(email("rep@seller.io")),
        draft_id: Some(d.id),
        impact: 5,
        source_event_id: format!("gmail:{tag}"),
        occurred_at: t0(),
        recorded_at: t0(),
        details: Some(format!("reply from {} of {}", p.name, p.company)),
    })
    .await
    .unwrap();
    s.save_token(&OAuthToken {
        account: p.address.clone(),
        access_token: SecretString::from(p.token.clone()),
        refresh_token: Some(SecretString::from(format!("{}-r", p.token))),
        expires_at: None,
        scopes: vec![],
        needs_reauth: false,
    })
    .await
    .unwrap();
    s.put_setting(
        &format!("last_reply_{tag}"),
        &format!("{} <{}> token {}", p.name, p.address, p.token),
    )
    .await
    .unwrap();
    // A HubSpot contact event names the contact by CRM id only.
    s.enqueue(
        &NewJob::new(
            "crm_contact_event",
            serde_json::json!({
                "contact_id": p.crm_id,
                "idempotency_key": format!("hubspot-event:1:{tag}"),
                "raw": format!("{{\"objectId\":{}}}", p.crm_id),
            }),
        )
        .with_key(format!("hubspot-event:1:{tag}")),
    )
    .await
    .unwrap();
    s.enqueue(&NewJob::new(
        "form_submission",
        serde_json::json!({ "fields": {"email": p.address, "company": p.company} }),
    ))
    .await
    .unwrap();
    // A job run that fails with an error quoting the contact.
    let kind = format!("outcome_scan_{tag}");
    s.enqueue(&NewJob::new(&kind, serde_json::json!({ "draft": d.id })))
        .await
        .unwrap();
    let c = s
        .claim("w", &[kind], Duration::from_secs(60))
        .await
        .unwrap()
        .unwrap();
    s.fail(
        &c.lease,
        &JobFailure {
            error: format!("mailbox rejected {} ({})", p.address, p.name),
            retryable: false,
            retry_after: None,
        },
    )
    .await
    .unwrap();
    d.id
}

/// Every table and its columns, from the catalog.
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

/// Columns (`table.column`) whose text contains `needle`, case-insensitively.
async fn table_hits(s: &SqlStore, needle: &str) -> Vec<String> {
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
                found.push(format!("{table}.{c}"));
            }
        }
    }
    found
}

/// Files (the database, its WAL) whose bytes contain `needle`, case-insensitively.
fn file_hits(path: &std::path::Path, needle: &str) -> Vec<String> {
    let needle = needle.to_lowercase().into_bytes();
    let mut found = Vec::new();
    for suffix in ["", "-wal", "-journal"] {
        let file = std::path::PathBuf::from(format!("{}{suffix}", path.display()));
        let Ok(bytes) = std::fs::read(&file) else {
            continue;
        };
        let lower = bytes.to_ascii_lowercase();
        if lower.windows(needle.len()).any(|w| w == needle.as_slice()) {
            found.push(file.display().to_string());
        }
    }
    found
}

fn secrets(p: &Person) -> Vec<String> {
    vec![
        p.address.clone(),
        p.name.to_owned(),
        p.company.to_owned(),
        p.draft_text.clone(),
        p.token.clone(),
    ]
}

#[tokio::test]
async fn plaintext_values_are_rejected_with_a_key() {
    let mut urls = vec!["sqlite::memory:".to_owned()];
    urls.extend(pg_url().await);
    for url in urls {
        let s = SqlStore::builder(&url)
            .encryption_key(key_a())
            .clock(ManualClock::new())
            .connect()
            .await
            .unwrap();
        let p = person("t");
        let id = fill(&s, &p, "t").await;
        assert!(s.get_draft(id).await.is_ok());
        // A document planted by hand as plaintext (to bypass authentication) is refused.
        let mut forged = s.get_draft(id).await.unwrap();
        forged.body = "forged".into();
        let planted = format!("p:{}", serde_json::to_string(&forged).unwrap());
        sqlx::query("UPDATE drafts SET doc = $1 WHERE id = $2")
            .bind(planted)
            .bind(id.to_string())
            .execute(s.pool())
            .await
            .unwrap();
        let e = s.get_draft(id).await.unwrap_err();
        assert!(
            matches!(e, salesagent_core::Error::Backend { .. })
                && e.to_string().contains("unencrypted"),
            "{url}: {e}"
        );
        // So is a planted job payload.
        let (job, _) = s
            .enqueue(&NewJob::new("planted", serde_json::json!({"x": 1})))
            .await
            .unwrap();
        sqlx::query("UPDATE jobs SET payload = 'p:{\"x\":2}' WHERE id = $1")
            .bind(job.id.to_string())
            .execute(s.pool())
            .await
            .unwrap();
        assert!(s.get_job(job.id).await.is_err(), "{url}");
        s.close().await;
    }
}

/// Every value of `p` opens, and the lookups by address find it.
async fn everything_opens(s: &SqlStore, p: &Person, draft: DraftId, what: &str) {
    let d = s.get_draft(draft).await.unwrap();
    assert!(d.body.contains(&p.draft_text), "{what}");
    assert_eq!(
        s.messages_for_contact(&email(&p.address))
            .await
            .unwrap()
            .len(),
        1,
        "{what}: message lookup by address"
    );
    let setting = s.setting("last_reply_t").await.unwrap();
    assert!(
        setting.is_some_and(|v| v.contains(&p.token)),
        "{what}: settings open"
    );
    let t = s.token(&p.address).await.unwrap();
    assert!(t.is_some(), "{what}: token lookup by account");
    let jobs: Vec<Job> = s.list_jobs(&JobFilter::default()).await.unwrap();
    assert!(
        jobs.iter()
            .any(|j| j.payload.to_string().contains(&p.address)),
        "{what}: job payloads open"
    );
    assert!(
        jobs.iter()
            .any(|j| j.last_error.as_deref().is_some_and(|e| e.contains(p.name))),
        "{what}: job errors open"
    );
    let audit = s.audit_entries(0, 0).await.unwrap();
    assert!(
        audit
            .iter()
            .any(|e| e.details.to_string().contains(&p.draft_text)),
        "{what}: audit details open"
    );
    assert!(s.verify_audit_chain().await.unwrap().is_intact(), "{what}");
    assert!(
        s.suppression(&email(&p.address)).await.unwrap().is_some(),
        "{what}: suppression lookup by address"
    );
    let reserve = s
        .reserve_send(
            &SendReservation {
                draft_id: DraftId::new(),
                contact: email(&p.address),
                sender: email("rep@seller.io"),
                at: t0(),
            },
            &SendLimits::default(),
        )
        .await
        .unwrap();
    assert!(matches!(reserve, SendDecision::Deny { .. }), "{what}");
}

async fn suppress(s: &SqlStore, p: &Person) {
    s.suppress(&Suppression {
        email: email(&p.address),
        reason: SuppressionReason::Manual,
        note: Some(format!("{} asked", p.name)),
        added_at: t0(),
    })
    .await
    .unwrap();
}

fn b(url: &str) -> SqlStoreBuilder {
    SqlStore::builder(url).clock(ManualClock::new())
}

#[tokio::test]
async fn encrypt_in_place_then_rotate_resumably() {
    let mut urls = vec![(
        Some(sqlite_path()),
        String::new(), // filled below
    )];
    urls[0].1 = format!(
        "sqlite://{}?mode=rwc",
        urls[0].0.as_ref().unwrap().display()
    );
    if let Some(u) = pg_url().await {
        urls.push((None, u));
    }
    for (path, url) in urls {
        let p = person("t");
        // A database written without a key.
        let s = b(&url).without_encryption().connect().await.unwrap();
        let draft = fill(&s, &p, "t").await;
        suppress(&s, &p).await;
        s.close().await;
        // A key cannot simply be switched on: the error says how to seal the database.
        let e = b(&url).encryption_key(key_a()).connect().await.unwrap_err();
        assert!(e.to_string().contains("cli keys encrypt"), "{e}");

        // `keys encrypt`: everything is sealed in place under A.
        let report = b(&url).without_encryption().reseal(key_a()).await.unwrap();
        assert!(
            report.per_table.get("drafts").copied().unwrap_or(0) >= 1,
            "{report:?}"
        );
        assert!(report.per_table.contains_key("jobs"), "{report:?}");
        let s = b(&url).encryption_key(key_a()).connect().await.unwrap();
        everything_opens(&s, &p, draft, "after encrypt").await;
        for needle in secrets(&p) {
            let left: Vec<String> = table_hits(&s, &needle)
                .await
                .into_iter()
                // Audit rows written before the key keep their text (the chain covers it).
                .filter(|h| h != "audit_log.details")
                .collect();
            assert!(left.is_empty(), "{url}: {needle} in clear in {left:?}");
        }
        // A row that no key opens interrupts a rotation to B midway.
        let (bad, _) = s
            .enqueue(&NewJob::new("zzz", serde_json::json!({})))
            .await
            .unwrap();
        sqlx::query("UPDATE jobs SET payload = 'e1:0000:AAAA' WHERE id = $1")
            .bind(bad.id.to_string())
            .execute(s.pool())
            .await
            .unwrap();
        s.close().await;
        let e = b(&url)
            .encryption_key(key_a())
            .reseal(key_b())
            .await
            .unwrap_err();
        assert!(e.to_string().contains("jobs:"), "{e}");
        let s = b(&url)
            .encryption_key(key_a())
            .decryption_key(key_b())
            .connect()
            .await
            .unwrap();
        sqlx::query("DELETE FROM jobs WHERE id = $1")
            .bind(bad.id.to_string())
            .execute(s.pool())
            .await
            .unwrap();
        s.close().await;
        // Resumed: the tables finished before the interruption are not done again.
        let report = b(&url)
            .encryption_key(key_a())
            .reseal(key_b())
            .await
            .unwrap();
        assert!(report.resumed.contains(&"drafts".to_owned()), "{report:?}");
        assert!(report.per_table.contains_key("jobs"), "{report:?}");
        // The old key is gone: only B, and every value opens.
        assert!(b(&url).encryption_key(key_a()).connect().await.is_err());
        let s = b(&url).encryption_key(key_b()).connect().await.unwrap();
        everything_opens(&s, &p, draft, "after rotate").await;
        let old_id = key_a().id().to_owned();
        assert!(table_hits(&s, &format!("e1:{old_id}:")).await.is_empty());
        s.close().await;
        if let Some(path) = path {
            let _ = std::fs::remove_file(path);
        }
    }
}

async fn erase_leaves_nothing(s: &SqlStore, file: Option<&std::path::Path>, what: &str) {
    let target = person("t");
    let other = person("b");
    let draft = fill(s, &target, "t").await;
    fill(s, &other, "b").await;
    suppress(s, &target).await;
    let before = s.audit_entries(0, 0).await.unwrap();
    assert!(
        before
            .iter()
            .any(|e| e.details.to_string().contains(&target.draft_text)),
        "{what}: the audit log records the draft's text"
    );

    let report = s
        .erase_contact(&email(&target.address), "operator:dpo")
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
        "suppressions",
        "oauth_tokens",
        "jobs",
        "settings",
        "contact_keys",
        "erasure_tombstones",
    ] {
        assert!(
            report.per_table.get(table).copied().unwrap_or(0) > 0,
            "{what}: nothing erased from {table}: {report:?}"
        );
    }
    // Every job kind that carried the contact is gone, the crm_contact_event one included.
    let jobs = s.list_jobs(&JobFilter::default()).await.unwrap();
    assert!(
        !jobs
            .iter()
            .any(|j| j.payload.to_string().contains(&target.crm_id)),
        "{what}: crm_contact_event job of the contact kept"
    );
    assert!(
        jobs.iter()
            .any(|j| j.payload.to_string().contains(&other.crm_id)),
        "{what}: the bystander's crm_contact_event job was erased"
    );
    // Crypto-shredded: the chain verifies, the entries remain, their text is gone.
    assert!(s.verify_audit_chain().await.unwrap().is_intact(), "{what}");
    let after = s.audit_entries(0, 0).await.unwrap();
    assert_eq!(after.len(), before.len() + 1, "{what}");
    let ours: Vec<_> = after
        .iter()
        .filter(|e| e.subject == draft.to_string())
        .collect();
    assert_eq!(ours.len(), 3, "{what}");
    assert!(
        ours.iter()
            .all(|e| e.details == serde_json::json!({"erased": true})),
        "{what}"
    );
    assert!(
        after
            .iter()
            .any(|e| e.details.to_string().contains(&other.draft_text)),
        "{what}: the bystander's audit details still open"
    );
    // Nothing names the contact in any table.
    for needle in secrets(&target) {
        let left = table_hits(s, &needle).await;
        assert!(left.is_empty(), "{what}: {needle} still in {left:?}");
    }
    // Never mailed again: a new form from the address is suppressed.
    let sup = s.suppression(&email(&target.address)).await.unwrap();
    assert!(sup.is_some(), "{what}: the erased address is suppressed");
    let decision = s
        .reserve_send(
            &SendReservation {
                draft_id: DraftId::new(),
                contact: email(&target.address.to_uppercase()),
                sender: email("rep@seller.io"),
                at: t0(),
            },
            &SendLimits::default(),
        )
        .await
        .unwrap();
    assert!(matches!(decision, SendDecision::Deny { .. }), "{what}");
    if let Some(path) = file {
        for needle in secrets(&target) {
            let left = file_hits(path, &needle);
            assert!(
                left.is_empty(),
                "{what}: {needle:?} in the bytes of {left:?}"
            );
        }
    }
}

#[tokio::test]
async fn erase_crypto_shreds_and_leaves_no_bytes_sqlite() {
    for encrypted in [true, false] {
        let path = sqlite_path();
        let url = format!("sqlite://{}?mode=rwc", path.display());
        let builder = if encrypted {
            b(&url).encryption_key(key_a())
        } else {
            b(&url).without_encryption()
        };
        let s = builder.connect().await.unwrap();
        let what = format!("sqlite encrypted={encrypted}");
        erase_leaves_nothing(&s, Some(&path), &what).await;
        if encrypted {
            // With a key, the file never holds the bystander's personal strings in clear.
            for needle in secrets(&person("b")) {
                let left = file_hits(&path, &needle);
                assert!(left.is_empty(), "{what}: {needle:?} in clear in {left:?}");
            }
        }
        s.close().await;
        for needle in secrets(&person("t")) {
            assert!(file_hits(&path, &needle).is_empty(), "{what}: after close");
        }
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    }
}

#[tokio::test]
async fn erase_crypto_shreds_postgres() {
    for encrypted in [true, false] {
        let Some(url) = pg_url().await else { return };
        let builder = if encrypted {
            b(&url).encryption_key(key_a())
        } else {
            b(&url).without_encryption()
        };
        let s = builder.connect().await.unwrap();
        erase_leaves_nothing(&s, None, &format!("postgres encrypted={encrypted}")).await;
        s.close().await;
    }
}
