//! Service shapes: `AgentService` (one instance, named `Service`), and `CatalogService`
//! (an instance flattened with its node, as `/v1/catalog/service/:name` lists it).

use crate::decode::null_as_default;
use crate::types::node::Node;
use legate_catalog as catalog;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// DNS SRV weights.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
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
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ServiceAddress {
    pub address: String,
    pub port: u16,
}

fn tagged(
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

/// The mesh proxy block Consul prints for every service; mesh is out of scope, so it is
/// always the empty configuration.
fn empty_proxy() -> Value {
    json!({"Mode": "", "MeshGateway": {}, "Expose": {}})
}

/// One service instance (`ServiceEntry.Service`, `/v1/catalog/node/:node` `Services`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
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
    #[serde(deserialize_with = "null_as_default")]
    pub tagged_addresses: BTreeMap<String, ServiceAddress>,
    pub weights: Weights,
    pub enable_tag_override: bool,
    pub proxy: Value,
    pub connect: Value,
    pub peer_name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub datacenter: String,
    pub create_index: u64,
    pub modify_index: u64,
    /// Only on `/v1/agent/service/:id`: the hash its hash-blocking compares.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub content_hash: String,
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
            proxy: empty_proxy(),
            connect: json!({}),
            peer_name: String::new(),
            datacenter: datacenter.to_owned(),
            create_index: service.indexes.create_index.0,
            modify_index: service.indexes.modify_index.0,
            content_hash: String::new(),
        }
    }
}

/// An instance with its node's fields (`/v1/catalog/service/:name`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
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
    #[serde(deserialize_with = "null_as_default")]
    pub service_tagged_addresses: BTreeMap<String, ServiceAddress>,
    pub service_weights: Weights,
    #[serde(deserialize_with = "null_as_default")]
    pub service_meta: BTreeMap<String, String>,
    pub service_port: u16,
    pub service_socket_path: String,
    pub service_enable_tag_override: bool,
    pub service_proxy: Value,
    pub service_connect: Value,
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
            service_connect: json!({}),
            create_index: service.indexes.create_index.0,
            modify_index: service.indexes.modify_index.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(value["TaggedAddresses"], json!({}));
        assert_eq!(value["Weights"], json!({"Passing": 1, "Warning": 1}));
        assert_eq!(value["Port"], 8080);
        assert_eq!(value["Address"], "");
        assert!(value.get("Kind").is_none());
        assert!(value.get("SocketPath").is_none());
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
        let back: CatalogService = serde_json::from_value(value).unwrap();
        assert_eq!(back.service_name, "web");
    }
}
