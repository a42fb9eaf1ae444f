//! `InstanceCache`: the instances of each service DNS asked about, kept until the catalog
//! changes, so that answering `web.service.consul` does not copy every instance's node,
//! service and checks out of the store for every question.
//!
//! An entry is valid for one store `last_index`. The store is the Raft state machine: the
//! same applied index always means the same state, even across a snapshot install, so an
//! entry can never hold a list the store would no longer return. Any write invalidates every
//! entry; a stale entry is simply recomputed on its next question.

use legate_catalog::query::Instance;
use legate_catalog::{Index, Store};
use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

/// How many services are remembered. A question for a further one, when full, empties the
/// cache first: names come from clients, so the cache must not grow with them.
const MAX_SERVICES: usize = 1024;

/// A service's instances and the store index they were read at.
type Entry = (Index, Arc<[Instance]>);

#[derive(Default)]
pub struct InstanceCache {
    // Keyed by the name as asked (DNS names arrive lower case); readers share the lock, and
    // it is never held while the store is queried.
    entries: RwLock<HashMap<String, Entry>>,
}

impl InstanceCache {
    /// The instances of `name` in `store`: the cached list when it was computed at the
    /// store's current index, else `compute(store)`, remembered when it succeeds.
    pub fn get_or_compute<E>(
        &self,
        store: &Store,
        name: &str,
        compute: impl FnOnce(&Store) -> Result<Vec<Instance>, E>,
    ) -> Result<Arc<[Instance]>, E> {
        let index = store.last_index();
        let entries = self.entries.read().unwrap_or_else(PoisonError::into_inner);
        if let Some((cached_at, instances)) = entries.get(name) {
            if *cached_at == index {
                return Ok(instances.clone());
            }
        }
        drop(entries);
        let instances: Arc<[Instance]> = compute(store)?.into();
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= MAX_SERVICES && !entries.contains_key(name) {
            entries.clear();
        }
        entries.insert(name.to_owned(), (index, instances.clone()));
        Ok(instances)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use legate_catalog::{Node, Service};
    use std::cell::Cell;

    #[test]
    fn a_list_is_kept_until_the_store_moves_on() {
        let cache = InstanceCache::default();
        let mut store = Store::new();
        let computed = Cell::new(0);
        let compute = |_: &Store| -> Result<Vec<Instance>, ()> {
            computed.set(computed.get() + 1);
            let instance = Instance {
                node: Node::default(),
                service: Service::default(),
                checks: Vec::new(),
            };
            Ok(vec![instance; computed.get()])
        };
        assert_eq!(
            cache.get_or_compute(&store, "web", compute).unwrap().len(),
            1
        );
        assert_eq!(
            cache.get_or_compute(&store, "web", compute).unwrap().len(),
            1
        );
        assert_eq!(computed.get(), 1, "same index: served from the cache");
        assert_eq!(
            cache.get_or_compute(&store, "db", compute).unwrap().len(),
            2
        );
        store.skip(Index(7));
        assert_eq!(
            cache.get_or_compute(&store, "web", compute).unwrap().len(),
            3
        );
        assert_eq!(computed.get(), 3, "a write invalidates the entry");
        let failed = cache.get_or_compute(&store, "api", |_| Err::<Vec<Instance>, _>("down"));
        assert_eq!(failed.unwrap_err(), "down");
    }
}
