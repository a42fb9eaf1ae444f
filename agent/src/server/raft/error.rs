//! What can go wrong when starting Raft, writing through it, or reading linearizably.
//!
//! Each variant says whether state changed and whether a retry helps, because the HTTP layer
//! must tell a client either "not applied, try again" or "may have been applied".

use super::metrics::Peer;
use super::types::{NodeId, StorageError};
use openraft::error::{ClientWriteError, Fatal, ForwardToLeader, RaftError};
use openraft::{AnyError, BasicNode, ErrorSubject, ErrorVerb, StorageIOError};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use thiserror::Error;

/// Builds the `StorageError` openraft expects from any I/O or decoding failure, so storage
/// code never has to panic.
pub(super) fn storage_error<E>(
    subject: ErrorSubject<NodeId>,
    verb: ErrorVerb,
    error: E,
) -> StorageError
where
    E: std::error::Error + 'static,
{
    StorageIOError::new(subject, verb, AnyError::new(&error)).into()
}

/// Raft could not start. Nothing was written, except possibly the initial membership entry
/// for `Bootstrap` failures; starting again with the same options is safe.
#[derive(Debug, Error)]
pub enum RaftStartError {
    /// The options contradict each other. Fix the configuration; a retry does not help.
    #[error("invalid raft options: {0}")]
    Options(String),
    /// openraft rejected the timing options. Fix the configuration.
    #[error("invalid raft timing: {0}")]
    Config(Box<openraft::ConfigError>),
    /// sled could not open the database: permissions, a full disk, or another process holding
    /// the directory. Retrying helps only once the cause is gone.
    #[error("cannot open the raft database at {}: {source}", path.display())]
    Database {
        path: PathBuf,
        #[source]
        source: sled::Error,
    },
    /// The shared store already holds state. Raft must be its only writer, or re-applying
    /// the log would apply commands twice.
    #[error("the shared store is not empty (last index {0}); raft must build it")]
    StoreNotEmpty(u64),
    /// Reading the log, the vote or the newest snapshot failed (I/O or corruption).
    #[error("raft storage: {0}")]
    Storage(Box<StorageError>),
    /// The Raft task stopped while starting, usually because storage failed.
    #[error("raft stopped while starting: {0}")]
    Stopped(Box<Fatal<NodeId>>),
    /// Writing the initial single-server membership failed.
    #[error("cannot bootstrap the cluster: {0}")]
    Bootstrap(String),
}

// openraft's errors are large; boxed, they keep `Result<_, RaftStartError>` small.
impl From<openraft::ConfigError> for RaftStartError {
    fn from(error: openraft::ConfigError) -> Self {
        RaftStartError::Config(Box::new(error))
    }
}

impl From<StorageError> for RaftStartError {
    fn from(error: StorageError) -> Self {
        RaftStartError::Storage(Box::new(error))
    }
}

impl From<Fatal<NodeId>> for RaftStartError {
    fn from(error: Fatal<NodeId>) -> Self {
        RaftStartError::Stopped(Box::new(error))
    }
}

/// A write that did not produce a result. Clone, so that every writer of a batched entry
/// can be told.
///
/// Two kinds, and callers must keep them apart (a client told "not applied" may retry, and a
/// retry of a write that did apply applies it twice): `NotLeader`, `Refused` and
/// `ShuttingDown` were never appended; `Storage` and `Indeterminate` may have been.
#[derive(Clone, Debug, Error)]
pub enum WriteError {
    /// This server is not the leader. The command was neither appended nor applied: send it
    /// to `leader` when known, or retry once an election has finished.
    #[error("not the leader{}", describe_leader(.leader))]
    NotLeader { leader: Option<Peer> },
    /// Raft refused the entry itself (a membership change in progress). Not applied; retry.
    #[error("write refused: {0}")]
    Refused(String),
    /// The agent is shutting down and the command never reached Raft. Not applied; retry on
    /// another server.
    #[error("the agent is shutting down; the write was not applied")]
    ShuttingDown,
    /// The leader's data directory is nearly full (see `disk_guard`); the message says where.
    /// Not applied; retry once space is freed (or another server leads).
    #[error("{0}")]
    DiskFull(String),
    /// The log's storage failed, and Raft stopped. The entry may have been appended (and be
    /// applied after a restart or by another leader), so the outcome is unknown.
    #[error("raft storage failed; the write may have been applied: {source}")]
    Storage { source: Arc<StorageError> },
    /// The command was handed to Raft and then lost from sight (Raft stopped, the reply was
    /// lost, the leader changed before an answer): it may or may not be applied. Retrying
    /// blindly can apply it twice; a conditional write (`?cas=`) is safe to retry.
    #[error("the write's outcome is unknown (it may have been applied): {reason}")]
    Indeterminate { reason: String },
}

impl WriteError {
    /// Whether the command may have been applied.
    pub fn may_have_applied(&self) -> bool {
        matches!(
            self,
            WriteError::Storage { .. } | WriteError::Indeterminate { .. }
        )
    }
}

impl From<RaftError<NodeId, ClientWriteError<NodeId, BasicNode>>> for WriteError {
    fn from(error: RaftError<NodeId, ClientWriteError<NodeId, BasicNode>>) -> Self {
        match error {
            RaftError::APIError(ClientWriteError::ForwardToLeader(forward)) => {
                WriteError::NotLeader {
                    leader: Peer::from_forward(forward),
                }
            }
            RaftError::APIError(ClientWriteError::ChangeMembershipError(refused)) => {
                WriteError::Refused(refused.to_string())
            }
            RaftError::Fatal(Fatal::StorageError(source)) => WriteError::Storage {
                source: Arc::new(source),
            },
            RaftError::Fatal(fatal) => WriteError::Indeterminate {
                reason: fatal.to_string(),
            },
        }
    }
}

/// Leadership could not be confirmed for a linearizable read. Nothing was read or changed.
#[derive(Debug, Error)]
pub enum ReadError {
    /// This server is not the leader: read at `leader`, or retry after the election.
    #[error("not the leader{}", describe_leader(.leader))]
    NotLeader { leader: Option<Peer> },
    /// A quorum did not confirm this leader (a partition, or a newer term). Retry later.
    #[error("leadership not confirmed by a quorum: {0}")]
    NoQuorum(String),
    /// Raft stopped. Retrying on this server does not help.
    #[error("raft stopped: {0}")]
    Stopped(Box<Fatal<NodeId>>),
}

impl From<RaftError<NodeId, openraft::error::CheckIsLeaderError<NodeId, BasicNode>>> for ReadError {
    fn from(
        error: RaftError<NodeId, openraft::error::CheckIsLeaderError<NodeId, BasicNode>>,
    ) -> Self {
        use openraft::error::CheckIsLeaderError;
        match error {
            RaftError::APIError(CheckIsLeaderError::ForwardToLeader(forward)) => {
                ReadError::NotLeader {
                    leader: Peer::from_forward(forward),
                }
            }
            RaftError::APIError(CheckIsLeaderError::QuorumNotEnough(quorum)) => {
                ReadError::NoQuorum(quorum.to_string())
            }
            RaftError::Fatal(fatal) => ReadError::Stopped(Box::new(fatal)),
        }
    }
}

/// No leader became known in time. Nothing changed.
#[derive(Debug, Error)]
pub enum WaitError {
    /// The deadline passed; retrying with a longer one may help.
    #[error("no leader within {0:?}")]
    Timeout(Duration),
    /// Raft is shutting down; retrying does not help.
    #[error("raft is shutting down")]
    ShuttingDown,
}

impl Peer {
    fn from_forward(forward: ForwardToLeader<NodeId, BasicNode>) -> Option<Peer> {
        let id = forward.leader_id?;
        Some(Peer {
            id,
            addr: forward.leader_node.map(|node| node.addr),
        })
    }
}

fn describe_leader(leader: &Option<Peer>) -> String {
    match leader {
        None => "; no leader is known".to_owned(),
        Some(leader) => format!("; the leader is {leader}"),
    }
}
