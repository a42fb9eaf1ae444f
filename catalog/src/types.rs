//! Newtypes for the catalog's identifiers and the plain records it stores.
//!
//! Ids are newtypes rather than bare `String`/`u64` so that a node name can never be passed
//! where a service id is expected. Records here are the catalog's own durable shapes: they are
//! part of the snapshot format and of `Command`, and are kept apart from the JSON wire types
//! in `legate-api`, which follow Consul's API as it changes.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl $name {
            pub fn new(value: impl Into<String>) -> Self {
                Self(value.into())
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(value: &str) -> Self {
                Self(value.to_owned())
            }
        }

        impl From<String> for $name {
            fn from(value: String) -> Self {
                Self(value)
            }
        }
    };
}

string_id!(
    /// A node's name, unique in its datacenter (Consul compares it case-sensitively in the
    /// store; DNS lookups fold case themselves).
    NodeName
);
string_id!(
    /// A service instance's id, unique per node.
    ServiceId
);
string_id!(
    /// A service's logical name, shared by its instances.
    ServiceName
);
string_id!(
    /// A health check's id, unique per node.
    CheckId
);
string_id!(
    /// A datacenter's name, such as `dc1`.
    Datacenter
);

/// A Raft log index, used as every record's `CreateIndex`/`ModifyIndex` and as the value of
/// `X-Consul-Index`. Zero means "nothing yet"; readers clamp it to one before answering.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Index(pub u64);

impl Index {
    pub const ZERO: Index = Index(0);

    /// The value sent in `X-Consul-Index`: never zero, because clients treat zero as "do not
    /// block" and would spin (Consul PR #4437).
    pub fn for_header(self) -> u64 {
        self.0.max(1)
    }
}

impl fmt::Display for Index {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The status of one health check.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub enum Health {
    Passing,
    Warning,
    /// Consul's default for a new check: a service is not trusted until a check has run.
    #[default]
    Critical,
}

impl Health {
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Passing => "passing",
            Health::Warning => "warning",
            Health::Critical => "critical",
        }
    }

    pub fn parse(text: &str) -> Option<Health> {
        match text {
            "passing" => Some(Health::Passing),
            "warning" => Some(Health::Warning),
            "critical" => Some(Health::Critical),
            _ => None,
        }
    }
}

/// Create and modify indexes carried by every stored record.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RaftIndexes {
    pub create_index: Index,
    pub modify_index: Index,
}

/// A node in the catalog.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Node {
    /// The node's UUID, or empty when the registrant gave none.
    pub id: String,
    pub name: NodeName,
    pub address: String,
    pub tagged_addresses: BTreeMap<String, String>,
    pub meta: BTreeMap<String, String>,
    pub indexes: RaftIndexes,
}

impl Node {
    /// Whether two nodes differ in anything a registration can set (indexes aside), so a
    /// re-registration that changes nothing can be skipped.
    pub fn same_content(&self, other: &Node) -> bool {
        self.id == other.id
            && self.name == other.name
            && self.address == other.address
            && self.tagged_addresses == other.tagged_addresses
            && self.meta == other.meta
    }
}

/// An address and port under a service's `TaggedAddresses`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceAddress {
    pub address: String,
    pub port: u16,
}

/// DNS SRV weights used by a service instance while passing or warning.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Weights {
    pub passing: u32,
    pub warning: u32,
}

impl Default for Weights {
    /// Consul's defaults when a registration sends none.
    fn default() -> Self {
        Weights {
            passing: 1,
            warning: 1,
        }
    }
}

/// One service instance on one node.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Service {
    pub node: NodeName,
    pub id: ServiceId,
    pub name: ServiceName,
    /// The instance kind (`""` for a typical service; mesh kinds are out of scope but kept).
    pub kind: String,
    pub tags: Vec<String>,
    /// Empty means "use the node's address", which clients and DNS fall back to.
    pub address: String,
    pub tagged_addresses: BTreeMap<String, ServiceAddress>,
    pub meta: BTreeMap<String, String>,
    pub port: u16,
    pub socket_path: String,
    pub weights: Weights,
    pub enable_tag_override: bool,
    pub indexes: RaftIndexes,
}

impl Service {
    pub fn same_content(&self, other: &Service) -> bool {
        let mut a = self.clone();
        a.indexes = other.indexes;
        a == *other
    }
}

/// How a check probes, kept so agents and `Definition` in the API can report it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckDefinition {
    pub http: String,
    pub header: BTreeMap<String, Vec<String>>,
    pub method: String,
    pub body: String,
    pub tls_server_name: String,
    pub tls_skip_verify: bool,
    pub tcp: String,
    pub udp: String,
    pub grpc: String,
    pub grpc_use_tls: bool,
    pub os_service: String,
    /// Go duration strings as the registrant sent them (`"10s"`), or empty.
    pub interval: String,
    pub timeout: String,
    pub deregister_critical_service_after: String,
}

/// One health check, on a node (empty `service_id`) or on one of its service instances.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Check {
    pub node: NodeName,
    pub id: CheckId,
    pub name: String,
    pub status: Health,
    pub notes: String,
    pub output: String,
    pub service_id: ServiceId,
    /// Denormalised from the service at registration, as Consul does, so health listings
    /// need no join.
    pub service_name: ServiceName,
    pub service_tags: Vec<String>,
    /// `ttl`, `http`, `tcp`, `script`, `grpc` ... or empty for a check registered with the
    /// catalog endpoint.
    pub check_type: String,
    pub exposed_port: u16,
    pub definition: CheckDefinition,
    pub indexes: RaftIndexes,
}

impl Check {
    pub fn same_content(&self, other: &Check) -> bool {
        let mut a = self.clone();
        a.indexes = other.indexes;
        a == *other
    }
}

/// One key in the KV store.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvEntry {
    pub key: String,
    pub value: Vec<u8>,
    pub flags: u64,
    /// How many times the key has been acquired by a session (the lock "generation").
    pub lock_index: u64,
    /// The session holding the lock, if any. Sessions arrive with their own issue; the field
    /// is here so that plain writes already preserve it as Consul does.
    pub session: Option<String>,
    pub indexes: RaftIndexes,
}

/// Autopilot's settings, as `/v1/operator/autopilot/configuration` reads and writes them.
/// Kept in the replicated state so every server runs autopilot the same way, and a new leader
/// goes on with the settings the operator last wrote.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AutopilotConfig {
    pub cleanup_dead_servers: bool,
    pub last_contact_threshold_ms: u64,
    pub max_trailing_logs: u64,
    pub min_quorum: u32,
    pub server_stabilization_time_ms: u64,
    pub redundancy_zone_tag: String,
    pub disable_upgrade_migration: bool,
    pub upgrade_version_tag: String,
    pub indexes: RaftIndexes,
}

string_id!(
    /// A session's id: a UUID the leader picks when the session is created.
    SessionId
);

/// What happens to the keys a session holds when it is invalidated.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum SessionBehavior {
    /// The locks are released: `Session` cleared, the value and `LockIndex` kept.
    #[default]
    Release,
    /// The held keys are deleted.
    Delete,
}

impl SessionBehavior {
    pub fn as_str(self) -> &'static str {
        match self {
            SessionBehavior::Release => "release",
            SessionBehavior::Delete => "delete",
        }
    }
}

/// A service-level check a session is bound to (`ServiceChecks` in the API).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceCheck {
    pub id: CheckId,
    pub namespace: String,
}

/// A session: a lease that binds KV locks to a node, some health checks and an optional TTL.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub id: SessionId,
    pub name: String,
    pub node: NodeName,
    /// How long, in nanoseconds, the keys it held stay unacquirable after it is invalidated
    /// (capped at `MAX_LOCK_DELAY_NS` when applied, as Consul caps it).
    pub lock_delay_ns: u64,
    pub behavior: SessionBehavior,
    /// The TTL as the creator wrote it (`"30s"`), or empty for none. The leader expires the
    /// session after twice this without a renew.
    pub ttl: String,
    /// Node-level checks; `serfHealth` by default.
    pub node_checks: Vec<CheckId>,
    pub service_checks: Vec<ServiceCheck>,
    /// The legacy `Checks` list, kept only when the creator sent one.
    pub checks: Vec<CheckId>,
    pub indexes: RaftIndexes,
}

/// The longest lock-delay Consul applies, whatever a session asks for.
pub const MAX_LOCK_DELAY_NS: u64 = 60_000_000_000;

impl Session {
    /// Every check the session is bound to, node and service checks alike, each once.
    pub fn bound_checks(&self) -> Vec<&CheckId> {
        let mut all: Vec<&CheckId> = self
            .checks
            .iter()
            .chain(&self.node_checks)
            .chain(self.service_checks.iter().map(|check| &check.id))
            .collect();
        all.sort();
        all.dedup();
        all
    }
}

/// A network coordinate (Serf's Vivaldi), every component in seconds. Compared bit for bit,
/// so that it can sit in `Command` (which is `Eq`); `apply` keeps only valid ones.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Coord {
    pub vec: Vec<f64>,
    pub error: f64,
    pub adjustment: f64,
    pub height: f64,
}

impl PartialEq for Coord {
    fn eq(&self, other: &Coord) -> bool {
        let bits = |coord: &Coord| {
            coord
                .vec
                .iter()
                .chain([&coord.error, &coord.adjustment, &coord.height])
                .map(|value| value.to_bits())
                .collect::<Vec<u64>>()
        };
        bits(self) == bits(other)
    }
}

impl Eq for Coord {}

/// Dimensions of a coordinate's Euclidean part (Serf's).
pub const COORD_DIMENSIONS: usize = 8;

impl Coord {
    /// Eight finite components and finite scalars, a non-negative height.
    pub fn is_valid(&self) -> bool {
        self.vec.len() == COORD_DIMENSIONS
            && self.vec.iter().all(|value| value.is_finite())
            && self.error.is_finite()
            && self.adjustment.is_finite()
            && self.height.is_finite()
            && self.height >= 0.0
    }

    /// The estimated round trip to `other`, in seconds, as Serf computes it: Euclidean
    /// distance plus both heights, plus both adjustments when that stays positive.
    pub fn distance_to(&self, other: &Coord) -> f64 {
        let euclid: f64 = self
            .vec
            .iter()
            .zip(&other.vec)
            .map(|(a, b)| (a - b) * (a - b))
            .sum::<f64>()
            .sqrt();
        let raw = euclid + self.height + other.height;
        let adjusted = raw + self.adjustment + other.adjustment;
        if adjusted > 0.0 {
            adjusted
        } else {
            raw
        }
    }
}

/// A node's coordinate in one network segment (`/v1/coordinate/nodes`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeCoordinate {
    pub node: NodeName,
    /// The network segment (Enterprise); empty.
    pub segment: String,
    pub coord: Coord,
}

/// A prepared query (`/v1/query`). The catalog keeps what it must reason about (identity,
/// name, template, the session it is bound to); the rest of the definition is the HTTP
/// frontend's, kept as its canonical JSON, which the catalog stores without reading.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreparedQuery {
    /// A UUID the leader assigns at creation.
    pub id: String,
    /// Unique among the queries; empty for an unnamed query (or the catch-all template).
    pub name: String,
    /// When set, the query is deleted when this session is invalidated.
    pub session: Option<SessionId>,
    /// A template (`Template.Type` set): it answers any name that starts with its own.
    pub template: bool,
    /// The rest of the definition, as JSON.
    pub definition: String,
    pub indexes: RaftIndexes,
}
