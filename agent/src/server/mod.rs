//! Server mode: the Raft group that replicates the catalog, the leader's duties, and the
//! `Backend` the HTTP frontend reads and writes through.
//!
//! Layout:
//! - `raft`: openraft types, the sled log store, the state machine over the catalog, snapshots.
//! - `leader`: tasks that run only on the leader (reconcile the catalog with the servers,
//!   reap old KV tombstones).
//! - `proposer`: batches concurrent writes into one Raft entry.
//! - `write_path`: the one write path (proposer on the leader, forwarding elsewhere).
//! - `read_path`: the consistency modes, forwarding default and `consistent` reads.
//! - `operator`: the Raft peer set and autopilot as operators see and change them.
//! - `rpc`: the server port: Raft's messages, forwarded writes and reads.
//! - `backend`: `api::Backend` over Raft and the local store, with the consistency modes.
//! - `bootstrap`: when `-bootstrap-expect` servers form the Raft group (pure); `cluster`:
//!   the task that carries it out.
//! - `lookup`: `dns::Lookup` over the local store.
//! - `instance_cache`: service instances kept for DNS until the catalog changes.
//! - `local_catalog`: anti-entropy's view of the catalog (this node's records, writes via Raft).
pub mod backend;
pub mod bootstrap;
pub mod cluster;
pub mod coordinate_buffer;
pub mod disk_guard;
pub mod disk_health;
pub mod instance_cache;
pub mod leader;
pub mod local_catalog;
pub mod lookup;
pub mod operator;
pub mod proposer;
pub mod raft;
pub mod read_path;
pub mod rpc;
pub mod write_path;
