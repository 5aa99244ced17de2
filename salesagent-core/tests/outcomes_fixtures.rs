//! Hand-written fixtures of real-world shapes (written from RFC 3464, RFC 3834 and the formats
//! Postfix, Exim, qmail, Gmail and Exchange/Outlook produce) classify as expected.

use salesagent_core::model::{
    EmailAddress, MailMessage, MessageId, OutcomeType, ProviderMessageId,
};
use salesagent_core::outcomes::{
    Classification, MailKind, SentimentSource, classify_message, classify_raw, fallback_sentiment,
};
use std::path::PathBuf;

fn fixture(name: &str) -> Classification {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/outcomes")
        .join(name);
    let raw = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    classify_raw(&raw)
}

fn addr(s: &str) -> EmailAddress {
    EmailAddress::parse(s).unwrap()
}

fn mid(s: &str) -> MessageId {
    MessageId::parse(s).unwrap()
}

/// Asserts a permanent bounce for `recipient` with `status`, returned message `original`.
fn assert_bounce(name: &str, recipient: &str, status: Option<&str>, original: Option<&str>) {
    let c = fixture(name);
    let MailKind::Bounce(info) = &c.kind else {
        panic!("{name}: expected a bounce, got {:?} ({})", c.kind, c.reason);
    };
    assert!(info.permanent, "{name}");
    assert_eq!(c.outcome_type(), Some(OutcomeType::EmailBounced), "{name}");
    assert_eq!(info.recipients, vec![addr(recipient)], "{name}");
    assert_eq!(info.status.as_deref(), status, "{name}");
    assert_eq!(info.original_message_id, original.map(mid), "{name}");
    if let Some(o) = original {
        assert_eq!(c.candidate_parents().first(), Some(&mid(o)), "{name}");
    }
    assert!(
        c.reason.contains("permanent bounce"),
        "{name}: {}",
        c.reason
    );
}

#[test]
fn postfix_permanent_failure() {
    assert_bounce(
        "dsn_postfix_user_unknown.eml",
        "nobody@acme-corp.example",
        Some("5.1.1"),
        Some("draft-1.fixture@salesagent.test"),
    );
    let c = fixture("dsn_postfix_user_unknown.eml");
    let MailKind::Bounce(info) = c.kind else {
        unreachable!()
    };
    assert!(
        info.diagnostic.unwrap().contains("User unknown"),
        "diagnostic kept, folded lines joined"
    );
}

#[test]
fn gmail_address_not_found() {
    assert_bounce(
        "dsn_gmail_address_not_found.eml",
        "ghost@globex.example",
        Some("5.1.1"),
        Some("draft-4.fixture@salesagent.test"),
    );
}

#[test]
fn exchange_recipient_not_found() {
    assert_bounce(
        "dsn_exchange_undeliverable.eml",
        "former.employee@contoso.example",
        Some("5.1.10"),
        Some("draft-5.fixture@salesagent.test"),
    );
}

#[test]
fn exim_plain_text_bounce() {
    assert_bounce(
        "dsn_exim_plain.eml",
        "jane.doe@initech.example",
        Some("5.1.1"),
        Some("draft-3.fixture@salesagent.test"),
    );
}

#[test]
fn qmail_failure_notice() {
    assert_bounce(
        "dsn_qmail_failure_notice.eml",
        "gavin@hooli.example",
        Some("5.1.1"),
        Some("draft-7.fixture@salesagent.test"),
    );
}

#[test]
fn yahoo_failure_notice_with_a_basic_smtp_code() {
    assert_bounce(
        "dsn_yahoo_failure_notice.eml",
        "olduser@yahoo.com",
        Some("smtp 554"),
        Some("draft-14.fixture@salesagent.test"),
    );
}

#[test]
fn transient_delays_record_nothing() {
    for (name, status, original) in [
        (
            "dsn_postfix_delayed.eml",
            "4.4.1",
            "draft-2.fixture@salesagent.test",
        ),
        (
            "dsn_exchange_delayed.eml",
            "4.4.7",
            "draft-6.fixture@salesagent.test",
        ),
    ] {
        let c = fixture(name);
        let MailKind::DeliveryNotice(info) = &c.kind else {
            panic!("{name}: expected a delay, got {:?}", c.kind);
        };
        assert!(!info.permanent, "{name}");
        assert_eq!(info.status.as_deref(), Some(status), "{name}");
        assert_eq!(info.original_message_id, Some(mid(original)), "{name}");
        assert_eq!(c.outcome_type(), None, "{name}");
        assert!(c.reason.contains("transient"), "{name}: {}", c.reason);
    }
}

#[test]
fn out_of_office_replies_are_automatic() {
    for (name, why) in [
        ("ooo_en_exchange.eml", "Auto-Submitted"),
        ("ooo_de_abwesenheit.eml", "abwesenheit"),
        ("ooo_fr_reponse_automatique.eml", "X-Autoreply"),
        ("ooo_es_fuera_de_la_oficina.eml", "fuera de la oficina"),
        ("ooo_gmail_vacation_rfc3834.eml", "auto-replied"),
        ("mdn_read_receipt.eml", "read receipt"),
    ] {
        let c = fixture(name);
        assert_eq!(c.kind, MailKind::Automatic, "{name}: {}", c.reason);
        assert_eq!(c.outcome_type(), None, "{name}");
        assert!(c.reason.contains(why), "{name}: {}", c.reason);
    }
}

#[test]
fn subject_rules_alone_catch_ooo_in_each_language() {
    // The same reply without any auto-reply header: only the subject tells.
    for subject in [
        "Automatic reply: Quick question",
        "Out of Office: Quick question",
        "Automatische Antwort: Ihre Anfrage",
        "Abwesenheitsnotiz: Ihre Anfrage",
        "=?UTF-8?Q?R=C3=A9ponse_automatique_:_Votre_message?=",
        "Absence du bureau",
        "=?UTF-8?Q?Respuesta_autom=C3=A1tica:_Propuesta?=",
        "Fuera de la oficina",
        "Risposta automatica: offerta",
        "Automatisch antwoord: offerte",
    ] {
        let raw = format!(
            "From: a@lead.example\r\nTo: ann@salesagent.test\r\nSubject: {subject}\r\n\
             Message-ID: <x1@lead.example>\r\nIn-Reply-To: <draft-1.fixture@salesagent.test>\r\n\
             \r\nBody.\r\n"
        );
        let c = classify_raw(raw.as_bytes());
        assert_eq!(c.kind, MailKind::Automatic, "{subject}: {}", c.reason);
    }
}

#[test]
fn human_replies_that_quote_the_original() {
    for (name, parent, tone) in [
        (
            "reply_positive_gmail_quoted.eml",
            "draft-1.fixture@salesagent.test",
            Some(OutcomeType::PositiveResponse),
        ),
        (
            "reply_negative_outlook.eml",
            "draft-3.fixture@salesagent.test",
            Some(OutcomeType::NegativeResponse),
        ),
        (
            "reply_de_thunderbird_quoted.eml",
            "draft-8.fixture@salesagent.test",
            Some(OutcomeType::PositiveResponse),
        ),
    ] {
        let c = fixture(name);
        // The quoted original carries an unsubscribe footer; it must not count.
        assert_eq!(c.kind, MailKind::HumanReply, "{name}: {}", c.reason);
        assert_eq!(c.outcome_type(), Some(OutcomeType::EmailReplied), "{name}");
        assert_eq!(c.in_reply_to, Some(mid(parent)), "{name}");
        assert_eq!(c.candidate_parents().first(), Some(&mid(parent)), "{name}");
        assert!(!c.new_text.contains('>'), "{name}: quotes removed");
        assert!(!c.new_text.to_lowercase().contains("unsubscribe"), "{name}");
        assert!(!c.new_text.to_lowercase().contains("remove me"), "{name}");
        assert!(!c.new_text.to_lowercase().contains("abmelden"), "{name}");
        let s = fallback_sentiment(&c.new_text);
        assert_eq!(s.outcome, tone, "{name}: {:?}", c.new_text);
        assert_eq!(s.source, SentimentSource::Fallback);
    }
}

#[test]
fn requests_to_stop() {
    for (name, from) in [
        ("unsubscribe_reply_en.eml", "frank@umbrella.example"),
        ("unsubscribe_reply_es.eml", "lucia@cliente.example"),
        ("unsubscribe_subject_only.eml", "grace@wayne.example"),
    ] {
        let c = fixture(name);
        assert_eq!(c.kind, MailKind::Unsubscribe, "{name}: {}", c.reason);
        assert_eq!(
            c.outcome_type(),
            Some(OutcomeType::EmailUnsubscribed),
            "{name}"
        );
        assert_eq!(c.from, Some(addr(from)), "{name}");
    }
}

#[test]
fn every_fixture_classifies() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/outcomes");
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|x| x == "eml") {
            let c = classify_raw(&std::fs::read(&path).unwrap());
            assert_ne!(c.kind, MailKind::Unparsable, "{}", path.display());
            assert!(c.message_id.is_some(), "{}", path.display());
            n += 1;
        }
    }
    assert!(n >= 19, "only {n} fixtures");
}

/// A provider message without raw bytes (decoded headers and text only).
fn decoded(from: &str, subject: &str, headers: &[(&str, &str)], body: &str) -> MailMessage {
    let mut all: Vec<(String, String)> = vec![
        ("From".into(), from.into()),
        ("Subject".into(), subject.into()),
    ];
    all.extend(
        headers
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned())),
    );
    MailMessage {
        provider_id: ProviderMessageId::new("p1"),
        thread_id: None,
        message_id: Some(mid("decoded-1@provider.example")),
        in_reply_to: None,
        references: Vec::new(),
        from: EmailAddress::parse(from).ok(),
        to: vec![addr("ann@salesagent.test")],
        subject: subject.into(),
        date: None,
        body_text: body.into(),
        headers: all,
        labels: vec!["INBOX".into()],
        raw: None,
    }
}

#[test]
fn decoded_messages_without_raw_bytes() {
    // Gmail's bounce as an API returns it without the raw message: text rules apply.
    let mut gmail = decoded(
        "mailer-daemon@googlemail.com",
        "Delivery Status Notification (Failure)",
        &[("X-Failed-Recipients", "ghost@globex.example")],
        "** Address not found **\n\nYour message wasn't delivered to ghost@globex.example \
         because the address couldn't be found, or is unable to receive mail.",
    );
    gmail.in_reply_to = Some(mid("draft-4.fixture@salesagent.test"));
    let c = classify_message(&gmail);
    let MailKind::Bounce(info) = &c.kind else {
        panic!("{:?} {}", c.kind, c.reason);
    };
    assert_eq!(info.recipients, vec![addr("ghost@globex.example")]);
    assert_eq!(
        c.candidate_parents(),
        vec![mid("draft-4.fixture@salesagent.test")]
    );

    let ooo = decoded(
        "bob@acme-corp.example",
        "Re: Quick question",
        &[("Auto-Submitted", "auto-replied")],
        "I am out of the office.",
    );
    assert_eq!(classify_message(&ooo).kind, MailKind::Automatic);

    let mut reply = decoded(
        "bob@acme-corp.example",
        "Re: Quick question",
        &[],
        "Sounds good.\n\nOn Mon, Ann wrote:\n> unsubscribe",
    );
    reply.in_reply_to = Some(mid("draft-1.fixture@salesagent.test"));
    let c = classify_message(&reply);
    assert_eq!(c.kind, MailKind::HumanReply);
    assert_eq!(c.new_text, "Sounds good.");

    // A person asking about an undeliverable order is not a bounce.
    let human = decoded(
        "carl@initech.example",
        "Re: Undeliverable parcel?",
        &[],
        "Did the parcel arrive?",
    );
    assert_eq!(classify_message(&human).kind, MailKind::HumanReply);

    // A decoded From with a display name still reads as an MTA sender.
    let mut named = decoded(
        "mailer-daemon@googlemail.com",
        "Message blocked",
        &[],
        "Your message to ghost@globex.example has been blocked. 550 5.7.1 policy.",
    );
    named.headers[0].1 = "Mail Delivery Subsystem <mailer-daemon@googlemail.com>".into();
    let c = classify_message(&named);
    assert!(matches!(c.kind, MailKind::Bounce(_)), "{c:?}");

    // A person writing about a failed delivery of goods is not a bounce.
    let parcel = decoded(
        "carl@initech.example",
        "Delivery failure of our parcel",
        &[],
        "Hi Ann, the parcel does not exist in the tracking system. Can you check?",
    );
    assert_eq!(classify_message(&parcel).kind, MailKind::HumanMessage);
    // An Exchange sender without a report part is still an MTA.
    let exchange = decoded(
        "MicrosoftExchange329e71ec88ae4615bbc36ab6ce41109e@contoso.example",
        "Undeliverable: Quick question",
        &[],
        "Your message to former.employee@contoso.example couldn't be delivered. \
         Remote Server returned '550 5.1.10 RESOLVER.ADR.RecipientNotFound'",
    );
    let c = classify_message(&exchange);
    let MailKind::Bounce(info) = &c.kind else {
        panic!("{c:?}");
    };
    assert_eq!(
        info.recipients,
        vec![addr("former.employee@contoso.example")]
    );
    assert_eq!(info.status.as_deref(), Some("5.1.10"));

    // A delay notice in plain text records nothing.
    let delay = decoded(
        "postmaster@contoso.example",
        "Delivery delayed: Quick question",
        &[],
        "Delivery to busy@contoso.example is delayed. 4.4.7 Message delayed. We will retry.",
    );
    let c = classify_message(&delay);
    assert!(matches!(c.kind, MailKind::DeliveryNotice(_)), "{c:?}");
    assert_eq!(c.outcome_type(), None);
}
