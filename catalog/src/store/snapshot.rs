//! Snapshot and restore of the whole store.
//!
//! The format is a versioned bincode envelope holding the tables as plain lists; derived
//! indexes (service name → instances) are rebuilt on restore, and the result is checked with
//! the invariant checker before it replaces anything, so a corrupt snapshot is refused whole.

use super::{fold, Store, TableIndexes};
use crate::invariants;
use crate::types::{Check, Index, KvEntry, Node, Service};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use thiserror::Error;

#[derive(Serialize, Deserialize)]
enum SnapshotFormat {
    V1(SnapshotV1),
}

#[derive(Serialize, Deserialize)]
struct SnapshotV1 {
    last_index: Index,
    tables: TableIndexes,
    nodes: Vec<Node>,
    services: Vec<Service>,
    checks: Vec<Check>,
    kv: Vec<KvEntry>,
    tombstones: Vec<(String, Index)>,
    service_indexes: Vec<(String, Index)>,
}

/// A snapshot that cannot be restored. Nothing was changed; retrying the same bytes fails
/// the same way.
#[derive(Debug, Error)]
pub enum SnapshotError {
    #[error("snapshot is not readable: {0}")]
    Decode(#[from] bincode::Error),
    #[error("snapshot breaks store invariants: {0}")]
    Invalid(String),
}

impl Store {
    /// Serialises the whole store.
    pub fn snapshot(&self) -> Vec<u8> {
        let format = SnapshotFormat::V1(SnapshotV1 {
            last_index: self.last_index,
            tables: self.tables,
            nodes: self.nodes.values().cloned().collect(),
            services: self.services.values().cloned().collect(),
            checks: self.checks.values().cloned().collect(),
            kv: self.kv.values().cloned().collect(),
            tombstones: self
                .tombstones
                .iter()
                .map(|(k, i)| (k.clone(), *i))
                .collect(),
            service_indexes: self
                .service_indexes
                .iter()
                .map(|(k, i)| (k.clone(), *i))
                .collect(),
        });
        bincode::serialize(&format).expect("in-memory store serialises")
    }

    /// Rebuilds a store from `snapshot` bytes.
    pub fn restore(bytes: &[u8]) -> Result<Store, SnapshotError> {
        let SnapshotFormat::V1(snapshot) = bincode::deserialize(bytes)?;
        let mut store = Store {
            last_index: snapshot.last_index,
            tables: snapshot.tables,
            ..Store::default()
        };
        for node in snapshot.nodes {
            store.nodes.insert(fold(node.name.as_str()), node);
        }
        for service in snapshot.services {
            let key = (fold(service.node.as_str()), fold(service.id.as_str()));
            store
                .services_by_name
                .entry(fold(service.name.as_str()))
                .or_default()
                .insert(key.clone());
            store.services.insert(key, service);
        }
        for check in snapshot.checks {
            let key = (fold(check.node.as_str()), fold(check.id.as_str()));
            store.checks.insert(key, check);
        }
        for entry in snapshot.kv {
            store.kv.insert(entry.key.clone(), entry);
        }
        store.tombstones = snapshot.tombstones.into_iter().collect::<BTreeMap<_, _>>();
        store.service_indexes = snapshot.service_indexes.into_iter().collect();
        invariants::check(&store).map_err(|broken| SnapshotError::Invalid(broken.join("; ")))?;
        Ok(store)
    }
}
