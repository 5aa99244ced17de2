//! Shared by the benches: the settings line every bench prints before its figures.
//!
//! `SETTINGS <bench> key=value …` lines say what a run measured with, read from the database
//! itself where possible (so a figure is never quoted with a setting it did not have).
#![allow(dead_code)]

use sqlx::{AnyPool, Row};

/// One database setting read back through `pool`, or `?` when it cannot be read.
async fn read(pool: &AnyPool, sql: &str) -> String {
    match sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
        .fetch_one(pool)
        .await
    {
        Ok(row) => row
            .try_get::<String, _>(0)
            .or_else(|_| row.try_get::<i64, _>(0).map(|v| v.to_string()))
            .or_else(|_| row.try_get::<i32, _>(0).map(|v| v.to_string()))
            .unwrap_or_else(|_| "?".to_owned()),
        Err(_) => "?".to_owned(),
    }
}

/// The pool and durability settings of a database opened by salesagent's
/// [`salesagent_store::pool_options`] (which every store and bare pool of the benches uses):
/// `backend=… max_connections=… test_before_acquire=false` and, read from the server,
/// SQLite's journal mode, synchronous level and busy timeout, or PostgreSQL's version, `fsync`,
/// `synchronous_commit` and `full_page_writes`.
pub async fn describe(pool: &AnyPool, max_connections: u32) -> String {
    let sqlite = pool
        .connect_options()
        .database_url
        .scheme()
        .starts_with("sqlite");
    let mut out = format!(
        "pool=salesagent_store::pool_options max_connections={max_connections} \
         test_before_acquire=false"
    );
    if sqlite {
        let version = read(pool, "SELECT sqlite_version()").await;
        let journal = read(pool, "SELECT journal_mode FROM pragma_journal_mode()").await;
        let sync = read(
            pool,
            "SELECT CAST(synchronous AS TEXT) FROM pragma_synchronous()",
        )
        .await;
        let busy = read(
            pool,
            "SELECT CAST(timeout AS TEXT) FROM pragma_busy_timeout()",
        )
        .await;
        let autocheckpoint = read(pool, "PRAGMA wal_autocheckpoint").await;
        let checkpoints = if autocheckpoint == "0" {
            "by the store's task (PASSIVE every 500 ms), wal_autocheckpoint=0".to_owned()
        } else {
            format!("automatic, wal_autocheckpoint={autocheckpoint}")
        };
        let sync = match sync.as_str() {
            "0" => "OFF",
            "1" => "NORMAL",
            "2" => "FULL",
            "3" => "EXTRA",
            _ => "?",
        };
        out.push_str(&format!(
            " backend=sqlite sqlite={version} journal_mode={journal} synchronous={sync} \
             busy_timeout_ms={busy} (draft updates commit with synchronous=FULL) \
             checkpoints={checkpoints}"
        ));
    } else {
        let version = read(pool, "SHOW server_version").await;
        let fsync = read(pool, "SHOW fsync").await;
        let sync = read(pool, "SHOW synchronous_commit").await;
        let fpw = read(pool, "SHOW full_page_writes").await;
        out.push_str(&format!(
            " backend=postgres server={version} fsync={fsync} synchronous_commit={sync} \
             full_page_writes={fpw}"
        ));
    }
    out
}

/// The machine's core count (`nproc`) and 1-minute load average, for the settings line.
pub fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, std::num::NonZeroUsize::get);
    let load = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".to_owned());
    format!("cores={cores} loadavg_1m={load}")
}
