//! Autopilot's configuration, the servers' health and autopilot's state, in the backend's
//! terms. Durations are `std::time::Duration` and times `SystemTime`; the wire types format
//! them as Go does.

use super::MemberStatus;
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

/// Autopilot's settings, with Consul's defaults.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AutopilotConfig {
    /// Remove failed servers from the Raft configuration when a new server joins (and
    /// periodically), never below `min_quorum`.
    pub cleanup_dead_servers: bool,
    /// A server the leader has not reached for longer than this is unhealthy.
    pub last_contact_threshold: Duration,
    /// A server more than this many entries behind the leader is unhealthy.
    pub max_trailing_logs: u64,
    /// Dead servers are not pruned below this many servers.
    pub min_quorum: u32,
    /// How long a new server must stay healthy before it is promoted to voter.
    pub server_stabilization_time: Duration,
    /// Enterprise-only settings, stored and reported as given.
    pub redundancy_zone_tag: String,
    pub disable_upgrade_migration: bool,
    pub upgrade_version_tag: String,
    /// Raft indexes of the configuration's creation and last change; `modify_index` is what
    /// a check-and-set compares.
    pub create_index: u64,
    pub modify_index: u64,
}

impl Default for AutopilotConfig {
    /// Consul's defaults (`api.NewAutopilotConfiguration`).
    fn default() -> Self {
        AutopilotConfig {
            cleanup_dead_servers: true,
            last_contact_threshold: Duration::from_millis(200),
            max_trailing_logs: 250,
            min_quorum: 0,
            server_stabilization_time: Duration::from_secs(10),
            redundancy_zone_tag: String::new(),
            disable_upgrade_migration: false,
            upgrade_version_tag: String::new(),
            create_index: 0,
            modify_index: 0,
        }
    }
}

/// One server's health, from the leader's point of view.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ServerHealth {
    /// The Raft ID (node UUID).
    pub id: String,
    /// The node name.
    pub name: String,
    /// The server RPC address, `ip:port`.
    pub address: String,
    /// The server's gossip status.
    pub serf_status: MemberStatus,
    /// The server's Legate version.
    pub version: String,
    pub leader: bool,
    /// Time since the leader last heard from the server (zero for the leader itself).
    pub last_contact: Duration,
    pub last_term: u64,
    pub last_index: u64,
    pub healthy: bool,
    pub voter: bool,
    /// When `healthy` last changed.
    pub stable_since: SystemTime,
    /// The server's Raft log disk as it judges it; `None` when it did not say.
    pub disk: Option<DiskHealth>,
}

/// A server's Raft log disk, as its own slow-disk watch judges it (Legate's addition to
/// Consul's autopilot health).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DiskHealth {
    /// Fsync p99 over the last minute has reached half a heartbeat interval.
    pub slow: bool,
    /// That p99; `None` while too few fsyncs ran to judge.
    pub fsync_p99: Option<Duration>,
}

/// The servers' health as `/v1/operator/autopilot/health` reports it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AutopilotHealth {
    /// Every server is healthy. The frontend answers 429 when not.
    pub healthy: bool,
    /// Healthy voters beyond a quorum: how many servers may fail without an outage.
    pub failure_tolerance: i64,
    pub servers: Vec<ServerHealth>,
}

/// A server's Raft role as autopilot sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum AutopilotStatus {
    None,
    Leader,
    Voter,
    NonVoter,
    /// Being promoted: healthy, waiting out `server_stabilization_time`.
    Staging,
}

impl AutopilotStatus {
    /// Consul's text (`"leader"`, `"non-voter"`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            AutopilotStatus::None => "none",
            AutopilotStatus::Leader => "leader",
            AutopilotStatus::Voter => "voter",
            AutopilotStatus::NonVoter => "non-voter",
            AutopilotStatus::Staging => "staging",
        }
    }
}

/// One server in `/v1/operator/autopilot/state`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AutopilotServer {
    pub id: String,
    pub name: String,
    pub address: String,
    /// The server's gossip status.
    pub node_status: MemberStatus,
    pub version: String,
    pub last_contact: Duration,
    pub last_term: u64,
    pub last_index: u64,
    pub healthy: bool,
    pub stable_since: SystemTime,
    pub status: AutopilotStatus,
    /// The server's node metadata.
    pub meta: BTreeMap<String, String>,
    /// Whether the server is a read replica (never promoted); `NodeType` follows from it.
    pub read_replica: bool,
}

/// Autopilot's view of the servers, as `/v1/operator/autopilot/state` reports it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AutopilotState {
    pub healthy: bool,
    pub failure_tolerance: i64,
    /// Equal to `failure_tolerance` without redundancy zones (an Enterprise feature).
    pub optimistic_failure_tolerance: i64,
    /// Servers by Raft ID.
    pub servers: BTreeMap<String, AutopilotServer>,
    /// The leader's Raft ID, empty without a leader.
    pub leader: String,
    /// Raft IDs of the voters.
    pub voters: Vec<String>,
    /// Raft IDs of the read replicas (omitted from the answer when empty).
    pub read_replicas: Vec<String>,
}
