use certflow_store::Store;

backend_tests!(bundle_versions_are_kept_and_read_back);

async fn bundle_versions_are_kept_and_read_back(store: Store) {
    let v1 =
        vec![("forms/a.yaml".to_owned(), b"a: 1\n".to_vec()), ("rules/lib.rhai".to_owned(), vec![0xE4, 0xB8, 0xAD])];
    let mut v2 = v1.clone();
    v2[0].1 = b"a: 2\n".to_vec();
    assert!(store.save_bundle_version("h1", &v1).await.unwrap());
    assert!(!store.save_bundle_version("h1", &v1).await.unwrap(), "kept once");
    tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    assert!(store.save_bundle_version("h2", &v2).await.unwrap());
    let mut back = store.load_bundle_version("h1").await.unwrap().expect("kept");
    back.sort();
    assert_eq!(back, v1);
    assert_eq!(
        store.load_bundle_version("h2").await.unwrap().unwrap().iter().find(|(p, _)| p == "forms/a.yaml").unwrap().1,
        b"a: 2\n"
    );
    assert!(store.load_bundle_version("h3").await.unwrap().is_none());
    let listed = store.list_bundle_versions(10).await.unwrap();
    assert_eq!(listed.iter().map(|v| v.hash.as_str()).collect::<Vec<_>>(), ["h2", "h1"]);
    assert_eq!(listed[0].files, 2);
}
