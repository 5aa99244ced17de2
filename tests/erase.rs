//! Encrypted by default and erasure that erases, through the store the hosts open
//! (`services::open_store` on a SQLite file, no `SALESAGENT_ENCRYPTION_KEY`): a key file is made
//! on first start (mode 0600) and used from then on; the database file never holds the
//! contact's personal strings in clear; after an erase neither the file nor its write-ahead log
//! holds them, the audit chain verifies, and the send policy refuses a new draft to the address.

use salesagent::core::model::{
    CrmId, DraftAction, DraftWriter, FormSubmission, NewAuditEntry, NewJob, Outcome, OutcomeId,
    OutcomeType, SendDecision,
};
use salesagent::core::ports::{DraftUpdate, DynStore, SystemClock};
use salesagent::{Draft, EmailAddress, SendPolicy};
use std::sync::Arc;

const ADDRESS: &str = "erase.me-5521@quuxville-labs.example";
const NAME: &str = "Philomena Vandersloot";
const COMPANY: &str = "Quuxville Labs";
const DRAFT_TEXT: &str = "our confidential proposal 77341";

fn bytes_of(path: &std::path::Path) -> Vec<u8> {
    let mut all = Vec::new();
    for suffix in ["", "-wal", "-journal"] {
        if let Ok(b) = std::fs::read(format!("{}{suffix}", path.display())) {
            all.extend(b.to_ascii_lowercase());
        }
    }
    all
}

fn in_clear(path: &std::path::Path) -> Vec<&'static str> {
    let bytes = bytes_of(path);
    [ADDRESS, NAME, COMPANY, DRAFT_TEXT]
        .into_iter()
        .filter(|n| {
            let n = n.to_ascii_lowercase();
            bytes.windows(n.len()).any(|w| w == n.as_bytes())
        })
        .collect()
}

async fn fill(store: &DynStore) -> Draft {
    let at = chrono::Utc::now();
    let raw = serde_json::json!({
        "submission_id": "form-erase-1",
        "submitted_at": "2026-11-25T09:00:00Z",
        "fields": {"email": ADDRESS, "firstname": NAME, "company": COMPANY}
    })
    .to_string();
    let sub = FormSubmission::from_canonical_json(&raw, at).unwrap();
    store.save_submission(&sub).await.unwrap();
    let mut d = Draft {
        submission_id: Some(sub.id),
        contact_name: Some(NAME.into()),
        company_name: Some(COMPANY.into()),
        contact_crm_id: Some(CrmId::new("55511")),
        ..Draft::new(
            EmailAddress::parse(ADDRESS).unwrap(),
            EmailAddress::parse("rep@seller.io").unwrap(),
            "Hello",
            format!("Dear {NAME}, {DRAFT_TEXT}"),
            DraftWriter::Human,
            at,
        )
    };
    store
        .insert_draft(&d, &d.created_event("system:pipeline"))
        .await
        .unwrap();
    for action in [
        DraftAction::Approve,
        DraftAction::Edit {
            subject: None,
            body: Some(format!("Dear {NAME} of {COMPANY}: {DRAFT_TEXT}")),
        },
    ] {
        let before = d.version;
        let ev = d.apply(action, "operator:alice", at).unwrap();
        let audit = NewAuditEntry {
            actor: "operator:alice".into(),
            action: format!("draft.{}", ev.action.name()),
            subject: d.id.to_string(),
            details: serde_json::to_value(&ev).unwrap(),
        };
        store
            .update_draft_record(&DraftUpdate {
                draft: &d,
                expected_version: before,
                event: &ev,
                audit: Some(&audit),
                jobs: &[NewJob::new(
                    "crm_follow_up",
                    serde_json::json!({"draft_id": d.id, "note": format!("{NAME} at {COMPANY}")}),
                )],
            })
            .await
            .unwrap();
    }
    store
        .record_outcome(&Outcome {
            id: OutcomeId::new(),
            outcome_type: OutcomeType::EmailReplied,
            contact_email: d.contact_email.clone(),
            sender: Some(d.sender.clone()),
            draft_id: Some(d.id),
            impact: 5,
            source_event_id: "gmail:erase-1".into(),
            occurred_at: at,
            recorded_at: at,
            details: Some(format!("{NAME} replied about {DRAFT_TEXT}")),
        })
        .await
        .unwrap();
    store
        .enqueue(
            &NewJob::new(
                "crm_contact_event",
                serde_json::json!({"contact_id": "55511", "idempotency_key": "hubspot-event:9:1",
                                   "raw": "{\"objectId\":55511}"}),
            )
            .with_key("hubspot-event:9:1"),
        )
        .await
        .unwrap();
    d
}

#[tokio::test]
async fn embedded_store_is_encrypted_and_erasure_leaves_nothing() {
    if std::env::var(salesagent::store::ENCRYPTION_KEY_ENV).is_ok_and(|v| !v.trim().is_empty()) {
        eprintln!("SKIPPED: SALESAGENT_ENCRYPTION_KEY is set (this test covers the default)");
        return;
    }
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("erase-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("salesagent.db");
    let url = format!("sqlite://{}", db.display());
    let store = salesagent::services::open_store(&url, Arc::new(SystemClock))
        .await
        .unwrap();
    // First start: a key file next to the database, readable by its owner only.
    let key_file = dir.join("salesagent.db.key");
    assert!(key_file.exists(), "the key file is made on first start");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "key file mode {mode:o}");
    }
    let draft = fill(&store).await;
    assert!(
        in_clear(&db).is_empty(),
        "encrypted by default: {:?} in clear",
        in_clear(&db)
    );
    let report = store
        .erase_contact(&draft.contact_email, "operator:dpo")
        .await
        .unwrap();
    for table in ["drafts", "submissions", "outcomes", "jobs", "contact_keys"] {
        assert!(
            report.per_table.get(table).copied().unwrap_or(0) > 0,
            "{table}: {report:?}"
        );
    }
    assert!(store.verify_audit_chain().await.unwrap().is_intact());
    let audit = store.audit_entries(0, 0).await.unwrap();
    assert!(
        !audit
            .iter()
            .any(|e| e.details.to_string().contains(DRAFT_TEXT)),
        "the audit log no longer opens the draft's text"
    );
    assert!(
        store
            .list_jobs(&Default::default())
            .await
            .unwrap()
            .is_empty(),
        "every job of the contact is gone, the crm_contact_event one included"
    );
    // A new form from the same address: its draft is refused by the send policy.
    let again = Draft::new(
        EmailAddress::parse(&ADDRESS.to_uppercase()).unwrap(),
        EmailAddress::parse("rep@seller.io").unwrap(),
        "Hello again",
        "A new draft",
        DraftWriter::Human,
        chrono::Utc::now(),
    );
    let decision = SendPolicy::default()
        .precheck(store.as_ref(), &again, None, chrono::Utc::now())
        .await
        .unwrap();
    assert!(
        matches!(decision, Some(SendDecision::Deny { .. })),
        "{decision:?}"
    );
    drop(store);
    // Reopened with the same key file (no new key), and the file holds nothing of the contact.
    let store = salesagent::services::open_store(&url, Arc::new(SystemClock))
        .await
        .unwrap();
    assert!(store.verify_audit_chain().await.unwrap().is_intact());
    assert!(in_clear(&db).is_empty(), "{:?}", in_clear(&db));
    let _ = std::fs::remove_dir_all(&dir);
}
