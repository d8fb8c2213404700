//! The application through its router (`oneshot`), on a real SQLite file
//! with the shipped bundle and the demo data: what enterprise software and
//! browsers see over HTTP.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use certflow_server::{AppState, CustomsConfig, ServerConfig, app};
use certflow_store::Store;
use common::*;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use std::path::Path;
use tower::ServiceExt;

#[tokio::test]
async fn the_public_api_answers_without_login() {
    let app = test_app().await;
    let health = app.get("/healthz", "").await;
    assert_eq!((health.status, health.body.as_str()), (StatusCode::OK, "ok"));

    let doctypes = app.get("/api/v1/doctypes", "").await.json();
    let doctypes = doctypes.as_array().unwrap();
    assert!(doctypes.len() >= 17, "the import forms, the export formats and the blank application");
    assert!(doctypes.iter().all(|t| t.get("format_code").is_some()));
    assert!(doctypes.iter().any(|t| t["format_code"] == "C5-1"), "the phytosanitary certificate is listed");

    let openapi = app.get("/api/v1/openapi.json", "").await.json();
    assert_eq!(openapi["openapi"], "3.1.0");
    assert!(openapi["paths"]["/api/v1/validate/{doctype}"]["post"].is_object());

    let bundle = app.get("/api/v1/bundle", "").await.json();
    assert_eq!(bundle["version"].as_str().unwrap().len(), 64);
    assert!(bundle["last_error"].is_null());

    let request = Request::post("/api/v1/validate/import-meat")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(json!({"decl_no": "0101", "containers": [{"container_no": "CSQU3054384"}]}).to_string()))
        .unwrap();
    let verdict = app.send(request).await.json();
    assert_eq!(verdict["valid"], false);
    let paths: Vec<String> = verdict["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| format!("{} [{}]", e["path"].as_str().unwrap(), e["code"].as_str().unwrap()))
        .collect();
    assert!(paths.contains(&"decl_no [format.declaration-no]".to_owned()), "{paths:?}");
    assert!(paths.contains(&"containers/1/container_no [format.iso6346]".to_owned()), "{paths:?}");
    assert!(verdict["errors"][0]["message_zh"].as_str().unwrap().contains('「'));

    let sample = app.state.bundle.current().doctype("import-meat").unwrap().sample.clone().unwrap();
    let ok = app
        .send(Request::post("/api/v1/validate/import-meat").body(Body::from(sample.to_string())).unwrap())
        .await
        .json();
    assert_eq!(ok, json!({"valid": true, "errors": []}));

    let unknown = app.send(Request::post("/api/v1/validate/nope").body(Body::from("{}")).unwrap()).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    let bad = app.send(Request::post("/api/v1/validate/import-meat").body(Body::from("{oops")).unwrap()).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.json()["error"]["message_en"].as_str().unwrap().contains("line 1"));
}

#[tokio::test]
async fn login_needs_the_right_pin_and_a_csrf_token() {
    let app = test_app().await;
    let page = app.get("/login", "").await;
    let cookie = cookie_of(&page, "certflow_login_csrf");
    let wrong =
        app.post_form("/login", &cookie, &[("_csrf", &page.csrf()), ("card_no", A_CARD), ("pin", "12345678")]).await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(wrong.body.contains("卡号或卡介质密码不正确"));
    let forged =
        app.post_form("/login", "", &[("_csrf", &page.csrf()), ("card_no", A_CARD), ("pin", "88888888")]).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN, "no cookie to match the token");

    let session = app.login(A_CARD, "88888888").await;
    let list = app.get("/", &session).await;
    assert_eq!(list.location(), "/lists/import-notices");
    let without = app.get("/lists/import-notices", "").await;
    assert_eq!(without.location(), "/login");

    let page = app.get("/lists/import-notices", &session).await;
    let no_token = app.post_form("/logout", &session, &[]).await;
    assert_eq!(no_token.status, StatusCode::FORBIDDEN);
    let out = app.post_form("/logout", &session, &[("_csrf", &page.csrf())]).await;
    assert_eq!(out.location(), "/login");
    assert_eq!(app.get("/lists/import-notices", &session).await.location(), "/login", "the session is gone");
}

#[tokio::test]
async fn the_notice_list_follows_the_manual() {
    let app = test_app().await;
    let session = app.login(A_CARD, "88888888").await;
    let first = app.get("/lists/import-notices", &session).await;
    assert_eq!(first.status, StatusCode::OK);
    assert!(first.body.contains("总共 "), "total shown");
    assert!(first.body.contains("每页显示 10 条记录"));
    // minijinja escapes `/` as `&#x2f;`, which the browser shows as `/`.
    for column in [
        "通知编号",
        "业务类型",
        "业务单号",
        "状态",
        "操作类型",
        "证书类型",
        "补传&#x2f;补录原因",
        "补传&#x2f;补录要求",
        "通知日期",
    ] {
        assert!(first.body.contains(column), "{column} column");
    }
    let too_long = app.get("/lists/import-notices?status=&from=2024-01-01&to=2024-06-01", &session).await;
    assert!(too_long.body.contains("通知日期范围不能超过 90 天"));

    let doc = app.a_document("import-supplement", "3").await;
    let by_number =
        app.get(&format!("/lists/import-notices?business_no={}", doc.business_no.clone().unwrap()), &session).await;
    assert!(by_number.body.contains("总共 1 条记录"), "an identifier needs no date range");
    let english = app.get("/lists/import-notices?lang=en", &session).await;
    assert!(english.body.contains("Notice No."));
    assert!(english.headers.get(header::SET_COOKIE).is_some(), "the language is remembered");
}

#[tokio::test]
async fn another_enterprise_sees_nothing_of_a() {
    let app = test_app().await;
    let a = app.login(A_CARD, "88888888").await;
    let b = app.login(B_CARD, "88888888").await;
    let doc = app.a_document("import-supplement", "3").await;
    for uri in [
        format!("/documents/{}", doc.id),
        format!("/documents/{}/edit", doc.id),
        format!("/documents/{}/attachments", doc.id),
        format!("/api/v1/documents/{}/receipts", doc.id),
    ] {
        assert_eq!(app.get(&uri, &b).await.status, StatusCode::NOT_FOUND, "{uri}");
        assert_ne!(app.get(&uri, &a).await.status, StatusCode::NOT_FOUND, "{uri} is A's");
    }
    let list = app.get("/lists/import-notices", &b).await;
    assert!(!list.body.contains(&doc.business_no.clone().unwrap()));
}

#[tokio::test]
async fn a_data_supplement_is_saved_declared_signed_and_answered_by_customs() {
    let app = test_app().await;
    let session = app.login(A_CARD, "88888888").await;
    let doc = app.a_document("import-supplement", "3").await;
    let edit = app.get(&format!("/documents/{}/edit", doc.id), &session).await;
    assert_eq!(edit.status, StatusCode::OK);
    assert!(edit.body.contains("field field-required") && edit.body.contains("field field-backfilled"));
    let csrf = edit.csrf();
    let version = doc.version.to_string();
    let uri = format!("/documents/{}", doc.id);

    // A wrong date: 暂存 is refused with the error beside the cell, nothing stored.
    let mut form: Vec<(String, String)> = vec![("_csrf".into(), csrf.clone()), ("_version".into(), version.clone())];
    let ty = app.state.bundle.current().doctype(&doc.doctype).unwrap().clone();
    let sample = ty.sample.clone().unwrap();
    for (k, v) in sample.as_object().unwrap() {
        match v {
            Value::Array(rows) => {
                for (i, row) in rows.iter().enumerate() {
                    for (f, cell) in row.as_object().unwrap() {
                        let text = cell.as_str().map(str::to_owned).unwrap_or_else(|| cell.to_string());
                        form.push((format!("t.{k}.{}.{f}", i + 1), text));
                    }
                }
            }
            other => {
                form.push((format!("f.{k}"), other.as_str().map(str::to_owned).unwrap_or_else(|| other.to_string())))
            }
        }
    }
    let with = |extra: &[(&str, &str)]| {
        let mut f = form.clone();
        for (k, v) in extra {
            f.retain(|(n, _)| n != k);
            f.push((k.to_string(), v.to_string()));
        }
        f
    };
    let as_refs = |f: &Vec<(String, String)>| f.iter().map(|(k, v)| (k.clone(), v.clone())).collect::<Vec<_>>();
    let post = |f: Vec<(String, String)>| {
        let app = &app;
        let uri = uri.clone();
        let session = session.clone();
        async move {
            let pairs: Vec<(&str, &str)> = f.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            app.post_form(&uri, &session, &pairs).await
        }
    };
    let bad = post(as_refs(&with(&[("action", "save"), ("t.goods.1.prod_date", "2024-02-30")]))).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.body.contains("日期格式不正确"), "the date error is shown");
    assert_eq!(app.state.store.get_document("1101910023", doc.id).await.unwrap().status, "3");

    let saved = post(as_refs(&with(&[("action", "save")]))).await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    let page = app.get(&saved.location(), &session).await;
    assert!(page.body.contains("暂存成功"));
    let stored = app.state.store.get_document("1101910023", doc.id).await.unwrap();
    assert_eq!(stored.status, "1");

    // 申报 needs the card: a wrong PIN changes nothing.
    let v2 = stored.version.to_string();
    let wrong = post(as_refs(&with(&[("action", "declare"), ("_version", &v2), ("card_pin", "00000000")]))).await;
    assert_eq!(wrong.status, StatusCode::CONFLICT);
    assert!(wrong.body.contains("卡介质密码错误"));
    let declared = post(as_refs(&with(&[("action", "declare"), ("_version", &v2), ("card_pin", "88888888")]))).await;
    assert_eq!(declared.status, StatusCode::SEE_OTHER, "{}", declared.body);
    let after = app.get(&declared.location(), &session).await;
    assert!(after.body.contains("数据申报成功"));
    let stored = app.state.store.get_document("1101910023", doc.id).await.unwrap();
    assert_eq!(stored.status, "4");
    assert_eq!(stored.meta["signature"]["card_no"], A_CARD);
    assert_eq!(stored.meta["signature"]["digest"].as_str().unwrap().len(), 64);
    let queued = app.state.store.claim("customs", 10, std::time::Duration::from_secs(5)).await.unwrap();
    assert!(queued.iter().any(|m| m.payload["document_id"] == json!(doc.id)), "sent to customs");

    // Customs answers through the gateway; a repeated delivery counts once.
    let receipt =
        json!({"document_id": doc.id, "code": "9", "message": "入库成功", "receipt_no": "R-0001"}).to_string();
    for _ in 0..2 {
        let reply = app
            .send(
                Request::post("/api/v1/gateway/receipts")
                    .header(header::AUTHORIZATION, format!("Bearer {GATEWAY_TOKEN}"))
                    .body(Body::from(receipt.clone()))
                    .unwrap(),
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    }
    let unauthorised =
        app.send(Request::post("/api/v1/gateway/receipts").body(Body::from(receipt.clone())).unwrap()).await;
    assert_eq!(unauthorised.status, StatusCode::UNAUTHORIZED);
    let receipts = app.get(&format!("/api/v1/documents/{}/receipts", doc.id), &session).await.json();
    assert_eq!(receipts.as_array().unwrap().len(), 1);
    assert_eq!(receipts[0]["status_zh"], "海关入库成功");
    assert_eq!(app.state.store.get_document("1101910023", doc.id).await.unwrap().status, "9");
    // Editing after the declaration is not offered any more.
    assert_eq!(
        app.get(&format!("/documents/{}/edit", doc.id), &session).await.location(),
        format!("/documents/{}", doc.id)
    );
}

#[tokio::test]
async fn forms_refuse_a_post_without_the_session_token() {
    let app = test_app().await;
    let session = app.login(A_CARD, "88888888").await;
    let doc = app.a_document("import-supplement", "3").await;
    let reply =
        app.post_form(&format!("/documents/{}", doc.id), &session, &[("action", "save"), ("_version", "1")]).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn re_upload_takes_pdfs_only_while_to_do() {
    let app = test_app().await;
    let session = app.login(A_CARD, "88888888").await;
    let doc = app.a_document("import-reupload", "3").await;
    let page = app.get(&format!("/documents/{}/attachments", doc.id), &session).await;
    let csrf = page.csrf();
    let upload = |files: Vec<(&'static str, Vec<u8>)>, id: certflow_store::Uuid| {
        let (content_type, body) = multipart(
            &[("_csrf", &csrf), ("slot", "documents"), ("card_pin", "88888888")],
            &files.iter().map(|(n, b)| (*n, b.as_slice())).collect::<Vec<_>>(),
        );
        let request = Request::post(format!("/documents/{id}/attachments"))
            .header(header::COOKIE, &session)
            .header(header::CONTENT_TYPE, content_type)
            .body(Body::from(body))
            .unwrap();
        app.send(request)
    };
    let not_pdf = upload(vec![("scan.pdf", b"just text, not a PDF".to_vec())], doc.id).await;
    assert!(not_pdf.body.contains("scan.pdf"), "the refusal names the file");
    assert!(app.state.store.list_attachments("1101910023", doc.id).await.unwrap().is_empty());

    let ok = upload(vec![("origin.pdf", small_pdf(1)), ("health.pdf", small_pdf(2))], doc.id).await;
    assert!(ok.body.contains("上传成功！"), "{}", ok.body);
    let files = app.state.store.list_attachments("1101910023", doc.id).await.unwrap();
    assert_eq!(files.len(), 2);
    let download = app.get(&format!("/attachments/{}", files[0].id), &session).await;
    assert_eq!(download.headers[header::CONTENT_TYPE], "application/pdf");
    assert!(download.headers[header::CONTENT_DISPOSITION].to_str().unwrap().starts_with("attachment"));
    let b = app.login(B_CARD, "88888888").await;
    assert_eq!(app.get(&format!("/attachments/{}", files[0].id), &b).await.status, StatusCode::NOT_FOUND);

    let done = app.state.store.get_document("1101910023", doc.id).await.unwrap();
    assert_ne!(done.status, "3", "the upload was declared");
    let again = upload(vec![("late.pdf", small_pdf(1))], doc.id).await;
    assert!(again.body.contains("当前状态不可进行上传操作！"));
}

#[tokio::test]
async fn an_officer_issues_notices_and_decides_by_receipt() {
    let app = test_app().await;
    let officer = app.login(OFFICER_CARD, "99999999").await;
    let console = app.get("/officer", &officer).await;
    assert_eq!(console.status, StatusCode::OK);
    // The notices customs starts are offered, not what enterprises apply for;
    // the number is asked for by its field's label.
    assert!(console.body.contains("value=\"import-dairy\"") && !console.body.contains("value=\"export-c5-1\""));
    assert!(console.body.contains("报关单号<input name=\"key\""), "{}", console.body);
    let notice = |doctype: &'static str, key: &'static str| {
        let csrf = console.csrf();
        let officer = officer.clone();
        let app = &app;
        async move {
            let form = [
                ("_csrf", csrf.as_str()),
                ("enterprise", "1101910023"),
                ("key", key),
                ("doctype", doctype),
                ("reason", "乳品出证"),
                ("requirement", "补录保质期"),
            ];
            app.post_form("/officer/notices", &officer, &form).await
        }
    };
    // The number is checked by the type's own field: its format …
    let wrong = notice("import-dairy", "01012026999900001").await;
    assert_eq!(wrong.status, StatusCode::BAD_REQUEST);
    assert!(wrong.body.contains("应为 18 位数字的报关单号，请核对"), "{}", wrong.body);
    // … and a type customs does not start is refused.
    let export = notice("export-c5-1", "010120269999000001").await;
    assert_eq!(export.status, StatusCode::BAD_REQUEST);
    assert!(export.body.contains("该单证类型不由海关发出"), "{}", export.body);
    let reply = notice("import-dairy", "010120269999000001").await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    let a = app.login(A_CARD, "88888888").await;
    let list = app.get("/lists/import-notices?business_no=010120269999000001", &a).await;
    assert!(list.body.contains("总共 1 条记录") && list.body.contains("补录保质期"));
    // An enterprise user cannot reach the console.
    assert_eq!(app.get("/officer", &a).await.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn excel_templates_download_and_foreign_ones_are_refused() {
    let app = test_app().await;
    let session = app.login(A_CARD, "88888888").await;
    let template = app.get("/doctypes/import-dairy/tables/goods/template.xlsx", &session).await;
    assert_eq!(template.status, StatusCode::OK);
    assert!(template.headers[header::CONTENT_TYPE].to_str().unwrap().contains("spreadsheetml"));
    let doc = app.a_document("import-supplement", "3").await;
    assert_ne!(doc.doctype, "import-dairy");
    let page = app.get(&format!("/documents/{}/edit", doc.id), &session).await;
    let bundle = app.state.bundle.current();
    let dairy = certflow_files::excel::template(bundle.doctype("import-dairy").unwrap(), "goods").unwrap();
    for (name, bytes, expected) in [
        ("dairy.xlsx", dairy, "证书类别不匹配"),
        ("goods.xlsx", b"not a workbook".to_vec(), "导入格式错误，请导入 xls/xlsx 格式文件！"),
    ] {
        let boundary = "b0undary";
        let mut body =
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"_csrf\"\r\n\r\n{}\r\n", page.csrf())
                .into_bytes();
        body.extend(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n\r\n")
                .as_bytes(),
        );
        body.extend(&bytes);
        body.extend(format!("\r\n--{boundary}--\r\n").as_bytes());
        let request = Request::post(format!("/documents/{}/tables/goods/import", doc.id))
            .header(header::COOKIE, &session)
            .header(header::CONTENT_TYPE, format!("multipart/form-data; boundary={boundary}"))
            .body(Body::from(body))
            .unwrap();
        let reply = app.send(request).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(reply.body.replace("&#x2f;", "/").contains(expected), "{name}: wanted {expected}");
    }
}

#[tokio::test]
async fn enterprise_software_uses_the_json_api() {
    let app = test_app().await;
    let login = app
        .send(
            Request::post("/api/v1/login")
                .body(Body::from(json!({"card_no": A_CARD, "pin": "88888888"}).to_string()))
                .unwrap(),
        )
        .await;
    assert_eq!(login.status, StatusCode::OK, "{}", login.body);
    let csrf = login.json()["csrf"].as_str().unwrap().to_owned();
    let cookie = cookie_of(&login, "certflow_session");
    let wrong = app
        .send(
            Request::post("/api/v1/login")
                .body(Body::from(json!({"card_no": A_CARD, "pin": "1"}).to_string()))
                .unwrap(),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);

    let list = app.get("/api/v1/lists/import-notices?operation=2&status=3", &cookie).await.json();
    assert!(list["total"].as_u64().unwrap() >= 9, "{list}");
    let row = &list["rows"][0];
    assert_eq!(row["cells"]["status"], "待办");
    assert_eq!(row["actions"], json!(["supplement"]));
    let too_long = app.get("/api/v1/lists/import-notices?from=2024-01-01&to=2024-12-31", &cookie).await;
    assert_eq!(too_long.status, StatusCode::BAD_REQUEST);
    assert_eq!(too_long.json()["error"]["message_zh"], "通知日期范围不能超过 90 天");

    let id = row["id"].as_str().unwrap().to_owned();
    let doc = app.get(&format!("/api/v1/documents/{id}"), &cookie).await.json();
    assert_eq!(doc["actions"], json!(["save", "declare"]));
    let action = |name: &str, body: Value, token: &str| {
        Request::post(format!("/api/v1/documents/{id}/actions/{name}"))
            .header(header::COOKIE, &cookie)
            .header("x-csrf-token", token)
            .body(Body::from(body.to_string()))
            .unwrap()
    };
    let forged = app.send(action("save", json!({"version": doc["version"]}), "forged")).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    // The back-filled data lacks production dates: declaring is refused with the paths.
    let invalid = app.send(action("declare", json!({"version": doc["version"], "card_pin": "88888888"}), &csrf)).await;
    assert_eq!(invalid.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        invalid.json()["errors"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["code"] == "required" && e["path"].as_str().unwrap().starts_with("goods/1/"))
    );
    let sample = app.state.bundle.current().doctype(doc["doctype"].as_str().unwrap()).unwrap().sample.clone().unwrap();
    let mut data = sample;
    data["decl_no"] = doc["data"]["decl_no"].clone();
    let declared = app
        .send(action("declare", json!({"version": doc["version"], "data": data, "card_pin": "88888888"}), &csrf))
        .await;
    assert_eq!(declared.status, StatusCode::OK, "{}", declared.body);
    assert_eq!(declared.json()["status"], "4");
    assert_eq!(declared.json()["message"]["zh"], "数据申报成功");
    let again = app
        .send(action("declare", json!({"version": declared.json()["version"], "card_pin": "88888888"}), &csrf))
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT, "not from 4-已办");
    let b = app
        .send(
            Request::post("/api/v1/login")
                .body(Body::from(json!({"card_no": B_CARD, "pin": "88888888"}).to_string()))
                .unwrap(),
        )
        .await;
    assert_eq!(
        app.get(&format!("/api/v1/documents/{id}"), &cookie_of(&b, "certflow_session")).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_simulator_stores_and_reviews_what_is_declared() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let bundle = certflow_core::load(&root).expect("shipped bundle");
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::connect(&format!("sqlite:{}", dir.path().join("db.sqlite").display())).await.expect("store");
    let customs = CustomsConfig {
        simulate: true,
        delay: std::time::Duration::from_millis(50),
        auto_review: true,
        ..CustomsConfig::default()
    };
    let state = AppState::new(bundle, store, ServerConfig { customs, ..ServerConfig::default() });
    certflow_server::demo::seed(&state).await.expect("demo data");
    certflow_server::spawn_background(&state);
    let app = TestApp { router: app(state.clone()), state, _dir: dir };
    let (cookie, csrf) = app.api_login(A_CARD).await;
    let doc = app.a_document("import-supplement", "3").await;
    let mut data = app.state.bundle.current().doctype(&doc.doctype).unwrap().sample.clone().unwrap();
    data["decl_no"] = doc.data["decl_no"].clone();
    let request = Request::post(format!("/api/v1/documents/{}/actions/declare", doc.id))
        .header(header::COOKIE, &cookie)
        .header("x-csrf-token", &csrf)
        .body(Body::from(json!({"version": doc.version, "data": data, "card_pin": "88888888"}).to_string()))
        .unwrap();
    assert_eq!(app.send(request).await.status, StatusCode::OK);
    let mut status = String::new();
    for _ in 0..200 {
        status = app.state.store.get_document("1101910023", doc.id).await.unwrap().status;
        if status == "10" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(status, "10", "stored (9) then approved (10)");
    let receipts = app.get(&format!("/api/v1/documents/{}/receipts", doc.id), &cookie).await.json();
    let codes: Vec<&str> = receipts.as_array().unwrap().iter().map(|r| r["code"].as_str().unwrap()).collect();
    assert_eq!(codes, ["9", "10"]);
}

#[tokio::test]
async fn a_declaration_signed_by_the_card_is_verified_before_anything_changes() {
    let app = test_app().await;
    // The enterprise registers its card: the certificate of a soft card bound to A's card number.
    let card_dir = tempfile::tempdir().expect("tempdir");
    let card = app.register_soft_card(A_CARD, card_dir.path()).await;

    let (cookie, csrf) = app.api_login(A_CARD).await;
    let doc = app.a_document("import-supplement", "3").await;
    let mut data = app.state.bundle.current().doctype(&doc.doctype).unwrap().sample.clone().unwrap();
    data["decl_no"] = doc.data["decl_no"].clone();

    let post = |path: String, body: Value| {
        Request::post(path)
            .header(header::COOKIE, &cookie)
            .header("x-csrf-token", &csrf)
            .body(Body::from(body.to_string()))
            .unwrap()
    };
    let prepared = app.send(post(format!("/api/v1/documents/{}/to-sign", doc.id), json!({"data": data}))).await.json();
    let text = prepared["to_sign"].as_str().unwrap().to_owned();
    assert!(text.starts_with("certflow-document-v1\ndoctype:"), "{text}");
    let signature = certflow_sign::sm2::encode_signature(&card.sign(text.as_bytes()).unwrap());
    let declare = |data: &Value, card_no: &str| {
        post(
            format!("/api/v1/documents/{}/actions/declare", doc.id),
            json!({"version": doc.version, "data": data, "card_no": card_no, "signature": signature}),
        )
    };

    // GEN-1: another card in the reader.
    let other = app.send(declare(&data, "8930000000009999")).await;
    assert_eq!(other.status, StatusCode::CONFLICT);
    assert_eq!(
        other.json()["error"]["message_zh"],
        "当前卡号 8930000000009999 与用户注册信息卡号 8930000000000001 不一致，无法进行申报"
    );
    // Data changed after signing: the signature no longer covers it.
    let mut changed = data.clone();
    changed["marks"] = json!("CHANGED");
    let tampered = app.send(declare(&changed, A_CARD)).await;
    assert_eq!(tampered.status, StatusCode::CONFLICT);
    assert!(tampered.json()["error"]["message_zh"].as_str().unwrap().starts_with("电子签名验证失败"));
    assert_eq!(app.state.store.get_document("1101910023", doc.id).await.unwrap().status, "3", "nothing changed");

    let ok = app.send(declare(&data, A_CARD)).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    let stored = app.state.store.get_document("1101910023", doc.id).await.unwrap();
    assert_eq!(stored.status, "4");
    assert_eq!(stored.meta["signature"]["method"], "card");
    assert_eq!(stored.meta["signature"]["cert_no"], card.cert_no());
    assert_eq!(stored.meta["signature"]["digest"], prepared["digest"]);
    let audit =
        app.state.store.list_audit(&certflow_store::AuditQuery::for_document("1101910023", doc.id)).await.unwrap();
    assert!(
        audit.iter().any(|a| a.detail["signature"]["signature"] == json!(signature)),
        "the signature is in the audit log"
    );
}

#[tokio::test]
async fn a_card_logs_in_by_signing_a_fresh_challenge_once() {
    let app = test_app().await;
    let card_dir = tempfile::tempdir().expect("tempdir");
    let card = app.register_soft_card(A_CARD, card_dir.path()).await;
    async fn challenge(app: &TestApp) -> String {
        let request = Request::post("/api/v1/login/challenge").body(Body::empty()).unwrap();
        app.send(request).await.json()["nonce"].as_str().unwrap().to_owned()
    }
    let login = |card_no: &str, nonce: &str, signature: &str| {
        Request::post("/api/v1/login/card")
            .body(Body::from(json!({"card_no": card_no, "nonce": nonce, "signature": signature}).to_string()))
            .unwrap()
    };
    let nonce = challenge(&app).await;
    assert_eq!(nonce.len(), 64, "256-bit nonce");
    let signature = certflow_sign::sm2::encode_signature(&card.sign(nonce.as_bytes()).unwrap());
    let ok = app.send(login(A_CARD, &nonce, &signature)).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    let session = cookie_of(&ok, "certflow_session");
    assert_eq!(app.get("/api/v1/session", &session).await.json()["card_no"], A_CARD);

    let replayed = app.send(login(A_CARD, &nonce, &signature)).await;
    assert_eq!(replayed.status, StatusCode::UNAUTHORIZED);
    assert_eq!(replayed.json()["error"]["message_zh"], "登录请求已过期或已使用，请重新登录");

    // A signature over another nonce, or by another card, does not open a session.
    let fresh = challenge(&app).await;
    let wrong = app.send(login(A_CARD, &fresh, &signature)).await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(wrong.json()["error"]["message_zh"].as_str().unwrap().starts_with("卡介质签名验证失败"));
    let other_dir = tempfile::tempdir().expect("tempdir");
    let other = certflow_sign::SoftCard::create(other_dir.path(), B_CARD).expect("soft card");
    let fresh = challenge(&app).await;
    let by_other = certflow_sign::sm2::encode_signature(&other.sign(fresh.as_bytes()).unwrap());
    assert_eq!(app.send(login(A_CARD, &fresh, &by_other)).await.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_pages_sign_what_the_server_says_to_sign() {
    let app = test_app().await;
    let card_dir = tempfile::tempdir().expect("tempdir");
    let card = app.register_soft_card(A_CARD, card_dir.path()).await;
    let session = app.login(A_CARD, "88888888").await;
    let sign = |text: &str| certflow_sign::sm2::encode_signature(&card.sign(text.as_bytes()).unwrap());

    // The supplement form: to-sign takes the form as it would be posted.
    let doc = app.a_document("import-supplement", "3").await;
    let edit = app.get(&format!("/documents/{}/edit", doc.id), &session).await;
    let csrf = edit.csrf();
    let version = doc.version.to_string();
    let mut data = app.state.bundle.current().doctype(&doc.doctype).unwrap().sample.clone().unwrap();
    data["decl_no"] = doc.data["decl_no"].clone();
    let mut form: Vec<(String, String)> = vec![("_csrf".into(), csrf.clone()), ("_version".into(), version.clone())];
    for (k, v) in data.as_object().unwrap() {
        let text = |v: &Value| v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string());
        match v {
            Value::Array(rows) => {
                for (i, row) in rows.iter().enumerate() {
                    for (f, cell) in row.as_object().unwrap() {
                        form.push((format!("t.{k}.{}.{f}", i + 1), text(cell)));
                    }
                }
            }
            other => form.push((format!("f.{k}"), text(other))),
        }
    }
    let post = |uri: String, fields: Vec<(String, String)>| {
        let app = &app;
        let session = session.clone();
        async move {
            let pairs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            app.post_form(&uri, &session, &pairs).await
        }
    };
    let with = |extra: &[(&str, &str)]| {
        let mut f = form.clone();
        for (k, v) in extra {
            f.retain(|(n, _)| n != k);
            f.push((k.to_string(), v.to_string()));
        }
        f
    };
    let to_sign_uri = format!("/documents/{}/to-sign", doc.id);

    // What cannot be declared is not offered for signing: the errors by path.
    let invalid = post(to_sign_uri.clone(), with(&[("t.goods.1.prod_date", "2024-02-30")])).await;
    assert_eq!(invalid.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(invalid.json()["errors"].as_array().unwrap().iter().any(|e| e["path"] == "goods/1/prod_date"));
    // Without the page's token nothing is answered.
    let forged = post(to_sign_uri.clone(), with(&[("_csrf", "forged")])).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert!(forged.json()["error"]["message_zh"].as_str().unwrap().contains("页面已过期"));

    let prepared = post(to_sign_uri.clone(), form.clone()).await;
    assert_eq!(prepared.status, StatusCode::OK, "{}", prepared.body);
    let text = prepared.json()["to_sign"].as_str().unwrap().to_owned();
    let signature = sign(&text);
    // A field changed after signing fails verification; nothing is stored.
    let changed = post(
        format!("/documents/{}", doc.id),
        with(&[("action", "declare"), ("f.marks", "CHANGED"), ("card_no", A_CARD), ("card_signature", &signature)]),
    )
    .await;
    assert_eq!(changed.status, StatusCode::CONFLICT);
    assert!(changed.body.contains("电子签名验证失败"), "{}", changed.body);
    assert_eq!(app.state.store.get_document("1101910023", doc.id).await.unwrap().status, "3");
    let declared = post(
        format!("/documents/{}", doc.id),
        with(&[("action", "declare"), ("card_no", A_CARD), ("card_signature", &signature)]),
    )
    .await;
    assert_eq!(declared.status, StatusCode::SEE_OTHER, "{}", declared.body);
    let stored = app.state.store.get_document("1101910023", doc.id).await.unwrap();
    assert_eq!(stored.status, "4");
    assert_eq!(stored.meta["signature"]["method"], "card");
    assert_eq!(stored.meta["signature"]["digest"], prepared.json()["digest"]);

    // An upload signs the document as stored (`data=stored`).
    let doc = app.a_document("import-reupload", "3").await;
    let page = app.get(&format!("/documents/{}/attachments", doc.id), &session).await;
    let csrf = page.csrf();
    let prepared = post(
        format!("/documents/{}/to-sign", doc.id),
        vec![("_csrf".into(), csrf.clone()), ("data".into(), "stored".into())],
    )
    .await;
    assert_eq!(prepared.status, StatusCode::OK, "{}", prepared.body);
    let signature = sign(prepared.json()["to_sign"].as_str().unwrap());
    let (content_type, body) = multipart(
        &[("_csrf", &csrf), ("slot", "documents"), ("card_no", A_CARD), ("card_signature", &signature)],
        &[("origin.pdf", small_pdf(1).as_slice())],
    );
    let request = Request::post(format!("/documents/{}/attachments", doc.id))
        .header(header::COOKIE, &session)
        .header(header::CONTENT_TYPE, content_type)
        .body(Body::from(body))
        .unwrap();
    let uploaded = app.send(request).await;
    assert!(uploaded.body.contains("上传成功！"), "{}", uploaded.body);
    let stored = app.state.store.get_document("1101910023", doc.id).await.unwrap();
    assert_eq!(stored.meta["signature"]["method"], "card");
    assert_eq!(stored.meta["signature"]["cert_no"], card.cert_no());
}

#[tokio::test]
async fn demo_accounts_are_bound_to_soft_cards_the_agent_can_serve() {
    let app = test_app().await;
    let cards_dir = tempfile::tempdir().expect("tempdir");
    let cards = certflow_server::demo::bind_soft_cards(&app.state, cards_dir.path()).await.expect("soft cards");
    assert_eq!(cards.len(), 4, "both enterprise users, the officer and the administrator");
    for demo in &cards {
        let card = certflow_sign::SoftCard::open(&demo.dir).expect("a soft card the agent opens");
        assert_eq!(card.card_id(), demo.login.card_no);
        card.verify_pin(demo.login.pin).expect("the printed PIN is the card's");
        let user = app.state.store.get_user_by_card(demo.login.card_no).await.unwrap();
        assert_eq!(user.cert_no.as_deref(), Some(card.cert_no().as_str()), "the account is bound to the card");
    }
    // A second start keeps the cards and the bindings.
    let again = certflow_server::demo::bind_soft_cards(&app.state, cards_dir.path()).await.expect("soft cards");
    let first = certflow_sign::SoftCard::open(&cards[0].dir).unwrap().cert_no();
    assert_eq!(certflow_sign::SoftCard::open(&again[0].dir).unwrap().cert_no(), first);
    assert_eq!(app.state.store.get_user_by_card(A_CARD).await.unwrap().cert_no.as_deref(), Some(first.as_str()));
}

#[tokio::test]
async fn a_document_previews_as_pdf_for_its_own_enterprise_only() {
    let app = test_app().await;
    let session = app.login(A_CARD, "88888888").await;
    let doc = app.a_document("import-supplement", "3").await;
    let uri = format!("/documents/{}/preview.pdf", doc.id);
    let pdf = app.get(&uri, &session).await;
    assert_eq!(pdf.status, StatusCode::OK, "{}", pdf.body);
    assert_eq!(pdf.headers[header::CONTENT_TYPE], "application/pdf");
    assert!(pdf.headers[header::CONTENT_DISPOSITION].to_str().unwrap().starts_with("inline"));
    // Read back: the sheet carries the form's labels and the document's data.
    let bytes = app
        .router
        .clone()
        .oneshot(Request::get(&uri).header(header::COOKIE, &session).body(Body::empty()).unwrap())
        .await
        .unwrap()
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes();
    let read = lopdf::Document::load_mem(&bytes).expect("a PDF");
    let pages: Vec<u32> = read.get_pages().keys().copied().collect();
    let text: String = read.extract_text(&pages).unwrap().chars().filter(|c| !c.is_whitespace()).collect();
    assert!(text.contains("报关单号"), "{text}");
    assert!(text.contains(doc.data["decl_no"].as_str().unwrap()), "{text}");

    // A variant the type does not offer, and another enterprise.
    let bad = app.get(&format!("{uri}?variant=final"), &session).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.body.contains("不支持的预览格式"), "{}", bad.body);
    assert_eq!(app.get(&format!("{uri}?variant=check"), &session).await.status, StatusCode::OK);
    let b = app.login(B_CARD, "88888888").await;
    assert_eq!(app.get(&uri, &b).await.status, StatusCode::NOT_FOUND);
    // The form links to it.
    let form = app.get(&format!("/documents/{}/edit", doc.id), &session).await;
    assert!(form.body.contains(&format!("/documents/{}/preview.pdf", doc.id)));
}
