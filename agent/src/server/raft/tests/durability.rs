//! What the log store reports as durable is on disk at that moment.
//!
//! A crash is simulated by copying the database directory while the database is still open:
//! the copy holds exactly what had reached the files, as after a power cut. With
//! `flush_every_ms(None)` nothing else flushes, so entries in the copy were flushed by us.

use super::{kv_set, log_id, normal_entry, open_db, reopen_db};
use crate::server::raft::types::Entry;
use crate::server::raft::LogStore;
use openraft::storage::{RaftLogStorage, RaftLogStorageExt};
use openraft::{EntryPayload, RaftLogReader, Vote};
use std::fs;
use std::path::Path;

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("create copy dir");
    for entry in fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("dir entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), target).expect("copy file");
        }
    }
}

fn entries() -> Vec<Entry> {
    vec![
        Entry {
            log_id: log_id(1, 1),
            payload: EntryPayload::Blank,
        },
        normal_entry(1, 2, kv_set("a", "1")),
        normal_entry(1, 3, kv_set("b", "2")),
    ]
}

/// The entries a crash at this instant would leave: those in a copy of `live`'s files.
async fn entries_after_a_crash(dir: &Path, live: &Path) -> Vec<Entry> {
    let crash_image = dir.join("crash");
    copy_dir(live, &crash_image);
    let crashed = open_db(&crash_image);
    let mut reader = LogStore::open(&crashed).expect("open crash image");
    reader
        .try_get_log_entries(..)
        .await
        .expect("read crash image")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn append_reports_flushed_only_once_entries_are_on_disk() {
    let dir = tempfile::tempdir().expect("temp dir");
    let live = dir.path().join("live");
    let db = open_db(&live);
    let mut store = LogStore::open(&db).expect("open log store");

    // Returns only after `append` has invoked its callback.
    store.blocking_append(entries()).await.expect("append");

    assert_eq!(
        entries_after_a_crash(dir.path(), &live).await,
        entries(),
        "acknowledged entries missing after a crash"
    );

    // And after a clean close and reopen.
    drop((store, db));
    let reopened = reopen_db(&live).await;
    let mut reader = LogStore::open(&reopened).expect("reopen log store");
    let read = reader
        .try_get_log_entries(1..=3)
        .await
        .expect("read reopened");
    assert_eq!(read, entries());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn save_vote_is_on_disk_when_it_returns() {
    let dir = tempfile::tempdir().expect("temp dir");
    let live = dir.path().join("live");
    let db = open_db(&live);
    let mut store = LogStore::open(&db).expect("open log store");
    let vote = Vote::new(7, 1);
    store.save_vote(&vote).await.expect("save vote");

    let crash_image = dir.path().join("crash");
    copy_dir(&live, &crash_image);
    let crashed = open_db(&crash_image);
    let mut reader = LogStore::open(&crashed).expect("open crash image");
    assert_eq!(reader.read_vote().await.expect("read vote"), Some(vote));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purge_past_the_end_leaves_the_purge_point_as_last_log_id() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = open_db(dir.path());
    let mut store = LogStore::open(&db).expect("open log store");
    store.blocking_append(entries()).await.expect("append");
    // A snapshot install purges up to the snapshot, which can be beyond the local log.
    store.purge(log_id(2, 10)).await.expect("purge");
    let state = store.get_log_state().await.expect("log state");
    assert_eq!(state.last_purged_log_id, Some(log_id(2, 10)));
    assert_eq!(state.last_log_id, Some(log_id(2, 10)));
    assert!(store
        .try_get_log_entries(..)
        .await
        .expect("read")
        .is_empty());
}

/// With several voters, `append` reports entries once written and the flusher makes them
/// durable; what `Durability` then vouches for must be on disk, and the last index it names
/// must follow truncation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_appends_are_on_disk_once_durability_says_so() {
    let dir = tempfile::tempdir().expect("temp dir");
    let live = dir.path().join("live");
    let db = open_db(&live);
    let mut store = LogStore::open(&db).expect("open log store");
    let durability = store.durability();
    durability.set_parallel(true);
    store.blocking_append(entries()).await.expect("append");
    durability.wait_index(3).await.expect("flushed");
    assert_eq!(durability.durable_index().expect("no failure"), 3);

    assert_eq!(
        entries_after_a_crash(dir.path(), &live).await,
        entries(),
        "vouched-for entries missing after a crash"
    );

    // A follower's conflicting tail is cut: the durable end moves back with it.
    store.truncate(log_id(1, 2)).await.expect("truncate");
    assert_eq!(durability.durable_index().expect("no failure"), 1);
}

#[test]
fn the_commit_index_sent_is_capped_at_the_leaders_durable_log() {
    use crate::server::raft::network::durable_commit;
    use openraft::raft::AppendEntriesRequest;
    let request = |commit: u64| AppendEntriesRequest {
        vote: Vote::new_committed(1, 0),
        prev_log_id: Some(log_id(1, 4)),
        leader_commit: Some(log_id(1, commit)),
        entries: vec![
            normal_entry(1, 5, kv_set("a", "1")),
            normal_entry(1, 6, kv_set("b", "2")),
        ],
    };
    // Durable past the commit index: sent as is.
    assert_eq!(durable_commit(&request(5), 6), Some(log_id(1, 5)));
    // Committed past what the leader's disk holds: the newest named entry it does hold.
    assert_eq!(durable_commit(&request(6), 5), Some(log_id(1, 5)));
    assert_eq!(durable_commit(&request(6), 4), Some(log_id(1, 4)));
    // Nothing named is durable: no commit index (the follower keeps its own).
    assert_eq!(durable_commit(&request(6), 3), None);
}
