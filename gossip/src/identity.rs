//! The foca identity of a member: node name, gossip address and a
//! generation that makes identities renewable.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

/// Longest node name accepted (bytes). Names travel in every packet
/// header twice (source and destination), so they must stay short;
/// Consul's own limit for DNS-compatible names is 63.
pub const MAX_NODE_NAME_LEN: usize = 128;

/// A member's identity as foca sees it.
///
/// Foca's `Addr` (the key that two identities of the same member share)
/// is the node *name*, as in Serf: a node restarting on another IP
/// replaces its previous incarnation instead of living next to it.
/// `generation` orders identities of the same name: the higher one wins,
/// and [`foca::Identity::renew`] bumps it, which is what lets a member
/// that the cluster declared down rejoin at once.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct NodeId {
    /// Unique node name (Consul's `node_name`).
    pub name: String,
    /// Address the member gossips on (UDP and push-pull TCP).
    pub addr: SocketAddr,
    /// Orders identities of the same name; higher wins. Starts at the
    /// wall-clock milliseconds of the process start (chosen by the
    /// caller), so a restart always wins over the previous process.
    pub generation: u64,
}

impl foca::Identity for NodeId {
    type Addr = String;

    fn renew(&self) -> Option<Self> {
        Some(Self {
            name: self.name.clone(),
            addr: self.addr,
            generation: self.generation.wrapping_add(1),
        })
    }

    fn addr(&self) -> String {
        self.name.clone()
    }

    fn win_addr_conflict(&self, adversary: &Self) -> bool {
        // The tie-break on the socket address only matters for two
        // processes started with the same name in the same millisecond;
        // any total order keeps every member agreeing on the winner.
        (self.generation, self.addr) > (adversary.generation, adversary.addr)
    }
}

#[cfg(test)]
mod tests {
    use foca::Identity;

    use super::*;

    #[test]
    fn renewed_identity_wins() {
        let id = NodeId {
            name: "a".into(),
            addr: "127.0.0.1:8301".parse().unwrap(),
            generation: 7,
        };
        let renewed = id.renew().unwrap();
        assert_eq!(renewed.generation, 8);
        assert_eq!(renewed.addr(), id.addr());
        assert!(renewed.win_addr_conflict(&id));
        assert!(!id.win_addr_conflict(&renewed));
    }
}
