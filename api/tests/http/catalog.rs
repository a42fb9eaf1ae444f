//! `/v1/catalog`: registration bodies as real clients send them, listings and their shapes.

use crate::harness::Harness;
use serde_json::{json, Value};

/// What the Go client's `Catalog().Register` sends: every field, `null` where unset.
fn go_client_body() -> Value {
    json!({
        "ID": "", "Node": "n1", "Address": "10.0.0.1", "Datacenter": "",
        "TaggedAddresses": null, "NodeMeta": {"Rack": "R1"},
        "Service": {"ID": "web-1", "Service": "web", "Tags": ["v1", "Primary"], "Port": 8080,
                    "Address": "", "Meta": null, "Weights": null, "EnableTagOverride": false},
        "Check": null, "Checks": null, "SkipNodeUpdate": false
    })
}

#[tokio::test]
async fn register_as_the_go_client_does_and_read_every_listing() {
    let api = Harness::new();
    api.register(go_client_body()).await;

    let nodes = api.get("/v1/catalog/nodes").await;
    nodes.assert_read_headers();
    assert_eq!(
        nodes.json(),
        json!([{"ID":"","Node":"n1","Address":"10.0.0.1","Datacenter":"dc1",
                "TaggedAddresses":{},"Meta":{"Rack":"R1"},"CreateIndex":1,"ModifyIndex":1}])
    );

    let services = api.get("/v1/catalog/services").await;
    services.assert_read_headers();
    assert_eq!(services.json(), json!({"web": ["Primary", "v1"]}));

    let instances = api.get("/v1/catalog/service/web").await;
    instances.assert_read_headers();
    let entry = &instances.json()[0];
    assert_eq!(entry["Node"], "n1");
    assert_eq!(entry["Address"], "10.0.0.1");
    assert_eq!(entry["Datacenter"], "dc1");
    assert_eq!(entry["ServiceID"], "web-1");
    assert_eq!(entry["ServiceName"], "web");
    assert_eq!(
        entry["ServiceAddress"], "",
        "left empty: clients fall back to Address"
    );
    assert_eq!(entry["ServicePort"], 8080);
    assert_eq!(entry["ServiceMeta"], json!({}));
    assert!(
        entry.get("ServiceTaggedAddresses").is_none(),
        "omitempty in structs.ServiceNode"
    );
    assert_eq!(entry["ServiceWeights"], json!({"Passing": 1, "Warning": 1}));
    assert_eq!(entry["NodeMeta"], json!({"Rack": "R1"}));

    let node = api.get("/v1/catalog/node/n1").await;
    node.assert_read_headers();
    let node = node.json();
    assert_eq!(node["Node"]["Node"], "n1");
    assert_eq!(node["Services"]["web-1"]["Service"], "web");
    assert_eq!(node["Services"]["web-1"]["Tags"], json!(["v1", "Primary"]));

    let datacenters = api.get("/v1/catalog/datacenters").await;
    assert_eq!(datacenters.json(), json!(["dc1"]));
    datacenters.assert_no_read_headers();
}

#[tokio::test]
async fn snake_case_and_lower_case_bodies_decode() {
    let api = Harness::new();
    api.register(json!({
        "node": "py", "address": "10.0.0.9", "node_meta": {"Env": "Prod"},
        "tagged_addresses": {"wan": "198.51.100.1"},
        "service": {"name": "db", "id": "db-1", "port": 5432, "enable_tag_override": true,
                    "tagged_addresses": {"lan": {"address": "10.0.0.9", "port": 5432}}},
        "checks": [{"name": "alive", "service_id": "db-1", "status": "passing",
                    "definition": {"tcp": "10.0.0.9:5432", "interval": "10s"}}]
    }))
    .await;
    let node = api.get("/v1/catalog/node/py").await.json();
    assert_eq!(
        node["Node"]["Meta"],
        json!({"Env": "Prod"}),
        "map keys keep their case"
    );
    assert_eq!(
        node["Node"]["TaggedAddresses"],
        json!({"wan": "198.51.100.1"})
    );
    let service = &node["Services"]["db-1"];
    assert_eq!(service["EnableTagOverride"], true);
    assert_eq!(
        service["TaggedAddresses"]["lan"],
        json!({"Address": "10.0.0.9", "Port": 5432})
    );
    let checks = api.get("/v1/health/node/py").await.json();
    assert_eq!(checks[0]["CheckID"], "alive");
    assert_eq!(checks[0]["Type"], "tcp");
    assert_eq!(checks[0]["Definition"]["TCP"], "10.0.0.9:5432");
    assert_eq!(checks[0]["Interval"], "10s");
}

#[tokio::test]
async fn unknown_nodes_and_empty_catalogs() {
    let api = Harness::new();
    let unknown = api.get("/v1/catalog/node/nobody").await;
    assert_eq!((unknown.status, unknown.text()), (200, "null".to_owned()));
    unknown.assert_read_headers();
    let none = api.get("/v1/catalog/service/nothing").await;
    assert_eq!((none.status, none.json()), (200, json!([])));
    none.assert_read_headers();
    assert_eq!(api.get("/v1/catalog/nodes").await.json(), json!([]));
    assert_eq!(api.get("/v1/catalog/services").await.json(), json!({}));
}

#[tokio::test]
async fn tags_are_anded_and_node_meta_filters() {
    let api = Harness::new();
    api.instance("n1", "web-1", "web", &["v1", "primary"], "passing")
        .await;
    api.instance("n2", "web-2", "web", &["v1"], "passing").await;
    let both = api
        .get("/v1/catalog/service/web?tag=v1&tag=PRIMARY")
        .await
        .json();
    assert_eq!(both.as_array().unwrap().len(), 1);
    assert_eq!(both[0]["ServiceID"], "web-1");
    let one = api.get("/v1/catalog/service/web?tag=v1").await.json();
    assert_eq!(one.as_array().unwrap().len(), 2);

    api.register(json!({"Node": "n3", "Address": "10.0.0.3", "NodeMeta": {"rack": "r9"}}))
        .await;
    let racked = api.get("/v1/catalog/nodes?node-meta=rack:r9").await.json();
    assert_eq!(racked.as_array().unwrap().len(), 1);
    assert_eq!(racked[0]["Node"], "n3");
}

#[tokio::test]
async fn deregister_a_service_a_check_or_the_node() {
    let api = Harness::new();
    api.instance("n1", "web-1", "web", &[], "passing").await;
    api.instance("n1", "web-2", "web", &[], "passing").await;
    let gone = api
        .put(
            "/v1/catalog/deregister",
            json!({"Node": "n1", "ServiceID": "web-1"}).to_string(),
        )
        .await;
    assert_eq!((gone.status, gone.text()), (200, "true".to_owned()));
    assert_eq!(
        api.get("/v1/catalog/service/web")
            .await
            .json()
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let check = json!({"node": "n1", "check_id": "web-2-check"}).to_string();
    assert_eq!(
        api.put("/v1/catalog/deregister", check).await.text(),
        "true"
    );
    assert_eq!(api.get("/v1/health/checks/web").await.json(), json!([]));
    let node = json!({"Node": "n1", "Address": "obsolete but allowed"}).to_string();
    assert_eq!(api.put("/v1/catalog/deregister", node).await.text(), "true");
    assert_eq!(api.get("/v1/catalog/node/n1").await.text(), "null");
    let again = json!({"Node": "n1", "ServiceID": "web-9"}).to_string();
    assert_eq!(
        api.put("/v1/catalog/deregister", again).await.text(),
        "true"
    );
}

#[tokio::test]
async fn registration_refusals_use_consul_texts() {
    let api = Harness::new();
    let decode = api.put("/v1/catalog/register", "{not json").await;
    assert_eq!(decode.status, 400);
    assert!(
        decode.text().starts_with("Request decode failed: "),
        "{}",
        decode.text()
    );
    let no_node = api
        .put("/v1/catalog/register", r#"{"Address":"1.2.3.4"}"#)
        .await;
    assert_eq!(
        (no_node.status, no_node.text()),
        (500, "Must provide node".to_owned())
    );
    let no_address = api.put("/v1/catalog/register", r#"{"Node":"n"}"#).await;
    assert_eq!(
        no_address.text(),
        "Must provide address if SkipNodeUpdate is not set"
    );
    let unknown_service = api
        .put(
            "/v1/catalog/register",
            r#"{"Node":"n","Address":"a","Check":{"CheckID":"c","ServiceID":"ghost"}}"#,
        )
        .await;
    assert_eq!(unknown_service.status, 500);
    assert_eq!(unknown_service.text(), "Missing service registration");
    let no_dereg_node = api.put("/v1/catalog/deregister", "{}").await;
    assert_eq!(
        (no_dereg_node.status, no_dereg_node.text()),
        (500, "Must provide node".to_owned())
    );
    assert_eq!(
        api.get("/v1/catalog/nodes").await.json(),
        json!([]),
        "nothing half-applied"
    );

    let missing_name = api.get("/v1/catalog/service/").await;
    assert_eq!(
        (missing_name.status, missing_name.text()),
        (400, "Missing service name".to_owned())
    );
    assert_eq!(
        api.get("/v1/catalog/node/").await.text(),
        "Missing node name"
    );
}

#[tokio::test]
async fn oversized_registrations_are_refused_without_buffering() {
    let api = Harness::with_config(legate_api::ApiConfig {
        max_request_body: 1024,
        ..legate_api::ApiConfig::default()
    });
    let huge = vec![b' '; 64 * 1024];
    let refused = api.put("/v1/catalog/register", huge).await;
    assert_eq!(refused.status, 413);
    assert!(refused.text().contains("too large"));
}
