//! Agent shapes: `Member` (`/v1/agent/members`), `AgentSelf` (`/v1/agent/self`), and
//! `NodeServices` (`/v1/catalog/node/:node`).

use crate::backend::{self, AgentInfo};
use crate::decode::null_as_default;
use crate::types::node::Node;
use crate::types::node_service::NodeService;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// A gossip pool member. The protocol numbers are those of the Serf/memberlist versions
/// Consul ships, which `consul members -detailed` prints; Legate's gossip is its own, so
/// they are fixed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Member {
    pub name: String,
    pub addr: String,
    pub port: u16,
    #[serde(deserialize_with = "null_as_default")]
    pub tags: BTreeMap<String, String>,
    /// Serf's numbers: 0 none, 1 alive, 2 leaving, 3 left, 4 failed.
    pub status: u8,
    pub protocol_min: u8,
    pub protocol_max: u8,
    pub protocol_cur: u8,
    pub delegate_min: u8,
    pub delegate_max: u8,
    pub delegate_cur: u8,
}

impl From<&backend::Member> for Member {
    fn from(member: &backend::Member) -> Self {
        Member {
            name: member.name.clone(),
            addr: member.addr.clone(),
            port: member.port,
            tags: member.tags.clone(),
            status: member.status,
            protocol_min: 1,
            protocol_max: 5,
            protocol_cur: 2,
            delegate_min: 2,
            delegate_max: 5,
            delegate_cur: 4,
        }
    }
}

/// `AgentSelf.Config`: what Prometheus (`Datacenter`), the Go client's `NodeName()` and
/// Vault read.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct SelfConfig {
    pub datacenter: String,
    pub primary_datacenter: String,
    pub node_name: String,
    #[serde(rename = "NodeID")]
    pub node_id: String,
    pub revision: String,
    pub server: bool,
    pub version: String,
    pub build_date: String,
}

/// `/v1/agent/self`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct AgentSelf {
    pub config: SelfConfig,
    /// A sanitized view of the runtime configuration; its shape is not a contract.
    pub debug_config: Value,
    /// The agent's network coordinate; `null` until coordinates exist.
    pub coord: Option<Value>,
    pub member: Member,
    /// Section → key → value, all strings, as `consul info` prints them.
    #[serde(deserialize_with = "null_as_default")]
    pub stats: BTreeMap<String, BTreeMap<String, String>>,
    /// The node's metadata.
    #[serde(deserialize_with = "null_as_default")]
    pub meta: BTreeMap<String, String>,
}

impl AgentSelf {
    pub fn new(
        info: &AgentInfo,
        member: Member,
        stats: BTreeMap<String, BTreeMap<String, String>>,
    ) -> AgentSelf {
        let config = SelfConfig {
            datacenter: info.datacenter.to_string(),
            primary_datacenter: info.primary_datacenter.to_string(),
            node_name: info.node_name.clone(),
            node_id: info.node_id.clone(),
            revision: info.revision.clone(),
            server: info.server,
            version: info.version.clone(),
            build_date: info.build_date.clone(),
        };
        let debug_config = json!({
            "Datacenter": info.datacenter.as_str(),
            "PrimaryDatacenter": info.primary_datacenter.as_str(),
            "NodeName": info.node_name,
            "NodeID": info.node_id,
            "ServerMode": info.server,
            "DevMode": info.dev_mode,
            "AdvertiseAddrLAN": info.advertise_addr,
            "BindAddr": info.bind_addr,
            "ClientAddrs": [info.client_addr],
            "HTTPPort": info.http_port,
            "DNSPort": info.dns_port,
            "ServerPort": info.server_port,
            "SerfPortLAN": info.serf_lan_port,
            "Version": info.version,
            "Revision": info.revision,
        });
        let meta = BTreeMap::from([
            ("consul-network-segment".to_owned(), String::new()),
            ("consul-version".to_owned(), info.version.clone()),
        ]);
        AgentSelf {
            config,
            debug_config,
            coord: None,
            member,
            stats,
            meta,
        }
    }
}

/// `/v1/catalog/node/:node`: the node and its services by id (`structs.NodeServices`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NodeServices {
    pub node: Node,
    #[serde(deserialize_with = "null_as_default")]
    pub services: BTreeMap<String, NodeService>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn self_shape() {
        let info = AgentInfo {
            datacenter: "dc1".into(),
            node_name: "n1".into(),
            server: true,
            ..AgentInfo::default()
        };
        let value = serde_json::to_value(AgentSelf::new(&info, Member::default(), BTreeMap::new()))
            .unwrap();
        assert_eq!(value["Config"]["Datacenter"], "dc1");
        assert_eq!(value["Config"]["NodeName"], "n1");
        assert_eq!(value["Config"]["Server"], true);
        assert!(value["Coord"].is_null());
        assert_eq!(value["Stats"], json!({}));
        assert!(value["Member"].get("DelegateCur").is_some());
    }
}
