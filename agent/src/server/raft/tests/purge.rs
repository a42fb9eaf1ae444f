//! Purging: the purge point hides entries at once, and the purger removes them from sled in
//! the background, also when a crash left some behind.

use super::{kv_set, log_id, normal_entry, open_db, reopen_db};
use crate::durable_db::DurableDb;
use crate::server::raft::types::Entry;
use crate::server::raft::LogStore;
use openraft::storage::{RaftLogStorage, RaftLogStorageExt};
use openraft::RaftLogReader;
use std::time::Duration;

fn entries(indexes: std::ops::RangeInclusive<u64>) -> Vec<Entry> {
    indexes
        .map(|index| normal_entry(1, index, kv_set(&format!("k{index}"), "v")))
        .collect()
}

/// The lowest index still stored in sled's `logs` tree, whatever readers are shown.
fn first_stored(db: &DurableDb) -> Option<u64> {
    let logs = db.db().open_tree("logs").expect("logs tree");
    let (key, _) = logs.first().expect("read first")?;
    Some(u64::from_be_bytes(
        key.as_ref().try_into().expect("8-byte key"),
    ))
}

async fn eventually_first_stored(db: &DurableDb, expected: u64) {
    for _ in 0..1000 {
        if first_stored(db) == Some(expected) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!(
        "the purger never got down to {expected}: {:?}",
        first_stored(db)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purge_hides_entries_at_once_and_the_purger_removes_them() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = open_db(dir.path());
    let mut store = LogStore::open(&db).expect("open log store");
    store
        .blocking_append(entries(1..=200))
        .await
        .expect("append");

    store.purge(log_id(1, 150)).await.expect("purge");
    // Readers see the purge at once, whatever is still stored.
    assert_eq!(
        store.try_get_log_entries(..).await.expect("read all"),
        entries(151..=200)
    );
    assert_eq!(
        store
            .try_get_log_entries(100..=160)
            .await
            .expect("read across"),
        entries(151..=160)
    );
    assert!(store
        .try_get_log_entries(10..=150)
        .await
        .expect("read purged")
        .is_empty());
    // What replication reads from a purged start is nothing, not the tail: it would send the
    // tail as the entries after an index they do not follow.
    assert!(store
        .limited_get_log_entries(100, 161)
        .await
        .expect("replication read across")
        .is_empty());
    assert_eq!(
        store
            .limited_get_log_entries(151, 161)
            .await
            .expect("replication read from the purge point"),
        entries(151..=160)
    );
    let state = store.get_log_state().await.expect("log state");
    assert_eq!(state.last_purged_log_id, Some(log_id(1, 150)));
    assert_eq!(state.last_log_id, Some(log_id(1, 200)));

    eventually_first_stored(&db, 151).await;
    // The log goes on while and after the purger works.
    store
        .blocking_append(entries(201..=201))
        .await
        .expect("append");
    assert_eq!(
        store.try_get_log_entries(199..).await.expect("read tail"),
        entries(199..=201)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_a_crash_left_below_the_purge_point_are_hidden_and_removed_on_open() {
    let dir = tempfile::tempdir().expect("temp dir");
    {
        let db = open_db(dir.path());
        let mut store = LogStore::open(&db).expect("open log store");
        store
            .blocking_append(entries(1..=20))
            .await
            .expect("append");
        // A crash right after the purge point was made durable, before any entry went:
        // write the point the way `purge` does, without a purger to remove anything.
        let point = legate_catalog::codec::encode(&crate::server::raft::record::LogIdRecord::from(
            Some(&log_id(1, 12)),
        ));
        db.db()
            .open_tree("meta")
            .expect("meta tree")
            .insert(b"last_purged", point)
            .expect("write purge point");
        db.sync().expect("flush");
    }
    let db = reopen_db(dir.path()).await;
    let mut store = LogStore::open(&db).expect("reopen log store");
    assert_eq!(
        store.try_get_log_entries(..).await.expect("read"),
        entries(13..=20)
    );
    let state = store.get_log_state().await.expect("log state");
    assert_eq!(state.last_purged_log_id, Some(log_id(1, 12)));
    eventually_first_stored(&db, 13).await;
}
