//! The webhook and operator service: intake, in-process workers, operator API and web page.
//!
//! ```bash
//! HUBSPOT_CLIENT_SECRET=... SALESAGENT_OPERATOR_TOKEN=... \
//!   cargo run --release --example webhook -- --offline --data examples/data --workers 2 --public-url https://leads.example.com
//! ```
//!
//! Settings come from `--config salesagent.toml` (or `SALESAGENT_CONFIG`), the environment and
//! these flags, strongest last (`salesagent::settings`); `--print-settings` prints the
//! effective values with their source and exits. On SIGHUP, or when the file changes, the host
//! re-reads it and applies the ICP rules, send window and limits, auto-approval rules and
//! outcome impacts without a restart (or keeps the running ones and logs why), and writes the
//! change to the audit log.
//!
//! Everything the service does is in `salesagent::host`; this file only parses flags, builds the
//! state, starts the workers and serves until SIGTERM or ctrl-c. On shutdown it stops accepting
//! connections, lets in-flight requests finish, and stops the workers between jobs (a job cut
//! short keeps its lease until it expires and is then claimed again: nothing is lost).

use clap::{Parser, ValueEnum};
use salesagent::connectors::openai::OpenAi;
use salesagent::core::assistant::AssistantConfig;
use salesagent::core::ports::{DynClock, DynSpeechToText, DynTextToSpeech, SystemClock};
use salesagent::core::worker::WorkerConfig;
use salesagent::host::{AppState, HostConfig};
use salesagent::services::ServiceSelector;
use salesagent::services::runtime::LiveRuntime;
use salesagent::settings::{LiveSettings, SettingsLoader, run_reloads};
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
    /// The settings file (default: the file named by SALESAGENT_CONFIG, if any). Flags
    /// override environment variables, which override the file.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Print the effective settings (JSON, with where each value came from) and exit.
    #[arg(long)]
    print_settings: bool,
    /// Seconds between checks of the settings file for changes (0: reload on SIGHUP only).
    #[arg(long, default_value_t = 2)]
    config_poll_secs: u64,
    /// Address to listen on (default: settings `host.listen`, `127.0.0.1:8080`).
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Store URL: `sqlite://file.db`, `sqlite::memory:`, `postgres://…`, or `memory:` (lost on
    /// exit); default: settings `store.database` / DATABASE_URL, else `sqlite://salesagent.db`.
    /// Share one database with `cli work` processes to run workers elsewhere.
    #[arg(long)]
    database: Option<String>,
    /// In-process pipeline workers (0: intake only, with `cli work` processes elsewhere;
    /// default: settings `host.workers`, 2).
    #[arg(long)]
    workers: Option<u32>,
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
    /// The mailbox drafts go out from (default: settings `sender.email` / SALESAGENT_SENDER,
    /// else `sales@example.com`).
    #[arg(long)]
    sender: Option<String>,
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
    /// or `X-Real-IP`); only with a proxy in front of every request. Default: settings
    /// `host.trusted_proxy_header` / SALESAGENT_TRUSTED_PROXY_HEADER, else the socket address.
    #[arg(long)]
    trusted_proxy_header: Option<String>,
    /// The mailbox approved drafts go out through and outcome scans read: `gmail`, `imap`
    /// (`IMAP_URL` + `SMTP_URL`) or `outbox:DIR` (default: the IMAP mailbox when set, else
    /// Gmail when configured, else the offline mailbox). Real sends
    /// also need `ALLOW_REAL_SENDS=true`; without it approved drafts become mailbox drafts.
    /// Default: settings `sending.mailbox` / SALESAGENT_MAILBOX.
    #[arg(long)]
    mailbox: Option<String>,
}

impl Args {
    /// The settings loader: `--config`, the environment, and these flags (strongest).
    fn loader(&self) -> SettingsLoader {
        let mut l = SettingsLoader::from_env().file(self.config.clone());
        let text = |l: SettingsLoader, flag: &str, key: &str, v: &Option<String>| match v {
            Some(v) => l.flag(flag, key, v.clone()),
            None => l,
        };
        l = text(l, "--database", "store.database", &self.database);
        l = text(l, "--sender", "sender.email", &self.sender);
        l = text(l, "--mailbox", "sending.mailbox", &self.mailbox);
        l = text(l, "--public-url", "host.public_url", &self.public_url);
        l = text(
            l,
            "--trusted-proxy-header",
            "host.trusted_proxy_header",
            &self.trusted_proxy_header,
        );
        if let Some(a) = self.listen {
            l = l.flag("--listen", "host.listen", a.to_string());
        }
        if let Some(n) = self.workers {
            l = l.flag("--workers", "host.workers", i64::from(n));
        }
        if let Some(d) = &self.data {
            l = l.flag("--data", "ports.fixtures", d.display().to_string());
        }
        if self.offline {
            for p in salesagent::services::Port::ALL {
                l = l.flag("--offline", format!("ports.{p}"), "offline");
            }
        }
        for (on, flag, key) in [
            (self.behind_tls, "--behind-tls", "host.behind_tls"),
            (
                self.allow_unsigned,
                "--allow-unsigned",
                "host.allow_unsigned",
            ),
            (
                self.hubspot_legacy_signatures,
                "--hubspot-legacy-signatures",
                "host.hubspot_legacy_signatures",
            ),
        ] {
            if on {
                l = l.flag(flag, key, true);
            }
        }
        l
    }
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
    let loader = args.loader();
    let loaded = loader.load().map_err(|e| format!("settings:\n{e}"))?;
    let settings = loaded.settings.clone();
    let live = Arc::new(LiveSettings::new(loader, loaded));
    let clock: DynClock = Arc::new(SystemClock);
    let store = salesagent::services::open_store(&settings.store.database, clock.clone())
        .await
        .map_err(|e| format!("--database: {e}"))?;
    store
        .health()
        .await
        .map_err(|e| format!("store not ready: {e}"))?;
    salesagent::services::runtime::ensure_jobs(&store)
        .await
        .map_err(|e| format!("enqueueing the outcome scans: {e}"))?;
    salesagent::services::runtime::activate_sequences(&store, &settings.sequences)
        .await
        .map_err(|e| format!("sequences: {e}"))?;

    let mut config = HostConfig::from_env();
    let host = &settings.host;
    config.public_url = Some(host.public_url.trim().to_owned()).filter(|u| !u.is_empty());
    config.hubspot_legacy_signatures = host.hubspot_legacy_signatures;
    config.allow_unsigned = host.allow_unsigned;
    config.behind_tls = host.behind_tls;
    config.trusted_proxy_header =
        Some(host.trusted_proxy_header.trim().to_owned()).filter(|h| !h.is_empty());
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
    let runtime_config = settings
        .runtime_config()
        .map_err(|e| format!("settings: {e}"))?;
    let sender = runtime_config.pipeline.sender.clone();
    let mut selector = ServiceSelector::from_env()
        .offline(args.offline)
        .port_modes(&settings.ports)
        .google_account(sender.to_string());
    if !settings.ports.fixtures.trim().is_empty() {
        selector = selector.fixtures(settings.ports.fixtures.trim());
    }
    let mut services = selector
        .select(&store, &clock)
        .map_err(|e| format!("selecting the services: {e}"))?;
    services
        .check_configured()
        .map_err(|e| format!("services: {e}"))?;
    let mailbox = settings.sending.mailbox.trim();
    services
        .use_mailbox(Some(mailbox).filter(|m| !m.is_empty()))
        .map_err(|e| format!("sending.mailbox: {e}"))?;
    let mut runtime_config = runtime_config;
    let sending = &mut runtime_config.sending;
    // Every sent mail's List-Unsubscribe points at this host's one-click route (with
    // `--public-url https://…`), under the same secret the route verifies with.
    salesagent::host::configure_mime(&mut sending.mime, &config, &store)
        .await
        .map_err(|e| format!("unsubscribe links: {e}"))?;
    let mime = sending.mime.clone();
    let sending = runtime_config.sending.clone();
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
        .with_outcome_config(runtime_config.outcomes.clone())
        .with_assistant_config(AssistantConfig {
            send_mode: sending.policy.mode,
            ..AssistantConfig::default()
        });
    if let Some(llm) = services.real_llm() {
        state = state.with_assistant_llm(llm);
    }

    let (stop_tx, stop_rx) = watch::channel(false);
    let workers = if settings.host.workers > 0 {
        let (runtime, worker) = LiveRuntime::build(
            &services,
            store.clone(),
            clock.clone(),
            &runtime_config,
            WorkerConfig {
                name: format!("webhook-{}", std::process::id()),
                ..WorkerConfig::default()
            },
        )
        .map_err(|e| format!("sending settings: {e}"))?;
        // The operator routes record outcomes with the reloaded impacts too.
        let impacts = state.outcome_config().clone();
        runtime.on_replace(move |c| impacts.set(c.outcomes.clone()));
        let mut reload_stop = stop_rx.clone();
        tokio::spawn(run_reloads(
            live.clone(),
            runtime,
            Some(mime),
            store.clone(),
            std::time::Duration::from_secs(args.config_poll_secs),
            async move {
                let _ = reload_stop.wait_for(|s| *s).await;
            },
        ));
        let n = settings.host.workers as usize;
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

    let listen: SocketAddr = settings
        .host
        .listen
        .parse()
        .map_err(|e| format!("host.listen: {e}"))?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    tracing::info!(addr = %listen, workers = settings.host.workers, "listening");
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
    if args.print_settings {
        return match args.loader().load() {
            Ok(loaded) => {
                let env = |k: &str| std::env::var(k).ok();
                println!(
                    "{}",
                    serde_json::to_string_pretty(&loaded.describe_json(&env)).unwrap_or_default()
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::from(2)
            }
        };
    }
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
