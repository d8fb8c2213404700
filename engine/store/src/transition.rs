use serde_json::Value;
use sqlx::types::Json;
use uuid::Uuid;

use crate::Store;
use crate::audit::INSERT_AUDIT;
use crate::documents::{
    Document, DocumentRow, DocumentUpdate, SELECT_VERSION, SET_UNIFIED_NO, UPDATE_DOCUMENT, stale_update_error,
};
use crate::error::{Result, StoreError};
use crate::numbering::{NEXT_SERIAL, NumberRequest};
use crate::outbox::INSERT_MESSAGE;
use crate::sql::{now, to_millis};

/// A change of a document's state, applied all or nothing by
/// [`Store::transition`].
#[derive(Debug, Clone)]
pub struct Transition {
    pub enterprise: String,
    pub document_id: Uuid,
    /// The version the caller read; the transition fails with
    /// [`StoreError::Conflict`] if the document moved on since.
    pub expected_version: i64,
    pub update: DocumentUpdate,
    /// Draws a unified number for the document when `update.unified_no` is
    /// empty; a document keeps the number it already has.
    pub assign_unified_no: Option<NumberRequest>,
    pub audit: AuditRecord,
    /// A message to deliver once the change is committed (e.g. a
    /// submission to customs).
    pub message: Option<OutboxRecord>,
    /// The commit must survive a power loss, not just a crash of the
    /// process: a full sync on SQLite. Meant for submissions, where the
    /// outside world will act on the commit.
    pub durable: bool,
}

/// The audit line written with a transition; its enterprise and document
/// are the transition's.
#[derive(Debug, Clone)]
pub struct AuditRecord {
    pub actor: String,
    pub action: String,
    pub detail: Value,
}

#[derive(Debug, Clone)]
pub struct OutboxRecord {
    pub topic: String,
    pub payload: Value,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Transitioned {
    pub document: Document,
    pub audit_id: i64,
    pub message_id: Option<i64>,
}

impl Store {
    /// In one transaction: updates the document if it is still at the
    /// expected version, draws its unified number if asked, appends the
    /// audit line and queues the outbox message. If any step fails nothing
    /// is written.
    pub async fn transition(&self, transition: Transition) -> Result<Transitioned> {
        let mut done = self.transition_all(vec![transition]).await?;
        done.pop().ok_or(StoreError::NotFound)
    }

    /// Several transitions in one database transaction, in order: all of
    /// them or none (an application submitted with its certificates).
    pub async fn transition_all(&self, transitions: Vec<Transition>) -> Result<Vec<Transitioned>> {
        for transition in &transitions {
            if let Some(request) = &transition.assign_unified_no {
                request.validate()?;
            }
        }
        let at = to_millis(now());
        let durable = transitions.iter().any(|t| t.durable);
        let rows: Vec<(DocumentRow, i64, Option<i64>)> = write_tx!(self, durable = durable, |tx| {
            let mut rows = Vec::with_capacity(transitions.len());
            for transition in &transitions {
                let id = transition.document_id.to_string();
                let update = &transition.update;
                let updated: Option<DocumentRow> = sqlx::query_as(UPDATE_DOCUMENT)
                    .bind(&update.status)
                    .bind(Json(&update.data))
                    .bind(Json(&update.meta))
                    .bind(&update.unified_no)
                    .bind(&update.customs_no)
                    .bind(&update.business_no)
                    .bind(at)
                    .bind(&id)
                    .bind(&transition.enterprise)
                    .bind(transition.expected_version)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(|error| StoreError::unique_as_duplicate(error, "unified number"))?;
                let mut row = match updated {
                    Some(row) => row,
                    None => {
                        let actual: Option<i64> = sqlx::query_scalar(SELECT_VERSION)
                            .bind(&id)
                            .bind(&transition.enterprise)
                            .fetch_optional(&mut *tx)
                            .await?;
                        return Err(stale_update_error(transition.document_id, transition.expected_version, actual));
                    }
                };

                if let (None, Some(request)) = (&update.unified_no, &transition.assign_unified_no) {
                    let serial: i64 = sqlx::query_scalar(NEXT_SERIAL)
                        .bind(&request.scheme_id)
                        .bind(&request.prefix)
                        .bind(request.year)
                        .fetch_one(&mut *tx)
                        .await?;
                    row = sqlx::query_as(SET_UNIFIED_NO)
                        .bind(request.format(serial)?)
                        .bind(&id)
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(|error| StoreError::unique_as_duplicate(error, "unified number"))?;
                }

                let audit_id: i64 = sqlx::query_scalar(INSERT_AUDIT)
                    .bind(at)
                    .bind(&transition.audit.actor)
                    .bind(&transition.enterprise)
                    .bind(&id)
                    .bind(&transition.audit.action)
                    .bind(Json(&transition.audit.detail))
                    .fetch_one(&mut *tx)
                    .await?;

                let message_id: Option<i64> = match &transition.message {
                    Some(message) => Some(
                        sqlx::query_scalar(INSERT_MESSAGE)
                            .bind(&message.topic)
                            .bind(Json(&message.payload))
                            .bind(at)
                            .fetch_one(&mut *tx)
                            .await?,
                    ),
                    None => None,
                };
                rows.push((row, audit_id, message_id));
            }
            rows
        });
        rows.into_iter()
            .map(|(row, audit_id, message_id)| Ok(Transitioned { document: row.try_into()?, audit_id, message_id }))
            .collect()
    }
}
