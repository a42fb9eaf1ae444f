//! The anti-entropy driver: runs `plan` against the catalog when a local change asks for it,
//! and on a periodic full sync (Consul's `ae.StateSyncer`).
//!
//! The full-sync period scales with the cluster as Consul's does: 1 minute up to 128 nodes,
//! one more minute for each doubling beyond, plus a random stagger of up to one period so
//! that agents do not all sync at once. A failed sync is retried after a few seconds.
//! Requests arriving during a sync are served by the next one, so a burst of changes costs
//! at most two syncs.

use super::plan::Remote;
use legate_catalog::{Command, NodeName};
use rand::Rng;
use std::future::Future;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};

/// The catalog as anti-entropy sees it: this node's records, and a way to write.
pub trait Catalog: Send + Sync + 'static {
    /// What the catalog holds for `node`.
    fn remote(&self, node: &NodeName) -> impl Future<Output = Result<Remote, String>> + Send;
    /// Applies one command through Raft, returning once it is committed and applied.
    fn apply(&self, command: Command) -> impl Future<Output = Result<(), String>> + Send;
    /// How many nodes the catalog knows, to scale the full-sync period.
    fn cluster_size(&self) -> usize;
}

/// Consul's `scaleFactor`: 1 up to 128 nodes, then one more per doubling.
pub fn scale_factor(nodes: usize) -> u32 {
    const THRESHOLD: f64 = 128.0;
    let nodes = nodes as f64;
    if nodes <= THRESHOLD {
        1
    } else {
        ((nodes.log2() - THRESHOLD.log2()).ceil() as u32) + 1
    }
}

/// Asks the driver for a sync; a sender dropped unanswered means the driver stopped.
pub type SyncRequest = Option<oneshot::Sender<()>>;

/// A handle that asks for syncs.
#[derive(Clone)]
pub struct SyncHandle {
    requests: mpsc::Sender<SyncRequest>,
}

impl SyncHandle {
    pub fn new(capacity: usize) -> (SyncHandle, mpsc::Receiver<SyncRequest>) {
        let (requests, receiver) = mpsc::channel(capacity);
        (SyncHandle { requests }, receiver)
    }

    /// Asks for a sync and waits for it, at most `bound`.
    pub async fn sync_now(&self, bound: Duration) {
        let (done, waited) = oneshot::channel();
        if self.requests.send(Some(done)).await.is_err() {
            return;
        }
        if tokio::time::timeout(bound, waited).await.is_err() {
            tracing::warn!("anti-entropy: sync still running after {bound:?}; answering anyway");
        }
    }

    /// Asks for a sync without waiting; a full queue already holds a request.
    pub fn trigger(&self) {
        let _ = self.requests.try_send(None);
    }
}

/// Runs the driver until `stopped`. `sync_once` performs one sync and reports success.
pub async fn run<F, Fut>(
    mut requests: mpsc::Receiver<SyncRequest>,
    interval: Duration,
    cluster_size: impl Fn() -> usize + Send,
    mut sync_once: F,
    mut stopped: watch::Receiver<bool>,
) where
    F: FnMut() -> Fut + Send,
    Fut: Future<Output = bool> + Send,
{
    const RETRY: Duration = Duration::from_secs(3);
    let next_full = |size: usize| {
        let period = interval * scale_factor(size);
        let stagger = rand::thread_rng().gen_range(0..=period.as_millis() as u64);
        tokio::time::Instant::now() + period + Duration::from_millis(stagger)
    };
    // The first full sync runs at once, so a restarted agent repairs the catalog promptly.
    let mut full_at = tokio::time::Instant::now();
    loop {
        let mut waiters = Vec::new();
        tokio::select! {
            request = requests.recv() => match request {
                Some(request) => waiters.extend(request),
                None => return,
            },
            () = tokio::time::sleep_until(full_at) => {}
            _ = stopped.wait_for(|stop| *stop) => return,
        }
        // Serve every request queued so far with this one sync.
        while let Ok(request) = requests.try_recv() {
            waiters.extend(request);
        }
        let ok = sync_once().await;
        for waiter in waiters {
            let _ = waiter.send(());
        }
        full_at = if ok {
            next_full(cluster_size())
        } else {
            tokio::time::Instant::now() + RETRY
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_factor_follows_consul() {
        assert_eq!(scale_factor(1), 1);
        assert_eq!(scale_factor(128), 1);
        assert_eq!(scale_factor(129), 2);
        assert_eq!(scale_factor(256), 2);
        assert_eq!(scale_factor(257), 3);
        assert_eq!(scale_factor(1024), 4);
    }
}
