//! The hash-chained audit log: appends, concurrency, and tampering found by raw SQL edits.

use crate::common::stores;
use salesagent_core::model::NewAuditEntry;
use salesagent_core::ports::AuditStore;

fn entry(i: usize) -> NewAuditEntry {
    NewAuditEntry {
        actor: format!("operator:{i}"),
        action: "draft.approve".into(),
        subject: format!("draft-{i}"),
        details: serde_json::json!({"i": i, "note": "quote ' and \" and emoji 🎉", "f": 0.1}),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn chain_appends_concurrently_and_detects_tampering() {
    for (name, s, _) in stores().await {
        let mut tasks = Vec::new();
        for w in 0..8 {
            let s = s.clone();
            tasks.push(tokio::spawn(async move {
                for i in 0..5 {
                    s.append_audit(&entry(w * 10 + i)).await.unwrap();
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let all = s.audit_entries(0, 0).await.unwrap();
        assert_eq!(all.len(), 40, "{name}");
        assert!(all.iter().enumerate().all(|(i, e)| e.seq == i as u64 + 1));
        let v = s.verify_audit_chain().await.unwrap();
        assert!(v.is_intact(), "{name}: {v:?}");
        assert_eq!(v.entries, 40);
        assert_eq!(s.audit_entries(38, 0).await.unwrap().len(), 2);
        assert_eq!(s.audit_entries(0, 3).await.unwrap()[2].seq, 3);

        // Edit one field of row 7 behind the store's back.
        sqlx::query("UPDATE audit_log SET actor = 'operator:mallory' WHERE seq = 7")
            .execute(s.pool())
            .await
            .unwrap();
        let v = s.verify_audit_chain().await.unwrap();
        assert_eq!(v.first_broken_seq, Some(7), "{name}");
        // Put it back: intact again (the check is about content, not a flag).
        let orig = all[6].actor.clone();
        sqlx::query("UPDATE audit_log SET actor = $1 WHERE seq = 7")
            .bind(orig)
            .execute(s.pool())
            .await
            .unwrap();
        assert!(s.verify_audit_chain().await.unwrap().is_intact(), "{name}");
        // Remove a row in the middle.
        sqlx::query("DELETE FROM audit_log WHERE seq = 12")
            .execute(s.pool())
            .await
            .unwrap();
        assert_eq!(
            s.verify_audit_chain().await.unwrap().first_broken_seq,
            Some(12),
            "{name}"
        );
        // Rewrite a details document into something that is not JSON.
        sqlx::query("UPDATE audit_log SET details = 'not json' WHERE seq = 3")
            .execute(s.pool())
            .await
            .unwrap();
        assert_eq!(
            s.verify_audit_chain().await.unwrap().first_broken_seq,
            Some(3),
            "{name}"
        );
    }
}
