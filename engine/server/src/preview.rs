//! `GET /documents/{id}/preview.pdf`: a document laid out as its status
//! calls for (check sheet, draft, issued certificate) or as asked
//! (`?variant=`), for the document's own enterprise only.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::http::header::{CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use certflow_core::Variant;
use certflow_render::{DocumentFacts, LayoutOptions, job_for};
use certflow_store::Document;

use crate::auth::PageUser;
use crate::error::AppError;
use crate::state::AppState;
use crate::web;

pub async fn preview(
    State(state): State<AppState>,
    PageUser(user): PageUser,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, AppError> {
    let doc = crate::pages::load_document(&state, &user, &id).await?;
    let bundle = state.bundle_for(&doc).await;
    let ty = bundle.doctype(&doc.doctype).ok_or_else(AppError::not_found)?;
    let Some(layout) = &ty.layout else {
        return Err(AppError::new(
            StatusCode::NOT_FOUND,
            "no_layout",
            "该单证没有打印格式，无法预览",
            "This document has no print layout to preview",
        ));
    };
    let variant = match query.get("variant") {
        None => layout.variant_for(&doc.status),
        Some(v) => Variant::parse(v).filter(|v| layout.variants.contains(v)).ok_or_else(|| {
            let offered: Vec<&str> = layout.variants.iter().map(|v| v.as_str()).collect();
            AppError::bad_request(
                "variant",
                format!("不支持的预览格式“{v}”，可选：{}", offered.join("、")),
                format!("No preview \"{v}\": choose one of {}", offered.join(", ")),
            )
        })?,
    };
    let margin = |k: &str| query.get(k).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0).clamp(-50.0, 50.0);
    let mut options = LayoutOptions::new(variant, today(), verification_url(&state, &doc));
    options.margin_left_mm = margin("left");
    options.margin_top_mm = margin("top");
    let facts = DocumentFacts {
        status: Some(doc.status.clone()),
        business_no: doc.business_no.clone(),
        customs_no: doc.customs_no.clone(),
        unified_no: doc.unified_no.clone(),
    };
    let job = job_for(&bundle, ty, &doc.data, &facts, &options).ok_or_else(AppError::not_found)?;
    let set = state.layouts.get(&bundle);
    let service = state.config.render.clone();
    let rendered = tokio::task::spawn_blocking(move || service.render(&set, &job)).await.map_err(AppError::internal)?;
    match rendered {
        Ok(rendered) => {
            let name = format!("{}-{}.pdf", doc.unified_no.as_deref().unwrap_or(&doc.doctype), variant);
            Ok((
                [
                    (CONTENT_TYPE, "application/pdf".to_owned()),
                    (CACHE_CONTROL, "no-store".to_owned()),
                    (CONTENT_DISPOSITION, web::inline_disposition(&name)),
                ],
                rendered.pdf,
            )
                .into_response())
        }
        Err(e) => {
            tracing::error!(document = %doc.id, doctype = %doc.doctype, error = %e, "preview failed");
            Err(AppError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "render",
                "证书版式生成失败，请稍后重试或联系管理员",
                "The certificate layout could not be produced: try again later or contact the administrator",
            ))
        }
    }
}

/// The issue date printed: today in China.
fn today() -> time::Date {
    (time::OffsetDateTime::now_utc() + time::Duration::hours(8)).date()
}

/// Where the certificate's QR code points.
fn verification_url(state: &AppState, doc: &Document) -> String {
    let number = doc.unified_no.clone().unwrap_or_else(|| doc.id.to_string());
    format!("{}/verify/{number}", state.config.public_url.trim_end_matches('/'))
}
