//! The operator assistant over HTTP (bearer token): text or audio in, a typed command and a
//! plain-text reply out.
//!
//! | route | body | answer |
//! |---|---|---|
//! | `POST /api/assistant/command` | `{"text", "session"?, "operator"?, "dry_run"?}` | [`CommandReply`] |
//! | `POST /api/assistant/audio?session=&operator=&speak=` | audio (`Content-Type: audio/wav`, `audio/webm`, `audio/ogg`, `audio/mpeg`) | [`CommandReply`] with `transcript` and, with `speak=true`, the reply as base64 WAVE |
//!
//! A conversation keeps its current draft and pending confirmation in a server-side session:
//! the first answer carries a `session` id, and later requests that send it back continue the
//! conversation ("what's next", then "approve", then "yes"). Sessions idle for 30 minutes are
//! dropped; at most 256 are kept (the least recently used goes first).
//!
//! The speech engines are optional ([`AppState::with_speech`]): without speech to text the
//! audio route answers `503` with a JSON error, and so does `speak=true` without text to speech,
//! before anything is executed.

use super::AppState;
use super::error::{ApiError, ApiResult};
use super::extract::{ApiJson, ApiQuery, Operator, RawBody, random_token};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::post;
use axum::{Json, Router};
use base64::Engine as _;
use chrono::{DateTime, TimeDelta, Utc};
use salesagent_core::Error;
use salesagent_core::assistant::{
    AssistantConfig, AssistantSession, Command, Interpreter, MAX_UTTERANCE_LEN, Reply, Source,
};
use salesagent_core::model::{Domain, DraftId};
use salesagent_core::ports::{Audio, AudioFormat, DynSpeechToText, DynTextToSpeech};
use salesagent_core::sending::{SendMode, SendingConfig};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::Mutex;

/// Largest audio upload: 8 MiB (about three minutes of 22 kHz mono WAVE).
pub const MAX_AUDIO_BYTES: usize = 8 * 1024 * 1024;

/// An audio upload: read within [`MAX_AUDIO_BYTES`].
pub(super) type AudioBody = RawBody<MAX_AUDIO_BYTES>;

/// Most conversations kept at once.
const MAX_SESSIONS: usize = 256;

/// Minutes a conversation may stay idle before it is dropped.
const SESSION_IDLE_MINUTES: i64 = 30;

/// The optional speech engines of the assistant routes.
#[derive(Debug, Clone, Default)]
pub(super) struct Speech {
    pub(super) stt: Option<DynSpeechToText>,
    pub(super) tts: Option<DynTextToSpeech>,
}

struct Entry {
    session: Arc<Mutex<AssistantSession>>,
    last_used: DateTime<Utc>,
}

/// The server-side conversations, by session id.
#[derive(Default)]
pub(super) struct Sessions {
    config: Option<AssistantConfig>,
    map: Mutex<HashMap<String, Entry>>,
}

impl std::fmt::Debug for Sessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sessions")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Sessions {
    /// Sessions whose assistant behaves as `config` (`None`: from the sending settings).
    pub(super) fn new(config: Option<AssistantConfig>) -> Self {
        Self {
            config,
            map: Mutex::new(HashMap::new()),
        }
    }
}

/// The assistant's behaviour: the configured one, or the send mode from the environment's
/// sending settings. Settings that do not parse count as real sends, so approving asks first.
fn assistant_config(state: &AppState) -> AssistantConfig {
    state.assistant.config.unwrap_or_else(|| {
        let sending = Domain::parse("salesagent.invalid").and_then(|d| SendingConfig::from_env(&d));
        AssistantConfig {
            send_mode: sending.map_or(SendMode::RealSends, |c| c.policy.mode),
            ..AssistantConfig::default()
        }
    })
}

/// The conversation `id` (when still kept) or a new one for `operator`.
async fn session(
    state: &AppState,
    id: Option<&str>,
    operator: Option<&str>,
) -> ApiResult<(String, Arc<Mutex<AssistantSession>>)> {
    let now = state.now();
    let mut map = state.assistant.map.lock().await;
    map.retain(|_, e| now - e.last_used < TimeDelta::minutes(SESSION_IDLE_MINUTES));
    if let Some(id) = id {
        return match map.get_mut(id) {
            Some(e) => {
                e.last_used = now;
                Ok((id.to_owned(), e.session.clone()))
            }
            None => Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                "unknown or expired assistant session; omit `session` to start a new one",
            )),
        };
    }
    let config = assistant_config(state);

    let mut s = AssistantSession::new(
        operator.unwrap_or("api"),
        state.store().clone(),
        state.clock.clone(),
    )?
    .with_config(config);
    if let Some(llm) = &state.assistant_llm {
        s = s.with_llm(llm.clone());
    }
    // The one operator path: the same queue (order, reasons, atomic approve + send job) as the
    // API and the web page.
    s = s.with_queue(state.queue().clone());
    if map.len() >= MAX_SESSIONS
        && let Some(oldest) = map
            .iter()
            .min_by_key(|(_, e)| e.last_used)
            .map(|(k, _)| k.clone())
    {
        map.remove(&oldest);
    }
    let id = random_token();
    let session = Arc::new(Mutex::new(s));
    map.insert(
        id.clone(),
        Entry {
            session: session.clone(),
            last_used: now,
        },
    );
    Ok((id, session))
}

/// One request typed into the operator web page's assistant box: continues conversation `id`
/// while it is kept (a new one otherwise) and acts as `operator`.
async fn handle_web(
    state: &AppState,
    id: Option<&str>,
    operator: &str,
    text: &str,
) -> ApiResult<(String, Reply)> {
    check_text("text", text)?;
    let (id, session) = match session(state, id, Some(operator)).await {
        Ok(found) => found,
        // An expired conversation starts over rather than failing the page.
        Err(_) if id.is_some() => session(state, None, Some(operator)).await?,
        Err(e) => return Err(e),
    };
    let reply = session.lock().await.handle(text).await?;
    Ok((id, reply))
}

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/assistant/command", post(command))
        .route(
            "/api/assistant/audio",
            post(audio).layer(DefaultBodyLimit::max(MAX_AUDIO_BYTES)),
        )
}

/// `POST /api/assistant/command` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CommandRequest {
    text: String,
    #[serde(default)]
    session: Option<String>,
    #[serde(default)]
    operator: Option<String>,
    #[serde(default)]
    dry_run: bool,
}

/// Spoken reply audio, base64-encoded.
#[derive(Debug, Serialize)]
pub struct ReplyAudio {
    /// `wav`.
    pub format: AudioFormat,
    /// The MIME type.
    pub mime_type: &'static str,
    /// The bytes, standard base64.
    pub base64: String,
}

/// What both routes answer.
#[derive(Debug, Serialize)]
pub struct CommandReply {
    /// The conversation to send back for the next request (`None` for dry runs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    /// What the speech-to-text engine heard (audio route only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transcript: Option<String>,
    /// The typed command, e.g. `{"command":"reject","reason":"too early"}`.
    pub command: Command,
    /// Who decided it (`parser`, `llm`, `fallback`; absent for the answer to a confirmation).
    pub source: Option<Source>,
    /// Plain text for the screen or for speech (absent for dry runs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply: Option<String>,
    /// True when the assistant waits for "yes" or "no".
    pub awaiting_confirmation: bool,
    /// The draft in front of the operator after this turn.
    pub draft: Option<DraftId>,
    /// The reply spoken (audio route with `speak=true`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audio: Option<ReplyAudio>,
    /// Why the reply could not be spoken (the command was still carried out).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audio_error: Option<String>,
}

impl CommandReply {
    fn from_reply(session: String, reply: Reply) -> Self {
        Self {
            session: Some(session),
            transcript: None,
            command: reply.command,
            source: reply.source,
            reply: Some(reply.text),
            awaiting_confirmation: reply.awaiting_confirmation,
            draft: reply.draft,
            audio: None,
            audio_error: None,
        }
    }
}

fn check_text(field: &str, text: &str) -> ApiResult<()> {
    if text.trim().is_empty() {
        return Err(ApiError::bad_request(format!("`{field}` is empty")));
    }
    if text.len() > MAX_UTTERANCE_LEN {
        return Err(ApiError::bad_request(format!(
            "`{field}` is over {MAX_UTTERANCE_LEN} bytes"
        )));
    }
    Ok(())
}

async fn command(
    State(state): State<AppState>,
    operator: Operator,
    ApiJson(req): ApiJson<CommandRequest>,
) -> ApiResult<Json<CommandReply>> {
    let name = acting(&operator, req.operator.as_deref())?;
    check_text("text", &req.text)?;
    if req.dry_run {
        let interpreter = state
            .assistant_llm
            .clone()
            .map_or_else(Interpreter::new, Interpreter::with_llm);
        let i = interpreter.interpret(&req.text).await;
        return Ok(Json(CommandReply {
            session: None,
            transcript: None,
            command: i.command,
            source: Some(i.source),
            reply: None,
            awaiting_confirmation: false,
            draft: None,
            audio: None,
            audio_error: None,
        }));
    }
    let (id, session) = session(&state, req.session.as_deref(), Some(name)).await?;
    let reply = session.lock().await.handle(&req.text).await?;
    Ok(Json(CommandReply::from_reply(id, reply)))
}

/// `POST /api/assistant/audio` query.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AudioQuery {
    #[serde(default)]
    session: Option<String>,
    #[serde(default)]
    operator: Option<String>,
    #[serde(default)]
    speak: bool,
}

/// The operator a request acts as: the authenticated one. A request may name it (`operator`),
/// but naming anyone else is `403`: the audit log records who really acted.
fn acting<'a>(operator: &'a Operator, named: Option<&str>) -> ApiResult<&'a str> {
    match named {
        Some(n) if n != operator.name => Err(ApiError::forbidden(
            "`operator` must be the authenticated operator (or left out)",
        )),
        _ => Ok(&operator.name),
    }
}

fn unavailable(what: &str) -> ApiError {
    ApiError {
        retry_after: None,
        ..ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            format!("{what} is not configured on this host"),
        )
    }
}

impl AppState {
    /// One request typed into the operator page's assistant box ([`handle_web`]).
    pub(super) async fn assistant_typed(
        &self,
        id: Option<&str>,
        operator: &str,
        text: &str,
    ) -> ApiResult<(String, Reply)> {
        handle_web(self, id, operator, text).await
    }

    /// The operator page's push-to-talk ([`hear`]): spoken back when text to speech is set
    /// up, and an expired conversation starts over.
    pub(super) async fn assistant_spoken(
        &self,
        id: Option<&str>,
        operator: &str,
        headers: &HeaderMap,
        body: Result<AudioBody, ApiError>,
    ) -> ApiResult<CommandReply> {
        hear(self, id, operator, Speak::IfAvailable, headers, body).await
    }
}

/// The audio format named by `Content-Type`.
fn audio_format(headers: &HeaderMap) -> ApiResult<AudioFormat> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match ct.as_str() {
        "audio/wav" | "audio/wave" | "audio/x-wav" | "audio/vnd.wave" => Ok(AudioFormat::Wav),
        "audio/webm" | "video/webm" => Ok(AudioFormat::Webm),
        "audio/ogg" | "application/ogg" => Ok(AudioFormat::Ogg),
        "audio/mpeg" | "audio/mp3" => Ok(AudioFormat::Mp3),
        _ => Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send audio/wav, audio/webm, audio/ogg or audio/mpeg",
        )),
    }
}

async fn audio(
    State(state): State<AppState>,
    operator: Operator,
    ApiQuery(q): ApiQuery<AudioQuery>,
    headers: HeaderMap,
    body: Result<AudioBody, ApiError>,
) -> ApiResult<Json<CommandReply>> {
    let name = acting(&operator, q.operator.as_deref())?;
    let speak = if q.speak { Speak::Required } else { Speak::No };
    hear(&state, q.session.as_deref(), name, speak, &headers, body)
        .await
        .map(Json)
}

/// Whether an audio request wants the reply spoken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Speak {
    /// Not spoken.
    No,
    /// Spoken; without text to speech the request is `503` before anything is done.
    Required,
    /// Spoken when text to speech is configured (the web page's push-to-talk), and an expired
    /// conversation starts over rather than failing.
    IfAvailable,
}

/// One spoken request: transcribes the audio body (format from `Content-Type`), runs it in
/// conversation `id` as `operator`, and speaks the answer as `speak` says. Shared by the API's
/// audio route and the web page's push-to-talk.
async fn hear(
    state: &AppState,
    id: Option<&str>,
    operator: &str,
    speak: Speak,
    headers: &HeaderMap,
    body: Result<AudioBody, ApiError>,
) -> ApiResult<CommandReply> {
    // Check what is configured before anything is heard or done.
    let Some(stt) = state.speech.stt.clone() else {
        return Err(unavailable("speech to text"));
    };
    let tts = match (speak, state.speech.tts.clone()) {
        (Speak::Required, None) => return Err(unavailable("text to speech")),
        (Speak::Required | Speak::IfAvailable, Some(t)) => Some(t),
        (Speak::No, _) | (Speak::IfAvailable, None) => None,
    };
    let format = audio_format(headers)?;
    let RawBody(bytes) = body?;
    if bytes.is_empty() {
        return Err(ApiError::bad_request("the audio body is empty"));
    }
    let (id, session) = match session(state, id, Some(operator)).await {
        Ok(found) => found,
        Err(_) if speak == Speak::IfAvailable && id.is_some() => {
            session(state, None, Some(operator)).await?
        }
        Err(e) => return Err(e),
    };
    let heard = Audio {
        format,
        bytes: bytes.to_vec(),
    };
    let transcript = stt.transcribe(&heard).await?;
    if transcript.trim().is_empty() {
        return Err(Error::invalid("audio", "no speech was recognised").into());
    }
    let reply = session.lock().await.handle(&transcript).await?;
    let spoken = match tts {
        Some(tts) => Some(AssistantSession::speak(&*tts, &reply, AudioFormat::Wav).await),
        None => None,
    };
    let mut out = CommandReply::from_reply(id, reply);
    out.transcript = Some(transcript);
    match spoken {
        Some(Ok(a)) => {
            out.audio = Some(ReplyAudio {
                format: a.format,
                mime_type: a.format.mime_type(),
                base64: base64::engine::general_purpose::STANDARD.encode(&a.bytes),
            });
        }
        Some(Err(e)) => {
            // The command already ran: answer it, and say why there is no audio.
            tracing::warn!(kind = e.kind(), "assistant: text to speech failed");
            out.audio_error = Some(e.to_string());
        }
        None => {}
    }
    Ok(out)
}
