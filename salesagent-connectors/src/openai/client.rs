//! Chat completions and audio through async-openai (which does the retrying).

use super::OpenAi;
use super::error::map_error;
use super::model::{ChatMessage, ChatRequest, ChatResponse, JsonSchemaFormat, ResponseFormat};
use super::structured::{
    Negotiated, StructuredMode, json_answer, rejects_response_format, schema_instruction,
};
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

/// `frequency_penalty` of drafting requests.
pub const DRAFT_FREQUENCY_PENALTY: f32 = 0.8;
/// `presence_penalty` of drafting requests.
pub const DRAFT_PRESENCE_PENALTY: f32 = 0.5;

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
        self.guarded_call(op, call, |_| false)
            .await
            .map_err(|(e, _)| e)
    }

    /// [`OpenAi::guarded`], telling apart the errors `rejected` picks out (a server that
    /// answered, but not to this request's form): those count as a live server for the
    /// breaker, and come back with `true`.
    async fn guarded_call<T, F>(
        &self,
        op: &'static str,
        call: F,
        rejected: fn(&async_openai::error::OpenAIError) -> bool,
    ) -> std::result::Result<T, (Error, bool)>
    where
        F: Future<Output = std::result::Result<T, async_openai::error::OpenAIError>>,
    {
        let permit = self.breaker.acquire().map_err(|e| (e, false))?;
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
                let is_rejection = rejected(&e);
                let outage = !is_rejection
                    && matches!(err, Error::Unavailable { .. } | Error::Timeout { .. });
                self.breaker.record(permit, !outage);
                ::metrics::counter!(metrics::REQUESTS, "service" => "openai", "op" => op, "status" => "error").increment(1);
                ::metrics::counter!(metrics::ERRORS, "service" => "openai", "kind" => err.kind())
                    .increment(1);
                if is_rejection {
                    span.in_scope(|| {
                        tracing::info!(kind = err.kind(), error = %err, "openai: the server rejected the request's form");
                    });
                } else {
                    span.in_scope(|| tracing::warn!(kind = err.kind(), "openai call failed"));
                }
                Err((err, is_rejection))
            }
        }
    }

    /// The wire request for `req` in the mode currently negotiated with this endpoint.
    #[must_use]
    pub fn chat_request(&self, req: &LlmRequest) -> ChatRequest {
        self.chat_request_in(req, self.structured_output().mode)
    }

    /// The wire request for `req` in structured-output `mode` (ignored without a schema).
    #[must_use]
    pub fn chat_request_in(&self, req: &LlmRequest, mode: StructuredMode) -> ChatRequest {
        let mut messages: Vec<ChatMessage> = req
            .messages
            .iter()
            .map(|m| ChatMessage {
                role: role(m.role).to_owned(),
                content: m.content.clone(),
            })
            .collect();
        let schema = req.schema.as_ref();
        let response_format = schema.and_then(|s| match mode {
            StructuredMode::JsonSchema => Some(ResponseFormat::JsonSchema {
                json_schema: JsonSchemaFormat {
                    name: schema_name(&s.name),
                    schema: s.schema.clone(),
                    strict: true,
                },
            }),
            StructuredMode::JsonObject => Some(ResponseFormat::JsonObject {
                schema: Some(s.schema.clone()),
            }),
            StructuredMode::Prompt => None,
        });
        if let Some(s) = schema.filter(|_| mode != StructuredMode::JsonSchema) {
            let instruction = schema_instruction(&s.schema);
            match messages.iter_mut().find(|m| m.role == "system") {
                Some(system) => {
                    system.content.push_str("\n\n");
                    system.content.push_str(&instruction);
                }
                None => messages.insert(
                    0,
                    ChatMessage {
                        role: "system".to_owned(),
                        content: instruction,
                    },
                ),
            }
        }
        // An endpoint that refused `json_schema` is not OpenAI's own API: it reads the cap
        // under the older name (llama-cpp-python ignores `max_completion_tokens`), for
        // requests without a schema too (prose drafts).
        let legacy_cap = mode != StructuredMode::JsonSchema;
        // Free text (drafts) gets repetition penalties: small local models loop without them
        // ("slot:2, slot:2, …"); OpenAI's models are unaffected at these values.
        let drafting = req.purpose == salesagent_core::prompt::PURPOSE_DRAFT;
        ChatRequest {
            model: self.models.chat.clone(),
            messages,
            response_format,
            max_completion_tokens: req.max_tokens.filter(|_| !legacy_cap),
            max_tokens: req.max_tokens.filter(|_| legacy_cap),
            temperature: req.temperature,
            frequency_penalty: drafting.then_some(DRAFT_FREQUENCY_PENALTY),
            presence_penalty: drafting.then_some(DRAFT_PRESENCE_PENALTY),
            stream: false,
        }
    }

    /// The structured-output mode negotiated with this endpoint (base URL + chat model):
    /// [`StructuredMode::JsonSchema`], unconfirmed, until a call has said otherwise.
    #[must_use]
    pub fn structured_output(&self) -> Negotiated {
        self.modes
            .get(&self.base_url, &self.models.chat)
            .unwrap_or(Negotiated {
                mode: StructuredMode::JsonSchema,
                confirmed: false,
            })
    }

    /// Sends `request` in the negotiated mode, stepping down while the server rejects the
    /// `response_format` (see [`structured`](super::structured)). Returns the answer and the
    /// mode it was asked in.
    async fn negotiate(&self, request: &LlmRequest) -> Result<(ChatResponse, StructuredMode)> {
        let mut mode = self.structured_output().mode;
        loop {
            let body = self.chat_request_in(request, mode);
            let attempt = if request.schema.is_some() {
                self.guarded_call(
                    "chat",
                    self.client.chat().create_byot(&body),
                    rejects_response_format,
                )
                .await
            } else {
                self.guarded_call("chat", self.client.chat().create_byot(&body), |_| false)
                    .await
            };
            match attempt {
                Ok(resp) => {
                    if request.schema.is_some()
                        && self.modes.confirm(&self.base_url, &self.models.chat, mode)
                    {
                        tracing::info!(
                            base_url = %self.base_url,
                            model = %self.models.chat,
                            mode = mode.as_str(),
                            "openai: structured output mode confirmed"
                        );
                        ::metrics::gauge!(metrics::LLM_STRUCTURED_MODE, "model" => self.models.chat.clone())
                            .set(mode.gauge());
                    }
                    return Ok((resp, mode));
                }
                Err((err, true)) => {
                    let Some(next) = mode.fallback() else {
                        return Err(err);
                    };
                    let now = self
                        .modes
                        .step_down(&self.base_url, &self.models.chat, mode, next);
                    tracing::warn!(
                        base_url = %self.base_url,
                        model = %self.models.chat,
                        rejected = mode.as_str(),
                        next = now.as_str(),
                        error = %err,
                        "openai: the server does not take this response_format; stepping down"
                    );
                    ::metrics::counter!(metrics::LLM_STRUCTURED_FALLBACKS, "model" => self.models.chat.clone(), "from" => mode.as_str(), "to" => now.as_str())
                        .increment(1);
                    ::metrics::gauge!(metrics::LLM_STRUCTURED_MODE, "model" => self.models.chat.clone())
                        .set(now.gauge());
                    mode = now;
                }
                Err((err, false)) => return Err(err),
            }
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
        let (resp, mode) = self.negotiate(request).await?;
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
        let mut content = choice.message.content.clone().unwrap_or_default();
        if choice.finish_reason.as_deref() == Some("length") && request.schema.is_some() {
            return Err(Error::backend(format!(
                "openai: structured output ({mode}) was cut off (max tokens)"
            )));
        }
        if request.schema.is_some() {
            // Models may wrap the object in a fence or a sentence, or leave raw newlines in strings.
            match json_answer(&content) {
                Some(json) => content = json,
                None => {
                    // The answer may quote the lead's data: only its size and end reach the
                    // error; the text itself goes to a debug event.
                    tracing::debug!(
                        mode = mode.as_str(),
                        content = %crate::http::error::excerpt(&content),
                        "openai: structured output is not JSON"
                    );
                    return Err(Error::backend(format!(
                        "openai: structured output ({mode}) is not valid JSON ({} bytes, finish \
                         reason {})",
                        content.len(),
                        choice.finish_reason.as_deref().unwrap_or("none")
                    )));
                }
            }
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
