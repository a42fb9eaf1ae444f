//! `/v1/agent/join`, `/v1/agent/leave` and `/v1/agent/force-leave` against `FakeCluster`.

use crate::harness::Harness;
use axum::body::Body;
use legate_api::backend::{Member, MemberStatus};
use std::collections::BTreeMap;

fn member(name: &str, addr: &str, status: MemberStatus) -> Member {
    Member {
        name: name.into(),
        addr: addr.into(),
        port: 8301,
        tags: BTreeMap::from([("role".to_owned(), "node".to_owned())]),
        status: status.code(),
    }
}

fn names(api: &Harness, wan: bool) -> Vec<(String, u8)> {
    api.backend
        .cluster
        .members(wan)
        .into_iter()
        .map(|member| (member.name, member.status))
        .collect()
}

#[tokio::test]
async fn join_reaches_known_addresses_and_fails_with_500_otherwise() {
    let api = Harness::new();
    let node2 = member("node2", "10.0.0.2", MemberStatus::Alive);
    api.backend.cluster.add_reachable("10.0.0.2:8301", node2);
    let joined = api.put("/v1/agent/join/10.0.0.2:8301", Body::empty()).await;
    assert_eq!((joined.status, joined.text()), (200, String::new()));
    joined.assert_no_read_headers();
    assert_eq!(
        names(&api, false),
        [("node1".to_owned(), 1), ("node2".to_owned(), 1)]
    );

    let refused = api.put("/v1/agent/join/10.0.0.9:8301", Body::empty()).await;
    api.expect_text(
        refused,
        500,
        "1 error occurred:\n\t* Failed to join 10.0.0.9:8301: dial tcp 10.0.0.9:8301: \
         connect: connection refused\n\n",
    )
    .await;
}

#[tokio::test]
async fn join_wan_needs_a_value_as_in_consul() {
    let api = Harness::new();
    let server2 = member("node2", "10.0.0.2", MemberStatus::Alive);
    api.backend.cluster.add_reachable("10.0.0.2", server2);
    // A bare `?wan` is a LAN join in Consul (`Get("wan") != ""`).
    assert_eq!(
        api.put("/v1/agent/join/10.0.0.2?wan", Body::empty())
            .await
            .status,
        200
    );
    assert_eq!(names(&api, true).len(), 1);
    assert_eq!(
        api.put("/v1/agent/join/10.0.0.2?wan=1", Body::empty())
            .await
            .status,
        200
    );
    assert_eq!(names(&api, true)[1].0, "node2.dc1");
}

#[tokio::test]
async fn membership_routes_take_only_put() {
    let api = Harness::new();
    for path in [
        "/v1/agent/join/10.0.0.2",
        "/v1/agent/leave",
        "/v1/agent/force-leave/node2",
    ] {
        let reply = api.get(path).await;
        assert_eq!(reply.status, 405, "{path}");
        assert_eq!(reply.header("allow"), Some("OPTIONS,PUT"), "{path}");
    }
    let refused = api
        .put("/v1/agent/join/10.0.0.2?partition=p1", Body::empty())
        .await;
    assert_eq!(refused.status, 400);
}

#[tokio::test]
async fn leave_marks_the_agent_left() {
    let api = Harness::new();
    let reply = api.put("/v1/agent/leave", Body::empty()).await;
    assert_eq!((reply.status, reply.text()), (200, String::new()));
    assert!(api.backend.cluster.has_left());
    assert_eq!(names(&api, false), [("node1".to_owned(), 3)]);
}

#[tokio::test]
async fn force_leave_moves_failed_to_left_and_prune_drops() {
    let api = Harness::new();
    let cluster = &api.backend.cluster;
    cluster.put_member(member("failed", "10.0.0.3", MemberStatus::Failed));
    cluster.put_member(member("alive", "10.0.0.4", MemberStatus::Alive));

    let reply = api.put("/v1/agent/force-leave/failed", Body::empty()).await;
    assert_eq!((reply.status, reply.text()), (200, String::new()));
    // An alive member refutes the leave: it stays alive.
    assert_eq!(
        api.put("/v1/agent/force-leave/alive", Body::empty())
            .await
            .status,
        200
    );
    assert_eq!(
        names(&api, false),
        [
            ("node1".to_owned(), 1),
            ("failed".to_owned(), 3),
            ("alive".to_owned(), 1)
        ]
    );
    // `?prune` is presence-based and drops a left (or failed) member at once.
    let pruned = api
        .put("/v1/agent/force-leave/failed?prune", Body::empty())
        .await;
    assert_eq!(pruned.status, 200);
    assert_eq!(names(&api, false).len(), 2);

    let unknown = api.put("/v1/agent/force-leave/ghost", Body::empty()).await;
    api.expect_text(unknown, 500, "agent: No node found with name 'ghost'")
        .await;
    // The WAN pool names servers `node.dc`.
    let wan = api
        .put("/v1/agent/force-leave/node1?wan", Body::empty())
        .await;
    assert_eq!(wan.status, 500);
    assert_eq!(
        api.put("/v1/agent/force-leave/node1.dc1?wan", Body::empty())
            .await
            .status,
        200
    );
}
