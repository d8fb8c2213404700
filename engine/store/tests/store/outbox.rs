use std::collections::BTreeSet;
use std::time::Duration;

use certflow_store::{Store, StoreError, retry_delay};
use serde_json::json;
use time::OffsetDateTime;

backend_tests!(
    claim_ack_fail_and_retry,
    an_expired_lease_passes_the_message_on,
    concurrent_consumers_never_share_a_message,
);

const TOPIC: &str = "customs.submit";
const LEASE: Duration = Duration::from_secs(60);

async fn claim_ack_fail_and_retry(store: Store) {
    let first = store.enqueue(TOPIC, &json!({"document": 1})).await.unwrap();
    let second = store.enqueue(TOPIC, &json!({"document": 2})).await.unwrap();
    let third = store.enqueue(TOPIC, &json!({"document": 3})).await.unwrap();
    store.enqueue("other.topic", &json!({})).await.unwrap();

    let batch = store.claim(TOPIC, 2, LEASE).await.unwrap();
    let ids: Vec<i64> = batch.iter().map(|message| message.id).collect();
    assert_eq!(ids, vec![first, second]);
    assert_eq!(batch[0].payload, json!({"document": 1}));
    assert_eq!(batch[0].topic, TOPIC);
    assert_eq!(batch[0].attempts, 1);
    assert_eq!(batch[0].last_error, None);
    assert!(batch[0].lease_until > OffsetDateTime::now_utc());

    let rest = store.claim(TOPIC, 10, LEASE).await.unwrap();
    assert_eq!(rest.iter().map(|message| message.id).collect::<Vec<_>>(), vec![third]);
    assert!(store.claim(TOPIC, 10, LEASE).await.unwrap().is_empty());

    store.ack(&batch[0]).await.unwrap();
    // Acknowledged once is final.
    assert!(matches!(store.ack(&batch[0]).await, Err(StoreError::LeaseLost { .. })));

    // Failed with a retry later: not due yet.
    let later = OffsetDateTime::now_utc() + Duration::from_secs(3600);
    store.fail(&batch[1], "gateway timeout", later).await.unwrap();
    // Failed with a retry now: due again, with the error recorded.
    store.fail(&rest[0], "connection refused", OffsetDateTime::now_utc()).await.unwrap();
    let retried = store.claim(TOPIC, 10, LEASE).await.unwrap();
    assert_eq!(retried.len(), 1);
    assert_eq!(retried[0].id, third);
    assert_eq!(retried[0].attempts, 2);
    assert_eq!(retried[0].last_error.as_deref(), Some("connection refused"));
    store.ack(&retried[0]).await.unwrap();
    assert!(store.claim(TOPIC, 10, LEASE).await.unwrap().is_empty());

    let other = store.claim("other.topic", 10, LEASE).await.unwrap();
    assert_eq!(other.len(), 1);
}

async fn an_expired_lease_passes_the_message_on(store: Store) {
    let id = store.enqueue(TOPIC, &json!({"document": 1})).await.unwrap();
    let stale = store.claim(TOPIC, 1, Duration::ZERO).await.unwrap();
    assert_eq!(stale[0].id, id);

    tokio::time::sleep(Duration::from_millis(2)).await;
    let current = store.claim(TOPIC, 1, LEASE).await.unwrap();
    assert_eq!(current[0].id, id);
    assert_eq!(current[0].attempts, 2);

    // The first consumer's lease is gone: it can neither ack nor fail.
    assert!(matches!(
        store.ack(&stale[0]).await,
        Err(StoreError::LeaseLost { id: lost }) if lost == id
    ));
    assert!(matches!(
        store.fail(&stale[0], "late", OffsetDateTime::now_utc()).await,
        Err(StoreError::LeaseLost { .. })
    ));
    store.ack(&current[0]).await.unwrap();
}

async fn concurrent_consumers_never_share_a_message(store: Store) {
    const MESSAGES: i64 = 200;
    let mut enqueued = BTreeSet::new();
    for n in 0..MESSAGES {
        enqueued.insert(store.enqueue(TOPIC, &json!({ "n": n })).await.unwrap());
    }

    let consumers: Vec<_> = (0..2)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut seen = Vec::new();
                loop {
                    let batch = store.claim(TOPIC, 7, LEASE).await.unwrap();
                    if batch.is_empty() {
                        return seen;
                    }
                    for message in batch {
                        store.ack(&message).await.unwrap();
                        seen.push(message.id);
                    }
                    tokio::task::yield_now().await;
                }
            })
        })
        .collect();

    let mut delivered = Vec::new();
    for consumer in consumers {
        delivered.extend(consumer.await.unwrap());
    }
    let distinct: BTreeSet<i64> = delivered.iter().copied().collect();
    assert_eq!(delivered.len(), distinct.len(), "a message was delivered twice");
    assert_eq!(distinct, enqueued);
    assert!(store.claim(TOPIC, 10, LEASE).await.unwrap().is_empty());
}

#[test]
fn retry_delay_doubles_up_to_an_hour() {
    assert_eq!(retry_delay(1), Duration::from_secs(5));
    assert_eq!(retry_delay(2), Duration::from_secs(10));
    assert_eq!(retry_delay(4), Duration::from_secs(40));
    assert_eq!(retry_delay(20), Duration::from_secs(3600));
    assert_eq!(retry_delay(0), Duration::from_secs(5));
}
