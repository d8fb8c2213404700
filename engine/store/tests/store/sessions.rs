use std::time::Duration;

use certflow_store::{NewSession, Store, StoreError, Uuid, session_token_hash};
use time::OffsetDateTime;

use crate::fixtures::{ENTERPRISE_A, enterprise_user};

backend_tests!(
    a_session_lives_until_it_expires,
    sessions_are_touched_and_deleted,
    sessions_go_with_their_user,
    a_challenge_is_used_once,
    concurrent_consumers_of_a_challenge_have_one_winner,
);

const MINUTE: Duration = Duration::from_secs(60);

/// A fixed point of reference, whole seconds so that it survives the
/// millisecond precision of the store unchanged.
fn t0() -> OffsetDateTime {
    OffsetDateTime::now_utc().replace_nanosecond(0).unwrap()
}

fn new_session(token: &str, user_id: Uuid, expires_at: OffsetDateTime) -> NewSession {
    NewSession { token_hash: session_token_hash(token), user_id, csrf_token: format!("csrf-{token}"), expires_at }
}

#[test]
fn the_token_hash_is_sha256_hex() {
    assert_eq!(session_token_hash("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

async fn a_session_lives_until_it_expires(store: Store) {
    let user = enterprise_user(&store, ENTERPRISE_A, "8930000000000001").await;
    let t0 = t0();
    let session = store.create_session(new_session("token-1", user.id, t0 + 30 * MINUTE)).await.unwrap();
    assert_eq!(session.token_hash, session_token_hash("token-1"));
    assert_eq!(session.user_id, user.id);
    assert_eq!(session.csrf_token, "csrf-token-1");
    assert_eq!(session.expires_at, t0 + 30 * MINUTE);
    assert_eq!(session.last_seen_at, session.created_at);

    let (found, found_user) = store.get_session(&session.token_hash, t0).await.unwrap();
    assert_eq!(found, session);
    assert_eq!(found_user, user);
    assert!(store.get_session(&session.token_hash, t0 + 30 * MINUTE - Duration::from_millis(1)).await.is_ok());

    // Expired: not found, and deleted on the way.
    assert!(matches!(store.get_session(&session.token_hash, t0 + 30 * MINUTE).await, Err(StoreError::NotFound)));
    assert!(matches!(store.get_session(&session.token_hash, t0).await, Err(StoreError::NotFound)));
    assert!(matches!(store.get_session(&session_token_hash("token-2"), t0).await, Err(StoreError::NotFound)));

    // The token hash is the key; a user must exist.
    store.create_session(new_session("token-3", user.id, t0 + MINUTE)).await.unwrap();
    assert!(matches!(
        store.create_session(new_session("token-3", user.id, t0 + MINUTE)).await,
        Err(StoreError::Duplicate { .. })
    ));
    assert!(matches!(
        store.create_session(new_session("token-4", Uuid::new_v4(), t0 + MINUTE)).await,
        Err(StoreError::InvalidInput(_))
    ));
}

async fn sessions_are_touched_and_deleted(store: Store) {
    let user = enterprise_user(&store, ENTERPRISE_A, "8930000000000001").await;
    let t0 = t0();
    let hash = session_token_hash("token-1");
    store.create_session(new_session("token-1", user.id, t0 + 30 * MINUTE)).await.unwrap();

    // A sliding expiry: activity at +20 min extends the session to +50 min.
    store.touch_session(&hash, t0 + 20 * MINUTE, t0 + 50 * MINUTE).await.unwrap();
    let (touched, _) = store.get_session(&hash, t0 + 40 * MINUTE).await.unwrap();
    assert_eq!(touched.last_seen_at, t0 + 20 * MINUTE);
    assert_eq!(touched.expires_at, t0 + 50 * MINUTE);
    // Too late to touch: the session expired.
    assert!(matches!(store.touch_session(&hash, t0 + 50 * MINUTE, t0 + 80 * MINUTE).await, Err(StoreError::NotFound)));
    assert!(matches!(
        store.touch_session(&session_token_hash("token-2"), t0, t0 + MINUTE).await,
        Err(StoreError::NotFound)
    ));

    // Logging out ends the session; doing it again is harmless.
    store.create_session(new_session("token-2", user.id, t0 + 30 * MINUTE)).await.unwrap();
    store.delete_session(&session_token_hash("token-2")).await.unwrap();
    assert!(matches!(store.get_session(&session_token_hash("token-2"), t0).await, Err(StoreError::NotFound)));
    store.delete_session(&session_token_hash("token-2")).await.unwrap();

    // Clean-up removes the expired sessions only.
    for (token, minutes) in [("token-3", 5), ("token-4", 10), ("token-5", 60)] {
        store.create_session(new_session(token, user.id, t0 + minutes * MINUTE)).await.unwrap();
    }
    assert_eq!(store.delete_expired_sessions(t0 + 10 * MINUTE).await.unwrap(), 2);
    assert_eq!(store.delete_expired_sessions(t0 + 10 * MINUTE).await.unwrap(), 0);
    assert!(store.get_session(&hash, t0 + 10 * MINUTE).await.is_ok());
    assert!(store.get_session(&session_token_hash("token-5"), t0 + 10 * MINUTE).await.is_ok());
    assert_eq!(store.delete_expired_sessions(t0 + 60 * MINUTE).await.unwrap(), 2);
}

async fn sessions_go_with_their_user(store: Store) {
    let alice = enterprise_user(&store, ENTERPRISE_A, "8930000000000001").await;
    let bob = enterprise_user(&store, ENTERPRISE_A, "8930000000000002").await;
    let t0 = t0();
    for token in ["alice-1", "alice-2"] {
        store.create_session(new_session(token, alice.id, t0 + MINUTE)).await.unwrap();
    }
    store.create_session(new_session("bob-1", bob.id, t0 + MINUTE)).await.unwrap();

    store.delete_user(alice.id).await.unwrap();
    assert!(matches!(store.get_session(&session_token_hash("alice-1"), t0).await, Err(StoreError::NotFound)));
    assert!(matches!(store.get_session(&session_token_hash("alice-2"), t0).await, Err(StoreError::NotFound)));
    let (session, user) = store.get_session(&session_token_hash("bob-1"), t0).await.unwrap();
    assert_eq!((session.user_id, user.id), (bob.id, bob.id));
    // Only Bob's session is left to expire.
    assert_eq!(store.delete_expired_sessions(t0 + MINUTE).await.unwrap(), 1);
}

async fn a_challenge_is_used_once(store: Store) {
    let t0 = t0();
    store.create_challenge("nonce-1", t0 + MINUTE).await.unwrap();
    assert!(matches!(store.create_challenge("nonce-1", t0 + MINUTE).await, Err(StoreError::Duplicate { .. })));

    let used = store.consume_challenge("nonce-1", t0).await.unwrap();
    assert_eq!(used.nonce, "nonce-1");
    assert_eq!(used.card_no, None);
    assert_eq!(used.expires_at, t0 + MINUTE);
    assert_eq!(used.used_at, Some(t0));
    assert!(matches!(store.consume_challenge("nonce-1", t0).await, Err(StoreError::ChallengeInvalid)));
    assert!(matches!(store.consume_challenge("nonce-unknown", t0).await, Err(StoreError::ChallengeInvalid)));

    // Expired before use.
    store.create_challenge("nonce-2", t0 + MINUTE).await.unwrap();
    assert!(matches!(store.consume_challenge("nonce-2", t0 + MINUTE).await, Err(StoreError::ChallengeInvalid)));

    // Issued to a card: the consumer learns which.
    store.create_card_challenge("nonce-3", "8930000000000001", t0 + MINUTE).await.unwrap();
    let used = store.consume_challenge("nonce-3", t0).await.unwrap();
    assert_eq!(used.card_no.as_deref(), Some("8930000000000001"));

    store.create_challenge("nonce-4", t0 + 10 * MINUTE).await.unwrap();
    assert_eq!(store.delete_expired_challenges(t0 + MINUTE).await.unwrap(), 3);
    assert!(store.consume_challenge("nonce-4", t0).await.is_ok());
}

async fn concurrent_consumers_of_a_challenge_have_one_winner(store: Store) {
    const CONSUMERS: usize = 4;
    let t0 = t0();
    for round in 0..10 {
        let nonce = format!("nonce-{round}");
        store.create_challenge(&nonce, t0 + MINUTE).await.unwrap();
        let consumers: Vec<_> = (0..CONSUMERS)
            .map(|_| {
                let store = store.clone();
                let nonce = nonce.clone();
                tokio::spawn(async move { store.consume_challenge(&nonce, t0).await })
            })
            .collect();
        let mut winners = 0;
        for consumer in consumers {
            match consumer.await.unwrap() {
                Ok(challenge) => {
                    assert_eq!(challenge.nonce, nonce);
                    winners += 1;
                }
                Err(StoreError::ChallengeInvalid) => {}
                Err(other) => panic!("unexpected error: {other:?}"),
            }
        }
        assert_eq!(winners, 1, "round {round}");
    }
}
