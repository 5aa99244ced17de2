//! Commands that carry the operator's own words, taken verbatim from the original text: a
//! rejection with its reason after punctuation or "because" ("reject — too early", "reject it
//! because they're a student", "reject: too early"), an edit ("change the subject to …") and a
//! lookup ("tell me about …").

use super::framing::{leading, normalise};
use super::grammar::{APPROVE_VERBS, CURRENT_REFS, longest_prefix, sentence};
use super::questions::{Q_BULK, Q_COMPOUND, Q_EDIT_WHAT, Q_LOOKUP_WHO, Q_REJECT_FOR_NOW, Q_UNSURE};
use crate::assistant::command::Command;

/// Objects that make a draft action a bulk action.
const BULK_OBJECTS: &[&str] = &[
    "all",
    "everything",
    "every",
    "them",
    "these",
    "those",
    "the rest",
    "both",
    "everyone",
    "all of them",
];

/// Verbs that start another action when chained after a payload.
const ACTION_VERBS: &[&str] = &[
    "approve",
    "reject",
    "send",
    "delete",
    "remove",
    "erase",
    "skip",
    "edit",
    "change",
    "pause",
    "resume",
    "stop",
    "unsubscribe",
    "forward",
    "drop",
    "wipe",
    "purge",
    "archive",
    "email",
    "mail",
    "export",
    "decline",
    "ship",
];

/// One word of the original text (an em or en dash is a word of its own).
#[derive(Debug, Clone)]
pub(super) struct Token {
    /// Normalised (lower case, no punctuation).
    pub norm: String,
    /// Byte offset of the word in the original text.
    pub start: usize,
    /// Byte offset just after the word.
    pub end: usize,
    /// The word ended with `:`, `,`, `;`, `.` or `!`, or was a dash on its own.
    sep: bool,
}

fn token(raw: &str, start: usize, end: usize) -> Token {
    let w = &raw[start..end];
    let stop = w.ends_with(['.', '!']) && !w.ends_with("..");
    let sep = stop
        || w.trim_end_matches(['.', '!', '?'])
            .ends_with([':', ',', ';'])
        || matches!(w, "-" | "\u{2014}" | "\u{2013}" | "--");
    Token {
        norm: normalise(w).replace(' ', ""),
        start,
        end,
        sep,
    }
}

/// The words of `raw`, split at whitespace and around em and en dashes ("reject—too early").
pub(super) fn tokens(raw: &str) -> Vec<Token> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in raw.char_indices() {
        let dash = matches!(c, '\u{2014}' | '\u{2013}');
        if c.is_whitespace() || dash {
            if let Some(s) = start.take() {
                out.push(token(raw, s, i));
            }
            if dash {
                out.push(token(raw, i, i + c.len_utf8()));
            }
        } else if start.is_none() {
            start = Some(i);
        }
    }
    if let Some(s) = start {
        out.push(token(raw, s, raw.len()));
    }
    out
}

/// Matches `phrase` (normalised words) at `tokens[at..]`; returns the index after it.
fn match_words(tokens: &[Token], at: usize, phrase: &str) -> Option<usize> {
    let mut i = at;
    for w in phrase.split(' ') {
        let t = tokens.get(i)?;
        if t.norm != w {
            return None;
        }
        i += 1;
    }
    Some(i)
}

/// The longest of `phrases` matching at `at`.
fn match_any(tokens: &[Token], at: usize, phrases: &[&str]) -> Option<usize> {
    phrases
        .iter()
        .filter_map(|p| match_words(tokens, at, p))
        .max()
}

/// Strips quotes and a trailing sentence stop from a payload.
fn clean_payload(raw: &str, strip_stop: bool) -> String {
    // `"Hi there"?`: the quotes hold the payload, the `?` was the request's.
    let t = raw.trim();
    let t = match t.trim_end_matches(['!', '?']).trim_end() {
        q if q.ends_with(['"', '\u{201d}', '\'']) => q,
        _ => t,
    };
    for (open, close) in [
        ('"', '"'),
        ('\'', '\''),
        ('\u{201c}', '\u{201d}'),
        ('\u{2018}', '\u{2019}'),
    ] {
        if let Some(inner) = t.strip_prefix(open).and_then(|s| s.strip_suffix(close)) {
            return inner.trim().to_owned();
        }
    }
    let mut s = t.trim_end_matches(['!', '?']).trim_end();
    if strip_stop && s.ends_with('.') && !s.ends_with("..") {
        s = &s[..s.len() - 1];
    }
    s.trim().to_owned()
}

/// True when a payload chains another action ("… and approve it", "…; delete the rest").
pub(super) fn chains_action(payload: &str) -> bool {
    if payload.contains(';') || payload.contains("&&") {
        return true;
    }
    let words: Vec<String> = normalise(payload).split(' ').map(str::to_owned).collect();
    let objects = [
        "it",
        "this",
        "that",
        "them",
        "all",
        "everything",
        "the",
        "rest",
        "these",
        "those",
        "draft",
        "drafts",
        "sending",
        "everyone",
    ];
    words.windows(2).enumerate().any(|(i, w)| {
        matches!(
            w[0].as_str(),
            "and" | "then" | "also" | "after" | "afterwards"
        ) && ACTION_VERBS.contains(&w[1].as_str())
            && words
                .get(i + 2)
                .is_none_or(|next| objects.contains(&next.as_str()))
    })
}

const REJECT_VERBS: &[&str] = &[
    "reject",
    "rejecting",
    "nope",
    "nah",
    "decline",
    "declining",
    "veto",
    "dont send",
    "do not send",
    "no dont send",
];
const REASON_MARKERS: &[&str] = &[
    "because",
    "since",
    "as",
    "cause",
    "cos",
    "coz",
    "cuz",
    "bc",
    "due to",
    "given that",
    "seeing as",
    "reason",
    "the reason is",
    "reason is",
    "reason being",
    "the reason being",
    "with reason",
    "with the reason",
];

/// After "for", a word that starts a reason ("for being pushy", "for not replying").
fn says_why(word: &str) -> bool {
    (word.len() > 4 && word.ends_with("ing")) || matches!(word, "not" | "no" | "lack" | "lacking")
}

/// A "reason" that takes the request back ("reject it, no wait").
const REVOKES: &[&str] = &[
    "no wait",
    "wait",
    "hold on",
    "hang on",
    "never mind",
    "nevermind",
    "cancel",
    "cancel that",
    "scratch that",
    "actually no",
    "actually dont",
    "actually wait",
    "no no",
    "no dont",
    "dont",
    "not yet",
    "just kidding",
    "jk",
    "on second thought",
    "on second thoughts",
];

/// True when the reason is a take-back: a [`REVOKES`] phrase at its start, or only "no".
fn revokes(norm: &str) -> bool {
    matches!(norm, "no" | "nope" | "not" | "actually" | "hmm")
        || REVOKES
            .iter()
            .any(|r| norm == *r || norm.starts_with(&format!("{r} ")))
}
/// Rejecting is final: "reject it for now …" is a contradiction.
const FOR_NOW: &[&str] = &[
    "for now",
    "for today",
    "for the moment",
    "for the time being",
    "for this week",
    "for the day",
    "for a bit",
    "for a while",
];
const NOW: &[&str] = &["now", "right now", "immediately"];

/// Where the reason starts: after a separator (`:`, `,`, a dash, a full stop) or a marker
/// ("because", "since", "due to"), at token `i` or just after it.
fn reason_start(tokens: &[Token], at: usize, i: usize) -> Option<usize> {
    let mut payload_at = None;
    if i > at && tokens[i - 1].sep && i < tokens.len() {
        payload_at = Some(i);
    }
    if let Some(t) = tokens.get(i)
        && t.norm.is_empty()
        && t.sep
    {
        payload_at = Some(i + 1);
    }
    let marker_at = payload_at.unwrap_or(i);
    if let Some(j) = match_any(tokens, marker_at, REASON_MARKERS) {
        payload_at = Some(j);
    } else if tokens.get(marker_at).is_some_and(|t| t.norm == "for")
        && tokens.get(marker_at + 1).is_some_and(|t| says_why(&t.norm))
    {
        // "reject it for being pushy", but not "reject this one for Acme" (another draft?).
        payload_at = Some(marker_at + 1);
    }
    Some(tokens.get(payload_at?)?.start)
}

/// The reason as the operator said it, or a question when it chains another action or another
/// draft ("…, and the next one").
fn reason_command(text: &str) -> Command {
    let mut reason = text.trim();
    // "reject, reason: duplicate"
    for marker in ["reason:", "reason is", "reason"] {
        if reason.len() > marker.len()
            && reason.is_char_boundary(marker.len())
            && reason[..marker.len()].eq_ignore_ascii_case(marker)
        {
            reason = reason[marker.len()..].trim_start_matches([':', ' ']);
            break;
        }
    }
    let reason = clean_payload(reason, true);
    if reason.is_empty() {
        return Command::Reject { reason: None };
    }
    let norm = normalise(&reason);
    if revokes(&norm) {
        return Command::clarify(Q_UNSURE);
    }
    let first = norm.split(' ').next().unwrap_or_default();
    if chains_action(&reason)
        || matches!(first, "and" | "also" | "plus")
        || reverses_rejection(&reason)
    {
        return Command::clarify(Q_COMPOUND);
    }
    Command::Reject {
        reason: Some(reason),
    }
}

/// True when a "reason" takes the rejection back: "…, actually approve", "…, looks good".
fn reverses_rejection(reason: &str) -> bool {
    let norm = normalise(reason);
    let words: Vec<&str> = norm.split(' ').collect();
    let at = leading(&words).last().map_or(0, |s| s.0);
    let core = &words[at..];
    longest_prefix(core, APPROVE_VERBS).is_some()
        || matches!(sentence(core), Some(Command::Approve))
}

/// `reject [this one] [now] (:|,|-|.|because) <reason>`.
pub(super) fn reject_with_reason(raw: &str, tokens: &[Token], at: usize) -> Option<Command> {
    let mut i = match_any(tokens, at, REJECT_VERBS)?;
    if i >= tokens.len() {
        return None;
    }
    if match_any(tokens, i, BULK_OBJECTS).is_some() {
        return Some(Command::clarify(Q_BULK));
    }
    if let Some(j) = match_any(tokens, i, CURRENT_REFS) {
        i = j;
    }
    if match_any(tokens, i, FOR_NOW).is_some() {
        return Some(Command::clarify(Q_REJECT_FOR_NOW));
    }
    if let Some(j) = match_any(tokens, i, NOW) {
        i = j;
    }
    let start = reason_start(tokens, at, i)?;
    Some(reason_command(&raw[start..]))
}

const EDIT_VERBS: &[&str] = &[
    "change", "set", "make", "update", "replace", "rename", "switch", "edit", "rewrite", "use",
];
const SUBJECT_FIELDS: &[&str] = &[
    "subject",
    "subject line",
    "title",
    "the subject",
    "the subject line",
    "the title",
];
const BODY_FIELDS: &[&str] = &[
    "body",
    "the body",
    "body text",
    "the body text",
    "text",
    "the text",
    "message",
    "the message",
    "email body",
    "the email body",
    "content",
    "the content",
];
const EDIT_LINKS: &[&str] = &[
    "to",
    "with",
    "into",
    "as",
    "to say",
    "to read",
    "to be",
    "so it says",
    "so it reads",
];

/// `change the subject to <text>`, `subject: <text>`, `replace the body with <text>`.
pub(super) fn edit(raw: &str, tokens: &[Token], at: usize) -> Option<Command> {
    let (field_end, is_subject, linked) = if let Some(i) = match_any(tokens, at, EDIT_VERBS) {
        let (j, subject) = if let Some(j) = match_any(tokens, i, SUBJECT_FIELDS) {
            (j, true)
        } else {
            (match_any(tokens, i, BODY_FIELDS)?, false)
        };
        match match_any(tokens, j, EDIT_LINKS) {
            Some(k) => (k, subject, true),
            None => (j, subject, tokens[j - 1].sep || tokens[at].norm == "make"),
        }
    } else {
        let i = match_words(tokens, at, "new").unwrap_or(at);
        if let Some(j) = match_any(tokens, i, SUBJECT_FIELDS) {
            (j, true, tokens[j - 1].sep)
        } else {
            let j = match_any(tokens, i, BODY_FIELDS)?;
            (j, false, tokens[j - 1].sep)
        }
    };
    if !linked {
        return None;
    }
    let Some(first) = tokens.get(field_end) else {
        return Some(Command::clarify(if is_subject {
            "What should the new subject be?"
        } else {
            "What should the new body say?"
        }));
    };
    let mut start = first.start;
    if first.norm.is_empty() && first.sep {
        match tokens.get(field_end + 1) {
            Some(t) => start = t.start,
            None => return Some(Command::clarify(Q_EDIT_WHAT)),
        }
    }
    let text = clean_payload(&raw[start..], is_subject);
    if text.is_empty() {
        return Some(Command::clarify(Q_EDIT_WHAT));
    }
    if chains_action(&text) {
        return Some(Command::clarify(Q_COMPOUND));
    }
    Some(if is_subject {
        Command::Edit {
            subject: Some(text),
            body: None,
        }
    } else {
        Command::Edit {
            subject: None,
            body: Some(text),
        }
    })
}

const LOOKUP_PREFIXES: &[&str] = &[
    "tell me about",
    "tell me more about",
    "what do we know about",
    "what do you know about",
    "what do we have on",
    "what do you have on",
    "who is",
    "whos",
    "who are",
    "look up",
    "lookup",
    "find",
    "search for",
    "info on",
    "info about",
    "information on",
    "information about",
    "details on",
    "details about",
    "anything on",
    "background on",
];
/// Besides [`CURRENT_REFS`]: the person the current draft is for.
const SELF_TARGETS: &[&str] = &["the lead", "this contact", "the contact", "them"];

/// `tell me about <target>`.
pub(super) fn lookup(raw: &str, tokens: &[Token], at: usize) -> Option<Command> {
    let i = match_any(tokens, at, LOOKUP_PREFIXES)?;
    let Some(first) = tokens.get(i) else {
        return Some(Command::clarify(Q_LOOKUP_WHO));
    };
    let rest = &tokens[i..];
    if SELF_TARGETS
        .iter()
        .chain(CURRENT_REFS)
        .any(|p| match_words(rest, 0, p).is_some_and(|n| n == rest.len()))
    {
        return Some(Command::Show);
    }
    let mut target = clean_payload(&raw[first.start..tokens[tokens.len() - 1].end], true);
    for lead in ["the company ", "company ", "the contact ", "contact "] {
        if target.len() > lead.len()
            && target.is_char_boundary(lead.len())
            && target[..lead.len()].eq_ignore_ascii_case(lead)
        {
            target = target[lead.len()..].trim().to_owned();
        }
    }
    if target.is_empty() {
        return Some(Command::clarify(Q_LOOKUP_WHO));
    }
    if chains_action(&target) || target.len() > 200 {
        return Some(Command::clarify(Q_COMPOUND));
    }
    Some(Command::Lookup { target })
}
