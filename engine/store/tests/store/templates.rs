use certflow_store::{NewValueTemplate, Store, StoreError, TemplateScope};
use serde_json::json;

use crate::fixtures::{ENTERPRISE_A, ENTERPRISE_B};

backend_tests!(templates_are_shared_or_private_and_named_once, subscriptions_are_per_enterprise_and_idempotent);

fn template(name: &str, scope: TemplateScope, by: &str, contact: &str) -> NewValueTemplate {
    NewValueTemplate {
        enterprise: ENTERPRISE_A.to_owned(),
        doctype: "export-application".to_owned(),
        name: name.to_owned(),
        scope,
        created_by: by.to_owned(),
        data: json!({"contact_name": contact}),
    }
}

async fn templates_are_shared_or_private_and_named_once(store: Store) {
    let shared = store.save_value_template(template("常用", TemplateScope::Enterprise, "card-1", "刘")).await.unwrap();
    let private = store.save_value_template(template("我的", TemplateScope::Creator, "card-1", "王")).await.unwrap();
    let names = |list: Vec<certflow_store::ValueTemplate>| list.into_iter().map(|t| t.name).collect::<Vec<_>>();
    assert_eq!(names(store.list_value_templates(ENTERPRISE_A, "card-1", None).await.unwrap()), ["常用", "我的"]);
    assert_eq!(names(store.list_value_templates(ENTERPRISE_A, "card-2", None).await.unwrap()), ["常用"]);
    assert!(store.list_value_templates(ENTERPRISE_B, "card-1", None).await.unwrap().is_empty());
    assert!(matches!(store.get_value_template(ENTERPRISE_A, "card-2", private.id).await, Err(StoreError::NotFound)));

    // Saving under the same name replaces it; another user's private name is taken.
    let again = store.save_value_template(template("常用", TemplateScope::Enterprise, "card-2", "张")).await.unwrap();
    assert_eq!(again.id, shared.id);
    assert_eq!(again.data["contact_name"], "张");
    assert!(matches!(
        store.save_value_template(template("我的", TemplateScope::Enterprise, "card-2", "x")).await,
        Err(StoreError::Duplicate { .. })
    ));
    assert!(matches!(store.delete_value_template(ENTERPRISE_A, "card-2", private.id).await, Err(StoreError::NotFound)));
    store.delete_value_template(ENTERPRISE_A, "card-1", private.id).await.unwrap();
    assert_eq!(
        names(store.list_value_templates(ENTERPRISE_A, "card-1", Some("export-application")).await.unwrap()),
        ["常用"]
    );
}

async fn subscriptions_are_per_enterprise_and_idempotent(store: Store) {
    let a = store.subscribe(ENTERPRISE_A, "webhook", "http://127.0.0.1:9/hook", "card-1").await.unwrap();
    let again = store.subscribe(ENTERPRISE_A, "webhook", "http://127.0.0.1:9/hook", "card-2").await.unwrap();
    assert_eq!(a.id, again.id);
    store.subscribe(ENTERPRISE_A, "email", "ops@example.com", "card-1").await.unwrap();
    assert_eq!(store.list_subscriptions(ENTERPRISE_A).await.unwrap().len(), 2);
    assert!(store.list_subscriptions(ENTERPRISE_B).await.unwrap().is_empty());
    assert!(matches!(store.unsubscribe(ENTERPRISE_B, a.id).await, Err(StoreError::NotFound)));
    store.unsubscribe(ENTERPRISE_A, a.id).await.unwrap();
    assert_eq!(store.list_subscriptions(ENTERPRISE_A).await.unwrap().len(), 1);
}
