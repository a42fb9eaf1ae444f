//! The durable forms of what the log store and snapshot files keep: log entries, the vote,
//! log ids and the snapshot header.
//!
//! openraft's own types are serde-derived, but their layout is openraft's to change between
//! releases, and a positional codec would then misread every stored entry. So what goes to
//! disk (and, later, between servers) is these records, whose layout is ours, converted
//! to and from openraft's types at the edge. Every record is an enum of versions, encoded
//! with `legate_catalog::codec` under its rules (a layout never changes in place; byte
//! fixtures in `tests/fixtures` pin each version).

use super::types::{Entry, LogId, NodeId, SnapshotMeta, StoredMembership, Vote};
use legate_catalog::LogPayload;
use openraft::{BasicNode, CommittedLeaderId, EntryPayload, LeaderId, Membership};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// A log id: the term and node of the leader that wrote the entry, and its index.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogIdV1 {
    pub term: u64,
    pub node: NodeId,
    pub index: u64,
}

impl From<&LogId> for LogIdV1 {
    fn from(log_id: &LogId) -> Self {
        LogIdV1 {
            term: log_id.leader_id.term,
            node: log_id.leader_id.node_id,
            index: log_id.index,
        }
    }
}

impl From<LogIdV1> for LogId {
    fn from(record: LogIdV1) -> Self {
        LogId::new(
            CommittedLeaderId::new(record.term, record.node),
            record.index,
        )
    }
}

/// A Raft membership: the voter sets (two while a joint change is in progress) and every
/// member's server RPC address, learners included.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MembershipV1 {
    pub configs: Vec<BTreeSet<NodeId>>,
    pub nodes: BTreeMap<NodeId, String>,
}

impl From<&Membership<NodeId, BasicNode>> for MembershipV1 {
    fn from(membership: &Membership<NodeId, BasicNode>) -> Self {
        MembershipV1 {
            configs: membership.get_joint_config().clone(),
            nodes: membership
                .nodes()
                .map(|(id, node)| (*id, node.addr.clone()))
                .collect(),
        }
    }
}

impl From<MembershipV1> for Membership<NodeId, BasicNode> {
    fn from(record: MembershipV1) -> Self {
        let nodes: BTreeMap<NodeId, BasicNode> = record
            .nodes
            .into_iter()
            .map(|(id, addr)| (id, BasicNode::new(addr)))
            .collect();
        Membership::new(record.configs, nodes)
    }
}

/// What a log entry carries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PayloadV1 {
    /// A new leader's first entry.
    Blank,
    /// A catalog command (itself a versioned envelope).
    Normal(LogPayload),
    Membership(MembershipV1),
}

/// A stored log entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum EntryRecord {
    V1 { log_id: LogIdV1, payload: PayloadV1 },
}

impl From<&Entry> for EntryRecord {
    fn from(entry: &Entry) -> Self {
        let payload = match &entry.payload {
            EntryPayload::Blank => PayloadV1::Blank,
            EntryPayload::Normal(payload) => PayloadV1::Normal(payload.clone()),
            EntryPayload::Membership(membership) => PayloadV1::Membership(membership.into()),
        };
        EntryRecord::V1 {
            log_id: (&entry.log_id).into(),
            payload,
        }
    }
}

impl From<EntryRecord> for Entry {
    fn from(record: EntryRecord) -> Self {
        let EntryRecord::V1 { log_id, payload } = record;
        let payload = match payload {
            PayloadV1::Blank => EntryPayload::Blank,
            PayloadV1::Normal(payload) => EntryPayload::Normal(payload),
            PayloadV1::Membership(membership) => EntryPayload::Membership(membership.into()),
        };
        Entry {
            log_id: log_id.into(),
            payload,
        }
    }
}

/// A stored vote: whom this server voted for in which term, and whether that leader was
/// confirmed by a quorum.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum VoteRecord {
    V1 {
        term: u64,
        node: NodeId,
        committed: bool,
    },
}

impl From<&Vote> for VoteRecord {
    fn from(vote: &Vote) -> Self {
        VoteRecord::V1 {
            term: vote.leader_id.term,
            node: vote.leader_id.node_id,
            committed: vote.committed,
        }
    }
}

impl From<VoteRecord> for Vote {
    fn from(record: VoteRecord) -> Self {
        let VoteRecord::V1 {
            term,
            node,
            committed,
        } = record;
        Vote {
            leader_id: LeaderId::new(term, node),
            committed,
        }
    }
}

/// A stored optional log id (the committed and purged points).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LogIdRecord {
    V1(Option<LogIdV1>),
}

impl From<Option<&LogId>> for LogIdRecord {
    fn from(log_id: Option<&LogId>) -> Self {
        LogIdRecord::V1(log_id.map(LogIdV1::from))
    }
}

impl From<LogIdRecord> for Option<LogId> {
    fn from(record: LogIdRecord) -> Self {
        let LogIdRecord::V1(log_id) = record;
        log_id.map(LogId::from)
    }
}

/// The header of a snapshot file, and of a snapshot sent to a follower: what it covers and
/// how long its data is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SnapshotHeader {
    V1 {
        last_log_id: Option<LogIdV1>,
        membership_log_id: Option<LogIdV1>,
        membership: MembershipV1,
        snapshot_id: String,
        data_len: u64,
    },
}

impl SnapshotHeader {
    pub fn new(meta: &SnapshotMeta, data_len: u64) -> SnapshotHeader {
        SnapshotHeader::V1 {
            last_log_id: meta.last_log_id.as_ref().map(LogIdV1::from),
            membership_log_id: meta.last_membership.log_id().as_ref().map(LogIdV1::from),
            membership: meta.last_membership.membership().into(),
            snapshot_id: meta.snapshot_id.clone(),
            data_len,
        }
    }

    pub fn data_len(&self) -> u64 {
        let SnapshotHeader::V1 { data_len, .. } = self;
        *data_len
    }

    pub fn meta(&self) -> SnapshotMeta {
        let SnapshotHeader::V1 {
            last_log_id,
            membership_log_id,
            membership,
            snapshot_id,
            ..
        } = self.clone();
        SnapshotMeta {
            last_log_id: last_log_id.map(LogId::from),
            last_membership: StoredMembership::new(
                membership_log_id.map(LogId::from),
                membership.into(),
            ),
            snapshot_id,
        }
    }
}
