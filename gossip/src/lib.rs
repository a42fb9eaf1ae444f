//! SWIM gossip membership for Legate: foca underneath, Serf semantics on
//! top (statuses, tags, leave intents, user events, reaping), Lifeguard
//! against false failures, AES-GCM encryption of every packet and frame.
//!
//! The crate stands alone (no other workspace crate): the agent starts it
//! with [`start`] and talks to it through the cheap-to-clone [`Gossip`]
//! handle.
//!
//! What sits on top of foca, and why:
//! - Tags and leave intents are custom broadcasts (`wire.rs`), re-gossiped
//!   by every member when someone new comes up and exchanged in full by
//!   push-pull; [`Gossip::members`] lists a member once its tags are known.
//! - Joining is a TCP push-pull exchange only: foca's identity key is the
//!   node *name*, which a joiner does not know for a bare address.
//! - Lifeguard (local health, shrinking suspicion, buddy notice) is wired
//!   in through the timer queue the core owns; see the `core` module docs.
//! - foca 2.0 sends `TurnUndead` to a member whose suspicion timer fires
//!   even after it refuted; the core re-checks the suspicion before handing
//!   the timer to foca, so refuted members are never kicked out.
//!
//! Layout:
//! - `core` — the sans-io state machine ([`Core`]): foca, the Serf view,
//!   Lifeguard wiring, encryption; time is an input.
//! - `driver` — the tokio task that owns the UDP socket, the push-pull TCP
//!   listener and the clock, and feeds the core.
//! - `handle` — the public handle ([`Gossip`]), [`GossipConfig`], [`start`]
//!   and [`retry_join`].
//! - `identity` — [`NodeId`], foca's renewable identity.
//! - `tags` — typed [`Tags`] and Consul's string tag map.
//! - `member` — [`Member`], [`MemberStatus`] and [`Event`]s.
//! - `timing` — [`Timing`] (LAN/WAN/fast) and the foca config mapping.
//! - `lifeguard` — local health score and the suspicion-timeout formula.
//! - `timers` — the ordered timer queue the core owns.
//! - `keyring` — keys, the packet envelope, keyring persistence.
//! - `wire` — versioned encodings of broadcasts and push-pull state.
//! - `snapshot` — the members an agent knew, on disk, rejoined at start.
//! - `stats` — counters.

#![warn(missing_docs)]

pub mod core;
mod driver;
mod handle;
pub mod identity;
pub mod keyring;
pub mod lifeguard;
pub mod member;
pub mod snapshot;
pub mod stats;
pub mod tags;
pub mod timers;
pub mod timing;
pub mod vivaldi;
pub mod wire;

pub use crate::core::{
    ConfigError, Core, CoreConfig, EventError, ForceLeaveError, PushPullError, MAX_UDP_PACKET,
    MAX_USER_EVENT,
};
pub use crate::handle::{
    retry_join, start, Gossip, GossipConfig, JoinError, LeaveError, OpError, RetryJoinError,
    StartError, DEFAULT_PORT,
};
pub use crate::identity::NodeId;
pub use crate::keyring::{keygen, Key, KeyError, Keyring, KeyringList};
pub use crate::member::{Event, Member, MemberEvent, MemberEventKind, MemberStatus, UserEvent};
pub use crate::stats::Stats;
pub use crate::tags::{ProtocolVersions, Role, Tags};
pub use crate::timing::Timing;
pub use crate::vivaldi::{Coordinate, Vivaldi, VivaldiConfig};
