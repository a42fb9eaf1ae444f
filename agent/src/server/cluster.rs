//! Tasks that place a server in its Raft group at start-up: `bootstrap` forms the group once
//! `-bootstrap-expect` servers have met through gossip, carrying out `bootstrap::decide` (see
//! there for the rules); `check_group` refuses to run a server whose data belongs to another
//! cluster than the servers it joined.

use super::bootstrap::{self, Decision};
use super::raft::RaftHandle;
use super::rpc::message::{Request, RequestV1, ResponseV1};
use super::rpc::RpcClient;
use crate::membership::Membership;
use std::collections::BTreeSet;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How long a peer has to say whether it already belongs to a group.
const STATUS_DEADLINE: Duration = Duration::from_secs(2);

/// Runs until the group exists (bootstrapped here or by a peer), or `cancel` fires.
pub async fn bootstrap(
    raft: RaftHandle,
    membership: Membership,
    rpc: RpcClient,
    expect: u32,
    datacenter: String,
    cancel: CancellationToken,
) {
    if expect == 0 {
        return;
    }
    let mut changes = membership.gossip().watch_members();
    let mut last_reason = String::new();
    loop {
        let initialized = raft.is_initialized().await;
        match bootstrap::decide(
            expect,
            &datacenter,
            initialized,
            &membership.bootstrap_candidates(),
        ) {
            Decision::Done => return,
            Decision::Wait(reason) => {
                if reason != last_reason {
                    tracing::info!("bootstrap: {reason}");
                    last_reason = reason;
                }
            }
            Decision::Bootstrap(voters) => {
                match peers_without_group(&rpc, &voters, raft.node_id()).await {
                    Ok(()) => {
                        tracing::info!(
                            "bootstrap: {} servers found; forming the raft group",
                            voters.len()
                        );
                        match raft.initialize(voters).await {
                            Ok(()) => return,
                            // A peer's append may have initialised this node first.
                            Err(error) if raft.is_initialized().await => {
                                tracing::debug!("bootstrap: already initialised: {error}");
                                return;
                            }
                            Err(error) => tracing::warn!("bootstrap failed: {error}"),
                        }
                    }
                    Err(PeerState::InGroup(peer)) => {
                        tracing::info!(
                            "bootstrap: {peer} already belongs to a raft group; waiting for \
                             its leader to add this server"
                        );
                        return;
                    }
                    Err(PeerState::Unknown(peer)) => {
                        tracing::info!("bootstrap: waiting for {peer} to answer");
                    }
                }
            }
        }
        tokio::select! {
            changed = changes.changed() => if changed.is_err() { return },
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = cancel.cancelled() => return,
        }
    }
}

enum PeerState {
    InGroup(String),
    Unknown(String),
}

/// Rule 4 of `bootstrap`: every other expected server must answer, and none may belong to a
/// group already.
async fn peers_without_group(
    rpc: &RpcClient,
    voters: &std::collections::BTreeMap<u128, String>,
    own: u128,
) -> Result<(), PeerState> {
    for (id, addr) in voters {
        if *id == own {
            continue;
        }
        match rpc
            .call(addr, &Request::V1(RequestV1::Status), STATUS_DEADLINE)
            .await
        {
            Ok(ResponseV1::Status(status)) if status.voters.is_empty() => {}
            Ok(ResponseV1::Status(_)) => return Err(PeerState::InGroup(addr.clone())),
            _ => return Err(PeerState::Unknown(addr.clone())),
        }
    }
    Ok(())
}

/// How long `check_group` waits for another server of the datacenter to show up.
const GROUP_CHECK_WINDOW: Duration = Duration::from_secs(30);

/// A server restarted with data rejoins its own group. If the servers it met through gossip
/// form a group that shares no voter with the group its data names, the two cannot both run
/// in one datacenter (a copied data directory, a wrong `-join`). The group with more of its
/// voters alive in gossip keeps running, and on a tie the server that started first; the
/// other server stops with a message that says what to do.
pub async fn check_group(
    raft: RaftHandle,
    membership: Membership,
    rpc: RpcClient,
    datacenter: String,
    started_unix_ms: u64,
    shutdown: crate::run::Shutdown,
) {
    if !raft.is_initialized().await {
        return;
    }
    let own = raft.node_id();
    let deadline = tokio::time::Instant::now() + GROUP_CHECK_WINDOW;
    let mut changes = membership.gossip().watch_members();
    let cancel = shutdown.token();
    while tokio::time::Instant::now() < deadline {
        let ours: BTreeSet<String> = raft
            .metrics()
            .voters
            .into_iter()
            .filter_map(|peer| peer.addr)
            .collect();
        let candidates = membership.bootstrap_candidates();
        let own_addr = candidates
            .iter()
            .find(|server| server.id == own)
            .map(|server| server.rpc_addr.clone());
        let alive: BTreeSet<String> = candidates
            .iter()
            .filter(|server| server.alive && server.datacenter == datacenter)
            .map(|server| server.rpc_addr.clone())
            .collect();
        let others: Vec<String> = candidates
            .iter()
            .filter(|server| server.alive && server.datacenter == datacenter && server.id != own)
            .map(|server| server.rpc_addr.clone())
            .collect();
        for addr in &others {
            let answer = rpc
                .call(addr, &Request::V1(RequestV1::GroupInfo), STATUS_DEADLINE)
                .await;
            let Ok(ResponseV1::GroupInfo {
                voters,
                started_unix_ms: theirs_started,
            }) = answer
            else {
                continue;
            };
            let ours_view = GroupView {
                voters: &ours,
                own_addr: own_addr.as_deref(),
                started_unix_ms,
            };
            let theirs_view = TheirGroup {
                voters: &voters,
                started_unix_ms: theirs_started,
            };
            match judge(&ours_view, &theirs_view, &alive) {
                Judgement::Same => {}
                Judgement::Yield => {
                    let ours_list: Vec<&String> = ours.iter().collect();
                    let why = format!(
                        "this server's data (raft group {ours_list:?}) belongs to another \
                         cluster than the servers it joined (the group of {addr}: {voters:?}); \
                         start it with an empty -data-dir to join this cluster, or point \
                         -join/-retry-join at its own servers"
                    );
                    tracing::error!("{why}");
                    shutdown.stop(crate::run::StopReason::Refused(why));
                    return;
                }
                Judgement::TheyShouldStop => tracing::warn!(
                    "server at {addr} belongs to another raft group ({voters:?}); it should stop"
                ),
            }
        }
        tokio::select! {
            changed = changes.changed() => if changed.is_err() { return },
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = cancel.cancelled() => return,
        }
    }
}

/// This server's group as `check_group` sees it.
struct GroupView<'a> {
    /// The voters' RPC addresses; empty while this server's view is not known yet (it may
    /// have just received its group's first entries).
    voters: &'a BTreeSet<String>,
    own_addr: Option<&'a str>,
    started_unix_ms: u64,
}

/// Another server's group, from its `GroupInfo` answer.
struct TheirGroup<'a> {
    voters: &'a [String],
    started_unix_ms: u64,
}

#[derive(Debug, PartialEq, Eq)]
enum Judgement {
    /// One group (or nothing to judge yet).
    Same,
    /// Two groups; this server's gives way and stops.
    Yield,
    /// Two groups; the other server's gives way.
    TheyShouldStop,
}

/// `check_group`'s rule, pure. Two groups only when both are known, share no voter, and
/// theirs does not name this server: a server whose own view is still empty, or that the
/// other group counts as a voter, is one of them (seen under load: a bootstrapping server
/// asked before its metrics listed the group it had just been given).
fn judge(ours: &GroupView, theirs: &TheirGroup, alive: &BTreeSet<String>) -> Judgement {
    let named = ours
        .own_addr
        .is_some_and(|own| theirs.voters.iter().any(|voter| voter == own));
    if ours.voters.is_empty()
        || theirs.voters.is_empty()
        || named
        || theirs
            .voters
            .iter()
            .any(|voter| ours.voters.contains(voter))
    {
        return Judgement::Same;
    }
    let mine = ours.voters.iter().filter(|v| alive.contains(*v)).count();
    let their_count = theirs.voters.iter().filter(|v| alive.contains(*v)).count();
    if their_count > mine || (their_count == mine && theirs.started_unix_ms < ours.started_unix_ms)
    {
        Judgement::Yield
    } else {
        Judgement::TheyShouldStop
    }
}

#[cfg(test)]
mod judge_tests {
    use super::*;

    fn set(addrs: &[&str]) -> BTreeSet<String> {
        addrs.iter().map(|addr| addr.to_string()).collect()
    }

    fn list(addrs: &[&str]) -> Vec<String> {
        addrs.iter().map(|addr| addr.to_string()).collect()
    }

    #[test]
    fn a_member_of_the_other_group_is_never_refused() {
        let alive = set(&["a", "b", "c"]);
        let voters = list(&["a", "b", "c"]);
        let theirs = TheirGroup {
            voters: &voters,
            started_unix_ms: 1,
        };
        // Its own view not known yet: the bootstrap race.
        let empty = set(&[]);
        let ours = GroupView {
            voters: &empty,
            own_addr: Some("c"),
            started_unix_ms: 2,
        };
        assert_eq!(judge(&ours, &theirs, &alive), Judgement::Same);
        // Named by their group, even with a view that shares nothing yet.
        let stale = set(&["x"]);
        let ours = GroupView {
            voters: &stale,
            own_addr: Some("c"),
            started_unix_ms: 2,
        };
        assert_eq!(judge(&ours, &theirs, &alive), Judgement::Same);
        // Sharing a voter.
        let shared = set(&["a", "z"]);
        let ours = GroupView {
            voters: &shared,
            own_addr: Some("z"),
            started_unix_ms: 2,
        };
        assert_eq!(judge(&ours, &theirs, &alive), Judgement::Same);
    }

    #[test]
    fn of_two_groups_the_one_with_fewer_live_voters_or_the_younger_yields() {
        let voters = list(&["a", "b", "c"]);
        let theirs = TheirGroup {
            voters: &voters,
            started_unix_ms: 5,
        };
        let copied = set(&["x", "y", "z"]);
        let ours = GroupView {
            voters: &copied,
            own_addr: Some("x"),
            started_unix_ms: 1,
        };
        assert_eq!(
            judge(&ours, &theirs, &set(&["a", "b", "c", "x"])),
            Judgement::Yield
        );
        assert_eq!(
            judge(&ours, &theirs, &set(&["a", "x", "y"])),
            Judgement::TheyShouldStop
        );
        // A tie: the one that started first keeps running.
        let tie = set(&["a", "x"]);
        assert_eq!(judge(&ours, &theirs, &tie), Judgement::TheyShouldStop);
        let late = GroupView {
            started_unix_ms: 9,
            ..ours
        };
        assert_eq!(judge(&late, &theirs, &tie), Judgement::Yield);
    }
}
