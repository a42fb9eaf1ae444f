//! The catalog's test suite: one binary, a shared harness, one module per table.
mod catalog;
mod coordinates;
mod fixtures;
mod golden;
mod harness;
mod kv;
mod session;
mod snapshot;
mod txn;
mod watch;
