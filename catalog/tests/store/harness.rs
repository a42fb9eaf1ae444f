//! Builders for commands and a store wrapper that checks invariants after every apply.

use legate_catalog::command::{
    Deregistration, KvCondition, KvDelete, KvDeleteMode, KvSet, Registration,
};
use legate_catalog::query::{self, Query, QueryResult};
use legate_catalog::types::*;
use legate_catalog::{invariants, Answer, Command, CommandResult, Store};

/// A store that applies at rising indexes and checks invariants after each command.
pub struct Harness {
    pub store: Store,
    pub next: u64,
}

impl Harness {
    pub fn new() -> Harness {
        Harness {
            store: Store::new(),
            next: 1,
        }
    }

    pub fn apply(&mut self, command: Command) -> CommandResult {
        let index = Index(self.next);
        self.next += 1;
        let before = self.store.snapshot();
        let result = self.store.apply(index, &command);
        if let Err(broken) = invariants::check(&self.store) {
            panic!("invariants broken after {command:?}: {broken:?}");
        }
        if result.is_err() {
            // A refused command leaves no trace (other than the index it consumed).
            let mut after = Store::restore(&self.store.snapshot()).unwrap();
            let mut expected = Store::restore(&before).unwrap();
            after.skip(index);
            expected.skip(index);
            assert_eq!(
                after.snapshot(),
                expected.snapshot(),
                "refused {command:?} changed state"
            );
        }
        self.store.take_touched();
        result
    }

    pub fn ok(&mut self, command: Command) {
        self.apply(command).expect("command applies");
    }

    pub fn query(&self, query: Query) -> Answer<QueryResult> {
        query::run(&self.store, &query)
    }

    pub fn last(&self) -> Index {
        Index(self.next - 1)
    }
}

pub fn node(name: &str, address: &str) -> Node {
    Node {
        name: name.into(),
        address: address.into(),
        ..Node::default()
    }
}

pub fn service(id: &str, name: &str, tags: &[&str], port: u16) -> Service {
    Service {
        id: id.into(),
        name: name.into(),
        tags: tags.iter().map(|t| t.to_string()).collect(),
        port,
        ..Service::default()
    }
}

pub fn check(id: &str, service_id: &str, status: Health) -> Check {
    Check {
        id: id.into(),
        name: id.to_owned(),
        service_id: service_id.into(),
        status,
        ..Check::default()
    }
}

pub fn register(node: Node, service: Option<Service>, checks: Vec<Check>) -> Command {
    Command::Register(Box::new(Registration {
        node,
        skip_node_update: false,
        service,
        checks,
    }))
}

pub fn deregister_node(node: &str) -> Command {
    Command::Deregister(Deregistration::Node(node.into()))
}

pub fn deregister_service(node: &str, id: &str) -> Command {
    Command::Deregister(Deregistration::Service(node.into(), id.into()))
}

pub fn deregister_check(node: &str, id: &str) -> Command {
    Command::Deregister(Deregistration::Check(node.into(), id.into()))
}

pub fn kv_set(key: &str, value: &str) -> Command {
    kv_set_if(key, value, KvCondition::Always)
}

pub fn kv_set_if(key: &str, value: &str, condition: KvCondition) -> Command {
    Command::KvSet(KvSet {
        entry: KvEntry {
            key: key.into(),
            value: value.as_bytes().to_vec(),
            ..KvEntry::default()
        },
        condition,
    })
}

pub fn kv_delete(key: &str, mode: KvDeleteMode) -> Command {
    Command::KvDelete(KvDelete {
        key: key.into(),
        mode,
    })
}

pub fn kv_get(key: &str) -> Query {
    Query::KvGet { key: key.into() }
}

pub fn kv_list(prefix: &str) -> Query {
    Query::KvList {
        prefix: prefix.into(),
    }
}

pub fn instances(name: &str, tags: &[&str], passing: bool) -> Query {
    Query::ServiceInstances {
        name: name.into(),
        tags: tags.iter().map(|t| t.to_string()).collect(),
        node_meta: Vec::new(),
        passing,
    }
}

pub fn keys_of(result: &QueryResult) -> Vec<String> {
    match result {
        QueryResult::Kv(entries) => entries.iter().map(|e| e.key.clone()).collect(),
        QueryResult::Keys(keys) => keys.clone(),
        other => panic!("not a KV result: {other:?}"),
    }
}

/// (node, service id) pairs of an instance list, in answer order.
pub fn instance_ids(result: &QueryResult) -> Vec<(String, String)> {
    match result {
        QueryResult::Instances(list) => list
            .iter()
            .map(|i| (i.node.name.to_string(), i.service.id.to_string()))
            .collect(),
        other => panic!("not an instance list: {other:?}"),
    }
}
