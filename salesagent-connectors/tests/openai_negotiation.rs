//! Structured-output negotiation against three kinds of OpenAI-compatible server, mimicked on
//! a local mock server (wiremock, over hyper):
//!
//! - OpenAI: accepts `response_format: {type: json_schema}` (`ResponseFormatJsonSchema` in
//!   `contracts/openai/openapi.chat-audio.trimmed.yaml`; answers follow the spec's
//!   `CreateChatCompletionResponse` example, errors its `ErrorResponse`).
//! - llama-cpp-python's server: its request model takes `response_format.type` `text` or
//!   `json_object` (with an optional `schema`) and reads `max_tokens`; anything else fails
//!   pydantic validation inside the handler, which its `RouteErrorHandler` answers with HTTP 500
//!   `{"error": {"message", "type": "internal_server_error", "param": null, "code": null}}`.
//!   The body served is the one the real server returned (`openai_fixtures/`).
//! - A plain server that takes no `response_format` at all: a FastAPI app with a strict
//!   request model answers 422 `{"detail": [...]}`; another answers OpenAI's 400 error shape.
//!
//! Pinned here: the step-down order, that the working mode is remembered per endpoint (base
//! URL + model), and that 429s, network errors and unrelated 4xx/5xx never step down.

mod common;

use salesagent_connectors::http::BreakerState;
use salesagent_connectors::openai::{
    Models, Negotiated, OpenAi, OpenAiBuilder, StructuredMode, StructuredModes,
};
use salesagent_core::ports::{ChatMessage, JsonSchema, Llm, LlmRequest};
use serde_json::{Value, json};
use std::sync::Arc;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// The spec's example `CreateChatCompletionResponse`, with `content` and `model`.
fn chat_response(model: &str, content: &str) -> Value {
    json!({
      "id": "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT",
      "object": "chat.completion",
      "created": 1741569952,
      "model": model,
      "choices": [{
          "index": 0,
          "message": {"role": "assistant", "content": content, "refusal": null, "annotations": []},
          "logprobs": null,
          "finish_reason": "stop"
      }],
      "usage": {"prompt_tokens": 19, "completion_tokens": 10, "total_tokens": 29},
    })
}

/// llama-cpp-python's answer to `response_format: {type: json_schema}`, recorded from the real
/// server (llama-cpp-python 0.3.36; `openai_real_server.rs` checks it still answers so).
const LLAMA_CPP_PYTHON_JSON_SCHEMA_500: &str =
    include_str!("openai_fixtures/llama_cpp_python_json_schema_500.json");

const ANSWER: &str = r#"{"subject":"Hi Ann","body":"Hello Ann"}"#;

#[derive(Clone, Copy, Debug)]
enum Kind {
    /// Accepts `json_schema`.
    OpenAi,
    /// Rejects `json_schema` with a 500; accepts `json_object` + `schema`.
    LlamaCppPython,
    /// Rejects any `response_format` with FastAPI's 422 and answers in a code fence.
    Plain422,
    /// Rejects any `response_format` with OpenAI's 400 error shape (`param: response_format`).
    Plain400,
}

struct Server(Kind);

impl Respond for Server {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let body: Value = serde_json::from_slice(&req.body).expect("JSON body");
        let model = body["model"].as_str().unwrap_or("unknown").to_owned();
        let rf_type = body["response_format"]["type"].as_str();
        match (self.0, rf_type) {
            (Kind::LlamaCppPython, Some(t)) if t != "text" && t != "json_object" => {
                ResponseTemplate::new(500)
                    .insert_header("content-type", "application/json")
                    .set_body_string(LLAMA_CPP_PYTHON_JSON_SCHEMA_500)
            }
            (Kind::Plain422, Some(_)) => ResponseTemplate::new(422).set_body_json(json!({
                "detail": [{"type": "extra_forbidden", "loc": ["body", "response_format"],
                            "msg": "Extra inputs are not permitted", "input": body["response_format"]}]
            })),
            (Kind::Plain400, Some(_)) => ResponseTemplate::new(400).set_body_json(json!({"error": {
                "message": "Unrecognized request argument supplied: response_format",
                "type": "invalid_request_error", "param": "response_format", "code": null}})),
            (Kind::Plain422 | Kind::Plain400, None) => ResponseTemplate::new(200)
                .set_body_json(chat_response(&model, &format!("Here you go:\n```json\n{ANSWER}\n```"))),
            _ => ResponseTemplate::new(200).set_body_json(chat_response(&model, ANSWER)),
        }
    }
}

async fn server(kind: Kind) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(Server(kind))
        .mount(&server)
        .await;
    server
}

fn builder(server: &MockServer, modes: &Arc<StructuredModes>) -> OpenAiBuilder {
    OpenAi::builder()
        .with_base_url(format!("{}/v1", server.uri()))
        .with_models(Models {
            chat: "local-model".into(),
            ..Models::default()
        })
        .with_structured_modes(modes.clone())
}

fn schema() -> Value {
    json!({"type":"object","additionalProperties":false,"required":["subject","body"],
           "properties":{"subject":{"type":"string"},"body":{"type":"string"}}})
}

fn structured() -> LlmRequest {
    LlmRequest {
        purpose: "draft".into(),
        messages: vec![
            ChatMessage::system("You write sales e-mails as JSON."),
            ChatMessage::user("Lead: Ann from Acme"),
        ],
        schema: Some(JsonSchema {
            name: "draft".into(),
            schema: schema(),
        }),
        max_tokens: Some(300),
        temperature: Some(0.2),
    }
}

async fn bodies(server: &MockServer) -> Vec<Value> {
    server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect()
}

fn rf_type(body: &Value) -> Option<&str> {
    body.get("response_format")
        .map(|rf| rf["type"].as_str().unwrap())
}

#[tokio::test]
async fn openai_keeps_json_schema() {
    let s = server(Kind::OpenAi).await;
    let modes = Arc::new(StructuredModes::new());
    let llm = builder(&s, &modes).build().unwrap();
    let answer = llm.complete(&structured()).await.unwrap();
    assert_eq!(answer.content, ANSWER);
    assert_eq!(
        llm.structured_output(),
        Negotiated {
            mode: StructuredMode::JsonSchema,
            confirmed: true
        }
    );
    let sent = bodies(&s).await;
    assert_eq!(sent.len(), 1);
    assert_eq!(rf_type(&sent[0]), Some("json_schema"));
    assert_eq!(
        sent[0]["response_format"]["json_schema"]["schema"],
        schema()
    );
    assert_eq!(sent[0]["max_completion_tokens"], 300);
    assert!(sent[0].get("max_tokens").is_none());
    // OpenAI gets the prompt as written: no schema instruction appended.
    assert_eq!(
        sent[0]["messages"][0]["content"],
        "You write sales e-mails as JSON."
    );
}

#[tokio::test]
async fn llama_cpp_python_steps_down_to_json_object_once_and_remembers() {
    let (logs, _guard) = common::capture_logs();
    let s = server(Kind::LlamaCppPython).await;
    let modes = Arc::new(StructuredModes::new());
    let llm = builder(&s, &modes).build().unwrap();
    assert_eq!(llm.structured_output().mode, StructuredMode::JsonSchema);
    let answer = llm.complete(&structured()).await.unwrap();
    assert_eq!(answer.content, ANSWER);
    assert_eq!(
        llm.structured_output(),
        Negotiated {
            mode: StructuredMode::JsonObject,
            confirmed: true
        }
    );
    let sent = bodies(&s).await;
    // async-openai retries a 500 three times before the connector sees it; then one
    // json_object request.
    let types: Vec<_> = sent.iter().map(rf_type).collect();
    assert_eq!(
        types,
        [
            Some("json_schema"),
            Some("json_schema"),
            Some("json_schema"),
            Some("json_schema"),
            Some("json_object")
        ]
    );
    let last = &sent[4];
    // llama-cpp-python's shape: the schema beside `type`, the cap as `max_tokens`.
    assert_eq!(last["response_format"]["schema"], schema());
    assert_eq!(last["max_tokens"], 300);
    assert!(last.get("max_completion_tokens").is_none());
    let system = last["messages"][0]["content"].as_str().unwrap();
    assert!(system.starts_with("You write sales e-mails as JSON."));
    assert!(system.contains("JSON Schema") && system.contains("\"subject\""));

    // Remembered: the next call goes straight to json_object.
    llm.complete(&structured()).await.unwrap();
    let sent = bodies(&s).await;
    assert_eq!(sent.len(), 6);
    assert_eq!(rf_type(&sent[5]), Some("json_object"));
    // A format rejection is not an outage.
    assert_eq!(llm.breaker().state(), BreakerState::Closed);

    // Per endpoint: another connector for the same base URL and model starts there too;
    // another model on the same server negotiates afresh.
    let again = builder(&s, &modes).build().unwrap();
    assert_eq!(again.structured_output().mode, StructuredMode::JsonObject);
    let other = builder(&s, &modes)
        .with_models(Models {
            chat: "other-model".into(),
            ..Models::default()
        })
        .build()
        .unwrap();
    assert_eq!(other.structured_output().mode, StructuredMode::JsonSchema);
    assert!(!other.structured_output().confirmed);

    let text = logs.text();
    assert!(
        text.contains("stepping down") && text.contains("rejected=\"json_schema\""),
        "{text}"
    );
}

#[tokio::test]
async fn plain_servers_step_down_to_prompt_instructions() {
    for kind in [Kind::Plain422, Kind::Plain400] {
        let s = server(kind).await;
        let modes = Arc::new(StructuredModes::new());
        let llm = builder(&s, &modes).build().unwrap();
        let answer = llm.complete(&structured()).await.unwrap();
        // The fence and the sentence around the JSON are gone.
        assert_eq!(answer.content, ANSWER, "{kind:?}");
        assert_eq!(
            llm.structured_output(),
            Negotiated {
                mode: StructuredMode::Prompt,
                confirmed: true
            }
        );
        let sent = bodies(&s).await;
        let types: Vec<_> = sent.iter().map(rf_type).collect();
        assert_eq!(
            types,
            [Some("json_schema"), Some("json_object"), None],
            "{kind:?}: 4xx are not retried"
        );
        let system = sent[2]["messages"][0]["content"].as_str().unwrap();
        assert!(system.contains("JSON Schema"), "{system}");
        llm.complete(&structured()).await.unwrap();
        assert_eq!(bodies(&s).await.len(), 4);
        assert_eq!(rf_type(&bodies(&s).await[3]), None);
    }
}

#[tokio::test]
async fn a_prompt_without_a_system_message_gets_one() {
    let s = server(Kind::Plain422).await;
    let modes = Arc::new(StructuredModes::new());
    let llm = builder(&s, &modes)
        .with_structured_mode(StructuredMode::Prompt)
        .build()
        .unwrap();
    let req = LlmRequest {
        messages: vec![ChatMessage::user("Lead: Ann")],
        ..structured()
    };
    llm.complete(&req).await.unwrap();
    let sent = bodies(&s).await;
    assert_eq!(sent.len(), 1, "started at prompt: nothing to reject");
    assert_eq!(sent[0]["messages"][0]["role"], "system");
    assert_eq!(sent[0]["messages"][1]["content"], "Lead: Ann");
}

#[tokio::test]
async fn no_step_down_on_429() {
    let s = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(429).set_body_json(json!({"error":{
            "message":"Rate limit reached for requests (response_format json_schema)",
            "type":"requests","param":null,"code":"rate_limit_exceeded"}})))
        .mount(&s)
        .await;
    let modes = Arc::new(StructuredModes::new());
    let llm = builder(&s, &modes).build().unwrap();
    let e = llm.complete(&structured()).await.unwrap_err();
    assert_eq!(e.kind(), "rate_limited");
    let sent = bodies(&s).await;
    assert!(
        sent.iter().all(|b| rf_type(b) == Some("json_schema")),
        "{sent:?}"
    );
    assert_eq!(
        llm.structured_output(),
        Negotiated {
            mode: StructuredMode::JsonSchema,
            confirmed: false
        }
    );
}

#[tokio::test]
async fn no_step_down_on_network_errors() {
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let modes = Arc::new(StructuredModes::new());
    let llm = OpenAi::builder()
        .with_base_url(format!("http://127.0.0.1:{port}/v1"))
        .with_structured_modes(modes.clone())
        .build()
        .unwrap();
    let e = llm.complete(&structured()).await.unwrap_err();
    assert_eq!(e.kind(), "unavailable");
    assert_eq!(llm.structured_output().mode, StructuredMode::JsonSchema);
}

#[tokio::test]
async fn no_step_down_on_other_errors() {
    // A 500 that is not about the response_format, and a 400 about something else.
    for (status, body) in [
        (
            500,
            json!({"error":{"message":"CUDA out of memory","type":"internal_server_error","param":null,"code":null}}),
        ),
        (
            400,
            json!({"error":{"message":"This model's maximum context length is 2048 tokens.","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}),
        ),
    ] {
        let s = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(status).set_body_json(body))
            .mount(&s)
            .await;
        let modes = Arc::new(StructuredModes::new());
        let llm = builder(&s, &modes).build().unwrap();
        assert!(llm.complete(&structured()).await.is_err());
        assert!(
            bodies(&s)
                .await
                .iter()
                .all(|b| rf_type(b) == Some("json_schema")),
            "{status}"
        );
        assert_eq!(llm.structured_output().mode, StructuredMode::JsonSchema);
    }
}

#[tokio::test]
async fn requests_without_a_schema_never_carry_a_format() {
    let s = server(Kind::LlamaCppPython).await;
    let modes = Arc::new(StructuredModes::new());
    let llm = builder(&s, &modes).build().unwrap();
    let req = LlmRequest {
        schema: None,
        ..structured()
    };
    llm.complete(&req).await.unwrap();
    let sent = bodies(&s).await;
    assert_eq!(sent.len(), 1);
    assert_eq!(rf_type(&sent[0]), None);
    assert_eq!(sent[0]["max_completion_tokens"], 300);
    // Nothing learned from a call without a schema.
    assert!(!llm.structured_output().confirmed);
}

#[tokio::test]
async fn a_configured_start_mode_only_steps_down() {
    let s = server(Kind::OpenAi).await;
    let modes = Arc::new(StructuredModes::new());
    let env = |k: &str| match k {
        "OPENAI_BASE_URL" => Some(format!("{}/v1", s.uri())),
        "OPENAI_MODEL" => Some("local-model".into()),
        "OPENAI_STRUCTURED_OUTPUT" => Some("json_object".into()),
        _ => None,
    };
    let llm = OpenAiBuilder::from_lookup(env)
        .with_structured_modes(modes.clone())
        .build()
        .unwrap();
    assert_eq!(llm.structured_output().mode, StructuredMode::JsonObject);
    llm.complete(&structured()).await.unwrap();
    assert_eq!(rf_type(&bodies(&s).await[0]), Some("json_object"));
    // A later connector asking for json_schema does not raise what the endpoint settled on.
    let again = builder(&s, &modes)
        .with_structured_mode(StructuredMode::JsonSchema)
        .build()
        .unwrap();
    assert_eq!(again.structured_output().mode, StructuredMode::JsonObject);
}

#[tokio::test]
async fn answers_that_are_not_json_are_still_errors_in_every_mode() {
    for mode in StructuredMode::ALL {
        let s = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(chat_response("m", "I cannot answer that in JSON.")),
            )
            .mount(&s)
            .await;
        let modes = Arc::new(StructuredModes::new());
        let llm = builder(&s, &modes)
            .with_structured_mode(mode)
            .build()
            .unwrap();
        let e = llm.complete(&structured()).await.unwrap_err();
        assert_eq!(e.kind(), "backend", "{mode}");
        assert!(e.to_string().contains(mode.as_str()), "{e}");
        // Not a rejection of the format: the mode stays.
        assert_eq!(llm.structured_output().mode, mode);
    }
}

/// The block of a top-level schema in the trimmed YAML, cut by indentation.
fn schema_block(yaml: &str, name: &str) -> String {
    let head = format!("    {name}:");
    let mut lines = yaml.lines().skip_while(|l| *l != head);
    assert!(lines.next().is_some(), "{name} not in the spec");
    let body: Vec<&str> = lines
        .take_while(|l| l.is_empty() || l.starts_with("     "))
        .collect();
    format!("\n{}", body.join("\n"))
}

#[test]
fn the_fallback_fields_are_in_the_spec() {
    let Some(yaml) = common::contract("openai/openapi.chat-audio.trimmed.yaml") else {
        return;
    };
    // json_object is one of the response formats; `max_tokens` is still a (deprecated) field.
    let chat = schema_block(&yaml, "CreateChatCompletionRequest");
    assert!(chat.contains("\n            max_tokens:"));
    assert!(chat.contains("#/components/schemas/ResponseFormatJsonObject"));
    let obj = schema_block(&yaml, "ResponseFormatJsonObject");
    assert!(obj.contains("- json_object") && obj.contains("- type"));
    // The error shape the rejections use.
    let err = schema_block(&yaml, "Error");
    for field in ["code", "message", "param", "type"] {
        assert!(
            err.contains(&format!("\n        {field}:")),
            "Error.{field}"
        );
    }
}

#[tokio::test]
async fn raw_newlines_inside_strings_are_escaped_not_rejected() {
    // What SmolLM2 under llama-cpp-python's json_object grammar sometimes writes.
    let s = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(chat_response(
            "m",
            "{ \"subject\": \"Hi\", \"body\": \"Hello Ann,\n\tsee you\" }",
        )))
        .mount(&s)
        .await;
    let modes = Arc::new(StructuredModes::new());
    let llm = builder(&s, &modes)
        .with_structured_mode(StructuredMode::JsonObject)
        .build()
        .unwrap();
    let answer = llm.complete(&structured()).await.unwrap();
    let v: Value = serde_json::from_str(&answer.content).unwrap();
    assert_eq!(v["body"], "Hello Ann,\n\tsee you");
}
