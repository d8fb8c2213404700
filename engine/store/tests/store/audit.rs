use certflow_store::{AuditQuery, NewAuditEntry, Store};
use serde_json::json;

use crate::fixtures::{ENTERPRISE_A, ENTERPRISE_B, insert};

backend_tests!(audit_trail);

async fn audit_trail(store: Store) {
    let document = insert(&store, ENTERPRISE_A, "export-health").await;
    let entry = |enterprise: &str, document_id, action: &str| NewAuditEntry {
        actor: "user-1".to_owned(),
        enterprise: enterprise.to_owned(),
        document_id,
        action: action.to_owned(),
        detail: json!({"from": "draft", "note": "备注"}),
    };
    let created = store.append_audit(entry(ENTERPRISE_A, Some(document.id), "create")).await.unwrap();
    let login = store.append_audit(entry(ENTERPRISE_A, None, "login")).await.unwrap();
    let checked = store.append_audit(entry(ENTERPRISE_A, Some(document.id), "check")).await.unwrap();
    store.append_audit(entry(ENTERPRISE_B, None, "login")).await.unwrap();
    assert!(created.id < login.id && login.id < checked.id);
    assert_eq!(created.detail["note"], "备注");

    let trail = store.list_audit(&AuditQuery::for_document(ENTERPRISE_A, document.id)).await.unwrap();
    assert_eq!(trail, vec![created.clone(), checked.clone()]);

    let trail = store.list_audit(&AuditQuery::for_enterprise(ENTERPRISE_A)).await.unwrap();
    assert_eq!(trail, vec![created.clone(), login.clone(), checked.clone()]);

    let page = AuditQuery { offset: 1, limit: 1, ..AuditQuery::for_enterprise(ENTERPRISE_A) };
    assert_eq!(store.list_audit(&page).await.unwrap(), vec![login]);

    // Another enterprise cannot read A's trail, even naming A's document.
    assert!(store.list_audit(&AuditQuery::for_document(ENTERPRISE_B, document.id)).await.unwrap().is_empty());

    // The trail outlives the document.
    store.delete_document(ENTERPRISE_A, document.id).await.unwrap();
    let trail = store.list_audit(&AuditQuery::for_document(ENTERPRISE_A, document.id)).await.unwrap();
    assert_eq!(trail, vec![created, checked]);
}
