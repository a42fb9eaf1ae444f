//! The leader's reconcile plan: what the catalog must say about the cluster's members.
//!
//! Consul's leader keeps every gossip member registered as a node with a `serfHealth` check,
//! and every server also as an instance of the `consul` service on port 8300, which clients,
//! DNS (`consul.service.consul`) and `/v1/catalog/services` rely on. The rules:
//! 1. An alive member is registered with `serfHealth` passing ("Agent alive and reachable").
//! 2. A failed member keeps its node and services, with `serfHealth` critical ("Agent not
//!    live or unreachable"), so its services leave `?passing` and DNS.
//! 3. A member that left is deregistered, with everything on it.
//! 4. A node that carries a `serfHealth` check but is no member at all (reaped, or forgotten
//!    while no leader was watching) is deregistered. Nodes registered through the catalog API
//!    carry no `serfHealth` and are left alone. Only a leader whose gossip view can be trusted
//!    to be whole applies it (`View::whole`): a server just restarted knows few members or
//!    none until they find it, and taking that for the cluster would deregister live nodes,
//!    and with them every session they hold.
//!
//! `plan` is pure: it compares what the members call for with what the store holds and
//! returns a command only where they differ, so reconciling an already-correct catalog writes
//! nothing to the log.

use super::NodeId;
use legate_catalog::command::{Deregistration, Registration};
use legate_catalog::query::{self, Query, QueryResult};
use legate_catalog::types::{Check, CheckDefinition, Health, Node, Service, Weights};
use legate_catalog::{Command, Store};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// A gossip member as the catalog should show it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerMember {
    pub node_name: String,
    pub node_id: String,
    pub address: String,
    /// The server RPC port; `None` for a client agent, which gets no `consul` service.
    pub server_port: Option<u16>,
    pub version: String,
    pub status: MemberStatus,
}

/// A member's gossip status, as far as the catalog cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemberStatus {
    Alive,
    Failed,
    Left,
}

/// The check every live member carries.
pub const SERF_CHECK_ID: &str = "serfHealth";

/// The registration that makes `member` appear as Consul shows a live member (rule 1), or
/// a failed one (rule 2).
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
    let service = member.server_port.map(|port| Service {
        node: node.name.clone(),
        id: "consul".into(),
        name: "consul".into(),
        port,
        weights: Weights::default(),
        meta: BTreeMap::from([
            ("raft_version".to_owned(), "3".to_owned()),
            ("serf_protocol_current".to_owned(), "2".to_owned()),
            ("serf_protocol_max".to_owned(), "5".to_owned()),
            ("serf_protocol_min".to_owned(), "1".to_owned()),
            ("version".to_owned(), member.version.clone()),
        ]),
        ..Service::default()
    });
    let (status, output) = match member.status {
        MemberStatus::Alive | MemberStatus::Left => (Health::Passing, "Agent alive and reachable"),
        MemberStatus::Failed => (Health::Critical, "Agent not live or unreachable"),
    };
    let check = Check {
        node: node.name.clone(),
        id: SERF_CHECK_ID.into(),
        name: "Serf Health Status".to_owned(),
        status,
        output: output.to_owned(),
        definition: CheckDefinition::default(),
        ..Check::default()
    };
    Registration {
        node,
        skip_node_update: false,
        service,
        checks: vec![check],
    }
}

/// How long a leader's gossip must have run before rule 4 applies: members that took this
/// server for down find it again when they next announce themselves to down members (every
/// 30 s on the LAN), or at once through its snapshot of the members it knew.
pub const REAP_UNKNOWN_AFTER: Duration = Duration::from_secs(60);

/// Whether this leader's gossip view is whole enough to deregister nodes it does not know
/// (rule 4): it has run for `REAP_UNKNOWN_AFTER`, and it knows every voter of the Raft group
/// (a server that knows fewer is cut off from gossip, whatever it hears over Raft).
pub fn view_is_whole(
    gossip_age: Duration,
    voters: &BTreeSet<NodeId>,
    gossip_servers: &BTreeSet<NodeId>,
) -> bool {
    gossip_age >= REAP_UNKNOWN_AFTER && voters.is_subset(gossip_servers)
}

/// The commands that bring the catalog in line with `members`; empty when it already is.
/// Rule 4 applies only when `whole` (see `view_is_whole`).
pub fn plan(members: &[ServerMember], whole: bool, store: &Store) -> Vec<Command> {
    let mut commands: Vec<Command> = members
        .iter()
        .filter_map(|member| match member.status {
            MemberStatus::Left => node_exists(store, &member.node_name).then(|| {
                Command::Deregister(Deregistration::Node(member.node_name.as_str().into()))
            }),
            MemberStatus::Alive | MemberStatus::Failed => {
                let registration = wanted(member);
                (!is_registered(&registration, store))
                    .then_some(Command::Register(Box::new(registration)))
            }
        })
        .collect();
    if !whole {
        return commands;
    }
    // Rule 4: nodes gossip once vouched for and no longer knows.
    let known: BTreeSet<String> = members
        .iter()
        .map(|member| member.node_name.to_lowercase())
        .collect();
    let all = query::run(
        store,
        &Query::ChecksInState {
            state: None,
            node_meta: Vec::new(),
        },
    );
    if let QueryResult::Checks(checks) = all.value {
        let orphans: BTreeSet<String> = checks
            .iter()
            .filter(|check| check.id.as_str() == SERF_CHECK_ID)
            .map(|check| check.node.as_str().to_owned())
            .filter(|node| !known.contains(&node.to_lowercase()))
            .collect();
        commands.extend(
            orphans
                .into_iter()
                .map(|node| Command::Deregister(Deregistration::Node(node.as_str().into()))),
        );
    }
    commands
}

fn node_exists(store: &Store, node: &str) -> bool {
    matches!(
        query::run(store, &Query::NodeServices { node: node.into() }).value,
        QueryResult::NodeServices(Some(_))
    )
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
            server_port: Some(8300),
            version: "0.1.0".into(),
            status: MemberStatus::Alive,
        }
    }

    fn client(name: &str, status: MemberStatus) -> ServerMember {
        ServerMember {
            node_name: name.into(),
            node_id: "0f3c7e9a-0000-4000-8000-0000000000c1".into(),
            address: "127.0.0.9".into(),
            server_port: None,
            version: "0.1.0".into(),
            status,
        }
    }

    fn reconcile(store: &mut Store, members: &[ServerMember]) {
        let commands = plan(members, true, store);
        apply_all(store, &commands);
    }

    fn apply_all(store: &mut Store, commands: &[Command]) {
        for command in commands {
            let next = Index(store.last_index().0 + 1);
            store.apply(next, command).unwrap();
        }
    }

    fn serf_status(store: &Store, node: &str) -> Option<Health> {
        match query::run(store, &Query::NodeChecks { node: node.into() }).value {
            QueryResult::Checks(checks) => checks
                .into_iter()
                .find(|check| check.id.as_str() == SERF_CHECK_ID)
                .map(|check| check.status),
            _ => None,
        }
    }

    #[test]
    fn a_client_is_registered_then_failed_then_deregistered_when_it_leaves() {
        let mut store = Store::new();
        let alive = [me(), client("c1", MemberStatus::Alive)];
        reconcile(&mut store, &alive);
        assert_eq!(serf_status(&store, "c1"), Some(Health::Passing));
        assert!(plan(&alive, true, &store).is_empty());

        let failed = [me(), client("c1", MemberStatus::Failed)];
        reconcile(&mut store, &failed);
        assert_eq!(serf_status(&store, "c1"), Some(Health::Critical));
        assert!(plan(&failed, true, &store).is_empty());

        let left = [me(), client("c1", MemberStatus::Left)];
        reconcile(&mut store, &left);
        assert!(!node_exists(&store, "c1"));
        assert!(plan(&left, true, &store).is_empty());
    }

    #[test]
    fn a_reaped_member_is_deregistered_but_catalog_only_nodes_stay() {
        let mut store = Store::new();
        reconcile(&mut store, &[me(), client("c1", MemberStatus::Failed)]);
        let external = Registration {
            node: Node {
                name: "external".into(),
                address: "10.0.0.1".into(),
                ..Node::default()
            },
            skip_node_update: false,
            service: None,
            checks: Vec::new(),
        };
        apply_all(&mut store, &[Command::Register(Box::new(external))]);
        // c1 is reaped: no longer a member at all.
        reconcile(&mut store, &[me()]);
        assert!(!node_exists(&store, "c1"));
        assert!(node_exists(&store, "external"));
        assert!(node_exists(&store, "srv-1"));
    }

    #[test]
    fn a_view_not_yet_whole_deregisters_no_unknown_node_but_still_registers() {
        let mut store = Store::new();
        reconcile(&mut store, &[me(), client("c1", MemberStatus::Alive)]);
        // A leader restarted a moment ago knows only itself and a newcomer.
        let partial = [me(), client("c2", MemberStatus::Alive)];
        let commands = plan(&partial, false, &store);
        assert_eq!(commands.len(), 1, "{commands:?}");
        assert!(matches!(&commands[0], Command::Register(r) if r.node.name.as_str() == "c2"));
        apply_all(&mut store, &commands);
        assert!(node_exists(&store, "c1"));
        // Once whole, the unknown c1 goes.
        reconcile(&mut store, &partial);
        assert!(!node_exists(&store, "c1"));
    }

    #[test]
    fn a_view_is_whole_once_old_enough_and_knowing_every_voter() {
        let voters = BTreeSet::from([1, 2, 3]);
        let all = BTreeSet::from([1, 2, 3, 4]);
        let cut_off = BTreeSet::from([1]);
        let old = REAP_UNKNOWN_AFTER;
        assert!(view_is_whole(old, &voters, &all));
        assert!(!view_is_whole(
            old - Duration::from_millis(1),
            &voters,
            &all
        ));
        assert!(!view_is_whole(old * 10, &voters, &cut_off));
        assert!(view_is_whole(old, &BTreeSet::from([1]), &cut_off));
    }

    #[test]
    fn an_empty_catalog_gets_the_server_registered_once() {
        let mut store = Store::new();
        let commands = plan(&[me()], true, &store);
        assert_eq!(commands.len(), 1);
        store.apply(Index(1), &commands[0]).unwrap();
        assert!(
            plan(&[me()], true, &store).is_empty(),
            "a second plan has nothing to do"
        );
    }

    #[test]
    fn a_changed_or_failing_registration_is_repaired() {
        let mut store = Store::new();
        store
            .apply(Index(1), &plan(&[me()], true, &store)[0])
            .unwrap();
        let mut moved = me();
        moved.address = "127.0.0.2".into();
        assert_eq!(plan(&[moved], true, &store).len(), 1);
        let mut broken = wanted(&me());
        broken.checks[0].status = Health::Critical;
        store
            .apply(Index(2), &Command::Register(Box::new(broken)))
            .unwrap();
        assert_eq!(plan(&[me()], true, &store).len(), 1);
    }
}
