//! Group commit: one fsync for all the appends that arrived while the previous one ran.
//!
//! openraft's core hands the log store one `append` per batch of entries and waits for
//! `append` to return before it goes on. If `append` awaited its own fsync, every append would
//! pay a whole fsync in series. So `append` only writes its entries into sled's page cache and
//! passes its completion callback here; this thread takes every callback waiting, fsyncs once,
//! and reports all of them flushed.
//!
//! It is a plain OS thread calling sled's blocking `flush`, not a tokio task awaiting
//! `flush_async`: that would hop to sled's I/O pool and back for every fsync, and on this
//! class of machine each thread hand-off costs more CPU than the write itself.
//!
//! Safety: a callback reaches this thread only after its entries were written to sled, and
//! the fsync starts only after the callback was received, so the fsync covers them. A failed
//! fsync is reported to every waiting callback (openraft then stops: the log can no longer be
//! trusted).

use super::types::TypeConfig;
use openraft::storage::LogFlushed;
use std::io;
use tokio::sync::mpsc;

/// Appends that may wait for the flusher before `append` itself waits (backpressure).
const QUEUE: usize = 4096;

#[derive(Clone)]
pub struct Flusher {
    waiting: mpsc::Sender<LogFlushed<TypeConfig>>,
}

impl Flusher {
    /// Starts the flusher thread for `db`; it ends, releasing `db`, when the last `Flusher`
    /// clone is dropped.
    pub fn start(db: sled::Db) -> io::Result<Flusher> {
        let (waiting, queue) = mpsc::channel(QUEUE);
        std::thread::Builder::new()
            .name("raft-log-flush".to_owned())
            .spawn(move || run(db, queue))?;
        Ok(Flusher { waiting })
    }

    /// Reports `callback` flushed once an fsync that started after this call completes. An
    /// error means the flusher is gone (shutting down): the append fails and nothing is
    /// reported flushed.
    pub async fn submit(&self, callback: LogFlushed<TypeConfig>) -> io::Result<()> {
        self.waiting
            .send(callback)
            .await
            .map_err(|_| io::Error::other("log flusher stopped"))
    }
}

fn run(db: sled::Db, mut queue: mpsc::Receiver<LogFlushed<TypeConfig>>) {
    let mut batch = Vec::new();
    while let Some(first) = queue.blocking_recv() {
        batch.push(first);
        while batch.len() < QUEUE {
            match queue.try_recv() {
                Ok(more) => batch.push(more),
                Err(_) => break,
            }
        }
        let result = db.flush();
        for callback in batch.drain(..) {
            let reported = match &result {
                Ok(_) => Ok(()),
                Err(error) => Err(io::Error::other(error.to_string())),
            };
            callback.log_io_completed(reported);
        }
    }
}
