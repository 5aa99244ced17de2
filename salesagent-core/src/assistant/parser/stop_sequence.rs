//! Stopping a contact's follow-up sequence by hand: "stop the sequence", "stop following up",
//! "stop the follow-ups for this one", "no more follow-ups for Acme", "stop the sequence for
//! jane@acme.com". The contact is the current draft's unless one is named after "for", "with",
//! "to" or "on"; a named one is taken verbatim from the original text.

use super::grammar::CURRENT_REFS;
use super::payload::{Token, chains_action};
use super::questions::{Q_BULK, Q_COMPOUND, Q_LATER, Q_NEGATED_OTHER};
use super::timing::is_time_noun;
use crate::assistant::command::Command;

/// `FUS` stands for "followups" or "follow ups", `FU` for "followup" or "follow up".
const STOP_PHRASES: &[&str] = &[
    "stop the sequence",
    "stop this sequence",
    "stop that sequence",
    "stop their sequence",
    "stop the FU sequence",
    "stop the email sequence",
    "stop the FUS",
    "stop FUS",
    "stop all FUS",
    "stop the FU emails",
    "stop FU emails",
    "stop following up",
    "stop sending FUS",
    "stop sending FU emails",
    "stop the FU",
    "end the sequence",
    "end this sequence",
    "end the FU sequence",
    "end the FUS",
    "cancel the sequence",
    "cancel this sequence",
    "cancel the FU sequence",
    "cancel the FUS",
    "cancel FUS",
    "call off the FUS",
    "call off the sequence",
    "turn off the sequence",
    "turn off FUS",
    "turn off the FUS",
    "no more FUS",
    "no more FU emails",
    "no more following up",
    "no further FUS",
    "dont follow up",
    "do not follow up",
    "dont send any more FUS",
    "do not send any more FUS",
    "take them out of the sequence",
    "take this one out of the sequence",
    "remove them from the sequence",
    "remove this one from the sequence",
    "unenroll",
    "unenrol",
];

/// Words that introduce the contact after a stop phrase.
const LINKS: &[&str] = &["for", "with", "to", "on", "of"];

/// Ways to name the current draft's contact, besides [`CURRENT_REFS`].
const SELF_TARGETS: &[&str] = &[
    "them",
    "him",
    "her",
    "this contact",
    "that contact",
    "the contact",
    "this person",
    "this lead",
    "the lead",
];

/// Targets that would stop more than one contact's sequence.
const BULK_TARGETS: &[&str] = &[
    "all",
    "everyone",
    "everybody",
    "every",
    "these",
    "those",
    "both",
    "the rest",
    "them all",
    "all of them",
    "anyone",
    "anybody",
];

/// A negation before a stop phrase ("don't stop the sequence"): a question, never the stop.
const NEGATORS: &[&str] = &[
    "dont",
    "do not",
    "please dont",
    "never",
    "lets not",
    "let us not",
    "better not",
    "rather not",
    "we shouldnt",
    "shouldnt",
    "not",
];

/// Time words that do not name a later time.
const NOT_LATER: &[&str] = &[
    "now",
    "immediately",
    "asap",
    "away",
    "once",
    "being",
    "time",
    "bit",
    "while",
    "moment",
];

/// Trailing words that are politeness, not part of a name.
const TRAILING_POLITE: &[&str] = &["please", "thanks", "thank you", "now", "right now"];

/// Matches one phrase word: `FUS` and `FU` take one token or two.
fn match_word(tokens: &[Token], i: usize, word: &str) -> Option<usize> {
    let (one, two): (&str, [&str; 2]) = match word {
        "FUS" => ("followups", ["follow", "ups"]),
        "FU" => ("followup", ["follow", "up"]),
        w => return (tokens.get(i)?.norm == w).then_some(i + 1),
    };
    if tokens.get(i)?.norm == one {
        return Some(i + 1);
    }
    (tokens.get(i)?.norm == two[0] && tokens.get(i + 1)?.norm == two[1]).then_some(i + 2)
}

/// Matches `phrase` at `tokens[at..]`; the index after it.
fn match_phrase(tokens: &[Token], at: usize, phrase: &str) -> Option<usize> {
    phrase
        .split(' ')
        .try_fold(at, |i, w| match_word(tokens, i, w))
}

/// The longest of `phrases` at `at`.
fn longest(tokens: &[Token], at: usize, phrases: &[&str]) -> Option<usize> {
    phrases
        .iter()
        .filter_map(|p| match_phrase(tokens, at, p))
        .max()
}

/// True when `tokens` are exactly one of `phrases`.
fn exactly(tokens: &[Token], phrases: &[&str]) -> bool {
    longest(tokens, 0, phrases).is_some_and(|n| n == tokens.len())
}

/// `stop the sequence [for <contact>]` from token `at` on; `None` when it is not such a request.
pub(super) fn stop_sequence(raw: &str, tokens: &[Token], at: usize) -> Option<Command> {
    let Some(after) = longest(tokens, at, STOP_PHRASES) else {
        let negated = longest(tokens, at, NEGATORS)
            .is_some_and(|n| longest(tokens, n, STOP_PHRASES).is_some());
        return negated.then(|| Command::clarify(Q_NEGATED_OTHER));
    };
    let mut rest = &tokens[after..];
    // Stops happen now: "stop the sequence tomorrow" cannot be scheduled.
    if rest
        .iter()
        .any(|t| is_time_noun(&t.norm) && !NOT_LATER.contains(&t.norm.as_str()))
    {
        return Some(Command::clarify(Q_LATER));
    }
    while let Some(n) = (0..rest.len())
        .rev()
        .find(|&i| exactly(&rest[i..], TRAILING_POLITE))
    {
        rest = &rest[..n];
    }
    if rest.is_empty() {
        return Some(Command::StopSequence { target: None });
    }
    if exactly(rest, CURRENT_REFS) || exactly(rest, SELF_TARGETS) {
        return Some(Command::StopSequence { target: None });
    }
    let link = longest(rest, 0, LINKS);
    // "unenroll Jane" names the contact without a link word.
    let named = match link {
        Some(n) => &rest[n..],
        None if tokens[at].norm.starts_with("unenrol") => rest,
        None => return None,
    };
    let (first, last) = (named.first()?, named.last()?);
    if exactly(named, CURRENT_REFS) || exactly(named, SELF_TARGETS) {
        return Some(Command::StopSequence { target: None });
    }
    if named
        .iter()
        .enumerate()
        .any(|(i, _)| longest(named, i, BULK_TARGETS).is_some())
    {
        return Some(Command::clarify(Q_BULK));
    }
    let mut target = raw[first.start..last.end]
        .trim()
        .trim_end_matches(['.', '!', ',', ';'])
        .trim_matches(['"', '\u{201c}', '\u{201d}'])
        .trim()
        .to_owned();
    for lead in ["the company ", "company ", "the contact ", "contact "] {
        if target.len() > lead.len()
            && target.is_char_boundary(lead.len())
            && target[..lead.len()].eq_ignore_ascii_case(lead)
        {
            target = target[lead.len()..].trim().to_owned();
        }
    }
    if target.is_empty() {
        return Some(Command::StopSequence { target: None });
    }
    if chains_action(&target) || target.len() > 200 {
        return Some(Command::clarify(Q_COMPOUND));
    }
    Some(Command::StopSequence {
        target: Some(target),
    })
}
