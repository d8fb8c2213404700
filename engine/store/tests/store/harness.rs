//! Runs each test body against SQLite (a fresh file) and PostgreSQL (a fresh
//! database on the server named by `CERTFLOW_TEST_POSTGRES_URL`).

use std::future::Future;

use certflow_store::Store;
use sqlx::{Connection, PgConnection};
use tempfile::TempDir;
use uuid::Uuid;

pub const POSTGRES_URL_VAR: &str = "CERTFLOW_TEST_POSTGRES_URL";

/// Defines, for each named `async fn(Store)`, a module with a `sqlite` and a
/// `postgres` test running it.
macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                $crate::harness::on_sqlite(super::$name).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                $crate::harness::on_postgres(super::$name).await;
            }
        }
    )*};
}

pub async fn on_sqlite<F, Fut>(test: F)
where
    F: FnOnce(Store) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let dir = TempDir::new().expect("temp dir");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("store.sqlite").display());
    let store = Store::connect(&url).await.expect("connect to SQLite");
    run(test, store.clone()).await;
    store.close().await;
}

/// Without a server: fails under CI (which must test both backends), and
/// skips with a note elsewhere.
pub async fn on_postgres<F, Fut>(test: F)
where
    F: FnOnce(Store) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let Some(admin_url) = postgres_url() else {
        return;
    };
    let database = format!("certflow_test_{}", Uuid::new_v4().simple());
    let mut admin = PgConnection::connect(&admin_url).await.expect("connect to the PostgreSQL server");
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {database}")))
        .execute(&mut admin)
        .await
        .expect("create a test database");

    let store = Store::connect(&with_database(&admin_url, &database)).await.expect("connect to the test database");
    let outcome = run_catching(test, store.clone()).await;
    store.close().await;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)")))
        .execute(&mut admin)
        .await
        .expect("drop the test database");
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

#[allow(clippy::print_stderr)]
fn postgres_url() -> Option<String> {
    match std::env::var(POSTGRES_URL_VAR) {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var_os("CI").is_some() => panic!(
            "{POSTGRES_URL_VAR} is not set: CI must run the PostgreSQL tests \
             (start a server with `eval \"$(bash tools/ci/postgres.sh)\"`)"
        ),
        _ => {
            eprintln!("skipped: {POSTGRES_URL_VAR} is not set (see tools/ci/postgres.sh)");
            None
        }
    }
}

/// `postgres://user@host:port/db?params` with `db` replaced.
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |at| at + 3);
    let authority_end = base[authority_start..].find('/').map_or(base.len(), |at| authority_start + at);
    let mut result = format!("{}/{database}", &base[..authority_end]);
    if let Some(query) = query {
        result.push('?');
        result.push_str(query);
    }
    result
}

async fn run<F, Fut>(test: F, store: Store)
where
    F: FnOnce(Store) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    if let Err(panic) = run_catching(test, store).await {
        std::panic::resume_unwind(panic);
    }
}

/// Runs the body on its own task so that a failing assertion still lets the
/// caller clean up before passing the panic on.
async fn run_catching<F, Fut>(test: F, store: Store) -> Result<(), Box<dyn std::any::Any + Send>>
where
    F: FnOnce(Store) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    tokio::spawn(test(store))
        .await
        .map_err(|error| if error.is_panic() { error.into_panic() } else { Box::new(error.to_string()) })
}

#[test]
fn replaces_the_database_in_a_url() {
    assert_eq!(
        with_database("postgres://postgres@127.0.0.1:54329/postgres", "t1"),
        "postgres://postgres@127.0.0.1:54329/t1"
    );
    assert_eq!(with_database("postgres://u:p@h/db?sslmode=disable", "t2"), "postgres://u:p@h/t2?sslmode=disable");
    assert_eq!(with_database("postgres://h:5432", "t3"), "postgres://h:5432/t3");
}
