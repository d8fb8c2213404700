//! Documents made inside documents (an application's certificates), lines
//! picked from a looked-up record (goods of the e-ledger), and copies of a
//! document (复制).
//!
//! What may be made inside what, what a child inherits, which lines come
//! from which record and within which bounds are the bundle's (`children`,
//! `pick`); this module only carries them out for the signed-in enterprise.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use certflow_core::model::Children;
use certflow_core::raw::FieldClass;
use certflow_core::{CompiledBundle, DocType, Text};
use certflow_store::{AuditRecord, Document, DocumentQuery, DocumentUpdate, NewDocument, Transition};
use serde_json::{Value, json};

use crate::actions::{self, lookups_of};
use crate::auth::{CurrentUser, PageUser};
use crate::error::AppError;
use crate::lookups::initial_data;
use crate::pages::{self, status_label};
use crate::state::AppState;
use crate::web::{self, Lang};

fn pick(text: &Text, lang: Lang) -> String {
    if lang == Lang::En { text.en_or_zh().to_owned() } else { text.zh.clone() }
}

/// The category codes a slot allows for this parent: those in the record
/// list its `allowed_by` names (all categories when it names none).
fn allowed_codes(slot: &Children, parent: &Document) -> Option<Vec<(String, Value)>> {
    let a = slot.allowed_by.as_ref()?;
    let rows = lookups_of(parent).get(&a.lookup)?.get(&a.rows)?.as_array()?.clone();
    Some(
        rows.into_iter()
            .filter_map(|r| {
                let code = match r.get(&a.field)? {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                Some((code, r))
            })
            .collect(),
    )
}

/// The types a slot offers for this parent, each with the record row that
/// allowed it (its originals and copies).
fn offered<'a>(bundle: &'a CompiledBundle, slot: &'a Children, parent: &Document) -> Vec<(&'a DocType, Option<Value>)> {
    let codes = allowed_codes(slot, parent);
    bundle
        .doctypes_of_workflow(&slot.workflow)
        .filter_map(|t| match &codes {
            None => Some((t.as_ref(), None)),
            Some(codes) => {
                let code = t.category.as_ref()?.code.clone();
                codes.iter().find(|(c, _)| *c == code).map(|(_, row)| (t.as_ref(), Some(row.clone())))
            }
        })
        .collect()
}

/// The children panel of a parent's form: each slot's documents (OUT-4
/// columns) and the kinds and formats that can be added.
pub async fn panel(
    state: &AppState,
    bundle: &CompiledBundle,
    parent: &Document,
    lang: Lang,
    editable: bool,
) -> Result<Value, AppError> {
    let ty = bundle.doctype(&parent.doctype).ok_or_else(AppError::not_found)?;
    if ty.children.is_empty() {
        return Ok(Value::Null);
    }
    let children = actions::children_of(state, parent).await?;
    // Each child is shown with the definitions it was made with; what can
    // be added is what the active definitions offer (a new child is made
    // with them, even under a parent made before a format was added).
    let mut own_bundles = Vec::with_capacity(children.len());
    for child in &children {
        own_bundles.push(state.bundle_for(child).await);
    }
    let active = state.bundle.current();
    let mut slots = Vec::new();
    for slot in ty.children.values() {
        let rows: Vec<Value> = children
            .iter()
            .zip(&own_bundles)
            .filter(|(c, own)| own.workflow_for(&c.doctype).is_some_and(|w| w.id == slot.workflow))
            .enumerate()
            .map(|(i, (c, own))| {
                let cty = own.doctype(&c.doctype);
                let category = cty.and_then(|t| t.category.as_ref()).map(|k| pick(&Text::new(&k.zh, &k.en), lang));
                let deletable = own
                    .workflow_for(&c.doctype)
                    .and_then(|w| w.actions.get("delete"))
                    .is_some_and(|a| a.from.contains(&c.status));
                json!({
                    "n": i + 1, "id": c.id, "version": c.version, "category": category,
                    "format_code": cty.and_then(|t| t.format_code.clone()),
                    "format": cty.map(|t| pick(&t.name, lang)),
                    "unified_no": c.unified_no, "cert_no": c.customs_no,
                    "status": pick(&status_label(own, &c.doctype, &c.status), lang), "status_code": c.status,
                    "originals": c.data.get("originals"), "copies": c.data.get("copies"),
                    "editable": pages::editable(own, c), "deletable": deletable,
                    "preview": cty.is_some_and(|t| t.layout.is_some()),
                })
            })
            .collect();
        // Kinds, each with its formats, for the add dialog.
        let mut kinds: Vec<Value> = Vec::new();
        let active_slot = active.doctype(&parent.doctype).and_then(|t| t.children.get(&slot.id));
        for (t, _) in active_slot.map(|s| offered(&active, s, parent)).unwrap_or_default() {
            let (code, label) = match &t.category {
                Some(k) => (k.code.clone(), pick(&Text::new(&k.zh, &k.en), lang)),
                None => (String::new(), pick(&t.name, lang)),
            };
            let format = json!({"id": t.id, "code": t.format_code, "name": pick(&t.name, lang)});
            match kinds.iter_mut().find(|k| k["code"] == code.as_str()) {
                Some(k) => k["formats"].as_array_mut().expect("formats").push(format),
                None => kinds.push(json!({"code": code, "label": label, "formats": [format]})),
            }
        }
        slots.push(json!({"id": slot.id, "label": slot.label, "rows": rows, "kinds": kinds, "editable": editable}));
    }
    Ok(Value::Array(slots))
}

/// `POST /documents/{id}/children/{slot}` (`doctype`, `mode` blank|similar,
/// `similar`: the id of the earlier document to start from): makes a child
/// and opens it.
pub async fn add(
    State(state): State<AppState>,
    PageUser(user): PageUser,
    Path((id, slot_id)): Path<(String, String)>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Result<Response, AppError> {
    let (form, parent, lang) = pages::posted_on_document(&state, &user, &id, &headers, &uri, &body).await?;
    let similar = match form.get("similar").filter(|s| !s.is_empty() && form.get("mode") == Some("similar")) {
        Some(sid) => Some(pages::load_document(&state, &user, sid).await?),
        None => None,
    };
    match add_child(&state, &user, &parent, &slot_id, &form.text("doctype"), similar.as_ref()).await? {
        Ok(child) => Ok(web::redirect(&format!("/documents/{}/edit", child.id))),
        Err(message) => pages::form_with_message(&state, &user, lang, &parent, StatusCode::CONFLICT, message).await,
    }
}

/// Makes a child of `doctype` in `slot` of `parent`: only a type the slot
/// offers for this parent, only while the parent can be edited. The child
/// starts from its type's defaults, what the parent passes on, the record
/// the parent was filled from, and — when given — an earlier document of
/// the same type (the slot's `similar` fields).
pub async fn add_child(
    state: &AppState,
    user: &CurrentUser,
    parent: &Document,
    slot_id: &str,
    doctype: &str,
    similar: Option<&Document>,
) -> Result<Result<Document, Text>, AppError> {
    let bundle = state.bundle.current();
    let pty = bundle.doctype(&parent.doctype).ok_or_else(AppError::not_found)?;
    let slot = pty.children.get(slot_id).ok_or_else(AppError::not_found)?;
    if !pages::editable(&bundle, parent) {
        return Ok(Err(Text::new("当前状态不可添加", "Nothing can be added in the current status")));
    }
    let Some((ty, row)) = offered(&bundle, slot, parent).into_iter().find(|(t, _)| t.id == doctype) else {
        return Ok(Err(slot.messages.not_offered.clone()));
    };
    let existing = actions::children_of(state, parent).await?;
    if let Some(max) = slot.max
        && existing.len() >= max as usize
    {
        return Ok(Err(Text::new(format!("最多添加 {max} 份"), format!("At most {max} can be added"))));
    }
    let workflow = bundle.workflow_for(&ty.id).ok_or_else(AppError::not_found)?;
    let mut data = initial_data(ty, user);
    let mut meta = json!({});
    // What the parent was filled from fills the child by the child's own
    // look-ups of the same source.
    let parent_records = lookups_of(parent);
    for lookup in ty.lookups.values() {
        let from_parent = pty.lookups.values().find(|l| l.source == lookup.source);
        if let Some(record) = from_parent.and_then(|l| parent_records.get(&l.id))
            && let Some(source) = bundle.doctype(&lookup.source)
        {
            crate::lookups::fill_from(&mut data, lookup, source, record);
            meta["lookups"][&lookup.id] = record.clone();
        }
    }
    for (target, from) in &slot.fill {
        if let Some(v) = parent.data.get(from) {
            data[target] = v.clone();
        }
    }
    if let (Some(a), Some(row)) = (&slot.allowed_by, &row) {
        for (target, from) in &a.fill {
            if let Some(v) = row.get(from) {
                data[target] = v.clone();
            }
        }
    }
    if let Some(earlier) = similar {
        if earlier.doctype != ty.id {
            return Ok(Err(slot.messages.similar_mismatch.clone()));
        }
        for name in &slot.similar {
            if let Some(v) = earlier.data.get(name).filter(|v| !v.is_null()) {
                data[name] = v.clone();
            }
        }
        meta["similar_to"] = json!(earlier.id);
    }
    let child = state
        .store
        .insert_document(NewDocument {
            doctype: ty.id.clone(),
            bundle_hash: bundle.hash.clone(),
            enterprise: parent.enterprise.clone(),
            status: workflow.initial.clone(),
            business_no: parent.business_no.clone(),
            parent_id: Some(parent.id),
            data,
            meta,
            created_by: user.user.card_no.clone(),
        })
        .await?;
    Ok(Ok(child))
}

/// `GET /documents/{id}/children/{slot}/similar?doctype=…&number=…`: the
/// enterprise's earlier documents of that type under another business
/// number (证书统一编号, 证书编号, 证书种类, 证书格式), newest first.
pub async fn similar(
    State(state): State<AppState>,
    PageUser(user): PageUser,
    Path((id, slot_id)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    uri: Uri,
) -> Result<axum::Json<Value>, AppError> {
    let parent = pages::load_document(&state, &user, &id).await?;
    let lang = Lang::from_request(&headers, uri.query()).0;
    let bundle = state.bundle.current();
    let slot =
        bundle.doctype(&parent.doctype).and_then(|t| t.children.get(&slot_id)).ok_or_else(AppError::not_found)?;
    let doctype = query.get("doctype").cloned().unwrap_or_default();
    let number = query.get("number").map(|n| n.trim().to_owned()).unwrap_or_default();
    if number.is_empty() {
        let m = &slot.messages.similar_number;
        return Err(AppError::bad_request("number", m.zh.clone(), m.en_or_zh().to_owned()));
    }
    let ty = bundle.doctype(&doctype).ok_or_else(AppError::not_found)?;
    let mut q = DocumentQuery::new(&parent.enterprise);
    q.doctypes = vec![doctype.clone()];
    q.business_no = Some(number);
    q.limit = 50;
    let found = state.store.list_documents(&q).await?;
    let rows: Vec<Value> = found
        .documents
        .iter()
        .filter(|d| d.parent_id != Some(parent.id))
        .map(|d| {
            json!({
                "id": d.id, "unified_no": d.unified_no, "cert_no": d.customs_no,
                "category": ty.category.as_ref().map(|k| pick(&Text::new(&k.zh, &k.en), lang)),
                "format": pick(&ty.name, lang),
            })
        })
        .collect();
    Ok(axum::Json(Value::Array(rows)))
}

/// `POST /documents/{id}/tables/{table}/pick` (`key` repeated): adds the
/// chosen rows of the record the table picks from, as lines filled by the
/// table's mapping. Rows already picked are not added twice. The lines are
/// stored as they are; the next 暂存 or 提交 checks them.
pub async fn pick_rows(
    State(state): State<AppState>,
    PageUser(user): PageUser,
    Path((id, table_id)): Path<(String, String)>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Result<Response, AppError> {
    let pairs = web::parse_form(&body);
    let (_form, doc, lang) = pages::posted_on_document(&state, &user, &id, &headers, &uri, &body).await?;
    let bundle = state.bundle_for(&doc).await;
    let ty = bundle.doctype(&doc.doctype).ok_or_else(AppError::not_found)?;
    let table = ty.tables.get(&table_id).ok_or_else(AppError::not_found)?;
    let spec = table.pick.as_ref().ok_or_else(AppError::not_found)?;
    if !pages::editable(&bundle, &doc) {
        let message = Text::new("当前状态不可修改", "The document cannot be changed in its current status");
        return pages::form_with_message(&state, &user, lang, &doc, StatusCode::CONFLICT, message).await;
    }
    let keys: Vec<&str> = pairs.iter().filter(|(k, _)| k == "key").map(|(_, v)| v.as_str()).collect();
    if keys.is_empty() {
        let message = Text::new("请至少选择一条数据！", "Select at least one line");
        return pages::form_with_message(&state, &user, lang, &doc, StatusCode::UNPROCESSABLE_ENTITY, message).await;
    }
    let rows = lookups_of(&doc)
        .get(&spec.lookup)
        .and_then(|r| r.get(&spec.rows))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let key_text = |v: Option<&Value>| match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    };
    let mut data = doc.data.clone();
    let mut lines = data.get(&table.id).and_then(Value::as_array).cloned().unwrap_or_default();
    let present: Vec<String> = lines.iter().map(|l| key_text(l.get(&spec.into))).collect();
    let mut added = 0;
    for row in rows.iter().filter(|r| keys.contains(&key_text(r.get(&spec.key)).as_str())) {
        if present.contains(&key_text(row.get(&spec.key))) {
            continue;
        }
        lines.push(spec.line_from(row));
        added += 1;
    }
    data[&table.id] = Value::Array(lines);
    state
        .store
        .transition(Transition {
            enterprise: doc.enterprise.clone(),
            document_id: doc.id,
            expected_version: doc.version,
            update: DocumentUpdate { data, ..DocumentUpdate::from(&doc) },
            assign_unified_no: None,
            audit: AuditRecord {
                actor: user.user.card_no.clone(),
                action: format!("pick:{}", table.id),
                detail: json!({"keys": keys, "added": added}),
            },
            message: None,
            durable: false,
        })
        .await?;
    Ok(web::redirect(&format!("/documents/{}/edit?done=pick", doc.id)))
}

/// The data a copy keeps: what the user typed and what records filled —
/// not what the system or customs gave the original (numbers, dates).
fn copied_data(ty: &DocType, data: &Value) -> Value {
    let filled: Vec<&String> = ty.lookups.values().flat_map(|l| l.fill.keys().chain(std::iter::once(&l.key))).collect();
    let keep = |id: &String, class: FieldClass, editable: bool| {
        class != FieldClass::Backfilled || editable || filled.contains(&id) || ty.from_party.contains_key(id)
    };
    let mut out = serde_json::Map::new();
    for f in ty.fields.values() {
        if keep(&f.id, f.class, f.editable)
            && let Some(v) = data.get(&f.id)
        {
            out.insert(f.id.clone(), v.clone());
        }
    }
    for t in ty.tables.values() {
        if let Some(v) = data.get(&t.id) {
            out.insert(t.id.clone(), v.clone());
        }
    }
    Value::Object(out)
}

/// `POST /documents/{id}/copy` (复制): a new document with the same data
/// (less what the original was given), the records it was filled from and
/// copies of the documents made inside it — only of a document that was
/// saved (it has its number), else `没有可复制的数据！`.
pub async fn copy(
    State(state): State<AppState>,
    PageUser(user): PageUser,
    Path(id): Path<String>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Result<Response, AppError> {
    let (_form, doc, lang) = pages::posted_on_document(&state, &user, &id, &headers, &uri, &body).await?;
    match copy_document(&state, &user, &doc).await? {
        Ok(copy) => Ok(web::redirect(&format!("/documents/{}/edit?done=copy", copy.id))),
        Err(message) => pages::form_with_message(&state, &user, lang, &doc, StatusCode::CONFLICT, message).await,
    }
}

pub async fn copy_document(
    state: &AppState,
    user: &CurrentUser,
    doc: &Document,
) -> Result<Result<Document, Text>, AppError> {
    let bundle = state.bundle.current();
    let ty = bundle.doctype(&doc.doctype).ok_or_else(AppError::not_found)?;
    if doc.unified_no.is_none() {
        return Ok(Err(Text::new("没有可复制的数据！", "Nothing to copy: save the document first")));
    }
    let fresh = |ty: &DocType, source: &Document, parent: Option<certflow_store::Uuid>| {
        let mut meta = json!({"copied_from": source.id});
        if let Some(l) = source.meta.get("lookups") {
            meta["lookups"] = l.clone();
        }
        NewDocument {
            doctype: ty.id.clone(),
            bundle_hash: bundle.hash.clone(),
            enterprise: source.enterprise.clone(),
            status: bundle.workflow_for(&ty.id).map(|w| w.initial.clone()).unwrap_or_default(),
            business_no: source.business_no.clone(),
            parent_id: parent,
            data: copied_data(ty, &source.data),
            meta,
            created_by: user.user.card_no.clone(),
        }
    };
    let copy = state.store.insert_document(fresh(ty, doc, None)).await?;
    for child in actions::children_of(state, doc).await? {
        if let Some(cty) = bundle.doctype(&child.doctype) {
            state.store.insert_document(fresh(cty, &child, Some(copy.id))).await?;
        }
    }
    Ok(Ok(copy))
}
