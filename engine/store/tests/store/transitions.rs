use std::time::Duration;

use certflow_store::{
    AuditQuery, AuditRecord, Document, DocumentUpdate, NumberRequest, OutboxRecord, Store, StoreError, Transition,
};
use serde_json::json;

use crate::fixtures::{ENTERPRISE_A, ENTERPRISE_B, insert};

backend_tests!(
    a_transition_writes_everything_at_once,
    a_stale_transition_writes_nothing,
    a_numbered_document_keeps_its_number,
);

const TOPIC: &str = "customs.submit";

fn unified_number() -> NumberRequest {
    NumberRequest { scheme_id: "unified".to_owned(), prefix: "A".to_owned(), year: 2026, serial_width: 9 }
}

fn submit(document: &Document, expected_version: i64, durable: bool) -> Transition {
    let mut update = DocumentUpdate::from(document);
    update.status = "submitted".to_owned();
    update.data["signature"] = json!("MEUCIQ…");
    update.meta["signature"] = json!({"cert_no": "0123ABCD", "value": "MEUCIQ…"});
    Transition {
        enterprise: document.enterprise.clone(),
        document_id: document.id,
        expected_version,
        update,
        assign_unified_no: Some(unified_number()),
        audit: AuditRecord {
            actor: "user-1".to_owned(),
            action: "submit".to_owned(),
            detail: json!({"from": document.status}),
        },
        message: Some(OutboxRecord { topic: TOPIC.to_owned(), payload: json!({"document_id": document.id}) }),
        durable,
    }
}

async fn a_transition_writes_everything_at_once(store: Store) {
    for (n, durable) in [(1, true), (2, false)] {
        let document = insert(&store, ENTERPRISE_A, "export-health").await;
        let done = store.transition(submit(&document, 1, durable)).await.unwrap();
        let submitted = &done.document;
        assert_eq!(submitted.status, "submitted");
        assert_eq!(submitted.version, 2);
        assert_eq!(submitted.data["signature"], "MEUCIQ…");
        assert_eq!(submitted.meta, json!({"signature": {"cert_no": "0123ABCD", "value": "MEUCIQ…"}}));
        assert_eq!(submitted.unified_no.as_deref(), Some(format!("A2026{n:09}").as_str()));
        assert_eq!(&store.get_document(ENTERPRISE_A, document.id).await.unwrap(), submitted);

        let trail = store.list_audit(&AuditQuery::for_document(ENTERPRISE_A, document.id)).await.unwrap();
        assert_eq!(trail.len(), 1);
        assert_eq!(trail[0].id, done.audit_id);
        assert_eq!(trail[0].action, "submit");
        assert_eq!(trail[0].enterprise, ENTERPRISE_A);
        assert_eq!(trail[0].detail, json!({"from": "draft"}));

        let messages = store.claim(TOPIC, 10, Duration::from_secs(60)).await.unwrap();
        assert_eq!(messages.len(), 1);
        assert_eq!(Some(messages[0].id), done.message_id);
        assert_eq!(messages[0].payload, json!({"document_id": document.id}));
        store.ack(&messages[0]).await.unwrap();
    }

    // The store stays usable for ordinary work after durable commits.
    let document = insert(&store, ENTERPRISE_A, "export-health").await;
    let mut plain = submit(&document, 1, false);
    plain.message = None;
    plain.assign_unified_no = None;
    let done = store.transition(plain).await.unwrap();
    assert_eq!(done.message_id, None);
    assert_eq!(done.document.unified_no, None);
}

async fn a_stale_transition_writes_nothing(store: Store) {
    let document = insert(&store, ENTERPRISE_A, "export-health").await;
    let mut edit = DocumentUpdate::from(&document);
    edit.data["remark"] = json!("edited meanwhile");
    let edited = store.update_document(ENTERPRISE_A, document.id, 1, edit).await.unwrap();

    for durable in [true, false] {
        assert!(matches!(
            store.transition(submit(&document, 1, durable)).await,
            Err(StoreError::Conflict { expected: 1, actual: 2, .. })
        ));
    }
    // Another enterprise cannot move the document either.
    let mut foreign = submit(&edited, 2, true);
    foreign.enterprise = ENTERPRISE_B.to_owned();
    assert!(matches!(store.transition(foreign).await, Err(StoreError::NotFound)));

    assert_eq!(store.get_document(ENTERPRISE_A, document.id).await.unwrap(), edited);
    assert!(store.list_audit(&AuditQuery::for_enterprise(ENTERPRISE_A)).await.unwrap().is_empty());
    assert!(store.claim(TOPIC, 10, Duration::from_secs(60)).await.unwrap().is_empty());
    // No number was drawn for the failed attempts.
    assert_eq!(store.next_number("unified", "A", 2026, 9).await.unwrap(), "A2026000000001");
}

async fn a_numbered_document_keeps_its_number(store: Store) {
    let document = insert(&store, ENTERPRISE_A, "export-health").await;
    let first = store.transition(submit(&document, 1, false)).await.unwrap().document;
    assert_eq!(first.unified_no.as_deref(), Some("A2026000000001"));

    // Rejected and submitted again: the number stays, no new one is drawn.
    let mut resubmit = submit(&first, first.version, true);
    resubmit.audit.action = "resubmit".to_owned();
    let second = store.transition(resubmit).await.unwrap().document;
    assert_eq!(second.unified_no, first.unified_no);
    assert_eq!(second.version, 3);
    assert_eq!(store.next_number("unified", "A", 2026, 9).await.unwrap(), "A2026000000002");
}
