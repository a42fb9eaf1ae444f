//! Anti-entropy's plan: the commands that make the catalog's view of this node match the
//! agent's local state (Consul's `local.State.updateSyncState` and `SyncChanges`).
//!
//! Pure: a function of the wanted node record, the local tables and the catalog's view.
//! Rules:
//! 1. The local state is authoritative for this node. A service or check the catalog holds
//!    for this node but the agent does not know is deregistered, except those the servers
//!    manage themselves (the `consul` service of a server, the `serfHealth` check).
//! 2. A local service missing or different in the catalog is registered together with all
//!    its checks; a check that differs is registered with its service. Node-level checks are
//!    registered on their own. A missing or different node is registered first.
//! 3. With `EnableTagOverride`, the catalog's tags win: they are not compared, and the agent
//!    adopts them.
//! 4. A check whose only difference is its output, and whose output sync is deferred
//!    (`check_update_interval`), counts as in sync.

use super::tables::Tables;
use legate_catalog::command::{Deregistration, Registration};
use legate_catalog::{Check, CheckId, Command, Node, Service, ServiceId};
use std::collections::BTreeSet;

/// What the catalog holds for this node.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Remote {
    pub node: Option<Node>,
    pub services: Vec<Service>,
    pub checks: Vec<Check>,
}

impl Remote {
    /// What a node's `NodeServices` and `NodeChecks` reads answered.
    pub fn from_results(
        services: legate_catalog::QueryResult,
        checks: legate_catalog::QueryResult,
    ) -> Remote {
        let mut remote = Remote::default();
        if let legate_catalog::QueryResult::NodeServices(Some((found, services))) = services {
            remote.node = Some(found);
            remote.services = services;
        }
        if let legate_catalog::QueryResult::Checks(checks) = checks {
            remote.checks = checks;
        }
        remote
    }
}

/// What the servers manage on this node, which anti-entropy leaves alone.
#[derive(Clone, Debug, Default)]
pub struct Managed {
    pub services: Vec<ServiceId>,
    pub checks: Vec<CheckId>,
}

/// The commands to apply, in order, and the tags to adopt (rule 3).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Plan {
    pub commands: Vec<Command>,
    pub adopt_tags: Vec<(ServiceId, Vec<String>)>,
}

fn same_check(local: &Check, remote: &Check, deferred: &BTreeSet<CheckId>) -> bool {
    if local.same_content(remote) {
        return true;
    }
    if !deferred.contains(&local.id) {
        return false;
    }
    let mut without_output = local.clone();
    without_output.output = remote.output.clone();
    without_output.same_content(remote)
}

pub fn plan(
    node: &Node,
    tables: &Tables,
    remote: &Remote,
    managed: &Managed,
    deferred: &BTreeSet<CheckId>,
) -> Plan {
    let mut out = Plan::default();
    if !remote
        .node
        .as_ref()
        .is_some_and(|have| have.same_content(node))
    {
        out.commands.push(Command::Register(Box::new(Registration {
            node: node.clone(),
            skip_node_update: false,
            service: None,
            checks: Vec::new(),
        })));
    }

    // Rule 1: what the catalog has and the agent does not.
    let mut removed_services = BTreeSet::new();
    for service in &remote.services {
        if !tables.services.contains_key(&service.id) && !managed.services.contains(&service.id) {
            removed_services.insert(service.id.clone());
            out.commands
                .push(Command::Deregister(Deregistration::Service(
                    node.name.clone(),
                    service.id.clone(),
                )));
        }
    }
    for check in &remote.checks {
        let goes_with_service = removed_services.contains(&check.service_id);
        if !tables.checks.contains_key(&check.id)
            && !managed.checks.contains(&check.id)
            && !goes_with_service
        {
            out.commands.push(Command::Deregister(Deregistration::Check(
                node.name.clone(),
                check.id.clone(),
            )));
        }
    }

    // Rule 2: what the agent has and the catalog lacks or holds differently.
    let remote_check = |id: &CheckId| remote.checks.iter().find(|check| check.id == *id);
    for (id, local) in &tables.services {
        let mut wanted = local.service.clone();
        let have = remote.services.iter().find(|service| service.id == *id);
        if let Some(have) = have {
            if wanted.enable_tag_override && have.tags != wanted.tags {
                wanted.tags = have.tags.clone();
                out.adopt_tags.push((id.clone(), have.tags.clone()));
            }
        }
        let mut checks: Vec<Check> = tables
            .checks
            .values()
            .filter(|check| check.record.service_id == *id)
            .map(|check| check.record.clone())
            .collect();
        for check in &mut checks {
            check.service_tags = wanted.tags.clone();
        }
        let service_in_sync = have.is_some_and(|have| have.same_content(&wanted));
        let checks_in_sync = checks.iter().all(|check| {
            remote_check(&check.id).is_some_and(|have| same_check(check, have, deferred))
        });
        if !service_in_sync || !checks_in_sync {
            out.commands.push(Command::Register(Box::new(Registration {
                node: node.clone(),
                skip_node_update: true,
                service: Some(wanted),
                checks,
            })));
        }
    }
    let node_checks: Vec<Check> = tables
        .checks
        .values()
        .filter(|check| check.record.service_id.as_str().is_empty())
        .map(|check| check.record.clone())
        .filter(|check| {
            !remote_check(&check.id).is_some_and(|have| same_check(check, have, deferred))
        })
        .collect();
    if !node_checks.is_empty() {
        out.commands.push(Command::Register(Box::new(Registration {
            node: node.clone(),
            skip_node_update: true,
            service: None,
            checks: node_checks,
        })));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use legate_api::local::{CheckKind, CheckSpec, ServiceSpec, Source};
    use legate_catalog::Health;
    use std::time::Duration;

    fn node() -> Node {
        Node {
            name: "n1".into(),
            address: "127.0.0.1".into(),
            ..Node::default()
        }
    }

    fn tables() -> Tables {
        let mut tables = Tables::new("n1".into());
        let check = CheckSpec {
            id: "service:web".into(),
            name: "Service 'web' check".into(),
            notes: String::new(),
            service_id: "web".into(),
            status: Health::Critical,
            kind: CheckKind::Ttl(Duration::from_secs(10)),
            interval: Duration::ZERO,
            timeout: Duration::ZERO,
            deregister_critical_service_after: None,
            success_before_passing: 0,
            failures_before_warning: 0,
            failures_before_critical: 0,
            output_max_size: 4096,
        };
        let service = Service {
            id: "web".into(),
            name: "web".into(),
            tags: vec!["v1".into()],
            ..Service::default()
        };
        tables.add_service(
            ServiceSpec {
                service,
                checks: vec![check],
            },
            false,
            Source::Api,
            0,
        );
        tables
    }

    /// The catalog as it would hold `tables` after a sync.
    fn synced(tables: &Tables) -> Remote {
        Remote {
            node: Some(node()),
            services: tables.services(),
            checks: tables.checks(),
        }
    }

    fn managed() -> Managed {
        Managed {
            services: vec!["consul".into()],
            checks: vec!["serfHealth".into()],
        }
    }

    #[test]
    fn empty_catalog_gets_node_then_service_with_checks() {
        let tables = tables();
        let out = plan(
            &node(),
            &tables,
            &Remote::default(),
            &managed(),
            &BTreeSet::new(),
        );
        assert_eq!(out.commands.len(), 2);
        let Command::Register(registration) = &out.commands[1] else {
            panic!("a registration")
        };
        assert!(registration.skip_node_update);
        assert_eq!(registration.service.as_ref().unwrap().id.as_str(), "web");
        assert_eq!(registration.checks.len(), 1);
    }

    #[test]
    fn in_sync_means_nothing_to_do() {
        let tables = tables();
        let remote = synced(&tables);
        assert_eq!(
            plan(&node(), &tables, &remote, &managed(), &BTreeSet::new()),
            Plan::default()
        );
    }

    #[test]
    fn unknown_services_and_checks_go_but_managed_ones_stay() {
        let tables = tables();
        let mut remote = synced(&tables);
        remote.services.push(Service {
            id: "intruder".into(),
            name: "intruder".into(),
            ..Service::default()
        });
        remote.services.push(Service {
            id: "consul".into(),
            name: "consul".into(),
            ..Service::default()
        });
        remote.checks.push(Check {
            id: "intruder-check".into(),
            service_id: "intruder".into(),
            ..Check::default()
        });
        remote.checks.push(Check {
            id: "serfHealth".into(),
            ..Check::default()
        });
        remote.checks.push(Check {
            id: "stray".into(),
            ..Check::default()
        });
        let out = plan(&node(), &tables, &remote, &managed(), &BTreeSet::new());
        assert_eq!(
            out.commands,
            vec![
                Command::Deregister(Deregistration::Service("n1".into(), "intruder".into())),
                Command::Deregister(Deregistration::Check("n1".into(), "stray".into())),
            ]
        );
    }

    #[test]
    fn status_changes_sync_and_deferred_output_waits() {
        let mut tables = tables();
        let remote = synced(&tables);
        let id = CheckId::from("service:web");
        tables.set_status(&id, Health::Critical, "new output".into(), 1);
        let deferred = BTreeSet::from([id.clone()]);
        assert!(plan(&node(), &tables, &remote, &managed(), &deferred)
            .commands
            .is_empty());
        assert_eq!(
            plan(&node(), &tables, &remote, &managed(), &BTreeSet::new())
                .commands
                .len(),
            1
        );
        tables.set_status(&id, Health::Passing, "ok".into(), 2);
        assert_eq!(
            plan(&node(), &tables, &remote, &managed(), &deferred)
                .commands
                .len(),
            1
        );
    }

    #[test]
    fn tag_override_adopts_catalog_tags() {
        let mut tables = tables();
        tables
            .services
            .get_mut(&ServiceId::from("web"))
            .unwrap()
            .service
            .enable_tag_override = true;
        let mut remote = synced(&tables);
        remote.services[0].tags = vec!["from-catalog".into()];
        for check in &mut remote.checks {
            check.service_tags = vec!["from-catalog".into()];
        }
        let out = plan(&node(), &tables, &remote, &managed(), &BTreeSet::new());
        assert!(out.commands.is_empty());
        assert_eq!(
            out.adopt_tags,
            vec![(ServiceId::from("web"), vec!["from-catalog".to_owned()])]
        );
    }
}
