//! The messages servers (and client agents) exchange on the server RPC port.
//!
//! Every message is a versioned enum encoded with `legate_catalog::codec`, under its rules: a
//! layout never changes in place, a new field means a new version, and byte fixtures pin each
//! one. Raft's messages carry the log store's own records (`record`), never openraft's types,
//! so the wire does not change when openraft does.

use crate::server::raft::record::{EntryRecord, LogIdV1, SnapshotHeader, VoteRecord};
use legate_api::backend::{
    AutopilotConfig, AutopilotHealth, AutopilotState, PeerSelector, RaftConfiguration,
};
use legate_catalog::{
    CommandResult, Coord, LogPayload, NodeCoordinate, Query, QueryResult, Session, SessionId,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A request, as the caller sends it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    V1(RequestV1),
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RequestV1 {
    /// Raft: replicate entries (or a heartbeat when empty).
    AppendEntries {
        vote: VoteRecord,
        prev_log_id: Option<LogIdV1>,
        leader_commit: Option<LogIdV1>,
        entries: Vec<EntryRecord>,
    },
    /// Raft: a candidate asks for a vote.
    Vote {
        vote: VoteRecord,
        last_log_id: Option<LogIdV1>,
    },
    /// Raft: the leader sends a whole snapshot to a follower too far behind its log.
    InstallSnapshot {
        vote: VoteRecord,
        header: SnapshotHeader,
        #[serde(with = "bytes")]
        data: Vec<u8>,
    },
    /// A write forwarded to the leader by a follower or a client agent.
    Write { command: LogPayload },
    /// A read forwarded to a server: to the leader for the default and `consistent` modes,
    /// to any server for `stale` (from a client agent).
    Read(ReadRequest),
    /// Which server leads, and who votes; any server answers from its own view.
    Status,
    /// An operator call (`/v1/operator/raft/*`, `/v1/operator/autopilot/*`) from a client
    /// agent or a follower, served by the leader where it must be.
    Operator(OperatorRequest),
    /// Leadership transfer: the leader asks this server to start an election now.
    TriggerElection,
    /// Which Raft group this server belongs to, and since when it runs (`cluster::check_group`).
    GroupInfo,
    /// The callee's disk health as its slow-disk watch sees it, for autopilot's health report.
    DiskHealth,
    /// A client agent's call for another datacenter, which this server sends on to a server
    /// of `datacenter` (`?dc=`); the answer is that server's, or `ResponseV1::Forward`.
    Forward {
        datacenter: String,
        request: Box<RequestV1>,
    },
    /// The datacenters the callee's WAN pool knows, nearest first (a client agent's
    /// `/v1/catalog/datacenters`).
    Datacenters,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum OperatorRequest {
    RaftConfiguration {
        stale: bool,
    },
    RemovePeer(PeerSelector),
    TransferLeader(Option<String>),
    AutopilotConfiguration,
    SetAutopilotConfiguration {
        config: AutopilotConfig,
        cas: Option<u64>,
    },
    AutopilotHealth,
    AutopilotState,
    /// `PUT /v1/session/renew/<id>`: restarts the session's TTL timer, which only the leader
    /// keeps.
    SessionRenew(SessionId),
    /// A keyring operation on the WAN ring, which only servers are in (a client agent's
    /// `/v1/operator/keyring`).
    WanKeyring(RingOp),
    /// An agent's network coordinate, for the leader's next coordinate batch.
    CoordinateUpdate(NodeCoordinate),
    /// The WAN coordinates of every datacenter's servers (a client's
    /// `/v1/coordinate/datacenters`).
    WanCoordinates,
    /// A user event for this server's datacenter (`/v1/event/fire/<name>?dc=`), as its
    /// gossip name and encoded payload: the server fires it on its LAN pool.
    FireEvent {
        gossip_name: String,
        #[serde(with = "bytes")]
        payload: Vec<u8>,
    },
}

/// One datacenter's servers and their WAN coordinates.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatacenterCoords {
    pub datacenter: String,
    /// WAN member name and coordinate.
    pub coordinates: Vec<(String, Coord)>,
}

impl DatacenterCoords {
    pub fn into_api(self) -> legate_api::backend::DatacenterCoordinates {
        legate_api::backend::DatacenterCoordinates {
            datacenter: self.datacenter,
            coordinates: self.coordinates,
        }
    }
}

/// A keyring operation, keys as their base64 text.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RingOp {
    List,
    Install(String),
    Use(String),
    Remove(String),
}

/// One ring's answer to a keyring operation (`api::backend::KeyringResponse`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RingAnswer {
    pub wan: bool,
    pub datacenter: String,
    pub keys: BTreeMap<String, u64>,
    pub primary_keys: BTreeMap<String, u64>,
    pub num_nodes: u64,
    pub error: Option<String>,
    pub messages: BTreeMap<String, String>,
}

impl RingOp {
    pub fn from_api(op: &legate_api::backend::KeyringOp) -> RingOp {
        use legate_api::backend::KeyringOp;
        match op {
            KeyringOp::List => RingOp::List,
            KeyringOp::Install(key) => RingOp::Install(key.as_str().to_owned()),
            KeyringOp::Use(key) => RingOp::Use(key.as_str().to_owned()),
            KeyringOp::Remove(key) => RingOp::Remove(key.as_str().to_owned()),
        }
    }

    /// Back to the API's terms; the key was checked when the request came in.
    pub fn into_api(self) -> Result<legate_api::backend::KeyringOp, String> {
        use legate_api::backend::{GossipKey, KeyringOp};
        let key = |text: String| GossipKey::parse(&text).map_err(|error| error.to_string());
        Ok(match self {
            RingOp::List => KeyringOp::List,
            RingOp::Install(text) => KeyringOp::Install(key(text)?),
            RingOp::Use(text) => KeyringOp::Use(key(text)?),
            RingOp::Remove(text) => KeyringOp::Remove(key(text)?),
        })
    }
}

impl RingAnswer {
    pub fn from_api(response: legate_api::backend::KeyringResponse) -> RingAnswer {
        let counts = |map: BTreeMap<String, usize>| {
            map.into_iter()
                .map(|(key, count)| (key, count as u64))
                .collect()
        };
        RingAnswer {
            wan: response.wan,
            datacenter: response.datacenter,
            keys: counts(response.keys),
            primary_keys: counts(response.primary_keys),
            num_nodes: response.num_nodes as u64,
            error: response.error,
            messages: response.messages,
        }
    }

    pub fn into_api(self) -> legate_api::backend::KeyringResponse {
        let counts = |map: BTreeMap<String, u64>| {
            map.into_iter()
                .map(|(key, count)| (key, count as usize))
                .collect()
        };
        legate_api::backend::KeyringResponse {
            wan: self.wan,
            datacenter: self.datacenter,
            segment: String::new(),
            keys: counts(self.keys),
            primary_keys: counts(self.primary_keys),
            num_nodes: self.num_nodes as usize,
            error: self.error,
            messages: self.messages,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum OperatorAnswer {
    RaftConfiguration(RaftConfiguration),
    Done,
    AutopilotConfiguration(AutopilotConfig),
    Condition(bool),
    AutopilotHealth(AutopilotHealth),
    AutopilotState(AutopilotState),
    /// The renewed session, or `None` for an unknown one.
    Session(Option<Session>),
    /// The WAN ring's answer to `WanKeyring`.
    Keyring(RingAnswer),
    /// Answer to `WanCoordinates`.
    WanCoordinates(Vec<DatacenterCoords>),
}

/// Why an operator call failed, in Consul's words where it has them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum OperatorError {
    /// No leader could serve it; nothing changed.
    NoLeader,
    /// The request names something that does not exist, or cannot be done; nothing changed.
    Refused(String),
    /// It may or may not have taken effect.
    Indeterminate(String),
}

/// A forwarded read and how to serve it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadRequest {
    pub query: Query,
    pub consistency: ReadConsistency,
    /// Answer only once the result's index passes this one (a blocking query)...
    pub min_index: u64,
    /// ...or once this many milliseconds have passed.
    pub wait_ms: u64,
    /// `?max_stale`, in milliseconds, for a stale read.
    pub max_stale_ms: Option<u64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReadConsistency {
    Default,
    Stale,
    Consistent,
}

impl ReadRequest {
    /// A one-off read for the agent's own uses (DNS, anti-entropy): no blocking, stale or
    /// default consistency.
    pub fn once(query: Query, stale: bool) -> ReadRequest {
        ReadRequest {
            query,
            consistency: if stale {
                ReadConsistency::Stale
            } else {
                ReadConsistency::Default
            },
            min_index: 0,
            wait_ms: 0,
            max_stale_ms: None,
        }
    }

    /// The wire form of an HTTP read with its options.
    pub fn from_api(options: &legate_api::backend::ReadOptions, query: Query) -> ReadRequest {
        let millis =
            |duration: std::time::Duration| duration.as_millis().min(u64::MAX as u128) as u64;
        ReadRequest {
            query,
            consistency: ReadConsistency::from_api(options.consistency),
            min_index: options.min_index.0,
            wait_ms: millis(options.wait),
            max_stale_ms: options.max_stale.map(millis),
        }
    }
}

impl ReadConsistency {
    pub fn from_api(consistency: legate_api::backend::Consistency) -> ReadConsistency {
        use legate_api::backend::Consistency;
        match consistency {
            Consistency::Default => ReadConsistency::Default,
            Consistency::Stale => ReadConsistency::Stale,
            Consistency::Consistent => ReadConsistency::Consistent,
        }
    }

    pub fn into_api(self) -> legate_api::backend::Consistency {
        use legate_api::backend::Consistency;
        match self {
            ReadConsistency::Default => Consistency::Default,
            ReadConsistency::Stale => Consistency::Stale,
            ReadConsistency::Consistent => Consistency::Consistent,
        }
    }
}

impl ReadAnswer {
    /// The answer as the HTTP frontend reports it, headers included.
    pub fn into_api(self) -> legate_api::backend::Read<QueryResult> {
        legate_api::backend::Read {
            meta: legate_api::backend::ReadMeta {
                index: legate_catalog::Index(self.index),
                known_leader: self.known_leader,
                last_contact: std::time::Duration::from_millis(self.last_contact_ms),
                consistency: self.consistency.into_api(),
            },
            value: self.value,
        }
    }
}

/// A response, as the callee sends it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Response {
    V1(ResponseV1),
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ResponseV1 {
    AppendEntries(AppendAnswer),
    Vote {
        vote: VoteRecord,
        granted: bool,
        last_log_id: Option<LogIdV1>,
    },
    InstallSnapshot {
        vote: VoteRecord,
    },
    Write(Result<CommandResult, RemoteWriteError>),
    Read(Result<ReadAnswer, RemoteReadError>),
    Status(StatusAnswer),
    Operator(Result<OperatorAnswer, OperatorError>),
    /// An election was started.
    ElectionTriggered,
    GroupInfo {
        /// The voters' RPC addresses, as this server's membership names them.
        voters: Vec<String>,
        /// When this server's process started (Unix milliseconds).
        started_unix_ms: u64,
    },
    /// The callee could not serve the request at all (its Raft stopped, or the request made
    /// no sense to it). Nothing was changed by the request.
    Failed(String),
    /// Answer to `DiskHealth`.
    DiskHealth(DiskHealthAnswer),
    /// A `Forward` that found no answer beyond this server.
    Forward(ForwardFailure),
    /// Answer to `Datacenters`.
    Datacenters(Vec<String>),
}

/// Why a server could not carry a call on to another datacenter.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ForwardFailure {
    /// No server of the datacenter could be reached, or it is unknown: nothing was applied.
    NoPath,
    /// Sent there, then lost: a write's outcome is unknown.
    Lost(String),
}

/// A server's Raft log disk, as its own slow-disk watch judges it (`telemetry::slow_disk`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiskHealthAnswer {
    /// Its fsync p99 has reached half a heartbeat interval (the warning is on).
    pub slow: bool,
    /// Fsync p99 over the last minute, in microseconds; `None` while too few fsyncs ran.
    pub fsync_p99_us: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AppendAnswer {
    Success,
    /// Only the entries up to this log id were accepted.
    PartialSuccess(Option<LogIdV1>),
    /// `prev_log_id` does not match the follower's log.
    Conflict,
    /// The follower has seen a newer vote; the sender is no longer leader.
    HigherVote(VoteRecord),
}

/// Why a forwarded write did not produce a result, in the terms of `raft::WriteError`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RemoteWriteError {
    /// Not applied: the callee does not lead. `leader` is the RPC address it knows of.
    NotLeader { leader: Option<String> },
    /// Not applied.
    Refused(String),
    /// Not applied: the callee is shutting down.
    ShuttingDown,
    /// May have been applied.
    Indeterminate(String),
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadAnswer {
    pub index: u64,
    pub value: QueryResult,
    pub known_leader: bool,
    pub last_contact_ms: u64,
    pub consistency: ReadConsistency,
}

/// Why a forwarded read was not served. Reads change nothing, so any of them may be retried.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RemoteReadError {
    NotLeader { leader: Option<String> },
    NoLeader,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusAnswer {
    /// The leader's RPC address, when known.
    pub leader: Option<String>,
    /// The voters' RPC addresses.
    pub voters: Vec<String>,
}

/// Byte strings as one length-prefixed run rather than a sequence of one-byte elements, so a
/// large snapshot decodes at memory speed.
mod bytes {
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(bytes)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Vec<u8>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("bytes")
            }
            fn visit_bytes<E: serde::de::Error>(self, bytes: &[u8]) -> Result<Vec<u8>, E> {
                Ok(bytes.to_vec())
            }
            fn visit_byte_buf<E: serde::de::Error>(self, bytes: Vec<u8>) -> Result<Vec<u8>, E> {
                Ok(bytes)
            }
        }
        deserializer.deserialize_byte_buf(Visitor)
    }
}
