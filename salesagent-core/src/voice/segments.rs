//! Text handling for voice learning: what part of a sent message the sender wrote, how it splits
//! into sentences and tokens, and which greeting and sign-off it uses.

use crate::model::MailMessage;
use crate::{Error, Result};

/// Marker of "no greeting" / "no sign-off" in the form distributions.
pub const NONE_FORM: &str = "(none)";

/// Placeholder for the recipient's name inside a greeting form (`"Hi {name},"`).
pub const NAME_SLOT: &str = "{name}";

/// Lines that start a quoted or forwarded part: everything from there on was not written by the
/// sender in this message.
const CUT_MARKERS: &[&str] = &[
    "-----original message-----",
    "----- original message -----",
    "-----forwarded message-----",
    "---------- forwarded message ----------",
    "----- forwarded by",
    "---------------------- forwarded by",
    "begin forwarded message:",
    "________________________________",
];

/// Opening words of legal disclaimers and confidentiality footers.
const DISCLAIMER_STARTS: &[&str] = &[
    "this e-mail is confidential",
    "this email is confidential",
    "this message is confidential",
    "this e-mail and any attachments",
    "this email and any attachments",
    "this message and any attachments",
    "this e-mail message is intended",
    "this email message is intended",
    "this message is intended only",
    "the information contained in this",
    "confidentiality notice",
    "disclaimer:",
    "sent from my iphone",
    "sent from my ipad",
    "sent from my blackberry",
    "sent from my android",
    "get outlook for",
];

/// The part of a message body the sender wrote: quoted replies (`> …`, `On … wrote:`), forwarded
/// blocks, signatures after `-- ` and common disclaimers are removed. Line structure is kept.
#[must_use]
pub fn strip_non_authored(body: &str) -> String {
    let mut kept: Vec<&str> = Vec::new();
    for raw in body.lines() {
        let line = raw.trim_end_matches('\r');
        let trimmed = line.trim();
        let lower = trimmed.to_lowercase();
        // The RFC 3676 signature separator is "-- " exactly; some clients drop the space.
        if line == "-- " || line == "--" {
            break;
        }
        if CUT_MARKERS.iter().any(|m| lower.starts_with(m)) {
            break;
        }
        if DISCLAIMER_STARTS.iter().any(|m| lower.starts_with(m)) {
            break;
        }
        if is_reply_header(&lower) {
            break;
        }
        if trimmed.starts_with('>') {
            continue;
        }
        kept.push(line);
    }
    // An Outlook-style header block ("From: …" followed by "Sent:"/"To:") starts the quoted part.
    if let Some(pos) = kept.windows(2).position(|w| {
        let a = w[0].trim_start().to_lowercase();
        let b = w[1].trim_start().to_lowercase();
        a.starts_with("from:")
            && (b.starts_with("sent:") || b.starts_with("to:") || b.starts_with("date:"))
    }) {
        kept.truncate(pos);
    }
    let text = kept.join("\n");
    text.trim().to_owned()
}

/// `On Tue, 3 Jan 2023, Bob <b@x> wrote:` and its localised cousins in English.
fn is_reply_header(lower: &str) -> bool {
    (lower.starts_with("on ") && lower.ends_with("wrote:"))
        || (lower.ends_with("wrote:") && lower.contains('@'))
        || lower.ends_with("schrieb:")
        || (lower.starts_with("le ") && lower.ends_with("a écrit :"))
}

/// The text of an RFC 5322 message (its first text part, or HTML converted to text), with the
/// non-authored parts removed. `InvalidInput` when the bytes are not a parseable message.
pub fn body_from_rfc5322(raw: &[u8]) -> Result<String> {
    let parsed = mail_parser::MessageParser::default()
        .parse(raw)
        .ok_or_else(|| Error::invalid("message", "not an RFC 5322 message"))?;
    let body = parsed.body_text(0).unwrap_or_default();
    Ok(strip_non_authored(&body))
}

/// The authored text of a mailbox message: `body_text`, or the parsed `raw` bytes when the
/// provider gave no text.
#[must_use]
pub fn body_of_message(message: &MailMessage) -> String {
    if message.body_text.trim().is_empty()
        && let Some(raw) = &message.raw
        && let Ok(body) = body_from_rfc5322(raw)
    {
        return body;
    }
    strip_non_authored(&message.body_text)
}

/// Splits text into paragraphs (blank-line separated), each a list of sentences.
#[must_use]
pub fn paragraphs(text: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        if line.trim().is_empty() {
            if !current.trim().is_empty() {
                out.push(sentences(&current));
            }
            current.clear();
        } else {
            current.push_str(line.trim());
            current.push('\n');
        }
    }
    if !current.trim().is_empty() {
        out.push(sentences(&current));
    }
    out.retain(|p: &Vec<String>| !p.is_empty());
    out
}

/// Splits a paragraph into sentences: at line breaks and after `.`, `!` or `?` followed by a
/// space and an upper-case letter or digit.
#[must_use]
pub fn sentences(paragraph: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in paragraph.lines() {
        let chars: Vec<char> = line.chars().collect();
        let mut start = 0;
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            if matches!(c, '.' | '!' | '?') {
                let mut j = i + 1;
                while j < chars.len() && matches!(chars[j], '.' | '!' | '?' | '"' | ')') {
                    j += 1;
                }
                let mut k = j;
                while k < chars.len() && chars[k] == ' ' {
                    k += 1;
                }
                if k > j
                    && k < chars.len()
                    && (chars[k].is_uppercase() || chars[k].is_ascii_digit())
                    && !is_abbreviation(&chars[start..=i])
                {
                    push_sentence(&mut out, &chars[start..j]);
                    start = k;
                    i = k;
                    continue;
                }
                i = j;
                continue;
            }
            i += 1;
        }
        push_sentence(&mut out, &chars[start..]);
    }
    out
}

fn push_sentence(out: &mut Vec<String>, chars: &[char]) {
    let s: String = chars.iter().collect();
    let s = s.trim();
    if !s.is_empty() {
        out.push(s.to_owned());
    }
}

/// `Mr.`, `Dr.`, `e.g.`, single initials: a full stop that does not end a sentence.
fn is_abbreviation(upto_dot: &[char]) -> bool {
    let word: String = upto_dot
        .iter()
        .rev()
        .skip(1)
        .take_while(|c| !c.is_whitespace())
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    let w = word.to_lowercase();
    matches!(
        w.as_str(),
        "mr" | "mrs" | "ms" | "dr" | "st" | "jr" | "sr" | "vs" | "etc" | "e.g" | "i.e" | "inc"
    ) || (word.chars().count() == 1 && word.chars().all(char::is_uppercase))
}

/// A token of text: a word (letters, digits, inner apostrophes and hyphens) or one symbol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token<'a> {
    /// The token as written.
    pub text: &'a str,
    /// True for words and numbers, false for punctuation and symbols.
    pub is_word: bool,
}

/// Tokenises text into words and single punctuation/symbol characters (whitespace dropped).
#[must_use]
pub fn tokens(text: &str) -> Vec<Token<'_>> {
    let mut out = Vec::new();
    let mut iter = text.char_indices().peekable();
    while let Some((start, c)) = iter.next() {
        if c.is_alphanumeric() {
            let mut end = start + c.len_utf8();
            while let Some(&(i, n)) = iter.peek() {
                let joins = (n == '\'' || n == '’' || n == '-')
                    && text[i + n.len_utf8()..]
                        .chars()
                        .next()
                        .is_some_and(char::is_alphanumeric);
                if n.is_alphanumeric() || joins {
                    end = i + n.len_utf8();
                    iter.next();
                } else {
                    break;
                }
            }
            out.push(Token {
                text: &text[start..end],
                is_word: true,
            });
        } else if !c.is_whitespace() && !c.is_control() {
            out.push(Token {
                text: &text[start..start + c.len_utf8()],
                is_word: false,
            });
        }
    }
    out
}

/// Words that open a greeting.
const GREETING_WORDS: &[&str] = &[
    "hi",
    "hello",
    "hey",
    "dear",
    "hiya",
    "greetings",
    "morning",
    "afternoon",
    "evening",
    "good",
    "howdy",
    "yo",
];

/// Collective addressees that stay literal in a greeting form (`"Hi all,"`).
const COLLECTIVES: &[&str] = &[
    "all",
    "team",
    "everyone",
    "everybody",
    "folks",
    "guys",
    "gentlemen",
    "ladies",
    "there",
];

/// Capitalised words that open sentences but are not names.
const NOT_NAMES: &[&str] = &[
    "thanks",
    "thank",
    "yes",
    "no",
    "ok",
    "okay",
    "well",
    "also",
    "however",
    "sorry",
    "fyi",
    "please",
    "great",
    "sure",
    "so",
    "and",
    "but",
    "attached",
    "again",
    "regards",
    "cheers",
    "note",
    "ps",
    "re",
    "fw",
    "fwd",
    "i",
    "we",
    "the",
    "this",
    "that",
    "here",
    "today",
    "tomorrow",
    "yesterday",
    "unfortunately",
    "actually",
    "btw",
    "first",
    "finally",
    "now",
    "then",
    "just",
    "as",
    "if",
    "in",
    "on",
    "for",
    "per",
    "to",
    "a",
    "an",
    "it",
    "you",
    "they",
    "he",
    "she",
    "what",
    "when",
    "how",
    "why",
    "who",
    "where",
    "congratulations",
    "congrats",
    "welcome",
    "update",
    "question",
    "questions",
    "importance",
    "subject",
    "all",
];

/// A greeting found at the start of a text: its form (`"Hi {name},"`), the byte length of the
/// greeting in the text, and the names it addressed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Greeting {
    /// The form with addressee names replaced by [`NAME_SLOT`].
    pub form: String,
    /// Byte length of the greeting at the start of the (left-trimmed) text.
    pub len: usize,
}

/// The greeting that opens `text`, if any.
#[must_use]
pub fn detect_greeting(text: &str) -> Option<Greeting> {
    let text = text.trim_start();
    let first_line = text.lines().next().unwrap_or("");
    // The greeting ends at the first ',', ':', '!' or '-' within the first few words, or at the
    // end of a short first line.
    let limit = first_line
        .char_indices()
        .find(|&(_, c)| matches!(c, ',' | ':' | '!' | '—' | ';'))
        .map(|(i, c)| (i, Some(c)));
    let (end, punct) = match limit {
        Some((i, c)) => (i, c),
        None if first_line.split_whitespace().count() <= 4 && text.lines().count() > 1 => {
            (first_line.len(), None)
        }
        None => return None,
    };
    let head = &first_line[..end];
    let words: Vec<&str> = head.split_whitespace().collect();
    if words.is_empty() || words.len() > 5 {
        return None;
    }
    let mut form_words: Vec<String> = Vec::new();
    let mut saw_greeting = false;
    let mut saw_name = false;
    let mut saw_collective = false;
    for (i, w) in words.iter().enumerate() {
        let bare = w.trim_matches(|c: char| !c.is_alphanumeric() && c != '.');
        let lower = bare.trim_end_matches('.').to_lowercase();
        if GREETING_WORDS.contains(&lower.as_str()) && !saw_name {
            saw_greeting = true;
            form_words.push((*w).to_owned());
        } else if COLLECTIVES.contains(&lower.as_str()) && (saw_greeting || i == 0) {
            saw_collective = true;
            form_words.push((*w).to_owned());
        } else if matches!(lower.as_str(), "and" | "&") && saw_name {
            continue;
        } else if looks_like_name(bare) && (saw_greeting || !NOT_NAMES.contains(&lower.as_str())) {
            if !saw_name {
                form_words.push(NAME_SLOT.to_owned());
            }
            saw_name = true;
        } else {
            return None;
        }
    }
    if !(saw_greeting || saw_name || saw_collective) {
        return None;
    }
    // A bare name or collective with no punctuation is just the first word of a sentence.
    if !saw_greeting && punct.is_none() {
        return None;
    }
    if !saw_greeting && punct.is_some_and(|c| c != ',' && c != ':' && c != '!') {
        return None;
    }
    let mut form = form_words.join(" ");
    let mut len = end;
    if let Some(c) = punct {
        form.push(c);
        len += c.len_utf8();
    }
    Some(Greeting { form, len })
}

fn looks_like_name(word: &str) -> bool {
    let mut chars = word.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    first.is_uppercase()
        && word.chars().count() <= 20
        && word
            .chars()
            .all(|c| c.is_alphabetic() || c == '.' || c == '-' || c == '\'')
}

/// Closing phrases that open a sign-off.
pub(crate) const CLOSINGS: &[&str] = &[
    "thanks",
    "thank you",
    "thanks again",
    "thanks so much",
    "thanks very much",
    "many thanks",
    "thx",
    "tx",
    "ty",
    "regards",
    "best regards",
    "kind regards",
    "warm regards",
    "warmest regards",
    "best wishes",
    "best",
    "all the best",
    "cheers",
    "sincerely",
    "yours sincerely",
    "yours truly",
    "yours",
    "talk soon",
    "take care",
    "thanks in advance",
    "ciao",
    "rgds",
    "br",
    "love",
    "later",
];

/// A sign-off found at the end of a text: its form (closing phrase and name lines as written,
/// joined with `\n`) and where it starts in the (right-trimmed) text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignOff {
    /// The sign-off as written, lines joined with `\n`.
    pub form: String,
    /// Byte offset where the sign-off starts in the right-trimmed text.
    pub start: usize,
}

/// The sign-off that closes `text`, if any: a closing phrase (`Thanks,`, `Best regards`), a name
/// line (`Vince`, `Kay Mann`), or both.
#[must_use]
pub fn detect_sign_off(text: &str) -> Option<SignOff> {
    let text = text.trim_end();
    // Candidate segments: the last lines, also split at double spaces (line breaks that were
    // flattened by some mail exports).
    let mut offsets: Vec<(usize, &str)> = Vec::new();
    let mut pos = 0;
    for line in text.split_inclusive('\n') {
        let mut seg_start = pos;
        for seg in line.split("  ") {
            let t = seg.trim();
            if !t.is_empty() {
                let lead = seg.len() - seg.trim_start().len();
                offsets.push((seg_start + lead, t));
            }
            seg_start += seg.len() + 2;
        }
        pos += line.len();
    }
    let mut start: Option<usize> = None;
    let mut parts: Vec<&str> = Vec::new();
    let mut saw_closing = false;
    let mut names = 0;
    for &(off, seg) in offsets.iter().rev().take(3) {
        let words: Vec<&str> = seg.split_whitespace().collect();
        let bare = seg.trim_end_matches([',', '!', '.', '-', ':']);
        let lower = bare.to_lowercase();
        if !saw_closing && CLOSINGS.contains(&lower.as_str()) {
            saw_closing = true;
            parts.push(seg);
            start = Some(off);
            continue;
        }
        if !saw_closing && names == 0 && is_closing_with_name(seg) {
            parts.push(seg);
            start = Some(off);
            saw_closing = true;
            continue;
        }
        if !saw_closing
            && names < 1
            && (1..=3).contains(&words.len())
            && words.iter().all(|w| is_name_word(w))
            && offsets.len() > 1
        {
            names += 1;
            parts.push(seg);
            start = Some(off);
            continue;
        }
        break;
    }
    let start = start?;
    parts.reverse();
    Some(SignOff {
        form: parts.join("\n"),
        start,
    })
}

/// `Thanks, Vince` on one line: a closing phrase then a name.
fn is_closing_with_name(seg: &str) -> bool {
    let Some((closing, name)) = seg.split_once([',', '!', '-']) else {
        return false;
    };
    let closing_lower = closing.trim().to_lowercase();
    let words: Vec<&str> = name.split_whitespace().collect();
    CLOSINGS.contains(&closing_lower.as_str())
        && (1..=3).contains(&words.len())
        && words.iter().all(|w| is_name_word(w))
}

/// A word that can be part of a signed name: a capitalised word (`Vince`), initials (`VK`,
/// `J.`), or an all-lower-case short word directly after a closing (`kay`).
fn is_name_word(word: &str) -> bool {
    let w = word.trim_end_matches([',', '.']);
    let lower = w.to_lowercase();
    !w.is_empty()
        && w.chars().count() <= 20
        && w.chars()
            .all(|c| c.is_alphabetic() || c == '.' || c == '-' || c == '\'')
        && w.chars().next().is_some_and(char::is_alphabetic)
        && !NOT_NAMES.contains(&lower.as_str())
        && !CLOSINGS.contains(&lower.as_str())
        && (w.chars().next().is_some_and(char::is_uppercase) || w.chars().count() <= 8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_quotes_forwards_signatures_and_disclaimers() {
        let body = "Hi Bob,\n\nSounds good.\n\nOn Tue, Jan 3, 2023 at 9:00 AM Alice <a@x.com> wrote:\n> earlier\n> text";
        assert_eq!(strip_non_authored(body), "Hi Bob,\n\nSounds good.");
        let body = "See below.\n-----Original Message-----\nFrom: x\nhello";
        assert_eq!(strip_non_authored(body), "See below.");
        let body = "FYI\n---------------------- Forwarded by Vince J Kaminski/HOU/ECT\nold";
        assert_eq!(strip_non_authored(body), "FYI");
        let body = "Thanks,\nAnn\n-- \nAnn Smith | Acme\n+1 555";
        assert_eq!(strip_non_authored(body), "Thanks,\nAnn");
        let body = "Done.\n\nThis e-mail is confidential and may be privileged.";
        assert_eq!(strip_non_authored(body), "Done.");
        let body = "Agreed.\n> quoted line\nMore.";
        assert_eq!(strip_non_authored(body), "Agreed.\nMore.");
        let body = "Yes.\n\nFrom: Bob\nSent: Monday\nTo: Ann\n\nold";
        assert_eq!(strip_non_authored(body), "Yes.");
    }

    #[test]
    fn parses_rfc5322() {
        let raw = b"From: a@x.com\r\nTo: b@y.com\r\nSubject: Hi\r\n\r\nHi Bob,\r\n\r\nSee you.\r\n\r\n> old\r\n";
        assert_eq!(body_from_rfc5322(raw).unwrap(), "Hi Bob,\n\nSee you.");
    }

    #[test]
    fn splits_sentences_and_paragraphs() {
        let s = sentences("Mr. Smith called. He left a note! Did you see it? Yes");
        assert_eq!(
            s,
            [
                "Mr. Smith called.",
                "He left a note!",
                "Did you see it?",
                "Yes"
            ]
        );
        let p = paragraphs("Hi,\n\nOne. Two.\nThree.\n\n\nBye");
        assert_eq!(p.len(), 3);
        assert_eq!(p[1].len(), 3);
    }

    #[test]
    fn tokenises_words_and_symbols() {
        let t: Vec<&str> = tokens("I'm re-reading it, ok?! 3.5 ☺")
            .iter()
            .map(|t| t.text)
            .collect();
        assert_eq!(
            t,
            [
                "I'm",
                "re-reading",
                "it",
                ",",
                "ok",
                "?",
                "!",
                "3",
                ".",
                "5",
                "☺"
            ]
        );
    }

    #[test]
    fn detects_greetings() {
        let g = |t: &str| detect_greeting(t).map(|g| g.form);
        assert_eq!(
            g("Hi John,  Thanks for your call."),
            Some("Hi {name},".into())
        );
        assert_eq!(g("Bob,  In order to meet."), Some("{name},".into()));
        assert_eq!(g("Hi all,\nquick note"), Some("Hi all,".into()));
        assert_eq!(g("Dear Mr. Smith:\n\nPlease"), Some("Dear {name}:".into()));
        assert_eq!(g("Jeff and Sara,  see below"), Some("{name},".into()));
        assert_eq!(g("Thanks, that works."), None);
        assert_eq!(g("I would like to invite you, Bob."), None);
        assert_eq!(g(""), None);
        let t = "Hi John,  Thanks";
        assert_eq!(&t[..detect_greeting(t).unwrap().len], "Hi John,");
    }

    #[test]
    fn detects_sign_offs() {
        let s = |t: &str| detect_sign_off(t).map(|s| s.form);
        assert_eq!(
            s("Let me know.\nThanks,\nVince"),
            Some("Thanks,\nVince".into())
        );
        assert_eq!(s("Let me know.\nKay"), Some("Kay".into()));
        assert_eq!(s("Let me know.\nThanks!"), Some("Thanks!".into()));
        assert_eq!(
            s("Let me know.\nBest regards, Ann Lee"),
            Some("Best regards, Ann Lee".into())
        );
        assert_eq!(s("Let me know."), None);
        assert_eq!(s("Vince"), None);
        let t = "Call me.\nThanks,\nVince\n";
        let so = detect_sign_off(t).unwrap();
        assert_eq!(&t[so.start..].trim_end(), &"Thanks,\nVince");
    }
}
