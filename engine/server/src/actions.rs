//! Running a workflow action on a stored document: the interpreter plans
//! it, the built-in steps are carried out here, and the store commits the
//! result in one transaction (with the audit row and any customs message).

use certflow_core::workflow::Step;
use certflow_core::{ActionRefused, FieldError, Mode, Text};
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

/// The exact text a signature for `action` on this data must cover: the
/// canonical form of the document as it will be stored. Validation runs
/// first, so only a document that can be declared is offered for signing.
pub fn to_sign(
    state: &AppState,
    document: &Document,
    data: &Value,
) -> Result<Result<String, Vec<FieldError>>, AppError> {
    let bundle = state.bundle.current();
    let ty = bundle.doctype(&document.doctype).ok_or_else(AppError::not_found)?;
    let report = bundle.validate_as(ty, data, Mode::Submit);
    if !report.is_valid() {
        return Ok(Err(report.errors));
    }
    let bytes = certflow_core::canonical::canonical_bytes(
        &ty.id,
        &bundle.hash,
        document.unified_no.as_deref(),
        &report.document,
    );
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

pub async fn perform(
    state: &AppState,
    user: &CurrentUser,
    document: Document,
    action: &str,
    data: Value,
    card: CardInput<'_>,
) -> Result<Outcome, AppError> {
    let bundle = state.bundle.current();
    let Some(ty) = bundle.doctype(&document.doctype) else {
        return Err(AppError::internal(format!("document {} has unknown type {}", document.id, document.doctype)));
    };
    let plan = match bundle.plan_action(&ty.id, &document.status, action, &data) {
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
    for step in &plan.steps {
        match step {
            Step::ValidateDraft | Step::Validate => {
                let mode = if *step == Step::Validate { Mode::Submit } else { Mode::Draft };
                let report = bundle.validate_as(ty, &data, mode);
                if !report.is_valid() {
                    return Ok(Outcome::Invalid { errors: report.errors, data: report.document });
                }
                data = report.document;
            }
            Step::Sign => {
                let canonical = certflow_core::canonical::canonical_bytes(
                    &ty.id,
                    &bundle.hash,
                    document.unified_no.as_deref(),
                    &data,
                );
                match sign_step(user, &canonical, &card) {
                    Ok(record) => meta["signature"] = record,
                    Err(message) => return Ok(Outcome::Refused(message)),
                }
            }
            Step::Number => {
                if let Some(scheme) = ty.numbering.as_deref().and_then(|n| bundle.numbering.get(n)) {
                    assign_number = Some(NumberRequest {
                        scheme_id: scheme.id.clone(),
                        prefix: scheme.prefix.clone(),
                        year: OffsetDateTime::now_utc().year(),
                        serial_width: usize::from(scheme.serial_width),
                    });
                }
            }
            Step::SendToCustoms => {
                message = Some(OutboxRecord {
                    topic: CUSTOMS_TOPIC.into(),
                    payload: json!({"document_id": document.id, "doctype": ty.id, "action": plan.action}),
                });
            }
            Step::Store | Step::Render | Step::Attach => {}
        }
    }
    let enterprise = document.enterprise.clone();
    let signature = meta.get("signature").cloned();
    let update = DocumentUpdate { status: plan.to.clone(), data, meta, ..DocumentUpdate::from(&document) };
    let durable = message.is_some();
    let done = state
        .store
        .transition(Transition {
            enterprise,
            document_id: document.id,
            expected_version: document.version,
            update,
            assign_unified_no: assign_number,
            audit: AuditRecord {
                actor: user.user.card_no.clone(),
                action: plan.action.clone(),
                detail: json!({"from": plan.from, "to": plan.to, "bundle": bundle.hash, "signature": signature}),
            },
            message,
            durable,
        })
        .await?;
    Ok(Outcome::Done { document: Box::new(done.document), message: plan.done })
}
