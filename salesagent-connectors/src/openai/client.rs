//! Chat completions and audio through async-openai (which does the retrying).

use super::OpenAi;
use super::error::map_error;
use super::model::{ChatMessage, ChatRequest, ChatResponse, JsonSchemaFormat, ResponseFormat};
use crate::http::metrics;
use async_openai::types::audio::{
    AudioInput, CreateSpeechRequest, CreateTranscriptionRequest, SpeechModel, SpeechResponseFormat,
    Voice,
};
use async_trait::async_trait;
use salesagent_core::ports::{
    Audio, AudioFormat, Llm, LlmRequest, LlmResponse, Role, SpeechToText, TextToSpeech, TokenUsage,
};
use salesagent_core::{Error, Result};
use std::future::Future;
use tracing::Instrument;

fn role(r: Role) -> &'static str {
    match r {
        Role::System => "system",
        Role::User => "user",
        Role::Assistant => "assistant",
    }
}

/// Schema names must be `[a-zA-Z0-9_-]{1,64}`.
fn schema_name(name: &str) -> String {
    let mut s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(64)
        .collect();
    if s.is_empty() {
        s.push_str("output");
    }
    s
}

impl OpenAi {
    /// Runs one call under the breaker, with a span and latency metric. No retries here:
    /// async-openai has already retried transient failures.
    async fn guarded<T, F>(&self, op: &'static str, call: F) -> Result<T>
    where
        F: Future<Output = std::result::Result<T, async_openai::error::OpenAIError>>,
    {
        let permit = self.breaker.acquire()?;
        let span = tracing::info_span!("openai_request", op, status = tracing::field::Empty);
        let started = tokio::time::Instant::now();
        let result = call.instrument(span.clone()).await;
        ::metrics::histogram!(metrics::LATENCY, "service" => "openai", "op" => op)
            .record(started.elapsed().as_secs_f64());
        match result {
            Ok(v) => {
                self.breaker.record(permit, true);
                ::metrics::counter!(metrics::REQUESTS, "service" => "openai", "op" => op, "status" => "ok").increment(1);
                Ok(v)
            }
            Err(e) => {
                let err = map_error(&e);
                let outage = matches!(err, Error::Unavailable { .. } | Error::Timeout { .. });
                self.breaker.record(permit, !outage);
                ::metrics::counter!(metrics::REQUESTS, "service" => "openai", "op" => op, "status" => "error").increment(1);
                ::metrics::counter!(metrics::ERRORS, "service" => "openai", "kind" => err.kind())
                    .increment(1);
                span.in_scope(|| tracing::warn!(kind = err.kind(), "openai call failed"));
                Err(err)
            }
        }
    }

    /// The wire request for `req`.
    #[must_use]
    pub fn chat_request(&self, req: &LlmRequest) -> ChatRequest {
        ChatRequest {
            model: self.models.chat.clone(),
            messages: req
                .messages
                .iter()
                .map(|m| ChatMessage {
                    role: role(m.role).to_owned(),
                    content: m.content.clone(),
                })
                .collect(),
            response_format: req.schema.as_ref().map(|s| ResponseFormat::JsonSchema {
                json_schema: JsonSchemaFormat {
                    name: schema_name(&s.name),
                    schema: s.schema.clone(),
                    strict: true,
                },
            }),
            max_completion_tokens: req.max_tokens,
            temperature: req.temperature,
            stream: false,
        }
    }

    /// A harmless authenticated call: one tiny chat completion.
    pub async fn check(&self) -> Result<()> {
        let req = LlmRequest {
            purpose: "doctor".into(),
            messages: vec![salesagent_core::ports::ChatMessage::user("Reply with: ok")],
            schema: None,
            max_tokens: Some(5),
            temperature: None,
        };
        self.complete(&req).await.map(|_| ())
    }
}

#[async_trait]
impl Llm for OpenAi {
    async fn complete(&self, request: &LlmRequest) -> Result<LlmResponse> {
        if request.messages.is_empty() {
            return Err(Error::invalid("messages", "must not be empty"));
        }
        let today = self.clock.now().date_naive();
        self.budget.check(today)?;
        let body = self.chat_request(request);
        let resp: ChatResponse = self
            .guarded("chat", self.client.chat().create_byot(&body))
            .await?;
        let usage = resp.usage.unwrap_or_default();
        let total = u64::from(usage.prompt_tokens) + u64::from(usage.completion_tokens);
        self.budget.record(today, total);
        ::metrics::counter!(metrics::LLM_TOKENS, "model" => resp.model.clone(), "kind" => "prompt", "purpose" => request.purpose.clone())
            .increment(u64::from(usage.prompt_tokens));
        ::metrics::counter!(metrics::LLM_TOKENS, "model" => resp.model.clone(), "kind" => "completion", "purpose" => request.purpose.clone())
            .increment(u64::from(usage.completion_tokens));
        let choice = resp
            .choices
            .first()
            .ok_or_else(|| Error::backend("openai: no choices in the response"))?;
        if let Some(refusal) = &choice.message.refusal {
            return Err(Error::backend(format!(
                "openai: the model refused: {}",
                crate::http::error::excerpt(refusal)
            )));
        }
        let content = choice.message.content.clone().unwrap_or_default();
        if choice.finish_reason.as_deref() == Some("length") && request.schema.is_some() {
            return Err(Error::backend(
                "openai: structured output was cut off (max tokens)",
            ));
        }
        if request.schema.is_some() && serde_json::from_str::<serde_json::Value>(&content).is_err()
        {
            return Err(Error::backend(
                "openai: structured output is not valid JSON",
            ));
        }
        Ok(LlmResponse {
            content,
            model: resp.model,
            usage: TokenUsage {
                prompt: usage.prompt_tokens,
                completion: usage.completion_tokens,
            },
        })
    }
}

#[async_trait]
impl SpeechToText for OpenAi {
    async fn transcribe(&self, audio: &Audio) -> Result<String> {
        let ext = match audio.format {
            AudioFormat::Wav => "wav",
            AudioFormat::Webm => "webm",
            AudioFormat::Ogg => "ogg",
            AudioFormat::Mp3 => "mp3",
        };
        let req = CreateTranscriptionRequest {
            file: AudioInput::from_vec_u8(format!("audio.{ext}"), audio.bytes.clone()),
            model: self.models.transcribe.clone(),
            ..CreateTranscriptionRequest::default()
        };
        let resp = self
            .guarded(
                "transcribe",
                self.client.audio().transcription().create(req),
            )
            .await?;
        Ok(resp.text)
    }
}

#[async_trait]
impl TextToSpeech for OpenAi {
    async fn synthesize(&self, text: &str, format: AudioFormat) -> Result<Audio> {
        let response_format = match format {
            AudioFormat::Mp3 => SpeechResponseFormat::Mp3,
            AudioFormat::Wav => SpeechResponseFormat::Wav,
            // OpenAI's "opus" output is Ogg-contained Opus.
            AudioFormat::Ogg => SpeechResponseFormat::Opus,
            AudioFormat::Webm => return Err(Error::unsupported("openai speech as webm")),
        };
        if text.trim().is_empty() {
            return Err(Error::invalid("text", "must not be empty"));
        }
        let req = CreateSpeechRequest {
            input: text.to_owned(),
            model: SpeechModel::Other(self.models.speech.clone()),
            voice: Voice::Other(self.models.voice.clone()),
            response_format: Some(response_format),
            ..CreateSpeechRequest::default()
        };
        let resp = self
            .guarded("speech", self.client.audio().speech().create(req))
            .await?;
        Ok(Audio {
            format,
            bytes: resp.bytes.to_vec(),
        })
    }
}
