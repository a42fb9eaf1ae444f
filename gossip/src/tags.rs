//! Typed member tags and their mapping to Consul's string tag map.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

/// Whether the member is a Consul server or a client agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Role {
    /// A server (`role=consul`).
    Server,
    /// A client agent (`role=node`).
    #[default]
    Client,
}

/// Protocol versions a member speaks (Consul's `vsn*` and `raft_vsn` tags).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProtocolVersions {
    /// Current protocol version (`vsn`).
    pub vsn: u8,
    /// Lowest supported protocol version (`vsn_min`).
    pub vsn_min: u8,
    /// Highest supported protocol version (`vsn_max`).
    pub vsn_max: u8,
    /// Raft protocol version (`raft_vsn`); servers only in Consul.
    pub raft_vsn: u8,
}

impl Default for ProtocolVersions {
    /// Consul 1.x's values: protocol 2 (range 2..=3), raft protocol 3.
    fn default() -> Self {
        Self {
            vsn: 2,
            vsn_min: 2,
            vsn_max: 3,
            raft_vsn: 3,
        }
    }
}

/// A member's tags, typed. Travels as a custom broadcast (and in push-pull
/// state) encoded with [`Tags::encode`]; see `wire.rs` for the envelope.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Tags {
    /// Server or client.
    pub role: Role,
    /// Datacenter name (`dc`).
    pub datacenter: String,
    /// Network segment (`segment`); empty for the default segment.
    pub segment: String,
    /// Node ID, a UUID string (`id`).
    pub node_id: String,
    /// Server RPC address (port 8300 by default); only servers set it (`port`).
    pub rpc_addr: Option<SocketAddr>,
    /// Build string (`build`), e.g. `1.20.0:abcdef`.
    pub build: String,
    /// Protocol versions.
    pub protocol: ProtocolVersions,
    /// Server started in bootstrap mode (`bootstrap=1`).
    pub bootstrap: bool,
    /// `bootstrap_expect` of a server (`expect=N`).
    pub expect: Option<u32>,
    /// Non-voting read replica (`read_replica=1`, plus `nonvoter=1` as Consul does).
    pub read_replica: bool,
    /// A server's WAN gossip port, in its LAN tags only (`wan_join_port`): the other
    /// servers of its datacenter join it into the WAN pool through it. Since version 2.
    pub wan_join_port: Option<u16>,
}

/// The version 1 layout: version 2 appended `wan_join_port`.
#[derive(Deserialize)]
struct TagsV1 {
    role: Role,
    datacenter: String,
    segment: String,
    node_id: String,
    rpc_addr: Option<SocketAddr>,
    build: String,
    protocol: ProtocolVersions,
    bootstrap: bool,
    expect: Option<u32>,
    read_replica: bool,
}

impl From<TagsV1> for Tags {
    fn from(v1: TagsV1) -> Tags {
        Tags {
            role: v1.role,
            datacenter: v1.datacenter,
            segment: v1.segment,
            node_id: v1.node_id,
            rpc_addr: v1.rpc_addr,
            build: v1.build,
            protocol: v1.protocol,
            bootstrap: v1.bootstrap,
            expect: v1.expect,
            read_replica: v1.read_replica,
            wan_join_port: None,
        }
    }
}

/// Version byte of the tags encoding; see [`Tags::encode`].
pub const TAGS_VERSION: u8 = 2;

/// Largest encoded tags accepted; tags ride inside a UDP packet.
pub const MAX_TAGS_LEN: usize = 512;

impl Tags {
    /// Consul's string tag map, as `/v1/agent/members` shows it.
    pub fn to_map(&self) -> BTreeMap<String, String> {
        let mut m = BTreeMap::new();
        let role = match self.role {
            Role::Server => "consul",
            Role::Client => "node",
        };
        m.insert("role".into(), role.into());
        m.insert("dc".into(), self.datacenter.clone());
        m.insert("segment".into(), self.segment.clone());
        m.insert("id".into(), self.node_id.clone());
        m.insert("vsn".into(), self.protocol.vsn.to_string());
        m.insert("vsn_min".into(), self.protocol.vsn_min.to_string());
        m.insert("vsn_max".into(), self.protocol.vsn_max.to_string());
        m.insert("build".into(), self.build.clone());
        if self.role == Role::Server {
            m.insert("raft_vsn".into(), self.protocol.raft_vsn.to_string());
            if let Some(rpc) = self.rpc_addr {
                m.insert("port".into(), rpc.port().to_string());
            }
            if self.bootstrap {
                m.insert("bootstrap".into(), "1".into());
            }
            if let Some(n) = self.expect {
                m.insert("expect".into(), n.to_string());
            }
            if self.read_replica {
                m.insert("read_replica".into(), "1".into());
                m.insert("nonvoter".into(), "1".into());
            }
            if let Some(port) = self.wan_join_port {
                m.insert("wan_join_port".into(), port.to_string());
            }
        }
        m
    }

    /// Encodes as `[TAGS_VERSION] ++ postcard(self)`. The byte layout is
    /// pinned by a fixture test; a later release must still decode it (this
    /// one decodes version 1 too).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![TAGS_VERSION];
        // Serializing plain owned data into a Vec cannot fail.
        out.extend(postcard::to_allocvec(self).unwrap_or_default());
        out
    }

    /// Decodes [`Tags::encode`]'s output. Errors name the problem.
    pub fn decode(bytes: &[u8]) -> Result<Self, String> {
        if bytes.len() > MAX_TAGS_LEN {
            return Err(format!("tags too large: {} bytes", bytes.len()));
        }
        match bytes.split_first() {
            None => Err("empty tags".into()),
            Some((&TAGS_VERSION, rest)) => {
                postcard::from_bytes(rest).map_err(|e| format!("tags: {e}"))
            }
            Some((1, rest)) => postcard::from_bytes::<TagsV1>(rest)
                .map(Tags::from)
                .map_err(|e| format!("tags: {e}")),
            Some((v, _)) => Err(format!("unknown tags version {v}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server() -> Tags {
        Tags {
            role: Role::Server,
            datacenter: "dc1".into(),
            segment: String::new(),
            node_id: "2b6a5b0e-3c8d-4f3e-9e1a-0d6c8f0b1a2c".into(),
            rpc_addr: Some("10.0.0.1:8300".parse().unwrap()),
            build: "1.20.0:abc".into(),
            protocol: ProtocolVersions::default(),
            bootstrap: false,
            expect: Some(3),
            read_replica: false,
            wan_join_port: None,
        }
    }

    #[test]
    fn server_map_matches_consul() {
        let m = server().to_map();
        let got: Vec<(&str, &str)> = m.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(
            got,
            vec![
                ("build", "1.20.0:abc"),
                ("dc", "dc1"),
                ("expect", "3"),
                ("id", "2b6a5b0e-3c8d-4f3e-9e1a-0d6c8f0b1a2c"),
                ("port", "8300"),
                ("raft_vsn", "3"),
                ("role", "consul"),
                ("segment", ""),
                ("vsn", "2"),
                ("vsn_max", "3"),
                ("vsn_min", "2"),
            ]
        );
    }

    #[test]
    fn client_map_has_no_server_keys() {
        let t = Tags {
            role: Role::Client,
            bootstrap: true,
            ..server()
        };
        let m = t.to_map();
        assert_eq!(m["role"], "node");
        for k in ["port", "expect", "bootstrap", "raft_vsn"] {
            assert!(!m.contains_key(k), "{k}");
        }
    }

    /// The version 1 layout, as the previous release wrote it: still read.
    const V1_FIXTURE: &str = concat!(
        "01",       // version
        "00",       // role Server
        "03646331", // "dc1"
        "00",       // segment ""
        "24",
        "32623661356230652d336338642d346633652d396531612d306436633866306231613263", // node id
        "01",
        "00",
        "0a000001",
        "ec40", // Some(V4 10.0.0.1:8300)
        "0a",
        "312e32302e303a616263", // build
        "02020303",             // protocol
        "00",                   // bootstrap
        "0103",                 // Some(3)
        "00",                   // read_replica
    );

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn unhex(text: &str) -> Vec<u8> {
        (0..text.len())
            .step_by(2)
            .map(|at| u8::from_str_radix(&text[at..at + 2], 16).unwrap())
            .collect()
    }

    /// Pins the tags encoding: if this changes, old members can no longer
    /// read new tags (or the other way round). Bump TAGS_VERSION instead.
    #[test]
    fn tags_encoding_fixture() {
        let tags = Tags {
            wan_join_port: Some(8302),
            ..server()
        };
        let bytes = tags.encode();
        // Version 2: version 1's fields, then Some(8302).
        let want = format!("02{}01ee40", &V1_FIXTURE[2..]);
        assert_eq!(hex(&bytes), want);
        assert_eq!(Tags::decode(&bytes).unwrap(), tags);
        assert_eq!(tags.to_map()["wan_join_port"], "8302");
    }

    #[test]
    fn version_1_tags_still_decode() {
        assert_eq!(Tags::decode(&unhex(V1_FIXTURE)).unwrap(), server());
    }

    #[test]
    fn decode_rejects_garbage() {
        assert!(Tags::decode(&[]).is_err());
        assert!(Tags::decode(&[9, 1, 2]).unwrap_err().contains("version 9"));
        assert!(Tags::decode(&[1, 0xff]).is_err());
    }
}
