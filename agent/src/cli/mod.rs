//! The client verbs: each speaks Consul's HTTP API through `legate_api::client`, as the
//! `consul` CLI does, and prints what `consul` prints so scripts keep working.
//!
//! Layout:
//! - `kv`: `kv get|put|delete`.
//! - `catalog`: `catalog services|nodes|datacenters`.
//! - `members`: `members`.
//! - `join`, `leave`, `force_leave`: this agent's membership of the pools.
//! - `operator`: `operator raft ...` and `operator autopilot ...`.
//! - `keygen`, `keyring`: gossip encryption keys.
//! - `services`: `services register|deregister`, from flags or definition files.
//! - `maint`: `maint`, node and service maintenance mode.
//! - `lock`: `lock`, running a command while holding a lock or semaphore slot.
//! - `table`: column alignment for tabular output.
//! - `event`: `event`, firing a user event; `watch`: `watch`, over `crate::watch`.
//! - `rtt`: `rtt`, a round trip estimated from network coordinates.

mod catalog;
mod event;
mod force_leave;
mod join;
mod keygen;
mod keyring;
mod kv;
mod leave;
mod lock;
mod maint;
mod members;
mod operator;
mod rtt;
mod services;
mod table;
mod watch;

use crate::config::AgentFlags;
use clap::{Args, Parser, Subcommand};
use legate_api::client::{Client, ClientError, QueryOptions};
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(name = "legate", version, about = "Legate: a Consul-compatible agent")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Verb,
}

#[derive(Debug, Subcommand)]
pub enum Verb {
    /// Run an agent.
    Agent(Box<AgentFlags>),
    /// Read and write the KV store.
    Kv(kv::KvCommand),
    /// List the catalog.
    Catalog(catalog::CatalogCommand),
    /// List the members of the gossip pool.
    Members(members::MembersArgs),
    /// Register or deregister services with the local agent.
    Services(services::ServicesCommand),
    /// Put the node or a service in or out of maintenance mode, or list it.
    Maint(maint::MaintArgs),
    /// Join the cluster through existing members.
    Join(join::JoinArgs),
    /// Leave the cluster gracefully and shut the agent down.
    Leave(leave::LeaveArgs),
    /// Force a failed member into the "left" state.
    ForceLeave(force_leave::ForceLeaveArgs),
    /// Run a command while holding a lock (or one of N semaphore slots).
    Lock(lock::LockArgs),
    /// Raft and autopilot operations.
    #[command(subcommand)]
    Operator(operator::OperatorCommand),
    /// Generate a new gossip encryption key.
    Keygen,
    /// List, install, use or remove gossip encryption keys.
    Keyring(keyring::KeyringArgs),
    /// Print the version.
    Version,
    /// Fire a new event.
    Event(event::EventArgs),
    /// Watch for changes in Consul.
    Watch(watch::WatchArgs),
    /// Estimate the round trip between two nodes from their network coordinates.
    Rtt(rtt::RttArgs),
}

/// Flags every client verb takes, with Consul's names and environment variables.
#[derive(Clone, Debug, Args)]
pub struct HttpFlags {
    /// The agent's HTTP address (`127.0.0.1:8500` or `http://host:port`).
    #[arg(
        long = "http-addr",
        env = "CONSUL_HTTP_ADDR",
        default_value = "127.0.0.1:8500"
    )]
    pub http_addr: String,
    /// ACL token for the request.
    #[arg(long, env = "CONSUL_HTTP_TOKEN")]
    pub token: Option<String>,
    /// Datacenter to query (default: the agent's).
    #[arg(long)]
    pub datacenter: Option<String>,
    /// Allow any server to answer, not only the leader.
    #[arg(long)]
    pub stale: bool,
}

impl HttpFlags {
    pub fn client(&self) -> Client {
        let base = if self.http_addr.contains("://") {
            self.http_addr.clone()
        } else {
            format!("http://{}", self.http_addr)
        };
        let client = Client::new(base.trim_end_matches('/'));
        match &self.token {
            Some(token) if !token.is_empty() => client.with_token(token.clone()),
            _ => client,
        }
    }

    pub fn query(&self) -> QueryOptions {
        QueryOptions {
            datacenter: self.datacenter.clone(),
            stale: self.stale,
            ..QueryOptions::default()
        }
    }
}

/// What a verb prints and how it exits.
pub struct Outcome {
    pub stdout: String,
    pub stderr: String,
    pub code: u8,
}

impl Outcome {
    pub fn ok(stdout: String) -> Outcome {
        Outcome {
            stdout,
            stderr: String::new(),
            code: 0,
        }
    }

    pub fn fail(stderr: String) -> Outcome {
        Outcome {
            stdout: String::new(),
            stderr,
            code: 1,
        }
    }
}

/// Consul's wording for a failed call.
pub fn call_failed(what: &str, error: ClientError) -> Outcome {
    Outcome::fail(format!("Error {what}: {error}"))
}

/// Runs a client verb and exits as `consul` would.
pub fn run_client(verb: Verb) -> ExitCode {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let outcome = runtime.block_on(async {
        match verb {
            Verb::Agent(_) => unreachable!("the agent verb is handled by main"),
            Verb::Kv(command) => kv::run(command).await,
            Verb::Catalog(command) => catalog::run(command).await,
            Verb::Members(args) => members::run(args).await,
            Verb::Services(command) => services::run(command).await,
            Verb::Maint(args) => maint::run(args).await,
            Verb::Join(args) => join::run(args).await,
            Verb::Leave(args) => leave::run(args).await,
            Verb::ForceLeave(args) => force_leave::run(args).await,
            Verb::Rtt(args) => rtt::run(args).await,
            Verb::Lock(args) => lock::run(args).await,
            Verb::Operator(command) => operator::run(command).await,
            Verb::Keygen => keygen::run(),
            Verb::Keyring(args) => keyring::run(args).await,
            Verb::Version => Outcome::ok(version_text()),
            Verb::Event(args) => event::run(args).await,
            Verb::Watch(args) => watch::run(args).await,
        }
    });
    print_lines(&outcome.stdout, false);
    print_lines(&outcome.stderr, true);
    ExitCode::from(outcome.code)
}

fn print_lines(text: &str, to_stderr: bool) {
    if text.is_empty() {
        return;
    }
    let line = text.strip_suffix('\n').unwrap_or(text);
    if to_stderr {
        eprintln!("{line}");
    } else {
        println!("{line}");
    }
}

fn version_text() -> String {
    format!(
        "Legate v{}\nRevision {}\nProtocol 2 spoken by default, understands 2 to 3",
        crate::run::VERSION,
        crate::run::REVISION
    )
}
