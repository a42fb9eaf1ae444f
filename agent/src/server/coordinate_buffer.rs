//! The coordinate reports the leader holds until its next batch write (Consul's
//! `Coordinate.Update` endpoint and `batchUpdate` loop).
//!
//! Rules:
//! 1. The newest report of a node replaces the one held, so a chatty agent costs one slot.
//! 2. At most `BATCH_SIZE × MAX_BATCHES` nodes are held; a report from one more is refused
//!    with Consul's text, and the agent tries again at its next interval.
//! 3. A write takes everything held, in batches of `BATCH_SIZE`, one Raft entry each.

use legate_catalog::NodeCoordinate;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

/// Reports per Raft entry (Consul's `CoordinateUpdateBatchSize`).
pub const BATCH_SIZE: usize = 128;
/// Entries per write period (Consul's `CoordinateUpdateMaxBatches`).
pub const MAX_BATCHES: usize = 5;
/// Consul's answer when the buffer is full.
pub const RATE_LIMITED: &str =
    "Coordinate update rate limit exceeded, increase SyncCoordinateRateTarget";

/// Cheap to clone; clones share the reports.
#[derive(Clone, Default)]
pub struct CoordinateBuffer {
    held: Arc<Mutex<BTreeMap<(String, String), NodeCoordinate>>>,
}

impl CoordinateBuffer {
    /// Holds `update` for the next write (rules 1 and 2).
    pub fn push(&self, update: NodeCoordinate) -> Result<(), &'static str> {
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        let key = (update.node.as_str().to_owned(), update.segment.clone());
        if held.len() >= BATCH_SIZE * MAX_BATCHES && !held.contains_key(&key) {
            return Err(RATE_LIMITED);
        }
        held.insert(key, update);
        Ok(())
    }

    /// Everything held, in batches (rule 3).
    pub fn take(&self) -> Vec<Vec<NodeCoordinate>> {
        let held = std::mem::take(&mut *self.held.lock().unwrap_or_else(PoisonError::into_inner));
        let all: Vec<NodeCoordinate> = held.into_values().collect();
        all.chunks(BATCH_SIZE).map(<[_]>::to_vec).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use legate_catalog::Coord;

    fn report(node: &str, x: f64) -> NodeCoordinate {
        NodeCoordinate {
            node: node.into(),
            segment: String::new(),
            coord: Coord {
                vec: vec![x; 8],
                ..Coord::default()
            },
        }
    }

    #[test]
    fn keeps_the_newest_per_node_bounds_the_nodes_and_batches() {
        let buffer = CoordinateBuffer::default();
        buffer.push(report("a", 1.0)).unwrap();
        buffer.push(report("a", 2.0)).unwrap();
        let batches = buffer.take();
        assert_eq!(batches, vec![vec![report("a", 2.0)]]);
        assert!(buffer.take().is_empty());

        for n in 0..BATCH_SIZE * MAX_BATCHES {
            buffer.push(report(&format!("n{n:04}"), 0.0)).unwrap();
        }
        assert_eq!(buffer.push(report("one-more", 0.0)), Err(RATE_LIMITED));
        // A node already held may still update its report.
        buffer.push(report("n0000", 1.0)).unwrap();
        let batches = buffer.take();
        assert_eq!(batches.len(), MAX_BATCHES);
        assert!(batches.iter().all(|batch| batch.len() == BATCH_SIZE));
        assert_eq!(batches[0][0], report("n0000", 1.0));
    }
}
