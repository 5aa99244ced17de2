//! Outbox tests: files, idempotent sends, searches, history, and the core sender over it.

use super::*;
use salesagent_core::model::{Domain, Draft, DraftAction, DraftId, DraftStatus, DraftWriter};
use salesagent_core::ports::DynStore;
use salesagent_core::sending::{
    MimeOptions, PolicyConfig, SendMode, SendOutcome, SendPolicy, Sender, render,
};
use salesagent_core::testing::{ManualClock, MemoryStore};
use std::sync::Arc;

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        let p = std::env::temp_dir().join(format!("outbox-test-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&p).unwrap();
        Self(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn email(s: &str) -> EmailAddress {
    EmailAddress::parse(s).unwrap()
}

fn draft(to: &str, at: DateTime) -> Draft {
    Draft {
        contact_name: Some("Jane".into()),
        ..Draft::new(
            email(to),
            email("sam@seller.dev"),
            format!("Hello {to}"),
            "Hi there,\n\nSam",
            DraftWriter::Human,
            at,
        )
    }
}

type DateTime = chrono::DateTime<Utc>;

fn mime() -> MimeOptions {
    MimeOptions::new(Domain::parse("mail.seller.dev").unwrap())
}

fn message(to: &str, id: &str) -> OutgoingMessage {
    let d = draft(to, ManualClock::default_start());
    render(
        &d,
        &MessageId::parse(id).unwrap(),
        ManualClock::default_start(),
        &mime(),
    )
    .unwrap()
}

fn count(dir: &Path, folder: &str) -> usize {
    std::fs::read_dir(dir.join(folder))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "eml")
        })
        .count()
}

#[tokio::test]
async fn send_writes_one_file_and_is_idempotent() {
    let tmp = TempDir::new();
    let outbox = Outbox::from_spec(&format!("outbox:{}", tmp.0.display())).unwrap();
    let m = message("jane@acme.io", "one.1@mail.seller.dev");
    let first = outbox.send(&m).await.unwrap();
    let again = outbox.send(&m).await.unwrap();
    assert_eq!(first, again);
    assert_eq!(count(&tmp.0, SENT), 1);
    assert_eq!(count(&tmp.0, TMP), 0, "no temp files left behind");
    let path = outbox.sent_path(&m.message_id);
    assert_eq!(std::fs::read(&path).unwrap(), m.raw);
    assert!(path.ends_with("sent/one.1@mail.seller.dev.eml"));
    let found = outbox.find_sent(&m.message_id).await.unwrap().unwrap();
    assert_eq!(found.provider_id, first.provider_id);
    let missing = MessageId::parse("nope@mail.seller.dev").unwrap();
    assert_eq!(outbox.find_sent(&missing).await.unwrap(), None);
}

#[tokio::test]
async fn concurrent_sends_of_one_message_id_write_once() {
    let tmp = TempDir::new();
    let outbox = Outbox::open(&tmp.0).unwrap();
    let m = message("jane@acme.io", "race.1@mail.seller.dev");
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (o, m) = (outbox.clone(), m.clone());
        tasks.push(tokio::spawn(async move { o.send(&m).await.unwrap() }));
    }
    let mut ids = std::collections::HashSet::new();
    for t in tasks {
        ids.insert(t.await.unwrap().provider_id);
    }
    assert_eq!(ids.len(), 1);
    assert_eq!(count(&tmp.0, SENT), 1);
}

#[tokio::test]
async fn drafts_search_history_and_paging() {
    let tmp = TempDir::new();
    let outbox = Outbox::open(&tmp.0).unwrap();
    let cursor = outbox.history(None).await.unwrap();
    assert!(cursor.messages.is_empty());
    let a = message("a@acme.io", "a.1@mail.seller.dev");
    let b = message("b@beta.io", "b.1@mail.seller.dev");
    let c = message("a@acme.io", "c.1@mail.seller.dev");
    outbox.send(&a).await.unwrap();
    outbox.send(&b).await.unwrap();
    outbox.create_draft(&c).await.unwrap();
    assert_eq!(count(&tmp.0, DRAFTS), 1);
    assert!(outbox.draft_path(&c.message_id).exists());

    let with_a = outbox
        .search(&MailQuery {
            participant: Some(email("A@acme.io")),
            ..MailQuery::default()
        })
        .await
        .unwrap();
    let mut got: Vec<String> = with_a
        .iter()
        .map(|m| m.message_id.clone().unwrap().to_string())
        .collect();
    got.sort();
    assert_eq!(got, ["a.1@mail.seller.dev", "c.1@mail.seller.dev"]);
    let sent_only = outbox
        .search(&MailQuery {
            participant: Some(email("a@acme.io")),
            sent_only: true,
            ..MailQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(sent_only.len(), 1);
    assert_eq!(sent_only[0].subject, "Hello a@acme.io");
    assert_eq!(sent_only[0].to, vec![email("a@acme.io")]);
    assert_eq!(sent_only[0].from, Some(email("sam@seller.dev")));
    // A draft is not "sent": reconciliation must not mistake it for a delivery.
    assert_eq!(outbox.find_sent(&c.message_id).await.unwrap(), None);

    let page = outbox.history(cursor.next_cursor.as_deref()).await.unwrap();
    assert_eq!(page.messages.len(), 2, "sent mail, not drafts");
    let empty = outbox.history(page.next_cursor.as_deref()).await.unwrap();
    assert!(empty.messages.is_empty());
    assert!(outbox.history(Some("garbage")).await.is_err());

    let p1 = outbox.sent_messages(None, 1).await.unwrap();
    assert_eq!(p1.messages.len(), 1);
    let p2 = outbox
        .sent_messages(p1.next_page.as_deref(), 1)
        .await
        .unwrap();
    assert_eq!(p2.messages.len(), 1);
    assert_eq!(p2.next_page, None);
    assert_ne!(p1.messages[0].message_id, p2.messages[0].message_id);

    let thread = a.message_id.as_str();
    let t = outbox.get_thread(&ThreadId::new(thread)).await.unwrap();
    assert_eq!(t.len(), 1);
    assert!(outbox.get_thread(&ThreadId::new("none")).await.is_err());
}

#[tokio::test]
async fn send_draft_moves_the_draft_once() {
    let tmp = TempDir::new();
    let outbox = Outbox::open(&tmp.0).unwrap();
    let m = message("jane@acme.io", "draft.1@mail.seller.dev");
    let draft = outbox.create_draft(&m).await.unwrap();
    assert_eq!(
        draft.provider_id.as_str(),
        "drafts/draft.1@mail.seller.dev.eml"
    );
    assert_eq!(outbox.find_sent(&m.message_id).await.unwrap(), None);

    let sent = outbox.send_draft(&draft).await.unwrap();
    assert_eq!(sent.message_id, m.message_id);
    assert_eq!(
        sent.provider_id.as_str(),
        "sent/draft.1@mail.seller.dev.eml"
    );
    assert_eq!(
        std::fs::read(outbox.sent_path(&m.message_id)).unwrap(),
        m.raw
    );
    assert!(
        !outbox.draft_path(&m.message_id).exists(),
        "the draft is gone"
    );
    assert_eq!((count(&tmp.0, SENT), count(&tmp.0, DRAFTS)), (1, 0));
    assert_eq!(count(&tmp.0, TMP), 0, "no temp files left behind");
    let found = outbox.find_sent(&m.message_id).await.unwrap().unwrap();
    assert_eq!(found.provider_id, sent.provider_id);

    // Sending the same draft again finds no draft and delivers nothing.
    let again = outbox.send_draft(&draft).await.unwrap_err();
    assert_eq!(again.kind(), "not_found", "{again}");
    assert_eq!(count(&tmp.0, SENT), 1);
    // And the sent Message-ID cannot become a draft again.
    let conflict = outbox.create_draft(&m).await.unwrap_err();
    assert_eq!(conflict.kind(), "conflict", "{conflict}");
    assert!(conflict.to_string().contains("already sent"));
    assert_eq!(count(&tmp.0, DRAFTS), 0);
}

#[tokio::test]
async fn send_draft_of_a_missing_or_foreign_draft_is_not_found() {
    let tmp = TempDir::new();
    let outbox = Outbox::open(&tmp.0).unwrap();
    let m = message("jane@acme.io", "never.1@mail.seller.dev");
    let never = SentMessage {
        provider_id: ProviderMessageId::new("drafts/never.1@mail.seller.dev.eml"),
        thread_id: None,
        message_id: m.message_id.clone(),
    };
    assert_eq!(
        outbox.send_draft(&never).await.unwrap_err().kind(),
        "not_found"
    );
    // A draft handle that names another file (not what create_draft returned) sends nothing.
    let draft = outbox.create_draft(&m).await.unwrap();
    let foreign = SentMessage {
        provider_id: ProviderMessageId::new("drafts/../sent/x.eml"),
        ..draft.clone()
    };
    assert_eq!(
        outbox.send_draft(&foreign).await.unwrap_err().kind(),
        "not_found"
    );
    assert_eq!(count(&tmp.0, SENT), 0);
    // A draft deleted by a person is gone too.
    std::fs::remove_file(outbox.draft_path(&m.message_id)).unwrap();
    assert_eq!(
        outbox.send_draft(&draft).await.unwrap_err().kind(),
        "not_found"
    );
    assert_eq!(count(&tmp.0, SENT), 0);
}

#[tokio::test]
async fn a_draft_whose_message_id_was_sent_meanwhile_is_spent_not_sent_again() {
    let tmp = TempDir::new();
    let outbox = Outbox::open(&tmp.0).unwrap();
    let m = message("jane@acme.io", "both.1@mail.seller.dev");
    let draft = outbox.create_draft(&m).await.unwrap();
    // The same Message-ID delivered by the plain send path (or a crash after the link).
    let first = outbox.send(&m).await.unwrap();
    assert_eq!(
        outbox.send_draft(&draft).await.unwrap_err().kind(),
        "not_found"
    );
    assert_eq!((count(&tmp.0, SENT), count(&tmp.0, DRAFTS)), (1, 0));
    assert_eq!(
        outbox
            .find_sent(&m.message_id)
            .await
            .unwrap()
            .unwrap()
            .provider_id,
        first.provider_id
    );
}

#[tokio::test]
async fn concurrent_send_drafts_deliver_once() {
    let tmp = TempDir::new();
    let outbox = Outbox::open(&tmp.0).unwrap();
    let m = message("jane@acme.io", "race.2@mail.seller.dev");
    let draft = outbox.create_draft(&m).await.unwrap();
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (o, d) = (outbox.clone(), draft.clone());
        tasks.push(tokio::spawn(async move { o.send_draft(&d).await }));
    }
    let mut delivered = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => delivered += 1,
            Err(e) => assert_eq!(e.kind(), "not_found", "{e}"),
        }
    }
    assert_eq!(delivered, 1);
    assert_eq!((count(&tmp.0, SENT), count(&tmp.0, DRAFTS)), (1, 0));
}

#[tokio::test]
async fn a_sent_draft_appears_in_history_after_a_cursor_taken_before() {
    let tmp = TempDir::new();
    let outbox = Outbox::open(&tmp.0).unwrap();
    let m = message("jane@acme.io", "hist.1@mail.seller.dev");
    let draft = outbox.create_draft(&m).await.unwrap();
    // Mail received after the draft was written, before the cursor was taken.
    outbox
        .receive(message("sam@seller.dev", "in.1@acme.io").raw)
        .await
        .unwrap();
    let cursor = outbox.history(None).await.unwrap().next_cursor;
    outbox.send_draft(&draft).await.unwrap();
    let page = outbox.history(cursor.as_deref()).await.unwrap();
    assert_eq!(page.messages.len(), 1);
    assert_eq!(page.messages[0].message_id.as_ref(), Some(&m.message_id));
}

async fn setup(mode: SendMode) -> (TempDir, Outbox, DynStore, Sender, Vec<DraftId>) {
    let tmp = TempDir::new();
    let outbox = Outbox::open(&tmp.0).unwrap();
    let clock = ManualClock::default();
    let store: DynStore = Arc::new(MemoryStore::new(clock.shared()));
    let mut ids = Vec::new();
    for to in ["a@acme.io", "b@beta.io"] {
        let mut d = draft(to, clock.now_utc());
        store
            .insert_draft(&d, &d.created_event("test"))
            .await
            .unwrap();
        let ev = d
            .apply(DraftAction::Approve, "operator:t", clock.now_utc())
            .unwrap();
        store.update_draft(&d, 1, &ev).await.unwrap();
        ids.push(d.id);
    }
    let policy = PolicyConfig {
        mode,
        window: None,
        ..PolicyConfig::default()
    };
    let sender = Sender::new(
        store.clone(),
        Arc::new(outbox.clone()),
        clock.shared(),
        SendPolicy::new(policy),
        mime(),
    )
    .unwrap();
    (tmp, outbox, store, sender, ids)
}

trait NowUtc {
    fn now_utc(&self) -> DateTime;
}

impl NowUtc for ManualClock {
    fn now_utc(&self) -> DateTime {
        use salesagent_core::ports::Clock;
        self.now()
    }
}

async fn send_each(sender: &Sender, ids: &[DraftId]) -> Vec<SendOutcome> {
    let mut out = Vec::new();
    for id in ids {
        out.push(sender.send_draft(*id).await.unwrap());
    }
    out
}

#[tokio::test]
async fn draft_only_puts_nothing_in_sent() {
    let (tmp, _outbox, store, sender, ids) = setup(SendMode::DraftOnly).await;
    let results = send_each(&sender, &ids).await;
    assert!(
        results
            .iter()
            .all(|r| matches!(r, SendOutcome::Drafted { .. })),
        "{results:?}"
    );
    assert_eq!(count(&tmp.0, SENT), 0);
    assert_eq!(count(&tmp.0, DRAFTS), 2);
    for id in &ids {
        assert_eq!(
            store.get_draft(*id).await.unwrap().status,
            DraftStatus::Drafted
        );
    }
    // Running it again sends nothing and writes nothing.
    let again = send_each(&sender, &ids).await;
    assert!(
        again
            .iter()
            .all(|r| matches!(r, SendOutcome::Skipped { .. })),
        "{again:?}"
    );
    assert_eq!(count(&tmp.0, DRAFTS), 2);
}

#[tokio::test]
async fn real_sends_twice_send_nothing_the_second_time() {
    let (tmp, _outbox, store, sender, ids) = setup(SendMode::RealSends).await;
    let results = send_each(&sender, &ids).await;
    assert!(
        results
            .iter()
            .all(|r| matches!(r, SendOutcome::Sent { .. })),
        "{results:?}"
    );
    // Sent through mailbox drafts: each moved from drafts/ to sent/.
    assert_eq!((count(&tmp.0, SENT), count(&tmp.0, DRAFTS)), (2, 0));
    let again = send_each(&sender, &ids).await;
    assert!(
        again
            .iter()
            .all(|r| matches!(r, SendOutcome::Skipped { .. })),
        "{again:?}"
    );
    assert_eq!(count(&tmp.0, SENT), 2);
    for id in ids {
        let d = store.get_draft(id).await.unwrap();
        assert_eq!(d.status, DraftStatus::Sent);
        assert!(
            tmp.0
                .join("sent")
                .join(format!("{}.eml", file_stem(d.message_id.as_ref().unwrap())))
                .exists()
        );
    }
}

#[tokio::test]
async fn drafted_then_real_sends_sends_the_same_mailbox_drafts() {
    let (tmp, outbox, store, drafting, ids) = setup(SendMode::DraftOnly).await;
    send_each(&drafting, &ids).await;
    assert_eq!((count(&tmp.0, SENT), count(&tmp.0, DRAFTS)), (0, 2));
    let policy = PolicyConfig {
        mode: SendMode::RealSends,
        window: None,
        ..PolicyConfig::default()
    };
    let sending = Sender::new(
        store.clone(),
        Arc::new(outbox.clone()),
        ManualClock::default().shared(),
        SendPolicy::new(policy),
        mime(),
    )
    .unwrap();
    let results = send_each(&sending, &ids).await;
    assert!(
        results
            .iter()
            .all(|r| matches!(r, SendOutcome::Sent { .. })),
        "{results:?}"
    );
    // The drafts made in DRAFT_ONLY mode were sent: no second copy was written.
    assert_eq!((count(&tmp.0, SENT), count(&tmp.0, DRAFTS)), (2, 0));
    for id in ids {
        assert_eq!(store.get_draft(id).await.unwrap().status, DraftStatus::Sent);
    }
}

#[tokio::test]
async fn reconciles_a_draft_sent_before_a_crash() {
    let (tmp, outbox, store, sender, ids) = setup(SendMode::RealSends).await;
    // Simulate a holder that claimed the draft, made and sent the mailbox draft, then died
    // before recording the send.
    let start = ManualClock::default_start();
    let mut d = store.get_draft(ids[0]).await.unwrap();
    let mid = MessageId::parse("crash.1@mail.seller.dev").unwrap();
    let claim =
        salesagent_core::model::SendClaim::new("dead-worker", start + chrono::Duration::minutes(5));
    let v = d.version;
    let begin = DraftAction::BeginSend {
        message_id: mid.clone(),
        claim: Some(claim),
    };
    let ev = d.apply(begin, "system:sender", start).unwrap();
    store.update_draft(&d, v, &ev).await.unwrap();
    let raw = render(&d, &mid, start, &mime()).unwrap();
    let mailbox_draft = outbox.create_draft(&raw).await.unwrap();
    let v = d.version;
    let ev = d
        .apply(
            DraftAction::RecordMailboxDraft {
                mailbox_draft_id: mailbox_draft.provider_id.as_str().to_owned(),
            },
            "system:sender",
            start,
        )
        .unwrap();
    store.update_draft(&d, v, &ev).await.unwrap();
    outbox.send_draft(&mailbox_draft).await.unwrap();
    // After the claim lapsed a new sender run finds the draft gone and the message sent.
    let clock = ManualClock::default();
    clock.advance(std::time::Duration::from_secs(3600));
    let later = Sender::new(
        store.clone(),
        Arc::new(outbox.clone()),
        clock.shared(),
        sender.policy().clone(),
        mime(),
    )
    .unwrap();
    let out = later.send_draft(ids[0]).await.unwrap();
    assert!(matches!(out, SendOutcome::Reconciled { .. }), "{out:?}");
    assert_eq!((count(&tmp.0, SENT), count(&tmp.0, DRAFTS)), (1, 0));
    assert_eq!(
        store.get_draft(ids[0]).await.unwrap().status,
        DraftStatus::Sent
    );
}
