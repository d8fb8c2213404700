//! Attachments: the upload page of a document's slots, uploads checked by
//! content against the slot's limits, downloads for the owner only — and
//! the Excel goods template and import.

use axum::extract::{Multipart, Path, State};
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use certflow_core::Text;
use certflow_core::workflow::Step;
use certflow_files::pdf::{PdfLimits, check_pdf};
use certflow_store::{NewAttachment, Uuid};
use serde_json::{Value, json};

use crate::actions::{self, CardInput, Outcome};
use crate::auth::PageUser;
use crate::error::AppError;
use crate::pages::{day, page_context, status_label};
use crate::state::AppState;
use crate::web::{self, Lang};

fn human_size(bytes: u64) -> String {
    if bytes >= 1024 * 1024 {
        format!("{:.0} MB", bytes as f64 / 1048576.0)
    } else {
        format!("{} KB", bytes.div_ceil(1024))
    }
}

/// A JPEG or PNG by its first bytes: its media type and file extension.
fn image_type(bytes: &[u8]) -> Option<(&'static str, &'static str)> {
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some(("image/jpeg", "jpg"))
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some(("image/png", "png"))
    } else {
        None
    }
}

fn not_possible_now() -> Text {
    Text::new("当前状态不可进行该操作", "Not possible in the current status")
}

/// The action that takes uploads from this state, if any; else the
/// refusal the workflow words for it.
fn upload_action(state: &AppState, doctype: &str, status: &str) -> Result<(String, bool), Text> {
    let bundle = state.bundle.current();
    let Some(wf) = bundle.workflow_for(doctype) else { return Err(not_possible_now()) };
    if let Some(a) = wf.actions_from(status).find(|a| a.steps.contains(&Step::Attach)) {
        return Ok((a.id.clone(), a.steps.contains(&Step::Sign)));
    }
    let any = wf.actions.values().find(|a| a.steps.contains(&Step::Attach));
    Err(any.and_then(|a| a.refused.clone()).unwrap_or_else(not_possible_now))
}

async fn attachments_page(
    state: &AppState,
    user: &crate::auth::CurrentUser,
    lang: Lang,
    id: Uuid,
    flash: Option<Value>,
) -> Result<Response, AppError> {
    let enterprise = user.enterprise_code().ok_or_else(AppError::not_found)?;
    let doc = state.store.get_document(enterprise, id).await?;
    let bundle = state.bundle_for(&doc).await;
    let ty = bundle.doctype(&doc.doctype).ok_or_else(AppError::not_found)?;
    let files = state.store.list_attachments(enterprise, doc.id).await?;
    let slots: Vec<Value> = ty
        .attachments
        .iter()
        .map(|(sid, slot)| {
            let listed: Vec<Value> = files
                .iter()
                .filter(|f| &f.slot == sid)
                .map(|f| json!({"id": f.id, "file_name": f.file_name, "size": human_size(f.size as u64), "created_at": day(f.created_at)}))
                .collect();
            let pictures = !slot.accept.iter().any(|a| a == "pdf");
            let accept = slot.accept.iter().map(|a| format!(".{a}")).collect::<Vec<_>>().join(",");
            json!({"id": sid, "label": slot.label, "files": listed, "max_file": human_size(slot.max_file_bytes),
                   "pictures": pictures, "accept": accept, "kinds": slot.accept.join("/"), "max_files": slot.max_files,
                   "max_page": slot.max_page_bytes.map(human_size).unwrap_or_default()})
        })
        .collect();
    let sign = upload_action(state, &doc.doctype, &doc.status).map(|(_, s)| s).unwrap_or(false);
    let list = bundle.list_views.values().find(|v| v.doctypes.contains(&doc.doctype));
    let mut ctx = page_context(user, lang, &bundle, &ty.name, list.map(|v| v.id.as_str()).unwrap_or(""));
    if let Some(obj) = ctx.as_object_mut() {
        obj.insert(
            "doc".into(),
            json!({"id": doc.id, "title": ty.name, "business_no": doc.business_no,
            "status_label": status_label(&bundle, &doc.doctype, &doc.status)}),
        );
        obj.insert("slots".into(), Value::Array(slots));
        obj.insert("sign".into(), json!(sign));
        // Back to the document while it can be edited, else to its list.
        let back = if crate::pages::editable(&bundle, &doc) {
            format!("/documents/{}/edit", doc.id)
        } else {
            list.map(|v| format!("/lists/{}", v.id)).unwrap_or_else(|| "/".into())
        };
        obj.insert("back".into(), json!(back));
        obj.insert("flash".into(), flash.unwrap_or(Value::Null));
    }
    Ok(web::render(&state.templates, "attachments.html", ctx)?.into_response())
}

pub async fn show(
    State(state): State<AppState>,
    PageUser(user): PageUser,
    Path(id): Path<String>,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response, AppError> {
    let id = Uuid::parse_str(&id).map_err(|_| AppError::not_found())?;
    attachments_page(&state, &user, Lang::from_request(&headers, uri.query()).0, id, None).await
}

/// What an upload form sends.
pub(crate) struct UploadForm {
    pub csrf: String,
    pub slot: String,
    pub pin: String,
    pub card_no: String,
    pub card_signature: String,
    pub files: Vec<(String, Vec<u8>)>,
}

impl UploadForm {
    fn card_input(&self) -> CardInput<'_> {
        CardInput::from_fields(Some(&self.pin), Some(&self.card_no), Some(&self.card_signature))
    }
}

pub(crate) async fn read_upload(mut multipart: Multipart) -> Result<UploadForm, AppError> {
    let mut form = UploadForm {
        csrf: String::new(),
        slot: String::new(),
        pin: String::new(),
        card_no: String::new(),
        card_signature: String::new(),
        files: Vec::new(),
    };
    let read_error = |e: axum::extract::multipart::MultipartError| {
        AppError::bad_request("upload", format!("上传未完成：{e}"), format!("The upload did not complete: {e}"))
    };
    while let Some(field) = multipart.next_field().await.map_err(read_error)? {
        match field.name().unwrap_or_default() {
            "_csrf" => form.csrf = field.text().await.map_err(read_error)?,
            "slot" => form.slot = field.text().await.map_err(read_error)?,
            "card_pin" => form.pin = field.text().await.map_err(read_error)?,
            "card_no" => form.card_no = field.text().await.map_err(read_error)?,
            "card_signature" => form.card_signature = field.text().await.map_err(read_error)?,
            "files" => {
                let name = field.file_name().unwrap_or_default().to_owned();
                let bytes = field.bytes().await.map_err(read_error)?;
                if !name.is_empty() || !bytes.is_empty() {
                    form.files.push((name, bytes.to_vec()));
                }
            }
            _ => {}
        }
    }
    Ok(form)
}

/// The result of an upload for the user: done, or refused with why.
pub(crate) enum UploadOutcome {
    Done(Text),
    Refused(Text),
}

/// Several PDFs into one slot, all or none: the workflow must take uploads
/// in the document's state, every file must pass the slot's PDF checks, and
/// the upload action (signing included) must succeed, else nothing stays.
pub(crate) async fn accept_upload(
    state: &AppState,
    user: &crate::auth::CurrentUser,
    id: Uuid,
    mut form: UploadForm,
) -> Result<UploadOutcome, AppError> {
    let enterprise = user.enterprise_code().ok_or_else(AppError::not_found)?.to_owned();
    let doc = state.store.get_document(&enterprise, id).await?;
    let bundle = state.bundle_for(&doc).await;
    let ty = bundle.doctype(&doc.doctype).ok_or_else(AppError::not_found)?;
    let (action, _) = match upload_action(state, &doc.doctype, &doc.status) {
        Ok(found) => found,
        Err(refused) => return Ok(UploadOutcome::Refused(refused)),
    };
    let Some(slot_def) = ty.attachments.get(&form.slot) else {
        return Err(AppError::bad_request("slot", "附件类别不存在", "Unknown attachment slot"));
    };
    if form.files.is_empty() {
        return Ok(UploadOutcome::Refused(Text::new("请选择要上传的文件", "Choose the files to upload")));
    }
    let existing = state.store.list_attachments(&enterprise, id).await?.iter().filter(|a| a.slot == form.slot).count();
    if existing + form.files.len() > slot_def.max_files as usize {
        let n = slot_def.max_files;
        return Ok(UploadOutcome::Refused(Text::new(format!("最多上传 {n} 个文件"), format!("At most {n} files"))));
    }
    let limits = PdfLimits::from_slot(slot_def);
    let mut media_types = Vec::new();
    for (name, bytes) in &form.files {
        // A slot for pictures (标记唛码) takes JPEG and PNG by their content;
        // everything else is a PDF checked page by page.
        if let Some(media) = image_type(bytes).filter(|(_, ext)| slot_def.accept.iter().any(|a| a == ext)) {
            if bytes.len() as u64 > slot_def.max_file_bytes {
                let max = human_size(slot_def.max_file_bytes);
                return Ok(UploadOutcome::Refused(Text::new(
                    format!("{name}：图片大小不能超过 {max}"),
                    format!("{name}: a picture may be at most {max}"),
                )));
            }
            media_types.push(media.0);
            continue;
        }
        if !slot_def.accept.iter().any(|a| a == "pdf") {
            let kinds = slot_def.accept.join("/");
            return Ok(UploadOutcome::Refused(Text::new(
                format!("{name}：只可上传 {kinds} 格式的文件"),
                format!("{name}: only {kinds} files are accepted here"),
            )));
        }
        if let Err(rejection) = check_pdf(name, bytes, &limits) {
            let text =
                Text::new(format!("{name}：{}", rejection.message_zh()), format!("{name}: {}", rejection.message_en()));
            return Ok(UploadOutcome::Refused(text));
        }
        media_types.push("application/pdf");
    }
    let mut stored = Vec::new();
    for ((name, bytes), media_type) in std::mem::take(&mut form.files).into_iter().zip(media_types) {
        let meta = state
            .store
            .put_attachment(NewAttachment {
                enterprise: enterprise.clone(),
                document_id: id,
                slot: form.slot.clone(),
                file_name: name,
                media_type: media_type.into(),
                bytes,
            })
            .await?;
        stored.push(meta.id);
    }
    let outcome = actions::perform(state, user, doc.clone(), &action, doc.data.clone(), form.card_input()).await;
    let refused = match outcome {
        Ok(Outcome::Done { message, .. }) => {
            return Ok(UploadOutcome::Done(message.unwrap_or_else(|| Text::new("上传成功！", "Uploaded"))));
        }
        Ok(Outcome::Refused(text)) => Ok(text),
        Ok(Outcome::Deleted { .. }) => Ok(not_possible_now()),
        Ok(Outcome::Invalid { errors, .. }) => Ok(Text::new(
            errors.iter().map(|e| e.message_zh.clone()).collect::<Vec<_>>().join("；"),
            errors.iter().map(|e| e.message_en.clone()).collect::<Vec<_>>().join("; "),
        )),
        Err(e) => Err(e),
    };
    // Nothing half-done: the files go when the action did not happen.
    for a in stored {
        let _ = state.store.delete_attachment(&enterprise, a).await;
    }
    refused.map(UploadOutcome::Refused)
}

/// `POST /documents/{id}/attachments`: the upload page's form.
pub async fn upload(
    State(state): State<AppState>,
    PageUser(user): PageUser,
    Path(id): Path<String>,
    headers: HeaderMap,
    uri: Uri,
    multipart: Multipart,
) -> Result<Response, AppError> {
    let lang = Lang::from_request(&headers, uri.query()).0;
    let id = Uuid::parse_str(&id).map_err(|_| AppError::not_found())?;
    let form = read_upload(multipart).await?;
    user.check_csrf(Some(&form.csrf))?;
    let flash = match accept_upload(&state, &user, id, form).await? {
        UploadOutcome::Done(text) => web::flash(true, text),
        UploadOutcome::Refused(text) => web::flash(false, text),
    };
    attachments_page(&state, &user, lang, id, Some(flash)).await
}

/// `GET /attachments/{id}`: the file, for its enterprise only.
pub async fn download(
    State(state): State<AppState>,
    PageUser(user): PageUser,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let id = Uuid::parse_str(&id).map_err(|_| AppError::not_found())?;
    let enterprise = user.enterprise_code().ok_or_else(AppError::not_found)?;
    let file = state.store.get_attachment(enterprise, id).await?;
    Ok((
        StatusCode::OK,
        [
            (CONTENT_TYPE, file.meta.media_type.clone()),
            (CONTENT_DISPOSITION, web::attachment_disposition(&file.meta.file_name, "attachment.pdf")),
        ],
        file.bytes,
    )
        .into_response())
}
