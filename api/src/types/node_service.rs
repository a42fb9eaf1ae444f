//! `NodeService`: a service instance as the catalog's server side marshals it, for the
//! `Service` of `/v1/health/service/:name` entries and the `Services` of
//! `/v1/catalog/node/:node`.
//!
//! This is Consul's `structs.NodeService` (`agent/structs/structs.go`), not the client's
//! `api.AgentService` that `AgentService` follows: it has no `Datacenter`, omits an empty
//! `TaggedAddresses` and a zero `Port`, and always carries the mesh blocks `Proxy` and
//! `Connect` (Go structs, which `omitempty` never drops), `PeerName` and the Raft indexes.

use crate::decode::null_as_default;
use crate::types::service::{tagged, ServiceAddress, Weights};
use legate_catalog as catalog;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// Go's `omitempty` for a port.
fn is_zero(port: &u16) -> bool {
    *port == 0
}

/// An empty `structs.ConnectProxyConfig` as Consul marshals it: every field is `omitempty`
/// except `Mode`, and the struct-valued `MeshGateway` and `Expose` print as `{}`. Mesh is
/// out of scope, so this is what every instance carries.
pub(crate) fn empty_proxy() -> Value {
    json!({"Mode": "", "MeshGateway": {}, "Expose": {}})
}

/// An empty `structs.ServiceConnect`: all of its fields are `omitempty`.
pub(crate) fn empty_connect() -> Value {
    json!({})
}

/// One service instance (`ServiceEntry.Service`, `/v1/catalog/node/:node` `Services`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "PascalCase", default)]
pub struct NodeService {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub kind: String,
    #[serde(rename = "ID")]
    pub id: String,
    /// The service's name.
    pub service: String,
    #[serde(deserialize_with = "null_as_default")]
    pub tags: Vec<String>,
    /// Empty when the service has none; clients then use the node's address.
    pub address: String,
    #[serde(
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub tagged_addresses: BTreeMap<String, ServiceAddress>,
    #[serde(deserialize_with = "null_as_default")]
    pub meta: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "is_zero")]
    pub port: u16,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub socket_path: String,
    pub weights: Weights,
    pub enable_tag_override: bool,
    pub proxy: Value,
    pub connect: Value,
    /// The cluster peer the instance was imported from; always empty, as Legate does not
    /// model peering, but Consul prints it regardless.
    pub peer_name: String,
    pub create_index: u64,
    pub modify_index: u64,
}

impl From<&catalog::Service> for NodeService {
    fn from(service: &catalog::Service) -> Self {
        NodeService {
            kind: service.kind.clone(),
            id: service.id.to_string(),
            service: service.name.to_string(),
            tags: service.tags.clone(),
            address: service.address.clone(),
            tagged_addresses: tagged(&service.tagged_addresses),
            meta: service.meta.clone(),
            port: service.port,
            socket_path: service.socket_path.clone(),
            weights: service.weights.into(),
            enable_tag_override: service.enable_tag_override,
            proxy: empty_proxy(),
            connect: empty_connect(),
            peer_name: String::new(),
            create_index: service.indexes.create_index.0,
            modify_index: service.indexes.modify_index.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn a_plain_instance_has_exactly_consuls_keys() {
        let record = catalog::Service {
            node: "n1".into(),
            id: "web-1".into(),
            name: "web".into(),
            port: 8080,
            ..catalog::Service::default()
        };
        let value = serde_json::to_value(NodeService::from(&record)).unwrap();
        let mut expected = vec![
            "ID",
            "Service",
            "Tags",
            "Address",
            "Meta",
            "Port",
            "Weights",
            "EnableTagOverride",
            "Proxy",
            "Connect",
            "PeerName",
            "CreateIndex",
            "ModifyIndex",
        ];
        expected.sort_unstable();
        assert_eq!(keys(&value), expected);
        assert_eq!(value["Proxy"], empty_proxy());
        assert_eq!(value["Connect"], json!({}));
    }

    #[test]
    fn a_zero_port_is_omitted_and_tagged_addresses_show_when_set() {
        let record = catalog::Service {
            id: "sock".into(),
            name: "sock".into(),
            socket_path: "/run/sock".into(),
            tagged_addresses: BTreeMap::from([(
                "wan".to_owned(),
                catalog::ServiceAddress {
                    address: "1.2.3.4".into(),
                    port: 80,
                },
            )]),
            ..catalog::Service::default()
        };
        let value = serde_json::to_value(NodeService::from(&record)).unwrap();
        assert!(value.get("Port").is_none());
        assert_eq!(value["SocketPath"], "/run/sock");
        assert_eq!(
            value["TaggedAddresses"],
            json!({"wan": {"Address": "1.2.3.4", "Port": 80}})
        );
        let back: NodeService = serde_json::from_value(value).unwrap();
        assert_eq!(back.port, 0);
    }
}
