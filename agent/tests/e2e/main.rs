//! End-to-end tests: real `legate` processes on loopback, real sled files, real HTTP.
mod bad_input;
mod blocking;
mod catalog;
mod cli;
mod disk;
mod dns;
mod durability;
mod harness;
mod kv;
mod local;
mod metrics;
mod session;
mod watch;
