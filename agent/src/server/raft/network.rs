//! The Raft network, for now without a transport.
//!
//! Legate runs a single server until clustering lands with the server RPC layer (port 8300,
//! one multiplexed connection per peer). A single voter never sends a Raft RPC: it elects
//! itself and commits on its own flush. So every client this factory makes fails every call
//! with `Unreachable` and says why, rather than pretending to deliver. openraft treats
//! `Unreachable` as "back off and retry", which is the right behaviour if a peer ever does
//! appear in the membership before the transport exists.

use super::types::{NodeId, TypeConfig};
use openraft::error::{
    Fatal, InstallSnapshotError, RPCError, RaftError, ReplicationClosed, StreamingError,
    Unreachable,
};
use openraft::network::RPCOption;
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    SnapshotResponse, VoteRequest, VoteResponse,
};
use openraft::{BasicNode, OptionalSend, RaftNetwork, RaftNetworkFactory, Snapshot, Vote};
use std::future::Future;
use thiserror::Error;

/// Why every RPC fails: there is no transport yet.
#[derive(Debug, Error)]
#[error("no RPC transport to node {target}: Legate runs a single server until clustering lands")]
pub struct NoTransport {
    target: NodeId,
}

/// The network factory handed to openraft.
#[derive(Clone, Debug, Default)]
pub struct Network;

/// A client for one peer; every call fails with `NoTransport`.
#[derive(Debug)]
pub struct NetworkClient {
    target: NodeId,
}

impl NetworkClient {
    fn unreachable(&self) -> Unreachable {
        Unreachable::new(&NoTransport {
            target: self.target,
        })
    }
}

type RpcResult<T, E = openraft::error::Infallible> =
    Result<T, RPCError<NodeId, BasicNode, RaftError<NodeId, E>>>;

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = NetworkClient;

    async fn new_client(&mut self, target: NodeId, _node: &BasicNode) -> NetworkClient {
        NetworkClient { target }
    }
}

impl RaftNetwork<TypeConfig> for NetworkClient {
    async fn append_entries(
        &mut self,
        _rpc: AppendEntriesRequest<TypeConfig>,
        _option: RPCOption,
    ) -> RpcResult<AppendEntriesResponse<NodeId>> {
        Err(RPCError::Unreachable(self.unreachable()))
    }

    async fn install_snapshot(
        &mut self,
        _rpc: InstallSnapshotRequest<TypeConfig>,
        _option: RPCOption,
    ) -> RpcResult<InstallSnapshotResponse<NodeId>, InstallSnapshotError> {
        Err(RPCError::Unreachable(self.unreachable()))
    }

    async fn vote(
        &mut self,
        _rpc: VoteRequest<NodeId>,
        _option: RPCOption,
    ) -> RpcResult<VoteResponse<NodeId>> {
        Err(RPCError::Unreachable(self.unreachable()))
    }

    async fn full_snapshot(
        &mut self,
        _vote: Vote<NodeId>,
        _snapshot: Snapshot<TypeConfig>,
        _cancel: impl Future<Output = ReplicationClosed> + OptionalSend + 'static,
        _option: RPCOption,
    ) -> Result<SnapshotResponse<NodeId>, StreamingError<TypeConfig, Fatal<NodeId>>> {
        Err(StreamingError::Unreachable(self.unreachable()))
    }
}
