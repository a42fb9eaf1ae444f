//! The invariants, checked as the simulation goes (each hook runs right after the step it
//! watches) and once more at the end.
//!
//! - **Election safety**: openraft's term is its leader id, the numeric term and the node
//!   id together (its default ordering lets two candidates win one numeric term, the higher
//!   node id after the lower); no leader id is ever held by two servers, and every new
//!   leader's log holds every entry known to be committed (leader completeness).
//! - **Log matching**: two logs that hold an entry with the same log id hold the same bytes
//!   there and agree on every entry before it.
//! - **State-machine safety**: every server that applies index i applies the same entry, and
//!   the catalogs of two servers at the same applied index are byte-for-byte the same. The
//!   ledger of applied entries is also the record of what was committed: an entry once
//!   applied anywhere may never be replaced.
//! - **Monotonic indexes**: a server's applied index only rises (a snapshot install moves it
//!   forward, never back); votes and committed ids on a disk never go back, across crashes
//!   too.
//! - **The catalog's own rules** (`legate_catalog::invariants`) after every batch.
//! - **No acknowledged write lost** (at the end): every write a client saw acknowledged is in
//!   the ledger at its index, and every server has applied it.

use crate::disk::Disk;
use crate::world::Slot;
use legate_agent::server::raft::types::{LogId, Vote};
use legate_agent::server::raft::NodeId;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Default)]
pub struct Checker {
    pub violations: Vec<String>,
    /// Every applied entry: index → log id and payload digest.
    ledger: BTreeMap<u64, (LogId, u64)>,
    /// The catalog's digest after applying up to an index.
    states: BTreeMap<u64, u64>,
    /// Each running server's applied index.
    applied: BTreeMap<NodeId, u64>,
    /// Who held each leader id (term, node).
    leaders: BTreeMap<(u64, NodeId), NodeId>,
    /// Numeric terms that more than one server won (allowed by openraft's ordering).
    pub shared_terms: BTreeSet<u64>,
    winners: BTreeMap<u64, NodeId>,
    pub elections: u64,
    /// Raft cores that stopped on openraft's snapshot race and were started again.
    pub raft_restarts: u64,
    pub applied_entries: u64,
    pub installs: u64,
}

impl Checker {
    fn fail(&mut self, message: String) {
        // Enough to diagnose; a broken run would otherwise repeat itself thousands of times.
        if self.violations.len() < 20 {
            self.violations.push(message);
        }
    }

    pub fn ledger_entry(&self, index: u64) -> Option<(LogId, u64)> {
        self.ledger.get(&index).copied()
    }

    pub fn machine_opened(&mut self, id: NodeId, index: Option<u64>) {
        self.applied.insert(id, index.unwrap_or(0));
    }

    /// A batch applied by `id`: each entry with its payload digest, then the catalog's
    /// digest and broken rules after it.
    pub fn applied(
        &mut self,
        id: NodeId,
        entries: &[(LogId, u64)],
        state: u64,
        broken: Vec<String>,
    ) {
        for (log_id, payload) in entries {
            let index = log_id.index;
            let previous = self.applied.get(&id).copied().unwrap_or(0);
            if index <= previous && previous != 0 {
                self.fail(format!(
                    "server {id} applied index {index} after {previous}"
                ));
            }
            self.applied.insert(id, index);
            match self.ledger.get(&index) {
                Some(known) if *known != (*log_id, *payload) => {
                    let message = format!(
                        "state-machine safety: server {id} applied {log_id} at {index}, \
                         another server applied {}",
                        known.0
                    );
                    self.fail(message);
                }
                Some(_) => {}
                None => {
                    self.ledger.insert(index, (*log_id, *payload));
                }
            }
            self.applied_entries += 1;
        }
        if let Some((last, _)) = entries.last() {
            self.state_at(id, last.index, state);
        }
        for rule in broken {
            self.fail(format!("catalog rule broken on server {id}: {rule}"));
        }
    }

    /// A snapshot installed by `id`, ending at `index`.
    pub fn installed(&mut self, id: NodeId, index: u64, state: u64, broken: Vec<String>) {
        let previous = self.applied.get(&id).copied().unwrap_or(0);
        if index < previous {
            self.fail(format!(
                "server {id} installed a snapshot at {index} after applying {previous}"
            ));
        }
        self.applied.insert(id, index);
        self.installs += 1;
        self.state_at(id, index, state);
        for rule in broken {
            self.fail(format!("catalog rule broken on server {id}: {rule}"));
        }
    }

    fn state_at(&mut self, id: NodeId, index: u64, state: u64) {
        match self.states.get(&index) {
            Some(known) if *known != state => self.fail(format!(
                "state-machine safety: server {id}'s catalog at {index} differs from another's"
            )),
            Some(_) => {}
            None => {
                self.states.insert(index, state);
            }
        }
    }

    pub fn committed_saved(
        &mut self,
        id: NodeId,
        previous: Option<LogId>,
        committed: Option<LogId>,
    ) {
        if committed < previous {
            self.fail(format!(
                "server {id}'s committed id went back from {previous:?} to {committed:?}"
            ));
        }
    }

    /// Server `id` saved `vote` over `previous`; `disk` is its log then. A vote committed
    /// for itself is an election won: openraft saves it before the new leader appends
    /// anything, so its log must hold every entry known to be committed (a leadership
    /// resumed at a restart saves nothing, and its leader could no longer commit anyway).
    pub fn vote_saved(&mut self, id: NodeId, previous: Option<Vote>, vote: Vote, disk: &Disk) {
        if let Some(previous) = previous {
            // Votes are partially ordered: one that is neither greater nor equal went back.
            let forward = matches!(
                vote.partial_cmp(&previous),
                Some(std::cmp::Ordering::Greater | std::cmp::Ordering::Equal)
            );
            if !forward {
                self.fail(format!(
                    "server {id}'s vote went back from {previous} to {vote}"
                ));
            }
        }
        let won = vote.committed && vote.leader_id.voted_for() == Some(id);
        if won && previous != Some(vote) {
            self.elected(id, vote, disk);
        }
    }

    fn elected(&mut self, id: NodeId, vote: Vote, disk: &Disk) {
        let term = vote.leader_id.term;
        if let Some(holder) = self.leaders.insert(term_and(id, &vote), id) {
            self.fail(format!(
                "election safety: server {id} won leader id ({term}, {id}) that {holder} held"
            ));
        }
        self.elections += 1;
        match self.winners.get(&term) {
            Some(winner) if *winner != id => {
                self.shared_terms.insert(term);
            }
            _ => {
                self.winners.insert(term, id);
            }
        }
        // Entries below the purge point, or in the snapshot, are in the snapshot.
        let snapshot = disk
            .snapshot
            .as_ref()
            .and_then(|(meta, _)| meta.last_log_id);
        let purged = disk.purged.max(snapshot).map_or(0, |log_id| log_id.index);
        let missing: Vec<u64> = self
            .ledger
            .range(purged + 1..)
            .filter(|(index, (log_id, _))| {
                disk.log.get(index).map(|stored| stored.log_id) != Some(*log_id)
            })
            .map(|(index, _)| *index)
            .take(3)
            .collect();
        if !missing.is_empty() {
            let first = disk.log.keys().next();
            let last = disk.log.keys().next_back();
            self.fail(format!(
                "leader completeness: server {id} won term {term} without committed \
                 entries {missing:?} (its log holds {first:?}..={last:?}, purged to {purged})"
            ));
        }
    }

    /// Log matching between every pair of logs.
    pub fn log_matching(&mut self, slots: &BTreeMap<NodeId, Slot>) {
        let ids: Vec<NodeId> = slots.keys().copied().collect();
        for (n, a) in ids.iter().enumerate() {
            for b in &ids[n + 1..] {
                if let Some(broken) = mismatch(&slots[a].disk, &slots[b].disk) {
                    self.fail(format!("log matching between {a} and {b}: {broken}"));
                }
            }
        }
    }
}

fn term_and(id: NodeId, vote: &Vote) -> (u64, NodeId) {
    (
        vote.leader_id.term,
        vote.leader_id.voted_for().unwrap_or(id),
    )
}

/// Where two logs break log matching, if they do: walking down from the top, once an entry
/// matches, every lower entry both hold must match too, bytes included.
fn mismatch(a: &Disk, b: &Disk) -> Option<String> {
    let mut matched_at = None;
    for (index, mine) in a.log.iter().rev() {
        let Some(theirs) = b.log.get(index) else {
            continue;
        };
        let same = mine.log_id == theirs.log_id;
        if same && mine.bytes != theirs.bytes {
            return Some(format!("entry {} differs in its bytes", mine.log_id));
        }
        match (same, matched_at) {
            (true, None) => matched_at = Some(*index),
            (false, Some(above)) => {
                return Some(format!(
                    "they agree at {above} but not at {index} ({} and {})",
                    mine.log_id, theirs.log_id
                ))
            }
            _ => {}
        }
    }
    None
}
