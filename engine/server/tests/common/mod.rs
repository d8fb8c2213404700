//! The harness shared by the router tests: the application on a real
//! SQLite file with the shipped bundle and the demo data, requests through
//! `oneshot`, logins, forms, PDFs and multipart bodies.

#![allow(dead_code)]

use std::path::Path;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use certflow_server::{AppState, CustomsConfig, ServerConfig, app};
use certflow_store::Store;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

pub const A_CARD: &str = "8930000000000001";
pub const B_CARD: &str = "8930000000000002";
pub const OFFICER_CARD: &str = "8990000000000001";
pub const GATEWAY_TOKEN: &str = "test-gateway-token";

pub struct TestApp {
    pub router: Router,
    pub state: AppState,
    pub _dir: tempfile::TempDir,
}

pub async fn test_app() -> TestApp {
    test_app_with(CustomsConfig {
        simulate: false,
        gateway_token: Some(GATEWAY_TOKEN.into()),
        ..CustomsConfig::default()
    })
    .await
}

/// The application with these customs settings; a simulating one runs the
/// simulator in the background.
pub async fn test_app_with(customs: CustomsConfig) -> TestApp {
    test_app_configured(ServerConfig { customs, ..ServerConfig::default() }).await
}

/// The application with this configuration (its mail spool in the test's
/// directory).
pub async fn test_app_configured(config: ServerConfig) -> TestApp {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let bundle = certflow_core::load(&root).expect("shipped bundle");
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::connect(&format!("sqlite:{}", dir.path().join("db.sqlite").display())).await.expect("store");
    let config = ServerConfig { mail_spool: dir.path().join("mail"), ..config };
    let state = AppState::new(bundle, store, config);
    certflow_server::demo::seed(&state).await.expect("demo data");
    certflow_server::spawn_background(&state);
    TestApp { router: app(state.clone()), state, _dir: dir }
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    pub fn location(&self) -> String {
        self.headers.get(header::LOCATION).map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default()
    }

    /// The value of the first hidden `_csrf` field.
    pub fn csrf(&self) -> String {
        let at = self.body.find("name=\"_csrf\" value=\"").expect("a CSRF field") + 20;
        self.body[at..at + 64].to_owned()
    }
}

impl TestApp {
    pub async fn send(&self, request: Request<Body>) -> Reply {
        let response = self.router.clone().oneshot(request).await.expect("infallible");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.expect("body").to_bytes();
        Reply { status, headers, body: String::from_utf8_lossy(&bytes).into_owned() }
    }

    pub async fn get(&self, uri: &str, cookie: &str) -> Reply {
        self.send(Request::get(uri).header(header::COOKIE, cookie).body(Body::empty()).unwrap()).await
    }

    pub async fn post_form(&self, uri: &str, cookie: &str, form: &[(&str, &str)]) -> Reply {
        let body: String = form.iter().map(|(k, v)| format!("{}={}", enc(k), enc(v))).collect::<Vec<_>>().join("&");
        self.send(
            Request::post(uri)
                .header(header::COOKIE, cookie)
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from(body))
                .unwrap(),
        )
        .await
    }

    /// Logs in with a demo card; returns the session cookie.
    pub async fn login(&self, card: &str, pin: &str) -> String {
        let page = self.get("/login", "").await;
        let login_cookie = cookie_of(&page, "certflow_login_csrf");
        let reply =
            self.post_form("/login", &login_cookie, &[("_csrf", &page.csrf()), ("card_no", card), ("pin", pin)]).await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER, "login failed: {}", reply.body);
        cookie_of(&reply, "certflow_session")
    }

    /// Logs in through the JSON API; returns the session cookie and the CSRF token.
    pub async fn api_login(&self, card: &str) -> (String, String) {
        let body = json!({"card_no": card, "pin": "88888888"}).to_string();
        let login = self.send(Request::post("/api/v1/login").body(Body::from(body)).unwrap()).await;
        assert_eq!(login.status, StatusCode::OK, "{}", login.body);
        (cookie_of(&login, "certflow_session"), login.json()["csrf"].as_str().unwrap().to_owned())
    }

    /// Binds a new soft card's certificate to the account of `card_no`.
    pub async fn register_soft_card(&self, card_no: &str, dir: &Path) -> certflow_sign::SoftCard {
        let card = certflow_sign::SoftCard::create(dir, card_no).expect("soft card");
        let user = self.state.store.get_user_by_card(card_no).await.unwrap();
        self.state
            .store
            .update_user_certificate(user.id, Some(&card.cert_no()), Some(&card.certificate().to_pem()))
            .await
            .unwrap();
        card
    }

    /// The first document in `status` of a type governed by `workflow`, of enterprise A.
    pub async fn a_document(&self, workflow: &str, status: &str) -> certflow_store::Document {
        let bundle = self.state.bundle.current();
        let mut q = certflow_store::DocumentQuery::new("1101910023");
        q.statuses = vec![status.into()];
        q.limit = 100;
        let page = self.state.store.list_documents(&q).await.expect("list");
        page.documents
            .into_iter()
            .find(|d| bundle.doctype(&d.doctype).and_then(|t| t.workflow.as_deref()) == Some(workflow))
            .expect("demo has such a document")
    }
}

pub fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

pub fn cookie_of(reply: &Reply, name: &str) -> String {
    reply
        .headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(|v| v.split(';').next().unwrap().to_owned())
        .unwrap_or_else(|| panic!("no {name} cookie"))
}

pub fn small_pdf(pages: usize) -> Vec<u8> {
    use lopdf::content::{Content, Operation};
    use lopdf::{Document, Object, Stream, dictionary};
    let mut doc = Document::with_version("1.5");
    let pages_id = doc.new_object_id();
    let font = doc.add_object(dictionary! {"Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Helvetica"});
    let resources = doc.add_object(dictionary! {"Font" => dictionary! {"F1" => font}});
    let mut kids = Vec::new();
    for i in 0..pages {
        let content = Content {
            operations: vec![
                Operation::new("BT", vec![]),
                Operation::new("Tf", vec!["F1".into(), 12.into()]),
                Operation::new("Td", vec![72.into(), 720.into()]),
                Operation::new("Tj", vec![Object::string_literal(format!("Certificate page {}", i + 1))]),
                Operation::new("ET", vec![]),
            ],
        };
        let stream = doc.add_object(Stream::new(dictionary! {}, content.encode().unwrap()));
        let page = doc.add_object(dictionary! {"Type" => "Page", "Parent" => pages_id, "Contents" => stream, "Resources" => resources, "MediaBox" => vec![0.into(), 0.into(), 595.into(), 842.into()]});
        kids.push(page.into());
    }
    let count = kids.len() as i64;
    doc.objects.insert(pages_id, Object::Dictionary(dictionary! {"Type" => "Pages", "Kids" => kids, "Count" => count}));
    let catalog = doc.add_object(dictionary! {"Type" => "Catalog", "Pages" => pages_id});
    doc.trailer.set("Root", catalog);
    let mut out = Vec::new();
    doc.save_to(&mut out).unwrap();
    out
}

pub fn multipart(fields: &[(&str, &str)], files: &[(&str, &[u8])]) -> (String, Vec<u8>) {
    let boundary = "certflowtestboundary";
    let mut body = Vec::new();
    for (k, v) in fields {
        body.extend(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n").as_bytes());
    }
    for (name, bytes) in files {
        body.extend(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"{name}\"\r\nContent-Type: application/pdf\r\n\r\n").as_bytes(),
        );
        body.extend(*bytes);
        body.extend(b"\r\n");
    }
    body.extend(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// Copies a folder with everything in it.
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// The application on a copy of the shipped bundle it watches and reloads.
pub async fn reloading_app() -> (TestApp, tempfile::TempDir) {
    reloading_app_quiet(certflow_server::reload::QUIET).await
}

/// As [`reloading_app`], reloading after `quiet` without changes.
pub async fn reloading_app_quiet(quiet: std::time::Duration) -> (TestApp, tempfile::TempDir) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let bundle_dir = tempfile::tempdir().unwrap();
    for sub in ["forms", "rules", "certificate-templates"] {
        copy_tree(&root.join(sub), &bundle_dir.path().join(sub));
    }
    let bundle = certflow_core::load(bundle_dir.path()).expect("the copy loads");
    let dir = tempfile::tempdir().unwrap();
    let store = Store::connect(&format!("sqlite:{}", dir.path().join("db.sqlite").display())).await.unwrap();
    let config = ServerConfig {
        customs: CustomsConfig { simulate: false, ..CustomsConfig::default() },
        bundle_root: Some(bundle_dir.path().to_path_buf()),
        control_token: Some("control-secret".into()),
        reload_quiet: quiet,
        ..ServerConfig::default()
    };
    let state = AppState::new(bundle, store, config);
    certflow_server::demo::seed(&state).await.unwrap();
    state.remember_active().await.unwrap();
    (TestApp { router: app(state.clone()), state, _dir: dir }, bundle_dir)
}
