//! `voice` subcommands: learn a voice profile from sample mail files, and score files against
//! a profile. The file reading and the learning live in `salesagent_core::voice`; this module
//! only maps arguments and prints.

use clap::Subcommand;
use salesagent_core::Error;
use salesagent_core::model::{EmailAddress, VoiceProfile};
use salesagent_core::ports::{Clock, SystemClock};
use salesagent_core::voice::{self, VoiceSimilarity, corpus};
use std::path::PathBuf;

/// Voice profiles: learn how someone writes, and measure how much text sounds like them.
#[derive(Debug, Clone, Subcommand)]
pub enum VoiceCommand {
    /// Learn a profile from `.txt` (`Subject: …`, blank line, body) and `.eml` files;
    /// directories are read recursively.
    Learn {
        /// Files and directories of sent mail.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Profile name (a user may keep several, e.g. per audience).
        #[arg(long)]
        name: String,
        /// Mailbox owner the profile belongs to.
        #[arg(long, default_value = "owner@example.com")]
        owner: String,
        /// Where to write the profile (JSON).
        #[arg(short = 'o', long = "output")]
        output: PathBuf,
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

/// Runs a `voice` subcommand.
pub fn run(cmd: VoiceCommand) -> Result<(), Error> {
    match cmd {
        VoiceCommand::Learn {
            paths,
            name,
            owner,
            output,
        } => {
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
            let json = serde_json::to_vec_pretty(&profile)
                .map_err(|e| Error::backend(format!("serialising the profile: {e}")))?;
            std::fs::write(&output, json)
                .map_err(|e| Error::backend(format!("{}: {e}", output.display())))?;
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
