//! The vote this server last saved, and what it means for replication streams.
//!
//! openraft 0.9 does not stop a leader's replication streams when it loses leadership: its
//! `QuitLeader` drops the leader's state and no stream; a stream stops only when a follower
//! answers it with a higher vote, or when this server leads again. Meanwhile the new leader
//! rewrites this server's log, and a stream still running reads entries from the rewritten
//! log and sends them after the `prev_log_id` it had matched under the old term. A follower
//! still at the old term (one that restarted, or was cut off) accepts them: an entry of the
//! new term after one of the old, which breaks log matching (the simulation caught it: seed
//! 101109). The network therefore answers such a stream itself, before anything is sent,
//! with the higher vote this server has saved since, as a follower would, and the stream
//! ends.
//!
//! Why that is enough: openraft saves a new vote before it truncates or appends anything on
//! behalf of its leader, and a stream reads its entries before it calls the network; so
//! entries read from a rewritten log always reach the network after the vote that allowed
//! the rewrite was saved here.

#[cfg(test)]
use super::types::NodeId;
use super::types::Vote;
use std::sync::{Arc, Mutex, PoisonError};

/// Shared by the log store, which records each vote once it is durable, and the network.
#[derive(Clone, Debug, Default)]
pub struct SavedVote(Arc<Mutex<Option<Vote>>>);

impl SavedVote {
    pub fn record(&self, vote: Vote) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Some(vote);
    }

    pub fn get(&self) -> Option<Vote> {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The vote to answer a replication stream of `session` with, if that stream belongs to
    /// a leadership this server has since left.
    pub fn ends(&self, session: &Vote) -> Option<Vote> {
        stale_session(session, self.get().as_ref())
    }
}

/// The saved vote, if it is greater than the vote of the stream's `session`: that
/// leadership is over here, whatever the follower thinks.
pub fn stale_session(session: &Vote, saved: Option<&Vote>) -> Option<Vote> {
    let saved = saved?;
    (saved > session).then_some(*saved)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vote(term: u64, node: NodeId, committed: bool) -> Vote {
        if committed {
            Vote::new_committed(term, node)
        } else {
            Vote::new(term, node)
        }
    }

    #[test]
    fn a_stream_of_an_older_leadership_ends_and_the_current_one_goes_on() {
        let led = vote(14, 1, true);
        // Still leading: the session is the saved vote.
        assert_eq!(stale_session(&led, Some(&led)), None);
        // Voted for another server in a later term, or standing in one: the stream ends.
        let follows = vote(16, 2, true);
        assert_eq!(stale_session(&led, Some(&follows)), Some(follows));
        let stands = vote(15, 1, false);
        assert_eq!(stale_session(&led, Some(&stands)), Some(stands));
        // Nothing saved yet (cannot happen to a leader, but must not end anything).
        assert_eq!(stale_session(&led, None), None);
    }

    #[test]
    fn the_shared_cell_reports_the_last_vote_recorded() {
        let saved = SavedVote::default();
        let led = vote(3, 1, true);
        assert_eq!(saved.ends(&led), None);
        saved.record(led);
        assert_eq!(saved.ends(&led), None);
        saved.record(vote(4, 2, true));
        assert_eq!(saved.ends(&led), Some(vote(4, 2, true)));
    }
}
