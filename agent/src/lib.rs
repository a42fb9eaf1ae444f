//! legate-agent: the composition root and the `legate` binary.
//!
//! Layout:
//! - `config`: flags (Consul's spelling), JSON config files, defaults, resolution.
//! - `listeners`: the sockets an agent serves on, bound before `run`.
//! - `run`: `run(config, listeners, cancel)` wires store, Raft, RPC, leader loop, HTTP and
//!   DNS, and stops them.
//! - `server`: Raft on sled, the leader's duties, server RPC, and the server `Backend`.
//! - `client_mode`: a client agent's `Backend` and `Lookup`, forwarding to servers.
//! - `cli`: client verbs (`kv`, `catalog`, `members`, `version`) over the HTTP API.
//! - `local`: the host agent's own services and checks; `local::check` runs the checks.
//! - `keyring_query`: keyring operations fanned out to every member over gossip.
//! - `membership`: LAN gossip (the `gossip` crate) as the agent uses it.
//! - `federation`: the WAN pool of every datacenter's servers, and `?dc=` calls to them.
//! - `forward`: one hop of a forwarded call, and what its answers mean.
//! - `gossip_pool`: starting a gossip pool (LAN or WAN) the agent's way.
//! - `node_id`: the node's persistent UUID.
//! - `operator_calls`: membership, keyring, Raft and autopilot calls shared by both modes.
//! - `user_events`: `/v1/event/fire` over this agent's gossip, and the events it keeps.
//! - `watch`: watches (`legate watch`, and `watches` in config files).
//! - `durable_db`: a sled database whose flush is an fsync.
//! - `telemetry`: the metrics recorder behind `/v1/agent/metrics`, and the slow-disk warning.
pub mod cli;
pub mod client_mode;
pub mod config;
pub mod coordinate_sync;
pub mod durable_db;
pub mod fault;
pub mod federation;
pub mod forward;
pub mod gossip_pool;
pub mod keyring_query;
pub mod listeners;
pub mod local;
pub mod lock;
pub mod membership;
pub mod node_id;
pub mod operator_calls;
pub mod query_lookup;
pub mod run;
pub mod server;
pub mod telemetry;
pub mod user_events;
pub mod watch;
