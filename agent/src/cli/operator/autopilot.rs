//! `legate operator autopilot get-config|set-config|state`, printing what `consul operator
//! autopilot` prints. `set-config` reads the configuration, changes what the flags name and
//! writes it back with a check-and-set on its `ModifyIndex`, as Consul's command does.

use super::super::{HttpFlags, Outcome};
use clap::{Args, Subcommand};
use legate_api::decode::GoDuration;
use legate_api::duration;
use legate_api::reply;
use legate_api::types::{AutopilotConfiguration, AutopilotServer, AutopilotState};
use std::fmt::Write;

#[derive(Debug, Subcommand)]
pub enum AutopilotCommand {
    /// Show autopilot's configuration.
    GetConfig(GetConfigArgs),
    /// Change autopilot's configuration (only the settings given).
    SetConfig(Box<SetConfigArgs>),
    /// Show autopilot's view of the servers.
    State(StateArgs),
}

#[derive(Debug, Args)]
pub struct GetConfigArgs {
    #[command(flatten)]
    http: HttpFlags,
}

#[derive(Debug, Args)]
pub struct SetConfigArgs {
    #[command(flatten)]
    http: HttpFlags,
    /// Remove dead servers when new ones join (`true|false`).
    #[arg(long = "cleanup-dead-servers", num_args = 0..=1, default_missing_value = "true",
          value_parser = parse_go_bool)]
    cleanup_dead_servers: Option<bool>,
    /// How long a server may go without the leader's contact before it is unhealthy (`200ms`).
    #[arg(long = "last-contact-threshold", value_parser = parse_go_duration)]
    last_contact_threshold: Option<i64>,
    /// How many log entries a server may trail the leader by before it is unhealthy.
    #[arg(long = "max-trailing-logs")]
    max_trailing_logs: Option<u64>,
    /// The fewest servers autopilot prunes dead servers down to.
    #[arg(long = "min-quorum")]
    min_quorum: Option<u32>,
    /// How long a new server must be healthy before it is promoted (`10s`).
    #[arg(long = "server-stabilization-time", value_parser = parse_go_duration)]
    server_stabilization_time: Option<i64>,
    /// (Enterprise) The node-meta key that names a server's redundancy zone.
    #[arg(long = "redundancy-zone-tag")]
    redundancy_zone_tag: Option<String>,
    /// (Enterprise) Do not wait for upgrade migrations before promoting (`true|false`).
    #[arg(long = "disable-upgrade-migration", num_args = 0..=1,
          default_missing_value = "true", value_parser = parse_go_bool)]
    disable_upgrade_migration: Option<bool>,
    /// (Enterprise) The node-meta key that holds a server's version for upgrades.
    #[arg(long = "upgrade-version-tag")]
    upgrade_version_tag: Option<String>,
}

#[derive(Debug, Args)]
pub struct StateArgs {
    #[command(flatten)]
    http: HttpFlags,
    /// Output format: `pretty` or `json`.
    #[arg(long, default_value = "pretty")]
    format: String,
}

/// Go's `strconv.ParseBool`, which Consul's boolean flags use.
fn parse_go_bool(text: &str) -> Result<bool, String> {
    match text {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        other => Err(format!("parse error: {other:?} is not a boolean")),
    }
}

/// A Go duration (`200ms`, `1m30s`) as nanoseconds; negative ones are refused.
fn parse_go_duration(text: &str) -> Result<i64, String> {
    let nanos = duration::parse(text).map_err(|error| error.to_string())?;
    if nanos < 0 {
        return Err(format!("negative duration {text:?}"));
    }
    Ok(nanos)
}

/// `get-config`'s lines, strings quoted as Go's `%q` quotes them.
pub fn config_text(config: &AutopilotConfiguration) -> String {
    format!(
        "CleanupDeadServers = {}\nLastContactThreshold = {}\nMaxTrailingLogs = {}\n\
         MinQuorum = {}\nServerStabilizationTime = {}\nRedundancyZoneTag = {:?}\n\
         DisableUpgradeMigration = {}\nUpgradeVersionTag = {:?}\n",
        config.cleanup_dead_servers,
        duration::format(config.last_contact_threshold.0),
        config.max_trailing_logs,
        config.min_quorum,
        duration::format(config.server_stabilization_time.0),
        config.redundancy_zone_tag,
        config.disable_upgrade_migration,
        config.upgrade_version_tag,
    )
}

/// `config` with the settings the flags give.
pub fn merged(mut config: AutopilotConfiguration, args: &SetConfigArgs) -> AutopilotConfiguration {
    if let Some(value) = args.cleanup_dead_servers {
        config.cleanup_dead_servers = value;
    }
    if let Some(nanos) = args.last_contact_threshold {
        config.last_contact_threshold = GoDuration(nanos);
    }
    if let Some(value) = args.max_trailing_logs {
        config.max_trailing_logs = value;
    }
    if let Some(value) = args.min_quorum {
        config.min_quorum = value;
    }
    if let Some(nanos) = args.server_stabilization_time {
        config.server_stabilization_time = GoDuration(nanos);
    }
    if let Some(value) = &args.redundancy_zone_tag {
        config.redundancy_zone_tag = value.clone();
    }
    if let Some(value) = args.disable_upgrade_migration {
        config.disable_upgrade_migration = value;
    }
    if let Some(value) = &args.upgrade_version_tag {
        config.upgrade_version_tag = value.clone();
    }
    config
}

fn server_text(out: &mut String, server: &AutopilotServer) {
    // Writing to a String cannot fail.
    let _ = write!(
        out,
        "   {}\n      Name:            {}\n      Address:         {}\n      \
         Version:         {}\n      Status:          {}\n      Node Type:       {}\n      \
         Node Status:     {}\n      Healthy:         {}\n      Last Contact:    {}\n      \
         Last Term:       {}\n      Last Index:      {}\n",
        server.id,
        server.name,
        server.address,
        server.version,
        server.status,
        server.node_type,
        server.node_status,
        server.healthy,
        duration::format(server.last_contact.0),
        server.last_term,
        server.last_index,
    );
    if server.read_replica {
        out.push_str("      Read Replica:    true\n");
    }
    if !server.meta.is_empty() {
        out.push_str("      Meta\n");
        for (key, value) in &server.meta {
            let _ = writeln!(out, "         {key:?}: {value:?}");
        }
    }
}

/// `state`'s pretty format: the summary, the voters, then each server by ID.
pub fn state_text(state: &AutopilotState) -> String {
    let mut out = format!(
        "Healthy:                      {}\nFailure Tolerance:            {}\n\
         Optimistic Failure Tolerance: {}\nLeader:                       {}\nVoters:\n",
        state.healthy, state.failure_tolerance, state.optimistic_failure_tolerance, state.leader
    );
    for voter in &state.voters {
        let _ = writeln!(out, "   {voter}");
    }
    if !state.read_replicas.is_empty() {
        out.push_str("Read Replicas:\n");
        for replica in &state.read_replicas {
            let _ = writeln!(out, "   {replica}");
        }
    }
    out.push_str("Servers:\n");
    for server in state.servers.values() {
        server_text(&mut out, server);
    }
    out
}

pub async fn run(command: AutopilotCommand) -> Outcome {
    match command {
        AutopilotCommand::GetConfig(args) => {
            let client = args.http.client();
            match client.autopilot_configuration(args.http.stale).await {
                Ok(config) => Outcome::ok(config_text(&config)),
                Err(error) => {
                    Outcome::fail(format!("Error querying Autopilot configuration: {error}"))
                }
            }
        }
        AutopilotCommand::SetConfig(args) => {
            let client = args.http.client();
            let current = match client.autopilot_configuration(false).await {
                Ok(config) => config,
                Err(error) => {
                    return Outcome::fail(format!(
                        "Error querying Autopilot configuration: {error}"
                    ))
                }
            };
            let cas = current.modify_index;
            let wanted = merged(current, &args);
            match client.autopilot_set_configuration(&wanted, Some(cas)).await {
                Ok(true) => Outcome::ok("Configuration updated!\n".to_owned()),
                Ok(false) => Outcome {
                    stdout: "Configuration could not be atomically updated, please try again\n"
                        .to_owned(),
                    stderr: String::new(),
                    code: 1,
                },
                Err(error) => {
                    Outcome::fail(format!("Error setting Autopilot configuration: {error}"))
                }
            }
        }
        AutopilotCommand::State(args) => {
            if args.format != "pretty" && args.format != "json" {
                return Outcome::fail(format!("Unknown format: {}", args.format));
            }
            let client = args.http.client();
            match client.autopilot_state(args.http.stale).await {
                Ok(state) if args.format == "json" => {
                    Outcome::ok(String::from_utf8_lossy(&reply::to_json(&state, true)).into_owned())
                }
                Ok(state) => Outcome::ok(state_text(&state)),
                Err(error) => Outcome::fail(format!("Error querying Autopilot state: {error}")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use std::collections::BTreeMap;

    #[derive(Debug, Parser)]
    struct Wrapper {
        #[command(flatten)]
        args: SetConfigArgs,
    }

    #[test]
    fn get_config_prints_consuls_lines() {
        assert_eq!(
            config_text(&AutopilotConfiguration::default()),
            "CleanupDeadServers = true\nLastContactThreshold = 200ms\nMaxTrailingLogs = 250\n\
             MinQuorum = 0\nServerStabilizationTime = 10s\nRedundancyZoneTag = \"\"\n\
             DisableUpgradeMigration = false\nUpgradeVersionTag = \"\"\n"
        );
    }

    #[test]
    fn set_config_changes_only_the_flags_given() {
        let args = Wrapper::parse_from([
            "set-config",
            "--cleanup-dead-servers=false",
            "--last-contact-threshold=1m30s",
            "--min-quorum=3",
        ])
        .args;
        let config = merged(AutopilotConfiguration::default(), &args);
        assert!(!config.cleanup_dead_servers);
        assert_eq!(duration::format(config.last_contact_threshold.0), "1m30s");
        assert_eq!(config.min_quorum, 3);
        assert_eq!(config.max_trailing_logs, 250);
        assert_eq!(duration::format(config.server_stabilization_time.0), "10s");
        let bare = Wrapper::parse_from(["set-config", "--disable-upgrade-migration"]).args;
        assert!(merged(AutopilotConfiguration::default(), &bare).disable_upgrade_migration);
        assert!(Wrapper::try_parse_from(["set-config", "--last-contact-threshold=soon"]).is_err());
        assert!(Wrapper::try_parse_from(["set-config", "--cleanup-dead-servers=maybe"]).is_err());
    }

    #[test]
    fn state_pretty_matches_consuls_layout() {
        let server = AutopilotServer {
            id: "id-1".into(),
            name: "node1".into(),
            address: "198.18.0.1:8300".into(),
            node_status: "alive".into(),
            version: "1.9.0".into(),
            last_contact: GoDuration(0),
            last_term: 3,
            last_index: 42,
            healthy: true,
            status: "leader".into(),
            node_type: "voter".into(),
            meta: BTreeMap::from([("foo".to_owned(), "bar".to_owned())]),
            ..AutopilotServer::default()
        };
        let state = AutopilotState {
            healthy: true,
            failure_tolerance: 1,
            leader: "id-1".into(),
            voters: vec!["id-1".into()],
            servers: BTreeMap::from([("id-1".to_owned(), server)]),
            ..AutopilotState::default()
        };
        assert_eq!(
            state_text(&state),
            "Healthy:                      true\n\
             Failure Tolerance:            1\n\
             Optimistic Failure Tolerance: 0\n\
             Leader:                       id-1\n\
             Voters:\n   id-1\n\
             Servers:\n   id-1\n\
             \x20     Name:            node1\n\
             \x20     Address:         198.18.0.1:8300\n\
             \x20     Version:         1.9.0\n\
             \x20     Status:          leader\n\
             \x20     Node Type:       voter\n\
             \x20     Node Status:     alive\n\
             \x20     Healthy:         true\n\
             \x20     Last Contact:    0s\n\
             \x20     Last Term:       3\n\
             \x20     Last Index:      42\n\
             \x20     Meta\n\
             \x20        \"foo\": \"bar\"\n"
        );
    }
}
