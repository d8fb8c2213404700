use certflow_store::{DocumentQuery, NewDocument, Store, StoreError};
use serde_json::json;

use crate::fixtures::{ENTERPRISE_A, ENTERPRISE_B, insert, new_document};

backend_tests!(lookup_records_are_replaced_by_a_newer_import, children_are_listed_by_their_parent);

async fn lookup_records_are_replaced_by_a_newer_import(store: Store) {
    let first = vec![
        ("370100226000001".to_owned(), json!({"insp_no": "370100226000001", "goods": [{"qty": 10}]})),
        ("370100226000002".to_owned(), json!({"insp_no": "370100226000002", "goods": []})),
    ];
    assert_eq!(store.put_lookup_records("e-ledger", &first).await.unwrap(), 2);
    let again = vec![("370100226000001".to_owned(), json!({"insp_no": "370100226000001", "goods": [{"qty": 8}]}))];
    store.put_lookup_records("e-ledger", &again).await.unwrap();

    let record = store.get_lookup_record("e-ledger", "370100226000001").await.unwrap().expect("imported");
    assert_eq!(record.data["goods"][0]["qty"], 8, "the newer import wins");
    assert_eq!(store.count_lookup_records("e-ledger").await.unwrap(), 2);
    assert!(store.get_lookup_record("e-ledger", "370100226999999").await.unwrap().is_none());
    assert!(store.get_lookup_record("other-source", "370100226000001").await.unwrap().is_none());

    // A batch with an empty key stores nothing.
    let bad = vec![("370100226000003".to_owned(), json!({})), (" ".to_owned(), json!({}))];
    assert!(matches!(store.put_lookup_records("e-ledger", &bad).await, Err(StoreError::InvalidInput(_))));
    assert!(store.get_lookup_record("e-ledger", "370100226000003").await.unwrap().is_none());
}

async fn children_are_listed_by_their_parent(store: Store) {
    let parent = insert(&store, ENTERPRISE_A, "application").await;
    let other = insert(&store, ENTERPRISE_A, "application").await;
    for doctype in ["cert-a", "cert-b"] {
        let child = NewDocument { parent_id: Some(parent.id), ..new_document(ENTERPRISE_A, doctype) };
        let stored = store.insert_document(child).await.unwrap();
        assert_eq!(stored.parent_id, Some(parent.id));
    }
    store
        .insert_document(NewDocument { parent_id: Some(other.id), ..new_document(ENTERPRISE_A, "cert-c") })
        .await
        .unwrap();
    assert_eq!(parent.parent_id, None);

    let children = store
        .list_documents(&DocumentQuery { parent: Some(parent.id), ..DocumentQuery::new(ENTERPRISE_A) })
        .await
        .unwrap();
    let mut types: Vec<_> = children.documents.iter().map(|d| d.doctype.as_str()).collect();
    types.sort();
    assert_eq!(types, ["cert-a", "cert-b"]);
    // Another enterprise asking for the same parent sees nothing.
    let foreign = store
        .list_documents(&DocumentQuery { parent: Some(parent.id), ..DocumentQuery::new(ENTERPRISE_B) })
        .await
        .unwrap();
    assert_eq!(foreign.total, 0);
}
