//! legate-api: Consul's HTTP API for Legate.
//!
//! Existing Consul clients (py-consul, the Go `api` package, Prometheus `consul_sd`, curl)
//! must work against Legate unmodified, so this crate reproduces Consul's `/v1` surface:
//! paths and methods, PascalCase JSON with `[]`/`{}` rather than `null`, plain-text errors
//! with Consul's status codes and texts, the `X-Consul-*` read headers, blocking queries,
//! and case-insensitive request bodies. It never sees the agent: it serves through the
//! narrow `Backend` trait, speaking the catalog's `Query` and `Command`.
//!
//! ```text
//!  HTTP ─▶ server (limits) ─▶ router: Endpoint + RequestOptions ─▶ kv | catalog | health
//!                                                                   | status | agent
//!                                   wire types ◀── QueryResult ◀── Backend::read / write
//! ```
//!
//! Layout:
//! - `backend`: the `Backend` trait the router serves through, and its types.
//! - `router`: `router()`, the single entry point that parses and dispatches requests.
//! - `route`: `Endpoint`, a path parsed into the endpoint it names, and its methods.
//! - `options`: `RequestOptions`, the common query parameters (consistency, blocking
//!   `index`/`wait` with cap and jitter, `dc`, `tag`, `node-meta`, CE `ns` refusal).
//! - `params`: the raw query string and percent-decoding.
//! - `filter`: Consul's `?filter=` expressions (go-bexpr): parsing, binding to the shape of
//!   each endpoint's records, and evaluation.
//! - `connect`: `Listing`, which instances the service and mesh (Connect) listings answer
//!   with, and what of the mesh Legate does not model.
//! - `kv`, `catalog`, `health`, `status`, `agent`, `agent_membership` (join, leave,
//!   force-leave), `operator_raft`, `operator_autopilot`, `operator_keyring`: one file per
//!   endpoint area.
//! - `event`: `/v1/event/fire` and `/v1/event/list`; `event_log`: the last 256 user
//!   events an agent kept, and blocking lists over them.
//! - `types`: Consul's JSON shapes and their conversions from and to catalog records.
//! - `decode`: case-insensitive, snake_case-tolerant request decoding (`folded_struct!`).
//! - `duration`: Go duration parsing and formatting; `timestamp`: RFC 3339 times.
//! - `reply`: JSON answers and the read-meta headers; `body`: bounded body reads.
//! - `error`: `ApiError` and Consul's plain-text error answers.
//! - `config`: `ApiConfig`; `server`: `serve()` with per-client connection limits.
//! - `client`: the typed `Client` used by the CLI and end-to-end tests.
//! - `agent_metrics`: `/v1/agent/metrics`; `telemetry`: the `MetricsSnapshot` it renders,
//!   as Consul's JSON or Prometheus text; `http_timing`: `consul.api.http` per route.
//! - `testing`: `FakeBackend`, an in-memory backend for tests.
//! - `openapi`: the OpenAPI description of all of the above, built from the route table and
//!   the wire types, served at `/v1/legate/openapi.json`.

pub mod agent;
pub mod agent_check;
pub mod agent_health;
pub mod agent_maintenance;
pub mod agent_membership;
pub mod agent_metrics;
pub mod agent_service;
pub mod backend;
pub mod body;
pub mod catalog;
pub mod client;
pub mod config;
pub mod connect;
pub mod coordinate;
pub mod decode;
pub mod duration;
pub mod error;
pub mod event;
pub mod event_log;
pub mod filter;
pub mod health;
pub mod http_timing;
pub mod kv;
pub mod local;
pub mod near;
pub mod openapi;
pub mod operator_autopilot;
pub mod operator_keyring;
pub mod operator_raft;
pub mod options;
pub mod params;
pub mod prepared_query;
pub mod query;
pub mod reply;
pub mod route;
pub mod router;
pub mod server;
pub mod session;
pub mod status;
pub mod telemetry;
pub mod testing;
pub mod timestamp;
pub mod translate;
pub mod txn;
pub mod types;

pub use client::{Client, ClientError, QueryMeta, QueryOptions};
pub use config::ApiConfig;
pub use router::router;
pub use server::{serve, ServeLimits};
