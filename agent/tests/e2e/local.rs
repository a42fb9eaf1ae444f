//! The host agent end to end: services and checks registered through `/v1/agent/*`, their
//! health in the catalog, restarts, anti-entropy, maintenance, script permissions, reaping
//! and hash blocking, against a real `legate` process.

use crate::harness::Agent;
use reqwest::blocking::Client;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

fn http() -> Client {
    Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

fn put(agent: &Agent, path: &str, body: Value) -> (u16, String) {
    let response = http().put(agent.url(path)).json(&body).send().unwrap();
    (response.status().as_u16(), response.text().unwrap())
}

fn get(agent: &Agent, path: &str) -> Value {
    http().get(agent.url(path)).send().unwrap().json().unwrap()
}

/// Polls `probe` until it holds, for at most `limit`.
fn eventually(limit: Duration, what: &str, mut probe: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if probe() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("timed out waiting for: {what}");
}

/// The service IDs `/v1/health/service/:name` lists (with `?passing` when asked).
fn healthy_ids(agent: &Agent, name: &str, passing: bool) -> Vec<String> {
    let query = if passing { "?passing" } else { "" };
    let entries = get(agent, &format!("/v1/health/service/{name}{query}"));
    entries
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| entry["Service"]["ID"].as_str().unwrap().to_owned())
        .collect()
}

/// An agent with a config file written from `config`.
fn agent_with(config: Value, extra: &[&str]) -> (Agent, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("agent.json");
    std::fs::write(&path, config.to_string()).unwrap();
    let mut args = vec![format!("-config-file={}", path.display())];
    args.extend(extra.iter().map(|arg| arg.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    (Agent::server(&args), dir)
}

#[test]
fn a_service_follows_its_ttl_check_in_and_out_of_passing() {
    let agent = Agent::server(&[]);
    let (status, body) = put(
        &agent,
        "/v1/agent/service/register",
        json!({"Name": "web", "ID": "web-1", "Port": 8080, "Tags": ["v1"],
               "Check": {"TTL": "60s"}}),
    );
    assert_eq!((status, body.as_str()), (200, ""));

    // Registered and synced before the write answered; critical until the TTL is passed.
    assert_eq!(healthy_ids(&agent, "web", false), ["web-1"]);
    assert!(healthy_ids(&agent, "web", true).is_empty());
    let checks = get(&agent, "/v1/agent/checks");
    assert_eq!(checks["service:web-1"]["Status"], "critical");
    assert_eq!(checks["service:web-1"]["Type"], "ttl");
    let services = get(&agent, "/v1/agent/services");
    assert_eq!(services["web-1"]["Service"], "web");
    assert_eq!(services["web-1"]["Tags"], json!(["v1"]));

    let (status, _) = put(
        &agent,
        "/v1/agent/check/pass/service:web-1?note=ready",
        json!(null),
    );
    assert_eq!(status, 200);
    assert_eq!(healthy_ids(&agent, "web", true), ["web-1"]);
    let entries = get(&agent, "/v1/health/service/web");
    let check = entries[0]["Checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|check| check["CheckID"] == "service:web-1")
        .unwrap()
        .clone();
    assert_eq!(
        (check["Status"].as_str(), check["Output"].as_str()),
        (Some("passing"), Some("ready"))
    );

    let (status, _) = put(
        &agent,
        "/v1/agent/check/update/service:web-1",
        json!({"Status": "warning", "Output": "slow"}),
    );
    assert_eq!(status, 200);
    // A warning leaves `?passing` too.
    assert!(healthy_ids(&agent, "web", true).is_empty());
    let health = http()
        .get(agent.url("/v1/agent/health/service/id/web-1?format=text"))
        .send()
        .unwrap();
    assert_eq!(health.status().as_u16(), 429);
    assert_eq!(health.text().unwrap(), "warning");

    put(&agent, "/v1/agent/check/fail/service:web-1", json!(null));
    let by_name = http()
        .get(agent.url("/v1/agent/health/service/name/web"))
        .send()
        .unwrap();
    assert_eq!(by_name.status().as_u16(), 503);
    let body: Value = by_name.json().unwrap();
    assert_eq!(body[0]["AggregatedStatus"], "critical");

    let (status, _) = put(&agent, "/v1/agent/service/deregister/web-1", json!(null));
    assert_eq!(status, 200);
    assert!(healthy_ids(&agent, "web", false).is_empty());
    assert_eq!(get(&agent, "/v1/agent/checks"), json!({}));
    // Deregistering again is fine, as in Consul.
    assert_eq!(
        put(&agent, "/v1/agent/service/deregister/web-1", json!(null)).0,
        200
    );
}

#[test]
fn services_and_ttl_states_survive_a_restart() {
    let mut agent = Agent::server(&[]);
    put(
        &agent,
        "/v1/agent/service/register",
        json!({"Name": "db", "Port": 5432, "Checks": [{"TTL": "10m"}, {"Name": "disk", "TTL": "10m"}]}),
    );
    put(
        &agent,
        "/v1/agent/check/pass/service:db:1?note=up",
        json!(null),
    );
    put(
        &agent,
        "/v1/agent/check/register",
        json!({"Name": "memory", "TTL": "10m", "Status": "warning"}),
    );
    agent.kill9();
    agent.start();

    let services = get(&agent, "/v1/agent/services");
    assert_eq!(services["db"]["Port"], 5432);
    let checks = get(&agent, "/v1/agent/checks");
    assert_eq!(checks["service:db:1"]["Status"], "passing", "{checks}");
    assert_eq!(checks["service:db:1"]["Output"], "up");
    // Never updated since registration: restored critical, as Consul restores checks.
    assert_eq!(checks["service:db:2"]["Status"], "critical");
    assert_eq!(checks["memory"]["Status"], "critical");
    // The restored state is in the catalog too.
    eventually(Duration::from_secs(20), "db passing in the catalog", || {
        let entries = get(&agent, "/v1/health/checks/db");
        entries
            .as_array()
            .unwrap()
            .iter()
            .any(|check| check["CheckID"] == "service:db:1" && check["Status"] == "passing")
    });
}

#[test]
fn anti_entropy_removes_foreign_services_and_restores_its_own() {
    let (agent, _config) = agent_with(json!({"ae_interval": "1s"}), &[]);
    put(
        &agent,
        "/v1/agent/service/register",
        json!({"Name": "api", "Port": 9000}),
    );
    // Written straight into the catalog for this agent's node: not the agent's.
    let (status, _) = put(
        &agent,
        "/v1/catalog/register",
        json!({"Node": "e2e-node", "Address": "127.0.0.1",
               "Service": {"Service": "intruder", "Port": 1}}),
    );
    assert_eq!(status, 200);
    assert_eq!(healthy_ids(&agent, "intruder", false), ["intruder"]);
    eventually(Duration::from_secs(30), "the intruder is removed", || {
        healthy_ids(&agent, "intruder", false).is_empty()
    });

    // The agent's own service, deleted from the catalog behind its back, comes back.
    put(
        &agent,
        "/v1/catalog/deregister",
        json!({"Node": "e2e-node", "ServiceID": "api"}),
    );
    eventually(
        Duration::from_secs(30),
        "the agent's service is restored",
        || healthy_ids(&agent, "api", false) == ["api"],
    );
    // The servers' own records are left alone.
    assert_eq!(healthy_ids(&agent, "consul", true).len(), 1);
}

#[test]
fn maintenance_takes_services_out_of_passing() {
    let agent = Agent::server(&[]);
    put(
        &agent,
        "/v1/agent/service/register",
        json!({"Name": "cache", "Check": {"TTL": "10m", "Status": "passing"}}),
    );
    assert_eq!(healthy_ids(&agent, "cache", true), ["cache"]);

    let (status, body) = put(&agent, "/v1/agent/service/maintenance/cache", json!(null));
    assert_eq!((status, body.as_str()), (400, "Missing value for enable"));
    let (status, _) = put(
        &agent,
        "/v1/agent/service/maintenance/cache?enable=true&reason=upgrade",
        json!(null),
    );
    assert_eq!(status, 200);
    assert!(healthy_ids(&agent, "cache", true).is_empty());
    let checks = get(&agent, "/v1/agent/checks");
    let maintenance = &checks["_service_maintenance:cache"];
    assert_eq!(maintenance["Status"], "critical");
    assert_eq!(maintenance["Notes"], "upgrade");
    let health = http()
        .get(agent.url("/v1/agent/health/service/id/cache?format=text"))
        .send()
        .unwrap();
    assert_eq!(health.status().as_u16(), 503);
    assert_eq!(health.text().unwrap(), "maintenance");
    assert_eq!(
        put(
            &agent,
            "/v1/agent/service/maintenance/nope?enable=true",
            json!(null)
        )
        .0,
        404
    );
    put(
        &agent,
        "/v1/agent/service/maintenance/cache?enable=false",
        json!(null),
    );
    assert_eq!(healthy_ids(&agent, "cache", true), ["cache"]);

    put(&agent, "/v1/agent/maintenance?enable=true", json!(null));
    assert!(healthy_ids(&agent, "cache", true).is_empty());
    let node_checks = get(&agent, "/v1/health/node/e2e-node");
    assert!(node_checks
        .as_array()
        .unwrap()
        .iter()
        .any(|check| check["CheckID"] == "_node_maintenance" && check["Status"] == "critical"));
    put(&agent, "/v1/agent/maintenance?enable=false", json!(null));
    assert_eq!(healthy_ids(&agent, "cache", true), ["cache"]);
}

#[test]
fn script_checks_are_refused_unless_enabled() {
    let agent = Agent::server(&[]);
    let check = json!({"Name": "script", "Args": ["sh", "-c", "exit 1"], "Interval": "1s"});
    let (status, body) = put(&agent, "/v1/agent/check/register", check.clone());
    assert_eq!(status, 500);
    assert!(
        body.starts_with("Scripts are disabled on this agent"),
        "{body}"
    );
    assert_eq!(get(&agent, "/v1/agent/checks"), json!({}));

    let enabled = Agent::server(&["-enable-script-checks"]);
    assert_eq!(put(&enabled, "/v1/agent/check/register", check).0, 200);
    eventually(Duration::from_secs(20), "the script check warns", || {
        get(&enabled, "/v1/agent/checks")["script"]["Status"] == "warning"
    });
}

#[test]
fn http_check_against_the_agents_own_api() {
    let agent = Agent::server(&[]);
    let url = agent.url("/v1/status/leader");
    put(
        &agent,
        "/v1/agent/service/register",
        json!({"Name": "self", "Check": {"HTTP": url, "Interval": "1s"}}),
    );
    eventually(Duration::from_secs(20), "the HTTP check passes", || {
        healthy_ids(&agent, "self", true) == ["self"]
    });
    let output = get(&agent, "/v1/agent/checks")["service:self"]["Output"].clone();
    assert!(
        output.as_str().unwrap().starts_with("HTTP GET "),
        "{output}"
    );
}

#[test]
fn critical_services_are_reaped_after_their_deadline() {
    let (agent, _config) = agent_with(
        json!({"check_reap_interval": "200ms", "check_deregister_interval_min": "1s"}),
        &[],
    );
    put(
        &agent,
        "/v1/agent/service/register",
        json!({"Name": "flaky", "Check": {"TTL": "10m", "DeregisterCriticalServiceAfter": "1s"}}),
    );
    put(
        &agent,
        "/v1/agent/service/register",
        json!({"Name": "steady", "Check": {"TTL": "10m", "Status": "passing",
                                            "DeregisterCriticalServiceAfter": "1s"}}),
    );
    eventually(
        Duration::from_secs(30),
        "the critical service is reaped",
        || get(&agent, "/v1/agent/services").get("flaky").is_none(),
    );
    // The catalog follows the agent's local state by anti-entropy, a moment later.
    eventually(
        Duration::from_secs(30),
        "the reaped service to leave the catalog",
        || healthy_ids(&agent, "flaky", false).is_empty(),
    );
    assert_eq!(healthy_ids(&agent, "steady", true), ["steady"]);
}

#[test]
fn hash_blocking_on_one_service() {
    let agent = Agent::server(&[]);
    put(
        &agent,
        "/v1/agent/service/register",
        json!({"Name": "blk", "Port": 1}),
    );
    let first = http()
        .get(agent.url("/v1/agent/service/blk"))
        .send()
        .unwrap();
    let hash = first.headers()["X-Consul-ContentHash"]
        .to_str()
        .unwrap()
        .to_owned();
    let body: Value = first.json().unwrap();
    assert_eq!(body["ContentHash"], hash.as_str());

    // Unchanged: waits the whole `wait`.
    let started = Instant::now();
    let same = http()
        .get(agent.url(&format!("/v1/agent/service/blk?hash={hash}&wait=300ms")))
        .send()
        .unwrap();
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(
        same.headers()["X-Consul-ContentHash"].to_str().unwrap(),
        hash
    );

    // A change releases the waiter with the new hash.
    let port = agent.http_port;
    let writer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        http()
            .put(format!("http://127.0.0.1:{port}/v1/agent/service/register"))
            .json(&json!({"Name": "blk", "Port": 2}))
            .send()
            .unwrap();
    });
    let changed: Value = http()
        .get(agent.url(&format!("/v1/agent/service/blk?hash={hash}&wait=20s")))
        .send()
        .unwrap()
        .json()
        .unwrap();
    writer.join().unwrap();
    assert_eq!(changed["Port"], 2);
    assert_ne!(changed["ContentHash"], hash.as_str());
    let missing = http()
        .get(agent.url("/v1/agent/service/nope"))
        .send()
        .unwrap();
    assert_eq!(missing.status().as_u16(), 404);
    assert_eq!(missing.text().unwrap(), "unknown service ID: nope");
}

#[test]
fn bad_registrations_get_consuls_answers() {
    let agent = Agent::server(&[]);
    let cases = [
        (
            "/v1/agent/service/register",
            json!({"Port": 1}),
            400,
            "Missing service name",
        ),
        (
            "/v1/agent/service/register",
            json!({"Name": "x", "Check": {"HTTP": "http://127.0.0.1/"}}),
            400,
            "Invalid check: Interval must be > 0 for Script, HTTP, H2PING, TCP or UDP checks",
        ),
        (
            "/v1/agent/check/register",
            json!({"TTL": "1s"}),
            400,
            "Missing check name",
        ),
        (
            "/v1/agent/check/register",
            json!({"Name": "c", "TTL": "1s", "ServiceID": "ghost"}),
            404,
            "ServiceID \"ghost\" does not exist",
        ),
        (
            "/v1/agent/check/update/x",
            json!({"Status": "fine"}),
            400,
            "Invalid check status: 'fine'",
        ),
    ];
    for (path, body, status, text) in cases {
        assert_eq!(put(&agent, path, body), (status, text.to_owned()), "{path}");
    }
    let malformed = http()
        .put(agent.url("/v1/agent/service/register"))
        .body("{not json")
        .send()
        .unwrap();
    assert_eq!(malformed.status().as_u16(), 400);
    assert_eq!(get(&agent, "/v1/agent/services"), json!({}));
}

#[test]
fn services_from_config_files() {
    let (agent, _config) = agent_with(
        json!({"services": [{"name": "cfg", "port": 7000, "tags": ["from-file"],
                             "check": {"ttl": "10m", "status": "passing"}}]}),
        &[],
    );
    assert_eq!(get(&agent, "/v1/agent/services")["cfg"]["Port"], 7000);
    eventually(
        Duration::from_secs(20),
        "the config service is in the catalog",
        || healthy_ids(&agent, "cfg", true) == ["cfg"],
    );
}

#[test]
fn filters_on_agent_services_and_checks() {
    let agent = Agent::server(&[]);
    for (id, env) in [("f-1", "prod"), ("f-2", "dev")] {
        put(
            &agent,
            "/v1/agent/service/register",
            json!({"Name": "f", "ID": id, "Meta": {"env": env}, "Tags": [env],
                   "Check": {"TTL": "10m"}}),
        );
    }
    put(&agent, "/v1/agent/check/pass/service:f-1", json!(null));
    let prod = get(
        &agent,
        "/v1/agent/services?filter=Meta.env%20%3D%3D%20%22prod%22",
    );
    assert_eq!(
        prod.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["f-1"]
    );
    let tagged = get(&agent, "/v1/agent/services?filter=%22dev%22%20in%20Tags");
    assert_eq!(
        tagged.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["f-2"]
    );
    let critical = get(&agent, "/v1/agent/checks?filter=Status%20%3D%3D%20critical");
    assert_eq!(
        critical.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["service:f-2"]
    );
    let bad = http()
        .get(agent.url("/v1/agent/services?filter=Meta.env%20%3D%3D"))
        .send()
        .unwrap();
    assert_eq!(bad.status().as_u16(), 500);
    assert!(bad
        .text()
        .unwrap()
        .starts_with("Failed to create boolean expression evaluator: "));
}
