//! `/v1/health`: entries with node and service checks, `passing`, states, and ordering.

use crate::harness::Harness;
use serde_json::json;

#[tokio::test]
async fn service_entries_carry_node_checks_first_then_their_own() {
    let api = Harness::new();
    api.register(json!({
        "Node": "n1", "Address": "10.0.0.1",
        "Service": {"ID": "web-1", "Service": "web", "Port": 80},
        "Checks": [
            {"CheckID": "serfHealth", "Name": "Serf Health Status", "Status": "passing"},
            {"CheckID": "web-1-check", "Name": "http", "Status": "passing", "ServiceID": "web-1"}
        ]
    }))
    .await;
    let reply = api.get("/v1/health/service/web").await;
    reply.assert_read_headers();
    let entry = &reply.json()[0];
    assert_eq!(entry["Node"]["Node"], "n1");
    assert_eq!(entry["Node"]["Datacenter"], "dc1");
    assert_eq!(entry["Service"]["ID"], "web-1");
    assert_eq!(entry["Service"]["Service"], "web");
    assert_eq!(entry["Service"]["Tags"], json!([]));
    let checks: Vec<_> = entry["Checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["CheckID"].clone())
        .collect();
    assert_eq!(checks, [json!("serfHealth"), json!("web-1-check")]);
    assert_eq!(entry["Checks"][0]["ServiceTags"], json!([]));
    assert_eq!(entry["Checks"][1]["ServiceName"], "web");
}

#[tokio::test]
async fn passing_drops_instances_with_any_failing_check() {
    let api = Harness::new();
    api.instance("a", "api-0", "api", &[], "passing").await;
    api.instance("b", "api-1", "api", &[], "critical").await;
    api.instance("c", "api-2", "api", &[], "warning").await;
    // A failing node check fails every instance on the node.
    api.instance("d", "api-3", "api", &[], "passing").await;
    api.register(json!({"Node": "d", "Address": "10.0.0.4",
                        "Check": {"CheckID": "serfHealth", "Status": "critical"}}))
        .await;

    let all = api.get("/v1/health/service/api").await;
    assert_eq!(all.json().as_array().unwrap().len(), 4);
    let passing = api.get("/v1/health/service/api?passing").await;
    assert_eq!(passing.json().as_array().unwrap().len(), 1);
    assert_eq!(passing.json()[0]["Service"]["ID"], "api-0");
    assert_eq!(
        passing.index(),
        all.index(),
        "the index reflects the unfiltered set"
    );
    assert_eq!(
        api.get("/v1/health/service/api?passing=true")
            .await
            .json()
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        api.get("/v1/health/service/api?passing=false")
            .await
            .json()
            .as_array()
            .unwrap()
            .len(),
        4
    );
    let invalid = api.get("/v1/health/service/api?passing=maybe").await;
    assert_eq!(
        (invalid.status, invalid.text()),
        (400, "Invalid value for ?passing".to_owned())
    );
}

#[tokio::test]
async fn catalog_and_health_list_instances_in_one_order() {
    let api = Harness::new();
    for (node, id) in [
        ("zeta", "s-1"),
        ("alpha", "s-9"),
        ("alpha", "s-2"),
        ("mid", "s-0"),
    ] {
        api.instance(node, id, "svc", &["t"], "passing").await;
    }
    let catalog = api.get("/v1/catalog/service/svc?tag=t").await.json();
    let health = api.get("/v1/health/service/svc?tag=t").await.json();
    let catalog_order: Vec<_> = catalog
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["Node"].clone(), e["ServiceID"].clone()))
        .collect();
    let health_order: Vec<_> = health
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["Node"]["Node"].clone(), e["Service"]["ID"].clone()))
        .collect();
    assert_eq!(catalog_order, health_order);
    let expected = [
        ("alpha", "s-2"),
        ("alpha", "s-9"),
        ("mid", "s-0"),
        ("zeta", "s-1"),
    ];
    let expected: Vec<_> = expected.iter().map(|(n, s)| (json!(n), json!(s))).collect();
    assert_eq!(catalog_order, expected, "node name, then service id");
}

#[tokio::test]
async fn service_node_and_state_check_listings() {
    let api = Harness::new();
    api.instance("n1", "web-1", "web", &["v1"], "passing").await;
    api.instance("n2", "web-2", "web", &["v1"], "critical")
        .await;
    api.register(json!({"Node": "n2", "Address": "10.0.0.2",
                        "Check": {"CheckID": "serfHealth", "Status": "passing"}}))
        .await;

    let checks = api.get("/v1/health/checks/web").await;
    checks.assert_read_headers();
    let ids: Vec<_> = checks
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["CheckID"].clone())
        .collect();
    assert_eq!(
        ids,
        [json!("web-1-check"), json!("web-2-check")],
        "service checks only"
    );

    let node = api.get("/v1/health/node/n2").await.json();
    assert_eq!(node.as_array().unwrap().len(), 2);
    let unknown = api.get("/v1/health/node/nobody").await;
    assert_eq!((unknown.status, unknown.json()), (200, json!([])));
    unknown.assert_read_headers();

    let critical = api.get("/v1/health/state/critical").await.json();
    assert_eq!(critical.as_array().unwrap().len(), 1);
    assert_eq!(critical[0]["ServiceTags"], json!(["v1"]));
    let any = api.get("/v1/health/state/any").await.json();
    assert_eq!(any.as_array().unwrap().len(), 3);
    let passing = api.get("/v1/health/state/passing").await.json();
    assert_eq!(passing.as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn an_unknown_state_answers_an_empty_list_as_consul_does() {
    let api = Harness::new();
    api.instance("n1", "web-1", "web", &[], "passing").await;
    let bogus = api.get("/v1/health/state/bogus").await;
    assert_eq!((bogus.status, bogus.json()), (200, json!([])));
    bogus.assert_read_headers();
    assert_eq!(bogus.index(), api.backend.last_index().0);
    let missing = api.get("/v1/health/state/").await;
    assert_eq!(
        (missing.status, missing.text()),
        (400, "Missing check state".to_owned())
    );
}
