//! certflow-server: the web side of certflow — pages generated from the
//! bundle, the JSON API over the same handlers, uploads, sessions, and the
//! customs gateway with its simulator.
//!
//! [`app`] builds the whole router from an [`AppState`]; `main` lives in
//! tools/certflow. The server is the only evaluator of schemas and rules:
//! pages send what the user typed and show what the server found.
//!
//! It must not know any particular certificate: forms, lists, statuses and
//! messages come from the bundle. Every route that reads or changes a
//! document is scoped to the signed-in user's enterprise.

mod actions;
mod admin;
mod api;
mod auth;
mod children;
pub mod customs;
pub mod demo;
mod error;
mod formdata;
mod lookups;
mod notify;
mod pages;
mod preview;
pub mod reload;
mod sheets;
mod state;
mod templates;
mod uploads;
mod web;
pub mod webhook;

pub use actions::children_of;
pub use error::{ApiError, AppError};
pub use state::{AppState, BundleHandle, CustomsConfig, DEFAULT_SIGNER_URL, ServerConfig};
pub use web::random_token;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::routing::{get, post};

/// Uploads are at most a few files of 4 MB; bodies beyond this are refused
/// before they are read.
const BODY_LIMIT: usize = 48 * 1024 * 1024;

/// The whole application.
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/api/v1/openapi.json", get(api::openapi))
        .route("/api/v1/doctypes", get(api::doctypes))
        .route("/api/v1/bundle", get(api::bundle))
        .route("/api/v1/validate/{doctype}", post(api::validate))
        .route("/api/v1/login", post(api::login))
        .route("/api/v1/login/challenge", post(api::login_challenge))
        .route("/api/v1/login/card", post(api::login_card))
        .route("/api/v1/session", get(api::session))
        .route("/api/v1/lists/{id}", get(api::list))
        .route("/api/v1/documents/{id}", get(api::document))
        .route("/api/v1/documents/{id}/actions/{action}", post(api::action))
        .route("/api/v1/documents/{id}/to-sign", post(api::to_sign))
        .route("/api/v1/documents/{id}/lookups/{lookup}", post(lookups::lookup_api))
        .route("/api/v1/documents/{id}/attachments", post(api::upload))
        .route("/api/v1/documents/{id}/receipts", get(pages::receipts))
        .route("/api/v1/gateway/receipts", post(customs::gateway_receipt))
        .route("/api/v1/admin/reload", post(admin::reload_api))
        .route("/admin", get(admin::page))
        .route("/admin/reload", post(admin::reload_form))
        .route("/", get(pages::home))
        .route("/login", get(auth::login_page).post(auth::login))
        .route("/logout", post(auth::logout))
        .route("/lists/{id}", get(pages::list))
        .route("/lists/{id}/new", get(lookups::new_page).post(lookups::create))
        .route("/documents/{id}/lookups/{lookup}", post(lookups::lookup_form))
        .route("/documents/{id}/children/{slot}", post(children::add))
        .route("/documents/{id}/children/{slot}/similar", get(children::similar))
        .route("/documents/{id}/tables/{table}/pick", post(children::pick_rows))
        .route("/documents/{id}/copy", post(children::copy))
        .route("/documents/{id}/templates/apply", post(templates::apply))
        .route("/documents/{id}/templates/save", post(templates::save))
        .route("/templates", get(templates::page))
        .route("/templates/{id}/delete", post(templates::delete))
        .route("/subscriptions", get(notify::page).post(notify::add))
        .route("/subscriptions/{id}/delete", post(notify::remove))
        .route("/documents/{id}", get(pages::view_document).post(pages::post_document))
        .route("/documents/{id}/edit", get(pages::edit_document))
        .route("/documents/{id}/to-sign", post(pages::to_sign_form))
        .route("/documents/{id}/preview.pdf", get(preview::preview))
        .route("/documents/{id}/attachments", get(uploads::show).post(uploads::upload))
        .route("/attachments/{id}", get(uploads::download))
        .route("/doctypes/{doctype}/tables/{table}/template.xlsx", get(sheets::template))
        .route("/documents/{id}/tables/{table}/import", post(sheets::import))
        .route("/officer", get(customs::officer_page))
        .route("/officer/notices", post(customs::issue_notice))
        .route("/officer/documents/{id}/receipts", post(customs::officer_receipt))
        .route(
            "/static/app.js",
            get(|| async { static_file("text/javascript; charset=utf-8", include_str!("../static/app.js")) }),
        )
        .route(
            "/static/app.css",
            get(|| async { static_file("text/css; charset=utf-8", include_str!("../static/app.css")) }),
        )
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(state)
}

fn static_file(content_type: &'static str, body: &'static str) -> impl axum::response::IntoResponse {
    ([(CONTENT_TYPE, content_type), (CACHE_CONTROL, "no-cache")], body)
}

/// Starts the background work of a server instance: status notifications,
/// and the customs simulator when configured.
pub fn spawn_background(state: &AppState) {
    let keeper = state.clone();
    tokio::spawn(async move {
        if let Err(e) = keeper.remember_active().await {
            tracing::warn!("cannot keep the active bundle version: {e}");
        }
    });
    tokio::spawn(notify::run_notifier(state.clone()));
    if state.config.customs.simulate {
        tokio::spawn(customs::run_simulator(state.clone()));
    }
}
