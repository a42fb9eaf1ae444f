//! Raft on sled: the log that replicates the catalog, and the adapter that applies it.
//!
//! ```text
//!  RaftHandle::write(Command) ──▶ openraft ──append──▶ LogStore (sled, one fsync per batch)
//!                                    │ committed
//!                                    ▼
//!                              StateMachine ──apply_batch──▶ SharedStore ──▶ HTTP/DNS readers
//!                                    │ every `snapshot_threshold` entries
//!                                    ▼
//!                         snapshot-<term>-<index>.bin ; the log is purged below it,
//!                                                       keeping `trailing_logs`
//! ```
//!
//! On restart the newest snapshot is loaded into the `SharedStore` and openraft re-applies
//! the log tail up to the saved committed index. Peers are reached through server RPC (see
//! `network`).
//!
//! Layout:
//! - `types`: the openraft type configuration and aliases.
//! - `log_store`: the log, vote and committed id on sled, with the fsync rules.
//! - `purger`: the log store's thread that removes purged entries.
//! - `state_machine`: applying entries to the catalog; building and installing snapshots.
//! - `record`: the versioned durable forms of entries, votes, log ids and snapshot headers.
//! - `snapshot_file`: atomic snapshot files on disk.
//! - `network`: openraft's RPCs over server RPC.
//! - `saved_vote`: the vote last saved, which ends a deposed leader's replication streams.
//! - `handle`: `RaftHandle`, the API the agent uses.
//! - `metrics`: `RaftMetrics` and `Peer`.
//! - `transitions`: the `consul.raft.state.*` counters.
//! - `error`: start, write, read and wait errors.

mod durability;
mod error;
mod handle;
mod log_store;
mod metrics;
mod network;
mod purger;
pub mod record;
pub mod saved_vote;
pub mod snapshot_file;
mod snapshotter;
mod state_machine;
mod transitions;
pub mod types;

#[cfg(test)]
mod tests;

pub use error::{RaftStartError, ReadError, WaitError, WriteError};
pub use handle::RaftHandle;
pub use log_store::LogStore;
pub use metrics::{Peer, RaftMetrics};
pub use network::{Network, NetworkClient};
pub use state_machine::{answer_entries, SnapshotBuilder, StateMachine};
pub use types::{NodeId, Raft, TypeConfig};

use crate::durable_db::DurableDb;
use legate_catalog::SharedStore;
use openraft::{BasicNode, SnapshotPolicy};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// How to run this server's Raft node.
#[derive(Clone, Debug)]
pub struct RaftOptions {
    /// This server's Raft id; must stay the same for the life of `data_dir`.
    pub node_id: NodeId,
    /// The server RPC address peers use to reach this server, such as "127.0.0.1:8300".
    pub rpc_addr: String,
    /// The agent's data directory. The sled database lives in `data_dir/raft`, snapshot
    /// files in `data_dir/raft/snapshots`.
    pub data_dir: PathBuf,
    /// Form a new single-server cluster if this node has never been initialised (`-dev`,
    /// `-bootstrap`). Ignored once the log holds a membership.
    pub bootstrap: bool,
    pub heartbeat_interval: Duration,
    /// An election starts after a random timeout in [min, max) without a leader.
    pub election_timeout_min: Duration,
    pub election_timeout_max: Duration,
    /// Build a snapshot once this many entries were committed since the last one...
    pub snapshot_threshold: u64,
    /// ...checking this often (Consul's `raft_snapshot_interval`), so snapshot work is
    /// bounded in time as well as by log length.
    pub snapshot_interval: Duration,
    /// How many entries already in a snapshot to keep in the log, so that a follower a
    /// little behind catches up from the log rather than with a whole snapshot.
    pub trailing_logs: u64,
    /// The data directory's free-space guard: appends and snapshots wait while it says full.
    pub disk: Option<crate::server::disk_guard::DiskGuard>,
}

impl Default for RaftOptions {
    fn default() -> Self {
        RaftOptions {
            // Any non-zero id does for a lone server; the agent derives the real one from its
            // persisted node id.
            node_id: 1,
            // Consul's server RPC port on loopback, where `-dev` binds.
            rpc_addr: "127.0.0.1:8300".to_owned(),
            // Consul has no default data dir; the agent always sets one (a temporary one in
            // `-dev`). This relative path only serves examples and tests.
            data_dir: PathBuf::from("data"),
            // Joining is the safe default: bootstrapping by mistake makes a second cluster.
            bootstrap: false,
            // One server on loopback: heartbeats cost nothing, and a short interval keeps
            // leadership checks (`ensure_linearizable`) quick.
            heartbeat_interval: Duration::from_millis(100),
            // At least three heartbeats, so a delayed one or two do not start an election,
            // yet short enough that a restarted server elects itself within about half a
            // second (a fresh bootstrap elects at once).
            election_timeout_min: Duration::from_millis(300),
            election_timeout_max: Duration::from_millis(600),
            // Consul's `raft_snapshot_threshold`.
            snapshot_threshold: 16384,
            // Consul's `raft_snapshot_interval`.
            snapshot_interval: Duration::from_secs(30),
            // Consul's `raft_trailing_logs`.
            trailing_logs: 10240,
            disk: None,
        }
    }
}

impl RaftOptions {
    /// Timing for a cluster, scaled by Consul's `raft_multiplier` (1 to 10): a heartbeat every
    /// 100 ms × m, and an election timeout drawn from 250–500 ms × m. openraft adds its leader
    /// lease (the timeout's maximum) before a follower with a committed leader stands, so a
    /// follower waits 750–1000 ms × m of silence: at 1, about etcd's default of 1 s, and seven
    /// heartbeats may go missing (a stalled fsync, a busy core) before anyone stands. A leader
    /// that has heard from no quorum for the maximum (500 ms) stops serving (see
    /// `RaftHandle::leads_with_quorum`) before any follower can have been elected.
    pub fn with_multiplier(multiplier: u32) -> RaftOptions {
        let multiplier = multiplier.clamp(1, 10);
        RaftOptions {
            heartbeat_interval: Duration::from_millis(100) * multiplier,
            election_timeout_min: Duration::from_millis(250) * multiplier,
            election_timeout_max: Duration::from_millis(500) * multiplier,
            ..RaftOptions::default()
        }
    }

    fn openraft_config(&self) -> Result<openraft::Config, RaftStartError> {
        if self.snapshot_threshold == 0 {
            return Err(RaftStartError::Options(
                "snapshot_threshold must be at least 1".to_owned(),
            ));
        }
        let millis = |duration: Duration| duration.as_millis().try_into().unwrap_or(u64::MAX);
        let config = openraft::Config {
            cluster_name: "legate".to_owned(),
            heartbeat_interval: millis(self.heartbeat_interval),
            election_timeout_min: millis(self.election_timeout_min),
            election_timeout_max: millis(self.election_timeout_max),
            // The `snapshotter` task decides (threshold checked every interval).
            snapshot_policy: SnapshotPolicy::Never,
            max_in_snapshot_log_to_keep: self.trailing_logs,
            ..openraft::Config::default()
        };
        Ok(config.validate()?)
    }
}

/// sled's page cache. Its default (1 GiB) would let the Raft log alone grow the agent's
/// memory far past the catalog's: the log is written once, read back once by the state
/// machine right after it is written (and by replication, for followers a little behind), and
/// trimmed after each snapshot. So the cache only needs the recent tail: two in-flight
/// entries of the proposer's largest batch (1 MiB each) plus the trees' index nodes. Going
/// from 16 MiB to 4 MiB cut the agent's RSS after 100k puts by about 9 MiB with no change in
/// put latency or throughput (`bench/kv.py`).
const SLED_CACHE_BYTES: u64 = 4 * 1024 * 1024;

/// Opens the log and the newest snapshot under `options.data_dir`, starts the Raft node,
/// and bootstraps a single-server cluster when asked to and not yet initialised.
///
/// `shared` must be empty: Raft rebuilds it from the snapshot and the log, and is its only
/// writer from then on.
pub async fn start(
    options: RaftOptions,
    shared: Arc<SharedStore>,
    rpc: crate::server::rpc::RpcClient,
) -> Result<RaftHandle, RaftStartError> {
    let config = Arc::new(options.openraft_config()?);
    let last_index = shared.read().last_index();
    if last_index.0 != 0 {
        return Err(RaftStartError::StoreNotEmpty(last_index.0));
    }
    let raft_dir = options.data_dir.join("raft");
    let db = open_db(raft_dir.clone()).await?;
    let mut log_store = LogStore::open(&db)?.with_disk_guard(options.disk.clone());
    if let Some(term) = log_store.forget_leadership(options.node_id).await? {
        tracing::info!("raft: led term {term} before this start; standing for election again");
    }
    let commit_index = log_store.committed_index();
    let durability = log_store.durability();
    let state_machine = StateMachine::open(raft_dir.join("snapshots"), shared)
        .await?
        .with_durability(durability.clone());
    let network = Network::new(rpc, options.node_id, durability.clone())
        .with_saved_vote(log_store.saved_vote());
    let raft = Raft::new(options.node_id, config, network, log_store, state_machine).await?;
    tokio::spawn(durability::follow_voters(raft.clone(), durability.clone()));
    tokio::spawn(snapshotter::run(
        raft.clone(),
        options.snapshot_threshold,
        options.snapshot_interval,
        options.disk.clone(),
    ));
    tokio::spawn(transitions::count(raft.clone()));
    if options.bootstrap && !raft.is_initialized().await? {
        let members = BTreeMap::from([(options.node_id, BasicNode::new(&options.rpc_addr))]);
        if let Err(error) = raft.initialize(members).await {
            // Shut the task down rather than leave it running behind an error.
            let _ = raft.shutdown().await;
            return Err(RaftStartError::Bootstrap(error.to_string()));
        }
    }
    Ok(RaftHandle::new(
        raft,
        options.node_id,
        db,
        commit_index,
        options.election_timeout_max,
        durability,
    ))
}

/// Opens sled on a blocking thread: recovery reads the whole log and may take a while.
async fn open_db(path: PathBuf) -> Result<DurableDb, RaftStartError> {
    let opened = {
        let path = path.clone();
        tokio::task::spawn_blocking(move || {
            // We fsync exactly when the log store's rules say; see `log_store`.
            let config = sled::Config::new()
                .flush_every_ms(None)
                .cache_capacity(SLED_CACHE_BYTES);
            DurableDb::open(&path, config)
        })
        .await
    };
    match opened {
        Ok(Ok(db)) => Ok(db),
        Ok(Err(source)) => Err(RaftStartError::Database { path, source }),
        Err(join) => Err(RaftStartError::Database {
            path,
            source: sled::Error::Io(std::io::Error::other(join)),
        }),
    }
}
