//! Read functions. Each answers with the index it is scoped to and the topics it depends on,
//! so a blocking query wakes only for changes that can alter its answer.
//!
//! Index scoping follows Consul's state store:
//! - KV single key: the key's `ModifyIndex`, or the KV table's highest index (entries and
//!   tombstones) when the key is missing;
//! - KV list and keys: the highest `ModifyIndex` under the prefix, or of a tombstone under or
//!   above it; the table's highest index for the empty prefix or when nothing matched;
//! - one service (catalog or health): that service's own index;
//! - nodes, services, checks tables: the table's index.

use crate::store::{fold, Store};
use crate::txn::{TxnError, TxnOp, TxnResult};
use crate::types::{
    Check, Health, Index, KvEntry, Node, NodeCoordinate, NodeName, PreparedQuery, Service,
    ServiceName, Session, SessionId,
};
use crate::watch::{Answer, Topic};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A read, parsed at the API boundary.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Query {
    /// `GET /v1/kv/<key>`.
    KvGet { key: String },
    /// `GET /v1/kv/<prefix>?recurse`.
    KvList { prefix: String },
    /// `GET /v1/kv/<prefix>?keys[&separator=]`.
    KvKeys {
        prefix: String,
        separator: Option<String>,
    },
    /// `GET /v1/catalog/nodes`.
    Nodes { node_meta: NodeMetaFilter },
    /// `GET /v1/catalog/services`.
    Services { node_meta: NodeMetaFilter },
    /// `GET /v1/catalog/services?filter=`: every service instance, in store order, which
    /// the API filters before grouping by name as Consul does. Same index and watches as
    /// `Services`.
    ServiceRecords { node_meta: NodeMetaFilter },
    /// `GET /v1/catalog/service/<name>` and `GET /v1/health/service/<name>`.
    ServiceInstances {
        name: ServiceName,
        /// Every tag must be present (case-insensitively), as with a repeated `?tag=`.
        tags: Vec<String>,
        node_meta: NodeMetaFilter,
        /// Keep only instances whose checks, node checks included, all pass.
        passing: bool,
    },
    /// `GET /v1/catalog/node/<node>`.
    NodeServices { node: NodeName },
    /// `GET /v1/health/checks/<service>`.
    ServiceChecks {
        name: ServiceName,
        node_meta: NodeMetaFilter,
    },
    /// `GET /v1/health/node/<node>`.
    NodeChecks { node: NodeName },
    /// `GET /v1/health/state/<state>`: `None` is `any`.
    ChecksInState {
        state: Option<Health>,
        node_meta: NodeMetaFilter,
    },
    /// DNS reverse lookups: nodes whose address is exactly this one.
    NodesByAddress { address: String },
    /// DNS reverse lookups: service instances whose own address is exactly this one.
    ServicesByAddress { address: String },
    /// `GET /v1/operator/autopilot/configuration`.
    AutopilotConfig,
    /// `GET /v1/session/info/<id>`: the session, or nothing.
    SessionGet { id: SessionId },
    /// `GET /v1/session/list`.
    Sessions,
    /// `GET /v1/session/node/<node>`.
    NodeSessions { node: NodeName },
    /// `PUT /v1/txn` when every operation only reads: served like a read, never blocking.
    Txn { ops: Vec<TxnOp> },
    /// `GET /v1/coordinate/nodes`, or `/v1/coordinate/node/<node>` with a node; also what
    /// `?near=` sorts by.
    Coordinates { node: Option<NodeName> },
    /// `GET /v1/query`.
    PreparedQueries,
    /// `GET /v1/query/<id>`, and the lookup `execute` and DNS start from: by id, by name, or
    /// the template whose name prefixes the one asked for.
    PreparedQuery { id_or_name: String },
}

/// `?node-meta=key:value` pairs; a node must carry all of them.
pub type NodeMetaFilter = Vec<(String, String)>;

/// One service instance with its node and its checks (node checks first, then its own, each
/// in check-id order): a catalog `ServiceNode` and a health `ServiceEntry` in one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Instance {
    pub node: Node,
    pub service: Service,
    pub checks: Vec<Check>,
}

impl Instance {
    pub fn all_passing(&self) -> bool {
        self.checks
            .iter()
            .all(|check| check.status == Health::Passing)
    }
}

/// What a query answers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum QueryResult {
    Kv(Vec<KvEntry>),
    Keys(Vec<String>),
    Nodes(Vec<Node>),
    /// Service name → the union of its instances' tags, sorted.
    Services(BTreeMap<String, Vec<String>>),
    /// Service instances without their nodes or checks.
    ServiceRecords(Vec<Service>),
    Instances(Vec<Instance>),
    /// `None` for an unknown node.
    NodeServices(Option<(Node, Vec<Service>)>),
    Checks(Vec<Check>),
    /// `None` until the leader has written the settings.
    AutopilotConfig(Option<crate::types::AutopilotConfig>),
    Sessions(Vec<Session>),
    /// A read-only transaction's results, or its errors.
    Txn(Result<Vec<TxnResult>, Vec<TxnError>>),
    Coordinates(Vec<NodeCoordinate>),
    PreparedQueries(Vec<PreparedQuery>),
}

/// Runs one query against the store.
pub fn run(store: &Store, query: &Query) -> Answer<QueryResult> {
    match query {
        Query::KvGet { key } => kv_get(store, key),
        Query::KvList { prefix } => kv_list(store, prefix),
        Query::KvKeys { prefix, separator } => kv_keys(store, prefix, separator.as_deref()),
        Query::Nodes { node_meta } => nodes(store, node_meta),
        Query::Services { node_meta } => services(store, node_meta),
        Query::ServiceRecords { node_meta } => service_records(store, node_meta),
        Query::ServiceInstances {
            name,
            tags,
            node_meta,
            passing,
        } => instances(store, name, tags, node_meta, *passing),
        Query::NodeServices { node } => node_services(store, node),
        Query::ServiceChecks { name, node_meta } => service_checks(store, name, node_meta),
        Query::NodeChecks { node } => node_checks(store, node),
        Query::ChecksInState { state, node_meta } => checks_in_state(store, *state, node_meta),
        Query::NodesByAddress { address } => Answer {
            index: store.tables.nodes,
            value: QueryResult::Nodes(nodes_with_address(store, address)),
            watch: vec![Topic::Nodes],
        },
        Query::AutopilotConfig => Answer {
            index: store
                .autopilot
                .as_ref()
                .map_or(Index(1), |config| config.indexes.modify_index),
            value: QueryResult::AutopilotConfig(store.autopilot.clone()),
            watch: Vec::new(),
        },
        Query::SessionGet { id } => sessions_answer(
            store,
            store
                .sessions
                .get(id.as_str())
                .cloned()
                .into_iter()
                .collect(),
        ),
        Query::Sessions => sessions_answer(store, store.sessions.values().cloned().collect()),
        Query::NodeSessions { node } => {
            let ids = store.sessions_by_node.get(&fold(node.as_str()));
            let sessions = ids
                .into_iter()
                .flatten()
                .map(|id| store.sessions[id].clone())
                .collect();
            sessions_answer(store, sessions)
        }
        Query::Coordinates { node } => Answer {
            index: store.coordinates_index.max(Index(1)),
            value: QueryResult::Coordinates(store.coordinates(node.as_ref().map(|n| n.as_str()))),
            watch: vec![Topic::Coordinates],
        },
        Query::PreparedQueries => Answer {
            index: store.queries_index.max(Index(1)),
            value: QueryResult::PreparedQueries(store.prepared_queries()),
            watch: vec![Topic::Queries],
        },
        Query::PreparedQuery { id_or_name } => Answer {
            index: store.queries_index.max(Index(1)),
            value: QueryResult::PreparedQueries(
                store
                    .resolve_query(id_or_name)
                    .cloned()
                    .into_iter()
                    .collect(),
            ),
            watch: vec![Topic::Queries],
        },
        Query::Txn { ops } => Answer {
            index: store.last_index,
            value: QueryResult::Txn(store.read_txn(ops)),
            watch: Vec::new(),
        },
        Query::ServicesByAddress { address } => Answer {
            index: store.tables.services,
            value: QueryResult::ServiceRecords(services_with_address(store, address)),
            watch: vec![Topic::Services],
        },
    }
}

/// Session reads are scoped to the sessions table, as in Consul.
fn sessions_answer(store: &Store, sessions: Vec<Session>) -> Answer<QueryResult> {
    Answer {
        index: store.sessions_index,
        value: QueryResult::Sessions(sessions),
        watch: vec![Topic::Sessions],
    }
}

fn kv_table_index(store: &Store) -> Index {
    store.tables.kvs.max(store.tables.tombstones)
}

fn kv_get(store: &Store, key: &str) -> Answer<QueryResult> {
    let entry = store.kv.get(key);
    Answer {
        index: entry.map_or_else(|| kv_table_index(store), |e| e.indexes.modify_index),
        value: QueryResult::Kv(entry.map(|e| (**e).clone()).into_iter().collect()),
        watch: vec![Topic::KvKey(key.to_owned())],
    }
}

fn kv_under<'a>(store: &'a Store, prefix: &'a str) -> impl Iterator<Item = &'a KvEntry> + 'a {
    store
        .kv
        .range(prefix.to_owned()..)
        .take_while(move |(key, _)| key.starts_with(prefix))
        .map(|(_, entry)| &**entry)
}

fn prefix_index(store: &Store, prefix: &str, highest_entry: Index) -> Index {
    if prefix.is_empty() {
        return kv_table_index(store);
    }
    let scoped = highest_entry.max(store.tombstone_index(prefix));
    if scoped == Index::ZERO {
        kv_table_index(store)
    } else {
        scoped
    }
}

fn kv_list(store: &Store, prefix: &str) -> Answer<QueryResult> {
    let entries: Vec<KvEntry> = kv_under(store, prefix).cloned().collect();
    let highest = entries.iter().map(|e| e.indexes.modify_index).max();
    Answer {
        index: prefix_index(store, prefix, highest.unwrap_or_default()),
        value: QueryResult::Kv(entries),
        watch: vec![Topic::KvPrefix(prefix.to_owned())],
    }
}

fn kv_keys(store: &Store, prefix: &str, separator: Option<&str>) -> Answer<QueryResult> {
    let mut keys: Vec<String> = Vec::new();
    let mut highest = Index::ZERO;
    for entry in kv_under(store, prefix) {
        highest = highest.max(entry.indexes.modify_index);
        let rest = &entry.key[prefix.len()..];
        let rolled = match separator.filter(|s| !s.is_empty()) {
            Some(separator) => match rest.find(separator) {
                Some(at) => &entry.key[..prefix.len() + at + separator.len()],
                None => entry.key.as_str(),
            },
            None => entry.key.as_str(),
        };
        // Keys arrive sorted, so a rolled-up folder repeats only consecutively.
        if keys.last().map(String::as_str) != Some(rolled) {
            keys.push(rolled.to_owned());
        }
    }
    Answer {
        index: prefix_index(store, prefix, highest),
        value: QueryResult::Keys(keys),
        watch: vec![Topic::KvPrefix(prefix.to_owned())],
    }
}

fn meta_matches(node: &Node, filter: &NodeMetaFilter) -> bool {
    filter
        .iter()
        .all(|(key, value)| node.meta.get(key) == Some(value))
}

fn nodes(store: &Store, node_meta: &NodeMetaFilter) -> Answer<QueryResult> {
    let nodes = store
        .nodes
        .values()
        .filter(|node| meta_matches(node, node_meta))
        .cloned()
        .collect();
    Answer {
        index: store.tables.nodes,
        value: QueryResult::Nodes(nodes),
        watch: vec![Topic::Nodes],
    }
}

/// Every service instance on a node carrying `node_meta`, in store order.
fn services_on<'a>(
    store: &'a Store,
    node_meta: &'a NodeMetaFilter,
) -> impl Iterator<Item = &'a Service> + 'a {
    store
        .services
        .iter()
        .filter(move |((node_key, _), _)| {
            node_meta.is_empty() || meta_matches(&store.nodes[node_key], node_meta)
        })
        .map(|(_, service)| service)
}

/// The services table's index and topic, and the nodes' when node metadata selects.
fn services_answer(
    store: &Store,
    node_meta: &NodeMetaFilter,
    value: QueryResult,
) -> Answer<QueryResult> {
    let mut watch = vec![Topic::Services];
    if !node_meta.is_empty() {
        watch.push(Topic::Nodes);
    }
    Answer {
        index: if node_meta.is_empty() {
            store.tables.services
        } else {
            store.tables.services.max(store.tables.nodes)
        },
        value,
        watch,
    }
}

fn services(store: &Store, node_meta: &NodeMetaFilter) -> Answer<QueryResult> {
    let mut services: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for service in services_on(store, node_meta) {
        let tags = services
            .entry(service.name.as_str().to_owned())
            .or_default();
        tags.extend(service.tags.iter().cloned());
    }
    for tags in services.values_mut() {
        tags.sort();
        tags.dedup();
    }
    services_answer(store, node_meta, QueryResult::Services(services))
}

fn service_records(store: &Store, node_meta: &NodeMetaFilter) -> Answer<QueryResult> {
    let records = services_on(store, node_meta).cloned().collect();
    services_answer(store, node_meta, QueryResult::ServiceRecords(records))
}

fn has_tags(service: &Service, tags: &[String]) -> bool {
    tags.iter().all(|wanted| {
        service
            .tags
            .iter()
            .any(|tag| tag.to_lowercase() == wanted.to_lowercase())
    })
}

/// The checks an instance answers with: its node's checks, then its own.
fn instance_checks(store: &Store, node_key: &str, service_key: &str) -> Vec<Check> {
    store
        .checks
        .range((node_key.to_owned(), String::new())..)
        .take_while(|((node, _), _)| node == node_key)
        .map(|(_, check)| check)
        .filter(|check| check.service_id.as_str().is_empty())
        .chain(
            store
                .checks
                .range((node_key.to_owned(), String::new())..)
                .take_while(|((node, _), _)| node == node_key)
                .map(|(_, check)| check)
                .filter(|check| fold(check.service_id.as_str()) == service_key),
        )
        .cloned()
        .collect()
}

fn instances(
    store: &Store,
    name: &ServiceName,
    tags: &[String],
    node_meta: &NodeMetaFilter,
    passing: bool,
) -> Answer<QueryResult> {
    let folded = fold(name.as_str());
    let mut list = Vec::new();
    for key in store.services_by_name.get(&folded).into_iter().flatten() {
        let service = &store.services[key];
        let node = &store.nodes[&key.0];
        if !has_tags(service, tags) || !meta_matches(node, node_meta) {
            continue;
        }
        let instance = Instance {
            node: node.clone(),
            service: service.clone(),
            checks: instance_checks(store, &key.0, &key.1),
        };
        if passing && !instance.all_passing() {
            continue;
        }
        list.push(instance);
    }
    Answer {
        index: store.service_index(name),
        value: QueryResult::Instances(list),
        watch: vec![Topic::Service(folded)],
    }
}

fn node_services(store: &Store, node: &NodeName) -> Answer<QueryResult> {
    let node_key = fold(node.as_str());
    let value = store.nodes.get(&node_key).map(|found| {
        let services = store
            .service_keys_of_node(&node_key)
            .iter()
            .map(|key| store.services[key].clone())
            .collect();
        (found.clone(), services)
    });
    Answer {
        index: store.tables.nodes.max(store.tables.services),
        value: QueryResult::NodeServices(value),
        watch: vec![Topic::Node(node_key)],
    }
}

fn service_checks(
    store: &Store,
    name: &ServiceName,
    node_meta: &NodeMetaFilter,
) -> Answer<QueryResult> {
    let folded = fold(name.as_str());
    let mut checks = Vec::new();
    for key in store.services_by_name.get(&folded).into_iter().flatten() {
        if !meta_matches(&store.nodes[&key.0], node_meta) {
            continue;
        }
        for check_key in store.check_keys_of_service(key) {
            checks.push(store.checks[&check_key].clone());
        }
    }
    Answer {
        index: store.service_index(name),
        value: QueryResult::Checks(checks),
        watch: vec![Topic::Service(folded)],
    }
}

fn node_checks(store: &Store, node: &NodeName) -> Answer<QueryResult> {
    let node_key = fold(node.as_str());
    let checks = store
        .check_keys_of_node(&node_key)
        .iter()
        .map(|key| store.checks[key].clone())
        .collect();
    Answer {
        index: store.tables.checks,
        value: QueryResult::Checks(checks),
        watch: vec![Topic::Node(node_key)],
    }
}

fn checks_in_state(
    store: &Store,
    state: Option<Health>,
    node_meta: &NodeMetaFilter,
) -> Answer<QueryResult> {
    let checks = store
        .checks
        .iter()
        .filter(|(_, check)| state.is_none_or(|state| check.status == state))
        .filter(|((node_key, _), _)| {
            node_meta.is_empty() || meta_matches(&store.nodes[node_key], node_meta)
        })
        .map(|(_, check)| check.clone())
        .collect();
    Answer {
        index: store.tables.checks,
        value: QueryResult::Checks(checks),
        watch: vec![Topic::Checks],
    }
}

/// Nodes whose address is `address` (for DNS reverse lookups), in node-name order.
pub fn nodes_with_address(store: &Store, address: &str) -> Vec<Node> {
    store
        .nodes
        .values()
        .filter(|node| node.address == address)
        .cloned()
        .collect()
}

/// Service instances whose own address is `address` (for DNS reverse lookups).
pub fn services_with_address(store: &Store, address: &str) -> Vec<Service> {
    store
        .services
        .values()
        .filter(|service| service.address == address)
        .cloned()
        .collect()
}
