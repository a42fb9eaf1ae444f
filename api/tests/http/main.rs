//! The HTTP API against `FakeBackend`: every route's shape, Consul's status codes and
//! texts, headers, request decoding, blocking, and `serve` with the typed client.

mod agent;
mod blocking;
mod catalog;
mod client_ops;
mod connect;
mod coordinate;
mod errors;
mod events;
mod filter;
mod harness;
mod health;
mod kv;
mod membership;
mod metrics;
mod openapi;
mod operator_autopilot;
mod operator_keyring;
mod operator_raft;
mod query;
mod server;
mod session;
mod shapes;
mod txn;
