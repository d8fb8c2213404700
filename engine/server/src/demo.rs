//! Demo data for `certflow serve --demo`: two enterprises, their users and
//! bound cards, a customs officer, and notices of every type the bundle's
//! import workflows govern, in varied statuses with their receipts.
//! Seeding is idempotent: a database that has the demo accounts is left as is.
//!
//! Each demo account is bound to a development soft card (SM2 key and
//! certificate in a directory) that `certflow agent --soft-card DIR` serves
//! to the pages, as the E-Port client serves a real card.

use std::path::{Path, PathBuf};

use certflow_core::raw::FieldType;
use certflow_sign::{SoftCard, SoftCardOptions};
use certflow_store::{DocumentUpdate, NewEnterprise, NewReceipt, NewUser, Role, StoreError};
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::auth::hash_pin;
use crate::customs;
use crate::error::AppError;
use crate::state::AppState;

/// A login the demo prints.
#[derive(Debug, Clone)]
pub struct DemoLogin {
    pub card_no: &'static str,
    pub pin: &'static str,
    pub who: &'static str,
}

pub const ENTERPRISE_A: (&str, &str, &str, &str) = (
    "1101910023",
    "91350100M000100Y43",
    "北京华夏示范食品进出口有限公司",
    "Huaxia Demo Food Import & Export Co., Ltd.",
);
pub const ENTERPRISE_B: (&str, &str, &str, &str) =
    ("4403960512", "9144030071526726XG", "深圳南海示范贸易有限公司", "Nanhai Demo Trading Co., Ltd.");

pub const LOGINS: [DemoLogin; 4] = [
    DemoLogin {
        card_no: "8930000000000001",
        pin: "88888888",
        who: "张明 · 北京华夏示范食品进出口有限公司 (enterprise user)",
    },
    DemoLogin {
        card_no: "8930000000000002",
        pin: "88888888",
        who: "王芳 · 深圳南海示范贸易有限公司 (enterprise user)",
    },
    DemoLogin { card_no: "8990000000000001", pin: "99999999", who: "李华 · 海关关员 (customs officer)" },
    DemoLogin {
        card_no: "8990000000000009", pin: "99999999", who: "赵强 · 系统管理员 (administrator, /admin)"
    },
];

/// The demo's administrator, added to a database seeded before it existed.
async fn ensure_admin(state: &AppState) -> Result<(), AppError> {
    let admin = &LOGINS[3];
    match state.store.get_user_by_card(admin.card_no).await {
        Ok(_) => Ok(()),
        Err(StoreError::NotFound) => {
            state
                .store
                .create_user(NewUser {
                    card_no: admin.card_no.into(),
                    cert_no: None,
                    cert_pem: None,
                    enterprise: None,
                    name: "赵强".into(),
                    role: Role::Admin,
                    pin_hash: Some(hash_pin(admin.pin)),
                })
                .await?;
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

/// A demo account's soft card, for `certflow agent --soft-card DIR`.
#[derive(Debug, Clone)]
pub struct DemoCard {
    pub login: DemoLogin,
    pub dir: PathBuf,
}

/// Opens (or creates, with the account's PIN) a soft card per demo account
/// under `cards_dir` and binds each account to its card's certificate.
pub async fn bind_soft_cards(state: &AppState, cards_dir: &Path) -> Result<Vec<DemoCard>, AppError> {
    let mut cards = Vec::new();
    for login in LOGINS {
        let dir = cards_dir.join(login.card_no);
        let card = if dir.join("card.json").exists() {
            SoftCard::open(&dir)
        } else {
            SoftCard::create_with(&dir, &SoftCardOptions::new(login.card_no).pin(login.pin))
        }
        .map_err(AppError::internal)?;
        let user = state.store.get_user_by_card(login.card_no).await?;
        let cert_no = card.cert_no();
        if user.cert_no.as_deref() != Some(cert_no.as_str()) {
            let pem = card.certificate().to_pem();
            state.store.update_user_certificate(user.id, Some(&cert_no), Some(&pem)).await?;
        }
        cards.push(DemoCard { login, dir });
    }
    Ok(cards)
}

/// The demo's e-ledger records (a record for every shipped format, one that
/// asks for no certificate, one of another enterprise), in the format
/// `certflow ledger import` reads.
pub const DEMO_LEDGER: &str = include_str!("../demo/e-ledger.json");

/// The words of the demo's notices (what an officer would write): the
/// reason (`{category}` is the type's), and the requirement of a type
/// without and with attachment slots.
const DEMO_NOTICES: &str = include_str!("../demo/notices.json");

/// Imports the demo ledger when the bundle describes such records; every
/// record must pass the record type's checks.
pub async fn seed_ledger(state: &AppState) -> Result<usize, AppError> {
    let bundle = state.bundle.current();
    // The bundle's record type: the demo ledger is written for the shipped one.
    let Some(ty) = bundle.doctypes.values().find(|t| t.record_key.is_some()) else { return Ok(0) };
    let records =
        certflow_core::records::parse_records(DEMO_LEDGER.as_bytes(), certflow_core::records::RecordFormat::Json, ty)
            .map_err(AppError::internal)?;
    let mut valid = Vec::new();
    for r in records {
        let report = bundle.validate_as(ty, &r.data, certflow_core::Mode::Submit);
        if let Some(e) = report.errors.first() {
            return Err(AppError::internal(format!(
                "demo ledger record {}: {} [{}] {}",
                r.line, e.path, e.code, e.message_en
            )));
        }
        valid.push((r.key.unwrap_or_default(), report.document));
    }
    state.store.put_lookup_records(&ty.id, &valid).await?;
    Ok(valid.len())
}

pub async fn seed(state: &AppState) -> Result<&'static [DemoLogin], AppError> {
    seed_ledger(state).await?;
    match state.store.get_user_by_card(LOGINS[0].card_no).await {
        Ok(_) => {
            ensure_admin(state).await?;
            return Ok(&LOGINS);
        }
        Err(StoreError::NotFound) => {}
        Err(e) => return Err(e.into()),
    }
    for (code, credit, zh, en) in [ENTERPRISE_A, ENTERPRISE_B] {
        state
            .store
            .upsert_enterprise(NewEnterprise {
                code: code.into(),
                credit_code: credit.into(),
                name_zh: zh.into(),
                name_en: en.into(),
            })
            .await?;
    }
    let people = [
        ("张明", Some(ENTERPRISE_A.0), Role::Enterprise),
        ("王芳", Some(ENTERPRISE_B.0), Role::Enterprise),
        ("李华", None, Role::Officer),
    ];
    for (login, (name, enterprise, role)) in LOGINS[..3].iter().zip(people) {
        state
            .store
            .create_user(NewUser {
                card_no: login.card_no.into(),
                cert_no: None,
                cert_pem: None,
                enterprise: enterprise.map(str::to_owned),
                name: name.into(),
                role,
                pin_hash: Some(hash_pin(login.pin)),
            })
            .await?;
    }
    ensure_admin(state).await?;
    seed_notices(state).await?;
    Ok(&LOGINS)
}

/// What the declaration back-fills: the sample without the dates and
/// whole numbers of its lines (production dates, shelf lives), which the
/// enterprise adds itself.
fn declaration_prefill(ty: &certflow_core::DocType, sample: &Value) -> Value {
    let mut data = sample.clone();
    for table in ty.tables.values() {
        let Some(rows) = data.get_mut(&table.id).and_then(Value::as_array_mut) else { continue };
        for row in rows.iter_mut().filter_map(Value::as_object_mut) {
            for f in table.fields.values() {
                if matches!(f.field_type, FieldType::Date | FieldType::Integer) {
                    row.remove(&f.id);
                }
            }
        }
    }
    data
}

async fn seed_notices(state: &AppState) -> Result<(), AppError> {
    let words: Value = serde_json::from_str(DEMO_NOTICES).map_err(AppError::internal)?;
    let word = |pointer: &str| words.pointer(pointer).and_then(Value::as_str).unwrap_or_default().to_owned();
    let bundle = state.bundle.current();
    let year = OffsetDateTime::now_utc().year();
    let mut serial = 3400;
    let officer = LOGINS[2].card_no;
    // Notices are the types customs issues (`started_by: customs`), each
    // once, in the order its list shows them.
    let mut seeded = std::collections::HashSet::new();
    for list in bundle.list_views.values() {
        for (i, doctype) in list.doctypes.iter().enumerate() {
            if !customs::started_by_customs(&bundle, doctype) || !seeded.insert(doctype) {
                continue;
            }
            let Some(ty) = bundle.doctype(doctype) else { continue };
            let Some(workflow) = bundle.workflow_for(doctype) else { continue };
            let sample = ty.sample.clone().unwrap_or_else(|| json!({}));
            let label = ty.category.as_ref().map(|c| c.zh.clone()).unwrap_or_else(|| ty.name.zh.clone());
            // Every type gets a notice to do; some also show later statuses.
            let mut statuses = vec![workflow.initial.clone()];
            statuses.extend(workflow.states.keys().filter(|s| **s != workflow.initial).skip(i % 3).take(2).cloned());
            for status in statuses {
                serial += 1;
                let decl_no = format!("0101{year}1{serial:09}");
                let todo = status == workflow.initial;
                let prefill = if todo { declaration_prefill(ty, &sample) } else { sample.clone() };
                let reason = word("/reason").replace("{category}", &label);
                let requirement =
                    word(if ty.attachments.is_empty() { "/requirement" } else { "/requirement_with_attachments" });
                let doc =
                    customs::issue(state, ENTERPRISE_A.0, doctype, &decl_no, &reason, &requirement, prefill, officer)
                        .await?;
                if !todo {
                    let mut data = doc.data.clone();
                    if let (Some(d), Some(s)) = (data.as_object_mut(), sample.as_object()) {
                        for (k, v) in s {
                            d.insert(k.clone(), v.clone());
                        }
                        for lookup in ty.lookups.values() {
                            d.insert(lookup.key.clone(), json!(decl_no));
                        }
                    }
                    let update = DocumentUpdate { status: status.clone(), data, ..DocumentUpdate::from(&doc) };
                    state.store.update_document(ENTERPRISE_A.0, doc.id, doc.version, update).await?;
                    for receipt in workflow.receipts.values().filter(|r| r.to == status) {
                        state
                            .store
                            .add_receipt(NewReceipt {
                                document_id: doc.id,
                                code: receipt.code.clone(),
                                status: receipt.label.zh.clone(),
                                detail: json!({"message": "示例回执"}),
                                idempotency_key: format!("demo-{}-{}", doc.id, receipt.code),
                            })
                            .await?;
                    }
                }
            }
        }
    }
    // Enterprise B has one notice, which A must never see.
    if let Some(ty) = bundle
        .list_views
        .values()
        .flat_map(|l| l.doctypes.iter())
        .filter(|d| customs::started_by_customs(&bundle, d))
        .find_map(|d| bundle.doctype(d))
    {
        let doctype = &ty.id;
        let sample = ty.sample.clone().unwrap_or_else(|| json!({}));
        customs::issue(
            state,
            ENTERPRISE_B.0,
            doctype,
            &format!("5300{year}1000000001"),
            &word("/other_enterprise/reason"),
            &word("/other_enterprise/requirement"),
            declaration_prefill(ty, &sample),
            officer,
        )
        .await?;
    }
    Ok(())
}
