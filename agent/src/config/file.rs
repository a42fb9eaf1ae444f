//! Agent configuration files: Consul's JSON keys, read from `-config-file` and `-config-dir`.
//!
//! Files merge in order (directory entries in lexical order), later values winning, as Consul
//! does. Keys Legate does not know yet are reported as warnings and never stop the agent:
//! operators bring configs written for Consul, and refusing to start over a tuning key would
//! make the switch harder than it should be.

use serde::Deserialize;
use serde_json::Value;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// Every key a file may set. `None` means "not set here".
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct FileConfig {
    pub datacenter: Option<String>,
    pub primary_datacenter: Option<String>,
    pub node_name: Option<String>,
    pub node_id: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub client_addr: Option<String>,
    pub bind_addr: Option<String>,
    pub advertise_addr: Option<String>,
    pub server: Option<bool>,
    pub bootstrap: Option<bool>,
    pub bootstrap_expect: Option<u32>,
    pub log_level: Option<String>,
    pub domain: Option<String>,
    pub kv_max_value_size: Option<u64>,
    pub raft_snapshot_threshold: Option<u64>,
    pub raft_trailing_logs: Option<u64>,
    /// A Go duration string (`"30s"`).
    pub raft_snapshot_interval: Option<String>,
    /// Legate's own: the data directory's reserve (see `server::disk_guard`), in MiB.
    pub disk_min_free_mb: Option<u64>,
    pub disk_ballast_mb: Option<u64>,
    pub alt_domain: Option<String>,
    /// Appended to, not replaced, by later files: Consul merges slices that way.
    pub recursors: Vec<String>,
    pub dns_config: super::dns::FileDnsConfig,
    pub ports: FilePorts,
    pub limits: FileLimits,
    pub enable_script_checks: Option<bool>,
    pub enable_local_script_checks: Option<bool>,
    /// Go durations: Consul's `check_update_interval`, and the internal knobs `ae_interval`,
    /// `check_reap_interval` and `check_deregister_interval_min` (tests shorten them).
    pub check_update_interval: Option<String>,
    pub ae_interval: Option<String>,
    pub check_reap_interval: Option<String>,
    pub check_deregister_interval_min: Option<String>,
    /// Service and check definitions; Consul accepts one (`service`) or many (`services`),
    /// and later files add to earlier ones.
    // Clustering (see `config::cluster`).
    pub start_join: Vec<String>,
    pub retry_join: Vec<String>,
    pub start_join_wan: Vec<String>,
    pub retry_join_wan: Vec<String>,
    pub retry_interval: Option<String>,
    pub retry_max: Option<u32>,
    pub encrypt: Option<String>,
    pub encrypt_verify_incoming: Option<bool>,
    pub encrypt_verify_outgoing: Option<bool>,
    pub rejoin_after_leave: Option<bool>,
    pub leave_on_terminate: Option<bool>,
    pub skip_leave_on_interrupt: Option<bool>,
    pub pid_file: Option<PathBuf>,
    pub reconnect_timeout: Option<String>,
    pub reconnect_timeout_wan: Option<String>,
    pub translate_wan_addrs: Option<bool>,
    /// Consul's coordinate knobs: how often agents report (at least, and the cluster-wide
    /// rate they aim at), and how often the leader writes what they reported.
    pub sync_coordinate_interval_min: Option<String>,
    pub sync_coordinate_rate_target: Option<f64>,
    pub coordinate_update_period: Option<String>,
    pub gossip_lan: FileGossip,
    pub gossip_wan: FileGossip,
    pub autopilot: FileAutopilot,
    pub performance: FilePerformance,
    pub telemetry: FileTelemetry,
    pub service: Option<legate_api::types::AgentServiceBody>,
    pub services: Vec<legate_api::types::AgentServiceBody>,
    pub check: Option<legate_api::types::AgentCheckBody>,
    pub checks: Vec<legate_api::types::AgentCheckBody>,
    /// Watches, each a map of parameters (`watch::spec` reads them); later files add theirs.
    pub watches: Vec<serde_json::Map<String, Value>>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct FilePorts {
    pub http: Option<i32>,
    pub dns: Option<i32>,
    pub server: Option<u16>,
    pub serf_lan: Option<u16>,
    pub serf_wan: Option<i32>,
}

/// `gossip_lan` / `gossip_wan`: Consul's gossip tuning (durations as Go strings).
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct FileGossip {
    pub gossip_nodes: Option<u32>,
    pub gossip_interval: Option<String>,
    pub probe_interval: Option<String>,
    pub probe_timeout: Option<String>,
    pub retransmit_mult: Option<u32>,
    pub suspicion_mult: Option<u32>,
}

/// `autopilot`: Consul's autopilot settings.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct FileAutopilot {
    pub cleanup_dead_servers: Option<bool>,
    pub last_contact_threshold: Option<String>,
    pub max_trailing_logs: Option<u64>,
    pub min_quorum: Option<u32>,
    pub server_stabilization_time: Option<String>,
}

/// `performance`: Consul's `raft_multiplier` scales Raft's timing.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct FilePerformance {
    pub raft_multiplier: Option<u32>,
}

/// `telemetry`. `disable_metrics` is Legate's own key: it leaves the metrics recorder out, so
/// `/v1/agent/metrics` shows nothing and recording costs nothing (for measuring that cost).
/// Consul's `prometheus_retention_time` is accepted and has no effect: Legate always serves
/// the Prometheus form (see `legate_api::agent_metrics`).
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct FileTelemetry {
    pub disable_metrics: Option<bool>,
    pub prometheus_retention_time: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct FileLimits {
    pub http_max_conns_per_client: Option<u32>,
}

/// Keys parsed above, by section, so the rest can be reported.
const KNOWN: &[&str] = &[
    "datacenter",
    "primary_datacenter",
    "node_name",
    "node_id",
    "data_dir",
    "client_addr",
    "bind_addr",
    "advertise_addr",
    "server",
    "bootstrap",
    "bootstrap_expect",
    "log_level",
    "domain",
    "kv_max_value_size",
    "raft_snapshot_threshold",
    "raft_trailing_logs",
    "raft_snapshot_interval",
    "disk_min_free_mb",
    "disk_ballast_mb",
    "alt_domain",
    "recursors",
    "dns_config",
    "ports",
    "limits",
    "enable_script_checks",
    "enable_local_script_checks",
    "check_update_interval",
    "ae_interval",
    "check_reap_interval",
    "check_deregister_interval_min",
    "start_join",
    "retry_join",
    "start_join_wan",
    "retry_join_wan",
    "retry_interval",
    "retry_max",
    "encrypt",
    "encrypt_verify_incoming",
    "encrypt_verify_outgoing",
    "rejoin_after_leave",
    "leave_on_terminate",
    "skip_leave_on_interrupt",
    "pid_file",
    "reconnect_timeout",
    "reconnect_timeout_wan",
    "translate_wan_addrs",
    "sync_coordinate_interval_min",
    "sync_coordinate_rate_target",
    "coordinate_update_period",
    "gossip_lan",
    "gossip_wan",
    "autopilot",
    "performance",
    "telemetry",
    "service",
    "services",
    "check",
    "checks",
    "watches",
];
const KNOWN_PORTS: &[&str] = &["http", "dns", "server", "serf_lan", "serf_wan"];
const KNOWN_LIMITS: &[&str] = &["http_max_conns_per_client"];
const KNOWN_GOSSIP: &[&str] = &[
    "gossip_nodes",
    "gossip_interval",
    "probe_interval",
    "probe_timeout",
    "retransmit_mult",
    "suspicion_mult",
];
const KNOWN_AUTOPILOT: &[&str] = &[
    "cleanup_dead_servers",
    "last_contact_threshold",
    "max_trailing_logs",
    "min_quorum",
    "server_stabilization_time",
];
const KNOWN_PERFORMANCE: &[&str] = &["raft_multiplier"];
const KNOWN_TELEMETRY: &[&str] = &["disable_metrics", "prometheus_retention_time"];

/// A configuration file that cannot be used. The agent does not start.
#[derive(Debug, Error)]
pub enum FileError {
    #[error("cannot read config {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config {path} is not valid JSON for its keys: {source}")]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
}

impl FileConfig {
    /// Overlays `later` on `self`: every key `later` sets wins.
    pub fn merge(&mut self, later: FileConfig) {
        macro_rules! take {
            ($($field:ident).+) => {
                if later.$($field).+.is_some() {
                    self.$($field).+ = later.$($field).+;
                }
            };
        }
        take!(datacenter);
        take!(primary_datacenter);
        take!(node_name);
        take!(node_id);
        take!(data_dir);
        take!(client_addr);
        take!(bind_addr);
        take!(advertise_addr);
        take!(server);
        take!(bootstrap);
        take!(bootstrap_expect);
        take!(log_level);
        take!(domain);
        take!(kv_max_value_size);
        take!(raft_snapshot_threshold);
        take!(raft_trailing_logs);
        take!(raft_snapshot_interval);
        take!(disk_min_free_mb);
        take!(disk_ballast_mb);
        take!(ports.http);
        take!(ports.dns);
        take!(ports.server);
        take!(ports.serf_lan);
        take!(ports.serf_wan);
        take!(limits.http_max_conns_per_client);
        take!(alt_domain);
        take!(enable_script_checks);
        take!(enable_local_script_checks);
        take!(check_update_interval);
        take!(ae_interval);
        take!(check_reap_interval);
        take!(check_deregister_interval_min);
        take!(retry_interval);
        take!(retry_max);
        take!(encrypt);
        take!(encrypt_verify_incoming);
        take!(encrypt_verify_outgoing);
        take!(rejoin_after_leave);
        take!(leave_on_terminate);
        take!(skip_leave_on_interrupt);
        take!(pid_file);
        take!(reconnect_timeout);
        take!(reconnect_timeout_wan);
        take!(translate_wan_addrs);
        take!(sync_coordinate_interval_min);
        take!(sync_coordinate_rate_target);
        take!(coordinate_update_period);
        take!(gossip_lan.gossip_nodes);
        take!(gossip_lan.gossip_interval);
        take!(gossip_lan.probe_interval);
        take!(gossip_lan.probe_timeout);
        take!(gossip_lan.retransmit_mult);
        take!(gossip_lan.suspicion_mult);
        take!(gossip_wan.gossip_nodes);
        take!(gossip_wan.gossip_interval);
        take!(gossip_wan.probe_interval);
        take!(gossip_wan.probe_timeout);
        take!(gossip_wan.retransmit_mult);
        take!(gossip_wan.suspicion_mult);
        take!(autopilot.cleanup_dead_servers);
        take!(autopilot.last_contact_threshold);
        take!(autopilot.max_trailing_logs);
        take!(autopilot.min_quorum);
        take!(autopilot.server_stabilization_time);
        take!(performance.raft_multiplier);
        take!(telemetry.disable_metrics);
        take!(telemetry.prometheus_retention_time);
        self.start_join.extend(later.start_join);
        self.retry_join.extend(later.retry_join);
        self.start_join_wan.extend(later.start_join_wan);
        self.retry_join_wan.extend(later.retry_join_wan);
        self.services.extend(later.service);
        self.services.extend(later.services);
        self.checks.extend(later.check);
        self.checks.extend(later.checks);
        self.watches.extend(later.watches);
        self.recursors.extend(later.recursors);
        self.dns_config.merge(later.dns_config);
    }
}

/// Parses one file's text; returns the config and warnings about keys it ignored.
pub fn parse(path: &Path, text: &str) -> Result<(FileConfig, Vec<String>), FileError> {
    let parse_error = |source| FileError::Parse {
        path: path.to_owned(),
        source,
    };
    let value: Value = serde_json::from_str(text).map_err(parse_error)?;
    let mut warnings = Vec::new();
    if let Value::Object(map) = &value {
        for (key, inner) in map {
            let known_inner = match key.as_str() {
                "ports" => Some(KNOWN_PORTS),
                "limits" => Some(KNOWN_LIMITS),
                "gossip_lan" | "gossip_wan" => Some(KNOWN_GOSSIP),
                "autopilot" => Some(KNOWN_AUTOPILOT),
                "performance" => Some(KNOWN_PERFORMANCE),
                "telemetry" => Some(KNOWN_TELEMETRY),
                "dns_config" => Some(super::dns::KNOWN_DNS),
                _ => None,
            };
            if !KNOWN.contains(&key.as_str()) {
                warnings.push(format!(
                    "{}: ignoring unsupported key {key:?}",
                    path.display()
                ));
            } else if let (Some(known), Value::Object(section)) = (known_inner, inner) {
                for inner_key in section.keys() {
                    if !known.contains(&inner_key.as_str()) {
                        warnings.push(format!(
                            "{}: ignoring unsupported key {key}.{inner_key}",
                            path.display()
                        ));
                    }
                }
            }
        }
    }
    let config = serde_json::from_value(value).map_err(parse_error)?;
    Ok((config, warnings))
}

/// Reads `-config-file`s and `-config-dir`s in the order given. Directory entries are read in
/// lexical order; only `*.json` files are read, and HCL files are reported as skipped.
pub fn load(files: &[PathBuf], dirs: &[PathBuf]) -> Result<(FileConfig, Vec<String>), FileError> {
    let mut paths: Vec<PathBuf> = Vec::new();
    let mut warnings = Vec::new();
    for dir in dirs {
        let read_error = |source| FileError::Read {
            path: dir.clone(),
            source,
        };
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(read_error)?
            .filter_map(|entry| entry.ok().map(|entry| entry.path()))
            .filter(|path| path.is_file())
            .collect();
        entries.sort();
        for path in entries {
            match path.extension().and_then(|ext| ext.to_str()) {
                Some("json") => paths.push(path),
                Some("hcl") => warnings.push(format!(
                    "{}: HCL config files are not supported yet; write it as JSON",
                    path.display()
                )),
                _ => {}
            }
        }
    }
    paths.extend(files.iter().cloned());
    let mut merged = FileConfig::default();
    for path in paths {
        let text = std::fs::read_to_string(&path).map_err(|source| FileError::Read {
            path: path.clone(),
            source,
        })?;
        let (config, mut more) = parse(&path, &text)?;
        merged.merge(config);
        warnings.append(&mut more);
    }
    Ok((merged, warnings))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_keys_parse_and_unknown_ones_warn() {
        let text = r#"{"datacenter":"east","ports":{"http":9500,"grpc":8502},
                      "telemetry":{"x":1},"limits":{"http_max_conns_per_client":50}}"#;
        let (config, warnings) = parse(Path::new("a.json"), text).unwrap();
        assert_eq!(config.datacenter.as_deref(), Some("east"));
        assert_eq!(config.ports.http, Some(9500));
        assert_eq!(config.limits.http_max_conns_per_client, Some(50));
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(warnings[1].contains("telemetry.x"), "{warnings:?}");
        let text = r#"{"telemetry":{"disable_metrics":true,"prometheus_retention_time":"60s"}}"#;
        let (config, warnings) = parse(Path::new("t.json"), text).unwrap();
        assert_eq!(config.telemetry.disable_metrics, Some(true));
        assert!(warnings.is_empty(), "{warnings:?}");
    }

    #[test]
    fn a_wrong_type_is_an_error_not_a_crash() {
        let error = parse(Path::new("b.json"), r#"{"ports":{"http":"x"}}"#);
        assert!(matches!(error, Err(FileError::Parse { .. })));
        assert!(parse(Path::new("c.json"), "{nope").is_err());
    }

    #[test]
    fn later_files_win_and_directories_read_in_order() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("b.json"),
            r#"{"datacenter":"b","node_name":"n"}"#,
        )
        .unwrap();
        std::fs::write(
            dir.path().join("a.json"),
            r#"{"datacenter":"a","domain":"x"}"#,
        )
        .unwrap();
        std::fs::write(dir.path().join("c.hcl"), "datacenter = \"c\"").unwrap();
        let (config, warnings) = load(&[], &[dir.path().to_owned()]).unwrap();
        assert_eq!(config.datacenter.as_deref(), Some("b"));
        assert_eq!(config.domain.as_deref(), Some("x"));
        assert_eq!(config.node_name.as_deref(), Some("n"));
        assert_eq!(warnings.len(), 1);
    }
}
