//! The command grammar over normalised words, once framing is peeled off: a phrase table; a
//! verb with an optional reference to the current draft ("approve that one", "read the current
//! one to me"); negated forms ("don't send it yet"); a time qualifier around either ("skip it
//! for now", "send it this week"); and two phrases in a row that mean the same command ("looks
//! good, send it").

use super::framing::starts_with;
use super::phrases::table;
use super::questions::{Q_NEGATED, Q_NEGATED_OTHER};
use super::timing::{self, When};
use crate::assistant::command::Command;

/// Ways to name the draft under review.
pub(super) const CURRENT_REFS: &[&str] = &[
    "it",
    "this",
    "that",
    "this one",
    "that one",
    "the current one",
    "current one",
    "the current draft",
    "current draft",
    "the current email",
    "the draft",
    "this draft",
    "that draft",
    "the email",
    "this email",
    "that email",
    "the message",
    "this message",
    "that message",
    "the mail",
    "this mail",
    "the one on screen",
    "the one on the screen",
    "the one in front of me",
    "the draft in front of me",
    "the one im looking at",
    "the one were looking at",
    "the one youre showing me",
    "the one you just read",
    "the one you just showed me",
    "this one here",
    "that one there",
    "this one right here",
    "the open one",
    "this lead",
];

/// Verbs that approve the current draft.
pub(super) const APPROVE_VERBS: &[&str] = &[
    "approve",
    "approving",
    "accept",
    "send",
    "sending",
    "send out",
    "send off",
    "ship",
    "greenlight",
    "green light",
    "sign off",
    "sign off on",
    "go with",
    "go ahead with",
    "fire off",
];

/// Verbs that reject the current draft.
pub(super) const REJECT_VERBS: &[&str] = &[
    "reject",
    "rejecting",
    "decline",
    "declining",
    "veto",
    "turn down",
    "say no to",
    "dont send",
    "do not send",
];

const SKIP_VERBS: &[&str] = &[
    "skip",
    "skipping",
    "pass on",
    "park",
    "leave",
    "hold off on",
    "hold",
    "come back to",
    "circle back to",
    "get back to",
    "return to",
    "revisit",
    "defer",
    "postpone",
    "snooze",
    "punt",
    "skip over",
    "skip past",
    "pass over",
];

const SHOW_VERBS: &[&str] = &[
    "show",
    "show me",
    "read",
    "read me",
    "read out",
    "reading",
    "display",
    "open",
    "pull up",
    "bring up",
    "let me see",
    "let me hear",
    "repeat",
];

/// Verbs that mean "skip" only with a later time ("deal with it later", "look at it tomorrow").
const LATER_ONLY_VERBS: &[&str] = &[
    "do",
    "handle",
    "deal with",
    "look at",
    "review",
    "check",
    "get to",
    "tackle",
    "finish",
    "decide on",
    "think about",
    "look into",
    "come back",
    "get back",
    "save",
];

/// One verb family: the verbs, the particles allowed after the object, the command.
struct Rule {
    verbs: &'static [&'static str],
    tail: &'static [&'static str],
    make: fn() -> Command,
}

const RULES: &[Rule] = &[
    Rule {
        verbs: REJECT_VERBS,
        tail: &[],
        make: || Command::Reject { reason: None },
    },
    Rule {
        verbs: APPROVE_VERBS,
        tail: &["out", "off", "through", "along", "as", "is"],
        make: || Command::Approve,
    },
    Rule {
        verbs: SKIP_VERBS,
        tail: &[],
        make: || Command::Skip,
    },
    Rule {
        verbs: SHOW_VERBS,
        tail: &[
            "to", "me", "out", "loud", "aloud", "again", "back", "first", "once", "more", "up",
        ],
        make: || Command::Show,
    },
];

/// Starts with a negation: "don't", "never", "let's not", "not".
const NEGATORS: &[&str] = &[
    "dont",
    "do not",
    "please dont",
    "never",
    "lets not",
    "let us not",
    "better not",
    "id rather not",
    "i would rather not",
    "rather not",
    "we shouldnt",
    "i wouldnt",
    "you shouldnt",
    "shouldnt",
    "dont you",
    "not",
];

/// The longest of `phrases` that `words` starts with; the index after it.
pub(super) fn longest_prefix(words: &[&str], phrases: &[&str]) -> Option<usize> {
    phrases
        .iter()
        .filter_map(|p| starts_with(words, 0, p))
        .max()
}

/// True when `rest` is an optional reference to the current draft followed only by `tail` words.
fn object_then_tail(rest: &[&str], tail: &[&str]) -> bool {
    let at = longest_prefix(rest, CURRENT_REFS).unwrap_or(0);
    rest[at..].iter().all(|w| tail.contains(w))
}

/// `verb [current draft] [particles]`.
fn verb_object(words: &[&str]) -> Option<Command> {
    RULES.iter().find_map(|rule| {
        let at = longest_prefix(words, rule.verbs)?;
        object_then_tail(&words[at..], rule.tail).then(rule.make)
    })
}

/// `do it`, `deal with this one`, `look at it`: "skip" when a later time follows.
fn later_only(words: &[&str]) -> bool {
    longest_prefix(words, LATER_ONLY_VERBS).is_some_and(|at| object_then_tail(&words[at..], &[]))
}

/// "don't … yet" and "don't … until Monday" keep the draft for later (skip); "not today" too.
/// Any other negated command is a question, never the command ("don't approve it").
fn negated(words: &[&str]) -> Option<Command> {
    let rest = &words[longest_prefix(words, NEGATORS)?..];
    if rest.is_empty() {
        return None;
    }
    if let Some(when) = timing::classify(rest) {
        return (when != When::Now).then_some(Command::Skip);
    }
    let (base, deferred) = match rest.split_last() {
        Some((&"yet", head)) if !head.is_empty() => (head, true),
        _ => match timing::split(rest) {
            Some((head, when)) if when != When::Now => (head, true),
            _ => (rest, false),
        },
    };
    let command = single(base).or_else(|| timed(base, false))?;
    Some(match command {
        Command::Approve | Command::Reject { .. } | Command::Skip if deferred => Command::Skip,
        Command::Approve => Command::clarify(Q_NEGATED),
        Command::Clarify { .. } => command,
        _ => Command::clarify(Q_NEGATED_OTHER),
    })
}

/// One phrase without a time: the table, a verb with its object, a negated form.
fn single(words: &[&str]) -> Option<Command> {
    table(&words.join(" "))
        .or_else(|| verb_object(words))
        .or_else(|| negated(words))
}

/// A phrase with a time qualifier before or after it.
fn timed(words: &[&str], allow_pair: bool) -> Option<Command> {
    timing::splits(words).into_iter().find_map(|(rest, when)| {
        let command = single(rest)
            .or_else(|| allow_pair.then(|| pair(rest)).flatten())
            .or_else(|| (when != When::Now && later_only(rest)).then_some(Command::Skip))?;
        Some(timing::combine(command, when))
    })
}

/// Two phrases in a row that mean the same command ("looks good send it", "skip for now come
/// back tomorrow").
fn pair(words: &[&str]) -> Option<Command> {
    if words.len() > 16 {
        return None;
    }
    let half = |w: &[&str]| {
        let w = match w {
            [first, rest @ ..] if !rest.is_empty() && matches!(*first, "and" | "then" | "so") => {
                rest
            }
            _ => w,
        };
        single(w).or_else(|| timed(w, false))
    };
    (1..words.len()).find_map(|i| {
        let a = half(&words[..i])?;
        let b = half(&words[i..])?;
        (a == b && !a.is_clarify()).then_some(a)
    })
}

/// The command `words` (normalised, framing removed) mean, if the grammar knows it.
pub(super) fn sentence(words: &[&str]) -> Option<Command> {
    if words.is_empty() {
        return None;
    }
    single(words)
        .or_else(|| timed(words, true))
        .or_else(|| pair(words))
}

/// "how many …" questions.
pub(super) fn how_many(words: &[&str]) -> Option<Command> {
    let ["how", "many" | "much", rest @ ..] = words else {
        return None;
    };
    let has = |w: &[&str]| rest.iter().any(|x| w.contains(x));
    let stats = [
        "replies",
        "reply",
        "sent",
        "bounced",
        "bounces",
        "meetings",
        "answers",
        "responses",
    ];
    let pending = [
        "pending",
        "left",
        "waiting",
        "queue",
        "queued",
        "drafts",
        "remaining",
        "go",
        "are",
        "there",
    ];
    if has(&stats) {
        Some(Command::Stats)
    } else if has(&pending) {
        Some(Command::PendingCount)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(t: &str) -> Option<Command> {
        sentence(&t.split(' ').collect::<Vec<_>>())
    }

    #[test]
    fn references_times_negations_and_pairs() {
        assert_eq!(s("approve the current one"), Some(Command::Approve));
        assert_eq!(s("read that one out loud again"), Some(Command::Show));
        assert_eq!(s("skip it until next week"), Some(Command::Skip));
        assert_eq!(s("deal with it later"), Some(Command::Skip));
        assert_eq!(s("dont send it yet"), Some(Command::Skip));
        assert_eq!(s("not today"), Some(Command::Skip));
        assert!(s("send it this week").unwrap().is_clarify());
        assert!(s("dont approve it").unwrap().is_clarify());
        assert_eq!(s("looks good send it now"), Some(Command::Approve));
        assert_eq!(s("approve the next one"), None);
        assert_eq!(s("do it"), None);
    }
}
