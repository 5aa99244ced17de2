//! Follow-up sequences on a simulated clock: 200 contacts through the default sequence with a
//! scripted mix of replies, out-of-office replies (with and without a return date, with and
//! without auto-reply headers), bounces, unsubscribes and silence, through the shipped path:
//! operator approval, the exactly-once sender, the mailbox outcome scan and the shipped
//! `Worker` running the step jobs. Then the same run with a worker restart (and a crashed
//! worker's abandoned job) in the middle must end the same way. Every day, at the restart and
//! at the end, each stored sequence's journal replays to exactly the stored state.

use chrono::{DateTime, Datelike, Duration as Td, TimeZone, Timelike, Utc, Weekday};
use salesagent_core::model::{
    DraftStatus, EmailAddress, MailMessage, MessageId, ProviderMessageId,
};
use salesagent_core::outcomes::{MailKind, Outcomes, classify_message};
use salesagent_core::ports::{DraftFilter, DynStore};
use salesagent_core::sending::{
    MimeOptions, OperatorQueue, PolicyConfig, SendMode, SendPolicy, Sender, SenderConfig,
};
use salesagent_core::sequences::{
    self, SEQUENCE_STEP, SequenceConfig, SequenceStatus, Sequences, StopReason,
};
use salesagent_core::testing::{FakeMailbox, ManualClock, MemoryStore};
use salesagent_core::worker::{Worker, WorkerConfig};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

const SENDER: &str = "sam@seller.dev";
const CONTACTS: usize = 200;
const SUBJECT: &str = "Quick question about your pipeline";

fn addr(s: &str) -> EmailAddress {
    EmailAddress::parse(s).unwrap()
}

fn contact(i: usize) -> EmailAddress {
    addr(&format!("lead{i}@company{}.test", i % 25))
}

/// What happens to contact `i`, by `i % 10`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Script {
    Silence,
    /// A human reply after step n was sent.
    ReplyAfter(u32),
    /// An out-of-office reply stating a return date 10 days on, in text only (no header).
    OooDatedTextOnly,
    /// An out-of-office reply with `Auto-Submitted` and no return date.
    OooUndatedHeader,
    Bounce,
    /// An unsubscribe request after step 1.
    Unsubscribe,
    /// Out of office (dated, text only) after step 1, then a human reply after step 2.
    OooThenReply,
}

fn script(i: usize) -> Script {
    match i % 10 {
        1 => Script::ReplyAfter(0),
        2 => Script::ReplyAfter(1),
        3 => Script::ReplyAfter(2),
        4 => Script::OooDatedTextOnly,
        5 => Script::OooUndatedHeader,
        6 => Script::Bounce,
        7 => Script::Unsubscribe,
        8 => Script::OooThenReply,
        _ => Script::Silence,
    }
}

/// How each contact ends: status, stop reason, step stopped after, messages sent.
type Summary = BTreeMap<String, (SequenceStatus, Option<String>, Option<u32>, usize)>;

struct World {
    clock: ManualClock,
    store: DynStore,
    mailbox: Arc<FakeMailbox>,
}

fn mime() -> MimeOptions {
    let mut m = MimeOptions::new(salesagent_core::model::Domain::parse("mail.seller.dev").unwrap());
    m.sender_name = Some("Sam Seller".into());
    m
}

/// A fresh worker process: sender, sequences service and the shipped worker.
fn worker(w: &World, name: &str) -> Worker {
    let sender = Sender::new(
        w.store.clone(),
        w.mailbox.clone(),
        w.clock.shared(),
        SendPolicy::new(PolicyConfig {
            mode: SendMode::RealSends,
            ..PolicyConfig::default()
        }),
        mime(),
    )
    .unwrap()
    .with_config(SenderConfig {
        holder: name.to_owned(),
        claim_lease: Duration::from_secs(600),
        search_lag: Duration::ZERO,
        kill_switch_recheck: Duration::from_secs(60),
    });
    let seq = Sequences::new(w.store.clone(), w.clock.shared(), SequenceConfig::default())
        .with_mailbox(w.mailbox.clone());
    Worker::empty(
        w.store.clone(),
        w.clock.shared(),
        WorkerConfig {
            name: name.to_owned(),
            ..WorkerConfig::default()
        },
    )
    .with_sender(sender)
    .register(seq)
}

fn dsn(to_contact: &EmailAddress, original: &MessageId, n: usize) -> MailMessage {
    let raw = format!(
        "From: MAILER-DAEMON@mx.company.test\r\nTo: {SENDER}\r\nSubject: Undelivered Mail Returned to Sender\r\n\
         Message-ID: <dsn-{n}@mx.company.test>\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\r\n\r\n\
         --b\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n\r\n\
         --b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.company.test\r\n\r\n\
         Final-Recipient: rfc822; {to_contact}\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n\
         --b\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: {}\r\nTo: {to_contact}\r\n\r\n--b--\r\n",
        original.bracketed()
    );
    MailMessage {
        provider_id: ProviderMessageId::new(""),
        thread_id: None,
        message_id: Some(MessageId::parse(&format!("dsn-{n}@mx.company.test")).unwrap()),
        in_reply_to: None,
        references: Vec::new(),
        from: Some(addr("MAILER-DAEMON@mx.company.test")),
        to: vec![addr(SENDER)],
        subject: "Undelivered Mail Returned to Sender".into(),
        date: None,
        body_text: "Your message could not be delivered.".into(),
        headers: vec![("From".into(), "MAILER-DAEMON@mx.company.test".into())],
        labels: vec!["INBOX".into()],
        raw: Some(raw.into_bytes()),
    }
}

/// The messages sent to `to`, oldest first, as (Message-ID, raw).
fn sent_to(mailbox: &FakeMailbox, to: &EmailAddress) -> Vec<(MessageId, Vec<u8>)> {
    mailbox
        .sent()
        .into_iter()
        .filter(|m| m.to.iter().any(|t| t == to))
        .map(|m| (m.message_id, m.raw))
        .collect()
}

/// Facts a check needs about scripted events: when an out-of-office contact is back.
#[derive(Default)]
struct Fired {
    /// (contact index, event number) already delivered.
    done: Vec<(usize, u32)>,
    /// Earliest time the contact's next follow-up may be drafted.
    back_at: BTreeMap<usize, DateTime<Utc>>,
}

fn deliver_events(w: &World, fired: &mut Fired, now: DateTime<Utc>) {
    let me = addr(SENDER);
    let mut by_contact: BTreeMap<String, Vec<MessageId>> = BTreeMap::new();
    for m in w.mailbox.sent() {
        for t in &m.to {
            by_contact
                .entry(t.normalized())
                .or_default()
                .push(m.message_id.clone());
        }
    }
    for i in 0..CONTACTS {
        let to = contact(i);
        let Some(sent) = by_contact.get(&to.normalized()) else {
            continue;
        };
        let Some(last) = sent.last() else { continue };
        let steps_sent = u32::try_from(sent.len() - 1).unwrap();
        let subject = format!("Re: {SUBJECT}");
        let mut fire = |n: u32| {
            if fired.done.contains(&(i, n)) {
                false
            } else {
                fired.done.push((i, n));
                true
            }
        };
        match script(i) {
            Script::ReplyAfter(k) if steps_sent == k && fire(0) => {
                w.mailbox.receive(
                    &to,
                    &me,
                    &subject,
                    "Thanks, sounds good - let's talk next week.",
                    Some(last),
                );
            }
            Script::OooDatedTextOnly if steps_sent == 0 && fire(0) => {
                let until = now + Td::days(10);
                let body = format!(
                    "Hello,\n\nI am out of the office until {} with limited access to email.\n\nBest,\nLee",
                    until.format("%B %-d, %Y")
                );
                // Back the day after: 09:00 (UTC: no CRM zone here).
                let back = Utc
                    .with_ymd_and_hms(until.year(), until.month(), until.day(), 9, 0, 0)
                    .unwrap()
                    + Td::days(1);
                fired.back_at.insert(i, back);
                w.mailbox.receive(&to, &me, &subject, &body, Some(last));
            }
            Script::OooUndatedHeader if steps_sent == 0 && fire(0) => {
                let m = w.mailbox.receive(
                    &to,
                    &me,
                    &format!("Automatic reply: {SUBJECT}"),
                    "Thank you for your message. I am currently out of the office with limited access to email.",
                    Some(last),
                );
                // The fake's receive has no auto headers: deliver a copy that has them.
                let mut auto = m.clone();
                auto.provider_id = ProviderMessageId::new("");
                auto.message_id =
                    Some(MessageId::parse(&format!("auto-{i}@company.test")).unwrap());
                auto.headers
                    .push(("Auto-Submitted".into(), "auto-replied".into()));
                w.mailbox.deliver(auto);
                fired.back_at.insert(i, now + Td::days(7));
            }
            Script::Bounce if steps_sent == 0 && fire(0) => {
                w.mailbox.deliver(dsn(&to, last, i));
            }
            Script::Unsubscribe if steps_sent == 1 && fire(0) => {
                w.mailbox.receive(
                    &to,
                    &me,
                    &subject,
                    "Please remove me from your list.",
                    Some(last),
                );
            }
            Script::OooThenReply if steps_sent == 1 && fire(0) => {
                let until = now + Td::days(9);
                let body = format!(
                    "Hi, I'm out of the office until {}. I will reply when I'm back.",
                    until.format("%-d %B %Y")
                );
                let back = Utc
                    .with_ymd_and_hms(until.year(), until.month(), until.day(), 9, 0, 0)
                    .unwrap()
                    + Td::days(1);
                fired.back_at.insert(i, back);
                w.mailbox.receive(&to, &me, &subject, &body, Some(last));
            }
            Script::OooThenReply if steps_sent == 2 && fire(1) => {
                w.mailbox.receive(
                    &to,
                    &me,
                    &subject,
                    "OK, back now. Happy to chat.",
                    Some(last),
                );
            }
            _ => {}
        }
    }
}

async fn approve_pending(w: &World) {
    let queue = OperatorQueue::new(w.store.clone(), w.clock.shared());
    let pending = w
        .store
        .list_drafts(&DraftFilter {
            status: Some(DraftStatus::Pending),
            ..DraftFilter::default()
        })
        .await
        .unwrap();
    for d in pending {
        queue
            .approve(d.id, d.version, "operator:test")
            .await
            .unwrap();
    }
}

/// Every stored sequence's journal replays to the stored state (`replay` == live): status, step,
/// next due time, pause and stop with their reasons, versions and generations alike.
async fn assert_replays(store: &DynStore) -> usize {
    let all = store
        .list_sequences(&sequences::SequenceFilter::default())
        .await
        .unwrap();
    for live in &all {
        let replayed = sequences::history::replay(&live.journal)
            .unwrap_or_else(|e| panic!("{}: {e}", live.contact_email));
        assert_eq!(&replayed, live, "{}", live.contact_email);
    }
    all.len()
}

async fn all_finished(store: &DynStore) -> bool {
    let all = store
        .list_sequences(&sequences::SequenceFilter::default())
        .await
        .unwrap();
    all.len() == CONTACTS && all.iter().all(|s| s.status.is_finished())
}

/// Runs the scenario; with `restart` the worker process is replaced on that day (and a crashed
/// worker leaves a claimed job behind first). Returns each contact's end state.
async fn run(restart: Option<i64>) -> Summary {
    // Monday 2026-11-02 08:00 UTC.
    let start = Utc.with_ymd_and_hms(2026, 11, 2, 8, 0, 0).unwrap();
    let clock = ManualClock::new(start);
    let store: DynStore = Arc::new(MemoryStore::new(clock.shared()));
    let mailbox = Arc::new(FakeMailbox::new().with_clock(clock.shared()));
    let w = World {
        clock,
        store,
        mailbox,
    };
    sequences::activate(&*w.store, &SequenceConfig::default())
        .await
        .unwrap();
    let outcomes = Outcomes::new(w.store.clone(), w.clock.shared());
    outcomes.scan_mailbox(&*w.mailbox, None).await.unwrap(); // starts the history cursor
    for i in 0..CONTACTS {
        let d = salesagent_core::model::Draft {
            contact_name: Some(format!("Lee Lead{i}")),
            company_name: Some(format!("Company {}", i % 25)),
            ..salesagent_core::model::Draft::new(
                contact(i),
                addr(SENDER),
                SUBJECT,
                "Hi Lee,\n\nsaw your form on our site: would a short demo help?\n\nCheers,\nSam",
                salesagent_core::model::DraftWriter::Human,
                start,
            )
        };
        w.store
            .insert_draft(&d, &d.created_event("pipeline"))
            .await
            .unwrap();
    }
    let mut worker = worker(&w, "w1");
    let mut fired = Fired::default();
    let mut restarted = false;
    // Office hours only (08:00-18:00 on weekdays): nothing is sent outside the send window, and
    // a step job due at night runs at 08:00.
    let hours = (0..24 * 80)
        .map(|h| start + Td::hours(h))
        .filter(|t| !matches!(t.weekday(), Weekday::Sat | Weekday::Sun))
        .filter(|t| (8..=18).contains(&t.hour()));
    for now in hours {
        w.clock.set(now);
        if let Some(day) = restart
            && !restarted
            && now >= start + Td::days(day)
        {
            // Mid-run (some sequences paused, some waiting): the history replays to the
            // stored state before and after the restart.
            assert!(assert_replays(&w.store).await > 0);
            // A worker dies holding a job, and the process is replaced.
            let kinds = [SEQUENCE_STEP.to_owned(), "send".to_owned()];
            let _abandoned = w
                .store
                .claim("crashed-0", &kinds, Duration::from_secs(120))
                .await
                .unwrap();
            drop(worker);
            worker = self::worker(&w, "w2");
            restarted = true;
        }
        deliver_events(&w, &mut fired, now);
        outcomes.scan_mailbox(&*w.mailbox, None).await.unwrap();
        approve_pending(&w).await;
        worker.run_until_idle(2).await.unwrap();
        if now.hour() == 12 {
            assert_replays(&w.store).await;
        }
        if now.hour() == 8 && all_finished(&w.store).await {
            break;
        }
    }
    if restart.is_some() {
        assert!(restarted, "the run ended before the restart");
    }
    assert_eq!(assert_replays(&w.store).await, CONTACTS);
    check(&w, &fired).await
}

/// Checks every contact against its script and returns the summary.
async fn check(w: &World, fired: &Fired) -> Summary {
    let mut out = Summary::new();
    for i in 0..CONTACTS {
        let to = contact(i);
        let seq = w
            .store
            .get_sequence(&to)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{to} not enrolled"));
        let sent = sent_to(&w.mailbox, &to);
        let (status, reason, after, n_sent) = match script(i) {
            Script::Silence | Script::OooDatedTextOnly | Script::OooUndatedHeader => {
                (SequenceStatus::Completed, None, None, 4)
            }
            Script::ReplyAfter(k) => (
                SequenceStatus::Stopped,
                Some(StopReason::Replied),
                Some(k),
                k as usize + 1,
            ),
            Script::Bounce => (
                SequenceStatus::Stopped,
                Some(StopReason::Bounced),
                Some(0),
                1,
            ),
            Script::Unsubscribe => (
                SequenceStatus::Stopped,
                Some(StopReason::Unsubscribed),
                Some(1),
                2,
            ),
            Script::OooThenReply => (
                SequenceStatus::Stopped,
                Some(StopReason::Replied),
                Some(2),
                3,
            ),
        };
        assert_eq!(
            seq.status,
            status,
            "{to} ({:?}): {:#?}",
            script(i),
            seq.events
        );
        assert_eq!(seq.stop_reason, reason, "{to}");
        assert_eq!(seq.stopped_after_step, after, "{to}");
        assert_eq!(sent.len(), n_sent, "{to}: messages sent");
        assert_eq!(seq.messages.len(), n_sent, "{to}: messages recorded");

        // Nothing drafted after a stop, and nothing left waiting.
        let drafts = w
            .store
            .list_drafts(&DraftFilter {
                contact: Some(to.clone()),
                ..DraftFilter::default()
            })
            .await
            .unwrap();
        for d in &drafts {
            assert!(
                matches!(d.status, DraftStatus::Sent | DraftStatus::Rejected),
                "{to}: draft {} left {}",
                d.id,
                d.status
            );
            if let Some(end) = seq
                .ended_at
                .filter(|_| seq.status == SequenceStatus::Stopped)
            {
                assert!(
                    d.created_at <= end,
                    "{to}: follow-up drafted after the stop"
                );
            }
        }
        // Out-of-office contacts: no follow-up was written before they were back.
        if let Some(back) = fired.back_at.get(&i) {
            let after_ooo = match script(i) {
                Script::OooThenReply => 2,
                _ => 1,
            };
            let first_after = seq
                .messages
                .iter()
                .find(|m| m.step == after_ooo)
                .expect("resumed");
            let draft = w.store.get_draft(first_after.draft_id).await.unwrap();
            assert!(
                draft.created_at >= *back,
                "{to}: follow-up drafted at {} before the return {back}",
                draft.created_at
            );
        }
        // Threading, from the RFC 5322 text that went out.
        let mut chain: Vec<String> = Vec::new();
        for (n, (id, raw)) in sent.iter().enumerate() {
            let msg = mail_parser::MessageParser::default()
                .parse(raw)
                .expect("parsable RFC 5322");
            assert_eq!(msg.message_id(), Some(id.as_str()), "{to}: Message-ID");
            assert!(msg.date().is_some() && msg.from().is_some() && msg.to().is_some());
            let subject = msg.subject().unwrap_or_default().to_owned();
            let irt: Vec<String> = msg
                .in_reply_to()
                .as_text_list()
                .unwrap_or_default()
                .iter()
                .map(ToString::to_string)
                .collect();
            let refs: Vec<String> = msg
                .references()
                .as_text_list()
                .unwrap_or_default()
                .iter()
                .map(ToString::to_string)
                .collect();
            if n == 0 {
                assert_eq!(subject, SUBJECT);
                assert!(
                    irt.is_empty() && refs.is_empty(),
                    "{to}: first e-mail is not a reply"
                );
            } else {
                assert_eq!(subject, format!("Re: {SUBJECT}"), "{to}: follow-up subject");
                assert_eq!(
                    irt,
                    vec![chain.last().unwrap().clone()],
                    "{to}: In-Reply-To of message {n}"
                );
                assert_eq!(refs, chain, "{to}: References of message {n}");
            }
            chain.push(id.as_str().to_owned());
        }
        out.insert(
            to.to_string(),
            (
                seq.status,
                seq.stop_reason.as_ref().map(ToString::to_string),
                seq.stopped_after_step,
                sent.len(),
            ),
        );
    }
    // Per-step figures agree with the script.
    let stats = sequences::compute_stats(
        &w.store
            .list_sequences(&sequences::SequenceFilter::default())
            .await
            .unwrap(),
    );
    assert_eq!(stats.steps[0].sent, CONTACTS as u64);
    assert_eq!(stats.by_status["completed"], 80);
    assert_eq!(stats.steps[0].stopped["bounced"], 20);
    assert_eq!(stats.steps[1].stopped["unsubscribed"], 20);
    assert_eq!(stats.steps[2].replied, 40);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_contacts_through_the_default_sequence_with_and_without_a_restart() {
    let plain = run(None).await;
    let restarted = run(Some(9)).await;
    assert_eq!(plain, restarted);
}

#[test]
fn a_threaded_out_of_office_reply_without_headers_is_not_a_human_reply() {
    let m = MailMessage {
        provider_id: ProviderMessageId::new("p1"),
        thread_id: None,
        message_id: Some(MessageId::parse("ooo-1@company.test").unwrap()),
        in_reply_to: Some(MessageId::parse("first@mail.seller.dev").unwrap()),
        references: vec![MessageId::parse("first@mail.seller.dev").unwrap()],
        from: Some(addr("lee@company.test")),
        to: vec![addr(SENDER)],
        subject: format!("Re: {SUBJECT}"),
        date: None,
        body_text: "Hello,\n\nI am out of the office until December 14 and will read your message when I am back.\n\nLee\n\n> Hi Lee, saw your form".into(),
        headers: Vec::new(),
        labels: vec!["INBOX".into()],
        raw: None,
    };
    let c = classify_message(&m);
    assert_eq!(c.kind, MailKind::Automatic, "{}", c.reason);
    assert!(sequences::ooo::is_out_of_office(&c));
    assert_eq!(c.outcome_type(), None);
    let received = chrono::NaiveDate::from_ymd_opt(2026, 12, 2).unwrap();
    assert_eq!(
        sequences::ooo::return_date(&c.new_text, received),
        chrono::NaiveDate::from_ymd_opt(2026, 12, 15)
    );
}

/// Public holidays are no business days, per recipient country (from the CRM) and for all, in
/// the recipient's zone; the journal replays to the stored state with them.
#[tokio::test]
async fn public_holidays_move_a_step_to_the_next_business_day() {
    use salesagent_core::model::{Contact, CrmId, Draft, DraftWriter, MessageId};
    use salesagent_core::sequences::{Step, StepPurpose};
    use salesagent_core::testing::FakeCrm;
    let day = |m: u32, d: u32| chrono::NaiveDate::from_ymd_opt(2026, m, d).unwrap();
    // Monday 2026-12-21 10:00 UTC.
    let monday = Utc.with_ymd_and_hms(2026, 12, 21, 10, 0, 0).unwrap();
    assert_eq!(monday.weekday(), Weekday::Mon);
    let clock = ManualClock::new(monday);
    let store: DynStore = Arc::new(MemoryStore::new(clock.shared()));
    let config = SequenceConfig {
        steps: vec![Step {
            wait_business_days: 4,
            purpose: StepPurpose::Bump,
        }],
        holidays: vec![chrono::NaiveDate::from_ymd_opt(2027, 1, 1).unwrap()],
        holidays_by_country: [("de".to_owned(), vec![day(12, 25), day(12, 26)])].into(),
        ..SequenceConfig::default()
    };
    sequences::activate(&*store, &config).await.unwrap();
    let crm = Arc::new(FakeCrm::new());
    let people = [
        ("anna@firma.test", Some("DE"), "Europe/Berlin", monday),
        ("louis@societe.test", Some("FR"), "Europe/Paris", monday),
        // Tuesday 29 December: New Year's Day (everyone's) is skipped.
        (
            "lee@company.test",
            None,
            "America/New_York",
            monday + Td::days(8),
        ),
    ];
    for (i, (email, country, zone, sent_at)) in people.iter().enumerate() {
        crm.add_contact(Contact {
            crm_id: CrmId::new(format!("c{i}")),
            email: addr(email),
            first_name: None,
            last_name: None,
            job_title: None,
            phone: None,
            company_id: None,
            time_zone: Some((*zone).to_owned()),
            properties: country
                .map(|c| [("country".to_owned(), c.to_owned())].into())
                .unwrap_or_default(),
        });
        let mut d = Draft::new(
            addr(email),
            addr(SENDER),
            SUBJECT,
            "Hi,\n\na short demo?\n\nSam",
            DraftWriter::Human,
            *sent_at,
        );
        d.status = DraftStatus::Sent;
        d.message_id = Some(MessageId::parse(&format!("first.{i}@mail.seller.dev")).unwrap());
        d.sent_at = Some(*sent_at);
        store
            .insert_draft(&d, &d.created_event("test"))
            .await
            .unwrap();
        sequences::on_sent(&*store, d.id, *sent_at).await.unwrap();
    }
    let seq = Sequences::new(store.clone(), clock.shared(), config).with_crm(crm);
    let worker =
        Worker::empty(store.clone(), clock.shared(), WorkerConfig::default()).register(seq);
    let due = |email: &'static str| {
        let store = store.clone();
        async move {
            let s = store.get_sequence(&addr(email)).await.unwrap().unwrap();
            let replayed = sequences::history::replay(&s.journal).unwrap();
            assert_eq!(replayed, s, "{email}");
            (s.next_due, s.pending_draft.is_some())
        }
    };
    // Until the step job first runs (when due) and asks the CRM, only the global holidays
    // count: Friday 25th for both European contacts.
    worker.run_until_idle(2).await.unwrap();
    assert_eq!(
        due("anna@firma.test").await,
        (Some(monday + Td::days(4)), false)
    );
    assert_eq!(
        due("louis@societe.test").await,
        (Some(monday + Td::days(4)), false)
    );
    // New York from Tuesday 29th: 30, 31, (1 January off), 4, 5: Tuesday 5 January.
    let ny_due = Utc.with_ymd_and_hms(2027, 1, 5, 10, 0, 0).unwrap();
    assert_eq!(due("lee@company.test").await, (Some(ny_due), false));
    // On the 25th the CRM names the countries: France has no list here, its follow-up is
    // drafted; in Germany 25 and 26 are holidays and 27 a Sunday: Monday 28th, 11:00 Berlin.
    clock.set(monday + Td::days(4));
    worker.run_until_idle(2).await.unwrap();
    let berlin_due = Utc.with_ymd_and_hms(2026, 12, 28, 10, 0, 0).unwrap();
    assert!(due("louis@societe.test").await.1);
    assert_eq!(due("anna@firma.test").await, (Some(berlin_due), false));
    let anna = store
        .get_sequence(&addr("anna@firma.test"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(anna.country.as_deref(), Some("DE"));
    assert_eq!(
        anna.holidays.len(),
        3,
        "global and German: {:?}",
        anna.holidays
    );
    clock.set(berlin_due);
    worker.run_until_idle(2).await.unwrap();
    assert!(due("anna@firma.test").await.1);
    assert!(!due("lee@company.test").await.1);
}
