//! `ServerCatalog`: anti-entropy's view of the catalog on a server agent: this node's
//! records from the local store, writes through Raft.
//!
//! A follower in a cluster may read a slightly stale view; the worst that does is a redundant
//! write, which the store skips because it changes nothing.

use super::write_path::WritePath;
use crate::local::plan::Remote;
use crate::local::syncer::Catalog;
use legate_catalog::query::{self, Query, QueryResult};
use legate_catalog::{Command, NodeName, SharedStore};
use std::sync::Arc;

pub struct ServerCatalog {
    writes: WritePath,
    store: Arc<SharedStore>,
}

impl ServerCatalog {
    pub fn new(writes: WritePath, store: Arc<SharedStore>) -> ServerCatalog {
        ServerCatalog { writes, store }
    }
}

impl Catalog for ServerCatalog {
    async fn remote(&self, node: &NodeName) -> Result<Remote, String> {
        let store = self.store.read();
        let services = query::run(&store, &Query::NodeServices { node: node.clone() });
        let checks = query::run(&store, &Query::NodeChecks { node: node.clone() });
        Ok(Remote::from_results(services.value, checks.value))
    }

    async fn apply(&self, command: Command) -> Result<(), String> {
        match self.writes.write(command).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(refused)) => Err(refused.to_string()),
            Err(error) => Err(error.to_string()),
        }
    }

    fn cluster_size(&self) -> usize {
        let store = self.store.read();
        match query::run(
            &store,
            &Query::Nodes {
                node_meta: Vec::new(),
            },
        )
        .value
        {
            QueryResult::Nodes(nodes) => nodes.len(),
            _ => 1,
        }
    }
}
