//! The agent's resolved configuration: defaults, then config files, then flags.
//!
//! Defaults follow Consul so that clients need no configuration: HTTP 8500, DNS 8600,
//! server RPC 8300, LAN gossip 8301, WAN gossip 8302, datacenter `dc1`, domain `consul`,
//! HTTP and DNS bound to 127.0.0.1, node name = host name. `-dev` is a single server that
//! bootstraps itself, keeps its state in a temporary directory unless given `-data-dir`, and
//! pretty-prints JSON.

pub mod cluster;
pub mod dns;
pub mod file;
pub mod flags;
pub mod local;

pub use flags::{normalize_args, AgentFlags};

use file::FileConfig;
use std::net::IpAddr;
use std::path::PathBuf;
use thiserror::Error;

/// Listening ports. A negative HTTP, DNS or WAN gossip port disables that interface, as in
/// Consul.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ports {
    pub http: i32,
    pub dns: i32,
    pub server: u16,
    pub serf_lan: u16,
    pub serf_wan: i32,
}

impl Default for Ports {
    fn default() -> Self {
        Ports {
            http: 8500,
            dns: 8600,
            server: 8300,
            serf_lan: 8301,
            serf_wan: 8302,
        }
    }
}

/// Everything `run` needs, fully resolved.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    pub dev: bool,
    pub server: bool,
    pub bootstrap: bool,
    pub datacenter: String,
    pub primary_datacenter: String,
    pub node_name: String,
    pub node_id: Option<String>,
    /// `None` only in `-dev` without `-data-dir`: state lives in a temporary directory.
    pub data_dir: Option<PathBuf>,
    pub client_addr: IpAddr,
    pub bind_addr: IpAddr,
    pub advertise_addr: IpAddr,
    pub ports: Ports,
    pub log_level: String,
    pub domain: String,
    /// Consul's `kv_max_value_size`: larger KV values are refused with 413.
    pub kv_max_value_size: u64,
    /// Consul's `translate_wan_addrs`: answers about another datacenter's nodes (HTTP and
    /// DNS) show their `wan` tagged addresses.
    pub translate_wan_addrs: bool,
    /// Consul's `limits.http_max_conns_per_client`.
    pub http_max_conns_per_client: u32,
    /// Raft entries between snapshots (Consul's `raft_snapshot_threshold`, 16384).
    pub raft_snapshot_threshold: u64,
    /// Entries kept in the log after a snapshot (Consul's `raft_trailing_logs`, 10240).
    pub raft_trailing_logs: u64,
    /// How often the snapshot threshold is checked (Consul's `raft_snapshot_interval`, 30s).
    pub raft_snapshot_interval: std::time::Duration,
    /// How much free space a server keeps in its data directory (`disk_min_free_mb`,
    /// `disk_ballast_mb`).
    pub disk: crate::server::disk_guard::DiskSettings,
    /// The DNS interface, resolved.
    pub dns: legate_dns::DnsConfig,
    /// The host agent's behaviour, and its services and checks from config files.
    pub local: local::LocalSettings,
    /// Joining, bootstrapping, encryption, leaving, autopilot.
    pub cluster: cluster::ClusterSettings,
    /// `telemetry.disable_metrics` (Legate's key): no metrics recorder is installed.
    pub disable_metrics: bool,
    /// `watches`, parsed; the agent runs them against its own HTTP API.
    pub watches: Vec<crate::watch::spec::WatchDefinition>,
    /// Warnings gathered while loading, printed once logging is up.
    pub warnings: Vec<String>,
}

/// A configuration the agent cannot run with. Nothing was started.
#[derive(Debug, Error)]
pub enum ConfigError {
    #[error(transparent)]
    File(#[from] file::FileError),
    #[error("data_dir is required unless -dev is given")]
    MissingDataDir,
    #[error("invalid address {value:?} for {what}")]
    BadAddress { what: &'static str, value: String },
    /// A clustering setting that cannot work; the message says what to change.
    #[error("{0}")]
    Cluster(String),
    #[error("{key}: invalid duration {value:?}")]
    BadDuration { key: &'static str, value: String },
    #[error(transparent)]
    Dns(#[from] dns::DnsConfigError),
    #[error("invalid {what} definition in config: {text}")]
    BadDefinition { what: &'static str, text: String },
    /// A `watches` entry that cannot run, in Consul's words.
    #[error("{0}")]
    Watch(String),
}

impl Config {
    /// Resolves flags and the config files they name.
    pub fn resolve(flags: &AgentFlags) -> Result<Config, ConfigError> {
        let (file, warnings) = file::load(&flags.config_file, &flags.config_dir)?;
        Config::resolve_with(flags, file, warnings)
    }

    /// Resolves flags and config files already read (`file`, with the `warnings` reading
    /// them gave).
    pub fn resolve_with(
        flags: &AgentFlags,
        file: FileConfig,
        mut warnings: Vec<String>,
    ) -> Result<Config, ConfigError> {
        if flags.ui {
            warnings.push("-ui: Legate has no web UI yet; ignoring".to_owned());
        }
        let dev = flags.dev;
        let server = dev || flags.server || file.server.unwrap_or(false);
        let expect = flags
            .bootstrap_expect
            .or(file.bootstrap_expect)
            .unwrap_or(0);
        let explicit_bootstrap = dev || flags.bootstrap || file.bootstrap.unwrap_or(false);
        let mut cluster =
            cluster::resolve(flags, &file, server, explicit_bootstrap, &mut warnings)?;
        // As in Consul, `-bootstrap-expect=1` is bootstrap mode.
        let bootstrap = explicit_bootstrap || (server && expect == 1);
        if expect == 1 {
            cluster.bootstrap_expect = 0;
        }
        if server && !bootstrap && cluster.bootstrap_expect == 0 {
            // A restarted server needs neither flag; a fresh one joins a group that exists.
            warnings.push(
                "no -bootstrap or -bootstrap-expect: a server with no Raft state waits to be \
                 added by an existing cluster's leader; use -bootstrap-expect=N on the first N \
                 servers, or -bootstrap (or -dev) for a single-server datacenter"
                    .to_owned(),
            );
        }
        let data_dir = flags.data_dir.clone().or(file.data_dir.clone());
        if data_dir.is_none() && !dev {
            return Err(ConfigError::MissingDataDir);
        }
        let address = |what: &'static str, value: Option<&String>, default: &str| {
            let text = value.map(String::as_str).unwrap_or(default);
            text.parse::<IpAddr>().map_err(|_| ConfigError::BadAddress {
                what,
                value: text.to_owned(),
            })
        };
        let client_addr = address(
            "client_addr",
            flags.client.as_ref().or(file.client_addr.as_ref()),
            "127.0.0.1",
        )?;
        // Consul binds cluster traffic to 0.0.0.0 and advertises a private address; until
        // gossip exists Legate advertises loopback unless told otherwise, which is what a
        // single server on one host needs.
        let bind_default = if dev { "127.0.0.1" } else { "0.0.0.0" };
        let bind_addr = address(
            "bind_addr",
            flags.bind.as_ref().or(file.bind_addr.as_ref()),
            bind_default,
        )?;
        let advertise_default = if bind_addr.is_unspecified() {
            "127.0.0.1".to_owned()
        } else {
            bind_addr.to_string()
        };
        let advertise_addr = address(
            "advertise_addr",
            flags.advertise.as_ref().or(file.advertise_addr.as_ref()),
            &advertise_default,
        )?;
        let defaults = Ports::default();
        let ports = Ports {
            http: flags.http_port.or(file.ports.http).unwrap_or(defaults.http),
            dns: flags.dns_port.or(file.ports.dns).unwrap_or(defaults.dns),
            server: flags
                .server_port
                .or(file.ports.server)
                .unwrap_or(defaults.server),
            serf_lan: flags
                .serf_lan_port
                .or(file.ports.serf_lan)
                .unwrap_or(defaults.serf_lan),
            serf_wan: flags
                .serf_wan_port
                .or(file.ports.serf_wan)
                .unwrap_or(defaults.serf_wan),
        };
        let node_name = flags
            .node
            .clone()
            .or(file.node_name.clone())
            .unwrap_or_else(host_name);
        let domain = flags
            .domain
            .clone()
            .or(file.domain.clone())
            .unwrap_or_else(|| "consul".to_owned());
        let datacenter = flags
            .datacenter
            .clone()
            .or(file.datacenter.clone())
            .unwrap_or_else(|| "dc1".to_owned())
            .to_lowercase();
        let raft_snapshot_interval = match &file.raft_snapshot_interval {
            Some(text) => legate_api::duration::parse_std(text)
                .ok()
                .filter(|interval| !interval.is_zero())
                .ok_or_else(|| ConfigError::BadDuration {
                    key: "raft_snapshot_interval",
                    value: text.clone(),
                })?,
            None => std::time::Duration::from_secs(30),
        };
        let dns = dns::resolve(dns::DnsInputs {
            file: &file.dns_config,
            domain: &domain,
            alt_domain: flags.alt_domain.as_deref().or(file.alt_domain.as_deref()),
            recursors: &[flags.recursor.clone(), file.recursors.clone()].concat(),
            datacenter: &datacenter,
            node_name: &node_name,
        })?;
        let translate_wan_addrs = file.translate_wan_addrs.unwrap_or(false);
        let dns = legate_dns::DnsConfig {
            translate_wan_addrs,
            ..dns
        };
        let local = local::resolve(flags, &file)?;
        let watches = file
            .watches
            .iter()
            .map(crate::watch::spec::parse_config)
            .collect::<Result<Vec<_>, _>>()
            .map_err(ConfigError::Watch)?;
        if !watches.is_empty() && ports.http < 0 {
            return Err(ConfigError::Watch(
                "watch plans require an HTTP or HTTPS endpoint".to_owned(),
            ));
        }
        for watch in &watches {
            if matches!(watch.handler, crate::watch::spec::Handler::Shell(_)) {
                warnings.push(
                    "The 'handler' field in watches has been deprecated and replaced with the \
                     'args' field. See https://www.consul.io/docs/agent/watches.html"
                        .to_owned(),
                );
            }
        }
        Ok(Config {
            dev,
            server,
            bootstrap,
            primary_datacenter: file
                .primary_datacenter
                .clone()
                .unwrap_or_else(|| datacenter.clone()),
            datacenter,
            node_name,
            node_id: flags.node_id.clone().or(file.node_id.clone()),
            data_dir,
            client_addr,
            bind_addr,
            advertise_addr,
            ports,
            log_level: flags
                .log_level
                .clone()
                .or(file.log_level.clone())
                .unwrap_or_else(|| if dev { "debug" } else { "info" }.to_owned()),
            domain,
            kv_max_value_size: file.kv_max_value_size.unwrap_or(512 * 1024),
            translate_wan_addrs,
            http_max_conns_per_client: file.limits.http_max_conns_per_client.unwrap_or(200),
            raft_snapshot_threshold: file.raft_snapshot_threshold.unwrap_or(16384),
            raft_trailing_logs: file.raft_trailing_logs.unwrap_or(10240),
            raft_snapshot_interval,
            disk: {
                let defaults = crate::server::disk_guard::DiskSettings::default();
                crate::server::disk_guard::DiskSettings {
                    min_free: file
                        .disk_min_free_mb
                        .map_or(defaults.min_free, |mib| mib << 20),
                    ballast: file
                        .disk_ballast_mb
                        .map_or(defaults.ballast, |mib| mib << 20),
                }
            },
            dns,
            local,
            cluster,
            disable_metrics: file.telemetry.disable_metrics.unwrap_or(false),
            watches,
            warnings,
        })
    }
}

/// The host name, as Consul's default node name; "legate" if it cannot be read.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "legate".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dev_needs_nothing_and_uses_consul_defaults() {
        let config = Config::resolve(&AgentFlags {
            dev: true,
            ..AgentFlags::default()
        })
        .unwrap();
        assert!(config.server && config.bootstrap);
        assert_eq!(config.ports, Ports::default());
        assert_eq!(config.datacenter, "dc1");
        assert_eq!(config.client_addr.to_string(), "127.0.0.1");
        assert_eq!(config.data_dir, None);
    }

    #[test]
    fn flags_beat_files() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a.json");
        std::fs::write(
            &file,
            r#"{"datacenter":"east","ports":{"http":9000},"data_dir":"/d"}"#,
        )
        .unwrap();
        let config = Config::resolve(&AgentFlags {
            server: true,
            bootstrap: true,
            config_file: vec![file],
            http_port: Some(9100),
            ..AgentFlags::default()
        })
        .unwrap();
        assert_eq!(config.datacenter, "east");
        assert_eq!(config.ports.http, 9100);
        assert_eq!(config.data_dir, Some(PathBuf::from("/d")));
    }

    #[test]
    fn bootstrap_expect_of_one_is_bootstrap_mode() {
        let config = Config::resolve(&AgentFlags {
            server: true,
            bootstrap_expect: Some(1),
            data_dir: Some(PathBuf::from("/d")),
            ..AgentFlags::default()
        })
        .unwrap();
        assert!(config.bootstrap);
        assert_eq!(config.cluster.bootstrap_expect, 0);
    }

    #[test]
    fn watches_from_files_are_parsed_or_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("w.json");
        let flags = |file: &std::path::Path| AgentFlags {
            dev: true,
            config_file: vec![file.to_owned()],
            ..AgentFlags::default()
        };
        std::fs::write(
            &file,
            r#"{"watches":[{"type":"key","key":"k","args":["/bin/h"]}]}"#,
        )
        .unwrap();
        let config = Config::resolve(&flags(&file)).unwrap();
        assert_eq!(config.watches.len(), 1);
        assert!(config.warnings.is_empty(), "{:?}", config.warnings);
        std::fs::write(&file, r#"{"watches":[{"type":"key","key":"k"}]}"#).unwrap();
        let error = Config::resolve(&flags(&file)).unwrap_err();
        assert_eq!(error.to_string(), "Must define a watch handler");
        std::fs::write(
            &file,
            r#"{"ports":{"http":-1},"watches":[{"type":"nodes","handler":"h"}]}"#,
        )
        .unwrap();
        let error = Config::resolve(&flags(&file)).unwrap_err();
        assert_eq!(
            error.to_string(),
            "watch plans require an HTTP or HTTPS endpoint"
        );
    }

    #[test]
    fn a_server_needs_a_data_dir() {
        let result = Config::resolve(&AgentFlags {
            server: true,
            ..AgentFlags::default()
        });
        assert!(matches!(result, Err(ConfigError::MissingDataDir)));
    }
}
