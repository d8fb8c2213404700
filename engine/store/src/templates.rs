use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::types::Json;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::Store;
use crate::error::{Result, StoreError};
use crate::sql::{JsonValue, from_millis, now, parse_uuid, to_millis};

/// Who sees a value template: everyone of the enterprise, or its creator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TemplateScope {
    Enterprise,
    Creator,
}

impl TemplateScope {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Enterprise => "enterprise",
            Self::Creator => "creator",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "enterprise" => Some(Self::Enterprise),
            "creator" => Some(Self::Creator),
            _ => None,
        }
    }
}

/// A named set of field values documents of a type start from (初始值模板).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ValueTemplate {
    pub id: Uuid,
    pub enterprise: String,
    pub doctype: String,
    pub name: String,
    pub scope: TemplateScope,
    /// The card number of the user who made it.
    pub created_by: String,
    pub data: Value,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

#[derive(Debug, Clone)]
pub struct NewValueTemplate {
    pub enterprise: String,
    pub doctype: String,
    pub name: String,
    pub scope: TemplateScope,
    pub created_by: String,
    pub data: Value,
}

#[derive(sqlx::FromRow)]
struct TemplateRow {
    id: String,
    enterprise: String,
    doctype: String,
    name: String,
    scope: String,
    created_by: String,
    data: JsonValue,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<TemplateRow> for ValueTemplate {
    type Error = StoreError;

    fn try_from(row: TemplateRow) -> Result<Self> {
        Ok(Self {
            id: parse_uuid(&row.id)?,
            enterprise: row.enterprise,
            doctype: row.doctype,
            name: row.name,
            scope: TemplateScope::parse(&row.scope)
                .ok_or_else(|| StoreError::InvalidInput(format!("unknown template scope {}", row.scope)))?,
            created_by: row.created_by,
            data: row.data.0,
            created_at: from_millis(row.created_at)?,
            updated_at: from_millis(row.updated_at)?,
        })
    }
}

/// A subscription to the status changes of an enterprise's documents.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Subscription {
    pub id: Uuid,
    pub enterprise: String,
    /// `webhook` or `email`.
    pub kind: String,
    pub target: String,
    pub created_by: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

#[derive(sqlx::FromRow)]
struct SubscriptionRow {
    id: String,
    enterprise: String,
    kind: String,
    target: String,
    created_by: String,
    created_at: i64,
}

impl TryFrom<SubscriptionRow> for Subscription {
    type Error = StoreError;

    fn try_from(row: SubscriptionRow) -> Result<Self> {
        Ok(Self {
            id: parse_uuid(&row.id)?,
            enterprise: row.enterprise,
            kind: row.kind,
            target: row.target,
            created_by: row.created_by,
            created_at: from_millis(row.created_at)?,
        })
    }
}

const TEMPLATE_COLUMNS: &str = "id, enterprise, doctype, name, scope, created_by, data, created_at, updated_at";

/// Templates a user sees: the enterprise's shared ones and their own.
fn visible() -> &'static str {
    "enterprise = $1 AND (scope = 'enterprise' OR created_by = $2)"
}

impl Store {
    /// Saves a template under its name: a template of that name the user
    /// may change is replaced, else a new one is made. Another user's
    /// private template of the same name is a conflict (`Duplicate`).
    pub async fn save_value_template(&self, new: NewValueTemplate) -> Result<ValueTemplate> {
        let at = to_millis(now());
        let existing: Option<TemplateRow> = with_pool!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {TEMPLATE_COLUMNS} FROM value_templates WHERE enterprise = $1 AND doctype = $2 AND name = $3"
            )))
            .bind(&new.enterprise)
            .bind(&new.doctype)
            .bind(&new.name)
            .fetch_optional(pool)
            .await?
        });
        if let Some(row) = existing {
            if row.scope == "creator" && row.created_by != new.created_by {
                return Err(StoreError::Duplicate { what: "template name" });
            }
            let row: TemplateRow = with_pool!(self, |pool| {
                sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "UPDATE value_templates SET scope = $1, data = $2, updated_at = $3 WHERE id = $4 RETURNING {TEMPLATE_COLUMNS}"
                )))
                .bind(new.scope.as_str())
                .bind(Json(&new.data))
                .bind(at)
                .bind(&row.id)
                .fetch_one(pool)
                .await?
            });
            return row.try_into();
        }
        let row: TemplateRow = with_pool!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "INSERT INTO value_templates ({TEMPLATE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) RETURNING {TEMPLATE_COLUMNS}"
            )))
            .bind(Uuid::new_v4().to_string())
            .bind(&new.enterprise)
            .bind(&new.doctype)
            .bind(&new.name)
            .bind(new.scope.as_str())
            .bind(&new.created_by)
            .bind(Json(&new.data))
            .bind(at)
            .fetch_one(pool)
            .await
            .map_err(|e| StoreError::unique_as_duplicate(e, "template name"))?
        });
        row.try_into()
    }

    /// The templates `user` sees in `enterprise` (of one type, or all), by name.
    pub async fn list_value_templates(
        &self,
        enterprise: &str,
        user: &str,
        doctype: Option<&str>,
    ) -> Result<Vec<ValueTemplate>> {
        let rows: Vec<TemplateRow> = with_pool!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {TEMPLATE_COLUMNS} FROM value_templates WHERE {} AND ($3 = '' OR doctype = $3) ORDER BY name, id",
                visible()
            )))
            .bind(enterprise)
            .bind(user)
            .bind(doctype.unwrap_or(""))
            .fetch_all(pool)
            .await?
        });
        rows.into_iter().map(ValueTemplate::try_from).collect()
    }

    /// One template `user` sees.
    pub async fn get_value_template(&self, enterprise: &str, user: &str, id: Uuid) -> Result<ValueTemplate> {
        let row: Option<TemplateRow> = with_pool!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {TEMPLATE_COLUMNS} FROM value_templates WHERE {} AND id = $3",
                visible()
            )))
            .bind(enterprise)
            .bind(user)
            .bind(id.to_string())
            .fetch_optional(pool)
            .await?
        });
        row.ok_or(StoreError::NotFound)?.try_into()
    }

    /// Deletes a template `user` sees.
    pub async fn delete_value_template(&self, enterprise: &str, user: &str, id: Uuid) -> Result<()> {
        let deleted = with_pool!(self, |pool| {
            sqlx::query(sqlx::AssertSqlSafe(format!("DELETE FROM value_templates WHERE {} AND id = $3", visible())))
                .bind(enterprise)
                .bind(user)
                .bind(id.to_string())
                .execute(pool)
                .await?
                .rows_affected()
        });
        if deleted == 0 { Err(StoreError::NotFound) } else { Ok(()) }
    }

    /// Subscribes the enterprise (again subscribing the same target is a no-op).
    pub async fn subscribe(&self, enterprise: &str, kind: &str, target: &str, by: &str) -> Result<Subscription> {
        with_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO subscriptions (id, enterprise, kind, target, created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6) \
                 ON CONFLICT (enterprise, kind, target) DO NOTHING",
            )
            .bind(Uuid::new_v4().to_string())
            .bind(enterprise)
            .bind(kind)
            .bind(target)
            .bind(by)
            .bind(to_millis(now()))
            .execute(pool)
            .await?
            .rows_affected()
        });
        let row: SubscriptionRow = with_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT id, enterprise, kind, target, created_by, created_at FROM subscriptions \
                 WHERE enterprise = $1 AND kind = $2 AND target = $3",
            )
            .bind(enterprise)
            .bind(kind)
            .bind(target)
            .fetch_one(pool)
            .await?
        });
        row.try_into()
    }

    pub async fn list_subscriptions(&self, enterprise: &str) -> Result<Vec<Subscription>> {
        let rows: Vec<SubscriptionRow> = with_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT id, enterprise, kind, target, created_by, created_at FROM subscriptions \
                 WHERE enterprise = $1 ORDER BY created_at, id",
            )
            .bind(enterprise)
            .fetch_all(pool)
            .await?
        });
        rows.into_iter().map(Subscription::try_from).collect()
    }

    pub async fn unsubscribe(&self, enterprise: &str, id: Uuid) -> Result<()> {
        let deleted = with_pool!(self, |pool| {
            sqlx::query("DELETE FROM subscriptions WHERE enterprise = $1 AND id = $2")
                .bind(enterprise)
                .bind(id.to_string())
                .execute(pool)
                .await?
                .rows_affected()
        });
        if deleted == 0 { Err(StoreError::NotFound) } else { Ok(()) }
    }
}
