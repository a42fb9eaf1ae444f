//! The Raft log and vote on sled.
//!
//! Two trees: `logs` maps an index (big-endian, so sled's byte order is log order) to an
//! encoded `EntryRecord`; `meta` holds the vote, the committed log id, the last purged log id
//! and the format marker, each a versioned record (`record`). A database whose log or meta
//! holds data but no format marker was written by Legate 0.1's unversioned format and is
//! refused at open with a message that says so, rather than misread.
//!
//! Durability rules, which Raft's safety rests on:
//! 1. `save_vote` returns only after the vote is fsynced: a server that forgets its vote could
//!    vote twice in one term.
//! 2. `append` writes the whole batch and, with a single voter, fsyncs it before it reports
//!    the entries flushed. With several voters it reports them once written and leaves the
//!    fsync to the `durability` flusher, so the leader's fsync overlaps the followers'; that
//!    module's gates keep an acknowledged write on a quorum's disks. One fsync covers the
//!    whole batch (and, under load, every batch written while the previous fsync ran), and
//!    each entry is itself a batch of every write that arrived while the previous entries were
//!    in flight (`proposer`): that is the group commit.
//! 3. `truncate` fsyncs too, so the log never reappears with a hole after a crash. `purge`
//!    fsyncs the purge point; from then on readers skip the entries at or below it, and the
//!    `purger` thread removes them in the background (see there why that is safe).
//! 4. `save_committed` is not fsynced by itself: the next append's or vote's fsync carries it.
//!    Losing it only means that, after a restart, the tail is applied once the new term
//!    commits it rather than at once.
//! 5. A restarted server never resumes leading the term it led (`forget_leadership`, before
//!    Raft starts). openraft restores a server whose saved vote is its own committed one as
//!    leader at once, trusting that a leader's disk holds every entry it ever sent. With the
//!    parallel write (rule 2) it need not: followers may hold, durably and acknowledged, a
//!    tail the leader had not yet fsynced when it was killed. Resuming the term, it would
//!    serve reads without that tail (the fault harness caught an acknowledged write missing
//!    from a read after a leader's `kill -9`) and reissue its indexes under the same term: two
//!    different entries with one log id, which Raft's log matching cannot tell apart. So the
//!    vote is saved back as a plain vote for itself: the server starts as a follower and, like
//!    any other, must win an election in a new term, which only a log holding every committed
//!    entry can.
//!
//! The database is opened with `flush_every_ms(None)`: we flush exactly when the rules above
//! say so, and sled's background flusher would only add fsyncs. Every flush is a
//! `DurableDb::sync`, sled's flush plus `fdatasync`, since sled's flush alone is not durable.
//!
//! With a single voter, `append` fsyncs on openraft's core task, blocking its worker thread
//! for the fsync, rather than handing it to the flusher: there is nothing to overlap it with,
//! and the two thread hand-offs cost a lone writer about 25 µs of its ~330 µs (`bench/kv.py`).

// openraft's storage traits return its `StorageError`, which is large; our helpers return
// it too rather than boxing it only to unbox it again at the trait boundary.
#![allow(clippy::result_large_err)]

use super::durability::Durability;
use super::error::storage_error;
use super::purger::Purger;
use super::record::{EntryRecord, LogIdRecord, VoteRecord};
use super::saved_vote::SavedVote;
use super::types::{Entry, LogId, LogState, NodeId, StorageError, TypeConfig, Vote};
use crate::durable_db::DurableDb;
use crate::server::disk_guard::DiskGuard;
use crate::telemetry;
use legate_catalog::codec;
use openraft::storage::{LogFlushed, RaftLogStorage};
use openraft::{ErrorSubject, ErrorVerb, OptionalSend, RaftLogReader};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::fmt::Debug;
use std::io;
use std::ops::{Bound, RangeBounds};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

const VOTE_KEY: &[u8] = b"vote";
const COMMITTED_KEY: &[u8] = b"committed";
const LAST_PURGED_KEY: &[u8] = b"last_purged";
/// The format of everything in this database; see the module doc.
const FORMAT_KEY: &[u8] = b"format";
const FORMAT: &[u8] = b"legate-raft-log/1";

/// The database holds a log this build cannot read. Nothing was changed.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UnknownFormat(String);

/// The log store. Clones share the same trees; openraft's log readers are clones.
#[derive(Clone)]
pub struct LogStore {
    logs: sled::Tree,
    meta: sled::Tree,
    /// The last committed index, shared with `RaftHandle::metrics` because openraft 0.9 does
    /// not publish it.
    committed_index: Arc<AtomicU64>,
    /// The first index readers may see: one past the durable purge point (zero before any
    /// purge). Entries below it may still sit in `logs` until the purger removes them.
    first_readable: Arc<AtomicU64>,
    purger: Purger,
    /// While the data directory is nearly full, appends wait rather than write (see
    /// `disk_guard`): sled never meets `ENOSPC`, which it could not recover from.
    disk: Option<DiskGuard>,
    /// What of the log is durable, and the thread that flushes it.
    durability: Durability,
    /// The vote as last saved, for the network (see `saved_vote`).
    saved_vote: SavedVote,
}

impl LogStore {
    /// Opens (or creates) the log's trees in `db`.
    pub fn open(durable: &DurableDb) -> Result<LogStore, StorageError> {
        let open = |name: &str| {
            durable
                .db()
                .open_tree(name)
                .map_err(|e| storage_error(ErrorSubject::Store, ErrorVerb::Read, e))
        };
        let logs = open("logs")?;
        let start_error = |e| storage_error(ErrorSubject::Store, ErrorVerb::Write, e);
        let last_index = match logs.last() {
            Ok(last) => last.map_or(0, |(key, _)| key_index(&key)),
            Err(e) => return Err(storage_error(ErrorSubject::Logs, ErrorVerb::Read, e)),
        };
        let store = LogStore {
            durability: Durability::open(durable.clone(), last_index).map_err(start_error)?,
            purger: Purger::start(logs.clone()).map_err(start_error)?,
            logs,
            meta: open("meta")?,
            committed_index: Arc::default(),
            first_readable: Arc::default(),
            disk: None,
            saved_vote: SavedVote::default(),
        };
        store.check_format()?;
        if let Some(vote) = store.read_meta::<VoteRecord>(VOTE_KEY)? {
            store.saved_vote.record(Vote::from(vote));
        }
        let committed = store.read_log_id(COMMITTED_KEY)?;
        store.note_committed(committed.as_ref());
        if let Some(purged) = store.read_log_id(LAST_PURGED_KEY)? {
            // Removes what a crash left below the purge point, if anything.
            store.skip_purged(purged.index);
        }
        Ok(store)
    }

    /// Makes appends wait while `disk` says the data directory is full.
    pub fn with_disk_guard(mut self, disk: Option<DiskGuard>) -> LogStore {
        self.disk = disk;
        self
    }

    /// What of this log is durable; see `durability`.
    pub fn durability(&self) -> Durability {
        self.durability.clone()
    }

    /// The vote as this store last saved it; see `saved_vote`.
    pub fn saved_vote(&self) -> SavedVote {
        self.saved_vote.clone()
    }

    /// The last committed index as this store last heard it (zero before any commit).
    pub fn committed_index(&self) -> Arc<AtomicU64> {
        self.committed_index.clone()
    }

    fn note_committed(&self, committed: Option<&LogId>) {
        let index = committed.map_or(0, |log_id| log_id.index);
        self.committed_index.store(index, Ordering::Relaxed);
    }

    /// Hides the entries up to `index` from readers and has the purger remove them.
    fn skip_purged(&self, index: u64) {
        self.first_readable
            .fetch_max(index.saturating_add(1), Ordering::AcqRel);
        self.purger.remove_up_to(index);
    }

    /// Marks a new database with this build's format, and refuses one in another format.
    fn check_format(&self) -> Result<(), StorageError> {
        let read_error = |e| storage_error(ErrorSubject::Store, ErrorVerb::Read, e);
        match self.meta.get(FORMAT_KEY).map_err(read_error)? {
            Some(format) if format.as_ref() == FORMAT => Ok(()),
            Some(format) => Err(storage_error(
                ErrorSubject::Store,
                ErrorVerb::Read,
                UnknownFormat(format!(
                    "the raft log is in format {:?}, which this release cannot read",
                    String::from_utf8_lossy(&format)
                )),
            )),
            None if self.logs.is_empty() && self.meta.is_empty() => {
                self.meta
                    .insert(FORMAT_KEY, FORMAT)
                    .map_err(|e| storage_error(ErrorSubject::Store, ErrorVerb::Write, e))?;
                Ok(())
            }
            None => Err(storage_error(
                ErrorSubject::Store,
                ErrorVerb::Read,
                UnknownFormat(
                    "the raft log was written by Legate 0.1 in its unversioned format, which \
                     this release cannot read; move the data directory aside and start afresh"
                        .to_owned(),
                ),
            )),
        }
    }

    fn read_meta<T: DeserializeOwned>(&self, key: &[u8]) -> Result<Option<T>, StorageError> {
        let read_error = |e| storage_error(ErrorSubject::Store, ErrorVerb::Read, e);
        match self.meta.get(key).map_err(read_error)? {
            None => Ok(None),
            Some(bytes) => codec::decode(&bytes)
                .map(Some)
                .map_err(|e| storage_error(ErrorSubject::Store, ErrorVerb::Read, e)),
        }
    }

    fn read_log_id(&self, key: &[u8]) -> Result<Option<LogId>, StorageError> {
        Ok(self
            .read_meta::<LogIdRecord>(key)?
            .and_then(Option::<LogId>::from))
    }

    fn write_meta<T: Serialize>(
        &self,
        key: &[u8],
        value: &T,
        subject: ErrorSubject<NodeId>,
    ) -> Result<(), StorageError> {
        let bytes = encode(value);
        self.meta
            .insert(key, bytes)
            .map_err(|e| storage_error(subject, ErrorVerb::Write, e))?;
        Ok(())
    }

    /// Makes everything written so far durable, on a blocking thread.
    /// Rule 5: a saved vote that records `own`'s established leadership is saved back as a
    /// plain vote (same term, same candidate), durably, before Raft reads it. Answers the
    /// term of the leadership given up, if any. A follower's record of its leader's vote is
    /// left alone: a follower starts as one anyway.
    pub async fn forget_leadership(&mut self, own: NodeId) -> Result<Option<u64>, StorageError> {
        let Some(mut vote) = self.read_meta::<VoteRecord>(VOTE_KEY)?.map(Vote::from) else {
            return Ok(None);
        };
        if !vote.committed || vote.leader_id.voted_for() != Some(own) {
            return Ok(None);
        }
        vote.committed = false;
        self.save_vote(&vote).await?;
        Ok(Some(vote.leader_id.term))
    }

    async fn flush(&self, subject: ErrorSubject<NodeId>) -> Result<(), StorageError> {
        let durability = self.durability.clone();
        let synced = tokio::task::spawn_blocking(move || durability.sync_now())
            .await
            .map_err(io::Error::other)
            .and_then(|synced| synced);
        synced.map_err(|e| storage_error(subject, ErrorVerb::Write, e))
    }

    fn last_entry_id(&self) -> Result<Option<LogId>, StorageError> {
        let read_error = |e| storage_error(ErrorSubject::Logs, ErrorVerb::Read, e);
        match self.logs.last().map_err(read_error)? {
            None => Ok(None),
            Some((_, bytes)) => Ok(Some(decode_entry(&bytes)?.log_id)),
        }
    }
}

pub(super) fn key_index(key: &[u8]) -> u64 {
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&key[..8]);
    u64::from_be_bytes(bytes)
}

pub(super) fn index_key(index: u64) -> [u8; 8] {
    index.to_be_bytes()
}

/// Whether a range starting at `first` and ending at `end` holds any index.
fn reaches(first: u64, end: Bound<u64>) -> bool {
    match end {
        Bound::Included(last) => first <= last,
        Bound::Excluded(limit) => first < limit,
        Bound::Unbounded => true,
    }
}

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    codec::encode(value)
}

fn decode_entry(bytes: &[u8]) -> Result<Entry, StorageError> {
    codec::decode::<EntryRecord>(bytes)
        .map(Entry::from)
        .map_err(|e| storage_error(ErrorSubject::Logs, ErrorVerb::Read, e))
}

impl RaftLogReader<TypeConfig> for LogStore {
    /// What replication sends after `prev_log_id` = `start - 1`: nothing when `start` is
    /// purged, rather than the unpurged tail that `try_get_log_entries` answers (as openraft's
    /// storage suite wants of it). openraft 0.9's replication sends what it reads here as the
    /// entries that follow the `prev_log_id` it chose, and a replication stream can read after
    /// a purge it did not hold back (found by the simulation, `agent/tests/sim`): the tail
    /// would reach the follower as entries that do not follow `prev_log_id`, which panics the
    /// follower's Raft core. An empty read is taken as a heartbeat at `prev_log_id`, after
    /// which the leader finds the follower behind its purge point and sends a snapshot.
    async fn limited_get_log_entries(
        &mut self,
        start: u64,
        end: u64,
    ) -> Result<Vec<Entry>, StorageError> {
        if start < self.first_readable.load(Ordering::Acquire) {
            return Ok(Vec::new());
        }
        self.try_get_log_entries(start..end).await
    }

    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError> {
        // Purged entries the purger has not removed yet are not part of the log.
        let first = match range.start_bound() {
            Bound::Included(index) => *index,
            Bound::Excluded(index) => index.saturating_add(1),
            Bound::Unbounded => 0,
        }
        .max(self.first_readable.load(Ordering::Acquire));
        let end = range.end_bound().cloned();
        if !reaches(first, end) {
            return Ok(Vec::new());
        }
        let start = Bound::Included(index_key(first));
        let end = end.map(index_key);
        let mut entries = Vec::new();
        for item in self.logs.range::<[u8; 8], _>((start, end)) {
            let (_, bytes) =
                item.map_err(|e| storage_error(ErrorSubject::Logs, ErrorVerb::Read, e))?;
            entries.push(decode_entry(&bytes)?);
        }
        Ok(entries)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState, StorageError> {
        let last_purged_log_id = self.read_log_id(LAST_PURGED_KEY)?;
        // Normally every present entry is above the purge point. After a crash in the middle
        // of a purge past the end of the log (a snapshot install), leftovers may sit below
        // it; the purge point wins then. `None` orders below any log id.
        let last_log_id = self.last_entry_id()?.max(last_purged_log_id);
        Ok(LogState {
            last_purged_log_id,
            last_log_id,
        })
    }

    async fn get_log_reader(&mut self) -> LogStore {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), StorageError> {
        self.write_meta(VOTE_KEY, &VoteRecord::from(vote), ErrorSubject::Vote)?;
        self.flush(ErrorSubject::Vote).await?;
        self.saved_vote.record(*vote);
        Ok(())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, StorageError> {
        Ok(self.read_meta::<VoteRecord>(VOTE_KEY)?.map(Vote::from))
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), StorageError> {
        self.write_meta(
            COMMITTED_KEY,
            &LogIdRecord::from(committed.as_ref()),
            ErrorSubject::Store,
        )?;
        self.note_committed(committed.as_ref());
        Ok(())
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, StorageError> {
        self.read_log_id(COMMITTED_KEY)
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        if let Some(disk) = &self.disk {
            if disk.must_hold_appends() {
                // Not written, not acknowledged: a leader stops committing (and steps
                // down), a follower falls behind; both carry on once space is freed.
                tracing::warn!("raft log: {}; holding appends", disk.refusal());
                disk.wait_until_writable().await;
            }
        }
        // A flush failed earlier: nothing more is written to a log that cannot be trusted.
        self.durability
            .durable_index()
            .map_err(|e| storage_error(ErrorSubject::Logs, ErrorVerb::Write, e))?;
        let started = Instant::now();
        let mut encoded = Vec::new();
        let mut last_index = 0;
        for entry in entries {
            let bytes = encode(&EntryRecord::from(&entry));
            last_index = entry.log_id.index;
            encoded.push((index_key(entry.log_id.index), bytes));
        }
        let parallel = self.durability.parallel();
        // The write (and, with a single voter, its fsync) runs where a slow disk cannot hold
        // up other tasks.
        let logs = &self.logs;
        let durability = &self.durability;
        let written = crate::durable_db::in_place(|| {
            let written = if encoded.len() == 1 {
                // One entry is atomic by itself. A plain insert is much cheaper than a one-entry
                // batch: sled logs a batch manifest and hands its I/O buffer to its thread pool
                // (measured: 100 µs against 165 µs for write plus flush), and a lone writer
                // appends one entry at a time.
                let (key, bytes) = encoded.pop().expect("one entry");
                logs.insert(key, bytes).map(drop)
            } else {
                // One sled batch: the entries land together or not at all, so no hole can appear.
                let mut batch = sled::Batch::default();
                for (key, bytes) in encoded {
                    batch.insert(&key, bytes);
                }
                logs.apply_batch(batch)
            };
            written.map(|()| {
                durability.note_written(last_index, parallel);
                if parallel {
                    Ok(())
                } else {
                    durability.sync_now()
                }
            })
        });
        telemetry::log_appended(started);
        // Rule 2.
        let synced = written.map_err(|e| storage_error(ErrorSubject::Logs, ErrorVerb::Write, e))?;
        match synced {
            Ok(()) => {
                callback.log_io_completed(Ok(()));
                Ok(())
            }
            Err(error) => {
                // openraft stops on either report: the log can no longer be trusted.
                callback.log_io_completed(Err(io::Error::new(error.kind(), error.to_string())));
                Err(storage_error(ErrorSubject::Logs, ErrorVerb::Write, error))
            }
        }
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
        let mut batch = sled::Batch::default();
        for item in self.logs.range(index_key(log_id.index)..) {
            let (key, _) =
                item.map_err(|e| storage_error(ErrorSubject::Logs, ErrorVerb::Read, e))?;
            batch.remove(key);
        }
        // Noted before the entries go: a flush that finishes after they are gone then knows
        // it may not vouch for them (see `durability::sync`).
        self.durability
            .note_truncated(log_id.index.saturating_sub(1));
        self.logs
            .apply_batch(batch)
            .map_err(|e| storage_error(ErrorSubject::Logs, ErrorVerb::Delete, e))?;
        self.flush(ErrorSubject::Logs).await
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        // The purge point is durable before any entry goes, and readers skip what is below
        // it from then on; the entries are removed in the background (see `purger`).
        self.write_meta(
            LAST_PURGED_KEY,
            &LogIdRecord::from(Some(&log_id)),
            ErrorSubject::Logs,
        )?;
        self.flush(ErrorSubject::Logs).await?;
        self.skip_purged(log_id.index);
        Ok(())
    }
}
