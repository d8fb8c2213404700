use std::time::Duration;

use certflow_store::{DateField, DocumentQuery, DocumentUpdate, NewDocument, Store, StoreError, Uuid};
use serde_json::json;

use crate::fixtures::{ENTERPRISE_A, ENTERPRISE_B, insert, new_document, sample_data};

backend_tests!(
    document_crud,
    another_enterprise_sees_nothing,
    stale_version_is_a_conflict,
    unified_number_is_unique,
    list_filters_and_pages,
    find_by_unified_number,
    meta_round_trip_and_update,
    customs_view_spans_enterprises,
);

async fn document_crud(store: Store) {
    let new = NewDocument {
        business_no: Some("310120261234567890".to_owned()),
        ..new_document(ENTERPRISE_A, "export-health")
    };
    let created = store.insert_document(new.clone()).await.unwrap();
    assert_eq!(created.doctype, "export-health");
    assert_eq!(created.bundle_hash, new.bundle_hash);
    assert_eq!(created.enterprise, ENTERPRISE_A);
    assert_eq!(created.status, "draft");
    assert_eq!(created.business_no, new.business_no);
    assert_eq!(created.unified_no, None);
    assert_eq!(created.customs_no, None);
    assert_eq!(created.data, sample_data());
    assert_eq!(created.meta, json!({}));
    assert_eq!(created.version, 1);
    assert_eq!(created.created_by, "user-1");
    assert_eq!(created.created_at, created.updated_at);

    let read = store.get_document(ENTERPRISE_A, created.id).await.unwrap();
    assert_eq!(read, created);

    tokio::time::sleep(Duration::from_millis(5)).await;
    let mut update = DocumentUpdate::from(&read);
    update.status = "checked".to_owned();
    update.data["goods"][0]["qty"] = json!(1300);
    update.customs_no = Some("C2026-0001".to_owned());
    let updated = store.update_document(ENTERPRISE_A, read.id, read.version, update.clone()).await.unwrap();
    assert_eq!(updated.version, 2);
    assert_eq!(updated.status, "checked");
    assert_eq!(updated.data, update.data);
    assert_eq!(updated.customs_no.as_deref(), Some("C2026-0001"));
    assert_eq!(updated.created_at, created.created_at);
    assert!(updated.updated_at > created.updated_at);
    assert_eq!(store.get_document(ENTERPRISE_A, read.id).await.unwrap(), updated);

    store.delete_document(ENTERPRISE_A, read.id).await.unwrap();
    assert!(matches!(store.get_document(ENTERPRISE_A, read.id).await, Err(StoreError::NotFound)));
    assert!(matches!(store.delete_document(ENTERPRISE_A, read.id).await, Err(StoreError::NotFound)));
}

async fn another_enterprise_sees_nothing(store: Store) {
    let document = insert(&store, ENTERPRISE_A, "export-health").await;
    let id = document.id;

    assert!(matches!(store.get_document(ENTERPRISE_B, id).await, Err(StoreError::NotFound)));
    assert!(matches!(
        store.update_document(ENTERPRISE_B, id, 1, DocumentUpdate::from(&document)).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(store.delete_document(ENTERPRISE_B, id).await, Err(StoreError::NotFound)));
    let page = store.list_documents(&DocumentQuery::new(ENTERPRISE_B)).await.unwrap();
    assert_eq!(page.total, 0);
    assert!(page.documents.is_empty());

    // Nothing above touched A's document.
    assert_eq!(store.get_document(ENTERPRISE_A, id).await.unwrap(), document);
}

async fn stale_version_is_a_conflict(store: Store) {
    let document = insert(&store, ENTERPRISE_A, "export-health").await;
    let mut first = DocumentUpdate::from(&document);
    first.status = "checked".to_owned();
    store.update_document(ENTERPRISE_A, document.id, 1, first).await.unwrap();

    let mut second = DocumentUpdate::from(&document);
    second.data = json!({"overwritten": true});
    match store.update_document(ENTERPRISE_A, document.id, 1, second).await {
        Err(StoreError::Conflict { id, expected, actual }) => {
            assert_eq!(id, document.id);
            assert_eq!((expected, actual), (1, 2));
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    let current = store.get_document(ENTERPRISE_A, document.id).await.unwrap();
    assert_eq!(current.status, "checked");
    assert_eq!(current.data, sample_data());
    assert_eq!(current.version, 2);

    assert!(matches!(
        store.update_document(ENTERPRISE_A, Uuid::new_v4(), 1, DocumentUpdate::from(&document)).await,
        Err(StoreError::NotFound)
    ));
}

async fn unified_number_is_unique(store: Store) {
    let first = insert(&store, ENTERPRISE_A, "export-health").await;
    let second = insert(&store, ENTERPRISE_A, "export-health").await;
    let numbered =
        |document| DocumentUpdate { unified_no: Some("A2026000000001".to_owned()), ..DocumentUpdate::from(document) };
    store.update_document(ENTERPRISE_A, first.id, 1, numbered(&first)).await.unwrap();
    assert!(matches!(
        store.update_document(ENTERPRISE_A, second.id, 1, numbered(&second)).await,
        Err(StoreError::Duplicate { .. })
    ));
}

async fn list_filters_and_pages(store: Store) {
    let mut made = Vec::new();
    for (doctype, status, business_no) in [
        ("export-health", "draft", Some("D1")),
        ("export-health", "issued", Some("D2")),
        ("quarantine", "draft", None),
        ("quarantine", "rejected", Some("D1")),
        ("export-health", "draft", None),
    ] {
        // Distinct creation times, so "newest first" is well defined.
        tokio::time::sleep(Duration::from_millis(3)).await;
        let new = NewDocument {
            status: status.to_owned(),
            business_no: business_no.map(str::to_owned),
            ..new_document(ENTERPRISE_A, doctype)
        };
        made.push(store.insert_document(new).await.unwrap());
    }
    insert(&store, ENTERPRISE_B, "export-health").await;
    let ids = |documents: &[certflow_store::Document]| -> Vec<Uuid> {
        documents.iter().map(|document| document.id).collect()
    };

    let all = store.list_documents(&DocumentQuery::new(ENTERPRISE_A)).await.unwrap();
    assert_eq!(all.total, 5);
    let newest_first: Vec<Uuid> = made.iter().rev().map(|document| document.id).collect();
    assert_eq!(ids(&all.documents), newest_first);

    let query = DocumentQuery {
        doctypes: vec!["export-health".to_owned()],
        statuses: vec!["draft".to_owned(), "issued".to_owned()],
        ..DocumentQuery::new(ENTERPRISE_A)
    };
    let page = store.list_documents(&query).await.unwrap();
    assert_eq!(ids(&page.documents), vec![made[4].id, made[1].id, made[0].id]);

    let query = DocumentQuery { business_no: Some("D1".to_owned()), ..DocumentQuery::new(ENTERPRISE_A) };
    let page = store.list_documents(&query).await.unwrap();
    assert_eq!(ids(&page.documents), vec![made[3].id, made[0].id]);

    let query = DocumentQuery {
        date_field: DateField::CreatedAt,
        from: Some(made[1].created_at),
        until: Some(made[3].created_at),
        ..DocumentQuery::new(ENTERPRISE_A)
    };
    let page = store.list_documents(&query).await.unwrap();
    assert_eq!(ids(&page.documents), vec![made[2].id, made[1].id]);

    let query = DocumentQuery { offset: 1, limit: 2, ..DocumentQuery::new(ENTERPRISE_A) };
    let page = store.list_documents(&query).await.unwrap();
    assert_eq!(page.total, 5);
    assert_eq!(ids(&page.documents), vec![made[3].id, made[2].id]);

    let query = DocumentQuery { offset: 10, ..DocumentQuery::new(ENTERPRISE_A) };
    let page = store.list_documents(&query).await.unwrap();
    assert_eq!(page.total, 5);
    assert!(page.documents.is_empty());

    // Updating moves a document to the front of the default order.
    tokio::time::sleep(Duration::from_millis(3)).await;
    let oldest = &made[0];
    let mut update = DocumentUpdate::from(oldest);
    update.unified_no = Some("B2026000000042".to_owned());
    store.update_document(ENTERPRISE_A, oldest.id, 1, update).await.unwrap();
    let page = store.list_documents(&DocumentQuery::new(ENTERPRISE_A)).await.unwrap();
    assert_eq!(page.documents[0].id, oldest.id);
    let query = DocumentQuery { unified_no: Some("B2026000000042".to_owned()), ..DocumentQuery::new(ENTERPRISE_A) };
    assert_eq!(store.list_documents(&query).await.unwrap().total, 1);
}

async fn find_by_unified_number(store: Store) {
    let document = insert(&store, ENTERPRISE_B, "export-health").await;
    let update = DocumentUpdate { unified_no: Some("E2026000000007".to_owned()), ..DocumentUpdate::from(&document) };
    let numbered = store.update_document(ENTERPRISE_B, document.id, 1, update).await.unwrap();
    assert_eq!(store.find_document_by_unified_no("E2026000000007").await.unwrap(), numbered);
    assert!(matches!(store.find_document_by_unified_no("E2026000000008").await, Err(StoreError::NotFound)));
}

#[tokio::test]
async fn rejects_unknown_database_urls() {
    assert!(matches!(Store::connect("mysql://localhost/certflow").await, Err(StoreError::InvalidInput(_))));
}

#[tokio::test]
async fn creates_a_missing_sqlite_file() {
    let dir = tempfile::TempDir::new().unwrap();
    let path = dir.path().join("new.sqlite");
    let store = Store::connect(&format!("sqlite:{}", path.display())).await.unwrap();
    assert_eq!(store.backend(), certflow_store::Backend::Sqlite);
    store.close().await;
    assert!(path.exists());
}

async fn meta_round_trip_and_update(store: Store) {
    let notice = json!({"notice": {"no": "N2026-0001", "reason": "标签不符", "requirement": "补充原产地证明"}});
    let new = NewDocument { meta: notice.clone(), ..new_document(ENTERPRISE_A, "export-health") };
    let created = store.insert_document(new).await.unwrap();
    assert_eq!(created.meta, notice);
    assert_eq!(created.data, sample_data());
    let read = store.get_document(ENTERPRISE_A, created.id).await.unwrap();
    assert_eq!(read.meta, notice);

    // An update of the data alone carries the metadata over.
    let mut update = DocumentUpdate::from(&read);
    assert_eq!(update.meta, notice);
    update.data["remark"] = json!("已补充");
    let updated = store.update_document(ENTERPRISE_A, read.id, read.version, update).await.unwrap();
    assert_eq!(updated.meta, notice);
    assert_eq!(updated.data["remark"], "已补充");

    let mut update = DocumentUpdate::from(&updated);
    update.meta["signature"] = json!({"cert_no": "0123ABCD", "signed_at": "2026-03-01T08:00:00Z"});
    update.meta.as_object_mut().unwrap().remove("notice");
    let updated = store.update_document(ENTERPRISE_A, read.id, updated.version, update.clone()).await.unwrap();
    assert_eq!(updated.meta, json!({"signature": {"cert_no": "0123ABCD", "signed_at": "2026-03-01T08:00:00Z"}}));
    assert_eq!(updated.data, update.data);
    assert_eq!(store.get_document(ENTERPRISE_A, read.id).await.unwrap(), updated);
}

async fn customs_view_spans_enterprises(store: Store) {
    let a = insert(&store, ENTERPRISE_A, "export-health").await;
    tokio::time::sleep(Duration::from_millis(3)).await;
    let b = insert(&store, ENTERPRISE_B, "export-health").await;
    let ids = |documents: &[certflow_store::Document]| -> Vec<Uuid> {
        documents.iter().map(|document| document.id).collect()
    };

    let all = store.list_documents(&DocumentQuery::customs()).await.unwrap();
    assert_eq!(all.total, 2);
    assert_eq!(ids(&all.documents), vec![b.id, a.id]);
    let own = store.list_documents(&DocumentQuery::new(ENTERPRISE_A)).await.unwrap();
    assert_eq!(own.total, 1);
    assert_eq!(ids(&own.documents), vec![a.id]);

    let update = DocumentUpdate { customs_no: Some("C2026-0042".to_owned()), ..DocumentUpdate::from(&b) };
    let b = store.update_document(ENTERPRISE_B, b.id, 1, update).await.unwrap();
    let query = DocumentQuery { customs_no: Some("C2026-0042".to_owned()), ..DocumentQuery::customs() };
    let page = store.list_documents(&query).await.unwrap();
    assert_eq!(page.total, 1);
    assert_eq!(page.documents, vec![b.clone()]);
    // The customs number does not lift the enterprise scope.
    let query = DocumentQuery { customs_no: Some("C2026-0042".to_owned()), ..DocumentQuery::new(ENTERPRISE_A) };
    assert_eq!(store.list_documents(&query).await.unwrap().total, 0);
    let query = DocumentQuery { statuses: vec!["checked".to_owned()], ..DocumentQuery::customs() };
    assert_eq!(store.list_documents(&query).await.unwrap().total, 0);

    assert_eq!(store.get_document_for_customs(a.id).await.unwrap(), a);
    assert_eq!(store.get_document_for_customs(b.id).await.unwrap(), b);
    assert!(matches!(store.get_document_for_customs(Uuid::new_v4()).await, Err(StoreError::NotFound)));
}
