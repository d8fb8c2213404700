use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::types::Json;
use time::OffsetDateTime;

use crate::Store;
use crate::error::{Result, StoreError};
use crate::sql::{JsonValue, from_millis, now, to_millis};

/// A record of an outside system documents are pre-filled from (an entry of
/// the inspection e-ledger), stored as imported.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LookupRecord {
    /// The bundle's document type describing the records.
    pub source: String,
    /// The value of the source's key field (检验检疫编号).
    pub key: String,
    pub data: Value,
    #[serde(with = "time::serde::rfc3339")]
    pub imported_at: OffsetDateTime,
}

#[derive(sqlx::FromRow)]
struct LookupRow {
    source: String,
    record_key: String,
    data: JsonValue,
    imported_at: i64,
}

impl TryFrom<LookupRow> for LookupRecord {
    type Error = StoreError;

    fn try_from(row: LookupRow) -> Result<Self> {
        Ok(Self {
            source: row.source,
            key: row.record_key,
            data: row.data.0,
            imported_at: from_millis(row.imported_at)?,
        })
    }
}

/// Insert or replace one record: a record imported again is the newer
/// state of the outside system.
const UPSERT_LOOKUP: &str = "INSERT INTO lookup_records (source, record_key, data, imported_at) VALUES ($1, $2, $3, $4) \
     ON CONFLICT (source, record_key) DO UPDATE SET data = excluded.data, imported_at = excluded.imported_at";

const SELECT_LOOKUP: &str =
    "SELECT source, record_key, data, imported_at FROM lookup_records WHERE source = $1 AND record_key = $2";

const COUNT_LOOKUPS: &str = "SELECT COUNT(*) FROM lookup_records WHERE source = $1";

impl Store {
    /// Stores a batch of records of one source in one transaction (all or
    /// none); a key already present is replaced. Returns how many were
    /// written.
    pub async fn put_lookup_records(&self, source: &str, records: &[(String, Value)]) -> Result<u64> {
        if let Some((key, _)) = records.iter().find(|(key, _)| key.trim().is_empty()) {
            return Err(StoreError::InvalidInput(format!("a record of `{source}` has an empty key `{key}`")));
        }
        let imported_at = to_millis(now());
        write_tx!(self, durable = false, |tx| {
            for (key, data) in records {
                sqlx::query(UPSERT_LOOKUP)
                    .bind(source)
                    .bind(key)
                    .bind(Json(data))
                    .bind(imported_at)
                    .execute(&mut *tx)
                    .await?;
            }
        });
        Ok(records.len() as u64)
    }

    /// The record of `source` with this key, if one was imported.
    pub async fn get_lookup_record(&self, source: &str, key: &str) -> Result<Option<LookupRecord>> {
        let row: Option<LookupRow> = with_pool!(self, |pool| {
            sqlx::query_as(SELECT_LOOKUP).bind(source).bind(key).fetch_optional(pool).await?
        });
        row.map(LookupRecord::try_from).transpose()
    }

    /// How many records of `source` are stored.
    pub async fn count_lookup_records(&self, source: &str) -> Result<i64> {
        Ok(with_pool!(self, |pool| sqlx::query_scalar(COUNT_LOOKUPS).bind(source).fetch_one(pool).await?))
    }
}
