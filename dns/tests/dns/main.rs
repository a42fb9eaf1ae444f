//! Integration tests of legate-dns: golden name parsing and golden answers against a fake
//! `Lookup`, a served instance on loopback (UDP and TCP), malformed-packet fuzzing and
//! recursion to a tiny local DNS server.

mod answers;
mod fuzz;
mod harness;
mod names;
mod recursion;
mod serve;
