use certflow_store::{Document, NewDocument, NewEnterprise, NewUser, Role, Store, User};
use serde_json::{Value, json};

pub const ENTERPRISE_A: &str = "3100910001";
pub const ENTERPRISE_B: &str = "4403960002";

pub fn new_document(enterprise: &str, doctype: &str) -> NewDocument {
    NewDocument {
        doctype: doctype.to_owned(),
        bundle_hash: "sha256:0f1e2d".to_owned(),
        enterprise: enterprise.to_owned(),
        status: "draft".to_owned(),
        business_no: None,
        parent_id: None,
        data: sample_data(),
        meta: json!({}),
        created_by: "user-1".to_owned(),
    }
}

pub async fn insert(store: &Store, enterprise: &str, doctype: &str) -> Document {
    store.insert_document(new_document(enterprise, doctype)).await.expect("insert a document")
}

pub fn sample_data() -> Value {
    json!({
        "consignor": {"name": "上海某某食品有限公司", "code": "3100910001"},
        "goods": [
            {"hs": "0303.89", "name": "冻带鱼", "qty": 1250.5, "unit": "035"},
            {"hs": "1604.14", "name": "金枪鱼罐头", "qty": 12, "unit": "007"}
        ],
        "remark": null,
        "urgent": false
    })
}

pub fn new_enterprise(code: &str) -> NewEnterprise {
    NewEnterprise {
        code: code.to_owned(),
        credit_code: format!("91310000{code}"),
        name_zh: "上海某某食品有限公司".to_owned(),
        name_en: "Shanghai Example Foods Co., Ltd.".to_owned(),
    }
}

/// An enterprise user of a registered enterprise (registering it if need be).
pub async fn enterprise_user(store: &Store, enterprise: &str, card_no: &str) -> User {
    store.upsert_enterprise(new_enterprise(enterprise)).await.expect("register the enterprise");
    store
        .create_user(NewUser {
            card_no: card_no.to_owned(),
            cert_no: None,
            cert_pem: None,
            enterprise: Some(enterprise.to_owned()),
            name: "张三".to_owned(),
            role: Role::Enterprise,
            pin_hash: None,
        })
        .await
        .expect("create a user")
}
