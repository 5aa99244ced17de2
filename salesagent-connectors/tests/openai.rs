//! OpenAI connector against a mock server. Request checks and response bodies follow
//! `contracts/openai/openapi.chat-audio.trimmed.yaml` (the chat example response is the spec's
//! own `x-oaiMeta` example; structured output uses `ResponseFormatJsonSchema`).

mod common;

use salesagent_connectors::openai::{Models, OpenAi, OpenAiBuilder, is_budget_exhausted};
use salesagent_core::ports::{
    Audio, AudioFormat, ChatMessage, JsonSchema, Llm, LlmRequest, SpeechToText, TextToSpeech,
};
use serde_json::{Value, json};
use wiremock::matchers::{body_partial_json, header, method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const KEY: &str = "sk-test-abcdef0123456789SECRET";

/// The example response of `POST /chat/completions` in the spec, with JSON content.
fn chat_response(content: &str) -> Value {
    json!({
      "id": "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT",
      "object": "chat.completion",
      "created": 1741569952,
      "model": "gpt-5.4",
      "choices": [{
          "index": 0,
          "message": {"role": "assistant", "content": content, "refusal": null, "annotations": []},
          "logprobs": null,
          "finish_reason": "stop"
      }],
      "usage": {
        "prompt_tokens": 19, "completion_tokens": 10, "total_tokens": 29,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
            "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}
      },
      "service_tier": "default"
    })
}

fn openai(server: &MockServer) -> OpenAiBuilder {
    OpenAi::builder()
        .with_api_key(KEY)
        .with_base_url(format!("{}/v1", server.uri()))
        .with_models(Models {
            chat: "gpt-test".into(),
            ..Models::default()
        })
}

fn draft_request() -> LlmRequest {
    LlmRequest {
        purpose: "draft".into(),
        messages: vec![
            ChatMessage::system("You write sales e-mails."),
            ChatMessage::user("Lead: Ann from Acme"),
        ],
        schema: Some(JsonSchema {
            name: "draft email".into(),
            schema: json!({"type":"object","properties":{"subject":{"type":"string"},"body":{"type":"string"}},
                           "required":["subject","body"],"additionalProperties":false}),
        }),
        max_tokens: Some(400),
        temperature: Some(0.4),
    }
}

/// The request fields `CreateChatCompletionRequest` defines, and the ones we must send.
fn check_chat_request(r: &Request) {
    let body: Value = serde_json::from_slice(&r.body).unwrap();
    let allowed = [
        "model",
        "messages",
        "response_format",
        "max_completion_tokens",
        "temperature",
        "stream",
        "frequency_penalty",
        "presence_penalty",
    ];
    for k in body.as_object().unwrap().keys() {
        assert!(allowed.contains(&k.as_str()), "unexpected field {k}");
    }
    // The spec bounds both penalties to -2.0..=2.0.
    for k in ["frequency_penalty", "presence_penalty"] {
        if let Some(v) = body.get(k) {
            let v = v.as_f64().unwrap();
            assert!(
                (-2.0..=2.0).contains(&v),
                "{k} = {v} outside the spec's range"
            );
        }
    }
    assert!(body["model"].is_string());
    for m in body["messages"].as_array().unwrap() {
        assert!(
            ["system", "user", "assistant", "developer"].contains(&m["role"].as_str().unwrap())
        );
        assert!(m["content"].is_string());
    }
    if let Some(rf) = body.get("response_format") {
        assert_eq!(rf["type"], "json_schema");
        let name = rf["json_schema"]["name"].as_str().unwrap();
        assert!(
            name.len() <= 64
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        );
        assert!(rf["json_schema"]["schema"].is_object());
        assert!(rf["json_schema"]["strict"].is_boolean());
    }
    assert_eq!(body["stream"], false);
}

#[tokio::test]
async fn structured_completion_with_usage() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .and(header("authorization", format!("Bearer {KEY}").as_str()))
        .and(body_partial_json(json!({
            "model": "gpt-test",
            "messages": [{"role":"system","content":"You write sales e-mails."},{"role":"user","content":"Lead: Ann from Acme"}],
            "response_format": {"type":"json_schema","json_schema":{"name":"draft_email","strict":true}},
            "max_completion_tokens": 400
        })))
        .respond_with(ResponseTemplate::new(200).set_body_json(chat_response(r#"{"subject":"Hi Ann","body":"Hello"}"#)))
        .expect(1)
        .mount(&server)
        .await;
    let llm = openai(&server).build().unwrap();
    let resp = llm.complete(&draft_request()).await.unwrap();
    let v: Value = serde_json::from_str(&resp.content).unwrap();
    assert_eq!(v["subject"], "Hi Ann");
    assert_eq!(resp.model, "gpt-5.4");
    assert_eq!((resp.usage.prompt, resp.usage.completion), (19, 10));
    assert_eq!(llm.tokens_used_today(), 29);
    for r in server.received_requests().await.unwrap() {
        check_chat_request(&r);
    }
}

#[tokio::test]
async fn invalid_structured_output_is_an_error() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(chat_response("not json")))
        .mount(&server)
        .await;
    let llm = openai(&server).build().unwrap();
    assert_eq!(
        llm.complete(&draft_request()).await.unwrap_err().kind(),
        "backend"
    );
}

#[tokio::test]
async fn daily_budget_stops_calls_without_sending() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(chat_response("{\"subject\":\"a\",\"body\":\"b\"}")),
        )
        .expect(2)
        .mount(&server)
        .await;
    let llm = openai(&server).with_daily_token_budget(50).build().unwrap();
    llm.complete(&draft_request()).await.unwrap();
    llm.complete(&draft_request()).await.unwrap();
    let e = llm.complete(&draft_request()).await.unwrap_err();
    assert!(is_budget_exhausted(&e), "{e:?}");
    assert_eq!(e.kind(), "unavailable");
}

#[tokio::test]
async fn api_errors_map_to_core_errors() {
    let server = MockServer::start().await;
    // ErrorResponse shape from the spec: {"error": {"message","type","param","code"}}.
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({"error":{
            "message":"Incorrect API key provided.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}})))
        .expect(1)
        .mount(&server)
        .await;
    let llm = openai(&server).build().unwrap();
    let e = llm.complete(&draft_request()).await.unwrap_err();
    assert_eq!(e.kind(), "unauthenticated");
    assert!(!e.to_string().contains(KEY));

    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(429).set_body_json(json!({"error":{
            "message":"You exceeded your current quota.","type":"insufficient_quota","param":null,"code":"insufficient_quota"}})))
        .mount(&server)
        .await;
    let llm = openai(&server).build().unwrap();
    assert_eq!(
        llm.complete(&draft_request()).await.unwrap_err().kind(),
        "unavailable"
    );
    assert_eq!(
        openai(&server)
            .build()
            .unwrap()
            .complete(&LlmRequest {
                messages: vec![],
                ..draft_request()
            })
            .await
            .unwrap_err()
            .kind(),
        "invalid_input"
    );
}

#[tokio::test]
async fn audio_in_and_out() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/audio/transcriptions"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"text": "Imagine the wildest idea that you've ever had",
            "usage": {"type":"tokens","input_tokens":14,"input_token_details":{"text_tokens":0,"audio_tokens":14},"output_tokens":45,"total_tokens":59}})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/audio/speech"))
        .and(body_partial_json(json!({"input":"Hello Ann","voice":"alloy","response_format":"mp3","model":"gpt-4o-mini-tts"})))
        .respond_with(ResponseTemplate::new(200).insert_header("content-type", "application/octet-stream").set_body_bytes(vec![0x49u8, 0x44, 0x33, 4]))
        .expect(1)
        .mount(&server)
        .await;
    let ai = openai(&server).build().unwrap();
    let text = ai
        .transcribe(&Audio {
            format: AudioFormat::Wav,
            bytes: b"RIFF....WAVE".to_vec(),
        })
        .await
        .unwrap();
    assert!(text.starts_with("Imagine"));
    let audio = ai.synthesize("Hello Ann", AudioFormat::Mp3).await.unwrap();
    assert_eq!(audio.bytes, vec![0x49, 0x44, 0x33, 4]);
    assert_eq!(
        ai.synthesize("x", AudioFormat::Webm)
            .await
            .unwrap_err()
            .kind(),
        "unsupported"
    );
    let reqs = server.received_requests().await.unwrap();
    let tr = reqs
        .iter()
        .find(|r| r.url.path() == "/v1/audio/transcriptions")
        .unwrap();
    let ct = tr.headers.get("content-type").unwrap().to_str().unwrap();
    assert!(ct.starts_with("multipart/form-data"), "{ct}");
    let body = String::from_utf8_lossy(&tr.body);
    // Required multipart fields of CreateTranscriptionRequest: file and model.
    assert!(
        body.contains("name=\"file\"") && body.contains("name=\"model\""),
        "{body}"
    );
    assert!(body.contains("gpt-4o-mini-transcribe"));
    let sp: Value = serde_json::from_slice(
        &reqs
            .iter()
            .find(|r| r.url.path() == "/v1/audio/speech")
            .unwrap()
            .body,
    )
    .unwrap();
    for k in sp.as_object().unwrap().keys() {
        assert!(
            [
                "model",
                "input",
                "instructions",
                "voice",
                "response_format",
                "speed",
                "stream_format"
            ]
            .contains(&k.as_str()),
            "{k}"
        );
    }
}

#[tokio::test]
async fn key_never_in_debug_or_logs() {
    let (logs, _guard) = common::capture_logs();
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({"error":{"message":"bad","type":"invalid_request_error","param":null,"code":null}})))
        .mount(&server)
        .await;
    let b = openai(&server);
    let ai = b.clone().build().unwrap();
    let _ = ai.complete(&draft_request()).await;
    let dbg = format!("{ai:?} {b:?}");
    assert!(!dbg.contains(KEY), "{dbg}");
    let text = logs.text();
    assert!(text.contains("openai_request"), "{text}");
    assert!(!text.contains(KEY));
    let none = OpenAiBuilder::from_lookup(|_| None);
    assert!(!none.is_configured());
    assert_eq!(none.build().unwrap_err().kind(), "invalid_input");
    let env = OpenAiBuilder::from_lookup(|k| match k {
        "OPENAI_BASE_URL" => Some("http://127.0.0.1:9/v1".into()),
        "OPENAI_MODEL" => Some("llama3".into()),
        _ => None,
    });
    assert!(env.is_configured());
    assert_eq!(env.build().unwrap().models().chat, "llama3");
}

#[tokio::test]
async fn server_errors_use_async_openai_retries_only_then_the_breaker_opens() {
    let server = MockServer::start().await;
    let storm = Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503).set_body_json(json!({"error":{"message":"overloaded","type":"server_error","param":null,"code":null}})))
        .mount_as_scoped(&server)
        .await;
    let llm = openai(&server)
        .with_breaker(salesagent_connectors::http::BreakerConfig {
            failure_threshold: 1,
            open_for: std::time::Duration::from_millis(100),
        })
        .build()
        .unwrap();
    let e = llm.complete(&draft_request()).await.unwrap_err();
    assert_eq!(e.kind(), "unavailable");
    // One attempt plus async-openai's own three retries: no second retry loop on top.
    assert_eq!(server.received_requests().await.unwrap().len(), 4);
    let e = llm.complete(&draft_request()).await.unwrap_err();
    assert!(e.to_string().contains("circuit breaker open"), "{e}");
    assert_eq!(
        server.received_requests().await.unwrap().len(),
        4,
        "open breaker fails fast"
    );
    drop(storm);
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(chat_response("{\"subject\":\"a\",\"body\":\"b\"}")),
        )
        .mount(&server)
        .await;
    tokio::time::sleep(std::time::Duration::from_millis(150)).await;
    llm.complete(&draft_request()).await.unwrap();
    assert_eq!(
        llm.breaker().state(),
        salesagent_connectors::http::BreakerState::Closed
    );
}

/// The block of a top-level schema in the trimmed YAML (no YAML parser in the workspace, so the
/// block is cut by indentation, the way the file was trimmed).
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
fn the_fields_we_send_are_in_the_spec() {
    let Some(yaml) = common::contract("openai/openapi.chat-audio.trimmed.yaml") else {
        return;
    };
    let chat = schema_block(&yaml, "CreateChatCompletionRequest");
    for field in [
        "messages",
        "model",
        "response_format",
        "max_completion_tokens",
        "stream",
    ] {
        assert!(
            chat.contains(&format!("\n            {field}:")),
            "{field} not in CreateChatCompletionRequest"
        );
    }
    assert!(
        chat.contains("- messages") && chat.contains("- model"),
        "messages and model are required"
    );
    let shared = schema_block(&yaml, "ModelResponseProperties");
    assert!(shared.contains("\n        temperature:"));
    let rf = schema_block(&yaml, "ResponseFormatJsonSchema");
    for field in ["name", "schema", "strict"] {
        assert!(
            rf.contains(&format!("\n            {field}:")),
            "json_schema.{field}"
        );
    }
    let speech = schema_block(&yaml, "CreateSpeechRequest");
    for field in ["model", "input", "voice", "response_format"] {
        assert!(
            speech.contains(&format!("\n        {field}:")),
            "speech {field}"
        );
    }
    assert!(
        !rf.contains("max_completion_tokens"),
        "blocks are cut per schema"
    );
    let tr = schema_block(&yaml, "CreateTranscriptionRequest");
    assert!(tr.contains("\n        file:") && tr.contains("\n        model:"));
}
