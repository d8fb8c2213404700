use certflow_store::{NewAttachment, Store, StoreError, Uuid};

use crate::fixtures::{ENTERPRISE_A, ENTERPRISE_B, insert};

backend_tests!(attachments_round_trip, attachments_are_the_owners_only);

fn attachment(enterprise: &str, document_id: Uuid, bytes: Vec<u8>) -> NewAttachment {
    NewAttachment {
        enterprise: enterprise.to_owned(),
        document_id,
        slot: "contract".to_owned(),
        file_name: "合同.pdf".to_owned(),
        media_type: "application/pdf".to_owned(),
        bytes,
    }
}

async fn attachments_round_trip(store: Store) {
    let document = insert(&store, ENTERPRISE_A, "export-health").await;
    // Every byte value, NULs included, and more than one page's worth.
    let bytes: Vec<u8> = (0..=255u8).cycle().take(300_000).collect();
    let meta = store.put_attachment(attachment(ENTERPRISE_A, document.id, bytes.clone())).await.unwrap();
    assert_eq!(meta.document_id, document.id);
    assert_eq!(meta.enterprise, ENTERPRISE_A);
    assert_eq!(meta.slot, "contract");
    assert_eq!(meta.file_name, "合同.pdf");
    assert_eq!(meta.size, 300_000);

    let small = store.put_attachment(attachment(ENTERPRISE_A, document.id, b"abc".to_vec())).await.unwrap();
    assert_eq!(small.sha256, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");

    let fetched = store.get_attachment(ENTERPRISE_A, meta.id).await.unwrap();
    assert_eq!(fetched.meta, meta);
    assert_eq!(fetched.bytes, bytes);

    let listed = store.list_attachments(ENTERPRISE_A, document.id).await.unwrap();
    assert_eq!(listed.len(), 2);
    assert!(listed.contains(&meta) && listed.contains(&small));

    store.delete_attachment(ENTERPRISE_A, meta.id).await.unwrap();
    assert!(matches!(store.get_attachment(ENTERPRISE_A, meta.id).await, Err(StoreError::NotFound)));
    assert_eq!(store.list_attachments(ENTERPRISE_A, document.id).await.unwrap(), vec![small.clone()]);

    // Deleting the document takes its files along.
    store.delete_document(ENTERPRISE_A, document.id).await.unwrap();
    assert!(matches!(store.get_attachment(ENTERPRISE_A, small.id).await, Err(StoreError::NotFound)));
}

async fn attachments_are_the_owners_only(store: Store) {
    let document = insert(&store, ENTERPRISE_A, "export-health").await;
    let meta = store.put_attachment(attachment(ENTERPRISE_A, document.id, b"secret".to_vec())).await.unwrap();

    assert!(matches!(store.get_attachment(ENTERPRISE_B, meta.id).await, Err(StoreError::NotFound)));
    assert!(matches!(store.list_attachments(ENTERPRISE_B, document.id).await, Err(StoreError::NotFound)));
    assert!(matches!(store.delete_attachment(ENTERPRISE_B, meta.id).await, Err(StoreError::NotFound)));
    assert!(matches!(
        store.put_attachment(attachment(ENTERPRISE_B, document.id, b"x".to_vec())).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.put_attachment(attachment(ENTERPRISE_A, Uuid::new_v4(), b"x".to_vec())).await,
        Err(StoreError::NotFound)
    ));
    // The owner still has exactly the one file.
    assert_eq!(store.list_attachments(ENTERPRISE_A, document.id).await.unwrap(), vec![meta]);
}
