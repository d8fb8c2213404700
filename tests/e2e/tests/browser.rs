//! certflow in a browser, as its users see it: five stories, each on its
//! own server, demo database and headless Chromium.
//!
//! Demo logins (engine/server/src/demo.rs): enterprise A's user 张明 with
//! card 8930000000000001, enterprise B's 王芳 with 8930000000000002 (both
//! PIN 88888888), and the customs officer 李华 with 8990000000000001 (PIN
//! 99999999). Without a card agent the pages fall back to the demo soft
//! cards' PINs; story 5 runs `certflow agent` with the soft cards.

#![allow(clippy::print_stderr)] // notes on stderr are how a test run talks

use std::path::Path;
use std::time::{Duration, Instant};

use certflow_e2e::{Key, Session, session, small_pdf, today_cst, ymd};
use serde_json::json;

const CARD_A: &str = "8930000000000001";
const CARD_B: &str = "8930000000000002";
const CARD_OFFICER: &str = "8990000000000001";
const PIN: &str = "88888888";
const PIN_OFFICER: &str = "99999999";
const LIST: &str = "/lists/import-notices";

/// What the stylesheet paints: 黄底色 required, 灰底色 back-filled, white
/// optional, and red errors.
const YELLOW: &str = "rgb(255, 246, 191)";
const GREY: &str = "rgb(232, 232, 232)";
const WHITE: &str = "rgb(255, 255, 255)";
const RED: &str = "rgb(212, 0, 15)";

/// `总共 N 条记录 …` → N.
async fn total_records(s: &Session) -> u64 {
    let text = s.wait_text("#total", "总共").await;
    let n = text.split_whitespace().nth(1).and_then(|n| n.parse().ok());
    n.unwrap_or_else(|| panic!("no record count in {text:?}"))
}

/// Ticks a list row's checkbox, as a user selects a row.
async fn select_row(s: &Session, id: &str) {
    s.click(&format!("#results tr[data-id=\"{id}\"] .row-select")).await;
}

async fn wait_enabled(s: &Session, css: &str) {
    s.wait_js(
        &format!("{css} to be enabled"),
        "const b = document.querySelector(arguments[0]); return !!b && !b.disabled;",
        vec![json!(css)],
    )
    .await;
}

/// Sets a date input as its calendar does (the value, then `change`).
async fn set_date(s: &Session, css: &str, value: &str) {
    s.js(
        "const e = document.querySelector(arguments[0]); e.value = arguments[1]; \
         e.dispatchEvent(new Event('input', {bubbles: true})); e.dispatchEvent(new Event('change', {bubbles: true}));",
        vec![json!(css), json!(value)],
    )
    .await;
}

/// Chooses a file in the upload form, presses 上传 and signs with the card
/// PIN when the page asks for it; returns once the answer page is shown.
async fn upload(s: &Session, file: &Path) {
    s.find("#files-documents").await.send_keys(&file.display().to_string()).await.expect("choosing the file");
    s.js("window.__e2eOldPage = true;", vec![]).await;
    s.click("#upload-button-documents").await;
    let shown = s
        .wait_js(
            "the PIN dialog or the answer",
            "const d = document.querySelector('#pin-dialog');
             if (d && d.open) return 'dialog';
             return document.readyState === 'complete' && window.__e2eOldPage === undefined ? 'page' : null;",
            vec![],
        )
        .await;
    // Where the upload is not possible in the document's status nothing is
    // signed and the answer comes straight back; otherwise the card PIN is asked.
    if shown == json!("dialog") {
        s.fill("#pin-input", PIN).await;
        s.navigating(s.click("#pin-ok")).await;
    }
}

/// Story 1: login (wrong and right PIN), the notice list with its count,
/// columns, the 90-day rule and reset, and safe logout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_notice_list_and_logout() {
    let mut s = session!();
    s.goto(LIST).await;
    assert_eq!(s.path().await, "/login", "a page behind the login leads to the login page");
    s.wait_text("h1", "卡介质登录").await;
    s.screenshot("01-login").await;

    // A wrong PIN is refused, in red, and the card number stays.
    s.login(CARD_A, "12345678").await;
    s.wait_text("#login-error", "卡号或卡介质密码不正确").await;
    assert_eq!(s.style("#login-error", "color").await, RED);
    assert_eq!(s.value("#card_no").await, CARD_A);
    assert_eq!(s.value("#pin").await, "", "the PIN is never sent back");
    s.screenshot("01-login-wrong-pin").await;

    // The right PIN lands on the notice list.
    s.login(CARD_A, PIN).await;
    assert!(s.path().await.starts_with(LIST), "lands on the notice list, not {}", s.path().await);
    s.wait_text("h1", "单据补传及数据补录").await;
    s.wait_text("#who", "张明").await;
    let total = total_records(&s).await;
    assert!(total > 10, "the demo enterprise has its notices listed, got {total}");
    s.wait_text("#total", "每页显示 10 条记录").await;
    let rows = s.js("return document.querySelectorAll('#results tbody tr[data-id]').length;", vec![]).await;
    assert_eq!(rows, json!(10), "10 rows a page");
    assert_eq!(s.value("#q-from").await, ymd(today_cst() - 90), "the notice date starts 90 days back");
    assert_eq!(s.value("#q-to").await, ymd(today_cst()));
    s.screenshot("02-notice-list").await;

    // Paging: page 2 goes on from row 11.
    s.navigating(s.click("#pager a[href$=\"&page=2\"]")).await;
    s.wait_text("#pager b", "2").await;
    assert_eq!(s.text("#results tbody tr[data-id] td:nth-child(2)").await.as_deref(), Some("11"));
    assert_eq!(total_records(&s).await, total);
    s.navigating(s.click("#pager a[href$=\"&page=1\"]")).await;

    // The column chooser hides a column, head and cells, and shows it again.
    assert!(s.is_shown("#results th[data-column=\"reason\"]").await);
    s.click("#column-chooser summary").await;
    s.click("#column-chooser input[data-column=\"reason\"]").await;
    assert!(!s.is_shown("#results th[data-column=\"reason\"]").await, "补传/补录原因 hidden");
    let shown_cells = s
        .js(
            "return Array.from(document.querySelectorAll('#results td[data-column=\"reason\"]')).filter(td => td.offsetParent !== null).length;",
            vec![],
        )
        .await;
    assert_eq!(shown_cells, json!(0), "no 补传/补录原因 cell shown");
    assert!(s.is_shown("#results th[data-column=\"requirement\"]").await, "the other columns stay");
    s.screenshot("02-notice-list-column-hidden").await;
    s.navigating(s.client.refresh()).await.expect("reloading");
    assert!(!s.is_shown("#results th[data-column=\"reason\"]").await, "the choice is remembered");
    s.click("#column-chooser summary").await;
    s.click("#column-chooser input[data-column=\"reason\"]").await;
    assert!(s.is_shown("#results th[data-column=\"reason\"]").await, "补传/补录原因 shown again");

    // More than 90 days of notice dates is refused.
    set_date(&s, "#q-from", &ymd(today_cst() - 120)).await;
    set_date(&s, "#q-to", &ymd(today_cst())).await;
    s.navigating(s.click("#query")).await;
    s.wait_text("#query-error", "通知日期范围不能超过 90 天").await;
    assert_eq!(s.style("#query-error", "color").await, RED);
    assert_eq!(s.value("#q-from").await, ymd(today_cst() - 120), "what the user chose stays");
    s.screenshot("02-notice-list-90-days").await;

    // 重置 clears the query form back to the default.
    s.navigating(s.click("#reset")).await;
    assert!(s.text("#query-error").await.is_none(), "the error is gone");
    assert_eq!(s.value("#q-from").await, ymd(today_cst() - 90));
    assert_eq!(s.value("#q-to").await, ymd(today_cst()));
    assert_eq!(total_records(&s).await, total);

    // 安全退出: back to the login page, and the session is over.
    s.logout().await;
    s.wait_text("h1", "卡介质登录").await;
    s.goto(LIST).await;
    assert_eq!(s.path().await, "/login", "after logout the list needs a login again");
    s.finish().await;
}

/// Story 2: a data supplement (数据补录) of an imported-food notice — field
/// colours, hints, the goods line editor with its country picker, a date
/// error shown in red, 暂存, 申报 with the card PIN, and the customs
/// receipt arriving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_supplement_from_notice_to_customs_receipt() {
    let mut s = session!();
    s.login(CARD_A, PIN).await;
    s.query(&[("status", "3"), ("operation", "2")]).await;
    let id = s
        .row_with(&[("status", "待办"), ("operation", "数据补录"), ("cert_type", "进口食品")])
        .await
        .expect("a 3-待办 imported-food data supplement notice");
    let business_no = s.cell(&id, "business_no").await.expect("its business number");
    assert_eq!(business_no.len(), 18, "an 18-digit declaration number: {business_no}");
    // 随附单据 is for re-upload notices only.
    select_row(&s, &id).await;
    wait_enabled(&s, "#action-supplement").await;
    assert_eq!(s.find("#action-upload").await.prop("disabled").await.expect("disabled").as_deref(), Some("true"));
    s.navigating(s.click("#action-supplement")).await;
    assert_eq!(s.path().await, format!("/documents/{id}/edit"));
    s.wait_text("#doc-status", "待办").await;

    // Field classes: back-filled grey (报关单号 read-only, 标记唛码 editable),
    // required yellow, optional white.
    assert_eq!(s.value("#f-decl_no").await, business_no);
    assert_eq!(s.find("#f-decl_no").await.attr("readonly").await.expect("attr").as_deref(), Some("true"));
    assert_eq!(s.style("#f-decl_no", "background-color").await, GREY);
    assert_eq!(s.style("#f-marks", "background-color").await, GREY);
    assert_eq!(s.style("#edit-goods-goods_name", "background-color").await, YELLOW);
    assert_eq!(s.style("#edit-goods-prod_date", "background-color").await, YELLOW);
    assert_eq!(s.style("#edit-goods-qty2", "background-color").await, WHITE);

    // The focused field's hint at the bottom of the page.
    s.click("#f-marks").await;
    s.wait_text("#hint-bar", "系统返填报关单申报的标记唛码，可修改").await;
    s.screenshot("03-supplement-form").await;

    // Goods line 1 into the editor.
    s.click("#table-goods tr.line[data-n=\"1\"] td.item-no").await;
    s.wait_js(
        "goods line 1 in the editor",
        "return document.querySelector('#edit-goods-goods_name').value === '特级初榨橄榄油';",
        vec![],
    )
    .await;
    assert_eq!(s.text("#goods-editor .editor-item-no").await.as_deref(), Some("1"));
    s.wait_text("#hint-bar", "按报关单对应商品项的商品名称填写").await;

    // The country picker: Esc clears, Space opens the list, Chinese filters, Enter picks.
    s.click("#edit-goods-origin_country").await;
    s.wait_text("#hint-bar", "按空格键调出国别").await;
    s.type_keys(&Key::Escape.to_string()).await;
    assert_eq!(s.value("#edit-goods-origin_country").await, "");
    s.type_keys(&Key::Space.to_string()).await;
    s.wait_js(
        "the country list",
        "return document.querySelectorAll('.picker-list li[data-code]').length > 50;",
        vec![],
    )
    .await;
    s.type_keys("澳大").await;
    s.wait_text(".picker-list li.active", "AUS 澳大利亚").await;
    s.screenshot("03-supplement-country-picker").await;
    s.type_keys(&Key::Enter.to_string()).await;
    assert_eq!(s.value("#edit-goods-origin_country").await, "AUS");
    s.wait_text(".param-label[data-for=\"edit-goods-origin_country\"]", "澳大利亚").await;
    assert!(s.text(".picker-list").await.is_none(), "the list closes");

    // An impossible production date; Enter on the last field stores the line.
    s.fill("#edit-goods-prod_date", "2024-02-30").await;
    s.fill("#edit-goods-prod_batch", "L24103A").await;
    s.type_keys(&Key::Enter.to_string()).await;
    s.wait_text("#table-goods tr.line[data-n=\"1\"] td[data-field=\"prod_date\"]", "2024-02-30").await;
    s.wait_text("#table-goods tr.line[data-n=\"1\"] td[data-field=\"origin_country\"]", "AUS").await;
    assert_eq!(
        s.text("#goods-editor .editor-item-no").await.as_deref(),
        Some("3"),
        "the editor is free for a new line"
    );
    assert_eq!(s.value("#edit-goods-goods_name").await, "");

    // Line 2 gets its date and batch too.
    s.click("#table-goods tr.line[data-n=\"2\"] td.item-no").await;
    s.wait_js(
        "goods line 2 in the editor",
        "return document.querySelector('#edit-goods-brand').value === 'CIRIO';",
        vec![],
    )
    .await;
    s.fill("#edit-goods-prod_date", "2024-03-02").await;
    s.fill("#edit-goods-prod_batch", "P062B").await;
    s.type_keys(&Key::Enter.to_string()).await;
    s.wait_text("#table-goods tr.line[data-n=\"2\"] td[data-field=\"prod_batch\"]", "P062B").await;

    // 暂存 finds the date: red, beside the cell.
    s.navigating(s.click("#action-save")).await;
    s.wait_text("#flash", "录入有误").await;
    let cell = "#table-goods tr.line[data-n=\"1\"] td[data-field=\"prod_date\"]";
    s.wait_text(&format!("{cell} .field-error"), "日期格式不正确").await;
    assert!(s.find(cell).await.attr("class").await.expect("class").unwrap_or_default().contains("cell-error"));
    assert_eq!(s.style(&format!("{cell} .field-error"), "color").await, RED);
    assert_eq!(s.text("#doc-status").await.as_deref(), Some("待办"), "nothing was stored");
    s.screenshot("04-supplement-date-error").await;

    // Loading the line shows the error beside the editor's field; fix it.
    s.click("#table-goods tr.line[data-n=\"1\"] td.item-no").await;
    s.wait_text("#goods-editor label[data-field=\"prod_date\"] .field-error", "日期格式不正确").await;
    assert_eq!(s.style("#goods-editor label[data-field=\"prod_date\"] .field-error", "color").await, RED);
    assert_eq!(s.value("#edit-goods-origin_country").await, "AUS", "the picked country was kept");
    s.fill("#edit-goods-prod_date", "2024-02-28").await;
    s.click("#goods-save").await;
    s.wait_text(cell, "2024-02-28").await;
    s.navigating(s.click("#action-save")).await;
    s.wait_text("#flash", "暂存成功").await;
    s.wait_text("#doc-status", "暂存").await;
    assert_eq!(s.path().await, format!("/documents/{id}/edit?done=save"));
    s.wait_text("#table-goods tr.line[data-n=\"1\"] td[data-field=\"origin_country\"]", "AUS").await;
    s.screenshot("05-supplement-saved").await;

    // 申报 asks for the card PIN, signs and sends.
    s.click("#action-declare").await;
    s.wait_js("the PIN dialog", "return document.querySelector('#pin-dialog').open;", vec![]).await;
    s.fill("#pin-input", PIN).await;
    s.screenshot("06-supplement-pin").await;
    s.navigating(s.click("#pin-ok")).await;
    assert!(s.path().await.starts_with(LIST), "back on the list, not {}", s.path().await);
    s.wait_text("#flash", "数据申报成功").await;
    s.screenshot("07-supplement-declared").await;

    // The customs simulator's receipt moves the notice to 海关入库成功.
    s.query(&[("business_no", &business_no)]).await;
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let status = s.cell(&id, "status").await;
        if status.as_deref() == Some("海关入库成功") {
            break;
        }
        assert!(Instant::now() < deadline, "no 海关入库成功 within 15 s; status {status:?}");
        tokio::time::sleep(Duration::from_millis(300)).await;
        s.navigating(s.client.refresh()).await.expect("reloading");
    }
    // Clicking the status lists the receipts.
    s.click(&format!("#results tr[data-id=\"{id}\"] .receipts-link")).await;
    s.wait_text("#receipts tbody", "海关入库成功").await;
    assert!(s.is_shown("#receipts").await);
    s.screenshot("08-receipts").await;
    s.click("#receipts-close").await;
    assert!(!s.is_shown("#receipts").await, "关闭 hides the receipts");
    s.finish().await;
}

/// Story 3: re-upload (随附单据) of a 3-待办 notice: a text file named .pdf
/// is refused, a real PDF is uploaded with the card PIN, listed and
/// downloadable; a notice no longer in 3-待办 takes no upload.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reupload_documents() {
    let mut s = session!();
    let fake = s.dir().join("x.pdf");
    std::fs::write(&fake, "this is a text file, not a PDF\n").expect("x.pdf");
    let pdf = s.dir().join("origin-certificate.pdf");
    std::fs::write(&pdf, small_pdf()).expect("the PDF");

    s.login(CARD_A, PIN).await;
    s.query(&[("status", "3"), ("operation", "1")]).await;
    let id = s.row_with(&[("status", "待办"), ("operation", "单据补传")]).await.expect("a 3-待办 re-upload notice");
    select_row(&s, &id).await;
    wait_enabled(&s, "#action-upload").await;
    assert_eq!(s.find("#action-supplement").await.prop("disabled").await.expect("disabled").as_deref(), Some("true"));
    s.navigating(s.click("#action-upload")).await;
    assert_eq!(s.path().await, format!("/documents/{id}/attachments"));
    s.wait_text("h1", "随附单据").await;
    s.wait_text("#doc-status", "待办").await;
    s.wait_text("#slot-documents", "尚未上传").await;
    s.wait_text("#slot-documents .hint", "只可上传后缀名为 pdf 的文件").await;
    s.screenshot("09-upload-page").await;

    // A text file named x.pdf is refused by its content.
    upload(&s, &fake).await;
    s.wait_text("#flash", "x.pdf：文件内容不是 PDF 格式").await;
    assert_eq!(s.style("#flash", "color").await, RED);
    s.wait_text("#slot-documents", "尚未上传").await;
    s.wait_text("#doc-status", "待办").await;
    s.screenshot("09-upload-refused").await;

    // A real PDF, signed with the card PIN.
    upload(&s, &pdf).await;
    s.wait_text("#flash", "上传成功！").await;
    let link = "#slot-documents a[href^=\"/attachments/\"]";
    s.wait_text(link, "origin-certificate.pdf").await;
    s.screenshot("10-upload-done").await;

    // The file downloads (in the browser's session) as a PDF.
    let href = s.find(link).await.attr("href").await.expect("href").expect("a link");
    let got = s
        .client
        .execute_async(
            "const done = arguments[arguments.length - 1];
             fetch(arguments[0]).then(async r => done([r.status, r.headers.get('content-type'),
               new TextDecoder().decode((await r.arrayBuffer()).slice(0, 5))])).catch(e => done([0, String(e), '']));",
            vec![json!(href)],
        )
        .await
        .expect("fetching the file");
    assert_eq!(got, json!([200, "application/pdf", "%PDF-"]), "GET {href}");

    // Uploaded: the notice is 4-已办 now (the answer page is rendered before
    // the customs simulator can move it on), and takes no more files.
    assert_eq!(s.text("#doc-status").await.as_deref(), Some("已办"));
    upload(&s, &pdf).await;
    s.wait_text("#flash", "当前状态不可进行上传操作！").await;
    assert_eq!(s.style("#flash", "color").await, RED);
    let files =
        s.js("return document.querySelectorAll('#slot-documents a[href^=\"/attachments/\"]').length;", vec![]).await;
    assert_eq!(files, json!(1), "the refused file was not kept");
    s.screenshot("11-upload-not-in-this-status").await;
    s.finish().await;
}

/// Story 4: the officer issues a notice; the enterprise sees it; another
/// enterprise cannot open it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn officer_notice_and_enterprise_isolation() {
    let mut s = session!();
    s.login(CARD_OFFICER, PIN_OFFICER).await;
    assert_eq!(s.path().await, "/officer");
    s.wait_text("h1", "海关业务").await;
    s.wait_text("#who", "李华").await;

    // A new 18-digit declaration number.
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_nanos();
    let decl_no = format!("0101{}9{:09}", ymd(today_cst()).get(..4).expect("year"), nanos % 1_000_000_000);
    assert_eq!(decl_no.len(), 18);
    s.fill("#notice-enterprise", "1101910023").await;
    s.fill("#notice-key", &decl_no).await;
    s.find("#notice-doctype").await.select_by_value("import-food").await.expect("choosing 进口食品");
    s.fill("#notice-reason", "进口食品证书出证需要").await;
    s.fill("#notice-requirement", "请补录生产日期、生产批次").await;
    s.screenshot("12-officer-notice").await;
    s.navigating(s.click("#notice-submit")).await;
    let flash = s.wait_text("#flash", "已发出通知").await;
    let notice_no = flash.split_whitespace().last().unwrap_or_default().to_owned();
    assert!(
        notice_no.len() == 32 && notice_no.bytes().all(|b| b.is_ascii_hexdigit()),
        "a 32-hex notice number: {flash:?}"
    );
    s.wait_text("#officer-documents", &decl_no).await;
    s.logout().await;

    // Enterprise A finds it in 3-待办.
    s.login(CARD_A, PIN).await;
    s.query(&[("business_no", &decl_no)]).await;
    assert_eq!(total_records(&s).await, 1);
    let id = s.row_with(&[("business_no", &decl_no)]).await.expect("the new notice is listed");
    assert_eq!(s.cell(&id, "notice_no").await.as_deref(), Some(notice_no.as_str()));
    assert_eq!(s.cell(&id, "status").await.as_deref(), Some("待办"));
    assert_eq!(s.cell(&id, "operation").await.as_deref(), Some("数据补录"));
    assert_eq!(s.cell(&id, "cert_type").await.as_deref(), Some("进口食品"));
    assert_eq!(s.cell(&id, "reason").await.as_deref(), Some("进口食品证书出证需要"));
    assert_eq!(s.cell(&id, "notice_date").await, Some(ymd(today_cst())));
    s.screenshot("13-enterprise-new-notice").await;
    // A notice still to do has no supplement data to view: its number says so.
    s.click(&format!("#results tr[data-id=\"{id}\"] a.view-link")).await;
    assert_eq!(s.alert_text().await, "未补录数据不支持查看");
    s.client.accept_alert().await.expect("closing the message");
    assert!(s.path().await.starts_with(LIST), "the list stays");
    s.logout().await;

    // Enterprise B neither lists it nor opens it.
    s.login(CARD_B, PIN).await;
    s.wait_text("#who", "王芳").await;
    s.query(&[("business_no", &decl_no)]).await;
    assert_eq!(total_records(&s).await, 0);
    s.wait_text("#results", "没有符合条件的数据").await;
    for path in [format!("/documents/{id}/edit"), format!("/documents/{id}/attachments"), format!("/documents/{id}")] {
        s.goto(&path).await;
        s.wait_text("h1", "404").await;
        s.wait_text(".error-page", "未找到该数据").await;
    }
    s.screenshot("14-other-enterprise-404").await;
    // The answers themselves are 404, as for a document that does not exist.
    for path in [
        format!("/documents/{id}/edit"),
        format!("/documents/{id}/attachments"),
        format!("/api/v1/documents/{id}/receipts"),
    ] {
        let status = s
            .client
            .execute_async(
                "const done = arguments[arguments.length - 1]; fetch(arguments[0]).then(r => done(r.status), e => done(String(e)));",
                vec![json!(path)],
            )
            .await
            .expect("fetching");
        assert_eq!(status, json!(404), "GET {path} as another enterprise");
    }
    s.finish().await;
}

/// Fills 生产日期 and 生产批次 of every goods line through the line editor.
async fn complete_goods(s: &Session) {
    let lines = s.js("return document.querySelectorAll('#table-goods tr.line').length;", vec![]).await;
    let lines = lines.as_u64().expect("a line count");
    assert!(lines > 0, "the notice back-fills goods lines");
    for n in 1..=lines {
        s.click(&format!("#table-goods tr.line[data-n=\"{n}\"] td.item-no")).await;
        s.wait_text("#goods-editor .editor-item-no", &n.to_string()).await;
        s.fill("#edit-goods-prod_date", "2024-03-01").await;
        s.fill("#edit-goods-prod_batch", &format!("B{n:03}")).await;
        s.click("#goods-save").await;
        s.wait_text(
            &format!("#table-goods tr.line[data-n=\"{n}\"] td[data-field=\"prod_batch\"]"),
            &format!("B{n:03}"),
        )
        .await;
    }
}

/// The stored document as the JSON API shows it.
async fn stored_document(s: &Session, id: &str) -> serde_json::Value {
    s.js(
        "return fetch(`/api/v1/documents/${arguments[0]}`, {headers: {Accept: 'application/json'}}).then((r) => r.json());",
        vec![json!(id)],
    )
    .await
}

/// Presses 申报 and answers the PIN prompt; the card line the prompt shows.
async fn declare_with_pin(s: &Session, pin: &str) -> String {
    s.click("#action-declare").await;
    s.wait_js("the PIN dialog", "return document.querySelector('#pin-dialog').open;", vec![]).await;
    let card_line = s.text("#pin-card").await.unwrap_or_default();
    s.fill("#pin-input", pin).await;
    card_line
}

/// Story 5: the card through the local signer (`certflow agent` with the
/// demo soft card on the E-Port client's WebSocket protocol): the login
/// page reads the card number from the card and logs in by signing the
/// server's challenge; a wrong PIN is the card's refusal; 申报 signs the
/// exact document text on the card. A card pulled mid-declaration leaves
/// nothing stored and the typed data on the page; another enterprise's
/// card in the reader gets the GEN-1 message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn card_agent_login_and_declaration() {
    let mut s = session!();
    s.start_agent(CARD_A);
    s.goto("/login").await;
    s.wait_text("#signer-status", CARD_A).await;
    assert_eq!(s.value("#card_no").await, CARD_A, "the card number is read from the card");
    assert_eq!(s.find("#card_no").await.prop("readOnly").await.expect("readOnly").as_deref(), Some("true"));
    s.screenshot("20-agent-login").await;

    // The card checks the PIN: a wrong one is refused there, and no session opens.
    s.fill("#pin", "12345678").await;
    s.click("#login-button").await;
    s.wait_text("#login-error", "卡介质密码错误").await;
    assert!(s.path().await.starts_with("/login"), "still on the login page");
    s.fill("#pin", PIN).await;
    s.navigating(s.click("#login-button")).await;
    assert!(s.path().await.starts_with(LIST), "logged in by the card's signature, on {}", s.path().await);
    s.wait_text("#who", "张明").await;

    // A food data supplement, completed.
    s.query(&[("status", "3"), ("operation", "2")]).await;
    let id = s
        .row_with(&[("status", "待办"), ("operation", "数据补录"), ("cert_type", "进口食品")])
        .await
        .expect("a 3-待办 imported-food data supplement notice");
    s.goto(&format!("/documents/{id}/edit")).await;
    complete_goods(&s).await;

    // The card is pulled after the PIN prompt opened: the signer is gone, the
    // page says so, nothing is stored and what was typed stays on the page.
    let card_line = declare_with_pin(&s, PIN).await;
    assert!(card_line.contains(CARD_A), "the prompt names the card: {card_line:?}");
    s.stop_agent();
    s.click("#pin-ok").await;
    let alert = s.alert_text().await;
    assert!(alert.contains("卡介质客户端"), "the card client is missing: {alert:?}");
    s.client.accept_alert().await.expect("closing the message");
    assert_eq!(
        s.text("#table-goods tr.line[data-n=\"1\"] td[data-field=\"prod_batch\"]").await.as_deref(),
        Some("B001")
    );
    let stored = stored_document(&s, &id).await;
    assert_eq!(stored["status"], json!("3"), "nothing was declared: {stored}");
    assert!(stored["signature"].is_null(), "nothing was signed");

    // Enterprise B's card in the reader: the server refuses with GEN-1's words.
    s.start_agent(CARD_B);
    let card_line = declare_with_pin(&s, PIN).await;
    assert!(card_line.contains(CARD_B), "{card_line:?}");
    s.navigating(s.click("#pin-ok")).await;
    s.wait_text("#flash", &format!("当前卡号 {CARD_B} 与用户注册信息卡号 {CARD_A} 不一致，无法进行申报")).await;
    s.screenshot("21-agent-card-mismatch").await;
    assert_eq!(stored_document(&s, &id).await["status"], json!("3"));

    // The right card, a wrong PIN first: the card refuses, nothing is sent.
    s.start_agent(CARD_A);
    declare_with_pin(&s, "00000000").await;
    s.click("#pin-ok").await;
    let alert = s.alert_text().await;
    assert!(alert.contains("卡介质密码错误"), "{alert:?}");
    s.client.accept_alert().await.expect("closing the message");
    assert_eq!(stored_document(&s, &id).await["status"], json!("3"));

    // And the right PIN: declared, with the card's signature kept.
    declare_with_pin(&s, PIN).await;
    s.navigating(s.click("#pin-ok")).await;
    s.wait_text("#flash", "数据申报成功").await;
    let stored = stored_document(&s, &id).await;
    let signature = &stored["signature"];
    assert_eq!(signature["method"], json!("card"), "{stored}");
    assert_eq!(signature["card_no"], json!(CARD_A));
    assert_eq!(signature["digest"].as_str().map(str::len), Some(64), "{signature}");
    assert!(signature["cert_no"].as_str().is_some_and(|c| !c.is_empty()), "{signature}");
    s.screenshot("22-agent-declared").await;
    s.finish().await;
}
