//! Watches for blocking queries: what a query reads, what a write touched, and the waiting.
//!
//! A query names the `Topic`s its answer depends on; `apply` records what it `Touched`. A
//! blocked query registers a one-shot waiter on its topics and sleeps until a write touches
//! one of them or its deadline passes, then runs again: it returns only once its own scoped
//! index has passed the one the client sent. Writes elsewhere never wake it, so global churn
//! does not stampede watchers (Consul #3890).
//!
//! Rules this module keeps:
//! 1. A waiter is registered while the reader still holds the store's read lock, and writes
//!    notify after releasing the write lock, so no write can slip between a query's read and
//!    its registration unseen.
//! 2. `Notify::notify_one` leaves a permit when the waiter is not yet polled, so a wake-up
//!    that comes before the await is not lost.
//! 3. A waiter whose query timed out leaves a dead `Weak` behind; dead entries are swept
//!    periodically, so the registry stays bounded by the live waiters.
//! 4. Waking is a hint, never a promise that anything changed: callers re-run the query.

use crate::command::{Command, CommandResult, LogPayload};
use crate::store::Store;
use crate::types::Index;
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError, RwLock, RwLockReadGuard, Weak};
use tokio::sync::Notify;

/// What a query's answer depends on. Names are case-folded.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Topic {
    /// The node table (`/v1/catalog/nodes`).
    Nodes,
    /// One node record and everything on it.
    Node(String),
    /// The services table (`/v1/catalog/services`).
    Services,
    /// One service's instances, their checks and their nodes.
    Service(String),
    /// The checks table (`/v1/health/state`).
    Checks,
    /// One KV key.
    KvKey(String),
    /// Every KV key under a prefix.
    KvPrefix(String),
    /// The sessions table.
    Sessions,
    /// The coordinates table.
    Coordinates,
    /// The prepared queries table.
    Queries,
}

/// What one applied command changed.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Touched {
    /// A node record (folded name).
    Node(String),
    /// A service or check on a node (folded name).
    NodeItems(String),
    /// The services table.
    Services,
    /// A service's index rose (folded name).
    Service(String),
    /// The checks table.
    Checks,
    /// One KV key.
    Kv(String),
    /// The sessions table.
    Sessions,
    /// The coordinates table.
    Coordinates,
    /// The prepared queries table.
    Queries,
    /// The whole store was replaced (snapshot restore).
    Everything,
}

/// The topics one query depends on.
pub type WatchSet = Vec<Topic>;

/// A query's answer with the index it is scoped to and what it depends on.
#[derive(Clone, Debug)]
pub struct Answer<T> {
    pub index: Index,
    pub value: T,
    pub watch: WatchSet,
}

/// Sweep dead waiters after this many registrations.
const SWEEP_EVERY: usize = 1024;

type Waiters = Vec<Weak<Notify>>;

#[derive(Default)]
struct Registry {
    topics: HashMap<Topic, Waiters>,
    // KV topics get their own maps so a write can look up each prefix of its key by `&str`.
    kv_keys: HashMap<String, Waiters>,
    kv_prefixes: HashMap<String, Waiters>,
    registrations: usize,
}

impl Registry {
    fn is_empty(&self) -> bool {
        self.topics.is_empty() && self.kv_keys.is_empty() && self.kv_prefixes.is_empty()
    }

    fn register(&mut self, topics: &[Topic], waiter: &Arc<Notify>) {
        for topic in topics {
            let list = match topic {
                Topic::KvKey(key) => self.kv_keys.entry(key.clone()).or_default(),
                Topic::KvPrefix(prefix) => self.kv_prefixes.entry(prefix.clone()).or_default(),
                other => self.topics.entry(other.clone()).or_default(),
            };
            list.push(Arc::downgrade(waiter));
        }
        self.registrations += 1;
        if self.registrations.is_multiple_of(SWEEP_EVERY) {
            self.sweep();
        }
    }

    fn sweep(&mut self) {
        fn sweep_map<K>(map: &mut HashMap<K, Waiters>) {
            map.retain(|_, waiters| {
                waiters.retain(|waiter| waiter.strong_count() > 0);
                !waiters.is_empty()
            });
        }
        sweep_map(&mut self.topics);
        sweep_map(&mut self.kv_keys);
        sweep_map(&mut self.kv_prefixes);
    }

    fn wake(list: Option<Waiters>) {
        for waiter in list.into_iter().flatten() {
            if let Some(waiter) = waiter.upgrade() {
                waiter.notify_one();
            }
        }
    }

    fn wake_topic(&mut self, topic: Topic) {
        Self::wake(self.topics.remove(&topic));
    }

    fn notify(&mut self, touched: &Touched) {
        match touched {
            Touched::Node(node) => {
                self.wake_topic(Topic::Nodes);
                self.wake_topic(Topic::Node(node.clone()));
            }
            Touched::NodeItems(node) => self.wake_topic(Topic::Node(node.clone())),
            Touched::Services => self.wake_topic(Topic::Services),
            Touched::Service(name) => self.wake_topic(Topic::Service(name.clone())),
            Touched::Checks => self.wake_topic(Topic::Checks),
            Touched::Sessions => self.wake_topic(Topic::Sessions),
            Touched::Coordinates => self.wake_topic(Topic::Coordinates),
            Touched::Queries => self.wake_topic(Topic::Queries),
            Touched::Kv(key) => {
                Self::wake(self.kv_keys.remove(key.as_str()));
                if !self.kv_prefixes.is_empty() {
                    let ends = key.char_indices().map(|(at, _)| at).chain([key.len()]);
                    for end in ends {
                        Self::wake(self.kv_prefixes.remove(&key[..end]));
                    }
                }
            }
            Touched::Everything => {
                let topics = std::mem::take(&mut self.topics);
                let keys = std::mem::take(&mut self.kv_keys);
                let prefixes = std::mem::take(&mut self.kv_prefixes);
                let all = topics.into_values().chain(keys.into_values());
                for list in all.chain(prefixes.into_values()) {
                    Self::wake(Some(list));
                }
            }
        }
    }
}

/// The store as the agent shares it: one writer (the Raft state machine), many readers, and
/// the watch registry that connects them.
#[derive(Default)]
pub struct SharedStore {
    // A std lock, not a tokio one: it is never held across an await, and reads are short.
    store: RwLock<Store>,
    registry: Mutex<Registry>,
}

impl SharedStore {
    pub fn new(store: Store) -> SharedStore {
        SharedStore {
            store: RwLock::new(store),
            registry: Mutex::default(),
        }
    }

    /// A read view. Do not hold it across an await.
    pub fn read(&self) -> RwLockReadGuard<'_, Store> {
        self.store.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// Applies a batch of committed entries (`None` for entries that carry no command) under
    /// one lock, then wakes the watchers of what they touched.
    pub fn apply_batch<'a>(
        &self,
        entries: impl IntoIterator<Item = (Index, Option<&'a LogPayload>)>,
    ) -> Vec<CommandResult> {
        let (results, touched) = {
            let mut store = self.store.write().unwrap_or_else(PoisonError::into_inner);
            let mut results = Vec::new();
            for (index, payload) in entries {
                match payload {
                    Some(payload) => {
                        if let Some(time_ms) = payload.time_ms() {
                            store.advance_clock(time_ms);
                        }
                        results.push(store.apply(index, payload.command()));
                    }
                    None => store.skip(index),
                }
            }
            (results, store.take_touched())
        };
        self.notify(&touched);
        results
    }

    /// Applies one command without a clock; see `apply_batch`.
    pub fn apply(&self, index: Index, command: &Command) -> CommandResult {
        self.apply_payload(index, &LogPayload::V1(command.clone()))
    }

    /// Applies one log payload; see `apply_batch`.
    pub fn apply_payload(&self, index: Index, payload: &LogPayload) -> CommandResult {
        self.apply_batch([(index, Some(payload))])
            .pop()
            .expect("one command gives one result")
    }

    /// Replaces the whole store (snapshot install) and wakes every watcher: indexes may have
    /// moved in either direction.
    pub fn replace(&self, store: Store) {
        *self.store.write().unwrap_or_else(PoisonError::into_inner) = store;
        self.notify(&[Touched::Everything]);
    }

    fn notify(&self, touched: &[Touched]) {
        let mut registry = self.registry.lock().unwrap_or_else(PoisonError::into_inner);
        if registry.is_empty() {
            return;
        }
        for item in touched {
            registry.notify(item);
        }
    }

    /// Runs `query` until its scoped index passes `min_index` or `deadline` completes, and
    /// returns its last answer. With `min_index` zero it answers at once.
    pub async fn block_until<T>(
        &self,
        min_index: Index,
        deadline: impl Future<Output = ()>,
        query: impl Fn(&Store) -> Answer<T>,
    ) -> Answer<T> {
        let mut deadline = std::pin::pin!(deadline);
        loop {
            let waiter = Arc::new(Notify::new());
            {
                let store = self.read();
                let answer = query(&store);
                if min_index == Index::ZERO || answer.index > min_index {
                    return answer;
                }
                self.registry
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .register(&answer.watch, &waiter);
            }
            tokio::select! {
                _ = waiter.notified() => {}
                _ = &mut deadline => return query(&self.read()),
            }
        }
    }

    /// How many topics have waiters registered (for tests and metrics).
    pub fn watched_topics(&self) -> usize {
        let registry = self.registry.lock().unwrap_or_else(PoisonError::into_inner);
        registry.topics.len() + registry.kv_keys.len() + registry.kv_prefixes.len()
    }
}
