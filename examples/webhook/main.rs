//! The webhook and operator service: intake, in-process workers, operator API and web page.
//!
//! ```bash
//! HUBSPOT_CLIENT_SECRET=... SALESAGENT_OPERATOR_TOKEN=... \
//!   cargo run --release --example webhook -- --offline --data examples/data --workers 2 --public-url https://leads.example.com
//! ```
//!
//! Everything the service does is in `salesagent::host`; this file only parses flags, builds the
//! state, starts the workers and serves until SIGTERM or ctrl-c. On shutdown it stops accepting
//! connections, lets in-flight requests finish, and stops the workers between jobs (a job cut
//! short keeps its lease until it expires and is then claimed again: nothing is lost).

use clap::{Parser, ValueEnum};
use salesagent::connectors::openai::OpenAi;
use salesagent::core::assistant::AssistantConfig;
use salesagent::core::model::EmailAddress;
use salesagent::core::outcomes::OutcomeScanConfig;
use salesagent::core::pipeline::PipelineConfig;
use salesagent::core::ports::{DynClock, DynSpeechToText, DynTextToSpeech, SystemClock};
use salesagent::core::sending::SendingConfig;
use salesagent::core::worker::WorkerConfig;
use salesagent::host::{AppState, HostConfig};
use salesagent::services::ServiceSelector;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use tokio::sync::watch;

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// The salesagent webhook and operator service.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Store URL: `sqlite://file.db`, `sqlite::memory:`, `postgres://…`, or `memory:` (lost on
    /// exit). Share one database with `cli work` processes to run workers elsewhere.
    #[arg(long, env = "DATABASE_URL", default_value = "sqlite://salesagent.db")]
    database: String,
    /// In-process pipeline workers (0: intake only, with `cli work` processes elsewhere).
    #[arg(long, default_value_t = 2)]
    workers: usize,
    /// Force every port offline (in-memory CRM, mailbox, drive, calendar and the template
    /// writer); without it each port is real when its service is configured in the environment.
    #[arg(long)]
    offline: bool,
    /// Seed the offline CRM, mailbox, drive and calendar from this fixture directory
    /// (e.g. `examples/data`); without it they start empty.
    #[arg(long)]
    data: Option<PathBuf>,
    /// The external origin HubSpot calls, signed in v3 (`https://leads.example.com`); default
    /// `http://` + the Host header.
    #[arg(long)]
    public_url: Option<String>,
    /// Log format.
    #[arg(long, value_enum, default_value = "text")]
    log_format: LogFormat,
    /// The mailbox drafts go out from.
    #[arg(long, env = "SALESAGENT_SENDER", default_value = "sales@example.com")]
    sender: String,
    /// Also accept HubSpot v1/v2 signatures on /webhooks/hubspot.
    #[arg(long)]
    hubspot_legacy_signatures: bool,
    /// Accept unsigned webhooks when HUBSPOT_CLIENT_SECRET is unset (local development only).
    #[arg(long)]
    allow_unsigned: bool,
    /// The host sits behind a TLS-terminating proxy: `Secure` cookies and an `https://` signed
    /// webhook URI (implied by an `https://` --public-url).
    #[arg(long)]
    behind_tls: bool,
    /// The header the trusted proxy puts the client address in (`X-Forwarded-For`, last hop,
    /// or `X-Real-IP`); only with a proxy in front of every request. Default: socket address.
    #[arg(long, env = "SALESAGENT_TRUSTED_PROXY_HEADER")]
    trusted_proxy_header: Option<String>,
    /// The mailbox approved drafts go out through and outcome scans read: `gmail`, `imap`
    /// (`IMAP_URL` + `SMTP_URL`) or `outbox:DIR` (default: the IMAP mailbox when set, else
    /// Gmail when configured, else the offline mailbox). Real sends
    /// also need `ALLOW_REAL_SENDS=true`; without it approved drafts become mailbox drafts.
    #[arg(long, env = "SALESAGENT_MAILBOX")]
    mailbox: Option<String>,
}

fn init_logs(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match format {
        LogFormat::Json => builder.json().with_current_span(true).init(),
        LogFormat::Text => builder.init(),
    }
}

/// Resolves when SIGTERM or ctrl-c arrives.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down: no new connections; finishing in-flight requests and jobs");
}

/// Speech engines of the assistant routes: transcription by `openai` (the selected OpenAI
/// connector, when `OPENAI_API_KEY` is set); replies spoken by espeak-ng when it is installed,
/// else by OpenAI.
async fn speech(openai: Option<Arc<OpenAi>>) -> (Option<DynSpeechToText>, Option<DynTextToSpeech>) {
    use salesagent::connectors::espeak::Espeak;
    let espeak = match Espeak::from_env() {
        Ok(e) => match e.check().await {
            Ok(()) => Some(e),
            Err(err) => {
                tracing::info!(error = %err, "espeak-ng unavailable");
                None
            }
        },
        Err(err) => {
            tracing::warn!(error = %err, "ESPEAK_NG_VOICE is invalid");
            None
        }
    };
    let stt = openai.clone().map(|ai| ai as DynSpeechToText);
    let tts = match (espeak, openai) {
        (Some(e), _) => Some(Arc::new(e) as DynTextToSpeech),
        (None, Some(ai)) => Some(ai as DynTextToSpeech),
        (None, None) => None,
    };
    if stt.is_none() {
        tracing::info!("no speech to text: POST /api/assistant/audio answers 503");
    }
    (stt, tts)
}

async fn run(args: Args) -> Result<(), String> {
    let clock: DynClock = Arc::new(SystemClock);
    let store = salesagent::services::open_store(&args.database, clock.clone())
        .await
        .map_err(|e| format!("--database: {e}"))?;
    store
        .health()
        .await
        .map_err(|e| format!("store not ready: {e}"))?;
    salesagent::services::runtime::ensure_jobs(&store)
        .await
        .map_err(|e| format!("enqueueing the outcome scans: {e}"))?;

    let mut config = HostConfig::from_env();
    config.public_url = args.public_url.clone();
    config.hubspot_legacy_signatures = args.hubspot_legacy_signatures;
    config.allow_unsigned = args.allow_unsigned;
    config.behind_tls = args.behind_tls;
    if let Some(h) = args
        .trusted_proxy_header
        .clone()
        .filter(|h| !h.trim().is_empty())
    {
        config.trusted_proxy_header = Some(h.trim().to_owned());
    }
    if config.hubspot_secret.is_none() && !config.allow_unsigned {
        tracing::warn!("HUBSPOT_CLIENT_SECRET is not set: every webhook will be refused (401)");
    }
    if config.operator_token.is_none() {
        tracing::warn!(
            "SALESAGENT_OPERATOR_TOKEN is not set: only named operators (`cli operators add`) can use the operator API and page"
        );
    }
    if let Some(t) = &config.operator_token {
        use secrecy::ExposeSecret as _;
        // Guessing is throttled, but a short secret is still the weakest way in.
        if t.expose_secret().trim().len() < 32 {
            tracing::warn!(
                "SALESAGENT_OPERATOR_TOKEN is shorter than 32 characters: use a long random secret, or named operators (`cli operators add`)"
            );
        }
    }
    let sender = EmailAddress::parse(&args.sender).map_err(|e| format!("--sender: {e}"))?;
    let mut selector = ServiceSelector::from_env()
        .offline(args.offline)
        .google_account(sender.to_string());
    if let Some(dir) = &args.data {
        selector = selector.fixtures(dir);
    }
    let mut services = selector
        .select(&store, &clock)
        .map_err(|e| format!("selecting the services: {e}"))?;
    services
        .check_configured()
        .map_err(|e| format!("services: {e}"))?;
    services
        .use_mailbox(args.mailbox.as_deref())
        .map_err(|e| format!("--mailbox: {e}"))?;
    let mut sending =
        SendingConfig::from_env(sender.domain()).map_err(|e| format!("sending settings: {e}"))?;
    // Every sent mail's List-Unsubscribe points at this host's one-click route (with
    // `--public-url https://…`), under the same secret the route verifies with.
    salesagent::host::configure_mime(&mut sending.mime, &config, &store)
        .await
        .map_err(|e| format!("unsubscribe links: {e}"))?;
    tracing::info!(
        mode = ?sending.policy.mode,
        auto_approve = sending.rules.enabled,
        "sending settings"
    );
    for choice in &services.choices {
        if choice.problem.is_some() {
            tracing::warn!(port = %choice.port, "{choice}");
        } else {
            tracing::info!(port = %choice.port, "{choice}");
        }
    }

    // The LLM connector the selection built (none with `--offline`); transcription needs a key,
    // not only a model server's base URL.
    let key_set = std::env::var_os("OPENAI_API_KEY").is_some_and(|v| !v.is_empty());
    let (stt, tts) = speech(services.real.openai.clone().filter(|_| key_set)).await;
    let mut state = AppState::new(store.clone(), clock.clone(), config)
        .with_metrics(salesagent::host::install_metrics())
        .with_speech(stt, tts)
        .with_queue_config(sending.queue)
        .with_assistant_config(AssistantConfig {
            send_mode: sending.policy.mode,
            ..AssistantConfig::default()
        });
    if let Some(llm) = services.real_llm() {
        state = state.with_assistant_llm(llm);
    }

    let (stop_tx, stop_rx) = watch::channel(false);
    let workers = if args.workers > 0 {
        let runtime = salesagent::services::runtime::build_with_scans(
            &services,
            store.clone(),
            clock.clone(),
            PipelineConfig::new(sender),
            &sending,
            OutcomeScanConfig::from_env().map_err(|e| format!("outcome scans: {e}"))?,
            WorkerConfig {
                name: format!("webhook-{}", std::process::id()),
                ..WorkerConfig::default()
            },
        )
        .map_err(|e| format!("sending settings: {e}"))?;
        let worker = runtime.worker;
        let n = args.workers;
        let mut rx = stop_rx.clone();
        Some(tokio::spawn(async move {
            let stats = worker
                .run(n, async move {
                    let _ = rx.wait_for(|stop| *stop).await;
                })
                .await;
            tracing::info!(
                done = stats.done,
                retrying = stats.retrying,
                dead = stats.dead,
                "workers stopped"
            );
        }))
    } else {
        None
    };

    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
    tracing::info!(addr = %args.listen, workers = args.workers, "listening");
    let app = salesagent::host::app(state);
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await
    .map_err(|e| format!("server failed: {e}"))?;
    let _ = stop_tx.send(true);
    if let Some(w) = workers {
        let _ = w.await;
    }
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    init_logs(args.log_format);
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
