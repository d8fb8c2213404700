//! Errors that render themselves: as a page for people, as JSON for the API.
//! Every message is bilingual and says what to do.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use certflow_core::Text;
use serde_json::json;

#[derive(Debug, Clone, thiserror::Error)]
#[error("{status}: {}", message.zh)]
pub struct AppError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: Text,
}

impl AppError {
    pub fn new(status: StatusCode, code: &'static str, zh: impl Into<String>, en: impl Into<String>) -> Self {
        Self { status, code, message: Text::new(zh, en) }
    }

    /// Also what another enterprise's document looks like: absent.
    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "未找到该数据", "Not found")
    }

    pub fn bad_request(code: &'static str, zh: impl Into<String>, en: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, zh, en)
    }

    pub fn internal(what: impl std::fmt::Display) -> Self {
        tracing::error!("internal error: {what}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "系统内部错误，请稍后重试；如仍有问题请联系管理员",
            "Internal error: try again later, and tell the administrator if it persists",
        )
    }
}

impl From<certflow_store::StoreError> for AppError {
    fn from(e: certflow_store::StoreError) -> Self {
        use certflow_store::StoreError;
        match e {
            StoreError::NotFound => Self::not_found(),
            StoreError::Conflict { .. } => Self::new(
                StatusCode::CONFLICT,
                "conflict",
                "数据已被他人修改，请刷新后重新操作",
                "Someone changed this in the meantime: reload and try again",
            ),
            other => Self::internal(other),
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let page = format!(
            "<!doctype html><html lang=\"zh\"><meta charset=\"utf-8\"><title>{status}</title>\
             <link rel=\"stylesheet\" href=\"/static/app.css\"><main class=\"error-page\"><h1>{status}</h1>\
             <p class=\"zh\">{zh}</p><p class=\"en\">{en}</p><p><a href=\"/\">返回首页 / Home</a></p></main></html>",
            status = self.status.as_u16(),
            zh = escape(&self.message.zh),
            en = escape(&self.message.en),
        );
        (self.status, Html(page)).into_response()
    }
}

/// The same error as JSON: `{error: {code, message_zh, message_en}}`.
#[derive(Debug, Clone, thiserror::Error)]
#[error(transparent)]
pub struct ApiError(#[from] pub AppError);

impl From<certflow_store::StoreError> for ApiError {
    fn from(e: certflow_store::StoreError) -> Self {
        Self(e.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let e = self.0;
        let body = json!({"error": {"code": e.code, "message_zh": e.message.zh, "message_en": e.message.en}});
        (e.status, Json(body)).into_response()
    }
}

pub(crate) fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}
