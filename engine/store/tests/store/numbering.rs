use std::collections::BTreeSet;

use certflow_store::{Store, StoreError};

backend_tests!(numbers_count_per_scheme_prefix_and_year, numbers_are_unique_under_concurrency);

async fn numbers_count_per_scheme_prefix_and_year(store: Store) {
    let next = |scheme: &'static str, prefix: &'static str, year| {
        let store = store.clone();
        async move { store.next_number(scheme, prefix, year, 9).await.unwrap() }
    };
    assert_eq!(next("unified", "A", 2026).await, "A2026000000001");
    assert_eq!(next("unified", "A", 2026).await, "A2026000000002");
    assert_eq!(next("unified", "B", 2026).await, "B2026000000001");
    assert_eq!(next("unified", "A", 2027).await, "A2027000000001");
    assert_eq!(next("other", "A", 2026).await, "A2026000000001");
    assert_eq!(next("unified", "A", 2026).await, "A2026000000003");
    assert_eq!(store.next_number("short", "", 2026, 3).await.unwrap(), "2026001");

    for _ in 1..=9 {
        store.next_number("tiny", "C", 2026, 1).await.unwrap();
    }
    assert!(matches!(store.next_number("tiny", "C", 2026, 1).await, Err(StoreError::NumberingExhausted { .. })));
    assert!(matches!(store.next_number("unified", "A", 20260, 9).await, Err(StoreError::InvalidInput(_))));
    assert!(matches!(store.next_number("unified", "A", 2026, 0).await, Err(StoreError::InvalidInput(_))));
}

async fn numbers_are_unique_under_concurrency(store: Store) {
    const TASKS: usize = 8;
    const PER_TASK: usize = 50;
    let tasks: Vec<_> = (0..TASKS)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut numbers = Vec::with_capacity(PER_TASK);
                for _ in 0..PER_TASK {
                    numbers.push(store.next_number("unified", "D", 2026, 9).await.unwrap());
                }
                numbers
            })
        })
        .collect();
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    let distinct: BTreeSet<String> = all.iter().cloned().collect();
    assert_eq!(distinct.len(), TASKS * PER_TASK, "a number was handed out twice");
    let expected: BTreeSet<String> = (1..=TASKS * PER_TASK).map(|serial| format!("D2026{serial:09}")).collect();
    assert_eq!(distinct, expected, "the serials have a gap");
}
