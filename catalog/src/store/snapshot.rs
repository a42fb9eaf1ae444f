//! Snapshot and restore of the whole store.
//!
//! The format is a versioned envelope (see `codec` for the rules) holding the tables as plain lists; derived
//! indexes (service name → instances) are rebuilt on restore, and the result is checked with
//! the invariant checker before it replaces anything, so a corrupt snapshot is refused whole.

use super::{fold, Store, TableIndexes};
use crate::types::{
    AutopilotConfig, Check, Index, KvEntry, Node, NodeCoordinate, PreparedQuery, Service, Session,
};
use crate::{codec, invariants};
use serde::ser::SerializeSeq;
use serde::{Deserialize, Serialize, Serializer};
use std::io::Write;
use thiserror::Error;

#[derive(Serialize, Deserialize)]
enum SnapshotFormat {
    V1(SnapshotV1),
    /// V1 plus autopilot's settings.
    V2(SnapshotV2),
    /// V2 plus sessions, running lock-delays and the store's clock.
    V3(SnapshotV3),
    /// V3 plus network coordinates and prepared queries.
    V4(SnapshotV4),
}

#[derive(Serialize, Deserialize)]
struct SnapshotV4 {
    base: SnapshotV3,
    coordinates: Vec<NodeCoordinate>,
    coordinates_index: Index,
    queries: Vec<PreparedQuery>,
    queries_index: Index,
}

#[derive(Serialize, Deserialize)]
struct SnapshotV3 {
    tables: SnapshotV1,
    autopilot: Option<AutopilotConfig>,
    sessions: Vec<Session>,
    sessions_index: Index,
    lock_delays: Vec<(String, u64)>,
    clock_ms: u64,
}

#[derive(Serialize, Deserialize)]
struct SnapshotV2 {
    tables: SnapshotV1,
    autopilot: Option<AutopilotConfig>,
}

#[derive(Serialize, Deserialize)]
struct SnapshotV1 {
    last_index: Index,
    tables: TableIndexes,
    nodes: Vec<Node>,
    services: Vec<Service>,
    checks: Vec<Check>,
    kv: Vec<KvEntry>,
    tombstones: Vec<(String, Index)>,
    service_indexes: Vec<(String, Index)>,
}

/// The same format as `SnapshotFormat`, serialised straight from the tables by reference:
/// no copy of the store and no whole-snapshot buffer, which on a large catalog would cost
/// more memory than the catalog itself while a snapshot is written. Only the newest version
/// is ever written; the variant list mirrors `SnapshotFormat` so the variant number matches.
#[derive(Serialize)]
enum SnapshotFormatRef<'a> {
    #[allow(dead_code)]
    V1(SnapshotV1Ref<'a>),
    #[allow(dead_code)]
    V2(SnapshotV1Ref<'a>),
    #[allow(dead_code)]
    V3(SnapshotV3Ref<'a>),
    V4(SnapshotV4Ref<'a>),
}

#[derive(Serialize)]
struct SnapshotV4Ref<'a> {
    base: SnapshotV3Ref<'a>,
    coordinates: Seq<'a, &'a NodeCoordinate>,
    coordinates_index: Index,
    queries: Seq<'a, &'a PreparedQuery>,
    queries_index: Index,
}

#[derive(Serialize)]
struct SnapshotV3Ref<'a> {
    tables: SnapshotV1Ref<'a>,
    autopilot: &'a Option<AutopilotConfig>,
    sessions: Seq<'a, &'a Session>,
    sessions_index: Index,
    lock_delays: Seq<'a, (&'a String, &'a u64)>,
    clock_ms: u64,
}

#[derive(Serialize)]
struct SnapshotV1Ref<'a> {
    last_index: Index,
    tables: TableIndexes,
    nodes: Seq<'a, &'a Node>,
    services: Seq<'a, &'a Service>,
    checks: Seq<'a, &'a Check>,
    kv: Seq<'a, &'a KvEntry>,
    tombstones: Seq<'a, (&'a String, &'a Index)>,
    service_indexes: Seq<'a, (&'a String, &'a Index)>,
}

/// A sequence of known length serialised from an iterator (the codec writes the length first).
/// Serialising takes the iterator, so a `Seq` serialises once; `snapshot_ref` makes a new
/// one for each pass.
struct Seq<'a, T> {
    len: usize,
    items: std::cell::RefCell<Option<Box<dyn Iterator<Item = T> + 'a>>>,
}

impl<'a, T> Seq<'a, T> {
    fn new(len: usize, items: impl Iterator<Item = T> + 'a) -> Seq<'a, T> {
        Seq {
            len,
            items: std::cell::RefCell::new(Some(Box::new(items))),
        }
    }
}

impl<T: Serialize> Serialize for Seq<'_, T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let items = self.items.borrow_mut().take();
        let mut seq = serializer.serialize_seq(Some(self.len))?;
        for item in items.into_iter().flatten() {
            seq.serialize_element(&item)?;
        }
        seq.end()
    }
}

impl From<SnapshotV2> for SnapshotV3 {
    fn from(v2: SnapshotV2) -> SnapshotV3 {
        SnapshotV3 {
            tables: v2.tables,
            autopilot: v2.autopilot,
            sessions: Vec::new(),
            sessions_index: Index::ZERO,
            lock_delays: Vec::new(),
            clock_ms: 0,
        }
    }
}

impl From<SnapshotV3> for SnapshotV4 {
    fn from(v3: SnapshotV3) -> SnapshotV4 {
        SnapshotV4 {
            base: v3,
            coordinates: Vec::new(),
            coordinates_index: Index::ZERO,
            queries: Vec::new(),
            queries_index: Index::ZERO,
        }
    }
}

/// A snapshot that cannot be restored. Nothing was changed; retrying the same bytes fails
/// the same way.
#[derive(Debug, Error)]
pub enum SnapshotError {
    #[error("snapshot is not readable: {0}")]
    Decode(#[from] codec::DecodeError),
    #[error("snapshot could not be written: {0}")]
    Write(#[from] codec::EncodeError),
    #[error("snapshot breaks store invariants: {0}")]
    Invalid(String),
}

impl Store {
    fn snapshot_ref(&self) -> SnapshotFormatRef<'_> {
        SnapshotFormatRef::V4(SnapshotV4Ref {
            base: SnapshotV3Ref {
                tables: self.tables_ref(),
                autopilot: &self.autopilot,
                sessions: Seq::new(self.sessions.len(), self.sessions.values()),
                sessions_index: self.sessions_index,
                lock_delays: Seq::new(self.lock_delays.len(), self.lock_delays.iter()),
                clock_ms: self.clock_ms,
            },
            coordinates: Seq::new(self.coordinates.len(), self.coordinates.values()),
            coordinates_index: self.coordinates_index,
            queries: Seq::new(self.queries.len(), self.queries.values()),
            queries_index: self.queries_index,
        })
    }

    fn tables_ref(&self) -> SnapshotV1Ref<'_> {
        SnapshotV1Ref {
            last_index: self.last_index,
            tables: self.tables,
            nodes: Seq::new(self.nodes.len(), self.nodes.values()),
            services: Seq::new(self.services.len(), self.services.values()),
            checks: Seq::new(self.checks.len(), self.checks.values()),
            kv: Seq::new(self.kv.len(), self.kv.values().map(|entry| &**entry)),
            tombstones: Seq::new(self.tombstones.len(), self.tombstones.iter()),
            service_indexes: Seq::new(self.service_indexes.len(), self.service_indexes.iter()),
        }
    }

    /// The size in bytes of `snapshot()`, computed without building it.
    pub fn snapshot_size(&self) -> u64 {
        codec::encoded_size(&self.snapshot_ref())
    }

    /// Writes the snapshot to `writer` as it is serialised.
    pub fn write_snapshot(&self, writer: impl Write) -> Result<(), SnapshotError> {
        Ok(codec::encode_into(&self.snapshot_ref(), writer)?)
    }

    /// Serialises the whole store.
    pub fn snapshot(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(self.snapshot_size() as usize);
        self.write_snapshot(&mut bytes)
            .expect("in-memory store serialises");
        bytes
    }

    /// Rebuilds a store from `snapshot` bytes.
    pub fn restore(bytes: &[u8]) -> Result<Store, SnapshotError> {
        // Older versions convert to the newest: V1 had no autopilot settings, V2 no sessions,
        // V3 no coordinates or prepared queries.
        let v4 = match codec::decode(bytes)? {
            SnapshotFormat::V1(tables) => SnapshotV4::from(SnapshotV3::from(SnapshotV2 {
                tables,
                autopilot: None,
            })),
            SnapshotFormat::V2(v2) => SnapshotV4::from(SnapshotV3::from(v2)),
            SnapshotFormat::V3(v3) => SnapshotV4::from(v3),
            SnapshotFormat::V4(v4) => v4,
        };
        let newest = v4.base;
        let snapshot = newest.tables;
        let mut store = Store {
            last_index: snapshot.last_index,
            tables: snapshot.tables,
            autopilot: newest.autopilot,
            sessions_index: newest.sessions_index,
            lock_delays: newest.lock_delays.into_iter().collect(),
            clock_ms: newest.clock_ms,
            coordinates_index: v4.coordinates_index,
            queries_index: v4.queries_index,
            ..Store::default()
        };
        for coordinate in v4.coordinates {
            let key = (fold(coordinate.node.as_str()), coordinate.segment.clone());
            store.coordinates.insert(key, coordinate);
        }
        for query in v4.queries {
            store.queries.insert(query.id.clone(), query);
        }
        for session in newest.sessions {
            store
                .sessions_by_node
                .entry(fold(session.node.as_str()))
                .or_default()
                .insert(session.id.as_str().to_owned());
            store
                .sessions
                .insert(session.id.as_str().to_owned(), session);
        }
        for node in snapshot.nodes {
            store.nodes.insert(fold(node.name.as_str()), node);
        }
        for service in snapshot.services {
            let key = (fold(service.node.as_str()), fold(service.id.as_str()));
            store
                .services_by_name
                .entry(fold(service.name.as_str()))
                .or_default()
                .insert(key.clone());
            store.services.insert(key, service);
        }
        for check in snapshot.checks {
            let key = (fold(check.node.as_str()), fold(check.id.as_str()));
            store.checks.insert(key, check);
        }
        for entry in snapshot.kv {
            if let Some(holder) = &entry.session {
                store
                    .session_locks
                    .entry(holder.clone())
                    .or_default()
                    .insert(entry.key.clone());
            }
            store
                .kv
                .insert(entry.key.clone(), std::sync::Arc::new(entry));
        }
        store.tombstones = snapshot.tombstones.into_iter().collect();
        store.service_indexes = snapshot.service_indexes.into_iter().collect();
        invariants::check(&store).map_err(|broken| SnapshotError::Invalid(broken.join("; ")))?;
        Ok(store)
    }
}
