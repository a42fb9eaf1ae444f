//! The clustering part of the configuration: how the agent finds the others (`-join`,
//! `-retry-join`), how servers form their Raft group (`-bootstrap-expect`), gossip encryption
//! and tuning, leave behaviour, autopilot, and Raft's timing.
//!
//! Refusals are decided here, at start-up, each in one line that says what to change:
//! a client given `-bootstrap` or `-bootstrap-expect`, `-bootstrap` together with
//! `-bootstrap-expect`, a gossip key of the wrong length. An even `bootstrap_expect`, or 2,
//! starts with a warning that says what failure tolerance it really gives.

use super::file::FileConfig;
use super::{AgentFlags, ConfigError};
use base64::Engine;
use std::path::PathBuf;
use std::time::Duration;

/// Everything about the cluster `run` needs, resolved.
#[derive(Clone, Debug, PartialEq)]
pub struct ClusterSettings {
    /// Servers to wait for before bootstrapping Raft; 0 when not bootstrapping that way.
    pub bootstrap_expect: u32,
    /// Joined at start; start-up fails if none answers (Consul's `-join`).
    pub start_join: Vec<String>,
    /// Joined in the background, retried every `retry_interval` until one answers.
    pub retry_join: Vec<String>,
    /// The same for the WAN pool (servers only): `-join-wan`, `-retry-join-wan`.
    pub start_join_wan: Vec<String>,
    pub retry_join_wan: Vec<String>,
    pub retry_interval: Duration,
    /// 0 retries forever.
    pub retry_max: u32,
    /// The gossip key, decoded (16, 24 or 32 bytes), as given in base64.
    pub encrypt: Option<String>,
    pub encrypt_verify_incoming: bool,
    pub encrypt_verify_outgoing: bool,
    pub rejoin_after_leave: bool,
    pub leave_on_terminate: bool,
    pub skip_leave_on_interrupt: bool,
    pub pid_file: Option<PathBuf>,
    /// Failed members are reaped after this (Consul: 72h, at least 8h).
    pub reconnect_timeout: Duration,
    /// Failed WAN members (servers of other datacenters) are reaped after this (72h).
    pub reconnect_timeout_wan: Duration,
    pub gossip: GossipTuning,
    /// `gossip_wan`: the WAN pool's tuning over Consul's WAN defaults.
    pub gossip_wan: GossipTuning,
    pub autopilot: AutopilotSettings,
    /// Consul's `performance.raft_multiplier` (1 to 10): Raft's timeouts scale with it.
    pub raft_multiplier: u32,
    pub coordinates: CoordinateSettings,
}

/// How network coordinates travel from agents into the catalog (Consul's defaults).
#[derive(Clone, Debug, PartialEq)]
pub struct CoordinateSettings {
    /// An agent reports its coordinate at most this often...
    pub sync_interval_min: Duration,
    /// ...and less often in a large cluster, so that all agents together send about this
    /// many reports a second.
    pub sync_rate_target: f64,
    /// The leader writes the reports it holds this often.
    pub update_period: Duration,
}

impl Default for CoordinateSettings {
    fn default() -> Self {
        CoordinateSettings {
            sync_interval_min: Duration::from_secs(15),
            sync_rate_target: 64.0,
            update_period: Duration::from_secs(5),
        }
    }
}

/// `gossip_lan` or `gossip_wan`, where set; unset values keep Consul's defaults for the pool.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GossipTuning {
    pub gossip_nodes: Option<u32>,
    pub gossip_interval: Option<Duration>,
    pub probe_interval: Option<Duration>,
    pub probe_timeout: Option<Duration>,
    pub retransmit_mult: Option<u32>,
    pub suspicion_mult: Option<u32>,
}

/// Autopilot's settings (Consul's defaults).
#[derive(Clone, Debug, PartialEq)]
pub struct AutopilotSettings {
    pub cleanup_dead_servers: bool,
    pub last_contact_threshold: Duration,
    pub max_trailing_logs: u64,
    pub min_quorum: u32,
    pub server_stabilization_time: Duration,
}

impl Default for AutopilotSettings {
    fn default() -> Self {
        AutopilotSettings {
            cleanup_dead_servers: true,
            last_contact_threshold: Duration::from_millis(200),
            max_trailing_logs: 250,
            min_quorum: 0,
            server_stabilization_time: Duration::from_secs(10),
        }
    }
}

fn duration(key: &'static str, value: &Option<String>) -> Result<Option<Duration>, ConfigError> {
    match value {
        None => Ok(None),
        Some(text) => legate_api::duration::parse_std(text)
            .ok()
            .filter(|value| !value.is_zero())
            .map(Some)
            .ok_or_else(|| ConfigError::BadDuration {
                key,
                value: text.clone(),
            }),
    }
}

/// A pool's `gossip_lan` / `gossip_wan` section, its durations parsed; `keys` name its
/// three duration keys for error messages.
fn tuning(
    keys: [&'static str; 3],
    file: &super::file::FileGossip,
) -> Result<GossipTuning, ConfigError> {
    let [gossip_interval, probe_interval, probe_timeout] = keys;
    Ok(GossipTuning {
        gossip_nodes: file.gossip_nodes,
        gossip_interval: duration(gossip_interval, &file.gossip_interval)?,
        probe_interval: duration(probe_interval, &file.probe_interval)?,
        probe_timeout: duration(probe_timeout, &file.probe_timeout)?,
        retransmit_mult: file.retransmit_mult,
        suspicion_mult: file.suspicion_mult,
    })
}

/// Checks a gossip key: base64 of 16, 24 or 32 bytes.
pub fn check_key(key: &str) -> Result<(), String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(key.trim())
        .map_err(|error| format!("encrypt key is not valid base64: {error}"))?;
    match bytes.len() {
        16 | 24 | 32 => Ok(()),
        other => Err(format!(
            "encrypt key must be 16, 24 or 32 bytes after base64 decoding, got {other}; \
             generate one with `legate keygen`"
        )),
    }
}

/// Resolves the cluster settings. `server` and `bootstrap` are the already-resolved modes.
pub fn resolve(
    flags: &AgentFlags,
    file: &FileConfig,
    server: bool,
    bootstrap: bool,
    warnings: &mut Vec<String>,
) -> Result<ClusterSettings, ConfigError> {
    let expect = flags
        .bootstrap_expect
        .or(file.bootstrap_expect)
        .unwrap_or(0);
    if !server && bootstrap {
        return Err(ConfigError::Cluster(
            "-bootstrap is only for servers: add -server, or drop -bootstrap for a client agent"
                .to_owned(),
        ));
    }
    if !server && expect > 0 {
        return Err(ConfigError::Cluster(
            "-bootstrap-expect is only for servers: add -server, or drop it for a client agent"
                .to_owned(),
        ));
    }
    if bootstrap && expect > 0 && !flags.dev {
        return Err(ConfigError::Cluster(format!(
            "-bootstrap and -bootstrap-expect={expect} are mutually exclusive: use -bootstrap \
             for a single server, or -bootstrap-expect=N on each of N servers"
        )));
    }
    match expect {
        2 => warnings.push(
            "bootstrap_expect = 2: a cluster of 2 servers tolerates no failure (both are needed \
             for a quorum) and is twice as likely to lose it as one server; use 3 or 5"
                .to_owned(),
        ),
        n if n > 2 && n % 2 == 0 => warnings.push(format!(
            "bootstrap_expect = {n} is even: {n} servers tolerate {} failures, no more than {} \
             servers would; use an odd number",
            (n - 1) / 2,
            n - 1
        )),
        _ => {}
    }
    let encrypt = flags.encrypt.clone().or(file.encrypt.clone());
    if let Some(key) = &encrypt {
        check_key(key).map_err(ConfigError::Cluster)?;
    }
    let reconnect_timeout = duration("reconnect_timeout", &file.reconnect_timeout)?
        .unwrap_or(Duration::from_secs(72 * 3600));
    if reconnect_timeout < Duration::from_secs(8 * 3600) {
        // Consul's floor; shorter ones are for tests, which say so explicitly.
        warnings.push(format!(
            "reconnect_timeout = {reconnect_timeout:?} is below Consul's 8h minimum: failed \
             members are reaped (and deregistered) that soon"
        ));
    }
    let gossip = tuning(
        [
            "gossip_lan.gossip_interval",
            "gossip_lan.probe_interval",
            "gossip_lan.probe_timeout",
        ],
        &file.gossip_lan,
    )?;
    let gossip_wan = tuning(
        [
            "gossip_wan.gossip_interval",
            "gossip_wan.probe_interval",
            "gossip_wan.probe_timeout",
        ],
        &file.gossip_wan,
    )?;
    let reconnect_timeout_wan = duration("reconnect_timeout_wan", &file.reconnect_timeout_wan)?
        .unwrap_or(Duration::from_secs(72 * 3600));
    let defaults = AutopilotSettings::default();
    let autopilot = AutopilotSettings {
        cleanup_dead_servers: file
            .autopilot
            .cleanup_dead_servers
            .unwrap_or(defaults.cleanup_dead_servers),
        last_contact_threshold: duration(
            "autopilot.last_contact_threshold",
            &file.autopilot.last_contact_threshold,
        )?
        .unwrap_or(defaults.last_contact_threshold),
        max_trailing_logs: file
            .autopilot
            .max_trailing_logs
            .unwrap_or(defaults.max_trailing_logs),
        min_quorum: file.autopilot.min_quorum.unwrap_or(defaults.min_quorum),
        server_stabilization_time: duration(
            "autopilot.server_stabilization_time",
            &file.autopilot.server_stabilization_time,
        )?
        .unwrap_or(defaults.server_stabilization_time),
    };
    let coordinate_defaults = CoordinateSettings::default();
    let sync_rate_target = file
        .sync_coordinate_rate_target
        .unwrap_or(coordinate_defaults.sync_rate_target);
    if !(sync_rate_target.is_finite() && sync_rate_target > 0.0) {
        return Err(ConfigError::Cluster(format!(
            "sync_coordinate_rate_target = {sync_rate_target}: it must be a positive number"
        )));
    }
    let coordinates = CoordinateSettings {
        sync_interval_min: duration(
            "sync_coordinate_interval_min",
            &file.sync_coordinate_interval_min,
        )?
        .unwrap_or(coordinate_defaults.sync_interval_min),
        sync_rate_target,
        update_period: duration("coordinate_update_period", &file.coordinate_update_period)?
            .unwrap_or(coordinate_defaults.update_period),
    };
    let raft_multiplier = file.performance.raft_multiplier.unwrap_or(1);
    if !(1..=10).contains(&raft_multiplier) {
        return Err(ConfigError::Cluster(format!(
            "performance.raft_multiplier = {raft_multiplier}: it must be between 1 and 10"
        )));
    }
    Ok(ClusterSettings {
        bootstrap_expect: expect,
        start_join: [flags.join.clone(), file.start_join.clone()].concat(),
        retry_join: [flags.retry_join.clone(), file.retry_join.clone()].concat(),
        start_join_wan: [flags.join_wan.clone(), file.start_join_wan.clone()].concat(),
        retry_join_wan: [flags.retry_join_wan.clone(), file.retry_join_wan.clone()].concat(),
        retry_interval: duration(
            "retry_interval",
            &flags.retry_interval.clone().or(file.retry_interval.clone()),
        )?
        .unwrap_or(Duration::from_secs(30)),
        retry_max: flags.retry_max.or(file.retry_max).unwrap_or(0),
        encrypt,
        encrypt_verify_incoming: file.encrypt_verify_incoming.unwrap_or(true),
        encrypt_verify_outgoing: file.encrypt_verify_outgoing.unwrap_or(true),
        rejoin_after_leave: flags.rejoin || file.rejoin_after_leave.unwrap_or(false),
        // Consul: servers stay in the cluster on SIGTERM and SIGINT unless told otherwise
        // (a restart should not shrink the quorum); clients leave on both.
        leave_on_terminate: flags
            .leave_on_terminate
            .or(file.leave_on_terminate)
            .unwrap_or(!server),
        skip_leave_on_interrupt: flags
            .skip_leave_on_interrupt
            .or(file.skip_leave_on_interrupt)
            .unwrap_or(server),
        pid_file: flags.pid_file.clone().or(file.pid_file.clone()),
        reconnect_timeout,
        reconnect_timeout_wan,
        gossip,
        gossip_wan,
        autopilot,
        raft_multiplier,
        coordinates,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve_with(
        flags: AgentFlags,
        server: bool,
        bootstrap: bool,
    ) -> Result<ClusterSettings, String> {
        let mut warnings = Vec::new();
        resolve(
            &flags,
            &FileConfig::default(),
            server,
            bootstrap,
            &mut warnings,
        )
        .map_err(|error| error.to_string())
    }

    #[test]
    fn clients_refuse_bootstrap_flags_with_a_line_that_says_what_to_change() {
        let error = resolve_with(AgentFlags::default(), false, true).unwrap_err();
        assert!(error.contains("add -server"), "{error}");
        let error = resolve_with(
            AgentFlags {
                bootstrap_expect: Some(3),
                ..AgentFlags::default()
            },
            false,
            false,
        )
        .unwrap_err();
        assert!(error.contains("only for servers"), "{error}");
    }

    #[test]
    fn bad_keys_are_refused_and_good_ones_pass() {
        assert!(check_key("aGVsbG8=").unwrap_err().contains("got 5"));
        assert!(check_key("not base64!").is_err());
        let key = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
        assert!(check_key(&key).is_ok());
    }

    #[test]
    fn even_or_two_server_clusters_warn_with_their_real_tolerance() {
        for (expect, words) in [(2, "tolerates no failure"), (4, "tolerate 1 failures")] {
            let mut warnings = Vec::new();
            resolve(
                &AgentFlags {
                    bootstrap_expect: Some(expect),
                    ..AgentFlags::default()
                },
                &FileConfig::default(),
                true,
                false,
                &mut warnings,
            )
            .unwrap();
            assert!(
                warnings.iter().any(|warning| warning.contains(words)),
                "{warnings:?}"
            );
        }
    }

    #[test]
    fn leave_defaults_follow_the_role() {
        let server = resolve_with(AgentFlags::default(), true, false).unwrap();
        assert!(!server.leave_on_terminate && server.skip_leave_on_interrupt);
        let client = resolve_with(AgentFlags::default(), false, false).unwrap();
        assert!(client.leave_on_terminate && !client.skip_leave_on_interrupt);
    }
}
