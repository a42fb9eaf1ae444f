//! `Node`: a catalog node as Consul's API shows it.

use crate::decode::null_as_default;
use legate_catalog as catalog;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A node (`/v1/catalog/nodes`, `ServiceEntry.Node`, `/v1/catalog/node/:node`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "PascalCase", default)]
pub struct Node {
    /// The node's UUID, or empty when its registrant gave none.
    #[serde(rename = "ID")]
    pub id: String,
    pub node: String,
    pub address: String,
    /// The datacenter the node lives in. The catalog is per datacenter, so the record does
    /// not store it; the answering agent fills it in.
    pub datacenter: String,
    #[serde(deserialize_with = "null_as_default")]
    pub tagged_addresses: BTreeMap<String, String>,
    #[serde(deserialize_with = "null_as_default")]
    pub meta: BTreeMap<String, String>,
    pub create_index: u64,
    pub modify_index: u64,
}

impl Node {
    pub fn from_record(node: &catalog::Node, datacenter: &str) -> Node {
        Node {
            id: node.id.clone(),
            node: node.name.to_string(),
            address: node.address.clone(),
            datacenter: datacenter.to_owned(),
            tagged_addresses: node.tagged_addresses.clone(),
            meta: node.meta.clone(),
            create_index: node.indexes.create_index.0,
            modify_index: node.indexes.modify_index.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn empty_maps_are_objects_and_names_are_pascal_case() {
        let record = catalog::Node {
            name: "n1".into(),
            address: "10.0.0.1".into(),
            ..catalog::Node::default()
        };
        let value = serde_json::to_value(Node::from_record(&record, "dc1")).unwrap();
        assert_eq!(
            value,
            json!({"ID":"","Node":"n1","Address":"10.0.0.1","Datacenter":"dc1",
                   "TaggedAddresses":{},"Meta":{},"CreateIndex":0,"ModifyIndex":0})
        );
    }

    #[test]
    fn reads_null_collections_from_older_servers() {
        let node: Node = serde_json::from_value(json!({"Node":"a","Meta":null})).unwrap();
        assert!(node.meta.is_empty());
    }
}
