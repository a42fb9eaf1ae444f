//! What a server reads back from its own disk, or receives as a snapshot from a leader:
//! snapshot files (the header, then the catalog's snapshot) and the Raft log's records.
//! A disk can hand back anything (a torn write, a bad sector, another program's file); the
//! reader must refuse it with an error, never panic or misread it.

use legate_agent::server::raft::record::{EntryRecord, LogIdRecord, SnapshotHeader, VoteRecord};
use legate_agent::server::raft::snapshot_file;
use legate_agent::server::raft::types::Entry;
use legate_catalog::{codec, Store};
use std::path::Path;

/// The first byte picks the input: a whole snapshot file (even), or only the catalog's
/// snapshot bytes (odd), which a fuzzer would rarely reach behind a valid file header.
pub fn snapshots(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode & 1 == 0 {
        if let Ok((_, catalog)) = snapshot_file::decode(rest, Path::new("fuzz.bin")) {
            catalog_snapshot(&catalog);
        }
    } else {
        catalog_snapshot(rest);
    }
}

/// A restored store snapshots to bytes that restore to a store snapshotting to the same bytes.
fn catalog_snapshot(bytes: &[u8]) {
    let Ok(store) = Store::restore(bytes) else {
        return;
    };
    let once = store.snapshot();
    let again = Store::restore(&once)
        .expect("a restored store's own snapshot restores")
        .snapshot();
    assert!(once == again, "a snapshot changed through a restore");
}

/// One record of each kind the log store keeps, from the same bytes.
pub fn records(data: &[u8]) {
    if let Some(record) = crate::round_trips(data, codec::decode::<EntryRecord>, codec::encode) {
        // What openraft is handed survives being written back. Not always byte for byte: a
        // membership naming a voter without an address (which no server writes) gets an
        // empty one from openraft, every server alike; from then on it is stable.
        let stored = EntryRecord::from(&Entry::from(record));
        assert_eq!(EntryRecord::from(&Entry::from(stored.clone())), stored);
    }
    crate::round_trips(data, codec::decode::<VoteRecord>, codec::encode);
    crate::round_trips(data, codec::decode::<LogIdRecord>, codec::encode);
    if let Some(header) = crate::round_trips(data, codec::decode::<SnapshotHeader>, codec::encode) {
        let _ = (header.meta(), header.data_len());
    }
}
