//! `/v1/catalog/*`: register, deregister, datacenters, nodes, services, one service's
//! instances (all of them, or those that accept mesh connections), and one node's services,
//! as Consul's `agent/catalog_endpoint.go` serves them.
//!
//! Listings come in the store's order (node name, then service id), which is Consul's
//! memdb order: Traefik zips `/v1/catalog/service/:name` and `/v1/health/service/:name` by
//! position, so both must list instances identically.
//!
//! `?filter=` runs on each listed record after the query (see `filter::records` for which
//! record each endpoint filters), so `X-Consul-Index` is the unfiltered query's.

use crate::backend::Backend;
use crate::connect::Listing;
use crate::decode::json_body;
use crate::error::ApiError;
use crate::filter::{records, Matcher};
use crate::options::refuse_enterprise;
use crate::reply;
use crate::router::{unexpected, Api, Incoming};
use crate::types::{CatalogService, DeregisterBody, Node, NodeService, NodeServices, RegisterBody};
use axum::response::Response;
use legate_catalog::{self as catalog, Command, Query, QueryResult};
use std::collections::BTreeMap;

/// `PUT /v1/catalog/register` → `true`.
pub async fn register<B: Backend>(api: &Api<B>, request: Incoming) -> Result<Response, ApiError> {
    refuse_enterprise(&request.params, &request.headers)?;
    let pretty = crate::options::pretty(&request.params, &api.config);
    let bytes = api.json_body(request).await?;
    let body: RegisterBody = json_body(&bytes)?;
    let (datacenter, registration) = body.into_command()?;
    api.write(datacenter, Command::Register(Box::new(registration)))
        .await?;
    Ok(reply::json(&true, pretty))
}

/// `PUT /v1/catalog/deregister` → `true` (also when there was nothing to remove).
pub async fn deregister<B: Backend>(api: &Api<B>, request: Incoming) -> Result<Response, ApiError> {
    refuse_enterprise(&request.params, &request.headers)?;
    let pretty = crate::options::pretty(&request.params, &api.config);
    let bytes = api.json_body(request).await?;
    let body: DeregisterBody = json_body(&bytes)?;
    let (datacenter, deregistration) = body.into_command()?;
    api.write(datacenter, Command::Deregister(deregistration))
        .await?;
    Ok(reply::json(&true, pretty))
}

/// `GET /v1/catalog/datacenters`: known datacenters, nearest first.
pub async fn datacenters<B: Backend>(
    api: &Api<B>,
    request: Incoming,
) -> Result<Response, ApiError> {
    let options = api.options(&request)?;
    let names: Vec<String> = api
        .backend
        .datacenters()
        .await?
        .iter()
        .map(ToString::to_string)
        .collect();
    Ok(reply::json(&names, options.pretty))
}

/// `GET /v1/catalog/nodes`.
pub async fn nodes<B: Backend>(api: &Api<B>, request: Incoming) -> Result<Response, ApiError> {
    let options = api.options(&request)?;
    let filter = options.filter_for(&records::NODE)?;
    let query = Query::Nodes {
        node_meta: options.node_meta.clone(),
    };
    let read = api.read(&options, query).await?;
    let QueryResult::Nodes(nodes) = &read.value else {
        return Err(unexpected(&read.value));
    };
    let dc = api.answer_datacenter(&options);
    let translate = crate::translate::applies(api, &options);
    let mut nodes: Vec<Node> = nodes
        .iter()
        .map(|node| {
            let mut node = node.clone();
            if translate {
                crate::translate::node(&mut node);
            }
            Node::from_record(&node, &dc)
        })
        .collect();
    if let Some(filter) = &filter {
        filter.retain(&mut nodes);
    }
    crate::near::sort(api, &options, &mut nodes, |node| node.node.as_str()).await?;
    let response = reply::read_json(&nodes, &read.meta, options.pretty);
    Ok(crate::translate::mark(api, response))
}

/// `GET /v1/catalog/services`: name → the union of its instances' tags. With `?filter=`
/// the instances are filtered first, and only those that match contribute their name and
/// tags, as in Consul.
pub async fn services<B: Backend>(api: &Api<B>, request: Incoming) -> Result<Response, ApiError> {
    let options = api.options(&request)?;
    let node_meta = options.node_meta.clone();
    let Some(filter) = options.filter_for(&records::SERVICE_NODE)? else {
        let read = api.read(&options, Query::Services { node_meta }).await?;
        let QueryResult::Services(services) = &read.value else {
            return Err(unexpected(&read.value));
        };
        return Ok(reply::read_json(services, &read.meta, options.pretty));
    };
    let read = api
        .read(&options, Query::ServiceRecords { node_meta })
        .await?;
    let QueryResult::ServiceRecords(instances) = &read.value else {
        return Err(unexpected(&read.value));
    };
    let services = matching_services(instances, &filter);
    Ok(reply::read_json(&services, &read.meta, options.pretty))
}

/// Groups the instances that match `filter` by name, with the sorted union of their tags.
///
/// Consul filters the `ServiceNode` rows of its services table, whose node fields (`ID`,
/// `Address`, `Datacenter`, `TaggedAddresses`, `NodeMeta`) are empty until a listing fills
/// them in, which this one never does; so here too only `Node` is set, and a filter on
/// `NodeMeta` selects nothing (`?node-meta=` is the way to select by node metadata).
fn matching_services(
    instances: &[catalog::Service],
    filter: &Matcher,
) -> BTreeMap<String, Vec<String>> {
    let mut services: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for instance in instances {
        let node = Node {
            node: instance.node.to_string(),
            ..Node::default()
        };
        if !filter.matches_record(&CatalogService::from_records(&node, instance)) {
            continue;
        }
        let tags = services.entry(instance.name.to_string()).or_default();
        tags.extend(instance.tags.iter().cloned());
    }
    for tags in services.values_mut() {
        tags.sort();
        tags.dedup();
    }
    services
}

/// `GET /v1/catalog/service/:name?tag=..`: its instances, flattened with their nodes.
pub async fn service<B: Backend>(
    api: &Api<B>,
    name: String,
    request: Incoming,
) -> Result<Response, ApiError> {
    service_nodes(api, name, Listing::Service, request).await
}

/// `GET /v1/catalog/connect/:name`: the instances that accept mesh connections for the
/// service, which Legate cannot name (see `connect`), so `[]` with the service's index.
pub async fn connect<B: Backend>(
    api: &Api<B>,
    name: String,
    request: Incoming,
) -> Result<Response, ApiError> {
    service_nodes(api, name, Listing::Connect, request).await
}

/// Consul's `catalogServiceNodes`: one service's instances as `listing` selects them.
async fn service_nodes<B: Backend>(
    api: &Api<B>,
    name: String,
    listing: Listing,
    request: Incoming,
) -> Result<Response, ApiError> {
    let options = api.options(&request)?;
    if name.is_empty() {
        return Err(ApiError::BadRequest("Missing service name".into()));
    }
    let filter = options.filter_for(&records::SERVICE_NODE)?;
    let query = Query::ServiceInstances {
        name: name.into(),
        tags: options.tags.clone(),
        node_meta: options.node_meta.clone(),
        passing: false,
    };
    let read = api.read(&options, query).await?;
    let QueryResult::Instances(instances) = &read.value else {
        return Err(unexpected(&read.value));
    };
    let dc = api.answer_datacenter(&options);
    let translate = crate::translate::applies(api, &options);
    let mut listed: Vec<CatalogService> = instances
        .iter()
        .map(|instance| {
            let mut instance = instance.clone();
            if translate {
                crate::translate::instance(&mut instance);
            }
            let node = Node::from_record(&instance.node, &dc);
            CatalogService::from_records(&node, &instance.service)
        })
        .collect();
    listing.retain(&mut listed);
    if let Some(filter) = &filter {
        filter.retain(&mut listed);
    }
    crate::near::sort(api, &options, &mut listed, |entry| entry.node.as_str()).await?;
    let response = reply::read_json(&listed, &read.meta, options.pretty);
    Ok(crate::translate::mark(api, response))
}

/// `GET /v1/catalog/node/:node`: the node and its services, or `null` for an unknown node
/// (Consul marshals its nil result). `?filter=` selects among the services; the node is
/// always shown.
pub async fn node<B: Backend>(
    api: &Api<B>,
    node: String,
    request: Incoming,
) -> Result<Response, ApiError> {
    let options = api.options(&request)?;
    if node.is_empty() {
        return Err(ApiError::BadRequest("Missing node name".into()));
    }
    let filter = options.filter_for(&records::NODE_SERVICE)?;
    let read = api
        .read(&options, Query::NodeServices { node: node.into() })
        .await?;
    let QueryResult::NodeServices(found) = &read.value else {
        return Err(unexpected(&read.value));
    };
    let dc = api.answer_datacenter(&options);
    let translate = crate::translate::applies(api, &options);
    let answer = found.as_ref().map(|(node, services)| {
        let mut services = services
            .iter()
            .map(|service| (service.id.to_string(), NodeService::from(service)))
            .collect::<BTreeMap<_, _>>();
        if let Some(filter) = &filter {
            filter.retain_values(&mut services);
        }
        let mut node = node.clone();
        if translate {
            crate::translate::node(&mut node);
        }
        NodeServices {
            node: Node::from_record(&node, &dc),
            services,
        }
    });
    let response = reply::read_json(&answer, &read.meta, options.pretty);
    Ok(crate::translate::mark(api, response))
}
