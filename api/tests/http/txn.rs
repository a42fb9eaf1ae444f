//! `/v1/txn` over HTTP: 200 and 409 shapes, read-only transactions, the limits.

use crate::harness::Harness;
use serde_json::{json, Value};

#[tokio::test]
async fn a_write_transaction_answers_results_and_applies_together() {
    let api = Harness::new();
    let reply = api
        .put(
            "/v1/txn",
            json!([
                {"KV": {"Verb": "set", "Key": "a", "Value": "MQ=="}},
                {"KV": {"Verb": "set", "Key": "b", "Value": "Mg==", "Flags": 9}},
                {"KV": {"Verb": "get", "Key": "a"}},
                {"KV": {"Verb": "delete", "Key": "zzz"}}
            ])
            .to_string(),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let body = reply.json();
    assert_eq!(body["Errors"], Value::Null);
    let results = body["Results"].as_array().unwrap();
    assert_eq!(results.len(), 3, "deletes produce no result");
    assert_eq!(results[0]["KV"]["Value"], Value::Null);
    assert_eq!(results[1]["KV"]["Flags"], 9);
    assert_eq!(results[2]["KV"]["Value"], "MQ==");
    assert_eq!(
        results[0]["KV"]["ModifyIndex"], results[1]["KV"]["ModifyIndex"],
        "one entry, one index"
    );
}

#[tokio::test]
async fn a_failed_check_rolls_back_with_409() {
    let api = Harness::new();
    api.put("/v1/kv/exists", "x").await;
    let reply = api
        .put(
            "/v1/txn",
            json!([
                {"KV": {"Verb": "set", "Key": "new", "Value": "MQ=="}},
                {"KV": {"Verb": "check-not-exists", "Key": "exists"}}
            ])
            .to_string(),
        )
        .await;
    assert_eq!(reply.status, 409);
    assert_eq!(
        reply.json(),
        json!({"Results": null, "Errors": [{"OpIndex": 1, "What": "key \"exists\" exists"}]})
    );
    assert_eq!(api.get("/v1/kv/new").await.status, 404);
}

#[tokio::test]
async fn read_only_transactions_are_served_as_reads() {
    let api = Harness::new();
    api.put("/v1/kv/a", "1").await;
    let reply = api
        .put(
            "/v1/txn?stale",
            json!([{"KV": {"Verb": "get", "Key": "a"}}, {"KV": {"Verb": "get-tree", "Key": ""}}])
                .to_string(),
        )
        .await;
    assert_eq!(reply.status, 200);
    assert!(reply.header("X-Consul-KnownLeader").is_some());
    assert!(reply.header("X-Consul-LastContact").is_some());
    assert_eq!(reply.json()["Results"].as_array().unwrap().len(), 2);
    let missing = api
        .put(
            "/v1/txn",
            json!([{"KV": {"Verb": "get", "Key": "nope"}}]).to_string(),
        )
        .await;
    assert_eq!(missing.status, 409);
    assert_eq!(
        missing.json()["Errors"][0]["What"],
        "key \"nope\" doesn't exist"
    );
}

#[tokio::test]
async fn catalog_verbs_work_in_a_transaction() {
    let api = Harness::new();
    let reply = api
        .put(
            "/v1/txn",
            json!([
                {"Node": {"Verb": "set", "Node": {"Node": "n1", "Address": "10.0.0.1"}}},
                {"Service": {"Verb": "set", "Node": "n1", "Service": {"Service": "web", "Port": 80}}},
                {"Check": {"Verb": "set", "Check": {"Node": "n1", "CheckID": "c1", "Name": "c1",
                                                   "Status": "passing", "ServiceID": "web"}}}
            ])
            .to_string(),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let results = reply.json()["Results"].clone();
    assert_eq!(results[0]["Node"]["Node"], "n1");
    assert_eq!(results[1]["Service"]["Service"], "web");
    assert_eq!(results[2]["Check"]["CheckID"], "c1");
    let services = api.get("/v1/health/service/web").await.json();
    assert_eq!(services[0]["Checks"][0]["Status"], "passing");
}

#[tokio::test]
async fn limits_and_bad_bodies_answer_as_consul_does() {
    let api = Harness::new();
    let many: Vec<Value> = (0..129)
        .map(|n| json!({"KV": {"Verb": "set", "Key": format!("k{n}")}}))
        .collect();
    api.expect_text(
        api.put("/v1/txn", Value::Array(many).to_string()).await,
        413,
        "Transaction contains too many operations (129 > 128)",
    )
    .await;
    let bad = api.put("/v1/txn", "{not json").await;
    assert_eq!(bad.status, 400);
    assert!(
        bad.text().starts_with("Failed to parse body: "),
        "{}",
        bad.text()
    );
    let verb = api
        .put(
            "/v1/txn",
            json!([{"KV": {"Verb": "frob", "Key": "a"}}]).to_string(),
        )
        .await;
    assert_eq!(verb.status, 409);
    assert_eq!(verb.json()["Errors"][0]["What"], "unknown KV verb \"frob\"");
    let base64 = api
        .put(
            "/v1/txn",
            json!([{"KV": {"Verb": "set", "Key": "a", "Value": "!!"}}]).to_string(),
        )
        .await;
    assert_eq!(base64.status, 400);
}
