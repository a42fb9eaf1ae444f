//! The Raft state machine: committed entries into the in-memory catalog, plus snapshots.
//!
//! The catalog (`SharedStore`) is never written to disk entry by entry; reads are CPU-bound
//! and must not touch disk. Durability comes from the log and from snapshot files instead:
//! 1. `apply` hands each batch of committed entries to `SharedStore::apply_batch` under one
//!    lock, so blocked readers wake once per batch rather than once per entry.
//! 2. A snapshot is the catalog's own bytes (`Store::snapshot`) plus the last applied log id
//!    and membership, kept in `snapshot_file`'s format; openraft then purges the log below it
//!    (keeping `trailing_logs`).
//! 3. On start, `open` loads the newest snapshot file into the `SharedStore`; openraft then
//!    re-applies the log tail up to the saved committed index, so a restarted server serves
//!    what it served before.
//!
//! The snapshot builder copies the catalog's bytes when openraft asks for a builder (on the
//! state machine's task, between batches), so the copy matches `last_applied` exactly; the
//! slow part, writing and fsyncing the file, runs later on a blocking thread.

// openraft's storage traits return its `StorageError`, which is large; our helpers return
// it too rather than boxing it only to unbox it again at the trait boundary.
#![allow(clippy::result_large_err)]

use super::durability::Durability;
use super::error::storage_error;
use super::snapshot_file::SnapshotDir;
use super::types::TypeConfig;
use super::types::{Entry, LogId, Snapshot, SnapshotMeta, StorageError, StoredMembership};
use crate::telemetry;
use legate_catalog::{CommandResult, Index, Outcome, SharedStore, Store};
use openraft::storage::RaftStateMachine;
use openraft::{EntryPayload, ErrorSubject, ErrorVerb, OptionalSend, RaftSnapshotBuilder};
use std::io::{self, Cursor};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

/// Applies committed entries to the shared catalog and keeps its snapshots.
pub struct StateMachine {
    shared: Arc<SharedStore>,
    last_applied: Option<LogId>,
    last_membership: StoredMembership,
    snapshots: SnapshotDir,
    /// Gate 1 of `durability`: nothing is applied before this server's log holds it durably.
    durability: Option<Durability>,
}

impl StateMachine {
    /// Opens the snapshot directory `dir` and loads its newest snapshot, if any, into
    /// `shared`, which must not have been written yet (Raft is its only writer).
    pub async fn open(
        dir: impl Into<PathBuf>,
        shared: Arc<SharedStore>,
    ) -> Result<StateMachine, StorageError> {
        let dir = dir.into();
        let (snapshots, latest) = blocking(move || {
            let snapshots = SnapshotDir::open(dir)?;
            let latest = snapshots.latest()?;
            Ok((snapshots, latest))
        })
        .await
        .map_err(|e| storage_error(ErrorSubject::Snapshot(None), ErrorVerb::Read, e))?;
        let mut machine = StateMachine {
            shared,
            last_applied: None,
            last_membership: StoredMembership::default(),
            snapshots,
            durability: None,
        };
        if let Some((meta, data)) = latest {
            let store = restore(&meta, &data)?;
            machine.shared.replace(store);
            machine.last_applied = meta.last_log_id;
            machine.last_membership = meta.last_membership;
        }
        Ok(machine)
    }

    /// Applies entries only once `durability` says the log holds them on disk.
    pub fn with_durability(mut self, durability: Durability) -> StateMachine {
        self.durability = Some(durability);
        self
    }
}

/// One answer per applied entry, in order: the catalog's `results` for the normal entries
/// (one each), `Done` for blank and membership entries. Notes the newest membership and the
/// last applied log id as it goes. Shared with the simulation (`agent/tests/sim`).
pub fn answer_entries(
    entries: Vec<Entry>,
    results: Vec<CommandResult>,
    last_applied: &mut Option<LogId>,
    membership: &mut StoredMembership,
) -> Result<Vec<CommandResult>, StorageError> {
    let mut results = results.into_iter();
    let mut responses = Vec::with_capacity(entries.len());
    for entry in entries {
        let response = match entry.payload {
            EntryPayload::Normal(_) => results.next().ok_or_else(|| {
                let missing = io::Error::other("the catalog returned too few results");
                storage_error(ErrorSubject::Apply(entry.log_id), ErrorVerb::Write, missing)
            })?,
            EntryPayload::Membership(changed) => {
                *membership = StoredMembership::new(Some(entry.log_id), changed);
                Ok(Outcome::Done)
            }
            EntryPayload::Blank => Ok(Outcome::Done),
        };
        *last_applied = Some(entry.log_id);
        responses.push(response);
    }
    Ok(responses)
}

fn snapshot_write_error(meta: &SnapshotMeta, error: io::Error) -> StorageError {
    storage_error(
        ErrorSubject::Snapshot(Some(meta.signature())),
        ErrorVerb::Write,
        error,
    )
}

/// Runs blocking file I/O off the async worker threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(io::Error::other)?
}

fn restore(meta: &SnapshotMeta, data: &[u8]) -> Result<Store, StorageError> {
    let subject = ErrorSubject::Snapshot(Some(meta.signature()));
    Store::restore(data).map_err(|e| storage_error(subject, ErrorVerb::Read, e))
}

fn snapshot_id(last_applied: &Option<LogId>) -> String {
    match last_applied {
        Some(log_id) => format!("{}-{}", log_id.leader_id.term, log_id.index),
        None => "empty".to_owned(),
    }
}

/// A view of the catalog at one applied log id, waiting to be serialised and written.
///
/// openraft runs `build_snapshot` in its own task while entries keep being applied, so the
/// builder holds a clone of the store: the store's tables are persistent maps, so taking the
/// clone under the read lock is O(1), and serialising it holds no lock at all.
pub struct SnapshotBuilder {
    meta: SnapshotMeta,
    view: Option<Store>,
    snapshots: SnapshotDir,
}

impl RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder {
    async fn build_snapshot(&mut self) -> Result<Snapshot, StorageError> {
        let meta = self.meta.clone();
        let view = self.view.take().unwrap_or_default();
        let snapshots = self.snapshots.clone();
        let written = meta.clone();
        let started = Instant::now();
        let size = blocking(move || {
            let size = view.snapshot_size();
            snapshots.write_with(&written, size, |writer| {
                view.write_snapshot(writer).map_err(io::Error::other)
            })?;
            Ok(size)
        })
        .await
        .map_err(|e| snapshot_write_error(&meta, e))?;
        telemetry::snapshot_persisted(started, size);
        // openraft 0.9 takes only the metadata of a built snapshot (`core/sm/worker.rs`:
        // `res.map(|snap| Response::BuildSnapshot(snap.meta))`) and serves snapshots to
        // followers through `get_current_snapshot`, which reads the file. So the data is
        // streamed to the file and not kept in memory here.
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(Vec::new())),
        })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = SnapshotBuilder;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), StorageError> {
        Ok((self.last_applied, self.last_membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<CommandResult>, StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let entries: Vec<Entry> = entries.into_iter().collect();
        let delay = crate::fault::apply_delay();
        if !delay.is_zero() {
            // Fault injection only (`fault`): a copy that is sure to lag.
            tokio::time::sleep(delay).await;
        }
        if let (Some(durability), Some(last)) = (&self.durability, entries.last()) {
            if let Err(error) = durability.wait_index(last.log_id.index).await {
                return Err(storage_error(
                    ErrorSubject::Apply(last.log_id),
                    ErrorVerb::Write,
                    error,
                ));
            }
        }
        let batch = entries.iter().map(|entry| {
            let payload = match &entry.payload {
                EntryPayload::Normal(payload) => Some(payload),
                EntryPayload::Blank | EntryPayload::Membership(_) => None,
            };
            (Index(entry.log_id.index), payload)
        });
        // One result per command, in order; blank and membership entries have none.
        let started = Instant::now();
        let results = self.shared.apply_batch(batch);
        metrics::histogram!("consul.raft.fsm.apply").record(telemetry::millis_since(started));
        answer_entries(
            entries,
            results,
            &mut self.last_applied,
            &mut self.last_membership,
        )
    }

    async fn get_snapshot_builder(&mut self) -> SnapshotBuilder {
        let view = self.shared.read().clone();
        SnapshotBuilder {
            meta: SnapshotMeta {
                last_log_id: self.last_applied,
                last_membership: self.last_membership.clone(),
                snapshot_id: snapshot_id(&self.last_applied),
            },
            view: Some(view),
            snapshots: self.snapshots.clone(),
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
        let data = snapshot.into_inner();
        // Decode and check first: a bad snapshot is refused before anything is replaced.
        let store = restore(meta, &data)?;
        let snapshots = self.snapshots.clone();
        let written = meta.clone();
        blocking(move || snapshots.write(&written, &data))
            .await
            .map_err(|e| snapshot_write_error(meta, e))?;
        self.shared.replace(store);
        self.last_applied = meta.last_log_id;
        self.last_membership = meta.last_membership.clone();
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot>, StorageError> {
        let snapshots = self.snapshots.clone();
        let latest = blocking(move || snapshots.latest())
            .await
            .map_err(|e| storage_error(ErrorSubject::Snapshot(None), ErrorVerb::Read, e))?;
        Ok(latest.map(|(meta, data)| Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(data)),
        }))
    }
}
