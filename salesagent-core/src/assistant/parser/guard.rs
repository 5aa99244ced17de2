//! The safety net. Text refused before any grammar runs (empty, overlong, markup); the doubt a
//! frame casts on an outward command ("no, send it", "maybe reject it", "should I approve
//! this?", "yeah right, send it"); and what to ask when the grammar placed nothing but the text
//! is bulk, compound, or names an outward action. A question asked here also binds the
//! language model: what the parser refused stays refused.

use super::framing::{Frame, starts_with};
use super::grammar::{APPROVE_VERBS, REJECT_VERBS};
use super::payload::chains_action;
use super::questions::{
    Q_APPROVE_PLAIN, Q_BULK, Q_COMPOUND, Q_EMPTY, Q_HEDGE, Q_LATER, Q_MARKUP, Q_NEGATED,
    Q_NEGATED_OTHER, Q_QUESTION, Q_REJECT_HOW, Q_SCHEDULE, Q_TOO_LONG, Q_UNSURE, Q_WHEN,
};
use super::timing::{self, When};
use crate::assistant::command::{Command, MAX_UTTERANCE_LEN};

/// Words that never belong in a single-draft command: bulk, destructive or instruction-like.
const UNSAFE_WORDS: &[&str] = &[
    "all",
    "every",
    "everything",
    "everyone",
    "everybody",
    "rest",
    "others",
    "delete",
    "remove",
    "erase",
    "wipe",
    "drop",
    "destroy",
    "purge",
    "truncate",
    "bulk",
    "mass",
    "batch",
    "ignore",
    "disregard",
    "forget",
    "instruction",
    "instructions",
    "prompt",
    "system",
    "sudo",
    "admin",
    "administrator",
    "developer",
    "jailbreak",
    "override",
    "bypass",
    "pretend",
    "unsuppress",
    "forward",
    "export",
    "dump",
    "password",
    "passwords",
    "secret",
    "secrets",
    "token",
    "tokens",
    "execute",
    "exec",
    "shell",
    "sql",
    "script",
];

/// Command families whose words, appearing together, make a request compound.
const VERB_FAMILIES: &[&[&str]] = &[
    &["approve", "send", "ship", "accept"],
    &["reject", "decline"],
    &["skip"],
    &["delete", "remove", "erase", "wipe", "purge", "drop"],
    &["pause", "halt", "freeze"],
    &["resume", "unpause"],
    &["edit", "change", "rename", "replace"],
];

/// Words that take an approval back: "not", "don't", "never", "wait".
const NEGATIONS: &[&str] = &[
    "not", "no", "nope", "nah", "never", "dont", "doesnt", "isnt", "wont", "wouldnt", "shouldnt",
    "cant", "cannot", "couldnt", "didnt", "aint", "arent", "hardly", "without", "nothing",
    "neither", "nor", "wait", "hold", "stop",
];

/// Words that make a decision tentative.
const HEDGES: &[&str] = &[
    "maybe", "probably", "perhaps", "possibly", "guess", "suppose", "think", "reckon", "kinda",
    "sorta", "unsure", "dunno", "might", "could", "should", "would",
];

/// Besides the approve verbs: words that speak of approving or sending.
const APPROVE_WORDS: &[&str] = &[
    "approved",
    "approval",
    "accepted",
    "sent",
    "shipped",
    "schedule",
    "scheduled",
    "lgtm",
    "looks good",
    "looks great",
    "looks fine",
    "good to go",
    "sounds good",
    "go ahead",
];

/// Words that judge a draft; hedged ("I guess it's fine") they are an unsure approval.
const EVALUATIONS: &[&str] = &[
    "fine",
    "good",
    "ok",
    "okay",
    "great",
    "alright",
    "perfect",
    "decent",
    "acceptable",
];

/// Besides the reject verbs: words that speak of rejecting.
const REJECT_WORDS: &[&str] = &["rejected", "declined", "refuse"];

fn contains(words: &[&str], phrases: &[&str]) -> bool {
    (0..words.len()).any(|i| phrases.iter().any(|p| starts_with(words, i, p).is_some()))
}

/// Refuses text no grammar should see: empty, overlong, or carrying markup or shell syntax.
pub(super) fn refuse_raw(raw: &str) -> Option<&'static str> {
    if raw.is_empty() {
        Some(Q_EMPTY)
    } else if raw.len() > MAX_UTTERANCE_LEN {
        Some(Q_TOO_LONG)
    } else if raw.contains(['{', '}', '<', '>', '`', '\0'])
        || raw.contains("$(")
        || raw.contains("&&")
        || raw.contains("||")
    {
        Some(Q_MARKUP)
    } else {
        None
    }
}

/// `command` as its frame lets it stand: approving, rejecting or resuming sending framed with
/// sarcasm, a leading no (not for a rejection), a hedge or a question becomes a question.
pub(super) fn settle(command: Command, frame: Frame) -> Command {
    let question = match command {
        Command::Approve if frame.negate => Q_NEGATED,
        Command::ResumeSending if frame.negate => Q_NEGATED_OTHER,
        Command::Approve
        | Command::Reject { .. }
        | Command::ResumeSending
        | Command::StopSequence { .. } => match outward_doubt(frame) {
            Some(q) => q,
            None => return command,
        },
        _ => return command,
    };
    Command::clarify(question)
}

fn outward_doubt(frame: Frame) -> Option<&'static str> {
    if frame.sarcasm {
        Some(Q_UNSURE)
    } else if frame.hedge {
        Some(Q_HEDGE)
    } else if frame.question {
        Some(Q_QUESTION)
    } else {
        None
    }
}

/// A later time named anywhere ("tomorrow", "Monday", "9am"); "now" is not later.
fn names_later_time(core: &[&str]) -> bool {
    let strong = |w: &&str| {
        timing::is_time_noun(w)
            && !matches!(
                *w,
                "now"
                    | "immediately"
                    | "asap"
                    | "away"
                    | "once"
                    | "being"
                    | "time"
                    | "bit"
                    | "while"
                    | "moment"
            )
    };
    core.iter().any(strong)
}

/// Why approving is in doubt for these words (framing removed) in this frame, if it is.
pub(super) fn approve_doubt(core: &[&str], frame: Frame) -> Option<&'static str> {
    if frame.sarcasm {
        Some(Q_UNSURE)
    } else if frame.negate || core.iter().any(|w| NEGATIONS.contains(w)) {
        Some(Q_NEGATED)
    } else if names_later_time(core) {
        Some(Q_SCHEDULE)
    } else if frame.hedge || core.iter().any(|w| HEDGES.contains(w)) {
        Some(Q_HEDGE)
    } else if frame.question {
        Some(Q_QUESTION)
    } else {
        None
    }
}

/// Why rejecting is in doubt for these words in this frame, if it is (a no is not a doubt).
pub(super) fn reject_doubt(core: &[&str], frame: Frame) -> Option<&'static str> {
    if names_later_time(core) && !frame.sarcasm {
        Some(Q_LATER)
    } else if core.iter().any(|w| HEDGES.contains(w)) {
        Some(Q_HEDGE)
    } else {
        outward_doubt(frame)
    }
}

/// What to ask about text the grammar could not place, when guessing would be unsafe: bulk or
/// destructive words, two actions, a bare time, or any approving or rejecting word (those are
/// never left to a language model).
pub(super) fn undecided(raw: &str, words: &[&str], core: &[&str], frame: Frame) -> Option<Command> {
    if words.iter().any(|w| UNSAFE_WORDS.contains(w)) || contains(words, &["the rest"]) {
        return Some(Command::clarify(Q_BULK));
    }
    let families = VERB_FAMILIES
        .iter()
        .filter(|f| words.iter().any(|w| f.contains(w)))
        .count();
    if families > 1 || chains_action(raw) {
        return Some(Command::clarify(Q_COMPOUND));
    }
    if timing::classify(core).is_some_and(|w| w != When::Now) {
        return Some(Command::clarify(Q_WHEN));
    }
    let hedged = frame.hedge || core.iter().any(|w| HEDGES.contains(w));
    if hedged && core.iter().any(|w| EVALUATIONS.contains(w)) {
        return Some(Command::clarify(Q_HEDGE));
    }
    if contains(words, APPROVE_VERBS) || contains(words, APPROVE_WORDS) {
        let q = approve_doubt(core, frame).unwrap_or(Q_APPROVE_PLAIN);
        return Some(Command::clarify(q));
    }
    if contains(words, REJECT_VERBS) || contains(words, REJECT_WORDS) {
        let q = reject_doubt(core, frame).unwrap_or(Q_REJECT_HOW);
        return Some(Command::clarify(q));
    }
    None
}
