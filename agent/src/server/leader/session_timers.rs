//! The leader's session TTL timers.
//!
//! A session with a TTL is invalidated once `2 × TTL` passes without a renew (Consul's
//! `SessionTTLMultiplier`: clients renew every TTL/2, and the slack covers a leader change).
//! Timers live only in the leader's memory, as Consul's do: a new leader starts one for every
//! TTL session at the full `2 × TTL`, so a failover never expires a session early. The
//! expiry itself is a `SessionDestroy` through Raft, so every server invalidates at the same
//! log position.
//!
//! `TimerTable` is the pure core (time is an argument); `SessionTimers` shares it between the
//! leader's loop, which syncs it with the store and expires, and renew calls.

use crate::server::raft::RaftHandle;
use crate::server::write_path::WritePath;
use legate_catalog::{Command, Session, SessionId, SharedStore, Store};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::watch;

/// Consul's multiplier between a session's TTL and its expiry.
pub const TTL_MULTIPLIER: u32 = 2;
/// How often the leader looks for expired sessions.
pub const TICK: Duration = Duration::from_millis(250);

/// A session's TTL, or `None` for a session without one (or one the leader cannot read,
/// which the HTTP edge never lets in).
pub fn ttl_of(session: &Session) -> Option<Duration> {
    if session.ttl.is_empty() {
        return None;
    }
    legate_api::duration::parse_std(&session.ttl)
        .ok()
        .filter(|ttl| !ttl.is_zero())
}

#[derive(Debug, Default)]
pub struct TimerTable {
    /// Session id → when it expires, as time since the leader's loop started.
    deadlines: HashMap<String, Duration>,
}

impl TimerTable {
    /// Starts a timer for every TTL session of `store` that has none, and forgets the timers
    /// of sessions that are gone.
    pub fn sync(&mut self, now: Duration, store: &Store) {
        self.deadlines.retain(|id, _| store.session(id).is_some());
        for session in store.sessions() {
            if let Some(ttl) = ttl_of(session) {
                self.deadlines
                    .entry(session.id.as_str().to_owned())
                    .or_insert(now + ttl * TTL_MULTIPLIER);
            }
        }
    }

    /// Restarts the timer of `session` (a renew).
    pub fn renew(&mut self, now: Duration, session: &Session) {
        if let Some(ttl) = ttl_of(session) {
            self.deadlines
                .insert(session.id.as_str().to_owned(), now + ttl * TTL_MULTIPLIER);
        }
    }

    /// The sessions whose timer has run out.
    pub fn expired(&self, now: Duration) -> Vec<String> {
        let mut ids: Vec<String> = self
            .deadlines
            .iter()
            .filter(|(_, deadline)| **deadline <= now)
            .map(|(id, _)| id.clone())
            .collect();
        ids.sort();
        ids
    }

    /// Forgets a timer once its session's invalidation committed.
    pub fn remove(&mut self, id: &str) {
        self.deadlines.remove(id);
    }

    /// Forgets every timer: leadership was lost.
    pub fn clear(&mut self) {
        self.deadlines.clear();
    }

    pub fn len(&self) -> usize {
        self.deadlines.len()
    }

    pub fn is_empty(&self) -> bool {
        self.deadlines.is_empty()
    }
}

/// The timer table shared by the leader's loop and renew calls, with the loop's clock.
#[derive(Clone)]
pub struct SessionTimers {
    table: Arc<Mutex<TimerTable>>,
    started: tokio::time::Instant,
}

impl Default for SessionTimers {
    fn default() -> Self {
        SessionTimers {
            table: Arc::default(),
            started: tokio::time::Instant::now(),
        }
    }
}

impl SessionTimers {
    pub fn now(&self) -> Duration {
        self.started.elapsed()
    }

    pub fn with<T>(&self, work: impl FnOnce(&mut TimerTable) -> T) -> T {
        work(&mut self.table.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// A renew, on the leader: restarts the session's timer.
    pub fn renew(&self, session: &Session) {
        let now = self.now();
        self.with(|table| table.renew(now, session));
    }
}

/// The leader's expiry loop: while this server leads, keeps the table in step with the
/// store and invalidates expired sessions through Raft. Runs until `shutdown` flips.
pub async fn run(
    raft: RaftHandle,
    writes: WritePath,
    store: Arc<SharedStore>,
    timers: SessionTimers,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut leadership = raft.leadership_watch();
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            changed = leadership.changed() => if changed.is_err() { return },
            _ = tick.tick() => {}
            _ = shutdown.changed() => return,
        }
        if *shutdown.borrow() {
            return;
        }
        if !*leadership.borrow_and_update() {
            timers.with(TimerTable::clear);
            continue;
        }
        let now = timers.now();
        let expired = {
            let store = store.read();
            timers.with(|table| {
                table.sync(now, &store);
                table.expired(now)
            })
        };
        for id in expired {
            let command = Command::SessionDestroy(SessionId::new(id.clone()));
            match writes.write_as_leader(command).await {
                Ok(_) => {
                    tracing::info!("leader: session {id} expired (no renew within 2 x TTL)");
                    timers.with(|table| table.remove(&id));
                }
                // Kept: the next tick tries again, or the next leader restarts the timer.
                Err(error) => tracing::warn!("leader: expiring session {id} failed: {error}"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use legate_catalog::command::Registration;
    use legate_catalog::{Command, Index, Node};

    fn s(seconds: u64) -> Duration {
        Duration::from_secs(seconds)
    }

    fn store_with(sessions: &[(&str, &str)]) -> Store {
        let mut store = Store::new();
        let node = Node {
            name: "n1".into(),
            ..Node::default()
        };
        let register = Command::Register(Box::new(Registration {
            node,
            skip_node_update: false,
            service: None,
            checks: Vec::new(),
        }));
        store.apply(Index(1), &register).unwrap();
        for (at, (id, ttl)) in sessions.iter().enumerate() {
            let session = Session {
                id: (*id).into(),
                node: "n1".into(),
                ttl: (*ttl).into(),
                ..Session::default()
            };
            let command = Command::SessionCreate(Box::new(session));
            store.apply(Index(2 + at as u64), &command).unwrap();
        }
        store
    }

    #[test]
    fn a_session_expires_after_twice_its_ttl_unless_renewed() {
        let store = store_with(&[("a", "10s"), ("b", "1m"), ("c", "")]);
        let mut table = TimerTable::default();
        table.sync(s(0), &store);
        assert_eq!(table.len(), 2, "no timer for a session without a TTL");
        assert!(table.expired(s(19)).is_empty());
        table.renew(s(15), store.session("a").unwrap());
        assert!(table.expired(s(34)).is_empty());
        assert_eq!(table.expired(s(35)), vec!["a"]);
        assert_eq!(table.expired(s(120)), vec!["a", "b"]);
    }

    #[test]
    fn sync_starts_missing_timers_at_the_full_ttl_and_drops_gone_sessions() {
        let mut table = TimerTable::default();
        table.sync(s(0), &store_with(&[("a", "10s")]));
        // A new leader syncing late gives every session its full 2 × TTL from now.
        let mut fresh = TimerTable::default();
        fresh.sync(s(100), &store_with(&[("a", "10s")]));
        assert!(fresh.expired(s(119)).is_empty());
        assert_eq!(fresh.expired(s(120)), vec!["a"]);
        // Syncing again keeps running timers, and forgets destroyed sessions.
        table.sync(s(5), &store_with(&[("a", "10s")]));
        assert_eq!(table.expired(s(20)), vec!["a"]);
        table.sync(s(6), &store_with(&[]));
        assert!(table.is_empty());
    }
}
