//! Embedding salesagent in an existing axum service: the service keeps its own routes, state,
//! auth and table; salesagent's intake, operator API and web page are mounted under
//! `/salesagent`; salesagent's workers run in the same process; everything shares one database
//! pool (SQLite by default, PostgreSQL with a `postgres://` URL).
//!
//! ```bash
//! HUBSPOT_CLIENT_SECRET=... SALESAGENT_OPERATOR_TOKEN=... APP_API_KEY=... \
//!   cargo run --example embed_axum -- sqlite://embed.db?mode=rwc https://app.example.com
//! ```
//!
//! ```text
//!  the application's Router
//!  ├── GET  /api/customers          its own route, its own x-api-key auth, its own table
//!  ├── GET  /api/leads              its own route reading salesagent's store (draft counts)
//!  ├── /salesagent/*                salesagent::host::app(state), nested unchanged:
//!  │     POST /webhooks/forms         signed intake → durable job (202)
//!  │     POST /webhooks/hubspot       HubSpot workflow payloads and event arrays (202)
//!  │     /api/…                       operator API (salesagent's bearer token)
//!  │     GET  /healthz, /readyz
//!  └── /operator…                   salesagent's operator web page (login, session cookie)
//!  workers: salesagent::core::worker::Worker::run in the same tokio runtime
//!  one AnyPool → the application's table + salesagent's tables (SqlStore::builder_from_pool)
//! ```
//!
//! Things to get right when mounting under a prefix:
//! - **The signed URL.** HubSpot signs the full public URL it called, including the prefix.
//!   Intake checks the signature over the request's original URI (axum's `OriginalUri`), which
//!   keeps the prefix even inside the nested router, so `HostConfig::public_url` is just the
//!   application's public origin (`https://app.example.com`), the same as without nesting.
//! - **Auth.** The application's auth belongs on its own routes only (`route_layer` before
//!   nesting): webhooks carry HubSpot's signature, and the operator routes check salesagent's
//!   own token.
//! - **The operator web page** uses absolute `/operator…` links, redirects and cookie path, so
//!   it is also routed at the root (`route_service`, path unchanged); the JSON operator API
//!   works under the prefix.

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use salesagent::core::model::{DraftStatus, EmailAddress};
use salesagent::core::pipeline::{Pipeline, PipelineConfig, Ports};
use salesagent::core::ports::{DynClock, DynStore, SystemClock};
use salesagent::core::testing::{FakeCalendar, FakeCrm, FakeDrive, FakeMailbox};
use salesagent::core::worker::{Worker, WorkerConfig};
use salesagent::core::writer::TemplateLlm;
use salesagent::host::{AppState, HostConfig};
use salesagent::store::{EncryptionKey, SqlStore};
use secrecy::{ExposeSecret as _, SecretString};
use sqlx::AnyPool;
use sqlx::any::AnyPoolOptions;
use std::process::ExitCode;
use std::sync::Arc;

/// Where salesagent is mounted in the application.
pub const MOUNT: &str = "/salesagent";

/// How the embedding application is set up.
#[derive(Debug, Clone)]
pub struct EmbedConfig {
    /// The database both share: `sqlite://file.db?mode=rwc` or `postgres://…`.
    pub database_url: String,
    /// The application's public base URL, without salesagent's prefix.
    pub public_url: String,
    /// The application's own API key for its `/api` routes.
    pub app_api_key: SecretString,
    /// salesagent's host settings (HubSpot secret, operator token, …); `public_url` is set
    /// from the field above.
    pub host: HostConfig,
    /// Encryption at rest for salesagent's documents; `None` reads `SALESAGENT_ENCRYPTION_KEY`.
    pub encryption_key: Option<EncryptionKey>,
    /// salesagent's clock (tests pass a manual one).
    pub clock: DynClock,
    /// The mailbox salesagent's drafts go out from.
    pub sender: EmailAddress,
}

/// The application's own state: its pool, its key, and a handle on salesagent's store.
#[derive(Debug, Clone)]
pub struct AppCtx {
    pool: AnyPool,
    api_key: SecretString,
    salesagent: DynStore,
}

/// The assembled service: the router to serve, the workers to run, and the shared pool.
#[derive(Debug, Clone)]
pub struct Embedded {
    /// The application's router with salesagent mounted under [`MOUNT`].
    pub router: Router,
    /// salesagent's workers (run them with `Worker::run`, or `run_until_idle` in tests).
    pub worker: Worker,
    /// salesagent's store, over the shared pool.
    pub store: SqlStore,
    /// The one pool.
    pub pool: AnyPool,
}

/// Opens the shared pool, creates the application's table, opens salesagent's store over the
/// same pool, and assembles the router and the workers.
///
/// # Errors
/// A database that cannot be reached or migrated.
pub async fn build(config: EmbedConfig) -> Result<Embedded, Box<dyn std::error::Error>> {
    sqlx::any::install_default_drivers();
    let sqlite = config.database_url.starts_with("sqlite:");
    let pool = AnyPoolOptions::new()
        .max_connections(8)
        .after_connect(move |conn, _| {
            Box::pin(async move {
                if sqlite {
                    // What salesagent sets on its own SQLite pools: concurrent writers wait
                    // for each other instead of failing with SQLITE_BUSY.
                    for pragma in salesagent::store::SQLITE_PRAGMAS {
                        sqlx::query(*pragma).execute(&mut *conn).await?;
                    }
                }
                Ok(())
            })
        })
        .connect(&config.database_url)
        .await?;

    // The application's own schema (it does not use sqlx::migrate!, so it cannot clash with
    // salesagent's migration table).
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS app_customers \
         (id BIGINT PRIMARY KEY, name TEXT NOT NULL, email TEXT NOT NULL)",
    )
    .execute(&pool)
    .await?;

    let mut builder = SqlStore::builder_from_pool(pool.clone()).clock(config.clock.clone());
    if let Some(key) = config.encryption_key {
        builder = builder.encryption_key(key);
    }
    let store = builder.connect().await?;
    let shared: DynStore = Arc::new(store.clone());

    // salesagent's intake and operator routes, mounted under the prefix.
    // The signed URI is rebuilt from the original request path (prefix included), so the
    // public URL is the bare origin.
    let mut host = config.host;
    host.public_url = Some(config.public_url.trim_end_matches('/').to_owned());
    let salesagent_routes =
        salesagent::host::app(AppState::new(shared.clone(), config.clock.clone(), host));

    // The application's routes, with its own auth on them only.
    let ctx = AppCtx {
        pool: pool.clone(),
        api_key: config.app_api_key,
        salesagent: shared.clone(),
    };
    let app_routes = Router::new()
        .route("/api/customers", get(list_customers))
        .route("/api/leads", get(lead_summary))
        .route_layer(axum::middleware::from_fn_with_state(
            ctx.clone(),
            require_api_key,
        ))
        .with_state(ctx);
    // The operator web page links, redirects and scopes its cookie to absolute `/operator…`
    // paths, so it is routed at the root as well, with its path unchanged.
    let web_page = salesagent_routes.clone().into_service::<axum::body::Body>();
    let router = app_routes
        .route_service("/operator", web_page.clone())
        .route_service("/operator/{*rest}", web_page)
        .nest(MOUNT, salesagent_routes);

    // salesagent's workers over the same store. Offline ports here; a production service
    // passes `salesagent::connectors` (HubSpot, Gmail, Drive, Calendar, OpenAI) built from
    // the environment, or its own implementations (see examples/custom_crm.rs).
    let clock = config.clock;
    let ports = Ports {
        crm: Arc::new(FakeCrm::new()),
        mailbox: Arc::new(FakeMailbox::new().with_clock(clock.clone())),
        drive: Arc::new(FakeDrive::new()),
        calendar: Arc::new(FakeCalendar::new().with_clock(clock.clone())),
        llm: Arc::new(TemplateLlm),
        store: shared,
        clock,
    };
    let pipeline = Arc::new(Pipeline::new(ports, PipelineConfig::new(config.sender)));
    let worker = Worker::new(
        pipeline,
        WorkerConfig {
            name: format!("embedded-{}", std::process::id()),
            ..WorkerConfig::default()
        },
    );
    Ok(Embedded {
        router,
        worker,
        store,
        pool,
    })
}

/// The application's auth: an `x-api-key` header on its own routes.
async fn require_api_key(State(ctx): State<AppCtx>, req: Request, next: Next) -> Response {
    let given = req
        .headers()
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let expected = ctx.api_key.expose_secret();
    // Constant time, so the key cannot be guessed byte by byte.
    let same = given.len() == expected.len()
        && given
            .bytes()
            .zip(expected.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0;
    if !same || expected.is_empty() {
        return (StatusCode::UNAUTHORIZED, "missing or wrong x-api-key").into_response();
    }
    next.run(req).await
}

/// `GET /api/customers`: rows of the application's own table.
async fn list_customers(State(ctx): State<AppCtx>) -> Response {
    let rows: Result<Vec<(i64, String, String)>, _> =
        sqlx::query_as("SELECT id, name, email FROM app_customers ORDER BY id")
            .fetch_all(&ctx.pool)
            .await;
    match rows {
        Ok(rows) => Json(
            rows.into_iter()
                .map(
                    |(id, name, email)| serde_json::json!({"id": id, "name": name, "email": email}),
                )
                .collect::<Vec<_>>(),
        )
        .into_response(),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, e.to_string()).into_response(),
    }
}

/// `GET /api/leads`: the application reading salesagent's store through the port.
async fn lead_summary(State(ctx): State<AppCtx>) -> Response {
    match ctx.salesagent.draft_counts().await {
        Ok(counts) => Json(serde_json::json!({
            "pending": counts.get(&DraftStatus::Pending).copied().unwrap_or(0),
            "total": counts.values().sum::<u64>(),
        }))
        .into_response(),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, e.to_string()).into_response(),
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let database_url = args
        .next()
        .unwrap_or_else(|| "sqlite://embed.db?mode=rwc".to_owned());
    let public_url = args
        .next()
        .unwrap_or_else(|| "http://127.0.0.1:8080".to_owned());
    let Ok(sender) = EmailAddress::parse("sales@example.com") else {
        return ExitCode::FAILURE;
    };
    let config = EmbedConfig {
        database_url,
        public_url,
        app_api_key: SecretString::from(std::env::var("APP_API_KEY").unwrap_or_default()),
        host: HostConfig::from_env(),
        encryption_key: None,
        clock: Arc::new(SystemClock),
        sender,
    };
    let embedded = match build(config).await {
        Ok(e) => e,
        Err(e) => {
            eprintln!("embed_axum: {e}");
            return ExitCode::FAILURE;
        }
    };
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    let worker = embedded.worker.clone();
    let workers = tokio::spawn(async move {
        worker
            .run(2, async move {
                let _ = stop_rx.wait_for(|stop| *stop).await;
            })
            .await
    });
    let listener = match tokio::net::TcpListener::bind("127.0.0.1:8080").await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("embed_axum: cannot listen on 127.0.0.1:8080: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("listening on http://127.0.0.1:8080 (salesagent under {MOUNT})");
    let served = axum::serve(
        listener,
        embedded
            .router
            .into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await;
    let _ = stop_tx.send(true);
    let _ = workers.await;
    embedded.store.close().await;
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("embed_axum: {e}");
            ExitCode::FAILURE
        }
    }
}
