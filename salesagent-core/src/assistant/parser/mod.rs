//! The deterministic parser: everyday phrasings to [`Command`]s, never a guess.
//!
//! Order of checks:
//! 1. empty, overlong or markup-laden text (`{`, `<`, backticks, `$(`, `&&`) → clarify
//!    ([`guard`]);
//! 2. the framing is peeled off both ends ([`framing`]): filler ("um", "okay so"), politeness
//!    ("could you", "please"), a leading yes or no, hedges ("maybe", "I guess"), question forms
//!    ("should I …") and sarcasm ("yeah right"); it is kept as a frame;
//! 3. the rest, normalised, against the command grammar ([`grammar`]): phrase tables
//!    ([`phrases`]), a verb with a reference to the current draft ("approve that one", "read
//!    the current one to me"), negated forms ("don't send it yet" is a skip), a time qualifier
//!    ([`timing`]: "skip for now" is a skip, "send it this week" a question, since sends cannot
//!    be scheduled), two phrases meaning the same ("looks good, send it");
//! 4. commands with the operator's words taken verbatim from the original text ([`payload`]):
//!    a reason after punctuation or "because" ("reject — too early", "reject it because
//!    they're a student"), an edit ("change the subject to …"), a lookup ("tell me about …");
//! 5. the frame settles the command: approving, rejecting or resuming sending framed by
//!    sarcasm, a no (not for rejecting), a hedge or a question becomes a question;
//! 6. otherwise the safety net ([`guard`]): bulk, destructive or instruction-like words, two
//!    actions, a bare time, or any approving or rejecting word the grammar could not place →
//!    clarify; anything else is [`Parsed::Undecided`], which the caller may hand to a language
//!    model.

mod framing;
mod grammar;
mod guard;
mod payload;
mod phrases;
mod questions;
mod stop_sequence;
mod timing;

use super::command::Command;
use framing::{Frame, normalise};
use phrases::{NO, YES};
use questions::Q_BARE_YES_NO;
pub(crate) use questions::Q_UNKNOWN;

/// What the parser made of an utterance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// A command (possibly [`Command::Clarify`]).
    Command(Command),
    /// No rule applied and nothing looked unsafe: a language model may try.
    Undecided,
}

/// An answer to "are you sure?".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confirmation {
    /// Go ahead.
    Yes,
    /// Do not.
    No,
}

/// The normalised words of an utterance with the framing located at both ends.
struct Framed<'a> {
    words: Vec<&'a str>,
    /// Where the command may start, outermost first, with the frame of the words before.
    starts: Vec<(usize, Frame)>,
    /// Where the command may end, outermost first, with the frame of the words after.
    ends: Vec<(usize, Frame)>,
    question_mark: bool,
}

impl<'a> Framed<'a> {
    fn of(raw: &str, norm: &'a str) -> Self {
        let words: Vec<&str> = norm.split(' ').collect();
        let starts = framing::leading(&words);
        let innermost = starts.last().map_or(0, |s| s.0);
        let ends = framing::trailing(&words, innermost);
        Self {
            words,
            starts,
            ends,
            question_mark: raw.ends_with('?'),
        }
    }

    /// The whole frame for a command between `lead` and `tail`.
    fn frame(&self, lead: Frame, tail: Frame) -> Frame {
        lead.and(tail).with_question_mark(self.question_mark)
    }

    /// The innermost end and the frame of the words after it.
    fn innermost_end(&self) -> (usize, Frame) {
        self.ends
            .last()
            .copied()
            .unwrap_or((self.words.len(), Frame::default()))
    }

    /// The words between the innermost start and the innermost end, and their frame.
    fn core(&self) -> (&[&'a str], Frame) {
        let (at, lead) = self.starts.last().copied().unwrap_or_default();
        let (end, tail) = self.innermost_end();
        (&self.words[at..end], self.frame(lead, tail))
    }
}

/// Steps 3 and 5: the grammar from the innermost start and end outwards ("no way" is a phrase
/// of its own, "no, skip it" is "skip it" after a no, "looks ok I guess" is "looks ok" before a
/// hedge).
fn by_grammar(f: &Framed) -> Option<Command> {
    for (at, lead) in f.starts.iter().rev() {
        for (end, tail) in f.ends.iter().rev().filter(|(end, _)| end > at) {
            if let Some(c) = grammar::sentence(&f.words[*at..*end]) {
                return Some(guard::settle(c, f.frame(*lead, *tail)));
            }
        }
    }
    grammar::how_many(f.core().0)
}

/// Steps 4 and 5 over the original text's words.
fn by_payload(raw: &str, f: &Framed) -> Option<Command> {
    let tokens = payload::tokens(raw);
    let norms: Vec<&str> = tokens.iter().map(|t| t.norm.as_str()).collect();
    let tail = f.innermost_end().1;
    framing::leading(&norms)
        .iter()
        .rev()
        .find_map(|(at, lead)| {
            payload::edit(raw, &tokens, *at)
                .or_else(|| payload::reject_with_reason(raw, &tokens, *at))
                .or_else(|| payload::lookup(raw, &tokens, *at))
                .or_else(|| stop_sequence::stop_sequence(raw, &tokens, *at))
                .map(|c| guard::settle(c, f.frame(*lead, tail)))
        })
}

/// Parses one utterance. Never panics; never guesses.
#[must_use]
pub fn parse(text: &str) -> Parsed {
    let raw = text.trim();
    if let Some(q) = guard::refuse_raw(raw) {
        return Parsed::Command(Command::clarify(q));
    }
    let norm = normalise(raw);
    if norm.is_empty() {
        return Parsed::Command(Command::clarify(Q_UNKNOWN));
    }
    let framed = Framed::of(raw, &norm);
    if let Some(c) = by_grammar(&framed) {
        return Parsed::Command(c);
    }
    if answer(&norm, false).is_some() {
        return Parsed::Command(Command::clarify(Q_BARE_YES_NO));
    }
    if let Some(c) = by_payload(raw, &framed) {
        return Parsed::Command(c);
    }
    let (core, frame) = framed.core();
    match guard::undecided(raw, &framed.words, core, frame) {
        Some(c) => Parsed::Command(c),
        None => Parsed::Undecided,
    }
}

/// True when a language model's `command` for `utterance` must not stand because the wording
/// casts doubt on it: an approval with a no, a hedge, a question, a later time or sarcasm; a
/// rejection or resumption with a hedge, a question, a later time or sarcasm.
pub(crate) fn doubts_model_answer(utterance: &str, command: &Command) -> bool {
    let raw = utterance.trim();
    let norm = normalise(raw);
    if norm.is_empty() {
        return true;
    }
    let framed = Framed::of(raw, &norm);
    let (core, frame) = framed.core();
    match command {
        Command::Approve => guard::approve_doubt(core, frame).is_some(),
        Command::Reject { .. } | Command::ResumeSending | Command::StopSequence { .. } => {
            guard::reject_doubt(core, frame).is_some()
        }
        _ => false,
    }
}

/// Reads an answer to a confirmation question; `None` when the utterance is something else.
///
/// Yes: "yes", "sure, go ahead", "yes please". No: "no", "no thanks", "cancel", and anything
/// that starts with "don't" ("no, don't send it"), which cancels and does nothing else.
#[must_use]
pub fn parse_confirmation(text: &str) -> Option<Confirmation> {
    answer(&normalise(text), true)
}

/// Politeness and hesitation around a yes or no.
const ANSWER_FILLERS: &[&str] = &[
    "please",
    "thanks",
    "thank you",
    "um",
    "uh",
    "er",
    "erm",
    "well",
    "hmm",
    "oh",
];

/// True when `words` are nothing but phrases from `phrases` and [`ANSWER_FILLERS`], with at
/// least one phrase.
fn only(words: &[&str], phrases: &[&str]) -> bool {
    let mut at = 0;
    let mut found = false;
    while at < words.len() {
        let step = |list: &[&str]| {
            list.iter()
                .filter_map(|p| framing::starts_with(words, at, p))
                .max()
        };
        if let Some(next) = step(phrases) {
            at = next;
            found = true;
        } else if let Some(next) = step(ANSWER_FILLERS) {
            at = next;
        } else {
            return false;
        }
    }
    found
}

/// Yes or no from normalised text; with `dont_is_no`, "no, don't …" and "don't …" are a no.
fn answer(norm: &str, dont_is_no: bool) -> Option<Confirmation> {
    let words: Vec<&str> = norm.split(' ').filter(|w| !w.is_empty()).collect();
    if only(&words, YES) {
        return Some(Confirmation::Yes);
    }
    if only(&words, NO) {
        return Some(Confirmation::No);
    }
    let after_no = words
        .iter()
        .position(|w| !matches!(*w, "no" | "nope" | "nah" | "um" | "uh" | "well" | "oh"))
        .unwrap_or(words.len());
    let rest = &words[after_no..];
    (dont_is_no && matches!(rest, ["dont", ..] | ["do", "not", ..])).then_some(Confirmation::No)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd(t: &str) -> Command {
        match parse(t) {
            Parsed::Command(c) => c,
            Parsed::Undecided => panic!("undecided: {t}"),
        }
    }

    #[test]
    fn basics() {
        assert_eq!(cmd("Approve."), Command::Approve);
        assert_eq!(cmd("OK, send it!"), Command::Approve);
        assert_eq!(
            cmd("reject: too early"),
            Command::Reject {
                reason: Some("too early".into())
            }
        );
        assert_eq!(
            cmd("Change the subject to Quick question about Acme."),
            Command::Edit {
                subject: Some("Quick question about Acme".into()),
                body: None
            }
        );
        assert!(cmd("approve all and delete the rest").is_clarify());
        assert_eq!(parse("what's the weather like"), Parsed::Undecided);
        assert_eq!(parse_confirmation("Yes."), Some(Confirmation::Yes));
        assert_eq!(parse_confirmation("no thanks"), Some(Confirmation::No));
        assert_eq!(parse_confirmation("approve"), None);
    }

    #[test]
    fn never_panics_on_odd_text() {
        for t in [
            "ü",
            "—",
            "subject:",
            "reject ,",
            "é:",
            "change the subject to",
            "🙂 approve",
            "\u{202e}approve",
        ] {
            let _ = parse(t);
        }
    }
}
