//! Everything a simulated cluster shares: the servers' disks and running Raft nodes, the
//! network's cuts, the seeded random source, the checker and the trace.
//!
//! One `std::sync::Mutex` guards it all. The simulation runs on one thread, so the lock is
//! never contended; it exists because openraft wants its storage and network `Send`. It is
//! never held across an `.await`.

use crate::check::Checker;
use crate::disk::Disk;
use legate_agent::server::raft::{NodeId, Raft};
use legate_catalog::SharedStore;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::{BTreeMap, BTreeSet};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::time::Instant;

/// Deliberate defects, for the tests that show the checker catches what it claims to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Bugs {
    /// The state machine takes the time from the applying server's clock instead of the one
    /// the leader stamped into the entry.
    pub local_clock: bool,
    /// The log reports appends flushed but never makes them durable.
    pub skip_fsync: bool,
}

/// One server of the simulated cluster.
pub struct Slot {
    /// The running node, or `None` while it is crashed.
    pub raft: Option<Raft>,
    /// Its catalog, for the workload's reads; replaced at every start.
    pub store: Option<Arc<SharedStore>>,
    pub disk: Disk,
    /// Added to the simulated time to give this server's wall clock (clock jumps).
    pub clock_offset_ms: i64,
    /// Multiplies this server's fsync latency (slow disks).
    pub fsync_factor: u64,
    /// Counts starts, so a watcher of an earlier run of the node can tell it is stale.
    pub incarnation: u64,
}

pub struct World {
    pub rng: StdRng,
    pub slots: BTreeMap<NodeId, Slot>,
    /// Directed links that deliver nothing (partitions).
    pub cut: BTreeSet<(NodeId, NodeId)>,
    /// The chance, in percent, that a message is lost.
    pub loss_percent: u32,
    pub bugs: Bugs,
    pub check: Checker,
    pub trace: Trace,
    started: Instant,
}

/// The simulated wall clock starts here (2027-01-15), so no clock jump goes below zero.
const EPOCH_MS: u64 = 1_800_000_000_000;

impl World {
    pub fn new(seed: u64, servers: &[NodeId], bugs: Bugs) -> World {
        let slots = servers
            .iter()
            .map(|id| {
                let slot = Slot {
                    raft: None,
                    store: None,
                    disk: Disk::default(),
                    clock_offset_ms: 0,
                    fsync_factor: 1,
                    incarnation: 0,
                };
                (*id, slot)
            })
            .collect();
        World {
            rng: StdRng::seed_from_u64(seed),
            slots,
            cut: BTreeSet::new(),
            loss_percent: 0,
            bugs,
            check: Checker::default(),
            trace: Trace::default(),
            started: Instant::now(),
        }
    }

    /// Simulated time since the start.
    pub fn elapsed(&self) -> Duration {
        Instant::now() - self.started
    }

    /// Server `id`'s wall clock in milliseconds since the Unix epoch.
    pub fn clock_ms(&self, id: NodeId) -> u64 {
        let offset = self.slots.get(&id).map_or(0, |slot| slot.clock_offset_ms);
        let now = EPOCH_MS + self.elapsed().as_millis() as u64;
        now.saturating_add_signed(offset)
    }

    pub fn slot(&mut self, id: NodeId) -> &mut Slot {
        self.slots.get_mut(&id).expect("a server of the simulation")
    }

    pub fn ids(&self) -> Vec<NodeId> {
        self.slots.keys().copied().collect()
    }

    /// How long one message takes: mostly a fraction of a millisecond, sometimes far more,
    /// so messages overtake each other.
    pub fn message_delay(&mut self) -> Duration {
        let micros = if self.rng.gen_ratio(1, 20) {
            self.rng.gen_range(5_000..60_000)
        } else {
            self.rng.gen_range(100..2_000)
        };
        Duration::from_micros(micros)
    }

    /// Whether a message from `from` to `to` is delivered now: the link is not cut and the
    /// loss draw spares it.
    pub fn delivers(&mut self, from: NodeId, to: NodeId) -> bool {
        if self.cut.contains(&(from, to)) {
            return false;
        }
        self.loss_percent == 0 || self.rng.gen_range(0..100) >= self.loss_percent
    }

    /// How long server `id`'s next fsync takes.
    pub fn fsync_latency(&mut self, id: NodeId) -> Duration {
        let factor = self.slots.get(&id).map_or(1, |slot| slot.fsync_factor);
        Duration::from_micros(self.rng.gen_range(200..3_000) * factor)
    }

    /// Records an event in the trace, stamped with the simulated time; with
    /// `LEGATE_SIM_VERBOSE` set, prints it too.
    pub fn note(&mut self, event: impl Hash + std::fmt::Debug) {
        let at = self.elapsed().as_micros();
        if verbose() {
            println!("{:>10.3} ms {event:?}", at as f64 / 1000.0);
        }
        self.trace.note((at, event));
    }
}

fn verbose() -> bool {
    static VERBOSE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *VERBOSE.get_or_init(|| std::env::var_os("LEGATE_SIM_VERBOSE").is_some())
}

/// A running digest of everything that happened, in order: two runs of one seed must end
/// with the same digest.
#[derive(Default)]
pub struct Trace {
    digest: u64,
    pub events: u64,
}

impl Trace {
    fn note(&mut self, event: impl Hash) {
        // `DefaultHasher::new()` has fixed keys, so a digest is the same in every run.
        let mut hasher = DefaultHasher::new();
        self.digest.hash(&mut hasher);
        event.hash(&mut hasher);
        self.digest = hasher.finish();
        self.events += 1;
    }

    pub fn digest(&self) -> u64 {
        self.digest
    }
}

/// The world as every task holds it.
pub type Shared = Arc<Mutex<World>>;

/// Runs `f` on the world. Never call it while already inside it.
pub fn with<R>(world: &Shared, f: impl FnOnce(&mut World) -> R) -> R {
    let mut guard = world.lock().unwrap_or_else(PoisonError::into_inner);
    f(&mut guard)
}

/// A digest of some bytes, stable across runs.
pub fn digest(bytes: &[u8]) -> u64 {
    let mut hasher = DefaultHasher::new();
    bytes.hash(&mut hasher);
    hasher.finish()
}
