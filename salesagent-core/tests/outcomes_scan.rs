//! Outcome scans as recurring jobs, run by the shipped `Worker`: one job per source that comes
//! back after every run, replies and bounces recorded with their effects, the re-sync after an
//! expired history cursor, and the silence check that ignores mailbox drafts.

use async_trait::async_trait;
use chrono::{DateTime, Duration as Td, Utc};
use salesagent_core::layers::FaultInjecting;
use salesagent_core::model::{
    CrmId, DealChange, Draft, DraftStatus, DraftWriter, EmailAddress, HistoryPage, JobFilter,
    JobState, MailMessage, MailQuery, MessageId, MessagePage, OutcomeType, OutgoingMessage,
    ProviderMessageId, SentMessage, SuppressionReason, ThreadId, kinds,
};
use salesagent_core::outcomes::{
    OutcomeConfig, OutcomeScanConfig, OutcomeScanner, Outcomes, ScanSource, ensure_outcome_scans,
    settings_keys, wake_outcome_scan,
};
use salesagent_core::ports::{Clock, DynMailbox, DynStore, Mailbox, OutcomeFilter};
use salesagent_core::testing::{FakeCrm, FakeMailbox, FaultKind, Faults, ManualClock, MemoryStore};
use salesagent_core::worker::{JobDone, JobHandler as _, JobOutcome, Worker, WorkerConfig};
use salesagent_core::{Error, Result};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

const SENDER: &str = "ann@salesagent.test";

fn addr(s: &str) -> EmailAddress {
    EmailAddress::parse(s).unwrap()
}

struct World {
    clock: ManualClock,
    store: DynStore,
    outcomes: Outcomes,
}

fn world() -> World {
    let clock = ManualClock::default();
    let store: DynStore = Arc::new(MemoryStore::new(clock.shared()));
    let outcomes = Outcomes::new(store.clone(), clock.shared());
    World {
        clock,
        store,
        outcomes,
    }
}

impl World {
    fn worker(&self, scanner: OutcomeScanner) -> Worker {
        Worker::empty(
            self.store.clone(),
            self.clock.shared(),
            WorkerConfig::default(),
        )
        .with_outcome_scans(scanner)
    }

    fn scanner(&self, mailbox: Option<DynMailbox>) -> OutcomeScanner {
        let s = OutcomeScanner::new(self.outcomes.clone(), OutcomeScanConfig::default());
        match mailbox {
            Some(m) => s.with_mailbox(m),
            None => s,
        }
    }

    async fn draft(
        &self,
        contact: &str,
        status: DraftStatus,
        message_id: Option<&str>,
        sent_at: Option<DateTime<Utc>>,
    ) -> Draft {
        let at = self.clock.now() - Td::days(1);
        let mut d = Draft::new(
            addr(contact),
            addr(SENDER),
            "Quick question about your pipeline",
            "Hi, saw your form on our site.",
            DraftWriter::Human,
            at,
        );
        d.status = status;
        d.message_id = message_id.map(|m| MessageId::parse(m).unwrap());
        d.sent_at = sent_at;
        self.store
            .insert_draft(&d, &d.created_event("test"))
            .await
            .unwrap();
        d
    }

    async fn scan_jobs(&self) -> Vec<salesagent_core::model::Job> {
        self.store
            .list_jobs(&JobFilter {
                kind: Some(kinds::OUTCOME_SCAN.to_owned()),
                ..JobFilter::default()
            })
            .await
            .unwrap()
    }

    async fn scan_job(&self, source: ScanSource) -> salesagent_core::model::Job {
        let jobs = self.scan_jobs().await;
        let mine: Vec<_> = jobs
            .into_iter()
            .filter(|j| j.idempotency_key.as_deref() == Some(source.job_key().as_str()))
            .collect();
        assert_eq!(mine.len(), 1, "exactly one job for {source}");
        mine.into_iter().next().unwrap()
    }

    async fn outcomes_of(&self, contact: &str) -> Vec<OutcomeType> {
        self.store
            .list_outcomes(&OutcomeFilter {
                contact: Some(addr(contact)),
                ..OutcomeFilter::default()
            })
            .await
            .unwrap()
            .into_iter()
            .map(|o| o.outcome_type)
            .collect()
    }
}

fn after(at: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    at + Td::from_std(d).unwrap()
}

/// A delivery status notification (RFC 3464) for a failed delivery to `rcpt` of the message
/// `original`.
fn dsn(rcpt: &str, original: &str) -> MailMessage {
    let raw = format!(
        "From: Mail Delivery Subsystem <mailer-daemon@mx.salesagent.test>\r\n\
         To: {SENDER}\r\n\
         Subject: Delivery Status Notification (Failure)\r\n\
         Message-ID: <dsn-{rcpt}@mx.salesagent.test>\r\n\
         Auto-Submitted: auto-replied\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: multipart/report; report-type=delivery-status; boundary=\"b1\"\r\n\
         \r\n\
         --b1\r\n\
         Content-Type: text/plain\r\n\
         \r\n\
         Your message to {rcpt} could not be delivered.\r\n\
         --b1\r\n\
         Content-Type: message/delivery-status\r\n\
         \r\n\
         Reporting-MTA: dns; mx.salesagent.test\r\n\
         \r\n\
         Final-Recipient: rfc822; {rcpt}\r\n\
         Action: failed\r\n\
         Status: 5.1.1\r\n\
         Diagnostic-Code: smtp; 550 5.1.1 no such user\r\n\
         --b1\r\n\
         Content-Type: text/rfc822-headers\r\n\
         \r\n\
         From: {SENDER}\r\n\
         To: {rcpt}\r\n\
         Message-ID: <{original}>\r\n\
         Subject: Quick question about your pipeline\r\n\
         --b1--\r\n"
    );
    MailMessage {
        provider_id: ProviderMessageId::new(""),
        thread_id: None,
        message_id: None,
        in_reply_to: None,
        references: Vec::new(),
        from: None,
        to: Vec::new(),
        subject: String::new(),
        date: None,
        body_text: String::new(),
        headers: Vec::new(),
        labels: vec!["INBOX".into()],
        raw: Some(raw.into_bytes()),
    }
}

#[tokio::test]
async fn scan_job_records_replies_and_bounces_and_comes_back() {
    let w = world();
    let mailbox = Arc::new(FakeMailbox::new().with_clock(w.clock.shared()));
    let worker = w.worker(w.scanner(Some(mailbox.clone())));

    let jobs = ensure_outcome_scans(w.store.as_ref()).await.unwrap();
    assert_eq!(jobs.len(), 4);
    let again = ensure_outcome_scans(w.store.as_ref()).await.unwrap();
    assert_eq!(
        jobs.iter().map(|j| j.id).collect::<Vec<_>>(),
        again.iter().map(|j| j.id).collect::<Vec<_>>(),
        "ensuring twice finds the same jobs"
    );

    let now = w.clock.now();
    let bob_sent = w
        .draft(
            "bob@acme.example",
            DraftStatus::Sent,
            Some("d1@salesagent.test"),
            Some(now - Td::days(1)),
        )
        .await;
    let bob_pending = w
        .draft("bob@acme.example", DraftStatus::Pending, None, None)
        .await;
    let bob_approved = w
        .draft("bob@acme.example", DraftStatus::Approved, None, None)
        .await;
    let bob_drafted = w
        .draft(
            "bob@acme.example",
            DraftStatus::Drafted,
            Some("d1b@salesagent.test"),
            None,
        )
        .await;
    let carol_sent = w
        .draft(
            "carol@beta.example",
            DraftStatus::Sent,
            Some("d2@salesagent.test"),
            Some(now - Td::days(1)),
        )
        .await;
    let dave_pending = w
        .draft("dave@gamma.example", DraftStatus::Pending, None, None)
        .await;

    // First round: every scan runs once (the mailbox starts its cursor), CRM and calendar have
    // no port here and just come back.
    let stats = worker.run_until_idle(2).await.unwrap();
    assert_eq!(stats.deferred, 4, "{stats:?}");
    assert_eq!(stats.claimed(), 4);
    let config = OutcomeScanConfig::default();
    for source in ScanSource::ALL {
        let job = w.scan_job(source).await;
        assert_eq!(job.state, JobState::Queued, "{source}");
        assert_eq!(job.run_at, after(now, config.interval(source)), "{source}");
        assert_eq!(job.attempts, 0, "{source}: a run uses no attempt");
    }

    // Mail arrives: a reply to bob's send, a bounce of carol's, an out-of-office from dave.
    let reply = mailbox.receive(
        &addr("bob@acme.example"),
        &addr(SENDER),
        "Re: Quick question about your pipeline",
        "Sounds interesting, let's talk next week.",
        bob_sent.message_id.as_ref(),
    );
    mailbox.deliver(dsn("carol@beta.example", "d2@salesagent.test"));
    mailbox.deliver(MailMessage {
        provider_id: ProviderMessageId::new(""),
        thread_id: None,
        message_id: Some(MessageId::parse("ooo-1@gamma.example").unwrap()),
        in_reply_to: None,
        references: Vec::new(),
        from: Some(addr("dave@gamma.example")),
        to: vec![addr(SENDER)],
        subject: "Out of office: back on Monday".into(),
        date: Some(w.clock.now()),
        body_text: "I am out of the office until Monday.".into(),
        headers: vec![
            ("From".into(), "dave@gamma.example".into()),
            ("Subject".into(), "Out of office: back on Monday".into()),
            ("Auto-Submitted".into(), "auto-replied".into()),
        ],
        labels: vec!["INBOX".into()],
        raw: None,
    });
    assert!(reply.message_id.is_some());

    // Not due yet: nothing runs.
    assert_eq!(worker.run_until_idle(1).await.unwrap().claimed(), 0);
    w.clock.advance(Duration::from_secs(60));
    let stats = worker.run_until_idle(2).await.unwrap();
    assert_eq!(
        stats.claimed(),
        1,
        "only the mailbox scan is due: {stats:?}"
    );

    assert!(
        w.outcomes_of("bob@acme.example")
            .await
            .contains(&OutcomeType::EmailReplied)
    );
    for d in [&bob_pending, &bob_approved, &bob_drafted] {
        assert_eq!(
            w.store.get_draft(d.id).await.unwrap().status,
            DraftStatus::Rejected,
            "bob's other drafts are stopped"
        );
    }
    assert_eq!(
        w.store.get_draft(bob_sent.id).await.unwrap().status,
        DraftStatus::Sent
    );
    assert_eq!(
        w.outcomes_of("carol@beta.example").await,
        vec![OutcomeType::EmailBounced]
    );
    let s = w
        .store
        .suppression(&addr("carol@beta.example"))
        .await
        .unwrap()
        .expect("carol suppressed");
    assert_eq!(s.reason, SuppressionReason::Bounced);
    assert_eq!(
        w.store.get_draft(carol_sent.id).await.unwrap().status,
        DraftStatus::Sent
    );
    assert!(w.outcomes_of("dave@gamma.example").await.is_empty());
    assert_eq!(
        w.store.get_draft(dave_pending.id).await.unwrap().status,
        DraftStatus::Pending,
        "an out-of-office answer changes nothing"
    );

    // The job is back for its next run, and there is still one job per source.
    let job = w.scan_job(ScanSource::Mailbox).await;
    assert_eq!(job.state, JobState::Queued);
    assert_eq!(job.run_at, after(w.clock.now(), Duration::from_secs(60)));
    assert_eq!(w.scan_jobs().await.len(), 4);

    // "Scan now": the same job, due now; two workers run it once.
    let woken = wake_outcome_scan(w.store.as_ref(), ScanSource::Mailbox, w.clock.now())
        .await
        .unwrap();
    assert_eq!(woken.id, job.id);
    assert_eq!(woken.run_at, w.clock.now());
    let stats = worker.run_until_idle(2).await.unwrap();
    assert_eq!(stats.claimed(), 1);
    assert_eq!(w.scan_jobs().await.len(), 4);
    // Scanning the same history again recorded nothing twice.
    assert_eq!(
        w.outcomes_of("carol@beta.example").await,
        vec![OutcomeType::EmailBounced]
    );
}

#[tokio::test]
async fn unsubscribe_mail_to_the_list_unsubscribe_address_suppresses() {
    let w = world();
    let mailbox = Arc::new(FakeMailbox::new().with_clock(w.clock.shared()));
    let scanner = w.scanner(Some(mailbox.clone()));
    let erin_pending = w
        .draft("erin@delta.example", DraftStatus::Pending, None, None)
        .await;
    w.draft(
        "erin@delta.example",
        DraftStatus::Sent,
        Some("d3@salesagent.test"),
        Some(w.clock.now() - Td::days(2)),
    )
    .await;
    scanner.scan(ScanSource::Mailbox).await.unwrap();
    // `mailto:ann@salesagent.test?subject=unsubscribe`, as the List-Unsubscribe header offers.
    mailbox.receive(
        &addr("erin@delta.example"),
        &addr(SENDER),
        "unsubscribe",
        "",
        None,
    );
    let report = scanner.scan(ScanSource::Mailbox).await.unwrap();
    assert_eq!(report.recorded.len(), 1, "{report:?}");
    assert_eq!(
        report.recorded[0].outcome_type,
        OutcomeType::EmailUnsubscribed
    );
    let s = w
        .store
        .suppression(&addr("erin@delta.example"))
        .await
        .unwrap()
        .expect("erin suppressed");
    assert_eq!(s.reason, SuppressionReason::Unsubscribed);
    assert_eq!(
        w.store.get_draft(erin_pending.id).await.unwrap().status,
        DraftStatus::Rejected
    );
}

/// A mailbox with Gmail's history behaviour over a [`FakeMailbox`]: pages of at most `page`
/// messages, and cursors below `forgotten` answered `NotFound` (expired).
#[derive(Debug)]
struct GmailLike {
    inner: FakeMailbox,
    page: usize,
    forgotten: AtomicUsize,
    history_calls: AtomicUsize,
}

#[async_trait]
impl Mailbox for GmailLike {
    async fn search(&self, query: &MailQuery) -> Result<Vec<MailMessage>> {
        self.inner.search(query).await
    }
    async fn get_thread(&self, thread: &ThreadId) -> Result<Vec<MailMessage>> {
        self.inner.get_thread(thread).await
    }
    async fn send(&self, message: &OutgoingMessage) -> Result<SentMessage> {
        self.inner.send(message).await
    }
    async fn create_draft(&self, message: &OutgoingMessage) -> Result<SentMessage> {
        self.inner.create_draft(message).await
    }
    async fn find_sent(&self, message_id: &MessageId) -> Result<Option<SentMessage>> {
        self.inner.find_sent(message_id).await
    }
    async fn history(&self, cursor: Option<&str>) -> Result<HistoryPage> {
        self.history_calls.fetch_add(1, Ordering::SeqCst);
        let Some(c) = cursor else {
            return self.inner.history(None).await;
        };
        let from: usize = c.parse().map_err(|_| Error::invalid("cursor", "bad"))?;
        if from < self.forgotten.load(Ordering::SeqCst) {
            return Err(Error::not_found(format!("history id {c}")));
        }
        let mut page = self.inner.history(Some(c)).await?;
        page.messages.truncate(self.page);
        page.next_cursor = Some((from + page.messages.len()).to_string());
        Ok(page)
    }
    async fn sent_messages(&self, page_token: Option<&str>, page_size: u32) -> Result<MessagePage> {
        self.inner.sent_messages(page_token, page_size).await
    }
}

fn replies(report: &salesagent_core::outcomes::ScanReport) -> usize {
    report
        .recorded
        .iter()
        .filter(|o| o.outcome_type == OutcomeType::EmailReplied)
        .count()
}

#[tokio::test]
async fn history_is_paged_to_the_end_and_an_expired_cursor_resyncs_the_gap() {
    let w = world();
    let mailbox = Arc::new(GmailLike {
        inner: FakeMailbox::new().with_clock(w.clock.shared()),
        page: 2,
        forgotten: AtomicUsize::new(0),
        history_calls: AtomicUsize::new(0),
    });
    let scanner = w.scanner(Some(mailbox.clone()));
    let contacts = ["a@one.example", "b@two.example", "c@three.example"];
    let mut sent = Vec::new();
    for (i, c) in contacts.iter().enumerate() {
        sent.push(
            w.draft(
                c,
                DraftStatus::Sent,
                Some(&format!("s{i}@salesagent.test")),
                Some(w.clock.now() - Td::days(1)),
            )
            .await,
        );
    }
    let gap_contact = "gap@four.example";
    let gap_sent = w
        .draft(
            gap_contact,
            DraftStatus::Sent,
            Some("s-gap@salesagent.test"),
            Some(w.clock.now() - Td::days(1)),
        )
        .await;
    let first = scanner.scan(ScanSource::Mailbox).await.unwrap();
    assert!(first.recorded.is_empty() && !first.resynced);

    // Five messages, pages of two: one scan reads all of them.
    w.clock.advance(Duration::from_secs(60));
    for (c, d) in contacts.iter().zip(&sent) {
        mailbox.inner.receive(
            &addr(c),
            &addr(SENDER),
            "Re: Quick question",
            "Yes, tell me more.",
            d.message_id.as_ref(),
        );
    }
    for n in 0..2 {
        mailbox.inner.receive(
            &addr(&format!("stranger{n}@else.example")),
            &addr(SENDER),
            "Hello",
            "Unrelated.",
            None,
        );
    }
    let calls = mailbox.history_calls.load(Ordering::SeqCst);
    let report = scanner.scan(ScanSource::Mailbox).await.unwrap();
    assert_eq!(report.scanned, 5, "{report:?}");
    assert_eq!(replies(&report), 3);
    assert!(!report.more);
    assert!(mailbox.history_calls.load(Ordering::SeqCst) - calls >= 3);
    let before: Vec<_> = {
        let mut v = Vec::new();
        for c in contacts {
            let o = w.outcomes_of(c).await;
            assert!(o.contains(&OutcomeType::EmailReplied), "{c}: {o:?}");
            v.push(o);
        }
        v
    };

    // A reply arrives while nobody scans, and the provider forgets the cursor meanwhile.
    w.clock.advance(Duration::from_secs(3 * 24 * 3600));
    mailbox.inner.receive(
        &addr(gap_contact),
        &addr(SENDER),
        "Re: Quick question",
        "Call me on Tuesday.",
        gap_sent.message_id.as_ref(),
    );
    w.clock.advance(Duration::from_secs(3600));
    let cursor = w
        .store
        .setting(settings_keys::MAILBOX_CURSOR)
        .await
        .unwrap()
        .unwrap();
    mailbox
        .forgotten
        .store(cursor.parse::<usize>().unwrap() + 1, Ordering::SeqCst);
    let report = scanner.scan(ScanSource::Mailbox).await.unwrap();
    assert!(report.resynced, "{report:?}");
    assert_eq!(replies(&report), 1, "only the gap's reply is new");
    assert!(
        report
            .recorded
            .iter()
            .all(|o| o.contact_email == addr(gap_contact))
    );
    assert!(
        w.outcomes_of(gap_contact)
            .await
            .contains(&OutcomeType::EmailReplied)
    );
    for (c, o) in contacts.iter().zip(before) {
        assert_eq!(w.outcomes_of(c).await, o, "nothing recorded twice");
    }
    // A new cursor: the next scan reads history again.
    let fresh = w
        .store
        .setting(settings_keys::MAILBOX_CURSOR)
        .await
        .unwrap()
        .unwrap();
    assert!(fresh.parse::<usize>().unwrap() >= mailbox.forgotten.load(Ordering::SeqCst));
    let report = scanner.scan(ScanSource::Mailbox).await.unwrap();
    assert!(!report.resynced && report.recorded.is_empty());

    // Another mailbox's cursor (the mailbox was switched) is not skipped past either.
    w.store
        .put_setting(settings_keys::MAILBOX_CURSOR, "outbox:0:sent/x.eml")
        .await
        .unwrap();
    let report = scanner.scan(ScanSource::Mailbox).await.unwrap();
    assert!(report.resynced, "{report:?}");
    assert!(report.recorded.is_empty(), "nothing recorded twice");
}

#[tokio::test]
async fn silence_records_no_response_for_sent_drafts_only() {
    let w = world();
    let long_ago = w.clock.now() - Td::days(10);
    let sent = w
        .draft(
            "quiet@one.example",
            DraftStatus::Sent,
            Some("q1@salesagent.test"),
            Some(long_ago),
        )
        .await;
    let drafted = w
        .draft(
            "parked@two.example",
            DraftStatus::Drafted,
            Some("q2@salesagent.test"),
            Some(long_ago),
        )
        .await;
    let worker = w.worker(w.scanner(None));
    let job = wake_outcome_scan(w.store.as_ref(), ScanSource::Silence, w.clock.now())
        .await
        .unwrap();
    let stats = worker.run_until_idle(1).await.unwrap();
    assert_eq!(stats.claimed(), 1);
    assert_eq!(
        w.outcomes_of("quiet@one.example").await,
        vec![OutcomeType::NoResponse]
    );
    assert!(
        w.outcomes_of("parked@two.example").await.is_empty(),
        "a DRAFTED draft was never sent: no silence clock"
    );
    let job = w.store.get_job(job.id).await.unwrap();
    assert_eq!(job.state, JobState::Queued);
    assert_eq!(job.run_at, after(w.clock.now(), Duration::from_secs(3600)));
    let _ = (sent, drafted);
}

#[tokio::test]
async fn outages_do_not_use_up_the_job_and_credential_errors_dead_letter_it() {
    let w = world();
    let faults = Faults::none();
    let mailbox = FaultInjecting::new(
        FakeMailbox::new().with_clock(w.clock.shared()),
        faults.clone(),
    );
    let worker = w.worker(w.scanner(Some(Arc::new(mailbox))));
    let job = wake_outcome_scan(w.store.as_ref(), ScanSource::Mailbox, w.clock.now())
        .await
        .unwrap();
    faults.fail_next_for("mailbox.history", 10, &FaultKind::Unavailable);
    for _ in 0..10 {
        let outcome = worker.run_one("w").await.unwrap().unwrap();
        assert!(
            matches!(outcome, JobOutcome::Deferred { .. }),
            "{outcome:?}"
        );
        let stored = w.store.get_job(job.id).await.unwrap();
        assert_eq!(stored.state, JobState::Queued);
        assert_eq!(stored.attempts, 0);
        assert_eq!(stored.run_at, after(w.clock.now(), Duration::from_secs(60)));
        w.clock.advance(Duration::from_secs(60));
    }
    faults.fail_next_for("mailbox.history", 1, &FaultKind::Unauthenticated);
    let outcome = worker.run_one("w").await.unwrap().unwrap();
    assert!(matches!(outcome, JobOutcome::Dead { .. }), "{outcome:?}");
    // Start-up puts it back in the queue.
    ensure_outcome_scans(w.store.as_ref()).await.unwrap();
    let stored = w.store.get_job(job.id).await.unwrap();
    assert_eq!(stored.state, JobState::Queued);
    let outcome = worker.run_one("w").await.unwrap().unwrap();
    assert!(
        matches!(outcome, JobOutcome::Deferred { .. }),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn crm_scan_job_records_deals_and_survives_a_foreign_cursor() {
    let w = world();
    let mut d = Draft::new(
        addr("bob@acme.example"),
        addr(SENDER),
        "Hi",
        "Hello.",
        DraftWriter::Human,
        w.clock.now() - Td::days(3),
    );
    d.status = DraftStatus::Sent;
    d.sent_at = Some(w.clock.now() - Td::days(3));
    d.contact_crm_id = Some(CrmId::new("c-bob"));
    w.store
        .insert_draft(&d, &d.created_event("test"))
        .await
        .unwrap();
    let crm = Arc::new(FakeCrm::new());
    let at = w.clock.now() - Td::days(1);
    crm.add_deal_change(DealChange {
        deal_id: CrmId::new("deal-1"),
        name: "Acme pilot".into(),
        pipeline: "default".into(),
        stage: "appointment".into(),
        stage_order: Some(1),
        closed: None,
        contact_ids: vec![CrmId::new("c-bob")],
        created_at: at,
        updated_at: at,
    });
    // A cursor another CRM issued, from before a switch.
    w.store
        .put_setting(settings_keys::DEAL_CURSOR, "hubspot:after=123")
        .await
        .unwrap();
    let worker = w.worker(w.scanner(None).with_crm(crm.clone()));
    let job = wake_outcome_scan(w.store.as_ref(), ScanSource::Crm, w.clock.now())
        .await
        .unwrap();
    let outcome = worker.run_one("w").await.unwrap().unwrap();
    assert!(
        matches!(outcome, JobOutcome::Deferred { .. }),
        "{outcome:?}"
    );
    assert_eq!(
        w.outcomes_of("bob@acme.example").await,
        vec![OutcomeType::DealCreated]
    );
    let job = w.store.get_job(job.id).await.unwrap();
    assert_eq!(job.run_at, after(w.clock.now(), Duration::from_secs(300)));
}

#[tokio::test]
async fn scan_now_during_a_running_scan_runs_it_again_right_after() {
    let w = world();
    let mailbox = Arc::new(FakeMailbox::new().with_clock(w.clock.shared()));
    let scanner = w.scanner(Some(mailbox.clone()));
    wake_outcome_scan(w.store.as_ref(), ScanSource::Mailbox, w.clock.now())
        .await
        .unwrap();
    // Another worker holds the job.
    let claimed = w
        .store
        .claim(
            "other",
            &[kinds::OUTCOME_SCAN.to_owned()],
            Duration::from_secs(120),
        )
        .await
        .unwrap()
        .unwrap();
    let job = wake_outcome_scan(w.store.as_ref(), ScanSource::Mailbox, w.clock.now())
        .await
        .unwrap();
    assert_eq!(job.state, JobState::Running);
    assert_eq!(
        scanner.run(&claimed.job).await.unwrap(),
        JobDone::RunAgainAt(w.clock.now()),
        "asked during the run: again at once"
    );
    w.clock.advance(Duration::from_secs(5));
    assert_eq!(
        scanner.run(&claimed.job).await.unwrap(),
        JobDone::RunAgainAt(after(w.clock.now(), Duration::from_secs(60))),
        "the request was served: back to the interval"
    );
}

#[tokio::test]
async fn outcome_config_without_resync_fields_still_parses() {
    let mut v = serde_json::to_value(OutcomeConfig::default()).unwrap();
    let o = v.as_object_mut().unwrap();
    o.remove("mailbox_resync_window");
    o.remove("mailbox_resync_limit");
    let c: OutcomeConfig = serde_json::from_value(v).unwrap();
    assert_eq!(c, OutcomeConfig::default());
    assert_eq!("crm".parse::<ScanSource>().unwrap(), ScanSource::Crm);
    assert!("inbox".parse::<ScanSource>().is_err());
    assert_eq!(ScanSource::Calendar.job_key(), "outcome_scan:calendar");
}
