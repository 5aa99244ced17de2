//! `SqlStore::builder_from_pool`: an application and salesagent share one pool and database.

use crate::common::{ManualClock, key, pg_url, sqlite_file_url, submission};
use salesagent_core::model::NewJob;
use salesagent_core::ports::{JobStore as _, SubmissionStore as _};
use salesagent_store::{Backend, SqlStore};
use sqlx::AnyPool;
use sqlx::any::AnyPoolOptions;
use std::time::Duration;

async fn app_pool(url: &str) -> AnyPool {
    sqlx::any::install_default_drivers();
    AnyPoolOptions::new()
        .max_connections(4)
        .connect(url)
        .await
        .expect("the application's pool")
}

/// The application's own table, its rows, and salesagent's tables live side by side; the
/// store's data is still encrypted and survives reopening over the same pool.
async fn shares_one_pool(url: &str, expected: Backend) {
    let pool = app_pool(url).await;
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS app_accounts (id BIGINT PRIMARY KEY, name TEXT NOT NULL)",
    )
    .execute(&pool)
    .await
    .unwrap();
    let store = SqlStore::builder_from_pool(pool.clone())
        .encryption_key(key())
        .clock(ManualClock::new())
        .connect()
        .await
        .expect("store over the shared pool");
    assert_eq!(store.backend(), expected);

    let (saved, new) = store
        .save_submission(&submission("ann@acme.example", "shared-1"))
        .await
        .unwrap();
    assert!(new);
    let (job, _) = store
        .enqueue(&NewJob::new(
            "app.reindex",
            serde_json::json!({"account": 1}),
        ))
        .await
        .unwrap();
    sqlx::query("INSERT INTO app_accounts (id, name) VALUES (1, 'Acme')")
        .execute(&pool)
        .await
        .unwrap();

    // The store's pool is the application's pool: one set of connections.
    let names: Vec<String> = sqlx::query_scalar("SELECT name FROM app_accounts")
        .fetch_all(store.pool())
        .await
        .unwrap();
    assert_eq!(names, ["Acme"]);
    let jobs: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM jobs")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(
        jobs, 1,
        "salesagent's tables are in the application's database"
    );

    // A second store over the same pool (another component, a restart) sees the same data
    // and re-applying the migrations is a no-op.
    let again = SqlStore::builder_from_pool(pool.clone())
        .encryption_key(key())
        .connect()
        .await
        .unwrap();
    assert_eq!(again.get_submission(saved.id).await.unwrap(), saved);
    let claimed = again
        .claim(
            "app-worker",
            &["app.reindex".to_owned()],
            Duration::from_secs(30),
        )
        .await
        .unwrap()
        .expect("the job enqueued through the first store");
    assert_eq!(claimed.job.id, job.id);
    again.complete(&claimed.lease).await.unwrap();
    pool.close().await;
}

#[tokio::test]
async fn a_store_over_an_application_sqlite_pool_shares_its_database() {
    shares_one_pool(&sqlite_file_url(), Backend::Sqlite).await;
}

#[tokio::test]
async fn a_store_over_an_application_postgres_pool_shares_its_database() {
    let Some(url) = pg_url().await else { return };
    shares_one_pool(&url, Backend::Postgres).await;
}
