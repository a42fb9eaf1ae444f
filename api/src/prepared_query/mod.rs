//! Prepared queries (`/v1/query`): named, stored service queries with health and tag
//! filtering, RTT sorting, templates, and failover to other datacenters.
//!
//! Layout:
//! - `definition`: the request body, the stored definition, Consul's checks, the JSON read.
//! - `template`: rendering a template for the name asked.
//! - `select`: filtering and ordering instances (pure).
//! - `execute`: resolving and running a query, failover included, against a `Backend`;
//!   the HTTP handlers (`crate::query`) and the agent's DNS both use it.

pub mod definition;
pub mod execute;
pub mod select;
pub mod template;

pub use definition::{Definition, QueryJson};
pub use execute::{execute, resolve, ExecuteError, Executed, Execution, NOT_FOUND};
