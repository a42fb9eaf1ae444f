//! The host agent: the services and checks this agent owns, the runners that check them, and
//! anti-entropy, which keeps the catalog's view of this node in step with them.
//!
//! Layout:
//! - `tables`: the pure core: services, checks, and the rules that change them.
//! - `state`: `LocalState`, the shell that implements `api::local::LocalAgent`, persists,
//!   drives the runners and reaps services critical for too long.
//! - `store`: persistence in its own sled database under the data directory.
//! - `plan`: anti-entropy's pure plan; `syncer`: its driver and the `Catalog` it writes to.
//! - `check`: the check runners, one per kind.
pub mod check;
pub mod plan;
pub mod state;
pub mod store;
pub mod syncer;
pub mod tables;

pub use state::{LocalConfig, LocalState};
