//! Lock safety under faults. Contenders run `legate lock` in a loop against a 3-server
//! cluster (`lock_workload`). Meanwhile the test kills the leader, pauses a holder with
//! SIGSTOP past its session TTL, and restarts servers. With fencing the resource never sees
//! two holders at once nor one token used by two sessions; without fencing, the same
//! workload must show the overlap that a paused holder causes, so the test is known to be
//! able to catch one. The fault harness (`tests/chaos`) runs the fenced workload through its
//! whole fault schedule as well.

use crate::harness::Cluster;
use crate::lock_workload::Workload;

#[test]
fn fenced_lock_holders_never_overlap_through_leader_kills_pauses_and_restarts() {
    let mut cluster = Cluster::start(3, 0, &[]);
    let workload = Workload::start(&cluster, true, 3);
    workload.wait_for_tokens(&cluster, 3);

    let leader = cluster.wait_for_leader();
    cluster.kill9(leader);
    cluster.wait_for_leader();
    cluster.start_node(leader);
    workload.wait_for_tokens(&cluster, 2);

    workload.pause_a_holder(&cluster);
    workload.wait_for_tokens(&cluster, 1);

    let follower = (0..3)
        .find(|index| Some(*index) != cluster.leader())
        .unwrap();
    cluster.kill9(follower);
    cluster.start_node(follower);
    workload.wait_for_tokens(&cluster, 2);

    let ledger = workload.finish();
    eprintln!("fenced run: {ledger:?}");
    assert_eq!(ledger.collisions, 0, "one token, two sessions: {ledger:?}");
    assert_eq!(ledger.overlaps, 0, "two holders at once: {ledger:?}");
    assert!(ledger.entries >= 8, "{ledger:?}");
}

#[test]
fn without_fencing_a_paused_holder_overlaps_the_next() {
    let cluster = Cluster::start(3, 0, &[]);
    let workload = Workload::start(&cluster, false, 2);
    workload.wait_for_tokens(&cluster, 1);
    workload.pause_a_holder(&cluster);
    let ledger = workload.finish();
    eprintln!("unfenced run: {ledger:?}");
    assert!(
        ledger.overlaps >= 1,
        "the control run should show two holders at once: {ledger:?}"
    );
    assert_eq!(ledger.collisions, 0, "{ledger:?}");
}
