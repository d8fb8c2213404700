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

/// What the card step needs from the request.
#[derive(Debug, Default)]
pub struct CardInput<'a> {
    pub pin: Option<&'a str>,
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
                if let Err(e) = check_card_pin(&user.user, card.pin.unwrap_or_default()) {
                    return Ok(Outcome::Refused(e.message));
                }
                let digest =
                    certflow_core::canonical::digest(&ty.id, &bundle.hash, document.unified_no.as_deref(), &data);
                meta["signature"] = json!({
                    "method": "dev-soft-card",
                    "card_no": user.user.card_no,
                    "digest": digest,
                    "signed_at": OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
                });
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
                detail: json!({"from": plan.from, "to": plan.to, "bundle": bundle.hash}),
            },
            message,
            durable,
        })
        .await?;
    Ok(Outcome::Done { document: Box::new(done.document), message: plan.done })
}
