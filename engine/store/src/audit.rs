use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::AssertSqlSafe;
use sqlx::types::Json;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::Store;
use crate::error::{Result, StoreError};
use crate::sql::{Filter, JsonValue, Param, from_millis, now, parse_optional_uuid, to_millis};

/// One line of the audit trail: who did what, when, to which document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub id: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub actor: String,
    pub enterprise: String,
    pub document_id: Option<Uuid>,
    pub action: String,
    pub detail: Value,
}

#[derive(Debug, Clone)]
pub struct NewAuditEntry {
    pub actor: String,
    pub enterprise: String,
    pub document_id: Option<Uuid>,
    pub action: String,
    pub detail: Value,
}

/// The enterprise's audit trail, or one document's, oldest first.
#[derive(Debug, Clone)]
pub struct AuditQuery {
    pub enterprise: String,
    pub document_id: Option<Uuid>,
    pub offset: u32,
    pub limit: u32,
}

impl AuditQuery {
    pub const DEFAULT_LIMIT: u32 = 200;

    pub fn for_enterprise(enterprise: impl Into<String>) -> Self {
        Self { enterprise: enterprise.into(), document_id: None, offset: 0, limit: Self::DEFAULT_LIMIT }
    }

    pub fn for_document(enterprise: impl Into<String>, document_id: Uuid) -> Self {
        Self { document_id: Some(document_id), ..Self::for_enterprise(enterprise) }
    }
}

macro_rules! audit_columns {
    () => {
        "id, at, actor, enterprise, document_id, action, detail"
    };
}

#[derive(sqlx::FromRow)]
struct AuditRow {
    id: i64,
    at: i64,
    actor: String,
    enterprise: String,
    document_id: Option<String>,
    action: String,
    detail: JsonValue,
}

impl TryFrom<AuditRow> for AuditEntry {
    type Error = StoreError;

    fn try_from(row: AuditRow) -> Result<Self> {
        Ok(Self {
            id: row.id,
            at: from_millis(row.at)?,
            actor: row.actor,
            enterprise: row.enterprise,
            document_id: parse_optional_uuid(row.document_id.as_deref())?,
            action: row.action,
            detail: row.detail.0,
        })
    }
}

/// Parameters: at, actor, enterprise, document_id, action, detail.
pub(crate) const INSERT_AUDIT: &str = "INSERT INTO audit_log \
     (at, actor, enterprise, document_id, action, detail) \
     VALUES ($1, $2, $3, $4, $5, $6) RETURNING id";

impl Store {
    pub async fn append_audit(&self, entry: NewAuditEntry) -> Result<AuditEntry> {
        let at = now();
        let id: i64 = with_pool!(self, |pool| {
            sqlx::query_scalar(INSERT_AUDIT)
                .bind(to_millis(at))
                .bind(&entry.actor)
                .bind(&entry.enterprise)
                .bind(entry.document_id.map(|id| id.to_string()))
                .bind(&entry.action)
                .bind(Json(&entry.detail))
                .fetch_one(pool)
                .await?
        });
        Ok(AuditEntry {
            id,
            at,
            actor: entry.actor,
            enterprise: entry.enterprise,
            document_id: entry.document_id,
            action: entry.action,
            detail: entry.detail,
        })
    }

    pub async fn list_audit(&self, query: &AuditQuery) -> Result<Vec<AuditEntry>> {
        let mut filter = Filter::default();
        filter.equals("enterprise", Param::Text(query.enterprise.clone()));
        if let Some(document_id) = query.document_id {
            filter.equals("document_id", Param::Text(document_id.to_string()));
        }
        let where_clause = filter.where_clause();
        let limit = filter.param(Param::Int(i64::from(query.limit)));
        let offset = filter.param(Param::Int(i64::from(query.offset)));
        let sql = format!(
            concat!("SELECT ", audit_columns!(), " FROM audit_log {} ORDER BY id LIMIT {} OFFSET {}"),
            where_clause, limit, offset
        );
        let rows: Vec<AuditRow> = with_pool!(self, |pool| {
            bind_params!(sqlx::query_as(AssertSqlSafe(sql)), &filter.params).fetch_all(pool).await?
        });
        rows.into_iter().map(AuditEntry::try_from).collect()
    }
}
