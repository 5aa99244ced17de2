//! Voice profiles: learning how a sender writes from their sent mail, writing drafts in that
//! voice, and measuring how much a text sounds like them.
//!
//! - [`learn`], [`update`], [`learn_from_mailbox`]: build a [`VoiceProfile`](crate::model::VoiceProfile)
//!   from sent messages (quoted replies, forwarded parts, signatures and disclaimers stripped
//!   first). The profile keeps sufficient statistics, so [`update`] equals re-learning on the
//!   union of messages.
//! - [`style_guide`] for the LLM prompt, [`apply`] for deterministic post-processing
//!   (greeting, sign-off, length).
//! - [`VoiceSimilarity::similarity`]: a [`Score`] in `[0, 1]` with a per-feature breakdown;
//!   [`SimilarityThreshold`] turns low scores into [`DraftFlag::LowVoiceSimilarity`](crate::model::DraftFlag).
//! - [`corpus`]: reading `.txt`/`.eml` samples from disk (for the CLI).
//!
//! Everything here is pure except [`corpus`] (file reading) and [`learn_from_mailbox`] (the
//! [`Mailbox`](crate::ports::Mailbox) port).

mod apply;
pub mod corpus;
mod features;
mod learn;
mod similarity;
pub mod text;

pub use apply::{MIN_LENGTH_LIMIT, MIN_MESSAGES_FOR_LENGTH, apply, style_guide};
pub use learn::{
    MAX_CHAR_GRAMS, MAX_NAME_LEN, MAX_TERMS, VOCABULARY_SIZE, learn, learn_from_mailbox, update,
};
pub use similarity::{
    BACKGROUND_CHAR_GRAMS, BACKGROUND_VOCABULARY, FeatureScore, PRIOR_WEIGHT, Score,
    SimilarityThreshold, SimilarityWeights, VoiceSimilarity, similarity, similarity_with,
};

#[cfg(test)]
mod tests;
