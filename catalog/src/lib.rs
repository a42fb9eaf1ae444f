//! legate-catalog: the replicated state machine behind Legate's servers.
//!
//! Every server holds one `Store` in memory. Committed Raft entries carry a `Command`; the
//! Raft state machine calls `Store::apply` for each, in log order, with the entry's index.
//! Reads run `query::run` against the store and answer with an index scoped to what they
//! read; blocking reads wait in `SharedStore::block_until` until a write touches what they
//! depend on. The crate is pure: no sockets, no Raft, no disk, no clock, no randomness, so
//! the same log always yields the same store.
//!
//! ```text
//!  Command ──apply──▶ Store ──take_touched──▶ watch registry ──wake──▶ blocked queries
//!                       ▲                                                  │
//!                       └──────────────── query::run ◀─────────────────────┘
//! ```
//!
//! Layout:
//! - `types`: newtypes (`NodeName`, `ServiceId`, `Index` ...) and stored records.
//! - `codec`: the durable encoding and the rules for versioning it.
//! - `command`: the versioned Raft log payload and its results.
//! - `store`: the tables and `apply` (`catalog` for nodes, services and checks; `kv` for keys
//!   and tombstones; `session` for sessions and locks; `txn` for transactions; `snapshot`
//!   for snapshot and restore).
//! - `query`: read functions with scoped indexes and watch sets.
//! - `watch`: topics, the waiter registry, `SharedStore` and `block_until`.
//! - `txn`: transaction operations and results (`/v1/txn`).
//! - `invariants`: the checker every test runs after every apply.

pub mod codec;
pub mod command;
pub mod invariants;
pub mod query;
pub mod store;
pub mod txn;
pub mod types;
pub mod watch;

pub use command::{Command, CommandResult, LogPayload, Outcome};
pub use query::{Query, QueryResult};
pub use store::Store;
pub use types::*;
pub use watch::{Answer, SharedStore};
