//! Look-ups: filling a document from a record of an outside system (the
//! inspection e-ledger) that was imported into the store, and making new
//! documents from a list page (新增), keyed by such a record.
//!
//! Which record fills what, and who may use it, is the bundle's: the
//! type's `lookups` (mapping and guard) and the record type's `record_key`.
//! The record is kept with the document (`meta.lookups.<id>`) so that later
//! checks — picked goods within the ledger, the key not changed since —
//! run against what was looked up.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use certflow_core::model::Lookup;
use certflow_core::rules::GuardDecision;
use certflow_core::{CompiledBundle, DocType, Text};
use certflow_store::{AuditRecord, Document, DocumentUpdate, NewDocument, Transition};
use serde_json::{Map, Value, json};

use crate::auth::{ApiUser, CurrentUser, PageUser};
use crate::error::{ApiError, AppError};
use crate::pages::{self, enterprise_of, page_context};
use crate::state::AppState;
use crate::web::{self, Lang};

/// The signed-in enterprise as guards and `from_party` see it.
pub fn party_of(user: &CurrentUser) -> Value {
    match &user.enterprise {
        Some(e) => json!({"code": e.code, "credit_code": e.credit_code, "name_zh": e.name_zh, "name_en": e.name_en}),
        None => json!({}),
    }
}

/// A look-up whose source is a record type of the bundle (one with a
/// `record_key`), with that type.
pub fn record_lookup<'a>(bundle: &'a CompiledBundle, ty: &'a DocType, id: &str) -> Option<(&'a Lookup, &'a DocType)> {
    let lookup = ty.lookups.get(id)?;
    let source = bundle.doctype(&lookup.source)?;
    source.record_key.as_ref()?;
    Some((lookup, source))
}

/// The first look-up of a type that reads imported records: what 新增 asks for.
pub fn creating_lookup<'a>(bundle: &'a CompiledBundle, ty: &'a DocType) -> Option<(&'a Lookup, &'a DocType)> {
    ty.lookups.keys().find_map(|id| record_lookup(bundle, ty, id))
}

/// What a look-up found.
#[derive(Debug)]
pub enum Found {
    /// The record, allowed for this enterprise.
    Record(Value),
    /// No record, or the guard refused it; the message says which.
    Refused(Text),
}

/// Finds the record with `key` and asks the look-up's guard whether the
/// signed-in enterprise may use it.
pub async fn find(
    state: &AppState,
    bundle: &CompiledBundle,
    user: &CurrentUser,
    lookup: &Lookup,
    source: &DocType,
    key: &str,
) -> Result<Found, AppError> {
    let key = key.trim();
    let key_label = source
        .record_key
        .as_deref()
        .and_then(|k| source.fields.get(k))
        .map(|f| f.label.clone())
        .unwrap_or_else(|| Text::new("编号", "Key"));
    if key.is_empty() {
        return Ok(Found::Refused(Text::new(
            format!("请输入{}", key_label.zh),
            format!("Enter the {}", key_label.en_or_zh()),
        )));
    }
    let Some(record) = state.store.get_lookup_record(&lookup.source, key).await? else {
        return Ok(Found::Refused(Text::new(
            format!("{}“{key}”在{}中不存在，请核对后重新输入", key_label.zh, source.name.zh),
            format!(
                "There is no {} record with {} \"{key}\": check it and try again",
                source.name.en_or_zh(),
                key_label.en_or_zh()
            ),
        )));
    };
    Ok(match bundle.lookup_allows(lookup, &record.data, &party_of(user)) {
        GuardDecision::Allow => Found::Record(record.data),
        GuardDecision::Refuse { zh, en } => Found::Refused(Text::new(zh, en)),
    })
}

/// A new document's data: the fields' schema defaults, then what the
/// signed-in enterprise fills (`from_party`).
pub fn initial_data(ty: &DocType, user: &CurrentUser) -> Value {
    let mut data = Map::new();
    for f in ty.fields.values() {
        if let Some(default) = f.schema.as_ref().and_then(|s| s.get("default")) {
            data.insert(f.id.clone(), default.clone());
        }
    }
    let party = party_of(user);
    for (target, what) in &ty.from_party {
        if let Some(v) = party.get(what).filter(|v| v.as_str().is_some_and(|s| !s.is_empty())) {
            data.insert(target.clone(), v.clone());
        }
    }
    Value::Object(data)
}

/// `POST /documents/{id}/lookups/{lookup}` (form: `key`, `_csrf`, `_version`
/// and the form's fields): looks the key up, fills the form from the record
/// and keeps the record with the document. The document's state does not
/// change; what was typed elsewhere on the form is kept.
pub async fn lookup_form(
    State(state): State<AppState>,
    PageUser(user): PageUser,
    Path((id, lookup_id)): Path<(String, String)>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Result<Response, AppError> {
    let (form, doc, lang) = pages::posted_on_document(&state, &user, &id, &headers, &uri, &body).await?;
    let bundle = state.bundle_for(&doc).await;
    let data = pages::posted_data(&bundle, &doc, &form)?;
    match apply(&state, &bundle, &user, &doc, &lookup_id, data, form.get("_version")).await? {
        Applied::Done(doc) => Ok(web::redirect(&format!("/documents/{}/edit?done=lookup:{lookup_id}", doc.id))),
        Applied::Refused { message, data } => {
            pages::form_with_data(&state, &user, lang, &doc, &data, StatusCode::CONFLICT, false, message).await
        }
    }
}

/// `POST /api/v1/documents/{id}/lookups/{lookup}` `{version, key, data?}`.
pub async fn lookup_api(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    Path((id, lookup_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    crate::api::check_csrf_header(&user, &headers)?;
    let doc = pages::load_document(&state, &user, &id).await?;
    let body: Value = serde_json::from_slice(&body).map_err(|e| {
        AppError::bad_request("invalid_json", format!("请求内容不是有效的 JSON：{e}"), format!("Invalid JSON: {e}"))
    })?;
    let bundle = state.bundle_for(&doc).await;
    let mut data = body.get("data").cloned().unwrap_or_else(|| doc.data.clone());
    if let (Some(key), Some(lookup)) = (body.get("key"), doc_lookup(&bundle, &doc, &lookup_id)) {
        data[&lookup.key] = key.clone();
    }
    let version = body.get("version").and_then(Value::as_i64).map(|v| v.to_string());
    match apply(&state, &bundle, &user, &doc, &lookup_id, data, version.as_deref()).await? {
        Applied::Done(doc) => Ok(axum::Json(crate::api::document_json(&bundle, &doc)).into_response()),
        Applied::Refused { message, .. } => {
            Err(AppError::new(StatusCode::CONFLICT, "lookup_refused", message.zh.clone(), message.en_or_zh()).into())
        }
    }
}

fn doc_lookup<'a>(bundle: &'a CompiledBundle, doc: &Document, id: &str) -> Option<&'a Lookup> {
    bundle.doctype(&doc.doctype)?.lookups.get(id)
}

enum Applied {
    Done(Document),
    Refused { message: Text, data: Value },
}

async fn apply(
    state: &AppState,
    bundle: &CompiledBundle,
    user: &CurrentUser,
    doc: &Document,
    lookup_id: &str,
    mut data: Value,
    version: Option<&str>,
) -> Result<Applied, AppError> {
    if version.and_then(|v| v.parse::<i64>().ok()) != Some(doc.version) {
        return Ok(Applied::Refused {
            message: Text::new(
                "数据已被他人修改，请刷新后重新操作",
                "Someone changed this document meanwhile: reload and try again",
            ),
            data,
        });
    }
    let ty = bundle.doctype(&doc.doctype).ok_or_else(AppError::not_found)?;
    let Some((lookup, source)) = record_lookup(bundle, ty, lookup_id) else { return Err(AppError::not_found()) };
    if !pages::editable(bundle, doc) {
        return Ok(Applied::Refused {
            message: Text::new("当前状态不可修改", "The document cannot be changed in its current status"),
            data,
        });
    }
    let key = data.get(&lookup.key).and_then(Value::as_str).unwrap_or_default().to_owned();
    let record = match find(state, bundle, user, lookup, source, &key).await? {
        Found::Record(record) => record,
        Found::Refused(message) => return Ok(Applied::Refused { message, data }),
    };
    fill_from(&mut data, lookup, source, &record);
    let mut meta = doc.meta.clone();
    meta["lookups"][lookup_id] = record;
    let business_no =
        if ty.lookups.get_index_of(lookup_id) == Some(0) { Some(key.clone()) } else { doc.business_no.clone() };
    let done = state
        .store
        .transition(Transition {
            enterprise: doc.enterprise.clone(),
            document_id: doc.id,
            expected_version: doc.version,
            update: DocumentUpdate { data, meta, business_no, ..DocumentUpdate::from(doc) },
            assign_unified_no: None,
            audit: AuditRecord {
                actor: user.user.card_no.clone(),
                action: format!("lookup:{lookup_id}"),
                detail: json!({"source": lookup.source, "key": key}),
            },
            message: None,
            durable: false,
        })
        .await?;
    Ok(Applied::Done(done.document))
}

/// Fills `data` from a record: the mapped fields and the key itself.
pub fn fill_from(data: &mut Value, lookup: &Lookup, source: &DocType, record: &Value) {
    if !data.is_object() {
        *data = json!({});
    }
    let filled = lookup.filled_from(record);
    let obj = data.as_object_mut().expect("an object");
    for target in lookup.fill.keys() {
        match filled.get(target) {
            Some(v) => obj.insert(target.clone(), v.clone()),
            None => obj.remove(target),
        };
    }
    if let Some(key) = source.record_key.as_deref().and_then(|k| record.get(k)) {
        obj.insert(lookup.key.clone(), key.clone());
    }
}

/// `GET /lists/{id}/new?doctype=…`: what 新增 asks first — the key of the
/// record the new document is made from (检验检疫编号), or nothing.
pub async fn new_page(
    State(state): State<AppState>,
    PageUser(user): PageUser,
    Path(list_id): Path<String>,
    axum::extract::Query(query): axum::extract::Query<std::collections::HashMap<String, String>>,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response, AppError> {
    enterprise_of(&user)?;
    let lang = Lang::from_request(&headers, uri.query()).0;
    let bundle = state.bundle.current();
    let (view, ty) = creatable(&bundle, &list_id, query.get("doctype").map(String::as_str))?;
    new_page_with(&state, &user, lang, &bundle, view, ty, "", None)
}

#[allow(clippy::too_many_arguments)]
fn new_page_with(
    state: &AppState,
    user: &CurrentUser,
    lang: Lang,
    bundle: &CompiledBundle,
    view: &certflow_core::listview::ListView,
    ty: &DocType,
    key: &str,
    flash: Option<Value>,
) -> Result<Response, AppError> {
    let key_field = creating_lookup(bundle, ty).and_then(|(l, _)| ty.fields.get(&l.key));
    let ctx = pages::merge(
        page_context(user, lang, bundle, &ty.name, &view.id),
        json!({
            "list": view.id,
            "doctype": {"id": ty.id, "name": ty.name},
            "key_field": key_field.map(|f| json!({"id": f.id, "label": f.label, "hint": f.hint})),
            "key": key,
            "flash": flash,
            "back": format!("/lists/{}", view.id),
        }),
    );
    Ok(web::render(&state.templates, "new.html", ctx)?.into_response())
}

fn creatable<'a>(
    bundle: &'a CompiledBundle,
    list_id: &str,
    doctype: Option<&str>,
) -> Result<(&'a certflow_core::listview::ListView, &'a DocType), AppError> {
    let view = bundle.list_view(list_id).ok_or_else(AppError::not_found)?;
    let id = doctype.or_else(|| view.create.first().map(String::as_str)).ok_or_else(AppError::not_found)?;
    if !view.create.iter().any(|c| c == id) {
        return Err(AppError::not_found());
    }
    let ty = bundle.doctype(id).ok_or_else(AppError::not_found)?;
    Ok((view, ty))
}

/// `POST /lists/{id}/new` (`doctype`, `key`): makes the document in its
/// workflow's first state, filled from the record with that key (refused
/// with the guard's words when the enterprise may not use it), and opens it.
pub async fn create(
    State(state): State<AppState>,
    PageUser(user): PageUser,
    Path(list_id): Path<String>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Result<Response, AppError> {
    let form = user.posted_form(&body)?;
    let lang = Lang::from_request(&headers, uri.query()).0;
    let bundle = state.bundle.current();
    let (view, ty) = creatable(&bundle, &list_id, form.get("doctype"))?;
    let key = form.text("key");
    match create_document(&state, &bundle, &user, ty, &key).await? {
        Ok(doc) => Ok(web::redirect(&format!("/documents/{}/edit", doc.id))),
        Err(message) => {
            let page = new_page_with(&state, &user, lang, &bundle, view, ty, &key, Some(web::flash(false, message)))?;
            Ok((StatusCode::CONFLICT, page).into_response())
        }
    }
}

/// Makes a document of `ty` for the user's enterprise, from the record
/// keyed `key` when the type is made from one.
pub async fn create_document(
    state: &AppState,
    bundle: &CompiledBundle,
    user: &CurrentUser,
    ty: &DocType,
    key: &str,
) -> Result<Result<Document, Text>, AppError> {
    let enterprise = enterprise_of(user)?.to_owned();
    let workflow = bundle.workflow_for(&ty.id).ok_or_else(AppError::not_found)?;
    let mut data = initial_data(ty, user);
    let mut meta = json!({});
    let mut business_no = None;
    if let Some((lookup, source)) = creating_lookup(bundle, ty) {
        let record = match find(state, bundle, user, lookup, source, key).await? {
            Found::Record(record) => record,
            Found::Refused(message) => return Ok(Err(message)),
        };
        fill_from(&mut data, lookup, source, &record);
        meta["lookups"][&lookup.id] = record;
        business_no = Some(key.trim().to_owned());
    }
    let doc = state
        .store
        .insert_document(NewDocument {
            doctype: ty.id.clone(),
            bundle_hash: bundle.hash.clone(),
            enterprise,
            status: workflow.initial.clone(),
            business_no,
            parent_id: None,
            data,
            meta,
            created_by: user.user.card_no.clone(),
        })
        .await?;
    Ok(Ok(doc))
}
