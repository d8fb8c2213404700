//! The export application in the browser (OUT-1 … OUT-8, OUT-11, OUT-14,
//! CU-1): 新增 from the e-ledger, a phytosanitary (C5-1) and a veterinary
//! (C3-1) certificate added of the kinds the ledger ticks, goods ticked from
//! the ledger, 暂存, 提交 with the card PIN after 是否确认提交, customs storing
//! them with numbers, the draft confirmed by the enterprise, the officer
//! issuing both, and the issued e-certificates previewed as PDF.

use std::time::Duration;

use certflow_e2e::{Session, session};
use serde_json::json;

const CARD_A: &str = "8930000000000001";
const CARD_OFFICER: &str = "8990000000000001";
const PIN: &str = "88888888";
const PIN_OFFICER: &str = "99999999";
const PHYTO_AND_VET: &str = "222N01040001195";

/// Sets a select's value as a user's choice would, change event included.
async fn choose(s: &Session, css: &str, value: &str) {
    s.js(
        "const el = document.querySelector(arguments[0]); el.value = arguments[1]; el.dispatchEvent(new Event('change'));",
        vec![json!(css), json!(value)],
    )
    .await;
}

#[tokio::test]
async fn export_application_from_the_ledger_to_the_issued_certificate() {
    let mut s = session!();
    card_login(&mut s).await;
    s.navigating(s.click("nav a[href=\"/lists/export-applications\"]")).await;
    s.wait_text("h1", "出境证书申请").await;

    // 新增: the inspection number first; a record that ticks no certificate is refused.
    s.navigating(s.click("#create-export-application")).await;
    s.fill("#new-key", "222N01040001211").await;
    s.navigating(s.click("#new-confirm")).await;
    s.wait_text("#flash", "电子底账未勾选所需单证").await;
    s.fill("#new-key", PHYTO_AND_VET).await;
    s.navigating(s.click("#new-confirm")).await;
    assert!(s.path().await.ends_with("/edit"), "the new application opens");
    assert_eq!(s.value("#f-consignor_name").await, "北京华夏示范食品进出口有限公司");
    assert_eq!(s.find("#f-consignor_name").await.attr("readonly").await.expect("attr").as_deref(), Some("true"));
    assert_eq!(s.value("#f-declarant_code").await, "1101910023", "申报单位 from the card");
    s.js("document.querySelector('#f-pickup').value = '1';", vec![]).await;
    s.fill("#f-contact_name", "刘晓燕").await;
    s.fill("#f-contact_mobile", "13905376612").await;
    s.navigating(s.click("#action-save")).await;
    s.wait_text("#flash", "暂存成功").await;
    let unified = s.text("#doc-unified-no").await.expect("申请单统一编号 once saved");
    assert!(unified.starts_with('A') && unified.len() == 18, "{unified}");
    s.screenshot("30-export-application").await;

    // 添加证书: only the ledger's kinds; C5-1 by a blank draft.
    s.click("#certificates-add").await;
    s.wait_js("the add dialog", "return document.querySelector('#certificates-dialog').open;", vec![]).await;
    let kinds =
        s.js("return [...document.querySelectorAll('#certificates-kind option')].map(o => o.value);", vec![]).await;
    assert_eq!(kinds, json!(["14", "18"]), "the kinds the ledger ticks");
    choose(&s, "#certificates-kind", "18").await;
    choose(&s, "#certificates-format", "export-c5-1").await;
    s.screenshot("31-export-add-certificate").await;
    s.navigating(s.click("#certificates-add-confirm")).await;
    s.wait_text("h1", "C5-1植物检疫证书").await;
    assert_eq!(s.value("#f-title_zh").await, "植物检疫证书");
    assert_eq!(s.value("#f-destination_country").await, "MYS");

    // Goods: tick the ledger's line, confirm; fill what the ledger does not say.
    s.click("#pick-goods input[value=\"1\"]").await;
    s.click("#pick-goods input[value=\"2\"]").await;
    s.navigating(s.click("#pick-goods-confirm")).await;
    s.wait_text("#flash", "已添加所选数据").await;
    s.wait_text("#table-goods tr.line[data-n=\"1\"] td[data-field=\"hs_code\"]", "0703200000").await;
    assert!(s.text("#goods-new").await.is_none(), "no goods outside the ledger");
    // 上移 moves the honey up; the honey is not for this certificate: 删除.
    s.click("#table-goods tr.line[data-n=\"2\"] .line-select").await;
    s.click("#goods-up").await;
    s.wait_text("#table-goods tr.line[data-n=\"1\"] td[data-field=\"hs_code\"]", "0409000000").await;
    s.click("#goods-delete").await;
    assert_eq!(s.alert_text().await, "是否确认删除已选中的数据？");
    s.client.accept_alert().await.expect("confirming");
    s.wait_text("#table-goods tr.line[data-n=\"1\"] td[data-field=\"hs_code\"]", "0703200000").await;
    assert_eq!(s.js("return document.querySelectorAll('#table-goods tr.line').length;", vec![]).await, json!(1));
    s.click("#table-goods tr.line[data-n=\"1\"] td.item-no").await;
    s.fill("#edit-goods-botanical_name", "Allium sativum L.").await;
    s.click("#goods-save").await;
    s.wait_text("#table-goods tr.line[data-n=\"1\"] td[data-field=\"botanical_name\"]", "Allium sativum L.").await;
    s.fill("#f-origin_place_zh", "山东省金乡县").await;
    s.fill("#f-origin_place_en", "JINXIANG, SHANDONG, CHINA").await;
    s.fill("#f-issue_place_zh", "北京").await;
    s.fill("#f-issue_place_en", "BEIJING").await;
    s.navigating(s.click("#action-save")).await;
    s.wait_text("#flash", "暂存成功").await;
    s.screenshot("32-export-certificate").await;

    // The veterinary certificate for the honey: line 2 of the ledger.
    s.navigating(s.click("#doc-parent")).await;
    s.wait_text("#certificates-rows", "C5-1").await;
    s.click("#certificates-add").await;
    s.wait_js("the add dialog", "return document.querySelector('#certificates-dialog').open;", vec![]).await;
    choose(&s, "#certificates-kind", "14").await;
    choose(&s, "#certificates-format", "export-c3-1").await;
    s.navigating(s.click("#certificates-add-confirm")).await;
    s.wait_text("h1", "C3-1兽医（卫生）证书").await;
    s.click("#pick-goods input[value=\"2\"]").await;
    s.navigating(s.click("#pick-goods-confirm")).await;
    s.wait_text("#table-goods tr.line[data-n=\"1\"] td[data-field=\"hs_code\"]", "0409000000").await;
    for (field, text) in [
        ("plant_name_zh", "北京华夏示范蜂产品加工厂"),
        ("plant_name_en", "HUAXIA DEMO BEE PRODUCTS PLANT"),
        ("plant_reg_no", "1100/02031"),
        ("production_date", "2026-11-02 至 2026-11-10"),
        ("despatch_place_zh", "天津"),
        ("despatch_place_en", "TIANJIN, CHINA"),
        ("origin_place_zh", "中国北京"),
        ("origin_place_en", "BEIJING, CHINA"),
        ("results_zh", "上述蜂蜜来自经备案的加工厂，经检验检疫符合输入国要求。"),
        (
            "results_en",
            "THE HONEY DESCRIBED ABOVE CAME FROM A REGISTERED ESTABLISHMENT AND MEETS THE REQUIREMENTS OF THE IMPORTING COUNTRY.",
        ),
        ("issue_place_zh", "北京"),
        ("issue_place_en", "BEIJING"),
    ] {
        s.fill(&format!("#f-{field}"), text).await;
    }
    s.navigating(s.click("#action-save")).await;
    s.wait_text("#flash", "暂存成功").await;

    // Back on the application: both certificates are listed; 提交 asks, then signs.
    s.navigating(s.click("#doc-parent")).await;
    s.wait_text("#certificates-rows", "C3-1").await;
    s.click("#action-submit").await;
    assert_eq!(s.alert_text().await, "是否确认提交");
    s.client.accept_alert().await.expect("confirming");
    s.wait_js("the PIN dialog", "return document.querySelector('#pin-dialog').open;", vec![]).await;
    s.fill("#pin-input", PIN).await;
    s.navigating(s.click("#pin-ok")).await;
    s.wait_text("#flash", "提交成功").await;
    s.screenshot("33-export-submitted").await;
    let app_id = s.js("return new URLSearchParams(location.search).get('doc');", vec![]).await;
    let app_id = app_id.as_str().expect("the list names the submitted application").to_owned();
    let signature = api_document(&s, &app_id).await["signature"].clone();
    assert_eq!(signature["method"], json!("card"), "signed by the card through the local signer: {signature}");
    assert_eq!(signature["card_no"], json!(CARD_A));

    // Customs stores the application and the certificates, with their numbers.
    let customs_no = wait_status(&s, &app_id, "HS").await;
    assert!(customs_no.starts_with("0104") && customs_no.len() == 18, "申请单海关编号 {customs_no}");
    s.goto(&format!("/documents/{app_id}")).await;
    let row_of = |format: &str| {
        format!(
            "const r = document.querySelector('#certificates-rows tr[data-format=\"{format}\"]'); return r && r.dataset.id;"
        )
    };
    let phyto = s.js(&row_of("C5-1"), vec![]).await.as_str().expect("the C5-1 row").to_owned();
    let vet = s.js(&row_of("C3-1"), vec![]).await.as_str().expect("the C3-1 row").to_owned();
    assert_eq!(wait_status(&s, &phyto, "HS").await, "222N01040001195118", "证书编号");
    assert_eq!(wait_status(&s, &vet, "HS").await, "222N01040001195114", "证书编号");
    // The officer's card is another: this one leaves the reader.
    s.stop_agent();
    s.logout().await;

    // The officer sends the phytosanitary draft for confirmation and issues the veterinary certificate.
    s.login(CARD_OFFICER, PIN_OFFICER).await;
    officer_receipt(&s, &phyto, "EW").await;
    officer_receipt(&s, &vet, "HP").await;
    s.logout().await;

    // The enterprise confirms the draft: it previews as a draft, and 同意 is signed with the card.
    card_login(&mut s).await;
    s.goto(&format!("/documents/{phyto}")).await;
    s.wait_text("#doc-status", "待企业确认").await;
    assert_eq!(preview(&s, &phyto).await, "application/pdf");
    s.fill("#f-confirm_opinion", "同意").await;
    s.click("#action-confirm_agree").await;
    s.wait_js("the PIN dialog", "return document.querySelector('#pin-dialog').open;", vec![]).await;
    s.fill("#pin-input", PIN).await;
    s.navigating(s.click("#pin-ok")).await;
    wait_status(&s, &phyto, "ES").await;
    assert_eq!(api_document(&s, &phyto).await["signature"]["method"], json!("card"));
    // The officer's card is another: this one leaves the reader.
    s.stop_agent();
    s.logout().await;

    // Customs issues it too.
    s.login(CARD_OFFICER, PIN_OFFICER).await;
    officer_receipt(&s, &phyto, "HP").await;
    s.logout().await;

    // The enterprise previews the issued e-certificates.
    s.login(CARD_A, PIN).await;
    s.goto(&format!("/documents/{app_id}")).await;
    s.wait_js(
        "both certificates issued",
        "return [...document.querySelectorAll('#certificates-rows .child-status')].every(td => td.textContent.includes('已签发，待打印'));",
        vec![],
    )
    .await;
    s.screenshot("34-export-issued").await;
    for id in [&phyto, &vet] {
        assert_eq!(preview(&s, id).await, "application/pdf");
    }
    s.finish().await;
}

/// Logs in with demo card A through the local signer (`certflow agent`).
async fn card_login(s: &mut Session) {
    s.start_agent(CARD_A);
    s.goto("/login").await;
    s.wait_text("#signer-status", CARD_A).await;
    s.fill("#pin", PIN).await;
    s.navigating(s.click("#login-button")).await;
    s.wait_text("#who", "张明").await;
}

/// The document as the JSON API shows it.
async fn api_document(s: &Session, id: &str) -> serde_json::Value {
    s.js(
        "const x = new XMLHttpRequest(); x.open('GET', '/api/v1/documents/' + arguments[0], false); x.send(); return JSON.parse(x.responseText);",
        vec![json!(id)],
    )
    .await
}

/// The officer console's receipt for one document.
async fn officer_receipt(s: &Session, id: &str, code: &str) {
    let row = format!("#officer-documents tr[data-id=\"{id}\"]");
    s.find(&row).await;
    choose(s, &format!("{row} select[name=code]"), code).await;
    s.navigating(s.click(&format!("{row} button[type=submit]"))).await;
    s.wait_text("#flash", code).await;
}

/// The content type of a document's preview, once it is rendered; a PDF of
/// some size.
async fn preview(s: &Session, id: &str) -> String {
    let pdf = s
        .wait_js_for(
            "the preview",
            Duration::from_secs(60),
            "const x = new XMLHttpRequest(); x.open('GET', arguments[0], false); x.send(); \
             return x.status === 200 ? [x.getResponseHeader('content-type'), x.responseText.length] : null;",
            vec![json!(format!("/documents/{id}/preview.pdf"))],
        )
        .await;
    assert!(pdf[1].as_u64().unwrap_or(0) > 10_000, "a real PDF: {pdf}");
    pdf[0].as_str().unwrap_or_default().to_owned()
}

/// Waits (as the page would, asking the API) until the document reaches
/// `status`; its customs number then.
async fn wait_status(s: &Session, id: &str, status: &str) -> String {
    let found = s
        .wait_js_for(
            &format!("{id} to reach {status}"),
            Duration::from_secs(30),
            "const x = new XMLHttpRequest(); x.open('GET', '/api/v1/documents/' + arguments[0], false); x.send(); \
             if (x.status !== 200) return null; const d = JSON.parse(x.responseText); \
             return d.status === arguments[1] ? (d.customs_no || '-') : null;",
            vec![json!(id), json!(status)],
        )
        .await;
    found.as_str().unwrap_or_default().to_owned()
}
