//! Exemplar sentences: a few short sentences of the sender's own mail, kept in the profile so
//! the drafting prompt can show the model how this person writes.
//!
//! Only sentences that carry tone and no content are kept: 5 to 20 words, ending in `.`, `!` or
//! `?`, no digits, links, addresses, brackets or quotes, and no capitalised word after the first
//! other than `I` (so no names of people, companies, places or products). The greeting and the
//! sign-off are not sentences here. Of all candidates, the [`MAX_KEPT`] with the smallest
//! stable hash are kept: the choice does not depend on the order messages were learned in, so
//! [`update`](super::update) still equals learning on the union.

use super::segments;

/// Most exemplar sentences a profile keeps.
pub const MAX_KEPT: usize = 12;

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
    fn merging_is_order_independent() {
        let all: Vec<String> = (0..40)
            .map(|i| format!("This is sentence number {} of ours.", "x".repeat(i + 1)))
            .collect();
        let mut a = Vec::new();
        merge(&mut a, all.iter().cloned());
        let mut b = Vec::new();
        merge(&mut b, all[20..].iter().cloned());
        merge(&mut b, all[..20].iter().rev().cloned());
        assert_eq!(a, b);
        assert_eq!(a.len(), MAX_KEPT);
    }
}
