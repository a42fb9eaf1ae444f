//! `/v1/session/*` and KV locks over HTTP: Consul's defaults, shapes, texts and statuses.

use crate::harness::Harness;
use serde_json::{json, Value};

/// A harness whose agent node (`node1`) is registered with a passing `serfHealth`.
async fn with_agent_node() -> Harness {
    let api = Harness::new();
    api.register(json!({
        "Node": "node1", "Address": "127.0.0.1",
        "Check": {"CheckID": "serfHealth", "Name": "Serf Health Status", "Status": "passing"}
    }))
    .await;
    api
}

async fn create(api: &Harness, body: &str) -> String {
    let reply = api.put("/v1/session/create", body.to_owned()).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    reply.json()["ID"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn create_takes_consuls_defaults_and_info_shows_them() {
    let api = with_agent_node().await;
    let id = create(&api, "").await;
    let info = api.get(&format!("/v1/session/info/{id}")).await;
    info.assert_read_headers();
    let sessions = info.json();
    let session = &sessions[0];
    let keys: Vec<&str> = session
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut expected = vec![
        "ID",
        "Name",
        "Node",
        "LockDelay",
        "Behavior",
        "TTL",
        "NodeChecks",
        "ServiceChecks",
        "CreateIndex",
        "ModifyIndex",
    ];
    expected.sort();
    let mut keys = keys;
    keys.sort();
    assert_eq!(keys, expected, "no legacy Checks unless sent");
    assert_eq!(session["Node"], "node1");
    assert_eq!(session["LockDelay"], 15_000_000_000u64);
    assert_eq!(session["Behavior"], "release");
    assert_eq!(session["TTL"], "");
    assert_eq!(session["NodeChecks"], json!(["serfHealth"]));
    assert_eq!(session["ServiceChecks"], Value::Null);
    assert_eq!(info.index(), session["ModifyIndex"].as_u64().unwrap());
}

#[tokio::test]
async fn py_consul_and_go_client_bodies_are_read() {
    let api = with_agent_node().await;
    // py-consul: lower-case keys, lock-delay and TTL as "<n>s", checks given.
    let id = create(
        &api,
        r#"{"name":"py","checks":[],"lockdelay":"5s","behavior":"delete","ttl":"10s"}"#,
    )
    .await;
    let session = &api.get(&format!("/v1/session/info/{id}")).await.json()[0];
    assert_eq!(session["NodeChecks"], Value::Null);
    assert_eq!(session["LockDelay"], 5_000_000_000u64);
    assert_eq!(session["Behavior"], "delete");
    assert_eq!(session["TTL"], "10s");
    // The Go client: milliseconds, and a bare number below 1000 is seconds.
    let id = create(&api, r#"{"Name":"go","LockDelay":"15000ms","TTL":"15s"}"#).await;
    let session = &api.get(&format!("/v1/session/info/{id}")).await.json()[0];
    assert_eq!(session["LockDelay"], 15_000_000_000u64);
    let id = create(&api, r#"{"LockDelay":7}"#).await;
    let session = &api.get(&format!("/v1/session/info/{id}")).await.json()[0];
    assert_eq!(session["LockDelay"], 7_000_000_000u64);
}

#[tokio::test]
async fn refusals_use_consuls_status_and_text() {
    let api = with_agent_node().await;
    api.expect_text(
        api.put("/v1/session/create", r#"{"TTL":"1s"}"#).await,
        500,
        "Invalid Session TTL '1000000000', must be between [10s=24h0m0s]",
    )
    .await;
    api.expect_text(
        api.put("/v1/session/create", r#"{"Behavior":"keep"}"#)
            .await,
        500,
        "Invalid Behavior setting 'keep'",
    )
    .await;
    api.expect_text(
        api.put("/v1/session/create", r#"{"Node":"ghost"}"#).await,
        500,
        "Missing node registration",
    )
    .await;
    api.expect_text(
        api.put("/v1/session/create", r#"{"NodeChecks":["nope"]}"#)
            .await,
        500,
        "Missing check 'nope' registration",
    )
    .await;
    let bad = api.put("/v1/session/create", "{nope").await;
    assert_eq!(bad.status, 400);
    assert!(
        bad.text().starts_with("Request decode failed"),
        "{}",
        bad.text()
    );
    api.expect_text(
        api.put("/v1/session/destroy/", "").await,
        400,
        "Missing session",
    )
    .await;
    api.expect_text(api.get("/v1/session/info/").await, 400, "Missing session")
        .await;
    api.expect_text(api.get("/v1/session/node/").await, 400, "Missing node name")
        .await;
    assert_eq!(api.get("/v1/session/create").await.status, 405);
    // A critical serfHealth refuses new sessions bound to it.
    api.register(json!({
        "Node": "node1", "Address": "127.0.0.1",
        "Check": {"CheckID": "serfHealth", "Name": "Serf Health Status", "Status": "critical"}
    }))
    .await;
    api.expect_text(
        api.put("/v1/session/create", "").await,
        500,
        "Check 'serfHealth' is in critical state",
    )
    .await;
}

#[tokio::test]
async fn renew_answers_the_session_or_404_and_destroy_is_idempotent() {
    let api = with_agent_node().await;
    let id = create(&api, r#"{"TTL":"15s"}"#).await;
    let renewed = api.put(&format!("/v1/session/renew/{id}"), "").await;
    assert_eq!(renewed.status, 200);
    assert_eq!(renewed.json()[0]["ID"], id.as_str());
    assert_eq!(renewed.json()[0]["TTL"], "15s");
    let destroyed = api.put(&format!("/v1/session/destroy/{id}"), "").await;
    assert_eq!(
        (destroyed.status, destroyed.text()),
        (200, "true".to_owned())
    );
    let again = api.put(&format!("/v1/session/destroy/{id}"), "").await;
    assert_eq!((again.status, again.text()), (200, "true".to_owned()));
    api.expect_text(
        api.put(&format!("/v1/session/renew/{id}"), "").await,
        404,
        &format!("Session id '{id}' not found"),
    )
    .await;
    assert_eq!(
        api.get(&format!("/v1/session/info/{id}")).await.json(),
        json!([])
    );
}

#[tokio::test]
async fn list_and_node_block_on_the_sessions_index() {
    let api = with_agent_node().await;
    let listed = api.get("/v1/session/list").await;
    assert_eq!(listed.json(), json!([]));
    let index = listed.index();
    let waiting = api.spawn_get(&format!("/v1/session/node/node1?index={index}&wait=5s"));
    let id = create(&api, "").await;
    let woke = waiting.await.unwrap();
    assert_eq!(woke.json()[0]["ID"], id.as_str());
    assert!(woke.index() > index);
    assert_eq!(
        api.get("/v1/session/list").await.json()[0]["ID"],
        id.as_str()
    );
    assert_eq!(api.get("/v1/session/node/other").await.json(), json!([]));
}

#[tokio::test]
async fn locks_follow_sessions_over_http() {
    let api = with_agent_node().await;
    let one = create(&api, r#"{"LockDelay":"10s"}"#).await;
    let two = create(&api, "").await;
    let put = |uri: String, body: &'static str| {
        let api = api.clone();
        async move { api.put(&uri, body).await.text() }
    };
    assert_eq!(put(format!("/v1/kv/lock?acquire={one}"), "a").await, "true");
    assert_eq!(
        put(format!("/v1/kv/lock?acquire={two}"), "b").await,
        "false"
    );
    let held = api.get("/v1/kv/lock").await.json();
    assert_eq!(held[0]["Session"], one.as_str());
    assert_eq!(held[0]["LockIndex"], 1);
    assert_eq!(
        put(format!("/v1/kv/lock?release={two}"), "x").await,
        "false"
    );
    // Destroying the holder releases the key and starts its lock-delay.
    api.put(&format!("/v1/session/destroy/{one}"), "").await;
    let released = api.get("/v1/kv/lock").await.json();
    assert!(released[0].get("Session").is_none());
    assert_eq!(released[0]["LockIndex"], 1);
    assert_eq!(
        put(format!("/v1/kv/lock?acquire={two}"), "b").await,
        "false"
    );
    // An unknown session is an error, as in Consul.
    api.expect_text(
        api.put("/v1/kv/other?acquire=12345678-dead", "x").await,
        500,
        "invalid session \"12345678-dead\"",
    )
    .await;
}
