//! Structured output that negotiates: each endpoint (base URL + chat model) is asked for the
//! best mode first, and the connector remembers the mode that endpoint accepts.
//!
//! 1. [`StructuredMode::JsonSchema`]: `response_format: {type: json_schema, json_schema: {name,
//!    schema, strict}}` (OpenAI's `ResponseFormatJsonSchema`; vLLM and recent llama.cpp servers).
//! 2. [`StructuredMode::JsonObject`]: `response_format: {type: json_object, schema}` (llama-cpp-python's
//!    server, whose `ChatCompletionRequestResponseFormat` takes `text` or `json_object` with an
//!    optional `schema` that it turns into a grammar), and the schema in the prompt too.
//! 3. [`StructuredMode::Prompt`]: no `response_format`; the schema is in the instructions.
//!
//! A step down happens only on an answer that says the `response_format` is not supported:
//! HTTP 400, 422 or 500 whose error names `response_format` (llama-cpp-python answers a
//! `json_schema` request with a 500 `internal_server_error` carrying pydantic's validation
//! message; FastAPI-style servers with a 422 `detail` list; OpenAI with a 400 whose `param` is
//! `response_format`). Network errors, timeouts, 429s and other errors never step down. Every
//! answer is still checked to be JSON here and validated against its schema by the caller.

use async_openai::error::OpenAIError;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

/// How structured output is asked of a server, best first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StructuredMode {
    /// `response_format: {type: json_schema, ...}`.
    JsonSchema,
    /// `response_format: {type: json_object, schema}` plus the schema in the prompt.
    JsonObject,
    /// No `response_format`: JSON instructions and the schema in the prompt.
    Prompt,
}

impl StructuredMode {
    /// Every mode, best first.
    pub const ALL: [Self; 3] = [Self::JsonSchema, Self::JsonObject, Self::Prompt];

    /// The name used in settings, logs and metrics: `json_schema`, `json_object`, `prompt`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::JsonSchema => "json_schema",
            Self::JsonObject => "json_object",
            Self::Prompt => "prompt",
        }
    }

    /// Parses [`StructuredMode::as_str`] (case-insensitive; `plain` and `none` mean `prompt`).
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "json_schema" => Some(Self::JsonSchema),
            "json_object" => Some(Self::JsonObject),
            "prompt" | "plain" | "none" => Some(Self::Prompt),
            _ => None,
        }
    }

    /// The next mode to try when this one is rejected.
    #[must_use]
    pub fn fallback(self) -> Option<Self> {
        match self {
            Self::JsonSchema => Some(Self::JsonObject),
            Self::JsonObject => Some(Self::Prompt),
            Self::Prompt => None,
        }
    }

    /// The value of the [`LLM_STRUCTURED_MODE`](crate::http::metrics::LLM_STRUCTURED_MODE) gauge.
    #[must_use]
    pub fn gauge(self) -> f64 {
        match self {
            Self::JsonSchema => 0.0,
            Self::JsonObject => 1.0,
            Self::Prompt => 2.0,
        }
    }
}

impl std::fmt::Display for StructuredMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What is known of one endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Negotiated {
    /// The mode the next structured request uses.
    pub mode: StructuredMode,
    /// True once a structured request succeeded in `mode` (false while it is only a guess).
    pub confirmed: bool,
}

/// The remembered mode per endpoint (base URL + chat model). Connectors share the
/// process-wide [`StructuredModes::global`] unless given their own
/// ([`OpenAiBuilder::with_structured_modes`](super::OpenAiBuilder::with_structured_modes)).
/// A mode only ever steps down; a restart negotiates afresh.
#[derive(Debug, Default)]
pub struct StructuredModes {
    known: Mutex<HashMap<(String, String), Negotiated>>,
}

impl StructuredModes {
    /// An empty memory.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The memory shared by every connector of this process.
    #[must_use]
    pub fn global() -> Arc<Self> {
        static GLOBAL: OnceLock<Arc<StructuredModes>> = OnceLock::new();
        GLOBAL.get_or_init(|| Arc::new(Self::new())).clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), Negotiated>> {
        // The map stays consistent whatever panicked while holding it.
        self.known
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn key(base_url: &str, model: &str) -> (String, String) {
        (base_url.trim_end_matches('/').to_owned(), model.to_owned())
    }

    /// What is known of `base_url` + `model`, if anything.
    #[must_use]
    pub fn get(&self, base_url: &str, model: &str) -> Option<Negotiated> {
        self.lock().get(&Self::key(base_url, model)).copied()
    }

    /// Starts `base_url` + `model` at `mode` (unconfirmed) unless something is known already.
    pub fn seed(&self, base_url: &str, model: &str, mode: StructuredMode) {
        self.lock()
            .entry(Self::key(base_url, model))
            .or_insert(Negotiated {
                mode,
                confirmed: false,
            });
    }

    /// `rejected` was refused: step down to `next` (never up, whatever other calls learned
    /// meanwhile). Returns the mode now remembered.
    pub fn step_down(
        &self,
        base_url: &str,
        model: &str,
        rejected: StructuredMode,
        next: StructuredMode,
    ) -> StructuredMode {
        let mut known = self.lock();
        let entry = known
            .entry(Self::key(base_url, model))
            .or_insert(Negotiated {
                mode: rejected,
                confirmed: false,
            });
        if next > entry.mode {
            *entry = Negotiated {
                mode: next,
                confirmed: false,
            };
        }
        entry.mode
    }

    /// A structured request succeeded in `mode`. Returns true the first time this confirms
    /// the remembered mode.
    pub fn confirm(&self, base_url: &str, model: &str, mode: StructuredMode) -> bool {
        let mut known = self.lock();
        let entry = known
            .entry(Self::key(base_url, model))
            .or_insert(Negotiated {
                mode,
                confirmed: false,
            });
        if entry.mode == mode && !entry.confirmed {
            entry.confirmed = true;
            return true;
        }
        false
    }
}

/// Statuses on which a server may be saying it does not take a `response_format`.
fn rejection_status(status: u16) -> bool {
    matches!(status, 400 | 422 | 500)
}

/// Does the error text point at the `response_format` field?
fn names_response_format(text: &str) -> bool {
    let t = text.to_ascii_lowercase();
    t.contains("response_format") || t.contains("json_schema") || t.contains("json_object")
}

/// True when `e` is a server's answer that the request's `response_format` is not supported
/// (see the module docs). Transport errors, timeouts and every other status are not.
#[must_use]
pub fn rejects_response_format(e: &OpenAIError) -> bool {
    match e {
        OpenAIError::ApiError(api) => {
            rejection_status(api.status_code.as_u16())
                && (api.api_error.param.as_deref() == Some("response_format")
                    || names_response_format(&api.api_error.message))
        }
        // async-openai reads a 4xx body as OpenAI's `{"error": ...}` and keeps the text when it
        // is another shape (FastAPI's 422 `{"detail": [...]}`), without the status: accept only
        // an error document (no `choices`) that names the field.
        OpenAIError::JSONDeserialize(_, body) => serde_json::from_str::<serde_json::Value>(body)
            .is_ok_and(|v| {
                v.get("choices").is_none()
                    && (v.get("detail").is_some() || v.get("error").is_some())
                    && names_response_format(body)
            }),
        _ => false,
    }
}

/// The instruction added to the prompt in [`StructuredMode::JsonObject`] and
/// [`StructuredMode::Prompt`] modes.
#[must_use]
pub fn schema_instruction(schema: &serde_json::Value) -> String {
    format!(
        "Answer with exactly one JSON object and nothing else (no code fence, no text before or \
         after it). It must validate against this JSON Schema: {schema}"
    )
}

/// The JSON value in a model's answer: the whole text, or the text inside a Markdown code
/// fence, or from the first `{` to the last `}`. `None` when there is no JSON object or array.
#[must_use]
pub fn extract_json(content: &str) -> Option<&str> {
    let parses = |s: &str| serde_json::from_str::<serde::de::IgnoredAny>(s).is_ok();
    let text = content.trim();
    if parses(text) {
        return Some(text);
    }
    if let Some(start) = text.find("```") {
        let after = &text[start + 3..];
        // Skip the info string (`json`) up to the end of the fence line.
        let body = after.find('\n').map_or(after, |nl| &after[nl + 1..]);
        if let Some(end) = body.find("```") {
            let inner = body[..end].trim();
            if parses(inner) {
                return Some(inner);
            }
        }
    }
    let (start, end) = (text.find('{')?, text.rfind('}')?);
    let inner = text.get(start..=end)?;
    parses(inner).then_some(inner)
}

/// `text` with raw control characters inside JSON strings escaped (`\n`, `\r`, `\t`,
/// `\u00XX`): small models emit them (llama-cpp-python's schema grammar lets them through) and
/// strict JSON forbids them. Text outside strings is left alone.
#[must_use]
pub fn escape_controls_in_strings(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    let (mut in_string, mut escaped) = (false, false);
    for c in text.chars() {
        if !in_string {
            in_string = c == '"';
            out.push(c);
            continue;
        }
        if escaped {
            escaped = false;
            out.push(c);
            continue;
        }
        match c {
            '\\' => {
                escaped = true;
                out.push(c);
            }
            '"' => {
                in_string = false;
                out.push(c);
            }
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out
}

/// The JSON text of a structured answer: [`extract_json`], else the same after
/// [`escape_controls_in_strings`]. `None` when neither yields JSON.
#[must_use]
pub fn json_answer(content: &str) -> Option<String> {
    if let Some(json) = extract_json(content) {
        return Some(json.to_owned());
    }
    let escaped = escape_controls_in_strings(content);
    extract_json(&escaped).map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_step_down_never_up() {
        let m = StructuredModes::new();
        assert_eq!(m.get("http://x/v1", "m"), None);
        m.seed("http://x/v1/", "m", StructuredMode::JsonSchema);
        let now = m.step_down(
            "http://x/v1",
            "m",
            StructuredMode::JsonSchema,
            StructuredMode::JsonObject,
        );
        assert_eq!(now, StructuredMode::JsonObject);
        // A late answer to an older call cannot raise it again, nor confirm a mode not in use.
        assert!(!m.confirm("http://x/v1", "m", StructuredMode::JsonSchema));
        assert!(m.confirm("http://x/v1", "m", StructuredMode::JsonObject));
        assert!(!m.confirm("http://x/v1", "m", StructuredMode::JsonObject));
        assert_eq!(
            m.get("http://x/v1", "m"),
            Some(Negotiated {
                mode: StructuredMode::JsonObject,
                confirmed: true
            })
        );
        // Another model on the same server is another endpoint.
        assert_eq!(m.get("http://x/v1", "other"), None);
        for mode in StructuredMode::ALL {
            assert_eq!(StructuredMode::parse(mode.as_str()), Some(mode));
        }
    }

    #[test]
    fn json_is_found_in_fences_and_prose() {
        assert_eq!(extract_json(" {\"a\":1} "), Some("{\"a\":1}"));
        assert_eq!(
            extract_json("```json\n{\"a\": [1]}\n```"),
            Some("{\"a\": [1]}")
        );
        assert_eq!(
            extract_json("Sure! Here it is: {\"a\": \"}\"} Hope it helps."),
            Some("{\"a\": \"}\"}")
        );
        assert_eq!(extract_json("no json here"), None);
        assert_eq!(extract_json("{broken"), None);
        assert_eq!(extract_json("}{"), None);
    }

    #[test]
    fn raw_control_characters_in_strings_are_escaped() {
        let raw = "{ \"body\": \"Hi Ann,\n\tthanks\u{1}\" ,\"ids\":[]}\n";
        assert_eq!(extract_json(raw), None);
        let json = json_answer(raw).unwrap();
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["body"], "Hi Ann,\n\tthanks\u{1}");
        // Escapes already there stay as they are; text outside strings is untouched.
        assert_eq!(
            escape_controls_in_strings("{\"a\":\"x\\\"\n\"}\n"),
            "{\"a\":\"x\\\"\\n\"}\n"
        );
        assert_eq!(json_answer("not json"), None);
    }
}
