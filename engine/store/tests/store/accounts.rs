use std::time::Duration;

use certflow_store::{NewEnterprise, NewUser, Role, Store, StoreError, Uuid};
use serde_json::json;

use crate::fixtures::{ENTERPRISE_A, ENTERPRISE_B, enterprise_user, new_enterprise};

backend_tests!(
    enterprise_upsert_keeps_the_registration_time,
    users_are_bound_to_cards,
    a_card_binds_one_account,
    a_user_fits_its_role_and_enterprise,
    certificates_bind_and_unbind,
);

async fn enterprise_upsert_keeps_the_registration_time(store: Store) {
    assert!(matches!(store.get_enterprise(ENTERPRISE_A).await, Err(StoreError::NotFound)));

    let registered = store.upsert_enterprise(new_enterprise(ENTERPRISE_A)).await.unwrap();
    assert_eq!(registered.code, ENTERPRISE_A);
    assert_eq!(registered.credit_code, format!("91310000{ENTERPRISE_A}"));
    assert_eq!(registered.name_zh, "上海某某食品有限公司");
    assert_eq!(registered.name_en, "Shanghai Example Foods Co., Ltd.");
    assert_eq!(store.get_enterprise(ENTERPRISE_A).await.unwrap(), registered);

    tokio::time::sleep(Duration::from_millis(5)).await;
    let renamed = NewEnterprise {
        credit_code: "91310000MA1FL0XX1X".to_owned(),
        name_zh: "上海某某进出口有限公司".to_owned(),
        name_en: String::new(),
        ..new_enterprise(ENTERPRISE_A)
    };
    let updated = store.upsert_enterprise(renamed).await.unwrap();
    assert_eq!(updated.credit_code, "91310000MA1FL0XX1X");
    assert_eq!(updated.name_zh, "上海某某进出口有限公司");
    assert_eq!(updated.name_en, "");
    assert_eq!(updated.created_at, registered.created_at);
    assert_eq!(store.get_enterprise(ENTERPRISE_A).await.unwrap(), updated);
    assert!(matches!(store.get_enterprise(ENTERPRISE_B).await, Err(StoreError::NotFound)));
}

async fn users_are_bound_to_cards(store: Store) {
    let alice = enterprise_user(&store, ENTERPRISE_A, "8930000000000001").await;
    assert_eq!(alice.card_no, "8930000000000001");
    assert_eq!(alice.enterprise.as_deref(), Some(ENTERPRISE_A));
    assert_eq!(alice.role, Role::Enterprise);
    assert_eq!(alice.cert_no, None);
    assert_eq!(store.get_user(alice.id).await.unwrap(), alice);
    assert_eq!(store.get_user_by_card("8930000000000001").await.unwrap(), alice);
    assert!(matches!(store.get_user_by_card("8930000000000009").await, Err(StoreError::NotFound)));
    assert!(matches!(store.get_user(Uuid::new_v4()).await, Err(StoreError::NotFound)));

    let bob = enterprise_user(&store, ENTERPRISE_B, "8930000000000002").await;
    let officer = store
        .create_user(NewUser {
            card_no: "8930000000000003".to_owned(),
            cert_no: Some("0A1B2C3D".to_owned()),
            cert_pem: Some("MIIBszCCAVmgAwIBAgIU…".to_owned()),
            enterprise: None,
            name: "李四".to_owned(),
            role: Role::Officer,
            pin_hash: Some("$argon2id$v=19$…".to_owned()),
        })
        .await
        .unwrap();
    assert_eq!(officer.enterprise, None);
    assert_eq!(officer.role, Role::Officer);
    assert_eq!(officer.pin_hash.as_deref(), Some("$argon2id$v=19$…"));
    assert_eq!(store.get_user_by_card("8930000000000003").await.unwrap(), officer);

    let ids = |users: Vec<certflow_store::User>| -> Vec<Uuid> { users.into_iter().map(|user| user.id).collect() };
    assert_eq!(ids(store.list_users(Some(ENTERPRISE_A)).await.unwrap()), vec![alice.id]);
    assert_eq!(ids(store.list_users(Some(ENTERPRISE_B)).await.unwrap()), vec![bob.id]);
    let mut everyone = ids(store.list_users(None).await.unwrap());
    everyone.sort();
    let mut expected = vec![alice.id, bob.id, officer.id];
    expected.sort();
    assert_eq!(everyone, expected);

    // The PIN hash stays out of serialized users.
    let serialized = serde_json::to_value(&officer).unwrap();
    assert_eq!(serialized["role"], json!("officer"));
    assert!(serialized.get("pin_hash").is_none());

    store.delete_user(bob.id).await.unwrap();
    assert!(matches!(store.get_user(bob.id).await, Err(StoreError::NotFound)));
    assert!(matches!(store.delete_user(bob.id).await, Err(StoreError::NotFound)));
}

async fn a_card_binds_one_account(store: Store) {
    let first = enterprise_user(&store, ENTERPRISE_A, "8930000000000001").await;
    store.upsert_enterprise(new_enterprise(ENTERPRISE_B)).await.unwrap();
    let again = NewUser {
        card_no: "8930000000000001".to_owned(),
        cert_no: None,
        cert_pem: None,
        enterprise: Some(ENTERPRISE_B.to_owned()),
        name: "王五".to_owned(),
        role: Role::Enterprise,
        pin_hash: None,
    };
    assert!(matches!(store.create_user(again).await, Err(StoreError::Duplicate { .. })));
    assert_eq!(store.get_user_by_card("8930000000000001").await.unwrap(), first);
    assert_eq!(store.list_users(None).await.unwrap().len(), 1);
}

async fn a_user_fits_its_role_and_enterprise(store: Store) {
    let user = |enterprise: Option<&str>, role| NewUser {
        card_no: "8930000000000001".to_owned(),
        cert_no: None,
        cert_pem: None,
        enterprise: enterprise.map(str::to_owned),
        name: "赵六".to_owned(),
        role,
        pin_hash: None,
    };
    // Not a registered enterprise.
    assert!(matches!(
        store.create_user(user(Some(ENTERPRISE_A), Role::Enterprise)).await,
        Err(StoreError::InvalidInput(_))
    ));
    store.upsert_enterprise(new_enterprise(ENTERPRISE_A)).await.unwrap();
    assert!(matches!(store.create_user(user(None, Role::Enterprise)).await, Err(StoreError::InvalidInput(_))));
    assert!(matches!(
        store.create_user(user(Some(ENTERPRISE_A), Role::Officer)).await,
        Err(StoreError::InvalidInput(_))
    ));
    assert!(store.list_users(None).await.unwrap().is_empty());

    let admin = store.create_user(user(None, Role::Admin)).await.unwrap();
    assert_eq!(admin.role, Role::Admin);
    assert_eq!(store.get_user(admin.id).await.unwrap().role, Role::Admin);
}

async fn certificates_bind_and_unbind(store: Store) {
    let user = enterprise_user(&store, ENTERPRISE_A, "8930000000000001").await;
    let pem = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIU\n-----END CERTIFICATE-----\n";
    let bound = store.update_user_certificate(user.id, Some("0A1B2C3D"), Some(pem)).await.unwrap();
    assert_eq!(bound.cert_no.as_deref(), Some("0A1B2C3D"));
    assert_eq!(bound.cert_pem.as_deref(), Some(pem));
    assert_eq!((bound.id, &bound.card_no, bound.created_at), (user.id, &user.card_no, user.created_at));
    assert_eq!(store.get_user_by_card(&user.card_no).await.unwrap(), bound);

    let unbound = store.update_user_certificate(user.id, None, None).await.unwrap();
    assert_eq!(unbound, user);
    assert!(matches!(
        store.update_user_certificate(Uuid::new_v4(), Some("0A1B2C3D"), None).await,
        Err(StoreError::NotFound)
    ));
}
