//! `config check [FILE]` and `config init [FILE]`: the settings file (`salesagent::settings`).

use crate::Failure;
use salesagent::settings::{LoadedSettings, SettingsError, init_file};
use std::path::PathBuf;

/// What to do with the settings file.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum ConfigCommand {
    /// Validate the settings (FILE, else --config / SALESAGENT_CONFIG, plus the environment) and
    /// print every effective value with where it came from (default, file, env, flag);
    /// secrets are never printed.
    Check {
        /// The settings file (default: --config, else SALESAGENT_CONFIG, else none).
        file: Option<PathBuf>,
        /// One JSON document instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Write a commented settings file with every key and its default (to stdout without FILE).
    Init {
        /// Where to write it; an existing file is kept unless --force.
        file: Option<PathBuf>,
        /// Overwrite an existing file.
        #[arg(long)]
        force: bool,
    },
}

/// Prints every problem on its own line (stderr) and returns the input failure.
pub fn invalid(e: &SettingsError) -> Failure {
    for p in &e.problems {
        eprintln!("{p}");
    }
    Failure::input(format!(
        "invalid settings ({} problem{})",
        e.problems.len(),
        if e.problems.len() == 1 { "" } else { "s" }
    ))
}

/// Runs a `config` command; `load` loads the settings as every other command does (FILE of
/// `check` already in place of `--config`).
pub fn run(
    command: &ConfigCommand,
    load: impl FnOnce() -> Result<LoadedSettings, Failure>,
) -> Result<(), Failure> {
    match command {
        ConfigCommand::Init { file, force } => {
            let text = init_file();
            match file {
                None => out!("{}", text.trim_end()),
                Some(path) => {
                    if path.exists() && !force {
                        return Err(Failure::input(format!(
                            "{} exists; use --force to overwrite it",
                            path.display()
                        )));
                    }
                    std::fs::write(path, text)
                        .map_err(|e| Failure::runtime(format!("{}: {e}", path.display())))?;
                    eprintln!("wrote {}", path.display());
                }
            }
            Ok(())
        }
        ConfigCommand::Check { file: _, json } => {
            let loaded = load()?;
            let env = |k: &str| std::env::var(k).ok();
            if *json {
                crate::print_json(&loaded.describe_json(&env))?;
            } else {
                out!("{}", loaded.describe(&env).trim_end());
            }
            Ok(())
        }
    }
}
