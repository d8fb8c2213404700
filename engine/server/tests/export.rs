//! Export certificate applications through the router: made from an
//! e-ledger record (and refused as the manual says), certificates added only
//! of the kinds the ledger asks for, goods picked from the ledger and kept
//! within it, copies, similar numbers, the 签证委托书 rule, one card
//! signature for the application and its certificates, the customs side
//! answering with numbers, drafts confirmed, and another enterprise kept out.

mod common;

use std::time::Duration;

use axum::http::StatusCode;
use certflow_core::Mode;
use certflow_server::{CustomsConfig, ServerConfig};
use certflow_store::{Document, Uuid};
use common::*;
use serde_json::{Value, json};

const A: &str = "1101910023";
/// Ledger records of the demo (engine/server/demo/e-ledger.json).
const PHYTO_AND_VET: &str = "222N01040001195";
const FOUR_KINDS: &str = "222N01040001203";
const NOTHING_TICKED: &str = "222N01040001211";
const OTHER_ENTERPRISE: &str = "222N01040001229";
const AGENT_FOR_CONSIGNOR: &str = "222N01040001237";

/// The form fields a page posts for this data (what the browser sends).
fn form_of(data: &Value) -> Vec<(String, String)> {
    let text = |v: &Value| v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string());
    let mut form = Vec::new();
    for (k, v) in data.as_object().expect("object") {
        match v {
            Value::Array(rows) => {
                for (i, row) in rows.iter().enumerate() {
                    for (f, cell) in row.as_object().expect("row") {
                        form.push((format!("t.{k}.{}.{f}", i + 1), text(cell)));
                    }
                }
            }
            Value::Null => {}
            other => form.push((format!("f.{k}"), text(other))),
        }
    }
    form
}

impl TestApp {
    async fn doc(&self, id: Uuid) -> Document {
        self.state.store.get_document(A, id).await.expect("the document")
    }

    /// 新增 with an inspection number: the reply (a redirect to the new
    /// application, or the refusal).
    async fn new_application(&self, session: &str, insp_no: &str) -> Reply {
        let page = self.get("/lists/export-applications/new?doctype=export-application", session).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        self.post_form(
            "/lists/export-applications/new",
            session,
            &[("_csrf", &page.csrf()), ("doctype", "export-application"), ("key", insp_no)],
        )
        .await
    }

    async fn application(&self, session: &str, insp_no: &str) -> Document {
        let reply = self.new_application(session, insp_no).await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
        let id = reply.location().trim_start_matches("/documents/").trim_end_matches("/edit").to_owned();
        self.doc(Uuid::parse_str(&id).expect("document id")).await
    }

    /// Posts `action` on the document's form as stored, changed by `edit`.
    async fn act(&self, session: &str, doc: &Document, action: &str, edit: impl FnOnce(&mut Value)) -> Reply {
        let page = self.get(&format!("/documents/{}", doc.id), session).await;
        let mut data = doc.data.clone();
        edit(&mut data);
        let mut form = form_of(&data);
        form.push(("_csrf".into(), page.csrf()));
        form.push(("_version".into(), doc.version.to_string()));
        form.push(("action".into(), action.into()));
        form.push(("card_pin".into(), "88888888".into()));
        let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        self.post_form(&format!("/documents/{}", doc.id), session, &pairs).await
    }

    async fn add_certificate(&self, session: &str, app: &Document, doctype: &str) -> Reply {
        let page = self.get(&format!("/documents/{}/edit", app.id), session).await;
        self.post_form(
            &format!("/documents/{}/children/certificates", app.id),
            session,
            &[("_csrf", &page.csrf()), ("doctype", doctype), ("mode", "blank")],
        )
        .await
    }

    async fn certificate(&self, session: &str, app: &Document, doctype: &str) -> Document {
        let reply = self.add_certificate(session, app, doctype).await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
        let id = reply.location().trim_start_matches("/documents/").trim_end_matches("/edit").to_owned();
        self.doc(Uuid::parse_str(&id).unwrap()).await
    }

    /// The officer console's receipt for a document (as its form posts it).
    async fn officer_receipt(&self, officer: &str, id: Uuid, code: &str, message: &str) -> Reply {
        let console = self.get("/officer", officer).await;
        self.post_form(
            &format!("/officer/documents/{id}/receipts"),
            officer,
            &[("_csrf", &console.csrf()), ("code", code), ("message", message)],
        )
        .await
    }

    async fn pick(&self, session: &str, doc: &Document, table: &str, keys: &[&str]) -> Reply {
        let page = self.get(&format!("/documents/{}/edit", doc.id), session).await;
        let csrf = page.csrf();
        let mut form = vec![("_csrf", csrf.as_str())];
        form.extend(keys.iter().map(|k| ("key", *k)));
        self.post_form(&format!("/documents/{}/tables/{table}/pick", doc.id), session, &form).await
    }

    /// Completes a certificate as an enterprise would: the format's sample
    /// for what the ledger does not give, every ledger goods line picked
    /// (with the sample's first line for the fields the ledger lacks).
    async fn complete(&self, doc: &Document) -> Document {
        let bundle = self.state.bundle.current();
        let ty = bundle.doctype(&doc.doctype).unwrap();
        let sample = ty.sample.clone().unwrap();
        let mut data = doc.data.clone();
        for (k, v) in sample.as_object().unwrap() {
            if data.get(k).is_none() && !v.is_array() && k != "cert_no" {
                data[k] = v.clone();
            }
        }
        let ledger = &doc.meta["lookups"]["ledger"];
        let pick = ty.tables["goods"].pick.clone().unwrap();
        let extra = sample["goods"][0].as_object().unwrap().clone();
        let lines: Vec<Value> = ledger["goods"]
            .as_array()
            .unwrap()
            .iter()
            .map(|row| {
                let mut line = pick.line_from(row);
                for (k, v) in &extra {
                    if line.get(k).is_none() && ty.tables["goods"].fields.contains_key(k) {
                        line[k] = v.clone();
                    }
                }
                line
            })
            .collect();
        data["goods"] = Value::Array(lines);
        data["containers"] = json!([]);
        let report = bundle.validate_with(ty, &data, Mode::Submit, &doc.meta["lookups"]);
        assert!(report.errors.is_empty(), "{}: {:?}", doc.doctype, report.errors);
        let update = certflow_store::DocumentUpdate { data, ..certflow_store::DocumentUpdate::from(doc) };
        self.state.store.update_document(A, doc.id, doc.version, update).await.unwrap()
    }
}

fn contact(data: &mut Value) {
    data["pickup"] = json!("1");
    data["contact_name"] = json!("刘晓燕");
    data["contact_mobile"] = json!("13905376612");
}

#[tokio::test]
async fn an_application_is_made_from_a_ledger_record_the_enterprise_may_use() {
    let app = test_app().await;
    let session = app.login(A_CARD, "88888888").await;
    let list = app.get("/lists/export-applications", &session).await;
    assert!(list.body.contains("/lists/export-applications/new?doctype=export-application"), "新增 is offered");

    let refused = app.new_application(&session, NOTHING_TICKED).await;
    assert_eq!(refused.status, StatusCode::CONFLICT);
    assert!(refused.body.contains("电子底账未勾选所需单证"), "{}", refused.body);
    let refused = app.new_application(&session, OTHER_ENTERPRISE).await;
    assert_eq!(refused.status, StatusCode::CONFLICT);
    assert!(refused.body.contains("单位比对不一致"), "{}", refused.body);
    let refused = app.new_application(&session, "222N01049999999").await;
    assert_eq!(refused.status, StatusCode::CONFLICT);
    assert!(refused.body.contains("不存在"), "{}", refused.body);

    let doc = app.application(&session, PHYTO_AND_VET).await;
    assert_eq!(doc.status, "S");
    assert_eq!(doc.business_no.as_deref(), Some(PHYTO_AND_VET));
    assert_eq!(doc.data["insp_no"], PHYTO_AND_VET);
    assert_eq!(doc.data["consignor_name"], "北京华夏示范食品进出口有限公司");
    assert_eq!(doc.data["office"], "0104");
    assert_eq!(doc.data["applied_certs"].as_array().unwrap().len(), 2);
    // 申报单位 comes from the card's enterprise.
    assert_eq!(doc.data["declarant_code"], A);
    assert_eq!(doc.data["declarant_credit_code"], "91350100M000100Y43");
    assert_eq!(doc.meta["lookups"]["ledger"]["insp_no"], PHYTO_AND_VET);

    // The page shows the ledger's parties read-only and the certificate list.
    let page = app.get(&format!("/documents/{}/edit", doc.id), &session).await;
    assert!(page.body.contains("证书信息") && page.body.contains("添加证书"), "{}", page.body);
    assert!(page.body.contains("18-植物检疫证书") && page.body.contains("14-兽医卫生证书"));
    assert!(!page.body.contains("11-品质证书"), "only the kinds the ledger ticks");

    // Read-only parts cannot be changed by posting them; a changed key must be looked up again.
    let saved = app
        .act(&session, &doc, "save", |d| {
            contact(d);
            d["consignor_name"] = json!("别的公司");
            d["applied_certs"] = json!([{"cert_code": "11", "originals": 1, "copies": 2}]);
        })
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    let doc = app.doc(doc.id).await;
    assert_eq!(doc.data["consignor_name"], "北京华夏示范食品进出口有限公司");
    assert_eq!(doc.data["applied_certs"][0]["cert_code"], "18");
    assert!(doc.unified_no.as_deref().is_some_and(|n| n.starts_with('A') && n.len() == 18), "{:?}", doc.unified_no);
    let stale = app.act(&session, &doc, "save", |d| d["insp_no"] = json!(FOUR_KINDS)).await;
    assert_eq!(stale.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(stale.body.contains("尚未调取电子底账"), "{}", stale.body);

    // Looking the other number up fills the application from that record.
    let page = app.get(&format!("/documents/{}/edit", doc.id), &session).await;
    let mut form = form_of(&doc.data);
    form.retain(|(k, _)| k != "f.insp_no");
    form.push(("f.insp_no".into(), FOUR_KINDS.into()));
    form.push(("_csrf".into(), page.csrf()));
    form.push(("_version".into(), doc.version.to_string()));
    let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let looked = app.post_form(&format!("/documents/{}/lookups/ledger", doc.id), &session, &pairs).await;
    assert_eq!(looked.status, StatusCode::SEE_OTHER, "{}", looked.body);
    let doc = app.doc(doc.id).await;
    assert_eq!(doc.data["applied_certs"].as_array().unwrap().len(), 4);
    assert_eq!(doc.data["contact_name"], "刘晓燕", "what was typed stays");
    assert_eq!(doc.business_no.as_deref(), Some(FOUR_KINDS));

    // Enterprise B may not apply from A's record, nor see A's application.
    let b = app.login(B_CARD, "88888888").await;
    let refused = app.new_application(&b, PHYTO_AND_VET).await;
    assert!(refused.body.contains("单位比对不一致"));
    assert_eq!(app.get(&format!("/documents/{}/edit", doc.id), &b).await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn certificates_are_of_the_ledgers_kinds_and_their_goods_stay_within_the_ledger() {
    let app = test_app().await;
    let session = app.login(A_CARD, "88888888").await;
    let application = app.application(&session, PHYTO_AND_VET).await;

    let refused = app.add_certificate(&session, &application, "export-c1-1").await;
    assert_eq!(refused.status, StatusCode::CONFLICT);
    assert!(refused.body.contains("只能选择电子底账中勾选的证书种类"));

    let cert = app.certificate(&session, &application, "export-c5-1").await;
    assert_eq!(cert.parent_id, Some(application.id));
    assert_eq!(cert.status, "S");
    assert_eq!(cert.data["insp_no"], PHYTO_AND_VET);
    assert_eq!(cert.data["originals"], 1);
    assert_eq!(cert.data["copies"], 2);
    assert_eq!(cert.data["title_zh"], "植物检疫证书", "the format's default title");
    assert_eq!(cert.data["destination_country"], "MYS", "back-filled from the ledger");
    assert_eq!(cert.data["consignor_name_en"], "HUAXIA DEMO FOOD IMPORT & EXPORT CO., LTD.");
    let page = app.get(&format!("/documents/{}/edit", application.id), &session).await;
    assert!(page.body.contains("C5-1植物检疫证书"), "the certificate is listed on the application");

    // Goods come from the ledger: tick, confirm.
    let picked = app.pick(&session, &cert, "goods", &["1"]).await;
    assert_eq!(picked.status, StatusCode::SEE_OTHER, "{}", picked.body);
    let cert = app.doc(cert.id).await;
    let line = &cert.data["goods"][0];
    assert_eq!((line["ledger_item"].clone(), line["hs_code"].clone()), (json!(1), json!("0703200000")));
    assert_eq!(line["weight"], 10000);
    let again = app.pick(&session, &cert, "goods", &["1"]).await;
    assert_eq!(again.status, StatusCode::SEE_OTHER);
    assert_eq!(app.doc(cert.id).await.data["goods"].as_array().unwrap().len(), 1, "a line is picked once");

    // More than the ledger, or a line of one's own, is refused with the field named.
    let cert = app.doc(cert.id).await;
    let over = app.act(&session, &cert, "save", |d| d["goods"][0]["weight"] = json!(12000)).await;
    assert_eq!(over.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(over.body.contains("申请重量不能超过电子底账中的值 10000"), "{}", over.body);
    let own = app
        .act(&session, &cert, "save", |d| {
            d["goods"].as_array_mut().unwrap().push(json!({"hs_code": "0703200000", "name_en": "GARLIC", "weight": 1}))
        })
        .await;
    assert_eq!(own.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(own.body.contains("第 2 行不是从电子底账中选取的"), "{}", own.body);
    // What the ledger fills and may not be changed comes back from the ledger.
    let saved = app
        .act(&session, &cert, "save", |d| {
            d["goods"][0]["hs_code"] = json!("9999999999");
            d["goods"][0]["weight"] = json!(8000);
        })
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    let cert = app.doc(cert.id).await;
    assert_eq!(cert.data["goods"][0]["hs_code"], "0703200000");
    assert_eq!(cert.data["goods"][0]["weight"], 8000);
    assert!(cert.unified_no.as_deref().is_some_and(|n| n.starts_with('C')), "numbered on 暂存");

    // A certificate is deleted from its application's page, after which it is gone.
    let page = app.get(&format!("/documents/{}/edit", application.id), &session).await;
    let deleted = app
        .post_form(
            &format!("/documents/{}", cert.id),
            &session,
            &[("_csrf", &page.csrf()), ("_version", &cert.version.to_string()), ("action", "delete")],
        )
        .await;
    assert_eq!(deleted.status, StatusCode::SEE_OTHER, "{}", deleted.body);
    assert_eq!(deleted.location(), format!("/documents/{}/edit?done=delete", application.id));
    assert!(app.state.store.get_document(A, cert.id).await.is_err());
}

#[tokio::test]
async fn an_agent_must_attach_the_letter_of_authorisation() {
    let app = test_app().await;
    let session = app.login(A_CARD, "88888888").await;
    let application = app.application(&session, AGENT_FOR_CONSIGNOR).await;
    assert_eq!(application.data["consignor_code"], "1201960088");
    let cert = app.certificate(&session, &application, "export-c5-1").await;
    app.pick(&session, &cert, "goods", &["1"]).await;
    app.complete(&app.doc(cert.id).await).await;

    let refused = app.act(&session, &application, "submit", contact).await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.body);
    assert!(refused.body.contains("委托代理企业申报证书时，必须在随附单据上传“签字委托书”！"), "{}", refused.body);
    assert_eq!(app.doc(application.id).await.status, "S");

    let page = app.get(&format!("/documents/{}/attachments", application.id), &session).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let pdf = small_pdf(1);
    let (content_type, body) = multipart(&[("_csrf", &page.csrf()), ("slot", "entrustment")], &[("委托书.pdf", &pdf)]);
    let uploaded = app
        .send(
            axum::http::Request::post(format!("/documents/{}/attachments", application.id))
                .header(axum::http::header::COOKIE, &session)
                .header(axum::http::header::CONTENT_TYPE, content_type)
                .body(axum::body::Body::from(body))
                .unwrap(),
        )
        .await;
    assert!(uploaded.status.is_success() || uploaded.status.is_redirection(), "{}", uploaded.body);
    let application = app.doc(application.id).await;
    let submitted = app.act(&session, &application, "submit", contact).await;
    assert_eq!(submitted.status, StatusCode::SEE_OTHER, "{}", submitted.body);
    assert_eq!(app.doc(application.id).await.status, "D");
}

#[tokio::test]
async fn copies_and_similar_numbers_start_new_work_from_old() {
    let app = test_app().await;
    let session = app.login(A_CARD, "88888888").await;
    let application = app.application(&session, PHYTO_AND_VET).await;
    let page = app.get(&format!("/documents/{}/edit", application.id), &session).await;
    let copy_uri = format!("/documents/{}/copy", application.id);
    let unsaved = app.post_form(&copy_uri, &session, &[("_csrf", &page.csrf())]).await;
    assert_eq!(unsaved.status, StatusCode::CONFLICT);
    assert!(unsaved.body.contains("没有可复制的数据！"));

    let cert = app.certificate(&session, &application, "export-c5-1").await;
    app.pick(&session, &cert, "goods", &["1"]).await;
    let cert = app.doc(cert.id).await;
    let saved = app
        .act(&session, &cert, "save", |d| {
            d["consignor_address_zh"] = json!("北京市西城区示范路 8 号 2 层");
            d["conveyance_no"] = json!("V.S299");
            d["containers"] = json!([{"container_spec": "12", "container_no": "TCLU1234568", "seal_no": "SEAL001"}]);
        })
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    let cert = app.doc(cert.id).await;
    app.act(&session, &application, "save", contact).await;

    let copied = app.post_form(&copy_uri, &session, &[("_csrf", &page.csrf())]).await;
    assert_eq!(copied.status, StatusCode::SEE_OTHER, "{}", copied.body);
    let copy_id = copied.location().trim_start_matches("/documents/").split('/').next().unwrap().to_owned();
    let copy = app.doc(Uuid::parse_str(&copy_id).unwrap()).await;
    assert_ne!(copy.id, application.id);
    assert_eq!(copy.status, "S");
    assert_eq!(copy.unified_no, None, "a copy gets its own number when saved");
    assert_eq!(copy.data["contact_name"], "刘晓燕");
    assert_eq!(copy.data["applied_certs"], app.doc(application.id).await.data["applied_certs"]);
    let children = certflow_server::children_of(&app.state, &copy).await.unwrap();
    assert_eq!(children.len(), 1);
    assert_eq!(children[0].doctype, "export-c5-1");
    assert_eq!(children[0].data["goods"], cert.data["goods"]);

    // A new application under another number starts its C5-1 from this one.
    let other = app.application(&session, AGENT_FOR_CONSIGNOR).await;
    let similar = app
        .get(
            &format!(
                "/documents/{}/children/certificates/similar?doctype=export-c5-1&number={PHYTO_AND_VET}",
                other.id
            ),
            &session,
        )
        .await;
    let found = similar.json();
    assert!(found.as_array().unwrap().iter().any(|r| r["id"] == json!(cert.id)), "{found}");
    let page = app.get(&format!("/documents/{}/edit", other.id), &session).await;
    let made = app
        .post_form(
            &format!("/documents/{}/children/certificates", other.id),
            &session,
            &[
                ("_csrf", &page.csrf()),
                ("doctype", "export-c5-1"),
                ("mode", "similar"),
                ("similar", &cert.id.to_string()),
            ],
        )
        .await;
    assert_eq!(made.status, StatusCode::SEE_OTHER, "{}", made.body);
    let new_id = made.location().trim_start_matches("/documents/").trim_end_matches("/edit").to_owned();
    let new_cert = app.doc(Uuid::parse_str(&new_id).unwrap()).await;
    assert_eq!(new_cert.data["consignor_address_zh"], "北京市西城区示范路 8 号 2 层");
    assert_eq!(new_cert.data["conveyance_no"], "V.S299");
    assert_eq!(new_cert.data["containers"][0]["seal_no"], "SEAL001");
    assert_eq!(new_cert.data["insp_no"], AGENT_FOR_CONSIGNOR, "its own application's number");
    assert!(new_cert.data.get("goods").is_none_or(|g| g.as_array().is_none_or(Vec::is_empty)), "goods are picked anew");
}

#[tokio::test]
async fn one_signature_submits_the_application_with_its_certificates_and_customs_answers() {
    let app = test_app_with(CustomsConfig {
        simulate: true,
        delay: Duration::from_millis(20),
        failure_rate: 0.0,
        ..CustomsConfig::default()
    })
    .await;
    let session = app.login(A_CARD, "88888888").await;
    let application = app.application(&session, PHYTO_AND_VET).await;
    let phyto = app.certificate(&session, &application, "export-c5-1").await;
    let vet = app.certificate(&session, &application, "export-c3-1").await;
    let phyto = app.complete(&phyto).await;
    app.complete(&vet).await;

    // A certificate is submitted with its application, not alone.
    let alone = app.act(&session, &phyto, "submit", |_| {}).await;
    assert_eq!(alone.status, StatusCode::CONFLICT);
    assert!(alone.body.contains("该操作需在所属申请单中进行"));

    // An incomplete application is refused with the field named.
    let missing = app.act(&session, &application, "submit", |_| {}).await;
    assert_eq!(missing.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(missing.body.contains("联系人"), "{}", missing.body);

    let page = app.get(&format!("/documents/{}/edit", application.id), &session).await;
    assert!(page.body.contains("data-confirm=\"是否确认提交\""), "提交 asks first");
    let submitted = app.act(&session, &application, "submit", contact).await;
    assert_eq!(submitted.status, StatusCode::SEE_OTHER, "{}", submitted.body);
    let application = app.doc(application.id).await;
    assert_eq!(application.status, "D");
    let signature = application.meta["signature"].clone();
    assert_eq!(signature["method"], "dev-soft-card");
    for id in [phyto.id, vet.id] {
        let cert = app.doc(id).await;
        assert_eq!(cert.status, "D", "{}", cert.doctype);
        assert_eq!(cert.meta["signature"]["digest"], signature["digest"], "one signature covers all");
        assert_eq!(cert.meta["signature"]["with"], json!(application.id));
    }
    // Nothing can be changed once submitted.
    let phyto = app.doc(phyto.id).await;
    let late = app.act(&session, &phyto, "save", |_| {}).await;
    assert_eq!(late.status, StatusCode::CONFLICT);
    assert!(late.body.contains("当前状态不可进行暂存操作！"));

    // The simulator sends and stores them, with customs' numbers.
    let mut waited = 0;
    loop {
        let (a, p, v) = (app.doc(application.id).await, app.doc(phyto.id).await, app.doc(vet.id).await);
        if a.status == "HS" && p.status == "HS" && v.status == "HS" {
            let customs_no = a.customs_no.clone().unwrap();
            assert!(customs_no.starts_with("0104") && customs_no.len() == 18, "{customs_no}");
            assert_eq!(p.customs_no.as_deref(), Some("222N01040001195118"));
            assert_eq!(p.data["cert_no"], "222N01040001195118", "证书编号 on the form");
            assert_eq!(v.customs_no.as_deref(), Some("222N01040001195114"));
            break;
        }
        waited += 1;
        assert!(waited < 400, "customs never answered: {} {} {}", a.status, p.status, v.status);
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let receipts = app.state.store.list_receipts(A, phyto.id).await.unwrap();
    let codes: Vec<&str> = receipts.iter().map(|r| r.code.as_str()).collect();
    assert_eq!(codes, ["SS", "HS"]);

    // Customs sends the draft; the enterprise must say why it disagrees.
    let officer = app.login(OFFICER_CARD, "99999999").await;
    let sent = app.officer_receipt(&officer, phyto.id, "EW", "请确认证稿").await;
    assert_eq!(sent.status, StatusCode::SEE_OTHER);
    let phyto = app.doc(phyto.id).await;
    assert_eq!(phyto.status, "EW");
    let view = app.get(&format!("/documents/{}", phyto.id), &session).await;
    assert!(view.body.contains("action-confirm_agree") && view.body.contains("action-confirm_disagree"));
    let refused = app.act(&session, &phyto, "confirm_disagree", |_| {}).await;
    assert_eq!(refused.status, StatusCode::CONFLICT);
    assert!(refused.body.contains("企业确认不同意时"), "{}", refused.body);
    let answered = app
        .act(&session, &phyto, "confirm_disagree", |d| {
            d["confirm_opinion"] = json!("到达口岸应为 WEST PORT");
            d["marks"] = json!("changed by a forged post");
        })
        .await;
    assert_eq!(answered.status, StatusCode::SEE_OTHER, "{}", answered.body);
    let phyto = app.doc(phyto.id).await;
    assert!(phyto.status == "ED" || phyto.status == "ES", "{}", phyto.status);
    assert_eq!(phyto.data["confirm_opinion"], "到达口岸应为 WEST PORT");
    assert_ne!(phyto.data["marks"], "changed by a forged post", "only the answer's fields are taken");

    // The stored application is final; a certificate issued by customs previews as the e-certificate.
    let vet = app.doc(vet.id).await;
    let issued = app.officer_receipt(&officer, vet.id, "HP", "已签发").await;
    assert_eq!(issued.status, StatusCode::SEE_OTHER);
    assert_eq!(app.doc(vet.id).await.status, "HP");
    let pdf = app.get(&format!("/documents/{}/preview.pdf", vet.id), &session).await;
    assert_eq!(pdf.status, StatusCode::OK, "{}", pdf.body);
    assert_eq!(pdf.headers["content-type"], "application/pdf");
}

#[tokio::test]
async fn another_enterprise_cannot_reach_an_application_or_its_certificates() {
    let app = test_app().await;
    let a = app.login(A_CARD, "88888888").await;
    let b = app.login(B_CARD, "88888888").await;
    let application = app.application(&a, PHYTO_AND_VET).await;
    let cert = app.certificate(&a, &application, "export-c5-1").await;
    let b_page = app.get("/lists/export-applications", &b).await;
    assert!(!b_page.body.contains(PHYTO_AND_VET));
    let csrf = b_page.csrf();
    for uri in [
        format!("/documents/{}/children/certificates", application.id),
        format!("/documents/{}/tables/goods/pick", cert.id),
        format!("/documents/{}/copy", application.id),
        format!("/documents/{}/lookups/ledger", application.id),
    ] {
        let reply = app.post_form(&uri, &b, &[("_csrf", &csrf), ("doctype", "export-c5-1"), ("key", "1")]).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{uri}: {}", reply.body);
    }
    let similar = app
        .get(
            &format!(
                "/documents/{}/children/certificates/similar?doctype=export-c5-1&number={PHYTO_AND_VET}",
                application.id
            ),
            &b,
        )
        .await;
    assert_eq!(similar.status, StatusCode::NOT_FOUND);
    assert_eq!(app.doc(cert.id).await.data.get("goods").map(|g| g.as_array().map_or(0, Vec::len)).unwrap_or(0), 0);
}

#[tokio::test]
async fn deleting_an_application_deletes_its_certificates() {
    let app = test_app().await;
    let session = app.login(A_CARD, "88888888").await;
    let application = app.application(&session, FOUR_KINDS).await;
    let cert = app.certificate(&session, &application, "export-c1-1").await;
    let deleted = app.act(&session, &application, "delete", |_| {}).await;
    assert_eq!(deleted.status, StatusCode::SEE_OTHER, "{}", deleted.body);
    assert!(deleted.location().starts_with("/lists/export-applications"));
    assert!(app.state.store.get_document(A, application.id).await.is_err());
    assert!(app.state.store.get_document(A, cert.id).await.is_err());
}

#[tokio::test]
async fn the_demo_ledger_asks_for_every_kind_of_the_catalogue() {
    let app = test_app().await;
    let bundle = app.state.bundle.current();
    let demo: Value = serde_json::from_str(certflow_server::demo::DEMO_LEDGER).unwrap();
    let mut kinds = std::collections::BTreeSet::new();
    for record in demo["records"].as_array().unwrap() {
        let ours = record["consignor_code"] == A || record["declarant_code"] == A || record["producer_code"] == A;
        for c in record["certificates"].as_array().unwrap() {
            if ours {
                kinds.insert(c["cert_code"].as_str().unwrap().to_owned());
            }
        }
        let key = record["insp_no"].as_str().unwrap();
        assert!(app.state.store.get_lookup_record("e-ledger", key).await.unwrap().is_some(), "{key} imported");
    }
    let formats: Vec<_> = bundle.doctypes.values().filter(|t| t.format_code.is_some()).collect();
    assert!(formats.len() >= 30, "{} formats", formats.len());
    for ty in formats {
        let kind = &ty.category.as_ref().expect("a format has a kind").code;
        assert!(kinds.contains(kind), "no demo record of enterprise A asks for {} ({kind})", ty.id);
    }
}

#[tokio::test]
async fn initial_value_templates_fill_the_form_and_are_listed() {
    let app = test_app().await;
    let session = app.login(A_CARD, "88888888").await;
    let first = app.application(&session, PHYTO_AND_VET).await;
    let page = app.get(&format!("/documents/{}/edit", first.id), &session).await;
    assert!(page.body.contains("使用初始值模板") && page.body.contains("存为模板"));
    let mut data = first.data.clone();
    contact(&mut data);
    let mut form = form_of(&data);
    form.extend([
        ("_csrf".to_owned(), page.csrf()),
        ("_version".to_owned(), first.version.to_string()),
        ("template_name".to_owned(), "常用联系人".to_owned()),
        ("template_scope".to_owned(), "enterprise".to_owned()),
    ]);
    let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let saved = app.post_form(&format!("/documents/{}/templates/save", first.id), &session, &pairs).await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
    assert!(saved.body.contains("初始值模板“常用联系人”已保存"));
    let listed = app.get("/templates", &session).await;
    assert!(listed.body.contains("常用联系人") && listed.body.contains("13905376612"), "{}", listed.body);
    let template = app.state.store.list_value_templates(A, A_CARD, Some("export-application")).await.unwrap();
    assert_eq!(template.len(), 1);
    assert!(template[0].data.get("insp_no").is_none(), "only the template fields are kept");

    // A new application takes the values; nothing is stored until 暂存.
    let second = app.application(&session, FOUR_KINDS).await;
    let page = app.get(&format!("/documents/{}/edit", second.id), &session).await;
    let mut form = form_of(&second.data);
    let id = template[0].id.to_string();
    form.extend([
        ("_csrf".to_owned(), page.csrf()),
        ("_version".to_owned(), second.version.to_string()),
        ("template".to_owned(), id),
    ]);
    let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let applied = app.post_form(&format!("/documents/{}/templates/apply", second.id), &session, &pairs).await;
    assert_eq!(applied.status, StatusCode::OK, "{}", applied.body);
    assert!(applied.body.contains("value=\"刘晓燕\"") && applied.body.contains("value=\"13905376612\""));
    assert!(applied.body.contains(FOUR_KINDS), "the ledger's data stays");
    assert!(app.doc(second.id).await.data.get("contact_name").is_none());

    // Enterprise B neither sees nor uses it.
    let b = app.login(B_CARD, "88888888").await;
    assert!(!app.get("/templates", &b).await.body.contains("常用联系人"));
}

#[tokio::test]
async fn subscribers_are_told_of_every_status_change_by_webhook_and_mail() {
    // A webhook receiver on loopback that answers 500 once, then 200.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook = format!("http://{}/certflow-hook", listener.local_addr().unwrap());
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut calls = 0;
        loop {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut buf = vec![0u8; 16384];
            let mut got = Vec::new();
            loop {
                let n = socket.read(&mut buf).await.unwrap_or(0);
                got.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&got);
                if n == 0
                    || text.split_once("\r\n\r\n").is_some_and(|(head, body)| {
                        head.lines()
                            .find_map(|l| l.strip_prefix("Content-Length: "))
                            .and_then(|v| v.trim().parse::<usize>().ok())
                            .is_some_and(|len| body.len() >= len)
                    })
                {
                    break;
                }
            }
            calls += 1;
            let status = if calls == 1 { "500 Internal Server Error" } else { "200 OK" };
            let _ = socket.write_all(format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\n\r\n").as_bytes()).await;
            if calls > 1 {
                let _ = tx.send(String::from_utf8_lossy(&got).into_owned());
            }
        }
    });
    // The receiver is on loopback: this server may deliver there.
    let app = test_app_configured(ServerConfig {
        customs: CustomsConfig {
            simulate: true,
            delay: Duration::from_millis(20),
            failure_rate: 0.0,
            ..CustomsConfig::default()
        },
        webhooks: certflow_server::webhook::WebhookConfig { allow_private: true, ..Default::default() },
        ..ServerConfig::default()
    })
    .await;
    let session = app.login(A_CARD, "88888888").await;
    let page = app.get("/subscriptions", &session).await;
    let bad = app
        .post_form("/subscriptions", &session, &[("_csrf", &page.csrf()), ("kind", "email"), ("target", "nobody")])
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.body.contains("请填写有效的电子邮箱地址"));

    let application = app.application(&session, PHYTO_AND_VET).await;
    let cert = app.certificate(&session, &application, "export-c5-1").await;
    app.complete(&cert).await;
    let submitted = app.act(&session, &application, "submit", contact).await;
    assert_eq!(submitted.status, StatusCode::SEE_OTHER, "{}", submitted.body);
    let list = app.get(&submitted.location(), &session).await;
    assert!(list.body.contains("id=\"subscribe-link\""), "提交 offers 订阅推送");

    for (kind, target) in [("webhook", hook.as_str()), ("email", "ops@huaxia.example")] {
        let ok = app
            .post_form("/subscriptions", &session, &[("_csrf", &page.csrf()), ("kind", kind), ("target", target)])
            .await;
        assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    }
    // The officer's receipt moves the certificate once customs has stored it.
    let mut waited = 0;
    while app.doc(cert.id).await.status != "HS" {
        waited += 1;
        assert!(waited < 400, "customs never stored the certificate");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let officer = app.login(OFFICER_CARD, "99999999").await;
    let sent = app.officer_receipt(&officer, cert.id, "EW", "请确认证稿").await;
    assert_eq!(sent.status, StatusCode::SEE_OTHER);

    // The webhook gets every change (the first attempt answered 500 is
    // retried), the officer's draft among them.
    let body = loop {
        let request = tokio::time::timeout(Duration::from_secs(30), rx.recv()).await.expect("delivered").unwrap();
        assert!(request.starts_with("POST /certflow-hook HTTP/1.1"), "{request}");
        let body: Value = serde_json::from_str(request.split_once("\r\n\r\n").unwrap().1).unwrap();
        if body["status"] == "EW" {
            break body;
        }
    };
    assert_eq!(body["status"], "EW");
    assert_eq!(body["status_zh"], "待企业确认");
    assert_eq!(body["document_id"], json!(cert.id));
    assert_eq!(body["receipt"], "EW");
    // The e-mail is in the spool.
    let spool = app._dir.path().join("mail");
    let mut mails = Vec::new();
    for _ in 0..200 {
        mails =
            std::fs::read_dir(&spool).map(|d| d.filter_map(Result::ok).map(|e| e.path()).collect()).unwrap_or_default();
        if !mails.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!mails.is_empty(), "e-mails were spooled");
    let mut found = false;
    for _ in 0..200 {
        let texts: Vec<String> = std::fs::read_dir(&spool)
            .unwrap()
            .filter_map(Result::ok)
            .map(|e| std::fs::read_to_string(e.path()).unwrap())
            .collect();
        assert!(texts.iter().all(|m| m.starts_with("To: ops@huaxia.example\r\n")), "{texts:?}");
        if texts.iter().any(|m| m.contains("待企业确认")) {
            found = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(found, "the draft's e-mail was spooled");
}

#[tokio::test]
async fn a_general_certificate_takes_the_ledger_and_counts_its_containers() {
    let app = test_app().await;
    let session = app.login(A_CARD, "88888888").await;
    let page = app.get("/lists/export-generals/new?doctype=export-general", &session).await;
    assert_eq!(page.status, StatusCode::OK);
    let refused = app
        .post_form(
            "/lists/export-generals/new",
            &session,
            &[("_csrf", &page.csrf()), ("doctype", "export-general"), ("key", OTHER_ENTERPRISE)],
        )
        .await;
    assert!(refused.body.contains("单位比对不一致"));
    let made = app
        .post_form(
            "/lists/export-generals/new",
            &session,
            &[("_csrf", &page.csrf()), ("doctype", "export-general"), ("key", PHYTO_AND_VET)],
        )
        .await;
    assert_eq!(made.status, StatusCode::SEE_OTHER, "{}", made.body);
    let id = made.location().trim_start_matches("/documents/").trim_end_matches("/edit").to_owned();
    let doc = app.doc(Uuid::parse_str(&id).unwrap()).await;
    assert_eq!(doc.data["consignor_name_zh"], "北京华夏示范食品进出口有限公司");
    assert_eq!(doc.data["declarant_name_zh"], "北京华夏示范食品进出口有限公司", "申报单位 from the card");
    let form = app.get(&format!("/documents/{}/edit", doc.id), &session).await;
    assert!(form.body.contains("id=\"uppercase-switch\"") && form.body.contains("data-latin=\"true\""), "英文转大写");
    app.pick(&session, &doc, "goods", &["1", "2"]).await;
    app.pick(&session, &doc, "containers", &["TCLU1234568"]).await;
    let doc = app.doc(doc.id).await;
    assert_eq!(doc.data["goods"].as_array().unwrap().len(), 2);
    assert_eq!(doc.data["containers"][0]["container_spec"], "12", "the ledger's size");

    // Several numbers in one line are counted; a wrong one is named.
    let bad = app
        .act(&session, &doc, "save", |d| {
            d["containers"][0]["container_no"] = json!("TCLU1234568，CAIU7654325");
        })
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.body.contains("CAIU7654325 不符合校验规则"), "{}", bad.body);
    let saved = app
        .act(&session, &doc, "save", |d| {
            d["containers"][0]["container_no"] = json!("TCLU1234568，CAIU7654324");
            d["contact_name"] = json!("刘晓燕");
            d["total_weight"] = json!(15000);
            d["weight_unit"] = json!("035");
            d["goods"][1]["name_en"] = json!("NATURAL HONEY");
        })
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    let doc = app.doc(doc.id).await;
    assert_eq!(doc.data["containers"][0]["container_count"], 2);
    let submitted = app.act(&session, &doc, "submit", |_| {}).await;
    assert_eq!(submitted.status, StatusCode::SEE_OTHER, "{}", submitted.body);
    assert_eq!(app.doc(doc.id).await.status, "D");
}

#[tokio::test]
async fn certificate_attachments_take_mark_pictures_and_pdfs_each_in_their_slot() {
    let app = test_app().await;
    let session = app.login(A_CARD, "88888888").await;
    let application = app.application(&session, PHYTO_AND_VET).await;
    let cert = app.certificate(&session, &application, "export-c5-1").await;
    let page = app.get(&format!("/documents/{}/attachments", cert.id), &session).await;
    assert!(page.body.contains("accept=\".jpg,.png\""), "the marks slot asks for pictures");
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x02\0\0\0\x90wS\xde\0\0\0\x0cIDATx\x9cc\xf8\x0f\0\0\x01\x01\0\x05\x18\xd8N\0\0\0\0IEND\xaeB`\x82";
    let upload = |slot: &'static str, name: &'static str, bytes: Vec<u8>| {
        let (content_type, body) = multipart(&[("_csrf", &page.csrf()), ("slot", slot)], &[(name, &bytes)]);
        axum::http::Request::post(format!("/documents/{}/attachments", cert.id))
            .header(axum::http::header::COOKIE, &session)
            .header(axum::http::header::CONTENT_TYPE, content_type)
            .body(axum::body::Body::from(body))
            .unwrap()
    };
    let pdf_as_marks = app.send(upload("marks_image", "marks.pdf", small_pdf(1))).await;
    assert!(pdf_as_marks.body.contains("只可上传 jpg&#x2f;png 格式的文件"), "{}", pdf_as_marks.body);
    let png_as_pdf = app.send(upload("supporting", "marks.png", png.to_vec())).await;
    assert!(png_as_pdf.body.contains("marks.png"), "{}", png_as_pdf.body);
    let marks = app.send(upload("marks_image", "marks.png", png.to_vec())).await;
    assert!(marks.body.contains("上传成功"), "{}", marks.body);
    let files = app.state.store.list_attachments(A, cert.id).await.unwrap();
    assert_eq!(files.len(), 1);
    assert_eq!((files[0].slot.as_str(), files[0].media_type.as_str()), ("marks_image", "image/png"));
}

#[tokio::test]
async fn a_format_added_while_an_application_is_open_is_offered_and_submitted_with_it() {
    let (app, dir) = reloading_app().await;
    let session = app.login(A_CARD, "88888888").await;
    let application = app.application(&session, PHYTO_AND_VET).await;
    let phyto = app.certificate(&session, &application, "export-c5-1").await;
    let made_with = application.bundle_hash.clone();

    // An analyst adds a second phytosanitary format (same kind, 18).
    let forms = dir.path().join("forms");
    let yaml = std::fs::read_to_string(forms.join("doctypes/export/export-c5-1.yaml")).unwrap();
    std::fs::write(
        forms.join("doctypes/export/export-c5-1-trial.yaml"),
        yaml.replace("id: export-c5-1\n", "id: export-c5-1-trial\n")
            .replace("sample: samples/export-c5-1.json", "sample: samples/export-c5-1-trial.json")
            .replace("C5-1植物检疫证书", "C5-1植物检疫证书（试行格式）"),
    )
    .unwrap();
    std::fs::copy(forms.join("samples/export-c5-1.json"), forms.join("samples/export-c5-1-trial.json")).unwrap();
    let certflow_server::reload::ReloadOutcome::Activated { version } =
        certflow_server::reload::reload(&app.state, "test").await
    else {
        panic!("activated")
    };

    // The application, made before, offers it; a certificate of it is made
    // with the new definitions, the earlier one keeps its own.
    let page = app.get(&format!("/documents/{}/edit", application.id), &session).await;
    assert!(page.body.contains("export-c5-1-trial"), "offered under 添加证书");
    let trial = app.certificate(&session, &application, "export-c5-1-trial").await;
    assert_eq!(trial.bundle_hash, version);
    assert_eq!(app.doc(phyto.id).await.bundle_hash, made_with);
    let page = app.get(&format!("/documents/{}/edit", application.id), &session).await;
    assert!(page.body.contains("C5-1植物检疫证书（试行格式）"), "listed with its own definitions");

    // One signature submits the application and both certificates.
    app.complete(&phyto).await;
    app.complete(&trial).await;
    let application = app.doc(application.id).await;
    let submitted = app.act(&session, &application, "submit", contact).await;
    assert_eq!(submitted.status, StatusCode::SEE_OTHER, "{}", submitted.body);
    let digest = app.doc(application.id).await.meta["signature"]["digest"].clone();
    for id in [phyto.id, trial.id] {
        let cert = app.doc(id).await;
        assert_eq!(cert.status, "D", "{}", cert.doctype);
        assert_eq!(cert.meta["signature"]["digest"], digest);
    }
}
