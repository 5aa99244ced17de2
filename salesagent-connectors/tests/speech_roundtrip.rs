//! Audio round trip of the operator assistant (issue 11): `espeak-ng` speaks a command to a WAVE
//! file; the OpenAI speech-to-text connector sends it to a mock server that answers with the
//! transcription response shape of `contracts/openai/openapi.chat-audio.trimmed.yaml`
//! (`CreateTranscriptionResponseJson`: `text` plus token `usage`); the assistant's parser turns
//! the transcript into the typed command.
//!
//! The tests that need the program print a notice and skip when `espeak-ng` is not installed
//! (`scripts/test.sh` installs it).

mod common;

use salesagent_connectors::espeak::{Espeak, MAX_TEXT_CHARS};
use salesagent_connectors::openai::OpenAi;
use salesagent_core::assistant::{AssistantSession, Command, Parsed, parse};
use salesagent_core::ports::{AudioFormat, DynClock, SpeechToText, SystemClock, TextToSpeech};
use salesagent_core::testing::MemoryStore;
use serde_json::{Value, json};
use std::sync::Arc;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// `espeak-ng` when it runs here; otherwise `None` after a notice.
async fn espeak() -> Option<Espeak> {
    let e = Espeak::new();
    match e.check().await {
        Ok(()) => Some(e),
        Err(err) => {
            eprintln!("SKIPPED: espeak-ng is not available ({err}); install espeak-ng to run this");
            None
        }
    }
}

/// A `CreateTranscriptionResponseJson` body for `text`, shaped like the spec's example.
fn transcription(text: &str) -> Value {
    json!({
        "text": text,
        "usage": {
            "type": "tokens",
            "input_tokens": 14,
            "input_token_details": {"text_tokens": 10, "audio_tokens": 4},
            "output_tokens": 101,
            "total_tokens": 115
        }
    })
}

/// When the contract is present, checks the fixture's shape is still what the spec declares.
#[test]
fn transcription_fixture_follows_the_contract() {
    let Some(spec) = common::contract("openai/openapi.chat-audio.trimmed.yaml") else {
        return;
    };
    let start = spec
        .find("    CreateTranscriptionResponseJson:")
        .expect("the spec defines CreateTranscriptionResponseJson");
    let schema = &spec[start..];
    let end = schema[5..]
        .find("\n    Create")
        .map_or(schema.len(), |i| i + 5);
    let schema = &schema[..end];
    assert!(schema.contains("required:\n        - text"), "{schema}");
    assert!(schema.contains("TranscriptTextUsageTokens"), "{schema}");
    let usage = &spec[spec
        .find("    TranscriptTextUsageTokens:")
        .expect("usage schema")..];
    let fixture = transcription("what's next");
    for key in fixture["usage"].as_object().expect("object").keys() {
        assert!(
            usage.contains(&format!("        {key}:")),
            "{key} is in the spec"
        );
    }
    assert!(usage.contains("- tokens"));
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

async fn mock_transcription(server: &MockServer, text: &str) {
    server.reset().await;
    Mock::given(method("POST"))
        .and(path("/v1/audio/transcriptions"))
        .respond_with(ResponseTemplate::new(200).set_body_json(transcription(text)))
        .expect(1)
        .mount(server)
        .await;
}

fn openai(server: &MockServer) -> OpenAi {
    OpenAi::builder()
        .with_api_key("sk-test-speech")
        .with_base_url(format!("{}/v1", server.uri()))
        .build()
        .expect("openai client")
}

#[tokio::test]
async fn spoken_commands_come_back_as_typed_commands() {
    let Some(tts) = espeak().await else {
        return;
    };
    let server = MockServer::start().await;
    let stt = openai(&server);
    let cases = [
        ("What's next?", Command::Next),
        ("Approve.", Command::Approve),
        (
            "Reject: too early.",
            Command::Reject {
                reason: Some("too early".into()),
            },
        ),
        ("How many are pending?", Command::PendingCount),
        ("Pause sending.", Command::PauseSending),
    ];
    for (spoken, expected) in cases {
        let audio = tts
            .synthesize(spoken, AudioFormat::Wav)
            .await
            .expect("espeak-ng speaks");
        assert_eq!(audio.format, AudioFormat::Wav);
        assert_eq!(&audio.bytes[..4], b"RIFF", "{spoken}");
        assert_eq!(&audio.bytes[8..12], b"WAVE", "{spoken}");
        // Half a second of 22 kHz 16-bit mono is 22 kB: spoken words are longer than that.
        assert!(
            audio.bytes.len() > 20_000,
            "{spoken}: {} bytes",
            audio.bytes.len()
        );

        mock_transcription(&server, spoken).await;
        let transcript = stt.transcribe(&audio).await.expect("transcription");
        assert_eq!(transcript, spoken);
        assert_eq!(parse(&transcript), Parsed::Command(expected), "{spoken}");

        // The mock received exactly the espeak output, as the multipart `file` of a WAVE.
        let reqs = server.received_requests().await.expect("recorded requests");
        assert_eq!(reqs.len(), 1);
        let body = &reqs[0].body;
        let text = String::from_utf8_lossy(body);
        assert!(
            text.contains("name=\"file\"; filename=\"audio.wav\""),
            "{spoken}"
        );
        assert!(
            contains(body, &audio.bytes),
            "{spoken}: the wav is in the upload"
        );
    }
}

#[tokio::test]
async fn the_assistant_handles_a_spoken_request_end_to_end() {
    let Some(tts) = espeak().await else {
        return;
    };
    let server = MockServer::start().await;
    mock_transcription(&server, "How many drafts are pending?").await;
    let clock: DynClock = Arc::new(SystemClock);
    let store = Arc::new(MemoryStore::new(clock.clone()));
    let mut session = AssistantSession::new("alice", store, clock).expect("session");
    let audio = tts
        .synthesize("How many drafts are pending?", AudioFormat::Wav)
        .await
        .expect("espeak-ng speaks");
    let (transcript, reply) = session
        .handle_audio(&openai(&server), &audio)
        .await
        .expect("a reply");
    assert_eq!(transcript, "How many drafts are pending?");
    assert_eq!(reply.command, Command::PendingCount);
    assert_eq!(reply.text, "Nothing is pending.");
    // And the reply is spoken back.
    let spoken = AssistantSession::speak(&tts, &reply, AudioFormat::Wav)
        .await
        .expect("spoken reply");
    assert_eq!(&spoken.bytes[..4], b"RIFF");
}

#[tokio::test]
async fn text_is_never_read_as_options() {
    let Some(tts) = espeak().await else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("salesagent-espeak-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let target = dir.join("owned.wav");
    let hostile = format!("-w {} --stdin", target.display());
    let audio = tts
        .synthesize(&hostile, AudioFormat::Wav)
        .await
        .expect("spoken as text");
    assert_eq!(&audio.bytes[..4], b"RIFF");
    assert!(!target.exists(), "espeak-ng must not read the text as -w");
    // Shell metacharacters are text too (no shell is involved).
    let audio = tts
        .synthesize(
            "$(touch owned); `touch owned` | touch owned",
            AudioFormat::Wav,
        )
        .await
        .expect("spoken as text");
    assert_eq!(&audio.bytes[..4], b"RIFF");
    assert!(!std::path::Path::new("owned").exists());
    // Very long text is capped, not refused.
    let long = "approve the draft ".repeat(MAX_TEXT_CHARS);
    let audio = tts
        .clone()
        .with_speed(450)
        .expect("speed")
        .synthesize(&long, AudioFormat::Wav)
        .await
        .expect("capped text is spoken");
    assert_eq!(&audio.bytes[..4], b"RIFF");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn errors_are_typed() {
    // A missing program is Unavailable, whether or not espeak-ng is installed.
    let missing = Espeak::new().with_program("/nonexistent/bin/espeak-ng");
    let err = missing
        .synthesize("hello", AudioFormat::Wav)
        .await
        .expect_err("no program");
    assert_eq!(err.kind(), "unavailable", "{err}");
    assert!(err.to_string().contains("not installed"), "{err}");
    assert_eq!(
        missing.check().await.expect_err("no program").kind(),
        "unavailable"
    );

    let e = Espeak::new();
    for format in [AudioFormat::Mp3, AudioFormat::Ogg, AudioFormat::Webm] {
        let err = e.synthesize("hello", format).await.expect_err("wav only");
        assert_eq!(err.kind(), "unsupported", "{format:?}");
    }
    let err = e
        .synthesize(" \n\t", AudioFormat::Wav)
        .await
        .expect_err("empty");
    assert_eq!(err.kind(), "invalid_input");

    if espeak().await.is_some() {
        // An unknown voice makes espeak-ng fail: a backend error with its message.
        let err = match Espeak::new()
            .with_voice("xq-nonexistent")
            .expect("well-formed name")
            .synthesize("hello", AudioFormat::Wav)
            .await
        {
            Ok(audio) => panic!(
                "an unknown voice must fail, got {} bytes",
                audio.bytes.len()
            ),
            Err(e) => e,
        };
        assert_eq!(err.kind(), "backend", "{err}");
        assert!(err.to_string().contains("voice"), "{err}");
    }
}
