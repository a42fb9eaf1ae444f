//! The simulated network: openraft's RPCs handed straight to the target's `Raft`, each way
//! after a seeded delay, and lost to cuts (partitions) and random loss.
//!
//! What a real network does and this one imitates: a request may be processed and its answer
//! lost; messages overtake each other; a crashed server refuses connections at once
//! (`Unreachable`), while a cut link says nothing until the caller's deadline (`Timeout`).
//! Entries travel in their wire form (`EntryRecord` through the durable codec) and are
//! decoded on arrival, as server RPC carries them.

use crate::world::{with, Shared};
use legate_agent::server::raft::record::EntryRecord;
use legate_agent::server::raft::saved_vote::stale_session;
use legate_agent::server::raft::types::Entry;
use legate_agent::server::raft::{NodeId, Raft, TypeConfig};
use legate_catalog::codec;
use openraft::error::{
    Fatal, InstallSnapshotError, NetworkError, RPCError, RaftError, ReplicationClosed,
    StreamingError, Timeout, Unreachable,
};
use openraft::network::{RPCOption, RPCTypes};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    SnapshotResponse, VoteRequest, VoteResponse,
};
use openraft::{BasicNode, OptionalSend, RaftNetwork, RaftNetworkFactory, Snapshot, Vote};
use std::future::Future;
use std::time::Duration;

/// What became of one message.
enum Fate {
    Delivered(Raft),
    /// The target is down: refused at once.
    Refused,
    /// Cut or lost: nothing comes back before the deadline.
    Lost,
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Failure(String);

/// The network factory of server `from`.
#[derive(Clone)]
pub struct Net {
    pub from: NodeId,
    pub world: Shared,
}

pub struct Link {
    from: NodeId,
    to: NodeId,
    world: Shared,
}

impl RaftNetworkFactory<TypeConfig> for Net {
    type Network = Link;

    async fn new_client(&mut self, target: NodeId, _node: &BasicNode) -> Link {
        Link {
            from: self.from,
            to: target,
            world: self.world.clone(),
        }
    }
}

type RpcResult<T, E = openraft::error::Infallible> =
    Result<T, RPCError<NodeId, BasicNode, RaftError<NodeId, E>>>;

impl Link {
    /// The vote to end a stream of `session` with, from the vote the sender's disk holds.
    fn ends(&self, session: &Vote<NodeId>) -> Option<Vote<NodeId>> {
        let saved = with(&self.world, |world| world.slots[&self.from].disk.vote);
        stale_session(session, saved.as_ref())
    }

    /// Carries a message one way: waits its delay, then decides its fate on arrival.
    async fn travel(&self, from: NodeId, to: NodeId, kind: &'static str) -> Fate {
        let delay = with(&self.world, |world| world.message_delay());
        tokio::time::sleep(delay).await;
        with(&self.world, |world| {
            let delivered = world.delivers(from, to);
            let fate = match world.slots.get(&to).and_then(|slot| slot.raft.clone()) {
                None => Fate::Refused,
                Some(_) if !delivered => Fate::Lost,
                Some(raft) => Fate::Delivered(raft),
            };
            let seen = match fate {
                Fate::Delivered(_) => 0u8,
                Fate::Refused => 1,
                Fate::Lost => 2,
            };
            world.note((kind, from, to, seen));
            fate
        })
    }

    /// A whole call: the request there, `handle` at the target, the answer back. A lost
    /// message in either direction is a timeout at `deadline`; a crashed target is refused.
    async fn call<T, F, Fut>(
        &self,
        kind: &'static str,
        action: RPCTypes,
        deadline: Duration,
        handle: F,
    ) -> Result<T, CallError>
    where
        F: FnOnce(Raft) -> Fut,
        Fut: Future<Output = Result<T, String>>,
    {
        let started = tokio::time::Instant::now();
        let timeout = || {
            CallError::Timeout(Timeout {
                action,
                id: self.from,
                target: self.to,
                timeout: deadline,
            })
        };
        let raft = match self.travel(self.from, self.to, kind).await {
            Fate::Delivered(raft) => raft,
            Fate::Refused => return Err(CallError::Unreachable(format!("{} is down", self.to))),
            Fate::Lost => {
                tokio::time::sleep_until(started + deadline).await;
                return Err(timeout());
            }
        };
        let answer = match tokio::time::timeout_at(started + deadline, handle(raft)).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(failed)) => return Err(CallError::Unreachable(failed)),
            Err(_) => return Err(timeout()),
        };
        match self.travel(self.to, self.from, "answer").await {
            Fate::Delivered(_) | Fate::Refused => Ok(answer),
            Fate::Lost => {
                tokio::time::sleep_until(started + deadline).await;
                Err(timeout())
            }
        }
    }
}

enum CallError {
    Unreachable(String),
    Timeout(Timeout<NodeId>),
}

impl CallError {
    fn into_rpc<E: std::error::Error>(self) -> RPCError<NodeId, BasicNode, RaftError<NodeId, E>> {
        match self {
            CallError::Unreachable(why) => RPCError::Unreachable(Unreachable::new(&Failure(why))),
            CallError::Timeout(timeout) => RPCError::Timeout(timeout),
        }
    }
}

/// The entries as the target decodes them from the wire.
fn over_the_wire(rpc: AppendEntriesRequest<TypeConfig>) -> AppendEntriesRequest<TypeConfig> {
    let entries = rpc
        .entries
        .iter()
        .map(|entry| {
            let bytes = codec::encode(&EntryRecord::from(entry));
            let record: EntryRecord = codec::decode(&bytes).expect("an entry decodes");
            Entry::from(record)
        })
        .collect();
    AppendEntriesRequest { entries, ..rpc }
}

impl RaftNetwork<TypeConfig> for Link {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<AppendEntriesResponse<NodeId>> {
        // As the agent's network does: a deposed leader's stream ends here (`saved_vote`).
        if let Some(higher) = self.ends(&rpc.vote) {
            return Ok(AppendEntriesResponse::HigherVote(higher));
        }
        let rpc = over_the_wire(rpc);
        self.call(
            "append",
            RPCTypes::AppendEntries,
            option.hard_ttl(),
            |raft| async move { raft.append_entries(rpc).await.map_err(|e| e.to_string()) },
        )
        .await
        .map_err(CallError::into_rpc)
    }

    async fn install_snapshot(
        &mut self,
        _rpc: InstallSnapshotRequest<TypeConfig>,
        _option: RPCOption,
    ) -> RpcResult<InstallSnapshotResponse<NodeId>, InstallSnapshotError> {
        // As in the agent: with `storage-v2` openraft sends whole snapshots (`full_snapshot`).
        Err(RPCError::Network(NetworkError::new(&Failure(
            "chunked snapshots are not used".to_owned(),
        ))))
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> RpcResult<VoteResponse<NodeId>> {
        self.call(
            "vote",
            RPCTypes::Vote,
            option.hard_ttl(),
            |raft| async move { raft.vote(rpc).await.map_err(|e| e.to_string()) },
        )
        .await
        .map_err(CallError::into_rpc)
    }

    async fn full_snapshot(
        &mut self,
        vote: Vote<NodeId>,
        snapshot: Snapshot<TypeConfig>,
        _cancel: impl Future<Output = ReplicationClosed> + OptionalSend + 'static,
        option: RPCOption,
    ) -> Result<SnapshotResponse<NodeId>, StreamingError<TypeConfig, Fatal<NodeId>>> {
        if let Some(higher) = self.ends(&vote) {
            return Ok(SnapshotResponse { vote: higher });
        }
        let deadline = option.hard_ttl().max(Duration::from_secs(5));
        let answer = self
            .call(
                "snapshot",
                RPCTypes::InstallSnapshot,
                deadline,
                |raft| async move {
                    raft.install_full_snapshot(vote, snapshot)
                        .await
                        .map_err(|e| e.to_string())
                },
            )
            .await;
        answer.map_err(|error| match error {
            CallError::Unreachable(why) => {
                StreamingError::Unreachable(Unreachable::new(&Failure(why)))
            }
            CallError::Timeout(timeout) => StreamingError::Timeout(timeout),
        })
    }
}
