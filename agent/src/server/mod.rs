//! Server mode: the Raft group that replicates the catalog.
pub mod raft;
