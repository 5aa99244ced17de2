//! `keys encrypt | rotate`: encryption keys of the database.
//!
//! - `keys encrypt` seals a database written without a key: every value is sealed in place
//!   and every lookup hash re-derived under the key from `SALESAGENT_ENCRYPTION_KEY`, or, for a
//!   SQLite file, under `<database file>.key` (made, mode 0600, when missing).
//! - `keys rotate` re-seals everything under a new key and re-derives every lookup hash, so the
//!   old key can be removed afterwards. The new key comes from `--new-key-file`, else it is
//!   made and kept in `<key file>.new` (SQLite file) or printed once (`SALESAGENT_ENCRYPTION_KEY`
//!   users must set the new value). Interrupted? Run the same command again: it resumes.
//!
//! Run both with the host and workers stopped.

use salesagent_core::Error;
use salesagent_store::{ENCRYPTION_KEY_ENV, EncryptionKey, ResealReport, SqlStore};
use std::path::{Path, PathBuf};

/// What to do with the keys.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum KeysCommand {
    /// Seal an unencrypted database in place under its key (made for a SQLite file when none).
    Encrypt,
    /// Re-seal every value under a new key; afterwards the old key can be removed.
    Rotate {
        /// The new key (64 hex digits or base64 of 32 bytes) in a file; default: a new random
        /// key, kept next to the old key file as `.new` until the rotation is done.
        #[arg(long)]
        new_key_file: Option<PathBuf>,
    },
}

/// The key file of a SQLite file database (`<file>.key`), as the hosts use it.
fn key_file(url: &str) -> Option<PathBuf> {
    let rest = url.strip_prefix("sqlite:")?;
    if rest.contains(":memory:") || url.contains("mode=memory") {
        return None;
    }
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let path = rest.split('?').next().unwrap_or(rest);
    (!path.is_empty()).then(|| PathBuf::from(format!("{path}.key")))
}

fn io(path: &Path, e: &std::io::Error) -> Error {
    Error::unavailable(format!("key file {}: {e}", path.display()))
}

fn read_key(path: &Path) -> Result<Option<EncryptionKey>, Error> {
    match std::fs::read_to_string(path) {
        Ok(text) => EncryptionKey::parse(&text).map(Some),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io(path, &e)),
    }
}

/// Writes `key` to a new file readable only by its owner.
fn write_key(path: &Path, key: &EncryptionKey) -> Result<(), Error> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut f = options.open(path).map_err(|e| io(path, &e))?;
    std::io::Write::write_all(&mut f, format!("{}\n", key.expose_hex()).as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(|e| io(path, &e))
}

fn env_key() -> Result<Option<EncryptionKey>, Error> {
    EncryptionKey::from_env()
}

fn print(report: &ResealReport) {
    for (table, n) in &report.per_table {
        out!("  {table}: {n}");
    }
    if !report.resumed.is_empty() {
        out!("  resumed: {} already done", report.resumed.join(", "));
    }
}

/// Runs one `keys` command against the database at `url`.
///
/// # Errors
/// `InvalidInput` without a key to use, `Backend` when a value does not open under the
/// configured keys; I/O errors on key files as `Unavailable`.
pub async fn run(command: &KeysCommand, url: &str) -> Result<(), Error> {
    let url = if url.starts_with("sqlite:") && !url.contains(":memory:") && !url.contains("mode=") {
        format!("{url}{}mode=rwc", if url.contains('?') { '&' } else { '?' })
    } else {
        url.to_owned()
    };
    let file = key_file(&url);
    match command {
        KeysCommand::Encrypt => {
            let key = match (env_key()?, &file) {
                (Some(k), _) => k,
                (None, Some(path)) => match read_key(path)? {
                    Some(k) => k,
                    None => {
                        let k = EncryptionKey::generate()?;
                        write_key(path, &k)?;
                        out!(
                            "created the key file {} (back it up: without it the database \
                             cannot be read)",
                            path.display()
                        );
                        k
                    }
                },
                (None, None) => {
                    return Err(Error::invalid(
                        ENCRYPTION_KEY_ENV,
                        "is not set: set it to the key to encrypt under",
                    ));
                }
            };
            let report = SqlStore::builder(url.clone())
                .without_encryption()
                .reseal(key)
                .await?;
            out!("sealed under key {}:", report.key_id);
            print(&report);
        }
        KeysCommand::Rotate { new_key_file } => {
            let old = match (env_key()?, &file) {
                (Some(k), _) => k,
                (None, Some(path)) => read_key(path)?.ok_or_else(|| {
                    Error::invalid("key", format!("no key file {}", path.display()))
                })?,
                (None, None) => {
                    return Err(Error::invalid(ENCRYPTION_KEY_ENV, "is not set"));
                }
            };
            let pending = file
                .as_ref()
                .map(|p| PathBuf::from(format!("{}.new", p.display())));
            let new = match (new_key_file, &pending) {
                (Some(path), _) => read_key(path)?
                    .ok_or_else(|| Error::invalid("new_key_file", "does not exist"))?,
                (None, Some(path)) => match read_key(path)? {
                    // An interrupted rotation: resume it with the same new key.
                    Some(k) => k,
                    None => {
                        let k = EncryptionKey::generate()?;
                        write_key(path, &k)?;
                        k
                    }
                },
                (None, None) => {
                    let k = EncryptionKey::generate()?;
                    out!("new key (shown only now; set {ENCRYPTION_KEY_ENV} to it when done):");
                    out!("{}", k.expose_hex());
                    k
                }
            };
            let report = SqlStore::builder(url.clone())
                .encryption_key(old.clone())
                .reseal(new.clone())
                .await?;
            out!("re-sealed under key {} (was {}):", report.key_id, old.id());
            print(&report);
            if env_key()?.is_none()
                && let (Some(file), Some(pending)) = (&file, &pending)
            {
                if new_key_file.is_some() {
                    // The given key, copied next to the database like a made one.
                    let _ = std::fs::remove_file(pending);
                    write_key(pending, &new)?;
                }
                std::fs::rename(pending, file).map_err(|e| io(file, &e))?;
                out!(
                    "{} now holds the new key; the old key is no longer needed",
                    file.display()
                );
            } else if let Some(pending) = pending.filter(|p| p.exists()) {
                out!(
                    "set {ENCRYPTION_KEY_ENV} to the new key, kept in {} (then delete that \
                     file); the old key is no longer needed",
                    pending.display()
                );
            } else {
                out!("set {ENCRYPTION_KEY_ENV} to the new key; the old key is no longer needed");
            }
        }
    }
    Ok(())
}
