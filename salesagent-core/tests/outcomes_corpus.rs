//! Every message of the shared real-world corpus (`../shared/data/mail/`) classifies without
//! panicking, and the distribution is printed for the report.

use salesagent_core::outcomes::{MailKind, classify_raw};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// `../shared` next to the workspace root, or `$SALESAGENT_SHARED` when set (git worktrees).
fn shared_mail_dir() -> Option<PathBuf> {
    let shared = match std::env::var_os("SALESAGENT_SHARED") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .parent()?
            .join("..")
            .join("shared"),
    };
    let dir = shared.join("data").join("mail");
    dir.is_dir().then_some(dir)
}

#[test]
fn every_corpus_message_classifies() {
    let Some(dir) = shared_mail_dir() else {
        println!("notice: ../shared/data/mail not found; corpus test skipped");
        return;
    };
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no .eml files in {}", dir.display());
    let mut by_outcome: BTreeMap<String, usize> = BTreeMap::new();
    let mut by_kind: BTreeMap<&'static str, usize> = BTreeMap::new();
    for f in &files {
        let raw = std::fs::read(f).unwrap();
        let c = classify_raw(&raw);
        assert!(!c.reason.is_empty(), "{}: empty reason", f.display());
        if std::env::var_os("OUTCOMES_CORPUS_VERBOSE").is_some() {
            println!("{}\t{:?}\t{}", f.display(), c.outcome_type(), c.reason);
        }
        // The outcome agrees with the kind.
        match (&c.kind, c.outcome_type()) {
            (MailKind::Bounce(b), Some(t)) => {
                assert!(b.permanent);
                assert_eq!(t.as_str(), "email_bounced");
            }
            (MailKind::HumanReply, Some(t)) => assert_eq!(t.as_str(), "email_replied"),
            (MailKind::Unsubscribe, Some(t)) => assert_eq!(t.as_str(), "email_unsubscribed"),
            (_, None) => {}
            (k, t) => panic!("{}: {k:?} gave {t:?}", f.display()),
        }
        let kind = match c.kind {
            MailKind::HumanReply => "human_reply",
            MailKind::HumanMessage => "human_message",
            MailKind::Unsubscribe => "unsubscribe",
            MailKind::Automatic => "automatic",
            MailKind::Bounce(_) => "bounce",
            MailKind::DeliveryNotice(_) => "delivery_notice",
            MailKind::Unparsable => "unparsable",
        };
        *by_kind.entry(kind).or_default() += 1;
        *by_outcome
            .entry(c.outcome_type().map_or("none".into(), |t| t.to_string()))
            .or_default() += 1;
    }
    println!("corpus: {} messages", files.len());
    println!("by kind: {by_kind:?}");
    println!("by outcome: {by_outcome:?}");
    // The corpus holds one real RFC 3464 report (NTMail, 2002): `Action: failure`, no `Status`,
    // and whitespace-only lines between its field groups.
    let dsn = dir.join("55.eml");
    if dsn.is_file() {
        let c = classify_raw(&std::fs::read(&dsn).unwrap());
        let MailKind::Bounce(info) = &c.kind else {
            panic!("55.eml: {:?} {}", c.kind, c.reason);
        };
        assert_eq!(info.recipients.len(), 1);
        assert_eq!(info.recipients[0].to_string(), "daz@jpci.net");
    }
    // Nearly all of the corpus is list mail, newsletters and spam with headers that parse.
    assert!(by_kind.get("unparsable").copied().unwrap_or(0) < files.len() / 10);
}
