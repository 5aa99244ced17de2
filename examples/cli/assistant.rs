//! `assistant`: work the draft queue in plain words.
//!
//! ```text
//! cli assistant                          # a REPL on standard input ("quit" or EOF ends it)
//! cli assistant "what's next"            # one request
//! cli assistant "reject: too early"      # acts on the top pending draft (shown first)
//! cli assistant --dry-run "nope, too early"
//! {"command":"reject","reason":"too early"}
//! ```
//!
//! The parsing and the session live in `salesagent_core::assistant`; this module reads lines,
//! prints replies and handles confirmation. A single request that acts on "the current draft"
//! (approve, reject, edit, show, skip) first presents the top pending draft, so the operator sees
//! which draft it was. Outward actions that need a confirmation (approve with real sends on,
//! pause/resume sending) are confirmed by "yes" in the REPL, or by `--yes` for one request.
//! `--speak-to reply.wav` also speaks the reply with espeak-ng (offline).

use crate::Failure;
use salesagent_connectors::espeak::Espeak;
use salesagent_core::Error;
use salesagent_core::assistant::{AssistantConfig, AssistantSession, Command, Interpreter, Reply};
use salesagent_core::ports::{AudioFormat, DynClock, DynLlm, DynStore};
use salesagent_core::sending::{OperatorQueue, SendingConfig};
use std::io::IsTerminal as _;
use tokio::io::AsyncBufReadExt as _;

/// Arguments of `assistant`.
#[derive(Debug, clap::Args)]
pub struct AssistantArgs {
    /// The request (words are joined with spaces); omit it for a REPL on standard input.
    text: Vec<String>,
    /// Print the parsed command as JSON and change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Print each reply as one line of JSON (text, command, source, awaiting_confirmation, draft).
    #[arg(long)]
    json: bool,
    /// Confirm an outward action of a single request without asking.
    #[arg(long)]
    yes: bool,
    /// Also speak the last reply of a single request into this WAVE file (offline, espeak-ng).
    #[arg(long, value_name = "FILE.wav", conflicts_with = "dry_run")]
    speak_to: Option<std::path::PathBuf>,
    /// Who is speaking (recorded in the audit log).
    #[arg(long, env = "SALESAGENT_OPERATOR", default_value = "operator:cli")]
    operator: String,
}

impl AssistantArgs {
    /// True when the command must not open the store (`--dry-run` changes nothing).
    pub fn is_dry_run(&self) -> bool {
        self.dry_run
    }

    fn request(&self) -> Option<String> {
        let text = self.text.join(" ");
        (!text.trim().is_empty()).then_some(text)
    }
}

fn is_quit(line: &str) -> bool {
    matches!(
        line.trim()
            .trim_end_matches(['.', '!'])
            .to_lowercase()
            .as_str(),
        "quit" | "exit" | "bye" | "q"
    )
}

/// `--dry-run`: prints the parsed command of the request, or of each line of standard input.
///
/// # Errors
/// Reading standard input.
pub async fn dry_run(args: &AssistantArgs) -> Result<(), Failure> {
    let interpreter = Interpreter::new();
    if let Some(text) = args.request() {
        out!("{}", interpreter.interpret(&text).await.command.to_json());
        return Ok(());
    }
    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    while let Some(line) = next_line(&mut lines).await? {
        if line.trim().is_empty() {
            continue;
        }
        if is_quit(&line) {
            break;
        }
        out!("{}", interpreter.interpret(&line).await.command.to_json());
    }
    Ok(())
}

async fn next_line(
    lines: &mut tokio::io::Lines<tokio::io::BufReader<tokio::io::Stdin>>,
) -> Result<Option<String>, Error> {
    lines
        .next_line()
        .await
        .map_err(|e| Error::invalid("stdin", format!("cannot read a line: {e}")))
}

fn print_reply(reply: &Reply, json: bool) -> Result<(), Error> {
    if json {
        let text =
            serde_json::to_string(reply).map_err(|e| Error::backend(format!("json: {e}")))?;
        out!("{text}");
    } else {
        out!("{}", reply.text);
    }
    Ok(())
}

/// Commands that act on the draft in front of the operator.
fn needs_current(c: &Command) -> bool {
    matches!(
        c,
        Command::Approve
            | Command::Reject { .. }
            | Command::Edit { .. }
            | Command::Show
            | Command::Skip
            | Command::StopSequence { target: None }
    )
}

fn session(
    args: &AssistantArgs,
    cfg: &SendingConfig,
    store: DynStore,
    clock: DynClock,
    llm: Option<DynLlm>,
) -> Result<AssistantSession, Error> {
    let queue = OperatorQueue::standard(store.clone(), clock.clone(), cfg.queue);
    let session = AssistantSession::new(&args.operator, store, clock)?
        .with_queue(queue)
        .with_config(AssistantConfig {
            send_mode: cfg.policy.mode,
            ..AssistantConfig::default()
        });
    Ok(match llm {
        Some(llm) => session.with_llm(llm),
        None => session,
    })
}

/// Runs one request, or a REPL on standard input when no request is given.
///
/// # Errors
/// An input failure when a single request needs a confirmation and `--yes` was not given;
/// bad arguments and store failures as reported.
pub async fn run(
    args: &AssistantArgs,
    sending: SendingConfig,
    store: DynStore,
    clock: DynClock,
    llm: Option<DynLlm>,
) -> Result<(), Failure> {
    if args.dry_run {
        return dry_run(args).await;
    }
    let mut session = session(args, &sending, store, clock, llm)?;
    if let Some(text) = args.request() {
        let interpretation = session.interpret(&text).await;
        if needs_current(&interpretation.command) && session.current().is_none() {
            let first = session.execute(Command::Next).await?;
            print_reply(&first, args.json)?;
            if session.current().is_none() {
                // Nothing is pending: there is nothing to act on.
                return Ok(());
            }
        }
        let mut reply = session.execute(interpretation.command).await?;
        reply.source = Some(interpretation.source);
        print_reply(&reply, args.json)?;
        if reply.awaiting_confirmation {
            if !args.yes {
                return Err(Failure::input(
                    "not confirmed: nothing was done; run it again with --yes, or use the REPL",
                ));
            }
            reply = session.handle("yes").await?;
            print_reply(&reply, args.json)?;
        }
        if let Some(path) = &args.speak_to {
            speak_to(&reply, path).await?;
        }
        return Ok(());
    }
    if args.speak_to.is_some() {
        return Err(Failure::input(
            "--speak-to needs a request (it is not for the REPL)",
        ));
    }
    repl(&mut session, args.json).await?;
    Ok(())
}

/// Speaks `reply` with espeak-ng into the WAVE file `path`.
async fn speak_to(reply: &Reply, path: &std::path::Path) -> Result<(), Failure> {
    let tts = Espeak::from_env()?;
    let audio = AssistantSession::speak(&tts, reply, AudioFormat::Wav).await?;
    std::fs::write(path, &audio.bytes)
        .map_err(|e| Failure::runtime(format!("{}: {e}", path.display())))?;
    eprintln!(
        "spoke the reply to {} ({} bytes)",
        path.display(),
        audio.bytes.len()
    );
    Ok(())
}

async fn repl(session: &mut AssistantSession, json: bool) -> Result<(), Error> {
    let interactive = std::io::stdin().is_terminal();
    if interactive {
        eprintln!(
            "Assistant for {}. Try \"what's next\", \"approve\", \"reject: too early\", \
             \"how many are pending\"; \"quit\" ends.",
            session.actor()
        );
    }
    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    loop {
        if interactive {
            eprint!("> ");
        }
        let Some(line) = next_line(&mut lines).await? else {
            break;
        };
        if line.trim().is_empty() {
            continue;
        }
        if is_quit(&line) {
            break;
        }
        print_reply(&session.handle(&line).await?, json)?;
    }
    Ok(())
}
