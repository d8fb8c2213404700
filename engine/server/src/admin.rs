//! The administrator's side: the active bundle version, the last refused
//! reload with every problem's file:line:col, recent reloads, and a reload
//! on demand — from the admin page, the API (admin session with its CSRF
//! header), or `certflow reload` with the server's control token.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use certflow_core::Text;
use serde_json::{Value, json};
use std::collections::HashMap;

use crate::auth::{CurrentUser, MaybeUser, PageUser};
use crate::error::{ApiError, AppError};
use crate::pages::{merge, page_context};
use crate::reload::{ReloadOutcome, diagnostic_json, refusal_json, reload};
use crate::state::AppState;
use crate::web::{self, Lang};

fn admin_only(user: &CurrentUser) -> Result<(), AppError> {
    if user.is_admin() {
        Ok(())
    } else {
        Err(AppError::new(StatusCode::FORBIDDEN, "admin_only", "仅系统管理员可以使用", "Administrators only"))
    }
}

/// The outcome of a reload as the API answers it.
pub fn outcome_json(outcome: &ReloadOutcome) -> Value {
    match outcome {
        ReloadOutcome::Activated { version } => json!({"outcome": "activated", "version": version}),
        ReloadOutcome::Unchanged { version } => json!({"outcome": "unchanged", "version": version}),
        ReloadOutcome::Refused { diagnostics } => json!({
            "outcome": "refused",
            "diagnostics": diagnostics.iter().map(diagnostic_json).collect::<Vec<_>>(),
        }),
    }
}

/// `POST /api/v1/admin/reload`: reloads the bundle now. An admin session
/// with `X-CSRF-Token`, or `Authorization: Bearer <control token>`.
pub async fn reload_api(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let bearer = headers.get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    let actor = match (bearer, &state.config.control_token, user) {
        (Some(sent), Some(token), _) if web::same_secret(sent, token) => "control-token".to_owned(),
        (_, _, Some(user)) => {
            admin_only(&user)?;
            crate::api::check_csrf_header(&user, &headers)?;
            user.user.card_no.clone()
        }
        _ => {
            return Err(AppError::new(StatusCode::UNAUTHORIZED, "login_required", "请先登录", "Log in first").into());
        }
    };
    let outcome = reload(&state, &actor).await;
    let status = if matches!(outcome, ReloadOutcome::Refused { .. }) { StatusCode::CONFLICT } else { StatusCode::OK };
    Ok((status, Json(outcome_json(&outcome))).into_response())
}

/// `GET /admin`.
pub async fn page(
    State(state): State<AppState>,
    PageUser(user): PageUser,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response, AppError> {
    admin_only(&user)?;
    let lang = Lang::from_request(&headers, uri.query()).0;
    let bundle = state.bundle.current();
    let loaded_at = state.bundle.loaded_at().to_offset(crate::pages::CHINA);
    let flash = query.get("done").map(|d| match d.as_str() {
        "activated" => web::flash(true, Text::new("新的定义已生效", "The new definitions are active")),
        "unchanged" => web::flash(true, Text::new("定义没有变化", "Nothing changed")),
        _ => web::flash(
            false,
            Text::new(
                "定义有错误，未生效，原定义继续使用",
                "The definitions have errors: the last good ones keep serving",
            ),
        ),
    });
    let mut log = state.reloader.log();
    log.reverse();
    let ctx = merge(
        page_context(&user, lang, &bundle, &Text::new("定义管理", "Definitions"), "admin"),
        json!({
            "version": bundle.hash, "short": bundle.short_hash(),
            "loaded_at": loaded_at.format(time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]")).unwrap_or_default(),
            "doctypes": bundle.doctypes.len(), "workflows": bundle.workflows.len(), "params": bundle.params.len(),
            "root": state.reloader.root().map(|p| p.display().to_string()),
            "last_error": refusal_json(&state.reloader.last_error()),
            "log": log,
            "versions": state.store.list_bundle_versions(10).await?.iter().map(|v| json!({
                "hash": v.hash, "short": &v.hash[..v.hash.len().min(12)], "files": v.files,
                "at": v.activated_at.to_offset(crate::pages::CHINA).format(time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]")).unwrap_or_default(),
                "active": v.hash == bundle.hash,
            })).collect::<Vec<_>>(),
            "flash": flash,
        }),
    );
    Ok(web::render(&state.templates, "admin.html", ctx)?.into_response())
}

/// `POST /admin/reload` (the admin page's button).
pub async fn reload_form(
    State(state): State<AppState>,
    PageUser(user): PageUser,
    body: Bytes,
) -> Result<Response, AppError> {
    admin_only(&user)?;
    user.posted_form(&body)?;
    let outcome = reload(&state, &user.user.card_no).await;
    let done = match outcome {
        ReloadOutcome::Activated { .. } => "activated",
        ReloadOutcome::Unchanged { .. } => "unchanged",
        ReloadOutcome::Refused { .. } => "refused",
    };
    Ok(web::redirect(&format!("/admin?done={done}")))
}
