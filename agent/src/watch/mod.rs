//! Watches: a view of the catalog, KV or events, re-read with blocking queries, and a
//! handler run each time it changes (Consul's `api/watch`, used by `legate watch` and by the
//! `watches` of agent config files).
//!
//! ```text
//!  spec (parameters → WatchQuery + Handler) ─▶ watcher: fetch ─▶ plan ─▶ fire? ─▶ handler
//!                                                  ▲                │
//!                                                  └── wait index ◀─┘
//! ```
//!
//! Layout:
//! - `spec`: watch parameters parsed into typed values, with Consul's texts.
//! - `plan`: the pure rules of when a handler runs and which index to block on next.
//! - `fetch`: one blocking query per watch type through the typed client, as handler JSON.
//! - `watcher`: `fetch` driven by `plan`.
//! - `handler`: running a script or HTTP handler with an answer.
//! - `configured`: the agent's own watches from its config files.

pub mod configured;
pub mod fetch;
pub mod handler;
pub mod plan;
pub mod spec;
pub mod watcher;
