//! Service shapes: `AgentService` (a local instance, as the `/v1/agent/*` endpoints answer)
//! and `CatalogService` (an instance flattened with its node, as
//! `/v1/catalog/service/:name` lists it), with the `Weights` and `ServiceAddress` they share
//! with `NodeService`.
//!
//! Each type follows the Go struct whose JSON Consul actually writes, not the client's
//! `api` package: the agent endpoints convert to `api.AgentService`
//! (`agent/agent_endpoint.go`, `buildAgentService`), the catalog listing marshals
//! `structs.ServiceNode` (`agent/structs/structs.go`). Their `omitempty` tags differ, so the
//! same record shows different keys on different endpoints.

use crate::decode::null_as_default;
use crate::types::node::Node;
use crate::types::node_service::{empty_connect, empty_proxy};
use legate_catalog as catalog;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// DNS SRV weights.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "PascalCase")]
pub struct Weights {
    pub passing: u32,
    pub warning: u32,
}

impl Default for Weights {
    fn default() -> Self {
        Weights {
            passing: 1,
            warning: 1,
        }
    }
}

impl From<catalog::Weights> for Weights {
    fn from(weights: catalog::Weights) -> Self {
        Weights {
            passing: weights.passing,
            warning: weights.warning,
        }
    }
}

/// An address and port under a service's `TaggedAddresses`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "PascalCase", default)]
pub struct ServiceAddress {
    pub address: String,
    pub port: u16,
}

pub(crate) fn tagged(
    addresses: &BTreeMap<String, catalog::ServiceAddress>,
) -> BTreeMap<String, ServiceAddress> {
    addresses
        .iter()
        .map(|(tag, address)| {
            let address = ServiceAddress {
                address: address.address.clone(),
                port: address.port,
            };
            (tag.clone(), address)
        })
        .collect()
}

/// Go's `omitempty` for an integer.
pub(crate) fn is_zero(value: &u64) -> bool {
    *value == 0
}

/// A local service instance: `/v1/agent/services`, `/v1/agent/service/:id` and the
/// `Service` of `/v1/agent/health/service/*`, in the shape of Consul's `api.AgentService`.
///
/// Everything tagged `omitempty` there is left out when empty: a plain service carries no
/// `Kind`, `SocketPath`, `TaggedAddresses`, `Proxy`, `Connect`, `PeerName` or indexes.
/// The agent's local state holds no Raft indexes (Consul's neither), so `CreateIndex` and
/// `ModifyIndex` never show here.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "PascalCase", default)]
pub struct AgentService {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub kind: String,
    #[serde(rename = "ID")]
    pub id: String,
    /// The service's name (the register body calls it `Name`).
    pub service: String,
    #[serde(deserialize_with = "null_as_default")]
    pub tags: Vec<String>,
    #[serde(deserialize_with = "null_as_default")]
    pub meta: BTreeMap<String, String>,
    pub port: u16,
    /// Empty when the service has none; clients then use the node's address.
    pub address: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub socket_path: String,
    #[serde(
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub tagged_addresses: BTreeMap<String, ServiceAddress>,
    pub weights: Weights,
    pub enable_tag_override: bool,
    #[serde(skip_serializing_if = "is_zero")]
    pub create_index: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub modify_index: u64,
    /// Only on `/v1/agent/service/:id`: the hash its hash-blocking compares.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub content_hash: String,
    /// Consul sets these only for proxies and gateways (`Proxy`) and connect-native
    /// services (`Connect`). Legate keeps neither a proxy's configuration nor the native
    /// flag, so it never sends them; they are kept to read Consul's answers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proxy: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connect: Option<Value>,
    /// Set only for services imported from a cluster peer, which Legate does not model.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub peer_name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub datacenter: String,
}

impl AgentService {
    pub fn from_record(service: &catalog::Service, datacenter: &str) -> AgentService {
        AgentService {
            kind: service.kind.clone(),
            id: service.id.to_string(),
            service: service.name.to_string(),
            tags: service.tags.clone(),
            meta: service.meta.clone(),
            port: service.port,
            address: service.address.clone(),
            socket_path: service.socket_path.clone(),
            tagged_addresses: tagged(&service.tagged_addresses),
            weights: service.weights.into(),
            enable_tag_override: service.enable_tag_override,
            create_index: service.indexes.create_index.0,
            modify_index: service.indexes.modify_index.0,
            content_hash: String::new(),
            proxy: None,
            connect: None,
            peer_name: String::new(),
            datacenter: datacenter.to_owned(),
        }
    }
}

/// An instance with its node's fields (`/v1/catalog/service/:name`): Consul's
/// `structs.ServiceNode`. Unlike `api.AgentService` it always carries the mesh blocks, and
/// a `ServiceLocality` without `omitempty` (`null`: Legate keeps no locality); it omits an
/// empty `ServiceTaggedAddresses` and `PeerName`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "PascalCase", default)]
pub struct CatalogService {
    /// The node's UUID.
    #[serde(rename = "ID")]
    pub id: String,
    pub node: String,
    pub address: String,
    pub datacenter: String,
    #[serde(deserialize_with = "null_as_default")]
    pub tagged_addresses: BTreeMap<String, String>,
    #[serde(deserialize_with = "null_as_default")]
    pub node_meta: BTreeMap<String, String>,
    pub service_kind: String,
    #[serde(rename = "ServiceID")]
    pub service_id: String,
    pub service_name: String,
    #[serde(deserialize_with = "null_as_default")]
    pub service_tags: Vec<String>,
    /// Empty when the service has none: clients fall back to `Address`, so it must not be
    /// filled in here.
    pub service_address: String,
    #[serde(
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub service_tagged_addresses: BTreeMap<String, ServiceAddress>,
    pub service_weights: Weights,
    #[serde(deserialize_with = "null_as_default")]
    pub service_meta: BTreeMap<String, String>,
    pub service_port: u16,
    pub service_socket_path: String,
    pub service_enable_tag_override: bool,
    pub service_proxy: Value,
    pub service_connect: Value,
    /// A `*Locality` without `omitempty`: always present, `null` here.
    pub service_locality: Option<Value>,
    /// Set only for instances imported from a cluster peer, which Legate does not model.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub peer_name: String,
    pub create_index: u64,
    pub modify_index: u64,
}

impl CatalogService {
    pub fn from_records(node: &Node, service: &catalog::Service) -> CatalogService {
        CatalogService {
            id: node.id.clone(),
            node: node.node.clone(),
            address: node.address.clone(),
            datacenter: node.datacenter.clone(),
            tagged_addresses: node.tagged_addresses.clone(),
            node_meta: node.meta.clone(),
            service_kind: service.kind.clone(),
            service_id: service.id.to_string(),
            service_name: service.name.to_string(),
            service_tags: service.tags.clone(),
            service_address: service.address.clone(),
            service_tagged_addresses: tagged(&service.tagged_addresses),
            service_weights: service.weights.into(),
            service_meta: service.meta.clone(),
            service_port: service.port,
            service_socket_path: service.socket_path.clone(),
            service_enable_tag_override: service.enable_tag_override,
            service_proxy: empty_proxy(),
            service_connect: empty_connect(),
            service_locality: None,
            peer_name: String::new(),
            create_index: service.indexes.create_index.0,
            modify_index: service.indexes.modify_index.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The object's keys, sorted.
    fn keys(value: &Value) -> Vec<&str> {
        let mut keys: Vec<&str> = value
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        keys
    }

    fn record() -> catalog::Service {
        catalog::Service {
            node: "n1".into(),
            id: "web-1".into(),
            name: "web".into(),
            port: 8080,
            ..catalog::Service::default()
        }
    }

    #[test]
    fn agent_service_shape() {
        let value = serde_json::to_value(AgentService::from_record(&record(), "dc1")).unwrap();
        assert_eq!(value["ID"], "web-1");
        assert_eq!(value["Service"], "web");
        assert_eq!(value["Tags"], json!([]));
        assert_eq!(value["Meta"], json!({}));
        assert_eq!(value["Weights"], json!({"Passing": 1, "Warning": 1}));
        assert_eq!(value["Port"], 8080);
        assert_eq!(value["Address"], "");
        // `api.AgentService` omits everything a plain service leaves empty.
        assert_eq!(
            keys(&value),
            [
                "Address",
                "Datacenter",
                "EnableTagOverride",
                "ID",
                "Meta",
                "Port",
                "Service",
                "Tags",
                "Weights"
            ]
        );
    }

    #[test]
    fn agent_service_shows_what_is_set() {
        let mut service = record();
        service.kind = "connect-proxy".into();
        service.socket_path = "/run/web".into();
        service.tagged_addresses.insert(
            "lan".into(),
            catalog::ServiceAddress {
                address: "10.0.0.9".into(),
                port: 81,
            },
        );
        service.indexes.create_index = catalog::Index(5);
        service.indexes.modify_index = catalog::Index(6);
        let value = serde_json::to_value(AgentService::from_record(&service, "dc1")).unwrap();
        assert_eq!(value["Kind"], "connect-proxy");
        assert_eq!(value["SocketPath"], "/run/web");
        assert_eq!(
            value["TaggedAddresses"],
            json!({"lan": {"Address": "10.0.0.9", "Port": 81}})
        );
        assert_eq!(
            (value["CreateIndex"].clone(), value["ModifyIndex"].clone()),
            (json!(5), json!(6))
        );
        let back: AgentService = serde_json::from_value(value).unwrap();
        assert_eq!(back.tagged_addresses.len(), 1);
    }

    #[test]
    fn catalog_service_keeps_an_empty_service_address() {
        let node = Node {
            node: "n1".into(),
            address: "10.0.0.1".into(),
            datacenter: "dc1".into(),
            ..Node::default()
        };
        let value = serde_json::to_value(CatalogService::from_records(&node, &record())).unwrap();
        assert_eq!(value["Address"], "10.0.0.1");
        assert_eq!(value["ServiceAddress"], "");
        assert_eq!(value["ServiceID"], "web-1");
        assert_eq!(value["ServiceTags"], json!([]));
        assert_eq!(value["NodeMeta"], json!({}));
        assert_eq!(value["ServicePort"], 8080);
        assert_eq!(value["ServiceLocality"], Value::Null);
        assert_eq!(
            keys(&value),
            [
                "Address",
                "CreateIndex",
                "Datacenter",
                "ID",
                "ModifyIndex",
                "Node",
                "NodeMeta",
                "ServiceAddress",
                "ServiceConnect",
                "ServiceEnableTagOverride",
                "ServiceID",
                "ServiceKind",
                "ServiceLocality",
                "ServiceMeta",
                "ServiceName",
                "ServicePort",
                "ServiceProxy",
                "ServiceSocketPath",
                "ServiceTags",
                "ServiceWeights",
                "TaggedAddresses"
            ]
        );
        let back: CatalogService = serde_json::from_value(value).unwrap();
        assert_eq!(back.service_name, "web");
    }
}
