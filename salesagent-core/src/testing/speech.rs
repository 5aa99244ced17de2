//! Speech fakes: "audio" is the UTF-8 text itself, so the two fakes round-trip.

use super::lock;
use crate::ports::{Audio, AudioFormat, SpeechToText, TextToSpeech};
use crate::{Error, Result};
use async_trait::async_trait;
use std::collections::VecDeque;
use std::sync::Mutex;

#[derive(Debug, Default)]
struct SttState {
    script: VecDeque<Result<String>>,
    heard: Vec<Audio>,
}

/// A [`SpeechToText`] that transcribes audio bytes as UTF-8 text (or returns scripted
/// transcripts first), and records every audio it was given.
#[derive(Debug, Default)]
pub struct FakeSpeechToText {
    state: Mutex<SttState>,
}

impl FakeSpeechToText {
    /// A transcriber.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Queues a transcript (used before the bytes-as-text rule).
    pub fn push_transcript(&self, text: impl Into<String>) {
        lock(&self.state).script.push_back(Ok(text.into()));
    }

    /// Queues a failure.
    pub fn push_error(&self, error: Error) {
        lock(&self.state).script.push_back(Err(error));
    }

    /// Every audio received, in order.
    #[must_use]
    pub fn heard(&self) -> Vec<Audio> {
        lock(&self.state).heard.clone()
    }
}

#[async_trait]
impl SpeechToText for FakeSpeechToText {
    async fn transcribe(&self, audio: &Audio) -> Result<String> {
        let scripted = {
            let mut s = lock(&self.state);
            s.heard.push(audio.clone());
            s.script.pop_front()
        };
        if let Some(t) = scripted {
            return t;
        }
        if audio.bytes.is_empty() {
            return Err(Error::invalid("audio", "is empty"));
        }
        String::from_utf8(audio.bytes.clone())
            .map_err(|_| Error::invalid("audio", "the fake only understands UTF-8 \"audio\""))
    }
}

#[derive(Debug, Default)]
struct TtsState {
    refused: Vec<AudioFormat>,
    spoken: Vec<(String, AudioFormat)>,
}

/// A [`TextToSpeech`] whose "audio" is the text's UTF-8 bytes; records every request.
#[derive(Debug, Default)]
pub struct FakeTextToSpeech {
    state: Mutex<TtsState>,
}

impl FakeTextToSpeech {
    /// A synthesiser accepting every format.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes `format` answer `Unsupported`.
    pub fn refuse_format(&self, format: AudioFormat) {
        lock(&self.state).refused.push(format);
    }

    /// Every text spoken, with its format, in order.
    #[must_use]
    pub fn spoken(&self) -> Vec<(String, AudioFormat)> {
        lock(&self.state).spoken.clone()
    }
}

#[async_trait]
impl TextToSpeech for FakeTextToSpeech {
    async fn synthesize(&self, text: &str, format: AudioFormat) -> Result<Audio> {
        let mut s = lock(&self.state);
        if s.refused.contains(&format) {
            return Err(Error::unsupported(format!(
                "audio format {}",
                format.mime_type()
            )));
        }
        if text.trim().is_empty() {
            return Err(Error::invalid("text", "is empty"));
        }
        s.spoken.push((text.to_owned(), format));
        Ok(Audio {
            format,
            bytes: text.as_bytes().to_vec(),
        })
    }
}
