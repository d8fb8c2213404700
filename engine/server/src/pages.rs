//! The enterprise's pages: list views and document forms, generated from
//! the bundle.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use certflow_core::listview::ListView;
use certflow_core::raw::{CriterionKind, DateColumn};
use certflow_core::workflow::Step;
use certflow_core::{CompiledBundle, Text};
use certflow_store::{DateField, Document, DocumentQuery, Uuid};
use serde_json::{Value, json};
use std::collections::HashMap;
use time::{Date, OffsetDateTime, UtcOffset};

use crate::actions::{self, CardInput, Outcome};
use crate::auth::{ApiUser, CurrentUser, PageUser};
use crate::error::{ApiError, AppError};
use crate::formdata;
use crate::state::AppState;
use crate::web::{self, Lang};

/// Dates on pages are China Standard Time.
pub const CHINA: UtcOffset = match UtcOffset::from_hms(8, 0, 0) {
    Ok(offset) => offset,
    Err(_) => UtcOffset::UTC,
};

pub fn day(at: OffsetDateTime) -> String {
    let d = at.to_offset(CHINA).date();
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

fn parse_day(s: &str) -> Option<Date> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    Date::parse(s.trim(), &format).ok()
}

/// The common parts of every page's context.
pub fn page_context(user: &CurrentUser, lang: Lang, bundle: &CompiledBundle, title: &Text, active: &str) -> Value {
    let menu: Vec<Value> = if user.is_officer() {
        let mut menu = vec![
            json!({"href": "/officer", "label": {"zh": "海关业务", "en": "Customs console"}, "active": active == "officer"}),
        ];
        if user.is_admin() {
            menu.push(json!({"href": "/admin", "label": {"zh": "定义管理", "en": "Definitions"}, "active": active == "admin"}));
        }
        menu
    } else {
        let mut menu: Vec<Value> = bundle
            .list_views
            .values()
            .map(|v| json!({"href": format!("/lists/{}", v.id), "label": v.title, "active": active == v.id}))
            .collect();
        if bundle.doctypes.values().any(|t| !t.value_templates.is_empty()) {
            menu.push(json!({"href": "/templates", "label": {"zh": "初始值模板", "en": "Initial-value templates"}, "active": active == "templates"}));
        }
        menu.push(json!({"href": "/subscriptions", "label": {"zh": "订阅推送", "en": "Status notifications"}, "active": active == "subscriptions"}));
        menu
    };
    let enterprise_name =
        user.enterprise.as_ref().map(|e| e.name_zh.clone()).unwrap_or_else(|| "海关 / Customs".into());
    json!({
        "lang": lang.code(),
        "csrf": user.csrf,
        "title": if lang == Lang::En { title.en_or_zh() } else { &title.zh },
        "user": {"name": user.user.name, "enterprise_name": enterprise_name, "card_no": user.user.card_no},
        "menu": menu,
        // Accounts with a development soft card may sign by PIN when no
        // local signer answers.
        "dev_pin": user.user.pin_hash.is_some(),
    })
}

pub(crate) fn merge(mut base: Value, extra: Value) -> Value {
    if let (Some(b), Value::Object(e)) = (base.as_object_mut(), extra) {
        b.extend(e);
    }
    base
}

fn remember_lang(response: Response, headers: &HeaderMap, uri: &Uri, secure: bool) -> Response {
    match Lang::from_request(headers, uri.query()) {
        (lang, true) => web::with_cookie(response, web::set_cookie(web::LANG_COOKIE, lang.code(), 365 * 86400, secure)),
        _ => response,
    }
}

pub async fn home(State(state): State<AppState>, PageUser(user): PageUser) -> Response {
    if user.is_officer() {
        return web::redirect("/officer");
    }
    match state.bundle.current().list_views.keys().next() {
        Some(id) => web::redirect(&format!("/lists/{id}")),
        None => AppError::not_found().into_response(),
    }
}

pub(crate) fn enterprise_of(user: &CurrentUser) -> Result<&str, AppError> {
    user.enterprise_code().ok_or_else(|| {
        AppError::new(
            StatusCode::FORBIDDEN,
            "enterprise_only",
            "该功能仅供企业用户使用",
            "Only enterprise users can use this page",
        )
    })
}

/// A list view run for one enterprise: the rows of the requested page.
pub(crate) struct ListResult {
    pub rows: Vec<Value>,
    pub total: u64,
    pub page: u32,
    /// The criteria as applied (empty on a first visit).
    pub values: HashMap<String, String>,
    pub from: String,
    pub to: String,
    /// Why the query was refused (the 90-day rule), in which case no rows.
    pub error: Option<Text>,
}

/// Runs a list view: criteria, the date rule (identifiers need no dates),
/// paging. A query with none of the view's keys shows the defaults.
pub(crate) async fn run_list(
    state: &AppState,
    bundle: &CompiledBundle,
    enterprise: &str,
    view: &ListView,
    query: &HashMap<String, String>,
    lang: Lang,
) -> Result<ListResult, AppError> {
    // Arriving (from the menu, or back from an action) shows the defaults.
    let first_visit =
        query.keys().all(|k| matches!(k.as_str(), "lang" | "done" | "doc")) || query.contains_key("reset");
    let get = |k: &str| if first_visit { String::new() } else { query.get(k).cloned().unwrap_or_default() };

    let today = OffsetDateTime::now_utc().to_offset(CHINA).date();
    let (mut from, mut to) = (get("from"), get("to"));
    if first_visit && let Some(d) = &view.date {
        from = format_date(today - time::Duration::days(i64::from(d.default_days)));
        to = format_date(today);
    }
    let mut error: Option<Text> = None;
    let mut q = DocumentQuery::new(enterprise);
    q.doctypes = view.doctypes.clone();
    q.limit = view.page_size;
    let page: u32 = get("page").parse().unwrap_or(1).max(1);
    q.offset = (page - 1) * view.page_size;
    let mut identifier_given = false;
    for c in &view.criteria {
        let value = get(&c.id);
        if value.is_empty() {
            continue;
        }
        match c.kind {
            CriterionKind::BusinessNo => {
                q.business_no = Some(value.trim().to_owned());
                identifier_given = true;
            }
            CriterionKind::UnifiedNo => {
                q.unified_no = Some(value.trim().to_owned());
                identifier_given = true;
            }
            CriterionKind::Status => q.statuses = vec![value],
            CriterionKind::Choice => {
                if let Some(choice) = c.options.iter().find(|o| o.code == value) {
                    q.doctypes.retain(|d| choice.doctypes.contains(d));
                }
            }
        }
    }
    if let Some(d) = &view.date
        && !identifier_given
    {
        q.date_field = match d.field {
            DateColumn::CreatedAt => DateField::CreatedAt,
            DateColumn::UpdatedAt => DateField::UpdatedAt,
        };
        let (f, t) = (parse_day(&from), parse_day(&to));
        if (!from.is_empty() && f.is_none()) || (!to.is_empty() && t.is_none()) {
            error = Some(Text::new(
                format!("「{}」请按 YYYY-MM-DD 录入", d.label.zh),
                format!("{}: write dates as YYYY-MM-DD", d.label.en_or_zh()),
            ));
        } else if let (Some(f), Some(t)) = (f, t) {
            if (t - f).whole_days() > i64::from(d.max_days) {
                error = Some(d.too_long.clone());
            } else if t < f {
                error = Some(Text::new("结束日期不能早于开始日期", "The end date cannot be before the start date"));
            }
        }
        q.from = f.map(|f| f.midnight().assume_offset(CHINA));
        q.until = t.map(|t| (t + time::Duration::days(1)).midnight().assume_offset(CHINA));
    }
    let (rows, total) = if error.is_some() {
        (Vec::new(), 0)
    } else {
        let found = state.store.list_documents(&q).await?;
        let rows: Vec<Value> = found
            .documents
            .iter()
            .enumerate()
            .map(|(i, doc)| list_row(bundle, view, doc, q.offset as usize + i + 1, lang))
            .collect();
        (rows, found.total)
    };
    let values = view.criteria.iter().map(|c| (c.id.clone(), get(&c.id))).collect();
    Ok(ListResult { rows, total: total.max(0) as u64, page, values, from, to, error })
}

/// `GET /lists/{id}`: a list view with its criteria, paging and columns.
pub async fn list(
    State(state): State<AppState>,
    PageUser(user): PageUser,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response, AppError> {
    let enterprise = enterprise_of(&user)?.to_owned();
    let lang = Lang::from_request(&headers, uri.query()).0;
    let bundle = state.bundle.current();
    let view = bundle.list_view(&id).ok_or_else(AppError::not_found)?;
    let ListResult { rows, total, page, values, from, to, error } =
        run_list(&state, &bundle, &enterprise, view, &query, lang).await?;
    let get = |k: &str| values.get(k).cloned().unwrap_or_default();
    let pages: Vec<u64> = (1..=total.div_ceil(u64::from(view.page_size)).max(1)).collect();
    let criteria: Vec<Value> = view
        .criteria
        .iter()
        .map(|c| json!({"id": c.id, "label": c.label, "kind": c.kind, "all": c.all, "options": c.options, "value": get(&c.id)}))
        .collect();
    let mut page_query: Vec<String> =
        view.criteria.iter().map(|c| format!("{}={}", c.id, web::encode_component(&get(&c.id)))).collect();
    page_query.push(format!("from={from}"));
    page_query.push(format!("to={to}"));
    // After an action the page lands here with its message (`数据申报成功`).
    let flash = query.get("done").and_then(|action| {
        let done = view
            .doctypes
            .iter()
            .filter_map(|d| bundle.workflow_for(d))
            .find_map(|w| w.actions.get(action).and_then(|a| a.done.clone()))?;
        Some(web::flash(true, done))
    });
    // OUT-13: after something went to customs, offer to be told of its progress.
    let sent = query.get("done").is_some_and(|action| {
        view.doctypes
            .iter()
            .filter_map(|d| bundle.workflow_for(d))
            .any(|w| w.actions.get(action).is_some_and(|a| a.steps.contains(&Step::SendToCustoms)))
    });
    let offer_subscription = sent && state.store.list_subscriptions(&enterprise).await?.is_empty();
    let ctx = merge(
        page_context(&user, lang, &bundle, &view.title, &view.id),
        json!({
            "flash": flash,
            "offer_subscription": offer_subscription,
            "view": view,
            "criteria": criteria,
            "date": view.date.as_ref().map(|d| json!({"label": d.label, "from": from, "to": to})),
            "rows": rows,
            "total": total,
            "page": page,
            "pages": pages,
            "page_size": view.page_size,
            "page_query": format!("?{}", page_query.join("&")),
            "error": error,
        }),
    );
    let page = web::render(&state.templates, "list.html", ctx)?;
    Ok(remember_lang(page.into_response(), &headers, &uri, state.config.secure_cookies))
}

fn format_date(d: Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

fn pick(text: &Text, lang: Lang) -> String {
    if lang == Lang::En { text.en_or_zh().to_owned() } else { text.zh.clone() }
}

pub fn status_label(bundle: &CompiledBundle, doctype: &str, status: &str) -> Text {
    bundle
        .workflow_for(doctype)
        .and_then(|w| w.states.get(status))
        .map(|s| s.label.clone())
        .unwrap_or_else(|| Text::new(status, status))
}

fn list_row(bundle: &CompiledBundle, view: &ListView, doc: &Document, index: usize, lang: Lang) -> Value {
    let ty = bundle.doctype(&doc.doctype);
    let text = |v: Option<&Value>| match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    };
    let cells: Vec<Value> = view
        .columns
        .iter()
        .map(|col| {
            let shown = match col.value.split_once('.') {
                None => match col.value.as_str() {
                    "business_no" => doc.business_no.clone().unwrap_or_default(),
                    "unified_no" => doc.unified_no.clone().unwrap_or_default(),
                    "customs_no" => doc.customs_no.clone().unwrap_or_default(),
                    "status" => pick(&status_label(bundle, &doc.doctype, &doc.status), lang),
                    "created_at" => day(doc.created_at),
                    "updated_at" => day(doc.updated_at),
                    _ => String::new(),
                },
                Some(("doctype", "name")) => ty.map(|t| pick(&t.name, lang)).unwrap_or_default(),
                Some(("doctype", "category")) => ty
                    .and_then(|t| t.category.as_ref())
                    .map(|c| pick(&Text::new(&c.zh, &c.en), lang))
                    .unwrap_or_else(|| "-".into()),
                Some(("meta", key)) => text(doc.meta.get(key)),
                Some(("data", key)) => text(doc.data.get(key)),
                Some(("criterion", id)) => {
                    view.choice_label(id, &doc.doctype).map(|t| pick(t, lang)).unwrap_or_default()
                }
                _ => String::new(),
            };
            json!({"column": col.id, "text": if shown.is_empty() { "-".to_owned() } else { shown }, "link": col.link})
        })
        .collect();
    let enabled: Vec<&str> =
        view.row_actions.iter().filter(|a| a.enabled(&doc.doctype, &doc.status)).map(|a| a.id.as_str()).collect();
    json!({
        "id": doc.id,
        "index": index,
        "cells": cells,
        "enabled_actions": enabled,
        "view_refused": view.is_view_refused(&doc.status).map(|t| pick(t, lang)),
    })
}

/// A form posted on one of the user's documents: the form (its CSRF token
/// checked), the document, and the language of the page to answer with.
pub(crate) async fn posted_on_document(
    state: &AppState,
    user: &CurrentUser,
    id: &str,
    headers: &HeaderMap,
    uri: &Uri,
    body: &[u8],
) -> Result<(web::Form, Document, Lang), AppError> {
    let form = user.posted_form(body)?;
    let doc = load_document(state, user, id).await?;
    Ok((form, doc, Lang::from_request(headers, uri.query()).0))
}

pub(crate) async fn load_document(state: &AppState, user: &CurrentUser, id: &str) -> Result<Document, AppError> {
    let enterprise = enterprise_of(user)?;
    let id = Uuid::parse_str(id).map_err(|_| AppError::not_found())?;
    Ok(state.store.get_document(enterprise, id).await?)
}

/// Whether the document can be edited now: some action from its state
/// validates and stores what the user typed.
pub(crate) fn editable(bundle: &CompiledBundle, doc: &Document) -> bool {
    bundle.workflow_for(&doc.doctype).is_some_and(|w| {
        w.actions_from(&doc.status).any(|a| a.steps.iter().any(|s| matches!(s, Step::ValidateDraft | Step::Validate)))
    })
}

#[allow(clippy::too_many_arguments)]
pub(crate) async fn render_form(
    state: &AppState,
    user: &CurrentUser,
    lang: Lang,
    doc: &Document,
    data: &Value,
    errors: &[certflow_core::FieldError],
    read_only: bool,
    flash: Option<Value>,
) -> Result<axum::response::Html<String>, AppError> {
    let bundle = state.bundle_for(doc).await;
    let ty = bundle.doctype(&doc.doctype).ok_or_else(AppError::not_found)?;
    let workflow = bundle.workflow_for(&doc.doctype);
    let available = || workflow.into_iter().flat_map(|w| w.actions_from(&doc.status)).filter(|a| !a.via_parent);
    let action_json = |a: &certflow_core::workflow::Action| {
        json!({"id": a.id, "label": a.label, "sign": a.steps.contains(&Step::Sign), "confirm": a.confirm,
               "delete": a.steps.contains(&Step::Delete)})
    };
    // Actions that take the form as typed, offered on the editable form.
    let actions: Vec<Value> = available()
        .filter(|a| a.steps.iter().any(|s| matches!(s, Step::ValidateDraft | Step::Validate | Step::Delete)))
        .map(action_json)
        .collect();
    // Actions answering the document as it stands, with the few fields
    // they let the user fill in (a draft's confirmation).
    let answers: Vec<Value> = available()
        .filter(|a| {
            !a.steps.iter().any(|s| matches!(s, Step::ValidateDraft | Step::Validate | Step::Delete | Step::Attach))
        })
        .map(action_json)
        .collect();
    let answer_fields: Vec<String> = available()
        .filter(|a| !a.steps.iter().any(|s| matches!(s, Step::ValidateDraft | Step::Validate)))
        .flat_map(|a| a.fields.iter().cloned())
        .collect();
    let parent = match doc.parent_id {
        Some(p) => state.store.get_document(&doc.enterprise, p).await.ok(),
        None => None,
    };
    let list = bundle.list_views.values().find(|v| v.doctypes.contains(&doc.doctype));
    let back = match &parent {
        Some(p) => format!("/documents/{}/edit", p.id),
        None => list.map(|v| format!("/lists/{}", v.id)).unwrap_or_else(|| "/".into()),
    };
    let editable_now = !read_only && editable(&bundle, doc);
    let children = crate::children::panel(state, &bundle, doc, lang, editable_now).await?;
    let value_templates = if editable_now && !ty.value_templates.is_empty() {
        crate::templates::offered(state, &user.user.card_no, &doc.enterprise, &doc.doctype).await?
    } else {
        Value::Null
    };
    let lookups = actions::lookups_of(doc);
    // Record rows that can be picked into a table, with those already in it marked.
    let picks: Vec<Value> = ty
        .tables
        .values()
        .filter_map(|t| {
            let p = t.pick.as_ref()?;
            let rows = lookups.get(&p.lookup)?.get(&p.rows)?.as_array()?;
            let taken: Vec<String> = data
                .get(&t.id)
                .and_then(Value::as_array)
                .map(|ls| ls.iter().filter_map(|l| l.get(&p.into)).map(cell_text).collect())
                .unwrap_or_default();
            let source = ty.lookups.get(&p.lookup).and_then(|l| bundle.doctype(&l.source));
            let columns: Vec<Value> = source
                .and_then(|s| s.tables.get(&p.rows))
                .map(|st| st.fields.values().map(|f| json!({"id": f.id, "label": f.label})).collect())
                .unwrap_or_default();
            let rows: Vec<Value> = rows
                .iter()
                .map(|r| {
                    let key = r.get(&p.key).map(cell_text).unwrap_or_default();
                    let cells: Vec<String> = columns
                        .iter()
                        .map(|c| r.get(c["id"].as_str().unwrap_or_default()).map(cell_text).unwrap_or_default())
                        .collect();
                    json!({"key": key, "cells": cells, "taken": taken.contains(&key)})
                })
                .collect();
            Some(json!({
                "table": t.id, "label": t.label, "only_listed": p.only_listed, "columns": columns, "rows": rows,
                "source": source.map(|s| s.name.clone()),
            }))
        })
        .collect();
    let lookup_keys: Vec<Value> = ty
        .lookups
        .keys()
        .filter_map(|id| crate::lookups::record_lookup(&bundle, ty, id))
        .map(|(l, s)| json!({"id": l.id, "field": l.key, "source": s.name}))
        .collect();
    let ctx = merge(
        page_context(user, lang, &bundle, &ty.name, list.map(|v| v.id.as_str()).unwrap_or("")),
        json!({
            "doc": {
                "id": doc.id, "doctype": doc.doctype, "title": ty.name, "version": doc.version,
                "status_label": status_label(&bundle, &doc.doctype, &doc.status), "status": doc.status,
                "business_no": doc.business_no, "unified_no": doc.unified_no, "customs_no": doc.customs_no,
                "created": day(doc.created_at), "format_code": ty.format_code,
                "parent": parent.as_ref().map(|p| json!({"id": p.id, "unified_no": p.unified_no})),
                "copyable": doc.parent_id.is_none() && !ty.children.is_empty(),
            },
            "sections": formdata::sections_context(&bundle, ty, data, errors),
            "doc_errors": formdata::document_errors(ty, errors),
            "params": formdata::params_context(&bundle, ty),
            "actions": actions,
            "answers": answers,
            "answer_fields": answer_fields,
            "read_only": read_only,
            "preview": ty.layout.is_some(),
            "attachments": !ty.attachments.is_empty(),
            "children": children,
            "value_templates": value_templates,
            // OUT-7 英文转大写, when the type has fields typed in Latin letters.
            "uppercase_switch": !read_only
                && ty.fields.values().chain(ty.tables.values().flat_map(|t| t.fields.values())).any(|f| f.latin),
            "picks": picks,
            "lookup_keys": lookup_keys,
            "back": back,
            "flash": flash,
            "js_messages": {},
        }),
    );
    web::render(&state.templates, "form.html", ctx)
}

fn cell_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// The stored document's form with a message above it, answered with `status`.
pub(crate) async fn form_with_message(
    state: &AppState,
    user: &CurrentUser,
    lang: Lang,
    doc: &Document,
    status: StatusCode,
    message: Text,
) -> Result<Response, AppError> {
    form_with_data(state, user, lang, doc, &doc.data, status, false, message).await
}

/// The form showing `data` (what was posted, not stored) with a message
/// above it (`ok`: a success, else a refusal), answered with `status`.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn form_with_data(
    state: &AppState,
    user: &CurrentUser,
    lang: Lang,
    doc: &Document,
    data: &Value,
    status: StatusCode,
    ok: bool,
    message: Text,
) -> Result<Response, AppError> {
    let page = render_form(state, user, lang, doc, data, &[], false, Some(web::flash(ok, message))).await?;
    Ok((status, page).into_response())
}

/// `GET /documents/{id}`: read-only.
pub async fn view_document(
    State(state): State<AppState>,
    PageUser(user): PageUser,
    Path(id): Path<String>,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response, AppError> {
    let doc = load_document(&state, &user, &id).await?;
    let lang = Lang::from_request(&headers, uri.query()).0;
    let bundle = state.bundle_for(&doc).await;
    if let Some(message) = bundle
        .list_views
        .values()
        .filter(|v| v.doctypes.contains(&doc.doctype))
        .find_map(|v| v.is_view_refused(&doc.status))
    {
        return Err(AppError::new(StatusCode::CONFLICT, "view_refused", &message.zh, message.en_or_zh()));
    }
    let page = render_form(&state, &user, lang, &doc, &doc.data, &[], true, None).await?;
    Ok(page.into_response())
}

/// `GET /documents/{id}/edit`.
pub async fn edit_document(
    State(state): State<AppState>,
    PageUser(user): PageUser,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response, AppError> {
    let doc = load_document(&state, &user, &id).await?;
    let bundle = state.bundle_for(&doc).await;
    if !editable(&bundle, &doc) {
        return Ok(web::redirect(&format!("/documents/{}", doc.id)));
    }
    let lang = Lang::from_request(&headers, uri.query()).0;
    let flash = query.get("done").and_then(|done| done_message(&bundle, &doc, done)).map(|t| web::flash(true, t));
    let page = render_form(&state, &user, lang, &doc, &doc.data, &[], false, flash).await?;
    Ok(page.into_response())
}

/// What the form says after `done`: an action's own words, or those of a
/// look-up, a pick or a copy.
fn done_message(bundle: &CompiledBundle, doc: &Document, done: &str) -> Option<Text> {
    if let Some(id) = done.strip_prefix("lookup:") {
        let ty = bundle.doctype(&doc.doctype)?;
        let source = bundle.doctype(&ty.lookups.get(id)?.source)?;
        return Some(Text::new(
            format!("已根据{}返填，请核对后暂存", source.name.zh),
            format!("Filled in from the {}: check and save", source.name.en_or_zh()),
        ));
    }
    match done {
        "pick" => Some(Text::new("已添加所选数据，请核对后暂存", "The chosen lines were added: check them and save")),
        "copy" => Some(Text::new("复制成功，请核对后暂存", "Copied: check and save")),
        action => {
            let in_workflow = |w: &certflow_core::Workflow| w.actions.get(action).and_then(|a| a.done.clone());
            bundle.workflow_for(&doc.doctype).and_then(in_workflow).or_else(|| {
                // A child's action answered on its parent's page (删除).
                let ty = bundle.doctype(&doc.doctype)?;
                ty.children.values().find_map(|c| bundle.workflow(&c.workflow).and_then(in_workflow))
            })
        }
    }
}

/// The document a posted form stands for: what was typed, with back-filled,
/// read-only fields kept at their stored values whatever is posted.
pub(crate) fn posted_data(bundle: &CompiledBundle, doc: &Document, form: &web::Form) -> Result<Value, AppError> {
    let ty = bundle.doctype(&doc.doctype).ok_or_else(AppError::not_found)?;
    let posted = formdata::document_from_form(ty, &form.0);
    // An action that lets the user fill in only some fields (a draft's
    // confirmation) takes those and keeps the rest as stored.
    if let Some(action) = form.get("action").and_then(|a| bundle.workflow_for(&doc.doctype)?.actions.get(a))
        && !action.fields.is_empty()
        && !editable(bundle, doc)
    {
        let mut data = doc.data.clone();
        for f in &action.fields {
            match posted.get(f) {
                Some(v) => data[f] = v.clone(),
                None => {
                    if let Some(obj) = data.as_object_mut() {
                        obj.remove(f);
                    }
                }
            }
        }
        return Ok(data);
    }
    let mut data = posted;
    for f in ty.fields.values().filter(|f| !f.editable) {
        match doc.data.get(&f.id) {
            Some(v) => data[&f.id] = v.clone(),
            None => {
                if let Some(obj) = data.as_object_mut() {
                    obj.remove(&f.id);
                }
            }
        }
    }
    // A table whose every field is filled by the system is kept as stored;
    // in a table of picked lines, what the record fills and the user may
    // not change is taken from the record again.
    let lookups = actions::lookups_of(doc);
    for t in ty.tables.values() {
        if t.fields.values().all(|f| !f.editable) {
            data[&t.id] = doc.data.get(&t.id).cloned().unwrap_or_else(|| json!([]));
            continue;
        }
        let Some(p) = &t.pick else { continue };
        let Some(rows) = lookups.get(&p.lookup).and_then(|r| r.get(&p.rows)).and_then(Value::as_array) else {
            continue;
        };
        let Some(lines) = data.get_mut(&t.id).and_then(Value::as_array_mut) else { continue };
        for line in lines {
            let key = line.get(&p.into).map(cell_text).unwrap_or_default();
            let Some(row) = rows.iter().find(|r| r.get(&p.key).map(cell_text).as_deref() == Some(key.as_str())) else {
                continue;
            };
            for (target, from) in &p.fill {
                if t.fields.get(target).is_some_and(|f| !f.editable)
                    && let Some(v) = row.get(from)
                {
                    line[target] = v.clone();
                }
            }
        }
    }
    Ok(data)
}

/// `POST /documents/{id}/to-sign`: the text the local signer signs,
/// `{to_sign, digest}`, for the form as it would be posted — or, with
/// `data=stored` (uploads), for the document as stored; 422 with the
/// field errors when it cannot be declared as it stands.
pub async fn to_sign_form(
    State(state): State<AppState>,
    PageUser(user): PageUser,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let form = user.posted_form(&body)?;
    let doc = load_document(&state, &user, &id).await?;
    let bundle = state.bundle_for(&doc).await;
    let data = if form.get("data") == Some("stored") {
        doc.data.clone()
    } else if form.get("_version").and_then(|v| v.parse::<i64>().ok()) == Some(doc.version) {
        posted_data(&bundle, &doc, &form)?
    } else {
        return Err(ApiError::from(AppError::new(
            StatusCode::CONFLICT,
            "version",
            "数据已被他人修改，请刷新后重新操作",
            "Someone changed this document meanwhile: reload and try again",
        )));
    };
    Ok(match actions::to_sign(&state, &doc, &data, form.get("action")).await? {
        Ok(text) => {
            let digest = actions::digest_hex(text.as_bytes());
            axum::Json(json!({"to_sign": text, "digest": digest})).into_response()
        }
        Err(errors) => (StatusCode::UNPROCESSABLE_ENTITY, axum::Json(json!({"errors": errors}))).into_response(),
    })
}

/// `POST /documents/{id}`: a workflow action on the posted form.
pub async fn post_document(
    State(state): State<AppState>,
    PageUser(user): PageUser,
    Path(id): Path<String>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Result<Response, AppError> {
    let form = user.posted_form(&body)?;
    let field = |k: &str| form.get(k);
    let doc = load_document(&state, &user, &id).await?;
    let lang = Lang::from_request(&headers, uri.query()).0;
    if field("_version").and_then(|v| v.parse::<i64>().ok()) != Some(doc.version) {
        let message = Text::new(
            "数据已被他人修改，请刷新后重新操作",
            "Someone changed this document meanwhile: reload and try again",
        );
        return form_with_message(&state, &user, lang, &doc, StatusCode::CONFLICT, message).await;
    }
    let bundle = state.bundle_for(&doc).await;
    let data = posted_data(&bundle, &doc, &form)?;
    let action = field("action").unwrap_or("save").to_owned();
    let outcome = actions::perform(
        &state,
        &user,
        doc.clone(),
        &action,
        data.clone(),
        CardInput::from_fields(field("card_pin"), field("card_no"), field("card_signature")),
    )
    .await?;
    match outcome {
        Outcome::Done { document, .. } => {
            let target = if editable(&bundle, &document) {
                format!("/documents/{}/edit?done={action}", document.id)
            } else if let Some(parent) = document.parent_id {
                format!("/documents/{parent}/edit?done={action}")
            } else {
                let list = bundle.list_views.values().find(|v| v.doctypes.contains(&document.doctype));
                match list {
                    Some(v) => format!("/lists/{}?done={action}&doc={}", v.id, document.id),
                    None => format!("/documents/{}", document.id),
                }
            };
            Ok(web::redirect(&target))
        }
        Outcome::Invalid { errors, data } => {
            let page = render_form(
                &state,
                &user,
                lang,
                &doc,
                &data,
                &errors,
                false,
                Some(web::flash(
                    false,
                    Text::new(
                        format!("有 {} 处录入有误，请按红色提示修改", errors.len()),
                        format!("{} entries need correcting: see the red notes", errors.len()),
                    ),
                )),
            )
            .await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
        Outcome::Refused(message) => {
            form_with_data(&state, &user, lang, &doc, &data, StatusCode::CONFLICT, false, message).await
        }
        Outcome::Deleted { .. } => {
            let target = match doc.parent_id {
                Some(parent) => format!("/documents/{parent}/edit?done={action}"),
                None => match bundle.list_views.values().find(|v| v.doctypes.contains(&doc.doctype)) {
                    Some(v) => format!("/lists/{}?done={action}", v.id),
                    None => "/".to_owned(),
                },
            };
            Ok(web::redirect(&target))
        }
    }
}

/// `GET /api/v1/documents/{id}/receipts`: the receipts of a document.
pub async fn receipts(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    Path(id): Path<String>,
) -> Result<axum::Json<Value>, ApiError> {
    let doc = load_document(&state, &user, &id).await?;
    let bundle = state.bundle.current();
    let list = state.store.list_receipts(&doc.enterprise, doc.id).await?;
    let rows: Vec<Value> = list
        .iter()
        .map(|r| {
            let label = bundle
                .workflow_for(&doc.doctype)
                .and_then(|w| w.receipts.get(&r.code))
                .map(|rc| rc.label.clone())
                .unwrap_or_else(|| Text::new(&r.status, &r.status));
            json!({
                "seq": r.seq,
                "code": r.code,
                "status_zh": label.zh,
                "status_en": label.en_or_zh(),
                "detail": r.detail.get("message").and_then(Value::as_str).unwrap_or(""),
                "receipt_no": r.idempotency_key,
                "received_at": r.received_at.to_offset(CHINA).format(time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]")).unwrap_or_default(),
            })
        })
        .collect();
    Ok(axum::Json(Value::Array(rows)))
}
