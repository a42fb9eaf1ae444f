//! legate-agent: the composition root and the `legate` binary.
pub mod server;
