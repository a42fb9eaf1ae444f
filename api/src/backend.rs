//! `Backend`: what the HTTP frontend needs from an agent, and nothing more.
//!
//! The router never sees the agent. A server agent implements `Backend` over its Raft group
//! and store; a client agent (later) over RPC to a server; unit tests over a fake. The trait
//! speaks the catalog's types (`Query`, `Command`), never JSON.
//!
//! Rules every implementation keeps:
//! 1. `write` returns only after the command is committed (fsynced on a quorum) and applied;
//!    an error means the command may or may not have been applied only where the variant says
//!    so.
//! 2. `read` honours `options.consistency`: `Stale` may answer from any server's store,
//!    `Default` answers on the leader, `Consistent` first confirms leadership with a quorum.
//! 3. `read` blocks while `options.min_index > 0` and the query's scoped index is not above
//!    it, for at most `options.wait` (already capped and jittered by the frontend).
//! 4. `ReadMeta.index` is the query's scoped index; the frontend clamps it to at least 1.
//! 5. `options.datacenter` names another datacenter only when it differs from the agent's;
//!    an unknown one fails with `BackendError::NoPathToDatacenter`.
//! 6. Membership and operator calls (`join` .. `keyring`) return only once the change is
//!    done or refused; their errors carry the text Consul's agent would answer with (the
//!    frontend sends it as a plain-text 500), and say whether anything changed.
//!
//! 7. `fire_event` hands the event to gossip for every agent of the datacenter (this one
//!    included, through its own filters); `events` answers from this agent's `EventLog`.
//!
//! 8. `metrics` is cheap and never blocks: it copies what the recorder holds (nothing when
//!    metrics are off), for `/v1/agent/metrics`.
//!
//! Layout: the types of the operator calls live in `raft`, `autopilot` and `keyring`,
//! re-exported here; user events in `event`.

pub mod autopilot;
pub mod event;
pub mod keyring;
pub mod raft;

pub use autopilot::{
    AutopilotConfig, AutopilotHealth, AutopilotServer, AutopilotState, AutopilotStatus, DiskHealth,
    ServerHealth,
};
pub use keyring::{GossipKey, KeyError, KeyringOp, KeyringResponse, MAX_RELAY_FACTOR};
pub use raft::{PeerSelector, RaftConfiguration, RaftServer};

pub use crate::event_log::EventList;
pub use event::UserEvent;

use crate::local::LocalAgent;
use legate_catalog::command::ApplyError;
use legate_catalog::{Command, Datacenter, Index, Outcome, Query, QueryResult, Session, SessionId};
use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;
use thiserror::Error;

/// How fresh a read must be.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Consistency {
    /// Read on the leader (Consul's default; `?leader` asks for it explicitly).
    #[default]
    Default,
    /// `?stale`: any server, no leader needed.
    Stale,
    /// `?consistent`: the leader confirms its leadership with a quorum first.
    Consistent,
}

impl Consistency {
    /// The value of `X-Consul-Effective-Consistency`.
    pub fn header_value(self) -> &'static str {
        match self {
            Consistency::Default => "leader",
            Consistency::Stale => "stale",
            Consistency::Consistent => "consistent",
        }
    }
}

/// Options of one read, parsed from the query string.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReadOptions {
    /// `?dc=`, only when it names another datacenter.
    pub datacenter: Option<Datacenter>,
    pub consistency: Consistency,
    /// `?max_stale=`: a stale answer older than this is re-asked of the leader.
    pub max_stale: Option<Duration>,
    /// `?index=`; zero answers at once.
    pub min_index: Index,
    /// How long to block, capped and jittered already.
    pub wait: Duration,
}

/// What accompanies every read answer, as response headers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadMeta {
    pub index: Index,
    pub known_leader: bool,
    /// Time since the answering server last heard from the leader (zero on the leader).
    pub last_contact: Duration,
    /// The consistency actually served.
    pub consistency: Consistency,
}

/// A read answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Read<T> {
    pub meta: ReadMeta,
    pub value: T,
}

/// The Raft view that `/v1/status/*` reports.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RaftStatus {
    /// The leader's server RPC address (`"127.0.0.1:8300"`), if there is a leader.
    pub leader: Option<String>,
    /// Server RPC addresses of the voters.
    pub peers: Vec<String>,
}

/// A gossip pool member, as `/v1/agent/members` reports it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Member {
    pub name: String,
    pub addr: String,
    pub port: u16,
    pub tags: BTreeMap<String, String>,
    /// Serf's status numbers: 1 alive, 2 leaving, 3 left, 4 failed.
    pub status: u8,
}

/// Serf's member status, as gossip reports it and Consul names it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum MemberStatus {
    #[default]
    None,
    Alive,
    Leaving,
    Left,
    Failed,
}

impl MemberStatus {
    /// From Serf's number (`Member::status`); unknown numbers read as `None`.
    pub fn from_code(code: u8) -> MemberStatus {
        match code {
            1 => MemberStatus::Alive,
            2 => MemberStatus::Leaving,
            3 => MemberStatus::Left,
            4 => MemberStatus::Failed,
            _ => MemberStatus::None,
        }
    }

    /// Serf's number, as `/v1/agent/members` sends it.
    pub fn code(self) -> u8 {
        match self {
            MemberStatus::None => 0,
            MemberStatus::Alive => 1,
            MemberStatus::Leaving => 2,
            MemberStatus::Left => 3,
            MemberStatus::Failed => 4,
        }
    }

    /// Serf's name (`"alive"`), as `consul members` and autopilot print it.
    pub fn as_str(self) -> &'static str {
        match self {
            MemberStatus::None => "none",
            MemberStatus::Alive => "alive",
            MemberStatus::Leaving => "leaving",
            MemberStatus::Left => "left",
            MemberStatus::Failed => "failed",
        }
    }
}

/// The agent's identity and configuration, for `/v1/agent/self` and response details.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AgentInfo {
    pub datacenter: Datacenter,
    pub primary_datacenter: Datacenter,
    pub node_name: String,
    pub node_id: String,
    pub server: bool,
    /// Started with `-bootstrap` (or `-dev`): may elect itself alone.
    pub bootstrap: bool,
    pub version: String,
    pub revision: String,
    pub build_date: String,
    /// The address other agents and servers use for this one.
    pub advertise_addr: String,
    pub bind_addr: String,
    pub client_addr: String,
    pub http_port: u16,
    pub dns_port: i32,
    pub server_port: u16,
    pub serf_lan_port: u16,
    pub dev_mode: bool,
}

/// One datacenter's servers and their WAN coordinates.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DatacenterCoordinates {
    pub datacenter: String,
    /// WAN member name (`<node>.<dc>`) and coordinate.
    pub coordinates: Vec<(String, legate_catalog::Coord)>,
}

/// Why a backend call failed.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum BackendError {
    /// No leader is known, so the request could not be served. Nothing was applied; a retry
    /// may succeed once a leader is elected. (HTTP 500, "No cluster leader".)
    #[error("No cluster leader")]
    NoLeader,
    /// `?dc=` named a datacenter that is unknown or unreachable. Nothing was applied.
    #[error("No path to datacenter")]
    NoPathToDatacenter,
    /// The store refused the command deterministically; nothing changed and a retry fails.
    #[error("{0}")]
    Rejected(ApplyError),
    /// A server refused what the request asked, for its content (Consul's RPC error text,
    /// such as "cannot find a server to transfer leadership to"): nothing changed and the
    /// same request fails again. (HTTP 500, as Consul answers it.)
    #[error("{0}")]
    Refused(String),
    /// A write was handed to Raft but its fate is unknown (for example the leader stepped
    /// down before it committed): it may or may not be applied.
    #[error("rpc error: {0}")]
    Indeterminate(String),
    /// Any other failure; nothing was applied unless the message says otherwise.
    #[error("{0}")]
    Internal(String),
}

/// What the HTTP frontend needs from an agent.
pub trait Backend: Send + Sync + 'static {
    /// The agent's own services and checks.
    type Local: LocalAgent;

    /// This agent's local state, for the `/v1/agent/*` service and check endpoints.
    fn local(&self) -> &Self::Local;

    /// Runs a read, blocking as `options` ask.
    fn read(
        &self,
        options: ReadOptions,
        query: Query,
    ) -> impl Future<Output = Result<Read<QueryResult>, BackendError>> + Send;

    /// Applies a command through the leader of `datacenter` (the local one when `None`).
    fn write(
        &self,
        datacenter: Option<Datacenter>,
        command: Command,
    ) -> impl Future<Output = Result<Outcome, BackendError>> + Send;

    /// The Raft leader and voters of the local datacenter (or of `datacenter`).
    fn raft_status(
        &self,
        datacenter: Option<Datacenter>,
    ) -> impl Future<Output = Result<RaftStatus, BackendError>> + Send;

    /// Known datacenters, nearest first.
    fn datacenters(&self) -> impl Future<Output = Result<Vec<Datacenter>, BackendError>> + Send;

    /// This agent's network coordinate in its LAN pool, once it has one.
    fn coordinate(&self) -> Option<legate_catalog::Coord>;

    /// `PUT /v1/coordinate/update`: queued at the leader of `datacenter` (the local one when
    /// `None`) and written with its next batch.
    fn coordinate_update(
        &self,
        datacenter: Option<Datacenter>,
        update: legate_catalog::NodeCoordinate,
    ) -> impl Future<Output = Result<(), BackendError>> + Send;

    /// `/v1/coordinate/datacenters`: the WAN coordinates of every datacenter's servers.
    fn coordinate_datacenters(
        &self,
    ) -> impl Future<Output = Result<Vec<DatacenterCoordinates>, BackendError>> + Send;

    /// This agent's identity and configuration.
    fn agent_info(&self) -> AgentInfo;

    /// This agent's runtime statistics as `/v1/agent/self` `Stats` reports them: section →
    /// key → value, all strings (`consul info` prints them).
    fn agent_stats(
        &self,
    ) -> impl Future<Output = BTreeMap<String, BTreeMap<String, String>>> + Send;

    /// Members of the LAN pool, or the WAN pool with `wan`.
    fn members(&self, wan: bool) -> Vec<Member>;

    /// Joins the LAN pool (or, on a server with `wan`, the WAN pool) through the agent at
    /// `address` (`host` or `host:port`; the pool's default port when absent). On error
    /// nothing was joined; the text is the one `PUT /v1/agent/join` answers with.
    fn join(
        &self,
        address: String,
        wan: bool,
    ) -> impl Future<Output = Result<(), BackendError>> + Send;

    /// Leaves the pools gracefully (a server also leaves the Raft configuration), then
    /// starts the agent's shutdown. Returns once the leave is done, before the shutdown
    /// completes, so that the HTTP answer can still be sent.
    fn leave(&self) -> impl Future<Output = Result<(), BackendError>> + Send;

    /// Moves a failed member `node` to `left` (of the WAN pool with `wan`); with `prune`,
    /// drops it from the member list at once. An alive member is left alone. An unknown
    /// node fails with `Internal("agent: No node found with name '<node>'")`.
    fn force_leave(
        &self,
        node: String,
        prune: bool,
        wan: bool,
    ) -> impl Future<Output = Result<(), BackendError>> + Send;

    /// The Raft configuration of the local datacenter (or of `options.datacenter`),
    /// honouring `options.consistency` (`Stale` answers without a leader); the blocking
    /// fields are unused.
    fn raft_configuration(
        &self,
        options: ReadOptions,
    ) -> impl Future<Output = Result<RaftConfiguration, BackendError>> + Send;

    /// Removes a server from the Raft configuration through the leader. A peer that is not
    /// in the configuration fails with Consul's text (`address "10.0.0.9:8300" was not
    /// found in the Raft configuration`, `id "…" was not found …`); nothing changed.
    fn raft_remove_peer(
        &self,
        by: PeerSelector,
    ) -> impl Future<Output = Result<(), BackendError>> + Send;

    /// Hands leadership to the voter `id`, or to any other voter with `None`. Returns once
    /// the transfer is done; on error the leader is unchanged.
    fn raft_transfer_leader(
        &self,
        id: Option<String>,
    ) -> impl Future<Output = Result<(), BackendError>> + Send;

    /// Autopilot's configuration as last committed (defaults until one is set).
    fn autopilot_configuration(
        &self,
    ) -> impl Future<Output = Result<AutopilotConfig, BackendError>> + Send;

    /// Commits a new autopilot configuration (its `create_index` and `modify_index` are
    /// ignored). With `cas`, only when the stored `modify_index` equals it: `Ok(false)`
    /// otherwise, with nothing changed. Without `cas`, `Ok(true)` once committed.
    fn set_autopilot_configuration(
        &self,
        config: AutopilotConfig,
        cas: Option<u64>,
    ) -> impl Future<Output = Result<bool, BackendError>> + Send;

    /// Every server's health, as the leader sees it (`NoLeader` without one).
    fn autopilot_health(
        &self,
    ) -> impl Future<Output = Result<AutopilotHealth, BackendError>> + Send;

    /// Restarts the TTL timer of session `id` on the leader of `datacenter` (the local one
    /// when `None`) and returns the session, or `None` if it does not exist.
    fn renew_session(
        &self,
        datacenter: Option<Datacenter>,
        id: SessionId,
    ) -> impl Future<Output = Result<Option<Session>, BackendError>> + Send;

    /// Autopilot's state, as the leader sees it (`NoLeader` without one).
    fn autopilot_state(&self) -> impl Future<Output = Result<AutopilotState, BackendError>> + Send;

    /// Runs a keyring operation on every ring: the WAN ring and each datacenter's LAN ring,
    /// or only this datacenter's LAN ring with `local_only` (which the frontend allows for
    /// `List` only). `relay_factor` (at most `MAX_RELAY_FACTOR`) is how many other members
    /// each answer is relayed through. Members that refuse are reported in the ring's
    /// `error` and `messages`, not as an `Err`: the frontend turns them into Consul's 500.
    fn keyring(
        &self,
        op: KeyringOp,
        relay_factor: u8,
        local_only: bool,
    ) -> impl Future<Output = Result<Vec<KeyringResponse>, BackendError>> + Send;

    /// Rule 7: sends `event` (already validated, see `event::FireRequest`) to every agent of
    /// the local datacenter, or of `datacenter`. `Ok` once gossip took it; delivery is best
    /// effort, as in Consul.
    fn fire_event(
        &self,
        datacenter: Option<Datacenter>,
        event: UserEvent,
    ) -> impl Future<Output = Result<(), BackendError>> + Send;

    /// Rule 7: the events this agent kept, oldest first, only those named `name` when given.
    /// With `min_index > 0`, waits up to `wait` while the list's index equals `min_index`
    /// (event indexes are not ordered: see `event_log`).
    fn events(
        &self,
        name: Option<String>,
        min_index: u64,
        wait: Duration,
    ) -> impl Future<Output = Result<EventList, BackendError>> + Send;

    /// Rule 8: this agent's metrics now.
    fn metrics(&self) -> crate::telemetry::MetricsSnapshot;
}
