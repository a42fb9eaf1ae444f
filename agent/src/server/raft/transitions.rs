//! `consul.raft.state.leader`, `.candidate` and `.follower`: counters of this server's entries
//! into each Raft state, as hashicorp/raft counts them (a learner counts as a follower, as a
//! non-voter does there).
//!
//! They are read from openraft's server metrics, which change only with the vote, the state,
//! the leader or the membership, so watching them costs nothing per write. A watch keeps only
//! the latest value: a state held for less time than this task takes to wake (a candidacy won
//! at once) may go uncounted; entries into leadership and out of it are always seen.

use super::types::{NodeId, Raft};
use openraft::ServerState;

/// The counter an entry into `state` increments.
fn counter_name(state: ServerState) -> Option<&'static str> {
    match state {
        ServerState::Leader => Some("consul.raft.state.leader"),
        ServerState::Candidate => Some("consul.raft.state.candidate"),
        ServerState::Follower | ServerState::Learner => Some("consul.raft.state.follower"),
        ServerState::Shutdown => None,
    }
}

/// Counts state changes until Raft stops.
pub async fn count(raft: Raft) {
    let mut server = raft.server_metrics();
    let state_of =
        |metrics: &openraft::metrics::RaftServerMetrics<NodeId, openraft::BasicNode>| metrics.state;
    let mut last = None;
    loop {
        let state = state_of(&server.borrow_and_update());
        if last != Some(state) {
            if let Some(name) = counter_name(state) {
                metrics::counter!(name).increment(1);
            }
            last = Some(state);
        }
        if server.changed().await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::counter_name;
    use openraft::ServerState;

    #[test]
    fn names_follow_hashicorp_raft() {
        assert_eq!(
            counter_name(ServerState::Leader),
            Some("consul.raft.state.leader")
        );
        assert_eq!(
            counter_name(ServerState::Learner),
            Some("consul.raft.state.follower")
        );
        assert_eq!(counter_name(ServerState::Shutdown), None);
    }
}
