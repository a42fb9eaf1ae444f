//! Executing a prepared query against a backend: resolve it (by id, name or template),
//! render a template for the name asked, run it in the datacenter asked (this one by
//! default), and fail over to other datacenters when it finds nothing.
//!
//! Rules (Consul's `PreparedQuery.Execute` and `queryFailover`):
//! 1. The `near` node is the request's (`?near=`, or the DNS server's own node), else the
//!    query's `Near`; `_agent` is the asking agent's node; `_ip` the node whose address is
//!    the client's (no sort when none is).
//! 2. Failover runs only when the first datacenter found no instance. It tries, each at
//!    most once and never the first datacenter again: the `NearestN` nearest other known
//!    datacenters (by WAN round trip), then `Datacenters` in order, then `Targets`. The
//!    first that finds an instance answers; `Failovers` counts the datacenters tried. A
//!    datacenter that cannot be reached counts as tried and is skipped.
//! 3. Results from another datacenter are shuffled, never sorted by `near` (its nodes'
//!    coordinates are not comparable with this datacenter's).

use super::definition::{Definition, QueryJson};
use super::select;
use super::template;
use crate::backend::{Backend, BackendError, Consistency, ReadOptions};
use legate_catalog::query::Instance;
use legate_catalog::{Datacenter, Index, PreparedQuery, Query, QueryResult, ServiceName};
use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

/// What to execute, and for whom.
#[derive(Clone, Debug, Default)]
pub struct Execution {
    pub id_or_name: String,
    /// `?dc=`: the first datacenter to run in, when not this one.
    pub datacenter: Option<Datacenter>,
    pub consistency: Consistency,
    /// `?near=`, or the DNS server's own node.
    pub near: Option<String>,
    pub limit: Option<usize>,
    /// The asking agent's node (`_agent`).
    pub agent_node: String,
    /// The client's address (`_ip`).
    pub source_ip: Option<IpAddr>,
}

/// A query's answer.
#[derive(Clone, Debug, Default)]
pub struct Executed {
    /// The query as it ran (a template rendered for the name asked).
    pub query: QueryJson,
    pub nodes: Vec<Instance>,
    /// The datacenter whose instances these are.
    pub datacenter: String,
    pub failovers: usize,
}

/// Why a query did not run.
#[derive(Debug)]
pub enum ExecuteError {
    /// No query has that id or name, and no template matches it (Consul's 404).
    NotFound,
    /// A template could not be rendered for the name (400).
    Render(String),
    Backend(BackendError),
}

impl From<BackendError> for ExecuteError {
    fn from(error: BackendError) -> ExecuteError {
        ExecuteError::Backend(error)
    }
}

/// Consul's text for a query that does not exist.
pub const NOT_FOUND: &str = "Query not found";

fn options(datacenter: Option<Datacenter>, consistency: Consistency) -> ReadOptions {
    ReadOptions {
        datacenter,
        consistency,
        max_stale: None,
        min_index: Index::ZERO,
        wait: Duration::ZERO,
    }
}

/// The stored query `id_or_name` names, and its definition rendered for that name.
pub async fn resolve<B: Backend>(
    backend: &B,
    datacenter: Option<Datacenter>,
    consistency: Consistency,
    id_or_name: &str,
) -> Result<(PreparedQuery, Definition), ExecuteError> {
    let query = Query::PreparedQuery {
        id_or_name: id_or_name.to_owned(),
    };
    let read = backend
        .read(options(datacenter, consistency), query)
        .await?;
    let QueryResult::PreparedQueries(found) = read.value else {
        return Err(ExecuteError::Backend(BackendError::Internal(
            "unexpected answer to a prepared query lookup".into(),
        )));
    };
    let stored = found.into_iter().next().ok_or(ExecuteError::NotFound)?;
    let mut definition = Definition::from_stored(&stored);
    if definition.is_template() {
        definition = template::render(&definition, &stored.name, id_or_name)
            .map_err(ExecuteError::Render)?;
    }
    Ok((stored, definition))
}

pub async fn execute<B: Backend>(
    backend: &B,
    execution: &Execution,
) -> Result<Executed, ExecuteError> {
    let (stored, definition) = resolve(
        backend,
        execution.datacenter.clone(),
        execution.consistency,
        &execution.id_or_name,
    )
    .await?;
    let local = backend.agent_info().datacenter;
    let first = execution
        .datacenter
        .clone()
        .unwrap_or_else(|| local.clone());
    let mut query = QueryJson::from_stored(&stored);
    query.definition = definition.clone();

    let mut nodes = run_in(
        backend,
        execution,
        &definition,
        execution.datacenter.clone(),
    )
    .await?;
    let near = near_origin(backend, execution, &definition, &nodes).await?;
    select::order(
        &mut nodes,
        near.as_ref().map(|(o, c)| (o.as_str(), c)),
        execution.limit,
        &mut rand::thread_rng(),
    );
    if !nodes.is_empty() {
        return Ok(Executed {
            query,
            nodes,
            datacenter: first.to_string(),
            failovers: 0,
        });
    }
    let mut failovers = 0;
    for dc in failover_order(backend, &definition, first.as_str()).await {
        failovers += 1;
        let remote = (dc != local.as_str()).then(|| Datacenter::from(dc.as_str()));
        let mut found = match run_in(backend, execution, &definition, remote).await {
            Ok(found) => found,
            // Rule 2: an unreachable datacenter is skipped.
            Err(ExecuteError::Backend(_)) => continue,
            Err(other) => return Err(other),
        };
        if !found.is_empty() {
            select::order(&mut found, None, execution.limit, &mut rand::thread_rng());
            return Ok(Executed {
                query,
                nodes: found,
                datacenter: dc,
                failovers,
            });
        }
    }
    Ok(Executed {
        query,
        nodes: Vec::new(),
        datacenter: first.to_string(),
        failovers,
    })
}

/// The query's instances in one datacenter (`None`: this one), filtered.
async fn run_in<B: Backend>(
    backend: &B,
    execution: &Execution,
    definition: &Definition,
    datacenter: Option<Datacenter>,
) -> Result<Vec<Instance>, ExecuteError> {
    if definition.service.connect {
        // No service mesh: no instance accepts mesh connections.
        return Ok(Vec::new());
    }
    let query = Query::ServiceInstances {
        name: ServiceName::from(definition.service.service.as_str()),
        tags: Vec::new(),
        node_meta: Vec::new(),
        passing: false,
    };
    let read = backend
        .read(options(datacenter, execution.consistency), query)
        .await?;
    let QueryResult::Instances(instances) = read.value else {
        return Err(ExecuteError::Backend(BackendError::Internal(
            "unexpected answer to an instances read".into(),
        )));
    };
    Ok(select::filter(instances, &definition.service))
}

/// Rule 1: the node to sort from and the coordinates of the first datacenter.
async fn near_origin<B: Backend>(
    backend: &B,
    execution: &Execution,
    definition: &Definition,
    nodes: &[Instance],
) -> Result<Option<(String, HashMap<String, legate_catalog::Coord>)>, ExecuteError> {
    let near = execution
        .near
        .clone()
        .filter(|near| !near.is_empty())
        .or_else(|| Some(definition.service.near.clone()).filter(|near| !near.is_empty()));
    let Some(near) = near else {
        return Ok(None);
    };
    if nodes.is_empty() {
        return Ok(None);
    }
    let origin = match near.as_str() {
        "_agent" => execution.agent_node.clone(),
        "_ip" => {
            let Some(ip) = execution.source_ip else {
                return Ok(None);
            };
            let address = ip.to_string();
            match nodes
                .iter()
                .find(|instance| instance.node.address == address)
            {
                Some(instance) => instance.node.name.to_string(),
                None => return Ok(None),
            }
        }
        other => other.to_owned(),
    };
    let read = backend
        .read(
            options(execution.datacenter.clone(), execution.consistency),
            Query::Coordinates { node: None },
        )
        .await?;
    let QueryResult::Coordinates(found) = read.value else {
        return Ok(None);
    };
    let coords = found
        .into_iter()
        .map(|entry| (entry.node.as_str().to_lowercase(), entry.coord))
        .collect();
    Ok(Some((origin, coords)))
}

/// Rule 2's order of datacenters, `first` excluded.
async fn failover_order<B: Backend>(
    backend: &B,
    definition: &Definition,
    first: &str,
) -> Vec<String> {
    let failover = &definition.service.failover;
    let mut order: Vec<String> = Vec::new();
    if failover.nearest_n > 0 {
        // Nearest first, this datacenter first of all; a backend that cannot list them
        // leaves only the named ones.
        let known = backend.datacenters().await.unwrap_or_default();
        order.extend(
            known
                .iter()
                .map(|dc| dc.to_string())
                .filter(|dc| dc != first)
                .take(failover.nearest_n as usize),
        );
    }
    let named = failover.datacenters.iter().cloned().chain(
        failover
            .targets
            .iter()
            .map(|target| target.datacenter.clone()),
    );
    for dc in named {
        if dc != first && !dc.is_empty() && !order.contains(&dc) {
            order.push(dc);
        }
    }
    order
}
