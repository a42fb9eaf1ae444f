//! The agent's metrics: a recorder for the `metrics` facade, the metrics it serves at
//! `/v1/agent/metrics`, and the slow-disk warning.
//!
//! Call sites record through the facade's macros (`metrics::histogram!("…").record(ms)`);
//! with no recorder installed (`telemetry.disable_metrics`) each is a no-op behind one atomic
//! load, so "metrics off" is the same build with the recorder left out. The recorder is the
//! process's global one, as go-metrics' is in Consul: agents started in one process (tests)
//! share it.
//!
//! What is recorded, in milliseconds for timings (Consul's names where Consul has the metric,
//! `legate.*` for Legate's own):
//! - `consul.raft.commitTime` (sample): on the leader, from handing an entry to Raft until it
//!   is committed and applied. Consul's stops at commit; openraft answers a write only once
//!   it is applied, so here it includes `consul.raft.fsm.apply`.
//! - `consul.raft.leader.dispatchLog` (sample): writing entries to the local log, fsync
//!   included. Recorded for every append, so a follower reports its own appends under this
//!   name too (Consul's follower-side name is `consul.raft.rpc.appendEntries.storeLogs`).
//! - `consul.raft.apply` (counter): writes handed to Raft, counting each command of a batched
//!   entry (`proposer`), so its rate is the write rate as in Consul.
//! - `consul.raft.fsm.apply` (sample): applying one batch of committed entries to the catalog.
//! - `consul.raft.state.leader`, `.candidate`, `.follower` (counters): entries into each state.
//! - `consul.raft.applied_index`, `consul.raft.last_index`, `legate.raft.commit_index`
//!   (gauges): read from Raft when metrics are served, so they cost nothing in between.
//! - `consul.raft.snapshot.persist` (sample) and `legate.raft.snapshot.size` (sample, bytes):
//!   building and writing a snapshot file.
//! - `consul.api.http` (sample, labels `method` and `path`): each HTTP request.
//! - `legate.raft.log.append` (sample): a whole log append (encode, write, fsync).
//! - `legate.raft.log.fsync` (sample): each fsync of the Raft database (appends, votes,
//!   truncations, purges).
//! - `legate.raft.fsync.slow` (gauge, 0 or 1) and `legate.raft.fsync.p99` (gauge, ms): the
//!   slow-disk check (`slow_disk`).
//!
//! Layout:
//! - `window`: the pure core: interval aggregates and windowed quantiles, time as an input.
//! - `recorder`: `Recorder`, the facade's recorder, and its snapshot.
//! - `slow_disk`: the windowed fsync p99 against half a heartbeat, and the warning.

pub mod recorder;
pub mod slow_disk;
pub mod window;

pub use recorder::Recorder;

use legate_api::telemetry::MetricsSnapshot;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

static INSTALLED: OnceLock<Arc<Recorder>> = OnceLock::new();

/// Installs the process's recorder, once; later calls return the same one.
pub fn install() -> Arc<Recorder> {
    INSTALLED
        .get_or_init(|| {
            let recorder = Arc::new(Recorder::new(recorder::now_ms()));
            // Fails only if another recorder was installed first (not done in this crate);
            // then this one stays empty, and the endpoint says so by showing nothing.
            if metrics::set_global_recorder(recorder.clone()).is_err() {
                tracing::warn!(
                    "metrics: another recorder is installed; /v1/agent/metrics shows nothing"
                );
            }
            recorder
        })
        .clone()
}

/// Every metric now: nothing when no recorder is installed (metrics off).
pub fn snapshot() -> MetricsSnapshot {
    match INSTALLED.get() {
        Some(recorder) => recorder.snapshot(recorder::now_ms()),
        None => MetricsSnapshot::empty(std::time::SystemTime::now()),
    }
}

/// `since.elapsed()` in milliseconds, the unit go-metrics records timings in.
pub fn millis_since(since: Instant) -> f64 {
    millis(since.elapsed())
}

pub fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// The Raft log store appended entries from `started` until now (with their fsync when it
/// is done in place; see `durability`).
pub fn log_appended(started: Instant) {
    let append = millis_since(started);
    metrics::histogram!("legate.raft.log.append").record(append);
    metrics::histogram!("consul.raft.leader.dispatchLog").record(append);
}

/// The Raft log was fsynced (appends, a vote, a truncation, a purge) from `started` until now.
pub fn log_fsynced(started: Instant) {
    metrics::histogram!("legate.raft.log.fsync").record(millis_since(started));
}

/// The leader's write of `commands` commands (one entry), handed to Raft at `dispatched`, is
/// committed and applied now.
pub fn raft_committed(dispatched: Instant, commands: usize) {
    metrics::histogram!("consul.raft.commitTime").record(millis_since(dispatched));
    metrics::counter!("consul.raft.apply").increment(commands as u64);
}

/// A snapshot of `bytes` bytes was built and written, from `started` until now.
pub fn snapshot_persisted(started: Instant, bytes: u64) {
    metrics::histogram!("consul.raft.snapshot.persist").record(millis_since(started));
    metrics::histogram!("legate.raft.snapshot.size").record(bytes as f64);
}
