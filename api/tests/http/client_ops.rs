//! The typed client's membership and operator calls against `serve` on a loopback socket:
//! what they send is what the router takes, and what it answers decodes.

use legate_api::backend::{Member, MemberStatus, RaftServer};
use legate_api::client::{KeyringOptions, PeerBy};
use legate_api::testing::{FakeBackend, FIRST_KEY, SELF_ID};
use legate_api::{router, serve, ApiConfig, Client, ClientError, ServeLimits};
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::net::TcpListener;

const SECOND_KEY: &str = "ZWTL+bgjHyQPhJRKcFe3ccirc2SFHmc/Nw67l8NQfdk=";

async fn serve_fake() -> (Arc<FakeBackend>, Client) {
    let backend = Arc::new(FakeBackend::new());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = router(backend.clone(), ApiConfig::default());
    tokio::spawn(serve(
        listener,
        app,
        ServeLimits::default(),
        std::future::pending::<()>(),
    ));
    (backend, Client::new(format!("http://{addr}")))
}

fn status_of(error: ClientError) -> (u16, String) {
    match error {
        ClientError::Status { status, body } => (status, body),
        other => panic!("not a status: {other}"),
    }
}

#[tokio::test]
async fn membership_calls() {
    let (backend, client) = serve_fake().await;
    let node2 = Member {
        name: "node2".into(),
        addr: "10.0.0.2".into(),
        port: 8301,
        tags: BTreeMap::new(),
        status: MemberStatus::Alive.code(),
    };
    backend.cluster.add_reachable("10.0.0.2", node2.clone());
    client.join("10.0.0.2", false).await.unwrap();
    client.join("10.0.0.2", true).await.unwrap();
    assert_eq!(client.members(false).await.unwrap().len(), 2);
    let wan = client.members(true).await.unwrap();
    assert_eq!(wan[1].name, "node2.dc1");
    assert_eq!(wan[1].protocol_cur, 2);

    let (status, body) = status_of(client.join("10.9.9.9", false).await.unwrap_err());
    assert_eq!(status, 500);
    assert!(body.contains("Failed to join 10.9.9.9"), "{body}");

    backend.cluster.put_member(Member {
        status: MemberStatus::Failed.code(),
        ..node2
    });
    client.force_leave("node2", false, false).await.unwrap();
    assert_eq!(client.members(false).await.unwrap()[1].status, 3);
    client.force_leave("node2", true, false).await.unwrap();
    assert_eq!(client.members(false).await.unwrap().len(), 1);
    client.leave().await.unwrap();
    assert!(backend.cluster.has_left());
}

#[tokio::test]
async fn raft_calls() {
    let (backend, client) = serve_fake().await;
    let index = backend.next_index();
    backend.cluster.add_server(
        RaftServer {
            id: "s2".into(),
            node: "node2".into(),
            address: "10.0.0.2:8300".into(),
            voter: true,
            protocol_version: "3".into(),
            ..RaftServer::default()
        },
        true,
        index,
    );
    let configuration = client.raft_configuration(true).await.unwrap();
    assert_eq!(configuration.servers.len(), 2);
    assert_eq!(configuration.servers[0].id, SELF_ID);
    assert!(configuration.servers[0].leader);

    assert!(client.raft_transfer_leader(Some("s2")).await.unwrap());
    assert!(client.raft_configuration(false).await.unwrap().servers[1].leader);
    client.raft_remove_peer(PeerBy::Id(SELF_ID)).await.unwrap();
    let (status, body) = status_of(
        client
            .raft_remove_peer(PeerBy::Address("10.0.0.2:8301"))
            .await
            .unwrap_err(),
    );
    assert_eq!(status, 500);
    assert!(body.contains("was not found"), "{body}");
}

#[tokio::test]
async fn autopilot_calls() {
    let (backend, client) = serve_fake().await;
    let mut config = client.autopilot_configuration(false).await.unwrap();
    assert_eq!(config.last_contact_threshold.0, 200_000_000);
    config.min_quorum = 3;
    let cas = Some(config.modify_index);
    assert!(client
        .autopilot_set_configuration(&config, cas)
        .await
        .unwrap());
    // The same `cas` again is stale now.
    assert!(!client
        .autopilot_set_configuration(&config, cas)
        .await
        .unwrap());
    assert_eq!(
        client
            .autopilot_configuration(true)
            .await
            .unwrap()
            .min_quorum,
        3
    );

    assert!(client.autopilot_health().await.unwrap().healthy);
    // An unhealthy cluster answers 429, which the call still decodes.
    backend.cluster.set_server_healthy(SELF_ID, false);
    let health = client.autopilot_health().await.unwrap();
    assert!(!health.healthy);
    assert_eq!(health.servers[0].stable_since, "2017-03-06T22:07:51Z");

    let state = client.autopilot_state(false).await.unwrap();
    assert_eq!(state.leader, SELF_ID);
    assert_eq!(state.servers[SELF_ID].status, "leader");
}

#[tokio::test]
async fn keyring_calls() {
    let (backend, client) = serve_fake().await;
    let options = KeyringOptions::default();
    client.keyring_install(SECOND_KEY, options).await.unwrap();
    client.keyring_use(SECOND_KEY, options).await.unwrap();
    client.keyring_remove(FIRST_KEY, options).await.unwrap();
    assert_eq!(backend.cluster.keys(), [SECOND_KEY]);
    let local = KeyringOptions {
        relay_factor: 2,
        local_only: true,
    };
    let rings = client.keyring_list(local).await.unwrap();
    assert_eq!(rings.len(), 1);
    assert!(!rings[0].wan);
    assert_eq!(rings[0].primary_keys[SECOND_KEY], 1);
    let (status, body) = status_of(
        client
            .keyring_remove(SECOND_KEY, options)
            .await
            .unwrap_err(),
    );
    assert_eq!(status, 500);
    assert!(body.contains("Removing the primary key is not allowed"));
}
