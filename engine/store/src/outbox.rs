use std::time::Duration;

use serde_json::Value;
use sqlx::types::Json;
use time::OffsetDateTime;

use crate::error::{Result, StoreError};
use crate::sql::{JsonValue, from_millis, now, to_millis};
use crate::{Pool, Store};

/// A message claimed from the outbox, leased to its consumer until
/// `lease_until`. Delivery is at least once: a consumer that does not ack
/// or fail in time loses the message to the next claim, so handlers must be
/// idempotent.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxMessage {
    pub id: i64,
    pub topic: String,
    pub payload: Value,
    pub created_at: OffsetDateTime,
    /// Claims so far, this one included; also fences stale consumers.
    pub attempts: i64,
    /// What went wrong on the previous attempt, if it failed.
    pub last_error: Option<String>,
    pub lease_until: OffsetDateTime,
}

#[derive(sqlx::FromRow)]
struct OutboxRow {
    id: i64,
    topic: String,
    payload: JsonValue,
    created_at: i64,
    available_at: i64,
    attempts: i64,
    last_error: Option<String>,
}

impl TryFrom<OutboxRow> for OutboxMessage {
    type Error = StoreError;

    fn try_from(row: OutboxRow) -> Result<Self> {
        Ok(Self {
            id: row.id,
            topic: row.topic,
            payload: row.payload.0,
            created_at: from_millis(row.created_at)?,
            attempts: row.attempts,
            last_error: row.last_error,
            lease_until: from_millis(row.available_at)?,
        })
    }
}

/// Parameters: topic, payload, created_at (also available_at).
pub(crate) const INSERT_MESSAGE: &str = "INSERT INTO outbox \
     (topic, payload, created_at, available_at, attempts) VALUES ($1, $2, $3, $3, 0) RETURNING id";

/// Leases up to `$4` due messages of topic `$2` until `$1`. On PostgreSQL
/// `SKIP LOCKED` lets concurrent consumers pass over rows another is
/// claiming instead of waiting for (and then double-claiming) them; SQLite
/// has a single writer, so the statement alone is atomic there.
macro_rules! claim_sql {
    ($lock:literal) => {
        concat!(
            "WITH due AS MATERIALIZED (SELECT id AS due_id FROM outbox \
             WHERE topic = $2 AND delivered_at IS NULL AND available_at <= $3 \
             ORDER BY available_at, id LIMIT $4",
            $lock,
            ") UPDATE outbox SET available_at = $1, attempts = attempts + 1 FROM due \
             WHERE id = due.due_id \
             RETURNING id, topic, payload, created_at, available_at, attempts, last_error"
        )
    };
}
const CLAIM_SQLITE: &str = claim_sql!("");
const CLAIM_POSTGRES: &str = claim_sql!(" FOR UPDATE SKIP LOCKED");

const ACK: &str = "UPDATE outbox SET delivered_at = $1 \
     WHERE id = $2 AND attempts = $3 AND delivered_at IS NULL";

const FAIL: &str = "UPDATE outbox SET available_at = $1, last_error = $2 \
     WHERE id = $3 AND attempts = $4 AND delivered_at IS NULL";

/// A backoff for [`Store::fail`]: 5 s after the first attempt, doubling up to
/// an hour.
pub fn retry_delay(attempts: i64) -> Duration {
    const FIRST: Duration = Duration::from_secs(5);
    const LONGEST: Duration = Duration::from_secs(3600);
    let doublings = attempts.saturating_sub(1).clamp(0, 16) as u32;
    FIRST.saturating_mul(1 << doublings).min(LONGEST)
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

impl Store {
    /// Queues a message for delivery now. To queue it together with a
    /// document change, use [`Store::transition`].
    pub async fn enqueue(&self, topic: &str, payload: &Value) -> Result<i64> {
        let created_at = to_millis(now());
        let id = with_pool!(self, |pool| {
            sqlx::query_scalar(INSERT_MESSAGE).bind(topic).bind(Json(payload)).bind(created_at).fetch_one(pool).await?
        });
        Ok(id)
    }

    /// Leases up to `max` due messages of `topic` for `lease`, oldest first.
    /// Concurrent callers never receive the same message while its lease
    /// runs.
    pub async fn claim(&self, topic: &str, max: u32, lease: Duration) -> Result<Vec<OutboxMessage>> {
        let now = to_millis(now());
        let lease_until = now.saturating_add(millis(lease));
        let mut rows: Vec<OutboxRow> = match &self.pool {
            Pool::Sqlite(pool) => {
                sqlx::query_as(CLAIM_SQLITE)
                    .bind(lease_until)
                    .bind(topic)
                    .bind(now)
                    .bind(i64::from(max))
                    .fetch_all(pool)
                    .await?
            }
            Pool::Postgres(pool) => {
                sqlx::query_as(CLAIM_POSTGRES)
                    .bind(lease_until)
                    .bind(topic)
                    .bind(now)
                    .bind(i64::from(max))
                    .fetch_all(pool)
                    .await?
            }
        };
        // RETURNING does not keep the subquery's order.
        rows.sort_by_key(|row| (row.available_at, row.id));
        rows.into_iter().map(OutboxMessage::try_from).collect()
    }

    /// Marks a claimed message delivered. [`StoreError::LeaseLost`] when the
    /// lease ran out and another claim took the message over.
    pub async fn ack(&self, message: &OutboxMessage) -> Result<()> {
        let delivered_at = to_millis(now());
        let updated = with_pool!(self, |pool| {
            sqlx::query(ACK)
                .bind(delivered_at)
                .bind(message.id)
                .bind(message.attempts)
                .execute(pool)
                .await?
                .rows_affected()
        });
        if updated == 0 {
            return Err(StoreError::LeaseLost { id: message.id });
        }
        Ok(())
    }

    /// Gives a claimed message back, due again at `retry_at` (see
    /// [`retry_delay`]), recording why it failed.
    pub async fn fail(&self, message: &OutboxMessage, error: &str, retry_at: OffsetDateTime) -> Result<()> {
        let updated = with_pool!(self, |pool| {
            sqlx::query(FAIL)
                .bind(to_millis(retry_at))
                .bind(error)
                .bind(message.id)
                .bind(message.attempts)
                .execute(pool)
                .await?
                .rows_affected()
        });
        if updated == 0 {
            return Err(StoreError::LeaseLost { id: message.id });
        }
        Ok(())
    }
}
