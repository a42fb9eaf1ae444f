//! `api::Backend` for a server agent: reads from the local store, writes through Raft.
//!
//! Consistency (contract §2.3): `stale` reads the local store on any server; the default
//! reads on the leader; `consistent` first confirms leadership with a quorum. `max_stale`
//! turns a stale read whose last contact with the leader is too old into a leader read. A
//! server that is not the leader cannot yet forward (that arrives with clustering), so a
//! non-stale read there answers "No cluster leader" like a Consul server without one.

use super::local_catalog::ServerCatalog;
use super::proposer::Proposer;
use super::raft::{RaftHandle, RaftMetrics, WriteError};
use crate::local::LocalState;
use legate_api::backend::{
    AgentInfo, Backend, BackendError, Consistency, Member, RaftStatus, Read, ReadMeta, ReadOptions,
};
use legate_catalog::{query, Command, Datacenter, Outcome, Query, QueryResult, SharedStore};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub struct ServerBackend {
    raft: RaftHandle,
    /// Writes go through the proposer, which batches concurrent ones into one entry.
    proposer: Proposer,
    store: Arc<SharedStore>,
    info: AgentInfo,
    started: Instant,
    /// The services and checks this agent owns.
    local: LocalState<ServerCatalog>,
}

impl ServerBackend {
    pub fn new(
        raft: RaftHandle,
        store: Arc<SharedStore>,
        info: AgentInfo,
        local: LocalState<ServerCatalog>,
    ) -> ServerBackend {
        ServerBackend {
            local,
            proposer: Proposer::start(raft.clone()),
            raft,
            store,
            info,
            started: Instant::now(),
        }
    }

    fn check_datacenter(&self, datacenter: &Option<Datacenter>) -> Result<(), BackendError> {
        match datacenter {
            Some(dc) if *dc != self.info.datacenter => Err(BackendError::NoPathToDatacenter),
            _ => Ok(()),
        }
    }

    fn self_member(&self) -> Member {
        let info = &self.info;
        let mut tags = BTreeMap::new();
        for (key, value) in [
            ("role", "consul"),
            ("segment", ""),
            ("vsn", "2"),
            ("vsn_min", "2"),
            ("vsn_max", "3"),
            ("raft_vsn", "3"),
        ] {
            tags.insert(key.to_owned(), value.to_owned());
        }
        tags.insert("dc".into(), info.datacenter.to_string());
        tags.insert("id".into(), info.node_id.clone());
        tags.insert(
            "build".into(),
            format!("{}:{}", info.version, info.revision),
        );
        tags.insert("port".into(), info.server_port.to_string());
        if info.bootstrap {
            tags.insert("bootstrap".into(), "1".into());
        }
        Member {
            name: info.node_name.clone(),
            addr: info.advertise_addr.clone(),
            port: info.serf_lan_port,
            tags,
            status: 1,
        }
    }
}

fn write_error(error: WriteError) -> BackendError {
    match error {
        // Not applied: a single server that is not the leader has no one to forward to.
        WriteError::NotLeader { .. } => BackendError::NoLeader,
        WriteError::Refused(message) => BackendError::Internal(message),
        // Raft stopped mid-write: the entry may or may not have been committed.
        WriteError::Stopped(fatal) => BackendError::Indeterminate(fatal.to_string()),
    }
}

/// What the frontend needs from Raft's metrics, in the frontend's terms.
struct View {
    is_leader: bool,
    leader: Option<String>,
    voters: Vec<String>,
    /// openraft 0.9 publishes no follower last-contact time; a single server is always the
    /// leader when it answers a non-stale read, so this is zero there, and on a leader it is
    /// the time since a quorum last acknowledged it.
    last_contact: Duration,
    metrics: RaftMetrics,
}

impl View {
    fn of(raft: &RaftHandle) -> View {
        let metrics = raft.metrics();
        View {
            is_leader: metrics.is_leader(),
            leader: metrics.leader.as_ref().and_then(|peer| peer.addr.clone()),
            voters: metrics
                .voters
                .iter()
                .filter_map(|peer| peer.addr.clone())
                .collect(),
            last_contact: Duration::from_millis(metrics.millis_since_quorum_ack.unwrap_or(0)),
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
        self.check_datacenter(&options.datacenter)?;
        let status = View::of(&self.raft);
        let mut consistency = options.consistency;
        if consistency == Consistency::Stale {
            let too_old = options
                .max_stale
                .is_some_and(|max| status.last_contact > max);
            if too_old {
                consistency = Consistency::Default;
            }
        }
        match consistency {
            Consistency::Stale => {}
            Consistency::Default if status.is_leader => {}
            Consistency::Default => return Err(BackendError::NoLeader),
            Consistency::Consistent => self
                .raft
                .ensure_linearizable()
                .await
                .map_err(|_| BackendError::NoLeader)?,
        }
        let deadline = tokio::time::sleep(options.wait);
        let answer = self
            .store
            .block_until(options.min_index, deadline, |store| {
                query::run(store, &query)
            })
            .await;
        let status = View::of(&self.raft);
        Ok(Read {
            meta: ReadMeta {
                index: answer.index,
                known_leader: status.leader.is_some(),
                last_contact: if status.is_leader {
                    Duration::ZERO
                } else {
                    status.last_contact
                },
                consistency,
            },
            value: answer.value,
        })
    }

    async fn write(
        &self,
        datacenter: Option<Datacenter>,
        command: Command,
    ) -> Result<Outcome, BackendError> {
        self.check_datacenter(&datacenter)?;
        match self.proposer.write(command).await.map_err(write_error)? {
            Ok(outcome) => Ok(outcome),
            Err(rejected) => Err(BackendError::Rejected(rejected)),
        }
    }

    async fn raft_status(
        &self,
        datacenter: Option<Datacenter>,
    ) -> Result<RaftStatus, BackendError> {
        self.check_datacenter(&datacenter)?;
        let status = View::of(&self.raft);
        Ok(RaftStatus {
            leader: status.leader,
            peers: status.voters,
        })
    }

    async fn datacenters(&self) -> Result<Vec<Datacenter>, BackendError> {
        Ok(vec![self.info.datacenter.clone()])
    }

    fn agent_info(&self) -> AgentInfo {
        self.info.clone()
    }

    async fn agent_stats(&self) -> BTreeMap<String, BTreeMap<String, String>> {
        let status = View::of(&self.raft);
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
        let mut member = self.self_member();
        if wan {
            // The WAN pool names servers `node.dc` (no pool exists yet beyond this server).
            member.name = format!("{}.{}", member.name, self.info.datacenter);
        }
        vec![member]
    }
}

fn num_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}
