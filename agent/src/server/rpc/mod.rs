//! Server RPC on the server port (8300): how servers replicate Raft and forward writes and
//! reads to the leader, and how client agents reach servers.
//!
//! Each call carries one versioned, codec-encoded message each way; each peer gets one
//! multiplexed, pooled connection, and every call has a deadline. Connections speak a lean
//! framing of their own (`frame`), or HTTP/2 (hyper) with a server or caller of an earlier
//! release.
//!
//! Layout:
//! - `message`: the versioned request and response enums.
//! - `frame`: the framed transport's bytes: hello, answer, frame headers, chunking.
//! - `link`: one framed connection, calling side.
//! - `responder`: one framed connection, serving side.
//! - `client`: the connection pool and `call`, falling back to HTTP/2.
//! - `server`: the accept loop, limits, the protocol a connection speaks, and HTTP/2.
//! - `dispatch`: a server's handler (Raft, forwarded writes and reads).

pub mod client;
pub mod dispatch;
#[cfg(test)]
mod fixtures;
pub mod frame;
mod link;
pub mod message;
mod responder;
pub mod server;
#[cfg(test)]
mod tests;

pub use client::{RpcClient, RpcError};
pub use dispatch::ServerRpc;
pub use server::{serve, Handler, RpcLimits};
