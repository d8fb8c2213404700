//! Excel for table lines: the template of a type's table, and an import
//! that replaces the lines of the form being edited (not yet stored: the
//! user looks at the result and saves it, as in the original system).

use axum::extract::{Multipart, Path, State};
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use certflow_core::{Mode, Text};
use certflow_files::excel::{self, ImportError, ImportLimits};
use certflow_store::Uuid;
use serde_json::Value;

use crate::auth::PageUser;
use crate::error::AppError;
use crate::pages::render_form;
use crate::state::AppState;
use crate::web::Lang;

const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/// `GET /doctypes/{id}/tables/{table}/template.xlsx`.
pub async fn template(
    State(state): State<AppState>,
    PageUser(_): PageUser,
    Path((doctype, table)): Path<(String, String)>,
) -> Result<Response, AppError> {
    let bundle = state.bundle.current();
    let ty = bundle.doctype(&doctype).ok_or_else(AppError::not_found)?;
    let bytes = excel::template(ty, &table).map_err(|_| AppError::not_found())?;
    let label = ty.tables.get(&table).map(|t| t.label.zh.clone()).unwrap_or_default();
    let name = format!("{}-{label}.xlsx", ty.category.as_ref().map(|c| c.zh.as_str()).unwrap_or(&ty.id));
    Ok((
        StatusCode::OK,
        [
            (CONTENT_TYPE, XLSX.to_owned()),
            (CONTENT_DISPOSITION, crate::web::attachment_disposition(&name, "template.xlsx")),
        ],
        bytes,
    )
        .into_response())
}

/// `POST /documents/{id}/tables/{table}/import`.
pub async fn import(
    State(state): State<AppState>,
    PageUser(user): PageUser,
    Path((id, table)): Path<(String, String)>,
    headers: HeaderMap,
    uri: Uri,
    mut multipart: Multipart,
) -> Result<Response, AppError> {
    let lang = Lang::from_request(&headers, uri.query()).0;
    let id = Uuid::parse_str(&id).map_err(|_| AppError::not_found())?;
    let enterprise = user.enterprise_code().ok_or_else(AppError::not_found)?;
    let doc = state.store.get_document(enterprise, id).await?;
    let (mut csrf, mut file) = (String::new(), None);
    while let Some(field) = multipart.next_field().await.map_err(|e| {
        AppError::bad_request("upload", format!("上传未完成：{e}"), format!("The upload did not complete: {e}"))
    })? {
        match field.name().unwrap_or_default() {
            "_csrf" => csrf = field.text().await.unwrap_or_default(),
            "file" => {
                let name = field.file_name().unwrap_or_default().to_owned();
                let bytes = field.bytes().await.map_err(|e| {
                    AppError::bad_request(
                        "upload",
                        format!("上传未完成：{e}"),
                        format!("The upload did not complete: {e}"),
                    )
                })?;
                file = Some((name, bytes));
            }
            _ => {}
        }
    }
    user.check_csrf(Some(&csrf))?;
    let bundle = state.bundle_for(&doc).await;
    let ty = bundle.doctype(&doc.doctype).ok_or_else(AppError::not_found)?;
    let Some((name, bytes)) = file.filter(|(n, b)| !n.is_empty() || !b.is_empty()) else {
        let text = Text::new("请选择对应的 excel 模板文件！", "Choose the Excel template file of this form");
        return crate::pages::form_with_message(&state, &user, lang, &doc, StatusCode::UNPROCESSABLE_ENTITY, text)
            .await;
    };
    match excel::import(ty, &table, &name, &bytes, &ImportLimits::default()) {
        Ok(rows) => {
            let mut data = doc.data.clone();
            data[&table] = Value::Array(rows.into_iter().map(Value::Object).collect());
            let report = bundle.validate_as(ty, &data, Mode::Draft);
            let flash = crate::web::flash(true, Text::new("文件导入成功", "File imported: check the lines and save"));
            Ok(render_form(&state, &user, lang, &doc, &report.document, &report.errors, false, Some(flash))
                .await?
                .into_response())
        }
        Err(ImportError::Invalid(errors)) => {
            // The messages name the Excel row and column; the form's lines
            // are still the stored ones, so they are listed above the form.
            let errors: Vec<_> =
                errors.into_iter().map(|e| certflow_core::FieldError { path: String::new(), ..e }).collect();
            let page = render_form(
                &state,
                &user,
                lang,
                &doc,
                &doc.data,
                &errors,
                false,
                Some(crate::web::flash(
                    false,
                    Text::new(
                        format!("导入文件有 {} 处错误，请修改后重新导入", errors.len()),
                        format!("The file has {} problems: correct them and import again", errors.len()),
                    ),
                )),
            )
            .await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
        Err(other) => {
            let text = Text::new(other.message_zh(), other.message_en());
            crate::pages::form_with_message(&state, &user, lang, &doc, StatusCode::UNPROCESSABLE_ENTITY, text).await
        }
    }
}
