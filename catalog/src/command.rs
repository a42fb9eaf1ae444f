//! The Raft log payload: typed, versioned commands and their results.
//!
//! A `Command` is durable: it sits in the Raft log and in every follower's log, possibly for a
//! long time, and is decoded by later versions of Legate. So the log carries `LogPayload`, a
//! versioned envelope, and variants are only ever appended (the codec writes the variant
//! number; see `codec` for the versioning rules and the byte fixtures that pin them). Everything `apply` needs is inside the command, including time once sessions
//! arrive, so applying the same log gives the same state on every server.

use crate::txn::{TxnError, TxnOp, TxnResult};
use crate::types::{
    AutopilotConfig, Check, CheckId, Health, Index, KvEntry, Node, NodeCoordinate, NodeName,
    PreparedQuery, Service, ServiceId, Session, SessionId,
};
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// The versioned envelope written to the Raft log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LogPayload {
    V1(Command),
    /// A command with the leader's clock when it was proposed: `apply` takes its time from
    /// here (session invalidation, lock-delay), never from the applying server's clock.
    V2(Stamped),
}

/// A command and the leader's wall clock, in milliseconds since the Unix epoch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stamped {
    pub time_ms: u64,
    pub command: Command,
}

impl LogPayload {
    /// The payload the leader appends: `command` with its clock.
    pub fn stamped(time_ms: u64, command: Command) -> LogPayload {
        LogPayload::V2(Stamped { time_ms, command })
    }

    pub fn command(&self) -> &Command {
        match self {
            LogPayload::V1(command) => command,
            LogPayload::V2(stamped) => &stamped.command,
        }
    }

    pub fn into_command(self) -> Command {
        match self {
            LogPayload::V1(command) => command,
            LogPayload::V2(stamped) => stamped.command,
        }
    }

    /// The leader's clock, if the entry carries one (V1 entries, written before sessions
    /// existed, do not; the store keeps its clock where it was).
    pub fn time_ms(&self) -> Option<u64> {
        match self {
            LogPayload::V1(_) => None,
            LogPayload::V2(stamped) => Some(stamped.time_ms),
        }
    }
}

impl From<Command> for LogPayload {
    /// The unstamped form, for a command on its way to the leader, which stamps it.
    fn from(command: Command) -> Self {
        LogPayload::V1(command)
    }
}

/// One state change, as parsed and validated at the API boundary.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// `PUT /v1/catalog/register`: a node, optionally one service and some checks.
    Register(Box<Registration>),
    /// `PUT /v1/catalog/deregister`: a node with everything on it, one service with its
    /// checks, or one check.
    Deregister(Deregistration),
    /// `PUT /v1/kv/<key>`, plain or with `?cas=`.
    KvSet(KvSet),
    /// `DELETE /v1/kv/<key>`, plain, `?cas=` or `?recurse`.
    KvDelete(KvDelete),
    /// The leader's tombstone GC: forget tombstones at or below this index. The leader picks
    /// the index from its own timer (tombstones older than `tombstone_ttl`), so the clock
    /// never enters `apply`.
    ReapTombstones(Index),
    /// Several commands proposed concurrently, applied in order at one index, under one
    /// lock, as one Raft entry: one append, one fsync and one apply for many writers. Readers
    /// never see part of a batch, so it behaves like a Consul transaction of independent
    /// operations. Batches do not nest.
    Batch(Vec<Command>),
    /// `PUT /v1/operator/autopilot/configuration[?cas=]`, and the leader's initial write of
    /// the configured settings. Answers `Condition`.
    AutopilotSet(AutopilotSet),
    /// `PUT /v1/session/create`. The leader assigns the id (`Command::assign_ids`) before
    /// the command enters the log; answers `SessionCreated`.
    SessionCreate(Box<Session>),
    /// `PUT /v1/session/destroy/<id>`, and the leader's TTL expiry: invalidates the session
    /// (its locks released or deleted, lock-delay set). Succeeds for an unknown session.
    SessionDestroy(SessionId),
    /// `PUT /v1/txn`: operations applied all together or not at all; answers `Txn`.
    Txn(Vec<TxnOp>),
    /// Agents' network coordinates, batched by a server (`PUT /v1/coordinate/update` and
    /// each agent's periodic report). Coordinates of unknown nodes and invalid ones are
    /// skipped, as Consul skips them.
    CoordinateBatch(Vec<NodeCoordinate>),
    /// `POST /v1/query` (create: the leader assigns the id) or `PUT /v1/query/<id>`;
    /// answers `QuerySaved`.
    QuerySet(QuerySet),
    /// `DELETE /v1/query/<id>`.
    QueryDelete(String),
}

/// A prepared query written whole. The store sets its indexes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuerySet {
    pub query: PreparedQuery,
    /// A new query (refused if its id exists) rather than an update (refused if it does
    /// not).
    pub create: bool,
}

impl Command {
    /// Gives every session created by this command (or batch) an id from `fresh`, where it
    /// has none. The leader calls this before proposing, so the id is in the log and every
    /// server applies the same one.
    pub fn assign_ids(&mut self, fresh: &mut impl FnMut() -> String) {
        match self {
            Command::SessionCreate(session) if session.id.as_str().is_empty() => {
                session.id = SessionId::new(fresh());
            }
            Command::QuerySet(set) if set.create && set.query.id.is_empty() => {
                set.query.id = fresh();
            }
            Command::Batch(commands) => {
                for command in commands {
                    command.assign_ids(fresh);
                }
            }
            _ => {}
        }
    }
}

/// An autopilot configuration write. Only the settings of `config` are taken; the store
/// sets its indexes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AutopilotSet {
    pub config: AutopilotConfig,
    /// Check-and-set: apply only if the stored configuration's `ModifyIndex` is this one (a
    /// missing configuration never matches, as in Consul).
    pub cas: Option<Index>,
}

/// A catalog registration. Records carry their content only; the store sets their indexes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registration {
    pub node: Node,
    /// Keep the stored node as it is if it already exists (Consul's `SkipNodeUpdate`).
    pub skip_node_update: bool,
    pub service: Option<Service>,
    pub checks: Vec<Check>,
}

/// What a deregistration removes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Deregistration {
    Node(NodeName),
    Service(NodeName, ServiceId),
    Check(NodeName, CheckId),
}

/// A KV write. Only `key`, `value` and `flags` of `entry` are taken from the request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvSet {
    pub entry: KvEntry,
    pub condition: KvCondition,
}

/// When a KV write takes effect.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum KvCondition {
    /// Always (answers `true`).
    Always,
    /// Check-and-set: 0 means "only if the key does not exist", any other index must equal
    /// the key's `ModifyIndex`.
    ModifyIndex(Index),
    /// `?acquire=<session>`: take the lock if it is free (or already this session's) and
    /// the key's lock-delay has passed.
    Acquire(SessionId),
    /// `?release=<session>`: let go of the lock, only if this session holds it.
    Release(SessionId),
}

/// A KV delete.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvDelete {
    pub key: String,
    pub mode: KvDeleteMode,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum KvDeleteMode {
    /// The one key; succeeds whether or not it exists.
    Key,
    /// The one key, only if its `ModifyIndex` equals this one. As in Consul, a key that does
    /// not exist counts as deleted (`true`).
    ModifyIndex(Index),
    /// Every key starting with `key`.
    Tree,
}

/// What an applied command answers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    /// The command took effect, or changed nothing because there was nothing to change.
    Done,
    /// A conditional command's verdict, sent to clients as the JSON literal `true`/`false`.
    Condition(bool),
    /// One result per command of a `Command::Batch`, in order.
    Batch(Vec<CommandResult>),
    /// The id of the session a `SessionCreate` made.
    SessionCreated(SessionId),
    /// A transaction's results, or why it was rolled back (one error per failed operation).
    Txn(Result<Vec<TxnResult>, Vec<TxnError>>),
    /// The id of the prepared query a `QuerySet` wrote.
    QuerySaved(String),
}

/// A command the store refused. The store is unchanged; retrying the same command fails the
/// same way, because `apply` is deterministic.
#[derive(Clone, Debug, PartialEq, Eq, Error, Serialize, Deserialize)]
pub enum ApplyError {
    #[error("Missing node registration")]
    MissingNode,
    #[error("Missing service registration")]
    MissingService,
    #[error("Must provide node")]
    MissingNodeName,
    #[error("Must provide service name")]
    MissingServiceName,
    #[error("a batch cannot contain a batch")]
    NestedBatch,
    #[error("Missing session ID")]
    MissingSessionId,
    #[error("Missing check '{0}' registration")]
    MissingCheck(CheckId),
    #[error("Check '{0}' is in {state} state", state = .1.as_str())]
    CheckInState(CheckId, Health),
    /// `?acquire` or `?release` without a session.
    #[error("missing session")]
    MissingSession,
    /// `?acquire` with a session that does not exist.
    #[error("invalid session {:?}", .0.as_str())]
    InvalidSession(SessionId),
    #[error("Session ID already exists")]
    SessionExists,
    /// A prepared query's name is another query's (Consul's wording).
    #[error("name '{0}' aliases an existing query name")]
    QueryNameTaken(String),
    /// An update or delete of a prepared query that does not exist.
    #[error("Cannot modify non-existent prepared query: '{0}'")]
    MissingQuery(String),
    /// A create with an id that exists (a leader re-proposing after a lost answer).
    #[error("prepared query '{0}' already exists")]
    QueryExists(String),
}

/// The result stored per log entry and returned to the writer.
pub type CommandResult = Result<Outcome, ApplyError>;
