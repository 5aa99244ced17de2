//! OpenAI (or any OpenAI-compatible server): the [`Llm`](salesagent_core::ports::Llm),
//! [`SpeechToText`](salesagent_core::ports::SpeechToText) and
//! [`TextToSpeech`](salesagent_core::ports::TextToSpeech) ports through `async-openai`.
//!
//! `async-openai` already retries 429/5xx with backoff, so this connector adds no retry loop of
//! its own: only the shared circuit breaker, metrics, token accounting and a daily token budget
//! (after which calls fail with `Unavailable` and callers use the template writer).
//!
//! Structured output negotiates with the server ([`structured`]): `json_schema` first, then
//! `json_object` with the schema (llama-cpp-python's server), then JSON instructions in the
//! prompt; the mode that works is remembered per endpoint ([`OpenAi::structured_output`]).
//! [`local_server`] starts a real local OpenAI-compatible server (llama-cpp-python with a
//! small GGUF model) for tests, benches and development.

mod budget;
mod builder;
mod client;
pub mod error;
pub mod local_server;
pub mod model;
pub mod structured;

pub use budget::{BUDGET_EXHAUSTED, TokenBudget, is_budget_exhausted};
pub use builder::OpenAiBuilder;
pub use structured::{Negotiated, StructuredMode, StructuredModes};

use crate::http::CircuitBreaker;
use async_openai::config::OpenAIConfig;
use salesagent_core::ports::DynClock;
use std::sync::Arc;

/// Default API base.
pub const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";

/// Model names used by the connector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Models {
    /// Chat model (`OPENAI_MODEL`).
    pub chat: String,
    /// Transcription model (`OPENAI_TRANSCRIBE_MODEL`).
    pub transcribe: String,
    /// Speech model (`OPENAI_TTS_MODEL`).
    pub speech: String,
    /// Voice (`OPENAI_TTS_VOICE`).
    pub voice: String,
}

impl Default for Models {
    fn default() -> Self {
        Self {
            chat: "gpt-4o-mini".into(),
            transcribe: "gpt-4o-mini-transcribe".into(),
            speech: "gpt-4o-mini-tts".into(),
            voice: "alloy".into(),
        }
    }
}

/// An OpenAI-compatible endpoint. `Debug` never shows the API key.
#[derive(Clone)]
pub struct OpenAi {
    client: async_openai::Client<OpenAIConfig>,
    base_url: String,
    models: Models,
    breaker: Arc<CircuitBreaker>,
    budget: Arc<TokenBudget>,
    clock: DynClock,
    modes: Arc<StructuredModes>,
}

impl std::fmt::Debug for OpenAi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAi")
            .field("base_url", &self.base_url)
            .field("models", &self.models)
            .field("breaker", &self.breaker.state())
            .field("structured_output", &self.structured_output())
            .finish_non_exhaustive()
    }
}

impl OpenAi {
    /// A builder (see [`OpenAiBuilder::from_env`]).
    #[must_use]
    pub fn builder() -> OpenAiBuilder {
        OpenAiBuilder::default()
    }

    /// The models in use.
    #[must_use]
    pub fn models(&self) -> &Models {
        &self.models
    }

    /// Tokens used today (UTC, by the connector's clock).
    #[must_use]
    pub fn tokens_used_today(&self) -> u64 {
        self.budget.used(self.clock.now().date_naive())
    }

    /// The circuit breaker of this endpoint.
    #[must_use]
    pub fn breaker(&self) -> &CircuitBreaker {
        &self.breaker
    }
}
