//! `LocalStore`: the agent's services, checks and TTL check states on disk, so a restarted
//! agent comes back with what it had.
//!
//! A sled database of its own under `<data_dir>/local`, apart from the Raft log: local
//! state is this agent's, not the cluster's. Keys are `s/<service id>`, `c/<check id>` and
//! `t/<check id>` (a TTL check's last status, output and deadline, as Consul's
//! `checks/state/` files); values are JSON so they stay readable and survive field
//! additions. Every change is flushed before it is acknowledged.

use super::tables::{LocalCheck, LocalService, Tables};
use crate::durable_db::DurableDb;
use legate_catalog::{CheckId, Health, ServiceId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;
use thiserror::Error;

/// A failed read or write of the local state. The in-memory change it belonged to is kept
/// (the agent keeps running), but it may not survive a restart.
#[derive(Debug, Error)]
pub enum StoreError {
    #[error("local state storage: {0}")]
    Sled(#[from] sled::Error),
    #[error("local state storage: {0}")]
    Sync(#[from] std::io::Error),
    #[error("local state record: {0}")]
    Json(#[from] serde_json::Error),
}

/// A TTL check's status as last reported, and when it expires (Unix milliseconds).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TtlState {
    pub status: Health,
    pub output: String,
    pub expires_unix_ms: u64,
}

/// Everything loaded at start.
#[derive(Debug, Default)]
pub struct Loaded {
    pub services: Vec<LocalService>,
    pub checks: Vec<LocalCheck>,
    pub ttl_states: BTreeMap<CheckId, TtlState>,
}

/// Cheap to clone; clones write to the same database.
#[derive(Clone)]
pub struct LocalStore {
    durable: DurableDb,
}

fn service_key(id: &ServiceId) -> Vec<u8> {
    format!("s/{id}").into_bytes()
}

fn check_key(id: &CheckId) -> Vec<u8> {
    format!("c/{id}").into_bytes()
}

fn ttl_key(id: &CheckId) -> Vec<u8> {
    format!("t/{id}").into_bytes()
}

impl LocalStore {
    pub fn open(data_dir: &Path) -> Result<LocalStore, StoreError> {
        let config = sled::Config::new().cache_capacity(1 << 20);
        let durable = DurableDb::open(&data_dir.join("local"), config)?;
        Ok(LocalStore { durable })
    }

    /// Reads everything back; a record that no longer decodes is skipped with a warning
    /// rather than keeping the agent from starting.
    pub fn load(&self) -> Result<Loaded, StoreError> {
        let mut loaded = Loaded::default();
        for item in self.durable.db().iter() {
            let (key, value) = item?;
            let key = String::from_utf8_lossy(&key).into_owned();
            let decoded = match key.split_once('/') {
                Some(("s", _)) => serde_json::from_slice(&value).map(|s| loaded.services.push(s)),
                Some(("c", _)) => serde_json::from_slice(&value).map(|c| loaded.checks.push(c)),
                Some(("t", id)) => serde_json::from_slice(&value).map(|state| {
                    loaded.ttl_states.insert(CheckId::from(id), state);
                }),
                _ => Ok(()),
            };
            if let Err(error) = decoded {
                tracing::warn!("local state: skipping undecodable record {key}: {error}");
            }
        }
        Ok(loaded)
    }

    /// Encodes the current records of the named services and checks, and the deletions of
    /// those the tables no longer hold, as one batch: done under the tables' lock, cheaply,
    /// so that the write and its fsync (`write`) can happen outside it.
    pub fn encode(
        tables: &Tables,
        services: &[ServiceId],
        checks: &[CheckId],
    ) -> Result<sled::Batch, StoreError> {
        let mut batch = sled::Batch::default();
        for id in services {
            match tables.services.get(id) {
                Some(service) => batch.insert(service_key(id), serde_json::to_vec(service)?),
                None => batch.remove(service_key(id)),
            }
        }
        for id in checks {
            match tables.checks.get(id) {
                Some(check) => batch.insert(check_key(id), serde_json::to_vec(check)?),
                None => {
                    batch.remove(check_key(id));
                    batch.remove(ttl_key(id));
                }
            }
        }
        Ok(batch)
    }

    /// Applies `batch` atomically and fsyncs it, on a blocking thread: never on one of the
    /// runtime's workers, which HTTP and DNS need while a slow disk syncs.
    pub async fn write(&self, batch: sled::Batch) -> Result<(), StoreError> {
        let durable = self.durable.clone();
        tokio::task::spawn_blocking(move || {
            durable.db().apply_batch(batch)?;
            durable.sync()?;
            Ok(())
        })
        .await
        .map_err(|join| StoreError::Sync(std::io::Error::other(join)))?
    }

    /// `write` on the calling thread, for start-up, before the agent serves anything.
    pub fn write_at_start(&self, batch: sled::Batch) -> Result<(), StoreError> {
        self.durable.db().apply_batch(batch)?;
        self.durable.sync()?;
        Ok(())
    }

    /// Persists a TTL check's state (on a blocking thread, as `write`).
    pub async fn save_ttl(&self, id: &CheckId, state: &TtlState) -> Result<(), StoreError> {
        let mut batch = sled::Batch::default();
        batch.insert(ttl_key(id), serde_json::to_vec(state)?);
        self.write(batch).await
    }
}
