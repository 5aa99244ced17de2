//! Voice profiles: a sender's writing habits, learned from their sent mail.

use super::{EmailAddress, VoiceProfileId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A learned writing style. Feature fields are filled by the `voice` module; stores keep the whole
/// profile as one JSON document, so adding a feature needs no migration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VoiceProfile {
    /// Our id (stable across versions).
    pub id: VoiceProfileId,
    /// The mailbox owner this profile belongs to.
    pub owner: EmailAddress,
    /// Profile name (a user may keep several, e.g. per audience).
    pub name: String,
    /// Version, assigned by the store on save (1, 2, …).
    pub version: u32,
    /// Messages learned from.
    pub message_count: u32,
    /// When last updated.
    pub updated_at: DateTime<Utc>,
    /// The learned features.
    pub style: VoiceStyle,
}

/// The features of a voice profile.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct VoiceStyle {
    /// Greeting forms and their relative frequency (`"Hi {name},"` → 0.6).
    pub greetings: BTreeMap<String, f64>,
    /// Sign-off forms and their relative frequency.
    pub sign_offs: BTreeMap<String, f64>,
    /// Mean sentence length in words.
    pub sentence_len_mean: f64,
    /// Standard deviation of sentence length.
    pub sentence_len_std: f64,
    /// Mean paragraph length in sentences.
    pub paragraph_len_mean: f64,
    /// Mean message length in words.
    pub message_len_mean: f64,
    /// Contractions per 100 words.
    pub contraction_rate: f64,
    /// Exclamation marks per sentence.
    pub exclamation_rate: f64,
    /// Formality 0 (casual) ..= 1 (formal).
    pub formality: f64,
    /// Distinctive words and phrases with weights.
    pub vocabulary: BTreeMap<String, f64>,
    /// Further numeric features by name (learners may add their own).
    pub features: BTreeMap<String, f64>,
    /// The raw counts the features were derived from, kept so a profile can be updated with new
    /// messages without re-reading the old ones.
    pub stats: VoiceStats,
    /// A few short sentences of the owner's own mail that carry tone and no content (no names,
    /// figures or links), shown to the drafting model as examples of how they write.
    pub exemplars: Vec<String>,
}

/// Sufficient statistics of a voice profile: sums and counts over every message learned from.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct VoiceStats {
    /// Sums of numeric observations by name (per-message values and their squares).
    pub sums: BTreeMap<String, f64>,
    /// How often each greeting form was used.
    pub greeting_counts: BTreeMap<String, u32>,
    /// How often each sign-off form was used.
    pub sign_off_counts: BTreeMap<String, u32>,
    /// Counts of lower-cased words and word pairs (`"deal"`, `"the deal"`).
    pub terms: BTreeMap<String, u32>,
    /// Total word and word-pair occurrences, including any pruned from `terms`.
    pub term_total: u64,
    /// Counts of character 3-grams.
    pub char_grams: BTreeMap<String, u32>,
    /// Total character 3-gram occurrences, including any pruned from `char_grams`.
    pub char_gram_total: u64,
}
