//! The clients: catalog commands proposed to whichever server a client believes leads,
//! stamped with that server's clock as the agent's write path stamps them.
//!
//! The mix touches every kind of state `apply` keeps, so that servers which applied the same
//! entries but disagree in any table (or in the clock, or in a lock-delay) show it in their
//! digests: plain and check-and-set KV writes, deletes, nodes and services registered and
//! deregistered, sessions created and destroyed, locks acquired and released.

use crate::world::{digest, with, Shared};
use legate_agent::server::raft::types::LogId;
use legate_agent::server::raft::NodeId;
use legate_catalog::command::{
    Deregistration, KvCondition, KvDelete, KvDeleteMode, KvSet, Registration,
};
use legate_catalog::query::{self, Query};
use legate_catalog::{codec, Command, Index, KvEntry, LogPayload, QueryResult, SharedStore};
use legate_catalog::{Node, NodeName, Service, ServiceId, ServiceName, Session, SessionId};
use openraft::error::{ClientWriteError, RaftError};
use rand::Rng;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// What the clients did, all together.
#[derive(Debug, Default)]
pub struct Tally {
    pub ops: u64,
    /// Writes a client saw succeed, with the log id and payload digest they were given.
    pub acked: Vec<(LogId, u64)>,
    /// Refused before entering the log (not the leader): certainly not applied.
    pub refused: u64,
    /// Timeouts and errors after proposing: may or may not have taken effect.
    pub unknown: u64,
}

const KEYS: u64 = 6;
const NODES: u64 = 3;

/// Runs one client until `stop`, adding what it did to `tally`.
pub async fn client(world: Shared, stop: Arc<AtomicBool>, tally: Arc<std::sync::Mutex<Tally>>) {
    let mut hint: Option<NodeId> = None;
    let mut sessions: Vec<String> = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let pause = with(&world, |world| world.rng.gen_range(1..40));
        tokio::time::sleep(Duration::from_millis(pause)).await;
        let target = with(&world, |world| {
            let ids = world.ids();
            match hint {
                Some(id) if world.rng.gen_ratio(9, 10) => id,
                _ => ids[world.rng.gen_range(0..ids.len())],
            }
        });
        let Some((raft, store)) = with(&world, |world| {
            let slot = world.slot(target);
            slot.raft.clone().zip(slot.store.clone())
        }) else {
            hint = None;
            continue;
        };
        let (command, time_ms) = with(&world, |world| {
            let command = next_command(world, &store, &mut sessions);
            (command, world.clock_ms(target))
        });
        let payload = LogPayload::stamped(time_ms, command);
        let payload_digest = digest(&codec::encode(&payload));
        let answer = tokio::time::timeout(Duration::from_secs(3), raft.client_write(payload)).await;
        let mut tally = tally
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        tally.ops += 1;
        let seen = match answer {
            Ok(Ok(response)) => {
                tally.acked.push((response.log_id, payload_digest));
                hint = Some(target);
                0u8
            }
            Ok(Err(RaftError::APIError(ClientWriteError::ForwardToLeader(forward)))) => {
                tally.refused += 1;
                hint = forward.leader_id;
                1
            }
            Ok(Err(_)) | Err(_) => {
                tally.unknown += 1;
                hint = None;
                2
            }
        };
        drop(tally);
        with(&world, |world| world.note(("client", target, seen)));
    }
}

/// The next command, drawn from the mix; what it names (sessions, indexes) comes from the
/// target's catalog, which may be stale, as a client's reads may be.
fn next_command(
    world: &mut crate::world::World,
    store: &SharedStore,
    sessions: &mut Vec<String>,
) -> Command {
    let rng = &mut world.rng;
    let key = format!("k{}", rng.gen_range(0..KEYS));
    let node = format!("n{}", rng.gen_range(0..NODES));
    let value = rng.gen::<u64>().to_le_bytes().to_vec();
    match rng.gen_range(0..100) {
        0..=34 => kv_set(&key, value, KvCondition::Always),
        35..=49 => {
            let modify = modify_index(store, &key);
            kv_set(&key, value, KvCondition::ModifyIndex(modify))
        }
        50..=57 => {
            let mode = if rng.gen_ratio(1, 2) {
                KvDeleteMode::Key
            } else {
                KvDeleteMode::Tree
            };
            Command::KvDelete(KvDelete { key, mode })
        }
        58..=67 => register(&node, rng.gen_range(0..3)),
        68..=71 => Command::Deregister(Deregistration::Service(
            NodeName::new(node),
            ServiceId::new(format!("svc{}", rng.gen_range(0..3))),
        )),
        72..=73 => Command::Deregister(Deregistration::Node(NodeName::new(node))),
        74..=81 => {
            let id = format!("{:032x}", rng.gen::<u128>());
            sessions.push(id.clone());
            if sessions.len() > 8 {
                sessions.remove(0);
            }
            Command::SessionCreate(Box::new(Session {
                id: SessionId::new(id),
                node: NodeName::new(node),
                lock_delay_ns: rng.gen_range(0..3) * 1_000_000_000,
                ..Session::default()
            }))
        }
        82..=91 if !sessions.is_empty() => {
            let session = SessionId::new(sessions[rng.gen_range(0..sessions.len())].clone());
            let condition = if rng.gen_ratio(2, 3) {
                KvCondition::Acquire(session)
            } else {
                KvCondition::Release(session)
            };
            kv_set(&key, value, condition)
        }
        92..=99 if !sessions.is_empty() => {
            let session = sessions.remove(rng.gen_range(0..sessions.len()));
            Command::SessionDestroy(SessionId::new(session))
        }
        _ => kv_set(&key, value, KvCondition::Always),
    }
}

fn kv_set(key: &str, value: Vec<u8>, condition: KvCondition) -> Command {
    Command::KvSet(KvSet {
        entry: KvEntry {
            key: key.to_owned(),
            value,
            ..KvEntry::default()
        },
        condition,
    })
}

fn register(node: &str, service: u64) -> Command {
    let name = NodeName::new(node);
    Command::Register(Box::new(Registration {
        node: Node {
            name: name.clone(),
            address: "10.0.0.1".to_owned(),
            ..Node::default()
        },
        skip_node_update: false,
        service: Some(Service {
            node: name,
            id: ServiceId::new(format!("svc{service}")),
            name: ServiceName::new("web"),
            port: 8080,
            ..Service::default()
        }),
        checks: Vec::new(),
    }))
}

/// The key's modify index as `store` has it, or 0 (absent).
fn modify_index(store: &SharedStore, key: &str) -> Index {
    let store = store.read();
    let answer = query::run(
        &store,
        &Query::KvGet {
            key: key.to_owned(),
        },
    );
    match answer.value {
        QueryResult::Kv(entries) => entries
            .first()
            .map_or(Index(0), |entry| entry.indexes.modify_index),
        _ => Index(0),
    }
}
