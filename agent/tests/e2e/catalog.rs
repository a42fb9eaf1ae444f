//! Catalog and health over HTTP, including the server's own registration.

use crate::harness::Agent;
use reqwest::blocking::Client;
use serde_json::{json, Value};

const READ_HEADERS: [&str; 3] = [
    "x-consul-index",
    "x-consul-knownleader",
    "x-consul-lastcontact",
];

/// A read from an indexed query: it must carry the three read headers.
fn get(http: &Client, agent: &Agent, path: &str) -> Value {
    let response = http.get(agent.url(path)).send().unwrap();
    assert_eq!(response.status(), 200, "{path}");
    for header in READ_HEADERS {
        assert!(
            response.headers().contains_key(header),
            "{path} lacks {header}"
        );
    }
    response.json().unwrap()
}

/// An agent, status or datacenter answer: like Consul's, it carries no read headers.
fn get_plain(http: &Client, agent: &Agent, path: &str) -> Value {
    let response = http.get(agent.url(path)).send().unwrap();
    assert_eq!(response.status(), 200, "{path}");
    for header in READ_HEADERS {
        assert!(
            !response.headers().contains_key(header),
            "{path} has {header}"
        );
    }
    response.json().unwrap()
}

#[test]
fn the_server_registers_itself_as_the_consul_service() {
    let agent = Agent::server(&[]);
    let http = Client::new();
    // The leader registers itself right after election; give it a moment on a busy machine.
    let mut services = Value::Null;
    for _ in 0..200 {
        services = get(&http, &agent, "/v1/catalog/services");
        if services.get("consul").is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(services["consul"], json!([]));
    let consul = get(&http, &agent, "/v1/health/service/consul");
    assert_eq!(consul[0]["Node"]["Node"], "e2e-node");
    assert_eq!(consul[0]["Service"]["Port"], agent.rpc_port);
    assert_eq!(consul[0]["Checks"][0]["CheckID"], "serfHealth");
    assert_eq!(consul[0]["Checks"][0]["Status"], "passing");
    let leader: String = http
        .get(agent.url("/v1/status/leader"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let peers: Vec<String> = http
        .get(agent.url("/v1/status/peers"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(peers, [leader]);
    let me = get_plain(&http, &agent, "/v1/agent/self");
    assert_eq!(me["Config"]["Datacenter"], "dc1");
    assert_eq!(me["Config"]["NodeName"], "e2e-node");
    assert_eq!(me["Member"]["Tags"]["role"], "consul");
    let members = get_plain(&http, &agent, "/v1/agent/members");
    assert_eq!(members[0]["Name"], "e2e-node");
    assert_eq!(members[0]["Status"], 1);
    assert_eq!(
        get_plain(&http, &agent, "/v1/catalog/datacenters"),
        json!(["dc1"])
    );
}

#[test]
fn register_query_and_deregister_services() {
    let agent = Agent::server(&[]);
    let http = Client::new();
    for (node, address, id, tags, status) in [
        ("n2", "10.0.0.2", "web-2", json!(["v2"]), "passing"),
        (
            "n1",
            "10.0.0.1",
            "web-1",
            json!(["v1", "primary"]),
            "critical",
        ),
    ] {
        // snake_case and lower-case keys, as py-consul sends them, decode too.
        let body = json!({
            "node": node, "address": address, "node_meta": {"rack": "r1"},
            "Service": {"id": id, "service": "web", "tags": tags, "port": 80},
            "Check": {"CheckID": format!("{id}-check"), "Name": "http", "Status": status,
                      "ServiceID": id},
        });
        let response = http
            .put(agent.url("/v1/catalog/register"))
            .json(&body)
            .send()
            .unwrap();
        assert_eq!(response.text().unwrap(), "true");
    }
    let catalog = get(&http, &agent, "/v1/catalog/service/web");
    let health = get(&http, &agent, "/v1/health/service/web");
    let catalog_order: Vec<_> = catalog
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["ServiceID"].clone())
        .collect();
    let health_order: Vec<_> = health
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["Service"]["ID"].clone())
        .collect();
    assert_eq!(catalog_order, [json!("web-1"), json!("web-2")]);
    assert_eq!(
        catalog_order, health_order,
        "catalog and health lists share one order"
    );
    assert_eq!(catalog[0]["NodeMeta"]["rack"], "r1");

    let passing = get(&http, &agent, "/v1/health/service/web?passing");
    assert_eq!(passing.as_array().unwrap().len(), 1);
    assert_eq!(passing[0]["Service"]["ID"], "web-2");
    let tagged = get(&http, &agent, "/v1/catalog/service/web?tag=v1&tag=primary");
    assert_eq!(tagged.as_array().unwrap().len(), 1);
    let critical = get(&http, &agent, "/v1/health/state/critical");
    assert_eq!(critical.as_array().unwrap().len(), 1);
    let node = get(&http, &agent, "/v1/catalog/node/n1");
    assert_eq!(node["Services"]["web-1"]["Service"], "web");
    let unknown = get(&http, &agent, "/v1/catalog/node/nobody");
    assert!(unknown.is_null());
    assert_eq!(get(&http, &agent, "/v1/health/node/nobody"), json!([]));

    let gone = http
        .put(agent.url("/v1/catalog/deregister"))
        .json(&json!({"Node": "n1"}))
        .send()
        .unwrap();
    assert_eq!(gone.text().unwrap(), "true");
    assert_eq!(
        get(&http, &agent, "/v1/catalog/service/web")
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn catalog_survives_a_clean_restart() {
    let mut agent = Agent::server(&[]);
    let http = Client::new();
    let body =
        json!({"Node": "keep", "Address": "10.1.1.1", "Service": {"Service": "kept", "Port": 1}});
    http.put(agent.url("/v1/catalog/register"))
        .json(&body)
        .send()
        .unwrap();
    assert!(agent.terminate().success(), "a SIGTERM stop exits 0");
    agent.start();
    let kept = get(&http, &agent, "/v1/catalog/service/kept");
    assert_eq!(kept[0]["Node"], "keep");
}
