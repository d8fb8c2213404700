//! Initial-value templates (初始值模板): named sets of a type's template
//! fields (the bundle's `value_templates`), shared with the enterprise or
//! kept by their creator; saved from a form, applied to a form, listed and
//! deleted on their own page.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use certflow_core::Text;
use certflow_store::{NewValueTemplate, StoreError, TemplateScope, Uuid};
use serde_json::{Map, Value, json};

use crate::auth::PageUser;
use crate::error::AppError;
use crate::pages::{self, day, enterprise_of, merge, page_context};
use crate::state::AppState;
use crate::web::{self, Lang};

/// `POST /documents/{id}/templates/apply` (the form, `template`): the form
/// again with the template's fields filled in; nothing is stored until the
/// user saves.
pub async fn apply(
    State(state): State<AppState>,
    PageUser(user): PageUser,
    Path(id): Path<String>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Result<Response, AppError> {
    let (form, doc, lang) = pages::posted_on_document(&state, &user, &id, &headers, &uri, &body).await?;
    let enterprise = enterprise_of(&user)?.to_owned();
    let bundle = state.bundle_for(&doc).await;
    let ty = bundle.doctype(&doc.doctype).ok_or_else(AppError::not_found)?;
    let mut data = pages::posted_data(&bundle, &doc, &form)?;
    let chosen = form.get("template").and_then(|t| Uuid::parse_str(t).ok());
    let Some(template_id) = chosen else {
        let message = Text::new("请选择初始值模板", "Choose an initial-value template");
        return pages::form_with_data(
            &state,
            &user,
            lang,
            &doc,
            &data,
            StatusCode::UNPROCESSABLE_ENTITY,
            false,
            message,
        )
        .await;
    };
    let template = state.store.get_value_template(&enterprise, &user.user.card_no, template_id).await?;
    if template.doctype != doc.doctype {
        return Err(AppError::not_found());
    }
    for field in &ty.value_templates {
        match template.data.get(field) {
            Some(v) => data[field] = v.clone(),
            None => {
                if let Some(obj) = data.as_object_mut() {
                    obj.remove(field);
                }
            }
        }
    }
    let message = Text::new(
        format!("已使用初始值模板“{}”，请核对后暂存", template.name),
        format!("Filled in from the template \"{}\": check and save", template.name),
    );
    pages::form_with_data(&state, &user, lang, &doc, &data, StatusCode::OK, true, message).await
}

/// `POST /documents/{id}/templates/save` (the form, `template_name`,
/// `template_scope`): keeps the form's template fields under that name.
pub async fn save(
    State(state): State<AppState>,
    PageUser(user): PageUser,
    Path(id): Path<String>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Result<Response, AppError> {
    let (form, doc, lang) = pages::posted_on_document(&state, &user, &id, &headers, &uri, &body).await?;
    let enterprise = enterprise_of(&user)?.to_owned();
    let bundle = state.bundle_for(&doc).await;
    let ty = bundle.doctype(&doc.doctype).ok_or_else(AppError::not_found)?;
    let data = pages::posted_data(&bundle, &doc, &form)?;
    let name = form.text("template_name");
    let refuse = |message: Text| {
        pages::form_with_data(&state, &user, lang, &doc, &data, StatusCode::UNPROCESSABLE_ENTITY, false, message)
    };
    if ty.value_templates.is_empty() {
        return Err(AppError::not_found());
    }
    if name.is_empty() || name.chars().count() > 50 {
        return refuse(Text::new(
            "请填写模板名称（最多 50 个字符）",
            "Give the template a name (at most 50 characters)",
        ))
        .await;
    }
    let scope =
        TemplateScope::parse(form.get("template_scope").unwrap_or("enterprise")).unwrap_or(TemplateScope::Enterprise);
    let mut kept = Map::new();
    for field in &ty.value_templates {
        if let Some(v) = data.get(field).filter(|v| !v.is_null()) {
            kept.insert(field.clone(), v.clone());
        }
    }
    let saved = state
        .store
        .save_value_template(NewValueTemplate {
            enterprise,
            doctype: doc.doctype.clone(),
            name: name.clone(),
            scope,
            created_by: user.user.card_no.clone(),
            data: Value::Object(kept),
        })
        .await;
    let message = match saved {
        Ok(_) => Text::new(format!("初始值模板“{name}”已保存"), format!("Template \"{name}\" saved")),
        Err(StoreError::Duplicate { .. }) => {
            return refuse(Text::new(
                format!("模板名称“{name}”已被他人使用，请换一个名称"),
                format!("Someone else's template is called \"{name}\": choose another name"),
            ))
            .await;
        }
        Err(e) => return Err(e.into()),
    };
    pages::form_with_data(&state, &user, lang, &doc, &data, StatusCode::OK, true, message).await
}

/// The templates offered on a document's form: `[{id, name, scope}]`.
pub async fn offered(state: &AppState, user_card: &str, enterprise: &str, doctype: &str) -> Result<Value, AppError> {
    let list = state.store.list_value_templates(enterprise, user_card, Some(doctype)).await?;
    Ok(Value::Array(list.iter().map(|t| json!({"id": t.id, "name": t.name, "scope": t.scope})).collect()))
}

/// `GET /templates`: the initial-value templates the user sees.
pub async fn page(
    State(state): State<AppState>,
    PageUser(user): PageUser,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response, AppError> {
    let enterprise = enterprise_of(&user)?.to_owned();
    let lang = Lang::from_request(&headers, uri.query()).0;
    let bundle = state.bundle.current();
    let list = state.store.list_value_templates(&enterprise, &user.user.card_no, None).await?;
    let rows: Vec<Value> = list
        .iter()
        .map(|t| {
            let ty = bundle.doctype(&t.doctype);
            let fields: Vec<Value> = t
                .data
                .as_object()
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| {
                            let label = ty.and_then(|ty| ty.fields.get(k)).map(|f| f.label.clone());
                            json!({"label": label, "value": v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string())})
                        })
                        .collect()
                })
                .unwrap_or_default();
            json!({
                "id": t.id, "name": t.name, "doctype": ty.map(|t| t.name.clone()), "scope": t.scope,
                "mine": t.created_by == user.user.card_no, "created_by": t.created_by,
                "created": day(t.created_at), "updated": day(t.updated_at), "fields": fields,
            })
        })
        .collect();
    let title = Text::new("初始值模板", "Initial-value templates");
    let ctx = merge(page_context(&user, lang, &bundle, &title, "templates"), json!({"templates": rows}));
    Ok(web::render(&state.templates, "templates.html", ctx)?.into_response())
}

/// `POST /templates/{id}/delete`.
pub async fn delete(
    State(state): State<AppState>,
    PageUser(user): PageUser,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, AppError> {
    user.posted_form(&body)?;
    let enterprise = enterprise_of(&user)?.to_owned();
    let id = Uuid::parse_str(&id).map_err(|_| AppError::not_found())?;
    state.store.delete_value_template(&enterprise, &user.user.card_no, id).await?;
    Ok(web::redirect("/templates"))
}
