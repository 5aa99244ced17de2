//! Chat-completion wire types, as in `contracts/openai/openapi.chat-audio.trimmed.yaml`
//! (`CreateChatCompletionRequest`, `CreateChatCompletionResponse`).

use serde::{Deserialize, Serialize};

/// One message of `messages` (plain string content).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// `system`, `user` or `assistant`.
    pub role: String,
    /// Text.
    pub content: String,
}

/// `json_schema` of `ResponseFormatJsonSchema`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JsonSchemaFormat {
    /// Name (a-z, A-Z, 0-9, `_`, `-`, at most 64).
    pub name: String,
    /// The JSON Schema.
    pub schema: serde_json::Value,
    /// Strict adherence.
    pub strict: bool,
}

/// `response_format`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ResponseFormat {
    /// Structured output (`ResponseFormatJsonSchema`).
    JsonSchema {
        /// The schema.
        json_schema: JsonSchemaFormat,
    },
    /// JSON mode (`ResponseFormatJsonObject`). OpenAI's shape has only `type`; llama-cpp-python's
    /// server (and others following it) also take a `schema` there and constrain the output
    /// to it with a grammar.
    JsonObject {
        /// The schema, for servers that accept one beside `json_object`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        schema: Option<serde_json::Value>,
    },
}

/// `CreateChatCompletionRequest` (the fields we use).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatRequest {
    /// Model id.
    pub model: String,
    /// Conversation.
    pub messages: Vec<ChatMessage>,
    /// Structured output.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_format: Option<ResponseFormat>,
    /// Output token cap.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_completion_tokens: Option<u32>,
    /// Output token cap under its older (deprecated in OpenAI's spec) name, which is the one
    /// OpenAI-compatible servers read: sent instead of `max_completion_tokens` once an
    /// endpoint has shown it is not OpenAI's own API (it rejected `json_schema`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    /// Sampling temperature.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
    /// Penalty on tokens by how often they occurred (-2..=2): keeps small models from looping.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frequency_penalty: Option<f32>,
    /// Penalty on tokens that occurred at all (-2..=2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presence_penalty: Option<f32>,
    /// Always false (no streaming).
    pub stream: bool,
}

/// `ChatCompletionResponseMessage`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ResponseMessage {
    /// Text.
    #[serde(default)]
    pub content: Option<String>,
    /// Refusal text, if the model refused.
    #[serde(default)]
    pub refusal: Option<String>,
}

/// One choice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Choice {
    /// The message.
    pub message: ResponseMessage,
    /// `stop`, `length`, `content_filter`, ...
    #[serde(default)]
    pub finish_reason: Option<String>,
}

/// `CompletionUsage`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Usage {
    /// Prompt tokens.
    #[serde(default)]
    pub prompt_tokens: u32,
    /// Completion tokens.
    #[serde(default)]
    pub completion_tokens: u32,
    /// Total.
    #[serde(default)]
    pub total_tokens: u32,
}

/// `CreateChatCompletionResponse`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatResponse {
    /// Id.
    pub id: String,
    /// Model that answered.
    pub model: String,
    /// Choices.
    pub choices: Vec<Choice>,
    /// Usage (some compatible servers omit it).
    #[serde(default)]
    pub usage: Option<Usage>,
}
