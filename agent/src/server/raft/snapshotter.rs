//! When to snapshot: Consul's `raft_snapshot_interval` with its `raft_snapshot_threshold`.
//!
//! openraft can snapshot as soon as N entries have gone by, but under a heavy write load that
//! means serialising the whole catalog every fraction of a second, competing with the writes
//! for the same cores (seen as a 5x worse p99 at 27k writes/s). Consul's Raft instead checks
//! every `raft_snapshot_interval` (30 s) whether `raft_snapshot_threshold` entries have gone
//! by, which bounds snapshot work by time as well as by log length. This task does that.

use super::types::Raft;
use crate::server::disk_guard::DiskGuard;
use std::time::Duration;

/// Checks every `interval` and triggers a snapshot when at least `threshold` entries were
/// applied since the last one. Ends when Raft shuts down.
/// No snapshot is started while `disk` says the data directory is full: the room left is
/// for the log.
pub async fn run(raft: Raft, threshold: u64, interval: Duration, disk: Option<DiskGuard>) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        let due = {
            let metrics = raft.metrics();
            let metrics = metrics.borrow();
            let applied = metrics.last_applied.map_or(0, |log_id| log_id.index);
            let snapshot = metrics.snapshot.map_or(0, |log_id| log_id.index);
            applied.saturating_sub(snapshot) >= threshold
        };
        let disk_full = disk.as_ref().is_some_and(DiskGuard::is_full);
        if due && !disk_full && raft.trigger().snapshot().await.is_err() {
            return;
        }
        if raft.metrics().has_changed().is_err() {
            return;
        }
    }
}
