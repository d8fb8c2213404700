//! Page plumbing: templates, the page language, cookies, redirects.

use std::sync::Arc;

use axum::http::header::{COOKIE, LOCATION, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use minijinja::{Environment, Value as JinjaValue};
use serde::Serialize;

use crate::error::AppError;

pub const SESSION_COOKIE: &str = "certflow_session";
pub const LANG_COOKIE: &str = "certflow_lang";
/// Before login there is no session: the login form is protected by a
/// double-submit token (cookie and hidden field must match).
pub const LOGIN_CSRF_COOKIE: &str = "certflow_login_csrf";

/// The templates, compiled once per process.
/// The page templates. `signer_url` is where pages find the local signer
/// (the E-Port client or `certflow agent`).
pub fn templates(signer_url: &str) -> Arc<Environment<'static>> {
    let mut env = Environment::new();
    env.add_global("signer_url", signer_url.to_owned());
    for (name, source) in [
        ("base.html", include_str!("../templates/base.html")),
        ("login.html", include_str!("../templates/login.html")),
        ("list.html", include_str!("../templates/list.html")),
        ("form.html", include_str!("../templates/form.html")),
        ("attachments.html", include_str!("../templates/attachments.html")),
        ("officer.html", include_str!("../templates/officer.html")),
        ("new.html", include_str!("../templates/new.html")),
        ("templates.html", include_str!("../templates/templates.html")),
        ("subscriptions.html", include_str!("../templates/subscriptions.html")),
        ("admin.html", include_str!("../templates/admin.html")),
    ] {
        env.add_template(name, source).expect("built-in templates compile");
    }
    env.add_filter("tr", translate);
    Arc::new(env)
}

/// `{{ text|tr(lang) }}`: the `zh`/`en` member of a bilingual text (English
/// falls back to Chinese), or the value itself when it is plain.
fn translate(value: JinjaValue, lang: &str) -> String {
    if value.is_undefined() || value.is_none() {
        return String::new();
    }
    if let Some(s) = value.as_str() {
        return s.to_owned();
    }
    let pick =
        |key: &str| value.get_attr(key).ok().filter(|v| !v.is_undefined() && !v.is_none()).map(|v| v.to_string());
    let zh = pick("zh").unwrap_or_default();
    if lang == "en" { pick("en").filter(|s| !s.is_empty()).unwrap_or(zh) } else { zh }
}

pub fn render(env: &Environment<'static>, name: &str, ctx: impl Serialize) -> Result<Html<String>, AppError> {
    let template = env.get_template(name).map_err(AppError::internal)?;
    template.render(minijinja::value::Serde(&ctx)).map(Html).map_err(AppError::internal)
}

/// The page language: `?lang=` (remembered in a cookie) or the cookie, else Chinese.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Zh,
    En,
}

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::Zh => "zh",
            Lang::En => "en",
        }
    }

    pub fn from_request(headers: &HeaderMap, query: Option<&str>) -> (Self, bool) {
        let from_query = query.and_then(|q| {
            q.split('&').find_map(|kv| match kv.split_once('=') {
                Some(("lang", "en")) => Some(Lang::En),
                Some(("lang", "zh")) => Some(Lang::Zh),
                _ => None,
            })
        });
        match from_query {
            Some(lang) => (lang, true),
            None => (if cookie(headers, LANG_COOKIE).as_deref() == Some("en") { Lang::En } else { Lang::Zh }, false),
        }
    }
}

pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

/// A `Set-Cookie` value: HttpOnly and SameSite=Lax always, Secure when configured.
pub fn set_cookie(name: &str, value: &str, max_age_seconds: i64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_seconds}{secure}"))
        .expect("cookie values are ASCII")
}

/// Percent-encodes every byte `keep` does not accept.
pub fn percent_encode(s: &str, keep: impl Fn(u8) -> bool) -> String {
    s.bytes().map(|b| if keep(b) { (b as char).to_string() } else { format!("%{b:02X}") }).collect()
}

/// A URL query value or an RFC 5987 file name.
pub fn encode_component(s: &str) -> String {
    percent_encode(s, |b| b.is_ascii_alphanumeric() || b"-_.~".contains(&b))
}

/// `Content-Disposition` of a download, with the file's own (often Chinese) name.
pub fn attachment_disposition(file_name: &str, fallback: &str) -> String {
    format!("attachment; filename=\"{fallback}\"; filename*=UTF-8''{}", encode_component(file_name))
}

/// `Content-Disposition` of a file shown in the browser (a PDF preview).
pub fn inline_disposition(file_name: &str) -> String {
    format!("inline; filename*=UTF-8''{}", encode_component(file_name))
}

/// A 303 to `to`; bytes a header cannot carry (Chinese in a flash message,
/// spaces) are percent-encoded.
pub fn redirect(to: &str) -> Response {
    (StatusCode::SEE_OTHER, [(LOCATION, percent_encode(to, |b| b.is_ascii_graphic()))]).into_response()
}

pub fn with_cookie(mut response: Response, cookie: HeaderValue) -> Response {
    response.headers_mut().append(SET_COOKIE, cookie);
    response
}

/// Random token as hex (256 bits).
pub fn random_token() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// Compares secrets without leaking where they differ.
pub fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A posted form's fields, in order.
#[derive(Debug, Clone, Default)]
pub struct Form(pub Vec<(String, String)>);

impl Form {
    pub fn parse(body: &[u8]) -> Self {
        Self(parse_form(body))
    }

    /// The first value of `name`, as sent.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// The first value of `name`, trimmed; empty when absent.
    pub fn text(&self, name: &str) -> String {
        self.get(name).map(|v| v.trim().to_owned()).unwrap_or_default()
    }
}

/// A message shown at the top of a page after an action.
pub fn flash(ok: bool, text: impl Serialize) -> serde_json::Value {
    serde_json::json!({"kind": if ok { "ok" } else { "error" }, "text": text})
}

/// Parses an `application/x-www-form-urlencoded` body.
pub fn parse_form(body: &[u8]) -> Vec<(String, String)> {
    body.split(|&b| b == b'&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let mut it = pair.splitn(2, |&b| b == b'=');
            let k = percent_decode(it.next().unwrap_or_default());
            let v = percent_decode(it.next().unwrap_or_default());
            (k, v)
        })
        .collect()
}

fn percent_decode(input: &[u8]) -> String {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        match input[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < input.len() => {
                let hex = std::str::from_utf8(&input[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_bodies_decode_chinese_and_plus() {
        let got = parse_form("a=%E5%86%BB%E7%89%9B%E8%82%89&b=x+y&c=&d=100%25".as_bytes());
        assert_eq!(
            got,
            [
                ("a".into(), "冻牛肉".into()),
                ("b".into(), "x y".into()),
                ("c".into(), "".into()),
                ("d".into(), "100%".into())
            ]
        );
    }

    #[test]
    fn secrets_compare_whole() {
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("abc", "ab"));
    }
}
