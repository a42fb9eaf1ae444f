use crate::harness::*;
use legate_catalog::command::ApplyError;
use legate_catalog::query::{Query, QueryResult};
use legate_catalog::types::{Health, Index};

fn web_cluster(h: &mut Harness) {
    // Registered out of order on purpose: answers come in node, then service-id order.
    h.ok(register(
        node("node-b", "10.0.0.2"),
        Some(service("web-2", "web", &["v2", "Primary"], 80)),
        vec![check("web-2-http", "web-2", Health::Passing)],
    ));
    h.ok(register(
        node("node-a", "10.0.0.1"),
        Some(service("web-1", "web", &["v1"], 80)),
        vec![check("web-1-http", "web-1", Health::Critical)],
    ));
    h.ok(register(
        node("node-a", "10.0.0.1"),
        Some(service("db", "db", &[], 5432)),
        vec![check("serfHealth", "", Health::Passing)],
    ));
}

#[test]
fn instances_come_in_node_then_service_id_order() {
    let mut h = Harness::new();
    web_cluster(&mut h);
    h.ok(register(
        node("node-a", "10.0.0.1"),
        Some(service("web-0", "web", &[], 81)),
        vec![],
    ));
    let answer = h.query(instances("web", &[], false));
    assert_eq!(
        instance_ids(&answer.value),
        [
            ("node-a", "web-0"),
            ("node-a", "web-1"),
            ("node-b", "web-2")
        ]
        .map(|(n, s)| (n.to_owned(), s.to_owned()))
    );
}

#[test]
fn instance_checks_include_node_checks_first() {
    let mut h = Harness::new();
    web_cluster(&mut h);
    let QueryResult::Instances(list) = h.query(instances("web", &["v1"], false)).value else {
        panic!()
    };
    let ids: Vec<_> = list[0].checks.iter().map(|c| c.id.to_string()).collect();
    assert_eq!(ids, ["serfHealth", "web-1-http"]);
    assert_eq!(list[0].checks[1].service_name.as_str(), "web");
}

#[test]
fn passing_drops_instances_with_any_failing_check() {
    let mut h = Harness::new();
    web_cluster(&mut h);
    let answer = h.query(instances("web", &[], true));
    assert_eq!(
        instance_ids(&answer.value),
        [("node-b".to_owned(), "web-2".to_owned())]
    );
    // A warning counts as failing for ?passing.
    h.ok(register(
        node("node-b", "10.0.0.2"),
        None,
        vec![check("mem", "", Health::Warning)],
    ));
    assert!(instance_ids(&h.query(instances("web", &[], true)).value).is_empty());
}

#[test]
fn tags_are_anded_and_case_insensitive() {
    let mut h = Harness::new();
    web_cluster(&mut h);
    let both = h.query(instances("web", &["v2", "primary"], false));
    assert_eq!(instance_ids(&both.value).len(), 1);
    let none = h.query(instances("web", &["v1", "primary"], false));
    assert!(instance_ids(&none.value).is_empty());
}

#[test]
fn lookups_ignore_case() {
    let mut h = Harness::new();
    web_cluster(&mut h);
    assert_eq!(
        instance_ids(&h.query(instances("WEB", &[], false)).value).len(),
        2
    );
    let node = h.query(Query::NodeServices {
        node: "NODE-A".into(),
    });
    let QueryResult::NodeServices(Some((found, services))) = node.value else {
        panic!()
    };
    assert_eq!(found.name.as_str(), "node-a");
    assert_eq!(services.len(), 2);
}

#[test]
fn service_index_moves_only_for_its_own_service() {
    let mut h = Harness::new();
    web_cluster(&mut h);
    let web = h.query(instances("web", &[], false)).index;
    h.ok(register(
        node("node-c", "10.0.0.3"),
        Some(service("cache", "cache", &[], 6379)),
        vec![],
    ));
    assert_eq!(h.query(instances("web", &[], false)).index, web);
    // A node change raises the index of every service on that node.
    h.ok(register(node("node-b", "10.9.9.9"), None, vec![]));
    assert_eq!(h.query(instances("web", &[], false)).index, h.last());
    // So does a node-level check change.
    h.ok(register(
        node("node-a", "10.0.0.1"),
        None,
        vec![check("serfHealth", "", Health::Critical)],
    ));
    assert_eq!(h.query(instances("db", &[], false)).index, h.last());
    assert_eq!(h.query(instances("web", &[], false)).index, h.last());
}

#[test]
fn reregistering_the_same_thing_changes_nothing() {
    let mut h = Harness::new();
    web_cluster(&mut h);
    let before = h.store.table_indexes();
    web_cluster(&mut h);
    assert_eq!(h.store.table_indexes(), before);
}

#[test]
fn a_check_for_an_unknown_service_is_refused_whole() {
    let mut h = Harness::new();
    let refused = h.apply(register(
        node("n1", "10.0.0.1"),
        Some(service("api", "api", &[], 1)),
        vec![
            check("c1", "api", Health::Passing),
            check("c2", "ghost", Health::Passing),
        ],
    ));
    assert_eq!(refused, Err(ApplyError::MissingService));
    assert_eq!(h.store.node_count(), 0, "the node was not half-registered");
    assert_eq!(
        h.apply(register(node("", "1.2.3.4"), None, vec![])),
        Err(ApplyError::MissingNodeName)
    );
}

#[test]
fn deregistering_a_node_removes_its_services_and_checks() {
    let mut h = Harness::new();
    web_cluster(&mut h);
    h.ok(deregister_node("NODE-A"));
    assert_eq!(h.store.node_count(), 1);
    assert_eq!(h.store.service_count(), 1);
    assert_eq!(h.store.check_count(), 1);
    // db's last instance went with the node; its queries fall back to the services index.
    assert_eq!(h.query(instances("db", &[], false)).index, h.last());
    let QueryResult::Services(services) = h.query(Query::Services { node_meta: vec![] }).value
    else {
        panic!()
    };
    assert_eq!(services.keys().collect::<Vec<_>>(), ["web"]);
}

#[test]
fn deregistering_a_service_or_check_removes_only_that() {
    let mut h = Harness::new();
    web_cluster(&mut h);
    h.ok(deregister_service("node-b", "web-2"));
    assert_eq!(h.store.service_count(), 2);
    assert_eq!(h.store.check_count(), 2, "web-2's check went with it");
    h.ok(deregister_check("node-a", "serfHealth"));
    assert_eq!(h.store.check_count(), 1);
    h.ok(deregister_check("node-a", "no-such-check"));
    assert_eq!(h.store.check_count(), 1);
}

#[test]
fn renaming_a_service_updates_its_checks_and_both_indexes() {
    let mut h = Harness::new();
    web_cluster(&mut h);
    h.ok(register(
        node("node-b", "10.0.0.2"),
        Some(service("web-2", "frontend", &["v3"], 80)),
        vec![],
    ));
    let answer = h.query(instances("frontend", &[], false));
    let QueryResult::Instances(list) = &answer.value else {
        panic!()
    };
    assert_eq!(list[0].checks[0].service_name.as_str(), "frontend");
    assert_eq!(list[0].checks[0].service_tags, ["v3"]);
    assert_eq!(h.query(instances("web", &[], false)).index, h.last());
}

#[test]
fn node_meta_filters_nodes_and_services() {
    let mut h = Harness::new();
    let mut tagged = node("edge", "10.1.0.1");
    tagged.meta.insert("rack".into(), "r1".into());
    h.ok(register(
        tagged,
        Some(service("lb", "lb", &["x"], 443)),
        vec![],
    ));
    web_cluster(&mut h);
    let filter = vec![("rack".to_owned(), "r1".to_owned())];
    let QueryResult::Nodes(nodes) = h
        .query(Query::Nodes {
            node_meta: filter.clone(),
        })
        .value
    else {
        panic!()
    };
    assert_eq!(nodes.len(), 1);
    let QueryResult::Services(services) = h.query(Query::Services { node_meta: filter }).value
    else {
        panic!()
    };
    assert_eq!(services.keys().collect::<Vec<_>>(), ["lb"]);
}

#[test]
fn checks_by_state_and_by_node() {
    let mut h = Harness::new();
    web_cluster(&mut h);
    let critical = h.query(Query::ChecksInState {
        state: Some(Health::Critical),
        node_meta: vec![],
    });
    let QueryResult::Checks(list) = critical.value else {
        panic!()
    };
    assert_eq!(list.len(), 1);
    assert_eq!(critical.index, h.store.table_indexes().checks);
    let QueryResult::Checks(on_a) = h
        .query(Query::NodeChecks {
            node: "node-a".into(),
        })
        .value
    else {
        panic!()
    };
    assert_eq!(on_a.len(), 2);
    let QueryResult::Checks(web) = h
        .query(Query::ServiceChecks {
            name: "web".into(),
            node_meta: vec![],
        })
        .value
    else {
        panic!()
    };
    assert_eq!(web.len(), 2, "service checks only, no node checks");
    assert_eq!(Index(0).for_header(), 1);
}
