//! The language-model port.

use crate::Result;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Who says a chat message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Instructions.
    System,
    /// Data and requests.
    User,
    /// Earlier model output.
    Assistant,
}

/// One chat message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// Role.
    pub role: Role,
    /// Text.
    pub content: String,
}

impl ChatMessage {
    /// A system message.
    pub fn system(content: impl Into<String>) -> Self {
        Self {
            role: Role::System,
            content: content.into(),
        }
    }
    /// A user message.
    pub fn user(content: impl Into<String>) -> Self {
        Self {
            role: Role::User,
            content: content.into(),
        }
    }
    /// An assistant message.
    pub fn assistant(content: impl Into<String>) -> Self {
        Self {
            role: Role::Assistant,
            content: content.into(),
        }
    }
}

/// A JSON schema the answer must follow (structured output).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JsonSchema {
    /// Schema name (`draft`, `command`).
    pub name: String,
    /// The JSON Schema document.
    pub schema: serde_json::Value,
}

/// A completion request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LlmRequest {
    /// What the request is for (`draft`, `company_context`, `command`), for metrics and budgets.
    pub purpose: String,
    /// The conversation.
    pub messages: Vec<ChatMessage>,
    /// Structured output schema, if any.
    pub schema: Option<JsonSchema>,
    /// Output token cap.
    pub max_tokens: Option<u32>,
    /// Sampling temperature.
    pub temperature: Option<f32>,
}

/// Tokens used by a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TokenUsage {
    /// Prompt tokens.
    pub prompt: u32,
    /// Completion tokens.
    pub completion: u32,
}

/// A completion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LlmResponse {
    /// The text (JSON text when a schema was given).
    pub content: String,
    /// The model that answered.
    pub model: String,
    /// Token usage.
    pub usage: TokenUsage,
}

/// A chat-completion model.
#[async_trait]
pub trait Llm: Send + Sync + std::fmt::Debug + 'static {
    /// Completes the conversation.
    async fn complete(&self, request: &LlmRequest) -> Result<LlmResponse>;
}

/// A shared model.
pub type DynLlm = Arc<dyn Llm>;
