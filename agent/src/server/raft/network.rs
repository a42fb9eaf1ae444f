//! The Raft network: openraft's RPCs carried by server RPC (`server::rpc`) to each peer's
//! server port, over the pooled, multiplexed connection to that peer.
//!
//! Every call has a deadline: openraft's own TTL for appends and votes, and a longer one for
//! a whole snapshot (`SNAPSHOT_DEADLINE`), which may be tens of megabytes. A peer that cannot
//! be reached is `Unreachable`, which openraft answers by backing off that peer; a call that
//! times out is `Timeout`; anything else (a broken connection, a peer whose Raft stopped) is a
//! network error, retried on the next heartbeat.

use super::durability::Durability;
use super::record::{EntryRecord, LogIdV1, SnapshotHeader, VoteRecord};
use super::saved_vote::SavedVote;
use super::types::{LogId, NodeId, TypeConfig};
use crate::server::rpc::message::{AppendAnswer, Request, RequestV1, ResponseV1};
use crate::server::rpc::{RpcClient, RpcError};
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
use thiserror::Error;

/// How long sending a whole snapshot may take.
const SNAPSHOT_DEADLINE: Duration = Duration::from_secs(120);

/// The peer answered something that does not fit the call.
#[derive(Debug, Error)]
#[error("{0}")]
pub struct UnexpectedAnswer(String);

/// The network factory handed to openraft.
#[derive(Clone, Debug)]
pub struct Network {
    client: RpcClient,
    /// This server's id, for openraft's timeout reports.
    node_id: NodeId,
    durability: Durability,
    saved_vote: SavedVote,
}

impl Network {
    pub fn new(client: RpcClient, node_id: NodeId, durability: Durability) -> Network {
        Network {
            client,
            node_id,
            durability,
            saved_vote: SavedVote::default(),
        }
    }

    /// Ends the replication streams of a leadership this server has left (`saved_vote`).
    pub fn with_saved_vote(mut self, saved_vote: SavedVote) -> Network {
        self.saved_vote = saved_vote;
        self
    }
}

/// A client for one peer.
#[derive(Debug)]
pub struct NetworkClient {
    client: RpcClient,
    node_id: NodeId,
    durability: Durability,
    saved_vote: SavedVote,
    target: NodeId,
    addr: String,
}

type RpcResult<T, E = openraft::error::Infallible> =
    Result<T, RPCError<NodeId, BasicNode, RaftError<NodeId, E>>>;

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = NetworkClient;

    async fn new_client(&mut self, target: NodeId, node: &BasicNode) -> NetworkClient {
        NetworkClient {
            client: self.client.clone(),
            node_id: self.node_id,
            durability: self.durability.clone(),
            saved_vote: self.saved_vote.clone(),
            target,
            addr: node.addr.clone(),
        }
    }
}

impl NetworkClient {
    async fn call<E: std::error::Error>(
        &self,
        action: RPCTypes,
        request: RequestV1,
        deadline: Duration,
    ) -> Result<ResponseV1, RPCError<NodeId, BasicNode, RaftError<NodeId, E>>> {
        let answer = self
            .client
            .call(&self.addr, &Request::V1(request), deadline)
            .await;
        match answer {
            Ok(ResponseV1::Failed(reason)) => Err(RPCError::Network(NetworkError::new(
                &UnexpectedAnswer(format!("node {} failed the call: {reason}", self.target)),
            ))),
            Ok(response) => Ok(response),
            Err(error @ RpcError::Connect { .. }) => {
                Err(RPCError::Unreachable(Unreachable::new(&error)))
            }
            Err(RpcError::Timeout { after, .. }) => Err(RPCError::Timeout(Timeout {
                action,
                id: self.node_id,
                target: self.target,
                timeout: after,
            })),
            Err(error) => Err(RPCError::Network(NetworkError::new(&error))),
        }
    }
}

fn unexpected<E: std::error::Error>(
    response: ResponseV1,
) -> RPCError<NodeId, BasicNode, RaftError<NodeId, E>> {
    RPCError::Network(NetworkError::new(&UnexpectedAnswer(format!(
        "unexpected answer {response:?}"
    ))))
}

/// The commit index to send, capped at what this leader's own disk holds (gate 3 of
/// `durability`): openraft may count the leader's copy before its fsync, and a follower
/// must not apply an entry that only one disk holds. Capped to the newest log id the request
/// names at or below the durable index; a follower keeps the commit index it has when it is
/// sent a lower one, and learns the rest with the next message. `durable` is the last index
/// the leader's log holds durably.
pub(super) fn durable_commit(
    rpc: &AppendEntriesRequest<TypeConfig>,
    durable: u64,
) -> Option<LogId> {
    let committed = rpc.leader_commit?;
    if committed.index <= durable {
        return Some(committed);
    }
    let named = rpc
        .prev_log_id
        .iter()
        .chain(rpc.entries.iter().map(|entry| &entry.log_id));
    named
        .filter(|log_id| log_id.index <= durable)
        .max_by_key(|log_id| log_id.index)
        .copied()
}

impl RaftNetwork<TypeConfig> for NetworkClient {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<AppendEntriesResponse<NodeId>> {
        // A deposed leader's stream, whose entries may come from a log rewritten since.
        if let Some(higher) = self.saved_vote.ends(&rpc.vote) {
            return Ok(AppendEntriesResponse::HigherVote(higher));
        }
        // A failed flush: vouch for nothing more (the server is about to stop).
        let durable = self.durability.durable_index().unwrap_or(0);
        let leader_commit = durable_commit(&rpc, durable);
        let request = RequestV1::AppendEntries {
            vote: VoteRecord::from(&rpc.vote),
            prev_log_id: rpc.prev_log_id.as_ref().map(LogIdV1::from),
            leader_commit: leader_commit.as_ref().map(LogIdV1::from),
            entries: rpc.entries.iter().map(EntryRecord::from).collect(),
        };
        match self
            .call(RPCTypes::AppendEntries, request, option.hard_ttl())
            .await?
        {
            ResponseV1::AppendEntries(answer) => Ok(match answer {
                AppendAnswer::Success => AppendEntriesResponse::Success,
                AppendAnswer::PartialSuccess(log_id) => {
                    AppendEntriesResponse::PartialSuccess(log_id.map(Into::into))
                }
                AppendAnswer::Conflict => AppendEntriesResponse::Conflict,
                AppendAnswer::HigherVote(vote) => AppendEntriesResponse::HigherVote(vote.into()),
            }),
            other => Err(unexpected(other)),
        }
    }

    async fn install_snapshot(
        &mut self,
        _rpc: InstallSnapshotRequest<TypeConfig>,
        _option: RPCOption,
    ) -> RpcResult<InstallSnapshotResponse<NodeId>, InstallSnapshotError> {
        // With `storage-v2`, openraft sends snapshots through `full_snapshot`; the chunked
        // API is never called.
        Err(RPCError::Network(NetworkError::new(&UnexpectedAnswer(
            "chunked snapshots are not used; see full_snapshot".to_owned(),
        ))))
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> RpcResult<VoteResponse<NodeId>> {
        let request = RequestV1::Vote {
            vote: VoteRecord::from(&rpc.vote),
            last_log_id: rpc.last_log_id.as_ref().map(LogIdV1::from),
        };
        match self
            .call(RPCTypes::Vote, request, option.hard_ttl())
            .await?
        {
            ResponseV1::Vote {
                vote,
                granted,
                last_log_id,
            } => Ok(VoteResponse {
                vote: vote.into(),
                vote_granted: granted,
                last_log_id: last_log_id.map(Into::into),
            }),
            other => Err(unexpected(other)),
        }
    }

    async fn full_snapshot(
        &mut self,
        vote: Vote<NodeId>,
        snapshot: Snapshot<TypeConfig>,
        cancel: impl Future<Output = ReplicationClosed> + OptionalSend + 'static,
        _option: RPCOption,
    ) -> Result<SnapshotResponse<NodeId>, StreamingError<TypeConfig, Fatal<NodeId>>> {
        // As for appends: a leadership left here sends nothing more.
        if let Some(higher) = self.saved_vote.ends(&vote) {
            return Ok(SnapshotResponse { vote: higher });
        }
        let data = snapshot.snapshot.into_inner();
        let request = RequestV1::InstallSnapshot {
            vote: VoteRecord::from(&vote),
            header: SnapshotHeader::new(&snapshot.meta, data.len() as u64),
            data,
        };
        let call = self.call::<openraft::error::Infallible>(
            RPCTypes::InstallSnapshot,
            request,
            SNAPSHOT_DEADLINE,
        );
        let answer = tokio::select! {
            answer = call => answer,
            closed = cancel => return Err(StreamingError::Closed(closed)),
        };
        match answer {
            Ok(ResponseV1::InstallSnapshot { vote }) => Ok(SnapshotResponse { vote: vote.into() }),
            Ok(other) => Err(StreamingError::Network(NetworkError::new(
                &UnexpectedAnswer(format!("unexpected answer {other:?}")),
            ))),
            Err(RPCError::Unreachable(unreachable)) => {
                Err(StreamingError::Unreachable(unreachable))
            }
            Err(RPCError::Timeout(timeout)) => Err(StreamingError::Timeout(timeout)),
            Err(RPCError::Network(network)) => Err(StreamingError::Network(network)),
            Err(other) => Err(StreamingError::Network(NetworkError::new(&other))),
        }
    }
}
