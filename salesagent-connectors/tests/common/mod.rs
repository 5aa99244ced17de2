//! Shared test helpers: log capture and paths to the shared contracts.
#![allow(dead_code)]

pub mod spec;

use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// A tracing writer that keeps everything in memory.
#[derive(Clone, Default)]
pub struct Captured(pub Arc<Mutex<Vec<u8>>>);

impl Captured {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// Installs (once per test binary) a global TRACE-level subscriber writing into memory, and
/// returns its buffer. Global, because per-thread subscribers and tracing's callsite cache do
/// not mix when tests run in parallel.
pub fn capture_logs() -> (Captured, ()) {
    static CAP: std::sync::OnceLock<Captured> = std::sync::OnceLock::new();
    let cap = CAP.get_or_init(|| {
        let cap = Captured::default();
        let sub = tracing_subscriber::fmt()
            .with_writer(cap.clone())
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_span_events(tracing_subscriber::fmt::format::FmtSpan::FULL)
            .finish();
        tracing::subscriber::set_global_default(sub).expect("no other global subscriber");
        cap
    });
    (cap.clone(), ())
}

/// `../shared` next to the workspace root, when present.
pub fn shared_dir() -> Option<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let ws = root.parent()?;
    let shared = ws.join("..").join("shared");
    if shared.is_dir() {
        Some(shared)
    } else {
        // Worktrees live one level deeper (`/work/wt/<name>`); CI clones next to `shared/`.
        let alt = ws.join("..").join("..").join("shared");
        alt.is_dir().then_some(alt)
    }
}

/// A contract file's text, or `None` (with a notice) when `../shared` is absent.
pub fn contract(rel: &str) -> Option<String> {
    let Some(dir) = shared_dir() else {
        eprintln!("NOTICE: ../shared not found; skipping the part that needs {rel}");
        return None;
    };
    Some(std::fs::read_to_string(dir.join("contracts").join(rel)).expect("contract file"))
}
