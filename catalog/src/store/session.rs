//! Sessions and the locks they hold.
//!
//! A session is invalidated when it is destroyed, when the leader expires its TTL (both
//! `SessionDestroy`), when its node is deregistered, or when a check it is bound to goes
//! critical or is deregistered. Invalidation releases or deletes the keys it holds (its
//! `Behavior`) and starts their lock-delay, measured on the store's clock: the leader's
//! clock, carried in the log entry, so every server computes the same expiry.

use super::{fold, NodeKey, Store};
use crate::command::{ApplyError, CommandResult, Outcome};
use crate::types::{
    Health, Index, KvEntry, RaftIndexes, Session, SessionBehavior, SessionId, MAX_LOCK_DELAY_NS,
};
use crate::watch::Touched;
use std::sync::Arc;

/// How far behind the store's clock an entry's stamp may be before it counts as the clock
/// set back rather than proposals reordered or leaders' clocks a little apart.
const CLOCK_STEP_BACK_MS: u64 = 1_000;

impl Store {
    /// Moves the store's clock to the leader's `time_ms`.
    ///
    /// Forward is time passing (or a clock stepped forward, which ends running delays early,
    /// as Consul's leader-clock delays would). A small step back is proposals stamped a moment
    /// apart and appended out of order, or a new leader's clock a little behind: the clock
    /// stays, so no delay is shortened. A larger step back is a clock set back (or a leader
    /// whose clock was ahead giving way): the clock follows it and every running delay's end
    /// moves back by the same amount, so each keeps the time it had left. Staying put there
    /// instead would freeze the clock until wall time caught up, and stretch every delay
    /// started meanwhile by the whole step (a +119 s jump held a lock free for two minutes).
    pub fn advance_clock(&mut self, time_ms: u64) {
        if time_ms >= self.clock_ms {
            self.clock_ms = time_ms;
            return;
        }
        let back = self.clock_ms - time_ms;
        if back <= CLOCK_STEP_BACK_MS {
            return;
        }
        self.clock_ms = time_ms;
        let now = time_ms;
        let running: Vec<(String, u64)> = self
            .lock_delays
            .iter()
            .map(|(key, until)| (key.clone(), until.saturating_sub(back)))
            .collect();
        self.lock_delays.clear();
        for (key, until) in running {
            if until > now {
                self.lock_delays.insert(key, until);
            }
        }
    }

    /// The leader's clock as of the last applied entry, in milliseconds since the epoch.
    pub fn clock_ms(&self) -> u64 {
        self.clock_ms
    }

    pub fn session(&self, id: &str) -> Option<&Session> {
        self.sessions.get(id)
    }

    /// Every session, in id order.
    pub fn sessions(&self) -> impl Iterator<Item = &Session> {
        self.sessions.values()
    }

    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    /// When the lock-delay of `key` ends (ms since the epoch), if one is running.
    pub fn lock_delay_until(&self, key: &str) -> Option<u64> {
        self.lock_delays
            .get(key)
            .copied()
            .filter(|until| *until > self.clock_ms)
    }

    pub(super) fn session_create(&mut self, index: Index, session: &Session) -> CommandResult {
        let id = session.id.as_str();
        if id.is_empty() {
            return Err(ApplyError::MissingSessionId);
        }
        if self.sessions.contains_key(id) {
            return Err(ApplyError::SessionExists);
        }
        let node_key = fold(session.node.as_str());
        let Some(node) = self.nodes.get(&node_key) else {
            return Err(ApplyError::MissingNode);
        };
        for check_id in session.bound_checks() {
            match self
                .checks
                .get(&(node_key.clone(), fold(check_id.as_str())))
            {
                None => return Err(ApplyError::MissingCheck(check_id.clone())),
                Some(check) if check.status == Health::Critical => {
                    return Err(ApplyError::CheckInState(check_id.clone(), check.status))
                }
                Some(_) => {}
            }
        }
        let mut session = session.clone();
        session.node = node.name.clone();
        session.indexes = RaftIndexes {
            create_index: index,
            modify_index: index,
        };
        self.sessions_by_node
            .entry(node_key)
            .or_default()
            .insert(id.to_owned());
        self.sessions.insert(id.to_owned(), session);
        self.sessions_index = index;
        self.touched.push(Touched::Sessions);
        Ok(Outcome::SessionCreated(SessionId::new(id)))
    }

    pub(super) fn session_destroy(&mut self, index: Index, id: &SessionId) -> Outcome {
        self.invalidate_session(index, id.as_str());
        Outcome::Done
    }

    /// Invalidates every session of the node (the node is being deregistered).
    pub(super) fn invalidate_node_sessions(&mut self, index: Index, node_key: &NodeKey) {
        let ids: Vec<String> = self
            .sessions_by_node
            .get(node_key)
            .map(|ids| ids.iter().cloned().collect())
            .unwrap_or_default();
        for id in ids {
            self.invalidate_session(index, &id);
        }
    }

    /// Invalidates the sessions of the node bound to the check `check_key` (folded), which
    /// went critical or is being deregistered.
    pub(super) fn invalidate_check_sessions(
        &mut self,
        index: Index,
        node_key: &NodeKey,
        check_key: &str,
    ) {
        let Some(ids) = self.sessions_by_node.get(node_key) else {
            return;
        };
        let bound: Vec<String> = ids
            .iter()
            .filter(|id| {
                self.sessions[id.as_str()]
                    .bound_checks()
                    .iter()
                    .any(|check| fold(check.as_str()) == check_key)
            })
            .cloned()
            .collect();
        for id in bound {
            self.invalidate_session(index, &id);
        }
    }

    fn invalidate_session(&mut self, index: Index, id: &str) {
        let Some(session) = self.sessions.remove(id) else {
            return;
        };
        let node_key = fold(session.node.as_str());
        let now_empty = self.sessions_by_node.get_mut(&node_key).is_some_and(|ids| {
            ids.remove(id);
            ids.is_empty()
        });
        if now_empty {
            self.sessions_by_node.remove(&node_key);
        }
        self.sessions_index = index;
        self.touched.push(Touched::Sessions);
        self.drop_session_queries(index, id);

        let delay_ms = session.lock_delay_ns.min(MAX_LOCK_DELAY_NS) / 1_000_000;
        // Expired delays are forgotten here, so the table holds only running ones.
        let now = self.clock_ms;
        let expired: Vec<String> = self
            .lock_delays
            .iter()
            .filter(|(_, until)| **until <= now)
            .map(|(key, _)| key.clone())
            .collect();
        for key in expired {
            self.lock_delays.remove(&key);
        }
        let held: Vec<String> = self
            .session_locks
            .remove(id)
            .map(|keys| keys.into_iter().collect())
            .unwrap_or_default();
        for key in held {
            match session.behavior {
                SessionBehavior::Release => {
                    if let Some(entry) = self.kv.get(&key) {
                        let mut released = KvEntry::clone(entry);
                        released.session = None;
                        released.indexes.modify_index = index;
                        self.kv.insert(key.clone(), Arc::new(released));
                        self.tables.kvs = index;
                        self.touched.push(Touched::Kv(key.clone()));
                    }
                }
                SessionBehavior::Delete => self.remove_key(index, &key),
            }
            if delay_ms > 0 {
                self.lock_delays.insert(key, now + delay_ms);
            }
        }
    }

    /// Records that `key` is now held by `session` (or by none), keeping the session →
    /// keys index in step with the KV table.
    pub(super) fn relink_lock(&mut self, key: &str, old: Option<&str>, new: Option<&str>) {
        if old == new {
            return;
        }
        if let Some(old) = old {
            let now_empty = self.session_locks.get_mut(old).is_some_and(|keys| {
                keys.remove(key);
                keys.is_empty()
            });
            if now_empty {
                self.session_locks.remove(old);
            }
        }
        if let Some(new) = new {
            self.session_locks
                .entry(new.to_owned())
                .or_default()
                .insert(key.to_owned());
        }
    }
}
