//! `/v1/operator/autopilot/*` against `FakeCluster`.

use crate::harness::Harness;
use axum::body::Body;
use legate_api::backend::{DiskHealth, RaftServer};
use legate_api::testing::SELF_ID;
use serde_json::json;
use std::time::Duration;

#[tokio::test]
async fn configuration_defaults_have_consuls_shape() {
    let api = Harness::new();
    let reply = api.get("/v1/operator/autopilot/configuration").await;
    assert_eq!(reply.status, 200);
    reply.assert_no_read_headers();
    assert_eq!(
        reply.json(),
        json!({"CleanupDeadServers": true, "LastContactThreshold": "200ms",
               "MaxTrailingLogs": 250, "MinQuorum": 0, "ServerStabilizationTime": "10s",
               "RedundancyZoneTag": "", "DisableUpgradeMigration": false,
               "UpgradeVersionTag": "", "CreateIndex": 0, "ModifyIndex": 0})
    );
}

#[tokio::test]
async fn set_configuration_with_and_without_cas() {
    let api = Harness::new();
    // Field names fold as Go's decoder does; absent fields take Consul's defaults.
    let body = json!({"cleanupdeadservers": false, "LastContactThreshold": "1s",
                      "MaxTrailingLogs": 100, "ServerStabilizationTime": 30_000_000_000_i64});
    let set = api
        .put("/v1/operator/autopilot/configuration", body.to_string())
        .await;
    assert_eq!((set.status, set.text()), (200, "true".to_owned()));
    let config = api.get("/v1/operator/autopilot/configuration").await.json();
    assert_eq!(config["CleanupDeadServers"], false);
    assert_eq!(config["LastContactThreshold"], "1s");
    assert_eq!(config["MaxTrailingLogs"], 100);
    assert_eq!(config["ServerStabilizationTime"], "30s");
    assert_eq!(config["MinQuorum"], 0);
    assert_eq!(config["CreateIndex"], 0);
    let modify = config["ModifyIndex"].as_u64().unwrap();
    assert_eq!(modify, api.backend.last_index().0);
    assert!(modify > 0);

    // A stale `cas` changes nothing and answers false; the current one applies.
    let stale = api
        .put(
            "/v1/operator/autopilot/configuration?cas=0",
            json!({"MinQuorum": 3}).to_string(),
        )
        .await;
    assert_eq!((stale.status, stale.text()), (200, "false".to_owned()));
    assert_eq!(
        api.get("/v1/operator/autopilot/configuration").await.json()["MinQuorum"],
        0
    );
    let current = api
        .put(
            &format!("/v1/operator/autopilot/configuration?cas={modify}"),
            json!({"MinQuorum": 3}).to_string(),
        )
        .await;
    assert_eq!(current.text(), "true");
    let config = api.get("/v1/operator/autopilot/configuration").await.json();
    assert_eq!(config["MinQuorum"], 3);
    // The body's defaults apply to what it leaves out.
    assert_eq!(config["CleanupDeadServers"], true);
}

#[tokio::test]
async fn set_configuration_bad_input() {
    let api = Harness::new();
    let cas = api
        .put("/v1/operator/autopilot/configuration?cas=x", "{}")
        .await;
    api.expect_text(
        cas,
        400,
        "Error parsing cas value: strconv.ParseUint: parsing \"x\": invalid syntax",
    )
    .await;
    let body = api
        .put(
            "/v1/operator/autopilot/configuration",
            r#"{"LastContactThreshold": "soon"}"#,
        )
        .await;
    assert_eq!(body.status, 400);
    assert!(
        body.text().starts_with("Error parsing autopilot config: "),
        "{}",
        body.text()
    );
    let delete = api.delete("/v1/operator/autopilot/configuration").await;
    assert_eq!(
        (delete.status, delete.header("allow")),
        (405, Some("OPTIONS,GET,PUT"))
    );
    let large = api
        .put(
            "/v1/operator/autopilot/configuration",
            vec![b' '; 5 * 1024 * 1024],
        )
        .await;
    assert_eq!(large.status, 413);
}

#[tokio::test]
async fn health_is_200_when_healthy_and_429_when_not() {
    let api = Harness::new();
    let healthy = api.get("/v1/operator/autopilot/health").await;
    assert_eq!(healthy.status, 200);
    assert_eq!(
        healthy.json(),
        json!({"Healthy": true, "FailureTolerance": 0, "Servers": [
            {"ID": SELF_ID, "Name": "node1", "Address": "127.0.0.1:8300",
             "SerfStatus": "alive", "Version": "0.1.0", "Leader": true, "LastContact": "0s",
             "LastTerm": 2, "LastIndex": 1, "Healthy": true, "Voter": true,
             "StableSince": "2017-03-06T22:07:51Z"}]})
    );

    let index = api.backend.next_index();
    for (id, healthy) in [("s2", true), ("s3", false)] {
        api.backend.cluster.add_server(
            RaftServer {
                id: id.into(),
                node: id.into(),
                address: format!("10.0.0.{}:8300", id.len()),
                voter: true,
                protocol_version: "3".into(),
                ..RaftServer::default()
            },
            healthy,
            index,
        );
    }
    let unhealthy = api.get("/v1/operator/autopilot/health").await;
    assert_eq!(unhealthy.status, 429);
    let body = unhealthy.json();
    assert_eq!(body["Healthy"], false);
    // Three voters, two healthy: quorum is two, so nothing more may fail.
    assert_eq!(body["FailureTolerance"], 0);
    assert_eq!(body["Servers"][2]["Healthy"], false);
    assert_eq!(body["Servers"][1]["LastContact"], "2ms");
    // Servers the pool does not know report Serf's "none".
    assert_eq!(body["Servers"][1]["SerfStatus"], "none");

    // Legate's addition: each server's own verdict on its Raft log disk, when it gave one.
    api.backend.cluster.set_server_disk(
        "s2",
        DiskHealth {
            slow: true,
            fsync_p99: Some(Duration::from_micros(104_250)),
        },
    );
    let body = api.get("/v1/operator/autopilot/health").await.json();
    assert_eq!(body["Servers"][1]["DiskSlow"], true);
    assert_eq!(body["Servers"][1]["FsyncP99"], "104.25ms");
    assert!(body["Servers"][0].get("DiskSlow").is_none(), "{body}");

    api.backend.cluster.set_server_healthy("s3", true);
    let recovered = api.get("/v1/operator/autopilot/health").await;
    assert_eq!(recovered.status, 200);
    assert_eq!(recovered.json()["FailureTolerance"], 1);

    api.backend.set_leader(None);
    let leaderless = api.get("/v1/operator/autopilot/health").await;
    api.expect_text(leaderless, 500, "No cluster leader").await;
}

#[tokio::test]
async fn state_has_consuls_shape() {
    let api = Harness::new();
    let reply = api.get("/v1/operator/autopilot/state").await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.json(),
        json!({"Healthy": true, "FailureTolerance": 0, "OptimisticFailureTolerance": 0,
               "Servers": {SELF_ID: {
                   "ID": SELF_ID, "Name": "node1", "Address": "127.0.0.1:8300",
                   "NodeStatus": "alive", "Version": "0.1.0", "LastContact": "0s",
                   "LastTerm": 2, "LastIndex": 1, "Healthy": true,
                   "StableSince": "2017-03-06T22:07:51Z", "ReadReplica": false,
                   "Status": "leader", "Meta": {"consul-network-segment": ""},
                   "NodeType": "voter"}},
               "Leader": SELF_ID, "Voters": [SELF_ID]})
    );
    let other_dc = api.get("/v1/operator/autopilot/state?dc=dc2").await;
    api.expect_text(other_dc, 500, "No path to datacenter")
        .await;
    let post = api
        .post("/v1/operator/autopilot/state", Body::empty())
        .await;
    assert_eq!(post.status, 405);
}
