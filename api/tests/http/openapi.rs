//! The OpenAPI description: built from the route table, so every route and method is in it,
//! every operation has a unique id, and every schema it refers to is among its components.

use crate::harness::Harness;
use legate_api::route::Endpoint;
use serde_json::Value;

#[tokio::test]
async fn the_document_is_served_and_covers_every_route() {
    let api = Harness::new();
    let answer = api.get(legate_api::openapi::PATH).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("content-type"), Some("application/json"));
    let document: Value = serde_json::from_slice(&answer.body).expect("JSON");
    assert_eq!(document["openapi"], "3.1.0");
    let paths = document["paths"].as_object().expect("paths");

    // Every path a route table names, with each of its methods.
    let samples = [
        ("/v1/kv/{key}", "/v1/kv/a"),
        ("/v1/catalog/nodes", "/v1/catalog/nodes"),
        ("/v1/catalog/service/{service}", "/v1/catalog/service/web"),
        ("/v1/health/state/{state}", "/v1/health/state/any"),
        ("/v1/agent/check/pass/{check_id}", "/v1/agent/check/pass/c"),
        ("/v1/session/renew/{session}", "/v1/session/renew/s"),
        ("/v1/operator/keyring", "/v1/operator/keyring"),
        ("/v1/query/{query}", "/v1/query/q"),
        ("/v1/txn", "/v1/txn"),
    ];
    for (template, sample) in samples {
        let item = paths
            .get(template)
            .unwrap_or_else(|| panic!("{template} missing"));
        let endpoint = Endpoint::parse(sample).expect("a route");
        if let Some(methods) = endpoint.methods() {
            for method in methods {
                let name = method.as_str().to_ascii_lowercase();
                assert!(item.get(&name).is_some(), "{name} {template} missing");
            }
        }
    }
    assert!(paths.len() >= 60, "{} paths", paths.len());

    let mut ids = Vec::new();
    for item in paths.values() {
        for operation in item.as_object().expect("operations").values() {
            ids.push(operation["operationId"].as_str().expect("an id").to_owned());
            assert!(operation["responses"]["200"].is_object());
            assert!(operation["responses"]["default"].is_object());
        }
    }
    let count = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), count, "operation ids repeat");

    let schemas = document["components"]["schemas"]
        .as_object()
        .expect("schemas");
    for wire in [
        "KvPair",
        "Node",
        "CatalogService",
        "ServiceEntry",
        "HealthCheck",
        "SessionEntry",
    ] {
        assert!(schemas.contains_key(wire), "{wire} missing");
    }
    let text = document.to_string();
    for reference in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
        let name = reference.split('"').next().expect("a name");
        assert!(schemas.contains_key(name), "dangling reference to {name}");
    }
}
