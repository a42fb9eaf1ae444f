//! Removes purged log entries in the background.
//!
//! openraft purges the log below each snapshot (keeping `trailing_logs`) and waits for
//! `purge` to return before it appends again. Removing the tens of thousands of entries that a
//! busy 30 s snapshot interval leaves took sled over a second (measured: 1.2 s at 36k
//! writes/s), during which every write stalled. So `purge` only records and fsyncs the purge
//! point, which is what makes the purge real: readers never see entries at or below it, and
//! `get_log_state` reports it. The entries themselves are removed here, off openraft's path.
//!
//! Safety: entries are removed one at a time in ascending order. sled recovers a prefix of
//! its own log after a crash, so whatever it kept is a contiguous run ending at the log's
//! tail: no hole can appear. Leftovers below the purge point after a crash are harmless
//! (readers skip them) and are removed when the store reopens. Removals need no fsync of their
//! own for the same reason; the next append's flush carries them.

use super::log_store::{index_key, key_index};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, SyncSender, TrySendError};
use std::sync::Arc;

#[derive(Clone)]
pub struct Purger {
    /// The highest index to remove, up to which the purge point has been fsynced.
    target: Arc<AtomicU64>,
    /// Wakes the thread. One pending wake-up is enough: the thread reads `target` afresh.
    doorbell: SyncSender<()>,
}

impl Purger {
    /// Starts the removal thread for `logs`; it ends when the last `Purger` clone is dropped.
    pub fn start(logs: sled::Tree) -> std::io::Result<Purger> {
        let (doorbell, rings) = mpsc::sync_channel(1);
        let target = Arc::new(AtomicU64::new(0));
        let shared = target.clone();
        std::thread::Builder::new()
            .name("raft-log-purge".to_owned())
            .spawn(move || {
                while rings.recv().is_ok() {
                    remove_up_to(&logs, shared.load(Ordering::Acquire));
                }
            })?;
        Ok(Purger { target, doorbell })
    }

    /// Asks for every entry at or below `index` to be removed. Call only once the purge
    /// point covering `index` is durable.
    pub fn remove_up_to(&self, index: u64) {
        self.target.fetch_max(index, Ordering::AcqRel);
        match self.doorbell.try_send(()) {
            // Full: a wake-up is already pending and will read the new target.
            Ok(()) | Err(TrySendError::Full(())) => {}
            // The thread is gone only if it panicked; the entries stay, unreadable.
            Err(TrySendError::Disconnected(())) => {
                tracing::error!("the raft log purge thread stopped; purged entries stay on disk")
            }
        }
    }
}

/// Removes entries from the start of `logs` up to `index`, lowest first. Log keys are
/// consecutive indexes, so only the first and last are read; reading each doomed entry back
/// would pull it into sled's cache. The last bounds the work when a snapshot install purges
/// far past the end of a short log. A failure is logged and left for the next purge: the
/// entries are below the purge point and never read.
fn remove_up_to(logs: &sled::Tree, index: u64) {
    let stored = logs.first().and_then(|first| Ok((first, logs.last()?)));
    let (first, last) = match stored {
        Ok((Some((first, _)), Some((last, _)))) => (key_index(&first), key_index(&last)),
        Ok(_) => return,
        Err(error) => {
            tracing::warn!(%error, "reading the raft log to purge it failed");
            return;
        }
    };
    for doomed in first..=index.min(last) {
        if let Err(error) = logs.remove(index_key(doomed)) {
            tracing::warn!(%error, "removing a purged raft log entry failed");
            return;
        }
    }
}
