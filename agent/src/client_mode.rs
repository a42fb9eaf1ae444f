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
//! 5. A call for another datacenter (`?dc=`, `<name>.service.<dc>.consul`) goes the same
//!    way, wrapped in `RequestV1::Forward`: the server carries it on (`federation`).

use crate::forward::{self, ForwardError, Hop};
use crate::local::plan::Remote;
use crate::local::syncer::Catalog;
use crate::local::LocalState;
use crate::membership::Membership;
use crate::operator_calls::{OperatorCalls, OperatorTransport};
use crate::run::Shutdown;
use crate::server::rpc::message::{
    OperatorAnswer, OperatorError, OperatorRequest, ReadAnswer, ReadRequest, Request, RequestV1,
    ResponseV1,
};
use crate::server::rpc::RpcClient;
use crate::server::write_path::HOLD;
use crate::user_events::UserEvents;
use legate_api::backend::{
    AgentInfo, Backend, BackendError, Member, RaftStatus, Read, ReadOptions,
};
use legate_catalog::query::{Instance, Query, QueryResult};
use legate_catalog::{Command, Datacenter, Node, NodeName, Outcome};
use legate_catalog::{Service, ServiceName};
use legate_dns::{Lookup, LookupError};
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Forwards calls to this datacenter's servers (rules 1–4).
#[derive(Clone)]
pub struct Forwarder {
    rpc: RpcClient,
    membership: Membership,
    /// Where rule 1's rotation starts.
    preferred: Arc<AtomicUsize>,
}

impl Forwarder {
    pub fn new(rpc: RpcClient, membership: Membership) -> Forwarder {
        Forwarder {
            rpc,
            membership,
            preferred: Arc::default(),
        }
    }

    /// One pass over the live servers (rule 1).
    async fn call_once(
        &self,
        request: &Request,
        deadline: Duration,
        idempotent: bool,
    ) -> Result<ResponseV1, ForwardError> {
        let servers = self.membership.live_server_addrs();
        if servers.is_empty() {
            return Err(ForwardError::NoServers);
        }
        let start = self.preferred.load(Ordering::Relaxed) % servers.len();
        let rotated: Vec<String> = servers[start..]
            .iter()
            .chain(&servers[..start])
            .cloned()
            .collect();
        match forward::first_answer(&self.rpc, &rotated, request, deadline, idempotent).await {
            Ok((at, response)) => {
                self.preferred
                    .store((start + at) % servers.len(), Ordering::Relaxed);
                Ok(response)
            }
            Err(lost) => Err(lost.map_or(ForwardError::NoServers, ForwardError::Lost)),
        }
    }

    /// The hop through a server of this datacenter to `datacenter`'s servers (`?dc=`).
    pub fn via<'a>(&'a self, datacenter: &'a str) -> Via<'a> {
        Via {
            forwarder: self,
            datacenter,
        }
    }

    /// A read of the catalog for the agent's own uses (anti-entropy, DNS).
    async fn query(
        &self,
        query: Query,
        stale: bool,
        datacenter: Option<&str>,
    ) -> Result<ReadAnswer, BackendError> {
        let request = ReadRequest::once(query, stale);
        match datacenter {
            Some(dc) => forward::read(&self.via(dc), request).await,
            None => forward::read(self, request).await,
        }
    }
}

impl Hop for Forwarder {
    /// Sends `request` to a live server; retries other servers while nothing was sent, and
    /// after any failure too when `idempotent`; waits up to `HOLD` for gossip to find a
    /// server (just started, or rejoining).
    async fn send(
        &self,
        request: RequestV1,
        deadline: Duration,
        idempotent: bool,
    ) -> Result<ResponseV1, ForwardError> {
        let request = Request::V1(request);
        let started = Instant::now();
        loop {
            match self.call_once(&request, deadline, idempotent).await {
                Err(ForwardError::NoServers) if started.elapsed() < HOLD => {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                answer => return answer,
            }
        }
    }
}

impl Forwarder {
    /// This datacenter's servers for `None` or `local`, another datacenter through them
    /// otherwise.
    pub fn route<'a>(&'a self, datacenter: Option<&'a str>, local: &str) -> Route<'a> {
        match datacenter {
            Some(dc) if dc != local => Route::There(self.via(dc)),
            _ => Route::Here(self),
        }
    }
}

/// A call's first hop from a client agent.
pub enum Route<'a> {
    Here(&'a Forwarder),
    There(Via<'a>),
}

impl Hop for Route<'_> {
    async fn send(
        &self,
        request: RequestV1,
        deadline: Duration,
        idempotent: bool,
    ) -> Result<ResponseV1, ForwardError> {
        match self {
            Route::Here(forwarder) => forwarder.send(request, deadline, idempotent).await,
            Route::There(via) => via.send(request, deadline, idempotent).await,
        }
    }
}

/// The hop to another datacenter through a server of this one (`Forwarder::via`).
pub struct Via<'a> {
    forwarder: &'a Forwarder,
    datacenter: &'a str,
}

impl Hop for Via<'_> {
    async fn send(
        &self,
        request: RequestV1,
        deadline: Duration,
        idempotent: bool,
    ) -> Result<ResponseV1, ForwardError> {
        let request = RequestV1::Forward {
            datacenter: self.datacenter.to_owned(),
            request: Box::new(request),
        };
        // The server in between needs its own deadline to run out first.
        let deadline = deadline + Duration::from_secs(2);
        let response = self.forwarder.send(request, deadline, idempotent).await?;
        forward::through(response, self.datacenter)
    }
}

impl OperatorTransport for Forwarder {
    async fn operator(&self, request: OperatorRequest) -> Result<OperatorAnswer, OperatorError> {
        forward::operator(self, request).await
    }

    async fn operator_in(
        &self,
        datacenter: &str,
        request: OperatorRequest,
    ) -> Result<OperatorAnswer, OperatorError> {
        forward::operator(&self.via(datacenter), request).await
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
            .query(Query::NodeServices { node: node.clone() }, false, None)
            .await
            .map_err(|error| error.to_string())?;
        let checks = self
            .forwarder
            .query(Query::NodeChecks { node: node.clone() }, false, None)
            .await
            .map_err(|error| error.to_string())?;
        Ok(Remote::from_results(services.value, checks.value))
    }

    async fn apply(&self, command: Command) -> Result<(), String> {
        match forward::write(&self.forwarder, command).await {
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
                wan: None,
                shutdown,
                node_name: info.node_name.clone(),
                datacenter: info.datacenter.clone(),
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

    /// Where a call for `datacenter` goes.
    fn route<'a>(&'a self, datacenter: &'a Option<Datacenter>) -> Route<'a> {
        self.forwarder.route(
            datacenter.as_ref().map(|dc| dc.as_str()),
            self.info.datacenter.as_str(),
        )
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
        let request = ReadRequest::from_api(&options, query);
        let answer = forward::read(&self.route(&options.datacenter), request).await?;
        Ok(answer.into_api())
    }

    async fn write(
        &self,
        datacenter: Option<Datacenter>,
        command: Command,
    ) -> Result<Outcome, BackendError> {
        match forward::write(&self.route(&datacenter), command).await? {
            Ok(outcome) => Ok(outcome),
            Err(rejected) => Err(BackendError::Rejected(rejected)),
        }
    }

    async fn raft_status(
        &self,
        datacenter: Option<Datacenter>,
    ) -> Result<RaftStatus, BackendError> {
        forward::status(&self.route(&datacenter)).await
    }

    async fn datacenters(&self) -> Result<Vec<Datacenter>, BackendError> {
        forward::datacenters(&self.forwarder).await
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

    crate::delegate_event_calls!(user_events, ops);

    fn metrics(&self) -> legate_api::telemetry::MetricsSnapshot {
        crate::telemetry::snapshot()
    }
}

/// `dns::Lookup` for a client agent: every read forwarded to a server (stale unless
/// `allow_stale` is off, as on a server).
pub struct ClientLookup {
    forwarder: Forwarder,
    datacenter: Datacenter,
    /// Prepared queries run through the HTTP backend's executor.
    backend: Arc<ClientBackend>,
}

impl ClientLookup {
    pub fn new(
        forwarder: Forwarder,
        datacenter: Datacenter,
        backend: Arc<ClientBackend>,
    ) -> ClientLookup {
        ClientLookup {
            forwarder,
            datacenter,
            backend,
        }
    }

    async fn run(
        &self,
        query: Query,
        options: &legate_dns::ReadOptions,
    ) -> Result<QueryResult, LookupError> {
        let remote = options
            .datacenter
            .as_ref()
            .filter(|dc| **dc != self.datacenter);
        self.forwarder
            .query(query, options.allow_stale, remote.map(|dc| dc.as_str()))
            .await
            .map(|answer| answer.value)
            .map_err(|error| match (error, remote) {
                (BackendError::NoPathToDatacenter, Some(dc)) => {
                    LookupError::UnknownDatacenter(dc.clone())
                }
                (error, _) => LookupError::Unavailable(error.to_string()),
            })
    }
}

fn unexpected(result: QueryResult) -> LookupError {
    LookupError::Unavailable(format!("unexpected {result:?}"))
}

impl Lookup for ClientLookup {
    async fn prepared_query(
        &self,
        name: String,
        options: legate_dns::ReadOptions,
    ) -> Result<Option<legate_dns::QueryAnswer>, LookupError> {
        crate::query_lookup::prepared_query(&*self.backend, name, &options).await
    }

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
