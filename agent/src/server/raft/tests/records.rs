//! Byte fixtures for the log store's and snapshot files' records (`record`), under the rules
//! of `legate_catalog::codec`: the checked-in bytes must keep decoding to these values.

use crate::server::raft::record::{EntryRecord, LogIdRecord, SnapshotHeader, VoteRecord};
use crate::server::raft::types::{Entry, LogId, SnapshotMeta, StoredMembership, Vote};
use legate_catalog::codec::fixture;
use legate_catalog::command::{KvCondition, KvSet};
use legate_catalog::{Command, KvEntry, LogPayload};
use openraft::{BasicNode, CommittedLeaderId, EntryPayload, Membership};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

const A: u128 = 0x0b7a3c1e_58d4_4b8e_9e2f_6d1c0a9b8e7f;
const B: u128 = 0x6f1c2d3e_4a5b_4c6d_8e7f_90a1b2c3d4e5;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/raft")
}

fn log_id(term: u64, node: u128, index: u64) -> LogId {
    LogId::new(CommittedLeaderId::new(term, node), index)
}

fn membership() -> Membership<u128, BasicNode> {
    Membership::new(
        vec![BTreeSet::from([A]), BTreeSet::from([A, B])],
        BTreeMap::from([
            (A, BasicNode::new("127.0.0.1:8300")),
            (B, BasicNode::new("127.0.0.2:8300")),
        ]),
    )
}

fn entries() -> Vec<(&'static str, Entry)> {
    let command = Command::KvSet(KvSet {
        entry: KvEntry {
            key: "k".into(),
            value: b"v".to_vec(),
            flags: 1,
            ..KvEntry::default()
        },
        condition: KvCondition::Always,
    });
    vec![
        (
            "entry-v1-blank",
            Entry {
                log_id: log_id(2, A, 7),
                payload: EntryPayload::Blank,
            },
        ),
        (
            "entry-v1-normal",
            Entry {
                log_id: log_id(2, A, 8),
                payload: EntryPayload::Normal(LogPayload::from(command)),
            },
        ),
        (
            "entry-v1-membership",
            Entry {
                log_id: log_id(3, B, 9),
                payload: EntryPayload::Membership(membership()),
            },
        ),
    ]
}

#[test]
fn entries_keep_their_bytes_and_meaning() {
    for (name, entry) in entries() {
        let record = EntryRecord::from(&entry);
        fixture::pin(&dir(), name, &record);
        assert_eq!(Entry::from(record), entry);
    }
}

#[test]
fn votes_and_log_ids_keep_their_bytes_and_meaning() {
    let vote = Vote {
        leader_id: openraft::LeaderId::new(5, B),
        committed: true,
    };
    let record = VoteRecord::from(&vote);
    fixture::pin(&dir(), "vote-v1", &record);
    assert_eq!(Vote::from(record), vote);

    let some = LogIdRecord::from(Some(&log_id(4, A, 1000)));
    fixture::pin(&dir(), "log-id-v1", &some);
    assert_eq!(Option::<LogId>::from(some), Some(log_id(4, A, 1000)));
    fixture::pin(&dir(), "log-id-v1-none", &LogIdRecord::from(None));
}

#[test]
fn snapshot_headers_keep_their_bytes_and_meaning() {
    let meta = SnapshotMeta {
        last_log_id: Some(log_id(3, B, 16384)),
        last_membership: StoredMembership::new(Some(log_id(3, B, 9)), membership()),
        snapshot_id: "3-16384-1".into(),
    };
    let header = SnapshotHeader::new(&meta, 123_456);
    fixture::pin(&dir(), "snapshot-header-v1", &header);
    assert_eq!(header.meta(), meta);
    assert_eq!(header.data_len(), 123_456);
}

#[test]
fn a_log_without_a_format_marker_is_refused_not_misread() {
    let dir = tempfile::tempdir().unwrap();
    {
        // What Legate 0.1 left: entries and meta, no format marker.
        let db = super::open_db(dir.path());
        let logs = db.db().open_tree("logs").unwrap();
        logs.insert(1u64.to_be_bytes(), vec![0u8; 40]).unwrap();
        db.sync().unwrap();
    }
    let db = super::open_db(dir.path());
    let error = crate::server::raft::LogStore::open(&db)
        .err()
        .expect("an unversioned log is refused");
    assert!(error.to_string().contains("unversioned"), "{error}");
}

#[test]
fn a_new_log_is_marked_and_reopens() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = super::open_db(dir.path());
        crate::server::raft::LogStore::open(&db).expect("a new log opens");
        db.sync().unwrap();
    }
    let db = super::open_db(dir.path());
    crate::server::raft::LogStore::open(&db).expect("a marked log reopens");
}

/// The whole snapshot file (magic, header length, header, catalog bytes), as a release writes
/// it and every later one must read it.
#[test]
fn snapshot_files_keep_their_bytes_and_meaning() {
    use crate::server::raft::snapshot_file::{decode, SnapshotDir};
    let meta = SnapshotMeta {
        last_log_id: Some(log_id(3, B, 16384)),
        last_membership: StoredMembership::new(Some(log_id(3, B, 9)), membership()),
        snapshot_id: "3-16384-1".into(),
    };
    let data = b"catalog snapshot bytes".to_vec();
    let scratch = tempfile::tempdir().unwrap();
    SnapshotDir::open(scratch.path())
        .unwrap()
        .write(&meta, &data)
        .unwrap();
    let written = std::fs::read_dir(scratch.path())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .find(|path| path.extension().is_some_and(|ext| ext == "bin"))
        .expect("the snapshot file");
    let bytes = std::fs::read(&written).unwrap();
    let stored = fixture::load(&dir(), "snapshot-file-v1", &bytes);
    assert_eq!(
        fixture::hex(&bytes),
        fixture::hex(&stored),
        "the snapshot file layout changed, which needs a new version"
    );
    let (read_meta, read_data) = decode(&stored[..], &written).expect("the fixture reads");
    assert_eq!((read_meta, read_data), (meta, data));
}
