use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::Store;
use crate::documents::DOCUMENT_EXISTS;
use crate::error::{Result, StoreError};
use crate::sql::{from_millis, now, parse_uuid, to_millis};

/// What is known about an attached file without its bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachmentMeta {
    pub id: Uuid,
    pub document_id: Uuid,
    pub enterprise: String,
    /// The attachment slot of the document type the file was attached to.
    pub slot: String,
    pub file_name: String,
    pub media_type: String,
    pub size: i64,
    /// Lowercase hex SHA-256 of the bytes.
    pub sha256: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    pub meta: AttachmentMeta,
    pub bytes: Vec<u8>,
}

#[derive(Debug, Clone)]
pub struct NewAttachment {
    /// Must own the document.
    pub enterprise: String,
    pub document_id: Uuid,
    pub slot: String,
    pub file_name: String,
    pub media_type: String,
    pub bytes: Vec<u8>,
}

macro_rules! attachment_columns {
    () => {
        "id, document_id, enterprise, slot, file_name, media_type, size, sha256, created_at"
    };
}

#[derive(sqlx::FromRow)]
struct AttachmentRow {
    id: String,
    document_id: String,
    enterprise: String,
    slot: String,
    file_name: String,
    media_type: String,
    size: i64,
    sha256: String,
    created_at: i64,
}

impl TryFrom<AttachmentRow> for AttachmentMeta {
    type Error = StoreError;

    fn try_from(row: AttachmentRow) -> Result<Self> {
        Ok(Self {
            id: parse_uuid(&row.id)?,
            document_id: parse_uuid(&row.document_id)?,
            enterprise: row.enterprise,
            slot: row.slot,
            file_name: row.file_name,
            media_type: row.media_type,
            size: row.size,
            sha256: row.sha256,
            created_at: from_millis(row.created_at)?,
        })
    }
}

/// Inserts nothing unless the document exists and is the enterprise's.
const INSERT_ATTACHMENT: &str = concat!(
    "INSERT INTO attachments (id, document_id, enterprise, slot, file_name, media_type, size, \
     sha256, created_at) \
     SELECT $1, d.id, d.enterprise, $4, $5, $6, $7, $8, $9 FROM documents d \
     WHERE d.id = $2 AND d.enterprise = $3 RETURNING ",
    attachment_columns!()
);

const INSERT_BLOB: &str = "INSERT INTO attachment_blobs (attachment_id, bytes) VALUES ($1, $2)";

const SELECT_ATTACHMENT: &str =
    concat!("SELECT ", attachment_columns!(), " FROM attachments WHERE id = $1 AND enterprise = $2");

const SELECT_BLOB: &str = "SELECT bytes FROM attachment_blobs WHERE attachment_id = $1";

const SELECT_ATTACHMENTS: &str = concat!(
    "SELECT ",
    attachment_columns!(),
    " FROM attachments WHERE document_id = $1 AND enterprise = $2 ORDER BY created_at, id"
);

const DELETE_ATTACHMENT: &str = "DELETE FROM attachments WHERE id = $1 AND enterprise = $2";

impl Store {
    /// Stores a file for one of the enterprise's documents; NotFound when the
    /// document is not the enterprise's.
    pub async fn put_attachment(&self, new: NewAttachment) -> Result<AttachmentMeta> {
        let id = Uuid::new_v4().to_string();
        let size =
            i64::try_from(new.bytes.len()).map_err(|_| StoreError::InvalidInput("attachment too large".into()))?;
        let sha256 = hex::encode(Sha256::digest(&new.bytes));
        let created_at = to_millis(now());
        let row: AttachmentRow = write_tx!(self, durable = false, |tx| {
            let row: Option<AttachmentRow> = sqlx::query_as(INSERT_ATTACHMENT)
                .bind(&id)
                .bind(new.document_id.to_string())
                .bind(&new.enterprise)
                .bind(&new.slot)
                .bind(&new.file_name)
                .bind(&new.media_type)
                .bind(size)
                .bind(&sha256)
                .bind(created_at)
                .fetch_optional(&mut *tx)
                .await?;
            let row = row.ok_or(StoreError::NotFound)?;
            sqlx::query(INSERT_BLOB).bind(&id).bind(&new.bytes).execute(&mut *tx).await?;
            row
        });
        row.try_into()
    }

    /// The file with its bytes; NotFound when it is not the enterprise's.
    pub async fn get_attachment(&self, enterprise: &str, id: Uuid) -> Result<Attachment> {
        let id = id.to_string();
        let (row, bytes): (AttachmentRow, Vec<u8>) = with_pool!(self, |pool| {
            let row: Option<AttachmentRow> =
                sqlx::query_as(SELECT_ATTACHMENT).bind(&id).bind(enterprise).fetch_optional(pool).await?;
            let row = row.ok_or(StoreError::NotFound)?;
            // Deleted between the two reads: the same as never found.
            let bytes: Option<Vec<u8>> = sqlx::query_scalar(SELECT_BLOB).bind(&id).fetch_optional(pool).await?;
            (row, bytes.ok_or(StoreError::NotFound)?)
        });
        Ok(Attachment { meta: row.try_into()?, bytes })
    }

    /// The document's files in the order attached; NotFound when the
    /// document is not the enterprise's.
    pub async fn list_attachments(&self, enterprise: &str, document_id: Uuid) -> Result<Vec<AttachmentMeta>> {
        let document_id = document_id.to_string();
        let rows: Vec<AttachmentRow> = with_pool!(self, |pool| {
            let found: i64 =
                sqlx::query_scalar(DOCUMENT_EXISTS).bind(&document_id).bind(enterprise).fetch_one(pool).await?;
            if found == 0 {
                return Err(StoreError::NotFound);
            }
            sqlx::query_as(SELECT_ATTACHMENTS).bind(&document_id).bind(enterprise).fetch_all(pool).await?
        });
        rows.into_iter().map(AttachmentMeta::try_from).collect()
    }

    pub async fn delete_attachment(&self, enterprise: &str, id: Uuid) -> Result<()> {
        let deleted = with_pool!(self, |pool| {
            sqlx::query(DELETE_ATTACHMENT).bind(id.to_string()).bind(enterprise).execute(pool).await?.rows_affected()
        });
        if deleted == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }
}
