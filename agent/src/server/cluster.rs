//! Tasks that place a server in its Raft group at start-up: `bootstrap` forms the group once
//! `-bootstrap-expect` servers have met through gossip, carrying out `bootstrap::decide` (see
//! there for the rules); `check_group` refuses to run a server whose data belongs to another
//! cluster than the servers it joined.

use super::bootstrap::{self, Decision};
use super::raft::RaftHandle;
use super::rpc::message::{Request, RequestV1, ResponseV1};
use super::rpc::RpcClient;
use crate::membership::Membership;
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
        let ours: std::collections::BTreeSet<String> = raft
            .metrics()
            .voters
            .into_iter()
            .filter_map(|peer| peer.addr)
            .collect();
        let alive: std::collections::BTreeSet<String> = membership
            .bootstrap_candidates()
            .into_iter()
            .filter(|server| server.alive && server.datacenter == datacenter)
            .map(|server| server.rpc_addr)
            .collect();
        let others: Vec<String> = membership
            .bootstrap_candidates()
            .into_iter()
            .filter(|server| server.alive && server.datacenter == datacenter && server.id != own)
            .map(|server| server.rpc_addr)
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
            if voters.is_empty() || voters.iter().any(|voter| ours.contains(voter)) {
                continue;
            }
            let present = |group: &[String]| group.iter().filter(|v| alive.contains(*v)).count();
            let ours_list: Vec<String> = ours.iter().cloned().collect();
            let (mine, theirs) = (present(&ours_list), present(&voters));
            let yield_to_them =
                theirs > mine || (theirs == mine && theirs_started < started_unix_ms);
            if yield_to_them {
                let why = format!(
                    "this server's data (raft group {ours_list:?}) belongs to another cluster \
                     than the servers it joined (the group of {addr}: {voters:?}); start it \
                     with an empty -data-dir to join this cluster, or point -join/-retry-join \
                     at its own servers"
                );
                tracing::error!("{why}");
                shutdown.stop(crate::run::StopReason::Refused(why));
                return;
            }
            tracing::warn!(
                "server at {addr} belongs to another raft group ({voters:?}); it should stop"
            );
        }
        tokio::select! {
            changed = changes.changed() => if changed.is_err() { return },
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = cancel.cancelled() => return,
        }
    }
}
