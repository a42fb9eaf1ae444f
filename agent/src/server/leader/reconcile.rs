//! The leader's reconcile plan: what the catalog must say about the cluster's members.
//!
//! Consul's leader keeps every gossip member registered as a node with a `serfHealth` check,
//! and every server also as an instance of the `consul` service on port 8300, which clients,
//! DNS (`consul.service.consul`) and `/v1/catalog/services` rely on. Until gossip arrives the
//! only member a server knows is itself. `plan` is pure: it compares the wanted registration
//! with what the store holds and returns a command only when they differ, so reconciling an
//! already-correct catalog writes nothing to the log.

use legate_catalog::command::Registration;
use legate_catalog::query::{self, Query, QueryResult};
use legate_catalog::types::{Check, CheckDefinition, Health, Node, Service, Weights};
use legate_catalog::{Command, Store};
use std::collections::BTreeMap;

/// A server as the catalog should show it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerMember {
    pub node_name: String,
    pub node_id: String,
    pub address: String,
    pub server_port: u16,
    pub version: String,
}

/// The check every live member carries.
pub const SERF_CHECK_ID: &str = "serfHealth";

/// The registration that makes `member` appear as Consul shows a live server.
pub fn wanted(member: &ServerMember) -> Registration {
    let mut tagged_addresses = BTreeMap::new();
    for key in ["lan", "lan_ipv4", "wan", "wan_ipv4"] {
        tagged_addresses.insert(key.to_owned(), member.address.clone());
    }
    let meta = BTreeMap::from([
        ("consul-network-segment".to_owned(), String::new()),
        ("consul-version".to_owned(), member.version.clone()),
    ]);
    let node = Node {
        id: member.node_id.clone(),
        name: member.node_name.as_str().into(),
        address: member.address.clone(),
        tagged_addresses,
        meta,
        ..Node::default()
    };
    let service = Service {
        node: node.name.clone(),
        id: "consul".into(),
        name: "consul".into(),
        port: member.server_port,
        weights: Weights::default(),
        meta: BTreeMap::from([
            ("raft_version".to_owned(), "3".to_owned()),
            ("serf_protocol_current".to_owned(), "2".to_owned()),
            ("serf_protocol_max".to_owned(), "5".to_owned()),
            ("serf_protocol_min".to_owned(), "1".to_owned()),
            ("version".to_owned(), member.version.clone()),
        ]),
        ..Service::default()
    };
    let check = Check {
        node: node.name.clone(),
        id: SERF_CHECK_ID.into(),
        name: "Serf Health Status".to_owned(),
        status: Health::Passing,
        output: "Agent alive and reachable".to_owned(),
        definition: CheckDefinition::default(),
        ..Check::default()
    };
    Registration {
        node,
        skip_node_update: false,
        service: Some(service),
        checks: vec![check],
    }
}

/// The commands that bring the catalog in line with `members`; empty when it already is.
pub fn plan(members: &[ServerMember], store: &Store) -> Vec<Command> {
    members
        .iter()
        .filter_map(|member| {
            let registration = wanted(member);
            (!is_registered(&registration, store))
                .then_some(Command::Register(Box::new(registration)))
        })
        .collect()
}

fn is_registered(wanted: &Registration, store: &Store) -> bool {
    let node_query = Query::NodeServices {
        node: wanted.node.name.clone(),
    };
    let QueryResult::NodeServices(Some((node, services))) = query::run(store, &node_query).value
    else {
        return false;
    };
    if !node.same_content(&wanted.node) {
        return false;
    }
    let service_ok = wanted.service.as_ref().is_none_or(|want| {
        services
            .iter()
            .any(|have| have.id == want.id && have.same_content(want))
    });
    let checks_query = Query::NodeChecks {
        node: wanted.node.name.clone(),
    };
    let QueryResult::Checks(checks) = query::run(store, &checks_query).value else {
        return false;
    };
    let checks_ok = wanted.checks.iter().all(|want| {
        checks
            .iter()
            .any(|have| have.id == want.id && have.same_content(want))
    });
    service_ok && checks_ok
}

#[cfg(test)]
mod tests {
    use super::*;
    use legate_catalog::types::Index;

    fn me() -> ServerMember {
        ServerMember {
            node_name: "srv-1".into(),
            node_id: "0f3c7e9a-0000-4000-8000-000000000001".into(),
            address: "127.0.0.1".into(),
            server_port: 8300,
            version: "0.1.0".into(),
        }
    }

    #[test]
    fn an_empty_catalog_gets_the_server_registered_once() {
        let mut store = Store::new();
        let commands = plan(&[me()], &store);
        assert_eq!(commands.len(), 1);
        store.apply(Index(1), &commands[0]).unwrap();
        assert!(
            plan(&[me()], &store).is_empty(),
            "a second plan has nothing to do"
        );
    }

    #[test]
    fn a_changed_or_failing_registration_is_repaired() {
        let mut store = Store::new();
        store.apply(Index(1), &plan(&[me()], &store)[0]).unwrap();
        let mut moved = me();
        moved.address = "127.0.0.2".into();
        assert_eq!(plan(&[moved], &store).len(), 1);
        let mut broken = wanted(&me());
        broken.checks[0].status = Health::Critical;
        store
            .apply(Index(2), &Command::Register(Box::new(broken)))
            .unwrap();
        assert_eq!(plan(&[me()], &store).len(), 1);
    }
}
