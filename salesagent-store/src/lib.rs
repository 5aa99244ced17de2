//! # salesagent-store
//!
//! [`SqlStore`] implements every trait of salesagent's [`Store`](salesagent_core::ports::Store)
//! port on [sqlx], for two backends chosen by URL:
//!
//! - **SQLite** (`sqlite://path/to/file.db?mode=rwc`, or `sqlite::memory:`): the embedded
//!   default, one file in WAL mode.
//! - **PostgreSQL** (`postgres://user@host/db`): the scale-out choice, many worker processes on
//!   many machines sharing one database.
//!
//! Migrations (`migrations/sqlite`, `migrations/postgres`) are embedded and applied on connect.
//! The same database holds the durable job queue (leases, heartbeats, retries with backoff and
//! jitter, dead letters), atomic send reservations, the hash-chained audit log, and encrypted
//! documents (see [`EncryptionKey`]).
//!
//! | capability | where |
//! |---|---|
//! | open a store by URL, or over an application's existing pool | [`SqlStore::builder`], [`SqlStore::builder_from_pool`] |
//! | submissions, drafts, runs, jobs, send limits, messages, outcomes, voice, secrets, settings, audit, erase | the `salesagent_core::ports` store traits, all implemented by [`SqlStore`] |
//! | encryption at rest and key rotation | [`EncryptionKey`], [`SqlStoreBuilder::encryption_key`], [`SqlStoreBuilder::decryption_key`] |
//! | a throwaway PostgreSQL server for tests | `testing::TempPostgres` (feature `testing`) |
//!
//! ## Quickstart: enqueueing and working a job
//!
//! ```
//! use salesagent_core::model::NewJob;
//! use salesagent_core::ports::JobStore as _;
//! use salesagent_store::SqlStore;
//! use std::time::Duration;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> salesagent_core::Result<()> {
//! let store = SqlStore::builder("sqlite::memory:")
//!     .without_encryption() // or `.encryption_key(..)`, default: SALESAGENT_ENCRYPTION_KEY
//!     .connect()
//!     .await?;
//!
//! // Enqueue: the idempotency key makes a redelivery return the same job.
//! let job = NewJob::new("reindex", serde_json::json!({"account": 7})).with_key("reindex:7");
//! let (first, new) = store.enqueue(&job).await?;
//! let (again, new_again) = store.enqueue(&job).await?;
//! assert!(new && !new_again && first.id == again.id);
//!
//! // Work it: claim under a lease, do the work, complete (or `fail` to retry with backoff).
//! let kinds = ["reindex".to_owned()];
//! let claimed = store
//!     .claim("worker-1", &kinds, Duration::from_secs(30))
//!     .await?
//!     .expect("one job is due");
//! assert_eq!(claimed.job.payload["account"], 7);
//! store.complete(&claimed.lease).await?;
//! assert!(store.claim("worker-1", &kinds, Duration::from_secs(30)).await?.is_none());
//! # Ok(()) }
//! ```
//!
//! The pipeline's own jobs are worked by `salesagent_core::worker::Worker`, which claims,
//! heartbeats, completes and fails them exactly like this over any `Store`.
//!
//! ## Feature flags
//!
//! - `testing`: `testing::TempPostgres`, a PostgreSQL server in a temporary directory for tests
//!   (uses the server binaries on the machine; `DATABASE_URL` takes precedence).
//!
//! ## Errors
//!
//! Driver errors are mapped onto `salesagent_core::Error` by meaning: a unique violation is
//! `Conflict`, a missing row `NotFound`, an unreachable or busy database `Unavailable` and a
//! wait for a pooled connection `Timeout` (both retryable), values the database cannot store
//! `InvalidInput`; anything else is `Backend`. Store methods document the errors they add
//! (`Conflict` for a stale draft version or a lost job lease, for example).
//!
//! Opening a file database (created on first use):
//!
//! ```no_run
//! # async fn demo() -> salesagent_core::Result<()> {
//! use salesagent_store::SqlStore;
//! let store = SqlStore::builder("sqlite://salesagent.db?mode=rwc").connect().await?;
//! # Ok(()) }
//! ```

mod admin;
mod audit;
mod batch;
mod checkpoint;
mod crypto;
mod entities;
mod error;
mod gate;
mod intake;
mod jobs;
mod keys;
mod operators;
mod send;
mod sequences;
#[cfg(feature = "testing")]
pub mod testing;

pub use crypto::{ENCRYPTION_KEY_ENV, EncryptionKey};
pub use jobs::{CompleteAndClaimSql, complete_and_claim_sql, complete_batch_sql};
pub use keys::ResealReport;

use chrono::{DateTime, Utc};
use salesagent_core::model::RetryPolicy;
use salesagent_core::ports::{DynClock, SystemClock};
use salesagent_core::{Error, Result};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{Any, AnyPool, Row, Transaction};
use std::sync::Arc;

/// The statements salesagent runs on every SQLite connection it opens: WAL journal (readers
/// never block the writer), `synchronous = NORMAL` (durable at checkpoints, safe with WAL), and
/// a 30 s busy timeout (concurrent writers wait for each other instead of failing with
/// `SQLITE_BUSY`). A pool handed to [`SqlStore::builder_from_pool`] should run them too.
///
/// Writes of a draft's state ([`DraftStore::update_draft`] and
/// [`DraftStore::update_draft_record`], which carry a send from `Approved` through `Sending` to
/// `Sent`) are committed with `synchronous = FULL` whatever the connection's setting: such a
/// commit is on disk before it returns, so a power failure cannot lose a recorded `BeginSend`
/// and have the draft sent again under a new Message-ID. Every other write keeps `NORMAL`, whose
/// commits are several times cheaper (see the queue benchmark).
///
/// [`DraftStore::update_draft`]: salesagent_core::ports::DraftStore::update_draft
/// [`DraftStore::update_draft_record`]: salesagent_core::ports::DraftStore::update_draft_record
pub const SQLITE_PRAGMAS: &[&str] = &[
    "PRAGMA journal_mode = WAL",
    "PRAGMA synchronous = NORMAL",
    "PRAGMA busy_timeout = 30000",
    // Deleted rows are overwritten with zeros, not left in free pages (GDPR erasure).
    "PRAGMA secure_delete = ON",
];

/// Which database a [`SqlStore`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite (file or in-memory).
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

/// Where the encryption key comes from.
#[derive(Debug, Clone)]
enum KeySource {
    Env,
    Given(EncryptionKey),
    Disabled,
}

/// Configures and opens a [`SqlStore`].
#[derive(Debug, Clone)]
pub struct SqlStoreBuilder {
    url: String,
    key: KeySource,
    old_keys: Vec<EncryptionKey>,
    clock: DynClock,
    retry: RetryPolicy,
    max_connections: u32,
    migrate: bool,
    pool: Option<AnyPool>,
}

impl SqlStoreBuilder {
    /// Encrypts with `key` instead of reading `SALESAGENT_ENCRYPTION_KEY`.
    #[must_use]
    pub fn encryption_key(mut self, key: EncryptionKey) -> Self {
        self.key = KeySource::Given(key);
        self
    }

    /// Stores documents unencrypted and ignores `SALESAGENT_ENCRYPTION_KEY` (tests, or a
    /// database on an encrypted disk). Connecting still fails if encrypted data is present.
    #[must_use]
    pub fn without_encryption(mut self) -> Self {
        self.key = KeySource::Disabled;
        self
    }

    /// Adds a retired key that can still open values sealed before a key rotation.
    #[must_use]
    pub fn decryption_key(mut self, key: EncryptionKey) -> Self {
        self.old_keys.push(key);
        self
    }

    /// The clock used for every timestamp the store writes (default: [`SystemClock`]).
    #[must_use]
    pub fn clock(mut self, clock: DynClock) -> Self {
        self.clock = clock;
        self
    }

    /// Backoff used when a job attempt fails (default: [`RetryPolicy::default`]).
    #[must_use]
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// Pool size (default 10; an in-memory SQLite database always uses one connection).
    #[must_use]
    pub fn max_connections(mut self, n: u32) -> Self {
        self.max_connections = n.max(1);
        self
    }

    /// Whether to apply migrations on connect (default true); see [`SqlStore::migrate`].
    #[must_use]
    pub fn migrate(mut self, on: bool) -> Self {
        self.migrate = on;
        self
    }

    /// Connects, applies migrations and checks the encryption keys.
    ///
    /// Errors: [`Error::InvalidInput`] for a URL of an unknown scheme or a malformed key,
    /// [`Error::Unavailable`] when the database cannot be reached, and [`Error::Backend`] when
    /// the database holds encrypted data but no (or the wrong) key is configured.
    pub async fn connect(self) -> Result<SqlStore> {
        sqlx::any::install_default_drivers();
        let backend = backend_of(&self.url)?;
        let key = match &self.key {
            KeySource::Env => EncryptionKey::from_env()?,
            KeySource::Given(k) => Some(k.clone()),
            KeySource::Disabled => None,
        };
        let pool = match self.pool.clone() {
            Some(pool) => pool,
            None => self.open_pool(backend).await?,
        };
        let store_backend = backend;
        if self.migrate {
            migrate_pool(&pool, backend).await?;
        }
        let recorded: Option<String> =
            sqlx::query("SELECT value FROM store_meta WHERE key = 'blind_index_key'")
                .fetch_optional(&pool)
                .await
                .map_err(error::db)?
                .map(|r| r.try_get::<String, _>(0))
                .transpose()
                .map_err(error::db)?;
        if key.is_none() {
            for table in admin::SEALED_TABLES {
                let q = format!("SELECT 1 FROM {table} WHERE doc LIKE 'e1:%' LIMIT 1");
                let found = sqlx::query(sqlx::AssertSqlSafe(q))
                    .fetch_optional(&pool)
                    .await
                    .map_err(error::db)?;
                if found.is_some() {
                    return Err(Error::backend(format!(
                        "the database holds encrypted data (table {table}) but no encryption \
                         key is configured: set {ENCRYPTION_KEY_ENV}"
                    )));
                }
            }
        }
        if key.is_some() {
            // Values written before sealing (marked `p:` by migrations 0004/0005) do not open
            // under a key: say so now rather than on some later read. `settings` is small and
            // every older database has some.
            let plain = sqlx::query("SELECT 1 FROM settings WHERE value LIKE 'p:%' LIMIT 1")
                .fetch_optional(&pool)
                .await
                .map_err(error::db)?;
            if plain.is_some() {
                return Err(Error::backend(
                    "the database holds values stored unencrypted although an encryption key \
                     is configured: seal them with `cli keys encrypt` (SqlStoreBuilder::reseal)",
                ));
            }
        }
        let crypto = crypto::Crypto::new(key.as_ref(), &self.old_keys, recorded.as_deref())?;
        // On a SQLite file, intake's own connections: an acknowledgement never queues behind
        // the workers' acquires of the main pool (the write gate orders the writes). Not for a
        // pool handed in (the application sized it), in-memory SQLite (each connection would be
        // another database) or PostgreSQL (two connections for every acknowledgement held up
        // intake at 1,000 req/s; it shares the main pool's ten).
        let intake = match &self.pool {
            Some(_) => None,
            None if backend != Backend::Sqlite || is_memory(&self.url) => None,
            None => Some(
                checkpointed(pool_options::<Any>(&self.url, INTAKE_CONNECTIONS)?)
                    .connect(&self.url)
                    .await
                    .map_err(error::db)?,
            ),
        };
        if recorded.is_none() {
            sqlx::query(
                "INSERT INTO store_meta (key, value) VALUES ('blind_index_key', $1) \
                 ON CONFLICT (key) DO NOTHING",
            )
            .bind(crypto.bidx_key_id().to_owned())
            .execute(&pool)
            .await
            .map_err(error::db)?;
        }
        if !crypto.encrypts() {
            tracing::warn!(
                "salesagent store: no encryption key set, documents are stored unencrypted"
            );
        }
        let checkpoints = intake.is_some();
        let inner = Arc::new(Inner {
            pool,
            intake,
            gate: (store_backend == Backend::Sqlite).then(gate::WriteGate::default),
            backend: store_backend,
            crypto,
            clock: self.clock,
            retry: self.retry,
        });
        if checkpoints {
            checkpoint::spawn(Arc::downgrade(&inner));
        }
        Ok(SqlStore { inner })
    }

    /// Opens a new pool for the builder's URL, with salesagent's connection settings; on a
    /// SQLite file without automatic checkpoints (the store runs them, see the `checkpoint`
    /// module). (`_backend` is read from the URL again by [`pool_options`].)
    async fn open_pool(&self, backend: Backend) -> Result<AnyPool> {
        let mut options: AnyPoolOptions = pool_options(&self.url, self.max_connections)?;
        if backend == Backend::Sqlite && !is_memory(&self.url) {
            options = checkpointed(options);
        }
        options.connect(&self.url).await.map_err(error::db)
    }
}

/// `options` (from [`pool_options`] on SQLite) whose connections leave checkpoints to the
/// store's checkpoint task: [`SQLITE_PRAGMAS`] plus `wal_autocheckpoint = 0`.
fn checkpointed(options: AnyPoolOptions) -> AnyPoolOptions {
    with_pragmas(
        options,
        &[SQLITE_PRAGMAS, &["PRAGMA wal_autocheckpoint = 0"]],
    )
}

/// `options` whose new connections run every statement of `lists`, in order.
fn with_pragmas<DB>(
    options: sqlx::pool::PoolOptions<DB>,
    lists: &'static [&'static [&'static str]],
) -> sqlx::pool::PoolOptions<DB>
where
    DB: sqlx::Database,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
{
    options.after_connect(move |conn, _| {
        Box::pin(async move {
            for list in lists {
                for pragma in *list {
                    sqlx::raw_sql(*pragma).execute(&mut *conn).await?;
                }
            }
            Ok(())
        })
    })
}

/// The pool settings salesagent opens its own pools with, for any sqlx driver: the store uses
/// them with sqlx's `Any` driver, and benchmarks with the native `Sqlite`/`Postgres` drivers so
/// that a bare-SQL baseline runs with exactly the store's settings. Connect the returned options
/// to the same `url` (the connect options come from the URL).
///
/// - `max_connections` as given (at least 1); an in-memory SQLite database gets exactly one
///   connection, kept forever (each connection to `:memory:` is its own database);
/// - `test_before_acquire(false)`: no ping before every acquire, which would double the round
///   trips of every statement (a connection that died meanwhile fails its statement with a
///   retryable `Unavailable`, which jobs and clients retry; the pool then replaces it);
/// - on SQLite, [`SQLITE_PRAGMAS`] on every new connection.
///
/// Errors: [`Error::InvalidInput`] for a URL that is neither `sqlite:` nor `postgres:`.
pub fn pool_options<DB>(url: &str, max_connections: u32) -> Result<sqlx::pool::PoolOptions<DB>>
where
    DB: sqlx::Database,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
{
    let backend = backend_of(url)?;
    let memory = backend == Backend::Sqlite && is_memory(url);
    let mut options = sqlx::pool::PoolOptions::<DB>::new()
        .max_connections(if memory { 1 } else { max_connections.max(1) })
        .test_before_acquire(false);
    if memory {
        options = options
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None);
    }
    if backend == Backend::Sqlite {
        options = with_pragmas(options, &[SQLITE_PRAGMAS]);
    }
    Ok(options)
}

/// Connections of the pool [`SqlStore`] opens beside its main pool for intake writes on a
/// SQLite file
/// ([`SubmissionStore::save_submission_and_enqueue`]), with the same [`pool_options`].
///
/// [`SubmissionStore::save_submission_and_enqueue`]: salesagent_core::ports::SubmissionStore::save_submission_and_enqueue
pub const INTAKE_CONNECTIONS: u32 = 2;

/// Whether a SQLite URL names an in-memory database.
fn is_memory(url: &str) -> bool {
    url.contains(":memory:") || url.contains("mode=memory")
}

/// The backend a database URL names.
fn backend_of(url: &str) -> Result<Backend> {
    if url.starts_with("sqlite:") {
        Ok(Backend::Sqlite)
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        Ok(Backend::Postgres)
    } else {
        Err(Error::invalid(
            "database_url",
            "must start with sqlite: or postgres:",
        ))
    }
}

async fn migrate_pool(pool: &AnyPool, backend: Backend) -> Result<()> {
    match backend {
        Backend::Sqlite => sqlx::migrate!("migrations/sqlite").run(pool).await,
        Backend::Postgres => sqlx::migrate!("migrations/postgres").run(pool).await,
    }
    .map_err(|e| Error::backend(format!("migration failed: {e}")))
}

/// The SQL implementation of every store trait. Cheap to clone (shares one pool).
#[derive(Clone)]
pub struct SqlStore {
    inner: Arc<Inner>,
}

struct Inner {
    pool: AnyPool,
    /// Intake's own small pool (see [`INTAKE_CONNECTIONS`]); None: intake uses `pool`.
    intake: Option<AnyPool>,
    /// On SQLite, the in-process writer queue (see the `gate` module).
    gate: Option<gate::WriteGate>,
    backend: Backend,
    crypto: crypto::Crypto,
    clock: DynClock,
    retry: RetryPolicy,
}

impl std::fmt::Debug for SqlStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlStore")
            .field("backend", &self.inner.backend)
            .field("encryption_key", &self.inner.crypto.primary_id())
            .finish_non_exhaustive()
    }
}

impl SqlStore {
    /// A builder for `url` (`sqlite://file.db?mode=rwc`, `sqlite::memory:`, `postgres://…`);
    /// the key comes from `SALESAGENT_ENCRYPTION_KEY` unless set on the builder.
    #[must_use]
    pub fn builder(url: impl Into<String>) -> SqlStoreBuilder {
        SqlStoreBuilder {
            url: url.into(),
            key: KeySource::Env,
            old_keys: Vec::new(),
            clock: Arc::new(SystemClock),
            retry: RetryPolicy::default(),
            max_connections: 10,
            migrate: true,
            pool: None,
        }
    }

    /// A builder over an existing pool, so an application and salesagent share one database
    /// and one set of connections (see `examples/embed_axum.rs` of the `salesagent` package).
    /// The backend is read from the pool's URL; [`SqlStoreBuilder::max_connections`] does not
    /// apply, and closing the store closes the shared pool.
    ///
    /// On SQLite, pools salesagent opens itself run [`SQLITE_PRAGMAS`] on every connection
    /// (WAL journal, `synchronous = NORMAL`, a 30 s busy timeout); run the same in the shared
    /// pool's `after_connect` when several tasks write concurrently. Migrations
    /// are tracked in sqlx's `_sqlx_migrations` table: an application that also uses
    /// `sqlx::migrate!` on the same database must keep its migrations elsewhere (its own
    /// schema or database) or create its tables itself.
    ///
    /// [`SqlStoreBuilder::connect`] fails with [`Error::InvalidInput`] when the pool is
    /// neither SQLite nor PostgreSQL.
    ///
    /// ```
    /// use salesagent_core::ports::SettingsStore as _;
    /// use salesagent_store::SqlStore;
    /// use sqlx::any::AnyPoolOptions;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// sqlx::any::install_default_drivers();
    /// // The application's pool (one connection: an in-memory database lives in it).
    /// let pool = AnyPoolOptions::new()
    ///     .max_connections(1)
    ///     .idle_timeout(None)
    ///     .max_lifetime(None)
    ///     .connect("sqlite::memory:")
    ///     .await?;
    /// sqlx::query("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT NOT NULL)")
    ///     .execute(&pool)
    ///     .await?;
    ///
    /// let store = SqlStore::builder_from_pool(pool.clone())
    ///     .without_encryption()
    ///     .connect()
    ///     .await?;
    /// store.put_setting("greeting", "hello").await?;
    /// sqlx::query("INSERT INTO customers (name) VALUES ('Acme')")
    ///     .execute(&pool)
    ///     .await?;
    ///
    /// // One database: the application's table and salesagent's, through either handle.
    /// let customers: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM customers")
    ///     .fetch_one(store.pool())
    ///     .await?;
    /// assert_eq!(customers, 1);
    /// assert_eq!(store.setting("greeting").await?.as_deref(), Some("hello"));
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn builder_from_pool(pool: AnyPool) -> SqlStoreBuilder {
        let url = pool.connect_options().database_url.to_string();
        SqlStoreBuilder {
            pool: Some(pool),
            ..Self::builder(url)
        }
    }

    /// Connects to `url` with the defaults of [`SqlStore::builder`].
    pub async fn connect(url: &str) -> Result<Self> {
        Self::builder(url).connect().await
    }

    /// Applies any pending migrations (idempotent; also done by `connect` unless disabled).
    pub async fn migrate(&self) -> Result<()> {
        migrate_pool(&self.inner.pool, self.inner.backend).await
    }

    /// The backend in use.
    #[must_use]
    pub fn backend(&self) -> Backend {
        self.inner.backend
    }

    /// The underlying pool, for operations tooling and tests that inspect raw rows.
    #[must_use]
    pub fn pool(&self) -> &AnyPool {
        &self.inner.pool
    }

    /// Closes the pool (and intake's), waiting for connections to finish.
    pub async fn close(&self) {
        if let Some(intake) = &self.inner.intake {
            intake.close().await;
        }
        self.inner.pool.close().await;
    }

    pub(crate) fn now(&self) -> DateTime<Utc> {
        self.inner.clock.now()
    }

    pub(crate) fn is_pg(&self) -> bool {
        self.inner.backend == Backend::Postgres
    }

    /// Starts a write transaction: `BEGIN IMMEDIATE` on SQLite (takes the write lock up
    /// front, so two writers never deadlock upgrading a read lock), plain `BEGIN` on PostgreSQL.
    /// Outside the write gate: prefer [`SqlStore::begin_gated`].
    pub(crate) async fn begin_write(&self) -> Result<Transaction<'static, Any>> {
        match self.inner.backend {
            Backend::Sqlite => self.inner.pool.begin_with("BEGIN IMMEDIATE").await,
            Backend::Postgres => self.inner.pool.begin().await,
        }
        .map_err(error::db)
    }

    /// [`SqlStore::begin_write`] inside the write gate on SQLite (entered before a connection
    /// is taken): keep the returned permit until the transaction has ended.
    pub(crate) async fn begin_gated(
        &self,
    ) -> Result<(Option<gate::GatePermit>, Transaction<'static, Any>)> {
        let permit = self.enter_gate().await;
        Ok((permit, self.begin_write().await?))
    }

    /// On SQLite, waits for this process's turn to write (see the `gate` module); None on
    /// PostgreSQL, whose writers do not exclude each other.
    pub(crate) async fn enter_gate(&self) -> Option<gate::GatePermit> {
        match &self.inner.gate {
            Some(g) => Some(g.enter().await),
            None => None,
        }
    }

    /// A pooled connection for one autocommit write statement, inside the write gate on
    /// SQLite: `.execute(&mut *self.writer().await?)`.
    pub(crate) async fn writer(&self) -> Result<Writer> {
        let permit = self.enter_gate().await;
        let conn = self.inner.pool.acquire().await.map_err(error::db)?;
        Ok(Writer {
            conn,
            _permit: permit,
        })
    }

    /// Intake's write, inside the gate with priority on SQLite, on intake's own pool where
    /// there is one: a connection and the permit to keep while writing.
    pub(crate) async fn intake_writer(&self) -> Result<Writer> {
        let permit = match &self.inner.gate {
            Some(g) => Some(g.enter_urgent().await),
            None => None,
        };
        let pool = self.inner.intake.as_ref().unwrap_or(&self.inner.pool);
        let conn = pool.acquire().await.map_err(error::db)?;
        Ok(Writer {
            conn,
            _permit: permit,
        })
    }

    /// On SQLite, a connection whose commits are synced to disk before they return
    /// (`synchronous = FULL` or stronger), with the setting to give back to it afterwards
    /// through [`SqlStore::restore_sync`] (None when it already was that strong).
    pub(crate) async fn durable_connection(&self) -> Result<(Writer, Option<i64>)> {
        let mut conn = self.writer().await?;
        let level: i64 = sqlx::query_scalar("PRAGMA synchronous")
            .fetch_one(&mut *conn)
            .await
            .map_err(error::db)?;
        if level >= 2 {
            return Ok((conn, None));
        }
        sqlx::query("PRAGMA synchronous = FULL")
            .execute(&mut *conn)
            .await
            .map_err(error::db)?;
        Ok((conn, Some(level)))
    }

    /// Gives a connection from [`SqlStore::durable_connection`] its own setting back; a
    /// connection that cannot be reset is closed rather than returned to the pool.
    pub(crate) async fn restore_sync(&self, conn: &mut Writer, level: Option<i64>) {
        let Some(level) = level else { return };
        let sql = format!("PRAGMA synchronous = {}", level.clamp(0, 3));
        if sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&mut **conn)
            .await
            .is_err()
        {
            conn.conn.close_on_drop();
        }
    }

    /// Rejects text PostgreSQL cannot store (a NUL character) with a typed error naming `field`.
    pub(crate) fn check_text(&self, field: &str, value: &str) -> Result<()> {
        if self.is_pg() && value.contains('\0') {
            return Err(Error::invalid(
                field,
                "contains a NUL character, which PostgreSQL text cannot store",
            ));
        }
        Ok(())
    }

    /// The blind index of an e-mail address (case-insensitive).
    pub(crate) fn email_bidx(&self, email: &salesagent_core::model::EmailAddress) -> String {
        self.inner
            .crypto
            .bidx(&format!("email:{}", email.normalized()))
    }

    /// Seals a JSON document for the row named by `context`.
    pub(crate) fn seal<T: Serialize>(&self, context: &str, value: &T) -> Result<String> {
        let json = serde_json::to_string(value)
            .map_err(|e| Error::invalid(context, format!("does not serialise: {e}")))?;
        self.inner.crypto.seal(context, &json)
    }

    /// Opens a document sealed by [`SqlStore::seal`].
    pub(crate) fn open<T: DeserializeOwned>(&self, context: &str, stored: &str) -> Result<T> {
        let json = self.inner.crypto.open(context, stored)?;
        serde_json::from_str(&json).map_err(|e| error::json(context, &e))
    }
}

/// A pooled connection that may write: on SQLite it holds the write gate until dropped.
pub(crate) struct Writer {
    conn: sqlx::pool::PoolConnection<Any>,
    _permit: Option<gate::GatePermit>,
}

impl std::ops::Deref for Writer {
    type Target = sqlx::AnyConnection;
    fn deref(&self) -> &Self::Target {
        &self.conn
    }
}

impl std::ops::DerefMut for Writer {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.conn
    }
}

/// A timestamp as stored: nanoseconds since the Unix epoch.
pub(crate) fn ts(field: &str, t: DateTime<Utc>) -> Result<i64> {
    t.timestamp_nanos_opt()
        .ok_or_else(|| Error::invalid(field, "is outside the years 1677..2262"))
}

/// A stored timestamp back as a time.
pub(crate) fn from_ts(n: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_nanos(n)
}

/// A column of `row`, with decode failures as backend errors.
pub(crate) fn col<'r, T>(row: &'r AnyRow, name: &str) -> Result<T>
where
    T: sqlx::Decode<'r, Any> + sqlx::Type<Any>,
{
    row.try_get::<T, _>(name)
        .map_err(|e| Error::backend(format!("column {name}: {e}")))
}

/// The snake_case name serde gives a unit enum variant.
pub(crate) fn enum_str<T: Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        other => format!("{other:?}"),
    }
}

/// Parses a unit enum variant from its serde name.
pub(crate) fn parse_enum<T: DeserializeOwned>(what: &str, s: &str) -> Result<T> {
    serde_json::from_value(serde_json::Value::String(s.to_owned()))
        .map_err(|_| Error::backend(format!("unknown {what} {s:?} in the database")))
}
