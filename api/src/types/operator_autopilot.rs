//! `/v1/operator/autopilot/*` shapes: the configuration (answer and `PUT` body), the
//! servers' health and autopilot's state. Durations are Go strings (`"200ms"`) and times
//! RFC 3339, as Consul's `ReadableDuration` and `time.Time` write them.

use crate::backend::{self, AutopilotConfig};
use crate::decode::{null_as_default, GoDuration};
use crate::folded_struct;
use crate::timestamp::{rfc3339_nanos, rfc3339_rounded};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

/// `GET /v1/operator/autopilot/configuration`; the typed client also sends it as the `PUT`
/// body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "PascalCase", default)]
pub struct AutopilotConfiguration {
    pub cleanup_dead_servers: bool,
    pub last_contact_threshold: GoDuration,
    pub max_trailing_logs: u64,
    pub min_quorum: u32,
    pub server_stabilization_time: GoDuration,
    pub redundancy_zone_tag: String,
    pub disable_upgrade_migration: bool,
    pub upgrade_version_tag: String,
    pub create_index: u64,
    pub modify_index: u64,
}

impl Default for AutopilotConfiguration {
    fn default() -> Self {
        AutopilotConfiguration::from(&AutopilotConfig::default())
    }
}

fn nanos(duration: Duration) -> i64 {
    i64::try_from(duration.as_nanos()).unwrap_or(i64::MAX)
}

/// A Go duration as a `Duration`; negative durations (which Consul would store) read as
/// zero, a threshold that nothing passes.
fn duration_of(value: GoDuration) -> Duration {
    Duration::from_nanos(u64::try_from(value.0).unwrap_or(0))
}

impl From<&AutopilotConfig> for AutopilotConfiguration {
    fn from(config: &AutopilotConfig) -> Self {
        AutopilotConfiguration {
            cleanup_dead_servers: config.cleanup_dead_servers,
            last_contact_threshold: GoDuration(nanos(config.last_contact_threshold)),
            max_trailing_logs: config.max_trailing_logs,
            min_quorum: config.min_quorum,
            server_stabilization_time: GoDuration(nanos(config.server_stabilization_time)),
            redundancy_zone_tag: config.redundancy_zone_tag.clone(),
            disable_upgrade_migration: config.disable_upgrade_migration,
            upgrade_version_tag: config.upgrade_version_tag.clone(),
            create_index: config.create_index,
            modify_index: config.modify_index,
        }
    }
}

impl From<&AutopilotConfiguration> for AutopilotConfig {
    fn from(wire: &AutopilotConfiguration) -> Self {
        AutopilotConfig {
            cleanup_dead_servers: wire.cleanup_dead_servers,
            last_contact_threshold: duration_of(wire.last_contact_threshold),
            max_trailing_logs: wire.max_trailing_logs,
            min_quorum: wire.min_quorum,
            server_stabilization_time: duration_of(wire.server_stabilization_time),
            redundancy_zone_tag: wire.redundancy_zone_tag.clone(),
            disable_upgrade_migration: wire.disable_upgrade_migration,
            upgrade_version_tag: wire.upgrade_version_tag.clone(),
            create_index: wire.create_index,
            modify_index: wire.modify_index,
        }
    }
}

folded_struct! {
    /// The `PUT /v1/operator/autopilot/configuration` body, decoded as Consul does: field
    /// names case-insensitive, absent fields keep Consul's defaults, durations as Go
    /// strings or nanoseconds.
    pub struct AutopilotConfigBody {
        cleanup_dead_servers: bool => "CleanupDeadServers",
        last_contact_threshold: GoDuration => "LastContactThreshold",
        max_trailing_logs: u64 => "MaxTrailingLogs",
        min_quorum: u32 => "MinQuorum",
        server_stabilization_time: GoDuration => "ServerStabilizationTime",
        redundancy_zone_tag: String => "RedundancyZoneTag",
        disable_upgrade_migration: bool => "DisableUpgradeMigration",
        upgrade_version_tag: String => "UpgradeVersionTag",
    }
}

impl AutopilotConfigBody {
    /// The configuration the body asks for, over Consul's defaults. The indexes are the
    /// store's to set, so a body's `CreateIndex`/`ModifyIndex` are ignored (`?cas=` is how
    /// a check-and-set names one).
    pub fn config(&self) -> AutopilotConfig {
        let defaults = AutopilotConfig::default();
        AutopilotConfig {
            cleanup_dead_servers: self
                .cleanup_dead_servers
                .unwrap_or(defaults.cleanup_dead_servers),
            last_contact_threshold: self
                .last_contact_threshold
                .map_or(defaults.last_contact_threshold, duration_of),
            max_trailing_logs: self.max_trailing_logs.unwrap_or(defaults.max_trailing_logs),
            min_quorum: self.min_quorum.unwrap_or(defaults.min_quorum),
            server_stabilization_time: self
                .server_stabilization_time
                .map_or(defaults.server_stabilization_time, duration_of),
            redundancy_zone_tag: self.redundancy_zone_tag.clone().unwrap_or_default(),
            disable_upgrade_migration: self.disable_upgrade_migration.unwrap_or(false),
            upgrade_version_tag: self.upgrade_version_tag.clone().unwrap_or_default(),
            create_index: 0,
            modify_index: 0,
        }
    }
}

/// One server in `GET /v1/operator/autopilot/health`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "PascalCase", default)]
pub struct ServerHealth {
    #[serde(rename = "ID")]
    pub id: String,
    pub name: String,
    pub address: String,
    pub serf_status: String,
    pub version: String,
    pub leader: bool,
    pub last_contact: GoDuration,
    pub last_term: u64,
    pub last_index: u64,
    pub healthy: bool,
    pub voter: bool,
    /// RFC 3339, rounded to the second as Consul sends it.
    pub stable_since: String,
    /// Legate's addition: the server's Raft log disk is slow (fsync p99 over the last minute
    /// at or above half a heartbeat interval). Absent when the server did not say.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disk_slow: Option<bool>,
    /// Legate's addition: that fsync p99, absent while too few fsyncs ran to judge.
    #[serde(rename = "FsyncP99", skip_serializing_if = "Option::is_none")]
    pub fsync_p99: Option<GoDuration>,
}

/// `GET /v1/operator/autopilot/health` (answered with 429 when `Healthy` is false).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "PascalCase", default)]
pub struct OperatorHealthReply {
    pub healthy: bool,
    pub failure_tolerance: i64,
    #[serde(deserialize_with = "null_as_default")]
    pub servers: Vec<ServerHealth>,
}

impl From<&backend::AutopilotHealth> for OperatorHealthReply {
    fn from(health: &backend::AutopilotHealth) -> Self {
        OperatorHealthReply {
            healthy: health.healthy,
            failure_tolerance: health.failure_tolerance,
            servers: health
                .servers
                .iter()
                .map(|server| ServerHealth {
                    id: server.id.clone(),
                    name: server.name.clone(),
                    address: server.address.clone(),
                    serf_status: server.serf_status.as_str().to_owned(),
                    version: server.version.clone(),
                    leader: server.leader,
                    last_contact: GoDuration(nanos(server.last_contact)),
                    last_term: server.last_term,
                    last_index: server.last_index,
                    healthy: server.healthy,
                    voter: server.voter,
                    stable_since: rfc3339_rounded(server.stable_since),
                    disk_slow: server.disk.map(|disk| disk.slow),
                    fsync_p99: server
                        .disk
                        .and_then(|disk| disk.fsync_p99)
                        .map(|p99| GoDuration(nanos(p99))),
                })
                .collect(),
        }
    }
}

/// One server in `GET /v1/operator/autopilot/state`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "PascalCase", default)]
pub struct AutopilotServer {
    #[serde(rename = "ID")]
    pub id: String,
    pub name: String,
    pub address: String,
    pub node_status: String,
    pub version: String,
    pub last_contact: GoDuration,
    pub last_term: u64,
    pub last_index: u64,
    pub healthy: bool,
    /// RFC 3339 with nanoseconds.
    pub stable_since: String,
    pub read_replica: bool,
    /// `leader`, `voter`, `non-voter` or `staging`.
    pub status: String,
    #[serde(deserialize_with = "null_as_default")]
    pub meta: BTreeMap<String, String>,
    /// `voter` or `read-replica` (the other types are Enterprise redundancy zones).
    pub node_type: String,
}

/// `GET /v1/operator/autopilot/state`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "PascalCase", default)]
pub struct AutopilotState {
    pub healthy: bool,
    pub failure_tolerance: i64,
    pub optimistic_failure_tolerance: i64,
    #[serde(deserialize_with = "null_as_default")]
    pub servers: BTreeMap<String, AutopilotServer>,
    pub leader: String,
    #[serde(deserialize_with = "null_as_default")]
    pub voters: Vec<String>,
    /// Omitted when empty, as Consul does.
    #[serde(
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub read_replicas: Vec<String>,
}

impl From<&backend::AutopilotServer> for AutopilotServer {
    fn from(server: &backend::AutopilotServer) -> Self {
        AutopilotServer {
            id: server.id.clone(),
            name: server.name.clone(),
            address: server.address.clone(),
            node_status: server.node_status.as_str().to_owned(),
            version: server.version.clone(),
            last_contact: GoDuration(nanos(server.last_contact)),
            last_term: server.last_term,
            last_index: server.last_index,
            healthy: server.healthy,
            stable_since: rfc3339_nanos(server.stable_since),
            read_replica: server.read_replica,
            status: server.status.as_str().to_owned(),
            meta: server.meta.clone(),
            node_type: if server.read_replica {
                "read-replica"
            } else {
                "voter"
            }
            .to_owned(),
        }
    }
}

impl From<&backend::AutopilotState> for AutopilotState {
    fn from(state: &backend::AutopilotState) -> Self {
        AutopilotState {
            healthy: state.healthy,
            failure_tolerance: state.failure_tolerance,
            optimistic_failure_tolerance: state.optimistic_failure_tolerance,
            servers: state
                .servers
                .iter()
                .map(|(id, server)| (id.clone(), AutopilotServer::from(server)))
                .collect(),
            leader: state.leader.clone(),
            voters: state.voters.clone(),
            read_replicas: state.read_replicas.clone(),
        }
    }
}
