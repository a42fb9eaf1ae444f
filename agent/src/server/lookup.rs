//! `dns::Lookup` for a server agent: DNS answers from the local store.
//!
//! DNS reads are stale by default in Consul (`dns_config.allow_stale`, true): any server
//! answers from its own copy, without asking the leader. With `allow_stale` off a read must
//! be served by the leader; a server that is not the leader cannot forward yet (that arrives
//! with clustering), so it answers SERVFAIL rather than a possibly stale answer.

use super::instance_cache::InstanceCache;
use super::raft::RaftHandle;
use legate_catalog::query::{self, Instance, Query, QueryResult};
use legate_catalog::{Datacenter, Node, Service, ServiceName, SharedStore, Store};
use legate_dns::{Lookup, LookupError, ReadOptions};
use std::net::IpAddr;
use std::sync::Arc;

pub struct ServerLookup {
    store: Arc<SharedStore>,
    raft: RaftHandle,
    datacenter: Datacenter,
    /// Service questions repeat far more often than the catalog changes.
    instances: InstanceCache,
}

impl ServerLookup {
    pub fn new(store: Arc<SharedStore>, raft: RaftHandle, datacenter: Datacenter) -> Self {
        ServerLookup {
            store,
            raft,
            datacenter,
            instances: InstanceCache::default(),
        }
    }

    /// Checks the datacenter and the consistency a read asks for.
    fn admit(&self, options: &ReadOptions) -> Result<(), LookupError> {
        if let Some(dc) = &options.datacenter {
            if *dc != self.datacenter {
                return Err(LookupError::UnknownDatacenter(dc.clone()));
            }
        }
        if !options.allow_stale && !self.raft.metrics().is_leader() {
            return Err(LookupError::Unavailable("No cluster leader".to_owned()));
        }
        Ok(())
    }
}

impl Lookup for ServerLookup {
    async fn service_instances(
        &self,
        name: ServiceName,
        options: ReadOptions,
    ) -> Result<Vec<Instance>, LookupError> {
        self.admit(&options)?;
        all_instances(&self.store.read(), name)
    }

    async fn shared_service_instances(
        &self,
        name: ServiceName,
        options: ReadOptions,
    ) -> Result<Arc<[Instance]>, LookupError> {
        self.admit(&options)?;
        let store = self.store.read();
        self.instances
            .get_or_compute(&store, name.as_str(), |store| {
                all_instances(store, name.clone())
            })
    }

    async fn node(&self, name: String, options: ReadOptions) -> Result<Option<Node>, LookupError> {
        self.admit(&options)?;
        let query = Query::NodeServices { node: name.into() };
        match query::run(&self.store.read(), &query).value {
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

/// Every instance of a service, whatever its health (`Lookup` rule 2).
fn all_instances(store: &Store, name: ServiceName) -> Result<Vec<Instance>, LookupError> {
    let query = Query::ServiceInstances {
        name,
        tags: Vec::new(),
        node_meta: Vec::new(),
        passing: false,
    };
    match query::run(store, &query).value {
        QueryResult::Instances(instances) => Ok(instances),
        other => Err(LookupError::Unavailable(format!("unexpected {other:?}"))),
    }
}
