//! Helpers shared by the operations: running one body of code against either
//! pool, write transactions, time conversion and dynamically built filters.

use serde_json::Value;
use sqlx::pool::PoolConnection;
use sqlx::sqlite::{Sqlite, SqliteConnection, SqlitePool};
use sqlx::types::Json;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::Result;

/// Expands `$body` once per backend with `$pool` bound to the concrete pool.
/// The SQL is the same on both; only the Rust types differ.
macro_rules! with_pool {
    ($store:expr, |$pool:ident| $body:expr) => {
        match &$store.pool {
            $crate::Pool::Sqlite($pool) => $body,
            $crate::Pool::Postgres($pool) => $body,
        }
    };
}

/// Runs `$body` in a write transaction bound to `$tx` and commits it; an early
/// return (`?`) drops the transaction, which rolls it back.
///
/// SQLite transactions start with `BEGIN IMMEDIATE`: taking the write lock up
/// front means a transaction never has to upgrade a read snapshot to a write,
/// which SQLite refuses (SQLITE_BUSY) without waiting for the busy timeout.
/// For `durable` commits see [`SqliteWriter`]. PostgreSQL commits
/// synchronously by default; durable commits set `synchronous_commit = on`
/// for the transaction so that a server configured for asynchronous commit
/// still flushes them.
macro_rules! write_tx {
    ($store:expr, durable = $durable:expr, |$tx:ident| $body:expr) => {
        match &$store.pool {
            $crate::Pool::Sqlite(pool) => {
                let mut writer = $crate::sql::SqliteWriter::acquire(pool, $durable).await?;
                let mut $tx = sqlx::Connection::begin_with(writer.connection(), "BEGIN IMMEDIATE").await?;
                let value = $body;
                $tx.commit().await?;
                writer.release().await?;
                value
            }
            $crate::Pool::Postgres(pool) => {
                let mut $tx = pool.begin().await?;
                if $durable {
                    sqlx::query("SET LOCAL synchronous_commit = on").execute(&mut *$tx).await?;
                }
                let value = $body;
                $tx.commit().await?;
                value
            }
        }
    };
}

/// A pooled SQLite connection for one write transaction.
///
/// Durable commits must survive a power loss. In WAL mode with the pool's
/// `synchronous=NORMAL`, SQLite fsyncs the WAL only at checkpoints, so the
/// last commits can be lost with the power (never corrupted); with
/// `synchronous=FULL` it fsyncs the WAL at every commit, which also makes
/// all earlier commits in the WAL durable. The setting is per connection and
/// cannot change inside a transaction, so a durable writer switches its
/// connection to FULL before `BEGIN` and back to NORMAL after the commit. If
/// it is dropped before switching back (an error, or the caller's future
/// cancelled halfway), the pool closes the connection instead of reusing it,
/// so FULL never leaks into ordinary commits.
pub(crate) struct SqliteWriter {
    connection: PoolConnection<Sqlite>,
    full_sync: bool,
}

impl SqliteWriter {
    pub(crate) async fn acquire(pool: &SqlitePool, durable: bool) -> Result<Self> {
        let mut writer = Self { connection: pool.acquire().await?, full_sync: durable };
        if durable {
            sqlx::query("PRAGMA synchronous = FULL").execute(writer.connection()).await?;
        }
        Ok(writer)
    }

    pub(crate) fn connection(&mut self) -> &mut SqliteConnection {
        &mut self.connection
    }

    /// Sets the connection back to the pool's setting; call after the commit.
    pub(crate) async fn release(mut self) -> Result<()> {
        if self.full_sync {
            sqlx::query("PRAGMA synchronous = NORMAL").execute(self.connection()).await?;
            self.full_sync = false;
        }
        Ok(())
    }
}

impl Drop for SqliteWriter {
    fn drop(&mut self) {
        if self.full_sync {
            self.connection.close_on_drop();
        }
    }
}

/// Binds dynamically collected [`Param`]s in order.
macro_rules! bind_params {
    ($query:expr, $params:expr) => {{
        let mut query = $query;
        for param in $params {
            query = match param {
                $crate::sql::Param::Text(text) => query.bind(text.clone()),
                $crate::sql::Param::Int(int) => query.bind(*int),
            };
        }
        query
    }};
}

/// The current time at the stored precision, so values returned to callers
/// equal what a later read gives back.
pub(crate) fn now() -> OffsetDateTime {
    let now = OffsetDateTime::now_utc();
    now.replace_nanosecond(now.millisecond() as u32 * 1_000_000).unwrap_or(now)
}

pub(crate) fn to_millis(at: OffsetDateTime) -> i64 {
    (at.unix_timestamp_nanos() / 1_000_000) as i64
}

pub(crate) fn from_millis(millis: i64) -> Result<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000)
        .map_err(|error| sqlx::Error::Decode(Box::new(error)).into())
}

pub(crate) fn parse_uuid(text: &str) -> Result<Uuid> {
    Uuid::parse_str(text).map_err(|error| sqlx::Error::Decode(Box::new(error)).into())
}

pub(crate) fn parse_optional_uuid(text: Option<&str>) -> Result<Option<Uuid>> {
    text.map(parse_uuid).transpose()
}

/// JSON as bound and decoded: JSONB on PostgreSQL, TEXT on SQLite.
pub(crate) type JsonValue = Json<Value>;

/// A bind value for SQL assembled at run time (filters of list queries).
#[derive(Debug)]
pub(crate) enum Param {
    Text(String),
    Int(i64),
}

/// A `WHERE` clause assembled from fixed fragments, with its values bound as
/// `$n` parameters (never spliced into the SQL).
#[derive(Debug, Default)]
pub(crate) struct Filter {
    conditions: Vec<String>,
    pub(crate) params: Vec<Param>,
}

impl Filter {
    /// Adds a parameter and returns its placeholder.
    pub(crate) fn param(&mut self, param: Param) -> String {
        self.params.push(param);
        format!("${}", self.params.len())
    }

    /// `column = $n`; `column` must be a fixed identifier, not user input.
    pub(crate) fn equals(&mut self, column: &str, param: Param) {
        let placeholder = self.param(param);
        self.conditions.push(format!("{column} = {placeholder}"));
    }

    /// `column IN ($n, …)`, or nothing when `values` is empty.
    pub(crate) fn one_of(&mut self, column: &str, values: &[String]) {
        if values.is_empty() {
            return;
        }
        let placeholders: Vec<String> = values.iter().map(|value| self.param(Param::Text(value.clone()))).collect();
        self.conditions.push(format!("{column} IN ({})", placeholders.join(", ")));
    }

    /// `column <op> $n` for a comparison such as `>=`.
    pub(crate) fn compare(&mut self, column: &str, operator: &str, param: Param) {
        let placeholder = self.param(param);
        self.conditions.push(format!("{column} {operator} {placeholder}"));
    }

    pub(crate) fn where_clause(&self) -> String {
        if self.conditions.is_empty() { String::new() } else { format!("WHERE {}", self.conditions.join(" AND ")) }
    }
}
