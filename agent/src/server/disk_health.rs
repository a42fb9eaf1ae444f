//! What this server tells the leader's autopilot about its Raft log disk: the slow-disk
//! watch's verdict and the fsync p99 it judged (see `telemetry::slow_disk`).

use crate::server::rpc::message::DiskHealthAnswer;
use crate::telemetry::recorder::{self, Recorder};
use crate::telemetry::slow_disk;
use std::sync::Arc;
use tokio::sync::watch;

#[derive(Clone)]
pub struct DiskHealthSource {
    slow: watch::Receiver<bool>,
    /// `None` with metrics off: then the verdict is never slow and the p99 unknown.
    recorder: Option<Arc<Recorder>>,
}

impl DiskHealthSource {
    pub fn new(slow: watch::Receiver<bool>, recorder: Option<Arc<Recorder>>) -> Self {
        DiskHealthSource { slow, recorder }
    }

    pub fn answer(&self) -> DiskHealthAnswer {
        let p99_ms = self
            .recorder
            .as_ref()
            .and_then(|recorder| slow_disk::fsync_p99(recorder, recorder::now_ms()).0);
        DiskHealthAnswer {
            slow: *self.slow.borrow(),
            // Whole microseconds: the wire format holds no floats.
            fsync_p99_us: p99_ms.map(|ms| (ms * 1000.0).round() as u64),
        }
    }
}
