//! `/v1/health/*`: one service's instances with their checks (all of them, or those that
//! accept mesh connections), a service's checks, a node's checks, and the checks in a
//! state, as Consul's `agent/health_endpoint.go` serves them.
//!
//! `?passing` drops every instance with any non-passing check, node checks included; the
//! catalog filters after running the query, so `X-Consul-Index` still reflects the
//! unfiltered set, as in Consul. So does `?filter=`, which runs on each `ServiceEntry` or
//! `HealthCheck` listed.

use crate::backend::Backend;
use crate::connect::Listing;
use crate::error::ApiError;
use crate::filter::{records, Matcher};
use crate::options::parse_passing;
use crate::reply;
use crate::router::{unexpected, Api, Incoming};
use crate::types::{HealthCheck, ServiceEntry};
use axum::response::Response;
use legate_catalog::{Health, Query, QueryResult};

/// What `/v1/health/state/:state` selects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StateFilter {
    /// `passing`, `warning` or `critical`.
    Only(Health),
    /// `any`.
    Any,
    /// Any other word. Consul does not validate the state: its store simply finds no
    /// check with that status, so it answers `[]` (with the checks index), and so do we.
    Nothing,
}

impl StateFilter {
    pub fn parse(state: &str) -> StateFilter {
        match state {
            "any" => StateFilter::Any,
            other => Health::parse(other).map_or(StateFilter::Nothing, StateFilter::Only),
        }
    }
}

/// The checks of a `Checks` answer, those `filter` keeps.
fn checks_of(result: &QueryResult, filter: Option<&Matcher>) -> Result<Vec<HealthCheck>, ApiError> {
    let QueryResult::Checks(checks) = result else {
        return Err(unexpected(result));
    };
    let mut checks: Vec<HealthCheck> = checks.iter().map(HealthCheck::from).collect();
    if let Some(filter) = filter {
        filter.retain(&mut checks);
    }
    Ok(checks)
}

fn missing(what: &str) -> ApiError {
    ApiError::BadRequest(format!("Missing {what}"))
}

/// `GET /v1/health/service/:name?passing&tag=..`.
pub async fn service<B: Backend>(
    api: &Api<B>,
    name: String,
    request: Incoming,
) -> Result<Response, ApiError> {
    service_nodes(api, name, Listing::Service, request).await
}

/// `GET /v1/health/connect/:name?passing&tag=..`: the instances that accept mesh
/// connections for the service, which Legate cannot name (see `connect`), so `[]` with the
/// service's index.
pub async fn connect<B: Backend>(
    api: &Api<B>,
    name: String,
    request: Incoming,
) -> Result<Response, ApiError> {
    service_nodes(api, name, Listing::Connect, request).await
}

/// Consul's `healthServiceNodes`: one service's entries as `listing` selects them.
async fn service_nodes<B: Backend>(
    api: &Api<B>,
    name: String,
    listing: Listing,
    request: Incoming,
) -> Result<Response, ApiError> {
    let options = api.options(&request)?;
    if name.is_empty() {
        return Err(missing("service name"));
    }
    let passing = parse_passing(&request.params)?;
    let filter = options.filter_for(&records::SERVICE_ENTRY)?;
    let query = Query::ServiceInstances {
        name: name.into(),
        tags: options.tags.clone(),
        node_meta: options.node_meta.clone(),
        passing,
    };
    let read = api.read(&options, query).await?;
    let QueryResult::Instances(instances) = &read.value else {
        return Err(unexpected(&read.value));
    };
    let dc = api.answer_datacenter(&options);
    let translate = crate::translate::applies(api, &options);
    let mut entries: Vec<ServiceEntry> = instances
        .iter()
        .map(|instance| {
            if translate {
                let mut instance = instance.clone();
                crate::translate::instance(&mut instance);
                return ServiceEntry::from_instance(&instance, &dc);
            }
            ServiceEntry::from_instance(instance, &dc)
        })
        .collect();
    listing.retain(&mut entries);
    if let Some(filter) = &filter {
        filter.retain(&mut entries);
    }
    crate::near::sort(api, &options, &mut entries, |entry| {
        entry.node.node.as_str()
    })
    .await?;
    let response = reply::read_json(&entries, &read.meta, options.pretty);
    Ok(crate::translate::mark(api, response))
}

/// `GET /v1/health/checks/:service`: the service's own checks (no node checks).
pub async fn checks<B: Backend>(
    api: &Api<B>,
    name: String,
    request: Incoming,
) -> Result<Response, ApiError> {
    let options = api.options(&request)?;
    if name.is_empty() {
        return Err(missing("service name"));
    }
    let filter = options.filter_for(&records::HEALTH_CHECK)?;
    let query = Query::ServiceChecks {
        name: name.into(),
        node_meta: options.node_meta.clone(),
    };
    let read = api.read(&options, query).await?;
    let checks = checks_of(&read.value, filter.as_ref())?;
    Ok(reply::read_json(&checks, &read.meta, options.pretty))
}

/// `GET /v1/health/node/:node`: every check on the node (`[]` for an unknown node).
pub async fn node<B: Backend>(
    api: &Api<B>,
    node: String,
    request: Incoming,
) -> Result<Response, ApiError> {
    let options = api.options(&request)?;
    if node.is_empty() {
        return Err(missing("node name"));
    }
    let filter = options.filter_for(&records::HEALTH_CHECK)?;
    let read = api
        .read(&options, Query::NodeChecks { node: node.into() })
        .await?;
    let checks = checks_of(&read.value, filter.as_ref())?;
    Ok(reply::read_json(&checks, &read.meta, options.pretty))
}

/// `GET /v1/health/state/:state`.
pub async fn state<B: Backend>(
    api: &Api<B>,
    state: String,
    request: Incoming,
) -> Result<Response, ApiError> {
    let options = api.options(&request)?;
    if state.is_empty() {
        return Err(missing("check state"));
    }
    let matcher = options.filter_for(&records::HEALTH_CHECK)?;
    let filter = StateFilter::parse(&state);
    let query = Query::ChecksInState {
        state: match filter {
            StateFilter::Only(health) => Some(health),
            // An unknown state still runs a query, for the index and the blocking.
            StateFilter::Any | StateFilter::Nothing => None,
        },
        node_meta: options.node_meta.clone(),
    };
    let read = api.read(&options, query).await?;
    let mut checks = checks_of(&read.value, matcher.as_ref())?;
    if filter == StateFilter::Nothing {
        checks.clear();
    }
    Ok(reply::read_json(&checks, &read.meta, options.pretty))
}
