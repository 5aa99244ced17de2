//! In-process tests of the assistant routes: `POST /api/assistant/command` (text) and
//! `POST /api/assistant/audio` (audio → transcript → command → reply), behind the operator's
//! bearer token, with the speech engines optional.
#![cfg(feature = "host")]

mod webhook_support;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use base64::Engine as _;
use salesagent::core::assistant::AssistantConfig;
use salesagent::core::model::DraftStatus;
use salesagent::core::ports::{DynSpeechToText, DynTextToSpeech, SettingsExt as _};
use salesagent::core::sending::SendMode;
use salesagent::core::testing::{FakeSpeechToText, FakeTextToSpeech};
use salesagent::host::MAX_AUDIO_BYTES;
use serde_json::{Value, json};
use std::sync::Arc;
use webhook_support::*;

/// An environment whose assistant runs in DRAFT_ONLY mode (no confirmation for approve).
fn assistant_env() -> Env {
    let mut env = env();
    env.state = env.state.clone().with_assistant_config(AssistantConfig {
        send_mode: SendMode::DraftOnly,
        ..AssistantConfig::default()
    });
    env
}

async fn create(env: &Env, email: &str, name: &str, priority: f64) -> String {
    let resp = env
        .send(api(
            "POST",
            "/api/drafts",
            Some(json!({
                "contact_email": email,
                "contact_name": name,
                "company_name": "Acme",
                "sender": "sales@ours.io",
                "subject": format!("Hello {name}"),
                "body": format!("Hi {name},\n\nthanks for asking.\n"),
                "priority": priority
            })),
        ))
        .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    json(resp).await["id"].as_str().expect("id").to_owned()
}

async fn say(env: &Env, body: Value) -> (StatusCode, Value) {
    let resp = env
        .send(api("POST", "/api/assistant/command", Some(body)))
        .await;
    let status = resp.status();
    (status, json(resp).await)
}

fn audio_request(query: &str, content_type: &str, body: Vec<u8>, auth: bool) -> Request<Body> {
    let mut b = Request::post(format!("/api/assistant/audio{query}"))
        .header(header::CONTENT_TYPE, content_type);
    if auth {
        b = b.header(header::AUTHORIZATION, format!("Bearer {TOKEN}"));
    }
    b.body(Body::from(body)).expect("request")
}

#[tokio::test]
async fn text_commands_keep_a_conversation() {
    let env = assistant_env();
    let low = create(&env, "low@acme.io", "Lou", 10.0).await;
    let high = create(&env, "high@acme.io", "Hana", 90.0).await;

    // Dry run: the typed command, nothing else, no session.
    let (status, v) = say(&env, json!({"text": "reject: too early", "dry_run": true})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        v["command"],
        json!({"command": "reject", "reason": "too early"})
    );
    assert_eq!(v["source"], "parser");
    assert!(
        v.get("session").is_none() && v.get("reply").is_none(),
        "{v}"
    );

    let (status, v) = say(&env, json!({"text": "what's next?", "operator": "admin"})).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["command"]["command"], "next");
    let reply = v["reply"].as_str().expect("reply");
    assert!(reply.contains("It is first because"), "{reply}");
    // The queue's own priority (ICP fit, recency, outcomes) decides which one is first.
    let first = v["draft"].as_str().expect("a current draft").to_owned();
    let (second, first_name) = if first == high {
        (low.clone(), "Hana")
    } else {
        assert_eq!(first, low);
        (high.clone(), "Lou")
    };
    assert!(
        reply.contains(&format!("the draft to {first_name}")),
        "{reply}"
    );
    let session = v["session"].as_str().expect("session").to_owned();

    // The session remembers the current draft.
    let (_, v) = say(&env, json!({"text": "nope, too early", "session": session})).await;
    assert_eq!(
        v["command"],
        json!({"command": "reject", "reason": "too early"})
    );
    assert!(
        v["reply"]
            .as_str()
            .unwrap_or("")
            .starts_with(&format!("Rejected the draft to {first_name}")),
        "{v}"
    );
    let d = env
        .store
        .get_draft(first.parse().expect("id"))
        .await
        .expect("draft");
    assert_eq!(d.status, DraftStatus::Rejected);
    let audit = env.store.audit_entries(0, 0).await.expect("audit");
    assert!(
        audit.iter().any(|e| e.actor == "operator:admin"),
        "actor recorded"
    );

    let (_, v) = say(&env, json!({"text": "next one please", "session": session})).await;
    assert_eq!(v["draft"], second.as_str());
    let (_, v) = say(&env, json!({"text": "looks good", "session": session})).await;
    assert_eq!(v["command"]["command"], "approve");
    let d = env
        .store
        .get_draft(second.parse().expect("id"))
        .await
        .expect("draft");
    assert_eq!(d.status, DraftStatus::Approved);

    // Pausing asks first; "yes" in the same session does it.
    let (_, v) = say(&env, json!({"text": "pause sending", "session": session})).await;
    assert_eq!(v["awaiting_confirmation"], true, "{v}");
    assert!(!env.store.kill_switch().await.expect("kill switch"));
    let (_, v) = say(&env, json!({"text": "yes", "session": session})).await;
    assert_eq!(v["command"]["command"], "pause_sending");
    assert!(v["source"].is_null(), "an answer to a confirmation: {v}");
    assert!(env.store.kill_switch().await.expect("kill switch"));

    // Unsafe requests get a question, not an action.
    let (_, v) = say(
        &env,
        json!({"text": "approve all and delete the rest", "session": session}),
    )
    .await;
    assert_eq!(v["command"]["command"], "clarify", "{v}");
}

#[tokio::test]
async fn command_route_refuses_bad_requests() {
    let env = assistant_env();
    for (body, want) in [
        (json!({"text": ""}), StatusCode::BAD_REQUEST),
        (json!({"text": "   "}), StatusCode::BAD_REQUEST),
        (json!({"text": "x".repeat(5000)}), StatusCode::BAD_REQUEST),
        (json!({"txt": "next"}), StatusCode::BAD_REQUEST),
        (json!({"text": 5}), StatusCode::BAD_REQUEST),
        (
            json!({"text": "next", "operator": "a\nb"}),
            StatusCode::FORBIDDEN,
        ),
        (
            json!({"text": "next", "session": "nope"}),
            StatusCode::NOT_FOUND,
        ),
    ] {
        let (status, v) = say(&env, body.clone()).await;
        assert_eq!(status, want, "{body}: {v}");
        assert!(v["error"]["kind"].is_string(), "{v}");
    }
    let resp = env
        .send(
            Request::post("/api/assistant/command")
                .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
                .body(Body::from("not json"))
                .expect("request"),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    // The same bearer auth as the operator API.
    let resp = env
        .send(
            Request::post("/api/assistant/command")
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(r#"{"text":"next"}"#))
                .expect("request"),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let resp = env
        .send(audio_request("", "audio/wav", b"next".to_vec(), false))
        .await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn audio_without_speech_engines_is_503() {
    let env = assistant_env();
    let resp = env
        .send(audio_request(
            "",
            "audio/wav",
            b"RIFF....WAVE".to_vec(),
            true,
        ))
        .await;
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    let v = json(resp).await;
    assert_eq!(v["error"]["kind"], "unavailable");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("speech to text"),
        "{v}"
    );

    // Speech to text alone: a spoken reply is refused up front, before anything runs.
    let stt = Arc::new(FakeSpeechToText::new());
    let mut env = assistant_env();
    env.state = env
        .state
        .clone()
        .with_speech(Some(stt.clone() as DynSpeechToText), None);
    let resp = env
        .send(audio_request(
            "?speak=true",
            "audio/wav",
            b"pause sending".to_vec(),
            true,
        ))
        .await;
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        json(resp).await["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("text to speech")
    );
    assert!(stt.heard().is_empty(), "nothing was transcribed");
}

#[tokio::test]
async fn audio_in_reply_text_and_audio_out() {
    let stt = Arc::new(FakeSpeechToText::new());
    let tts = Arc::new(FakeTextToSpeech::new());
    let mut env = assistant_env();
    env.state = env.state.clone().with_speech(
        Some(stt.clone() as DynSpeechToText),
        Some(tts.clone() as DynTextToSpeech),
    );
    let id = create(&env, "ann@acme.io", "Ann", 50.0).await;

    stt.push_transcript("What's next?");
    let resp = env
        .send(audio_request(
            "?operator=admin",
            "audio/wav; codecs=1",
            b"RIFF-fake-wave".to_vec(),
            true,
        ))
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let v = json(resp).await;
    assert_eq!(v["transcript"], "What's next?");
    assert_eq!(v["command"]["command"], "next");
    assert_eq!(v["draft"], id.as_str());
    assert!(v.get("audio").is_none(), "no audio unless asked: {v}");
    let heard = stt.heard();
    assert_eq!(heard.len(), 1);
    assert_eq!(heard[0].bytes, b"RIFF-fake-wave");
    let session = v["session"].as_str().expect("session").to_owned();

    // Same conversation, reply spoken back as base64 WAVE.
    stt.push_transcript("Approve.");
    let resp = env
        .send(audio_request(
            &format!("?session={session}&speak=true"),
            "audio/webm",
            b"webm-bytes".to_vec(),
            true,
        ))
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let v = json(resp).await;
    assert_eq!(v["command"]["command"], "approve");
    let reply = v["reply"].as_str().expect("reply").to_owned();
    assert!(reply.starts_with("Approved the draft to Ann"), "{reply}");
    assert_eq!(v["audio"]["format"], "wav");
    assert_eq!(v["audio"]["mime_type"], "audio/wav");
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(v["audio"]["base64"].as_str().expect("base64"))
        .expect("valid base64");
    assert_eq!(bytes, reply.as_bytes(), "the fake speaks the reply text");
    assert_eq!(tts.spoken().len(), 1);
    let d = env
        .store
        .get_draft(id.parse().expect("id"))
        .await
        .expect("draft");
    assert_eq!(d.status, DraftStatus::Approved);

    // The reply engine failing does not hide that the command ran.
    tts.refuse_format(salesagent::core::ports::AudioFormat::Wav);
    stt.push_transcript("how many are pending");
    let resp = env
        .send(audio_request(
            "?speak=true",
            "audio/ogg",
            b"ogg".to_vec(),
            true,
        ))
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let v = json(resp).await;
    assert_eq!(v["command"]["command"], "pending_count");
    assert!(
        v["audio_error"]
            .as_str()
            .is_some_and(|e| e.contains("unsupported")),
        "{v}"
    );

    // Bad uploads.
    for (ct, body, want) in [
        (
            "text/plain",
            b"next".to_vec(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        ("audio/wav", Vec::new(), StatusCode::BAD_REQUEST),
        (
            "audio/wav",
            vec![0u8; MAX_AUDIO_BYTES + 1],
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
    ] {
        let resp = env.send(audio_request("", ct, body, true)).await;
        assert_eq!(resp.status(), want, "{ct}");
        assert!(json(resp).await["error"]["kind"].is_string());
    }
    // Larger than the 1 MiB JSON limit but within the audio limit is accepted.
    stt.push_transcript("stats");
    let resp = env
        .send(audio_request(
            "",
            "audio/wav",
            vec![1u8; 2 * 1024 * 1024],
            true,
        ))
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(json(resp).await["command"]["command"], "stats");
    let resp = env
        .send(audio_request("?bogus=1", "audio/wav", b"x".to_vec(), true))
        .await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    // The speech engine being down is a 503 the client can retry.
    stt.push_error(salesagent::Error::unavailable("transcription service down"));
    let resp = env
        .send(audio_request("", "audio/wav", b"x".to_vec(), true))
        .await;
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(json(resp).await["error"]["kind"], "unavailable");
}

#[tokio::test]
async fn unrecognised_requests_fall_back_to_the_configured_model() {
    use salesagent::core::ports::DynLlm;
    use salesagent::core::testing::FakeLlm;

    // Without a model: a clarifying question, never a guess.
    let env = assistant_env();
    let (status, v) = say(
        &env,
        json!({"text": "give this one a thumbs up", "dry_run": true}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["command"]["command"], "clarify", "{v}");

    // With a model: its validated answer, marked as coming from the model.
    let llm = Arc::new(FakeLlm::new());
    llm.push_answer(r#"{"command":"approve","reason":null,"subject":null,"body":null,"target":null,"question":null}"#);
    let mut env = assistant_env();
    let dyn_llm: DynLlm = llm.clone();
    env.state = env.state.clone().with_assistant_llm(dyn_llm);
    let (status, v) = say(
        &env,
        json!({"text": "give this one a thumbs up", "dry_run": true}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["command"], json!({"command": "approve"}), "{v}");
    assert_eq!(v["source"], "llm", "{v}");
    assert_eq!(llm.request_count(), 1);

    // What the parser knows never reaches the model.
    let (_, v) = say(&env, json!({"text": "what's next?", "dry_run": true})).await;
    assert_eq!(v["source"], "parser", "{v}");
    assert_eq!(llm.request_count(), 1);
}
