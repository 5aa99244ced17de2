//! Test support: a throwaway PostgreSQL server and a fresh database per test.
//!
//! [`TempPostgres::shared`] uses `DATABASE_URL` when it is set; otherwise it starts a server
//! from the system binaries (`/usr/lib/postgresql/*/bin`, or `pg_ctl` on `PATH`): `initdb`
//! into a temporary directory (through `runuser -u postgres` when running as root, since
//! `initdb` refuses root), `pg_ctl start` on a free loopback port. The shared server is
//! stopped and its directory removed when the test process exits (a small watchdog process
//! waits for it); a server from [`TempPostgres::start`] is torn down when dropped.
//! [`TempPostgres::fresh_database`] creates an empty database so tests can run in parallel.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use tokio::sync::OnceCell;

/// A PostgreSQL server for tests.
#[derive(Debug)]
pub struct TempPostgres {
    url: String,
    owned: Option<Owned>,
}

#[derive(Debug)]
struct Owned {
    dir: PathBuf,
    bin: PathBuf,
    as_root: bool,
}

static SHARED: OnceCell<Result<TempPostgres, String>> = OnceCell::const_new();

fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// The newest `/usr/lib/postgresql/<version>/bin` with `pg_ctl`, or the directory of `pg_ctl`
/// on `PATH`.
#[must_use]
pub fn postgres_bin_dir() -> Option<PathBuf> {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_string_lossy().parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("pg_ctl").exists().then_some((v, bin))
        })
        .collect();
    found.sort();
    if let Some((_, bin)) = found.pop() {
        return Some(bin);
    }
    std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p).find(|d| d.join("pg_ctl").exists() && d.join("initdb").exists())
    })
}

fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn run(as_root: bool, program: &Path, args: &[&str]) -> Result<(), String> {
    let mut cmd = if as_root {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    };
    let out = cmd
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{}: {e}", program.display()))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{} failed: {}{}",
            program.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

impl TempPostgres {
    /// Starts a new server from the system binaries (blocking; about a second).
    ///
    /// Errors name the step that failed (no binaries, `initdb`, `pg_ctl start`).
    pub fn start() -> Result<Self, String> {
        let bin = postgres_bin_dir().ok_or("no PostgreSQL server binaries found")?;
        let as_root = is_root();
        let dir = std::env::temp_dir().join(format!("salesagent-pg-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let owned = Owned {
            dir: dir.clone(),
            bin: bin.clone(),
            as_root,
        };
        if as_root {
            let d = dir.to_string_lossy();
            let st = Command::new("chown")
                .args(["postgres:postgres", &d])
                .status()
                .map_err(|e| format!("chown: {e}"))?;
            if !st.success() {
                return Err("chown of the data directory to postgres failed".into());
            }
        }
        let data = dir.join("data");
        let data_s = data.to_string_lossy().into_owned();
        run(
            as_root,
            &bin.join("initdb"),
            &[
                "-D",
                &data_s,
                "-U",
                "postgres",
                "-A",
                "trust",
                "--no-sync",
                "-E",
                "UTF8",
                "--locale=C",
            ],
        )?;
        let log = dir.join("server.log").to_string_lossy().into_owned();
        let sock = dir.to_string_lossy().into_owned();
        let mut last = String::new();
        for _ in 0..5 {
            let port = free_port().map_err(|e| format!("free port: {e}"))?;
            let opts = format!(
                "-p {port} -k {sock} -c listen_addresses=127.0.0.1 -c fsync=off \
                 -c synchronous_commit=off -c full_page_writes=off -c max_connections=300"
            );
            match run(
                as_root,
                &bin.join("pg_ctl"),
                &["-D", &data_s, "-l", &log, "-w", "-o", &opts, "start"],
            ) {
                Ok(()) => {
                    return Ok(Self {
                        url: format!("postgres://postgres@127.0.0.1:{port}/postgres"),
                        owned: Some(owned),
                    });
                }
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// The process-wide server: `DATABASE_URL` when set, else one started on first use and
    /// stopped when the process exits. `Err` says why none is available.
    pub async fn shared() -> Result<&'static TempPostgres, String> {
        SHARED
            .get_or_init(|| async {
                if let Ok(url) = std::env::var("DATABASE_URL")
                    && url.starts_with("postgres")
                {
                    return Ok(TempPostgres { url, owned: None });
                }
                let pg = tokio::task::spawn_blocking(TempPostgres::start)
                    .await
                    .map_err(|e| e.to_string())??;
                pg.watch_parent();
                Ok(pg)
            })
            .await
            .as_ref()
            .map_err(Clone::clone)
    }

    /// True when a server can be had: `DATABASE_URL` is set or the binaries exist.
    #[must_use]
    pub fn available() -> bool {
        std::env::var("DATABASE_URL").is_ok_and(|u| u.starts_with("postgres"))
            || postgres_bin_dir().is_some()
    }

    /// For tests: the URL of a fresh database on the shared server, or `None` after printing a
    /// `NOTICE` that the PostgreSQL part is skipped when no server can be had (no binaries, no
    /// `DATABASE_URL`).
    ///
    /// # Panics
    /// When a server should be available but cannot be started or given a database: such a
    /// test fails instead of skipping.
    pub async fn fresh_database_or_skip() -> Option<String> {
        if !Self::available() {
            eprintln!(
                "NOTICE: no PostgreSQL binaries and no DATABASE_URL: skipping the PostgreSQL part"
            );
            return None;
        }
        let pg = Self::shared().await.expect("start PostgreSQL");
        Some(pg.fresh_database().await.expect("create database"))
    }

    /// The URL of the server's `postgres` database (or `DATABASE_URL`).
    #[must_use]
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Creates an empty database and returns its URL.
    pub async fn fresh_database(&self) -> Result<String, String> {
        use sqlx::Connection as _;
        let name = format!("sa_test_{}", uuid::Uuid::new_v4().simple());
        let mut conn = sqlx::PgConnection::connect(&self.url)
            .await
            .map_err(|e| format!("connect {}: {e}", redact(&self.url)))?;
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .map_err(|e| format!("create database: {e}"))?;
        let _ = conn.close().await;
        Ok(with_database(&self.url, &name))
    }

    /// Keeps a watchdog that stops the server once this process is gone (statics never drop).
    fn watch_parent(&self) {
        let Some(o) = &self.owned else { return };
        let pg_ctl = o.bin.join("pg_ctl");
        let data = o.dir.join("data");
        let stop = format!(
            "{}'{}' -D '{}' -m immediate stop >/dev/null 2>&1",
            if o.as_root {
                "runuser -u postgres -- "
            } else {
                ""
            },
            pg_ctl.display(),
            data.display()
        );
        let script = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 0.5; done; {stop}; rm -rf '{dir}'",
            pid = std::process::id(),
            dir = o.dir.display()
        );
        let _ = Command::new("sh")
            .args(["-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
    }
}

impl Drop for TempPostgres {
    fn drop(&mut self) {
        if let Some(o) = &self.owned {
            let data = o.dir.join("data").to_string_lossy().into_owned();
            let _ = run(
                o.as_root,
                &o.bin.join("pg_ctl"),
                &["-D", &data, "-m", "immediate", "stop"],
            );
            let _ = std::fs::remove_dir_all(&o.dir);
        }
    }
}

/// `url` with its database name replaced by `db`.
fn with_database(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let host_part = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    match query {
        Some(q) => format!("{host_part}/{db}?{q}"),
        None => format!("{host_part}/{db}"),
    }
}

/// `url` without its password, for error messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            with_database("postgres://u:p@h:5432/postgres?sslmode=disable", "x"),
            "postgres://u:p@h:5432/x?sslmode=disable"
        );
        assert_eq!(with_database("postgres://u@h:1", "x"), "postgres://u@h:1/x");
        assert_eq!(redact("postgres://u:secret@h/db"), "postgres://u:***@h/db");
    }
}
