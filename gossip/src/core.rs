//! The sans-io core: foca plus Serf semantics, Lifeguard and encryption.
//!
//! Every method takes `now` as an input; the core never reads a clock and
//! never touches a socket. The driver (or a simulation) feeds it packets,
//! push-pull frames and the current instant, then drains what it wants
//! sent ([`Core::drain_outgoing`]) and what happened ([`Core::drain_events`]).
//!
//! How Lifeguard is wired in (foca has no hook for it):
//!
//! * The core owns foca's timer queue. `ProbeRandomMember` and
//!   `SendIndirectProbe` are scheduled at `period × (score+1)` and
//!   `rtt × (score+1)`: local health awareness stretches the probe cycle
//!   exactly as memberlist does, without foca knowing.
//! * `ChangeSuspectToDown` is not handed back after foca's fixed delay.
//!   The core opens a suspicion record and delivers the timer at
//!   `start + max(min, max - (max-min)·log(C+1)/log(K+1))`, re-evaluated as
//!   confirmations `C` arrive. Confirmations are `Suspect` custom
//!   broadcasts that each member sends when *its own* probe of the target
//!   fails, so they are independent, as in memberlist.
//! * The score rises when a probe fails while nothing at all was heard
//!   from the cluster during it, when timers fire late (the process was
//!   paused or starved), and when this node had to refute a suspicion; it
//!   falls on each successful probe. foca has no nacks, so "heard nothing
//!   during the probe" stands in for memberlist's missed nacks.
//! * A probe or suspicion timer that fires late is deferred once (probe:
//!   by a short grace; suspicion: by `probe_interval × (score+1)`, at most
//!   twice) so packets that queued up while this node was stalled (acks,
//!   refutations) are processed before it judges anyone.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use foca::{
    BroadcastHandler, Foca, Invalidates, Member as FocaMember, Message, OwnedNotification,
    PostcardCodec, Runtime, State, Timer,
};
use rand10::rngs::StdRng;
use rand10::SeedableRng;

use crate::identity::{NodeId, MAX_NODE_NAME_LEN};
use crate::keyring::{self, KeyError, Keyring, OpenError, ENVELOPE_OVERHEAD};
use crate::lifeguard::{suspicion_timeout, Awareness};
use crate::member::{Event, Member, MemberEvent, MemberEventKind, MemberStatus, UserEvent};
use crate::stats::Stats;
use crate::tags::Tags;
use crate::timers::TimerQueue;
use crate::timing::Timing;
use crate::vivaldi::{Coordinate, Vivaldi, VivaldiConfig};
use crate::wire::{self, Broadcast, PushPull, PushPullMember, WireError};

/// Largest UDP datagram sent or accepted (envelope included).
pub const MAX_UDP_PACKET: usize = 1400;
/// Consul's limit on a user event: name plus payload.
pub const MAX_USER_EVENT: usize = 512;
/// User events remembered for de-duplication.
const EVENT_DEDUP: usize = 1024;
/// Suspicion confirmations remembered per suspected member.
const MAX_CONFIRMATIONS: usize = 32;
/// Outgoing packets buffered between drains; beyond this they are dropped
/// (the protocol tolerates loss; memory must not grow).
const MAX_OUTBOX: usize = 4096;
/// Events buffered between drains.
const MAX_EVENTS: usize = 4096;
/// Inner payload kinds (first byte inside the envelope): a foca packet,
/// or a direct Serf message (a `wire::Broadcast` sent to one member).
const INNER_FOCA: u8 = 0;
const INNER_DIRECT: u8 = 1;
/// Names the broadcast handler remembers versions for (tags, leaves);
/// beyond this, broadcasts about new names are ignored.
const MAX_TRACKED: usize = 100_000;
/// Times a late suspicion timer may be deferred.
const MAX_SUSPICION_DEFERS: u8 = 2;

/// Everything the core needs to start.
#[derive(Debug, Clone)]
pub struct CoreConfig {
    /// Unique node name.
    pub node_name: String,
    /// Address other members reach us at.
    pub advertise: SocketAddr,
    /// Identity generation (the driver uses wall-clock milliseconds).
    pub generation: u64,
    /// Our tags.
    pub tags: Tags,
    /// Protocol timing.
    pub timing: Timing,
    /// Failed members are reaped after this.
    pub reconnect_timeout: Duration,
    /// Left members are reaped after this.
    pub tombstone_timeout: Duration,
    /// Encryption keys; `None` gossips in plaintext.
    pub keyring: Option<Keyring>,
    /// Refuse plaintext packets when a keyring is present.
    pub verify_incoming: bool,
    /// Encrypt outgoing packets when a keyring is present.
    pub verify_outgoing: bool,
    /// Seed for the protocol RNG (member selection); never used for nonces.
    pub rng_seed: u64,
    /// Lifeguard on (default) or plain SWIM timing (for comparison tests).
    pub lifeguard: bool,
    /// Members tracked at most; further ones are ignored by the view.
    pub max_members: usize,
}

/// Why the core could not start. Nothing was created; fix the config.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The node name is empty or too long.
    #[error("node name must be 1..={MAX_NODE_NAME_LEN} bytes, got {0}")]
    NodeName(usize),
    /// Timing violates an invariant.
    #[error("invalid timing: {0}")]
    Timing(String),
    /// Tags do not fit in a packet.
    #[error("tags encode to {0} bytes, more than the 512 allowed")]
    TagsTooLarge(usize),
}

/// Errors of [`Core::fire_event`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    /// Name plus payload exceed 512 bytes. Nothing was sent; retrying the same event fails again.
    #[error("user event exceeds limit of {MAX_USER_EVENT} bytes (name + payload is {0})")]
    TooLarge(usize),
    /// Empty event name. Nothing was sent.
    #[error("user event name must not be empty")]
    EmptyName,
    /// This node has left. Nothing was sent; rejoining is required.
    #[error("this node has left the cluster")]
    Left,
}

/// Errors of [`Core::force_leave`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ForceLeaveError {
    /// No member has that name. Nothing changed.
    #[error("no member named {0:?}")]
    NotFound(String),
    /// The member is alive; only failed (or left) members can be forced out. Nothing changed.
    #[error("member {0:?} is alive; only failed members can be forced to leave")]
    NotFailed(String),
}

/// Errors applying a push-pull frame. Nothing changed when returned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PushPullError {
    /// No installed key authenticates the frame (counted in `auth_failures`).
    #[error("push-pull frame failed authentication")]
    Auth,
    /// Plaintext refused by `verify_incoming`.
    #[error("plaintext push-pull frame refused (verify_incoming)")]
    Plaintext,
    /// The frame does not decode.
    #[error("malformed push-pull frame: {0}")]
    Wire(#[from] WireError),
}

// ---------------------------------------------------------------------
// foca runtime and broadcast handler

/// What foca asked for during one call, in order.
enum RtOut {
    Send(NodeId, Vec<u8>),
    Timer(Timer<NodeId>, Duration),
    Note(OwnedNotification<NodeId>),
}

#[derive(Default)]
struct Rt(Vec<RtOut>);

impl Runtime<NodeId> for Rt {
    fn notify(&mut self, n: foca::Notification<'_, NodeId>) {
        self.0.push(RtOut::Note(n.to_owned()));
    }
    fn send_to(&mut self, to: NodeId, data: &[u8]) {
        self.0.push(RtOut::Send(to, data.to_vec()));
    }
    fn submit_after(&mut self, event: Timer<NodeId>, after: Duration) {
        self.0.push(RtOut::Timer(event, after));
    }
}

/// Dedup key of a broadcast in foca's dissemination queue.
#[derive(Debug, Clone, PartialEq, Eq)]
enum BKey {
    Tags(String),
    Leave(String),
    User(u64, String, u64),
    Suspect(String, u64, u16, String),
}

impl Invalidates for BKey {
    fn invalidates(&self, other: &Self) -> bool {
        self == other
    }
}

/// State shared between the core and the broadcast handler foca owns
/// (foca gives no access to its handler, hence the mutex; it is never
/// contended: both live on the same task).
#[derive(Default)]
struct Inbox {
    accepted: Vec<Broadcast>,
    tag_versions: HashMap<String, (u64, u64)>,
    leave_seen: HashMap<String, (u64, bool)>,
    suspect_seen: BTreeSet<(String, u64, u16, String)>,
    events_seen: BTreeSet<(u64, String, u64)>,
    malformed: u64,
}

struct Handler(Arc<Mutex<Inbox>>);

fn lock(m: &Mutex<Inbox>) -> MutexGuard<'_, Inbox> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// FNV-1a: a stable payload hash for event de-duplication.
fn fnv(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

impl BroadcastHandler<NodeId> for Handler {
    type Key = BKey;
    type Error = WireError;

    fn receive_item(
        &mut self,
        data: &[u8],
        sender: Option<&NodeId>,
    ) -> Result<Option<BKey>, WireError> {
        let mut inbox = lock(&self.0);
        let b = match Broadcast::decode(data) {
            Ok(b) => b,
            Err(e) => {
                inbox.malformed += 1;
                return Err(e);
            }
        };
        let local = sender.is_none();
        let key = match &b {
            Broadcast::Tags {
                name,
                generation,
                version,
                ..
            } => {
                let v = (*generation, *version);
                let known = inbox.tag_versions.get(name).copied();
                if known.is_none() && inbox.tag_versions.len() >= MAX_TRACKED {
                    return Ok(None);
                }
                // Our own (re-)announcements always go out: they are how a
                // member that just joined learns our tags.
                if !local && known.is_some_and(|k| k >= v) {
                    return Ok(None);
                }
                if known.is_none_or(|k| k < v) {
                    inbox.tag_versions.insert(name.clone(), v);
                }
                BKey::Tags(name.clone())
            }
            Broadcast::Leave {
                name,
                generation,
                prune,
            } => {
                let v = (*generation, *prune);
                let known = inbox.leave_seen.get(name);
                if known.is_none() && inbox.leave_seen.len() >= MAX_TRACKED {
                    return Ok(None);
                }
                if known.is_some_and(|k| *k >= v) {
                    return Ok(None);
                }
                inbox.leave_seen.insert(name.clone(), v);
                BKey::Leave(name.clone())
            }
            Broadcast::User {
                ltime,
                name,
                payload,
            } => {
                let k = (*ltime, name.clone(), fnv(payload));
                if inbox.events_seen.len() >= EVENT_DEDUP
                    && inbox.events_seen.first().is_some_and(|f| k < *f)
                {
                    // Older than everything we remember: may be a replay.
                    return Ok(None);
                }
                if !inbox.events_seen.insert(k.clone()) {
                    return Ok(None);
                }
                while inbox.events_seen.len() > EVENT_DEDUP {
                    inbox.events_seen.pop_first();
                }
                BKey::User(k.0, k.1, k.2)
            }
            Broadcast::Suspect {
                target,
                generation,
                incarnation,
                from,
            } => {
                let k = (target.clone(), *generation, *incarnation, from.clone());
                if !inbox.suspect_seen.insert(k.clone()) {
                    return Ok(None);
                }
                // Bounded memory: old confirmations are useless anyway.
                while inbox.suspect_seen.len() > 4 * EVENT_DEDUP {
                    inbox.suspect_seen.pop_first();
                }
                BKey::Suspect(k.0, k.1, k.2, k.3)
            }
            // Only ever sent directly; a gossiped one is someone's mistake.
            Broadcast::Coordinate { .. } => return Ok(None),
        };
        inbox.accepted.push(b);
        Ok(Some(key))
    }
}

type FocaT = Foca<NodeId, PostcardCodec, StdRng, Handler>;

// ---------------------------------------------------------------------
// the Serf view

#[derive(Debug, Clone)]
struct Entry {
    id: NodeId,
    tags: Option<(u64, Tags)>,
    status: MemberStatus,
    since: Instant,
    /// Generation a leave intent was seen for.
    leave_gen: Option<u64>,
    /// A Join event went out for the current generation.
    joined: bool,
}

impl Entry {
    fn member(&self) -> Member {
        Member {
            name: self.id.name.clone(),
            addr: self.id.addr,
            tags: self.tags.clone().map(|t| t.1).unwrap_or_default(),
            status: self.status,
            generation: self.id.generation,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct SuspKey {
    name: String,
    generation: u64,
    incarnation: u16,
}

struct Suspicion {
    timer: Timer<NodeId>,
    start: Instant,
    deadline: Instant,
    confirmations: HashSet<String>,
    defers: u8,
}

enum Scheduled {
    Foca(Timer<NodeId>, bool),
    Suspicion(SuspKey),
    Reap(String),
}

/// Tracks our current probe for local health awareness.
struct ProbeWatch {
    number: u8,
    target: NodeId,
    /// When the ping left: the direct ack's arrival gives the round trip.
    sent: Instant,
    heard: bool,
    late: bool,
    done: bool,
}

/// The sans-io gossip state machine. See the module docs.
pub struct Core {
    foca: FocaT,
    inbox: Arc<Mutex<Inbox>>,
    timers: TimerQueue<Scheduled>,
    cfg: CoreConfig,
    id: NodeId,
    tags: Tags,
    tags_version: u64,
    view: BTreeMap<String, Entry>,
    pending_tags: HashMap<String, (u64, u64, Tags)>,
    pruned: HashSet<(String, u64)>,
    leave_intents: HashMap<String, u64>,
    suspicions: HashMap<SuspKey, Suspicion>,
    pending_confirms: HashMap<SuspKey, HashSet<String>>,
    awareness: Awareness,
    probe: Option<ProbeWatch>,
    last_incarnation: u16,
    event_clock: u64,
    leaving: bool,
    left: bool,
    outbox: VecDeque<(SocketAddr, Vec<u8>)>,
    events: VecDeque<Event>,
    changed: bool,
    stats: Stats,
    alive_n: usize,
    /// This member's network coordinate, refined by every direct probe round trip.
    vivaldi: Vivaldi,
    /// The latest coordinate each member sent us (`Broadcast::Coordinate`).
    coordinates: HashMap<String, Coordinate>,
}

impl Core {
    /// Creates the core. Nothing is sent until [`Core::join_request`]'s
    /// exchange (or an incoming one) connects us to a cluster.
    pub fn new(cfg: CoreConfig, now: Instant) -> Result<Self, ConfigError> {
        let name_len = cfg.node_name.len();
        if name_len == 0 || name_len > MAX_NODE_NAME_LEN {
            return Err(ConfigError::NodeName(name_len));
        }
        cfg.timing.validate().map_err(ConfigError::Timing)?;
        let encoded = cfg.tags.encode().len();
        if encoded > crate::tags::MAX_TAGS_LEN {
            return Err(ConfigError::TagsTooLarge(encoded));
        }
        let id = NodeId {
            name: cfg.node_name.clone(),
            addr: cfg.advertise,
            generation: cfg.generation,
        };
        let inbox = Arc::new(Mutex::new(Inbox::default()));
        let foca = Foca::with_custom_broadcast(
            id.clone(),
            Self::foca_config(&cfg, 1),
            StdRng::seed_from_u64(cfg.rng_seed),
            PostcardCodec,
            Handler(inbox.clone()),
        );
        let mut core = Self {
            foca,
            inbox,
            timers: TimerQueue::default(),
            awareness: Awareness::new(cfg.timing.awareness_max),
            tags: cfg.tags.clone(),
            id: id.clone(),
            cfg,
            tags_version: 1,
            view: BTreeMap::new(),
            pending_tags: HashMap::new(),
            pruned: HashSet::new(),
            leave_intents: HashMap::new(),
            suspicions: HashMap::new(),
            pending_confirms: HashMap::new(),
            probe: None,
            last_incarnation: 0,
            event_clock: 0,
            leaving: false,
            left: false,
            outbox: VecDeque::new(),
            events: VecDeque::new(),
            changed: true,
            stats: Stats::default(),
            alive_n: 1,
            vivaldi: Vivaldi::new(VivaldiConfig::default(), fnv(id.name.as_bytes())),
            coordinates: HashMap::new(),
        };
        core.view.insert(
            id.name.clone(),
            Entry {
                id,
                tags: Some((1, core.tags.clone())),
                status: MemberStatus::Alive,
                since: now,
                leave_gen: None,
                joined: true,
            },
        );
        core.broadcast_own_tags(now);
        Ok(core)
    }

    fn foca_config(cfg: &CoreConfig, n: usize) -> foca::Config {
        let remove_down = cfg.reconnect_timeout.max(cfg.tombstone_timeout);
        cfg.timing
            .foca_config(n, MAX_UDP_PACKET - ENVELOPE_OVERHEAD - 1, remove_down)
    }

    // -----------------------------------------------------------------
    // inputs

    /// Handles one UDP datagram. Bad packets change nothing and are counted.
    pub fn handle_packet(&mut self, now: Instant, from: SocketAddr, data: &[u8]) {
        self.stats.packets_in += 1;
        self.stats.bytes_in += data.len() as u64;
        if data.len() > MAX_UDP_PACKET {
            self.stats.oversized += 1;
            tracing::debug!(%from, len = data.len(), "gossip: oversized packet dropped");
            return;
        }
        let plain = match keyring::open(self.cfg.keyring.as_ref(), self.cfg.verify_incoming, data) {
            Ok(p) => p,
            Err(e) => {
                self.count_open_error(e);
                tracing::debug!(%from, ?e, "gossip: packet rejected");
                return;
            }
        };
        let (kind, body) = match plain.split_first() {
            Some((k, b)) => (*k, b),
            None => {
                self.stats.malformed += 1;
                return;
            }
        };
        match kind {
            INNER_FOCA => {}
            INNER_DIRECT => {
                match Broadcast::decode(body) {
                    Ok(b) => self.on_direct(now, b),
                    Err(e) => {
                        self.stats.malformed += 1;
                        tracing::debug!(%from, error = %e, "gossip: bad direct message");
                    }
                }
                return;
            }
            _ => {
                self.stats.malformed += 1;
                return;
            }
        }
        let mut rt = Rt::default();
        if let Err(e) = self.foca.handle_data(body, &mut rt) {
            // DataFromOurselves and friends are benign; decoding errors are
            // what a fuzzer or a confused peer produces. Either way foca
            // has not changed state for the offending part.
            if !matches!(e, foca::Error::DataFromOurselves) {
                self.stats.malformed += 1;
                tracing::debug!(%from, error = %e, "gossip: packet not accepted by foca");
            }
        }
        self.flush(now, rt);
    }

    fn count_open_error(&mut self, e: OpenError) {
        match e {
            OpenError::Auth => self.stats.auth_failures += 1,
            OpenError::PlaintextRefused => self.stats.plaintext_refused += 1,
            OpenError::Malformed => self.stats.malformed += 1,
        }
    }

    /// Runs every timer due at `now`.
    pub fn handle_timers(&mut self, now: Instant) {
        let late_threshold = (self.cfg.timing.probe_timeout / 2).max(Duration::from_millis(20));
        let grace = (self.cfg.timing.probe_timeout / 10).max(Duration::from_millis(10));
        let mut counted_late = false;
        // Bounded: each pass handles what was due when it started, plus
        // deferred items which are pushed into the future.
        for _ in 0..100_000 {
            let Some((due, item)) = self.timers.pop_due(now) else {
                break;
            };
            let late = self.cfg.lifeguard && now.saturating_duration_since(due) > late_threshold;
            if late && !counted_late {
                // We were paused or starved: evidence that *we* are slow.
                counted_late = true;
                self.stats.late_timers += 1;
                self.awareness.apply(1);
                if let Some(p) = self.probe.as_mut() {
                    p.late = true;
                }
            }
            match item {
                Scheduled::Foca(timer, deferred) => {
                    let probe_timer = matches!(
                        timer,
                        Timer::ProbeRandomMember(_) | Timer::SendIndirectProbe { .. }
                    );
                    if late && probe_timer && !deferred {
                        // Let the packets that queued up while we were
                        // stalled (acks!) be processed before judging.
                        self.timers.push(now + grace, Scheduled::Foca(timer, true));
                        continue;
                    }
                    let mut rt = Rt::default();
                    if let Err(e) = self.foca.handle_timer(timer, &mut rt) {
                        tracing::debug!(error = %e, "gossip: foca timer");
                    }
                    self.flush(now, rt);
                }
                Scheduled::Suspicion(key) => {
                    let interval = self.awareness.scale(self.cfg.timing.probe_interval);
                    let Some(s) = self.suspicions.get_mut(&key) else {
                        continue;
                    };
                    if s.deadline > now {
                        continue; // superseded by a later push for the same record
                    }
                    if late && s.defers < MAX_SUSPICION_DEFERS {
                        s.defers += 1;
                        s.deadline = now + interval;
                        self.timers.push(s.deadline, Scheduled::Suspicion(key));
                        continue;
                    }
                    let Some(s) = self.suspicions.remove(&key) else {
                        continue;
                    };
                    // foca 2.0 sends `TurnUndead` to the member whenever this
                    // timer fires and the member still exists, even when it
                    // refuted the suspicion (the incarnation check only guards
                    // the state change). A refuted member would then renew its
                    // identity and flap. So hand the timer over only while the
                    // suspicion it belongs to still stands.
                    let still_suspect = self.foca.iter_membership_state().any(|m| {
                        m.id().name == key.name
                            && m.id().generation == key.generation
                            && m.incarnation() == key.incarnation
                            && m.state() == State::Suspect
                    });
                    if !still_suspect {
                        continue;
                    }
                    let mut rt = Rt::default();
                    if let Err(e) = self.foca.handle_timer(s.timer, &mut rt) {
                        tracing::debug!(error = %e, "gossip: foca suspicion timer");
                    }
                    self.flush(now, rt);
                }
                Scheduled::Reap(name) => self.reap(now, &name),
            }
        }
    }

    /// Earliest instant [`Core::handle_timers`] has work.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.timers.next_deadline()
    }

    // -----------------------------------------------------------------
    // push-pull

    fn push_pull_state(&self, join: bool) -> PushPull {
        let mut members: Vec<PushPullMember> = Vec::new();
        let mut listed = HashSet::new();
        for m in self.foca.iter_membership_state() {
            let id = m.id();
            let entry = self.view.get(&id.name).filter(|e| e.id == *id);
            listed.insert(id.name.clone());
            members.push(PushPullMember {
                id: id.clone(),
                incarnation: m.incarnation(),
                state: match m.state() {
                    State::Alive => 0,
                    State::Suspect => 1,
                    State::Down => 2,
                },
                tags: entry.and_then(|e| e.tags.as_ref().map(|(v, t)| (*v, t.encode()))),
                left: entry.is_some_and(|e| e.leave_gen == Some(id.generation)),
            });
        }
        // Ourselves, and view-only entries (failed/left members foca already
        // forgot or never knew) so late joiners see them too.
        for (name, e) in &self.view {
            if listed.contains(name) {
                continue;
            }
            let is_self = *name == self.id.name;
            members.push(PushPullMember {
                id: e.id.clone(),
                incarnation: if is_self { self.last_incarnation } else { 0 },
                state: if is_self && !self.left { 0 } else { 2 },
                tags: e.tags.as_ref().map(|(v, t)| (*v, t.encode())),
                left: e.leave_gen == Some(e.id.generation),
            });
        }
        PushPull {
            join,
            from: self.id.name.clone(),
            event_ltime: self.event_clock,
            members,
        }
    }

    fn seal(&self, payload: &[u8]) -> Vec<u8> {
        keyring::seal(self.cfg.keyring.as_ref(), self.cfg.verify_outgoing, payload)
    }

    /// Our full state, sealed, to send to a peer (join or periodic sync).
    pub fn push_pull_request(&self, join: bool) -> Vec<u8> {
        self.seal(&wire::encode(&self.push_pull_state(join)))
    }

    /// Applies a peer's state and returns ours (sealed) as the reply.
    pub fn handle_push_pull_request(
        &mut self,
        now: Instant,
        frame: &[u8],
    ) -> Result<Vec<u8>, PushPullError> {
        self.apply_push_pull(now, frame)?;
        Ok(self.push_pull_request(false))
    }

    /// Applies the reply to our request; returns how many members it listed.
    pub fn handle_push_pull_response(
        &mut self,
        now: Instant,
        frame: &[u8],
    ) -> Result<usize, PushPullError> {
        self.apply_push_pull(now, frame)
    }

    /// Counts a push-pull exchange that failed outside the core (I/O).
    pub fn record_push_pull_failure(&mut self) {
        self.stats.push_pull_failures += 1;
    }

    fn apply_push_pull(&mut self, now: Instant, frame: &[u8]) -> Result<usize, PushPullError> {
        let fail = |core: &mut Self, e: PushPullError| {
            core.stats.push_pull_failures += 1;
            Err(e)
        };
        if frame.len() > wire::MAX_PUSH_PULL_FRAME {
            self.stats.malformed += 1;
            return fail(self, WireError::TooLarge(frame.len()).into());
        }
        let plain = match keyring::open(self.cfg.keyring.as_ref(), self.cfg.verify_incoming, frame)
        {
            Ok(p) => p,
            Err(e) => {
                self.count_open_error(e);
                let err = match e {
                    OpenError::Auth => PushPullError::Auth,
                    OpenError::PlaintextRefused => PushPullError::Plaintext,
                    OpenError::Malformed => {
                        PushPullError::Wire(WireError::Malformed("bad envelope".into()))
                    }
                };
                return fail(self, err);
            }
        };
        let state: PushPull = match wire::decode(&plain) {
            Ok(s) => s,
            Err(e) => {
                self.stats.malformed += 1;
                return fail(self, e.into());
            }
        };
        self.stats.push_pulls += 1;
        self.event_clock = self.event_clock.max(state.event_ltime);
        let count = state.members.len();
        let mut updates = Vec::new();
        for m in state.members.into_iter().take(self.cfg.max_members) {
            let name = m.id.name.clone();
            if name == self.id.name {
                // foca decides what an update about ourselves means.
            } else {
                if m.left {
                    self.note_leave_intent(&name, m.id.generation);
                }
                if let Some((version, Ok(tags))) =
                    m.tags.as_ref().map(|(v, b)| (*v, Tags::decode(b)))
                {
                    self.apply_tags(now, &name, m.id.generation, version, tags, true);
                }
                if m.state == 2 && !self.view.contains_key(&name) {
                    self.insert_dead(now, &m.id, m.left);
                }
            }
            let state = match m.state {
                0 => State::Alive,
                1 => State::Suspect,
                _ => State::Down,
            };
            updates.push(FocaMember::new(m.id, m.incarnation, state));
        }
        let mut rt = Rt::default();
        if let Err(e) = self.foca.apply_many(updates.into_iter(), true, &mut rt) {
            tracing::debug!(error = %e, "gossip: push-pull apply");
        }
        self.flush(now, rt);
        Ok(count)
    }

    // -----------------------------------------------------------------
    // operations

    /// Starts a graceful leave: marks us Leaving and broadcasts the intent.
    /// Call [`Core::finish_leave`] once it had time to spread.
    pub fn begin_leave(&mut self, now: Instant) {
        if self.left {
            return;
        }
        self.leaving = true;
        let b = Broadcast::Leave {
            name: self.id.name.clone(),
            generation: self.id.generation,
            prune: false,
        };
        self.add_broadcast(now, &b);
        let mut rt = Rt::default();
        let _ = self.foca.gossip(&mut rt);
        self.flush(now, rt);
    }

    /// Pending broadcasts (ours and relayed); the leave waits for zero.
    pub fn broadcast_backlog(&self) -> usize {
        self.foca.custom_broadcast_backlog() + self.foca.updates_backlog()
    }

    /// Leaves foca's cluster (declares ourselves down to a few members).
    pub fn finish_leave(&mut self, now: Instant) {
        if self.left {
            return;
        }
        self.leaving = true;
        let mut rt = Rt::default();
        let _ = self.foca.leave_cluster(&mut rt);
        self.flush(now, rt);
        self.left = true;
        let name = self.id.name.clone();
        self.set_status(now, &name, MemberStatus::Left, Some(MemberEventKind::Leave));
    }

    /// True once [`Core::finish_leave`] ran.
    pub fn has_left(&self) -> bool {
        self.left
    }

    /// Marks a failed member Left everywhere; with `prune`, removes it.
    pub fn force_leave(
        &mut self,
        now: Instant,
        name: &str,
        prune: bool,
    ) -> Result<(), ForceLeaveError> {
        let e = self
            .view
            .get(name)
            .ok_or_else(|| ForceLeaveError::NotFound(name.into()))?;
        if matches!(e.status, MemberStatus::Alive | MemberStatus::Leaving) || name == self.id.name {
            return Err(ForceLeaveError::NotFailed(name.into()));
        }
        let b = Broadcast::Leave {
            name: name.into(),
            generation: e.id.generation,
            prune,
        };
        self.add_broadcast(now, &b);
        Ok(())
    }

    /// Replaces our tags and broadcasts them.
    pub fn set_tags(&mut self, now: Instant, tags: Tags) -> Result<(), ConfigError> {
        let len = tags.encode().len();
        if len > crate::tags::MAX_TAGS_LEN {
            return Err(ConfigError::TagsTooLarge(len));
        }
        self.tags = tags;
        self.tags_version += 1;
        let name = self.id.name.clone();
        if let Some(e) = self.view.get_mut(&name) {
            e.tags = Some((self.tags_version, self.tags.clone()));
        }
        self.emit(MemberEventKind::Update, &name);
        self.broadcast_own_tags(now);
        Ok(())
    }

    /// Fires a user event to every member (and delivers it locally).
    pub fn fire_event(
        &mut self,
        now: Instant,
        name: &str,
        payload: Vec<u8>,
    ) -> Result<u64, EventError> {
        if name.is_empty() {
            return Err(EventError::EmptyName);
        }
        let size = name.len() + payload.len();
        if size > MAX_USER_EVENT {
            return Err(EventError::TooLarge(size));
        }
        if self.left {
            return Err(EventError::Left);
        }
        let ltime = self.event_clock;
        self.event_clock += 1;
        let b = Broadcast::User {
            ltime,
            name: name.into(),
            payload,
        };
        self.add_broadcast(now, &b);
        let mut rt = Rt::default();
        let _ = self.foca.gossip(&mut rt);
        self.flush(now, rt);
        Ok(ltime)
    }

    /// Installs a key (decrypt only until used).
    pub fn keyring_install(&mut self, key: keyring::Key) -> Result<(), KeyError> {
        self.keyring_mut()?.install(key)
    }

    /// Makes an installed key primary.
    pub fn keyring_use(&mut self, key: &keyring::Key) -> Result<(), KeyError> {
        self.keyring_mut()?.use_key(key)
    }

    /// Removes a non-primary key.
    pub fn keyring_remove(&mut self, key: &keyring::Key) -> Result<(), KeyError> {
        self.keyring_mut()?.remove(key)
    }

    fn keyring_mut(&mut self) -> Result<&mut Keyring, KeyError> {
        self.cfg.keyring.as_mut().ok_or(KeyError::Disabled)
    }

    /// The keyring, if encryption is configured.
    pub fn keyring(&self) -> Option<&Keyring> {
        self.cfg.keyring.as_ref()
    }

    // -----------------------------------------------------------------
    // outputs and views

    /// Packets to send: (destination, sealed bytes).
    pub fn drain_outgoing(&mut self) -> impl Iterator<Item = (SocketAddr, Vec<u8>)> + '_ {
        self.outbox.drain(..)
    }

    /// Events since the last drain.
    pub fn drain_events(&mut self) -> impl Iterator<Item = Event> + '_ {
        self.events.drain(..)
    }

    /// True (once) if membership changed since the last call.
    pub fn take_changed(&mut self) -> bool {
        std::mem::take(&mut self.changed)
    }

    /// Members whose tags are known, ourselves included, sorted by name.
    pub fn members(&self) -> Vec<Member> {
        self.view
            .values()
            .filter(|e| e.tags.is_some())
            .map(Entry::member)
            .collect()
    }

    /// One member by name.
    pub fn member(&self, name: &str) -> Option<Member> {
        self.view.get(name).map(Entry::member)
    }

    /// Ourselves.
    pub fn local_member(&self) -> Member {
        self.view
            .get(&self.id.name)
            .map(Entry::member)
            .unwrap_or_else(|| Member {
                name: self.id.name.clone(),
                addr: self.id.addr,
                tags: self.tags.clone(),
                status: MemberStatus::Alive,
                generation: self.id.generation,
            })
    }

    /// Our current foca identity.
    pub fn identity(&self) -> &NodeId {
        &self.id
    }

    /// Live members (in foca's view) whose tags have not arrived. Tags travel as broadcasts,
    /// and a broadcast lost to a full queue or a dropped packet would leave such a member
    /// invisible to `members()` until the next periodic state exchange (30 s); the driver
    /// exchanges state with one of them at once instead.
    pub fn untagged_peers(&self) -> Vec<SocketAddr> {
        self.foca
            .iter_members()
            .filter(|m| {
                self.view
                    .get(&m.id().name)
                    .is_none_or(|entry| entry.tags.is_none())
            })
            .map(|m| m.id().addr)
            .collect()
    }

    /// Serf's reconnect: the address of a member held failed to join again, or none.
    /// `draw` is uniform in [0, 1). A node tries with a chance of failed ÷ alive members
    /// (at least one alive counted), so one that lost every peer tries each time, and a
    /// large cluster with a few failed members does not keep dialling them all.
    pub fn reconnect_target(&self, draw: f64, pick: usize) -> Option<SocketAddr> {
        let failed: Vec<SocketAddr> = self
            .members()
            .into_iter()
            .filter(|m| m.status == MemberStatus::Failed)
            .map(|m| m.addr)
            .collect();
        if failed.is_empty() {
            return None;
        }
        let alive = self.alive_peers().len().max(1);
        if draw >= failed.len() as f64 / alive as f64 {
            return None;
        }
        Some(failed[pick % failed.len()])
    }

    /// Addresses of alive members other than us (push-pull targets).
    pub fn alive_peers(&self) -> Vec<SocketAddr> {
        self.foca.iter_members().map(|m| m.id().addr).collect()
    }

    /// The incarnation we last sent (rises each time we refute a suspicion).
    pub fn incarnation(&self) -> u16 {
        self.last_incarnation
    }

    /// foca's view of a member: (generation, incarnation, "alive"|"suspect"|"down").
    /// For tests and debugging.
    pub fn swim_state(&self, name: &str) -> Option<(u64, u16, &'static str)> {
        self.foca
            .iter_membership_state()
            .find(|m| m.id().name == name)
            .map(|m| {
                let st = match m.state() {
                    State::Alive => "alive",
                    State::Suspect => "suspect",
                    State::Down => "down",
                };
                (m.id().generation, m.incarnation(), st)
            })
    }

    /// Lifeguard local health score.
    pub fn health_score(&self) -> u8 {
        self.awareness.score()
    }

    /// Counters and gauges.
    pub fn stats(&self) -> Stats {
        let mut s = self.stats.clone();
        for e in self.view.values() {
            match e.status {
                MemberStatus::Alive => s.alive += 1,
                MemberStatus::Leaving => s.leaving += 1,
                MemberStatus::Left => s.left += 1,
                MemberStatus::Failed => s.failed += 1,
            }
        }
        s.health_score = self.awareness.score();
        s.timers_dropped = self.timers.dropped();
        s.malformed += lock(&self.inbox).malformed;
        s
    }

    // -----------------------------------------------------------------
    // internals

    fn add_broadcast(&mut self, now: Instant, b: &Broadcast) {
        if let Err(e) = self.foca.add_broadcast(&b.encode()) {
            tracing::warn!(error = %e, "gossip: broadcast refused");
        }
        self.process_inbox(now);
    }

    fn broadcast_own_tags(&mut self, now: Instant) {
        let b = Broadcast::Tags {
            name: self.id.name.clone(),
            generation: self.id.generation,
            version: self.tags_version,
            tags: self.tags.encode(),
        };
        self.add_broadcast(now, &b);
    }

    /// Processes what foca asked for during one call.
    fn flush(&mut self, now: Instant, rt: Rt) {
        for out in rt.0 {
            match out {
                RtOut::Send(to, data) => {
                    if self.outbox.len() >= MAX_OUTBOX {
                        tracing::warn!("gossip: outbox full, packet dropped");
                        continue;
                    }
                    let mut inner = Vec::with_capacity(data.len() + 1);
                    inner.push(INNER_FOCA);
                    inner.extend_from_slice(&data);
                    let sealed = self.seal(&inner);
                    self.stats.packets_out += 1;
                    self.stats.bytes_out += sealed.len() as u64;
                    self.outbox.push_back((to.addr, sealed));
                }
                RtOut::Timer(timer, after) => self.schedule(now, timer, after),
                RtOut::Note(n) => self.on_notification(now, n),
            }
        }
        self.process_inbox(now);
    }

    fn schedule(&mut self, now: Instant, timer: Timer<NodeId>, after: Duration) {
        let t = &self.cfg.timing;
        let lifeguard = self.cfg.lifeguard;
        match timer {
            Timer::ProbeRandomMember(_) if lifeguard => {
                let d = self.awareness.scale(t.probe_interval);
                self.timers.push(now + d, Scheduled::Foca(timer, false));
            }
            Timer::SendIndirectProbe { .. } if lifeguard => {
                let d = self.awareness.scale(t.probe_timeout);
                self.timers.push(now + d, Scheduled::Foca(timer, false));
            }
            Timer::ChangeSuspectToDown {
                ref member_id,
                incarnation,
                ..
            } => {
                let key = SuspKey {
                    name: member_id.name.clone(),
                    generation: member_id.generation,
                    incarnation,
                };
                let confirm = Broadcast::Suspect {
                    target: member_id.name.clone(),
                    generation: member_id.generation,
                    incarnation,
                    from: self.id.name.clone(),
                };
                if let Some(s) = self.suspicions.get_mut(&key) {
                    // Another failed probe of the same incarnation: keep the
                    // running clock, refresh the token.
                    s.timer = timer;
                    return;
                }
                let confirmations: HashSet<String> =
                    self.pending_confirms.remove(&key).unwrap_or_default();
                let mut s = Suspicion {
                    timer,
                    start: now,
                    deadline: now,
                    confirmations,
                    defers: 0,
                };
                s.deadline = now + self.suspicion_timeout(s.confirmations.len());
                self.timers
                    .push(s.deadline, Scheduled::Suspicion(key.clone()));
                self.suspicions.insert(key, s);
                if lifeguard {
                    self.add_broadcast(now, &confirm);
                }
            }
            other => {
                self.timers.push(now + after, Scheduled::Foca(other, false));
            }
        }
    }

    /// Lifeguard's buddy system: when we ping a member we hold as suspect,
    /// we also tell it so directly. foca only piggybacks the suspicion on
    /// a bounded number of messages, which can all be spent while the
    /// member is unreachable; without this it may never learn that it must
    /// refute and is declared down although it is back.
    fn buddy(&mut self, to: &NodeId) {
        let Some(m) = self
            .foca
            .iter_membership_state()
            .find(|m| m.id() == to && m.state() == State::Suspect)
        else {
            return;
        };
        let b = Broadcast::Suspect {
            target: to.name.clone(),
            generation: to.generation,
            incarnation: m.incarnation(),
            from: self.id.name.clone(),
        };
        self.send_direct(to.addr, &b);
    }

    /// Sends `b` to one member as a direct message (not gossiped); dropped when the outbox
    /// is full, as any packet is.
    fn send_direct(&mut self, to: SocketAddr, b: &Broadcast) {
        let mut inner = vec![INNER_DIRECT];
        inner.extend(b.encode());
        if self.outbox.len() < MAX_OUTBOX {
            let sealed = self.seal(&inner);
            self.stats.packets_out += 1;
            self.stats.bytes_out += sealed.len() as u64;
            self.outbox.push_back((to, sealed));
        }
    }

    /// Tells a member that is probing us our coordinate, as Serf's ack does, so that the
    /// round trip it measures can refine its own.
    fn send_coordinate(&mut self, to: &NodeId) {
        let b = Broadcast::Coordinate {
            name: self.id.name.clone(),
            coordinate: self.vivaldi.coordinate().clone(),
        };
        self.send_direct(to.addr, &b);
    }

    /// A probe of `name` came back after `rtt`: moves our coordinate, when we know theirs.
    fn observe_round_trip(&mut self, name: &str, rtt: Duration) {
        let Some(other) = self.coordinates.get(name) else {
            return;
        };
        if let Err(error) = self.vivaldi.observe(name, other, rtt) {
            tracing::debug!(%name, %error, "gossip: round trip not used for the coordinate");
        }
    }

    /// This member's network coordinate.
    pub fn coordinate(&self) -> Coordinate {
        self.vivaldi.coordinate().clone()
    }

    /// The latest coordinate of each member that sent one (this one not included).
    pub fn coordinates(&self) -> Vec<(String, Coordinate)> {
        self.coordinates
            .iter()
            .map(|(name, coordinate)| (name.clone(), coordinate.clone()))
            .collect()
    }

    /// A direct message: "you are suspected" (see `buddy`), or a coordinate.
    fn on_direct(&mut self, now: Instant, b: Broadcast) {
        if let Broadcast::Coordinate { name, coordinate } = b {
            // Kept only for members we know, so the table is bounded by the membership.
            if coordinate.is_valid() && name != self.id.name && self.view.contains_key(&name) {
                self.coordinates.insert(name, coordinate);
            }
            return;
        }
        let Broadcast::Suspect {
            target,
            generation,
            incarnation,
            ..
        } = b
        else {
            self.stats.malformed += 1;
            return;
        };
        if target != self.id.name || generation != self.id.generation || self.left {
            return;
        }
        // Hand foca the suspicion as if gossiped: it bumps its incarnation
        // and spreads the refutation.
        let me = FocaMember::new(self.id.clone(), incarnation, State::Suspect);
        let mut rt = Rt::default();
        if let Err(e) = self.foca.apply_many(std::iter::once(me), true, &mut rt) {
            tracing::debug!(error = %e, "gossip: refuting suspicion");
        }
        self.flush(now, rt);
    }

    fn suspicion_timeout(&self, confirmations: usize) -> Duration {
        let t = &self.cfg.timing;
        let n = self.alive_n.max(1);
        let min = t.suspicion_min(n);
        if !self.cfg.lifeguard {
            return min;
        }
        let c = u32::try_from(confirmations).unwrap_or(u32::MAX);
        suspicion_timeout(min, t.suspicion_max(n), t.expected_confirmations(n), c)
    }

    fn on_confirmation(&mut self, key: SuspKey, from: String) {
        if from == self.id.name || key.name == self.id.name {
            return;
        }
        if let Some(s) = self.suspicions.get(&key) {
            if s.confirmations.len() >= MAX_CONFIRMATIONS || s.confirmations.contains(&from) {
                return;
            }
            let start = s.start;
            let c = s.confirmations.len() + 1;
            let deadline = start + self.suspicion_timeout(c);
            if let Some(s) = self.suspicions.get_mut(&key) {
                s.confirmations.insert(from);
                if deadline < s.deadline {
                    s.deadline = deadline;
                    self.timers.push(deadline, Scheduled::Suspicion(key));
                }
            }
        } else if self.pending_confirms.len() < self.cfg.max_members {
            let set = self.pending_confirms.entry(key).or_default();
            if set.len() < MAX_CONFIRMATIONS {
                set.insert(from);
            }
        }
    }

    fn on_notification(&mut self, now: Instant, n: OwnedNotification<NodeId>) {
        match n {
            OwnedNotification::MemberUp(id) => {
                self.member_up(now, id);
                self.resize(now);
                // A newcomer learns our tags from this re-announcement.
                self.broadcast_own_tags(now);
            }
            OwnedNotification::MemberDown(id) => {
                self.member_down(now, &id);
                self.resize(now);
            }
            OwnedNotification::Rename(old, new) => {
                if let Some(e) = self.view.get_mut(&new.name).filter(|e| e.id == old) {
                    e.id = new;
                    self.changed = true;
                }
            }
            OwnedNotification::Rejoin(new) => {
                // The cluster declared us down; foca renewed our identity.
                tracing::info!(
                    generation = new.generation,
                    "gossip: rejoining with a renewed identity"
                );
                self.stats.rejoins += 1;
                self.id = new.clone();
                self.tags_version = 1;
                self.last_incarnation = 0;
                if let Some(e) = self.view.get_mut(&new.name) {
                    e.id = new;
                    e.tags = Some((1, self.tags.clone()));
                    e.status = MemberStatus::Alive;
                    e.leave_gen = None;
                }
                self.changed = true;
                self.broadcast_own_tags(now);
            }
            OwnedNotification::Defunct => {
                if !self.leaving {
                    tracing::warn!("gossip: declared down by the cluster and cannot renew");
                }
            }
            OwnedNotification::Active | OwnedNotification::Idle => {}
            OwnedNotification::DataSent(h) => {
                if h.src_incarnation > self.last_incarnation {
                    // We bumped our incarnation: we refuted a suspicion.
                    // memberlist treats this as a sign of local trouble.
                    self.last_incarnation = h.src_incarnation;
                    if self.cfg.lifeguard {
                        self.awareness.apply(1);
                    }
                }
                if matches!(h.message, Message::Ping(_) | Message::IndirectPing { .. }) {
                    self.buddy(&h.dst);
                }
                if let Message::Ping(number) = h.message {
                    self.probe = Some(ProbeWatch {
                        number,
                        sent: now,
                        target: h.dst,
                        heard: false,
                        late: false,
                        done: false,
                    });
                }
            }
            OwnedNotification::DataReceived(h) => {
                let lifeguard = self.cfg.lifeguard;
                let mut round_trip = None;
                if let Some(p) = self.probe.as_mut() {
                    if h.src != p.target {
                        p.heard = true;
                    }
                    let direct = matches!(&h.message, Message::Ack(n) if *n == p.number && h.src == p.target);
                    let success = direct
                        || matches!(&h.message, Message::ForwardedAck { probe_number, .. } if *probe_number == p.number);
                    if success && !p.done {
                        p.done = true;
                        if lifeguard {
                            self.awareness.apply(-1);
                        }
                        // Only a direct ack times the path itself; a forwarded one
                        // includes the relay's.
                        if direct {
                            round_trip = Some((
                                p.target.name.clone(),
                                now.saturating_duration_since(p.sent),
                            ));
                        }
                    }
                }
                if let Some((name, rtt)) = round_trip {
                    self.observe_round_trip(&name, rtt);
                }
                if matches!(h.message, Message::Ping(_)) {
                    self.send_coordinate(&h.src);
                }
            }
            OwnedNotification::ProbeFailed(number, _) => {
                if let Some(p) = self
                    .probe
                    .as_mut()
                    .filter(|p| p.number == number && !p.done)
                {
                    p.done = true;
                    // Heard from nobody during the probe, or our timers ran
                    // late: the problem is likely us, not the target.
                    if self.cfg.lifeguard && (!p.heard || p.late) {
                        self.awareness.apply(1);
                    }
                }
            }
        }
    }

    /// Adapts foca's retransmit count to the cluster size.
    fn resize(&mut self, _now: Instant) {
        let n = self
            .view
            .values()
            .filter(|e| e.status == MemberStatus::Alive)
            .count()
            .max(1);
        if n != self.alive_n {
            self.alive_n = n;
            let _ = self.foca.set_config(Self::foca_config(&self.cfg, n));
        }
    }

    fn process_inbox(&mut self, now: Instant) {
        let accepted = std::mem::take(&mut lock(&self.inbox).accepted);
        for b in accepted {
            match b {
                Broadcast::Tags {
                    name,
                    generation,
                    version,
                    tags,
                } => {
                    if name == self.id.name {
                        continue;
                    }
                    match Tags::decode(&tags) {
                        Ok(t) => self.apply_tags(now, &name, generation, version, t, false),
                        Err(e) => {
                            self.stats.malformed += 1;
                            tracing::debug!(%name, error = %e, "gossip: bad tags");
                        }
                    }
                }
                Broadcast::Leave {
                    name,
                    generation,
                    prune,
                } => self.on_leave(now, &name, generation, prune),
                Broadcast::User {
                    ltime,
                    name,
                    payload,
                } => {
                    // Lamport witness: our next event sorts after this one.
                    self.event_clock = self.event_clock.max(ltime + 1);
                    self.stats.user_events += 1;
                    self.push_event(Event::User(UserEvent {
                        ltime,
                        name,
                        payload,
                    }));
                }
                Broadcast::Suspect {
                    target,
                    generation,
                    incarnation,
                    from,
                } => self.on_confirmation(
                    SuspKey {
                        name: target,
                        generation,
                        incarnation,
                    },
                    from,
                ),
                // Refused by the inbox; never accepted.
                Broadcast::Coordinate { .. } => {}
            }
        }
    }

    fn push_event(&mut self, e: Event) {
        if self.events.len() >= MAX_EVENTS {
            // The driver drains after every input; this only protects
            // against a sans-io user that never drains.
            self.events.pop_front();
        }
        self.events.push_back(e);
    }

    fn emit(&mut self, kind: MemberEventKind, name: &str) {
        self.changed = true;
        if let Some(e) = self.view.get(name) {
            let member = e.member();
            self.push_event(Event::Member(MemberEvent { kind, member }));
        }
    }

    fn note_leave_intent(&mut self, name: &str, generation: u64) {
        if self.leave_intents.len() < self.cfg.max_members || self.leave_intents.contains_key(name)
        {
            self.leave_intents.insert(name.into(), generation);
        }
        let mut inbox = lock(&self.inbox);
        let seen = inbox
            .leave_seen
            .entry(name.into())
            .or_insert((generation, false));
        if seen.0 < generation {
            *seen = (generation, false);
        }
        drop(inbox);
        if let Some(e) = self
            .view
            .get_mut(name)
            .filter(|e| e.id.generation == generation)
        {
            e.leave_gen = Some(generation);
        }
    }

    fn on_leave(&mut self, now: Instant, name: &str, generation: u64, prune: bool) {
        if name == self.id.name {
            if !self.leaving && generation == self.id.generation {
                // Someone force-left us while we are alive: refute by
                // renewing our identity (a newer generation wins).
                if let Some(new) = foca::Identity::renew(&self.id) {
                    tracing::info!("gossip: refuting a leave intent about ourselves");
                    let mut rt = Rt::default();
                    if self.foca.change_identity(new.clone(), &mut rt).is_ok() {
                        self.id = new.clone();
                        self.tags_version = 1;
                        if let Some(e) = self.view.get_mut(name) {
                            e.id = new;
                        }
                        self.flush(now, rt);
                        self.broadcast_own_tags(now);
                    }
                }
            }
            return;
        }
        self.note_leave_intent(name, generation);
        let Some(e) = self.view.get(name) else {
            return;
        };
        if e.id.generation != generation {
            return;
        }
        match e.status {
            MemberStatus::Alive => {
                self.set_status(now, name, MemberStatus::Leaving, None);
            }
            MemberStatus::Failed => {
                self.set_status(now, name, MemberStatus::Left, Some(MemberEventKind::Leave));
            }
            MemberStatus::Leaving | MemberStatus::Left => {}
        }
        if prune {
            self.pruned.insert((name.into(), generation));
            self.remove(name);
        }
    }

    fn set_status(
        &mut self,
        now: Instant,
        name: &str,
        status: MemberStatus,
        event: Option<MemberEventKind>,
    ) {
        let Some(e) = self.view.get_mut(name) else {
            return;
        };
        if e.status == status {
            return;
        }
        e.status = status;
        e.since = now;
        let has_tags = e.tags.is_some();
        let after = match status {
            MemberStatus::Failed => Some(self.cfg.reconnect_timeout),
            MemberStatus::Left => Some(self.cfg.tombstone_timeout),
            _ => None,
        };
        if let Some(after) = after {
            self.timers.push(now + after, Scheduled::Reap(name.into()));
        }
        self.changed = true;
        if let Some(kind) = event.filter(|_| has_tags) {
            self.emit(kind, name);
        }
    }

    fn reap(&mut self, now: Instant, name: &str) {
        let Some(e) = self.view.get(name) else {
            return;
        };
        let timeout = match e.status {
            MemberStatus::Failed => self.cfg.reconnect_timeout,
            MemberStatus::Left => self.cfg.tombstone_timeout,
            _ => return,
        };
        if now.saturating_duration_since(e.since) >= timeout && name != self.id.name {
            self.remove(name);
        }
    }

    fn remove(&mut self, name: &str) {
        if name == self.id.name {
            return;
        }
        self.coordinates.remove(name);
        self.vivaldi.forget(name);
        if let Some(e) = self.view.get(name) {
            if e.tags.is_some() {
                let member = e.member();
                self.push_event(Event::Member(MemberEvent {
                    kind: MemberEventKind::Reap,
                    member,
                }));
            }
            self.view.remove(name);
            self.changed = true;
        }
    }

    fn insert_dead(&mut self, now: Instant, id: &NodeId, left: bool) {
        if self.view.len() >= self.cfg.max_members
            || self.pruned.contains(&(id.name.clone(), id.generation))
        {
            return;
        }
        let status = if left {
            MemberStatus::Left
        } else {
            MemberStatus::Failed
        };
        let tags = self
            .pending_tags
            .remove(&id.name)
            .filter(|(g, _, _)| *g == id.generation)
            .map(|(_, v, t)| (v, t));
        self.view.insert(
            id.name.clone(),
            Entry {
                id: id.clone(),
                tags,
                status,
                since: now,
                leave_gen: left.then_some(id.generation),
                joined: false,
            },
        );
        let after = if left {
            self.cfg.tombstone_timeout
        } else {
            self.cfg.reconnect_timeout
        };
        self.timers
            .push(now + after, Scheduled::Reap(id.name.clone()));
        self.changed = true;
    }

    fn apply_tags(
        &mut self,
        _now: Instant,
        name: &str,
        generation: u64,
        version: u64,
        tags: Tags,
        rebroadcast: bool,
    ) {
        let Some(e) = self.view.get_mut(name) else {
            let newer = self
                .pending_tags
                .get(name)
                .is_none_or(|(g, v, _)| (*g, *v) < (generation, version));
            if newer && self.pending_tags.len() < self.cfg.max_members {
                self.pending_tags
                    .insert(name.into(), (generation, version, tags.clone()));
            }
            if rebroadcast {
                self.relay_tags(name, generation, version, &tags);
            }
            return;
        };
        if e.id.generation > generation {
            return;
        }
        if e.id.generation < generation {
            // Tags of a newer identity we have not seen yet: keep for later.
            self.pending_tags
                .insert(name.into(), (generation, version, tags));
            return;
        }
        if e.tags.as_ref().is_some_and(|(v, _)| *v >= version) {
            return;
        }
        let first = e.tags.is_none();
        let changed = e.tags.as_ref().is_none_or(|(_, t)| *t != tags);
        e.tags = Some((version, tags.clone()));
        let status = e.status;
        let joined = e.joined;
        self.changed = true;
        if first && status != MemberStatus::Failed && status != MemberStatus::Left && !joined {
            if let Some(e) = self.view.get_mut(name) {
                e.joined = true;
            }
            self.emit(MemberEventKind::Join, name);
        } else if changed && !first {
            self.emit(MemberEventKind::Update, name);
        }
        if rebroadcast {
            self.relay_tags(name, generation, version, &tags);
        }
    }

    /// Re-gossips tags learned by push-pull so the rest of the cluster
    /// (which did not take part in the exchange) learns them too.
    fn relay_tags(&mut self, name: &str, generation: u64, version: u64, tags: &Tags) {
        let known = lock(&self.inbox).tag_versions.get(name).copied();
        if known.is_some_and(|k| k >= (generation, version)) {
            return;
        }
        lock(&self.inbox)
            .tag_versions
            .insert(name.into(), (generation, version));
        let b = Broadcast::Tags {
            name: name.into(),
            generation,
            version,
            tags: tags.encode(),
        };
        // Inserted directly as "already seen", so the handler's local path
        // queues it without re-processing.
        if let Err(e) = self.foca.add_broadcast(&b.encode()) {
            tracing::debug!(error = %e, "gossip: relaying tags");
        }
        lock(&self.inbox).accepted.pop();
    }

    fn member_up(&mut self, now: Instant, id: NodeId) {
        let name = id.name.clone();
        if self.pruned.contains(&(name.clone(), id.generation)) {
            return;
        }
        let leave_gen = self.leave_intents.get(&name).copied();
        match self.view.get_mut(&name) {
            Some(e) => {
                if e.id.generation > id.generation {
                    return;
                }
                let renewed = e.id.generation < id.generation;
                let was = e.status;
                e.id = id.clone();
                if renewed {
                    e.leave_gen = None;
                    e.joined = false;
                    if e.tags.as_ref().is_some() {
                        // Tags belong to a generation; wait for the new ones
                        // but keep showing the old ones meanwhile.
                    }
                }
                if leave_gen == Some(id.generation) {
                    e.leave_gen = leave_gen;
                }
                let status = if e.leave_gen == Some(id.generation) {
                    MemberStatus::Leaving
                } else {
                    MemberStatus::Alive
                };
                if was != status {
                    e.status = status;
                    e.since = now;
                    self.changed = true;
                }
                let back = matches!(was, MemberStatus::Failed | MemberStatus::Left);
                let emit_join =
                    (back || !e.joined) && e.tags.is_some() && status == MemberStatus::Alive;
                if emit_join {
                    e.joined = true;
                    self.emit(MemberEventKind::Join, &name);
                }
            }
            None => {
                if self.view.len() >= self.cfg.max_members {
                    tracing::warn!(%name, "gossip: member limit reached, member ignored");
                    return;
                }
                let tags = self
                    .pending_tags
                    .remove(&name)
                    .filter(|(g, _, _)| *g == id.generation)
                    .map(|(_, v, t)| (v, t));
                let has_tags = tags.is_some();
                let status = if leave_gen == Some(id.generation) {
                    MemberStatus::Leaving
                } else {
                    MemberStatus::Alive
                };
                self.view.insert(
                    name.clone(),
                    Entry {
                        id: id.clone(),
                        tags,
                        status,
                        since: now,
                        leave_gen: leave_gen.filter(|g| *g == id.generation),
                        joined: has_tags,
                    },
                );
                self.changed = true;
                if has_tags {
                    self.emit(MemberEventKind::Join, &name);
                }
            }
        }
        // Tags that arrived for this generation before the member did.
        if let Some((g, v, t)) = self
            .pending_tags
            .get(&name)
            .cloned()
            .filter(|(g, _, _)| *g == id.generation)
        {
            self.pending_tags.remove(&name);
            self.apply_tags(now, &name, g, v, t, false);
        }
    }

    fn member_down(&mut self, now: Instant, id: &NodeId) {
        let Some(e) = self.view.get(&id.name) else {
            return;
        };
        if e.id != *id {
            return; // about an older identity of this name
        }
        if e.leave_gen == Some(id.generation)
            || self.leave_intents.get(&id.name) == Some(&id.generation)
        {
            self.set_status(
                now,
                &id.name,
                MemberStatus::Left,
                Some(MemberEventKind::Leave),
            );
        } else {
            self.set_status(
                now,
                &id.name,
                MemberStatus::Failed,
                Some(MemberEventKind::Failed),
            );
        }
    }
}
