//! `Lookup`: what the DNS frontend needs from an agent, and nothing more.
//!
//! A server agent implements it over its local store (stale reads) or the leader; a client
//! agent over RPC to a server; tests over a fake. It speaks the catalog's types.
//!
//! Rules every implementation keeps:
//! 1. Names arrive lower case (DNS is case-insensitive); match them case-insensitively, as
//!    Consul's state store does for node and service names.
//! 2. `service_instances` returns every instance of the service whatever its health, each
//!    with its node and with the node's and its own checks. Health filtering, tag filtering,
//!    shuffling and limits are the frontend's job, so every implementation behaves alike.
//! 3. `options.datacenter` is `None` for the agent's own datacenter. An unknown datacenter
//!    fails with `LookupError::UnknownDatacenter`, which the frontend answers NXDOMAIN, as
//!    Consul answers its "No path to datacenter" error.
//! 4. `options.allow_stale` lets any server answer; a stale answer older than
//!    `options.max_stale` is asked again of the leader (Consul's DNS does this once).
//! 5. `shared_service_instances` returns what `service_instances` would. Its default copies
//!    that list once into an `Arc`; an implementation that can keep the list until the
//!    catalog changes overrides it, so a busy service is not copied for every question.
//! 7. `prepared_query` runs a prepared query (by id, name or template) as the HTTP
//!    `execute` does for this agent: its health and tag filtering, `near` sorting or
//!    shuffling and failover are the query's, so the frontend answers with its instances as
//!    they come, under the query's DNS TTL.
//! 6. The frontend gives every call a deadline (`DnsHandler::with_lookup_timeout`, 5 s by
//!    default) and answers SERVFAIL past it; implementations may cancel their work when the
//!    future is dropped.

use legate_catalog::query::Instance;
use legate_catalog::{Datacenter, Node, Service, ServiceName};
use std::future::Future;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;
use thiserror::Error;

/// Where and how fresh one read must be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadOptions {
    /// `None` is the agent's own datacenter.
    pub datacenter: Option<Datacenter>,
    pub allow_stale: bool,
    pub max_stale: Duration,
    /// The asker's address, for a prepared query's `Near: "_ip"`: the EDNS client-subnet
    /// address when the question carries one (a resolver asking on a client's behalf), else
    /// the address the question came from.
    pub client: Option<IpAddr>,
}

/// What a prepared query answered: its instances, in order, and its DNS TTL.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QueryAnswer {
    /// The service it queried (its `service_ttl` applies when the query sets no TTL).
    pub service: String,
    pub instances: Vec<Instance>,
    pub ttl: Option<Duration>,
}

/// Why a lookup found no answer. Nothing was changed by a failed lookup.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum LookupError {
    /// The datacenter is not known. Answered NXDOMAIN with the SOA; retrying will not help
    /// until the datacenter joins the WAN pool.
    #[error("No path to datacenter")]
    UnknownDatacenter(Datacenter),
    /// The catalog could not be read (no leader, an RPC failed or timed out). Answered
    /// SERVFAIL; a retry may succeed.
    #[error("lookup failed: {0}")]
    Unavailable(String),
}

/// The catalog reads behind DNS answers.
pub trait Lookup: Send + Sync + 'static {
    /// A prepared query's answer (rule 7), or `None` when no query answers the name.
    fn prepared_query(
        &self,
        name: String,
        options: ReadOptions,
    ) -> impl Future<Output = Result<Option<QueryAnswer>, LookupError>> + Send;

    /// Every instance of a service, healthy or not, with its node and checks.
    fn service_instances(
        &self,
        name: ServiceName,
        options: ReadOptions,
    ) -> impl Future<Output = Result<Vec<Instance>, LookupError>> + Send;

    /// `service_instances` as a shared list (rule 5); what the frontend calls.
    fn shared_service_instances(
        &self,
        name: ServiceName,
        options: ReadOptions,
    ) -> impl Future<Output = Result<Arc<[Instance]>, LookupError>> + Send {
        let read = self.service_instances(name, options);
        async move { read.await.map(Arc::from) }
    }

    /// A node by name with its meta, or `None` when it is not registered.
    fn node(
        &self,
        name: String,
        options: ReadOptions,
    ) -> impl Future<Output = Result<Option<Node>, LookupError>> + Send;

    /// The servers named in NS answers: the instances of the `consul` service, which every
    /// server registers for itself. The default reads exactly that.
    fn servers(
        &self,
        options: ReadOptions,
    ) -> impl Future<Output = Result<Vec<Instance>, LookupError>> + Send {
        self.service_instances(ServiceName::new("consul"), options)
    }

    /// Nodes whose address is `ip` (compared as addresses, not text), in node-name order.
    /// PTR answers name the first.
    fn nodes_by_address(
        &self,
        ip: IpAddr,
        options: ReadOptions,
    ) -> impl Future<Output = Result<Vec<Node>, LookupError>> + Send;

    /// Service instances whose own service address is `ip`, in catalog order. PTR answers
    /// fall back to the first when no node has the address.
    fn services_by_address(
        &self,
        ip: IpAddr,
        options: ReadOptions,
    ) -> impl Future<Output = Result<Vec<Service>, LookupError>> + Send;
}
