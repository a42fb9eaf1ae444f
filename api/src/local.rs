//! `LocalAgent`: the host agent's own services and checks, as the `/v1/agent/*` endpoints
//! need them.
//!
//! An agent owns the services and checks of its host. They live in the agent, not in Raft:
//! the agent runs the checks, and anti-entropy copies its state into the catalog. This module
//! declares what the HTTP frontend needs from that local state and the typed definitions the
//! register endpoints decode into; the agent implements it.
//!
//! Rules every implementation keeps (Consul's `agent/agent.go` and `agent/local/state.go`):
//! 1. A write changes the local state and persists it before it returns; then it asks for a
//!    sync to the catalog and waits for it, as Consul's `syncChanges` does. A failed sync is
//!    logged, never returned: the local state is authoritative and anti-entropy retries.
//! 2. Re-registering a service ID replaces the service; its old checks stay unless
//!    `replace_existing_checks`, which removes those the new definition does not name.
//! 3. Deregistering an unknown service or check succeeds.
//! 4. Every change bumps the counter `changes()` reports, which wakes hash-blocking reads.

use legate_catalog::{self as catalog, CheckId, Health, ServiceId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;
use thiserror::Error;

/// Where a definition came from: script checks from config files are allowed by
/// `enable_local_script_checks`, those from the HTTP API only by `enable_script_checks`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Source {
    Api,
    ConfigFile,
}

/// An HTTP check's request.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpProbe {
    pub url: String,
    /// `GET` unless the definition names another method.
    pub method: String,
    pub header: BTreeMap<String, Vec<String>>,
    pub body: String,
    pub tls_server_name: String,
    pub tls_skip_verify: bool,
}

/// A gRPC health check's target: `host:port` or `host:port/service`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrpcProbe {
    pub target: String,
    pub use_tls: bool,
    pub tls_server_name: String,
    pub tls_skip_verify: bool,
}

/// How a check decides its status: one variant per kind, each with what its runner needs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CheckKind {
    /// The application reports its status through `/v1/agent/check/{pass,warn,fail,update}`;
    /// without a report for this long the check turns critical.
    Ttl(Duration),
    Http(HttpProbe),
    /// A TCP connect to `host:port`.
    Tcp(String),
    Grpc(GrpcProbe),
    /// A command run without a shell: exit 0 passing, 1 warning, anything else critical.
    Script(Vec<String>),
}

impl CheckKind {
    /// The `Type` Consul reports for the kind.
    pub fn type_name(&self) -> &'static str {
        match self {
            CheckKind::Ttl(_) => "ttl",
            CheckKind::Http(_) => "http",
            CheckKind::Tcp(_) => "tcp",
            CheckKind::Grpc(_) => "grpc",
            CheckKind::Script(_) => "script",
        }
    }
}

/// A check definition with Consul's defaults applied and validated.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckSpec {
    pub id: CheckId,
    pub name: String,
    pub notes: String,
    /// The service the check belongs to; empty for a node check.
    pub service_id: ServiceId,
    /// The status before the first run (Consul's default: critical).
    pub status: Health,
    pub kind: CheckKind,
    /// How often an interval check runs (zero for TTL checks).
    pub interval: Duration,
    /// How long one run may take.
    pub timeout: Duration,
    /// A service whose check stays critical this long is deregistered.
    pub deregister_critical_service_after: Option<Duration>,
    /// Consecutive successes needed before passing is reported.
    pub success_before_passing: u32,
    /// Consecutive failures before warning, then critical, are reported.
    pub failures_before_warning: u32,
    pub failures_before_critical: u32,
    /// Output is cut to this many bytes.
    pub output_max_size: usize,
}

/// Consul's `OutputMaxSize` default (4 KB).
pub const DEFAULT_OUTPUT_MAX_SIZE: usize = 4096;

impl CheckSpec {
    /// The definition Consul reports for the check (`Definition`, `Interval`, `Timeout`).
    pub fn definition(&self) -> catalog::CheckDefinition {
        let text = |duration: Duration| {
            if duration.is_zero() {
                String::new()
            } else {
                crate::duration::format_std(duration)
            }
        };
        let mut definition = catalog::CheckDefinition {
            interval: text(self.interval),
            timeout: text(self.timeout),
            deregister_critical_service_after: self
                .deregister_critical_service_after
                .map(text)
                .unwrap_or_default(),
            ..catalog::CheckDefinition::default()
        };
        match &self.kind {
            CheckKind::Http(probe) => {
                definition.http = probe.url.clone();
                definition.method = probe.method.clone();
                definition.header = probe.header.clone();
                definition.body = probe.body.clone();
                definition.tls_server_name = probe.tls_server_name.clone();
                definition.tls_skip_verify = probe.tls_skip_verify;
            }
            CheckKind::Tcp(address) => definition.tcp = address.clone(),
            CheckKind::Grpc(probe) => {
                definition.grpc = probe.target.clone();
                definition.grpc_use_tls = probe.use_tls;
                definition.tls_server_name = probe.tls_server_name.clone();
                definition.tls_skip_verify = probe.tls_skip_verify;
            }
            CheckKind::Ttl(_) | CheckKind::Script(_) => {}
        }
        definition
    }
}

/// A service definition: the instance (its `node` left empty; the agent fills it) and the
/// checks registered with it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceSpec {
    pub service: catalog::Service,
    pub checks: Vec<CheckSpec>,
}

/// Why a local-state call failed. Nothing changed in any case.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum LocalError {
    /// The service or check named does not exist (404). Retrying fails the same way.
    #[error("{0}")]
    NotFound(String),
    /// The definition is refused (400).
    #[error("{0}")]
    Invalid(String),
    /// The agent's configuration forbids it, e.g. script checks while disabled (500).
    #[error("{0}")]
    Refused(String),
    /// Persisting the change failed (500); the state is as before the call.
    #[error("{0}")]
    Storage(String),
}

/// The host agent's services and checks.
pub trait LocalAgent: Send + Sync + 'static {
    /// Adds or replaces a service and its checks (rule 2).
    fn register_service(
        &self,
        spec: ServiceSpec,
        replace_existing_checks: bool,
        source: Source,
    ) -> impl Future<Output = Result<(), LocalError>> + Send;

    /// Removes a service and its checks (rule 3).
    fn deregister_service(
        &self,
        id: ServiceId,
    ) -> impl Future<Output = Result<(), LocalError>> + Send;

    /// Adds or replaces a check; a check naming an unknown service is `NotFound`.
    fn register_check(
        &self,
        spec: CheckSpec,
        source: Source,
    ) -> impl Future<Output = Result<(), LocalError>> + Send;

    /// Removes a check (rule 3).
    fn deregister_check(&self, id: CheckId) -> impl Future<Output = Result<(), LocalError>> + Send;

    /// Sets a TTL check's status and output and restarts its TTL; `NotFound` when `id` is
    /// not a TTL check.
    fn update_ttl(
        &self,
        id: CheckId,
        status: Health,
        output: String,
    ) -> impl Future<Output = Result<(), LocalError>> + Send;

    /// Puts a service in or out of maintenance (`_service_maintenance:<id>`, critical);
    /// `NotFound` for an unknown service.
    fn service_maintenance(
        &self,
        id: ServiceId,
        enable: bool,
        reason: String,
    ) -> impl Future<Output = Result<(), LocalError>> + Send;

    /// Puts the node in or out of maintenance (`_node_maintenance`, critical).
    fn node_maintenance(
        &self,
        enable: bool,
        reason: String,
    ) -> impl Future<Output = Result<(), LocalError>> + Send;

    /// The local services, with this agent's node name, in ID order.
    fn services(&self) -> Vec<catalog::Service>;

    /// The local checks with their current status and output, in ID order.
    fn checks(&self) -> Vec<catalog::Check>;

    /// A counter bumped by every change (rule 4).
    fn changes(&self) -> tokio::sync::watch::Receiver<u64>;
}
