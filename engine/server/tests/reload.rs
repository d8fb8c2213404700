//! Hot reload of the bundle directory (ENG-3): a broken rule or template is
//! refused with file:line and the last good bundle keeps serving; a fix or a
//! new format is activated; the watcher reloads after an editor's save; only
//! administrators (or the control token) reload on demand; the audit log
//! records each activation and refusal; each way editors save gives one
//! reload; a template change renders only the layouts that import it.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use certflow_server::reload::{ReloadOutcome, reload};
use common::*;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

async fn bundle_info(app: &TestApp) -> Value {
    app.get("/api/v1/bundle", "").await.json()
}

#[tokio::test]
async fn a_broken_change_is_refused_with_its_place_and_the_last_good_bundle_serves() {
    let (app, dir) = reloading_app().await;
    let before = app.state.bundle.current().hash.clone();
    assert!(matches!(reload(&app.state, "test").await, ReloadOutcome::Unchanged { .. }));

    // A rule that does not parse.
    let rule = dir.path().join("rules/import/supplement.rhai");
    let good = std::fs::read_to_string(&rule).unwrap();
    std::fs::write(&rule, format!("{good}\nlet broken = ;\n")).unwrap();
    let ReloadOutcome::Refused { diagnostics } = reload(&app.state, "test").await else { panic!("refused") };
    let d = diagnostics.iter().find(|d| d.span.file == "rules/import/supplement.rhai").expect("the rule file is named");
    assert_eq!(d.span.line as usize, good.lines().count() + 2, "{d}");
    assert_eq!(app.state.bundle.current().hash, before, "the last good bundle serves");
    let info = bundle_info(&app).await;
    assert_eq!(info["version"], Value::String(before.clone()));
    assert_eq!(info["last_error"]["diagnostics"][0]["file"], "rules/import/supplement.rhai");
    let checked = app
        .send(
            Request::post("/api/v1/validate/import-food")
                .body(Body::from(
                    app.state.bundle.current().doctype("import-food").unwrap().sample.clone().unwrap().to_string(),
                ))
                .unwrap(),
        )
        .await;
    assert_eq!(checked.json()["valid"], true, "service continues");

    // Fixed, and a new format copied in: active, listed, the refusal gone.
    std::fs::write(&rule, &good).unwrap();
    let yaml = std::fs::read_to_string(dir.path().join("forms/doctypes/export/export-c1-4.yaml")).unwrap();
    std::fs::write(
        dir.path().join("forms/doctypes/export/export-c1-4-bilingual.yaml"),
        yaml.replace("id: export-c1-4", "id: export-c1-4-bilingual")
            .replace("sample: samples/export-c1-4.json", "sample: samples/export-c1-4-bilingual.json")
            .replace("C1-4啤酒花证书（英文证）", "C1-4啤酒花证书（试行）"),
    )
    .unwrap();
    std::fs::copy(
        dir.path().join("forms/samples/export-c1-4.json"),
        dir.path().join("forms/samples/export-c1-4-bilingual.json"),
    )
    .unwrap();
    let ReloadOutcome::Activated { version } = reload(&app.state, "test").await else { panic!("activated") };
    assert_ne!(version, before);
    let info = bundle_info(&app).await;
    assert!(info["last_error"].is_null());
    assert_eq!(info["reloads"][0]["outcome"], "activated");
    let types = app.get("/api/v1/doctypes", "").await.json();
    assert!(types.as_array().unwrap().iter().any(|t| t["id"] == "export-c1-4-bilingual" && t["format_code"] == "C1-4"));

    // A template that does not compile is refused at its .typ line.
    let typ = dir.path().join("certificate-templates/export/c1-4.typ");
    let text = std::fs::read_to_string(&typ).unwrap();
    std::fs::write(&typ, format!("{text}\n#let x = (\n")).unwrap();
    let ReloadOutcome::Refused { diagnostics } = reload(&app.state, "test").await else { panic!("refused") };
    assert!(diagnostics.iter().any(|d| d.span.file == "certificate-templates/export/c1-4.typ"), "{diagnostics:?}");
    assert_eq!(app.state.bundle.current().hash, version);

    let audit = app.state.store.list_audit(&certflow_store::AuditQuery::for_enterprise("")).await.unwrap();
    let actions: Vec<&str> = audit.iter().map(|a| a.action.as_str()).collect();
    assert_eq!(actions.iter().filter(|a| **a == "bundle.refused").count(), 2, "{actions:?}");
    assert_eq!(actions.iter().filter(|a| **a == "bundle.activated").count(), 1, "{actions:?}");
}

#[tokio::test]
async fn the_watcher_reloads_after_an_editor_saves_and_only_admins_reload_on_demand() {
    let (app, dir) = reloading_app().await;
    let _watcher = certflow_server::reload::watch(app.state.clone()).expect("watching");
    let before = app.state.bundle.current().hash.clone();
    // An editor's save: written aside, then renamed over the file.
    let path = dir.path().join("forms/params/certificate-pickup.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    let aside = dir.path().join("forms/params/.certificate-pickup.yaml.swp");
    std::fs::write(&aside, text.replace("zh: 现场领证", "zh: 现场领取证书")).unwrap();
    std::fs::rename(&aside, &path).unwrap();
    let started = Instant::now();
    while app.state.bundle.current().hash == before {
        assert!(started.elapsed() < Duration::from_secs(90), "the change was not picked up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let bundle = app.state.bundle.current();
    assert_eq!(bundle.param("certificate-pickup").unwrap().get("2").unwrap().zh, "现场领取证书");

    // The rules/ folder replaced whole, then a file of the new folder changed:
    // both are picked up.
    let wait_for_change = |from: String| {
        let state = app.state.clone();
        async move {
            let started = Instant::now();
            while state.bundle.current().hash == from {
                assert!(started.elapsed() < Duration::from_secs(90), "the change was not picked up");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    let rules = dir.path().join("rules");
    copy_tree(&rules, &dir.path().join("rules.new"));
    let lib = dir.path().join("rules.new/lib.rhai");
    std::fs::write(&lib, std::fs::read_to_string(&lib).unwrap() + "\n// replaced whole\n").unwrap();
    std::fs::rename(&rules, dir.path().join("rules.old")).unwrap();
    std::fs::rename(dir.path().join("rules.new"), &rules).unwrap();
    wait_for_change(bundle.hash.clone()).await;
    let replaced = app.state.bundle.current().hash.clone();
    let rule = rules.join("import/supplement.rhai");
    std::fs::write(&rule, std::fs::read_to_string(&rule).unwrap() + "\n// changed in the new folder\n").unwrap();
    wait_for_change(replaced).await;
    let bundle = app.state.bundle.current();

    // On demand: not for an enterprise user; with the control token, yes.
    let (cookie, csrf) = app.api_login(A_CARD).await;
    let refused = app
        .send(
            Request::post("/api/v1/admin/reload")
                .header(header::COOKIE, &cookie)
                .header("x-csrf-token", &csrf)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let by_token = app
        .send(
            Request::post("/api/v1/admin/reload")
                .header(header::AUTHORIZATION, "Bearer control-secret")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(by_token.status, StatusCode::OK, "{}", by_token.body);
    assert_eq!(by_token.json()["outcome"], "unchanged");
    // The administrator's page shows the version.
    let admin = app.login("8990000000000009", "99999999").await;
    let page = app.get("/admin", &admin).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains(&bundle.hash[..12]));
    let enterprise = app.login(A_CARD, "88888888").await;
    assert_eq!(app.get("/admin", &enterprise).await.status, StatusCode::FORBIDDEN);
}

/// Appends a comment to a bundle file and reloads; how many types' sample
/// layouts the reload rendered.
async fn layouts_rendered_after_editing(app: &TestApp, dir: &Path, file: &str) -> u64 {
    let path = dir.join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    let comment = match file.rsplit_once('.').map(|(_, ext)| ext) {
        Some("typ") => "\n// edited\n",
        Some("yaml") => "\n# edited\n",
        _ => "\nedited\n",
    };
    std::fs::write(&path, text + comment).unwrap();
    let outcome = reload(&app.state, "test").await;
    assert!(matches!(outcome, ReloadOutcome::Activated { .. }), "{file}: {outcome:?}");
    let info = bundle_info(app).await;
    let phases = &info["reloads"][0]["phases"];
    assert!(phases["compile_ms"].is_u64() && phases["render_ms"].is_u64(), "{info}");
    phases["layouts"].as_u64().unwrap()
}

#[tokio::test]
async fn a_template_change_renders_only_the_layouts_that_import_it() {
    let (app, dir) = reloading_app().await;
    let bundle = app.state.bundle.current();
    let templates = dir.path().join("certificate-templates");
    let with_layout = |test: &dyn Fn(&str) -> bool| {
        bundle.doctypes.values().filter(|t| t.layout.as_ref().is_some_and(|l| test(&l.template))).count() as u64
    };
    let imports_silk = |entry: &str| {
        entry == "export/silk.typ"
            || std::fs::read_to_string(templates.join(entry)).unwrap().contains("#import \"silk.typ\"")
    };
    let (silk, all) = (with_layout(&imports_silk), with_layout(&|_| true));
    assert!(silk >= 7 && silk < all, "{silk} of {all}");

    // One format's own template: that format only.
    let own = layouts_rendered_after_editing(&app, dir.path(), "certificate-templates/export/c5-1.typ").await;
    assert_eq!(own, with_layout(&|t| t == "export/c5-1.typ"));
    // A template the silk formats import: those, not their siblings.
    let shared = layouts_rendered_after_editing(&app, dir.path(), "certificate-templates/export/silk.typ").await;
    assert_eq!(shared, silk);
    // The library every layout imports: all of them.
    let library = layouts_rendered_after_editing(&app, dir.path(), "certificate-templates/lib/certificate.typ").await;
    assert_eq!(library, all);
    // Notes beside the templates: none.
    assert_eq!(layouts_rendered_after_editing(&app, dir.path(), "certificate-templates/README.md").await, 0);
}

/// The text of a document's preview PDF, white space removed.
async fn preview_text(app: &TestApp, session: &str, id: certflow_store::Uuid) -> String {
    let request = Request::get(format!("/documents/{id}/preview.pdf"))
        .header(header::COOKIE, session)
        .body(Body::empty())
        .unwrap();
    let response = app.router.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let pdf = lopdf::Document::load_mem(&bytes).expect("a PDF");
    let pages: Vec<u32> = pdf.get_pages().keys().copied().collect();
    pdf.extract_text(&pages).unwrap().chars().filter(|c| !c.is_whitespace()).collect()
}

#[tokio::test]
async fn a_document_keeps_the_definitions_it_was_made_with() {
    let (app, dir) = reloading_app().await;
    let session = app.login(A_CARD, "88888888").await;
    let make = |bundle: &certflow_core::CompiledBundle| certflow_store::NewDocument {
        doctype: "export-c1-4".into(),
        bundle_hash: bundle.hash.clone(),
        enterprise: "1101910023".into(),
        status: "S".into(),
        business_no: None,
        parent_id: None,
        data: bundle.doctype("export-c1-4").unwrap().sample.clone().unwrap(),
        meta: json!({}),
        created_by: A_CARD.into(),
    };
    let old = app.state.store.insert_document(make(&app.state.bundle.current())).await.unwrap();
    assert!(preview_text(&app, &session, old.id).await.contains("Variety"));

    // The layout's label changes; a new document is made with the new definitions.
    let silk = dir.path().join("certificate-templates/export/silk.typ");
    let text = std::fs::read_to_string(&silk).unwrap();
    std::fs::write(
        &silk,
        text.replace(r#"variety: (zh: "品种", en: "Variety")"#, r#"variety: (zh: "品种", en: "Hop Cultivar")"#),
    )
    .unwrap();
    assert!(matches!(reload(&app.state, "test").await, ReloadOutcome::Activated { .. }));
    let new = app.state.store.insert_document(make(&app.state.bundle.current())).await.unwrap();
    assert!(preview_text(&app, &session, new.id).await.contains("HopCultivar"));
    let before = preview_text(&app, &session, old.id).await;
    assert!(before.contains("Variety") && !before.contains("HopCultivar"), "the old document keeps its layout");

    // After a restart the old version is compiled again from the database.
    app.state.forget_cached_versions();
    let again = preview_text(&app, &session, old.id).await;
    assert!(again.contains("Variety") && !again.contains("HopCultivar"));
    let info = app.get("/api/v1/bundle", "").await.json();
    assert!(
        info["previous"].as_array().unwrap().iter().any(|v| v == &Value::String(old.bundle_hash.clone())),
        "{info}"
    );
}

/// Runs `save`, an editor's way of saving a file (with the short pauses
/// between writes editors make), waits for the reload and a while longer;
/// the reloads it caused, newest first.
async fn reloads_caused_by(app: &TestApp, save: impl FnOnce() + Send + 'static) -> Vec<Value> {
    let before = bundle_info(app).await["reloads"].as_array().unwrap().len();
    let hash = app.state.bundle.current().hash.clone();
    tokio::task::spawn_blocking(save).await.unwrap();
    let started = Instant::now();
    while app.state.bundle.current().hash == hash {
        assert!(started.elapsed() < Duration::from_secs(60), "the save was not picked up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Anything the save could still cause has happened by now: a second
    // reload would start after another quiet time.
    tokio::time::sleep(app.state.config.reload_quiet * 3).await;
    let reloads = bundle_info(app).await["reloads"].as_array().unwrap().clone();
    reloads[..reloads.len() - before].to_vec()
}

#[tokio::test]
async fn each_way_editors_save_gives_one_reload_of_the_complete_file() {
    // Saves pause 20 ms between writes; a quiet time well above that keeps a
    // busy test machine from splitting one save into two reloads.
    let (app, dir) = reloading_app_quiet(Duration::from_millis(600)).await;
    let _watcher = certflow_server::reload::watch(app.state.clone()).expect("watching");
    let path = dir.path().join("forms/scenarios/export-c5-1.yaml");
    let original = std::fs::read_to_string(&path).unwrap();
    let pause = || std::thread::sleep(Duration::from_millis(20));
    let saved = |n: usize| format!("{original}\n# saved {n}\n");

    // Truncated, then written: the empty file in between is never loaded.
    let (p, text) = (path.clone(), saved(1));
    let reloads = reloads_caused_by(&app, move || {
        std::fs::File::create(&p).unwrap();
        pause();
        std::fs::write(&p, text).unwrap();
    })
    .await;
    assert_eq!(reloads.len(), 1, "{reloads:?}");
    assert_eq!(reloads[0]["outcome"], "activated");

    // Deleted, then written again: the bundle without it is never loaded.
    let (p, text) = (path.clone(), saved(2));
    let reloads = reloads_caused_by(&app, move || {
        std::fs::remove_file(&p).unwrap();
        pause();
        std::fs::write(&p, text).unwrap();
    })
    .await;
    assert_eq!(reloads.len(), 1, "{reloads:?}");
    assert_eq!(reloads[0]["outcome"], "activated");

    // A burst of saves: one reload, of the last.
    let (p, texts) = (path.clone(), (3..10).map(saved).collect::<Vec<_>>());
    let reloads = reloads_caused_by(&app, move || {
        for text in texts {
            std::fs::write(&p, text).unwrap();
            pause();
        }
    })
    .await;
    assert_eq!(reloads.len(), 1, "{reloads:?}");
    let bundle = app.state.bundle.current();
    let kept = bundle.sources.iter().find(|f| f.path == "forms/scenarios/export-c5-1.yaml").unwrap();
    assert!(std::str::from_utf8(&kept.bytes).unwrap().ends_with("# saved 9\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_keep_answering_while_a_format_folder_is_added_and_a_broken_rule_refused() {
    let (app, dir) = reloading_app().await;
    let _watcher = certflow_server::reload::watch(app.state.clone()).expect("watching");
    let session = app.login(A_CARD, "88888888").await;
    let sample = app.state.bundle.current().doctype("export-c5-1").unwrap().sample.clone().unwrap();

    // Load: the doctype list, a logged-in list page and a validation, over and over.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut load = Vec::new();
    for n in 0..4 {
        let (router, stop, session, sample) = (app.router.clone(), stop.clone(), session.clone(), sample.clone());
        load.push(tokio::spawn(async move {
            let (mut answered, mut failed) = (0u32, Vec::new());
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let request = match n % 3 {
                    0 => Request::get("/api/v1/doctypes").body(Body::empty()).unwrap(),
                    1 => Request::get("/lists/export-applications")
                        .header(header::COOKIE, &session)
                        .body(Body::empty())
                        .unwrap(),
                    _ => Request::post("/api/v1/validate/export-c5-1").body(Body::from(sample.to_string())).unwrap(),
                };
                let status = router.clone().oneshot(request).await.unwrap().status();
                answered += 1;
                if !status.is_success() {
                    failed.push(status);
                }
                // Leave the watcher and the reload their turn.
                tokio::task::yield_now().await;
            }
            (answered, failed)
        }));
    }

    // A new format in folders of its own: definition, sample, layout.
    let (forms, templates) = (dir.path().join("forms"), dir.path().join("certificate-templates"));
    let yaml = std::fs::read_to_string(forms.join("doctypes/export/export-c5-1.yaml")).unwrap();
    std::fs::create_dir_all(forms.join("doctypes/trial")).unwrap();
    std::fs::create_dir_all(templates.join("trial")).unwrap();
    std::fs::copy(templates.join("export/c5-1.typ"), templates.join("trial/c5-1.typ")).unwrap();
    std::fs::copy(forms.join("samples/export-c5-1.json"), forms.join("samples/trial-c5-1.json")).unwrap();
    std::fs::write(
        forms.join("doctypes/trial/trial-c5-1.yaml"),
        yaml.replace("id: export-c5-1\n", "id: trial-c5-1\n")
            .replace("sample: samples/export-c5-1.json", "sample: samples/trial-c5-1.json")
            .replace("template: export/c5-1.typ", "template: trial/c5-1.typ"),
    )
    .unwrap();
    let started = Instant::now();
    loop {
        let types = app.get("/api/v1/doctypes", "").await.json();
        if types.as_array().unwrap().iter().any(|t| t["id"] == "trial-c5-1") {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "the new format was never served");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let page = app.get("/lists/export-applications", &session).await;
    assert_eq!(page.status, StatusCode::OK);

    // A broken rule: refused, the format stays.
    let rule = dir.path().join("rules/export/certificate.rhai");
    let good = std::fs::read_to_string(&rule).unwrap();
    std::fs::write(&rule, format!("{good}\nlet = ;\n")).unwrap();
    let started = Instant::now();
    while bundle_info(&app).await["last_error"].is_null() {
        assert!(started.elapsed() < Duration::from_secs(60), "the broken rule was never refused");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(bundle_info(&app).await["last_error"]["diagnostics"][0]["file"], "rules/export/certificate.rhai");
    assert!(app.state.bundle.current().doctype("trial-c5-1").is_some(), "the last good bundle serves");

    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut total = 0;
    for task in load {
        let (answered, failed) = task.await.unwrap();
        assert!(failed.is_empty(), "failed requests: {failed:?}");
        total += answered;
    }
    assert!(total > 20, "the load ran: {total} requests");
}
