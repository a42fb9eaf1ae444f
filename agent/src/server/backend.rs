//! `api::Backend` for a server agent: reads from the local store, writes through Raft.
//!
//! Reads follow the consistency modes of `read_path` (forwarded to the leader where the mode
//! needs it); writes take the one write path (`write_path`), forwarded to the leader from a
//! follower.

use super::local_catalog::ServerCatalog;
use super::operator::Operator;
use super::raft::{RaftHandle, RaftMetrics, WriteError};
use super::read_path::{ReadFailure, ReadPath};
use super::rpc::message::ReadRequest;
use super::write_path::WritePath;
use crate::federation::Federation;
use crate::forward;
use crate::local::LocalState;
use crate::membership::Membership;
use crate::operator_calls::OperatorCalls;
use crate::user_events::UserEvents;
use legate_api::backend::{
    AgentInfo, Backend, BackendError, Member, RaftStatus, Read, ReadOptions,
};
use legate_catalog::{Command, Datacenter, Outcome, Query, QueryResult, SharedStore};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub struct ServerBackend {
    parts: ServerParts,
    started: Instant,
}

/// What a server's backend serves from.
pub struct ServerParts {
    pub raft: RaftHandle,
    pub writes: WritePath,
    pub reads: ReadPath,
    pub store: Arc<SharedStore>,
    pub info: AgentInfo,
    /// The services and checks this agent owns.
    pub local: LocalState<ServerCatalog>,
    pub membership: Membership,
    pub ops: OperatorCalls<Operator>,
    /// User events over this agent's gossip.
    pub user_events: UserEvents,
    /// Other datacenters, for calls naming one (`?dc=`).
    pub federation: Federation,
}

impl std::ops::Deref for ServerBackend {
    type Target = ServerParts;

    fn deref(&self) -> &ServerParts {
        &self.parts
    }
}

impl ServerBackend {
    pub fn new(parts: ServerParts) -> ServerBackend {
        ServerBackend {
            parts,
            started: Instant::now(),
        }
    }

    /// The datacenter a call names, when it is not this one.
    fn elsewhere<'a>(&self, datacenter: &'a Option<Datacenter>) -> Option<&'a str> {
        datacenter
            .as_ref()
            .filter(|dc| **dc != self.info.datacenter)
            .map(|dc| dc.as_str())
    }
}

fn write_error(error: WriteError) -> BackendError {
    match error {
        // Not applied, and no leader could take it.
        WriteError::NotLeader { .. } => BackendError::NoLeader,
        WriteError::Refused(message) => BackendError::Internal(message),
        WriteError::ShuttingDown | WriteError::DiskFull(_) => {
            BackendError::Internal(error.to_string())
        }
        // The entry may or may not have been committed.
        WriteError::Storage { .. } | WriteError::Indeterminate { .. } => {
            BackendError::Indeterminate(error.to_string())
        }
    }
}

/// What the frontend needs from Raft's metrics, in the frontend's terms.
struct View {
    is_leader: bool,
    leader: Option<String>,
    voters: Vec<String>,
    /// Zero on the leader; on a follower, the time since the leader last reached it.
    last_contact: Duration,
    metrics: RaftMetrics,
}

impl View {
    fn of(raft: &RaftHandle, reads: &ReadPath) -> View {
        let metrics = raft.metrics();
        View {
            is_leader: metrics.is_leader(),
            leader: metrics.leader.as_ref().and_then(|peer| peer.addr.clone()),
            voters: metrics
                .voters
                .iter()
                .filter_map(|peer| peer.addr.clone())
                .collect(),
            last_contact: reads.contact_age(),
            metrics,
        }
    }
}

impl Backend for ServerBackend {
    type Local = LocalState<ServerCatalog>;

    fn local(&self) -> &Self::Local {
        &self.local
    }

    async fn read(
        &self,
        options: ReadOptions,
        query: Query,
    ) -> Result<Read<QueryResult>, BackendError> {
        let request = ReadRequest::from_api(&options, query);
        if let Some(dc) = self.elsewhere(&options.datacenter) {
            return Ok(forward::read(&self.federation.to(dc), request)
                .await?
                .into_api());
        }
        let answer = self
            .reads
            .read(request)
            .await
            .map_err(|failure| match failure {
                ReadFailure::NoLeader => BackendError::NoLeader,
            })?;
        Ok(answer.into_api())
    }

    async fn write(
        &self,
        datacenter: Option<Datacenter>,
        command: Command,
    ) -> Result<Outcome, BackendError> {
        let result = match self.elsewhere(&datacenter) {
            Some(dc) => forward::write(&self.federation.to(dc), command).await?,
            None => self.writes.write(command).await.map_err(write_error)?,
        };
        match result {
            Ok(outcome) => Ok(outcome),
            Err(rejected) => Err(BackendError::Rejected(rejected)),
        }
    }

    async fn raft_status(
        &self,
        datacenter: Option<Datacenter>,
    ) -> Result<RaftStatus, BackendError> {
        if let Some(dc) = self.elsewhere(&datacenter) {
            return forward::status(&self.federation.to(dc)).await;
        }
        let status = View::of(&self.raft, &self.reads);
        Ok(RaftStatus {
            leader: status.leader,
            peers: status.voters,
        })
    }

    async fn datacenters(&self) -> Result<Vec<Datacenter>, BackendError> {
        Ok(self
            .federation
            .datacenters()
            .into_iter()
            .map(Datacenter::from)
            .collect())
    }

    fn agent_info(&self) -> AgentInfo {
        self.info.clone()
    }

    async fn agent_stats(&self) -> BTreeMap<String, BTreeMap<String, String>> {
        let status = View::of(&self.raft, &self.reads);
        let known_datacenters = self.datacenters().await.map_or(0, |known| known.len());
        let (nodes, services, checks, keys) = {
            let store = self.store.read();
            (
                store.node_count(),
                store.service_count(),
                store.check_count(),
                store.kv_count(),
            )
        };
        let section = |pairs: Vec<(&str, String)>| {
            pairs
                .into_iter()
                .map(|(key, value)| (key.to_owned(), value))
                .collect::<BTreeMap<_, _>>()
        };
        let bool_text = |value: bool| value.to_string();
        BTreeMap::from([
            (
                "agent".to_owned(),
                section(vec![
                    ("check_monitors", "0".into()),
                    ("check_ttls", "0".into()),
                    ("checks", checks.to_string()),
                    ("services", services.to_string()),
                ]),
            ),
            (
                "build".to_owned(),
                section(vec![
                    ("prerelease", String::new()),
                    ("revision", self.info.revision.clone()),
                    ("version", self.info.version.clone()),
                ]),
            ),
            (
                "consul".to_owned(),
                section(vec![
                    ("bootstrap", self.info.bootstrap.to_string()),
                    ("known_datacenters", known_datacenters.to_string()),
                    ("leader", bool_text(status.is_leader)),
                    ("leader_addr", status.leader.clone().unwrap_or_default()),
                    ("server", "true".into()),
                ]),
            ),
            (
                "raft".to_owned(),
                section(vec![
                    ("applied_index", status.metrics.applied_index.to_string()),
                    ("commit_index", status.metrics.commit_index.to_string()),
                    ("last_log_index", status.metrics.last_log_index.to_string()),
                    (
                        "last_contact",
                        format!("{}ms", status.last_contact.as_millis()),
                    ),
                    (
                        "num_peers",
                        status.voters.len().saturating_sub(1).to_string(),
                    ),
                    (
                        "state",
                        if status.is_leader {
                            "Leader"
                        } else {
                            "Follower"
                        }
                        .into(),
                    ),
                    ("term", status.metrics.term.to_string()),
                ]),
            ),
            (
                "runtime".to_owned(),
                section(vec![
                    ("arch", std::env::consts::ARCH.into()),
                    ("os", std::env::consts::OS.into()),
                    ("cpu_count", num_cpus().to_string()),
                    ("uptime", format!("{}s", self.started.elapsed().as_secs())),
                ]),
            ),
            (
                "serf_lan".to_owned(),
                section(vec![("members", self.members(false).len().to_string())]),
            ),
            ("serf_wan".to_owned(), section(wan_stats(&self.federation))),
            (
                "catalog".to_owned(),
                section(vec![
                    ("nodes", nodes.to_string()),
                    ("kv_entries", keys.to_string()),
                ]),
            ),
        ])
    }

    fn members(&self, wan: bool) -> Vec<Member> {
        if wan {
            return self
                .federation
                .wan()
                .map_or_else(Vec::new, |wan| wan.api_members());
        }
        self.membership.api_members()
    }

    crate::delegate_operator_calls!(ops);

    crate::delegate_event_calls!(user_events, ops);

    fn metrics(&self) -> legate_api::telemetry::MetricsSnapshot {
        // Raft's indexes are read here rather than on every change: they are only ever
        // looked at through this snapshot.
        let raft = self.raft.metrics();
        metrics::gauge!("consul.raft.applied_index").set(raft.applied_index as f64);
        metrics::gauge!("consul.raft.last_index").set(raft.last_log_index as f64);
        metrics::gauge!("legate.raft.commit_index").set(raft.commit_index as f64);
        crate::telemetry::snapshot()
    }
}

/// `consul info`'s `serf_wan` section, with the WAN pool's traffic counters (UDP, since
/// start) for the federation benchmark.
fn wan_stats(federation: &Federation) -> Vec<(&'static str, String)> {
    let Some(wan) = federation.wan() else {
        return vec![("members", "0".into())];
    };
    let stats = wan.gossip().stats();
    vec![
        ("members", wan.api_members().len().to_string()),
        ("failed", stats.failed.to_string()),
        ("left", stats.left.to_string()),
        ("health_score", stats.health_score.to_string()),
        ("packets_out", stats.packets_out.to_string()),
        ("bytes_out", stats.bytes_out.to_string()),
        ("bytes_in", stats.bytes_in.to_string()),
    ]
}

fn num_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}
