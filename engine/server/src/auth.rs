//! Login, sessions and CSRF.
//!
//! Sessions live in the database (several server instances share them); the
//! browser holds a random token, the database only its hash. Every form
//! carries the session's CSRF token; the login form, before any session,
//! a double-submit token.
//!
//! Cards: the account is bound to a card number and its certificate. The
//! pages log in through the local signer (E-Port client or `certflow
//! agent`): the card signs a fresh single-use nonce, verified here against
//! the registered certificate. Development accounts (the demo's) also have
//! a stretched PIN hash, so they can log in and sign without a signer.

use axum::body::Bytes;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use certflow_store::{Enterprise, NewSession, Role, StoreError, User, session_token_hash};
use serde_json::json;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::error::{ApiError, AppError};
use crate::state::AppState;
use crate::web::{self, LOGIN_CSRF_COOKIE, Lang, SESSION_COOKIE};

/// The signed-in user, their enterprise and the session's CSRF token.
#[derive(Debug, Clone)]
pub struct CurrentUser {
    pub user: User,
    pub enterprise: Option<Enterprise>,
    pub csrf: String,
    pub token_hash: String,
}

impl CurrentUser {
    /// The enterprise every query of this user is scoped to; officers have none.
    pub fn enterprise_code(&self) -> Option<&str> {
        self.user.enterprise.as_deref()
    }

    /// Administers the server (reloads the bundle); not an enterprise user.
    pub fn is_admin(&self) -> bool {
        self.user.role == Role::Admin && self.user.enterprise.is_none()
    }

    pub fn is_officer(&self) -> bool {
        matches!(self.user.role, Role::Officer | Role::Admin) && self.user.enterprise.is_none()
    }

    /// Refuses a form whose `_csrf` does not match the session's.
    /// A posted page form, once its CSRF token (`_csrf`) is this session's.
    pub fn posted_form(&self, body: &[u8]) -> Result<web::Form, AppError> {
        let form = web::Form::parse(body);
        self.check_csrf(form.get("_csrf"))?;
        Ok(form)
    }

    pub fn check_csrf(&self, sent: Option<&str>) -> Result<(), AppError> {
        match sent {
            Some(token) if web::same_secret(token, &self.csrf) => Ok(()),
            _ => Err(csrf_refused()),
        }
    }
}

pub fn csrf_refused() -> AppError {
    AppError::new(
        StatusCode::FORBIDDEN,
        "csrf",
        "页面已过期或请求来源不明，请刷新页面后重新操作",
        "The page has expired or the request did not come from it: reload the page and try again",
    )
}

async fn current_user(parts: &Parts, state: &AppState) -> Result<Option<CurrentUser>, AppError> {
    let Some(token) = web::cookie(&parts.headers, SESSION_COOKIE) else { return Ok(None) };
    let token_hash = session_token_hash(&token);
    let now = OffsetDateTime::now_utc();
    match state.store.get_session(&token_hash, now).await {
        Ok((session, user)) => {
            // Sliding expiry, written at most once a minute: a write on every
            // request would serialise all requests on SQLite's single writer.
            if now - session.last_seen_at > time::Duration::minutes(1) {
                state.store.touch_session(&token_hash, now, now + state.config.session_idle).await?;
            }
            let enterprise = match &user.enterprise {
                Some(code) => Some(state.store.get_enterprise(code).await?),
                None => None,
            };
            Ok(Some(CurrentUser { user, enterprise, csrf: session.csrf_token, token_hash }))
        }
        Err(StoreError::NotFound) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// A page that needs a login: without one the browser goes to /login.
#[derive(Debug, Clone)]
pub struct PageUser(pub CurrentUser);

pub struct ToLogin;

impl IntoResponse for ToLogin {
    fn into_response(self) -> Response {
        web::redirect("/login")
    }
}

impl FromRequestParts<AppState> for PageUser {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        match current_user(parts, state).await {
            Ok(Some(user)) => Ok(PageUser(user)),
            Ok(None) => Err(ToLogin.into_response()),
            Err(e) => Err(e.into_response()),
        }
    }
}

/// The signed-in user, if any (for calls that also take other credentials).
#[derive(Debug, Clone)]
pub struct MaybeUser(pub Option<CurrentUser>);

impl FromRequestParts<AppState> for MaybeUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        Ok(MaybeUser(current_user(parts, state).await?))
    }
}

/// An API call that needs a login: 401 without one.
#[derive(Debug, Clone)]
pub struct ApiUser(pub CurrentUser);

impl FromRequestParts<AppState> for ApiUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        match current_user(parts, state).await? {
            Some(user) => Ok(ApiUser(user)),
            None => Err(AppError::new(
                StatusCode::UNAUTHORIZED,
                "login_required",
                "请先使用卡介质登录",
                "Log in with your card first",
            )
            .into()),
        }
    }
}

/// Stretched hash of a development soft card's PIN: `sha256i$<salt>$<hex>`.
pub fn hash_pin(pin: &str) -> String {
    let salt = &web::random_token()[..16];
    format!("sha256i${salt}${}", stretch(salt, pin))
}

fn stretch(salt: &str, pin: &str) -> String {
    let mut digest = Sha256::digest(format!("{salt}:{pin}").as_bytes());
    for _ in 0..20_000 {
        digest = Sha256::digest(digest);
    }
    hex::encode(digest)
}

pub fn pin_matches(stored: &str, pin: &str) -> bool {
    let mut parts = stored.splitn(3, '$');
    match (parts.next(), parts.next(), parts.next()) {
        (Some("sha256i"), Some(salt), Some(hash)) => web::same_secret(&stretch(salt, pin), hash),
        _ => false,
    }
}

/// Where a card's PIN is checked. The development soft card checks it here;
/// a real card checks it itself and the server verifies its signature.
pub fn check_card_pin(user: &User, pin: &str) -> Result<(), AppError> {
    match &user.pin_hash {
        Some(stored) if pin_matches(stored, pin) => Ok(()),
        _ => Err(AppError::new(
            StatusCode::UNAUTHORIZED,
            "card_pin",
            "卡介质密码错误，请重新输入",
            "The card PIN is wrong: enter it again",
        )),
    }
}

fn lang_of(headers: &HeaderMap, uri: &axum::http::Uri) -> Lang {
    Lang::from_request(headers, uri.query()).0
}

pub async fn login_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: axum::http::Uri,
) -> Result<Response, AppError> {
    let token = web::random_token();
    let lang = lang_of(&headers, &uri);
    let page = web::render(
        &state.templates,
        "login.html",
        json!({"lang": lang.code(), "csrf": token, "title": "登录", "user": null}),
    )?;
    Ok(web::with_cookie(
        page.into_response(),
        web::set_cookie(LOGIN_CSRF_COOKIE, &token, 3600, state.config.secure_cookies),
    ))
}

pub async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: axum::http::Uri,
    body: Bytes,
) -> Result<Response, AppError> {
    let form = web::Form::parse(&body);
    let get = |k: &str| form.text(k);
    let sent = get("_csrf");
    let cookie = web::cookie(&headers, LOGIN_CSRF_COOKIE).unwrap_or_default();
    if sent.is_empty() || !web::same_secret(&sent, &cookie) {
        return Err(csrf_refused());
    }
    let card_no = get("card_no");
    let refused = |state: &AppState| -> Result<Response, AppError> {
        let lang = lang_of(&headers, &uri);
        let page = web::render(
            &state.templates,
            "login.html",
            json!({"lang": lang.code(), "csrf": sent, "title": "登录", "user": null, "card_no": card_no,
                   "error": {"zh": "卡号或卡介质密码不正确，请检查卡介质是否正确连接后重试",
                             "en": "The card number or PIN is not right: check that your card is connected and try again"}}),
        )?;
        Ok((StatusCode::UNAUTHORIZED, page).into_response())
    };
    let (session_cookie, user) = match open_session(&state, &card_no, &get("pin")).await {
        Ok((cookie, user, _)) => (cookie, user),
        Err(e) if e.status == StatusCode::UNAUTHORIZED => return refused(&state),
        Err(e) => return Err(e),
    };
    let home = if user.enterprise.is_none() { "/officer" } else { "/" };
    let response = web::with_cookie(web::redirect(home), session_cookie);
    Ok(web::with_cookie(response, web::set_cookie(LOGIN_CSRF_COOKIE, "", 0, state.config.secure_cookies)))
}

/// How long a login challenge may be answered.
const CHALLENGE_LIFETIME: time::Duration = time::Duration::minutes(2);

/// A fresh single-use nonce (256 bits) for a card login.
pub async fn new_challenge(state: &AppState) -> Result<String, AppError> {
    let nonce = web::random_token();
    state.store.create_challenge(&nonce, OffsetDateTime::now_utc() + CHALLENGE_LIFETIME).await?;
    Ok(nonce)
}

/// Card login: the local signer signed the server's nonce
/// (`cus-sec_SpcSignRandom`) with the card the account is bound to. The
/// nonce is used up whatever the outcome, so an answer cannot be replayed.
pub async fn open_card_session(
    state: &AppState,
    card_no: &str,
    nonce: &str,
    signature: &str,
) -> Result<(axum::http::HeaderValue, User, String), AppError> {
    let refused = |zh: &str, en: &str| AppError::new(StatusCode::UNAUTHORIZED, "card_login", zh, en);
    let now = OffsetDateTime::now_utc();
    match state.store.consume_challenge(nonce, now).await {
        Ok(_) => {}
        Err(StoreError::ChallengeInvalid) => {
            return Err(refused(
                "登录请求已过期或已使用，请重新登录",
                "The login request has expired or was used already: log in again",
            ));
        }
        Err(e) => return Err(e.into()),
    }
    let user = match state.store.get_user_by_card(card_no).await {
        Ok(user) => user,
        Err(StoreError::NotFound) => {
            return Err(refused(
                "该卡介质未绑定用户，请先办理卡介质绑定",
                "This card is not bound to any user: have it registered first",
            ));
        }
        Err(e) => return Err(e.into()),
    };
    let (Some(pem), Some(cert_no)) = (&user.cert_pem, &user.cert_no) else {
        return Err(refused(
            "该用户未登记卡介质证书，请联系管理员",
            "No card certificate is registered for this user: contact the administrator",
        ));
    };
    let cert = certflow_sign::Certificate::parse(pem).map_err(|_| {
        refused(
            "登记的卡介质证书无法读取，请联系管理员",
            "The registered card certificate cannot be read: contact the administrator",
        )
    })?;
    certflow_sign::verify_registered(&cert, cert_no, now, nonce.as_bytes(), signature.as_bytes()).map_err(|e| {
        refused(&format!("卡介质签名验证失败（{e}）"), &format!("The card signature does not verify ({e})"))
    })?;
    create_session_for(state, user).await
}

async fn create_session_for(state: &AppState, user: User) -> Result<(axum::http::HeaderValue, User, String), AppError> {
    let token = web::random_token();
    let csrf = web::random_token();
    let now = OffsetDateTime::now_utc();
    state
        .store
        .create_session(NewSession {
            token_hash: session_token_hash(&token),
            user_id: user.id,
            csrf_token: csrf.clone(),
            expires_at: now + state.config.session_idle,
        })
        .await?;
    let max_age = state.config.session_idle.whole_seconds();
    Ok((web::set_cookie(SESSION_COOKIE, &token, max_age, state.config.secure_cookies), user, csrf))
}

/// Checks the card and PIN and opens a session: the cookie to set, the
/// user and the session's CSRF token. 401 when card or PIN is wrong.
pub async fn open_session(
    state: &AppState,
    card_no: &str,
    pin: &str,
) -> Result<(axum::http::HeaderValue, User, String), AppError> {
    let wrong = || {
        AppError::new(
            StatusCode::UNAUTHORIZED,
            "login",
            "卡号或卡介质密码不正确，请检查卡介质是否正确连接后重试",
            "The card number or PIN is not right: check that your card is connected and try again",
        )
    };
    let user = match state.store.get_user_by_card(card_no).await {
        Ok(user) => user,
        Err(StoreError::NotFound) => return Err(wrong()),
        Err(e) => return Err(e.into()),
    };
    check_card_pin(&user, pin).map_err(|_| wrong())?;
    create_session_for(state, user).await
}

pub async fn logout(
    State(state): State<AppState>,
    PageUser(user): PageUser,
    body: Bytes,
) -> Result<Response, AppError> {
    user.check_csrf(web::Form::parse(&body).get("_csrf"))?;
    state.store.delete_session(&user.token_hash).await?;
    Ok(web::with_cookie(web::redirect("/login"), web::set_cookie(SESSION_COOKIE, "", 0, state.config.secure_cookies)))
}
