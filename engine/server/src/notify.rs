//! Status notifications (订阅推送, OUT-13): an enterprise subscribes a
//! webhook URL or an e-mail address; every receipt that moves one of its
//! documents queues a notification per subscription in the outbox, and a
//! background worker delivers them — webhooks by HTTP(S) POST of JSON, retried
//! with backoff until the receiver answers 2xx; e-mails as .eml files in
//! the mail spool for the mail system to send.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use certflow_core::Text;
use certflow_store::{Document, OutboxMessage, Uuid};
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::auth::PageUser;
use crate::error::AppError;
use crate::pages::{CHINA, day, enterprise_of, merge, page_context, status_label};
use crate::state::AppState;
use crate::web::{self, Lang};

/// The outbox topic of status notifications.
pub const NOTIFY_TOPIC: &str = "notify";

/// Queues a notification of the document's new status for each of its
/// enterprise's subscriptions.
pub async fn queue(state: &AppState, doc: &Document, code: &str, message: &str) -> Result<usize, AppError> {
    let subscriptions = state.store.list_subscriptions(&doc.enterprise).await?;
    if subscriptions.is_empty() {
        return Ok(0);
    }
    // Named as the document's own definitions name its status.
    let bundle = state.bundle_for(doc).await;
    let label = status_label(&bundle, &doc.doctype, &doc.status);
    let name = bundle.doctype(&doc.doctype).map(|t| t.name.clone());
    let at = OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap_or_default();
    for s in &subscriptions {
        let event = json!({
            "document_id": doc.id, "doctype": doc.doctype, "doctype_name": name,
            "unified_no": doc.unified_no, "customs_no": doc.customs_no, "business_no": doc.business_no,
            "status": doc.status, "status_zh": label.zh, "status_en": label.en_or_zh(),
            "receipt": code, "message": message, "at": at,
        });
        let payload = json!({"subscription": s.id, "kind": s.kind, "target": s.target, "event": event});
        state.store.enqueue(NOTIFY_TOPIC, &payload).await?;
    }
    Ok(subscriptions.len())
}

/// Delivers queued notifications until the process ends.
pub async fn run_notifier(state: AppState) {
    loop {
        match state.store.claim(NOTIFY_TOPIC, 16, Duration::from_secs(60)).await {
            Ok(messages) if !messages.is_empty() => {
                for message in messages {
                    let outcome = match deliver(&state, &message).await {
                        Ok(()) => state.store.ack(&message).await,
                        Err(e) => {
                            tracing::info!(
                                "notification {} not delivered (attempt {}): {e}",
                                message.id,
                                message.attempts
                            );
                            let retry = OffsetDateTime::now_utc() + certflow_store::retry_delay(message.attempts);
                            state.store.fail(&message, &e, retry).await
                        }
                    };
                    if let Err(e) = outcome {
                        tracing::warn!("could not settle notification {}: {e}", message.id);
                    }
                }
            }
            Ok(_) => tokio::time::sleep(Duration::from_millis(250)).await,
            Err(e) => {
                tracing::warn!("notifier cannot read the outbox: {e}");
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
        }
    }
}

async fn deliver(state: &AppState, message: &OutboxMessage) -> Result<(), String> {
    let p = &message.payload;
    let target = p.get("target").and_then(Value::as_str).unwrap_or_default();
    let event = p.get("event").cloned().unwrap_or(Value::Null);
    match p.get("kind").and_then(Value::as_str) {
        Some("webhook") => crate::webhook::post_json(target, &event, &state.config.webhooks).await,
        Some("email") => spool_mail(state, message.id, target, &event),
        other => Err(format!("unknown notification kind {other:?}")),
    }
}

/// Writes the notification as an e-mail file into the mail spool.
fn spool_mail(state: &AppState, id: i64, to: &str, event: &Value) -> Result<(), String> {
    let dir = &state.config.mail_spool;
    std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let text = |k: &str| event.get(k).and_then(Value::as_str).unwrap_or("-").to_owned();
    let name = event.pointer("/doctype_name/zh").and_then(Value::as_str).unwrap_or("-");
    let subject = format!("[certflow] {name} {} {}", text("unified_no"), text("status_zh"));
    let date = OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc2822).unwrap_or_default();
    let body = format!(
        "单证 {name}（统一编号 {}，业务单号 {}）状态变为：{}\r\n回执：{} {}\r\n\r\nThe document's status is now: {}\r\n",
        text("unified_no"),
        text("business_no"),
        text("status_zh"),
        text("receipt"),
        text("message"),
        text("status_en"),
    );
    let mail = format!(
        "To: {to}\r\nFrom: certflow <noreply@certflow.invalid>\r\nSubject: =?UTF-8?B?{}?=\r\nDate: {date}\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{body}",
        base64_of(subject.as_bytes())
    );
    let path = dir.join(format!("notification-{id}.eml"));
    std::fs::write(&path, mail).map_err(|e| format!("writing {}: {e}", path.display()))
}

fn base64_of(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// `GET /subscriptions`: the enterprise's subscriptions and the form to add one.
pub async fn page(
    State(state): State<AppState>,
    PageUser(user): PageUser,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response, AppError> {
    render_page(&state, &user, Lang::from_request(&headers, uri.query()).0, None, StatusCode::OK).await
}

async fn render_page(
    state: &AppState,
    user: &crate::auth::CurrentUser,
    lang: Lang,
    flash: Option<Value>,
    status: StatusCode,
) -> Result<Response, AppError> {
    let enterprise = enterprise_of(user)?.to_owned();
    let bundle = state.bundle.current();
    let list = state.store.list_subscriptions(&enterprise).await?;
    let rows: Vec<Value> = list
        .iter()
        .map(|s| {
            let at = s.created_at.to_offset(CHINA);
            json!({"id": s.id, "kind": s.kind, "target": s.target, "created_by": s.created_by, "created": day(at)})
        })
        .collect();
    let title = Text::new("订阅推送", "Status notifications");
    let ctx = merge(
        page_context(user, lang, &bundle, &title, "subscriptions"),
        json!({"subscriptions": rows, "flash": flash}),
    );
    Ok((status, web::render(&state.templates, "subscriptions.html", ctx)?).into_response())
}

/// `POST /subscriptions` (`kind` webhook|email, `target`).
pub async fn add(
    State(state): State<AppState>,
    PageUser(user): PageUser,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Result<Response, AppError> {
    let form = user.posted_form(&body)?;
    let lang = Lang::from_request(&headers, uri.query()).0;
    let enterprise = enterprise_of(&user)?.to_owned();
    let kind = form.text("kind");
    let target = form.text("target");
    let refused = match kind.as_str() {
        "webhook" if !crate::webhook::valid_url(&target) => Some(Text::new(
            "推送地址应为 http:// 或 https:// 开头的完整网址",
            "The webhook must be a full http:// or https:// address",
        )),
        "email" if !valid_email(&target) => Some(Text::new("请填写有效的电子邮箱地址", "Enter a valid e-mail address")),
        "webhook" | "email" => None,
        _ => Some(Text::new("请选择推送方式", "Choose how to be notified")),
    };
    if let Some(message) = refused {
        return render_page(&state, &user, lang, Some(web::flash(false, message)), StatusCode::UNPROCESSABLE_ENTITY)
            .await;
    }
    state.store.subscribe(&enterprise, &kind, &target, &user.user.card_no).await?;
    let message = Text::new("订阅成功，单证状态变化时将推送通知", "Subscribed: status changes will be pushed");
    render_page(&state, &user, lang, Some(web::flash(true, message)), StatusCode::OK).await
}

fn valid_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else { return false };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !s.contains(char::is_whitespace)
        && s.len() <= 254
}

/// `POST /subscriptions/{id}/delete`.
pub async fn remove(
    State(state): State<AppState>,
    PageUser(user): PageUser,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, AppError> {
    user.posted_form(&body)?;
    let enterprise = enterprise_of(&user)?.to_owned();
    let id = Uuid::parse_str(&id).map_err(|_| AppError::not_found())?;
    state.store.unsubscribe(&enterprise, id).await?;
    Ok(web::redirect("/subscriptions"))
}
