//! Cluster end-to-end tests: several real `legate` processes on loopback addresses, real
//! gossip, real Raft over server RPC, real sled files.
mod coordinates;
mod disk;
mod events;
mod failover;
mod federation;
mod growth;
mod harness;
mod identity;
mod lock_workload;
mod locks;
mod membership;
// Shared with the fault harness, which cuts groups apart (`cut`, `heal_all`).
#[allow(dead_code)]
mod netns;
mod operator;
mod partition;
mod session;

/// The harness itself: dropping a cluster ends its processes (a lost `Drop` once left every
/// cluster test's agents running after the suite).
#[test]
fn a_dropped_cluster_leaves_no_process_behind() {
    let cluster = harness::Cluster::start(1, 1, &[]);
    let pids: Vec<u32> = cluster
        .nodes
        .iter()
        .filter_map(|node| node.child.as_ref().map(|child| child.id()))
        .collect();
    assert_eq!(pids.len(), 2);
    drop(cluster);
    for pid in pids {
        // Reaped by the drop: no /proc entry, not even a zombie.
        assert!(
            !std::path::Path::new(&format!("/proc/{pid}")).exists(),
            "agent {pid} outlived its cluster"
        );
    }
}
