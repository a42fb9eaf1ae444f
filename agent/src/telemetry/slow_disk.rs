//! The slow-disk warning: fsync latency of the Raft log, watched before it costs the cluster
//! its leader.
//!
//! A follower acknowledges entries only once they are fsynced, so a slow fsync there delays
//! the acknowledgements the leader counts towards its quorum (and its lease); on a leader it
//! delays every commit's answer (`raft::durability`), and with a single voter openraft's core
//! itself, heartbeats included. Heartbeats go every 100 ms ×
//! `raft_multiplier` and followers stand for election after 250–500 ms (plus openraft's
//! lease) of silence, so an fsync that regularly takes a large part of a heartbeat interval is
//! a few bad seconds away from an election.
//!
//! Rules:
//! 1. The signal is the p99 of `legate.raft.log.fsync` over the last minute (`window::SLOTS`
//!    intervals): a tail that persists, not one stall.
//! 2. The threshold is half the heartbeat interval (50 ms at `raft_multiplier` 1). At that
//!    p99, one batch in a hundred spends half a heartbeat interval in fsync, and the rarer
//!    stalls beyond the p99 are the ones that reach the election timeout. A healthy SSD
//!    fsyncs in well under 5 ms, so the threshold leaves a wide margin against false alarms.
//! 3. A window with fewer than `MIN_SAMPLES` fsyncs is not judged: on an idle server one
//!    stall would be its own p99.
//! 4. Becoming slow logs a warning that names the data directory, the p99 and the threshold
//!    and says what to do; it repeats at most every `WARN_EVERY_MS` while the disk stays slow,
//!    and recovery is logged once. The gauge `legate.raft.fsync.slow` is 1 while slow, 0
//!    otherwise, and `legate.raft.fsync.p99` carries the p99 (ms) the judgement used.

use super::recorder::{self, Recorder};
use super::window::{INTERVAL_MS, SLOTS};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Rule 3.
pub const MIN_SAMPLES: u64 = 20;
/// Rule 4.
pub const WARN_EVERY_MS: u64 = 60_000;

/// Rule 2: the threshold for a heartbeat interval.
pub fn threshold(heartbeat_interval: Duration) -> Duration {
    heartbeat_interval / 2
}

/// What one look at the window found.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Verdict {
    /// Too few fsyncs to judge (rule 3).
    Unknown,
    Healthy {
        p99_ms: f64,
    },
    Slow {
        p99_ms: f64,
    },
}

/// Rules 1 to 3.
pub fn assess(p99_ms: Option<f64>, samples: u64, threshold: Duration) -> Verdict {
    match p99_ms {
        Some(p99_ms) if samples >= MIN_SAMPLES => {
            if p99_ms >= threshold.as_secs_f64() * 1000.0 {
                Verdict::Slow { p99_ms }
            } else {
                Verdict::Healthy { p99_ms }
            }
        }
        _ => Verdict::Unknown,
    }
}

/// What to log after a look.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Notice {
    Warn { p99_ms: f64 },
    Recovered { p99_ms: f64 },
}

/// Whether the disk is slow now, and when the last warning went out (rule 4).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SlowDisk {
    slow: bool,
    warned_at_ms: Option<u64>,
}

impl SlowDisk {
    pub fn is_slow(&self) -> bool {
        self.slow
    }

    /// Takes in a verdict made at `now_ms` and says what to log, if anything. An `Unknown`
    /// verdict keeps the current state: an idle minute does not clear a slow disk.
    pub fn observe(&mut self, verdict: Verdict, now_ms: u64) -> Option<Notice> {
        match verdict {
            Verdict::Unknown => None,
            Verdict::Slow { p99_ms } => {
                let due = self
                    .warned_at_ms
                    .is_none_or(|at| !self.slow || now_ms.saturating_sub(at) >= WARN_EVERY_MS);
                self.slow = true;
                if due {
                    self.warned_at_ms = Some(now_ms);
                    Some(Notice::Warn { p99_ms })
                } else {
                    None
                }
            }
            Verdict::Healthy { p99_ms } => {
                let was_slow = std::mem::replace(&mut self.slow, false);
                was_slow.then_some(Notice::Recovered { p99_ms })
            }
        }
    }
}

/// Rule 1's signal at `now_ms`: the fsync p99 over the window (ms) and how many fsyncs it
/// saw.
pub fn fsync_p99(recorder: &Recorder, now_ms: u64) -> (Option<f64>, u64) {
    recorder
        .window_quantile("legate.raft.log.fsync", 0.99, now_ms, SLOTS)
        .unwrap_or((None, 0))
}

/// The warning of rule 4.
pub fn warning_text(data_dir: &Path, p99_ms: f64, threshold: Duration) -> String {
    format!(
        "slow disk: Raft log fsync p99 over the last minute is {p99_ms:.1} ms on {}, at or \
         above {:.0} ms (half the Raft heartbeat interval). Heartbeats and acknowledgements wait \
         for fsync, so a disk this slow risks missed heartbeats and leader elections. Move the \
         data directory to a faster disk that no other busy workload shares (a local SSD), or \
         raise performance.raft_multiplier to give Raft more time.",
        data_dir.display(),
        threshold.as_secs_f64() * 1000.0,
    )
}

/// Looks at the fsync window every interval until `stopped` turns true, logging and setting
/// the gauges of rule 4, and publishing whether the disk is slow in `slow` (the leader
/// steps down on it).
pub async fn watch(
    recorder: Arc<Recorder>,
    data_dir: PathBuf,
    threshold: Duration,
    slow: watch::Sender<bool>,
    mut stopped: watch::Receiver<bool>,
) {
    let mut state = SlowDisk::default();
    let mut tick = tokio::time::interval(Duration::from_millis(INTERVAL_MS));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    metrics::gauge!("legate.raft.fsync.slow").set(0.0);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stopped.wait_for(|stop| *stop) => return,
        }
        let now = recorder::now_ms();
        let (p99_ms, samples) = fsync_p99(&recorder, now);
        if let Some(p99_ms) = p99_ms {
            metrics::gauge!("legate.raft.fsync.p99").set(p99_ms);
        }
        match state.observe(assess(p99_ms, samples, threshold), now) {
            Some(Notice::Warn { p99_ms }) => {
                tracing::warn!("{}", warning_text(&data_dir, p99_ms, threshold));
            }
            Some(Notice::Recovered { p99_ms }) => tracing::info!(
                "slow disk: Raft log fsync p99 on {} is back to {p99_ms:.1} ms, below {:.0} ms",
                data_dir.display(),
                threshold.as_secs_f64() * 1000.0
            ),
            None => {}
        }
        metrics::gauge!("legate.raft.fsync.slow").set(if state.is_slow() { 1.0 } else { 0.0 });
        slow.send_if_modified(|current| std::mem::replace(current, state.is_slow()) != *current);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const THRESHOLD: Duration = Duration::from_millis(50);

    #[test]
    fn threshold_is_half_a_heartbeat() {
        assert_eq!(threshold(Duration::from_millis(100)), THRESHOLD);
        assert_eq!(
            threshold(Duration::from_millis(500)),
            Duration::from_millis(250)
        );
    }

    #[test]
    fn judges_only_a_full_enough_window() {
        assert_eq!(assess(None, 0, THRESHOLD), Verdict::Unknown);
        assert_eq!(
            assess(Some(400.0), MIN_SAMPLES - 1, THRESHOLD),
            Verdict::Unknown
        );
        assert_eq!(
            assess(Some(0.3), MIN_SAMPLES, THRESHOLD),
            Verdict::Healthy { p99_ms: 0.3 }
        );
        assert_eq!(
            assess(Some(50.0), 1000, THRESHOLD),
            Verdict::Slow { p99_ms: 50.0 }
        );
    }

    #[test]
    fn warns_on_onset_then_at_most_every_minute_and_reports_recovery() {
        let mut disk = SlowDisk::default();
        let slow = Verdict::Slow { p99_ms: 120.0 };
        let healthy = Verdict::Healthy { p99_ms: 0.4 };
        assert_eq!(disk.observe(healthy, 0), None);
        assert_eq!(
            disk.observe(slow, 10_000),
            Some(Notice::Warn { p99_ms: 120.0 })
        );
        assert!(disk.is_slow());
        assert_eq!(disk.observe(slow, 20_000), None);
        // An idle window neither clears nor repeats.
        assert_eq!(disk.observe(Verdict::Unknown, 30_000), None);
        assert!(disk.is_slow());
        assert_eq!(
            disk.observe(slow, 10_000 + WARN_EVERY_MS),
            Some(Notice::Warn { p99_ms: 120.0 })
        );
        assert_eq!(
            disk.observe(healthy, 80_000),
            Some(Notice::Recovered { p99_ms: 0.4 })
        );
        assert!(!disk.is_slow());
        // Slow again soon after recovering: a new onset, warned at once.
        assert_eq!(
            disk.observe(slow, 90_000),
            Some(Notice::Warn { p99_ms: 120.0 })
        );
    }

    #[test]
    fn warning_names_the_disk_the_numbers_and_the_remedy() {
        let text = warning_text(Path::new("/var/lib/legate"), 72.31, THRESHOLD);
        assert!(text.contains("/var/lib/legate"), "{text}");
        assert!(text.contains("72.3 ms"), "{text}");
        assert!(text.contains("50 ms"), "{text}");
        assert!(text.contains("raft_multiplier"), "{text}");
    }
}
