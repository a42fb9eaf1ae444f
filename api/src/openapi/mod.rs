//! The OpenAPI description of the HTTP API, served at `/v1/legate/openapi.json`.
//!
//! It is built from the code, so it cannot drift from what the router serves:
//! - paths come from the router's own tables (`route::EXACT`, `route::PREFIXES`), a prefix's
//!   remainder becoming one path parameter, and each path's methods from
//!   `Endpoint::methods`;
//! - what each operation reads and answers comes from `operation::describe`, one exhaustive
//!   match over `Endpoint`, so a new endpoint does not compile until it is described;
//! - JSON shapes are the wire types' own JSON Schemas (`schemars`, which follows their serde
//!   attributes), collected under `components/schemas`.
//!
//! Errors are Consul's: plain text with a status code, documented once as each operation's
//! `default` answer.
//!
//! Layout: `operation` (what each endpoint reads and answers), `document` (assembly).

mod document;
mod operation;

pub use document::{answer, document, PATH};
