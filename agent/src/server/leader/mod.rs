//! Work that runs only while this server is the Raft leader.
//!
//! Today that is reconciling the catalog with the cluster's servers (see `reconcile`): once
//! on every gain of leadership, and then every `RECONCILE_INTERVAL` as Consul's leader does,
//! so a registration lost or changed by hand is repaired. Session TTLs, tombstone GC and
//! autopilot join this loop with their issues.

pub mod autopilot;
pub mod reconcile;
pub mod tombstones;

use super::raft::RaftHandle;
use super::write_path::WritePath;
use legate_catalog::Command;
use legate_catalog::SharedStore;
use reconcile::ServerMember;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;
use tombstones::TombstoneGc;

/// Consul's leader runs a full reconcile every 60 s.
pub const RECONCILE_INTERVAL: Duration = Duration::from_secs(60);

/// Runs until `shutdown` flips to true.
pub async fn run(
    raft: RaftHandle,
    writes: WritePath,
    store: Arc<SharedStore>,
    members: Vec<ServerMember>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut leadership = raft.leadership_watch();
    let mut reconcile_tick = tokio::time::interval(RECONCILE_INTERVAL);
    let mut gc_tick = tokio::time::interval(tombstones::GRANULARITY);
    let mut gc = TombstoneGc::new(tombstones::TOMBSTONE_TTL);
    let started = Instant::now();
    loop {
        let mut reconcile_due = false;
        tokio::select! {
            changed = leadership.changed() => {
                if changed.is_err() { return }
                reconcile_due = true;
            }
            _ = reconcile_tick.tick() => reconcile_due = true,
            _ = gc_tick.tick() => {}
            _ = shutdown.changed() => return,
        }
        if *shutdown.borrow() {
            return;
        }
        if !*leadership.borrow_and_update() {
            gc.reset();
            continue;
        }
        let newest = store.read().newest_tombstone();
        if let Some(up_to) = gc.tick(started.elapsed(), newest) {
            if let Err(error) = writes.write(Command::ReapTombstones(up_to)).await {
                tracing::warn!("leader: tombstone reap failed: {error}");
            }
        }
        if !reconcile_due {
            continue;
        }
        let commands = reconcile::plan(&members, &store.read());
        for command in commands {
            match writes.write(command).await {
                Ok(Ok(_)) => tracing::info!("leader: registered this server in the catalog"),
                Ok(Err(refused)) => tracing::warn!("leader: reconcile refused: {refused}"),
                // Lost leadership meanwhile; the next leader reconciles.
                Err(error) => tracing::warn!("leader: reconcile write failed: {error}"),
            }
        }
    }
}
