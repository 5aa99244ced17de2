//! `salesagent` command-line host: submit forms, run workers, and look at the draft queue.
//!
//! ```text
//! cargo run --release --example cli -- demo
//! cargo run --example cli -- submit examples/data/forms/01-acme-demo.json
//! cargo run --example cli -- work --until-idle --concurrency 4
//! cargo run --example cli -- drafts --status pending --json
//! cargo run --example cli -- show <draft-id>
//! cargo run --example cli -- jobs
//! cargo run --example cli -- jobs --dead
//! cargo run --example cli -- jobs requeue <job-id>
//! ```
//!
//! Each port uses its real connector when its service is configured in the environment and the
//! offline one otherwise (`salesagent::services`): the CRM, mailbox, Drive and calendar fakes
//! seeded from `examples/data/`, and the deterministic template writer. `--offline` forces all
//! offline; `doctor` checks every configured service.

/// `println!` that ignores a closed stdout (`cli drafts | head` must not panic).
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

mod assistant;
mod auth;
mod config;
mod doctor;
mod erase;
mod jobs;
mod keys;
mod operators;
mod outcomes;
mod replay;
mod send;
mod sequences;
mod voice;

use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use salesagent::services::{ServiceSelector, Services, fixtures};
use salesagent_core::model::{
    Draft, DraftFlag, DraftId, DraftStatus, DraftWriter, FormSubmission, JobState,
};
use salesagent_core::pipeline::{Pipeline, PipelineConfig};
use salesagent_core::ports::{DraftFilter, DynClock, DynStore, SystemClock};
use salesagent_core::sending::SendingConfig;
use salesagent_core::worker::{WorkStats, Worker, WorkerConfig};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

/// Turns inbound lead forms into ready-to-review sales e-mail drafts.
#[derive(Debug, Parser)]
#[command(name = "salesagent", version, about)]
struct Cli {
    /// The settings file (`salesagent.toml`; default: the file named by SALESAGENT_CONFIG, if
    /// any). Flags override environment variables, which override the file.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Store URL: `sqlite://file.db`, `sqlite::memory:`, `postgres://…`, or `memory:`
    /// (default: settings `store.database` / DATABASE_URL, else `sqlite://salesagent.db`).
    #[arg(long, global = true)]
    database: Option<String>,
    /// Use the fixture-backed offline connectors and the template writer (no network).
    #[arg(long, global = true)]
    offline: bool,
    /// Fixture directory for offline mode (default: settings `ports.fixtures`, else
    /// `examples/data`).
    #[arg(long, global = true)]
    data: Option<PathBuf>,
    /// Resolved from the flags and the settings before a command runs.
    #[arg(skip)]
    settings: salesagent::settings::Settings,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The settings file: `config check [FILE]` (validate, print effective values and their
    /// source), `config init [FILE]` (a commented file with every key and its default).
    Config {
        /// What to do.
        #[command(subcommand)]
        command: config::ConfigCommand,
    },
    /// Seed the fixtures, submit the sample forms, run workers until idle and print the queue.
    Demo {
        /// Worker tasks.
        #[arg(long, default_value_t = 4)]
        concurrency: usize,
    },
    /// Enqueue canonical form submissions (JSON files); prints the job ids.
    Submit {
        /// Form submission files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Run workers: every job kind (pipeline, sends, auto-approval, CRM follow-ups).
    Work {
        /// Stop when no job is runnable instead of waiting for more.
        #[arg(long)]
        until_idle: bool,
        /// The mailbox sends go out through: `gmail` or `outbox:DIR` (default: settings
        /// `sending.mailbox` / SALESAGENT_MAILBOX, else Gmail when configured, else the offline
        /// mailbox), as for the webhook host.
        #[arg(long)]
        mailbox: Option<String>,
        /// Worker tasks.
        #[arg(long, default_value_t = 4)]
        concurrency: usize,
    },
    /// List drafts, highest priority first.
    Drafts {
        /// Only this status (pending, approved, rejected, sending, sent, failed).
        #[arg(long)]
        status: Option<String>,
        /// One JSON document instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show one draft.
    Show {
        /// The draft id.
        id: String,
        /// One JSON document instead of text.
        #[arg(long)]
        json: bool,
    },
    /// List jobs in the queue (`--dead` for dead letters); `jobs requeue ID` retries a dead one.
    Jobs(jobs::JobsArgs),
    /// Follow-up sequences: list, `show EMAIL`, `stop EMAIL`, `stats` per step.
    Sequences(sequences::SequencesArgs),
    /// Authorise a service account (Google: consent URL, then paste the redirect).
    Auth {
        /// Which service.
        #[command(subcommand)]
        command: auth::AuthCommand,
    },
    /// Check every configured service with one harmless authenticated read.
    Doctor(doctor::DoctorArgs),
    /// Voice profiles: learn one from sent mail, score text against it.
    Voice {
        /// What to do.
        #[command(subcommand)]
        command: voice::VoiceCommand,
    },
    /// Outcomes: the impact table, classifying mail, statistics, recording by hand.
    Outcomes {
        /// What to do.
        #[command(subcommand)]
        command: outcomes::OutcomesCommand,
    },
    #[command(flatten)]
    Sending(send::SendCommand),
    /// Named operators of the webhook host: add (prints the token once), list, revoke.
    Operators {
        /// What to do.
        #[command(subcommand)]
        command: operators::OperatorsCommand,
    },
    /// Encryption keys: seal an unencrypted database in place, rotate to a new key.
    Keys {
        /// What to do.
        #[command(subcommand)]
        command: keys::KeysCommand,
    },
    /// GDPR erase: remove every record that mentions a contact (prints rows per table).
    Erase(erase::EraseArgs),
    /// Work the queue in plain words: a REPL, one request, or `--dry-run` to see the command.
    Assistant(assistant::AssistantArgs),
    /// Dry-run recorded form submissions through pipeline, rules and send policy; sends nothing.
    Replay {
        /// Directory of canonical form-submission JSON files.
        dir: PathBuf,
        /// Also write the full report (every decision) as JSON here.
        #[arg(long)]
        report: Option<PathBuf>,
    },
}

fn default_data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/data")
}

impl Cli {
    /// The fixture directory: `--data`, else settings `ports.fixtures`, else `examples/data`.
    fn data(&self) -> PathBuf {
        self.data
            .clone()
            .unwrap_or_else(|| match self.settings.ports.fixtures.trim() {
                "" => default_data_dir(),
                dir => PathBuf::from(dir),
            })
    }

    /// The store URL the settings resolved (`--database` included).
    fn database(&self) -> &str {
        &self.settings.store.database
    }

    /// The settings loader with `--config` and the global flags (strongest source).
    fn loader(&self) -> salesagent::settings::SettingsLoader {
        let mut l = salesagent::settings::SettingsLoader::from_env().file(self.config.clone());
        if let Some(db) = &self.database {
            l = l.flag("--database", "store.database", db.clone());
        }
        if self.offline {
            for p in salesagent::services::Port::ALL {
                l = l.flag("--offline", format!("ports.{p}"), "offline");
            }
        }
        if let Some(d) = &self.data {
            l = l.flag("--data", "ports.fixtures", d.display().to_string());
        }
        if let Command::Work {
            mailbox: Some(m), ..
        } = &self.command
        {
            l = l.flag("--mailbox", "sending.mailbox", m.clone());
        }
        l
    }

    /// Loads the settings: when no file, variable or flag names the sender, the demo sender of
    /// the fixture directory (`sender.json`) is the sender (source `fixtures`), so `cli demo`
    /// without settings writes as that sender.
    fn load_settings(&self) -> Result<salesagent::settings::LoadedSettings, Failure> {
        Ok(self.settings_loader()?.1)
    }

    /// The loader [`Cli::load_settings`] uses (for reloads) and what it loaded.
    fn settings_loader(
        &self,
    ) -> Result<
        (
            salesagent::settings::SettingsLoader,
            salesagent::settings::LoadedSettings,
        ),
        Failure,
    > {
        let first = self.loader().load().map_err(|e| config::invalid(&e))?;
        if first.source_of("sender.email") != salesagent::settings::Source::Default {
            return Ok((self.loader(), first));
        }
        let data = Cli {
            settings: first.settings.clone(),
            ..self.shallow()
        }
        .data();
        let Ok(sender) = fixtures::sender(&data) else {
            return Ok((self.loader(), first));
        };
        let loader = self
            .loader()
            .fixture("sender.email", sender.email.to_string())
            .fixture("sender.name", sender.name)
            .fixture("sender.company", sender.company)
            .fixture("sender.time_zone", sender.time_zone);
        let loaded = loader.load().map_err(|e| config::invalid(&e))?;
        Ok((loader, loaded))
    }

    /// The flags without the command (to resolve the fixture directory).
    fn shallow(&self) -> Cli {
        Cli {
            config: self.config.clone(),
            database: self.database.clone(),
            offline: self.offline,
            data: self.data.clone(),
            settings: salesagent::settings::Settings::default(),
            command: Command::Config {
                command: config::ConfigCommand::Init {
                    file: None,
                    force: false,
                },
            },
        }
    }
}

/// A command failure: the exit code and a one-line message.
struct Failure {
    code: u8,
    message: String,
}

impl Failure {
    fn input(message: impl Into<String>) -> Self {
        Self {
            code: 2,
            message: message.into(),
        }
    }
    fn runtime(message: impl Into<String>) -> Self {
        Self {
            code: 1,
            message: message.into(),
        }
    }
}

impl From<salesagent_core::Error> for Failure {
    fn from(e: salesagent_core::Error) -> Self {
        match e {
            salesagent_core::Error::InvalidInput { .. }
            | salesagent_core::Error::NotFound { .. } => Self::input(e.to_string()),
            other => Self::runtime(other.to_string()),
        }
    }
}

/// The store named by `url`: SQLite (`sqlite://file.db`, created when missing; `sqlite::memory:`),
/// PostgreSQL (`postgres://…`), or `memory:` for the in-memory store of the `testing` feature.
async fn open_store(url: &str, clock: DynClock) -> Result<DynStore, Failure> {
    Ok(salesagent::services::open_store(url, clock).await?)
}

struct App {
    store: DynStore,
    clock: DynClock,
    services: Services,
    pipeline: Arc<Pipeline>,
    pipeline_config: PipelineConfig,
    settings: salesagent::settings::Settings,
}

impl App {
    /// The sending settings (file, environment, flags); Message-IDs default to the sender's
    /// domain.
    fn sending(&self) -> salesagent_core::Result<SendingConfig> {
        self.settings.sending_config()
    }
}

async fn app(cli: &Cli) -> Result<App, Failure> {
    let clock: DynClock = Arc::new(SystemClock);
    let store = open_store(cli.database(), clock.clone()).await?;
    let settings = &cli.settings;
    let config = settings.pipeline_config()?;
    if let Ok(sender) = fixtures::sender(&cli.data())
        && sender.email == config.sender
    {
        // The demo sender's voice, seeded once.
        fixtures::seed_voice(&store, &sender, clock.now()).await?;
    }
    let mut selector = ServiceSelector::from_env()
        .offline(cli.offline)
        .port_modes(&settings.ports)
        .fixtures(cli.data())
        .google_account(config.sender.to_string());
    if matches!(cli.command, Command::Doctor(_)) {
        selector = selector.http_config(salesagent::services::doctor::http_config());
    }
    let services = selector.select(&store, &clock)?;
    if !matches!(cli.command, Command::Doctor(_)) {
        // A configured service that cannot be built is an error, never a silent stand-in.
        services.check_configured()?;
    }
    for choice in &services.choices {
        eprintln!("{choice}");
    }
    let ports = services.ports(store.clone(), clock.clone());
    Ok(App {
        store,
        clock,
        services,
        pipeline: Arc::new(Pipeline::new(ports, config.clone())),
        pipeline_config: config,
        settings: settings.clone(),
    })
}

use salesagent_core::ports::Clock as _;

/// A draft as `--json` prints it; field names are stable.
#[derive(Debug, Serialize)]
struct DraftJson<'a> {
    id: DraftId,
    status: DraftStatus,
    contact_email: String,
    subject: &'a str,
    body: &'a str,
    icp_score: Option<u8>,
    priority: f64,
    created_at: chrono::DateTime<chrono::Utc>,
    version: u32,
    /// The last send-policy decision (`allow`, `defer`, `deny`), once sending was tried.
    decision: Option<&'a salesagent_core::model::SendDecision>,
    /// The Message-ID, once the draft went to the mailbox.
    message_id: Option<&'a salesagent_core::model::MessageId>,
}

impl<'a> From<&'a Draft> for DraftJson<'a> {
    fn from(d: &'a Draft) -> Self {
        Self {
            id: d.id,
            status: d.status,
            contact_email: d.contact_email.to_string(),
            subject: &d.subject,
            body: &d.body,
            icp_score: d.icp.as_ref().map(|i| i.score),
            priority: d.priority,
            created_at: d.created_at,
            version: d.version,
            decision: d.send_decision.as_ref(),
            message_id: d.message_id.as_ref(),
        }
    }
}

/// `show --json`: the stable fields plus the details.
#[derive(Debug, Serialize)]
struct DraftDetailJson<'a> {
    #[serde(flatten)]
    draft: DraftJson<'a>,
    contact_name: Option<&'a str>,
    company_name: Option<&'a str>,
    icp: Option<&'a salesagent_core::model::IcpScore>,
    writer: &'a DraftWriter,
    facts_used: &'a [String],
    flags: &'a [DraftFlag],
}

fn one_line(s: &str, max: usize) -> String {
    let s: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if s.chars().count() > max {
        s.chars().take(max.saturating_sub(1)).collect::<String>() + "…"
    } else {
        s
    }
}

fn print_json<T: Serialize>(value: &T) -> Result<(), Failure> {
    let text = serde_json::to_string_pretty(value).map_err(|e| Failure::runtime(e.to_string()))?;
    out!("{text}");
    Ok(())
}

async fn sorted_drafts(
    store: &DynStore,
    status: Option<DraftStatus>,
) -> Result<Vec<Draft>, Failure> {
    let mut drafts = store
        .list_drafts(&DraftFilter {
            status,
            ..DraftFilter::default()
        })
        .await?;
    drafts.sort_by(|a, b| {
        b.priority
            .total_cmp(&a.priority)
            .then(a.created_at.cmp(&b.created_at))
    });
    Ok(drafts)
}

fn print_drafts_table(drafts: &[Draft]) {
    if drafts.is_empty() {
        out!("(no drafts)");
        return;
    }
    out!(
        "{:<36}  {:<8}  {:>5}  {:<34}  SUBJECT",
        "ID",
        "STATUS",
        "ICP",
        "CONTACT"
    );
    for d in drafts {
        let (score, tier) = d
            .icp
            .as_ref()
            .map_or((String::from("-"), String::new()), |i| {
                (i.score.to_string(), i.tier.clone())
            });
        let mut subject = one_line(&d.subject, 60);
        if d.flags.contains(&DraftFlag::TemplateWritten) {
            subject.push_str("  [template]");
        }
        if d.flags
            .iter()
            .any(|f| matches!(f, DraftFlag::Degraded { .. }))
        {
            subject.push_str("  [degraded]");
        }
        out!(
            "{:<36}  {:<8}  {:>3} {:<1}  {:<34}  {}",
            d.id,
            d.status.as_str(),
            score,
            tier,
            one_line(&d.contact_email.to_string(), 34),
            subject
        );
    }
}

fn print_draft(d: &Draft) {
    out!("Draft     {}", d.id);
    out!("Status    {}", d.status);
    out!(
        "To        {}{}",
        d.contact_name
            .as_deref()
            .map(|n| format!("{} ", one_line(n, 80)))
            .unwrap_or_default(),
        d.contact_email
    );
    if let Some(c) = &d.company_name {
        out!("Company   {}", one_line(c, 80));
    }
    out!("From      {}", d.sender);
    out!(
        "Writer    {}",
        match &d.writer {
            DraftWriter::Llm { model } => format!("llm ({model})"),
            DraftWriter::Template { reason } => format!("template ({})", one_line(reason, 100)),
            DraftWriter::Human => "human".to_owned(),
        }
    );
    if let Some(icp) = &d.icp {
        out!(
            "ICP       {} (tier {}), priority {:.0}",
            icp.score,
            icp.tier,
            d.priority
        );
        for f in &icp.factors {
            out!(
                "          {:+6.1}  {:<13} {}",
                f.points,
                f.name,
                one_line(&f.reason, 90)
            );
        }
    }
    if !d.facts_used.is_empty() {
        out!("Facts     {}", d.facts_used.join(", "));
    }
    for f in &d.flags {
        match f {
            DraftFlag::TemplateWritten => out!("Flag      written by the template writer"),
            DraftFlag::Degraded { reason } => {
                out!("Flag      degraded: {}", one_line(reason, 100));
            }
            DraftFlag::LowVoiceSimilarity { score_milli } => {
                out!("Flag      low voice similarity ({score_milli}‰)");
            }
        }
    }
    out!("Subject   {}", d.subject);
    out!();
    out!("{}", d.body);
}

fn print_stats(stats: &WorkStats) {
    out!(
        "jobs: {} done, {} to retry, {} dead{}",
        stats.done,
        stats.retrying,
        stats.dead,
        if stats.lease_lost > 0 {
            format!(", {} lease lost", stats.lease_lost)
        } else {
            String::new()
        }
    );
}

/// Submits each file, printing one line per file as it goes (after `indent`).
async fn submit_files(app: &App, files: &[PathBuf], indent: &str) -> Result<(), Failure> {
    for path in files {
        let raw = std::fs::read_to_string(path)
            .map_err(|e| Failure::input(format!("{}: {e}", path.display())))?;
        let submission = FormSubmission::from_canonical_json(&raw, app.clock.now())
            .map_err(|e| Failure::input(format!("{}: {e}", path.display())))?;
        let s = app.pipeline.submit(&submission).await?;
        let outcome = if s.new {
            "new"
        } else {
            "duplicate (already submitted)"
        };
        out!(
            "{indent}job {}  submission {}  {outcome}",
            s.job_id,
            s.submission_id
        );
    }
    Ok(())
}

async fn work_with_progress(app: &App, concurrency: usize) -> Result<WorkStats, Failure> {
    let worker = Worker::new(app.pipeline.clone(), WorkerConfig::default());
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg:<12} [{bar:30}] {pos}/{len} jobs")
            .map_err(|e| Failure::runtime(e.to_string()))?
            .progress_chars("=> "),
    );
    bar.set_message("working");
    let task = tokio::spawn(async move { worker.run_until_idle(concurrency).await });
    tokio::pin!(task);
    let stats = loop {
        tokio::select! {
            r = &mut task => break r.map_err(|e| Failure::runtime(e.to_string()))??,
            () = tokio::time::sleep(Duration::from_millis(40)) => {
                if let Ok(counts) = app.store.job_counts().await {
                    let total: u64 = counts.values().sum();
                    let finished = counts.get(&JobState::Done).copied().unwrap_or(0)
                        + counts.get(&JobState::Dead).copied().unwrap_or(0);
                    bar.set_length(total);
                    bar.set_position(finished);
                }
            }
        }
    };
    if let Ok(counts) = app.store.job_counts().await {
        let total: u64 = counts.values().sum();
        bar.set_length(total);
        bar.set_position(stats.done + stats.dead);
    }
    bar.set_message("idle");
    bar.finish();
    Ok(stats)
}

async fn run(mut cli: Cli) -> Result<(), Failure> {
    if let Command::Config { command } = &cli.command {
        if let config::ConfigCommand::Check {
            file: Some(file), ..
        } = command
        {
            cli.config = Some(file.clone());
        }
        return config::run(command, || cli.load_settings());
    }
    cli.settings = cli.load_settings()?.settings;
    // Commands that need no store run before one is opened (and change nothing in it).
    match &cli.command {
        Command::Voice { command } if !command.needs_mailbox() => {
            return Ok(voice::run(command.clone())?);
        }
        Command::Assistant(args) if args.is_dry_run() => return assistant::dry_run(args).await,
        Command::Operators { command } => {
            let store = open_store(cli.database(), Arc::new(SystemClock)).await?;
            return Ok(operators::run(command, store).await?);
        }
        Command::Keys { command } => return Ok(keys::run(command, cli.database()).await?),
        _ => {}
    }
    let app = app(&cli).await?;
    match &cli.command {
        Command::Demo { concurrency } => {
            let forms = fixtures::forms(&cli.data())?;
            out!(
                "Submitting {} sample forms from {}",
                forms.len(),
                cli.data().join("forms").display()
            );
            submit_files(&app, &forms, "  ").await?;
            let stats = work_with_progress(&app, (*concurrency).max(1)).await?;
            print_stats(&stats);
            out!();
            out!("Draft queue (highest priority first):");
            print_drafts_table(&sorted_drafts(&app.store, None).await?);
            if let Some(top) = sorted_drafts(&app.store, None).await?.first() {
                out!();
                print_draft(top);
            }
        }
        Command::Submit { files } => {
            submit_files(&app, files, "").await?;
        }
        Command::Work {
            until_idle,
            concurrency,
            mailbox: _,
        } => {
            let mut services = app.services.clone();
            // `--mailbox` is in the settings (strongest source).
            let mailbox = app.settings.sending.mailbox.trim();
            services.use_mailbox(Some(mailbox).filter(|m| !m.is_empty()))?;
            salesagent::services::runtime::ensure_jobs(&app.store).await?;
            salesagent::services::runtime::activate_sequences(&app.store, &app.settings.sequences)
                .await?;
            let (runtime, worker) = salesagent::services::runtime::LiveRuntime::build(
                &services,
                app.store.clone(),
                app.clock.clone(),
                &app.settings.runtime_config()?,
                WorkerConfig {
                    name: format!("cli-{}", std::process::id()),
                    ..WorkerConfig::default()
                },
            )?;
            let stats = if *until_idle {
                worker.run_until_idle((*concurrency).max(1)).await?
            } else {
                eprintln!(
                    "working; Ctrl-C to stop (SIGHUP or a change of the settings file reloads them)"
                );
                // As the webhook host: the operator-facing settings reload without a restart.
                let (loader, loaded) = cli.settings_loader()?;
                let live = Arc::new(salesagent::settings::LiveSettings::new(loader, loaded));
                let reloads = tokio::spawn(salesagent::settings::run_reloads(
                    live,
                    runtime,
                    None,
                    app.store.clone(),
                    Duration::from_secs(2),
                    std::future::pending(),
                ));
                let stats = worker
                    .run((*concurrency).max(1), async {
                        let _ = tokio::signal::ctrl_c().await;
                    })
                    .await;
                reloads.abort();
                stats
            };
            print_stats(&stats);
        }
        Command::Drafts { status, json } => {
            let status = status
                .as_deref()
                .map(str::parse::<DraftStatus>)
                .transpose()?;
            let drafts = sorted_drafts(&app.store, status).await?;
            if *json {
                print_json(&drafts.iter().map(DraftJson::from).collect::<Vec<_>>())?;
            } else {
                print_drafts_table(&drafts);
            }
        }
        Command::Show { id, json } => {
            let id: DraftId = id.parse()?;
            let d = app.store.get_draft(id).await?;
            if *json {
                print_json(&DraftDetailJson {
                    draft: DraftJson::from(&d),
                    contact_name: d.contact_name.as_deref(),
                    company_name: d.company_name.as_deref(),
                    icp: d.icp.as_ref(),
                    writer: &d.writer,
                    facts_used: &d.facts_used,
                    flags: &d.flags,
                })?;
            } else {
                print_draft(&d);
            }
        }
        Command::Replay { dir, report } => {
            replay::run(&app, &cli, dir, report.as_deref()).await?;
        }
        Command::Jobs(args) => jobs::run(args, &app.store).await?,
        Command::Sequences(args) => sequences::run(args, &app.store, &app.clock).await?,
        Command::Auth { command } => {
            auth::run(
                command,
                app.store.clone(),
                app.clock.clone(),
                &app.pipeline_config.sender.to_string(),
            )
            .await?;
        }
        Command::Doctor(args) => doctor::run(&app.services, &app.clock, args).await?,
        Command::Voice { command } => {
            // Only `learn --from-mailbox` gets here; the rest ran before the store was opened.
            voice::learn_from_mailbox(
                command.clone(),
                app.services.mailbox.as_ref(),
                &app.store,
                &app.clock,
            )
            .await?;
        }
        Command::Outcomes { command } => {
            outcomes::run(
                command.clone(),
                app.store.clone(),
                app.clock.clone(),
                &app.services,
                &app.settings.outcome_config()?,
            )
            .await?;
        }
        Command::Sending(command) => {
            send::run(
                command.clone(),
                app.sending()?,
                app.store.clone(),
                app.clock.clone(),
                &send::Hosting {
                    services: &app.services,
                    pipeline: &app.pipeline_config,
                    mailbox: Some(app.settings.sending.mailbox.trim()).filter(|m| !m.is_empty()),
                },
            )
            .await?;
        }
        Command::Erase(args) => {
            erase::run(args, app.store.clone(), app.services.crm.clone()).await?;
        }
        Command::Operators { command } => operators::run(command, app.store.clone()).await?,
        Command::Keys { command } => keys::run(command, cli.database()).await?,
        Command::Config { command } => config::run(command, || cli.load_settings())?,
        Command::Assistant(args) => {
            assistant::run(
                args,
                app.sending()?,
                app.store.clone(),
                app.clock.clone(),
                app.services.real_llm(),
            )
            .await?;
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            // Help and version go to stdout with success; usage errors are one line.
            if matches!(
                e.kind(),
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion
            ) {
                let _ = e.print();
                return ExitCode::SUCCESS;
            }
            let msg = e.to_string();
            let first = msg.lines().next().unwrap_or("invalid arguments");
            eprintln!("{}", first.trim());
            return ExitCode::from(2);
        }
    };
    // Library logs (job outcomes, retries, dead letters) on stderr; quiet unless RUST_LOG says.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("error: {}", one_line(&f.message, 300));
            ExitCode::from(f.code)
        }
    }
}
