//! Without a transport, every RPC fails as unreachable and says why.

use crate::server::raft::Network;
use openraft::error::RPCError;
use openraft::network::RPCOption;
use openraft::raft::VoteRequest;
use openraft::{BasicNode, RaftNetwork, RaftNetworkFactory, Vote};
use std::time::Duration;

#[tokio::test]
async fn every_rpc_fails_as_unreachable() {
    let mut client = Network
        .new_client(2, &BasicNode::new("127.0.0.1:8300"))
        .await;
    let request = VoteRequest::new(Vote::new(1, 1), None);
    let option = RPCOption::new(Duration::from_secs(1));
    match client.vote(request, option).await {
        Err(RPCError::Unreachable(error)) => {
            assert!(error.to_string().contains("no RPC transport"), "{error}");
        }
        other => panic!("expected Unreachable, got {other:?}"),
    }
}
