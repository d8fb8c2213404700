use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::AssertSqlSafe;
use sqlx::types::Json;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::Store;
use crate::error::{Result, StoreError};
use crate::sql::{Filter, JsonValue, Param, from_millis, now, parse_uuid, to_millis};

/// A stored document: the engine's data as JSON plus the columns lists and
/// look-ups filter on.
///
/// On PostgreSQL `data` and `meta` are JSONB, which does not keep object keys
/// in their original order; nothing may depend on the stored key order (a
/// canonical form for signing has to order keys itself).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Document {
    pub id: Uuid,
    pub doctype: String,
    /// Hash of the compiled definition bundle the document was made with.
    pub bundle_hash: String,
    /// Customs code of the owning enterprise.
    pub enterprise: String,
    pub status: String,
    pub unified_no: Option<String>,
    pub customs_no: Option<String>,
    /// The enterprise's own reference, e.g. a declaration number.
    pub business_no: Option<String>,
    /// The document this one was made inside (a certificate of an
    /// application), if any.
    pub parent_id: Option<Uuid>,
    pub data: Value,
    /// The engine's metadata about the document, not the user's data: e.g.
    /// a customs notice's number, reason and requirement, or the signature
    /// record. `{}` when there is none.
    pub meta: Value,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// Starts at 1 and grows by one with every change (optimistic locking).
    pub version: i64,
    pub created_by: String,
}

#[derive(Debug, Clone)]
pub struct NewDocument {
    pub doctype: String,
    pub bundle_hash: String,
    pub enterprise: String,
    pub status: String,
    pub business_no: Option<String>,
    /// See [`Document::parent_id`].
    pub parent_id: Option<Uuid>,
    pub data: Value,
    /// See [`Document::meta`]; `json!({})` when there is none.
    pub meta: Value,
    pub created_by: String,
}

/// The mutable part of a document, replaced as a whole; start from the
/// document as read (`DocumentUpdate::from(&document)`) and change fields.
#[derive(Debug, Clone, PartialEq)]
pub struct DocumentUpdate {
    pub status: String,
    pub data: Value,
    pub meta: Value,
    pub unified_no: Option<String>,
    pub customs_no: Option<String>,
    pub business_no: Option<String>,
}

impl From<&Document> for DocumentUpdate {
    fn from(document: &Document) -> Self {
        Self {
            status: document.status.clone(),
            data: document.data.clone(),
            meta: document.meta.clone(),
            unified_no: document.unified_no.clone(),
            customs_no: document.customs_no.clone(),
            business_no: document.business_no.clone(),
        }
    }
}

/// Which timestamp a [`DocumentQuery`] range applies to and lists sort by.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DateField {
    CreatedAt,
    #[default]
    UpdatedAt,
}

impl DateField {
    fn column(self) -> &'static str {
        match self {
            Self::CreatedAt => "created_at",
            Self::UpdatedAt => "updated_at",
        }
    }
}

/// Filters for [`Store::list_documents`]; empty lists and `None` match all.
/// Results are newest first by `date_field`.
///
/// Start from [`DocumentQuery::new`] for anything done on behalf of an
/// enterprise's user, and from [`DocumentQuery::customs`] only for customs
/// officers, who see every enterprise's documents.
#[derive(Debug, Clone)]
pub struct DocumentQuery {
    /// The enterprise whose documents are listed; `None` lists all
    /// enterprises' (the customs view, [`DocumentQuery::customs`]). Never
    /// `None` for a query made on behalf of an enterprise.
    pub enterprise: Option<String>,
    pub doctypes: Vec<String>,
    pub statuses: Vec<String>,
    pub business_no: Option<String>,
    pub unified_no: Option<String>,
    pub customs_no: Option<String>,
    /// Only the documents made inside this one.
    pub parent: Option<Uuid>,
    pub date_field: DateField,
    /// Inclusive.
    pub from: Option<OffsetDateTime>,
    /// Exclusive.
    pub until: Option<OffsetDateTime>,
    pub offset: u32,
    pub limit: u32,
}

impl DocumentQuery {
    pub const DEFAULT_LIMIT: u32 = 50;

    /// All documents of `enterprise`: the query for its users.
    pub fn new(enterprise: impl Into<String>) -> Self {
        Self { enterprise: Some(enterprise.into()), ..Self::customs() }
    }

    /// All documents of all enterprises: the query for customs officers,
    /// never for a request made on behalf of an enterprise.
    pub fn customs() -> Self {
        Self {
            enterprise: None,
            doctypes: Vec::new(),
            statuses: Vec::new(),
            business_no: None,
            unified_no: None,
            customs_no: None,
            parent: None,
            date_field: DateField::default(),
            from: None,
            until: None,
            offset: 0,
            limit: Self::DEFAULT_LIMIT,
        }
    }

    fn filter(&self) -> Filter {
        let mut filter = Filter::default();
        if let Some(enterprise) = &self.enterprise {
            filter.equals("enterprise", Param::Text(enterprise.clone()));
        }
        filter.one_of("doctype", &self.doctypes);
        filter.one_of("status", &self.statuses);
        if let Some(business_no) = &self.business_no {
            filter.equals("business_no", Param::Text(business_no.clone()));
        }
        if let Some(unified_no) = &self.unified_no {
            filter.equals("unified_no", Param::Text(unified_no.clone()));
        }
        if let Some(customs_no) = &self.customs_no {
            filter.equals("customs_no", Param::Text(customs_no.clone()));
        }
        if let Some(parent) = self.parent {
            filter.equals("parent_id", Param::Text(parent.to_string()));
        }
        let column = self.date_field.column();
        if let Some(from) = self.from {
            filter.compare(column, ">=", Param::Int(to_millis(from)));
        }
        if let Some(until) = self.until {
            filter.compare(column, "<", Param::Int(to_millis(until)));
        }
        filter
    }
}

/// One page of a document list and the number of documents matching in all.
#[derive(Debug, Clone, PartialEq)]
pub struct DocumentPage {
    pub documents: Vec<Document>,
    pub total: i64,
}

/// The columns of [`DocumentRow`], as a literal for `concat!`.
macro_rules! document_columns {
    () => {
        "id, doctype, bundle_hash, enterprise, status, unified_no, customs_no, business_no, \
         parent_id, data, meta, created_at, updated_at, version, created_by"
    };
}

#[derive(sqlx::FromRow)]
pub(crate) struct DocumentRow {
    id: String,
    doctype: String,
    bundle_hash: String,
    enterprise: String,
    status: String,
    unified_no: Option<String>,
    customs_no: Option<String>,
    business_no: Option<String>,
    parent_id: Option<String>,
    data: JsonValue,
    meta: JsonValue,
    created_at: i64,
    updated_at: i64,
    version: i64,
    created_by: String,
}

impl TryFrom<DocumentRow> for Document {
    type Error = StoreError;

    fn try_from(row: DocumentRow) -> Result<Self> {
        Ok(Self {
            id: parse_uuid(&row.id)?,
            doctype: row.doctype,
            bundle_hash: row.bundle_hash,
            enterprise: row.enterprise,
            status: row.status,
            unified_no: row.unified_no,
            customs_no: row.customs_no,
            business_no: row.business_no,
            parent_id: row.parent_id.as_deref().map(parse_uuid).transpose()?,
            data: row.data.0,
            meta: row.meta.0,
            created_at: from_millis(row.created_at)?,
            updated_at: from_millis(row.updated_at)?,
            version: row.version,
            created_by: row.created_by,
        })
    }
}

const INSERT_DOCUMENT: &str = concat!(
    "INSERT INTO documents (id, doctype, bundle_hash, enterprise, status, business_no, data, meta, \
     created_at, updated_at, version, created_by, parent_id) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, 1, $10, $11) RETURNING ",
    document_columns!()
);

const SELECT_DOCUMENT: &str =
    concat!("SELECT ", document_columns!(), " FROM documents WHERE id = $1 AND enterprise = $2");

const SELECT_DOCUMENT_UNSCOPED: &str = concat!("SELECT ", document_columns!(), " FROM documents WHERE id = $1");

const SELECT_DOCUMENT_BY_UNIFIED_NO: &str =
    concat!("SELECT ", document_columns!(), " FROM documents WHERE unified_no = $1");

/// The version-checked update shared with transitions. Parameters: status,
/// data, meta, unified_no, customs_no, business_no, updated_at, id,
/// enterprise, expected version.
pub(crate) const UPDATE_DOCUMENT: &str = concat!(
    "UPDATE documents SET status = $1, data = $2, meta = $3, unified_no = $4, customs_no = $5, \
     business_no = $6, updated_at = $7, version = version + 1 \
     WHERE id = $8 AND enterprise = $9 AND version = $10 RETURNING ",
    document_columns!()
);

/// Sets the unified number of a document just updated in the same
/// transaction (its version already moved on).
pub(crate) const SET_UNIFIED_NO: &str =
    concat!("UPDATE documents SET unified_no = $1 WHERE id = $2 RETURNING ", document_columns!());

/// Finds the current version after an update matched no row, to tell a
/// missing document from a stale version.
pub(crate) const SELECT_VERSION: &str = "SELECT version FROM documents WHERE id = $1 AND enterprise = $2";

/// Counts 1 when the document exists and is the enterprise's, else 0.
pub(crate) const DOCUMENT_EXISTS: &str = "SELECT COUNT(*) FROM documents WHERE id = $1 AND enterprise = $2";

const DELETE_DOCUMENT: &str = "DELETE FROM documents WHERE id = $1 AND enterprise = $2";

const DELETE_CHILDREN: &str = "DELETE FROM documents WHERE parent_id = $1 AND enterprise = $2";

/// The error for an update that matched no row, given the version found now.
pub(crate) fn stale_update_error(id: Uuid, expected: i64, actual: Option<i64>) -> StoreError {
    match actual {
        Some(actual) => StoreError::Conflict { id, expected, actual },
        None => StoreError::NotFound,
    }
}

impl Store {
    pub async fn insert_document(&self, new: NewDocument) -> Result<Document> {
        let id = Uuid::new_v4();
        let created_at = to_millis(now());
        let row: DocumentRow = with_pool!(self, |pool| {
            sqlx::query_as(INSERT_DOCUMENT)
                .bind(id.to_string())
                .bind(&new.doctype)
                .bind(&new.bundle_hash)
                .bind(&new.enterprise)
                .bind(&new.status)
                .bind(&new.business_no)
                .bind(Json(&new.data))
                .bind(Json(&new.meta))
                .bind(created_at)
                .bind(&new.created_by)
                .bind(new.parent_id.map(|p| p.to_string()))
                .fetch_one(pool)
                .await?
        });
        row.try_into()
    }

    /// The document if it exists and belongs to `enterprise`.
    pub async fn get_document(&self, enterprise: &str, id: Uuid) -> Result<Document> {
        let row: Option<DocumentRow> = with_pool!(self, |pool| {
            sqlx::query_as(SELECT_DOCUMENT).bind(id.to_string()).bind(enterprise).fetch_optional(pool).await?
        });
        row.ok_or(StoreError::NotFound)?.try_into()
    }

    /// The document whatever its enterprise, for customs officers; not for
    /// requests made on behalf of an enterprise (use [`Store::get_document`]).
    pub async fn get_document_for_customs(&self, id: Uuid) -> Result<Document> {
        let row: Option<DocumentRow> = with_pool!(self, |pool| {
            sqlx::query_as(SELECT_DOCUMENT_UNSCOPED).bind(id.to_string()).fetch_optional(pool).await?
        });
        row.ok_or(StoreError::NotFound)?.try_into()
    }

    /// Looks a document up by its unified number across all enterprises, for
    /// messages from customs, which name documents by number; not for
    /// requests made on behalf of an enterprise.
    pub async fn find_document_by_unified_no(&self, unified_no: &str) -> Result<Document> {
        let row: Option<DocumentRow> = with_pool!(self, |pool| {
            sqlx::query_as(SELECT_DOCUMENT_BY_UNIFIED_NO).bind(unified_no).fetch_optional(pool).await?
        });
        row.ok_or(StoreError::NotFound)?.try_into()
    }

    /// Replaces the mutable fields if the document is still at
    /// `expected_version`; fails with [`StoreError::Conflict`] otherwise.
    pub async fn update_document(
        &self,
        enterprise: &str,
        id: Uuid,
        expected_version: i64,
        update: DocumentUpdate,
    ) -> Result<Document> {
        let updated_at = to_millis(now());
        let row: Option<DocumentRow> = with_pool!(self, |pool| {
            sqlx::query_as(UPDATE_DOCUMENT)
                .bind(&update.status)
                .bind(Json(&update.data))
                .bind(Json(&update.meta))
                .bind(&update.unified_no)
                .bind(&update.customs_no)
                .bind(&update.business_no)
                .bind(updated_at)
                .bind(id.to_string())
                .bind(enterprise)
                .bind(expected_version)
                .fetch_optional(pool)
                .await
                .map_err(|error| StoreError::unique_as_duplicate(error, "unified number"))?
        });
        if let Some(row) = row {
            return row.try_into();
        }
        let actual: Option<i64> = with_pool!(self, |pool| {
            sqlx::query_scalar(SELECT_VERSION).bind(id.to_string()).bind(enterprise).fetch_optional(pool).await?
        });
        Err(stale_update_error(id, expected_version, actual))
    }

    /// A page of the documents matching `query` (the enterprise's, or all
    /// enterprises' for a [`DocumentQuery::customs`] query), with the total
    /// number of matches.
    pub async fn list_documents(&self, query: &DocumentQuery) -> Result<DocumentPage> {
        let mut filter = query.filter();
        let where_clause = filter.where_clause();
        let count_sql = format!("SELECT COUNT(*) FROM documents {where_clause}");
        let filter_param_count = filter.params.len();
        let date_column = query.date_field.column();
        let limit = filter.param(Param::Int(i64::from(query.limit)));
        let offset = filter.param(Param::Int(i64::from(query.offset)));
        let page_sql = format!(
            concat!("SELECT ", document_columns!(), " FROM documents {} ORDER BY {} DESC, id DESC LIMIT {} OFFSET {}"),
            where_clause, date_column, limit, offset
        );
        let (total, rows): (i64, Vec<DocumentRow>) = with_pool!(self, |pool| {
            let filter_params = &filter.params[..filter_param_count];
            let total =
                bind_params!(sqlx::query_scalar(AssertSqlSafe(count_sql)), filter_params).fetch_one(pool).await?;
            let rows = bind_params!(sqlx::query_as(AssertSqlSafe(page_sql)), &filter.params).fetch_all(pool).await?;
            (total, rows)
        });
        let documents = rows.into_iter().map(Document::try_from).collect::<Result<_>>()?;
        Ok(DocumentPage { documents, total })
    }

    /// Deletes the document with its receipts and attachments. The audit
    /// trail stays.
    pub async fn delete_document(&self, enterprise: &str, id: Uuid) -> Result<()> {
        let deleted = with_pool!(self, |pool| {
            sqlx::query(DELETE_DOCUMENT).bind(id.to_string()).bind(enterprise).execute(pool).await?.rows_affected()
        });
        if deleted == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// Deletes the document and the documents made inside it, in one
    /// transaction. The audit trail stays.
    pub async fn delete_document_with_children(&self, enterprise: &str, id: Uuid) -> Result<()> {
        let deleted = write_tx!(self, durable = false, |tx| {
            sqlx::query(DELETE_CHILDREN).bind(id.to_string()).bind(enterprise).execute(&mut *tx).await?;
            sqlx::query(DELETE_DOCUMENT).bind(id.to_string()).bind(enterprise).execute(&mut *tx).await?.rows_affected()
        });
        if deleted == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }
}
