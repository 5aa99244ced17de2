//! `voice` subcommands: learn a voice profile from sample mail files, and score files against
//! a profile. The file reading and the learning live in `salesagent_core::voice`; this module
//! only maps arguments and prints.

use clap::Subcommand;
use salesagent_core::Error;
use salesagent_core::model::{EmailAddress, VoiceProfile};
use salesagent_core::ports::{Clock, DynClock, DynStore, Mailbox, SystemClock};
use salesagent_core::voice::{self, VoiceSimilarity, corpus};
use std::path::{Path, PathBuf};

/// Voice profiles: learn how someone writes, and measure how much text sounds like them.
#[derive(Debug, Clone, Subcommand)]
pub enum VoiceCommand {
    /// Learn a profile from `.txt` (`Subject: …`, blank line, body) and `.eml` files;
    /// directories are read recursively.
    Learn {
        /// Files and directories of sent mail.
        #[arg(
            required_unless_present = "from_mailbox",
            conflicts_with = "from_mailbox"
        )]
        paths: Vec<PathBuf>,
        /// Read the connected mailbox's sent folder instead of files, and save the profile in
        /// the store (a new version) where the pipeline finds it.
        #[arg(long)]
        from_mailbox: bool,
        /// With `--from-mailbox`: read at most this many sent messages.
        #[arg(long, default_value_t = 1000, requires = "from_mailbox")]
        max: usize,
        /// Profile name (a user may keep several, e.g. per audience).
        #[arg(long)]
        name: String,
        /// Mailbox owner the profile belongs to.
        #[arg(long, default_value = "owner@example.com")]
        owner: String,
        /// Where to write the profile (JSON); required unless `--from-mailbox`.
        #[arg(short = 'o', long = "output", required_unless_present = "from_mailbox")]
        output: Option<PathBuf>,
    },
    /// Print `<path>\t<score>` for each file: its similarity (0..1) to the profile.
    Score {
        /// A profile written by `voice learn`.
        profile: PathBuf,
        /// Files (or directories) to score.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

impl VoiceCommand {
    /// True when the command reads the connected mailbox (so it needs the services and store).
    pub fn needs_mailbox(&self) -> bool {
        matches!(
            self,
            Self::Learn {
                from_mailbox: true,
                ..
            }
        )
    }
}

/// `voice learn --from-mailbox`: learns from the mailbox's sent folder, saves the profile in the
/// store (a new version) and, with `-o`, writes it to a file too.
///
/// # Errors
/// Bad arguments, mailbox and store failures as reported.
pub async fn learn_from_mailbox(
    cmd: VoiceCommand,
    mailbox: &dyn Mailbox,
    store: &DynStore,
    clock: &DynClock,
) -> Result<(), Error> {
    let VoiceCommand::Learn {
        name,
        owner,
        output,
        max,
        ..
    } = cmd
    else {
        return Err(Error::invalid("voice", "not a learn command"));
    };
    let owner = EmailAddress::parse(&owner)?;
    let profile = voice::learn_from_mailbox(mailbox, owner, &name, max, clock.now()).await?;
    if profile.message_count == 0 {
        return Err(Error::invalid(
            "mailbox",
            "the sent folder has no messages with text to learn from",
        ));
    }
    let saved = store.save_voice_profile(&profile).await?;
    if let Some(output) = &output {
        write_profile(&saved, output)?;
    }
    eprintln!(
        "learned voice profile {:?} version {} for {} from {} sent messages",
        saved.name, saved.version, saved.owner, saved.message_count
    );
    Ok(())
}

fn write_profile(profile: &VoiceProfile, output: &Path) -> Result<(), Error> {
    let json = serde_json::to_vec_pretty(profile)
        .map_err(|e| Error::backend(format!("serialising the profile: {e}")))?;
    std::fs::write(output, json).map_err(|e| Error::backend(format!("{}: {e}", output.display())))
}

/// Runs a `voice` subcommand that reads only files.
pub fn run(cmd: VoiceCommand) -> Result<(), Error> {
    match cmd {
        VoiceCommand::Learn {
            paths,
            name,
            owner,
            output,
            ..
        } => {
            let output =
                output.ok_or_else(|| Error::invalid("output", "-o/--output is required"))?;
            let owner = EmailAddress::parse(&owner)?;
            let messages = corpus::read_paths(&paths)?;
            if messages.is_empty() {
                return Err(Error::invalid("paths", "no .txt or .eml files found"));
            }
            let profile = voice::learn(
                owner,
                &name,
                messages.iter().map(|m| m.body.as_str()),
                SystemClock.now(),
            )?;
            write_profile(&profile, &output)?;
            eprintln!(
                "learned voice profile {:?} from {} of {} files -> {}",
                profile.name,
                profile.message_count,
                messages.len(),
                output.display()
            );
            Ok(())
        }
        VoiceCommand::Score { profile, files } => {
            let raw = std::fs::read(&profile).map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => Error::not_found(profile.display().to_string()),
                _ => Error::backend(format!("{}: {e}", profile.display())),
            })?;
            let profile: VoiceProfile = serde_json::from_slice(&raw)
                .map_err(|e| Error::invalid("profile", format!("not a voice profile: {e}")))?;
            for m in corpus::read_paths(&files)? {
                let score = profile.similarity(&m.body);
                out!("{}\t{:.3}", m.path.display(), score.value);
            }
            Ok(())
        }
    }
}
