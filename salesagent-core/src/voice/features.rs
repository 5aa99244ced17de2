//! Per-message measurements: what one message says about its writer's habits.

use super::segments::{self, NONE_FORM, Token};
use std::collections::HashMap;

/// A numeric per-message style feature: its name, a short description for the style guide, and
/// the smallest spread assumed when comparing (so a sender who never varies does not make every
/// tiny deviation look foreign).
#[derive(Debug, Clone, Copy)]
pub(crate) struct StyleFeature {
    pub name: &'static str,
    pub min_std: f64,
}

/// The numeric style features, in a fixed order (the order of [`Measured::style`]).
pub(crate) const STYLE_FEATURES: &[StyleFeature] = &[
    StyleFeature {
        name: "words_per_sentence",
        min_std: 2.0,
    },
    StyleFeature {
        name: "log_words",
        min_std: 0.3,
    },
    StyleFeature {
        name: "sentences_per_paragraph",
        min_std: 0.5,
    },
    StyleFeature {
        name: "contractions_per_100w",
        min_std: 0.5,
    },
    StyleFeature {
        name: "exclamations_per_sentence",
        min_std: 0.05,
    },
    StyleFeature {
        name: "questions_per_sentence",
        min_std: 0.05,
    },
    StyleFeature {
        name: "commas_per_sentence",
        min_std: 0.1,
    },
    StyleFeature {
        name: "first_singular_per_100w",
        min_std: 0.5,
    },
    StyleFeature {
        name: "first_plural_per_100w",
        min_std: 0.5,
    },
    StyleFeature {
        name: "second_person_per_100w",
        min_std: 0.5,
    },
    StyleFeature {
        name: "hedges_per_100w",
        min_std: 0.3,
    },
    StyleFeature {
        name: "formality",
        min_std: 0.05,
    },
    StyleFeature {
        name: "lowercase_sentence_starts",
        min_std: 0.05,
    },
    StyleFeature {
        name: "all_caps_per_100w",
        min_std: 0.3,
    },
    StyleFeature {
        name: "emoji_per_100w",
        min_std: 0.1,
    },
    StyleFeature {
        name: "numbers_per_100w",
        min_std: 0.5,
    },
    StyleFeature {
        name: "ellipses_per_sentence",
        min_std: 0.03,
    },
    StyleFeature {
        name: "dashes_per_sentence",
        min_std: 0.03,
    },
    StyleFeature {
        name: "parentheses_per_sentence",
        min_std: 0.03,
    },
];

/// Index of a style feature by name (compile-time list above).
#[cfg(test)]
pub(crate) fn style_index(name: &str) -> Option<usize> {
    STYLE_FEATURES.iter().position(|f| f.name == name)
}

const FIRST_SINGULAR: &[&str] = &["i", "me", "my", "mine", "myself"];
const FIRST_PLURAL: &[&str] = &["we", "us", "our", "ours", "ourselves"];
const SECOND_PERSON: &[&str] = &["you", "your", "yours", "yourself", "yourselves"];
const HEDGES: &[&str] = &[
    "maybe",
    "perhaps",
    "might",
    "possibly",
    "probably",
    "seems",
    "seem",
    "somewhat",
    "guess",
    "suppose",
    "hopefully",
    "likely",
    "apparently",
    "roughly",
    "fairly",
];
const FORMAL: &[&str] = &[
    "please",
    "regards",
    "sincerely",
    "kindly",
    "dear",
    "would",
    "appreciate",
    "therefore",
    "furthermore",
    "regarding",
    "accordingly",
    "however",
    "additionally",
    "respectfully",
    "shall",
    "pursuant",
    "advise",
    "request",
];
const INFORMAL: &[&str] = &[
    "hey", "yeah", "yep", "nope", "gonna", "wanna", "gotta", "ok", "okay", "cool", "lol", "btw",
    "thx", "guys", "stuff", "awesome", "hi", "cheers", "folks", "kinda", "sorta", "yup", "asap",
];
const CONTRACTION_SUFFIXES: &[&str] = &["n't", "'re", "'ve", "'ll", "'d", "'m"];
const CONTRACTED_S: &[&str] = &[
    "it's", "that's", "what's", "there's", "here's", "he's", "she's", "let's", "who's", "where's",
];
const EMOTICONS: &[&str] = &[
    ":)", ":-)", ";)", ";-)", ":(", ":-(", ":d", ":-d", ":p", ":-p",
];

/// Everything measured on one message.
#[derive(Debug, Clone)]
pub(crate) struct Measured {
    /// Greeting form, or [`NONE_FORM`].
    pub greeting: String,
    /// Sign-off form, or [`NONE_FORM`].
    pub sign_off: String,
    /// Word count (words and numbers, not punctuation).
    pub words: usize,
    /// Words per sentence, for every sentence.
    pub sentence_words: Vec<usize>,
    /// Number of paragraphs.
    pub paragraphs: usize,
    /// Values of [`STYLE_FEATURES`], in order.
    pub style: Vec<f64>,
}

/// Measures one message (already stripped of non-authored parts). `None` when it has no words.
pub(crate) fn measure(body: &str) -> Option<Measured> {
    let paragraphs = segments::paragraphs(body);
    let all_tokens = segments::tokens(body);
    let words = all_tokens.iter().filter(|t| t.is_word).count();
    if words == 0 {
        return None;
    }
    let sentence_words: Vec<usize> = paragraphs
        .iter()
        .flatten()
        .map(|s| segments::tokens(s).iter().filter(|t| t.is_word).count())
        .filter(|&n| n > 0)
        .collect();
    let n_sentences = sentence_words.len().max(1) as f64;
    let n_paragraphs = paragraphs.len().max(1);
    let per100 = |n: usize| n as f64 * 100.0 / words as f64;
    let per_sentence = |n: usize| n as f64 / n_sentences;

    let mut contractions = 0;
    let mut first_singular = 0;
    let mut first_plural = 0;
    let mut second = 0;
    let mut hedges = 0;
    let mut formal = 0;
    let mut informal = 0;
    let mut all_caps = 0;
    let mut numbers = 0;
    let mut exclamations = 0;
    let mut questions = 0;
    let mut commas = 0;
    let mut parens = 0;
    for t in &all_tokens {
        if t.is_word {
            let lower = t.text.to_lowercase().replace('’', "'");
            let l = lower.as_str();
            if CONTRACTION_SUFFIXES.iter().any(|s| l.ends_with(s)) || CONTRACTED_S.contains(&l) {
                contractions += 1;
            }
            first_singular += usize::from(FIRST_SINGULAR.contains(&l));
            first_plural += usize::from(FIRST_PLURAL.contains(&l));
            second += usize::from(SECOND_PERSON.contains(&l));
            hedges += usize::from(HEDGES.contains(&l));
            formal += usize::from(FORMAL.contains(&l));
            informal += usize::from(INFORMAL.contains(&l));
            if t.text.chars().all(|c| c.is_ascii_digit()) {
                numbers += 1;
            } else if t.text.chars().filter(|c| c.is_alphabetic()).count() >= 2
                && t.text.chars().all(|c| !c.is_lowercase())
            {
                all_caps += 1;
            }
        } else {
            match t.text {
                "!" => exclamations += 1,
                "?" => questions += 1,
                "," => commas += 1,
                "(" => parens += 1,
                _ => {}
            }
        }
    }
    let lower_body = body.to_lowercase();
    let emoji = body.chars().filter(|&c| is_emoji(c)).count()
        + EMOTICONS
            .iter()
            .map(|e| lower_body.matches(e).count())
            .sum::<usize>();
    let ellipses = body.matches("...").count() + body.matches('…').count();
    let dashes =
        body.matches(" - ").count() + body.matches('—').count() + body.matches('–').count();
    let sentences: Vec<&String> = paragraphs.iter().flatten().collect();
    let lowercase_starts = sentences
        .iter()
        .filter(|s| {
            s.chars()
                .find(|c| c.is_alphabetic())
                .is_some_and(char::is_lowercase)
        })
        .count();
    let formality =
        (formal as f64 + 1.0) / ((formal + informal + contractions + emoji) as f64 + 2.0);

    let style = vec![
        sentence_words.iter().sum::<usize>() as f64 / n_sentences,
        (1.0 + words as f64).ln(),
        sentence_words.len() as f64 / n_paragraphs as f64,
        per100(contractions),
        per_sentence(exclamations),
        per_sentence(questions),
        per_sentence(commas),
        per100(first_singular),
        per100(first_plural),
        per100(second),
        per100(hedges),
        formality,
        lowercase_starts as f64 / sentences.len().max(1) as f64,
        per100(all_caps),
        per100(emoji),
        per100(numbers),
        per_sentence(ellipses),
        per_sentence(dashes),
        per_sentence(parens),
    ];
    debug_assert_eq!(style.len(), STYLE_FEATURES.len());
    Some(Measured {
        greeting: segments::detect_greeting(body).map_or_else(|| NONE_FORM.to_owned(), |g| g.form),
        sign_off: segments::detect_sign_off(body).map_or_else(|| NONE_FORM.to_owned(), |s| s.form),
        words,
        sentence_words,
        paragraphs: n_paragraphs,
        style,
    })
}

/// Pictographic emoji and symbols (the common blocks; skin-tone and joiner marks excluded).
fn is_emoji(c: char) -> bool {
    matches!(c as u32,
        0x1F300..=0x1F5FF | 0x1F600..=0x1F64F | 0x1F680..=0x1F6FF | 0x1F900..=0x1F9FF
        | 0x1FA70..=0x1FAFF | 0x2600..=0x26FF | 0x2700..=0x27BF)
}

/// Lower-cased word-level terms of a text: every token, and every pair of adjacent tokens.
/// Calls `f` with each term.
pub(crate) fn for_each_term(body: &str, mut f: impl FnMut(&str)) {
    let toks: Vec<String> = segments::tokens(body)
        .iter()
        .map(|t: &Token<'_>| t.text.to_lowercase())
        .collect();
    let mut pair = String::new();
    for (i, t) in toks.iter().enumerate() {
        f(t);
        if let Some(next) = toks.get(i + 1) {
            pair.clear();
            pair.push_str(t);
            pair.push(' ');
            pair.push_str(next);
            f(&pair);
        }
    }
}

/// Punctuation that may surround a fact without being part of it: `(link).`, `"Title",`.
const FACT_WRAPPERS: &[char] = &[
    '(', ')', '[', ']', '{', '}', '<', '>', '"', '\'', '“', '”', '‘', '’', '.', ',', ';', ':', '!',
    '?',
];

/// True when a whitespace-delimited chunk of text (without the punctuation around it) states a
/// fact rather than the writer's own wording: a link (`https://…`, `www.…`), an e-mail address,
/// a domain name (`acme-robotics.de`), anything with a digit (figures, prices, times, dates,
/// ids), or an identifier (`America/New_York`, `Europe/Berlin`, `snake_case`).
///
/// Which of these facts a text contains is decided by what it is about, not by who wrote it:
/// every writer quotes the link, slot or price they were given, whatever their style. So the
/// vocabulary and character components of the similarity leave such chunks out (like quoted
/// text), and every profile is scored on the same remaining units. How *often* a writer uses
/// figures is still measured, as the `numbers_per_100w` style feature.
pub(crate) fn is_fact_chunk(core: &str) -> bool {
    if core.is_empty() {
        return false;
    }
    if core.contains("://") || core.starts_with("www.") || core.contains('@') || core.contains('_')
    {
        return true;
    }
    if core.chars().any(|c| c.is_ascii_digit() || c.is_numeric()) {
        return true;
    }
    let chars: Vec<char> = core.chars().collect();
    // `Europe/Berlin`: a path whose parts are capitalised names (not `and/or`).
    let path = chars.windows(2).any(|w| w[0] == '/' && w[1].is_uppercase())
        && chars.first().is_some_and(|c| c.is_alphabetic());
    // `drive.example.com`, `acme.io`: dotted labels, the last of at least two letters (not
    // `e.g` or `U.S`).
    let domain = core.rsplit_once('.').is_some_and(|(head, last)| {
        head.chars().last().is_some_and(char::is_alphanumeric)
            && last.chars().count() >= 2
            && last.chars().all(char::is_alphabetic)
    });
    path || domain
}

/// The terms of [`for_each_term`] that carry the writer's wording: fact chunks
/// ([`is_fact_chunk`]) are left out, with the punctuation around them kept, and no word pair
/// spans a fact that was left out. On text without facts, exactly the terms of
/// [`for_each_term`].
pub(crate) fn for_each_style_term(body: &str, mut f: impl FnMut(&str)) {
    // Lower-cased tokens, `None` where a fact chunk was left out.
    let mut items: Vec<Option<String>> = Vec::new();
    let push = |text: &str, items: &mut Vec<Option<String>>| {
        items.extend(
            segments::tokens(text)
                .iter()
                .map(|t| Some(t.text.to_lowercase())),
        );
    };
    for chunk in body.split_whitespace() {
        let core = chunk.trim_matches(FACT_WRAPPERS);
        if is_fact_chunk(core) {
            let (pre, post) = around(chunk, core);
            push(pre, &mut items);
            items.push(None);
            push(post, &mut items);
        } else {
            push(chunk, &mut items);
        }
    }
    let mut pair = String::new();
    for (i, item) in items.iter().enumerate() {
        let Some(t) = item else { continue };
        f(t);
        if let Some(Some(next)) = items.get(i + 1) {
            pair.clear();
            pair.push_str(t);
            pair.push(' ');
            pair.push_str(next);
            f(&pair);
        }
    }
}

/// The text of `chunk` before and after `core`, a part of it.
fn around<'a>(chunk: &'a str, core: &str) -> (&'a str, &'a str) {
    let start = chunk.find(core).unwrap_or(0);
    let (pre, rest) = chunk.split_at(start);
    (pre, rest.get(core.len()..).unwrap_or(""))
}

/// [`for_each_char_gram`] over the writer's wording only: fact chunks ([`is_fact_chunk`]) are
/// left out, and no 3-gram spans one.
pub(crate) fn for_each_style_char_gram(body: &str, mut f: impl FnMut(&str)) {
    let mut run = String::with_capacity(body.len());
    for chunk in body.split_whitespace() {
        let core = chunk.trim_matches(FACT_WRAPPERS);
        if is_fact_chunk(core) {
            let (pre, post) = around(chunk, core);
            run.push_str(pre);
            for_each_char_gram(&run, &mut f);
            run.clear();
            run.push_str(post);
        } else {
            run.push_str(chunk);
        }
        run.push(' ');
    }
    for_each_char_gram(&run, &mut f);
}

/// Character 3-grams of a text with whitespace runs folded to one space.
pub(crate) fn for_each_char_gram(body: &str, mut f: impl FnMut(&str)) {
    let mut norm = String::with_capacity(body.len());
    let mut last_space = true;
    for c in body.chars() {
        if c.is_whitespace() || c.is_control() {
            if !last_space {
                norm.push(' ');
            }
            last_space = true;
        } else {
            norm.push(c);
            last_space = false;
        }
    }
    let ends: Vec<usize> = norm.char_indices().map(|(i, c)| i + c.len_utf8()).collect();
    let starts: Vec<usize> = norm.char_indices().map(|(i, _)| i).collect();
    for k in 2..ends.len() {
        f(&norm[starts[k - 2]..ends[k]]);
    }
}

/// Adds the terms of a text to a count map.
pub(crate) fn count_terms(body: &str, counts: &mut HashMap<String, u32>) {
    for_each_term(body, |t| bump(counts, t));
}

/// Adds the character 3-grams of a text to a count map.
pub(crate) fn count_char_grams(body: &str, counts: &mut HashMap<String, u32>) {
    for_each_char_gram(body, |g| bump(counts, g));
}

fn bump(counts: &mut HashMap<String, u32>, key: &str) {
    if let Some(c) = counts.get_mut(key) {
        *c = c.saturating_add(1);
    } else {
        counts.insert(key.to_owned(), 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn style(m: &Measured, name: &str) -> f64 {
        m.style[style_index(name).unwrap()]
    }

    #[test]
    fn measures_a_message() {
        let m = measure("Hi Bob,\n\nI'm sure we can't make it! Can you?\n\nThanks,\nAnn").unwrap();
        assert_eq!(m.greeting, "Hi {name},");
        assert_eq!(m.sign_off, "Thanks,\nAnn");
        assert_eq!(m.words, 12);
        assert_eq!(m.paragraphs, 3);
        assert!((style(&m, "contractions_per_100w") - 200.0 / 12.0).abs() < 1e-9);
        assert!(style(&m, "exclamations_per_sentence") > 0.0);
        assert!(style(&m, "questions_per_sentence") > 0.0);
        assert!(measure("  \n ... ").is_none());
    }

    #[test]
    fn fact_chunks_are_links_addresses_figures_and_identifiers() {
        for fact in [
            "https://drive.example.com/file/doc-1",
            "www.acme.io",
            "ann@acme.io",
            "acme-robotics.de",
            "11:00–11:30",
            "27",
            "$1,200",
            "Q3",
            "Europe/Berlin",
            "America/New_York",
            "deal_id",
        ] {
            assert!(is_fact_chunk(fact), "{fact}");
        }
        for word in [
            "and/or", "e.g", "U.S", "Thanks", "Acme", "don't", "re-read", "ok", "",
        ] {
            assert!(!is_fact_chunk(word), "{word}");
        }
    }

    #[test]
    fn style_terms_leave_facts_out() {
        let mut terms = Vec::new();
        for_each_style_term(
            "Thanks Ann, see (https://x.example/a).\n- Fri 27 Nov at 10:00 CET. I'm in.",
            |t| terms.push(t.to_owned()),
        );
        let has = |t: &str| terms.iter().any(|x| x == t);
        assert!(has("see (") && has(")") && has("ann ,") && has("nov at") && has("cet ."));
        assert!(
            !terms
                .iter()
                .any(|t| t.contains("https") || t.contains("27"))
        );
        // No pair spans a fact that was left out.
        assert!(!has("( )") && !has("fri nov") && !has("at cet"));

        let mut grams = Vec::new();
        for_each_style_char_gram("See x.example.com now", |g| grams.push(g.to_owned()));
        assert_eq!(grams, ["See", "ee ", "now", "ow "]);
        // Without facts, the same units as the ones learned.
        let text = "Hi Bob,\n\nthe deal is done. Call me.";
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for_each_term(text, |t| a.push(t.to_owned()));
        for_each_style_term(text, |t| b.push(t.to_owned()));
        assert_eq!(a, b);
    }

    #[test]
    fn counts_terms_and_grams() {
        let mut terms = HashMap::new();
        count_terms("The deal, the deal", &mut terms);
        assert_eq!(terms["the deal"], 2);
        assert_eq!(terms["the"], 2);
        assert_eq!(terms[","], 1);
        let mut grams = HashMap::new();
        count_char_grams("ab  c\nd", &mut grams);
        let mut keys: Vec<_> = grams.keys().cloned().collect();
        keys.sort();
        assert_eq!(
            keys,
            ["ab ", "b c", " c ", "c d"]
                .map(String::from)
                .iter()
                .cloned()
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect::<Vec<_>>()
        );
    }
}
