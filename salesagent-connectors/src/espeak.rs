//! Offline text to speech through the `espeak-ng` program: no network, no credentials.
//!
//! [`Espeak`] implements the core [`TextToSpeech`] port by running `espeak-ng --stdout` (never
//! through a shell) and returning the RIFF WAVE it writes. The text is one argument after `--`,
//! so it can never be read as an option; control characters become spaces, and text longer than
//! [`MAX_TEXT_CHARS`] is cut at a word boundary. A missing program is [`Error::Unavailable`], so
//! callers can fall back to another engine or to text.
//!
//! Environment (for [`Espeak::from_env`]): `ESPEAK_NG_PATH` (the program, default `espeak-ng`
//! on `PATH`) and `ESPEAK_NG_VOICE` (e.g. `en-us`, `de`, `en+f3`).

use async_trait::async_trait;
use salesagent_core::ports::{Audio, AudioFormat, TextToSpeech};
use salesagent_core::{Error, Result};
use std::ffi::OsString;
use std::process::Stdio;
use std::time::Duration;

/// Longest text spoken, in characters; longer text is cut at a word boundary.
pub const MAX_TEXT_CHARS: usize = 4000;

/// Longest voice name accepted.
const MAX_VOICE_LEN: usize = 64;

/// Size of a canonical WAVE header; espeak output must be longer than this.
const WAV_HEADER_LEN: usize = 44;

/// Text to speech with the local `espeak-ng` program.
#[derive(Debug, Clone)]
pub struct Espeak {
    program: OsString,
    voice: Option<String>,
    words_per_minute: Option<u32>,
    timeout: Duration,
}

impl Default for Espeak {
    fn default() -> Self {
        Self::new()
    }
}

impl Espeak {
    /// `espeak-ng` from `PATH`, its default voice and speed, a 30 s time limit.
    #[must_use]
    pub fn new() -> Self {
        Self {
            program: OsString::from("espeak-ng"),
            voice: None,
            words_per_minute: None,
            timeout: Duration::from_secs(30),
        }
    }

    /// From `ESPEAK_NG_PATH` and `ESPEAK_NG_VOICE` (both optional).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for a malformed voice name.
    pub fn from_env() -> Result<Self> {
        let mut e = Self::new();
        if let Some(p) = std::env::var_os("ESPEAK_NG_PATH").filter(|p| !p.is_empty()) {
            e = e.with_program(p);
        }
        match std::env::var("ESPEAK_NG_VOICE") {
            Ok(v) if !v.trim().is_empty() => e.with_voice(v.trim()),
            _ => Ok(e),
        }
    }

    /// Runs this program instead of `espeak-ng` from `PATH`.
    #[must_use]
    pub fn with_program(mut self, program: impl Into<OsString>) -> Self {
        self.program = program.into();
        self
    }

    /// Speaks with `voice` (`espeak-ng -v`, e.g. `en-us`, `de`, `en+f3`).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] unless the name is 1–64 letters, digits, `-`, `_`, `+` or `/`
    /// and does not start with `-`.
    pub fn with_voice(mut self, voice: &str) -> Result<Self> {
        let ok = !voice.is_empty()
            && voice.len() <= MAX_VOICE_LEN
            && !voice.starts_with('-')
            && voice
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '+' | '/'));
        if !ok {
            return Err(Error::invalid(
                "voice",
                "use an espeak-ng voice name such as en-us or en+f3",
            ));
        }
        self.voice = Some(voice.to_owned());
        Ok(self)
    }

    /// Speaks at `words_per_minute` (80–450).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] outside that range.
    pub fn with_speed(mut self, words_per_minute: u32) -> Result<Self> {
        if !(80..=450).contains(&words_per_minute) {
            return Err(Error::invalid(
                "speed",
                "must be 80 to 450 words per minute",
            ));
        }
        self.words_per_minute = Some(words_per_minute);
        Ok(self)
    }

    /// Gives up on one synthesis after `timeout`.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Checks the program runs (`espeak-ng --version`).
    ///
    /// # Errors
    /// [`Error::Unavailable`] when it is missing or fails.
    pub async fn check(&self) -> Result<()> {
        let out = self.run(&[OsString::from("--version")]).await?;
        if out.status.success() {
            Ok(())
        } else {
            Err(Error::unavailable(format!(
                "espeak-ng --version exited with {}",
                out.status
            )))
        }
    }

    async fn run(&self, args: &[OsString]) -> Result<std::process::Output> {
        let child = tokio::process::Command::new(&self.program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| {
                Error::unavailable(match e.kind() {
                    std::io::ErrorKind::NotFound => format!(
                        "espeak-ng is not installed ({} not found); install the espeak-ng package",
                        self.program.to_string_lossy()
                    ),
                    _ => format!("cannot run {}: {e}", self.program.to_string_lossy()),
                })
            })?;
        match tokio::time::timeout(self.timeout, child.wait_with_output()).await {
            Ok(Ok(out)) => Ok(out),
            Ok(Err(e)) => Err(Error::backend(format!("espeak-ng: {e}"))),
            // Dropping the future drops the child, which kills it (`kill_on_drop`).
            Err(_) => Err(Error::timeout(format!(
                "espeak-ng took longer than {:?}",
                self.timeout
            ))),
        }
    }
}

/// The text as spoken: control characters as spaces, whitespace squashed, at most
/// [`MAX_TEXT_CHARS`] characters (cut at the last space before the limit when there is one).
///
/// # Errors
/// [`Error::InvalidInput`] when nothing speakable is left.
pub fn speakable(text: &str) -> Result<String> {
    let cleaned: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let mut s = cleaned.split_whitespace().collect::<Vec<_>>().join(" ");
    if s.is_empty() {
        return Err(Error::invalid("text", "must not be empty"));
    }
    if let Some((cut, _)) = s.char_indices().nth(MAX_TEXT_CHARS) {
        s.truncate(cut);
        if let Some(space) = s.rfind(' ') {
            s.truncate(space);
        }
    }
    Ok(s)
}

#[async_trait]
impl TextToSpeech for Espeak {
    async fn synthesize(&self, text: &str, format: AudioFormat) -> Result<Audio> {
        if format != AudioFormat::Wav {
            return Err(Error::unsupported(format!(
                "espeak-ng speaks wav only, not {}",
                format.mime_type()
            )));
        }
        let text = speakable(text)?;
        let mut args = vec![OsString::from("--stdout")];
        if let Some(v) = &self.voice {
            args.push("-v".into());
            args.push(v.into());
        }
        if let Some(wpm) = self.words_per_minute {
            args.push("-s".into());
            args.push(wpm.to_string().into());
        }
        // Everything after `--` is text, even when it starts with `-`.
        args.push("--".into());
        args.push(text.into());
        let out = self.run(&args).await?;
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            return Err(Error::backend(format!(
                "espeak-ng exited with {}: {}",
                out.status,
                err.lines().next().unwrap_or("").trim()
            )));
        }
        if out.stdout.len() <= WAV_HEADER_LEN || !out.stdout.starts_with(b"RIFF") {
            return Err(Error::backend(format!(
                "espeak-ng wrote {} bytes that are not a WAVE file",
                out.stdout.len()
            )));
        }
        Ok(Audio {
            format: AudioFormat::Wav,
            bytes: out.stdout,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn speakable_squashes_control_characters_and_caps_length() {
        assert_eq!(speakable(" a\r\nb\t\u{1b}c ").unwrap(), "a b c");
        assert_eq!(speakable("\n\t ").unwrap_err().kind(), "invalid_input");
        let long = "word ".repeat(2000);
        let s = speakable(&long).unwrap();
        assert!(s.chars().count() <= MAX_TEXT_CHARS);
        assert!(s.ends_with("word"), "cut at a word boundary");
        let one = "ü".repeat(MAX_TEXT_CHARS + 10);
        assert_eq!(speakable(&one).unwrap().chars().count(), MAX_TEXT_CHARS);
    }

    #[test]
    fn voice_and_speed_are_validated() {
        assert!(Espeak::new().with_voice("en-us").is_ok());
        assert!(Espeak::new().with_voice("en+f3").is_ok());
        for bad in ["", "-w/tmp/x", "en us", "en;rm", &"a".repeat(65)] {
            assert_eq!(
                Espeak::new().with_voice(bad).unwrap_err().kind(),
                "invalid_input",
                "{bad:?}"
            );
        }
        assert!(Espeak::new().with_speed(175).is_ok());
        assert!(Espeak::new().with_speed(10).is_err());
    }
}
