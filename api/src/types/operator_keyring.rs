//! `/v1/operator/keyring` shapes: the `{"Key"}` request body and each ring's answer.

use crate::backend;
use crate::decode::null_as_default;
use crate::folded_struct;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

folded_struct! {
    /// The body of `POST`, `PUT` and `DELETE /v1/operator/keyring`.
    pub struct KeyringBody {
        key: String => "Key",
    }
}

/// One ring's answer to `GET /v1/operator/keyring`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "PascalCase", default)]
pub struct KeyringResponse {
    #[serde(rename = "WAN")]
    pub wan: bool,
    pub datacenter: String,
    pub segment: String,
    /// Node → why it refused; omitted when empty, as Consul does.
    #[serde(
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub messages: BTreeMap<String, String>,
    #[serde(deserialize_with = "null_as_default")]
    pub keys: BTreeMap<String, usize>,
    #[serde(deserialize_with = "null_as_default")]
    pub primary_keys: BTreeMap<String, usize>,
    pub num_nodes: usize,
}

impl From<&backend::KeyringResponse> for KeyringResponse {
    fn from(ring: &backend::KeyringResponse) -> Self {
        KeyringResponse {
            wan: ring.wan,
            datacenter: ring.datacenter.clone(),
            segment: ring.segment.clone(),
            messages: ring.messages.clone(),
            keys: ring.keys.clone(),
            primary_keys: ring.primary_keys.clone(),
            num_nodes: ring.num_nodes,
        }
    }
}
