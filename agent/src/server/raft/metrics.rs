//! A plain snapshot of Raft's state, for `/v1/status/leader`, response headers
//! (`X-Consul-KnownLeader`, `X-Consul-LastContact`) and operator output.
//!
//! It copies what those need out of openraft's metrics so that callers depend on this
//! module's small struct rather than on openraft's generic one.

use super::types::{LogId, NodeId};
use openraft::{BasicNode, ServerState};
use std::fmt;

/// A Raft server as this server knows it: the leader, or a voter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Peer {
    pub id: NodeId,
    /// Its server RPC address ("127.0.0.1:8300"), when the membership this server has seen
    /// names it.
    pub addr: Option<String>,
}

impl fmt::Display for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.addr {
            Some(addr) => write!(f, "node {} at {addr}", self.id),
            None => write!(f, "node {} (address unknown)", self.id),
        }
    }
}

/// Raft's state at one moment. Indexes are zero before the first entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RaftMetrics {
    pub node_id: NodeId,
    pub state: ServerState,
    pub leader: Option<Peer>,
    /// The voters of the current membership, by id (`/v1/status/peers`).
    pub voters: Vec<Peer>,
    pub term: u64,
    pub last_log_index: u64,
    /// The last committed index, as last saved by the log store.
    pub commit_index: u64,
    pub applied_index: u64,
    /// The last index included in the newest snapshot.
    pub snapshot_index: u64,
    /// On the leader: milliseconds since a quorum last acknowledged it (Consul's
    /// `LastContact` as seen from the leader). `None` on followers or before any ack.
    pub millis_since_quorum_ack: Option<u64>,
}

impl RaftMetrics {
    pub(super) fn new(
        metrics: &openraft::RaftMetrics<NodeId, BasicNode>,
        commit_index: u64,
    ) -> RaftMetrics {
        let index = |log_id: &Option<LogId>| log_id.as_ref().map_or(0, |log_id| log_id.index);
        let membership = metrics.membership_config.membership();
        let peer = |id: NodeId| Peer {
            id,
            addr: membership.get_node(&id).map(|node| node.addr.clone()),
        };
        let leader = metrics.current_leader.map(peer);
        let voters = membership.voter_ids().map(peer).collect();
        RaftMetrics {
            node_id: metrics.id,
            state: metrics.state,
            leader,
            voters,
            term: metrics.current_term,
            last_log_index: metrics.last_log_index.unwrap_or(0),
            commit_index,
            applied_index: index(&metrics.last_applied),
            snapshot_index: index(&metrics.snapshot),
            millis_since_quorum_ack: metrics.millis_since_quorum_ack,
        }
    }

    /// Whether this server currently believes it leads.
    pub fn is_leader(&self) -> bool {
        self.state == ServerState::Leader
    }
}
