//! The leader's coordinate writes: every `coordinate_update_period`, what agents reported
//! (`CoordinateBuffer`) goes into the catalog, one Raft entry per batch. Coordinates are
//! soft state: a batch that fails is dropped, and its agents report again soon.

use crate::server::coordinate_buffer::CoordinateBuffer;
use crate::server::raft::RaftHandle;
use crate::server::write_path::WritePath;
use legate_catalog::Command;
use std::time::Duration;
use tokio::sync::watch;

pub async fn run(
    raft: RaftHandle,
    writes: WritePath,
    buffer: CoordinateBuffer,
    period: Duration,
    mut stopped: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(period) => {}
            _ = stopped.changed() => return,
        }
        if !raft.metrics().is_leader() {
            // Reports only ever reach the leader; a former leader's are stale.
            buffer.take();
            continue;
        }
        for batch in buffer.take() {
            let count = batch.len();
            match writes.write(Command::CoordinateBatch(batch)).await {
                Ok(_) => metrics::counter!("legate.coordinate.updates").increment(count as u64),
                Err(error) => {
                    tracing::debug!("coordinates: dropped a batch of {count}: {error}");
                }
            }
        }
    }
}
