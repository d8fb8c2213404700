//! The customs side: receipts that move documents (from the built-in
//! simulator, an outside gateway or an officer), the simulator that
//! consumes the outbox, and the officer console.

use std::collections::HashMap;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use certflow_core::Text;
use certflow_store::{AuditRecord, Document, DocumentQuery, DocumentUpdate, NewDocument, NewReceipt, Transition, Uuid};
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::actions::CUSTOMS_TOPIC;
use crate::auth::{CurrentUser, PageUser};
use crate::error::{ApiError, AppError};
use crate::pages::{day, page_context, status_label};
use crate::state::AppState;
use crate::web::{self, Lang};

/// What applying a receipt did.
#[derive(Debug, PartialEq, Eq)]
pub enum ReceiptEffect {
    /// Recorded and the document moved to this state.
    Moved(String),
    /// Recorded; the workflow has no transition for it in the current state.
    RecordedOnly,
    /// Delivered before: nothing new.
    Repeated,
}

/// Records a customs receipt and moves the document as its workflow says.
/// Idempotent by `key`: the same receipt delivered twice counts once.
pub async fn apply_receipt(
    state: &AppState,
    document_id: Uuid,
    code: &str,
    message: &str,
    key: &str,
    actor: &str,
) -> Result<ReceiptEffect, AppError> {
    apply_receipt_with_number(state, document_id, code, message, key, actor, None).await
}

/// As [`apply_receipt`], with the number customs gives the document when the
/// receipt brings one (申请单海关编号, 证书编号): kept as the document's
/// customs number and, when the receipt says so, in a field of its data.
pub async fn apply_receipt_with_number(
    state: &AppState,
    document_id: Uuid,
    code: &str,
    message: &str,
    key: &str,
    actor: &str,
    number: Option<&str>,
) -> Result<ReceiptEffect, AppError> {
    let doc = state.store.get_document_for_customs(document_id).await?;
    // The receipt moves the document by the workflow it was made with.
    let bundle = state.bundle_for(&doc).await;
    let workflow = bundle.workflow_for(&doc.doctype).ok_or_else(|| AppError::internal("document without workflow"))?;
    let label = workflow.receipts.get(code).map(|r| r.label.zh.clone()).unwrap_or_else(|| code.to_owned());
    let recorded = state
        .store
        .add_receipt(NewReceipt {
            document_id,
            code: code.to_owned(),
            status: label,
            detail: json!({"message": message, "number": number}),
            idempotency_key: key.to_owned(),
        })
        .await?;
    if !recorded.newly_added {
        return Ok(ReceiptEffect::Repeated);
    }
    let Ok(receipt) = bundle.apply_receipt(&workflow.id, &doc.status, code) else {
        tracing::warn!(document = %document_id, code, status = doc.status, "receipt does not apply in this state");
        return Ok(ReceiptEffect::RecordedOnly);
    };
    let to = receipt.to.clone();
    let mut update = DocumentUpdate { status: to.clone(), ..DocumentUpdate::from(&doc) };
    if let (Some(spec), Some(number)) = (&receipt.number, number.filter(|n| !n.is_empty())) {
        update.customs_no = Some(number.to_owned());
        if let Some(field) = &spec.field {
            update.data[field] = json!(number);
        }
    }
    let moved = state
        .store
        .transition(Transition {
            enterprise: doc.enterprise.clone(),
            document_id,
            expected_version: doc.version,
            update,
            assign_unified_no: None,
            audit: AuditRecord {
                actor: actor.to_owned(),
                action: format!("receipt:{code}"),
                detail: json!({"from": doc.status, "to": to, "message": message}),
            },
            message: None,
            durable: true,
        })
        .await?;
    crate::notify::queue(state, &moved.document, code, message).await?;
    Ok(ReceiptEffect::Moved(to))
}

/// The simulator: takes submissions from the outbox and, after the
/// configured delay, answers with 入库成功 (or 入库失败 at the configured
/// rate). Runs until the process ends; survives restarts because the
/// outbox is durable and leases expire.
pub async fn run_simulator(state: AppState) {
    let config = state.config.customs.clone();
    loop {
        match state.store.claim(CUSTOMS_TOPIC, 8, Duration::from_secs(60)).await {
            Ok(messages) if !messages.is_empty() => {
                for message in messages {
                    tokio::time::sleep(config.delay).await;
                    let result = simulate_one(&state, &message.payload, &config).await;
                    let outcome = match result {
                        Ok(()) => state.store.ack(&message).await,
                        Err(e) => {
                            let retry = OffsetDateTime::now_utc() + certflow_store::retry_delay(message.attempts);
                            state.store.fail(&message, &e.to_string(), retry).await
                        }
                    };
                    if let Err(e) = outcome {
                        tracing::warn!("customs simulator could not settle message {}: {e}", message.id);
                    }
                }
            }
            Ok(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            Err(e) => {
                tracing::warn!("customs simulator cannot read the outbox: {e}");
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
        }
    }
}

async fn simulate_one(state: &AppState, payload: &Value, config: &crate::state::CustomsConfig) -> Result<(), AppError> {
    let id = payload
        .get("document_id")
        .and_then(Value::as_str)
        .and_then(|s| Uuid::parse_str(s).ok())
        .ok_or_else(|| AppError::internal("customs message without document id"))?;
    let doc = state.store.get_document_for_customs(id).await?;
    let bundle = state.bundle_for(&doc).await;
    if let Some(workflow) = bundle.workflow_for(&doc.doctype)
        && workflow.receipts.values().any(|r| r.simulator.is_some())
    {
        return walk(state, &bundle, workflow, id, config).await;
    }
    // Storing (入库), then — when configured — reviewing (审核).
    let stages = if config.auto_review { 2 } else { 1 };
    for stage in 0..stages {
        if stage > 0 {
            tokio::time::sleep(config.delay).await;
        }
        let doc = state.store.get_document_for_customs(id).await?;
        let bundle = state.bundle_for(&doc).await;
        let Some(workflow) = bundle.workflow_for(&doc.doctype) else { return Ok(()) };
        // The receipts the workflow accepts from the document's state, in the
        // bundle's order; a refusal is the one leading to a final state.
        let candidates: Vec<&certflow_core::workflow::Receipt> =
            workflow.receipts.values().filter(|r| r.from.contains(&doc.status)).take(2).collect();
        let refused = rand::random::<f64>() < config.failure_rate;
        let ends = |r: &&certflow_core::workflow::Receipt| workflow.states.get(&r.to).is_some_and(|s| s.is_final);
        let pick = if candidates.iter().all(ends) {
            // Both answers end the document (合格 / 不合格): refusal picks the second.
            if refused { candidates.get(1) } else { candidates.first() }
        } else {
            candidates.iter().find(|r| ends(r) == refused).or(candidates.first())
        };
        let Some(receipt) = pick else { return Ok(()) };
        let key = format!("sim-{}-{}-{}", doc.id, doc.version, receipt.code);
        let message = if refused { "模拟海关：未通过" } else { "模拟海关：通过" };
        apply_receipt(state, doc.id, &receipt.code, message, &key, "customs-simulator").await?;
        if refused {
            break;
        }
    }
    Ok(())
}

/// For a workflow that says what the simulator answers (`simulator: pass` /
/// `fail` on its receipts): from the document's state, the passing receipt
/// — or, at the failure rate, the failing one — and on from the next state,
/// until no receipt of the simulator's applies. Numbers are made by the
/// receipt's template.
async fn walk(
    state: &AppState,
    bundle: &certflow_core::CompiledBundle,
    workflow: &certflow_core::Workflow,
    id: Uuid,
    config: &crate::state::CustomsConfig,
) -> Result<(), AppError> {
    use certflow_core::raw::SimulatorRole;
    for step in 0..8 {
        if step > 0 {
            tokio::time::sleep(config.delay).await;
        }
        let doc = state.store.get_document_for_customs(id).await?;
        let from =
            |role| workflow.receipts.values().find(|r| r.simulator == Some(role) && r.from.contains(&doc.status));
        let refused = rand::random::<f64>() < config.failure_rate;
        let Some(receipt) =
            (if refused { from(SimulatorRole::Fail) } else { None }).or_else(|| from(SimulatorRole::Pass))
        else {
            return Ok(());
        };
        let number = receipt.number.as_ref().map(|n| make_number(bundle, &doc, &n.template));
        let message = match &number {
            Some(n) => format!("模拟海关：{}，编号 {n}", receipt.label.zh),
            None => format!("模拟海关：{}", receipt.label.zh),
        };
        let key = format!("sim-{}-{}-{}", doc.id, doc.version, receipt.code);
        apply_receipt_with_number(state, doc.id, &receipt.code, &message, &key, "customs-simulator", number.as_deref())
            .await?;
        if receipt.simulator == Some(SimulatorRole::Fail) {
            return Ok(());
        }
    }
    Ok(())
}

/// A number by a receipt's template: `{data.FIELD}`, `{category}` (the
/// type's category code), `{unified_no}`, `{time}` (yyyyMMddHHmmss, China).
pub fn make_number(bundle: &certflow_core::CompiledBundle, doc: &Document, template: &str) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let Some(end) = rest[start..].find('}') else { break };
        let name = &rest[start + 1..start + end];
        let value = match name {
            "category" => bundle
                .doctype(&doc.doctype)
                .and_then(|t| t.category.as_ref())
                .map(|c| c.code.clone())
                .unwrap_or_default(),
            "unified_no" => doc.unified_no.clone().unwrap_or_default(),
            "time" => OffsetDateTime::now_utc()
                .to_offset(crate::pages::CHINA)
                .format(time::macros::format_description!("[year][month][day][hour][minute][second]"))
                .unwrap_or_default(),
            other => match other.strip_prefix("data.").and_then(|f| doc.data.get(f)) {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Null) | None => String::new(),
                Some(v) => v.to_string(),
            },
        };
        out.push_str(&value);
        rest = &rest[start + end + 1..];
    }
    out.push_str(rest);
    out
}

/// `POST /api/v1/gateway/receipts`: receipts from an outside customs gateway,
/// `{document_id, code, message, receipt_no}`, authenticated by bearer token.
pub async fn gateway_receipt(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<axum::Json<Value>, ApiError> {
    let expected = state.config.customs.gateway_token.as_deref().ok_or_else(AppError::not_found)?;
    let sent = headers.get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    if !sent.is_some_and(|s| web::same_secret(s, expected)) {
        return Err(AppError::new(
            StatusCode::UNAUTHORIZED,
            "gateway_auth",
            "网关认证失败",
            "Gateway authentication failed",
        )
        .into());
    }
    let body: Value = serde_json::from_slice(&body).map_err(|e| {
        AppError::bad_request("invalid_json", format!("请求内容不是有效的 JSON：{e}"), format!("Invalid JSON: {e}"))
    })?;
    let field = |k: &str| body.get(k).and_then(Value::as_str).unwrap_or_default().to_owned();
    let id = Uuid::parse_str(&field("document_id")).map_err(|_| AppError::not_found())?;
    let key = field("receipt_no");
    if key.is_empty() {
        return Err(AppError::bad_request("receipt_no", "缺少回执编号 receipt_no", "receipt_no is required").into());
    }
    let number = field("number");
    let effect = apply_receipt_with_number(
        &state,
        id,
        &field("code"),
        &field("message"),
        &key,
        "customs-gateway",
        Some(number.as_str()).filter(|n| !n.is_empty()),
    )
    .await?;
    Ok(axum::Json(json!({"effect": format!("{effect:?}")})))
}

fn officer_only(user: &CurrentUser) -> Result<(), AppError> {
    if user.is_officer() {
        Ok(())
    } else {
        Err(AppError::new(StatusCode::FORBIDDEN, "officer_only", "仅海关关员可以使用", "Customs officers only"))
    }
}

/// `GET /officer`: issue notices, review what came in.
pub async fn officer_page(
    State(state): State<AppState>,
    PageUser(user): PageUser,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response, AppError> {
    officer_only(&user)?;
    let lang = Lang::from_request(&headers, uri.query()).0;
    let bundle = state.bundle.current();
    // Types an officer can issue: those whose workflow customs starts.
    let issuable: Vec<&certflow_core::DocType> = issuable(&bundle).collect();
    // The business number is the key field of their look-ups (报关单号).
    let key_labels: Vec<&Text> = issuable.iter().filter_map(|t| key_field(t)).map(|f| &f.label).collect();
    let key_label = match key_labels.first() {
        Some(first) if key_labels.iter().all(|l| l == first) => (*first).clone(),
        _ => Text::new("业务编号", "Business No."),
    };
    let issuable: Vec<Value> =
        issuable.iter().map(|t| json!({"id": t.id, "name": t.name, "category": t.category})).collect();
    let mut q = DocumentQuery::customs();
    q.limit = 50;
    let recent = state.store.list_documents(&q).await?;
    let reviewable = |doc: &Document| -> Vec<Value> {
        bundle
            .workflow_for(&doc.doctype)
            .map(|w| {
                w.receipts
                    .values()
                    .filter(|r| r.from.contains(&doc.status))
                    .map(|r| json!({"code": r.code, "label": r.label}))
                    .collect()
            })
            .unwrap_or_default()
    };
    let rows: Vec<Value> = recent
        .documents
        .iter()
        .map(|d| {
            json!({
                "id": d.id, "enterprise": d.enterprise, "business_no": d.business_no, "notice_no": d.customs_no,
                "doctype": bundle.doctype(&d.doctype).map(|t| t.name.clone()),
                "status": status_label(&bundle, &d.doctype, &d.status), "date": day(d.updated_at),
                "receipts": reviewable(d),
            })
        })
        .collect();
    let flash = query.get("done").map(|d| web::flash(true, Text::new(d, d)));
    let mut ctx = page_context(&user, lang, &bundle, &Text::new("海关业务", "Customs console"), "officer");
    if let Some(obj) = ctx.as_object_mut() {
        obj.insert("doctypes".into(), Value::Array(issuable));
        obj.insert("key_label".into(), json!(key_label));
        obj.insert("documents".into(), Value::Array(rows));
        obj.insert("flash".into(), flash.unwrap_or(Value::Null));
    }
    Ok(web::render(&state.templates, "officer.html", ctx)?.into_response())
}

/// The types an officer issues: those whose workflow customs starts.
fn issuable(bundle: &certflow_core::CompiledBundle) -> impl Iterator<Item = &certflow_core::DocType> {
    bundle.doctypes.values().map(AsRef::as_ref).filter(|t| started_by_customs(bundle, &t.id))
}

/// Whether customs makes documents of `doctype` (notices), not enterprises.
pub(crate) fn started_by_customs(bundle: &certflow_core::CompiledBundle, doctype: &str) -> bool {
    bundle.workflow_for(doctype).is_some_and(|w| w.started_by == certflow_core::raw::StartedBy::Customs)
}

/// The field holding a type's business number: the key of its look-ups.
fn key_field(ty: &certflow_core::DocType) -> Option<&certflow_core::Field> {
    ty.lookups.values().find_map(|l| ty.fields.get(&l.key))
}

/// `POST /officer/notices`: a notice to an enterprise, for a business
/// number (the declaration of an import notice).
pub async fn issue_notice(
    State(state): State<AppState>,
    PageUser(user): PageUser,
    body: Bytes,
) -> Result<Response, AppError> {
    officer_only(&user)?;
    let form = user.posted_form(&body)?;
    let get = |k: &str| form.text(k);
    let enterprise = state.store.get_enterprise(&get("enterprise")).await.map_err(|_| {
        AppError::bad_request(
            "enterprise",
            "企业海关编码不存在，请核对",
            "No enterprise has that customs code: check it",
        )
    })?;
    let bundle = state.bundle.current();
    let ty = issuable(&bundle).find(|t| t.id == get("doctype")).ok_or_else(|| {
        AppError::bad_request("doctype", "该单证类型不由海关发出", "Customs does not issue that type")
    })?;
    let key = get("key");
    // The number is checked as its field is: required, and its format.
    if let Some(field) = key_field(ty) {
        if key.is_empty() {
            return Err(AppError::bad_request(
                "key",
                format!("{}不能为空", field.label.zh),
                format!("{} is required", field.label.en_or_zh()),
            ));
        }
        let report = bundle.validate_as(ty, &json!({&field.id: key}), certflow_core::Mode::Draft);
        if let Some(e) = report.errors.iter().find(|e| e.path == field.id) {
            return Err(AppError::bad_request("key", e.message_zh.clone(), e.message_en.clone()));
        }
    }
    let doc = issue(
        &state,
        &enterprise.code,
        &ty.id,
        &key,
        &get("reason"),
        &get("requirement"),
        json!({}),
        &user.user.card_no,
    )
    .await?;
    Ok(web::redirect(&format!("/officer?done=已发出通知 {}", doc.customs_no.unwrap_or_default())))
}

/// Creates a notice document in its workflow's initial state.
#[allow(clippy::too_many_arguments)]
pub async fn issue(
    state: &AppState,
    enterprise: &str,
    doctype: &str,
    business_no: &str,
    reason: &str,
    requirement: &str,
    prefill: Value,
    actor: &str,
) -> Result<Document, AppError> {
    let bundle = state.bundle.current();
    let ty = bundle
        .doctype(doctype)
        .ok_or_else(|| AppError::bad_request("doctype", "单证类型不存在", "Unknown document type"))?;
    let workflow = bundle.workflow_for(doctype).ok_or_else(|| AppError::internal("type without workflow"))?;
    // The business number is the key of the type's look-ups (a declaration's).
    let mut data = prefill;
    for lookup in ty.lookups.values() {
        if ty.fields.contains_key(&lookup.key) {
            data[&lookup.key] = json!(business_no);
        }
    }
    let notice_no = Uuid::new_v4().simple().to_string();
    let doc = state
        .store
        .insert_document(NewDocument {
            doctype: doctype.to_owned(),
            bundle_hash: bundle.hash.clone(),
            enterprise: enterprise.to_owned(),
            status: workflow.initial.clone(),
            business_no: Some(business_no.to_owned()),
            parent_id: None,
            data,
            meta: json!({"reason": reason, "requirement": requirement, "issued_by": actor}),
            created_by: actor.to_owned(),
        })
        .await?;
    let update = DocumentUpdate { customs_no: Some(notice_no), ..DocumentUpdate::from(&doc) };
    let doc = state.store.update_document(enterprise, doc.id, doc.version, update).await?;
    Ok(doc)
}

/// `POST /officer/documents/{id}/receipts`: an officer's decision as a receipt.
pub async fn officer_receipt(
    State(state): State<AppState>,
    PageUser(user): PageUser,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, AppError> {
    officer_only(&user)?;
    let form = user.posted_form(&body)?;
    let get = |k: &str| form.text(k);
    let id = Uuid::parse_str(&id).map_err(|_| AppError::not_found())?;
    let code = get("code");
    let key = format!("officer-{}-{}", Uuid::new_v4().simple(), code);
    // A receipt that brings a number: the officer's, else one by its template.
    let doc = state.store.get_document_for_customs(id).await?;
    let bundle = state.bundle_for(&doc).await;
    let template = bundle.workflow_for(&doc.doctype).and_then(|w| w.receipts.get(&code)).and_then(|r| r.number.clone());
    let number = match (get("number"), template) {
        (n, _) if !n.is_empty() => Some(n),
        (_, Some(spec)) => Some(make_number(&bundle, &doc, &spec.template)),
        _ => None,
    };
    let effect =
        apply_receipt_with_number(&state, id, &code, &get("message"), &key, &user.user.card_no, number.as_deref())
            .await?;
    let text = match effect {
        ReceiptEffect::Moved(to) => format!("回执 {code} 已发送，状态 {to}"),
        other => format!("回执 {code}: {other:?}"),
    };
    Ok(web::redirect(&format!("/officer?done={}", text)))
}
