//! `/v1/status/*` and `/v1/agent/*`.

use crate::harness::Harness;
use serde_json::json;

#[tokio::test]
async fn status_leader_and_peers() {
    let api = Harness::new();
    let leader = api.get("/v1/status/leader").await;
    assert_eq!(
        (leader.status, leader.text()),
        (200, "\"127.0.0.1:8300\"".to_owned())
    );
    assert_eq!(leader.header("content-type"), Some("application/json"));
    leader.assert_no_read_headers();
    assert_eq!(
        api.get("/v1/status/peers").await.json(),
        json!(["127.0.0.1:8300"])
    );
    assert_eq!(api.get("/v1/status/leader?dc=dc7").await.status, 500);
}

#[tokio::test]
async fn agent_self_has_what_clients_read() {
    let api = Harness::new();
    let reply = api.get("/v1/agent/self").await;
    assert_eq!(reply.status, 200);
    reply.assert_no_read_headers();
    let me = reply.json();
    let config = &me["Config"];
    assert_eq!(config["Datacenter"], "dc1");
    assert_eq!(config["PrimaryDatacenter"], "dc1");
    assert_eq!(config["NodeName"], "node1");
    assert_eq!(config["NodeID"], "0b9d7b4e-2c3d-4d6e-9f00-1a2b3c4d5e6f");
    assert_eq!(config["Server"], true);
    for key in ["Revision", "Version", "BuildDate"] {
        assert!(config[key].is_string(), "{key}");
    }
    assert!(me["DebugConfig"].is_object());
    assert!(me["Coord"].is_null());
    assert_eq!(me["Member"]["Name"], "node1");
    assert_eq!(me["Member"]["Addr"], "127.0.0.1");
    assert_eq!(me["Member"]["Tags"]["role"], "consul");
    assert_eq!(me["Stats"]["agent"]["checks"], "0");
    assert!(me["Meta"].is_object());
}

#[tokio::test]
async fn members_lan_and_wan() {
    let api = Harness::new();
    let members = api.get("/v1/agent/members").await;
    members.assert_no_read_headers();
    assert_eq!(
        members.json(),
        json!([{"Name":"node1","Addr":"127.0.0.1","Port":8301,"Tags":{"role":"consul"},
                "Status":1,"ProtocolMin":1,"ProtocolMax":5,"ProtocolCur":2,
                "DelegateMin":2,"DelegateMax":5,"DelegateCur":4}])
    );
    let wan = api.get("/v1/agent/members?wan=1").await.json();
    assert_eq!(wan[0]["Name"], "node1.dc1");
    assert_eq!(wan[0]["Port"], 8302);
    // Consul reads `wan` only with a value: a bare `?wan` lists the LAN pool.
    let bare = api.get("/v1/agent/members?wan").await.json();
    assert_eq!(bare[0]["Name"], "node1");
    // `segment` is accepted and ignored, but not a named segment with the WAN pool.
    let segment = api.get("/v1/agent/members?segment=_all").await;
    assert_eq!(segment.json()[0]["Name"], "node1");
    let refused = api.get("/v1/agent/members?wan=1&segment=alpha").await;
    assert_eq!(
        (refused.status, refused.text()),
        (400, "Cannot provide a segment with wan=true".to_owned())
    );
    assert_eq!(
        api.get("/v1/agent/members?wan=1&segment=_all").await.status,
        200
    );
}

#[tokio::test]
async fn a_check_for_an_unknown_service_is_refused_as_consul_does() {
    let api = Harness::new();
    // Consul ≥ 1.11 (`AgentRegisterCheck`): 404, `ServiceID %q does not exist`.
    let reply = api
        .put(
            "/v1/agent/check/register",
            json!({"Name": "mem", "TTL": "30s", "ServiceID": "ghost"}).to_string(),
        )
        .await;
    api.expect_text(reply, 404, "ServiceID \"ghost\" does not exist")
        .await;
    // py-consul's lower-case body; Go's `%q` escapes what it quotes.
    let reply = api
        .put(
            "/v1/agent/check/register",
            json!({"name": "mem", "ttl": "30s", "serviceid": "a\"b"}).to_string(),
        )
        .await;
    api.expect_text(reply, 404, r#"ServiceID "a\"b" does not exist"#)
        .await;
    assert_eq!(api.get("/v1/agent/checks").await.json(), json!({}));

    // The definition is validated first, as in Consul.
    let invalid = api
        .put(
            "/v1/agent/check/register",
            json!({"Name": "mem", "ServiceID": "ghost"}).to_string(),
        )
        .await;
    assert_eq!(invalid.status, 400, "{}", invalid.text());

    // Once the service exists the same check registers, and checks inside a service
    // registration always belong to that service.
    let web = json!({"Name": "web", "Check": {"TTL": "30s"}});
    assert_eq!(
        api.put("/v1/agent/service/register", web.to_string())
            .await
            .status,
        200
    );
    let reply = api
        .put(
            "/v1/agent/check/register",
            json!({"Name": "mem", "TTL": "30s", "ServiceID": "web"}).to_string(),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let checks = api.get("/v1/agent/checks").await.json();
    assert_eq!(checks["mem"]["ServiceName"], "web");
    assert_eq!(checks["service:web"]["ServiceID"], "web");
}
