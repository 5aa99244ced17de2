//! Grounding: every link, figure, date and name in a draft must come from the data the draft was
//! written from.
//!
//! [`ground`] reads a draft body against its [`DraftInput`] (the facts, the form as the lead
//! typed it, the sender's name, address and company) and
//! - **repairs** links and e-mail addresses that are in no fact: they are removed (with any
//!   brackets left empty), and the repair is recorded;
//! - **rejects** figures written with digits (prices, percentages, counts, times, years), date
//!   words (weekdays, months), names of companies, products or people (capitalised words inside
//!   a sentence), and placeholders (`[Your Name]`, `{name}`) that are in none of the data:
//!   such a claim cannot be removed without changing what the text says;
//! - records which facts the text rests on.
//!
//! Rules worth knowing:
//! - A link must be a fact's `link`, or appear in the text of a CRM, Drive or analysis fact;
//!   links the lead typed (form or earlier mail) are never repeated to them.
//! - An amount of money or a percentage must appear in the data as money or a percentage too
//!   (`$300` is invented when the data only says "300 RFQs"); a time of day (`10:30`, `9 am`)
//!   must appear as a time, and a plain count must not rest on a time (a slot at "10:00" does
//!   not ground "10 minutes"); other figures need only appear.
//! - Words that open a sentence or a line are not checked as names (a capitalised first word is
//!   ordinary English); this misses an invented name placed first in a sentence.
//! - The subject is checked for links, figures and dates but not for names (subjects are often
//!   written in title case).

use super::{DraftInput, Fact, FactSource};
use crate::{Error, Result};
use std::collections::{BTreeSet, HashSet};

/// The body after grounding, the facts it uses, and what was repaired.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grounded {
    /// The body with ungrounded links and addresses removed.
    pub body: String,
    /// Ids of the facts the text rests on (in the order of the input's facts).
    pub used: Vec<String>,
    /// One line per repair (`removed the link "https://…": it is in no fact`).
    pub repairs: Vec<String>,
}

/// Capitalised words that are ordinary inside a sentence (pronoun, titles, time-zone and
/// business abbreviations).
const COMMON_CAPITALISED: &[&str] = &[
    "i", "i'm", "i'll", "i've", "i'd", "ok", "okay", "mr", "mrs", "ms", "dr", "am", "pm", "cet",
    "cest", "gmt", "utc", "bst", "est", "edt", "pst", "pdt", "cst", "cdt", "et", "pt", "crm", "ai",
    "api", "pdf", "faq", "ceo", "cto", "cfo", "coo", "cio", "vp", "it", "hr", "b2b", "b2c", "saas",
    "rfq", "rfqs", "roi", "q&a", "fyi", "asap", "re", "ps", "p.s", "hi", "hello", "dear", "thanks",
    "best", "regards", "cheers", "english", "email", "e-mail", "internet", "web",
];

const WEEKDAYS: &[(&str, &str)] = &[
    ("monday", "mon"),
    ("tuesday", "tue"),
    ("tues", "tue"),
    ("wednesday", "wed"),
    ("thursday", "thu"),
    ("thurs", "thu"),
    ("thur", "thu"),
    ("friday", "fri"),
    ("saturday", "sat"),
    ("sunday", "sun"),
    ("mon", "mon"),
    ("tue", "tue"),
    ("wed", "wed"),
    ("thu", "thu"),
    ("fri", "fri"),
    ("sat", "sat"),
    ("sun", "sun"),
];

const MONTHS: &[(&str, &str)] = &[
    ("january", "jan"),
    ("february", "feb"),
    ("march", "mar"),
    ("april", "apr"),
    ("may", "may"),
    ("june", "jun"),
    ("july", "jul"),
    ("august", "aug"),
    ("september", "sep"),
    ("sept", "sep"),
    ("october", "oct"),
    ("november", "nov"),
    ("december", "dec"),
    ("jan", "jan"),
    ("feb", "feb"),
    ("mar", "mar"),
    ("apr", "apr"),
    ("jun", "jun"),
    ("jul", "jul"),
    ("aug", "aug"),
    ("sep", "sep"),
    ("oct", "oct"),
    ("nov", "nov"),
    ("dec", "dec"),
];

/// The date key (`mon`, `nov`) of a weekday or month word, however written.
fn date_key(word: &str) -> Option<&'static str> {
    let w = word.trim_end_matches('.').to_lowercase();
    WEEKDAYS
        .iter()
        .chain(MONTHS)
        .find(|(k, _)| *k == w)
        .map(|(_, v)| *v)
}

/// What kind of figure a number is, from the characters around it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum FigureKind {
    Plain,
    Money,
    Percent,
    /// A time of day (`10:30`, `9 am`), as `h:mm` on the 24-hour clock.
    Time,
}

/// A number in a text: its digits (thousands separators removed) and kind.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct Figure {
    digits: String,
    kind: FigureKind,
    /// As written, for messages.
    shown: String,
}

const CURRENCY_SIGNS: &[char] = &['$', '€', '£', '¥', '₹'];
const CURRENCY_WORDS: &[&str] = &[
    "usd", "eur", "gbp", "chf", "dollars", "dollar", "euros", "euro", "pounds", "k€", "nok", "sek",
];

/// The numbers written with digits in `text`. Digits inside a word with letters (`B2B`, `Q4`)
/// count as part of that word, not as a figure.
fn figures(text: &str) -> Vec<Figure> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if !chars[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let start = i;
        let mut j = i;
        while j < chars.len()
            && (chars[j].is_ascii_digit()
                || (matches!(chars[j], ',' | '.')
                    && j + 1 < chars.len()
                    && chars[j + 1].is_ascii_digit()
                    && j > start))
        {
            j += 1;
        }
        let before_letter = start > 0 && chars[start - 1].is_alphabetic();
        // Ordinals (27th, 1st) are figures; other letters glued on make a word (Q4, 2FA, B2B).
        let mut end_word = j;
        while end_word < chars.len() && chars[end_word].is_alphabetic() {
            end_word += 1;
        }
        let suffix: String = chars[j..end_word].iter().collect::<String>().to_lowercase();
        let ordinal = matches!(suffix.as_str(), "st" | "nd" | "rd" | "th");
        if before_letter || (!suffix.is_empty() && !ordinal) {
            i = end_word.max(j);
            continue;
        }
        let raw: String = chars[start..j].iter().collect();
        if let Some((time, to)) = time_of_day(&chars, start, j) {
            out.push(Figure {
                digits: time,
                kind: FigureKind::Time,
                shown: chars[start..to].iter().collect(),
            });
            i = to;
            continue;
        }
        let digits = normalise_number(&raw);
        let prev = start.checked_sub(1).map(|p| &chars[p]);
        let next_text: String = chars[j..]
            .iter()
            .take(12)
            .collect::<String>()
            .to_lowercase();
        // Marks count on the same line, at most spaces away.
        let after = next_text.trim_start_matches(' ');
        let next_word = after
            .split(|c: char| c.is_whitespace())
            .next()
            .unwrap_or("");
        let prev_word: String = chars[..start]
            .iter()
            .rev()
            .skip_while(|c| **c == ' ')
            .take_while(|c| c.is_alphabetic())
            .collect::<String>()
            .chars()
            .rev()
            .collect::<String>()
            .to_lowercase();
        let kind = if after.starts_with('%')
            || next_word.starts_with("percent")
            || after.starts_with("per cent")
        {
            FigureKind::Percent
        } else if prev.is_some_and(|c| CURRENCY_SIGNS.contains(c))
            || next_text.starts_with(|c: char| CURRENCY_SIGNS.contains(&c))
            || CURRENCY_WORDS.contains(&next_word.trim_end_matches(['.', ',', ';', ')']))
            || CURRENCY_WORDS.contains(&prev_word.as_str())
        {
            FigureKind::Money
        } else {
            FigureKind::Plain
        };
        // As written, with the sign or percent mark next to it.
        let from = if start > 0 && CURRENCY_SIGNS.contains(&chars[start - 1]) {
            start - 1
        } else {
            start
        };
        let mut to = end_word.max(j);
        if chars.get(to) == Some(&'%') {
            to += 1;
        }
        out.push(Figure {
            digits,
            kind,
            shown: chars[from..to].iter().collect(),
        });
        i = end_word.max(j);
    }
    out
}

/// The time of day starting with the digits `chars[start..end]`, as `h:mm` on the 24-hour
/// clock, and where it ends: `10:30` (two digits after the colon, no third), or an hour up to
/// 12 followed by ` am`/` pm` (`9 am`, `9 p.m.`; `9pm` glued on is read as a code word). `None`
/// for anything else.
fn time_of_day(chars: &[char], start: usize, end: usize) -> Option<(String, usize)> {
    let hour: u32 = chars[start..end].iter().collect::<String>().parse().ok()?;
    let digit = |k: usize| chars.get(k).is_some_and(char::is_ascii_digit);
    if chars.get(end) == Some(&':') && digit(end + 1) && digit(end + 2) && !digit(end + 3) {
        let minutes: String = chars[end + 1..end + 3].iter().collect();
        return (hour < 24 && minutes.as_str() < "60")
            .then(|| (format!("{hour}:{minutes}"), end + 3));
    }
    // "9 am", "9am", "9 a.m.": the hour is read on the 12-hour clock.
    let mut k = end;
    if chars.get(k) == Some(&' ') {
        k += 1;
    }
    let rest: String = chars[k..chars.len().min(k + 4)]
        .iter()
        .collect::<String>()
        .to_lowercase();
    let (pm, len) = ["am", "pm", "a.m.", "p.m."]
        .iter()
        .filter(|m| rest.starts_with(*m))
        .map(|m| (m.starts_with('p'), m.len()))
        .max_by_key(|(_, len)| *len)?;
    if chars.get(k + len).is_some_and(|c| c.is_alphanumeric()) || !(1..=12).contains(&hour) {
        return None;
    }
    let hour24 = match (hour, pm) {
        (12, false) => 0,
        (12, true) => 12,
        (h, true) => h + 12,
        (h, false) => h,
    };
    Some((format!("{hour24}:00"), k + len))
}

/// `1,200` and `1200` are the same figure; `4.5` keeps its point.
fn normalise_number(raw: &str) -> String {
    // A comma followed by exactly three digits is a thousands separator; so is a point when the
    // number has more than one of them (1.200.000).
    let points = raw.matches('.').count();
    let mut out = String::with_capacity(raw.len());
    let parts: Vec<&str> = raw.split(',').collect();
    for (k, p) in parts.iter().enumerate() {
        if k > 0 && p.len() < 3 {
            out.push('.');
        }
        out.push_str(p);
    }
    if points > 1 {
        out = out.replace('.', "");
    }
    let trimmed = out.trim_start_matches('0');
    if trimmed.is_empty() || trimmed.starts_with('.') {
        out
    } else {
        trimmed.to_owned()
    }
}

/// A link-like span in a text: a URL, a bare domain, or an e-mail address.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Span {
    start: usize,
    end: usize,
    kind: SpanKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SpanKind {
    Url,
    Email,
}

fn is_url_char(c: char) -> bool {
    !c.is_whitespace() && !matches!(c, '<' | '>' | '"' | '`' | '|')
}

/// Byte spans of the URLs, bare domains and e-mail addresses in `text`.
fn links(text: &str) -> Vec<Span> {
    let mut out: Vec<Span> = Vec::new();
    let lower = text.to_lowercase();
    // `to_lowercase` may change byte lengths; only use `lower` when it lines up.
    let aligned = lower.len() == text.len();
    let mut word_start = None;
    let bytes: Vec<(usize, char)> = text.char_indices().collect();
    let mut k = 0;
    while k <= bytes.len() {
        let at_end = k == bytes.len();
        let c = if at_end { ' ' } else { bytes[k].1 };
        let boundary = !is_url_char(c) || matches!(c, '(' | ')' | '[' | ']');
        match (word_start, boundary) {
            (None, false) => word_start = Some(k),
            (Some(s), true) => {
                let from = bytes[s].0;
                let to = if at_end { text.len() } else { bytes[k].0 };
                push_link(text, from, to, &mut out);
                word_start = None;
            }
            _ => {}
        }
        k += 1;
    }
    // URLs whose path contains parentheses or brackets were cut above: extend http(s) URLs to
    // the next whitespace, minus trailing punctuation.
    if aligned {
        for scheme in ["https://", "http://"] {
            let mut from = 0;
            while let Some(pos) = lower[from..].find(scheme) {
                let s = from + pos;
                let e = text[s..]
                    .char_indices()
                    .find(|&(_, c)| !is_url_char(c))
                    .map_or(text.len(), |(i, _)| s + i);
                let e = s + trim_trailing(&text[s..e]).len();
                out.retain(|sp| sp.end <= s || sp.start >= e);
                out.push(Span {
                    start: s,
                    end: e,
                    kind: SpanKind::Url,
                });
                from = e.max(s + scheme.len());
            }
        }
    }
    out.sort_by_key(|s| s.start);
    out.dedup();
    out
}

fn trim_trailing(s: &str) -> &str {
    let mut t = s.trim_end_matches(['.', ',', ';', ':', '!', '?', '\'', '"', '*']);
    // A closing bracket belongs to the URL only if it opened inside it.
    while (t.ends_with(')') && t.matches('(').count() < t.matches(')').count())
        || (t.ends_with(']') && t.matches('[').count() < t.matches(']').count())
    {
        t = t[..t.len() - 1].trim_end_matches(['.', ',', ';', ':', '!', '?', '\'', '"', '*']);
    }
    t
}

fn push_link(text: &str, from: usize, to: usize, out: &mut Vec<Span>) {
    let word = &text[from..to];
    let lead = word.len() - word.trim_start_matches(['\'', '"', '*', '_']).len();
    let core = trim_trailing(&word[lead..]);
    if core.is_empty() {
        return;
    }
    let start = from + lead;
    let end = start + core.len();
    let lower = core.to_lowercase();
    if lower.starts_with("http://") || lower.starts_with("https://") || lower.starts_with("www.") {
        out.push(Span {
            start,
            end,
            kind: SpanKind::Url,
        });
        return;
    }
    if let Some((local, domain)) = core.split_once('@') {
        if !local.is_empty() && looks_like_domain(domain) {
            out.push(Span {
                start,
                end,
                kind: SpanKind::Email,
            });
        }
        return;
    }
    let host = core.split('/').next().unwrap_or("");
    if looks_like_domain(host) {
        out.push(Span {
            start,
            end,
            kind: SpanKind::Url,
        });
    }
}

/// `acme.io`, `drive.example.com`: labels of letters, digits and hyphens, the last one all
/// letters (2+), not an abbreviation like `e.g.`.
fn looks_like_domain(s: &str) -> bool {
    let labels: Vec<&str> = s.split('.').collect();
    if labels.len() < 2 {
        return false;
    }
    let tld = labels[labels.len() - 1];
    tld.len() >= 2
        && tld.chars().all(|c| c.is_ascii_alphabetic())
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !l.starts_with('-')
        })
        && labels[..labels.len() - 1]
            .iter()
            .any(|l| l.chars().count() >= 2)
}

fn normalise_link(s: &str) -> String {
    let l = s.trim().to_lowercase();
    let l = l
        .strip_prefix("https://")
        .or_else(|| l.strip_prefix("http://"))
        .unwrap_or(&l);
    let l = l.strip_prefix("www.").unwrap_or(l);
    l.trim_end_matches('/').to_owned()
}

/// One piece of data the draft may rest on.
struct Source<'a> {
    /// The fact's id; `None` for the form and the sender.
    fact: Option<&'a Fact>,
    lower: String,
    words: HashSet<String>,
    figures: HashSet<(String, FigureKind)>,
    dates: HashSet<&'static str>,
}

impl<'a> Source<'a> {
    fn new(fact: Option<&'a Fact>, raw: &str) -> Self {
        // Read as a draft quotes it: without bidi controls, control characters and brackets
        // as spaces.
        let text: String = raw
            .chars()
            .filter(|c| !crate::writer::is_bidi_control(*c))
            .map(|c| {
                if (c.is_control() && c != '\n')
                    || matches!(c, '[' | ']' | '{' | '}' | '<' | '>' | '"')
                {
                    ' '
                } else {
                    c
                }
            })
            .collect();
        let text = text.as_str();
        let lower = text.to_lowercase();
        let mut words: HashSet<String> = HashSet::new();
        for (_, w) in word_tokens(text) {
            let k = key_of(w);
            // Runs of letters count too: the template greets "Ann0" as "Ann".
            for part in k
                .split(|c: char| !c.is_alphabetic())
                .chain(k.split(|c: char| c.is_ascii_digit()))
            {
                if !part.is_empty() && part.len() < k.len() {
                    words.insert(part.to_owned());
                }
            }
            words.insert(k);
        }
        // As written, and with line breaks flattened the way a draft quoting it on one line
        // would read.
        let flat = |t: &str| t.split_whitespace().collect::<Vec<_>>().join(" ");
        let figures = figures(text)
            .into_iter()
            .chain(figures(&flat(text)))
            .chain(figures(raw))
            .chain(figures(&flat(raw)))
            .map(|f| (f.digits, f.kind))
            .collect();
        let dates = word_tokens(text)
            .into_iter()
            .filter_map(|(_, w)| date_key(w))
            .collect();
        Self {
            fact,
            lower,
            words,
            figures,
            dates,
        }
    }
}

/// A word as compared: lower case, without a possessive `'s`.
fn key_of(word: &str) -> String {
    let w = word.to_lowercase();
    let w = w
        .strip_suffix("'s")
        .or_else(|| w.strip_suffix("’s"))
        .unwrap_or(&w);
    w.to_owned()
}

/// Words of `text` with their byte offsets: runs of letters, digits, `'`, `’`, `&` and inner
/// hyphens or points.
fn word_tokens(text: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut start: Option<usize> = None;
    let is_word = |c: char| c.is_alphanumeric() || matches!(c, '\'' | '’' | '&');
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    for (k, &(i, c)) in chars.iter().enumerate() {
        let inner_joiner = matches!(c, '-' | '.')
            && start.is_some()
            && chars.get(k + 1).is_some_and(|&(_, n)| n.is_alphanumeric());
        if is_word(c) || inner_joiner {
            if start.is_none() {
                start = Some(i);
            }
        } else if let Some(s) = start.take() {
            out.push(trimmed_word(text, s, i));
        }
    }
    if let Some(s) = start {
        out.push(trimmed_word(text, s, text.len()));
    }
    out.retain(|(_, w)| !w.is_empty());
    out
}

/// The word `text[from..to]` without edge quotes or ampersands, with its own offset.
fn trimmed_word(text: &str, from: usize, to: usize) -> (usize, &str) {
    let raw = &text[from..to];
    let edges = ['\'', '’', '&'];
    let start = from + (raw.len() - raw.trim_start_matches(edges).len());
    (start, raw.trim_matches(edges))
}

/// True when the word at byte `at` of `text` opens a sentence, a line or a list item.
fn opens_sentence(text: &str, at: usize) -> bool {
    let before = text[..at].trim_end_matches([' ', '\t', '"', '\'', '(', '“', '‘', '*', '_']);
    if before.is_empty() || text[..at].ends_with('\n') {
        return true;
    }
    let last_line = before.rsplit('\n').next().unwrap_or(before);
    let line_before = last_line.trim();
    if line_before.is_empty() || matches!(line_before, "-" | "•" | "*" | "–") {
        return true;
    }
    // Numbered list items ("1." / "2)").
    if line_before
        .trim_end_matches(['.', ')'])
        .chars()
        .all(|c| c.is_ascii_digit())
    {
        return true;
    }
    before.ends_with(['.', '!', '?', ':', '…', '—', '–', '\n'])
        || before.ends_with(" -")
        || before.ends_with("...")
}

fn is_capitalised(word: &str) -> bool {
    word.chars().next().is_some_and(char::is_uppercase)
}

/// Why a draft text failed grounding: one typed reason per kind of claim.
fn ungrounded(what: &str, shown: &str) -> Error {
    let mut s = crate::model::clean_line(shown);
    crate::model::truncate_on_char_boundary(&mut s, 80);
    Error::invalid(
        "grounding",
        format!("{what} {s:?} is in none of the facts given"),
    )
}

/// The sources of a draft input: every fact, then the form and the sender.
fn sources(input: &DraftInput) -> Vec<Source<'_>> {
    let mut out: Vec<Source<'_>> = input
        .facts
        .iter()
        .map(|f| {
            let text = match &f.link {
                Some(l) => format!("{} {l}", f.text),
                None => f.text.clone(),
            };
            Source::new(Some(f), &text)
        })
        .collect();
    let l = &input.lead;
    let lead: Vec<&str> = [
        Some(l.email.as_str()),
        l.first_name.as_deref(),
        l.last_name.as_deref(),
        l.company.as_deref(),
        l.job_title.as_deref(),
        l.country.as_deref(),
        l.message.as_deref(),
    ]
    .into_iter()
    .flatten()
    .collect();
    out.push(Source::new(None, &lead.join("\n")));
    let s = &input.sender;
    let (greeting, sign_off) = input.voice.as_ref().map_or(("", ""), |v| {
        (
            v.greeting.as_deref().unwrap_or(""),
            v.sign_off.as_deref().unwrap_or(""),
        )
    });
    // The sender's own greeting and sign-off habits are theirs to use.
    out.push(Source::new(
        None,
        &format!(
            "{}\n{}\n{}\n{greeting}\n{sign_off}",
            s.name, s.email, s.company
        ),
    ));
    out
}

/// Checks that a text's links, figures, dates and (in bodies) names come from `input`;
/// removes links and addresses that do not. See the [module docs](self).
///
/// # Errors
/// [`Error::InvalidInput`] on field `grounding` naming the first invented figure, date, name
/// or placeholder, or on `body` when nothing is left after removing invented links.
pub fn ground(body: &str, input: &DraftInput) -> Result<Grounded> {
    check_placeholders(body)?;
    let sources = sources(input);
    let mut used: BTreeSet<usize> = BTreeSet::new();
    let (body, repairs) = repair_links(body, input, &mut used)?;
    let plain = without_links(&body);
    check_claims(&plain, &sources, true, &mut used).map_err(|c| c.error)?;
    note_slots(&plain, input, &mut used);
    Ok(grounded(body, &used, input, repairs))
}

/// Most sentences [`ground_repairing`] drops before it gives up.
pub const MAX_DROPPED_SENTENCES: usize = 4;

/// Like [`ground`], but repairs what is mechanical instead of refusing it: a sentence holding
/// a placeholder (`[Your Name]`, `{name}`) or an invented figure, date, code or name is
/// dropped (the claim cannot be kept, and the rest of the text does not depend on it), each
/// drop recorded in [`Grounded::repairs`]. What is left passes [`ground`] unchanged.
///
/// # Errors
/// As [`ground`] when more than [`MAX_DROPPED_SENTENCES`] sentences would have to go, or
/// nothing would be left.
pub fn ground_repairing(body: &str, input: &DraftInput) -> Result<Grounded> {
    let sources = sources(input);
    let mut repairs = Vec::new();
    let mut body = drop_placeholders(body, &mut repairs);
    let mut dropped = 0;
    loop {
        if body.trim().is_empty() {
            return Err(Error::invalid(
                "body",
                "is empty once placeholders and ungrounded sentences are removed",
            ));
        }
        let mut used: BTreeSet<usize> = BTreeSet::new();
        let (linked, link_repairs) = repair_links(&body, input, &mut used)?;
        repairs.extend(link_repairs);
        let plain = without_links(&linked);
        match check_claims(&plain, &sources, true, &mut used) {
            Ok(()) => {
                note_slots(&plain, input, &mut used);
                return Ok(grounded(linked, &used, input, repairs));
            }
            Err(claim) if dropped < MAX_DROPPED_SENTENCES => {
                repairs.push(format!(
                    "dropped the sentence with {} {:?}: it is in none of the facts",
                    claim.what, claim.shown
                ));
                body = remove_spans(&linked, &[(claim.start, claim.end)]);
                dropped += 1;
            }
            Err(claim) => return Err(claim.error),
        }
    }
}

/// Removes the sentences holding placeholders (`[Your Name]`, `{name}`), recording each.
fn drop_placeholders(body: &str, repairs: &mut Vec<String>) -> String {
    let spans = placeholder_spans(body);
    if spans.is_empty() {
        return body.to_owned();
    }
    for &(s, e) in &spans {
        repairs.push(format!(
            "dropped the sentence with the placeholder {:?}",
            crate::model::clean_line(&body[s..e])
        ));
    }
    remove_spans(body, &spans)
}

/// Byte spans of `{…}` and of short one-line `[…]` (at most five words) in `text`.
fn placeholder_spans(text: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    for (open, close) in [('{', '}'), ('[', ']')] {
        let mut from = 0;
        while let Some(i) = text[from..].find(open).map(|i| from + i) {
            let after = &text[i + 1..];
            let Some(j) = after.find(close) else {
                if open == '{' {
                    out.push((i, i + 1));
                }
                break;
            };
            let inside = &after[..j];
            let end = i + 1 + j + 1;
            if open == '{' || (inside.split_whitespace().count() <= 5 && !inside.contains('\n')) {
                out.push((i, end));
            }
            from = end;
        }
    }
    // A lone closing brace is a placeholder's remains too.
    for (i, c) in text.char_indices() {
        if c == '}' && !out.iter().any(|&(s, e)| (s..e).contains(&i)) {
            out.push((i, i + 1));
        }
    }
    out.sort_unstable();
    out
}

/// Keeps the body's grounded links and addresses (noting their facts in `used`) and removes
/// the others with their sentences, one repair line each.
fn repair_links(
    body: &str,
    input: &DraftInput,
    used: &mut BTreeSet<usize>,
) -> Result<(String, Vec<String>)> {
    let mut repairs = Vec::new();
    let mut cut: Vec<(usize, usize)> = Vec::new();
    for span in links(body) {
        let shown = &body[span.start..span.end];
        let fact = match span.kind {
            SpanKind::Url => url_source(shown, input),
            SpanKind::Email => address_source(shown, input),
        };
        match fact {
            Some(found) => {
                if let Some(i) = found {
                    used.insert(i);
                }
            }
            None => {
                let what = if span.kind == SpanKind::Url {
                    "link"
                } else {
                    "address"
                };
                repairs.push(format!("removed the {what} {shown:?}: it is in no fact"));
                cut.push((span.start, span.end));
            }
        }
    }
    let body = if cut.is_empty() {
        body.to_owned()
    } else {
        remove_spans(body, &cut)
    };
    if body.trim().is_empty() {
        return Err(Error::invalid(
            "body",
            "is empty once invented links are removed",
        ));
    }
    Ok((body, repairs))
}

/// Where a link shown in a draft comes from: `Some(Some(fact index))`, `Some(None)` for the
/// lead's own domain, `None` when it is invented.
fn url_source(shown: &str, input: &DraftInput) -> Option<Option<usize>> {
    let n = normalise_link(shown);
    let by_link = input
        .facts
        .iter()
        .position(|f| f.link.as_deref().map(normalise_link).as_deref() == Some(n.as_str()));
    let by_text = || {
        input.facts.iter().position(|f| {
            f.source != FactSource::Mail && normalise_text_links(&f.text).contains(&n)
        })
    };
    // A bare domain that is the lead's own (company name or address) is no link anyone
    // invented.
    let lower = shown.to_lowercase();
    let own_domain = !lower.contains("://")
        && !lower.starts_with("www.")
        && (input
            .lead
            .company
            .as_deref()
            .is_some_and(|c| c.to_lowercase().contains(&lower))
            || input
                .lead
                .email
                .to_lowercase()
                .ends_with(&format!("@{lower}")));
    if own_domain {
        Some(None)
    } else {
        by_link.or_else(by_text).map(Some)
    }
}

/// Where an address shown in a draft comes from (as [`url_source`]): the sender's or the
/// lead's own, or a CRM fact.
fn address_source(shown: &str, input: &DraftInput) -> Option<Option<usize>> {
    let e = shown.to_lowercase();
    let e = e.strip_prefix("mailto:").unwrap_or(&e);
    if e == input.sender.email.to_lowercase() || e == input.lead.email.to_lowercase() {
        return Some(None);
    }
    input
        .facts
        .iter()
        .position(|f| f.source == FactSource::Crm && f.text.to_lowercase().contains(e))
        .map(Some)
}

/// `body` with its links and addresses blanked out (same byte offsets).
fn without_links(body: &str) -> String {
    let mut plain = body.to_owned();
    for s in links(body).iter().rev() {
        plain.replace_range(s.start..s.end, &" ".repeat(s.end - s.start));
    }
    plain
}

/// Meeting slots are used when their text appears (as written, the prompt asks for that), or
/// their day and start time do.
fn note_slots(plain: &str, input: &DraftInput, used: &mut BTreeSet<usize>) {
    let lower = plain.to_lowercase();
    for (i, f) in input.facts.iter().enumerate() {
        if f.source == FactSource::Calendar {
            let t = f.text.to_lowercase();
            let time = t.split_whitespace().find(|w| w.contains(':'));
            let day = figures(&t).into_iter().next().map(|f| f.digits);
            let by_time = time
                .and_then(|tm| tm.split(['–', '-', ',']).next())
                .is_some_and(|tm| lower.contains(tm))
                && day.is_some_and(|d| figures(&lower).iter().any(|f| f.digits == d));
            if lower.contains(&t) || by_time {
                used.insert(i);
            }
        }
    }
}

fn grounded(
    body: String,
    used: &BTreeSet<usize>,
    input: &DraftInput,
    repairs: Vec<String>,
) -> Grounded {
    Grounded {
        body,
        used: used
            .iter()
            .filter_map(|&i| input.facts.get(i).map(|f| f.id.clone()))
            .collect(),
        repairs,
    }
}

/// Checks a subject line: its links, figures and dates must come from `input` (an invented
/// link in a subject is not repaired, it is refused).
///
/// # Errors
/// [`Error::InvalidInput`] on field `grounding`.
pub fn ground_subject(subject: &str, input: &DraftInput) -> Result<()> {
    check_placeholders(subject)?;
    let sources = sources(input);
    for span in links(subject) {
        let shown = &subject[span.start..span.end];
        let n = normalise_link(shown);
        let ok = input.facts.iter().any(|f| {
            f.link.as_deref().map(normalise_link).as_deref() == Some(n.as_str())
                || (f.source != FactSource::Mail && normalise_text_links(&f.text).contains(&n))
        }) || shown.eq_ignore_ascii_case(&input.sender.email)
            || shown.eq_ignore_ascii_case(&input.lead.email);
        if !ok {
            return Err(ungrounded("the link", shown));
        }
    }
    let mut used = BTreeSet::new();
    check_claims(subject, &sources, false, &mut used).map_err(|c| c.error)
}

fn normalise_text_links(text: &str) -> String {
    text.to_lowercase()
        .replace("https://", "")
        .replace("http://", "")
        .replace("www.", "")
}

fn check_placeholders(text: &str) -> Result<()> {
    if text.contains(['{', '}']) {
        return Err(Error::invalid(
            "grounding",
            "contains a template placeholder ({…})",
        ));
    }
    let mut rest = text;
    while let Some(open) = rest.find('[') {
        let after = &rest[open + 1..];
        if let Some(close) = after.find(']') {
            let inside = &after[..close];
            if inside.split_whitespace().count() <= 5 && !inside.contains('\n') {
                return Err(Error::invalid(
                    "grounding",
                    format!(
                        "contains the placeholder [{}]",
                        crate::model::clean_line(inside)
                    ),
                ));
            }
        }
        rest = after;
    }
    Ok(())
}

/// A claim in a text that no source has: what it is, as shown, where, and the error to give.
struct Claim {
    what: &'static str,
    shown: String,
    start: usize,
    end: usize,
    error: Error,
}

impl Claim {
    fn new(what: &'static str, shown: &str, start: usize) -> Self {
        Self {
            what,
            shown: shown.to_owned(),
            start,
            end: start + shown.len(),
            error: ungrounded(what, shown),
        }
    }
}

/// Figures, date words and (when `names`) capitalised words inside sentences must be in a
/// source; the facts they are found in are added to `used`.
fn check_claims(
    text: &str,
    sources: &[Source<'_>],
    names: bool,
    used: &mut BTreeSet<usize>,
) -> std::result::Result<(), Claim> {
    let note = |used: &mut BTreeSet<usize>, hit: &dyn Fn(&Source<'_>) -> bool| -> bool {
        // What the lead typed or the sender is needs no fact.
        if sources.iter().any(|s| s.fact.is_none() && hit(s)) {
            return true;
        }
        let mut any = false;
        for (i, s) in sources.iter().enumerate() {
            if hit(s) {
                any = true;
                if s.fact.is_some_and(|f| f.source != FactSource::Calendar) {
                    used.insert(i);
                }
            }
        }
        any
    };
    for f in figures(text) {
        let found = match f.kind {
            // A count may appear in the data as any figure but a time of day: the hour of a
            // meeting slot ("10:00") does not ground "10 minutes".
            FigureKind::Plain => note(used, &|s: &Source<'_>| {
                s.figures
                    .iter()
                    .any(|(d, k)| *d == f.digits && *k != FigureKind::Time)
            }),
            kind => note(used, &|s: &Source<'_>| {
                s.figures.contains(&(f.digits.clone(), kind))
            }),
        };
        if !found {
            let what = match f.kind {
                FigureKind::Money => "the amount",
                FigureKind::Percent => "the percentage",
                FigureKind::Plain => "the figure",
                FigureKind::Time => "the time",
            };
            let start = text.find(&f.shown).unwrap_or(0);
            return Err(Claim::new(what, &f.shown, start));
        }
    }
    for (at, word) in word_tokens(text) {
        if word.chars().any(|c| c.is_ascii_digit()) && word.chars().any(char::is_alphabetic) {
            // Q4, B2B, SOC2: a code, checked as a whole word.
            let k = key_of(word);
            if !COMMON_CAPITALISED.contains(&k.as_str())
                && !note(used, &|s: &Source<'_>| {
                    s.words.contains(&k) || s.lower.contains(&k)
                })
            {
                return Err(Claim::new("the code", word, at));
            }
            continue;
        }
        if !is_capitalised(word) {
            continue;
        }
        if let Some(key) = date_key(word) {
            // "May" opening a sentence is usually the verb.
            if key == "may" && opens_sentence(text, at) {
                continue;
            }
            if !note(used, &|s: &Source<'_>| s.dates.contains(key)) {
                return Err(Claim::new("the date", word, at));
            }
            continue;
        }
        if !names || opens_sentence(text, at) {
            continue;
        }
        let k = key_of(word);
        if COMMON_CAPITALISED.contains(&k.as_str()) {
            continue;
        }
        // A word cut short by an ellipsis ("Roboti…") matches the start of a word.
        let cut_short = text
            .get(at + word.len()..)
            .is_some_and(|rest| rest.starts_with('…'));
        let hit = |s: &Source<'_>| {
            s.words.contains(&k)
                || k.split(['-', '.'])
                    .all(|p| p.is_empty() || s.words.contains(p))
                || (cut_short && s.words.iter().any(|w| w.starts_with(k.as_str())))
        };
        if !note(used, &hit) {
            return Err(Claim::new("the name", word, at));
        }
    }
    Ok(())
}

/// Marks removed text until lines are tidied.
const CUT: &str = "\u{1}";

/// Removes the sentences holding the byte spans from `text` (a sentence about an invented link
/// has nothing left to say without it); lines left empty or holding only a list marker go too.
fn remove_spans(text: &str, spans: &[(usize, usize)]) -> String {
    let mut cuts: Vec<(usize, usize)> = spans
        .iter()
        .map(|&(s, e)| {
            let line_start = text[..s].rfind('\n').map_or(0, |i| i + 1);
            let line_end = text[e..].find('\n').map_or(text.len(), |i| e + i);
            let head = &text[line_start..s];
            let start = [". ", "! ", "? "]
                .iter()
                .filter_map(|p| head.rfind(p).map(|i| line_start + i + 2))
                .max()
                .unwrap_or(line_start);
            let tail = &text[e..line_end];
            let end = tail
                .char_indices()
                .find(|&(i, c)| {
                    matches!(c, '.' | '!' | '?')
                        && tail[i + 1..].chars().next().is_none_or(char::is_whitespace)
                })
                .map_or(line_end, |(i, _)| e + i + 1);
            (start, end)
        })
        .collect();
    cuts.sort_unstable();
    let mut merged: Vec<(usize, usize)> = Vec::new();
    for (s, e) in cuts {
        match merged.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => merged.push((s, e)),
        }
    }
    let mut out = text.to_owned();
    for &(s, e) in merged.iter().rev() {
        out.replace_range(s..e, CUT);
    }
    let mut lines: Vec<String> = Vec::new();
    for line in out.lines() {
        let cut = line.contains(CUT);
        let l = line
            .replace(CUT, " ")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        let bare = l.trim_matches(|c: char| c.is_whitespace() || "-•*–:.,".contains(c));
        if bare.is_empty() && cut {
            continue;
        }
        if l.is_empty() && lines.last().is_some_and(String::is_empty) {
            continue;
        }
        lines.push(l);
    }
    lines.join("\n").trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prompt::{LeadData, SenderData};

    fn input() -> DraftInput {
        DraftInput {
            sender: SenderData {
                name: "Sam Berger".into(),
                email: "sam@salesagent.dev".into(),
                company: "Salesagent".into(),
            },
            lead: LeadData {
                email: "ann@acme-robotics.de".into(),
                first_name: Some("Ann".into()),
                company: Some("Acme Robotics".into()),
                message: Some("We get about 300 RFQs a month; pricing for 10 seats?".into()),
                ..LeadData::default()
            },
            facts: vec![
                Fact {
                    id: "crm:company:1".into(),
                    source: FactSource::Crm,
                    text: "Acme Robotics GmbH: Industrial Machinery, 420 employees, Germany".into(),
                    link: None,
                },
                Fact {
                    id: "drive:doc-case-weber".into(),
                    source: FactSource::Drive,
                    text: "Case study - Weber Logistics cuts reply time by 80 percent.pdf".into(),
                    link: Some("https://drive.example.com/file/doc-case-weber".into()),
                },
                Fact {
                    id: "slot:1".into(),
                    source: FactSource::Calendar,
                    text: "Fri 27 Nov, 11:00–11:30 CET (Europe/Berlin)".into(),
                    link: None,
                },
            ],
            voice: None,
        }
    }

    #[test]
    fn grounded_text_passes_and_names_its_facts() {
        let body = "Hi Ann,\n\nThanks for your note about the 300 RFQs a month at Acme Robotics. \
                    The Weber Logistics case study shows an 80% faster reply: \
                    https://drive.example.com/file/doc-case-weber.\n\
                    Would Friday 27 November, 11:00–11:30 CET (Europe/Berlin) work?\n\nBest,\nSam";
        let g = ground(body, &input()).unwrap();
        assert_eq!(g.body, body);
        assert!(g.repairs.is_empty());
        assert_eq!(g.used, ["drive:doc-case-weber", "slot:1"], "{g:?}");
    }

    #[test]
    fn invented_links_and_addresses_are_removed() {
        let body = "Hi Ann,\n\nSee our pricing at https://salesagent.dev/pricing. Or www.evil.example! \
                    Here is the case study (https://drive.example.com/file/doc-case-weber).\n\
                    - https://bit.ly/xyz\nWrite to billing@salesagent.dev. Or to sam@salesagent.dev.\n\nBest,\nSam";
        let g = ground(body, &input()).unwrap();
        assert_eq!(
            g.body,
            "Hi Ann,\n\nHere is the case study (https://drive.example.com/file/doc-case-weber).\n\
             Or to sam@salesagent.dev.\n\nBest,\nSam"
        );
        assert_eq!(g.repairs.len(), 4, "{:?}", g.repairs);
        assert!(g.repairs[0].contains("https://salesagent.dev/pricing"));
        assert!(g.used.contains(&"drive:doc-case-weber".to_owned()));
        // The lead's own domain is no invented link.
        let g = ground("Hi Ann,\n\nGreetings to acme-robotics.de!\n\nSam", &input()).unwrap();
        assert!(g.repairs.is_empty());
    }

    #[test]
    fn invented_figures_dates_and_names_are_refused() {
        for (bad, what) in [
            ("It costs $49 per seat.", "amount"),
            ("It costs 49 EUR per seat.", "amount"),
            ("That is $300 a month.", "amount"),
            ("Replies get 35% faster.", "percentage"),
            ("We have 1,200 customers.", "figure"),
            ("How about Monday?", "date"),
            ("Shall we meet on the 3rd of December?", "figure"),
            ("Customers like Siemens use it.", "name"),
            ("Our Pro plan fits.", "name"),
            ("Best,\n[Your Name]", "placeholder"),
            ("Hi {name},", "placeholder"),
            ("It is SOC2 certified.", "code"),
            // The only 11 in the data is the slot's hour: it grounds no count.
            ("Can we talk for 11 minutes?", "figure"),
            ("How about 14:30 on Fri 27 Nov?", "time"),
            ("Or at 2 pm?", "time"),
        ] {
            let e = ground(&format!("Hi Ann,\n\n{bad}\n\nSam"), &input()).unwrap_err();
            assert_eq!(e.kind(), "invalid_input", "{bad}");
            assert!(e.to_string().contains(what), "{bad}: {e}");
        }
        // Figures the data has, in the form the data has them.
        for ok in [
            "We can price 10 seats.",
            "About 420 people work at Acme Robotics GmbH.",
            "Weber cut reply time by 80 percent.",
            "On Fri 27 Nov at 11:00?",
            "Would 11 am on Friday work?",
            "I'm glad you wrote. May we talk?",
        ] {
            ground(&format!("Hi Ann,\n\n{ok}\n\nSam"), &input())
                .unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
    }

    #[test]
    fn subjects_are_checked_for_figures_not_names() {
        let inp = input();
        ground_subject("A Quick Demo For Acme Robotics", &inp).unwrap();
        assert!(ground_subject("Save 50% this week", &inp).is_err());
        assert!(ground_subject("Pricing: https://x.example/p", &inp).is_err());
    }

    #[test]
    fn numbers_normalise() {
        assert_eq!(normalise_number("1,200"), "1200");
        assert_eq!(normalise_number("1.200.000"), "1200000");
        assert_eq!(normalise_number("4.5"), "4.5");
        assert_eq!(normalise_number("00"), "00");
        assert_eq!(normalise_number("07"), "7");
        let f = figures("Q4 B2B 27th $1,200 80% 11:00");
        let shown: Vec<_> = f.iter().map(|f| (f.digits.as_str(), f.kind)).collect();
        assert_eq!(
            shown,
            [
                ("27", FigureKind::Plain),
                ("1200", FigureKind::Money),
                ("80", FigureKind::Percent),
                ("11:00", FigureKind::Time),
            ]
        );
        let times = |t: &str| {
            figures(t)
                .into_iter()
                .map(|f| (f.digits, f.kind, f.shown))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            times("at 09:30, 9 am, 2pm or 12 p.m.; 10:61 and 10:305 are no times")
                .iter()
                .map(|(d, k, _)| (d.as_str(), *k))
                .collect::<Vec<_>>(),
            [
                ("9:30", FigureKind::Time),
                ("9:00", FigureKind::Time),
                ("12:00", FigureKind::Time),
                ("10", FigureKind::Plain),
                ("61", FigureKind::Plain),
                ("10", FigureKind::Plain),
                ("305", FigureKind::Plain),
            ]
        );
        assert_eq!(times("9 p.m.")[0].2, "9 p.m.");
    }
}
