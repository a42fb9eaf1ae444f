//! Rule 5 of the log store: a restarted server never resumes leading its old term.

use super::{open_db, reopen_db};
use crate::server::raft::LogStore;
use openraft::storage::RaftLogStorage;
use openraft::Vote;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leaders_own_committed_vote_is_saved_back_as_a_plain_one() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("raft");
    {
        let db = open_db(&path);
        let mut store = LogStore::open(&db).expect("open log store");
        store
            .save_vote(&Vote::new_committed(29, 2))
            .await
            .expect("save vote");
        assert_eq!(
            store.forget_leadership(2).await.expect("forget"),
            Some(29),
            "the leadership of term 29 is given up"
        );
        // Once is enough: the next start finds a plain vote.
        assert_eq!(store.forget_leadership(2).await.expect("forget"), None);
    }
    // Durably: the same term and candidate, so the server cannot vote twice in term 29, but
    // no longer committed, so openraft starts it as a follower.
    let db = reopen_db(&path).await;
    let mut store = LogStore::open(&db).expect("reopen log store");
    assert_eq!(
        store.read_vote().await.expect("read"),
        Some(Vote::new(29, 2))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_followers_record_of_its_leaders_vote_is_left_alone() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = open_db(&dir.path().join("raft"));
    let mut store = LogStore::open(&db).expect("open log store");
    assert_eq!(store.forget_leadership(1).await.expect("no vote yet"), None);
    let leaders = Vote::new_committed(29, 2);
    store.save_vote(&leaders).await.expect("save vote");
    assert_eq!(store.forget_leadership(1).await.expect("forget"), None);
    assert_eq!(store.read_vote().await.expect("read"), Some(leaders));
    let candidate = Vote::new(30, 1);
    store.save_vote(&candidate).await.expect("save vote");
    assert_eq!(store.forget_leadership(1).await.expect("forget"), None);
    assert_eq!(store.read_vote().await.expect("read"), Some(candidate));
}

/// `saved_vote`: once this server has saved a newer vote, a replication stream of the
/// leadership it left is answered with that vote and sends nothing; the current
/// leadership's streams do send. The vote is known again after a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_of_a_leadership_left_here_ends_before_it_sends() {
    use crate::server::raft::Network;
    use crate::server::rpc::RpcClient;
    use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
    use openraft::raft::{AppendEntriesRequest, AppendEntriesResponse};
    use openraft::BasicNode;
    use std::time::Duration;

    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("raft");
    let led = Vote::new_committed(14, 1);
    let follows = Vote::new_committed(16, 2);
    {
        let db = open_db(&path);
        let mut store = LogStore::open(&db).expect("open log store");
        store.save_vote(&led).await.expect("save vote");
        store.save_vote(&follows).await.expect("save vote");
        let mut network = Network::new(RpcClient::new(), 1, store.durability())
            .with_saved_vote(store.saved_vote());
        // Nothing listens on port 1: a call that is sent fails.
        let mut peer = network.new_client(3, &BasicNode::new("127.0.0.1:1")).await;
        let append = |vote| AppendEntriesRequest {
            vote,
            prev_log_id: None,
            leader_commit: None,
            entries: Vec::new(),
        };
        let option = RPCOption::new(Duration::from_secs(1));
        let stale = peer.append_entries(append(led), option.clone()).await;
        assert!(
            matches!(stale, Ok(AppendEntriesResponse::HigherVote(vote)) if vote == follows),
            "{stale:?}"
        );
        let current = peer.append_entries(append(follows), option).await;
        assert!(
            current.is_err(),
            "the current leadership's call is sent: {current:?}"
        );
    }
    let db = reopen_db(&path).await;
    let store = LogStore::open(&db).expect("reopen log store");
    assert_eq!(store.saved_vote().get(), Some(follows));
}
