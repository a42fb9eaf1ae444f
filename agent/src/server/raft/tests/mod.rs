//! Tests of the Raft storage layer: openraft's own storage suite, durability of appends and
//! votes, snapshot handling, and a full restart of a single-server node.

mod durability;
mod leadership;
mod purge;
mod records;
mod restart;
mod snapshot;
mod suite;

use super::types::{Entry, LogId};
use crate::durable_db::DurableDb;
use legate_catalog::command::{KvCondition, KvSet};
use legate_catalog::query::{self, Query};
use legate_catalog::{Command, KvEntry, LogPayload, QueryResult, SharedStore};
use openraft::EntryPayload;
use std::path::Path;

/// A plain `PUT /v1/kv/<key>`.
fn kv_set(key: &str, value: &str) -> Command {
    Command::KvSet(KvSet {
        entry: KvEntry {
            key: key.to_owned(),
            value: value.as_bytes().to_vec(),
            ..KvEntry::default()
        },
        condition: KvCondition::Always,
    })
}

fn log_id(term: u64, index: u64) -> LogId {
    openraft::testing::log_id(term, 0, index)
}

fn normal_entry(term: u64, index: u64, command: Command) -> Entry {
    Entry {
        log_id: log_id(term, index),
        payload: EntryPayload::Normal(LogPayload::from(command)),
    }
}

fn open_db(path: &Path) -> DurableDb {
    DurableDb::open(path, sled::Config::new().flush_every_ms(None)).expect("open sled")
}

/// Reopens a database whose previous handles were just dropped. The log store's purger thread
/// holds a handle until it sees its doorbell closed, so wait for it until sled's file lock is
/// free (bounded: a handle still held after that is a real leak).
async fn reopen_db(path: &Path) -> DurableDb {
    for _ in 0..1000 {
        let attempt = DurableDb::open(path, sled::Config::new().flush_every_ms(None));
        match attempt {
            Ok(db) => return db,
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(1)).await,
        }
    }
    panic!(
        "{} is still locked: a database handle leaked",
        path.display()
    )
}

/// Every KV entry in the store, in key order.
fn all_kv(shared: &SharedStore) -> Vec<KvEntry> {
    let store = shared.read();
    let all = Query::KvList {
        prefix: String::new(),
    };
    match query::run(&store, &all).value {
        QueryResult::Kv(entries) => entries,
        other => panic!("KvList answered {other:?}"),
    }
}
