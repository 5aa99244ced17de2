//! Exemplar sentences: a few short sentences of the sender's own mail, kept in the profile so
//! the drafting prompt can show the model how this person writes.
//!
//! Only sentences that carry tone and no content are kept: 5 to 20 words, ending in `.`, `!` or
//! `?`, no digits, links, addresses, brackets or quotes, no capitalised word after the first
//! other than `I` and no first word set off by a comma (so no names of people, companies,
//! places or products). The greeting and the sign-off are not sentences here. Of all
//! candidates, the [`MAX_KEPT`] with the smallest stable hash are kept: the choice does not
//! depend on the order messages were learned in, so [`update`](super::update) still equals
//! learning on the union.
//!
//! Most kept sentences still belong to their conversation ("The reservation volumes on the
//! seasonal contracts do not look correct."); a small model shown one as a tone example copies
//! its content. [`habitual`] orders them by how habitual their wording is for the sender
//! (phrases they use again and again, such as "Let me know your thoughts."), so the few a
//! prompt shows are the sender's stock phrases rather than one-off content.

use super::segments;
use crate::model::VoiceProfile;

/// Most exemplar sentences a profile keeps (a pool to choose the few habitual ones from).
pub const MAX_KEPT: usize = 40;

/// FNV-1a: a stable 64-bit hash (the same on every platform and release).
fn stable_hash(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

fn is_exemplar(sentence: &str) -> bool {
    let words: Vec<&str> = sentence.split_whitespace().collect();
    if !(5..=20).contains(&words.len()) || !sentence.ends_with(['.', '!', '?']) {
        return false;
    }
    if sentence.chars().any(|c| {
        c.is_ascii_digit()
            || c.is_control()
            || matches!(
                c,
                '@' | '/'
                    | '\\'
                    | '('
                    | ')'
                    | '['
                    | ']'
                    | '{'
                    | '}'
                    | '<'
                    | '>'
                    | '"'
                    | '“'
                    | '”'
                    | '*'
                    | '_'
                    | '#'
                    | '='
                    | '|'
                    | '$'
                    | '€'
                    | '£'
                    | '%'
                    | ':'
                    | ';'
            )
    }) {
        return false;
    }
    let lower = sentence.to_lowercase();
    if lower.contains("http") || lower.contains("www.") {
        return false;
    }
    // A first word set off by a comma is most often the addressee's name ("Celeste, I would
    // like …"), which the capital-letter rule below cannot tell from an ordinary first word.
    if words[0].ends_with(',') {
        return false;
    }
    // Every word after the first is lower case, except the pronoun I and its contractions.
    words.iter().skip(1).all(|w| {
        let w = w.trim_matches(|c: char| !c.is_alphanumeric() && c != '\'');
        !w.chars().next().is_some_and(char::is_uppercase)
            || matches!(w, "I" | "I'm" | "I'll" | "I've" | "I'd")
    }) && words[0].chars().next().is_some_and(char::is_uppercase)
        && !words.iter().all(|w| w.chars().all(|c| !c.is_lowercase()))
}

/// The exemplar candidates of one authored message body.
#[must_use]
pub fn candidates(body: &str) -> Vec<String> {
    let mut text = body.trim();
    if let Some(g) = segments::detect_greeting(text) {
        text = text.get(g.len..).unwrap_or("").trim_start();
    }
    if let Some(s) = segments::detect_sign_off(text) {
        text = text.get(..s.start).unwrap_or("").trim_end();
    }
    segments::paragraphs(text)
        .into_iter()
        .flatten()
        .map(|s| s.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|s| is_exemplar(s))
        .collect()
}

/// Merges `new` candidates into `kept`: the [`MAX_KEPT`] distinct sentences with the smallest
/// stable hash, in hash order.
pub fn merge(kept: &mut Vec<String>, new: impl IntoIterator<Item = String>) {
    kept.extend(new);
    kept.sort_by(|a, b| stable_hash(a).cmp(&stable_hash(b)).then_with(|| a.cmp(b)));
    kept.dedup();
    kept.truncate(MAX_KEPT);
}

/// Words of courtesy and of invitations to reply, ask or call: the only words besides function
/// words a tone example for the drafting prompt may have ([`is_courtesy`]).
const COURTESY_WORDS: &[&str] = &[
    "additional",
    "anything",
    "answer",
    "appreciate",
    "appreciated",
    "assistance",
    "back",
    "call",
    "can't",
    "certainly",
    "chance",
    "chat",
    "comment",
    "comments",
    "concerns",
    "contact",
    "convenient",
    "course",
    "discuss",
    "do",
    "doing",
    "done",
    "else",
    "everyone",
    "feedback",
    "feel",
    "fine",
    "follow",
    "forward",
    "free",
    "give",
    "glad",
    "go",
    "going",
    "good",
    "great",
    "guys",
    "happy",
    "hear",
    "hearing",
    "help",
    "helpful",
    "hesitate",
    "hope",
    "i'd",
    "i'll",
    "i've",
    "idea",
    "ideas",
    "information",
    "input",
    "interested",
    "isn't",
    "let's",
    "look",
    "looking",
    "make",
    "matter",
    "much",
    "note",
    "questions",
    "question",
    "quick",
    "reach",
    "really",
    "reply",
    "respond",
    "review",
    "something",
    "soon",
    "suggestions",
    "sure",
    "talk",
    "that's",
    "there's",
    "think",
    "thoughts",
    "touch",
    "useful",
    "way",
    "we'll",
    "we're",
    "welcome",
    "well",
    "what's",
    "won't",
    "work",
    "works",
    "you'll",
    "you're",
    "you've",
];

/// True when `sentence` carries tone and nothing else: every word is a function word or a word
/// of courtesy ("Let me know if you have any questions.", "Call me if you want to talk."). A
/// small model shown a sentence about the sender's own affairs ("I think I'm going to go to the
/// driving range.") as a tone example writes about those affairs to the lead; one shown only
/// such sentences cannot.
#[must_use]
pub fn is_courtesy(sentence: &str) -> bool {
    let mut words = segments::tokens(sentence)
        .into_iter()
        .filter(|t| t.text.chars().any(char::is_alphabetic))
        .map(|t| t.text.to_lowercase().replace('’', "'"))
        .peekable();
    words.peek().is_some()
        && words.all(|w| {
            super::learn::FUNCTION_WORDS.contains(&w.as_str())
                || COURTESY_WORDS.contains(&w.as_str())
        })
}

/// How habitual `sentence`'s wording is for `profile`: the mean over its words and word pairs
/// ([`super::features::for_each_style_term`], the terms the similarity scores) of
/// ln(1 + how often the sender wrote it). Stock phrases ("let me", "me know") score high,
/// one-off content words low.
fn habit_score(profile: &VoiceProfile, sentence: &str) -> f64 {
    let terms = &profile.style.stats.terms;
    let (mut sum, mut n) = (0.0, 0u32);
    super::features::for_each_style_term(sentence, |t| {
        sum += f64::from(terms.get(t).copied().unwrap_or(0)).ln_1p();
        n += 1;
    });
    if n == 0 { 0.0 } else { sum / f64::from(n) }
}

/// The profile's exemplar sentences (this sender's own mail only), the most habitual wording
/// first: by the mean over a sentence's words and word pairs of ln(1 + how often the sender
/// wrote it); equal scores keep their stored order.
#[must_use]
pub fn habitual(profile: &VoiceProfile) -> Vec<String> {
    let mut scored: Vec<(f64, &String)> = profile
        .style
        .exemplars
        .iter()
        .map(|e| (habit_score(profile, e), e))
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    scored.into_iter().map(|(_, e)| e.clone()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_short_content_free_sentences_only() {
        let body = "Hi John,\n\nThanks for the quick turnaround on this one.\n\
                    We agreed to pay $400 by Friday.\n\
                    Please call Sara Lee at Acme about the contract.\n\
                    Let me know if you need anything else from me.\n\
                    Ok.\n\nThanks,\nVince";
        assert_eq!(
            candidates(body),
            [
                "Thanks for the quick turnaround on this one.",
                "Let me know if you need anything else from me."
            ]
        );
    }

    #[test]
    fn stock_phrases_come_before_one_off_content() {
        let mut mails: Vec<String> = (0..12)
            .map(|i| {
                format!("Hi Ann,\n\nThe file for desk {i} is attached. Let me know your thoughts.\n\nThanks")
            })
            .collect();
        mails.push(
            "Hi Ann,\n\nThe reservation volumes on the seasonal contracts do not look correct.\n\nThanks"
                .into(),
        );
        let email = crate::model::EmailAddress::parse("ann@example.com").unwrap();
        let now = chrono::DateTime::parse_from_rfc3339("2026-11-26T08:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        let p = super::super::learn(email, "default", mails, now).unwrap();
        assert_eq!(
            habitual(&p),
            [
                "Let me know your thoughts.",
                "The reservation volumes on the seasonal contracts do not look correct."
            ]
        );
    }

    #[test]
    fn only_sentences_of_courtesy_are_tone_examples() {
        for ok in [
            "Let me know if you have any questions.",
            "If you have any questions, please give me a call.",
            "I hope you are doing well.",
            "Let me know if there’s anything I can do to help.",
        ] {
            assert!(is_courtesy(ok), "{ok}");
        }
        for content in [
            "I think I'm going to go to the driving range.",
            "I'll follow up with a final version of the agreement.",
            "Thanks for the quick turnaround on this one.",
            "",
        ] {
            assert!(!is_courtesy(content), "{content}");
        }
    }

    #[test]
    fn merging_is_order_independent() {
        let all: Vec<String> = (0..MAX_KEPT + 20)
            .map(|i| format!("This is sentence number {} of ours.", "x".repeat(i + 1)))
            .collect();
        let mut a = Vec::new();
        merge(&mut a, all.iter().cloned());
        let mut b = Vec::new();
        merge(&mut b, all[30..].iter().cloned());
        merge(&mut b, all[..30].iter().rev().cloned());
        assert_eq!(a, b);
        assert_eq!(a.len(), MAX_KEPT);
    }
}
