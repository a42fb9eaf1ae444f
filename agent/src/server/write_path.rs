//! The one write path of a server: every write (HTTP, anti-entropy, the leader's own duties,
//! writes forwarded by other agents) goes through `WritePath::write`.
//!
//! On the leader the command goes to the proposer, which batches it into a Raft entry. On a
//! follower, Raft refuses it with `NotLeader` and the command is forwarded over server RPC to
//! the leader, whose RPC handler brings it back into this same path there. While no leader is
//! known, the write waits for one and tries again, for at most `HOLD` (Consul's
//! `rpc_hold_timeout`, 7 s), then fails as "No cluster leader" without having been applied.
//!
//! Outcomes stay honest across the hop: a forwarded call that timed out or broke after it was
//! sent may have been applied, so it is `Indeterminate`, never "not applied, retry".

use super::disk_guard::DiskGuard;
use super::proposer::Proposer;
use super::raft::{RaftHandle, WriteError};
use super::rpc::message::{RemoteWriteError, Request, RequestV1, ResponseV1};
use super::rpc::RpcClient;
use legate_catalog::{Command, CommandResult, LogPayload};
use std::time::{Duration, Instant};

/// How long a write may wait for a leader (Consul's `rpc_hold_timeout`).
pub const HOLD: Duration = Duration::from_secs(7);
/// How long a forwarded write may take at the leader: a batch's fsync on a quorum, with
/// generous room for a slow disk.
const FORWARD_DEADLINE: Duration = Duration::from_secs(30);
/// The pause before trying again after a refusal, so a leader change in progress can finish.
const RETRY_PAUSE: Duration = Duration::from_millis(50);
/// How long a write handed to Raft on this server may take to commit. Past it, the leader
/// has most likely lost its quorum (a partition) and the write's outcome is unknown.
const COMMIT_DEADLINE: Duration = Duration::from_secs(10);

#[derive(Clone)]
pub struct WritePath {
    proposer: Proposer,
    raft: RaftHandle,
    rpc: RpcClient,
    /// This server's RPC address, so it never forwards to itself.
    own_addr: String,
    disk: DiskGuard,
}

impl WritePath {
    pub fn new(raft: RaftHandle, rpc: RpcClient, own_addr: String, disk: DiskGuard) -> WritePath {
        WritePath {
            proposer: Proposer::start(raft.clone()),
            raft,
            rpc,
            own_addr,
            disk,
        }
    }

    /// Applies `command` through the leader and returns what the catalog answered.
    pub async fn write(&self, command: Command) -> Result<CommandResult, WriteError> {
        let deadline = Instant::now() + HOLD;
        loop {
            let proposed = if self.raft.is_leader() && self.disk.is_full() {
                // This leader's own log cannot take the entry; it is stepping down.
                return Err(WriteError::DiskFull(self.disk.refusal()));
            } else if self.raft.is_leader() && !self.raft.leads_with_quorum() {
                // Cut off from the quorum: another leader may exist. Refuse (not applied)
                // rather than queue a write that cannot commit here.
                Err(WriteError::NotLeader { leader: None })
            } else {
                match tokio::time::timeout(COMMIT_DEADLINE, self.proposer.write(command.clone()))
                    .await
                {
                    Ok(result) => result,
                    Err(_) => Err(WriteError::Indeterminate {
                        reason: format!("not committed within {COMMIT_DEADLINE:?}"),
                    }),
                }
            };
            let leader = match proposed {
                Err(WriteError::NotLeader { leader }) => leader,
                Err(WriteError::Refused(_)) if Instant::now() < deadline => {
                    tokio::time::sleep(RETRY_PAUSE).await;
                    continue;
                }
                done => return done,
            };
            let remaining = deadline.saturating_duration_since(Instant::now());
            let leader_addr = leader.and_then(|peer| peer.addr);
            match leader_addr {
                Some(addr) if addr != self.own_addr => match self.forward(&addr, &command).await {
                    Forwarded::Done(result) => return result,
                    Forwarded::NotApplied(error) if remaining.is_zero() => return Err(error),
                    Forwarded::NotApplied(_) => {
                        tokio::time::sleep(RETRY_PAUSE.min(remaining)).await;
                    }
                },
                _ if remaining.is_zero() => return Err(WriteError::NotLeader { leader: None }),
                _ => {
                    // No leader known (or Raft still names this server while it steps
                    // down): wait for an election.
                    let wait = remaining.min(Duration::from_millis(500));
                    let _ = self.raft.wait_for_leader(wait).await;
                    // Also when the leader known is this server without its quorum.
                    tokio::time::sleep(RETRY_PAUSE.min(remaining)).await;
                }
            }
        }
    }

    /// Applies `command` only if this server leads with its quorum now: never forwarded, never
    /// held. For the leader's own duties (reconcile, expiry, reaping), which are decided from
    /// this server's view: a server that merely believed it led (restarted with its old vote,
    /// or cut off) must not have a plan made from that view, such as deregistering members its
    /// fresh gossip has not met yet, carried out by the real leader.
    pub async fn write_as_leader(&self, command: Command) -> Result<CommandResult, WriteError> {
        if !self.raft.confirm_leadership().await {
            return Err(WriteError::NotLeader { leader: None });
        }
        if self.disk.is_full() {
            return Err(WriteError::DiskFull(self.disk.refusal()));
        }
        match tokio::time::timeout(COMMIT_DEADLINE, self.proposer.write(command)).await {
            Ok(result) => result,
            Err(_) => Err(WriteError::Indeterminate {
                reason: format!("not committed within {COMMIT_DEADLINE:?}"),
            }),
        }
    }

    async fn forward(&self, leader: &str, command: &Command) -> Forwarded {
        let request = Request::V1(RequestV1::Write {
            command: LogPayload::from(command.clone()),
        });
        match self.rpc.call(leader, &request, FORWARD_DEADLINE).await {
            Ok(ResponseV1::Write(Ok(result))) => Forwarded::Done(Ok(result)),
            Ok(ResponseV1::Write(Err(error))) => match error {
                RemoteWriteError::NotLeader { .. } => {
                    Forwarded::NotApplied(WriteError::NotLeader { leader: None })
                }
                RemoteWriteError::Refused(reason) => {
                    Forwarded::NotApplied(WriteError::Refused(reason))
                }
                RemoteWriteError::ShuttingDown => Forwarded::NotApplied(WriteError::ShuttingDown),
                RemoteWriteError::Indeterminate(reason) => {
                    Forwarded::Done(Err(WriteError::Indeterminate { reason }))
                }
            },
            Ok(ResponseV1::Failed(reason)) => {
                Forwarded::NotApplied(WriteError::Refused(format!("leader {leader}: {reason}")))
            }
            Ok(other) => Forwarded::Done(Err(WriteError::Indeterminate {
                reason: format!("leader {leader} answered a write with {other:?}"),
            })),
            Err(error) if error.not_sent() => {
                Forwarded::NotApplied(WriteError::NotLeader { leader: None })
            }
            Err(error) => Forwarded::Done(Err(WriteError::Indeterminate {
                reason: error.to_string(),
            })),
        }
    }
}

enum Forwarded {
    /// The final outcome, applied or indeterminate.
    Done(Result<CommandResult, WriteError>),
    /// Certainly not applied; worth another try while the hold lasts.
    NotApplied(WriteError),
}

/// A write error in the terms a forwarding server understands.
pub fn remote_error(error: WriteError) -> RemoteWriteError {
    match error {
        WriteError::NotLeader { leader } => RemoteWriteError::NotLeader {
            leader: leader.and_then(|peer| peer.addr),
        },
        WriteError::Refused(reason) => RemoteWriteError::Refused(reason),
        WriteError::ShuttingDown => RemoteWriteError::ShuttingDown,
        WriteError::DiskFull(reason) => RemoteWriteError::Refused(reason),
        error @ (WriteError::Storage { .. } | WriteError::Indeterminate { .. }) => {
            RemoteWriteError::Indeterminate(error.to_string())
        }
    }
}
