//! The deterministic parser: common phrasings to [`Command`]s, never a guess.
//!
//! Order of checks:
//! 1. empty, overlong or markup-laden text (`{`, `<`, backticks, `$(`, `&&`) → clarify;
//! 2. the whole utterance, normalised (lower case, punctuation and politeness stripped), against
//!    a phrase table per command (also two table phrases in a row that mean the same command,
//!    "looks good, send it");
//! 3. patterns with a payload taken verbatim from the original text: reject with a reason
//!    ("reject this, wrong person"), edit ("change the subject to …"), lookup ("tell me about …");
//!    a payload that chains another action ("… and approve it") or a bulk object
//!    ("reject all") → clarify;
//! 4. bulk, destructive or instruction-like words anywhere ("approve all and delete the rest",
//!    "ignore previous instructions") or two different actions → clarify;
//! 5. otherwise [`Parsed::Undecided`]: the caller may ask a language model, or clarify.

use super::command::{Command, MAX_UTTERANCE_LEN};

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

/// Question asked for bulk or destructive requests.
pub(crate) const Q_BULK: &str = "I can only act on one draft at a time, and I never delete anything. \
What should I do with the current draft: approve it, reject it, skip it, or read it to you?";
/// Question asked for more than one action in one request.
pub(crate) const Q_COMPOUND: &str =
    "That sounds like more than one thing. I do one thing at a time: what should I do first?";
/// Question asked for anything not understood.
pub(crate) const Q_UNKNOWN: &str = "Sorry, I did not understand that. You can say: what's next, \
approve, reject with a reason, skip, read it to me, change the subject to something, how many are \
pending, stats, tell me about a company, pause sending, or resume sending.";
const Q_EMPTY: &str = "I did not catch anything. What would you like to do?";
const Q_TOO_LONG: &str =
    "That was too long for a command. What would you like to do, in a few words?";
const Q_MARKUP: &str = "That looks like code or markup, which I do not run. What would you like to do, in plain words?";
const Q_BARE_YES_NO: &str = "There is nothing waiting for a yes or no. What would you like to do: approve, reject, skip, or hear what's next?";
const Q_EDIT_WHAT: &str = "What should I change, the subject or the body? For example: change the subject to Quick question.";
const Q_LOOKUP_WHO: &str = "Who or which company should I look up?";

const NEXT: &[&str] = &[
    "next",
    "next one",
    "the next one",
    "next draft",
    "the next draft",
    "whats next",
    "what is next",
    "whats up next",
    "what comes next",
    "whats the next one",
    "whats the next draft",
    "what do we have next",
    "what do i have next",
    "what have we got",
    "what have you got",
    "show me the next one",
    "show me the next draft",
    "show the next one",
    "give me the next one",
    "give me the next draft",
    "go to the next one",
    "on to the next one",
    "onto the next one",
    "whats first",
    "whats on top",
    "top of the queue",
    "whats at the top of the queue",
    "what should i look at",
    "what should i review",
    "what should i do next",
    "what needs my attention",
    "anything to review",
    "start",
    "begin",
    "start the queue",
    "work the queue",
];

const SKIP: &[&str] = &[
    "skip",
    "skip it",
    "skip this",
    "skip that",
    "skip this one",
    "skip that one",
    "skip the draft",
    "skip this draft",
    "skip for now",
    "skip it for now",
    "pass",
    "pass on this one",
    "pass on it",
    "later",
    "maybe later",
    "do it later",
    "not now",
    "not this one",
    "not yet",
    "come back to it later",
    "come back to this later",
    "come back to this one later",
    "leave it",
    "leave it for later",
    "leave this for later",
    "leave this one for later",
    "move on",
    "hold off on this one",
    "park it",
    "park this one",
];

const APPROVE: &[&str] = &[
    "approve",
    "approve it",
    "approve this",
    "approve that",
    "approve this one",
    "approve the draft",
    "approve this draft",
    "approve the email",
    "approve this email",
    "approved",
    "approve and send",
    "approve and send it",
    "accept",
    "accept it",
    "accept this",
    "accept this one",
    "send",
    "send it",
    "send this",
    "send that",
    "send this one",
    "send it now",
    "send the draft",
    "send the email",
    "send this email",
    "ok send it",
    "okay send it",
    "yes send it",
    "looks good",
    "looks good to me",
    "looks great",
    "looks fine",
    "looks ok",
    "looks okay",
    "looks perfect",
    "sounds good",
    "thats good",
    "thats fine",
    "thats great",
    "thats perfect",
    "perfect",
    "great",
    "lgtm",
    "ship it",
    "good to go",
    "its good",
    "this is good",
    "this one is good",
];

const REJECT: &[&str] = &[
    "reject",
    "reject it",
    "reject this",
    "reject that",
    "reject this one",
    "reject that one",
    "reject the draft",
    "reject this draft",
    "reject the email",
    "rejected",
    "nope",
    "nah",
    "decline",
    "decline it",
    "decline this",
    "decline this one",
    "dont send it",
    "dont send this",
    "dont send that",
    "dont send",
    "do not send",
    "do not send it",
    "do not send this",
    "no dont send it",
    "no way",
    "not good",
    "no thats bad",
    "thats bad",
    "this is bad",
];

const SHOW: &[&str] = &[
    "show",
    "show it",
    "show me",
    "show me it",
    "show this",
    "show the draft",
    "show me the draft",
    "show this draft",
    "show me this one",
    "show me the email",
    "show the email",
    "read",
    "read it",
    "read it to me",
    "read it out",
    "read it out loud",
    "read it aloud",
    "read it again",
    "read this",
    "read this to me",
    "read this one",
    "read the draft",
    "read me the draft",
    "read the email",
    "read me the email",
    "read me it",
    "what does it say",
    "what does the draft say",
    "what does the email say",
    "whats in it",
    "let me see",
    "let me see it",
    "let me hear it",
    "repeat",
    "repeat that",
    "repeat it",
    "say that again",
    "again",
    "display it",
    "open it",
    "whats the draft",
    "what is the draft",
    "current draft",
    "the draft",
    "whats the subject",
    "what is the subject",
    "details",
    "more details",
];

const PENDING_COUNT: &[&str] = &[
    "pending",
    "pending count",
    "count",
    "queue size",
    "queue length",
    "how big is the queue",
    "how long is the queue",
    "hows the queue",
    "whats pending",
    "what is pending",
    "whats in the queue",
    "whats left",
    "number of pending drafts",
    "number of drafts",
    "drafts pending",
    "any drafts pending",
    "anything pending",
    "is anything pending",
    "are there any drafts",
];

const STATS: &[&str] = &[
    "stats",
    "statistics",
    "the stats",
    "show stats",
    "show me stats",
    "show me the stats",
    "show statistics",
    "show me the statistics",
    "give me the stats",
    "give me the statistics",
    "numbers",
    "the numbers",
    "show me the numbers",
    "give me the numbers",
    "how are we doing",
    "how am i doing",
    "how are the numbers",
    "how are the numbers looking",
    "how are our emails doing",
    "reply rate",
    "whats the reply rate",
    "what is the reply rate",
    "whats our reply rate",
    "what is our reply rate",
    "performance",
    "results",
    "outcomes",
    "outcome stats",
    "any replies",
    "metrics",
];

const PAUSE: &[&str] = &[
    "pause",
    "pause sending",
    "pause sends",
    "pause the sending",
    "pause all sending",
    "pause all sends",
    "pause email",
    "pause emails",
    "pause all emails",
    "pause outgoing email",
    "pause outgoing emails",
    "pause outbound",
    "stop sending",
    "stop all sending",
    "stop sending emails",
    "stop all emails",
    "stop all sends",
    "stop the emails",
    "stop everything",
    "halt",
    "halt sending",
    "halt all sending",
    "freeze sending",
    "hold sending",
    "hold all sends",
    "emergency stop",
    "kill switch",
    "kill switch on",
    "turn on the kill switch",
    "turn the kill switch on",
    "activate the kill switch",
    "hit the kill switch",
    "engage the kill switch",
    "flip the kill switch",
    "pull the kill switch",
];

const RESUME: &[&str] = &[
    "resume",
    "resume sending",
    "resume sends",
    "resume all sending",
    "resume email",
    "resume emails",
    "start sending",
    "start sending again",
    "restart sending",
    "unpause",
    "unpause sending",
    "continue sending",
    "kill switch off",
    "turn off the kill switch",
    "turn the kill switch off",
    "deactivate the kill switch",
    "release the kill switch",
    "disable the kill switch",
    "turn sending back on",
    "turn sending on",
    "sending back on",
    "enable sending",
    "re enable sending",
    "reenable sending",
];

const YES: &[&str] = &[
    "yes",
    "yeah",
    "yep",
    "yup",
    "ya",
    "sure",
    "confirm",
    "confirmed",
    "i confirm",
    "do it",
    "go ahead",
    "go for it",
    "affirmative",
    "correct",
    "ok",
    "okay",
    "yes do it",
    "yes go ahead",
    "yes confirm",
    "yes im sure",
    "im sure",
    "absolutely",
    "definitely",
];

const NO: &[&str] = &[
    "no",
    "nope",
    "nah",
    "cancel",
    "cancel that",
    "cancel it",
    "dont",
    "dont do it",
    "do not",
    "do not do it",
    "never mind",
    "nevermind",
    "abort",
    "stop",
    "wait",
    "negative",
    "no thanks",
    "no dont",
    "not now",
];

/// Leading words a request may start with that change nothing.
const LEADING_FILLERS: &[&str] = &[
    "hey assistant",
    "ok assistant",
    "okay assistant",
    "hey jarvis",
    "assistant",
    "jarvis",
    "hey",
    "hi",
    "hello",
    "um",
    "uh",
    "erm",
    "so",
    "well",
    "alright",
    "right",
    "please",
    "kindly",
    "can you please",
    "could you please",
    "would you please",
    "can you",
    "could you",
    "would you",
    "will you",
    "i want you to",
    "i want to",
    "i would like to",
    "id like to",
    "i wanna",
    "go ahead and",
    "lets",
    "just",
    "ok",
    "okay",
    "yes",
    "yeah",
    "now",
    "and",
];

/// Trailing words that change nothing.
const TRAILING_FILLERS: &[&str] = &[
    "please",
    "thanks",
    "thank you",
    "for me",
    "ok",
    "okay",
    "asap",
    "right away",
    "then",
];

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

/// Lower case, apostrophes dropped, every other non-alphanumeric character a space, single
/// spaces.
fn normalise(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '\'' | '\u{2019}' | '\u{2018}' | '`') {
            continue;
        }
        if c.is_alphanumeric() {
            out.extend(c.to_lowercase());
        } else {
            out.push(' ');
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Removes filler phrases at the start and end of a normalised utterance.
fn strip_fillers(norm: &str, strip_now: bool) -> String {
    let mut s = norm.to_owned();
    loop {
        let before = s.len();
        for f in LEADING_FILLERS {
            if let Some(rest) = s.strip_prefix(f)
                && (rest.is_empty() || rest.starts_with(' '))
                && !rest.trim().is_empty()
            {
                s = rest.trim_start().to_owned();
            }
        }
        // "send it now", but not "not now".
        if strip_now
            && let Some(rest) = s.strip_suffix(" now")
            && !rest.ends_with("not")
            && !rest.trim().is_empty()
        {
            s = rest.trim_end().to_owned();
        }
        for f in TRAILING_FILLERS {
            if let Some(rest) = s.strip_suffix(f)
                && (rest.is_empty() || rest.ends_with(' '))
                && !rest.trim().is_empty()
            {
                s = rest.trim_end().to_owned();
            }
        }
        if s.len() == before {
            return s;
        }
    }
}

fn table(phrase: &str) -> Option<Command> {
    type Table = (&'static [&'static str], fn() -> Command);
    let tables: [Table; 9] = [
        (NEXT, || Command::Next),
        (SKIP, || Command::Skip),
        (APPROVE, || Command::Approve),
        (REJECT, || Command::Reject { reason: None }),
        (SHOW, || Command::Show),
        (PENDING_COUNT, || Command::PendingCount),
        (STATS, || Command::Stats),
        (PAUSE, || Command::PauseSending),
        (RESUME, || Command::ResumeSending),
    ];
    tables
        .iter()
        .find(|(t, _)| t.contains(&phrase))
        .map(|(_, make)| make())
}

/// The phrase table, also accepting two table phrases in a row that mean the same command
/// ("looks good send it", "nope reject it").
fn table_or_pair(phrase: &str) -> Option<Command> {
    if let Some(c) = table(phrase) {
        return Some(c);
    }
    let words: Vec<&str> = phrase.split(' ').collect();
    for i in 1..words.len() {
        let (a, b) = (words[..i].join(" "), words[i..].join(" "));
        if let (Some(x), Some(y)) = (table(&a), table(&b))
            && x == y
        {
            return Some(x);
        }
    }
    None
}

/// "how many …" questions.
fn how_many(phrase: &str) -> Option<Command> {
    let rest = phrase
        .strip_prefix("how many ")
        .or_else(|| phrase.strip_prefix("how much "))?;
    let words: Vec<&str> = rest.split(' ').collect();
    let has = |w: &[&str]| words.iter().any(|x| w.contains(x));
    if has(&[
        "replies",
        "reply",
        "sent",
        "bounced",
        "bounces",
        "meetings",
        "answers",
        "responses",
    ]) {
        return Some(Command::Stats);
    }
    if has(&[
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
    ]) {
        return Some(Command::PendingCount);
    }
    None
}

/// One whitespace-separated word of the original text.
#[derive(Debug, Clone)]
struct Token {
    /// Normalised (lower case, no punctuation).
    norm: String,
    /// Byte offset of the word in the original text.
    start: usize,
    /// Byte offset just after the word.
    end: usize,
    /// The word ended with `:`, `,`, `;` or was a dash on its own.
    sep: bool,
}

fn tokens(raw: &str) -> Vec<Token> {
    let mut out = Vec::new();
    let mut start = None;
    let push = |out: &mut Vec<Token>, s: usize, e: usize| {
        let w = &raw[s..e];
        let trimmed = w.trim_end_matches(['.', '!', '?']);
        let sep =
            trimmed.ends_with([':', ',', ';']) || matches!(w, "-" | "\u{2014}" | "\u{2013}" | "--");
        out.push(Token {
            norm: normalise(w).replace(' ', ""),
            start: s,
            end: e,
            sep,
        });
    };
    for (i, c) in raw.char_indices() {
        if c.is_whitespace() {
            if let Some(s) = start.take() {
                push(&mut out, s, i);
            }
        } else if start.is_none() {
            start = Some(i);
        }
    }
    if let Some(s) = start {
        push(&mut out, s, raw.len());
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

/// Skips leading filler tokens.
fn skip_leading_fillers(tokens: &[Token]) -> usize {
    let mut at = 0;
    loop {
        match match_any(tokens, at, LEADING_FILLERS) {
            Some(next) if next < tokens.len() && !tokens[next - 1].sep => at = next,
            Some(next) if next < tokens.len() && tokens[next - 1].norm.len() < 8 => at = next,
            _ => return at,
        }
    }
}

/// Strips quotes and a trailing sentence stop from a payload.
fn clean_payload(raw: &str, strip_stop: bool) -> String {
    let t = raw.trim();
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
fn chains_action(payload: &str) -> bool {
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
    "nope",
    "decline",
    "dont send",
    "do not send",
    "no dont send",
];
const DRAFT_OBJECTS: &[&str] = &[
    "it",
    "this",
    "that",
    "this one",
    "that one",
    "the draft",
    "this draft",
    "the email",
    "this email",
    "the message",
];
const REASON_MARKERS: &[&str] = &[
    "because",
    "since",
    "as",
    "cause",
    "coz",
    "due to",
    "reason",
    "the reason is",
    "reason is",
    "with reason",
    "with the reason",
    "for",
];

/// `reject [this] (:|,|-|because) <reason>`.
fn reject_with_reason(raw: &str, tokens: &[Token], at: usize) -> Option<Command> {
    let mut i = match_any(tokens, at, REJECT_VERBS)?;
    if i >= tokens.len() {
        return None;
    }
    if match_any(tokens, i, BULK_OBJECTS).is_some() {
        return Some(Command::clarify(Q_BULK));
    }
    if let Some(j) = match_any(tokens, i, DRAFT_OBJECTS) {
        i = j;
    }
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
    if let Some(j) = match_any(tokens, payload_at.unwrap_or(i), REASON_MARKERS) {
        payload_at = Some(j);
    }
    let start = tokens.get(payload_at?)?.start;
    let mut reason = raw[start..].trim();
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
        return Some(Command::Reject { reason: None });
    }
    if chains_action(&reason) {
        return Some(Command::clarify(Q_COMPOUND));
    }
    Some(Command::Reject {
        reason: Some(reason),
    })
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
fn edit(raw: &str, tokens: &[Token], at: usize) -> Option<Command> {
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
const SELF_TARGETS: &[&str] = &[
    "it",
    "this",
    "that",
    "this one",
    "the draft",
    "this draft",
    "this lead",
    "the lead",
    "this contact",
    "the contact",
    "them",
];

/// `tell me about <target>`.
fn lookup(raw: &str, tokens: &[Token], at: usize) -> Option<Command> {
    let i = match_any(tokens, at, LOOKUP_PREFIXES)?;
    let Some(first) = tokens.get(i) else {
        return Some(Command::clarify(Q_LOOKUP_WHO));
    };
    let rest = &tokens[i..];
    if SELF_TARGETS
        .iter()
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

/// Parses one utterance. Never panics; never guesses.
#[must_use]
pub fn parse(text: &str) -> Parsed {
    let raw = text.trim();
    if raw.is_empty() {
        return Parsed::Command(Command::clarify(Q_EMPTY));
    }
    if raw.len() > MAX_UTTERANCE_LEN {
        return Parsed::Command(Command::clarify(Q_TOO_LONG));
    }
    if raw.contains(['{', '}', '<', '>', '`', '\0'])
        || raw.contains("$(")
        || raw.contains("&&")
        || raw.contains("||")
    {
        return Parsed::Command(Command::clarify(Q_MARKUP));
    }
    let norm = normalise(raw);
    if norm.is_empty() {
        return Parsed::Command(Command::clarify(Q_UNKNOWN));
    }
    let phrase = strip_fillers(&norm, false);
    let without_now = strip_fillers(&norm, true);
    if let Some(c) = table_or_pair(&phrase)
        .or_else(|| table_or_pair(&without_now))
        .or_else(|| how_many(&phrase))
    {
        return Parsed::Command(c);
    }
    if parse_confirmation(raw).is_some() {
        return Parsed::Command(Command::clarify(Q_BARE_YES_NO));
    }

    let toks = tokens(raw);
    let at = skip_leading_fillers(&toks);
    if let Some(c) = edit(raw, &toks, at)
        .or_else(|| reject_with_reason(raw, &toks, at))
        .or_else(|| lookup(raw, &toks, at))
    {
        return Parsed::Command(c);
    }

    let words: Vec<&str> = phrase.split(' ').collect();
    let families = VERB_FAMILIES
        .iter()
        .filter(|f| words.iter().any(|w| f.contains(w)))
        .count();
    if words.iter().any(|w| UNSAFE_WORDS.contains(w)) || phrase.contains("the rest") {
        return Parsed::Command(Command::clarify(Q_BULK));
    }
    if families > 1 || chains_action(raw) {
        return Parsed::Command(Command::clarify(Q_COMPOUND));
    }
    Parsed::Undecided
}

/// Reads an answer to a confirmation question; `None` when the utterance is something else.
#[must_use]
pub fn parse_confirmation(text: &str) -> Option<Confirmation> {
    let norm = normalise(text);
    let phrase = strip_fillers_for_confirmation(&norm);
    if YES.contains(&phrase.as_str()) {
        Some(Confirmation::Yes)
    } else if NO.contains(&phrase.as_str()) {
        Some(Confirmation::No)
    } else {
        None
    }
}

/// Only politeness is stripped here: "yes" and "ok" are the answer itself.
fn strip_fillers_for_confirmation(norm: &str) -> String {
    let mut s = norm;
    for f in ["please", "thanks", "thank you"] {
        if let Some(rest) = s.strip_suffix(f)
            && !rest.trim().is_empty()
        {
            s = rest.trim_end();
        }
    }
    for f in ["um ", "uh ", "well ", "hmm "] {
        if let Some(rest) = s.strip_prefix(f) {
            s = rest;
        }
    }
    s.to_owned()
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
