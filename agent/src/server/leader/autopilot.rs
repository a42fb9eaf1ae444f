//! Autopilot, as Consul's leader runs it: which servers join the Raft group, when a new one
//! becomes a voter, and which dead ones leave it. Pure: the leader's driver (`server::cluster`)
//! feeds it gossip's view of the servers and Raft's view of the group, and carries out the
//! actions it returns, one membership change at a time.
//!
//! Rules:
//! 1. A live server of this datacenter that gossip knows and Raft does not is added as a
//!    non-voter (learner), so it can catch up without counting towards the quorum.
//! 2. A server is healthy when gossip says it is alive and, unless it leads, Raft has
//!    replicated to it up to within `max_trailing_logs` of the leader's last entry.
//! 3. A learner healthy without a break for `server_stabilization_time` is promoted to voter.
//! 4. A server that left gracefully is removed from the group at once. With
//!    `cleanup_dead_servers`, failed servers are removed too, but only while fewer than half of
//!    the voters are failed (so a partition's far side is never voted out) and never below
//!    `min_quorum` voters. The leader never removes itself.
//! 5. A server whose RPC address changed (restarted on another port or address) has its
//!    address updated in the membership.
//! 6. A joint configuration seen when planning is a change left half done: this leader's own
//!    changes run to their end before it plans again, so the joint entry was written by an
//!    earlier leader (killed or cut off between the two steps) or by an interrupted operator
//!    call. It is finished (`FinishChange`, its new voters become the voters) before anything
//!    else; openraft 0.9's new leaders leave it as it is, and autopilot would otherwise wait on
//!    it forever: no server added, promoted or removed again (found by the fault harness, a
//!    leader killed while promoting a server).

use crate::config::cluster::AutopilotSettings;
use crate::server::leader::reconcile::MemberStatus;
use crate::server::raft::NodeId;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// A server as gossip sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GossipServer {
    pub id: NodeId,
    pub name: String,
    pub rpc_addr: String,
    pub status: MemberStatus,
}

/// The Raft group as the leader sees it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GroupView {
    pub leader: NodeId,
    pub last_log_index: u64,
    pub voters: BTreeSet<NodeId>,
    /// Every member, voter or learner, with its RPC address.
    pub nodes: BTreeMap<NodeId, String>,
    /// How far the leader has replicated to each follower.
    pub matched: BTreeMap<NodeId, u64>,
    /// A joint configuration is being committed.
    pub changing: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    AddLearner {
        id: NodeId,
        addr: String,
    },
    UpdateAddress {
        id: NodeId,
        addr: String,
    },
    Promote(BTreeSet<NodeId>),
    Remove(BTreeSet<NodeId>),
    /// Rule 6.
    FinishChange,
}

/// One server's health, for `/v1/operator/autopilot/health`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerHealth {
    pub id: NodeId,
    pub name: String,
    pub addr: String,
    pub status: Option<MemberStatus>,
    pub voter: bool,
    pub leader: bool,
    pub last_index: u64,
    pub healthy: bool,
    /// When it last became healthy (time since the driver started), if it is.
    pub stable_since: Option<Duration>,
}

/// The health of every member of the group (rule 2).
pub fn health(
    settings: &AutopilotSettings,
    servers: &[GossipServer],
    group: &GroupView,
    stable_since: &BTreeMap<NodeId, Duration>,
) -> Vec<ServerHealth> {
    group
        .nodes
        .iter()
        .map(|(id, addr)| {
            let gossip = servers.iter().find(|server| server.id == *id);
            let leader = *id == group.leader;
            let last_index = if leader {
                group.last_log_index
            } else {
                group.matched.get(id).copied().unwrap_or(0)
            };
            let alive = gossip.is_some_and(|server| server.status == MemberStatus::Alive);
            let caught_up =
                leader || last_index + settings.max_trailing_logs >= group.last_log_index;
            let healthy = alive && caught_up;
            ServerHealth {
                id: *id,
                name: gossip.map_or_else(String::new, |server| server.name.clone()),
                addr: addr.clone(),
                status: gossip.map(|server| server.status),
                voter: group.voters.contains(id),
                leader,
                last_index,
                healthy,
                stable_since: if healthy {
                    stable_since.get(id).copied()
                } else {
                    None
                },
            }
        })
        .collect()
}

/// Keeps `stable_since` in step with `health`: the time a server became healthy, dropped
/// when it is not.
pub fn track(
    stable_since: &mut BTreeMap<NodeId, Duration>,
    health: &[ServerHealth],
    now: Duration,
) {
    stable_since.retain(|id, _| {
        health
            .iter()
            .any(|server| server.id == *id && server.healthy)
    });
    for server in health.iter().filter(|server| server.healthy) {
        stable_since.entry(server.id).or_insert(now);
    }
}

/// What to change next (rules 1, 3, 4, 5, 6): at most one membership change.
pub fn plan(
    settings: &AutopilotSettings,
    servers: &[GossipServer],
    group: &GroupView,
    stable_since: &BTreeMap<NodeId, Duration>,
    now: Duration,
) -> Option<Action> {
    if group.changing {
        return Some(Action::FinishChange);
    }
    // Rule 4, graceful leaves first: they shrink the quorum the cluster needs.
    let left: BTreeSet<NodeId> = servers
        .iter()
        .filter(|server| server.status == MemberStatus::Left)
        .map(|server| server.id)
        .filter(|id| group.nodes.contains_key(id) && *id != group.leader)
        .collect();
    if !left.is_empty() {
        return Some(Action::Remove(left));
    }
    if settings.cleanup_dead_servers {
        let failed: BTreeSet<NodeId> = servers
            .iter()
            .filter(|server| server.status == MemberStatus::Failed)
            .map(|server| server.id)
            .filter(|id| group.nodes.contains_key(id) && *id != group.leader)
            .collect();
        let failed_voters = failed.intersection(&group.voters).count();
        let remaining = group.voters.len() - failed_voters;
        let few_enough = failed_voters * 2 < group.voters.len();
        let above_floor = remaining >= settings.min_quorum as usize;
        if !failed.is_empty() && few_enough && above_floor {
            return Some(Action::Remove(failed));
        }
    }
    // Rule 5.
    for server in servers
        .iter()
        .filter(|server| server.status == MemberStatus::Alive)
    {
        if let Some(addr) = group.nodes.get(&server.id) {
            if *addr != server.rpc_addr {
                return Some(Action::UpdateAddress {
                    id: server.id,
                    addr: server.rpc_addr.clone(),
                });
            }
        }
    }
    // Rule 1.
    if let Some(server) = servers.iter().find(|server| {
        server.status == MemberStatus::Alive && !group.nodes.contains_key(&server.id)
    }) {
        return Some(Action::AddLearner {
            id: server.id,
            addr: server.rpc_addr.clone(),
        });
    }
    // Rule 3.
    let ready: BTreeSet<NodeId> = health(settings, servers, group, stable_since)
        .into_iter()
        .filter(|server| !server.voter && server.healthy)
        .filter(|server| {
            server.stable_since.is_some_and(|since| {
                now.saturating_sub(since) >= settings.server_stabilization_time
            })
        })
        .map(|server| server.id)
        .collect();
    (!ready.is_empty()).then_some(Action::Promote(ready))
}

/// How many voters may fail before the group loses its quorum (Consul's `FailureTolerance`:
/// healthy voters minus the quorum).
pub fn failure_tolerance(health: &[ServerHealth]) -> usize {
    let voters = health.iter().filter(|server| server.voter).count();
    let healthy_voters = health
        .iter()
        .filter(|server| server.voter && server.healthy)
        .count();
    let quorum = voters / 2 + 1;
    healthy_voters.saturating_sub(quorum)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(id: NodeId, status: MemberStatus) -> GossipServer {
        GossipServer {
            id,
            name: format!("s{id}"),
            rpc_addr: format!("127.0.0.{id}:8300"),
            status,
        }
    }

    fn group(voters: &[NodeId], learners: &[NodeId]) -> GroupView {
        let all = voters.iter().chain(learners);
        GroupView {
            leader: voters[0],
            last_log_index: 1000,
            voters: voters.iter().copied().collect(),
            nodes: all
                .clone()
                .map(|id| (*id, format!("127.0.0.{id}:8300")))
                .collect(),
            matched: all.map(|id| (*id, 1000)).collect(),
            changing: false,
        }
    }

    #[test]
    fn a_new_server_is_added_as_learner_then_promoted_once_stable() {
        let settings = AutopilotSettings::default();
        let servers: Vec<_> = (1..=4).map(|id| server(id, MemberStatus::Alive)).collect();
        let mut view = group(&[1, 2, 3], &[]);
        let action = plan(&settings, &servers, &view, &BTreeMap::new(), Duration::ZERO);
        assert_eq!(
            action,
            Some(Action::AddLearner {
                id: 4,
                addr: "127.0.0.4:8300".into()
            })
        );
        view.nodes.insert(4, "127.0.0.4:8300".into());
        view.matched.insert(4, 100);
        // Behind: not healthy, not promoted.
        let mut stable = BTreeMap::new();
        let now_health = health(&settings, &servers, &view, &stable);
        track(&mut stable, &now_health, Duration::ZERO);
        assert!(!stable.contains_key(&4));
        view.matched.insert(4, 990);
        let now_health = health(&settings, &servers, &view, &stable);
        track(&mut stable, &now_health, Duration::from_secs(1));
        let early = plan(&settings, &servers, &view, &stable, Duration::from_secs(5));
        assert_eq!(early, None, "not stable for 10 s yet");
        let later = plan(&settings, &servers, &view, &stable, Duration::from_secs(11));
        assert_eq!(later, Some(Action::Promote(BTreeSet::from([4]))));
    }

    #[test]
    fn dead_servers_are_removed_only_while_a_majority_stays() {
        let settings = AutopilotSettings::default();
        let view = group(&[1, 2, 3, 4, 5], &[]);
        let mut servers: Vec<_> = (1..=5).map(|id| server(id, MemberStatus::Alive)).collect();
        servers[4].status = MemberStatus::Failed;
        assert_eq!(
            plan(&settings, &servers, &view, &BTreeMap::new(), Duration::ZERO),
            Some(Action::Remove(BTreeSet::from([5])))
        );
        // Three of five failed: the leader may be on the minority side; remove nothing.
        servers[2].status = MemberStatus::Failed;
        servers[3].status = MemberStatus::Failed;
        assert_eq!(
            plan(&settings, &servers, &view, &BTreeMap::new(), Duration::ZERO),
            None
        );
        let off = AutopilotSettings {
            cleanup_dead_servers: false,
            ..settings.clone()
        };
        servers[2].status = MemberStatus::Alive;
        servers[3].status = MemberStatus::Alive;
        assert_eq!(
            plan(&off, &servers, &view, &BTreeMap::new(), Duration::ZERO),
            None
        );
    }

    #[test]
    fn a_graceful_leave_is_removed_at_once_but_never_the_leader() {
        let settings = AutopilotSettings::default();
        let view = group(&[1, 2, 3], &[]);
        let mut servers: Vec<_> = (1..=3).map(|id| server(id, MemberStatus::Alive)).collect();
        servers[1].status = MemberStatus::Left;
        servers[0].status = MemberStatus::Left;
        assert_eq!(
            plan(&settings, &servers, &view, &BTreeMap::new(), Duration::ZERO),
            Some(Action::Remove(BTreeSet::from([2])))
        );
    }

    #[test]
    fn a_moved_server_gets_its_new_address_and_a_half_done_change_is_finished_first() {
        let settings = AutopilotSettings::default();
        let mut view = group(&[1, 2, 3], &[]);
        let mut servers: Vec<_> = (1..=3).map(|id| server(id, MemberStatus::Alive)).collect();
        servers[2].rpc_addr = "127.0.0.3:9300".into();
        assert_eq!(
            plan(&settings, &servers, &view, &BTreeMap::new(), Duration::ZERO),
            Some(Action::UpdateAddress {
                id: 3,
                addr: "127.0.0.3:9300".into()
            })
        );
        view.changing = true;
        assert_eq!(
            plan(&settings, &servers, &view, &BTreeMap::new(), Duration::ZERO),
            Some(Action::FinishChange)
        );
    }

    #[test]
    fn failure_tolerance_is_healthy_voters_minus_quorum() {
        let settings = AutopilotSettings::default();
        let view = group(&[1, 2, 3, 4, 5], &[]);
        let mut servers: Vec<_> = (1..=5).map(|id| server(id, MemberStatus::Alive)).collect();
        assert_eq!(
            failure_tolerance(&health(&settings, &servers, &view, &BTreeMap::new())),
            2
        );
        servers[4].status = MemberStatus::Failed;
        assert_eq!(
            failure_tolerance(&health(&settings, &servers, &view, &BTreeMap::new())),
            1
        );
    }
}
