//! The JSON API (`/api/v1`): the contract enterprise software relies on.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use certflow_core::Mode;
use serde_json::{Value, json};

use crate::error::{ApiError, AppError};
use crate::state::AppState;

/// `GET /api/v1/doctypes`: as `certflow doctypes --json`.
pub async fn doctypes(State(state): State<AppState>) -> Json<Value> {
    let bundle = state.bundle.current();
    Json(serde_json::to_value(bundle.doctype_summaries()).unwrap_or_default())
}

/// `GET /api/v1/bundle`: the active version.
pub async fn bundle(State(state): State<AppState>) -> Json<Value> {
    let bundle = state.bundle.current();
    let loaded_at = state.bundle.loaded_at().format(&time::format_description::well_known::Rfc3339).unwrap_or_default();
    Json(json!({"version": bundle.hash, "loaded_at": loaded_at, "last_error": null}))
}

/// `POST /api/v1/validate/{doctype}`: a pre-submission check, no login.
pub async fn validate(
    State(state): State<AppState>,
    Path(doctype): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let bundle = state.bundle.current();
    let Some(ty) = bundle.doctype(&doctype) else {
        return Err(AppError::new(
            StatusCode::NOT_FOUND,
            "unknown_doctype",
            format!("单证类型“{doctype}”不存在，请查看 /api/v1/doctypes"),
            format!("There is no document type \"{doctype}\": see /api/v1/doctypes"),
        )
        .into());
    };
    let document: Value = serde_json::from_slice(&body).map_err(|e| {
        AppError::bad_request(
            "invalid_json",
            format!("请求内容不是有效的 JSON（第 {} 行第 {} 列）：{e}", e.line(), e.column()),
            format!("The body is not valid JSON (line {}, column {}): {e}", e.line(), e.column()),
        )
    })?;
    let report = bundle.validate_as(ty, &document, Mode::Submit);
    Ok(Json(json!({"valid": report.is_valid(), "errors": report.errors})))
}

/// `GET /api/v1/openapi.json`.
pub async fn openapi() -> Json<Value> {
    Json(openapi_document())
}

fn openapi_document() -> Value {
    let error = json!({"type": "object", "properties": {"error": {"type": "object", "properties": {
        "code": {"type": "string"}, "message_zh": {"type": "string"}, "message_en": {"type": "string"}}}}});
    json!({
        "openapi": "3.1.0",
        "info": {"title": "certflow", "version": env!("CARGO_PKG_VERSION"),
                 "description": "Inspection and quarantine certificates: drafting, declaring, receipts."},
        "paths": {
            "/healthz": {"get": {"summary": "Liveness", "responses": {"200": {"description": "ok",
                "content": {"text/plain": {"schema": {"type": "string", "const": "ok"}}}}}}},
            "/api/v1/doctypes": {"get": {"summary": "Document types of the active bundle", "responses": {"200": {
                "description": "The document types",
                "content": {"application/json": {"schema": {"type": "array", "items": {"$ref": "#/components/schemas/DocType"}}}}}}}},
            "/api/v1/bundle": {"get": {"summary": "The active definition bundle", "responses": {"200": {
                "description": "Version and load time",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/BundleInfo"}}}}}}},
            "/api/v1/validate/{doctype}": {"post": {
                "summary": "Validate a document as a declaration would (no login)",
                "parameters": [{"name": "doctype", "in": "path", "required": true, "schema": {"type": "string"}}],
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object"}}}},
                "responses": {
                    "200": {"description": "The verdict", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Validation"}}}},
                    "400": {"description": "The body is not JSON", "content": {"application/json": {"schema": error}}},
                    "404": {"description": "No such document type", "content": {"application/json": {"schema": error}}}
                }}}
        },
        "components": {"schemas": {
            "DocType": {"type": "object", "required": ["id", "name_zh", "name_en", "workflow", "format_code"], "properties": {
                "id": {"type": "string"}, "name_zh": {"type": "string"}, "name_en": {"type": "string"},
                "workflow": {"type": ["string", "null"]}, "format_code": {"type": ["string", "null"]}}},
            "BundleInfo": {"type": "object", "required": ["version", "loaded_at", "last_error"], "properties": {
                "version": {"type": "string"}, "loaded_at": {"type": "string", "format": "date-time"},
                "last_error": {"type": ["object", "null"]}}},
            "FieldError": {"type": "object", "required": ["path", "code", "message_zh", "message_en"], "properties": {
                "path": {"type": "string", "description": "field, or table/row/field with rows from 1"},
                "code": {"type": "string"}, "message_zh": {"type": "string"}, "message_en": {"type": "string"}}},
            "Validation": {"type": "object", "required": ["valid", "errors"], "properties": {
                "valid": {"type": "boolean"}, "errors": {"type": "array", "items": {"$ref": "#/components/schemas/FieldError"}}}}
        }}
    })
}
