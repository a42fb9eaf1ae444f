//! openraft's storage test suite against the sled log store and the catalog state machine.

// openraft's storage traits return its `StorageError`, which is large; our helpers return
// it too rather than boxing it only to unbox it again at the trait boundary.
#![allow(clippy::result_large_err)]

use crate::server::raft::error::storage_error;
use crate::server::raft::types::{StorageError, TypeConfig};
use crate::server::raft::{LogStore, StateMachine};
use legate_catalog::SharedStore;
use openraft::testing::{StoreBuilder, Suite};
use openraft::{ErrorSubject, ErrorVerb};
use std::sync::Arc;
use tempfile::TempDir;

/// Builds a fresh store in its own temp dir; the guard removes the dir after each test.
struct SledBuilder;

impl StoreBuilder<TypeConfig, LogStore, StateMachine, TempDir> for SledBuilder {
    async fn build(&self) -> Result<(TempDir, LogStore, StateMachine), StorageError> {
        let dir = tempfile::tempdir()
            .map_err(|e| storage_error(ErrorSubject::Store, ErrorVerb::Write, e))?;
        let raft_dir = dir.path().join("raft");
        let db = super::open_db(&raft_dir);
        let log_store = LogStore::open(&db)?;
        let shared = Arc::new(SharedStore::default());
        let state_machine = StateMachine::open(raft_dir.join("snapshots"), shared).await?;
        Ok((dir, log_store, state_machine))
    }
}

// A plain test: the suite makes its own runtime per case.
#[test]
fn openraft_storage_suite_passes() -> Result<(), StorageError> {
    Suite::test_all(SledBuilder)
}
