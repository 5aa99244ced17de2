//! Learning a profile from sent messages, and updating it with more.

use super::features::{self, Measured, STYLE_FEATURES};
use super::segments::{self, NONE_FORM};
use crate::model::{EmailAddress, VoiceProfile, VoiceProfileId, VoiceStats, VoiceStyle};
use crate::ports::Mailbox;
use crate::{Error, Result};
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, HashMap};

/// Most word/word-pair entries a profile keeps; beyond it the rarest are pruned (their
/// occurrences still count in `term_total`), so updates stay exact until a profile is this big.
pub const MAX_TERMS: usize = 150_000;
/// Most character 3-gram entries a profile keeps (pruned like [`MAX_TERMS`]).
pub const MAX_CHAR_GRAMS: usize = 60_000;
/// Entries shown in [`VoiceStyle::vocabulary`].
pub const VOCABULARY_SIZE: usize = 40;
/// Longest profile name accepted.
pub const MAX_NAME_LEN: usize = 100;

/// Learns a new profile named `name` for `owner` from the bodies of sent messages (plain text;
/// quoted replies, forwarded parts, signatures and disclaimers are stripped first). Messages
/// without words are skipped. The version is 0 until a store saves it.
/// `InvalidInput` when `name` is empty, too long or has control characters.
pub fn learn<I, S>(
    owner: EmailAddress,
    name: &str,
    bodies: I,
    now: DateTime<Utc>,
) -> Result<VoiceProfile>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let name = validate_name(name)?;
    let mut profile = VoiceProfile {
        id: VoiceProfileId::new(),
        owner,
        name,
        version: 0,
        message_count: 0,
        updated_at: now,
        style: VoiceStyle::default(),
    };
    update(&mut profile, bodies, now);
    Ok(profile)
}

/// Adds messages to a profile. The result equals learning from the union of the old and new
/// messages (up to floating-point summation order), except once a count table has been pruned
/// at [`MAX_TERMS`]/[`MAX_CHAR_GRAMS`]. Returns how many messages were used.
pub fn update<I, S>(profile: &mut VoiceProfile, bodies: I, now: DateTime<Utc>) -> usize
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let mut acc = Accumulator::default();
    let mut exemplars = Vec::new();
    for body in bodies {
        let body = segments::strip_non_authored(body.as_ref());
        exemplars.extend(super::exemplars::candidates(&body));
        acc.add(&body);
    }
    let used = acc.messages;
    acc.merge_into(&mut profile.style.stats);
    super::exemplars::merge(&mut profile.style.exemplars, exemplars);
    derive(&mut profile.style);
    profile.message_count = profile
        .style
        .stats
        .sums
        .get("messages")
        .map_or(0, |&m| m.clamp(0.0, f64::from(u32::MAX)) as u32);
    profile.updated_at = now;
    used
}

/// Learns a profile from the sent folder of a mailbox, paging [`Mailbox::sent_messages`] until
/// `max_messages` were read or the folder ends. Mailbox errors are returned as they are.
pub async fn learn_from_mailbox(
    mailbox: &dyn Mailbox,
    owner: EmailAddress,
    name: &str,
    max_messages: usize,
    now: DateTime<Utc>,
) -> Result<VoiceProfile> {
    let mut profile = learn(owner, name, std::iter::empty::<&str>(), now)?;
    let mut token: Option<String> = None;
    let mut read = 0usize;
    while read < max_messages {
        let page_size = u32::try_from((max_messages - read).min(100)).unwrap_or(100);
        let page = mailbox.sent_messages(token.as_deref(), page_size).await?;
        if page.messages.is_empty() {
            break;
        }
        let take = page.messages.len().min(max_messages - read);
        read += take;
        let bodies: Vec<String> = page.messages[..take]
            .iter()
            .map(segments::body_of_message)
            .collect();
        update(&mut profile, &bodies, now);
        match page.next_page {
            Some(next) if Some(&next) != token.as_ref() => token = Some(next),
            _ => break,
        }
    }
    Ok(profile)
}

fn validate_name(name: &str) -> Result<String> {
    let trimmed = name.trim();
    if trimmed.is_empty() {
        return Err(Error::invalid("name", "must not be empty"));
    }
    if trimmed.chars().count() > MAX_NAME_LEN {
        return Err(Error::invalid(
            "name",
            format!("must be at most {MAX_NAME_LEN} characters"),
        ));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(Error::invalid(
            "name",
            "must not contain control characters",
        ));
    }
    Ok(trimmed.to_owned())
}

/// Counts gathered from a batch of messages before they are merged into a profile.
#[derive(Default)]
struct Accumulator {
    messages: usize,
    sums: HashMap<String, f64>,
    greetings: HashMap<String, u32>,
    sign_offs: HashMap<String, u32>,
    terms: HashMap<String, u32>,
    char_grams: HashMap<String, u32>,
}

impl Accumulator {
    fn add(&mut self, body: &str) {
        let Some(m) = features::measure(body) else {
            return;
        };
        self.messages += 1;
        self.add_measured(&m);
        features::count_terms(body, &mut self.terms);
        features::count_char_grams(body, &mut self.char_grams);
    }

    fn add_measured(&mut self, m: &Measured) {
        let mut add = |k: &str, v: f64| *self.sums.entry(k.to_owned()).or_insert(0.0) += v;
        add("messages", 1.0);
        let words = m.words as f64;
        add("words", words);
        add("words_sq", words * words);
        add("sentences", m.sentence_words.len() as f64);
        for &n in &m.sentence_words {
            add("sentence_words", n as f64);
            add("sentence_words_sq", (n * n) as f64);
        }
        add("paragraphs", m.paragraphs as f64);
        for (f, &v) in STYLE_FEATURES.iter().zip(&m.style) {
            add(f.name, v);
            add(&format!("{}_sq", f.name), v * v);
        }
        *self.greetings.entry(m.greeting.clone()).or_insert(0) += 1;
        *self.sign_offs.entry(m.sign_off.clone()).or_insert(0) += 1;
    }

    fn merge_into(self, stats: &mut VoiceStats) {
        for (k, v) in self.sums {
            *stats.sums.entry(k).or_insert(0.0) += v;
        }
        merge_counts(&mut stats.greeting_counts, self.greetings);
        merge_counts(&mut stats.sign_off_counts, self.sign_offs);
        stats.term_total += self.terms.values().map(|&c| u64::from(c)).sum::<u64>();
        merge_counts(&mut stats.terms, self.terms);
        prune(&mut stats.terms, MAX_TERMS);
        stats.char_gram_total += self.char_grams.values().map(|&c| u64::from(c)).sum::<u64>();
        merge_counts(&mut stats.char_grams, self.char_grams);
        prune(&mut stats.char_grams, MAX_CHAR_GRAMS);
    }
}

fn merge_counts(into: &mut BTreeMap<String, u32>, from: HashMap<String, u32>) {
    for (k, v) in from {
        let e = into.entry(k).or_insert(0);
        *e = e.saturating_add(v);
    }
}

/// Drops the rarest entries until at most `max` remain (ties broken by key, so it is
/// deterministic).
fn prune(map: &mut BTreeMap<String, u32>, max: usize) {
    if map.len() <= max {
        return;
    }
    let mut counts: Vec<u32> = map.values().copied().collect();
    let cut_at = counts.len() - max;
    counts.select_nth_unstable(cut_at);
    let threshold = counts[cut_at];
    let below = map.values().filter(|&&c| c < threshold).count();
    // Remove everything rarer than the threshold, then as many at the threshold as needed.
    let mut to_remove_at_threshold = cut_at.saturating_sub(below);
    map.retain(|_, c| {
        if *c < threshold {
            return false;
        }
        if *c == threshold && to_remove_at_threshold > 0 {
            to_remove_at_threshold -= 1;
            return false;
        }
        true
    });
}

/// Mean and standard deviation from a count, a sum and a sum of squares.
pub(crate) fn mean_std(n: f64, sum: f64, sum_sq: f64) -> (f64, f64) {
    if n <= 0.0 {
        return (0.0, 0.0);
    }
    let mean = sum / n;
    let var = (sum_sq / n - mean * mean).max(0.0);
    (mean, var.sqrt())
}

/// Recomputes the readable features of a style from its statistics.
fn derive(style: &mut VoiceStyle) {
    let stats = &style.stats;
    let s = |k: &str| stats.sums.get(k).copied().unwrap_or(0.0);
    let messages = s("messages");
    let (sent_mean, sent_std) =
        mean_std(s("sentences"), s("sentence_words"), s("sentence_words_sq"));
    style.sentence_len_mean = sent_mean;
    style.sentence_len_std = sent_std;
    style.paragraph_len_mean = if s("paragraphs") > 0.0 {
        s("sentences") / s("paragraphs")
    } else {
        0.0
    };
    let (len_mean, len_std) = mean_std(messages, s("words"), s("words_sq"));
    style.message_len_mean = len_mean;
    style.features.clear();
    style.features.insert("message_len_std".into(), len_std);
    for f in STYLE_FEATURES {
        let (m, sd) = mean_std(messages, s(f.name), s(&format!("{}_sq", f.name)));
        style.features.insert(format!("{}.mean", f.name), m);
        style.features.insert(format!("{}.std", f.name), sd);
    }
    let feature_mean = |name: &str| {
        style
            .features
            .get(&format!("{name}.mean"))
            .copied()
            .unwrap_or(0.0)
    };
    style.contraction_rate = feature_mean("contractions_per_100w");
    style.exclamation_rate = feature_mean("exclamations_per_sentence");
    style.formality = feature_mean("formality");
    style.greetings = distribution(&stats.greeting_counts);
    style.sign_offs = distribution(&stats.sign_off_counts);
    style.vocabulary = distinctive_terms(stats);
}

fn distribution(counts: &BTreeMap<String, u32>) -> BTreeMap<String, f64> {
    let total: f64 = counts.values().map(|&c| f64::from(c)).sum();
    if total <= 0.0 {
        return BTreeMap::new();
    }
    counts
        .iter()
        .map(|(k, &c)| (k.clone(), f64::from(c) / total))
        .collect()
}

/// Common English function words: too frequent in everyone's mail to say anything about a
/// sender's vocabulary (used only to choose the readable `vocabulary`, not for similarity).
pub(crate) const FUNCTION_WORDS: &[&str] = &[
    "the", "a", "an", "and", "or", "but", "if", "of", "to", "in", "on", "at", "for", "with", "by",
    "from", "as", "is", "are", "was", "were", "be", "been", "being", "have", "has", "had", "do",
    "does", "did", "will", "would", "can", "could", "should", "may", "might", "must", "shall", "i",
    "me", "my", "we", "us", "our", "you", "your", "he", "him", "his", "she", "her", "it", "its",
    "they", "them", "their", "this", "that", "these", "those", "there", "here", "what", "which",
    "who", "whom", "when", "where", "why", "how", "not", "no", "yes", "so", "than", "then", "too",
    "very", "just", "also", "all", "any", "some", "about", "into", "out", "up", "down", "over",
    "more", "most", "other", "such", "only", "own", "same", "each", "few", "both", "again",
    "further", "once", "am", "i'm", "it's", "don't", "get", "got", "let", "know", "please",
    "thanks", "thank", "re", "fw", "cc", "one", "two", "new", "see", "like", "need", "want",
];

/// The sender's most distinctive words and word pairs: frequent in their mail, not function
/// words, not numbers or punctuation. Weight = occurrences per 1,000 terms.
fn distinctive_terms(stats: &VoiceStats) -> BTreeMap<String, f64> {
    if stats.term_total == 0 {
        return BTreeMap::new();
    }
    let content = |w: &str| {
        w.chars().count() >= 3
            && w.chars()
                .all(|c| c.is_alphabetic() || c == '\'' || c == '-')
            && !FUNCTION_WORDS.contains(&w)
    };
    let mut cands: Vec<(&String, u32)> = stats
        .terms
        .iter()
        .filter(|(k, c)| {
            **c >= 2
                && match k.split_once(' ') {
                    Some((a, b)) => content(a) && content(b),
                    None => content(k),
                }
        })
        .map(|(k, &c)| (k, c))
        .collect();
    // Pairs are rarer than words; weigh them up so a few phrases make the list.
    let key = |k: &str, c: u32| f64::from(c) * if k.contains(' ') { 3.0 } else { 1.0 };
    cands.sort_by(|a, b| {
        key(b.0, b.1)
            .total_cmp(&key(a.0, a.1))
            .then_with(|| a.0.cmp(b.0))
    });
    let total = stats.term_total as f64;
    cands
        .into_iter()
        .take(VOCABULARY_SIZE)
        .map(|(k, c)| (k.clone(), f64::from(c) * 1000.0 / total))
        .collect()
}

/// The most frequent form in a distribution, skipping [`NONE_FORM`] unless `allow_none`.
pub(crate) fn top_form(dist: &BTreeMap<String, f64>, allow_none: bool) -> Option<(&str, f64)> {
    dist.iter()
        .filter(|(k, _)| allow_none || k.as_str() != NONE_FORM)
        .max_by(|a, b| a.1.total_cmp(b.1).then_with(|| b.0.cmp(a.0)))
        .map(|(k, &v)| (k.as_str(), v))
}
