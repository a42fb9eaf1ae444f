//! A simulated server's state machine: committed entries into the real catalog, through the
//! same `SharedStore::apply_batch` the agent's state machine calls, with snapshots kept on
//! the simulated disk in the catalog's own snapshot format.
//!
//! Every batch is reported to the checker: which entry each index held, and a digest of the
//! whole catalog after it, so servers that applied the same entries must agree byte for
//! byte. The catalog's own invariants (`legate_catalog::invariants`) are checked after each
//! batch as well.

#![allow(clippy::result_large_err)]

use crate::world::{digest, with, Shared};
use legate_agent::server::raft::types::{
    Entry, LogId, Snapshot, SnapshotMeta, StorageError, StoredMembership,
};
use legate_agent::server::raft::{answer_entries, NodeId, TypeConfig};
use legate_catalog::{codec, CommandResult, Index, LogPayload, SharedStore, Store};
use openraft::storage::RaftStateMachine;
use openraft::{EntryPayload, ErrorSubject, ErrorVerb, OptionalSend, RaftSnapshotBuilder};
use std::io::{self, Cursor};
use std::sync::Arc;

fn error(subject: ErrorSubject<NodeId>, verb: ErrorVerb, message: String) -> StorageError {
    StorageError::from_io_error(subject, verb, io::Error::other(message))
}

pub struct Machine {
    id: NodeId,
    epoch: u64,
    world: Shared,
    shared: Arc<SharedStore>,
    last_applied: Option<LogId>,
    membership: StoredMembership,
}

impl Machine {
    /// Server `id`'s state machine as its disk has it: the newest snapshot, or empty.
    pub fn open(id: NodeId, world: &Shared) -> Machine {
        let (epoch, snapshot) = with(world, |world| {
            let disk = &world.slot(id).disk;
            (disk.epoch, disk.snapshot.clone())
        });
        let mut machine = Machine {
            id,
            epoch,
            world: world.clone(),
            shared: Arc::new(SharedStore::new(Store::new())),
            last_applied: None,
            membership: StoredMembership::default(),
        };
        if let Some((meta, data)) = snapshot {
            let store = Store::restore(&data).expect("a snapshot this simulation wrote");
            machine.shared.replace(store);
            machine.last_applied = meta.last_log_id;
            machine.membership = meta.last_membership;
        }
        with(world, |world| {
            world
                .check
                .machine_opened(id, machine.last_applied.map(|id| id.index))
        });
        machine
    }

    pub fn store(&self) -> Arc<SharedStore> {
        self.shared.clone()
    }

    fn alive(&self) -> Result<(), StorageError> {
        let epoch = with(&self.world, |world| world.slot(self.id).disk.epoch);
        if epoch == self.epoch {
            Ok(())
        } else {
            Err(error(
                ErrorSubject::StateMachine,
                ErrorVerb::Write,
                "the server crashed".to_owned(),
            ))
        }
    }

    /// Digest of the catalog as it is now, and the catalog's broken rules.
    fn state(&self) -> (u64, Vec<String>) {
        let store = self.shared.read();
        let broken = legate_catalog::invariants::check(&store).err();
        (digest(&store.snapshot()), broken.unwrap_or_default())
    }
}

/// The payload as the (possibly defective) server applies it.
fn as_applied(payload: &LogPayload, local_clock: Option<u64>) -> LogPayload {
    match local_clock {
        Some(now) => LogPayload::stamped(now, payload.command().clone()),
        None => payload.clone(),
    }
}

impl RaftStateMachine<TypeConfig> for Machine {
    type SnapshotBuilder = Builder;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), StorageError> {
        Ok((self.last_applied, self.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<CommandResult>, StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        self.alive()?;
        let entries: Vec<Entry> = entries.into_iter().collect();
        let local_clock = with(&self.world, |world| {
            world.bugs.local_clock.then(|| world.clock_ms(self.id))
        });
        let payloads: Vec<(Index, Option<LogPayload>)> = entries
            .iter()
            .map(|entry| {
                let payload = match &entry.payload {
                    EntryPayload::Normal(payload) => Some(as_applied(payload, local_clock)),
                    EntryPayload::Blank | EntryPayload::Membership(_) => None,
                };
                (Index(entry.log_id.index), payload)
            })
            .collect();
        let results = self.shared.apply_batch(
            payloads
                .iter()
                .map(|(index, payload)| (*index, payload.as_ref())),
        );
        let applied: Vec<(LogId, u64)> = entries
            .iter()
            .map(|entry| {
                let bytes = match &entry.payload {
                    EntryPayload::Normal(payload) => codec::encode(payload),
                    EntryPayload::Blank => Vec::new(),
                    EntryPayload::Membership(membership) => format!("{membership:?}").into_bytes(),
                };
                (entry.log_id, digest(&bytes))
            })
            .collect();
        let (state, broken) = self.state();
        let id = self.id;
        with(&self.world, |world| {
            world.check.applied(id, &applied, state, broken);
            if let Some((last, _)) = applied.last() {
                let first = applied[0].0.index;
                world.note(("apply", id, first, (last.leader_id.term, last.index), state));
            }
        });
        answer_entries(
            entries,
            results,
            &mut self.last_applied,
            &mut self.membership,
        )
    }

    async fn get_snapshot_builder(&mut self) -> Builder {
        Builder {
            id: self.id,
            epoch: self.epoch,
            world: self.world.clone(),
            meta: SnapshotMeta {
                last_log_id: self.last_applied,
                last_membership: self.membership.clone(),
                snapshot_id: format!("{:?}", self.last_applied),
            },
            bytes: self.shared.read().snapshot(),
        }
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, StorageError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError> {
        self.alive()?;
        let data = snapshot.into_inner();
        let subject = ErrorSubject::Snapshot(Some(meta.signature()));
        let store =
            Store::restore(&data).map_err(|e| error(subject, ErrorVerb::Read, e.to_string()))?;
        self.shared.replace(store);
        self.last_applied = meta.last_log_id;
        self.membership = meta.last_membership.clone();
        let (state, broken) = self.state();
        let id = self.id;
        let index = meta.last_log_id.map_or(0, |log_id| log_id.index);
        let saved = (meta.clone(), data);
        with(&self.world, |world| {
            world.slot(id).disk.snapshot = Some(saved);
            world.check.installed(id, index, state, broken);
            world.note(("install", id, index, state));
        });
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot>, StorageError> {
        self.alive()?;
        let id = self.id;
        let saved = with(&self.world, |world| world.slot(id).disk.snapshot.clone());
        Ok(saved.map(|(meta, data)| Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(data)),
        }))
    }
}

/// A copy of the catalog at one applied log id, saved to the disk when openraft asks.
pub struct Builder {
    id: NodeId,
    epoch: u64,
    world: Shared,
    meta: SnapshotMeta,
    bytes: Vec<u8>,
}

impl RaftSnapshotBuilder<TypeConfig> for Builder {
    async fn build_snapshot(&mut self) -> Result<Snapshot, StorageError> {
        let (id, epoch) = (self.id, self.epoch);
        let saved = (self.meta.clone(), self.bytes.clone());
        let index = self.meta.last_log_id.map_or(0, |log_id| log_id.index);
        let alive = with(&self.world, |world| {
            let disk = &mut world.slot(id).disk;
            if disk.epoch != epoch {
                return false;
            }
            // A snapshot installed while this one was being built is newer: the agent's
            // snapshot directory keeps both and reads the newest.
            let newest = disk.snapshot.as_ref().map(|(meta, _)| meta.last_log_id);
            if newest.is_some_and(|newest| newest > saved.0.last_log_id) {
                return true;
            }
            disk.snapshot = Some(saved);
            world.note(("snapshot", id, index));
            true
        });
        if !alive {
            return Err(error(
                ErrorSubject::Snapshot(None),
                ErrorVerb::Write,
                "the server crashed".to_owned(),
            ));
        }
        Ok(Snapshot {
            meta: self.meta.clone(),
            snapshot: Box::new(Cursor::new(self.bytes.clone())),
        })
    }
}
