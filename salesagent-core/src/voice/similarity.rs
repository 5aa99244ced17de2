//! How much a text sounds like a profile.
//!
//! Each component yields *evidence*: a log-likelihood ratio per unit (per term, per feature) of
//! "this sender wrote it" against a background. The overall score is the logistic of the
//! weighted sum of evidence, so 0.5 means "no more like this sender than like anyone", and
//! ranking several profiles by score is ranking them by (weighted) likelihood.
//!
//! - `vocabulary`: words and adjacent word pairs under the sender's Dirichlet-smoothed unigram
//!   model, against a uniform background over [`BACKGROUND_VOCABULARY`] terms.
//! - `characters`: character 3-grams, the same way (spelling, punctuation and spacing habits).
//! - style features: Gaussian log-likelihood of each per-message measurement
//!   (sentence length, contractions, pronouns, …) under the sender's mean and spread.
//! - `greeting` / `sign_off`: how usual the text's greeting and sign-off are for the sender.
//!
//! ## Style, not content
//!
//! The vocabulary and character components score the writer's *wording* only: links, e-mail
//! addresses, domain names, anything with a digit (figures, prices, times, dates) and
//! identifiers such as time-zone names (`Europe/Berlin`) are left out, like quoted text, and
//! no word pair or 3-gram spans one (`features::is_fact_chunk`). Which facts a text quotes is
//! decided by what it is about, not by who wrote it, and under Dirichlet smoothing a term the
//! sender never wrote costs ln(μ / (N + μ)) under a profile of N terms: a link or a slot time
//! would count *against* the senders whose mail we know best (about 2.8 nats per unseen term
//! for a 117k-term profile against a 7k-term one), ranking profiles by their size rather
//! than by style. The rule looks at the text alone, so every profile is scored on the same
//! units and the comparison stays a likelihood ratio. On real mail (the 621 held-out messages
//! of the 12 developer senders) it changes attribution very little: 92.8% of messages score
//! highest against their own sender's profile after the change (`voice_eval` reported top-1
//! 0.929 before). On template drafts, where much of the text is slot times and links, it
//! removes that part of the size bias. How often a writer uses figures still counts, as the `numbers_per_100w` style
//! feature. Names (`Acme Robotics`) are not left out: a profile-independent test for them
//! would also drop the colleagues and places a writer really does mention, and scoring an
//! unseen name as neutral only for the profiles that never saw it made drafts *less*
//! attributable on the evaluation set (fewer senders passing, scores pushed towards 1).

use super::features::{self, STYLE_FEATURES};
use super::learn::mean_std;
use super::segments::{self, NONE_FORM};
use crate::model::{DraftFlag, VoiceProfile};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Size of the uniform background vocabulary of words and word pairs.
pub const BACKGROUND_VOCABULARY: f64 = 100_000.0;
/// Size of the uniform background of character 3-grams.
pub const BACKGROUND_CHAR_GRAMS: f64 = 10_000.0;
/// Dirichlet prior weight (in pseudo-occurrences) of the background in each sender model.
pub const PRIOR_WEIGHT: f64 = 100.0;

/// How much each component counts in the overall score.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SimilarityWeights {
    /// Words and word pairs.
    pub vocabulary: f64,
    /// Character 3-grams.
    pub characters: f64,
    /// The numeric style features together (their mean log-likelihood).
    pub style: f64,
    /// Greeting form.
    pub greeting: f64,
    /// Sign-off form.
    pub sign_off: f64,
}

impl Default for SimilarityWeights {
    fn default() -> Self {
        Self {
            vocabulary: 1.0,
            characters: 0.5,
            style: 0.1,
            greeting: 0.1,
            sign_off: 0.1,
        }
    }
}

/// One component of a [`Score`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureScore {
    /// Component name (`vocabulary`, `greeting`, `words_per_sentence`, …).
    pub name: String,
    /// How typical the text is for the sender on this component, in `[0, 1]`.
    pub score: f64,
}

/// A similarity score with its breakdown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Score {
    /// Overall similarity in `[0, 1]`; 0 when there is nothing to compare (no words, or an
    /// empty profile).
    pub value: f64,
    /// Per-component scores, each in `[0, 1]`.
    pub features: Vec<FeatureScore>,
}

impl Score {
    /// The score of one component, by name.
    #[must_use]
    pub fn feature(&self, name: &str) -> Option<f64> {
        self.features
            .iter()
            .find(|f| f.name == name)
            .map(|f| f.score)
    }

    /// The overall value in thousandths, as [`DraftFlag::LowVoiceSimilarity`] carries it.
    #[must_use]
    pub fn milli(&self) -> u16 {
        (self.value.clamp(0.0, 1.0) * 1000.0).round() as u16
    }
}

/// When a draft's voice is too far from its profile to pass without a look.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SimilarityThreshold {
    /// Drafts scoring below this are flagged.
    pub min_score: f64,
}

impl Default for SimilarityThreshold {
    /// 0.6: on the developer evaluation set (real sent mail, `examples/voice_eval.rs`) about 5% of
    /// a sender's own held-out messages score below it, and half of other people's messages.
    /// Re-checked when facts were left out of the vocabulary (2026-12-02): 4% of own held-out
    /// messages and 51% of other people's score below 0.6; of the template writer's drafts in
    /// `cargo bench --bench drafting` (72, 12 senders), none against their own sender's profile
    /// and about a third against other senders' profiles.
    fn default() -> Self {
        Self { min_score: 0.6 }
    }
}

impl SimilarityThreshold {
    /// The flag for a draft with this score, if it falls below the threshold.
    #[must_use]
    pub fn flag(&self, score: &Score) -> Option<DraftFlag> {
        (score.value < self.min_score).then(|| DraftFlag::LowVoiceSimilarity {
            score_milli: score.milli(),
        })
    }
}

/// Similarity of texts to a voice profile.
pub trait VoiceSimilarity {
    /// How much `text` sounds like this profile, with default weights.
    fn similarity(&self, text: &str) -> Score;
}

impl VoiceSimilarity for VoiceProfile {
    fn similarity(&self, text: &str) -> Score {
        similarity_with(self, text, &SimilarityWeights::default())
    }
}

/// How much `text` sounds like `profile`, with default weights.
#[must_use]
pub fn similarity(profile: &VoiceProfile, text: &str) -> Score {
    similarity_with(profile, text, &SimilarityWeights::default())
}

fn sigmoid(x: f64) -> f64 {
    if x.is_nan() {
        return 0.0;
    }
    1.0 / (1.0 + (-x).exp())
}

fn unit(x: f64) -> f64 {
    if x.is_finite() {
        x.clamp(0.0, 1.0)
    } else {
        0.0
    }
}

/// True when `profile` was learned from mail. A hand-written style has no statistics to score a
/// text against: its similarity is always 0.
#[must_use]
pub fn is_learned(profile: &VoiceProfile) -> bool {
    let stats = &profile.style.stats;
    stats.sums.get("messages").is_some_and(|&n| n > 0.0) && stats.term_total > 0
}

/// How much `text` sounds like `profile`, with explicit component weights.
#[must_use]
pub fn similarity_with(profile: &VoiceProfile, text: &str, weights: &SimilarityWeights) -> Score {
    let stats = &profile.style.stats;
    let messages = stats.sums.get("messages").copied().unwrap_or(0.0);
    let body = segments::strip_non_authored(text);
    let Some(measured) = features::measure(&body) else {
        return Score {
            value: 0.0,
            features: Vec::new(),
        };
    };
    if !is_learned(profile) {
        return Score {
            value: 0.0,
            features: Vec::new(),
        };
    }
    let mut out = Vec::with_capacity(STYLE_FEATURES.len() + 6);
    let mut evidence = 0.0;

    let vocab = mean_log_ratio(
        &stats.terms,
        stats.term_total,
        1.0 / BACKGROUND_VOCABULARY,
        |f| features::for_each_style_term(&body, f),
    );
    evidence += weights.vocabulary * vocab;
    out.push(("vocabulary", sigmoid(vocab)));

    if stats.char_gram_total > 0 {
        let chars = mean_log_ratio(
            &stats.char_grams,
            stats.char_gram_total,
            1.0 / BACKGROUND_CHAR_GRAMS,
            |f| features::for_each_style_char_gram(&body, f),
        );
        evidence += weights.characters * chars;
        out.push(("characters", sigmoid(chars)));
    }

    let mut style_ll = 0.0;
    let s = |k: &str| stats.sums.get(k).copied().unwrap_or(0.0);
    for (f, &x) in STYLE_FEATURES.iter().zip(&measured.style) {
        let (mean, std) = mean_std(messages, s(f.name), s(&format!("{}_sq", f.name)));
        let spread = std.hypot(f.min_std);
        let z = (x - mean) / spread;
        let ll = -0.5 * z * z;
        style_ll += ll;
        out.push((f.name, ll.exp()));
    }
    style_ll /= STYLE_FEATURES.len() as f64;
    evidence += weights.style * style_ll;
    out.push(("style", style_ll.exp()));

    let greeting = form_likelihood(&stats.greeting_counts, &measured.greeting);
    evidence += weights.greeting * greeting.ln();
    out.push(("greeting", greeting));
    let sign_off = form_likelihood(&stats.sign_off_counts, &measured.sign_off);
    evidence += weights.sign_off * sign_off.ln();
    out.push(("sign_off", sign_off));

    Score {
        value: unit(sigmoid(evidence)),
        features: out
            .into_iter()
            .map(|(name, score)| FeatureScore {
                name: name.to_owned(),
                score: unit(score),
            })
            .collect(),
    }
}

/// Mean over the text's units of ln(P_sender(u) / P_background(u)), with the sender model
/// Dirichlet-smoothed towards a uniform background of probability `floor`.
fn mean_log_ratio(
    counts: &BTreeMap<String, u32>,
    total: u64,
    floor: f64,
    each: impl FnOnce(&mut dyn FnMut(&str)),
) -> f64 {
    let denom = total as f64 + PRIOR_WEIGHT;
    let prior = PRIOR_WEIGHT * floor;
    let mut sum = 0.0;
    let mut n = 0u64;
    each(&mut |unit: &str| {
        let c = counts.get(unit).copied().map_or(0.0, f64::from);
        sum += ((c + prior) / denom / floor).ln();
        n += 1;
    });
    if n == 0 { 0.0 } else { sum / n as f64 }
}

/// How usual a greeting or sign-off form is for the sender: its count relative to the most
/// frequent form (add-½ smoothed), in `(0, 1]`.
fn form_likelihood(counts: &BTreeMap<String, u32>, form: &str) -> f64 {
    let max = counts.values().copied().max().unwrap_or(0);
    let c = counts.get(form).copied().unwrap_or(0);
    // An unseen "(none)" is less surprising than an unseen specific form: a draft may simply
    // have had its greeting left to post-processing.
    let c = if c == 0 && form == NONE_FORM {
        0.5
    } else {
        f64::from(c)
    };
    (c + 0.5) / (f64::from(max) + 0.5)
}
