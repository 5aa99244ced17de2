//! Building an [`OpenAi`] from the environment or by hand.

use super::{DEFAULT_BASE_URL, Models, OpenAi, StructuredMode, StructuredModes, TokenBudget};
use crate::http::{BreakerConfig, CircuitBreaker, HttpConfig, build_client};
use async_openai::config::OpenAIConfig;
use salesagent_core::ports::{DynClock, SystemClock};
use salesagent_core::{Error, Result};
use secrecy::{ExposeSecret, SecretString};
use std::sync::Arc;
use std::time::Duration;

/// Builder of [`OpenAi`]. Environment: `OPENAI_API_KEY`, `OPENAI_BASE_URL` (any
/// OpenAI-compatible server, e.g. a local model server), `OPENAI_MODEL`,
/// `OPENAI_TRANSCRIBE_MODEL`, `OPENAI_TTS_MODEL`, `OPENAI_TTS_VOICE`,
/// `OPENAI_DAILY_TOKEN_BUDGET`, `OPENAI_STRUCTURED_OUTPUT` (`json_schema`, `json_object` or
/// `prompt`: the structured-output mode to start from; negotiation only steps down from it).
#[derive(Debug, Clone)]
pub struct OpenAiBuilder {
    api_key: Option<SecretString>,
    base_url: Option<String>,
    models: Models,
    daily_token_budget: Option<u64>,
    timeout: Duration,
    breaker: BreakerConfig,
    clock: DynClock,
    structured_mode: Option<StructuredMode>,
    structured_modes: Option<Arc<StructuredModes>>,
}

impl Default for OpenAiBuilder {
    fn default() -> Self {
        Self {
            api_key: None,
            base_url: None,
            models: Models::default(),
            daily_token_budget: None,
            timeout: Duration::from_secs(60),
            breaker: BreakerConfig::default(),
            clock: Arc::new(SystemClock),
            structured_mode: None,
            structured_modes: None,
        }
    }
}

impl OpenAiBuilder {
    /// Reads the `OPENAI_*` variables listed on the type.
    #[must_use]
    pub fn from_env() -> Self {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Like [`OpenAiBuilder::from_env`] with a custom variable lookup.
    #[must_use]
    pub fn from_lookup(var: impl Fn(&str) -> Option<String>) -> Self {
        let get = |k: &str| var(k).filter(|v| !v.trim().is_empty());
        let mut b = Self {
            api_key: get("OPENAI_API_KEY").map(SecretString::from),
            base_url: get("OPENAI_BASE_URL"),
            daily_token_budget: get("OPENAI_DAILY_TOKEN_BUDGET")
                .and_then(|v| v.trim().parse().ok()),
            structured_mode: get("OPENAI_STRUCTURED_OUTPUT")
                .and_then(|v| StructuredMode::parse(&v)),
            ..Self::default()
        };
        if let Some(m) = get("OPENAI_MODEL") {
            b.models.chat = m;
        }
        if let Some(m) = get("OPENAI_TRANSCRIBE_MODEL") {
            b.models.transcribe = m;
        }
        if let Some(m) = get("OPENAI_TTS_MODEL") {
            b.models.speech = m;
        }
        if let Some(m) = get("OPENAI_TTS_VOICE") {
            b.models.voice = m;
        }
        b
    }

    /// True when an API key or a base URL is set (a local server may need no key).
    #[must_use]
    pub fn is_configured(&self) -> bool {
        self.api_key.is_some() || self.base_url.is_some()
    }

    /// Sets the API key.
    #[must_use]
    pub fn with_api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = Some(SecretString::from(key.into()));
        self
    }

    /// Points at another OpenAI-compatible base URL (ending in `/v1` for most servers).
    #[must_use]
    pub fn with_base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = Some(url.into());
        self
    }

    /// Sets the model names.
    #[must_use]
    pub fn with_models(mut self, models: Models) -> Self {
        self.models = models;
        self
    }

    /// Sets the daily token budget.
    #[must_use]
    pub fn with_daily_token_budget(mut self, tokens: u64) -> Self {
        self.daily_token_budget = Some(tokens);
        self
    }

    /// Sets the per-request timeout.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets the circuit breaker.
    #[must_use]
    pub fn with_breaker(mut self, breaker: BreakerConfig) -> Self {
        self.breaker = breaker;
        self
    }

    /// Uses `clock` for the budget's day.
    #[must_use]
    pub fn with_clock(mut self, clock: DynClock) -> Self {
        self.clock = clock;
        self
    }

    /// Starts structured output at `mode` instead of `json_schema` (negotiation still steps
    /// down from there when the server rejects it).
    #[must_use]
    pub fn with_structured_mode(mut self, mode: StructuredMode) -> Self {
        self.structured_mode = Some(mode);
        self
    }

    /// Remembers negotiated modes in `modes` instead of the process-wide
    /// [`StructuredModes::global`] (for tests that need a fresh negotiation).
    #[must_use]
    pub fn with_structured_modes(mut self, modes: Arc<StructuredModes>) -> Self {
        self.structured_modes = Some(modes);
        self
    }

    /// Builds the connector. Without a base URL an API key is required (`InvalidInput`).
    pub fn build(self) -> Result<OpenAi> {
        if self.api_key.is_none() && self.base_url.is_none() {
            return Err(Error::invalid("OPENAI_API_KEY", "is not set"));
        }
        let base_url = self
            .base_url
            .unwrap_or_else(|| DEFAULT_BASE_URL.to_owned())
            .trim_end_matches('/')
            .to_owned();
        crate::http::parse_base(&base_url)?;
        // An explicit key (possibly empty for local servers): never fall back to the env.
        let key = self
            .api_key
            .as_ref()
            .map(|k| k.expose_secret().to_owned())
            .unwrap_or_default();
        let config = OpenAIConfig::new()
            .with_api_base(base_url.clone())
            .with_api_key(key);
        let http = build_client(&HttpConfig {
            request_timeout: Some(self.timeout),
            ..HttpConfig::default()
        })?;
        let modes = self
            .structured_modes
            .unwrap_or_else(StructuredModes::global);
        if let Some(mode) = self.structured_mode {
            // A configured start only lowers what is known of the endpoint.
            modes.step_down(&base_url, &self.models.chat, mode, mode);
        }
        Ok(OpenAi {
            client: async_openai::Client::build(http, config),
            base_url,
            models: self.models,
            breaker: Arc::new(CircuitBreaker::new("openai", self.breaker)),
            budget: Arc::new(TokenBudget::new(self.daily_token_budget)),
            clock: self.clock,
            modes,
        })
    }
}
