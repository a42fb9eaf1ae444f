//! `-bootstrap-expect=N`: when a fresh server forms the Raft group. Pure; `server::cluster`
//! feeds it gossip's servers and carries out its decision.
//!
//! Rules (Consul's `maybeBootstrap`):
//! 1. Only a server started with `bootstrap_expect > 0` and no Raft state bootstraps, and only
//!    once: a server with existing data rejoins its group instead (never over existing data).
//! 2. It waits until gossip shows `expect` alive servers of its datacenter, itself included.
//! 3. Every one of them must expect the same number; a mismatch waits (and is logged), because
//!    two servers forming groups of different sizes would split the datacenter.
//! 4. Before bootstrapping, every peer is asked whether it already belongs to a group (its
//!    Raft voters); if one does, this server does not bootstrap and waits to be added by that
//!    group's leader (autopilot), so a late server never forms a second group.
//! 5. All of them bootstrap with the same voter set (sorted by id), so the group forms once
//!    however many of them decide at the same moment.

use crate::server::raft::NodeId;
use std::collections::BTreeMap;

/// A server as gossip announces it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    pub id: NodeId,
    pub name: String,
    pub rpc_addr: String,
    pub datacenter: String,
    /// Its `expect` tag (0 when it has none).
    pub expect: u32,
    pub alive: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Nothing to do: not asked to bootstrap, or already part of a group (rule 1).
    Done,
    /// Not yet (rules 2, 3); the reason is for the log.
    Wait(String),
    /// Ask these peers whether they already have a group (rule 4), then bootstrap with them.
    Bootstrap(BTreeMap<NodeId, String>),
}

pub fn decide(expect: u32, datacenter: &str, initialized: bool, servers: &[Candidate]) -> Decision {
    if expect == 0 || initialized {
        return Decision::Done;
    }
    let peers: Vec<&Candidate> = servers
        .iter()
        .filter(|server| server.alive && server.datacenter == datacenter)
        .collect();
    if let Some(odd) = peers.iter().find(|server| server.expect != expect) {
        return Decision::Wait(format!(
            "server {} expects {} servers and this one {expect}: every server started with \
             -bootstrap-expect must give the same number",
            odd.name, odd.expect
        ));
    }
    if peers.len() < expect as usize {
        return Decision::Wait(format!(
            "{} of {expect} expected servers seen; waiting for the rest to join",
            peers.len()
        ));
    }
    Decision::Bootstrap(
        peers
            .iter()
            .map(|server| (server.id, server.rpc_addr.clone()))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidate(id: NodeId, expect: u32) -> Candidate {
        Candidate {
            id,
            name: format!("s{id}"),
            rpc_addr: format!("127.0.0.{id}:8300"),
            datacenter: "dc1".into(),
            expect,
            alive: true,
        }
    }

    #[test]
    fn waits_for_expect_servers_then_bootstraps_all_of_them() {
        let two = [candidate(1, 3), candidate(2, 3)];
        assert!(matches!(decide(3, "dc1", false, &two), Decision::Wait(_)));
        let three = [candidate(3, 3), candidate(1, 3), candidate(2, 3)];
        let Decision::Bootstrap(voters) = decide(3, "dc1", false, &three) else {
            panic!("three of three seen");
        };
        assert_eq!(voters.keys().copied().collect::<Vec<_>>(), [1, 2, 3]);
    }

    #[test]
    fn never_twice_never_over_data_never_with_mismatched_expectations() {
        let three = [candidate(1, 3), candidate(2, 3), candidate(3, 3)];
        assert_eq!(decide(3, "dc1", true, &three), Decision::Done);
        assert_eq!(decide(0, "dc1", false, &three), Decision::Done);
        let mixed = [candidate(1, 3), candidate(2, 5), candidate(3, 3)];
        assert!(
            matches!(decide(3, "dc1", false, &mixed), Decision::Wait(reason) if reason.contains("s2"))
        );
    }

    #[test]
    fn other_datacenters_and_dead_servers_do_not_count() {
        let mut servers = vec![candidate(1, 3), candidate(2, 3), candidate(3, 3)];
        servers[1].datacenter = "dc2".into();
        assert!(matches!(
            decide(3, "dc1", false, &servers),
            Decision::Wait(_)
        ));
        servers[1].datacenter = "dc1".into();
        servers[2].alive = false;
        assert!(matches!(
            decide(3, "dc1", false, &servers),
            Decision::Wait(_)
        ));
    }
}
