//! A scripted language model.

use super::lock;
use crate::ports::{Llm, LlmRequest, LlmResponse, TokenUsage};
use crate::{Error, Result};
use async_trait::async_trait;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

/// A function that answers a request (used when no scripted answer is queued).
pub type LlmResponder = Arc<dyn Fn(&LlmRequest) -> Result<String> + Send + Sync>;

#[derive(Default)]
struct LlmState {
    script: VecDeque<Result<String>>,
    responder: Option<LlmResponder>,
    requests: Vec<LlmRequest>,
}

/// A [`Llm`] that answers from a script, then from a responder closure, and records every request.
///
/// Answers are taken in order: first the queued ones ([`FakeLlm::push_answer`],
/// [`FakeLlm::push_error`]), then the responder; with neither, the call fails with
/// `Unavailable` (which is what a pipeline meets when the real model is down). Token usage is
/// estimated as one token per four bytes.
pub struct FakeLlm {
    state: Mutex<LlmState>,
    model: String,
}

impl std::fmt::Debug for FakeLlm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = lock(&self.state);
        f.debug_struct("FakeLlm")
            .field("model", &self.model)
            .field("scripted", &s.script.len())
            .field("responder", &s.responder.is_some())
            .field("requests", &s.requests.len())
            .finish_non_exhaustive()
    }
}

impl Default for FakeLlm {
    fn default() -> Self {
        Self::new()
    }
}

impl FakeLlm {
    /// A model named `fake-llm` with nothing scripted.
    #[must_use]
    pub fn new() -> Self {
        Self {
            state: Mutex::default(),
            model: "fake-llm".to_owned(),
        }
    }

    /// A model that answers every request with `responder`.
    pub fn with_responder(
        responder: impl Fn(&LlmRequest) -> Result<String> + Send + Sync + 'static,
    ) -> Self {
        let llm = Self::new();
        llm.set_responder(responder);
        llm
    }

    /// Reports `model` as the answering model.
    #[must_use]
    pub fn with_model(mut self, model: impl Into<String>) -> Self {
        self.model = model.into();
        self
    }

    /// Queues an answer.
    pub fn push_answer(&self, content: impl Into<String>) {
        lock(&self.state).script.push_back(Ok(content.into()));
    }

    /// Queues a failure.
    pub fn push_error(&self, error: Error) {
        lock(&self.state).script.push_back(Err(error));
    }

    /// Sets the responder used once the script is empty.
    pub fn set_responder(
        &self,
        responder: impl Fn(&LlmRequest) -> Result<String> + Send + Sync + 'static,
    ) {
        lock(&self.state).responder = Some(Arc::new(responder));
    }

    /// Every request received (including failed ones), in order.
    #[must_use]
    pub fn requests(&self) -> Vec<LlmRequest> {
        lock(&self.state).requests.clone()
    }

    /// The last request received.
    #[must_use]
    pub fn last_request(&self) -> Option<LlmRequest> {
        lock(&self.state).requests.last().cloned()
    }

    /// Number of requests received.
    #[must_use]
    pub fn request_count(&self) -> usize {
        lock(&self.state).requests.len()
    }
}

fn estimate_tokens(bytes: usize) -> u32 {
    u32::try_from(bytes.div_ceil(4)).unwrap_or(u32::MAX)
}

#[async_trait]
impl Llm for FakeLlm {
    async fn complete(&self, request: &LlmRequest) -> Result<LlmResponse> {
        lock(&self.state).requests.push(request.clone());
        if request.messages.is_empty() {
            return Err(Error::invalid("messages", "is empty"));
        }
        let (scripted, responder) = {
            let mut s = lock(&self.state);
            (s.script.pop_front(), s.responder.clone())
        };
        let content = match (scripted, responder) {
            (Some(answer), _) => answer?,
            (None, Some(r)) => r(request)?,
            (None, None) => {
                return Err(Error::unavailable(
                    "FakeLlm has no scripted answer and no responder",
                ));
            }
        };
        let prompt_bytes = request.messages.iter().map(|m| m.content.len()).sum();
        Ok(LlmResponse {
            usage: TokenUsage {
                prompt: estimate_tokens(prompt_bytes),
                completion: estimate_tokens(content.len()),
            },
            content,
            model: self.model.clone(),
        })
    }
}
