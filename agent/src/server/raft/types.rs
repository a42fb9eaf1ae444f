//! The openraft type configuration and the aliases the rest of `server::raft` uses.
//!
//! openraft is generic over a `RaftTypeConfig`; fixing it once here keeps the long generic
//! names out of every other file. The log carries `LogPayload` (the catalog's versioned
//! envelope), so what is durable in the log is the catalog's format, not openraft's choice.

use legate_catalog::{CommandResult, LogPayload};
use std::io::Cursor;

openraft::declare_raft_types!(
    /// Legate's Raft types: catalog commands in, command results out.
    pub TypeConfig:
        D = LogPayload,
        R = CommandResult,
        NodeId = u128,
        // `addr` is the server RPC address ("127.0.0.1:8300"), the one peers dial.
        Node = openraft::BasicNode,
        Entry = openraft::Entry<TypeConfig>,
        // Snapshots are small enough (the catalog lives in memory anyway) to move as one buffer.
        SnapshotData = Cursor<Vec<u8>>,
        Responder = openraft::impls::OneshotResponder<TypeConfig>,
        AsyncRuntime = openraft::TokioRuntime,
);

/// A server's Raft id: its node UUID as a number, so ids of distinct servers never collide
/// and every id names one node (`operator raft list-peers` shows it as the UUID).
pub type NodeId = u128;
pub type Raft = openraft::Raft<TypeConfig>;
pub type Entry = openraft::Entry<TypeConfig>;
pub type LogId = openraft::LogId<NodeId>;
pub type Vote = openraft::Vote<NodeId>;
pub type LogState = openraft::LogState<TypeConfig>;
pub type Snapshot = openraft::Snapshot<TypeConfig>;
pub type SnapshotMeta = openraft::SnapshotMeta<NodeId, openraft::BasicNode>;
pub type StoredMembership = openraft::StoredMembership<NodeId, openraft::BasicNode>;
pub type StorageError = openraft::StorageError<NodeId>;
