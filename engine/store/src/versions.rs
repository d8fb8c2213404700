use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use sqlx::types::Json;
use time::OffsetDateTime;

use crate::Store;
use crate::error::{Result, StoreError};
use crate::sql::{JsonValue, from_millis, now, to_millis};

/// A stored definition bundle version.
#[derive(Debug, Clone, PartialEq)]
pub struct BundleVersion {
    pub hash: String,
    pub activated_at: OffsetDateTime,
    pub files: usize,
}

const INSERT_FILE: &str = "INSERT INTO bundle_files (hash, content) VALUES ($1, $2) ON CONFLICT (hash) DO NOTHING";
const INSERT_VERSION: &str = "INSERT INTO bundle_versions (hash, manifest, activated_at) VALUES ($1, $2, $3) \
     ON CONFLICT (hash) DO NOTHING";

impl Store {
    /// Keeps a bundle's files (each once, by content) and its manifest under
    /// its hash. Keeping a version already kept changes nothing; returns
    /// whether it was new.
    pub async fn save_bundle_version(&self, hash: &str, files: &[(String, Vec<u8>)]) -> Result<bool> {
        let mut manifest = Map::new();
        let mut contents = Vec::with_capacity(files.len());
        for (path, bytes) in files {
            let file_hash = hex::encode(Sha256::digest(bytes));
            manifest.insert(path.clone(), Value::String(file_hash.clone()));
            contents.push((file_hash, bytes));
        }
        let at = to_millis(now());
        let added = write_tx!(self, durable = false, |tx| {
            for (file_hash, bytes) in &contents {
                sqlx::query(INSERT_FILE).bind(file_hash).bind(bytes.as_slice()).execute(&mut *tx).await?;
            }
            sqlx::query(INSERT_VERSION)
                .bind(hash)
                .bind(Json(Value::Object(manifest)))
                .bind(at)
                .execute(&mut *tx)
                .await?
                .rows_affected()
        });
        Ok(added == 1)
    }

    /// The files of a kept version (bundle path, content), if it was kept.
    pub async fn load_bundle_version(&self, hash: &str) -> Result<Option<Vec<(String, Vec<u8>)>>> {
        let manifest: Option<JsonValue> = with_pool!(self, |pool| {
            sqlx::query_scalar("SELECT manifest FROM bundle_versions WHERE hash = $1")
                .bind(hash)
                .fetch_optional(pool)
                .await?
        });
        let Some(Json(Value::Object(manifest))) = manifest else { return Ok(None) };
        let mut files = Vec::with_capacity(manifest.len());
        for (path, file_hash) in manifest {
            let file_hash = file_hash.as_str().unwrap_or_default().to_owned();
            let content: Option<Vec<u8>> = with_pool!(self, |pool| {
                sqlx::query_scalar("SELECT content FROM bundle_files WHERE hash = $1")
                    .bind(&file_hash)
                    .fetch_optional(pool)
                    .await?
            });
            let content = content.ok_or_else(|| {
                StoreError::InvalidInput(format!("bundle version {hash} names a missing file {path} ({file_hash})"))
            })?;
            files.push((path, content));
        }
        Ok(Some(files))
    }

    /// The kept versions, newest first.
    pub async fn list_bundle_versions(&self, limit: u32) -> Result<Vec<BundleVersion>> {
        let rows: Vec<(String, JsonValue, i64)> = with_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT hash, manifest, activated_at FROM bundle_versions ORDER BY activated_at DESC, hash LIMIT $1",
            )
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await?
        });
        rows.into_iter()
            .map(|(hash, manifest, at)| {
                Ok(BundleVersion {
                    hash,
                    activated_at: from_millis(at)?,
                    files: manifest.0.as_object().map_or(0, Map::len),
                })
            })
            .collect()
    }
}
