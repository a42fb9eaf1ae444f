//! `/v1/operator/raft/*` shapes: `RaftConfiguration` with its `RaftServer`s, and the
//! transfer-leader answer.

use crate::backend;
use crate::decode::null_as_default;
use serde::{Deserialize, Serialize};

/// One server of the Raft configuration, in Consul's field order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "PascalCase", default)]
pub struct RaftServer {
    #[serde(rename = "ID")]
    pub id: String,
    pub node: String,
    pub address: String,
    pub leader: bool,
    pub protocol_version: String,
    pub voter: bool,
    pub last_index: u64,
}

/// `GET /v1/operator/raft/configuration`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "PascalCase", default)]
pub struct RaftConfiguration {
    #[serde(deserialize_with = "null_as_default")]
    pub servers: Vec<RaftServer>,
    pub index: u64,
}

/// `POST /v1/operator/raft/transfer-leader`.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "PascalCase", default)]
pub struct TransferLeaderResponse {
    pub success: bool,
}

impl From<&backend::RaftServer> for RaftServer {
    fn from(server: &backend::RaftServer) -> Self {
        RaftServer {
            id: server.id.clone(),
            node: server.node.clone(),
            address: server.address.clone(),
            leader: server.leader,
            protocol_version: server.protocol_version.clone(),
            voter: server.voter,
            last_index: server.last_index,
        }
    }
}

impl From<&backend::RaftConfiguration> for RaftConfiguration {
    fn from(configuration: &backend::RaftConfiguration) -> Self {
        RaftConfiguration {
            servers: configuration.servers.iter().map(RaftServer::from).collect(),
            index: configuration.index,
        }
    }
}
