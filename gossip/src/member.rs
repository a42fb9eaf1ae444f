//! The Serf view of a member and the events the view emits.

use std::net::SocketAddr;

use crate::tags::Tags;

/// A member's status, as Serf (and `/v1/agent/members`) reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MemberStatus {
    /// Reachable (foca's Alive or Suspect).
    Alive,
    /// Announced a graceful leave that has not completed yet.
    Leaving,
    /// Left gracefully (or was force-left).
    Left,
    /// Declared down without a leave intent.
    Failed,
}

impl MemberStatus {
    /// Consul's integer status: 0 none, 1 alive, 2 leaving, 3 left, 4 failed.
    pub fn status_code(self) -> u8 {
        match self {
            Self::Alive => 1,
            Self::Leaving => 2,
            Self::Left => 3,
            Self::Failed => 4,
        }
    }

    /// Lower-case name as Serf prints it (`alive`, `leaving`, `left`, `failed`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Alive => "alive",
            Self::Leaving => "leaving",
            Self::Left => "left",
            Self::Failed => "failed",
        }
    }
}

/// A member of the cluster as this node sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Unique node name.
    pub name: String,
    /// Gossip address (UDP + push-pull TCP).
    pub addr: SocketAddr,
    /// Tags (Consul's `role`, `dc`, ...); see [`Tags::to_map`].
    pub tags: Tags,
    /// Serf status.
    pub status: MemberStatus,
    /// Identity generation; changes when the member restarts or renews
    /// its identity after being declared down.
    pub generation: u64,
}

/// What happened to a member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberEventKind {
    /// Became alive (new, or back from failed/left).
    Join,
    /// Left gracefully (status Left).
    Leave,
    /// Declared failed.
    Failed,
    /// Tags changed.
    Update,
    /// Removed from the member list (reconnect/tombstone timeout, or prune).
    Reap,
}

/// A membership change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberEvent {
    /// What happened.
    pub kind: MemberEventKind,
    /// The member after the change (for `Reap`, its last known state).
    pub member: Member,
}

/// A user event (Consul's `/v1/event/fire`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserEvent {
    /// Lamport time the event was fired at.
    pub ltime: u64,
    /// Event name.
    pub name: String,
    /// Opaque payload.
    pub payload: Vec<u8>,
}

/// Everything [`crate::Gossip::subscribe`] delivers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A membership change.
    Member(MemberEvent),
    /// A user event, delivered once per (ltime, name, payload).
    User(UserEvent),
}
