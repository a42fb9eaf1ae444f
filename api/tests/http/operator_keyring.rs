//! `/v1/operator/keyring` against `FakeCluster`: the list shape, memberlist's rules, and
//! Consul's parameter checks.

use crate::harness::Harness;
use axum::body::Body;
use legate_api::testing::FIRST_KEY;
use serde_json::json;

const SECOND_KEY: &str = "ZWTL+bgjHyQPhJRKcFe3ccirc2SFHmc/Nw67l8NQfdk=";
/// 16 bytes: AES-128 keys are valid too.
const SHORT_KEY: &str = "AAECAwQFBgcICQoLDA0ODw==";

fn key_body(key: &str) -> String {
    json!({ "Key": key }).to_string()
}

#[tokio::test]
async fn list_has_consuls_shape() {
    let api = Harness::new();
    let reply = api.get("/v1/operator/keyring").await;
    assert_eq!(reply.status, 200);
    reply.assert_no_read_headers();
    let ring = |wan: bool| {
        json!({"WAN": wan, "Datacenter": "dc1", "Segment": "",
               "Keys": {FIRST_KEY: 1}, "PrimaryKeys": {FIRST_KEY: 1}, "NumNodes": 1})
    };
    assert_eq!(reply.json(), json!([ring(true), ring(false)]));
    let local = api.get("/v1/operator/keyring?local-only=true").await;
    assert_eq!(local.json(), json!([ring(false)]));
}

#[tokio::test]
async fn install_use_remove_rotate_a_key() {
    let api = Harness::new();
    let install = api.post("/v1/operator/keyring", key_body(SECOND_KEY)).await;
    assert_eq!((install.status, install.text()), (200, String::new()));
    // Installing twice is harmless; a 16-byte key is accepted.
    assert_eq!(
        api.post("/v1/operator/keyring", key_body(SECOND_KEY))
            .await
            .status,
        200
    );
    assert_eq!(
        api.post("/v1/operator/keyring?relay-factor=2", key_body(SHORT_KEY))
            .await
            .status,
        200
    );
    let listed = api.get("/v1/operator/keyring").await.json();
    assert_eq!(listed[1]["Keys"].as_object().unwrap().len(), 3);
    assert_eq!(listed[1]["PrimaryKeys"], json!({FIRST_KEY: 1}));

    // The body's field name folds as Go's decoder does.
    let used = api
        .put(
            "/v1/operator/keyring",
            json!({"key": SECOND_KEY}).to_string(),
        )
        .await;
    assert_eq!(used.status, 200);
    assert_eq!(api.backend.cluster.keys()[0], SECOND_KEY);
    let removed = api
        .delete_with("/v1/operator/keyring", key_body(FIRST_KEY))
        .await;
    assert_eq!(removed.status, 200);
    assert_eq!(api.backend.cluster.keys(), [SECOND_KEY, SHORT_KEY]);
}

#[tokio::test]
async fn memberlist_rules_answer_500_with_each_members_reason() {
    let api = Harness::new();
    let primary = api
        .delete_with("/v1/operator/keyring", key_body(FIRST_KEY))
        .await;
    api.expect_text(
        primary,
        500,
        "4 errors occurred:\n\t* WAN error: 1/1 nodes reported failure\n\t* node1.dc1: \
         Removing the primary key is not allowed\n\t* dc1 (LAN) error: 1/1 nodes reported \
         failure\n\t* node1: Removing the primary key is not allowed\n\n",
    )
    .await;
    let absent = api.put("/v1/operator/keyring", key_body(SECOND_KEY)).await;
    assert_eq!(absent.status, 500);
    assert!(absent
        .text()
        .contains("node1: Requested key is not in the keyring"));
    assert_eq!(api.backend.cluster.keys(), [FIRST_KEY]);
    // Removing a key nobody holds changes nothing and succeeds, as in memberlist.
    assert_eq!(
        api.delete_with("/v1/operator/keyring", key_body(SECOND_KEY))
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn bad_input_is_refused_in_consuls_order() {
    let api = Harness::new();
    let missing = api.post("/v1/operator/keyring", "{}").await;
    api.expect_text(missing, 400, "Invalid key: missing Key")
        .await;
    let not_base64 = api.post("/v1/operator/keyring", key_body("abc$")).await;
    api.expect_text(
        not_base64,
        400,
        "Invalid key: illegal base64 data at input byte 3",
    )
    .await;
    let wrong_size = api.post("/v1/operator/keyring", key_body("AAAA")).await;
    api.expect_text(
        wrong_size,
        400,
        "Invalid key: key size must be 16, 24 or 32 bytes",
    )
    .await;
    let undecodable = api.post("/v1/operator/keyring", "{").await;
    assert_eq!(undecodable.status, 400);
    assert!(undecodable.text().starts_with("Request decode failed: "));

    let relay = api.get("/v1/operator/keyring?relay-factor=x").await;
    api.expect_text(
        relay,
        400,
        "Error parsing relay factor: strconv.Atoi: parsing \"x\": invalid syntax",
    )
    .await;
    let too_far = api.get("/v1/operator/keyring?relay-factor=6").await;
    api.expect_text(
        too_far,
        400,
        "Invalid relay-factor: Relay factor must be in range: [0, 5]",
    )
    .await;
    let local = api.get("/v1/operator/keyring?local-only=maybe").await;
    api.expect_text(
        local,
        400,
        "Error parsing local-only: strconv.ParseBool: parsing \"maybe\": invalid syntax",
    )
    .await;
    let local_write = api
        .post("/v1/operator/keyring?local-only=true", key_body(SECOND_KEY))
        .await;
    api.expect_text(
        local_write,
        400,
        "Invalid use of local-only: local-only can only be set for list requests",
    )
    .await;
    // The parameters are checked before the key, as Consul checks them before any member.
    let both = api.post("/v1/operator/keyring?relay-factor=9", "{}").await;
    assert!(both.text().starts_with("Invalid relay-factor"));
    let patch = api
        .call(
            axum::http::Method::PATCH,
            "/v1/operator/keyring",
            Body::empty(),
        )
        .await;
    assert_eq!(
        (patch.status, patch.header("allow")),
        (405, Some("OPTIONS,GET,POST,PUT,DELETE"))
    );
}
