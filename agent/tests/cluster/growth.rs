//! A fourth server joins a running group: autopilot adds it as a non-voter, it catches up by
//! snapshot (the leader's log has been purged past its start), and it becomes a voter once
//! stable.

use crate::harness::Cluster;

#[test]
fn a_fourth_server_catches_up_by_snapshot_and_becomes_a_voter() {
    let mut cluster = Cluster::start(3, 0, &[]);
    // Past the test config's snapshot threshold (64) several times, so the log the new
    // server would need has been purged (16 trailing entries kept).
    for n in 0..300 {
        let (status, body) = cluster
            .put(n % 3, &format!("/v1/kv/seed/{n}"), &n.to_string())
            .unwrap();
        assert_eq!((status, body.trim()), (200, "true"), "write {n}");
    }
    let fourth = cluster.add(true, Vec::new());
    cluster.wait_members_alive(&[fourth]);
    cluster.wait_until("the fourth server to become a voter", || {
        cluster
            .get_json(0, "/v1/status/peers")
            .and_then(|peers| peers.as_array().map(|peers| peers.len()))
            == Some(4)
    });
    cluster.wait_until("the fourth server to hold every key", || {
        cluster
            .get_json(fourth, "/v1/kv/seed/?keys&stale")
            .and_then(|keys| keys.as_array().map(|keys| keys.len()))
            == Some(300)
    });
    let log = std::fs::read_to_string(&cluster.nodes[fourth].log).unwrap();
    let snapshots = std::fs::read_dir(cluster.nodes[fourth].data_dir.join("raft/snapshots"))
        .unwrap()
        .count();
    assert!(
        snapshots > 0,
        "the fourth server holds no snapshot; log:\n{log}"
    );
}
