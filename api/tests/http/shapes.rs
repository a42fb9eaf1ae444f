//! Exact key sets: each answer carries the keys of the Go struct Consul marshals for it, and
//! leaves out exactly what that struct tags `omitempty` (`api.AgentService` on the agent
//! endpoints; `structs.ServiceNode`, `structs.NodeService`, `structs.HealthCheck`,
//! `structs.HealthCheckDefinition` and `structs.DirEntry` on catalog, health and KV reads;
//! the `Self` struct of `/v1/agent/self`).

use crate::harness::Harness;
use serde_json::{json, Value};

/// The object's keys, sorted.
fn keys(value: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = value
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {value}"))
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    keys
}

/// `expected`, sorted, for comparing with `keys`.
fn sorted<'a>(expected: &[&'a str]) -> Vec<&'a str> {
    let mut expected = expected.to_vec();
    expected.sort_unstable();
    expected
}

/// `structs.Node`'s keys (`Partition`, `PeerName`, `Locality` are `omitempty`).
const NODE: &[&str] = &[
    "ID",
    "Node",
    "Address",
    "Datacenter",
    "TaggedAddresses",
    "Meta",
    "CreateIndex",
    "ModifyIndex",
];

/// `structs.NodeService` for a plain instance with a port: no `Kind`, `TaggedAddresses`,
/// `SocketPath` or `Locality`, and, unlike `api.AgentService`, no `Datacenter`.
const NODE_SERVICE: &[&str] = &[
    "ID",
    "Service",
    "Tags",
    "Address",
    "Meta",
    "Port",
    "Weights",
    "EnableTagOverride",
    "Proxy",
    "Connect",
    "PeerName",
    "CreateIndex",
    "ModifyIndex",
];

/// `structs.HealthCheck` (`PeerName` is `omitempty`).
const HEALTH_CHECK: &[&str] = &[
    "Node",
    "CheckID",
    "Name",
    "Status",
    "Notes",
    "Output",
    "ServiceID",
    "ServiceName",
    "ServiceTags",
    "Type",
    "Interval",
    "Timeout",
    "ExposedPort",
    "Definition",
    "CreateIndex",
    "ModifyIndex",
];

/// `api.AgentService` for a plain local service: everything else is `omitempty`.
const AGENT_SERVICE: &[&str] = &[
    "ID",
    "Service",
    "Tags",
    "Meta",
    "Port",
    "Address",
    "Weights",
    "EnableTagOverride",
    "Datacenter",
];

async fn plain_agent_service(api: &Harness) {
    let reply = api
        .put(
            "/v1/agent/service/register",
            json!({"Name": "web", "ID": "web-1", "Port": 8080}).to_string(),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
}

#[tokio::test]
async fn a_plain_agent_service_has_exactly_consuls_keys() {
    let api = Harness::new();
    plain_agent_service(&api).await;
    let services = api.get("/v1/agent/services").await.json();
    let web = &services["web-1"];
    assert_eq!(keys(web), sorted(AGENT_SERVICE));
    assert_eq!(web["Datacenter"], "dc1");
    assert_eq!(web["Tags"], json!([]));
    assert_eq!(web["Meta"], json!({}));

    // The single-service read adds only its content hash.
    let one = api.get("/v1/agent/service/web-1").await.json();
    let mut expected = AGENT_SERVICE.to_vec();
    expected.push("ContentHash");
    assert_eq!(keys(&one), sorted(&expected));

    // And the service of the agent health endpoint is the same `api.AgentService`.
    let health = api.get("/v1/agent/health/service/id/web-1").await.json();
    assert_eq!(keys(&health["Service"]), sorted(AGENT_SERVICE));
}

#[tokio::test]
async fn an_agent_service_shows_what_it_sets() {
    let api = Harness::new();
    let reply = api
        .put(
            "/v1/agent/service/register",
            json!({"Name": "db", "Port": 5432, "SocketPath": "/run/db.sock",
                   "TaggedAddresses": {"wan": {"Address": "198.51.100.7", "Port": 15432}}})
            .to_string(),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let db = &api.get("/v1/agent/services").await.json()["db"];
    let mut expected = AGENT_SERVICE.to_vec();
    expected.extend(["SocketPath", "TaggedAddresses"]);
    assert_eq!(keys(db), sorted(&expected));
    assert_eq!(
        db["TaggedAddresses"],
        json!({"wan": {"Address": "198.51.100.7", "Port": 15432}})
    );
}

#[tokio::test]
async fn catalog_listings_have_the_server_structs_keys() {
    let api = Harness::new();
    api.register(json!({
        "Node": "n1", "Address": "10.0.0.1",
        "Service": {"ID": "web-1", "Service": "web", "Port": 80},
        "Check": {"CheckID": "web-1-http", "Name": "http", "Status": "passing",
                  "ServiceID": "web-1",
                  "Definition": {"HTTP": "http://10.0.0.1/health", "Interval": "10s"}}
    }))
    .await;

    // `structs.ServiceNode`: `ServiceTaggedAddresses` and `PeerName` are `omitempty`,
    // `ServiceLocality` is not (`null`).
    let instance = &api.get("/v1/catalog/service/web").await.json()[0];
    assert_eq!(
        keys(instance),
        sorted(&[
            "ID",
            "Node",
            "Address",
            "Datacenter",
            "TaggedAddresses",
            "NodeMeta",
            "ServiceKind",
            "ServiceID",
            "ServiceName",
            "ServiceTags",
            "ServiceAddress",
            "ServiceWeights",
            "ServiceMeta",
            "ServicePort",
            "ServiceSocketPath",
            "ServiceEnableTagOverride",
            "ServiceProxy",
            "ServiceConnect",
            "ServiceLocality",
            "CreateIndex",
            "ModifyIndex",
        ])
    );
    assert_eq!(instance["ServiceLocality"], Value::Null);
    assert_eq!(
        instance["ServiceProxy"],
        json!({"Mode": "", "MeshGateway": {}, "Expose": {}})
    );
    assert_eq!(instance["ServiceConnect"], json!({}));

    // `structs.NodeServices`: the node and its `structs.NodeService`s.
    let node = api.get("/v1/catalog/node/n1").await.json();
    assert_eq!(keys(&node), ["Node", "Services"]);
    assert_eq!(keys(&node["Node"]), sorted(NODE));
    assert_eq!(keys(&node["Services"]["web-1"]), sorted(NODE_SERVICE));
    assert_eq!(node["Services"]["web-1"]["PeerName"], "");

    // `structs.CheckServiceNode`.
    let entry = &api.get("/v1/health/service/web").await.json()[0];
    assert_eq!(keys(entry), ["Checks", "Node", "Service"]);
    assert_eq!(keys(&entry["Node"]), sorted(NODE));
    assert_eq!(keys(&entry["Service"]), sorted(NODE_SERVICE));
    let check = &entry["Checks"][0];
    assert_eq!(keys(check), sorted(HEALTH_CHECK));
    // `structs.HealthCheckDefinition`: all `omitempty`, zero durations blanked.
    assert_eq!(
        check["Definition"],
        json!({"HTTP": "http://10.0.0.1/health", "Interval": "10s"})
    );
    for path in ["/v1/health/checks/web", "/v1/health/node/n1"] {
        let checks = api.get(path).await.json();
        assert_eq!(keys(&checks[0]), sorted(HEALTH_CHECK), "{path}");
    }
}

#[tokio::test]
async fn a_zero_port_instance_omits_port_where_consul_does() {
    let api = Harness::new();
    api.register(json!({
        "Node": "n1", "Address": "10.0.0.1",
        "Service": {"ID": "sock", "Service": "sock", "SocketPath": "/run/sock"}
    }))
    .await;
    // `structs.NodeService.Port` is `omitempty` ...
    let entry = &api.get("/v1/health/service/sock").await.json()[0];
    assert!(entry["Service"].get("Port").is_none());
    assert_eq!(entry["Service"]["SocketPath"], "/run/sock");
    // ... `structs.ServiceNode.ServicePort` is not.
    let instance = &api.get("/v1/catalog/service/sock").await.json()[0];
    assert_eq!(instance["ServicePort"], 0);
}

#[tokio::test]
async fn agent_checks_have_the_health_check_keys() {
    let api = Harness::new();
    let reply = api
        .put(
            "/v1/agent/check/register",
            json!({"Name": "mem", "TTL": "30s"}).to_string(),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let checks = api.get("/v1/agent/checks").await.json();
    assert_eq!(keys(&checks["mem"]), sorted(HEALTH_CHECK));
    // A TTL check sets no duration Consul's definition would print.
    assert_eq!(checks["mem"]["Definition"], json!({}));
}

#[tokio::test]
async fn kv_entries_omit_an_empty_session_only() {
    let api = Harness::new();
    api.put("/v1/kv/a", "1").await;
    let entry = &api.get("/v1/kv/a").await.json()[0];
    assert_eq!(
        keys(entry),
        sorted(&[
            "LockIndex",
            "Key",
            "Flags",
            "Value",
            "CreateIndex",
            "ModifyIndex"
        ])
    );
}

#[tokio::test]
async fn agent_self_has_consuls_sections() {
    let api = Harness::new();
    let me = api.get("/v1/agent/self").await.json();
    // `xDS` is `omitempty` and set only when the agent runs its gRPC xDS server, which
    // Legate does not; `Coord` has no `omitempty` and is `null` until the agent has one.
    assert_eq!(
        keys(&me),
        ["Config", "Coord", "DebugConfig", "Member", "Meta", "Stats"]
    );
    assert_eq!(me["Coord"], Value::Null);
    assert_eq!(me["DebugConfig"]["DisableCoordinates"], false);
    assert_eq!(me["DebugConfig"]["GRPCPort"], -1);
    assert_eq!(me["DebugConfig"]["GRPCTLSPort"], -1);
    // The anonymous struct of `Config` (`Partition` is `omitempty`).
    assert_eq!(
        keys(&me["Config"]),
        sorted(&[
            "Datacenter",
            "PrimaryDatacenter",
            "NodeName",
            "NodeID",
            "Revision",
            "Server",
            "Version",
            "BuildDate",
        ])
    );
    // `serf.Member`.
    assert_eq!(
        keys(&me["Member"]),
        sorted(&[
            "Name",
            "Addr",
            "Port",
            "Tags",
            "Status",
            "ProtocolMin",
            "ProtocolMax",
            "ProtocolCur",
            "DelegateMin",
            "DelegateMax",
            "DelegateCur",
        ])
    );
    assert_eq!(me["Meta"]["consul-network-segment"], "");
}
