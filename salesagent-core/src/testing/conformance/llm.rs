//! The language-model conformance suite.

use super::{expect_err, ok};
use crate::ports::{ChatMessage, JsonSchema, Llm, LlmRequest};

/// What to expect of the model under test.
#[derive(Debug, Clone, Default)]
pub struct LlmFixture {
    /// Check that a request with a schema yields JSON text.
    pub structured_output: bool,
}

fn request(schema: Option<JsonSchema>) -> LlmRequest {
    LlmRequest {
        purpose: "conformance".into(),
        messages: vec![
            ChatMessage::system("You answer in one short sentence."),
            ChatMessage::user("Say hello to the conformance suite."),
        ],
        schema,
        max_tokens: Some(64),
        temperature: Some(0.0),
    }
}

/// Runs the LLM suite against `llm`.
pub async fn run<L: Llm + ?Sized>(llm: &L, fixture: &LlmFixture) {
    let answer = ok(llm.complete(&request(None)).await, "complete");
    assert!(
        !answer.content.trim().is_empty(),
        "llm: an answer has content"
    );
    assert!(
        !answer.model.trim().is_empty(),
        "llm: an answer names its model"
    );
    if fixture.structured_output {
        let schema = JsonSchema {
            name: "greeting".into(),
            schema: serde_json::json!({
                "type": "object",
                "properties": { "greeting": { "type": "string" } },
                "required": ["greeting"],
                "additionalProperties": false
            }),
        };
        let answer = ok(
            llm.complete(&request(Some(schema))).await,
            "complete with schema",
        );
        let parsed: Result<serde_json::Value, _> = serde_json::from_str(&answer.content);
        assert!(
            parsed.as_ref().is_ok_and(serde_json::Value::is_object),
            "llm: with a schema the answer is a JSON object, got {:?}",
            answer.content
        );
    }
    let empty = LlmRequest {
        messages: vec![],
        ..request(None)
    };
    expect_err(
        llm.complete(&empty).await,
        "invalid_input",
        "llm: a request without messages",
    );
}
