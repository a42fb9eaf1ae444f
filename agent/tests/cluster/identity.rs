//! A server whose data belongs to another cluster refuses to run when it meets the servers of
//! this one, with a message that says what to change, instead of forming a second leader.

use crate::harness::{Cluster, DEADLINE};
use std::time::Instant;

#[test]
fn a_server_from_another_cluster_refuses_to_join_this_one() {
    let this = Cluster::start(1, 0, &[]);
    let mut other = Cluster::start(1, 0, &[]);
    other.kill9(0);
    // Node names are unique in a gossip pool; the foreign server has its own.
    other.nodes[0].name = "foreign".to_owned();
    other.nodes[0]
        .extra
        .push(format!("-retry-join={}:8301", this.nodes[0].ip));
    other.start_node(0);
    let deadline = Instant::now() + DEADLINE;
    let status = loop {
        let child = other.nodes[0].child.as_mut().expect("started");
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the foreign server kept running\n{}",
            other.logs()
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    other.nodes[0].child = None;
    assert!(!status.success(), "it must exit non-zero");
    let log = std::fs::read_to_string(&other.nodes[0].log).unwrap();
    assert!(log.contains("belongs to another cluster"), "{log}");
    // This cluster's own server is unharmed and still leads.
    assert!(this.leader().is_some());
}
