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
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
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
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
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

/// The gRPC ports under `AgentSelf.xDS`; `-1` is a disabled port.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "PascalCase", default)]
pub struct GrpcPorts {
    pub plaintext: i32,
    #[serde(rename = "TLS")]
    pub tls: i32,
}

/// `AgentSelf.xDS`: the xDS server Envoy proxies bootstrap from (Consul's `XDSSelf`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "PascalCase", default)]
pub struct XdsSelf {
    /// Proxy → the versions this agent can configure (`{"envoy": ["1.31.2", ...]}`).
    #[serde(deserialize_with = "null_as_default")]
    pub supported_proxies: BTreeMap<String, Vec<String>>,
    /// Deprecated by Consul for `Ports`: the TLS port, or the plain one without TLS.
    pub port: i32,
    pub ports: GrpcPorts,
}

/// `/v1/agent/self`, with Consul's sections (`agent/agent_endpoint.go`, `Self`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "PascalCase", default)]
pub struct AgentSelf {
    pub config: SelfConfig,
    /// A sanitized view of the runtime configuration; its shape is not a contract.
    pub debug_config: Value,
    /// The agent's LAN network coordinate; `null` (the field has no `omitempty`) until
    /// gossip has measured one.
    pub coord: Option<crate::types::CoordJson>,
    pub member: Member,
    /// Section → key → value, all strings, as `consul info` prints them.
    #[serde(deserialize_with = "null_as_default")]
    pub stats: BTreeMap<String, BTreeMap<String, String>>,
    /// The node's metadata.
    #[serde(deserialize_with = "null_as_default")]
    pub meta: BTreeMap<String, String>,
    /// `omitempty` in Consul, which sets it only when its gRPC xDS server runs (a `grpc` or
    /// `grpc_tls` port is configured). Legate serves no xDS, so it is absent, as from a
    /// Consul agent with both gRPC ports disabled; tools then fall back as for an agent
    /// without mesh (Nomad, for one, reads a missing section as "no supported proxies").
    #[serde(rename = "xDS", skip_serializing_if = "Option::is_none")]
    pub xds: Option<XdsSelf>,
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
            // Legate serves neither HTTPS nor gRPC (so no xDS); these are the settings a
            // Consul agent reports for the same, and they explain the absent xDS section.
            "HTTPSPort": -1,
            "GRPCPort": -1,
            "GRPCTLSPort": -1,
            "DisableCoordinates": false,
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
            xds: None,
        }
    }

    /// With this agent's coordinate, once it has one.
    pub fn with_coord(self, coord: Option<&legate_catalog::Coord>) -> AgentSelf {
        AgentSelf {
            coord: coord.map(crate::types::CoordJson::from),
            ..self
        }
    }
}

/// `/v1/catalog/node/:node`: the node and its services by id (`structs.NodeServices`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
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
        let mut sections: Vec<&str> = value
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        sections.sort_unstable();
        assert_eq!(
            sections,
            ["Config", "Coord", "DebugConfig", "Member", "Meta", "Stats"]
        );
        assert_eq!(value["DebugConfig"]["DisableCoordinates"], false);
        assert_eq!(value["DebugConfig"]["GRPCPort"], -1);
    }

    #[test]
    fn reads_consuls_xds_section() {
        let answer = json!({"Config": {"Datacenter": "dc1"}, "Coord": null,
            "xDS": {"SupportedProxies": {"envoy": ["1.31.2"]}, "Port": 8503,
                    "Ports": {"Plaintext": -1, "TLS": 8503}}});
        let me: AgentSelf = serde_json::from_value(answer).unwrap();
        let xds = me.xds.expect("xDS");
        assert_eq!(xds.supported_proxies["envoy"], ["1.31.2"]);
        assert_eq!(
            xds.ports,
            GrpcPorts {
                plaintext: -1,
                tls: 8503
            }
        );
        assert!(me.coord.is_none());
    }
}
