//! Transactions (`/v1/txn`): operations on keys, nodes, services and checks that apply
//! together or not at all, in one Raft entry.
//!
//! These are durable types (a `Command::Txn` sits in the log), so the codec's versioning
//! rules apply: variants are only appended. Each operation carries only what its verb reads;
//! the API edge parses Consul's JSON into them and refuses bad ones before anything is
//! proposed.

use crate::types::{Check, Index, KvEntry, Node, NodeName, Service, SessionId};
use serde::{Deserialize, Serialize};

/// Consul's limit on operations per transaction.
pub const MAX_OPS: usize = 128;

/// One operation of a transaction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TxnOp {
    Kv(KvOp),
    // Boxed to keep the common KV operation small; a box encodes as its content.
    Node(Box<NodeOp>),
    Service(Box<ServiceOp>),
    Check(Box<CheckOp>),
}

impl TxnOp {
    /// Whether the operation only reads, so that a transaction of such operations can be
    /// served as a read, without a Raft entry.
    pub fn is_read(&self) -> bool {
        match self {
            TxnOp::Kv(op) => op.verb.is_read(),
            TxnOp::Node(op) => op.verb == CatalogVerb::Get,
            TxnOp::Service(op) => op.verb == CatalogVerb::Get,
            TxnOp::Check(op) => op.verb == CatalogVerb::Get,
        }
    }
}

/// The KV verbs, as Consul names them (`set`, `cas`, `lock` ...).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum KvVerb {
    Set,
    Cas,
    Lock,
    Unlock,
    Get,
    GetOrEmpty,
    GetTree,
    CheckIndex,
    CheckSession,
    CheckNotExists,
    Delete,
    DeleteTree,
    DeleteCas,
}

impl KvVerb {
    pub fn parse(text: &str) -> Option<KvVerb> {
        Some(match text {
            "set" => KvVerb::Set,
            "cas" => KvVerb::Cas,
            "lock" => KvVerb::Lock,
            "unlock" => KvVerb::Unlock,
            "get" => KvVerb::Get,
            "get-or-empty" => KvVerb::GetOrEmpty,
            "get-tree" => KvVerb::GetTree,
            "check-index" => KvVerb::CheckIndex,
            "check-session" => KvVerb::CheckSession,
            "check-not-exists" => KvVerb::CheckNotExists,
            "delete" => KvVerb::Delete,
            "delete-tree" => KvVerb::DeleteTree,
            "delete-cas" => KvVerb::DeleteCas,
            _ => return None,
        })
    }

    pub fn is_read(self) -> bool {
        matches!(
            self,
            KvVerb::Get
                | KvVerb::GetOrEmpty
                | KvVerb::GetTree
                | KvVerb::CheckIndex
                | KvVerb::CheckSession
                | KvVerb::CheckNotExists
        )
    }
}

/// A KV operation. `index` is the `ModifyIndex` that `cas`, `check-index` and `delete-cas`
/// compare; `session` is what `lock`, `unlock` and `check-session` name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvOp {
    pub verb: KvVerb,
    pub key: String,
    pub value: Vec<u8>,
    pub flags: u64,
    pub index: Index,
    pub session: SessionId,
}

/// The node, service and check verbs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CatalogVerb {
    Set,
    Cas,
    Get,
    Delete,
    DeleteCas,
}

impl CatalogVerb {
    pub fn parse(text: &str) -> Option<CatalogVerb> {
        Some(match text {
            "set" => CatalogVerb::Set,
            "cas" => CatalogVerb::Cas,
            "get" => CatalogVerb::Get,
            "delete" => CatalogVerb::Delete,
            "delete-cas" => CatalogVerb::DeleteCas,
            _ => return None,
        })
    }
}

/// A node operation; `cas` and `delete-cas` compare `node.indexes.modify_index`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeOp {
    pub verb: CatalogVerb,
    pub node: Node,
}

/// A service operation on one node; `cas` and `delete-cas` compare
/// `service.indexes.modify_index`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceOp {
    pub verb: CatalogVerb,
    pub node: NodeName,
    pub service: Service,
}

/// A check operation (`check.node` names its node); `cas` and `delete-cas` compare
/// `check.indexes.modify_index`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckOp {
    pub verb: CatalogVerb,
    pub check: Check,
}

/// One result of a transaction that applied. KV results carry no value except for the get
/// verbs, as in Consul.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TxnResult {
    Kv(KvEntry),
    Node(Box<Node>),
    Service(Box<Service>),
    Check(Box<Check>),
}

/// Why one operation failed, in Consul's words; the transaction as a whole was rolled back.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxnError {
    pub op_index: u32,
    pub what: String,
}

impl TxnError {
    pub fn new(op_index: usize, what: impl Into<String>) -> TxnError {
        TxnError {
            op_index: op_index as u32,
            what: what.into(),
        }
    }
}

/// Keys for the error texts that name a service or check on a node.
pub(crate) fn on_node(what: &str, id: &str, node: &str) -> String {
    format!("{what} {id:?} on node {node:?}")
}
