//! The health-check runners of the host agent: they run each local check as Consul's
//! `agent/checks` does and report the statuses to the local state through `Reporter`.
//!
//! ```text
//!   CheckSpec ──start──▶ Runners ──spawns──▶ interval task: Probe::run ─▶ Threshold ─┐
//!                          │                 TTL task:  timer ─────────────────────┤
//!                          └─reset_ttl──▶ TTL task                                 ▼
//!                                                          Sink (cut, gate) ─▶ Reporter
//! ```
//!
//! Layout:
//! - `reporter`: the `Reporter` trait the local state implements, and each runner's `Sink`.
//! - `runners`: `Runners`, which starts, replaces and stops one task per check.
//! - `interval`: the loop of an interval check (stagger, run, filter, report, wait).
//! - `threshold`: the pure `success_before_passing` / `failures_before_*` filter.
//! - `probe`: one run of any kind, `Outcome`, and `SetupError`.
//! - `http`, `tcp`, `grpc`, `script`: the probes, one per kind.
//! - `ttl`: the TTL timer.
//! - `tls`: TLS client settings for HTTPS and gRPC checks.
//! - `output`: output bounds (head cut, script tail, TTL output cut).

mod grpc;
mod http;
mod interval;
mod output;
mod probe;
mod reporter;
mod runners;
mod script;
mod tcp;
mod threshold;
mod tls;
mod ttl;

#[cfg(test)]
mod tests;

pub use http::USER_AGENT_VALUE;
pub use output::{cut, cut_ttl_output};
pub use probe::SetupError;
pub use reporter::Reporter;
pub use runners::{Runners, DEFAULT_SCRIPT_TIMEOUT, DEFAULT_TIMEOUT, MIN_INTERVAL};
pub use threshold::Threshold;
pub use tls::TlsError;
