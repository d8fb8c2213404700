//! The JSON API (`/api/v1`): the contract enterprise software relies on.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use certflow_core::Mode;
use serde_json::{Value, json};

use std::collections::HashMap;

use axum::extract::Query;
use certflow_store::Uuid;

use crate::actions::{self, CardInput, Outcome};
use crate::auth::ApiUser;
use crate::error::{ApiError, AppError};
use crate::state::AppState;
use crate::web::Lang;
use crate::{pages, uploads};

/// `GET /api/v1/doctypes`: as `certflow doctypes --json`.
pub async fn doctypes(State(state): State<AppState>) -> Json<Value> {
    let bundle = state.bundle.current();
    Json(serde_json::to_value(bundle.doctype_summaries()).unwrap_or_default())
}

/// `GET /api/v1/bundle`: the active version.
pub async fn bundle(State(state): State<AppState>) -> Json<Value> {
    let bundle = state.bundle.current();
    let loaded_at = state.bundle.loaded_at().format(&time::format_description::well_known::Rfc3339).unwrap_or_default();
    let mut reloads = state.reloader.log();
    reloads.reverse();
    Json(json!({
        "version": bundle.hash,
        "loaded_at": loaded_at,
        "last_error": crate::reload::refusal_json(&state.reloader.last_error()),
        "reloads": reloads,
        "previous": state.store.list_bundle_versions(10).await.map(|list| list.into_iter().filter(|v| v.hash != bundle.hash).map(|v| v.hash).collect::<Vec<_>>()).unwrap_or_default(),
    }))
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
            "/api/v1/login": {"post": {"summary": "Open a session with a card number and PIN",
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["card_no", "pin"],
                    "properties": {"card_no": {"type": "string"}, "pin": {"type": "string"}}}}}},
                "responses": {"200": {"description": "Session cookie set; `csrf` to send as X-CSRF-Token"}, "401": {"description": "Wrong card or PIN", "content": {"application/json": {"schema": error}}}}}},
            "/api/v1/login/challenge": {"post": {"summary": "A single-use nonce (2 minutes) for SpcSignRandom", "responses": {"200": {"description": "`{nonce}`"}}}},
            "/api/v1/login/card": {"post": {"summary": "Log in with the card's signature over the nonce",
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["card_no", "nonce", "signature"],
                    "properties": {"card_no": {"type": "string"}, "nonce": {"type": "string"}, "signature": {"type": "string"}}}}}},
                "responses": {"200": {"description": "Session cookie set; `csrf`"}, "401": {"description": "Expired or replayed nonce, unbound card, bad signature", "content": {"application/json": {"schema": error}}}}}},
            "/api/v1/session": {"get": {"summary": "The logged-in user and the CSRF token", "responses": {"200": {"description": "The session"}, "401": {"description": "Not logged in"}}}},
            "/api/v1/lists/{id}": {"get": {"summary": "A list view (e.g. import-notices) with its criteria as query parameters: criterion ids, from, to (YYYY-MM-DD), page",
                "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
                "responses": {"200": {"description": "`{total, page, page_size, from, to, rows:[{id, cells, actions}]}`"}, "400": {"description": "The query breaks a rule (e.g. more than 90 days)", "content": {"application/json": {"schema": error}}}}}},
            "/api/v1/documents/{id}": {"get": {"summary": "A document of the logged-in enterprise",
                "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string", "format": "uuid"}}],
                "responses": {"200": {"description": "`{id, doctype, status, status_label, version, data, actions, …}`"}, "404": {"description": "No such document for this enterprise"}}}},
            "/api/v1/documents/{id}/actions/{action}": {"post": {"summary": "Run a workflow action (e.g. save, declare); header X-CSRF-Token required",
                "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string", "format": "uuid"}}, {"name": "action", "in": "path", "required": true, "schema": {"type": "string"}}],
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["version"],
                    "properties": {"version": {"type": "integer"}, "data": {"type": "object"},
                        "card_no": {"type": "string", "description": "SpcGetCardID of the signing card"},
                        "signature": {"type": "string", "description": "SpcSignDataAsPEM over to-sign: base64 raw r‖s or DER"},
                        "card_pin": {"type": "string", "description": "development soft cards only"}}}}}},
                "responses": {"200": {"description": "Done: the document and `message`"}, "409": {"description": "Not possible now, or the version moved", "content": {"application/json": {"schema": error}}},
                    "422": {"description": "Validation failed", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Validation"}}}}}}},
            "/api/v1/documents/{id}/to-sign": {"post": {"summary": "The text the local signer signs (SpcSignDataAsPEM inData) for this data; validates first",
                "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string", "format": "uuid"}}],
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "properties": {"data": {"type": "object"}}}}}},
                "responses": {"200": {"description": "`{to_sign, digest, version}`"}, "422": {"description": "Validation failed", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Validation"}}}}}}},
            "/api/v1/documents/{id}/attachments": {"post": {"summary": "Upload PDFs into an attachment slot (multipart: slot, files, card_pin); header X-CSRF-Token required",
                "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string", "format": "uuid"}}],
                "responses": {"200": {"description": "Uploaded"}, "409": {"description": "Refused (status, PDF rules)", "content": {"application/json": {"schema": error}}}}}},
            "/api/v1/documents/{id}/receipts": {"get": {"summary": "Customs receipts of a document",
                "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string", "format": "uuid"}}],
                "responses": {"200": {"description": "Receipt rows"}}}},
            "/api/v1/gateway/receipts": {"post": {"summary": "A receipt from the customs gateway (Authorization: Bearer token); idempotent by receipt_no",
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["document_id", "code", "receipt_no"],
                    "properties": {"document_id": {"type": "string"}, "code": {"type": "string"}, "message": {"type": "string"}, "receipt_no": {"type": "string"}}}}}},
                "responses": {"200": {"description": "Recorded"}, "401": {"description": "Bad token"}}}},
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

/// State-changing API calls with a session cookie carry the session's CSRF
/// token in `X-CSRF-Token` (from `GET /api/v1/session`).
pub(crate) fn check_csrf_header(
    user: &crate::auth::CurrentUser,
    headers: &axum::http::HeaderMap,
) -> Result<(), AppError> {
    user.check_csrf(headers.get("x-csrf-token").and_then(|v| v.to_str().ok()))
}

/// `POST /api/v1/login` `{card_no, pin}`: a session for enterprise software.
pub async fn login(State(state): State<AppState>, body: Bytes) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    let body: Value = serde_json::from_slice(&body).map_err(|e| {
        AppError::bad_request("invalid_json", format!("请求内容不是有效的 JSON：{e}"), format!("Invalid JSON: {e}"))
    })?;
    let field = |k: &str| body.get(k).and_then(Value::as_str).unwrap_or_default().trim().to_owned();
    let (cookie, user, csrf) = crate::auth::open_session(&state, &field("card_no"), &field("pin")).await?;
    let reply = Json(json!({"card_no": user.card_no, "name": user.name, "enterprise": user.enterprise, "csrf": csrf}));
    Ok(crate::web::with_cookie(reply.into_response(), cookie))
}

/// `POST /api/v1/login/challenge`: a single-use nonce for the card to sign.
pub async fn login_challenge(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!({"nonce": crate::auth::new_challenge(&state).await?})))
}

/// `POST /api/v1/login/card` `{card_no, nonce, signature}`: a session for the
/// card that signed the nonce (`cus-sec_SpcSignRandom`).
pub async fn login_card(State(state): State<AppState>, body: Bytes) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    let body: Value = serde_json::from_slice(&body).map_err(|e| {
        AppError::bad_request("invalid_json", format!("请求内容不是有效的 JSON：{e}"), format!("Invalid JSON: {e}"))
    })?;
    let field = |k: &str| body.get(k).and_then(Value::as_str).unwrap_or_default().trim().to_owned();
    let (cookie, user, csrf) =
        crate::auth::open_card_session(&state, &field("card_no"), &field("nonce"), &field("signature")).await?;
    let reply = Json(json!({"card_no": user.card_no, "name": user.name, "enterprise": user.enterprise, "csrf": csrf}));
    Ok(crate::web::with_cookie(reply.into_response(), cookie))
}

/// `GET /api/v1/session`: who is logged in and the CSRF token to send.
pub async fn session(ApiUser(user): ApiUser) -> Json<Value> {
    Json(json!({
        "card_no": user.user.card_no, "name": user.user.name, "role": user.user.role,
        "enterprise": user.enterprise.as_ref().map(|e| json!({"code": e.code, "name_zh": e.name_zh, "name_en": e.name_en})),
        "csrf": user.csrf,
    }))
}

/// `GET /api/v1/lists/{id}`: a list view with the page's query parameters.
pub async fn list(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let enterprise = user.enterprise_code().ok_or_else(AppError::not_found)?.to_owned();
    let bundle = state.bundle.current();
    let view = bundle.list_view(&id).ok_or_else(AppError::not_found)?;
    let lang = if query.get("lang").map(String::as_str) == Some("en") { Lang::En } else { Lang::Zh };
    let result = pages::run_list(&state, &bundle, &enterprise, view, &query, lang).await?;
    if let Some(error) = result.error {
        return Err(AppError::bad_request("query", error.zh.clone(), error.en_or_zh().to_owned()).into());
    }
    let rows: Vec<Value> = result
        .rows
        .iter()
        .map(|r| {
            let cells: serde_json::Map<String, Value> = r["cells"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|c| (c["column"].as_str().unwrap_or_default().to_owned(), c["text"].clone()))
                .collect();
            json!({"id": r["id"], "cells": cells, "actions": r["enabled_actions"]})
        })
        .collect();
    Ok(Json(
        json!({"total": result.total, "page": result.page, "page_size": view.page_size, "from": result.from, "to": result.to, "rows": rows}),
    ))
}

async fn owned_document(
    state: &AppState,
    user: &crate::auth::CurrentUser,
    id: &str,
) -> Result<certflow_store::Document, AppError> {
    let enterprise = user.enterprise_code().ok_or_else(AppError::not_found)?;
    let id = Uuid::parse_str(id).map_err(|_| AppError::not_found())?;
    Ok(state.store.get_document(enterprise, id).await?)
}

pub(crate) fn document_json(bundle: &certflow_core::CompiledBundle, doc: &certflow_store::Document) -> Value {
    let workflow = bundle.workflow_for(&doc.doctype);
    let actions: Vec<&str> =
        workflow.map(|w| w.actions_from(&doc.status).map(|a| a.id.as_str()).collect()).unwrap_or_default();
    json!({
        "id": doc.id, "doctype": doc.doctype, "status": doc.status,
        "status_label": pages::status_label(bundle, &doc.doctype, &doc.status),
        "version": doc.version, "business_no": doc.business_no, "customs_no": doc.customs_no, "unified_no": doc.unified_no,
        "data": doc.data, "actions": actions, "parent_id": doc.parent_id,
        "reason": doc.meta.get("reason"), "requirement": doc.meta.get("requirement"),
        "signature": doc.meta.get("signature"),
    })
}

/// `GET /api/v1/documents/{id}`.
pub async fn document(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let doc = owned_document(&state, &user, &id).await?;
    Ok(Json(document_json(&state.bundle.current(), &doc)))
}

/// `POST /api/v1/documents/{id}/actions/{action}` `{version, data, card_pin}`:
/// 200 with the document, 422 `{errors}` when validation fails, 409 when the
/// action is not possible now (the message says why).
pub async fn action(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    Path((id, action)): Path<(String, String)>,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    check_csrf_header(&user, &headers)?;
    let doc = owned_document(&state, &user, &id).await?;
    let body: Value = serde_json::from_slice(&body).map_err(|e| {
        AppError::bad_request("invalid_json", format!("请求内容不是有效的 JSON：{e}"), format!("Invalid JSON: {e}"))
    })?;
    if body.get("version").and_then(Value::as_i64) != Some(doc.version) {
        return Err(AppError::from(certflow_store::StoreError::Conflict {
            id: doc.id,
            expected: 0,
            actual: doc.version,
        })
        .into());
    }
    let data = body.get("data").cloned().unwrap_or_else(|| doc.data.clone());
    let text = |k: &str| body.get(k).and_then(Value::as_str);
    let card = CardInput::from_fields(text("card_pin"), text("card_no"), text("signature"));
    match actions::perform(&state, &user, doc, &action, data, card).await? {
        Outcome::Done { document, message } => {
            let mut reply = document_json(&state.bundle.current(), &document);
            reply["message"] = json!(message);
            Ok(Json(reply).into_response())
        }
        Outcome::Invalid { errors, .. } => {
            Ok((StatusCode::UNPROCESSABLE_ENTITY, Json(json!({"valid": false, "errors": errors}))).into_response())
        }
        Outcome::Refused(message) => {
            Err(AppError::new(StatusCode::CONFLICT, "refused", message.zh.clone(), message.en_or_zh().to_owned())
                .into())
        }
        Outcome::Deleted { message } => Ok(Json(json!({"deleted": true, "message": message})).into_response()),
    }
}

/// `POST /api/v1/documents/{id}/to-sign` `{version, data}`: the text the
/// local signer must sign (`cus-sec_SpcSignDataAsPEM` inData) for this data,
/// or 422 with what must be corrected first.
pub async fn to_sign(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    let doc = owned_document(&state, &user, &id).await?;
    let body: Value = serde_json::from_slice(&body).map_err(|e| {
        AppError::bad_request("invalid_json", format!("请求内容不是有效的 JSON：{e}"), format!("Invalid JSON: {e}"))
    })?;
    let data = body.get("data").cloned().unwrap_or_else(|| doc.data.clone());
    match actions::to_sign(&state, &doc, &data, body.get("action").and_then(Value::as_str)).await? {
        Ok(text) => {
            let digest = actions::digest_hex(text.as_bytes());
            Ok(Json(json!({"to_sign": text, "digest": digest, "version": doc.version})).into_response())
        }
        Err(errors) => {
            Ok((StatusCode::UNPROCESSABLE_ENTITY, Json(json!({"valid": false, "errors": errors}))).into_response())
        }
    }
}

/// `POST /api/v1/documents/{id}/attachments` (multipart: `slot`, `files`, `card_pin`).
pub async fn upload(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    Path(id): Path<String>,
    headers: axum::http::HeaderMap,
    multipart: axum::extract::Multipart,
) -> Result<Json<Value>, ApiError> {
    check_csrf_header(&user, &headers)?;
    let id = Uuid::parse_str(&id).map_err(|_| AppError::not_found())?;
    let form = uploads::read_upload(multipart).await?;
    match uploads::accept_upload(&state, &user, id, form).await? {
        uploads::UploadOutcome::Done(message) => Ok(Json(json!({"uploaded": true, "message": message}))),
        uploads::UploadOutcome::Refused(message) => {
            Err(AppError::new(StatusCode::CONFLICT, "refused", message.zh.clone(), message.en_or_zh().to_owned())
                .into())
        }
    }
}
