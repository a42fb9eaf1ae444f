//! Server RPC on the server port (8300): how servers replicate Raft and forward writes and
//! reads to the leader, and how client agents reach servers.
//!
//! HTTP/2 over TCP (hyper) carries one versioned, codec-encoded message per stream; each peer
//! gets one multiplexed, pooled connection, and every call has a deadline.
//!
//! Layout:
//! - `message`: the versioned request and response enums.
//! - `client`: the connection pool and `call`.
//! - `server`: the accept loop, limits and decoding.
//! - `dispatch`: a server's handler (Raft, forwarded writes and reads).

pub mod client;
pub mod dispatch;
#[cfg(test)]
mod fixtures;
pub mod message;
pub mod server;

pub use client::{RpcClient, RpcError};
pub use dispatch::ServerRpc;
pub use server::{serve, Handler, RpcLimits};
