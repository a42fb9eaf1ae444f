//! The in-memory state store: tables, their indexes, and `apply`.
//!
//! Every table is an ordered map keyed the way Consul's memdb keys it (node and service names
//! folded to lower case), so listings come out in Consul's order (node name, then service id)
//! and lookups ignore case. `apply` validates a whole command before touching any table, so a
//! refused command leaves no trace, and it records which parts of the store it touched so the
//! watch registry can wake exactly the blocked queries that care.

mod catalog;
mod coordinate;
mod kv;
mod prepared_query;
mod session;
mod snapshot;
mod txn;

pub use snapshot::SnapshotError;

use crate::command::{ApplyError, Command, CommandResult, Outcome};
use crate::types::{Check, Index, KvEntry, Node, Service, ServiceName};
use crate::watch::Touched;
use imbl::{OrdMap, OrdSet};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Case-folded node name, the key of the node table.
pub(crate) type NodeKey = String;
/// (node, service id), both case-folded.
pub(crate) type ServiceKey = (String, String);
/// (node, check id), both case-folded.
pub(crate) type CheckKey = (String, String);

pub(crate) fn fold(text: &str) -> String {
    text.to_lowercase()
}

/// The highest index at which each table changed. These answer `X-Consul-Index` for
/// table-wide queries, and never go down while the store lives (a restore replaces them).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableIndexes {
    pub nodes: Index,
    pub services: Index,
    pub checks: Index,
    pub kvs: Index,
    pub tombstones: Index,
}

/// The replicated state. Only `apply` and `restore` change it.
///
/// Tables are persistent ordered maps (`imbl`), so `clone` is O(1) and shares structure:
/// a snapshot is taken from a clone outside the store's lock while writes go on, instead of
/// stalling every write while the whole store is serialised.
#[derive(Clone, Debug, Default)]
pub struct Store {
    pub(crate) nodes: OrdMap<NodeKey, Node>,
    pub(crate) services: OrdMap<ServiceKey, Service>,
    /// Instances of each service, by folded service name: a derived index, rebuilt on restore.
    pub(crate) services_by_name: OrdMap<String, OrdSet<ServiceKey>>,
    pub(crate) checks: OrdMap<CheckKey, Check>,
    /// Entries behind `Arc`: a write while a snapshot view is alive copies the tree node it
    /// touches, and with values inline that would deep-copy up to 64 entries per write.
    pub(crate) kv: OrdMap<String, Arc<KvEntry>>,
    /// Deleted keys (or deleted subtrees, for a tree delete) and the index of their deletion,
    /// so a prefix's index never falls when keys under it go away.
    pub(crate) tombstones: OrdMap<String, Index>,
    pub(crate) tables: TableIndexes,
    /// Per service name (folded): the last index at which an instance, one of its checks, or
    /// its node changed. Removed with the last instance, after which queries fall back to the
    /// services table index, which that removal raised.
    pub(crate) service_indexes: OrdMap<String, Index>,
    /// Autopilot's settings, once the leader or an operator wrote them.
    pub(crate) autopilot: Option<crate::types::AutopilotConfig>,
    /// Sessions by id.
    pub(crate) sessions: OrdMap<String, crate::types::Session>,
    /// The index at which a session was last created or invalidated (kept apart from
    /// `tables`, whose layout is part of the version 1 snapshot).
    pub(crate) sessions_index: Index,
    /// Session ids per node (folded name): a derived index, rebuilt on restore.
    pub(crate) sessions_by_node: OrdMap<NodeKey, OrdSet<String>>,
    /// Keys held per session id: a derived index, rebuilt on restore.
    pub(crate) session_locks: OrdMap<String, OrdSet<String>>,
    /// Keys whose lock-delay is running, and when it ends (ms since the epoch).
    pub(crate) lock_delays: OrdMap<String, u64>,
    /// The leader's clock as of the last applied entry (ms since the epoch); see
    /// `advance_clock`.
    pub(crate) clock_ms: u64,
    /// Network coordinates by (folded node name, segment).
    pub(crate) coordinates: OrdMap<(NodeKey, String), crate::types::NodeCoordinate>,
    /// The index at which a coordinate last changed.
    pub(crate) coordinates_index: Index,
    /// Prepared queries by id.
    pub(crate) queries: OrdMap<String, crate::types::PreparedQuery>,
    /// The index at which a prepared query last changed.
    pub(crate) queries_index: Index,
    /// The index of the last applied command.
    pub(crate) last_index: Index,
    /// What the commands applied since the last `take_touched` changed.
    pub(crate) touched: Vec<Touched>,
}

impl Store {
    pub fn new() -> Store {
        Store::default()
    }

    /// Applies one committed command at `index`. Deterministic: the result depends only on
    /// the store and the arguments. Indexes must rise from call to call.
    pub fn apply(&mut self, index: Index, command: &Command) -> CommandResult {
        debug_assert!(
            index > self.last_index,
            "apply at {index} after {}",
            self.last_index
        );
        self.last_index = self.last_index.max(index);
        match command {
            Command::Batch(commands) => Ok(Outcome::Batch(
                commands
                    .iter()
                    .map(|command| self.apply_one(index, command))
                    .collect(),
            )),
            other => self.apply_one(index, other),
        }
    }

    fn apply_one(&mut self, index: Index, command: &Command) -> CommandResult {
        match command {
            Command::Batch(_) => Err(ApplyError::NestedBatch),
            Command::Register(registration) => self.register(index, registration),
            Command::Deregister(deregistration) => self.deregister(index, deregistration),
            Command::KvSet(set) => self.kv_set(index, set),
            Command::KvDelete(delete) => Ok(self.kv_delete(index, delete)),
            Command::ReapTombstones(up_to) => Ok(self.reap_tombstones(index, *up_to)),
            Command::AutopilotSet(set) => Ok(self.autopilot_set(index, set)),
            Command::SessionCreate(session) => self.session_create(index, session),
            Command::SessionDestroy(id) => Ok(self.session_destroy(index, id)),
            Command::Txn(ops) => Ok(self.apply_txn(index, ops)),
            Command::CoordinateBatch(updates) => Ok(self.coordinate_batch(index, updates)),
            Command::QuerySet(set) => self.query_set(index, set),
            Command::QueryDelete(id) => self.query_delete(index, id),
        }
    }

    fn autopilot_set(&mut self, index: Index, set: &crate::command::AutopilotSet) -> Outcome {
        if let Some(cas) = set.cas {
            let matches = self
                .autopilot
                .as_ref()
                .is_some_and(|existing| existing.indexes.modify_index == cas);
            if !matches {
                return Outcome::Condition(false);
            }
        }
        let create_index = self
            .autopilot
            .as_ref()
            .map_or(index, |existing| existing.indexes.create_index);
        let mut config = set.config.clone();
        config.indexes = crate::types::RaftIndexes {
            create_index,
            modify_index: index,
        };
        self.autopilot = Some(config);
        Outcome::Condition(true)
    }

    /// Autopilot's stored settings, if any were written.
    pub fn autopilot(&self) -> Option<&crate::types::AutopilotConfig> {
        self.autopilot.as_ref()
    }

    /// Notes an index that carried no command (a Raft blank or membership entry), so that
    /// `last_index` keeps pace with the log.
    pub fn skip(&mut self, index: Index) {
        self.last_index = self.last_index.max(index);
    }

    /// The index of the last applied log entry.
    pub fn last_index(&self) -> Index {
        self.last_index
    }

    pub fn table_indexes(&self) -> TableIndexes {
        self.tables
    }

    /// The index of the last session change.
    pub fn sessions_index(&self) -> Index {
        self.sessions_index
    }

    /// Drains the record of what changed since the last call, for the watch registry.
    pub fn take_touched(&mut self) -> Vec<Touched> {
        std::mem::take(&mut self.touched)
    }

    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    pub fn service_count(&self) -> usize {
        self.services.len()
    }

    pub fn check_count(&self) -> usize {
        self.checks.len()
    }

    pub fn kv_count(&self) -> usize {
        self.kv.len()
    }

    pub fn tombstone_count(&self) -> usize {
        self.tombstones.len()
    }

    pub(crate) fn service_index(&self, name: &ServiceName) -> Index {
        self.service_indexes
            .get(&fold(name.as_str()))
            .copied()
            .unwrap_or(self.tables.services)
    }
}
