//! Running a workflow action on a stored document: the interpreter plans
//! it, the built-in steps are carried out here, and the store commits the
//! result in one transaction (with the audit row and any customs message).

use std::sync::Arc;

use certflow_core::workflow::Step;
use certflow_core::{ActionRefused, CompiledBundle, DocType, FieldError, Mode, Text};
use certflow_store::{AuditRecord, Document, DocumentUpdate, NumberRequest, OutboxRecord, Transition};
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::auth::{CurrentUser, check_card_pin};
use crate::error::AppError;
use crate::state::AppState;

/// The outbox topic the customs gateway consumes.
pub const CUSTOMS_TOPIC: &str = "customs";

#[derive(Debug)]
pub enum Outcome {
    /// Done; the message to show (`暂存成功`).
    Done { document: Box<Document>, message: Option<Text> },
    /// Validation found problems; nothing was stored.
    Invalid { errors: Vec<FieldError>, data: Value },
    /// Not allowed now (wrong state, guard, card); nothing was stored.
    Refused(Text),
    /// The document (and those made inside it) was deleted.
    Deleted { message: Option<Text> },
}

/// What the card step needs from the request: a signature made by the
/// local signer (E-Port client or certflow agent) over the bytes
/// [`to_sign`] returned, or — for a development soft card kept on the
/// server — its PIN.
#[derive(Debug, Default)]
pub struct CardInput<'a> {
    pub pin: Option<&'a str>,
    pub signature: Option<CardSignature<'a>>,
}

impl<'a> CardInput<'a> {
    /// From the fields a page or API client sends (`card_pin`, `card_no`,
    /// `card_signature`); empty values count as absent.
    pub fn from_fields(pin: Option<&'a str>, card_no: Option<&'a str>, signature: Option<&'a str>) -> Self {
        let present = |v: Option<&'a str>| v.filter(|v| !v.is_empty());
        let signature = match (present(card_no), present(signature)) {
            (Some(card_no), Some(signature)) => Some(CardSignature { card_no, signature }),
            _ => None,
        };
        CardInput { pin: present(pin), signature }
    }
}

/// A signature from the local signer.
#[derive(Debug, Clone, Copy)]
pub struct CardSignature<'a> {
    /// `cus-sec_SpcGetCardID` of the card that signed.
    pub card_no: &'a str,
    /// `cus-sec_SpcSignDataAsPEM`: base64 of raw r‖s (or DER).
    pub signature: &'a str,
}

/// What the server knows of a document beside its data: the records it was
/// filled from (rules and picks check against them), and what guards see.
#[derive(Debug, Clone)]
pub struct DocContext {
    /// `{lookup id: record}` kept with the document (`{}` when none).
    pub lookups: Value,
    /// The documents made inside this one, oldest first.
    pub children: Vec<Document>,
    /// Each child's definitions: the version it was made with (pinned).
    pub child_bundles: Vec<Arc<CompiledBundle>>,
    /// What a guard `fn name(doc, ctx)` gets: `{attachments: {slot: count},
    /// children: [{doctype, status, unified_no, customs_no}], unified_no,
    /// customs_no, lookups}`.
    pub guard: Value,
}

/// The records a document was filled from, as kept in its meta.
pub fn lookups_of(document: &Document) -> Value {
    document.meta.get("lookups").filter(|v| v.is_object()).cloned().unwrap_or_else(|| json!({}))
}

/// The documents made inside `document`, oldest first.
pub async fn children_of(state: &AppState, document: &Document) -> Result<Vec<Document>, AppError> {
    let mut query = certflow_store::DocumentQuery::new(&document.enterprise);
    query.parent = Some(document.id);
    query.date_field = certflow_store::DateField::CreatedAt;
    query.limit = 500;
    let mut children = state.store.list_documents(&query).await?.documents;
    children.reverse();
    Ok(children)
}

pub async fn context_of(state: &AppState, document: &Document) -> Result<DocContext, AppError> {
    let children = children_of(state, document).await?;
    let mut child_bundles = Vec::with_capacity(children.len());
    for child in &children {
        child_bundles.push(state.bundle_for(child).await);
    }
    let files = state.store.list_attachments(&document.enterprise, document.id).await?;
    let mut attachments = serde_json::Map::new();
    for f in &files {
        let n = attachments.get(&f.slot).and_then(Value::as_u64).unwrap_or(0);
        attachments.insert(f.slot.clone(), json!(n + 1));
    }
    let lookups = lookups_of(document);
    let guard = json!({
        "attachments": attachments,
        "children": children.iter().map(|c| json!({
            "doctype": c.doctype, "status": c.status, "unified_no": c.unified_no, "customs_no": c.customs_no,
        })).collect::<Vec<_>>(),
        "unified_no": document.unified_no,
        "customs_no": document.customs_no,
        "lookups": lookups,
    });
    Ok(DocContext { lookups, children, child_bundles, guard })
}

/// The action of the document's workflow that signs from its state: what
/// a page's "sign" button runs.
fn signing_action(bundle: &CompiledBundle, document: &Document) -> Option<String> {
    let wf = bundle.workflow_for(&document.doctype)?;
    wf.actions_from(&document.status).find(|a| a.steps.contains(&Step::Sign) && !a.via_parent).map(|a| a.id.clone())
}

/// A child made ready to move with its parent: validated, planned.
struct PreparedChild {
    document: Document,
    /// The definitions the child was made with (its signed text names them).
    bundle: Arc<CompiledBundle>,
    plan: certflow_core::ActionPlan,
    data: Value,
}

/// Plans and validates `action` on every child; the first refusal, or the
/// errors of all children (paths prefixed with the child slot and number).
fn prepare_children(
    ty: &DocType,
    ctx: &DocContext,
    action: &str,
) -> Result<Result<Vec<PreparedChild>, Vec<FieldError>>, Text> {
    let Some(slot) = ty.children.values().next() else { return Ok(Ok(Vec::new())) };
    let mut prepared = Vec::new();
    let mut errors = Vec::new();
    for (i, (child, bundle)) in ctx.children.iter().zip(&ctx.child_bundles).enumerate() {
        let n = i + 1;
        // A child always moves with its parent: one whose definitions are
        // gone cannot be checked, so the parent does not move either.
        let Some(child_ty) = bundle.doctype(&child.doctype) else {
            let item = slot.messages.item(n, &child.doctype);
            return Err(Text::new(
                format!("{}：单证类型已不存在，请删除后重新添加", item.zh),
                format!("{}: its document type no longer exists; delete it and add it again", item.en_or_zh()),
            ));
        };
        let name = child_ty.format_code.clone().unwrap_or_else(|| child_ty.name.zh.clone());
        let ctx = json!({"lookups": lookups_of(child)});
        let item = slot.messages.item(n, &name);
        let plan = bundle.plan_action_with(&child.doctype, &child.status, action, &child.data, &ctx).map_err(|r| {
            let m = r.message();
            Text::new(format!("{}：{}", item.zh, m.zh), format!("{}: {}", item.en_or_zh(), m.en_or_zh()))
        })?;
        let mut data = child.data.clone();
        for step in &plan.steps {
            if let Step::Validate | Step::ValidateDraft = step {
                let mode = if *step == Step::Validate { Mode::Submit } else { Mode::Draft };
                let report = bundle.validate_with(child_ty, &data, mode, &lookups_of(child));
                for e in &report.errors {
                    errors.push(FieldError::new(
                        format!("{}/{n}/{}", slot.id, e.path),
                        e.code.clone(),
                        format!("{}{}：{}", item.zh, field_label(child_ty, &e.path, false), e.message_zh),
                        format!("{} {}: {}", item.en_or_zh(), field_label(child_ty, &e.path, true), e.message_en),
                    ));
                }
                data = report.document;
            }
        }
        prepared.push(PreparedChild { document: child.clone(), bundle: bundle.clone(), plan, data });
    }
    Ok(if errors.is_empty() { Ok(prepared) } else { Err(errors) })
}

fn field_label(ty: &DocType, path: &str, en: bool) -> String {
    match ty.field_at(path) {
        Some(f) if en => format!("{} ({path})", f.label.en_or_zh()),
        Some(f) => format!("{}（{path}）", f.label.zh),
        None => path.to_owned(),
    }
}

/// The bytes a card signs: the canonical document, followed by the
/// canonical form of each child moving with it.
fn signing_bytes(
    bundle: &CompiledBundle,
    ty: &DocType,
    document: &Document,
    data: &Value,
    children: &[PreparedChild],
) -> Vec<u8> {
    let mut bytes =
        certflow_core::canonical::canonical_bytes(&ty.id, &bundle.hash, document.unified_no.as_deref(), data);
    for child in children {
        bytes.push(b'\n');
        bytes.extend(certflow_core::canonical::canonical_bytes(
            &child.document.doctype,
            &child.bundle.hash,
            child.document.unified_no.as_deref(),
            &child.data,
        ));
    }
    bytes
}

/// The exact text a signature for the document's signing action on this
/// data must cover: the canonical form of the document as it will be stored
/// (with the documents made inside it, when the action moves them too).
/// Validation runs first, so only a document that can be declared is
/// offered for signing.
pub async fn to_sign(
    state: &AppState,
    document: &Document,
    data: &Value,
    action: Option<&str>,
) -> Result<Result<String, Vec<FieldError>>, AppError> {
    let bundle = state.bundle_for(document).await;
    let ty = bundle.doctype(&document.doctype).ok_or_else(AppError::not_found)?;
    let ctx = context_of(state, document).await?;
    // The action the signature is for: the one named, else the one that
    // signs from this state. Its steps before `sign` shape what is signed,
    // exactly as `perform` will.
    let action = action.map(str::to_owned).or_else(|| signing_action(&bundle, document)).unwrap_or_default();
    let steps = bundle
        .workflow_for(&document.doctype)
        .and_then(|w| w.actions.get(&action))
        .map(|a| a.steps.clone())
        .unwrap_or_else(|| vec![Step::Validate, Step::Sign]);
    let mut data = data.clone();
    let mut children = Vec::new();
    for step in steps.iter().take_while(|s| **s != Step::Sign) {
        match step {
            Step::Validate | Step::ValidateDraft => {
                let mode = if *step == Step::Validate { Mode::Submit } else { Mode::Draft };
                let report = bundle.validate_with(ty, &data, mode, &ctx.lookups);
                if !report.is_valid() {
                    return Ok(Err(report.errors));
                }
                data = report.document;
            }
            Step::Children => match prepare_children(ty, &ctx, &action) {
                Ok(Ok(prepared)) => children = prepared,
                Ok(Err(errors)) => return Ok(Err(errors)),
                Err(refused) => {
                    return Ok(Err(vec![FieldError::new("", "refused", refused.zh.clone(), refused.en_or_zh())]));
                }
            },
            _ => {}
        }
    }
    let bytes = signing_bytes(&bundle, ty, document, &data, &children);
    Ok(Ok(String::from_utf8(bytes).map_err(AppError::internal)?))
}

/// SHA-256 of signed bytes, in hex: what the audit log and the page show.
pub fn digest_hex(bytes: &[u8]) -> String {
    hex::encode(<sha2::Sha256 as sha2::Digest>::digest(bytes))
}

/// Checks the card step; the signature record to keep with the document.
fn sign_step(user: &CurrentUser, canonical: &[u8], card: &CardInput<'_>) -> Result<Value, Text> {
    let digest = digest_hex(canonical);
    let now = OffsetDateTime::now_utc();
    let signed_at = now.format(&time::format_description::well_known::Rfc3339).unwrap_or_default();
    if let Some(sig) = card.signature {
        if sig.card_no != user.user.card_no {
            // GEN-1, in the manual's words.
            return Err(Text::new(
                format!("当前卡号 {} 与用户注册信息卡号 {} 不一致，无法进行申报", sig.card_no, user.user.card_no),
                format!(
                    "The card in the reader ({}) is not the card registered for this user ({}): declaring is not possible",
                    sig.card_no, user.user.card_no
                ),
            ));
        }
        let (Some(pem), Some(cert_no)) = (&user.user.cert_pem, &user.user.cert_no) else {
            return Err(Text::new(
                "该用户未登记卡介质证书，请联系管理员",
                "No card certificate is registered for this user: contact the administrator",
            ));
        };
        let cert = certflow_sign::Certificate::parse(pem).map_err(|_| {
            Text::new(
                "登记的卡介质证书无法读取，请联系管理员",
                "The registered card certificate cannot be read: contact the administrator",
            )
        })?;
        certflow_sign::verify_registered(&cert, cert_no, now, canonical, sig.signature.as_bytes()).map_err(|e| {
            Text::new(
                format!("电子签名验证失败（{e}），请重新签名后申报"),
                format!("The card signature does not verify ({e}): sign again and declare"),
            )
        })?;
        return Ok(json!({
            "method": "card", "card_no": sig.card_no, "cert_no": cert_no, "digest": digest,
            "signature": sig.signature, "signed_at": signed_at,
        }));
    }
    match card.pin {
        Some(pin) if user.user.pin_hash.is_some() => {
            check_card_pin(&user.user, pin).map_err(|e| e.message)?;
            Ok(
                json!({"method": "dev-soft-card", "card_no": user.user.card_no, "digest": digest, "signed_at": signed_at}),
            )
        }
        _ => Err(Text::new("请插入卡介质并完成签名后再申报", "Insert your card and sign before declaring")),
    }
}

fn number_request(bundle: &CompiledBundle, ty: &DocType) -> Option<NumberRequest> {
    let scheme = ty.numbering.as_deref().and_then(|n| bundle.numbering.get(n))?;
    Some(NumberRequest {
        scheme_id: scheme.id.clone(),
        prefix: scheme.prefix.clone(),
        year: OffsetDateTime::now_utc().year(),
        serial_width: usize::from(scheme.serial_width),
    })
}

fn customs_message(document: &Document, doctype: &str, action: &str) -> OutboxRecord {
    OutboxRecord {
        topic: CUSTOMS_TOPIC.into(),
        payload: json!({"document_id": document.id, "doctype": doctype, "action": action}),
    }
}

/// Runs `action` on a stored document: plans it (state, guard), carries
/// out its steps and commits the result — with the documents made inside it
/// when the action moves them too — in one transaction.
pub async fn perform(
    state: &AppState,
    user: &CurrentUser,
    document: Document,
    action: &str,
    data: Value,
    card: CardInput<'_>,
) -> Result<Outcome, AppError> {
    let bundle = state.bundle_for(&document).await;
    let Some(ty) = bundle.doctype(&document.doctype) else {
        return Err(AppError::internal(format!("document {} has unknown type {}", document.id, document.doctype)));
    };
    if let Some(a) = bundle.workflow_for(&ty.id).and_then(|w| w.actions.get(action)).filter(|a| a.via_parent) {
        let message = a.alone.clone().unwrap_or_else(|| {
            Text::new("该操作需在所属的上级单证中进行", "This is done from the document this one belongs to")
        });
        return Ok(Outcome::Refused(message));
    }
    let ctx = context_of(state, &document).await?;
    let plan = match bundle.plan_action_with(&ty.id, &document.status, action, &data, &ctx.guard) {
        Ok(plan) => plan,
        Err(ActionRefused::UnknownAction { .. }) => {
            return Err(AppError::bad_request(
                "unknown_action",
                format!("未知操作“{action}”"),
                format!("Unknown action \"{action}\""),
            ));
        }
        Err(refused) => return Ok(Outcome::Refused(refused.message())),
    };
    let mut data = data;
    let mut meta = document.meta.clone();
    let mut assign_number = None;
    let mut message = None;
    let mut children: Vec<PreparedChild> = Vec::new();
    for step in &plan.steps {
        match step {
            Step::ValidateDraft | Step::Validate => {
                let mode = if *step == Step::Validate { Mode::Submit } else { Mode::Draft };
                let report = bundle.validate_with(ty, &data, mode, &ctx.lookups);
                if !report.is_valid() {
                    return Ok(Outcome::Invalid { errors: report.errors, data: report.document });
                }
                data = report.document;
            }
            Step::Children => match prepare_children(ty, &ctx, &plan.action) {
                Ok(Ok(prepared)) => children = prepared,
                Ok(Err(errors)) => return Ok(Outcome::Invalid { errors, data }),
                Err(refused) => return Ok(Outcome::Refused(refused)),
            },
            Step::Sign => {
                let canonical = signing_bytes(&bundle, ty, &document, &data, &children);
                match sign_step(user, &canonical, &card) {
                    Ok(record) => meta["signature"] = record,
                    Err(message) => return Ok(Outcome::Refused(message)),
                }
            }
            Step::Number => assign_number = number_request(&bundle, ty),
            Step::SendToCustoms => message = Some(customs_message(&document, &ty.id, &plan.action)),
            Step::Delete => {
                state.store.delete_document_with_children(&document.enterprise, document.id).await?;
                state
                    .store
                    .append_audit(certflow_store::NewAuditEntry {
                        actor: user.user.card_no.clone(),
                        enterprise: document.enterprise.clone(),
                        document_id: Some(document.id),
                        action: plan.action.clone(),
                        detail: json!({"deleted": {"doctype": ty.id, "unified_no": document.unified_no, "children": ctx.children.len()}}),
                    })
                    .await?;
                return Ok(Outcome::Deleted { message: plan.done });
            }
            Step::Store | Step::Render | Step::Attach => {}
        }
    }
    let signature = meta.get("signature").cloned();
    let mut transitions = Vec::with_capacity(children.len() + 1);
    for child in &children {
        let child_ty = child.bundle.doctype(&child.document.doctype).ok_or_else(AppError::not_found)?;
        let mut child_meta = child.document.meta.clone();
        let mut child_number = None;
        let mut child_message = None;
        for step in &child.plan.steps {
            match step {
                Step::Sign => {
                    if let Some(record) = &signature {
                        let mut record = record.clone();
                        record["with"] = json!(document.id);
                        child_meta["signature"] = record;
                    }
                }
                Step::Number => child_number = number_request(&child.bundle, child_ty),
                Step::SendToCustoms => {
                    child_message = Some(customs_message(&child.document, &child_ty.id, &child.plan.action))
                }
                _ => {}
            }
        }
        transitions.push(Transition {
            enterprise: child.document.enterprise.clone(),
            document_id: child.document.id,
            expected_version: child.document.version,
            update: DocumentUpdate {
                status: child.plan.to.clone(),
                data: child.data.clone(),
                meta: child_meta,
                ..DocumentUpdate::from(&child.document)
            },
            assign_unified_no: child_number,
            audit: AuditRecord {
                actor: user.user.card_no.clone(),
                action: child.plan.action.clone(),
                detail: json!({"from": child.plan.from, "to": child.plan.to, "bundle": child.bundle.hash, "with": document.id}),
            },
            durable: child_message.is_some(),
            message: child_message,
        });
    }
    let durable = message.is_some();
    transitions.push(Transition {
        enterprise: document.enterprise.clone(),
        document_id: document.id,
        expected_version: document.version,
        update: DocumentUpdate { status: plan.to.clone(), data, meta, ..DocumentUpdate::from(&document) },
        assign_unified_no: assign_number,
        audit: AuditRecord {
            actor: user.user.card_no.clone(),
            action: plan.action.clone(),
            detail: json!({"from": plan.from, "to": plan.to, "bundle": bundle.hash, "signature": signature}),
        },
        message,
        durable,
    });
    let mut done = state.store.transition_all(transitions).await?;
    let done = done.pop().ok_or_else(|| AppError::internal("transition returned nothing"))?;
    Ok(Outcome::Done { document: Box::new(done.document), message: plan.done })
}
