//! `legate agent` flags, spelled as Consul spells them.
//!
//! Consul's CLI uses Go's flag package: single-dash long flags (`-dev`, `-data-dir=D`).
//! `normalize_args` rewrites those to clap's double-dash form before parsing, so both
//! spellings work and scripts written for `consul agent` run unchanged.

use clap::Args;
use std::path::PathBuf;

#[derive(Clone, Debug, Default, Args)]
pub struct AgentFlags {
    /// Development mode: one self-bootstrapping server, nothing to set up.
    #[arg(long)]
    pub dev: bool,
    /// Run as a server (a Raft voter holding the catalog).
    #[arg(long)]
    pub server: bool,
    /// Bootstrap a single-server datacenter.
    #[arg(long)]
    pub bootstrap: bool,
    /// Servers to wait for before bootstrapping.
    #[arg(long = "bootstrap-expect")]
    pub bootstrap_expect: Option<u32>,
    /// Where state is kept.
    #[arg(long = "data-dir")]
    pub data_dir: Option<PathBuf>,
    /// A directory of JSON config files (repeatable).
    #[arg(long = "config-dir")]
    pub config_dir: Vec<PathBuf>,
    /// A JSON config file (repeatable).
    #[arg(long = "config-file")]
    pub config_file: Vec<PathBuf>,
    /// This node's name (default: the host name).
    #[arg(long)]
    pub node: Option<String>,
    /// This node's UUID (default: generated once and kept in the data directory).
    #[arg(long = "node-id")]
    pub node_id: Option<String>,
    #[arg(long)]
    pub datacenter: Option<String>,
    /// Address for cluster communication.
    #[arg(long)]
    pub bind: Option<String>,
    /// Address advertised to other nodes.
    #[arg(long)]
    pub advertise: Option<String>,
    /// Address the HTTP and DNS interfaces bind to.
    #[arg(long)]
    pub client: Option<String>,
    #[arg(long = "log-level")]
    pub log_level: Option<String>,
    /// HTTP API port; -1 disables it.
    #[arg(long = "http-port", allow_negative_numbers = true)]
    pub http_port: Option<i32>,
    /// DNS port; -1 disables it.
    #[arg(long = "dns-port", allow_negative_numbers = true)]
    pub dns_port: Option<i32>,
    #[arg(long = "server-port")]
    pub server_port: Option<u16>,
    #[arg(long = "serf-lan-port")]
    pub serf_lan_port: Option<u16>,
    /// WAN gossip port (servers); -1 disables the WAN pool.
    #[arg(long = "serf-wan-port", allow_negative_numbers = true)]
    pub serf_wan_port: Option<i32>,
    #[arg(long)]
    pub domain: Option<String>,
    /// A second DNS domain answered like the first.
    #[arg(long = "alt-domain")]
    pub alt_domain: Option<String>,
    /// An upstream DNS server for names outside the domain (repeatable).
    #[arg(long)]
    pub recursor: Vec<String>,
    /// Accepted for compatibility; Legate has no web UI yet.
    #[arg(long)]
    pub ui: bool,
    /// An agent to join at start (repeatable); start-up fails if none can be reached.
    #[arg(long)]
    pub join: Vec<String>,
    /// An agent to join, retried until one answers (repeatable).
    #[arg(long = "retry-join")]
    pub retry_join: Vec<String>,
    /// A server of another datacenter to join over WAN gossip at start (repeatable).
    #[arg(long = "join-wan")]
    pub join_wan: Vec<String>,
    /// A server of another datacenter to join over WAN gossip, retried until one answers.
    #[arg(long = "retry-join-wan")]
    pub retry_join_wan: Vec<String>,
    /// Time between join attempts (default 30s).
    #[arg(long = "retry-interval")]
    pub retry_interval: Option<String>,
    /// Join attempts before giving up (0, the default, retries forever).
    #[arg(long = "retry-max")]
    pub retry_max: Option<u32>,
    /// The gossip encryption key: base64 of 16, 24 or 32 bytes (`legate keygen`).
    #[arg(long)]
    pub encrypt: Option<String>,
    /// Write the agent's PID here at start; removed on exit.
    #[arg(long = "pid-file")]
    pub pid_file: Option<PathBuf>,
    /// Ignore a previous leave and rejoin the cluster on start.
    #[arg(long)]
    pub rejoin: bool,
    /// Leave the cluster gracefully on SIGTERM (default: true for clients, false for servers).
    #[arg(long = "leave-on-terminate", num_args = 0..=1, default_missing_value = "true")]
    pub leave_on_terminate: Option<bool>,
    /// Do not leave gracefully on SIGINT (default: true for servers, false for clients).
    #[arg(long = "skip-leave-on-interrupt", num_args = 0..=1, default_missing_value = "true")]
    pub skip_leave_on_interrupt: Option<bool>,
    /// Consul's `-enable-script-checks`: script checks from the HTTP API and config files.
    #[arg(long = "enable-script-checks")]
    pub enable_script_checks: bool,
    /// Consul's `-enable-local-script-checks`: script checks from config files only.
    #[arg(long = "enable-local-script-checks")]
    pub enable_local_script_checks: bool,
}

/// Verbs that end with a command to run (`legate lock PREFIX COMMAND...`), with their flags
/// that take no value. Go's flag parsing stops at the first positional argument, so the
/// command's own flags (`legate lock p mytool -verbose`) must reach it untouched.
const COMMAND_VERBS: &[(&str, &[&str])] = &[
    (
        "lock",
        &["shell", "pass-stdin", "child-exit-code", "verbose", "stale"],
    ),
    ("watch", &["shell", "stale"]),
];

/// Rewrites Go-style single-dash long flags (`-data-dir=x`) to `--data-dir=x`. A single
/// letter (`-h`), a negative number (`-1`), everything after `--`, and everything from the
/// first positional argument of a `COMMAND_VERBS` verb on are left alone.
pub fn normalize_args(args: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest_is_positional = false;
    let mut boolean_flags: Option<&[&str]> = None;
    let mut value_follows = false;
    for (position, arg) in args.into_iter().enumerate() {
        if position == 0 || rest_is_positional {
            out.push(arg);
            continue;
        }
        if position == 1 && !arg.starts_with('-') {
            boolean_flags = COMMAND_VERBS
                .iter()
                .find(|(verb, _)| *verb == arg)
                .map(|(_, flags)| *flags);
            out.push(arg);
            continue;
        }
        if arg == "--" {
            rest_is_positional = true;
            out.push(arg);
            continue;
        }
        if let Some(booleans) = boolean_flags {
            if value_follows {
                value_follows = false;
                out.push(arg);
                continue;
            }
            if !arg.starts_with('-') {
                rest_is_positional = true;
                out.push(arg);
                continue;
            }
            let name = arg.trim_start_matches('-');
            value_follows = !name.contains('=') && !booleans.contains(&name);
        }
        let bytes = arg.as_bytes();
        let single_dash_long = bytes.len() > 2
            && bytes[0] == b'-'
            && bytes[1].is_ascii_alphabetic()
            && bytes[2] != b'=';
        if single_dash_long {
            out.push(format!("-{arg}"));
        } else {
            out.push(arg);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::normalize_args;

    fn norm(args: &[&str]) -> Vec<String> {
        normalize_args(args.iter().map(|a| a.to_string()))
    }

    #[test]
    fn go_style_flags_become_long_flags() {
        assert_eq!(
            norm(&[
                "legate",
                "agent",
                "-dev",
                "-data-dir=/x",
                "--node",
                "n",
                "-h",
                "-1"
            ]),
            [
                "legate",
                "agent",
                "--dev",
                "--data-dir=/x",
                "--node",
                "n",
                "-h",
                "-1"
            ]
        );
        assert_eq!(norm(&["legate", "--", "-keep"]), ["legate", "--", "-keep"]);
        assert_eq!(norm(&["legate", "-version"]), ["legate", "--version"]);
    }

    #[test]
    fn a_command_verbs_command_keeps_its_flags() {
        assert_eq!(
            norm(&[
                "legate",
                "lock",
                "-n",
                "3",
                "-shell=false",
                "-verbose",
                "-timeout",
                "5s",
                "p",
                "tool",
                "-verbose",
                "-x"
            ]),
            [
                "legate",
                "lock",
                "-n",
                "3",
                "--shell=false",
                "--verbose",
                "--timeout",
                "5s",
                "p",
                "tool",
                "-verbose",
                "-x"
            ]
        );
    }
}
