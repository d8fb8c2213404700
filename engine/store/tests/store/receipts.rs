use std::collections::BTreeSet;

use certflow_store::{NewReceipt, Store, StoreError, Uuid};
use serde_json::json;

use crate::fixtures::{ENTERPRISE_A, ENTERPRISE_B, insert};

backend_tests!(
    a_repeated_receipt_is_recorded_once,
    receipts_are_the_owners_only,
    concurrent_receipts_get_distinct_sequence_numbers,
);

fn receipt(document_id: Uuid, key: &str, code: &str) -> NewReceipt {
    NewReceipt {
        document_id,
        code: code.to_owned(),
        status: "accepted".to_owned(),
        detail: json!({"message": "入库成功", "customs_no": "C001"}),
        idempotency_key: key.to_owned(),
    }
}

async fn a_repeated_receipt_is_recorded_once(store: Store) {
    let document = insert(&store, ENTERPRISE_A, "export-health").await;
    let first = store.add_receipt(receipt(document.id, "msg-1", "0")).await.unwrap();
    assert!(first.newly_added);
    assert_eq!(first.receipt.seq, 1);
    assert_eq!(first.receipt.document_id, document.id);
    assert_eq!(first.receipt.detail["message"], "入库成功");

    let again = store.add_receipt(receipt(document.id, "msg-1", "0")).await.unwrap();
    assert!(!again.newly_added);
    assert_eq!(again.receipt, first.receipt);

    let second = store.add_receipt(receipt(document.id, "msg-2", "1")).await.unwrap();
    assert!(second.newly_added);
    assert_eq!(second.receipt.seq, 2);

    let listed = store.list_receipts(ENTERPRISE_A, document.id).await.unwrap();
    assert_eq!(listed, vec![first.receipt, second.receipt]);

    // A key names one message: reusing it for another document is an error.
    let other = insert(&store, ENTERPRISE_A, "export-health").await;
    assert!(matches!(store.add_receipt(receipt(other.id, "msg-1", "0")).await, Err(StoreError::Duplicate { .. })));
    assert!(matches!(store.add_receipt(receipt(Uuid::new_v4(), "msg-3", "0")).await, Err(StoreError::NotFound)));
    assert!(store.list_receipts(ENTERPRISE_A, other.id).await.unwrap().is_empty());
}

async fn receipts_are_the_owners_only(store: Store) {
    let document = insert(&store, ENTERPRISE_A, "export-health").await;
    store.add_receipt(receipt(document.id, "msg-1", "0")).await.unwrap();
    assert!(matches!(store.list_receipts(ENTERPRISE_B, document.id).await, Err(StoreError::NotFound)));
    assert!(matches!(store.list_receipts(ENTERPRISE_A, Uuid::new_v4()).await, Err(StoreError::NotFound)));
}

async fn concurrent_receipts_get_distinct_sequence_numbers(store: Store) {
    let document = insert(&store, ENTERPRISE_A, "export-health").await;
    let mut tasks = Vec::new();
    for task in 0..4 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            for message in 0..5 {
                let key = format!("task-{task}-message-{message}");
                let recorded = store.add_receipt(receipt(document.id, &key, "0")).await;
                assert!(recorded.unwrap().newly_added);
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let listed = store.list_receipts(ENTERPRISE_A, document.id).await.unwrap();
    let seqs: BTreeSet<i64> = listed.iter().map(|receipt| receipt.seq).collect();
    assert_eq!(seqs, (1..=20).collect());
}
