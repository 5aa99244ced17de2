use super::*;
use crate::model::{
    DraftFlag, EmailAddress, HistoryPage, MailMessage, MailQuery, MessageId, MessagePage,
    OutgoingMessage, ProviderMessageId, SentMessage, ThreadId, VoiceProfile,
};
use crate::ports::Mailbox;
use crate::{Error, Result};
use chrono::{DateTime, TimeZone, Utc};
use proptest::prelude::*;
use std::path::PathBuf;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap()
}

fn owner() -> EmailAddress {
    EmailAddress::parse("ann@example.com").unwrap()
}

/// A terse, casual writer who talks about pipelines and signs "Ann".
fn ann_mail() -> Vec<String> {
    let topics = [
        "the pipeline capacity",
        "gas nominations",
        "the storage deal",
        "the Houston meter",
        "tomorrow's flow",
        "the weekend volumes",
    ];
    (0..30)
        .map(|i| {
            let t = topics[i % topics.len()];
            format!(
                "Hey Bob,\n\nCan you check {t}? I think it's off by a bit again!\nLet me know asap.\n\nthx\nAnn"
            )
        })
        .collect()
}

/// A long-winded, formal writer about contracts who signs "Regards, Charles Smith".
fn charles_mail() -> Vec<String> {
    let topics = [
        "the indemnification clause",
        "the assignment provisions",
        "the draft agreement",
        "the termination rights",
        "the confidentiality undertaking",
        "the governing law section",
    ];
    (0..30)
        .map(|i| {
            let t = topics[i % topics.len()];
            format!(
                "Dear Mr. Jones:\n\nPlease find attached our comments regarding {t}, which we would \
                 appreciate your reviewing at your earliest convenience. We would further request \
                 that counsel confirm the position of the parties with respect to {t} before \
                 execution.\n\nRegards,\nCharles Smith"
            )
        })
        .collect()
}

#[test]
fn synthetic_senders_are_told_apart() {
    let ann = learn(owner(), "ann", ann_mail(), now()).unwrap();
    let charles = learn(owner(), "charles", charles_mail(), now()).unwrap();
    assert_eq!(ann.message_count, 30);
    assert_eq!(ann.version, 0);
    assert_eq!(ann.style.greetings.get("Hey {name},"), Some(&1.0));
    assert_eq!(ann.style.sign_offs.get("thx\nAnn"), Some(&1.0));
    assert!(charles.style.formality > ann.style.formality);
    assert!(ann.style.contraction_rate > charles.style.contraction_rate);
    assert!(charles.style.sentence_len_mean > ann.style.sentence_len_mean);

    let by_ann =
        "Hey Sam,\n\nCan you look at the pipeline nominations? I think they're off!\n\nthx\nAnn";
    let by_charles = "Dear Ms. Brown:\n\nPlease find attached our comments regarding the \
                      indemnification provisions, which we would appreciate your reviewing.\n\n\
                      Regards,\nCharles Smith";
    let a = ann.similarity(by_ann);
    let c = charles.similarity(by_ann);
    assert!(a.value > c.value, "{a:?} vs {c:?}");
    assert!(a.value > 0.5);
    assert!(charles.similarity(by_charles).value > ann.similarity(by_charles).value);
    // The breakdown names every component, each in [0, 1].
    for name in [
        "vocabulary",
        "characters",
        "style",
        "greeting",
        "sign_off",
        "formality",
    ] {
        let s = a.feature(name).unwrap_or_else(|| panic!("missing {name}"));
        assert!((0.0..=1.0).contains(&s));
    }
    assert_eq!(a.feature("greeting"), Some(1.0));
    assert!(c.feature("greeting").unwrap() < 0.1);
}

/// Every run of letters in `text` with `qz` appended: the same mail in words no one else uses.
fn renamed(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 2);
    let mut in_word = false;
    for c in text.chars() {
        if in_word && !c.is_alphabetic() {
            out.push_str("qz");
        }
        in_word = c.is_alphabetic();
        out.push(c);
    }
    if in_word {
        out.push_str("qz");
    }
    out
}

#[test]
fn words_no_sender_wrote_do_not_rank_profiles_by_size() {
    // `big` has twice `small`'s mail with the same type/token ratio: Charles's messages, and the
    // same messages again in words of their own. A text of words neither of them ever wrote
    // must not favour the smaller profile (under a fixed Dirichlet prior weight it did, by
    // ln((2N + μ) / (N + μ)) per term).
    let small = learn(owner(), "small", charles_mail(), now()).unwrap();
    let both: Vec<String> = charles_mail()
        .into_iter()
        .flat_map(|m| [renamed(&m), m])
        .collect();
    let big = learn(owner(), "big", both, now()).unwrap();
    let (s, b) = (&small.style.stats, &big.style.stats);
    assert_eq!(b.term_total, 2 * s.term_total);
    // Punctuation terms are shared by both halves: a handful fewer than twice the types.
    assert!(b.terms.len() + 5 >= 2 * s.terms.len() && b.terms.len() <= 2 * s.terms.len());
    let generic = "Quarterly zebras wander through amber orchards beside quiet harbours.";
    // The vocabulary evidence (its logit): under a fixed prior weight μ = 100 the bigger profile
    // would lose ln((2N + μ) / (N + μ)), about 0.68 nats here (N = 3,050).
    let evidence = |p: &VoiceProfile, text: &str| {
        let v = p.similarity(text).feature("vocabulary").unwrap();
        (v / (1.0 - v)).ln()
    };
    let (es, eb) = (evidence(&small, generic), evidence(&big, generic));
    assert!((es - eb).abs() < 0.05, "small {es} vs big {eb}");
    // A sender's own words still count for them.
    let own = "Please find attached our comments regarding the draft agreement.";
    assert!(evidence(&big, own) > eb + 1.0);
    assert!(evidence(&small, own) > es + 1.0);
}

#[test]
fn profile_names_are_validated() {
    for bad in ["", "   ", "a\u{7}b"] {
        assert_eq!(
            learn(owner(), bad, ["x"], now()).unwrap_err().kind(),
            "invalid_input"
        );
    }
    let long = "n".repeat(MAX_NAME_LEN + 1);
    assert!(learn(owner(), &long, ["x"], now()).is_err());
    assert_eq!(
        learn(owner(), " sales ", ["x"], now()).unwrap().name,
        "sales"
    );
}

#[test]
fn update_equals_learning_on_the_union() {
    let mut all = ann_mail();
    all.extend(charles_mail());
    let whole = learn(owner(), "mixed", &all, now()).unwrap();
    let mut part = learn(owner(), "mixed", &all[..17], now()).unwrap();
    let later = now() + chrono::Duration::days(1);
    assert_eq!(update(&mut part, &all[17..], later), all.len() - 17);
    assert_eq!(part.updated_at, later);
    assert_eq!(part.message_count, whole.message_count);
    let (a, b) = (&part.style, &whole.style);
    assert_eq!(a.stats.terms, b.stats.terms);
    assert_eq!(a.stats.char_grams, b.stats.char_grams);
    assert_eq!(a.stats.greeting_counts, b.stats.greeting_counts);
    assert_eq!(a.greetings, b.greetings);
    assert_eq!(a.vocabulary, b.vocabulary);
    for (k, v) in &b.stats.sums {
        assert!((a.stats.sums[k] - v).abs() < 1e-6 * v.abs().max(1.0), "{k}");
    }
    assert!((a.sentence_len_mean - b.sentence_len_mean).abs() < 1e-9);
    let text = &all[3];
    assert!((part.similarity(text).value - whole.similarity(text).value).abs() < 1e-9);
}

#[test]
fn empty_inputs_score_zero() {
    let empty = learn(owner(), "empty", std::iter::empty::<&str>(), now()).unwrap();
    assert_eq!(empty.message_count, 0);
    assert_eq!(empty.similarity("Hello there, how are you?").value, 0.0);
    let ann = learn(owner(), "ann", ann_mail(), now()).unwrap();
    assert_eq!(ann.similarity("").value, 0.0);
    assert_eq!(ann.similarity(" \n\t ").value, 0.0);
    // Messages without words are not counted.
    let p = learn(owner(), "p", ["", "...", "Real words here."], now()).unwrap();
    assert_eq!(p.message_count, 1);
}

#[test]
fn threshold_flags_low_scores() {
    let ann = learn(owner(), "ann", ann_mail(), now()).unwrap();
    let threshold = SimilarityThreshold { min_score: 0.5 };
    let own = ann.similarity(&ann_mail()[0]);
    assert_eq!(threshold.flag(&own), None);
    let foreign = ann.similarity(&charles_mail()[0]);
    assert!(foreign.value < own.value);
    let strict = SimilarityThreshold { min_score: 1.0 };
    assert_eq!(
        strict.flag(&foreign),
        Some(DraftFlag::LowVoiceSimilarity {
            score_milli: foreign.milli()
        })
    );
    assert!(
        SimilarityThreshold { min_score: 0.0 }
            .flag(&foreign)
            .is_none()
    );
    let json = serde_json::to_string(&SimilarityThreshold::default()).unwrap();
    let back: SimilarityThreshold = serde_json::from_str(&json).unwrap();
    assert_eq!(back, SimilarityThreshold::default());
}

#[test]
fn apply_uses_the_senders_greeting_sign_off_and_length() {
    let ann = learn(owner(), "ann", ann_mail(), now()).unwrap();
    let draft = "Hello Mr. Lee,\n\nThank you for your interest in our storage service.\n\nBest regards,\nJohn Lee";
    let out = apply(&ann, draft, Some("Lee"));
    assert_eq!(
        out,
        "Hey Lee,\n\nThank you for your interest in our storage service.\n\nthx\nAnn"
    );
    // Deterministic, and idempotent once applied.
    assert_eq!(apply(&ann, draft, Some("Lee")), out);
    assert_eq!(apply(&ann, &out, Some("Lee")), out);
    // No name: a greeting that needs none, or none at all.
    let no_name = apply(&ann, draft, None);
    assert!(no_name.starts_with("Thank you"), "{no_name}");

    // Ann writes ~25 words; a rambling draft loses middle sentences, keeps first and last.
    let long: Vec<String> = (0..30)
        .map(|i| format!("Sentence number {i} says a few things."))
        .collect();
    let long = format!("{}\n\nCall me tomorrow?", long.join(" "));
    let out = apply(&ann, &long, Some("Bo"));
    let words = out.split_whitespace().count();
    assert!(words <= MIN_LENGTH_LIMIT + 12, "{words}: {out}");
    assert!(out.contains("Sentence number 0 says"));
    assert!(out.contains("Call me tomorrow?"));
    assert!(!out.contains("Sentence number 29"));

    let empty = learn(owner(), "empty", std::iter::empty::<&str>(), now()).unwrap();
    assert_eq!(
        apply(&empty, "  Hi Bo,\n\nText.  ", Some("Bo")),
        "Hi Bo,\n\nText."
    );
}

#[test]
fn style_guide_is_compact_and_specific() {
    let ann = learn(owner(), "ann", ann_mail(), now()).unwrap();
    let g = style_guide(&ann);
    assert!(g.contains("30 of their sent emails"), "{g}");
    assert!(g.contains("\"Hey {name},\" 100%"), "{g}");
    assert!(g.contains("\"thx / Ann\" 100%"), "{g}");
    assert!(g.contains("asap"), "{g}");
    assert!(g.lines().count() <= 12 && g.len() < 1500, "{g}");
    let charles = learn(owner(), "charles", charles_mail(), now()).unwrap();
    let g2 = style_guide(&charles);
    assert!(g2.contains("\"Dear {name}:\""), "{g2}");
    assert!(g2.contains("rarely uses contractions"), "{g2}");
    let empty = learn(owner(), "empty", std::iter::empty::<&str>(), now()).unwrap();
    assert!(style_guide(&empty).starts_with("No writing samples"));
}

#[test]
fn profiles_round_trip_through_json() {
    let ann = learn(owner(), "ann", ann_mail(), now()).unwrap();
    let json = serde_json::to_string(&ann).unwrap();
    let back: VoiceProfile = serde_json::from_str(&json).unwrap();
    // Floats may move by an ulp through JSON; everything else is identical.
    assert_eq!(
        (back.id, back.message_count, &back.name),
        (ann.id, ann.message_count, &ann.name)
    );
    assert_eq!(back.style.stats.terms, ann.style.stats.terms);
    assert_eq!(back.style.greetings, ann.style.greetings);
    let text = "Hey Bob, can you check the storage deal? thx Ann";
    assert!((back.similarity(text).value - ann.similarity(text).value).abs() < 1e-9);
}

#[test]
fn quoted_and_forwarded_text_does_not_teach_the_profile() {
    let with_quotes: Vec<String> = ann_mail()
        .into_iter()
        .map(|m| {
            format!("{m}\n\n-----Original Message-----\nFrom: Charles\nindemnification clause")
        })
        .collect();
    let p = learn(owner(), "ann", with_quotes, now()).unwrap();
    assert!(!p.style.stats.terms.contains_key("indemnification"));
}

/// A sent folder served in pages of `page` messages.
#[derive(Debug)]
struct SentFolder {
    bodies: Vec<String>,
}

#[async_trait::async_trait]
impl Mailbox for SentFolder {
    async fn search(&self, _: &MailQuery) -> Result<Vec<MailMessage>> {
        Err(Error::unsupported("search"))
    }
    async fn get_thread(&self, _: &ThreadId) -> Result<Vec<MailMessage>> {
        Err(Error::unsupported("get_thread"))
    }
    async fn send(&self, _: &OutgoingMessage) -> Result<SentMessage> {
        Err(Error::unsupported("send"))
    }
    async fn create_draft(&self, _: &OutgoingMessage) -> Result<SentMessage> {
        Err(Error::unsupported("create_draft"))
    }
    async fn find_sent(&self, _: &MessageId) -> Result<Option<SentMessage>> {
        Err(Error::unsupported("find_sent"))
    }
    async fn history(&self, _: Option<&str>) -> Result<HistoryPage> {
        Err(Error::unsupported("history"))
    }
    async fn sent_messages(&self, page_token: Option<&str>, page_size: u32) -> Result<MessagePage> {
        let start: usize = page_token
            .map_or(Ok(0), str::parse)
            .map_err(|_| Error::invalid("page_token", "bad"))?;
        let end = (start + page_size as usize).min(self.bodies.len());
        let messages = self.bodies[start..end]
            .iter()
            .enumerate()
            .map(|(i, b)| MailMessage {
                provider_id: ProviderMessageId(format!("m{}", start + i)),
                thread_id: None,
                message_id: None,
                in_reply_to: None,
                references: Vec::new(),
                from: None,
                to: Vec::new(),
                subject: String::new(),
                date: None,
                // Every other message only has raw bytes, to exercise the RFC 5322 path.
                body_text: if i % 2 == 0 { b.clone() } else { String::new() },
                headers: Vec::new(),
                labels: vec!["SENT".into()],
                raw: (i % 2 == 1).then(|| {
                    format!("From: ann@example.com\r\nSubject: x\r\n\r\n{b}").into_bytes()
                }),
            })
            .collect();
        Ok(MessagePage {
            messages,
            next_page: (end < self.bodies.len()).then(|| end.to_string()),
        })
    }
}

#[tokio::test]
async fn learns_from_a_mailbox_sent_folder() {
    let mut bodies = ann_mail();
    bodies.extend(ann_mail());
    bodies.extend(ann_mail());
    bodies.extend(ann_mail());
    let folder = SentFolder {
        bodies: bodies.clone(),
    };
    let p = learn_from_mailbox(&folder, owner(), "ann", 250, now())
        .await
        .unwrap();
    assert_eq!(p.message_count, 120);
    let direct = learn(owner(), "ann", &bodies, now()).unwrap();
    assert_eq!(p.style.stats.terms, direct.style.stats.terms);
    assert_eq!(p.style.sign_offs, direct.style.sign_offs);
    let capped = learn_from_mailbox(&folder, owner(), "ann", 45, now())
        .await
        .unwrap();
    assert_eq!(capped.message_count, 45);
    let err = learn_from_mailbox(&folder, owner(), "", 10, now())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), "invalid_input");
}

/// `../shared/data/voice` next to the repository (or a worktree's ancestors), if present.
fn shared_voice_data() -> Option<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    root.ancestors()
        .skip(2)
        .map(|a| a.join("shared/data/voice"))
        .find(|p| p.join("train").is_dir())
}

#[test]
fn own_train_mail_beats_someone_elses_on_developer_data() {
    let Some(data) = shared_voice_data() else {
        eprintln!("NOTICE: ../shared/data/voice absent; skipping the developer-data test");
        return;
    };
    // Two senders with different trades: profiles from each one's train mail.
    let read = |split: &str, sender: &str| -> Vec<String> {
        corpus::read_paths(&[data.join(split).join(sender)])
            .unwrap()
            .into_iter()
            .map(|m| m.body)
            .collect()
    };
    let senders = ["kaminski-v", "mann-k", "germany-c", "jones-t"];
    let profiles: Vec<VoiceProfile> = senders
        .iter()
        .map(|s| learn(owner(), s, read("train", s), now()).unwrap())
        .collect();
    for (i, s) in senders.iter().enumerate() {
        let tests = read("test", s);
        let mut wins = 0;
        for t in &tests {
            let own = profiles[i].similarity(t).value;
            let best_other = profiles
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(_, p)| p.similarity(t).value)
                .fold(0.0, f64::max);
            wins += usize::from(own > best_other);
        }
        // Held-out mail of a sender is most like their own profile far more often than chance
        // (1 in 4 here).
        assert!(wins * 10 >= tests.len() * 7, "{s}: {wins}/{}", tests.len());
        // And on average it scores higher against the own profile than against the others.
        let mean = |p: &VoiceProfile| {
            tests.iter().map(|t| p.similarity(t).value).sum::<f64>() / tests.len() as f64
        };
        let own_mean = mean(&profiles[i]);
        for (j, p) in profiles.iter().enumerate() {
            if j != i {
                assert!(own_mean > mean(p), "{s} vs {}", senders[j]);
            }
        }
    }
}

fn any_text() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        ".{0,400}",
        "[a-zA-Z ,.!?'\n]{0,400}",
        proptest::collection::vec(any::<u8>(), 0..600)
            .prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
        "[\\p{Han}\\p{Cyrillic}\\p{Arabic} ，。！]{0,200}",
        "[😀-🙏 a-z]{0,100}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn scores_stay_in_unit_range(text in any_text(), train in proptest::collection::vec(any_text(), 0..4)) {
        let profiles = [
            learn(owner(), "ann", ann_mail(), now()).unwrap(),
            learn(owner(), "random", &train, now()).unwrap(),
        ];
        for p in &profiles {
            let s = p.similarity(&text);
            prop_assert!((0.0..=1.0).contains(&s.value), "{}", s.value);
            for f in &s.features {
                prop_assert!((0.0..=1.0).contains(&f.score), "{} {}", f.name, f.score);
            }
            let out = apply(p, &text, Some("Bo"));
            prop_assert!(out.len() <= text.len() + 200);
            let _ = style_guide(p);
        }
    }
}

#[test]
fn scores_stay_in_unit_range_for_huge_and_strange_inputs() {
    let ann = learn(owner(), "ann", ann_mail(), now()).unwrap();
    let huge = "pipeline gas deal, ok! ".repeat(1024 * 1024 / 23 + 1);
    assert!(huge.len() >= 1024 * 1024);
    let binary: String = (0..=255u8).cycle().take(100_000).map(char::from).collect();
    let inputs = [
        huge.as_str(),
        binary.as_str(),
        "Привет, Борис! Как дела с поставками газа?",
        "你好，请查看附件中的合同。谢谢！",
        "😀😀😀 🎉",
        "\u{0}\u{1}\u{2}",
    ];
    for text in inputs {
        let s = ann.similarity(text);
        assert!((0.0..=1.0).contains(&s.value));
        assert!(s.features.iter().all(|f| (0.0..=1.0).contains(&f.score)));
    }
    // Learning from the same strange inputs works too.
    let odd = learn(owner(), "odd", inputs, now()).unwrap();
    assert!(odd.message_count >= 4);
    assert!((0.0..=1.0).contains(&odd.similarity(&huge).value));
}
