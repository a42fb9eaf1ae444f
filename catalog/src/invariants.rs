//! The store's invariants, checked by every test after every apply and by `restore`.
//!
//! Each rule is one a reader relies on: a listed service has a node, a check names an
//! existing service, derived indexes agree with the tables, and no record is newer than the
//! index of its table (otherwise `X-Consul-Index` would lie to blocking clients).

use crate::store::{fold, Store};

/// Returns every broken rule, or `Ok` when the store is sound.
pub fn check(store: &Store) -> Result<(), Vec<String>> {
    let mut broken = Vec::new();
    let mut fail = |message: String| broken.push(message);
    let tables = store.tables;

    for (key, node) in &store.nodes {
        if *key != fold(node.name.as_str()) {
            fail(format!("node {key} stored under the wrong key"));
        }
        if node.indexes.modify_index > tables.nodes {
            fail(format!("node {key} newer than the nodes table"));
        }
        if node.indexes.create_index > node.indexes.modify_index {
            fail(format!("node {key} created after it was modified"));
        }
    }
    for ((node_key, id_key), service) in &store.services {
        if !store.nodes.contains_key(node_key) {
            fail(format!("service {id_key} on missing node {node_key}"));
        }
        if *id_key != fold(service.id.as_str()) || *node_key != fold(service.node.as_str()) {
            fail(format!(
                "service {node_key}/{id_key} stored under the wrong key"
            ));
        }
        if service.indexes.modify_index > tables.services {
            fail(format!(
                "service {node_key}/{id_key} newer than the services table"
            ));
        }
        let name = fold(service.name.as_str());
        let listed = store
            .services_by_name
            .get(&name)
            .is_some_and(|keys| keys.contains(&(node_key.clone(), id_key.clone())));
        if !listed {
            fail(format!(
                "service {node_key}/{id_key} missing from the name index"
            ));
        }
        match store.service_indexes.get(&name) {
            Some(index) if *index >= service.indexes.modify_index => {}
            _ => fail(format!("service index of {name} behind instance {id_key}")),
        }
    }
    for (name, keys) in &store.services_by_name {
        if keys.is_empty() {
            fail(format!("empty name index entry {name}"));
        }
        for key in keys {
            if !store.services.contains_key(key) {
                fail(format!("name index {name} lists missing {key:?}"));
            }
        }
    }
    for name in store.service_indexes.keys() {
        if !store.services_by_name.contains_key(name) {
            fail(format!("service index kept for vanished service {name}"));
        }
    }
    for ((node_key, id_key), check) in &store.checks {
        if !store.nodes.contains_key(node_key) {
            fail(format!("check {id_key} on missing node {node_key}"));
        }
        if *id_key != fold(check.id.as_str()) || *node_key != fold(check.node.as_str()) {
            fail(format!(
                "check {node_key}/{id_key} stored under the wrong key"
            ));
        }
        if check.indexes.modify_index > tables.checks {
            fail(format!(
                "check {node_key}/{id_key} newer than the checks table"
            ));
        }
        if !check.service_id.as_str().is_empty() {
            let service_key = (node_key.clone(), fold(check.service_id.as_str()));
            match store.services.get(&service_key) {
                None => fail(format!(
                    "check {id_key} names missing service {service_key:?}"
                )),
                Some(service) if service.name != check.service_name => {
                    fail(format!("check {id_key} carries a stale service name"))
                }
                Some(_) => {}
            }
        }
    }
    for (key, entry) in &store.kv {
        if *key != entry.key {
            fail(format!("kv {key} stored under the wrong key"));
        }
        if entry.indexes.modify_index > tables.kvs {
            fail(format!("kv {key} newer than the kvs table"));
        }
        if store.tombstones.contains_key(key) {
            fail(format!("live kv {key} also has a tombstone"));
        }
        if let Some(holder) = &entry.session {
            if !store.sessions.contains_key(holder) {
                fail(format!("kv {key} held by missing session {holder}"));
            }
            let indexed = store
                .session_locks
                .get(holder)
                .is_some_and(|keys| keys.contains(key));
            if !indexed {
                fail(format!("kv {key} missing from the locks of {holder}"));
            }
        }
    }
    for (holder, keys) in &store.session_locks {
        for key in keys {
            let held = store
                .kv
                .get(key)
                .is_some_and(|entry| entry.session.as_deref() == Some(holder.as_str()));
            if !held {
                fail(format!(
                    "locks of {holder} list {key}, which it does not hold"
                ));
            }
        }
    }
    for (id, session) in &store.sessions {
        let node_key = fold(session.node.as_str());
        if *id != session.id.as_str() {
            fail(format!("session {id} stored under the wrong key"));
        }
        if !store.nodes.contains_key(&node_key) {
            fail(format!("session {id} on missing node {node_key}"));
        }
        if session.indexes.modify_index > store.sessions_index {
            fail(format!("session {id} newer than the sessions table"));
        }
        let indexed = store
            .sessions_by_node
            .get(&node_key)
            .is_some_and(|ids| ids.contains(id));
        if !indexed {
            fail(format!("session {id} missing from its node's sessions"));
        }
        for check in session.bound_checks() {
            if !store
                .checks
                .contains_key(&(node_key.clone(), fold(check.as_str())))
            {
                fail(format!("session {id} bound to missing check {check}"));
            }
        }
    }
    for (node_key, ids) in &store.sessions_by_node {
        if ids.is_empty() || ids.iter().any(|id| !store.sessions.contains_key(id)) {
            fail(format!("sessions of {node_key} list a missing session"));
        }
    }
    for ((node_key, segment), coordinate) in &store.coordinates {
        if !store.nodes.contains_key(node_key) {
            fail(format!("coordinate of missing node {node_key}"));
        }
        if *node_key != fold(coordinate.node.as_str()) || *segment != coordinate.segment {
            fail(format!(
                "coordinate of {node_key} stored under the wrong key"
            ));
        }
        if !coordinate.coord.is_valid() {
            fail(format!("coordinate of {node_key} is not valid"));
        }
    }
    for (id, query) in &store.queries {
        if *id != query.id {
            fail(format!("prepared query {id} stored under the wrong key"));
        }
        if query.indexes.modify_index > store.queries_index {
            fail(format!("prepared query {id} newer than the queries table"));
        }
        if let Some(session) = &query.session {
            if !store.sessions.contains_key(session.as_str()) {
                fail(format!(
                    "prepared query {id} bound to missing session {session}"
                ));
            }
        }
        let named_alike = store
            .queries
            .values()
            .filter(|other| !query.name.is_empty() && other.name == query.name)
            .count();
        if named_alike > 1 {
            fail(format!("prepared query name {:?} used twice", query.name));
        }
    }
    for (key, index) in &store.tombstones {
        if *index > tables.tombstones {
            fail(format!("tombstone {key} newer than the tombstones table"));
        }
    }
    let newest = [
        tables.nodes,
        tables.services,
        tables.checks,
        tables.kvs,
        tables.tombstones,
        store.sessions_index,
    ];
    if newest.iter().any(|index| *index > store.last_index) {
        fail("a table index is beyond the last applied index".to_owned());
    }

    if broken.is_empty() {
        Ok(())
    } else {
        Err(broken)
    }
}
