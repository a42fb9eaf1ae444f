//! `-bootstrap-expect`: the task that forms the Raft group once enough servers have met
//! through gossip, carrying out `bootstrap::decide` (see there for the rules).

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
