//! Blocking queries on a paused clock: released by a write to what they read, not by writes
//! elsewhere, and otherwise by their (capped, jittered) wait.

use crate::harness::Harness;
use serde_json::json;
use std::time::Duration;
use tokio::time::{sleep, Instant};

const SECOND: Duration = Duration::from_secs(1);

#[tokio::test(start_paused = true)]
async fn a_blocked_get_is_released_by_a_write_to_its_key_only() {
    let api = Harness::new();
    api.put("/v1/kv/watched", "1").await;
    let index = api.get("/v1/kv/watched").await.index();
    let started = Instant::now();
    let waiter = api.spawn_get(&format!("/v1/kv/watched?index={index}&wait=60s"));
    sleep(SECOND).await;
    for key in ["other", "watched2", "watche", "watched/child"] {
        api.put(&format!("/v1/kv/{key}"), "x").await;
        sleep(SECOND).await;
    }
    assert!(!waiter.is_finished(), "released by a write to another key");

    api.put("/v1/kv/watched", "2").await;
    let reply = waiter.await.unwrap();
    assert_eq!(reply.status, 200);
    assert!(reply.index() > index);
    assert_eq!(reply.json()[0]["Value"], "Mg==");
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test(start_paused = true)]
async fn a_blocked_get_on_a_missing_key_is_released_by_its_creation() {
    let api = Harness::new();
    let missing = api.get("/v1/kv/later").await;
    assert_eq!(missing.status, 404);
    let waiter = api.spawn_get(&format!("/v1/kv/later?index={}", missing.index()));
    sleep(SECOND).await;
    assert!(!waiter.is_finished());
    api.put("/v1/kv/later", "now").await;
    let reply = waiter.await.unwrap();
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json()[0]["Key"], "later");
}

#[tokio::test(start_paused = true)]
async fn a_timed_out_query_answers_the_current_state_after_its_wait() {
    let api = Harness::new();
    api.put("/v1/kv/still", "1").await;
    let index = api.get("/v1/kv/still").await.index();
    let started = Instant::now();
    let reply = api
        .get(&format!("/v1/kv/still?index={index}&wait=2s"))
        .await;
    let waited = started.elapsed();
    assert_eq!((reply.status, reply.index()), (200, index));
    assert!(
        waited >= 2 * SECOND && waited <= 2 * SECOND + 2 * SECOND / 16,
        "{waited:?}"
    );

    let started = Instant::now();
    api.get("/v1/kv/still?wait=2s").await;
    assert_eq!(
        started.elapsed(),
        Duration::ZERO,
        "without an index nothing blocks"
    );
}

#[tokio::test(start_paused = true)]
async fn the_wait_is_capped_defaulted_and_jittered() {
    let api = Harness::new();
    api.put("/v1/kv/k", "1").await;
    let index = api.get("/v1/kv/k").await.index();
    let ten_minutes = Duration::from_secs(600);
    let started = Instant::now();
    api.get(&format!("/v1/kv/k?index={index}&wait=1h")).await;
    let waited = started.elapsed();
    assert!(
        waited >= ten_minutes && waited <= ten_minutes + ten_minutes / 16,
        "{waited:?}"
    );

    let five_minutes = Duration::from_secs(300);
    let started = Instant::now();
    api.get(&format!("/v1/kv/k?index={index}")).await;
    let waited = started.elapsed();
    assert!(
        waited >= five_minutes && waited <= five_minutes + five_minutes / 16,
        "{waited:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_blocked_service_query_wakes_on_its_service_only() {
    let api = Harness::new();
    api.instance("n1", "web-1", "web", &[], "passing").await;
    let index = api.get("/v1/health/service/web").await.index();
    let waiter = api.spawn_get(&format!("/v1/health/service/web?index={index}&wait=5m"));
    sleep(SECOND).await;
    api.instance("n2", "db-1", "db", &[], "passing").await;
    api.put("/v1/kv/noise", "x").await;
    sleep(SECOND).await;
    assert!(!waiter.is_finished(), "released by another service");

    api.instance("n2", "web-2", "web", &[], "passing").await;
    let reply = waiter.await.unwrap();
    assert!(reply.index() > index);
    let ids: Vec<_> = reply
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["Service"]["ID"].clone())
        .collect();
    assert_eq!(ids, [json!("web-1"), json!("web-2")]);
}

#[tokio::test(start_paused = true)]
async fn a_blocked_list_wakes_on_a_delete_under_its_prefix() {
    let api = Harness::new();
    api.put("/v1/kv/dir/a", "1").await;
    api.put("/v1/kv/dir/b", "2").await;
    let index = api.get("/v1/kv/dir/?recurse").await.index();
    let waiter = api.spawn_get(&format!("/v1/kv/dir/?recurse&index={index}"));
    sleep(SECOND).await;
    assert!(!waiter.is_finished());
    api.delete("/v1/kv/dir/a").await;
    let reply = waiter.await.unwrap();
    assert!(
        reply.index() > index,
        "the tombstone raises the prefix index"
    );
    assert_eq!(reply.json().as_array().unwrap().len(), 1);
}
