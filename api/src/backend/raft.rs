//! The Raft peer set as `/v1/operator/raft/*` reports and changes it, in the backend's terms.

/// One server of the Raft configuration.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RaftServer {
    /// The server's Raft ID: its node UUID (Consul has used node IDs since Raft protocol 3).
    pub id: String,
    /// The server's node name, or `"(unknown)"` when the catalog no longer knows it.
    pub node: String,
    /// The server RPC address, `ip:port`.
    pub address: String,
    pub leader: bool,
    /// Whether the server votes; a server being promoted by autopilot does not yet.
    pub voter: bool,
    /// The Raft protocol version the server speaks (`"3"`); empty reads as `<=1` in the CLI.
    pub protocol_version: String,
    /// The index of the last log entry this server has, as the leader last saw it.
    pub last_index: u64,
}

/// The Raft configuration: its servers and the log index it was committed at.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RaftConfiguration {
    pub servers: Vec<RaftServer>,
    pub index: u64,
}

/// Which peer `DELETE /v1/operator/raft/peer` removes: Consul takes exactly one of the two.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum PeerSelector {
    /// `?id=`: the server's Raft ID.
    Id(String),
    /// `?address=`: the server's `ip:port`.
    Address(String),
}
