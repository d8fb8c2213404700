//! Persistence for certflow: documents, customs receipts, attachments, the
//! audit log, the outbox and number counters, and the accounts side
//! (enterprises, users, server-side sessions, login challenges), on SQLite
//! (the embedded default) or PostgreSQL (several server instances sharing
//! one database).
//!
//! What it must not do: understand certificates or the definition bundle. A
//! document is opaque JSON (its data, and the engine's metadata about it)
//! beside a few indexed columns (type, definition hash, enterprise, status,
//! numbers, timestamps, version); what goes into those columns, which
//! statuses exist, which transitions are allowed and whether the data is
//! valid is decided by the engine, never here. A user's certificate is
//! stored as given and never parsed or verified here.
//!
//! Each query is written once, in SQL that runs unchanged on both backends
//! (`$n` placeholders, `RETURNING`, `ON CONFLICT`); the one difference is the
//! outbox claim's `FOR UPDATE SKIP LOCKED` on PostgreSQL. The test suite
//! runs every test on both, so SQLite-only SQL cannot creep in. Operations on
//! behalf of a user take the user's enterprise and treat another
//! enterprise's rows as absent ([`StoreError::NotFound`]). The few
//! unscoped ones, for customs ([`Store::get_document_for_customs`],
//! [`DocumentQuery::customs`], [`Store::find_document_by_unified_no`]), say
//! so in their names or documentation.
//!
//! Timestamps are stored as Unix milliseconds (UTC) in `BIGINT` columns on
//! both backends, so they compare and sort the same everywhere; the API
//! speaks [`time::OffsetDateTime`], truncated to the millisecond.
//!
//! Durability: SQLite runs in WAL mode with `synchronous=NORMAL`, where a
//! commit survives a crash of the process but possibly not a power loss.
//! A [`Transition`] with `durable: true` (a submission to customs) commits
//! with `synchronous=FULL`, which fsyncs the WAL before the commit returns.

// First, so its macros are in scope in the modules below.
#[macro_use]
mod sql;

mod accounts;
mod attachments;
mod audit;
mod documents;
mod error;
mod lookups;
mod numbering;
mod outbox;
mod receipts;
mod sessions;
mod templates;
mod transition;
mod versions;

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};

pub use accounts::{Enterprise, NewEnterprise, NewUser, Role, User};
pub use attachments::{Attachment, AttachmentMeta, NewAttachment};
pub use audit::{AuditEntry, AuditQuery, NewAuditEntry};
pub use documents::{DateField, Document, DocumentPage, DocumentQuery, DocumentUpdate, NewDocument};
pub use error::{Result, StoreError};
pub use lookups::LookupRecord;
pub use numbering::NumberRequest;
pub use outbox::{OutboxMessage, retry_delay};
pub use receipts::{NewReceipt, Receipt, RecordedReceipt};
pub use sessions::{LoginChallenge, NewSession, Session, session_token_hash};
pub use templates::{NewValueTemplate, Subscription, TemplateScope, ValueTemplate};
pub use transition::{AuditRecord, OutboxRecord, Transition, Transitioned};
pub use uuid::Uuid;
pub use versions::BundleVersion;

/// How long a SQLite connection waits for the write lock before giving up.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(10);

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Which database a [`Store`] runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A handle to the database; cheap to clone (the pool is shared).
#[derive(Debug, Clone)]
pub struct Store {
    pool: Pool,
}

/// Two concrete pools rather than sqlx's `Any` driver, which maps JSON and
/// binary columns poorly. Each operation is written once and expanded for
/// both pools by the macros in `sql.rs`.
#[derive(Debug, Clone)]
enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

impl Store {
    /// Connects and brings the schema up to date.
    ///
    /// Accepts `sqlite:path`, `sqlite://path?mode=rwc` (the file is created
    /// when missing unless the URL sets `mode` itself) and
    /// `postgres://…` / `postgresql://…`.
    pub async fn connect(url: &str) -> Result<Self> {
        if url.starts_with("sqlite:") {
            let mut options = SqliteConnectOptions::from_str(url)?;
            if !url.contains("mode=") {
                options = options.create_if_missing(true);
            }
            Self::connect_sqlite(options).await
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Self::connect_postgres(PgConnectOptions::from_str(url)?).await
        } else {
            Err(StoreError::InvalidInput(format!("unsupported database URL (expected sqlite: or postgres://): {url}")))
        }
    }

    /// Connects to a SQLite database with the store's pragmas applied on top
    /// of `options`: WAL, foreign keys, a busy timeout and `synchronous=NORMAL`.
    pub async fn connect_sqlite(options: SqliteConnectOptions) -> Result<Self> {
        let options = options
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(SQLITE_BUSY_TIMEOUT);
        let pool = SqlitePoolOptions::new().max_connections(8).connect_with(options).await?;
        SQLITE_MIGRATIONS.run(&pool).await?;
        Ok(Self { pool: Pool::Sqlite(pool) })
    }

    /// Connects to PostgreSQL. Migrations take an advisory lock, so several
    /// instances starting at once is fine.
    pub async fn connect_postgres(options: PgConnectOptions) -> Result<Self> {
        let pool = PgPoolOptions::new().max_connections(10).connect_with(options).await?;
        POSTGRES_MIGRATIONS.run(&pool).await?;
        Ok(Self { pool: Pool::Postgres(pool) })
    }

    pub fn backend(&self) -> Backend {
        match self.pool {
            Pool::Sqlite(_) => Backend::Sqlite,
            Pool::Postgres(_) => Backend::Postgres,
        }
    }

    /// Waits for connections in use to be returned, then closes them all.
    pub async fn close(&self) {
        match &self.pool {
            Pool::Sqlite(pool) => pool.close().await,
            Pool::Postgres(pool) => pool.close().await,
        }
    }
}
