//! Speech ports for the assistant: audio in, audio out.

use crate::Result;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Audio container formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AudioFormat {
    /// RIFF WAVE.
    Wav,
    /// WebM (Opus).
    Webm,
    /// Ogg (Opus/Vorbis).
    Ogg,
    /// MP3.
    Mp3,
}

impl AudioFormat {
    /// The MIME type.
    #[must_use]
    pub fn mime_type(self) -> &'static str {
        match self {
            Self::Wav => "audio/wav",
            Self::Webm => "audio/webm",
            Self::Ogg => "audio/ogg",
            Self::Mp3 => "audio/mpeg",
        }
    }
}

/// A piece of audio.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Audio {
    /// Format.
    pub format: AudioFormat,
    /// Bytes.
    pub bytes: Vec<u8>,
}

/// Speech to text.
#[async_trait]
pub trait SpeechToText: Send + Sync + std::fmt::Debug + 'static {
    /// The transcript of `audio`.
    async fn transcribe(&self, audio: &Audio) -> Result<String>;
}

/// Text to speech.
#[async_trait]
pub trait TextToSpeech: Send + Sync + std::fmt::Debug + 'static {
    /// `text` spoken, in `format` (backends may refuse formats with `Unsupported`).
    async fn synthesize(&self, text: &str, format: AudioFormat) -> Result<Audio>;
}

/// A shared speech-to-text engine.
pub type DynSpeechToText = Arc<dyn SpeechToText>;
/// A shared text-to-speech engine.
pub type DynTextToSpeech = Arc<dyn TextToSpeech>;
