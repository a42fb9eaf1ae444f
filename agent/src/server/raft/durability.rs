//! What of the Raft log is on disk, and the thread that puts it there.
//!
//! openraft 0.9's core waits for an append to be reported flushed before it sends the new
//! entries to the followers, so a leader that fsyncs inside `append` pays two fsyncs in a row
//! per write: its own, then the followers'. In a cluster the log store instead reports an
//! append as soon as it is written to sled's memory, and this module's flusher thread makes it
//! durable while the entries travel; the leader's fsync and the followers' overlap (the
//! parallel leader write of the Raft thesis, §10.2.1). Measured on 3 servers: one write's
//! commit time went from two fsyncs plus a round trip to about one of each.
//!
//! openraft then counts the leader towards the quorum before its copy is durable, so three
//! gates keep "acknowledged only once fsynced on a quorum" true, and keep every server from
//! acting on an entry that a quorum does not hold durably:
//! 1. The state machine applies nothing until this server's log is durable up to it, so no
//!    client is answered and no read sees a write before the leader's copy is on disk, in
//!    addition to the followers' copies openraft counted.
//! 2. A follower answers an AppendEntries only once the entries it accepted are durable (the
//!    RPC handler waits here), so the acks openraft counts are durable ones.
//! 3. The commit index a leader sends is capped at what its own disk holds (`network`), so a
//!    follower never applies an entry that only the leader's memory and one disk hold.
//!
//! A fourth rule covers what the overlap breaks in openraft's restart: a leader's disk may
//! lack a tail its followers hold, so a restarted leader must not resume its term
//! (`log_store`, rule 5).
//!
//! With a single voter there is nothing to overlap, and `append` fsyncs in place as before;
//! the gates hold in both modes, so a change of mode at any moment is safe.
//!
//! Positions are counted in writes (`seq`), not log indexes: a truncation rewrites indexes,
//! and a flush that started before it must not vouch for entries written after it.

use crate::durable_db::DurableDb;
use crate::telemetry;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Instant;
use tokio::sync::watch;

/// A point in the log's history of writes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Position {
    /// Writes to the log so far (appends and truncations).
    pub seq: u64,
    /// The log's last index right after write `seq`.
    pub last_index: u64,
}

#[derive(Clone, Debug, Default)]
struct Durable {
    position: Position,
    /// Set once a flush fails: from then on nothing of the log can be vouched for.
    failed: Option<String>,
}

struct Inner {
    written: Mutex<Position>,
    /// Wakes the flusher when `written` moves or on stop.
    wake: Condvar,
    stop: AtomicBool,
    /// The `seq` of the latest truncation (see `sync`).
    truncated_at: AtomicU64,
    durable: watch::Sender<Durable>,
    /// Whether appends leave their fsync to the flusher (several voters) or do it in place.
    parallel: AtomicBool,
    db: DurableDb,
}

/// Shared by the log store, the state machine, the network and the RPC handler. Cheap to
/// clone; the flusher thread stops when the last clone goes.
#[derive(Clone)]
pub struct Durability {
    inner: Arc<Inner>,
    _owner: Arc<Owner>,
}

impl std::fmt::Debug for Durability {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Durability")
            .field("written", &self.written())
            .field("durable", &self.inner.durable.borrow().position)
            .finish()
    }
}

/// Stops and joins the flusher when dropped, so the database (and sled's file lock) is
/// released by the time the last handle is gone.
struct Owner {
    inner: Arc<Inner>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Owner {
    fn drop(&mut self) {
        self.inner.stop.store(true, Ordering::Relaxed);
        self.inner.wake.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Durability {
    /// Starts tracking a log whose last index is `last_index`, first making all of it
    /// durable: after a `kill -9` the file may hold entries that only reached the page cache,
    /// and this server must not vouch for them as on disk until they are.
    pub fn open(db: DurableDb, last_index: u64) -> io::Result<Durability> {
        db.sync()?;
        let start = Position { seq: 0, last_index };
        let (durable, _) = watch::channel(Durable {
            position: start,
            failed: None,
        });
        let inner = Arc::new(Inner {
            written: Mutex::new(start),
            wake: Condvar::new(),
            stop: AtomicBool::new(false),
            truncated_at: AtomicU64::new(0),
            durable,
            parallel: AtomicBool::new(false),
            db,
        });
        let flusher = inner.clone();
        let thread = std::thread::Builder::new()
            .name("raft-log-flush".to_owned())
            .spawn(move || flush_loop(&flusher))?;
        Ok(Durability {
            _owner: Arc::new(Owner {
                inner: inner.clone(),
                thread: Some(thread),
            }),
            inner,
        })
    }

    /// Whether appends are reported before their fsync; see the module doc.
    pub fn parallel(&self) -> bool {
        self.inner.parallel.load(Ordering::Relaxed)
    }

    pub fn set_parallel(&self, parallel: bool) {
        self.inner.parallel.store(parallel, Ordering::Relaxed);
    }

    /// Records an append that left the log ending at `last_index`, and wakes the flusher if
    /// `flush_soon`.
    pub fn note_written(&self, last_index: u64, flush_soon: bool) {
        self.advance(last_index);
        if flush_soon {
            self.inner.wake.notify_one();
        }
    }

    /// Records a truncation that will leave the log ending at `last_index`, before it is
    /// made; the caller flushes it before going on. A flush that captured the log before this
    /// call and finishes after it no longer publishes.
    pub fn note_truncated(&self, last_index: u64) {
        let seq = self.advance(last_index);
        self.inner.truncated_at.fetch_max(seq, Ordering::AcqRel);
    }

    fn advance(&self, last_index: u64) -> u64 {
        let mut written = self
            .inner
            .written
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        written.seq += 1;
        written.last_index = last_index;
        written.seq
    }

    /// The newest write so far.
    pub fn written(&self) -> Position {
        *self
            .inner
            .written
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Flushes everything written so far, on this thread. Blocking.
    pub fn sync_now(&self) -> io::Result<()> {
        sync(&self.inner)
    }

    /// The last index the log holds durably, or an error once a flush has failed.
    pub fn durable_index(&self) -> io::Result<u64> {
        let durable = self.inner.durable.borrow();
        match &durable.failed {
            Some(reason) => Err(io::Error::other(reason.clone())),
            None => Ok(durable.position.last_index),
        }
    }

    /// Waits until the log is durable up to `index`. Fails if a flush failed first.
    ///
    /// An index is enough, although truncation rewrites indexes: a truncation is flushed
    /// before it returns, and a flush that captured the log before it never publishes
    /// (`sync`), so the durable position always describes the log as it is now.
    /// Waiting for no more than the entries in question matters under load: waiting for
    /// everything written would also wait for the entries that arrived meanwhile.
    pub async fn wait_index(&self, index: u64) -> io::Result<()> {
        let mut durable = self.inner.durable.subscribe();
        let reached = durable
            .wait_for(|durable| durable.failed.is_some() || durable.position.last_index >= index)
            .await
            .map_err(io::Error::other)?;
        match &reached.failed {
            Some(reason) => Err(io::Error::other(reason.clone())),
            None => Ok(()),
        }
    }
}

/// Flushes everything written before the call and publishes it as durable.
fn sync(inner: &Inner) -> io::Result<()> {
    let target = *inner.written.lock().unwrap_or_else(PoisonError::into_inner);
    let started = Instant::now();
    let synced = inner.db.sync();
    telemetry::log_fsynced(started);
    match synced {
        Ok(()) => {
            // A truncation after `target` was captured has rewritten indexes it names; the
            // truncation's own flush publishes the log as it is now.
            let current = target.seq >= inner.truncated_at.load(Ordering::Acquire);
            inner.durable.send_if_modified(|durable| {
                // Two flushes may finish out of order (the flusher and an in-place one).
                let newer = current && target.seq > durable.position.seq;
                if newer {
                    durable.position = target;
                }
                newer
            });
            Ok(())
        }
        Err(error) => {
            let reason = format!("fsync of the raft log failed: {error}");
            inner
                .durable
                .send_modify(|durable| durable.failed = Some(reason));
            Err(error)
        }
    }
}

fn flush_loop(inner: &Inner) {
    loop {
        let pending = {
            let mut written = inner.written.lock().unwrap_or_else(PoisonError::into_inner);
            loop {
                let pending = written.seq > inner.durable.borrow().position.seq;
                if pending || inner.stop.load(Ordering::Relaxed) {
                    break pending;
                }
                written = inner
                    .wake
                    .wait(written)
                    .unwrap_or_else(PoisonError::into_inner);
            }
        };
        if pending && sync(inner).is_err() {
            // Reported to every waiter through `failed`; nothing later can be vouched for.
            return;
        }
        if inner.stop.load(Ordering::Relaxed) {
            return;
        }
    }
}

/// Keeps `durability` in parallel mode exactly while the group has more than one voter.
/// Either mode is safe at any moment (see the module doc); this only picks the faster one.
pub async fn follow_voters(raft: super::types::Raft, durability: Durability) {
    let mut metrics = raft.metrics();
    loop {
        let several = metrics
            .borrow_and_update()
            .membership_config
            .membership()
            .voter_ids()
            .nth(1)
            .is_some();
        durability.set_parallel(several);
        if metrics.changed().await.is_err() {
            return;
        }
    }
}
