use crate::harness::*;
use legate_catalog::query;
use legate_catalog::types::Index;
use legate_catalog::{SharedStore, Store};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;

fn shared() -> Arc<SharedStore> {
    Arc::new(SharedStore::new(Store::new()))
}

/// A deadline the test fires by hand, so no assertion depends on the clock.
fn deadline() -> (oneshot::Sender<()>, impl std::future::Future<Output = ()>) {
    let (fire, fired) = oneshot::channel::<()>();
    (fire, async move {
        let _ = fired.await;
    })
}

/// Spawns `query` blocked at `min_index` until `until`, and returns once it is registered
/// as a waiter (so a write after this call is one it must see).
async fn blocked(
    store: &Arc<SharedStore>,
    min_index: u64,
    until: impl std::future::Future<Output = ()> + Send + 'static,
    query: legate_catalog::Query,
) -> tokio::task::JoinHandle<legate_catalog::Answer<legate_catalog::QueryResult>> {
    let before = store.watched_topics();
    let handle = {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .block_until(Index(min_index), until, |s| query::run(s, &query))
                .await
        })
    };
    while store.watched_topics() == before {
        tokio::task::yield_now().await;
    }
    handle
}

#[tokio::test]
async fn a_write_to_the_key_releases_a_blocked_get() {
    let store = shared();
    store.apply(Index(1), &kv_set("k", "1")).unwrap();
    let (_fire, until) = deadline();
    let waiting = blocked(&store, 1, until, kv_get("k")).await;
    store.apply(Index(2), &kv_set("k", "2")).unwrap();
    let answer = tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .expect("released")
        .unwrap();
    assert_eq!(answer.index, Index(2));
}

#[tokio::test]
async fn writes_elsewhere_do_not_release_it() {
    let store = shared();
    store.apply(Index(1), &kv_set("k", "1")).unwrap();
    let (fire, until) = deadline();
    let waiting = blocked(&store, 1, until, kv_get("k")).await;
    store.apply(Index(2), &kv_set("other", "x")).unwrap();
    store.apply(Index(3), &kv_set("k2", "x")).unwrap();
    store.apply(Index(4), &kv_set("", "x")).unwrap();
    for _ in 0..100 {
        tokio::task::yield_now().await;
    }
    assert!(
        !waiting.is_finished(),
        "a write to another key woke the query"
    );
    assert_eq!(store.watched_topics(), 1);
    fire.send(()).unwrap();
    let answer = waiting.await.unwrap();
    assert_eq!(answer.index, Index(1), "timeout answers the current state");
}

#[tokio::test]
async fn a_prefix_watch_wakes_for_keys_under_it_only() {
    let store = shared();
    store.apply(Index(1), &kv_set("app/a", "1")).unwrap();
    let (_fire, until) = deadline();
    let waiting = blocked(&store, 1, until, kv_list("app/")).await;
    store.apply(Index(2), &kv_set("apple", "no")).unwrap();
    for _ in 0..50 {
        tokio::task::yield_now().await;
    }
    assert!(!waiting.is_finished());
    store.apply(Index(3), &kv_set("app/deep/b", "yes")).unwrap();
    let answer = tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .expect("released")
        .unwrap();
    assert_eq!(answer.index, Index(3));
}

#[tokio::test]
async fn zero_index_answers_at_once_and_replace_wakes_everyone() {
    let store = shared();
    store.apply(Index(5), &kv_set("k", "1")).unwrap();
    let (_fire, until) = deadline();
    let now = store
        .block_until(Index(0), until, |s| query::run(s, &kv_get("k")))
        .await;
    assert_eq!(now.index, Index(5));

    let (_fire, until) = deadline();
    let waiting = blocked(&store, 5, until, kv_get("k")).await;
    let mut other = Store::new();
    other.apply(Index(9), &kv_set("k", "restored")).unwrap();
    store.replace(other);
    let answer = tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .expect("released")
        .unwrap();
    assert_eq!(answer.index, Index(9));
}
