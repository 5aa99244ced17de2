//! Time qualifiers ("now", "for now", "this week", "until Monday", "at 9am tomorrow") and what
//! they do to a command. The assistant acts right away and cannot schedule anything, so only
//! "now" leaves an outward command as it is; a later time turns an approval into a question.

use super::questions::{Q_LATER, Q_REJECT_FOR_NOW, Q_SCHEDULE};
use crate::assistant::command::Command;

/// When the operator wants it done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum When {
    /// "now", "right away", "asap".
    Now,
    /// "for now", "for today", "for the moment": provisionally.
    ForNow,
    /// "until tomorrow", "till Monday": from now until then.
    Until,
    /// "later", "tomorrow", "this week", "on Monday", "at 9am".
    Later,
}

const NOW: &[&str] = &[
    "now",
    "right now",
    "immediately",
    "asap",
    "right away",
    "straight away",
    "at once",
    "this minute",
];

/// Words that can only be part of a time together with a [`NOUNS`] word ("this", "next", "on").
const LINKS: &[&str] = &[
    "for",
    "the",
    "this",
    "that",
    "next",
    "on",
    "by",
    "until",
    "till",
    "til",
    "untill",
    "at",
    "in",
    "a",
    "an",
    "after",
    "before",
    "around",
    "of",
    "end",
    "first",
    "thing",
    "coming",
    "following",
    "early",
    "late",
    "mid",
    "rest",
    "to",
    "right",
    "straight",
    "couple",
    "few",
];

/// Words that make a run of [`LINKS`] a time.
const NOUNS: &[&str] = &[
    "now",
    "today",
    "tonight",
    "tomorrow",
    "tmrw",
    "tmr",
    "later",
    "soon",
    "yet",
    "eventually",
    "immediately",
    "asap",
    "away",
    "once",
    "minute",
    "minutes",
    "mins",
    "seconds",
    "hour",
    "hours",
    "morning",
    "afternoon",
    "evening",
    "night",
    "noon",
    "midday",
    "midnight",
    "day",
    "days",
    "week",
    "weeks",
    "weekend",
    "month",
    "months",
    "quarter",
    "year",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
    "mon",
    "tue",
    "wed",
    "thu",
    "fri",
    "bit",
    "while",
    "moment",
    "time",
    "being",
    "lunch",
    "holiday",
    "holidays",
    "christmas",
    "eod",
    "eow",
    "cob",
    "oclock",
    "am",
    "pm",
];

const NUMBER_WORDS: &[&str] = &[
    "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
    "twelve", "fifteen", "twenty", "thirty",
];

fn is_number(w: &str) -> bool {
    (!w.is_empty() && w.chars().all(|c| c.is_ascii_digit())) || NUMBER_WORDS.contains(&w)
}

/// A clock time written as one word: "9am", "530pm".
fn is_clock(w: &str) -> bool {
    let digits = w.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let unit = &w[digits.len()..];
    !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit()) && matches!(unit, "am" | "pm")
}

/// True when `w` names a time on its own.
pub(super) fn is_time_noun(w: &str) -> bool {
    NOUNS.contains(&w) || is_clock(w)
}

/// What `words` (all of them) say about time, if they are a time qualifier.
pub(super) fn classify(words: &[&str]) -> Option<When> {
    if words.is_empty() {
        return None;
    }
    let known = |w: &&str| LINKS.contains(w) || is_time_noun(w) || is_number(w);
    if !words.iter().all(known) {
        return None;
    }
    let has_noun = words.iter().any(|w| is_time_noun(w));
    let clock = words.iter().any(|w| is_number(w))
        && words.iter().any(|w| matches!(*w, "at" | "by" | "around"));
    if !has_noun && !clock {
        return None;
    }
    let joined = words.join(" ");
    Some(if NOW.contains(&joined.as_str()) {
        When::Now
    } else if words[0] == "for" {
        When::ForNow
    } else if matches!(words[0], "until" | "till" | "til" | "untill") {
        When::Until
    } else {
        When::Later
    })
}

/// Every way to split a time qualifier (up to six words) off the end of `words`, then off the
/// start, longest first; the rest is never empty.
pub(super) fn splits<'a, 'w>(words: &'a [&'w str]) -> Vec<(&'a [&'w str], When)> {
    let n = words.len();
    let longest = n.min(7);
    let at_end = (1..longest)
        .rev()
        .filter_map(|k| classify(&words[n - k..]).map(|w| (&words[..n - k], w)));
    let at_start = (1..longest)
        .rev()
        .filter_map(|k| classify(&words[..k]).map(|w| (&words[k..], w)));
    at_end.chain(at_start).collect()
}

/// The longest time qualifier at the end of `words`, else at the start.
pub(super) fn split<'a, 'w>(words: &'a [&'w str]) -> Option<(&'a [&'w str], When)> {
    splits(words).into_iter().next()
}

/// `command`, done `when`: skipping suits any time; outward commands only happen now;
/// rejecting "for now" is a contradiction; pausing "for now" or "until tomorrow" is pausing.
pub(super) fn combine(command: Command, when: When) -> Command {
    match (command, when) {
        (Command::Skip, _) => Command::Skip,
        (c @ Command::Clarify { .. }, _)
        | (c, When::Now)
        | (c @ (Command::Next | Command::Show | Command::PendingCount), When::ForNow) => c,
        (Command::Approve, _) => Command::clarify(Q_SCHEDULE),
        (Command::Reject { .. }, When::ForNow) => Command::clarify(Q_REJECT_FOR_NOW),
        (Command::PauseSending, When::ForNow | When::Until) => Command::PauseSending,
        (Command::ResumeSending, When::ForNow) => Command::ResumeSending,
        (Command::Stats, _) => Command::Stats,
        _ => Command::clarify(Q_LATER),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(s: &str) -> Vec<&str> {
        s.split(' ').collect()
    }

    #[test]
    fn qualifiers() {
        assert_eq!(classify(&w("now")), Some(When::Now));
        assert_eq!(classify(&w("right away")), Some(When::Now));
        assert_eq!(classify(&w("for now")), Some(When::ForNow));
        assert_eq!(classify(&w("for the time being")), Some(When::ForNow));
        assert_eq!(classify(&w("until next week")), Some(When::Until));
        assert_eq!(classify(&w("this week")), Some(When::Later));
        assert_eq!(classify(&w("next tuesday at 9am")), Some(When::Later));
        assert_eq!(classify(&w("at 9")), Some(When::Later));
        assert_eq!(classify(&w("in two hours")), Some(When::Later));
        assert_eq!(classify(&w("this")), None);
        assert_eq!(classify(&w("the next one")), None);
        assert_eq!(classify(&w("at")), None);
    }

    #[test]
    fn splitting() {
        let words = w("send it this week");
        assert_eq!(split(&words), Some((&words[..2], When::Later)));
        let words = w("tomorrow send it");
        assert_eq!(split(&words), Some((&words[1..], When::Later)));
        assert_eq!(split(&w("approve this")), None);
        assert_eq!(split(&w("tomorrow")), None);
    }
}
