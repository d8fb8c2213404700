use uuid::Uuid;

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The row does not exist, or belongs to another enterprise.
    #[error("not found")]
    NotFound,

    /// Optimistic locking: the document changed since the caller read it.
    #[error("document {id} was changed meanwhile (expected version {expected}, found {actual})")]
    Conflict { id: Uuid, expected: i64, actual: i64 },

    /// A value that must be unique is already taken, e.g. a unified number
    /// or a receipt's idempotency key used for another document.
    #[error("duplicate {what}")]
    Duplicate { what: &'static str },

    /// An outbox message was acknowledged or failed by a consumer whose
    /// lease had expired and that another consumer has claimed since.
    #[error("outbox message {id} is no longer leased to this consumer")]
    LeaseLost { id: i64 },

    /// A login challenge is unknown, expired or already used.
    #[error("login challenge unknown, expired or already used")]
    ChallengeInvalid,

    #[error("numbering scheme {scheme} has no serial left for {prefix}{year}")]
    NumberingExhausted { scheme: String, prefix: String, year: i32 },

    #[error("invalid input: {0}")]
    InvalidInput(String),

    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),

    #[error("database migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
}

impl StoreError {
    /// Maps a unique-constraint violation to [`StoreError::Duplicate`]; other
    /// errors pass through.
    pub(crate) fn unique_as_duplicate(error: sqlx::Error, what: &'static str) -> Self {
        match &error {
            sqlx::Error::Database(db) if db.is_unique_violation() => Self::Duplicate { what },
            _ => Self::Database(error),
        }
    }
}

pub(crate) fn is_foreign_key_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db) if db.is_foreign_key_violation())
}

pub(crate) fn is_unique_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db) if db.is_unique_violation())
}
