//! A client agent (`legate agent` without `-server`): no Raft and no catalog copy. Every read
//! and write is forwarded over server RPC to a server of its datacenter, picked from gossip
//! and picked again when it fails; the host agent's services and checks sync through the
//! same path, and DNS on a client answers by forwarding too.
//!
//! Rules:
//! 1. A call goes to the server this agent used last while that one answers; a server that
//!    cannot be reached is skipped, and the next live one (in gossip's order, rotated) tried.
//! 2. Reads may be retried on any server after any failure: they change nothing.
//! 3. A write is retried on another server only when it certainly never left this agent
//!    (no connection); after that its outcome is unknown and says so.
//! 4. Without any live server the call fails as "No known Consul servers", Consul's text.

use crate::local::plan::Remote;
use crate::local::syncer::Catalog;
use crate::local::LocalState;
use crate::membership::Membership;
use crate::operator_calls::{OperatorCalls, OperatorTransport};
use crate::run::Shutdown;
use crate::server::rpc::message::{
    OperatorAnswer, OperatorError, OperatorRequest, ReadAnswer, ReadConsistency, ReadRequest,
    RemoteReadError, RemoteWriteError, Request, RequestV1, ResponseV1,
};
use crate::server::rpc::{RpcClient, RpcError};
use crate::server::write_path::HOLD;
use crate::user_events::UserEvents;
use legate_api::backend::{
    AgentInfo, Backend, BackendError, Member, RaftStatus, Read, ReadOptions,
};
use legate_catalog::query::{Instance, Query, QueryResult};
use legate_catalog::{Command, CommandResult, Datacenter, LogPayload, Node, NodeName, Outcome};
use legate_catalog::{Service, ServiceName};
use legate_dns::{Lookup, LookupError};
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Consul's answer when a client knows no server.
pub const NO_SERVERS: &str = "No known Consul servers";
/// How long a forwarded write may take at the servers.
const WRITE_DEADLINE: Duration = Duration::from_secs(30);

/// Forwards calls to this datacenter's servers (rules 1–4).
#[derive(Clone)]
pub struct Forwarder {
    rpc: RpcClient,
    membership: Membership,
    /// Where rule 1's rotation starts.
    preferred: Arc<AtomicUsize>,
}

/// Why a forwarded call produced no answer.
#[derive(Debug)]
pub enum ForwardError {
    /// No live server, or none could be reached: nothing was sent anywhere.
    NoServers,
    /// Sent, then lost; for a write, its outcome is unknown.
    Lost(RpcError),
}

impl Forwarder {
    pub fn new(rpc: RpcClient, membership: Membership) -> Forwarder {
        Forwarder {
            rpc,
            membership,
            preferred: Arc::default(),
        }
    }

    /// Sends `request` to a live server; retries other servers while nothing was sent, and
    /// after any failure too when `idempotent`.
    pub async fn call(
        &self,
        request: &Request,
        deadline: Duration,
        idempotent: bool,
    ) -> Result<ResponseV1, ForwardError> {
        let servers = self.membership.live_server_addrs();
        if servers.is_empty() {
            return Err(ForwardError::NoServers);
        }
        let start = self.preferred.load(Ordering::Relaxed);
        let mut lost = None;
        for offset in 0..servers.len() {
            let at = (start + offset) % servers.len();
            match self.rpc.call(&servers[at], request, deadline).await {
                Ok(response) => {
                    self.preferred.store(at, Ordering::Relaxed);
                    return Ok(response);
                }
                Err(error) if error.not_sent() => continue,
                Err(error) if idempotent => lost = Some(error),
                Err(error) => return Err(ForwardError::Lost(error)),
            }
        }
        Err(lost.map_or(ForwardError::NoServers, ForwardError::Lost))
    }

    /// A read, with its consistency mode, served by a server (rule 2).
    pub async fn read(&self, request: ReadRequest) -> Result<ReadAnswer, BackendError> {
        let deadline = Duration::from_millis(request.wait_ms) + HOLD + HOLD;
        let started = Instant::now();
        loop {
            let answer = self
                .call(
                    &Request::V1(RequestV1::Read(request.clone())),
                    deadline,
                    true,
                )
                .await;
            match answer {
                Ok(ResponseV1::Read(Ok(answer))) => return Ok(answer),
                Ok(ResponseV1::Read(Err(RemoteReadError::NoLeader)))
                | Ok(ResponseV1::Read(Err(RemoteReadError::NotLeader { .. }))) => {
                    // The server could not reach a leader within its own hold.
                    return Err(BackendError::NoLeader);
                }
                Ok(other) => {
                    return Err(BackendError::Internal(format!(
                        "unexpected answer to a read: {other:?}"
                    )))
                }
                Err(ForwardError::NoServers) if started.elapsed() < HOLD => {
                    // Gossip may not have found a server yet (just started or rejoining).
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(ForwardError::NoServers) => {
                    return Err(BackendError::Internal(NO_SERVERS.to_owned()))
                }
                Err(ForwardError::Lost(error)) => {
                    return Err(BackendError::Internal(format!("rpc error: {error}")))
                }
            }
        }
    }

    /// A write through a server to the leader (rule 3).
    pub async fn write(&self, command: Command) -> Result<CommandResult, BackendError> {
        let request = Request::V1(RequestV1::Write {
            command: LogPayload::from(command),
        });
        let started = Instant::now();
        loop {
            match self.call(&request, WRITE_DEADLINE, false).await {
                Ok(ResponseV1::Write(Ok(result))) => return Ok(result),
                Ok(ResponseV1::Write(Err(error))) => {
                    return Err(match error {
                        RemoteWriteError::NotLeader { .. } => BackendError::NoLeader,
                        RemoteWriteError::Refused(reason) => BackendError::Internal(reason),
                        RemoteWriteError::ShuttingDown => {
                            BackendError::Internal("the server is shutting down".to_owned())
                        }
                        RemoteWriteError::Indeterminate(reason) => {
                            BackendError::Indeterminate(reason)
                        }
                    })
                }
                Ok(ResponseV1::Failed(reason)) => return Err(BackendError::Internal(reason)),
                Ok(other) => {
                    return Err(BackendError::Indeterminate(format!(
                        "unexpected answer to a write: {other:?}"
                    )))
                }
                Err(ForwardError::NoServers) if started.elapsed() < HOLD => {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(ForwardError::NoServers) => {
                    return Err(BackendError::Internal(NO_SERVERS.to_owned()))
                }
                Err(ForwardError::Lost(error)) => {
                    return Err(BackendError::Indeterminate(error.to_string()))
                }
            }
        }
    }

    async fn status(&self) -> Result<RaftStatus, BackendError> {
        match self.call(&Request::V1(RequestV1::Status), HOLD, true).await {
            Ok(ResponseV1::Status(status)) => Ok(RaftStatus {
                leader: status.leader,
                peers: status.voters,
            }),
            Ok(other) => Err(BackendError::Internal(format!(
                "unexpected answer to a status call: {other:?}"
            ))),
            Err(ForwardError::NoServers) => Err(BackendError::Internal(NO_SERVERS.to_owned())),
            Err(ForwardError::Lost(error)) => Err(BackendError::Internal(error.to_string())),
        }
    }

    /// A read of the catalog for the agent's own uses (anti-entropy, DNS).
    async fn query(&self, query: Query, stale: bool) -> Result<ReadAnswer, BackendError> {
        self.read(ReadRequest {
            query,
            consistency: if stale {
                ReadConsistency::Stale
            } else {
                ReadConsistency::Default
            },
            min_index: 0,
            wait_ms: 0,
            max_stale_ms: None,
        })
        .await
    }
}

impl OperatorTransport for Forwarder {
    async fn operator(&self, request: OperatorRequest) -> Result<OperatorAnswer, OperatorError> {
        // Reads may go anywhere and be retried; changes only while certainly unsent.
        let idempotent = matches!(
            request,
            OperatorRequest::RaftConfiguration { .. }
                | OperatorRequest::AutopilotConfiguration
                | OperatorRequest::AutopilotHealth
                | OperatorRequest::AutopilotState
        );
        match self
            .call(
                &Request::V1(RequestV1::Operator(request)),
                HOLD + HOLD,
                idempotent,
            )
            .await
        {
            Ok(ResponseV1::Operator(answer)) => answer,
            Ok(other) => Err(OperatorError::Indeterminate(format!(
                "unexpected answer {other:?}"
            ))),
            Err(ForwardError::NoServers) => Err(OperatorError::Refused(NO_SERVERS.to_owned())),
            Err(ForwardError::Lost(error)) => Err(OperatorError::Indeterminate(error.to_string())),
        }
    }
}

/// Anti-entropy's view of the catalog on a client: reads and writes through a server.
pub struct ClientCatalog {
    forwarder: Forwarder,
}

impl ClientCatalog {
    pub fn new(forwarder: Forwarder) -> ClientCatalog {
        ClientCatalog { forwarder }
    }
}

impl Catalog for ClientCatalog {
    async fn remote(&self, node: &NodeName) -> Result<Remote, String> {
        let services = self
            .forwarder
            .query(Query::NodeServices { node: node.clone() }, false)
            .await
            .map_err(|error| error.to_string())?;
        let checks = self
            .forwarder
            .query(Query::NodeChecks { node: node.clone() }, false)
            .await
            .map_err(|error| error.to_string())?;
        Ok(Remote::from_results(services.value, checks.value))
    }

    async fn apply(&self, command: Command) -> Result<(), String> {
        match self.forwarder.write(command).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(refused)) => Err(refused.to_string()),
            Err(error) => Err(error.to_string()),
        }
    }

    fn cluster_size(&self) -> usize {
        self.forwarder.membership.members().len()
    }
}

/// `api::Backend` for a client agent.
pub struct ClientBackend {
    forwarder: Forwarder,
    membership: Membership,
    info: AgentInfo,
    local: LocalState<ClientCatalog>,
    started: Instant,
    ops: OperatorCalls<Forwarder>,
    /// User events over this agent's gossip (see `user_events`: a client fires them itself).
    user_events: UserEvents,
}

impl ClientBackend {
    pub fn new(
        forwarder: Forwarder,
        membership: Membership,
        info: AgentInfo,
        local: LocalState<ClientCatalog>,
        shutdown: Shutdown,
        user_events: UserEvents,
    ) -> ClientBackend {
        ClientBackend {
            ops: OperatorCalls {
                membership: membership.clone(),
                shutdown,
                node_name: info.node_name.clone(),
                transport: forwarder.clone(),
            },
            forwarder,
            membership,
            info,
            local,
            started: Instant::now(),
            user_events,
        }
    }

    fn check_datacenter(&self, datacenter: &Option<Datacenter>) -> Result<(), BackendError> {
        match datacenter {
            Some(dc) if *dc != self.info.datacenter => Err(BackendError::NoPathToDatacenter),
            _ => Ok(()),
        }
    }
}

impl Backend for ClientBackend {
    type Local = LocalState<ClientCatalog>;

    fn local(&self) -> &Self::Local {
        &self.local
    }

    async fn read(
        &self,
        options: ReadOptions,
        query: Query,
    ) -> Result<Read<QueryResult>, BackendError> {
        self.check_datacenter(&options.datacenter)?;
        let answer = self
            .forwarder
            .read(ReadRequest::from_api(&options, query))
            .await?;
        Ok(answer.into_api())
    }

    async fn write(
        &self,
        datacenter: Option<Datacenter>,
        command: Command,
    ) -> Result<Outcome, BackendError> {
        self.check_datacenter(&datacenter)?;
        match self.forwarder.write(command).await? {
            Ok(outcome) => Ok(outcome),
            Err(rejected) => Err(BackendError::Rejected(rejected)),
        }
    }

    async fn raft_status(
        &self,
        datacenter: Option<Datacenter>,
    ) -> Result<RaftStatus, BackendError> {
        self.check_datacenter(&datacenter)?;
        self.forwarder.status().await
    }

    async fn datacenters(&self) -> Result<Vec<Datacenter>, BackendError> {
        Ok(vec![self.info.datacenter.clone()])
    }

    fn agent_info(&self) -> AgentInfo {
        self.info.clone()
    }

    async fn agent_stats(&self) -> BTreeMap<String, BTreeMap<String, String>> {
        let section = |pairs: Vec<(&str, String)>| {
            pairs
                .into_iter()
                .map(|(key, value)| (key.to_owned(), value))
                .collect::<BTreeMap<_, _>>()
        };
        let servers = self.membership.live_server_addrs().len();
        BTreeMap::from([
            (
                "agent".to_owned(),
                section(vec![
                    ("check_monitors", "0".into()),
                    ("check_ttls", "0".into()),
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
                    ("known_servers", servers.to_string()),
                    ("server", "false".into()),
                ]),
            ),
            (
                "runtime".to_owned(),
                section(vec![
                    ("arch", std::env::consts::ARCH.into()),
                    ("os", std::env::consts::OS.into()),
                    ("uptime", format!("{}s", self.started.elapsed().as_secs())),
                ]),
            ),
            (
                "serf_lan".to_owned(),
                section(vec![(
                    "members",
                    self.membership.members().len().to_string(),
                )]),
            ),
        ])
    }

    fn members(&self, wan: bool) -> Vec<Member> {
        if wan {
            // A client is not in the WAN pool; Consul answers an empty list.
            return Vec::new();
        }
        self.membership.api_members()
    }

    crate::delegate_operator_calls!(ops);

    crate::delegate_event_calls!(user_events);

    fn metrics(&self) -> legate_api::telemetry::MetricsSnapshot {
        crate::telemetry::snapshot()
    }
}

/// `dns::Lookup` for a client agent: every read forwarded to a server (stale unless
/// `allow_stale` is off, as on a server).
pub struct ClientLookup {
    forwarder: Forwarder,
    datacenter: Datacenter,
}

impl ClientLookup {
    pub fn new(forwarder: Forwarder, datacenter: Datacenter) -> ClientLookup {
        ClientLookup {
            forwarder,
            datacenter,
        }
    }

    async fn run(
        &self,
        query: Query,
        options: &legate_dns::ReadOptions,
    ) -> Result<QueryResult, LookupError> {
        if let Some(dc) = &options.datacenter {
            if *dc != self.datacenter {
                return Err(LookupError::UnknownDatacenter(dc.clone()));
            }
        }
        self.forwarder
            .query(query, options.allow_stale)
            .await
            .map(|answer| answer.value)
            .map_err(|error| LookupError::Unavailable(error.to_string()))
    }
}

fn unexpected(result: QueryResult) -> LookupError {
    LookupError::Unavailable(format!("unexpected {result:?}"))
}

impl Lookup for ClientLookup {
    async fn service_instances(
        &self,
        name: ServiceName,
        options: legate_dns::ReadOptions,
    ) -> Result<Vec<Instance>, LookupError> {
        let query = Query::ServiceInstances {
            name,
            tags: Vec::new(),
            node_meta: Vec::new(),
            passing: false,
        };
        match self.run(query, &options).await? {
            QueryResult::Instances(instances) => Ok(instances),
            other => Err(unexpected(other)),
        }
    }

    async fn node(
        &self,
        name: String,
        options: legate_dns::ReadOptions,
    ) -> Result<Option<Node>, LookupError> {
        match self
            .run(Query::NodeServices { node: name.into() }, &options)
            .await?
        {
            QueryResult::NodeServices(found) => Ok(found.map(|(node, _)| node)),
            other => Err(unexpected(other)),
        }
    }

    async fn nodes_by_address(
        &self,
        ip: IpAddr,
        options: legate_dns::ReadOptions,
    ) -> Result<Vec<Node>, LookupError> {
        let query = Query::NodesByAddress {
            address: ip.to_string(),
        };
        match self.run(query, &options).await? {
            QueryResult::Nodes(nodes) => Ok(nodes),
            other => Err(unexpected(other)),
        }
    }

    async fn services_by_address(
        &self,
        ip: IpAddr,
        options: legate_dns::ReadOptions,
    ) -> Result<Vec<Service>, LookupError> {
        let query = Query::ServicesByAddress {
            address: ip.to_string(),
        };
        match self.run(query, &options).await? {
            QueryResult::ServiceRecords(services) => Ok(services),
            other => Err(unexpected(other)),
        }
    }
}
