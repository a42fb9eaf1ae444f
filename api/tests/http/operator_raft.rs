//! `/v1/operator/raft/*` against `FakeCluster`.

use crate::harness::Harness;
use axum::body::Body;
use legate_api::backend::RaftServer;
use legate_api::testing::SELF_ID;
use serde_json::json;

const NODE2: &str = "5e26a3af-f4fc-4104-a8bb-4da9f19cb278";

fn with_second_server() -> Harness {
    let api = Harness::new();
    let index = api.backend.next_index();
    api.backend.cluster.add_server(
        RaftServer {
            id: NODE2.into(),
            node: "node2".into(),
            address: "127.0.0.2:8300".into(),
            leader: false,
            voter: true,
            protocol_version: "3".into(),
            last_index: 1,
        },
        true,
        index,
    );
    api
}

#[tokio::test]
async fn configuration_has_consuls_shape() {
    let api = Harness::new();
    let reply = api.get("/v1/operator/raft/configuration").await;
    assert_eq!(reply.status, 200);
    reply.assert_no_read_headers();
    assert_eq!(
        reply.json(),
        json!({"Servers": [{"ID": SELF_ID, "Node": "node1", "Address": "127.0.0.1:8300",
                            "Leader": true, "ProtocolVersion": "3", "Voter": true,
                            "LastIndex": 1}],
               "Index": 1})
    );
}

#[tokio::test]
async fn configuration_without_a_leader_needs_stale() {
    let api = Harness::new();
    api.backend.set_leader(None);
    let refused = api.get("/v1/operator/raft/configuration").await;
    api.expect_text(refused, 500, "No cluster leader").await;
    let stale = api.get("/v1/operator/raft/configuration?stale").await;
    assert_eq!(stale.status, 200);
    let other_dc = api.get("/v1/operator/raft/configuration?dc=dc9").await;
    api.expect_text(other_dc, 500, "No path to datacenter")
        .await;
    let conflicting = api
        .get("/v1/operator/raft/configuration?stale&consistent")
        .await;
    assert_eq!(conflicting.status, 400);
}

#[tokio::test]
async fn remove_peer_by_id_or_address() {
    let api = with_second_server();
    assert_eq!(
        api.get("/v1/status/peers").await.json(),
        json!(["127.0.0.1:8300"])
    );
    let reply = api
        .delete("/v1/operator/raft/peer?address=127.0.0.2:8300")
        .await;
    assert_eq!((reply.status, reply.text()), (200, String::new()));
    let servers = api.get("/v1/operator/raft/configuration").await.json();
    assert_eq!(servers["Servers"].as_array().unwrap().len(), 1);
    assert_eq!(servers["Index"], api.backend.last_index().0);

    let api = with_second_server();
    let by_id = api
        .delete(&format!("/v1/operator/raft/peer?id={NODE2}"))
        .await;
    assert_eq!(by_id.status, 200);
    let gone = api
        .delete(&format!("/v1/operator/raft/peer?id={NODE2}"))
        .await;
    api.expect_text(
        gone,
        500,
        &format!("id \"{NODE2}\" was not found in the Raft configuration"),
    )
    .await;
    let unknown = api
        .delete("/v1/operator/raft/peer?address=10.9.9.9:8300")
        .await;
    api.expect_text(
        unknown,
        500,
        "address \"10.9.9.9:8300\" was not found in the Raft configuration",
    )
    .await;
}

#[tokio::test]
async fn remove_peer_bad_input() {
    let api = Harness::new();
    let neither = api.delete("/v1/operator/raft/peer").await;
    api.expect_text(
        neither,
        400,
        "Must specify either ?id with the server's ID or ?address with IP:port of peer to remove",
    )
    .await;
    let both = api.delete("/v1/operator/raft/peer?id=a&address=b").await;
    api.expect_text(both, 400, "Must specify only one of ?id or ?address")
        .await;
    let get = api.get("/v1/operator/raft/peer?id=a").await;
    assert_eq!(
        (get.status, get.header("allow")),
        (405, Some("OPTIONS,DELETE"))
    );
    api.backend.set_leader(None);
    let leaderless = api.delete("/v1/operator/raft/peer?id=a").await;
    api.expect_text(leaderless, 500, "No cluster leader").await;
}

#[tokio::test]
async fn transfer_leader_moves_leadership() {
    let api = with_second_server();
    let reply = api
        .post("/v1/operator/raft/transfer-leader", Body::empty())
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json(), json!({"Success": true}));
    assert_eq!(
        api.get("/v1/status/leader").await.json(),
        json!("127.0.0.2:8300")
    );
    let config = api.get("/v1/operator/raft/configuration").await.json();
    assert_eq!(config["Servers"][1]["Leader"], true);
    assert_eq!(config["Servers"][0]["Leader"], false);

    // Back to node1 by ID; an unknown ID is refused.
    let back = api
        .post(
            &format!("/v1/operator/raft/transfer-leader?id={SELF_ID}"),
            Body::empty(),
        )
        .await;
    assert_eq!(back.status, 200);
    let unknown = api
        .post("/v1/operator/raft/transfer-leader?id=nope", Body::empty())
        .await;
    api.expect_text(unknown, 500, "cannot find peer").await;
    let put = api
        .put("/v1/operator/raft/transfer-leader", Body::empty())
        .await;
    assert_eq!(
        (put.status, put.header("allow")),
        (405, Some("OPTIONS,POST"))
    );
}
