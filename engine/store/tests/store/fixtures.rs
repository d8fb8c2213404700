use certflow_store::{Document, NewDocument, Store};
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
        data: sample_data(),
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
