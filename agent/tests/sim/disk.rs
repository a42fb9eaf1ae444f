//! A simulated server's disk and the Raft log store on it.
//!
//! The disk keeps what a real one keeps across a crash: the vote, the purge point and the
//! newest snapshot are durable as soon as they are written (the agent's log store fsyncs
//! each); log entries and the committed id become durable only when the flusher gets to
//! them, after a seeded fsync latency, and only then does openraft hear that the entries are
//! flushed. A crash keeps the durable prefix of the log and the last durable committed id,
//! and loses the rest. Entries are kept in their wire
//! form (`EntryRecord` in the durable codec), so every entry the simulation replicates goes
//! through the real encoder and decoder.
//!
//! Every store handle carries the disk's epoch when it was opened; a crash moves the epoch
//! on, and from then on the dead node's handles fail instead of writing.

// openraft's storage traits return its large `StorageError`.
#![allow(clippy::result_large_err)]

use crate::world::{with, Shared};
use legate_agent::server::raft::record::EntryRecord;
use legate_agent::server::raft::types::{Entry, LogId, LogState, SnapshotMeta, StorageError, Vote};
use legate_agent::server::raft::{NodeId, TypeConfig};
use legate_catalog::codec;
use openraft::storage::{LogFlushed, RaftLogStorage};
use openraft::{ErrorSubject, ErrorVerb, OptionalSend, RaftLogReader};
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::io;
use std::ops::RangeBounds;
use tokio::sync::mpsc;

/// One log entry on disk.
pub struct Stored {
    pub log_id: LogId,
    pub bytes: Vec<u8>,
    pub durable: bool,
}

#[derive(Default)]
pub struct Disk {
    /// Moves on at every crash.
    pub epoch: u64,
    pub vote: Option<Vote>,
    /// The committed id as last saved, and as the last fsync left it: as in the agent's
    /// store, saving it does not fsync, a flush of the log carries it.
    pub committed: Option<LogId>,
    pub durable_committed: Option<LogId>,
    pub purged: Option<LogId>,
    pub log: BTreeMap<u64, Stored>,
    pub snapshot: Option<(SnapshotMeta, Vec<u8>)>,
}

impl Disk {
    /// A crash: the log keeps its durable prefix, and every handle opened before is dead.
    pub fn crash(&mut self) {
        self.epoch += 1;
        self.committed = self.durable_committed;
        let first_volatile = self
            .log
            .iter()
            .find(|(_, stored)| !stored.durable)
            .map(|(index, _)| *index);
        if let Some(index) = first_volatile {
            self.log.split_off(&index);
        }
    }

    pub fn last_log_id(&self) -> Option<LogId> {
        self.log.values().next_back().map(|stored| stored.log_id)
    }
}

fn error(subject: ErrorSubject<NodeId>, verb: ErrorVerb, message: &str) -> StorageError {
    StorageError::from_io_error(subject, verb, io::Error::other(message.to_owned()))
}

fn crashed() -> StorageError {
    error(ErrorSubject::Store, ErrorVerb::Write, "the server crashed")
}

/// An fsync the flusher owes, and whom to tell when it is done.
struct Flush {
    callback: LogFlushed<TypeConfig>,
}

/// openraft's log store over one simulated disk.
#[derive(Clone)]
pub struct LogStore {
    id: NodeId,
    epoch: u64,
    world: Shared,
    flusher: mpsc::UnboundedSender<Flush>,
}

impl LogStore {
    /// Opens server `id`'s disk as it is now, and starts its flusher.
    pub fn open(id: NodeId, world: &Shared) -> LogStore {
        let epoch = with(world, |world| world.slot(id).disk.epoch);
        let (flusher, queue) = mpsc::unbounded_channel();
        tokio::spawn(flush(id, epoch, world.clone(), queue));
        LogStore {
            id,
            epoch,
            world: world.clone(),
            flusher,
        }
    }

    /// Runs `f` on the disk if this handle is still alive; then checks log matching.
    fn disk<R>(
        &self,
        f: impl FnOnce(&mut Disk) -> Result<R, StorageError>,
    ) -> Result<R, StorageError> {
        with(&self.world, |world| {
            let disk = &mut world.slot(self.id).disk;
            if disk.epoch != self.epoch {
                return Err(crashed());
            }
            f(disk)
        })
    }

    fn check_logs(&self) {
        with(&self.world, |world| {
            let slots = &world.slots;
            world.check.log_matching(slots);
        });
    }
}

/// The flusher: one fsync at a time, in order, each after its latency. An fsync makes
/// durable what was written when it started: these entries, any earlier ones, and the
/// committed id.
async fn flush(id: NodeId, epoch: u64, world: Shared, mut queue: mpsc::UnboundedReceiver<Flush>) {
    // Each callback's entries were written before its fsync started, so they are durable
    // once it ends (or were already, by an earlier one).
    while let Some(Flush { callback }) = queue.recv().await {
        let (latency, written, committed) = with(&world, |world| {
            let latency = world.fsync_latency(id);
            let disk = &world.slot(id).disk;
            let written: Vec<LogId> = disk
                .log
                .values()
                .filter(|stored| !stored.durable)
                .map(|stored| stored.log_id)
                .collect();
            (latency, written, disk.committed)
        });
        tokio::time::sleep(latency).await;
        let alive = with(&world, |world| {
            let skip = world.bugs.skip_fsync;
            let disk = &mut world.slot(id).disk;
            if disk.epoch != epoch {
                return false;
            }
            if skip {
                return true;
            }
            for log_id in &written {
                if let Some(stored) = disk.log.get_mut(&log_id.index) {
                    // Unless a later truncation replaced it.
                    if stored.log_id == *log_id {
                        stored.durable = true;
                    }
                }
            }
            disk.durable_committed = disk.durable_committed.max(committed);
            true
        });
        if !alive {
            return;
        }
        callback.log_io_completed(Ok(()));
    }
}

fn decode(bytes: &[u8]) -> Result<Entry, StorageError> {
    codec::decode::<EntryRecord>(bytes)
        .map(Entry::from)
        .map_err(|e| error(ErrorSubject::Logs, ErrorVerb::Read, &e.to_string()))
}

impl RaftLogReader<TypeConfig> for LogStore {
    /// As the agent's log store answers replication: nothing from a purged start (see
    /// `LogStore::limited_get_log_entries` in the agent).
    async fn limited_get_log_entries(
        &mut self,
        start: u64,
        end: u64,
    ) -> Result<Vec<Entry>, StorageError> {
        let purged = self.disk(|disk| Ok(disk.purged))?;
        if purged.is_some_and(|purged| start <= purged.index) {
            return Ok(Vec::new());
        }
        self.try_get_log_entries(start..end).await
    }

    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError> {
        self.disk(|disk| {
            disk.log
                .range(range)
                .map(|(_, stored)| decode(&stored.bytes))
                .collect()
        })
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState, StorageError> {
        self.disk(|disk| {
            Ok(LogState {
                last_purged_log_id: disk.purged,
                last_log_id: disk.last_log_id().max(disk.purged),
            })
        })
    }

    async fn get_log_reader(&mut self) -> LogStore {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), StorageError> {
        let vote = *vote;
        let id = self.id;
        let previous = self.disk(|disk| Ok(disk.vote.replace(vote)))?;
        with(&self.world, |world| {
            let disk = &world.slots[&id].disk;
            world.check.vote_saved(id, previous, vote, disk);
            world.note(("vote", id, vote.leader_id.term, vote.committed));
        });
        Ok(())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, StorageError> {
        self.disk(|disk| Ok(disk.vote))
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), StorageError> {
        let previous = self.disk(|disk| Ok(std::mem::replace(&mut disk.committed, committed)))?;
        let id = self.id;
        with(&self.world, |world| {
            world.check.committed_saved(id, previous, committed)
        });
        Ok(())
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, StorageError> {
        self.disk(|disk| Ok(disk.committed))
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
        let entries: Vec<Entry> = entries.into_iter().collect();
        let ids: Vec<LogId> = entries.iter().map(|entry| entry.log_id).collect();
        self.disk(|disk| {
            for entry in &entries {
                let stored = Stored {
                    log_id: entry.log_id,
                    bytes: codec::encode(&EntryRecord::from(entry)),
                    durable: false,
                };
                disk.log.insert(entry.log_id.index, stored);
            }
            Ok(())
        })?;
        self.check_logs();
        if let (Some(first), Some(last)) = (ids.first(), ids.last()) {
            let (id, first, last) = (self.id, first.index, (last.leader_id.term, last.index));
            with(&self.world, |world| world.note(("append", id, first, last)));
        }
        self.flusher.send(Flush { callback }).map_err(|_| crashed())
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
        let id = self.id;
        with(&self.world, |world| {
            world.note(("truncate", id, log_id.index))
        });
        self.disk(|disk| {
            disk.log.split_off(&log_id.index);
            Ok(())
        })?;
        self.check_logs();
        Ok(())
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        let id = self.id;
        with(&self.world, |world| world.note(("purge", id, log_id.index)));
        self.disk(|disk| {
            disk.purged = Some(log_id);
            let kept = disk.log.split_off(&(log_id.index + 1));
            disk.log = kept;
            Ok(())
        })
    }
}
