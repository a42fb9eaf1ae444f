//! A single-server node that is stopped and started again serves the same catalog: the
//! newest snapshot plus the log tail rebuild it, with the same indexes.

use super::{all_kv, kv_set};
use crate::server::raft::{start, RaftHandle, RaftOptions};
use legate_catalog::{invariants, Outcome, SharedStore};
use std::sync::Arc;
use std::time::Duration;

const WRITES: usize = 200;
const DEADLINE: Duration = Duration::from_secs(20);

async fn start_node(options: &RaftOptions) -> (RaftHandle, Arc<SharedStore>) {
    let shared = Arc::new(SharedStore::default());
    let handle = start(
        options.clone(),
        shared.clone(),
        crate::server::rpc::RpcClient::new(),
    )
    .await
    .expect("start raft");
    handle.wait_for_leader(DEADLINE).await.expect("a leader");
    (handle, shared)
}

/// Polls until `done` holds, for at most `DEADLINE`.
async fn eventually(what: &str, done: impl Fn() -> bool) {
    let give_up = tokio::time::Instant::now() + DEADLINE;
    while !done() {
        assert!(
            tokio::time::Instant::now() < give_up,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_rebuilds_catalog_from_snapshot_and_log_tail() {
    let dir = tempfile::tempdir().expect("temp dir");
    let options = RaftOptions {
        data_dir: dir.path().to_path_buf(),
        bootstrap: true,
        // Small enough for several snapshots and purges within 200 writes.
        snapshot_threshold: 64,
        snapshot_interval: Duration::from_millis(20),
        trailing_logs: 8,
        ..RaftOptions::default()
    };

    let (handle, shared) = start_node(&options).await;
    for n in 0..WRITES {
        let result = handle
            .write(kv_set(&format!("key/{n:03}"), &format!("value {n}")))
            .await
            .expect("write");
        assert_eq!(result, Ok(Outcome::Done));
    }
    eventually("a snapshot", || handle.metrics().snapshot_index > 0).await;
    eventually("a purge", || {
        handle.raft().metrics().borrow().purged.is_some()
    })
    .await;
    let mut leadership = handle.leadership_watch();
    let became_leader = matches!(
        tokio::time::timeout(DEADLINE, leadership.wait_for(|leads| *leads)).await,
        Ok(Ok(_))
    );
    assert!(became_leader, "leadership watch never turned true");
    let metrics = handle.metrics();
    assert!(metrics.is_leader());
    assert_eq!(metrics.voters.len(), 1);
    assert_eq!(
        metrics.leader.as_ref().and_then(|l| l.addr.as_deref()),
        Some("127.0.0.1:8300")
    );
    assert!(metrics.commit_index >= metrics.applied_index && metrics.applied_index > 0);
    let snapshot_index = metrics.snapshot_index;
    // A tail after the snapshot makes the restart replay the log as well.
    assert!(snapshot_index < metrics.last_log_index, "{metrics:?}");
    let snapshot_files = dir.path().join("raft").join("snapshots");
    assert_eq!(
        std::fs::read_dir(&snapshot_files)
            .expect("snapshot dir")
            .count(),
        1
    );

    let before = all_kv(&shared);
    assert_eq!(before.len(), WRITES);
    let last_index_before = shared.read().last_index();
    let term_before = metrics.term;
    handle.shutdown().await;
    // The watch reports the loss of leadership, then closes.
    let closed = tokio::time::timeout(DEADLINE, async {
        while leadership.changed().await.is_ok() {}
    })
    .await;
    assert!(closed.is_ok(), "leadership watch still open after shutdown");
    assert!(!*leadership.borrow(), "still leading after shutdown");
    drop((handle, shared));

    let (handle, shared) = start_node(&options).await;
    assert!(
        shared.read().last_index().0 >= snapshot_index,
        "the snapshot was not loaded at start"
    );
    handle.ensure_linearizable().await.expect("linearizable");
    // Leading again by an election in a new term, never by resuming the old one (rule 5 of
    // the log store).
    assert!(
        handle.metrics().term > term_before,
        "resumed term {term_before} after a restart"
    );
    assert_eq!(
        all_kv(&shared),
        before,
        "the catalog changed across a restart"
    );
    invariants::check(&shared.read()).expect("invariants after restart");

    // The log goes on where it stopped.
    handle
        .write(kv_set("after", "restart"))
        .await
        .expect("write")
        .expect("applied");
    let after = all_kv(&shared);
    let entry = after
        .iter()
        .find(|e| e.key == "after")
        .expect("the new key");
    assert!(entry.indexes.modify_index > last_index_before);
    handle.shutdown().await;
}
