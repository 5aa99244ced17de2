//! Effects under contention: stopping a draft that an operator edits at the same moment.

use async_trait::async_trait;
use chrono::Duration as Td;
use salesagent_core::Result;
use salesagent_core::model::{
    Draft, DraftAction, DraftEvent, DraftId, DraftStatus, DraftWriter, EmailAddress, MessageId,
    SubmissionId,
};
use salesagent_core::outcomes::stop_drafts;
use salesagent_core::ports::{Clock, DraftFilter, DraftStore, NewDraftRecord};
use salesagent_core::testing::{ManualClock, MemoryStore};
use std::collections::BTreeMap;
use std::sync::Mutex;

/// A draft store whose first `update_draft` loses a race: an operator edits the draft just before.
#[derive(Debug)]
struct RacingOperator {
    inner: MemoryStore,
    clock: ManualClock,
    raced: Mutex<bool>,
}

#[async_trait]
impl DraftStore for RacingOperator {
    async fn insert_draft(&self, draft: &Draft, event: &DraftEvent) -> Result<()> {
        self.inner.insert_draft(draft, event).await
    }
    async fn insert_draft_record(&self, record: &NewDraftRecord<'_>) -> Result<()> {
        self.inner.insert_draft_record(record).await
    }
    async fn get_draft(&self, id: DraftId) -> Result<Draft> {
        self.inner.get_draft(id).await
    }
    async fn find_draft_by_submission(&self, id: SubmissionId) -> Result<Option<Draft>> {
        self.inner.find_draft_by_submission(id).await
    }
    async fn find_draft_by_message_id(&self, id: &MessageId) -> Result<Option<Draft>> {
        self.inner.find_draft_by_message_id(id).await
    }
    async fn list_drafts(&self, filter: &DraftFilter) -> Result<Vec<Draft>> {
        self.inner.list_drafts(filter).await
    }
    async fn update_draft(
        &self,
        draft: &Draft,
        expected_version: u32,
        event: &DraftEvent,
    ) -> Result<()> {
        let race = {
            let mut raced = self.raced.lock().unwrap();
            !std::mem::replace(&mut *raced, true)
        };
        if race {
            let mut current = self.inner.get_draft(draft.id).await?;
            let v = current.version;
            let edit = current.apply(
                DraftAction::Edit {
                    subject: None,
                    body: Some("Edited by the operator.".into()),
                },
                "operator:alice",
                self.clock.now(),
            )?;
            self.inner.update_draft(&current, v, &edit).await?;
        }
        self.inner
            .update_draft(draft, expected_version, event)
            .await
    }
    async fn update_draft_record(
        &self,
        update: &salesagent_core::ports::DraftUpdate<'_>,
    ) -> Result<()> {
        self.inner.update_draft_record(update).await
    }
    async fn draft_events(&self, id: DraftId) -> Result<Vec<DraftEvent>> {
        self.inner.draft_events(id).await
    }
    async fn draft_counts(&self) -> Result<BTreeMap<DraftStatus, u64>> {
        self.inner.draft_counts().await
    }
}

#[tokio::test]
async fn stop_retries_after_a_concurrent_edit() {
    let clock = ManualClock::default();
    let store = RacingOperator {
        inner: MemoryStore::new(clock.shared()),
        clock: clock.clone(),
        raced: Mutex::new(false),
    };
    let now = clock.now();
    let contact = EmailAddress::parse("bob@acme-corp.example").unwrap();
    let draft = Draft {
        status: DraftStatus::Approved,
        priority: 10.0,
        ..Draft::new(
            contact.clone(),
            EmailAddress::parse("ann@salesagent.test").unwrap(),
            "Follow-up",
            "Just checking in.",
            DraftWriter::Human,
            now - Td::hours(1),
        )
    };
    store
        .insert_draft(&draft, &draft.created_event("test"))
        .await
        .unwrap();

    let stopped = stop_drafts(
        &store,
        &contact,
        "stopped: email_replied",
        "system:outcomes",
        now,
    )
    .await
    .unwrap();
    assert_eq!(stopped, 1);
    let stored = store.get_draft(draft.id).await.unwrap();
    assert_eq!(stored.status, DraftStatus::Rejected);
    assert_eq!(
        stored.status_reason.as_deref(),
        Some("stopped: email_replied")
    );
    // The operator's edit landed first and is kept; the stop came on top of it.
    assert_eq!(stored.body, "Edited by the operator.");
    assert_eq!(stored.version, 3);
    let actions: Vec<_> = store
        .draft_events(draft.id)
        .await
        .unwrap()
        .iter()
        .map(|e| (e.action.name(), e.actor.clone()))
        .collect();
    assert_eq!(
        actions[1..],
        [
            ("edit", "operator:alice".to_owned()),
            ("stop", "system:outcomes".to_owned())
        ]
    );
    // Nothing left to stop.
    assert_eq!(
        stop_drafts(&store, &contact, "again", "system:outcomes", now)
            .await
            .unwrap(),
        0
    );
}
