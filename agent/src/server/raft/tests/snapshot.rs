//! Snapshots: a bad one is refused whole, and files on disk are read back exactly.

use super::{all_kv, kv_set, log_id, normal_entry};
use crate::server::raft::snapshot_file::SnapshotDir;
use crate::server::raft::types::{SnapshotMeta, StoredMembership};
use crate::server::raft::StateMachine;
use legate_catalog::{Outcome, SharedStore};
use openraft::storage::RaftStateMachine;
use openraft::RaftSnapshotBuilder;
use std::io::Cursor;
use std::sync::Arc;

fn meta(term: u64, index: u64) -> SnapshotMeta {
    SnapshotMeta {
        last_log_id: Some(log_id(term, index)),
        last_membership: StoredMembership::default(),
        snapshot_id: format!("{term}-{index}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn install_snapshot_refuses_corrupt_data_and_keeps_the_store() {
    let dir = tempfile::tempdir().expect("temp dir");
    let shared = Arc::new(SharedStore::default());
    let mut machine = StateMachine::open(dir.path(), shared.clone())
        .await
        .expect("open state machine");
    let results = machine
        .apply([normal_entry(1, 1, kv_set("a", "1"))])
        .await
        .expect("apply");
    assert_eq!(results, vec![Ok(Outcome::Done)]);

    let garbage = Box::new(Cursor::new(b"not a snapshot".to_vec()));
    let refused = machine.install_snapshot(&meta(2, 10), garbage).await;
    assert!(refused.is_err(), "a corrupt snapshot was installed");

    assert_eq!(all_kv(&shared).len(), 1, "the store was replaced");
    let (applied, _) = machine.applied_state().await.expect("applied state");
    assert_eq!(applied, Some(log_id(1, 1)));
    let current = machine
        .get_current_snapshot()
        .await
        .expect("current snapshot");
    assert!(current.is_none(), "the corrupt snapshot was kept");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reopened_state_machine_loads_the_newest_snapshot() {
    let dir = tempfile::tempdir().expect("temp dir");
    let shared = Arc::new(SharedStore::default());
    let mut machine = StateMachine::open(dir.path(), shared.clone())
        .await
        .expect("open state machine");
    machine
        .apply([normal_entry(1, 1, kv_set("a", "1"))])
        .await
        .expect("apply");
    machine
        .get_snapshot_builder()
        .await
        .build_snapshot()
        .await
        .expect("first snapshot");
    machine
        .apply([normal_entry(1, 2, kv_set("b", "2"))])
        .await
        .expect("apply");
    let second = machine
        .get_snapshot_builder()
        .await
        .build_snapshot()
        .await
        .expect("second snapshot");
    let files = std::fs::read_dir(dir.path()).expect("read dir").count();
    assert_eq!(files, 1, "the older snapshot file was not deleted");

    let reloaded = Arc::new(SharedStore::default());
    let mut machine = StateMachine::open(dir.path(), reloaded.clone())
        .await
        .expect("reopen state machine");
    assert_eq!(all_kv(&reloaded), all_kv(&shared));
    let (applied, _) = machine.applied_state().await.expect("applied state");
    assert_eq!(applied, second.meta.last_log_id);
}

#[test]
fn truncated_snapshot_file_is_an_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let snapshots = SnapshotDir::open(dir.path()).expect("open dir");
    snapshots.write(&meta(1, 5), &[7; 100]).expect("write");
    let (read_meta, data) = snapshots.latest().expect("read").expect("a snapshot");
    assert_eq!((read_meta, data), (meta(1, 5), vec![7; 100]));

    let path = dir.path().join("snapshot-1-5.bin");
    let length = std::fs::metadata(&path).expect("metadata").len();
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .expect("open");
    file.set_len(length - 1).expect("truncate");
    assert!(snapshots.latest().is_err(), "a truncated snapshot was read");
}

#[test]
fn leftover_temp_files_are_removed_on_open() {
    let dir = tempfile::tempdir().expect("temp dir");
    let leftover = dir.path().join("snapshot-3-9.bin.tmp");
    std::fs::write(&leftover, b"half a snapshot").expect("write leftover");
    let snapshots = SnapshotDir::open(dir.path()).expect("open dir");
    assert!(!leftover.exists());
    assert!(snapshots.latest().expect("read").is_none());
}
