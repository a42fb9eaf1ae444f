//! Cluster end-to-end tests: several real `legate` processes on loopback addresses, real
//! gossip, real Raft over server RPC, real sled files.
mod coordinates;
mod disk;
mod events;
mod failover;
mod federation;
mod growth;
mod harness;
mod identity;
mod locks;
mod membership;
mod netns;
mod operator;
mod partition;
mod session;
