//! A certificate format added to the bundle of a running `certflow serve`
//! (ENG-3): an analyst copies a scaffolded format's four files into the
//! served bundle while an enterprise user has an export application open;
//! after reloading the page the format is offered under 添加证书 for its
//! kind, and a certificate of it opens and is saved.

#![allow(clippy::print_stderr)] // the measured delay is a note of the run

use std::process::Command;
use std::time::{Duration, Instant};

use certflow_e2e::{Session, certflow_binary, copy_bundle};
use serde_json::{Value, json};

const CARD_A: &str = "8930000000000001";
const PIN: &str = "88888888";
/// An e-ledger record ticking 卫生证书 (kind 16) among others.
const FOUR_KINDS: &str = "222N01040001203";
const SANITARY: &str = "16";

/// The formats the add dialog offers for `kind`, as a user would see them
/// after choosing it.
async fn formats_offered(s: &Session, kind: &str) -> Value {
    s.click("#certificates-add").await;
    s.wait_js("the add dialog", "return document.querySelector('#certificates-dialog').open;", vec![]).await;
    s.js(
        "const k = document.querySelector('#certificates-kind'); k.value = arguments[0]; k.dispatchEvent(new Event('change'));
         return [...document.querySelectorAll('#certificates-format option')].map(o => o.value);",
        vec![json!(kind)],
    )
    .await
}

#[tokio::test]
async fn a_format_copied_into_the_running_bundle_is_offered_after_a_page_reload() {
    let served = tempfile::tempdir().expect("a bundle folder");
    copy_bundle(served.path());
    // The analyst's work, done aside: a format scaffolded on the sanitary base.
    let scratch = tempfile::tempdir().expect("a scratch folder");
    copy_bundle(scratch.path());
    let scaffolded = Command::new(certflow_binary())
        .args(["new-format", "export-c2-9", "--base", "export-sanitary-base", "--format-code", "C2-9"])
        .args(["--name-zh", "C2-9卫生证书（试行）", "--name-en", "C2-9 Sanitary certificate (trial)", "--bundle"])
        .arg(scratch.path())
        .status()
        .expect("certflow new-format runs");
    assert!(scaffolded.success());

    let Some(mut s) = Session::start_on(Some(served.path())).await else { return };
    s.login(CARD_A, PIN).await;
    s.goto("/lists/export-applications").await;
    s.navigating(s.click("#create-export-application")).await;
    s.fill("#new-key", FOUR_KINDS).await;
    s.navigating(s.click("#new-confirm")).await;
    assert!(s.path().await.ends_with("/edit"), "the new application opens");
    let application = s.path().await;
    let before = formats_offered(&s, SANITARY).await;
    assert!(before.as_array().is_some_and(|f| !f.is_empty()), "{before}");
    assert!(!before.as_array().unwrap().contains(&json!("export-c2-9")), "{before}");

    for file in [
        "forms/doctypes/export/export-c2-9.yaml",
        "forms/samples/export-c2-9.json",
        "certificate-templates/export/c2-9.typ",
        "forms/scenarios/export-c2-9.yaml",
    ] {
        std::fs::copy(scratch.path().join(file), served.path().join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
    }
    let copied = Instant::now();
    loop {
        s.goto(&application).await;
        if formats_offered(&s, SANITARY).await.as_array().unwrap().contains(&json!("export-c2-9")) {
            break;
        }
        assert!(copied.elapsed() < Duration::from_secs(60), "the new format was never offered");
    }
    eprintln!("e2e: the new format was offered {} ms after its files were copied", copied.elapsed().as_millis());
    s.js(
        "const f = document.querySelector('#certificates-format'); f.value = 'export-c2-9'; f.dispatchEvent(new Event('change'));",
        vec![],
    )
    .await;
    s.screenshot("40-reloaded-format-offered").await;
    s.navigating(s.click("#certificates-add-confirm")).await;
    s.wait_text("h1", "C2-9卫生证书（试行）").await;
    s.navigating(s.click("#action-save")).await;
    s.wait_text("#flash", "暂存成功").await;
    s.finish().await;
}
