//! Driver errors mapped onto the core [`Error`], by meaning.

use salesagent_core::Error;
use sqlx::error::ErrorKind;

/// Maps a sqlx error to what the caller should do about it. Messages carry the database's
/// message only (never the `DETAIL` line, which can echo row values).
pub(crate) fn db(e: sqlx::Error) -> Error {
    match e {
        sqlx::Error::Database(d) => {
            let code = d
                .code()
                .map(std::borrow::Cow::into_owned)
                .unwrap_or_default();
            let msg = d.message().to_owned();
            match d.kind() {
                ErrorKind::UniqueViolation => return Error::conflict(format!("duplicate: {msg}")),
                ErrorKind::ForeignKeyViolation | ErrorKind::ExclusionViolation => {
                    return Error::conflict(msg);
                }
                ErrorKind::NotNullViolation | ErrorKind::CheckViolation => {
                    return Error::invalid("value", msg);
                }
                _ => {}
            }
            match code.as_str() {
                // PostgreSQL: NUL in text, bad encoding, value too long, out of range.
                "22021" | "22P05" => Error::invalid("text", "contains a NUL character"),
                "22001" | "22003" | "22P02" | "22007" | "22008" => Error::invalid("value", msg),
                // Serialization failure, deadlock, lock timeout, too many connections,
                // shutting down: all transient.
                "40001" | "40P01" | "55P03" | "53300" | "57P01" | "57P02" | "57P03" => {
                    Error::unavailable(msg)
                }
                "57014" => Error::timeout(msg),
                "3D000" | "28000" | "28P01" => Error::unavailable(msg),
                // SQLite (numeric, possibly extended, codes; PostgreSQL's are 5 characters).
                c if c.len() < 5 => match c.parse::<u32>().map(|n| n & 0xff) {
                    // BUSY, LOCKED: another writer holds the database.
                    Ok(5 | 6) => Error::unavailable(msg),
                    // TOOBIG.
                    Ok(18) => Error::invalid("value", msg),
                    _ => Error::backend(msg),
                },
                _ => Error::backend(msg),
            }
        }
        sqlx::Error::PoolTimedOut => Error::timeout("waiting for a database connection"),
        sqlx::Error::Io(e) => Error::unavailable(format!("database I/O: {e}")),
        sqlx::Error::Tls(e) => Error::unavailable(format!("database TLS: {e}")),
        sqlx::Error::PoolClosed | sqlx::Error::WorkerCrashed => {
            Error::unavailable("database pool is closed")
        }
        sqlx::Error::RowNotFound => Error::not_found("row"),
        sqlx::Error::Configuration(e) => Error::invalid("database_url", e.to_string()),
        sqlx::Error::Migrate(e) => Error::backend(format!("migration failed: {e}")),
        other => Error::backend(other.to_string()),
    }
}

/// Maps a JSON (de)serialisation error of a stored document.
pub(crate) fn json(what: &str, e: &serde_json::Error) -> Error {
    Error::backend(format!("{what}: stored document does not parse: {e}"))
}
