use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::types::Json;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::Store;
use crate::documents::DOCUMENT_EXISTS;
use crate::error::{Result, StoreError, is_unique_violation};
use crate::sql::{JsonValue, from_millis, now, parse_uuid, to_millis};

/// A message from customs about a document, numbered per document in the
/// order received.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Receipt {
    pub id: i64,
    pub document_id: Uuid,
    /// 1, 2, 3, … per document.
    pub seq: i64,
    pub code: String,
    pub status: String,
    pub detail: Value,
    pub idempotency_key: String,
    #[serde(with = "time::serde::rfc3339")]
    pub received_at: OffsetDateTime,
}

#[derive(Debug, Clone)]
pub struct NewReceipt {
    pub document_id: Uuid,
    pub code: String,
    pub status: String,
    pub detail: Value,
    /// Identifies the message from customs; delivering it again records
    /// nothing new.
    pub idempotency_key: String,
}

/// The outcome of [`Store::add_receipt`]: the stored receipt, and whether
/// this call stored it (`false` for a repeated delivery).
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedReceipt {
    pub receipt: Receipt,
    pub newly_added: bool,
}

macro_rules! receipt_columns {
    () => {
        "id, document_id, seq, code, status, detail, idempotency_key, received_at"
    };
}

#[derive(sqlx::FromRow)]
struct ReceiptRow {
    id: i64,
    document_id: String,
    seq: i64,
    code: String,
    status: String,
    detail: JsonValue,
    idempotency_key: String,
    received_at: i64,
}

impl TryFrom<ReceiptRow> for Receipt {
    type Error = StoreError;

    fn try_from(row: ReceiptRow) -> Result<Self> {
        Ok(Self {
            id: row.id,
            document_id: parse_uuid(&row.document_id)?,
            seq: row.seq,
            code: row.code,
            status: row.status,
            detail: row.detail.0,
            idempotency_key: row.idempotency_key,
            received_at: from_millis(row.received_at)?,
        })
    }
}

/// Inserts nothing when the document is missing (no row to select from) or
/// the key was seen before (the conflict clause). SQLite needs the `WHERE`
/// to parse `INSERT … SELECT … ON CONFLICT`.
const INSERT_RECEIPT: &str = concat!(
    "INSERT INTO receipts (document_id, seq, code, status, detail, idempotency_key, received_at) \
     SELECT d.id, COALESCE((SELECT MAX(r.seq) FROM receipts r WHERE r.document_id = d.id), 0) + 1, \
     $2, $3, $4, $5, $6 FROM documents d WHERE d.id = $1 \
     ON CONFLICT (idempotency_key) DO NOTHING RETURNING ",
    receipt_columns!()
);

const SELECT_RECEIPT_BY_KEY: &str = concat!("SELECT ", receipt_columns!(), " FROM receipts WHERE idempotency_key = $1");

const SELECT_RECEIPTS: &str =
    concat!("SELECT ", receipt_columns!(), " FROM receipts WHERE document_id = $1 ORDER BY seq");

/// Two receipts for one document arriving at the same moment on PostgreSQL
/// can pick the same `seq`; the loser retries with the next one.
const SEQ_RACE_RETRIES: usize = 5;

impl Store {
    /// Records a receipt unless one with the same idempotency key exists, in
    /// which case that one is returned. Not scoped by enterprise: receipts
    /// come from customs. A key already used for another document is
    /// [`StoreError::Duplicate`].
    pub async fn add_receipt(&self, new: NewReceipt) -> Result<RecordedReceipt> {
        let document_id = new.document_id.to_string();
        let received_at = to_millis(now());
        let mut attempt = 0;
        loop {
            attempt += 1;
            let inserted: Result<Option<ReceiptRow>, sqlx::Error> = with_pool!(self, |pool| {
                sqlx::query_as(INSERT_RECEIPT)
                    .bind(&document_id)
                    .bind(&new.code)
                    .bind(&new.status)
                    .bind(Json(&new.detail))
                    .bind(&new.idempotency_key)
                    .bind(received_at)
                    .fetch_optional(pool)
                    .await
            });
            match inserted {
                Ok(Some(row)) => {
                    return Ok(RecordedReceipt { receipt: row.try_into()?, newly_added: true });
                }
                Ok(None) => return self.existing_receipt(&new).await,
                Err(error) if is_unique_violation(&error) && attempt < SEQ_RACE_RETRIES => {}
                Err(error) => return Err(error.into()),
            }
        }
    }

    async fn existing_receipt(&self, new: &NewReceipt) -> Result<RecordedReceipt> {
        let row: Option<ReceiptRow> = with_pool!(self, |pool| {
            sqlx::query_as(SELECT_RECEIPT_BY_KEY).bind(&new.idempotency_key).fetch_optional(pool).await?
        });
        // No receipt under the key: nothing was inserted because the
        // document does not exist.
        let receipt = Receipt::try_from(row.ok_or(StoreError::NotFound)?)?;
        if receipt.document_id != new.document_id {
            return Err(StoreError::Duplicate { what: "receipt idempotency key" });
        }
        Ok(RecordedReceipt { receipt, newly_added: false })
    }

    /// The document's receipts in the order received; NotFound when the
    /// document is not the enterprise's.
    pub async fn list_receipts(&self, enterprise: &str, document_id: Uuid) -> Result<Vec<Receipt>> {
        let document_id = document_id.to_string();
        let rows: Vec<ReceiptRow> = with_pool!(self, |pool| {
            let found: i64 =
                sqlx::query_scalar(DOCUMENT_EXISTS).bind(&document_id).bind(enterprise).fetch_one(pool).await?;
            if found == 0 {
                return Err(StoreError::NotFound);
            }
            sqlx::query_as(SELECT_RECEIPTS).bind(&document_id).fetch_all(pool).await?
        });
        rows.into_iter().map(Receipt::try_from).collect()
    }
}
