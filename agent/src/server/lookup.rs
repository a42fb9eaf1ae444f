//! `dns::Lookup` for a server agent: DNS answers from the local store, and for a name of
//! another datacenter (`web.service.dc2.consul`) from a server of that datacenter.
//!
//! DNS reads are stale by default in Consul (`dns_config.allow_stale`, true): any server
//! answers from its own copy, without asking the leader. With `allow_stale` off a read must
//! be served by the leader; a server that is not the leader cannot forward yet (that arrives
//! with clustering), so it answers SERVFAIL rather than a possibly stale answer.

use super::instance_cache::InstanceCache;
use super::raft::RaftHandle;
use super::rpc::message::ReadRequest;
use crate::federation::Federation;
use crate::forward;
use legate_api::backend::BackendError;
use legate_catalog::query::{self, Instance, Query, QueryResult};
use legate_catalog::{Datacenter, Node, Service, ServiceName, SharedStore, Store};
use legate_dns::{Lookup, LookupError, ReadOptions};
use std::net::IpAddr;
use std::sync::Arc;

pub struct ServerLookup {
    store: Arc<SharedStore>,
    raft: RaftHandle,
    datacenter: Datacenter,
    federation: Federation,
    /// Prepared queries run through the HTTP backend's executor.
    backend: Arc<super::backend::ServerBackend>,
    /// Service questions repeat far more often than the catalog changes.
    instances: InstanceCache,
}

impl ServerLookup {
    pub fn new(
        store: Arc<SharedStore>,
        raft: RaftHandle,
        datacenter: Datacenter,
        federation: Federation,
        backend: Arc<super::backend::ServerBackend>,
    ) -> Self {
        ServerLookup {
            store,
            raft,
            datacenter,
            federation,
            backend,
            instances: InstanceCache::default(),
        }
    }

    /// The datacenter a question names, when it is not this one.
    fn elsewhere<'a>(&self, options: &'a ReadOptions) -> Option<&'a Datacenter> {
        options
            .datacenter
            .as_ref()
            .filter(|dc| **dc != self.datacenter)
    }

    /// `query` answered by a server of `datacenter`.
    async fn remote(
        &self,
        datacenter: &Datacenter,
        query: Query,
        options: &ReadOptions,
    ) -> Result<QueryResult, LookupError> {
        let request = ReadRequest::once(query, options.allow_stale);
        match forward::read(&self.federation.to(datacenter.as_str()), request).await {
            Ok(answer) => Ok(answer.value),
            Err(BackendError::NoPathToDatacenter) => {
                Err(LookupError::UnknownDatacenter(datacenter.clone()))
            }
            Err(error) => Err(LookupError::Unavailable(error.to_string())),
        }
    }

    /// Checks the consistency a local read asks for.
    fn admit(&self, options: &ReadOptions) -> Result<(), LookupError> {
        if !options.allow_stale && !self.raft.metrics().is_leader() {
            return Err(LookupError::Unavailable("No cluster leader".to_owned()));
        }
        Ok(())
    }
}

impl Lookup for ServerLookup {
    async fn prepared_query(
        &self,
        name: String,
        options: ReadOptions,
    ) -> Result<Option<legate_dns::QueryAnswer>, LookupError> {
        crate::query_lookup::prepared_query(&*self.backend, name, &options).await
    }

    async fn service_instances(
        &self,
        name: ServiceName,
        options: ReadOptions,
    ) -> Result<Vec<Instance>, LookupError> {
        if let Some(dc) = self.elsewhere(&options) {
            return match self.remote(dc, instances_query(name), &options).await? {
                QueryResult::Instances(instances) => Ok(instances),
                other => Err(LookupError::Unavailable(format!("unexpected {other:?}"))),
            };
        }
        self.admit(&options)?;
        all_instances(&self.store.read(), name)
    }

    async fn shared_service_instances(
        &self,
        name: ServiceName,
        options: ReadOptions,
    ) -> Result<Arc<[Instance]>, LookupError> {
        if self.elsewhere(&options).is_some() {
            return self.service_instances(name, options).await.map(Arc::from);
        }
        self.admit(&options)?;
        let store = self.store.read();
        self.instances
            .get_or_compute(&store, name.as_str(), |store| {
                all_instances(store, name.clone())
            })
    }

    async fn node(&self, name: String, options: ReadOptions) -> Result<Option<Node>, LookupError> {
        let query = Query::NodeServices { node: name.into() };
        let result = match self.elsewhere(&options) {
            Some(dc) => self.remote(dc, query, &options).await?,
            None => {
                self.admit(&options)?;
                query::run(&self.store.read(), &query).value
            }
        };
        match result {
            QueryResult::NodeServices(found) => Ok(found.map(|(node, _)| node)),
            other => Err(LookupError::Unavailable(format!("unexpected {other:?}"))),
        }
    }

    async fn nodes_by_address(
        &self,
        ip: IpAddr,
        options: ReadOptions,
    ) -> Result<Vec<Node>, LookupError> {
        self.admit(&options)?;
        Ok(query::nodes_with_address(
            &self.store.read(),
            &ip.to_string(),
        ))
    }

    async fn services_by_address(
        &self,
        ip: IpAddr,
        options: ReadOptions,
    ) -> Result<Vec<Service>, LookupError> {
        self.admit(&options)?;
        Ok(query::services_with_address(
            &self.store.read(),
            &ip.to_string(),
        ))
    }
}

/// The query for every instance of a service, whatever its health (`Lookup` rule 2).
fn instances_query(name: ServiceName) -> Query {
    Query::ServiceInstances {
        name,
        tags: Vec::new(),
        node_meta: Vec::new(),
        passing: false,
    }
}

fn all_instances(store: &Store, name: ServiceName) -> Result<Vec<Instance>, LookupError> {
    match query::run(store, &instances_query(name)).value {
        QueryResult::Instances(instances) => Ok(instances),
        other => Err(LookupError::Unavailable(format!("unexpected {other:?}"))),
    }
}
