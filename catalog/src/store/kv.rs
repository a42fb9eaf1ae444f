//! The KV table and its tombstones.
//!
//! A tombstone at key `T` with index `i` means "something at or under `T` was deleted at
//! `i`": a single-key delete leaves one at the key, a tree delete one at the prefix. A prefix
//! query takes the highest tombstone among its descendants and its ancestors, so its index
//! never falls when keys under it go away (Consul PR #577), and a tree delete costs one
//! tombstone rather than one per key.

use super::Store;
use crate::command::{
    ApplyError, CommandResult, KvCondition, KvDelete, KvDeleteMode, KvSet, Outcome,
};
use crate::types::{Index, KvEntry, RaftIndexes};
use crate::watch::Touched;
use std::sync::Arc;

impl Store {
    pub(super) fn kv_set(&mut self, index: Index, set: &KvSet) -> CommandResult {
        let key = &set.entry.key;
        let existing = self.kv.get(key);
        let held_by = existing.and_then(|entry| entry.session.clone());
        // (create index, lock index, holder) of the entry to write, or the early answer.
        let (lock_index, session, done) = match &set.condition {
            KvCondition::Always | KvCondition::ModifyIndex(_) => {
                if let KvCondition::ModifyIndex(expected) = set.condition {
                    let current = existing.map(|entry| entry.indexes.modify_index);
                    let holds = match current {
                        None => expected == Index::ZERO,
                        Some(current) => expected != Index::ZERO && current == expected,
                    };
                    if !holds {
                        return Ok(Outcome::Condition(false));
                    }
                }
                let done = match set.condition {
                    KvCondition::ModifyIndex(_) => Outcome::Condition(true),
                    _ => Outcome::Done,
                };
                // A plain write keeps the lock holder and generation, as Consul's store does.
                if let Some(entry) = existing {
                    if entry.value == set.entry.value && entry.flags == set.entry.flags {
                        return Ok(done);
                    }
                }
                let lock_index = existing.map_or(0, |entry| entry.lock_index);
                (lock_index, held_by.clone(), done)
            }
            KvCondition::Acquire(session) => {
                if session.as_str().is_empty() {
                    return Err(ApplyError::MissingSession);
                }
                if !self.sessions.contains_key(session.as_str()) {
                    return Err(ApplyError::InvalidSession(session.clone()));
                }
                if self.lock_delay_until(key).is_some() {
                    return Ok(Outcome::Condition(false));
                }
                let lock_index = existing.map_or(0, |entry| entry.lock_index);
                match held_by.as_deref() {
                    // Re-acquiring by the holder updates the value, not the generation.
                    Some(holder) if holder == session.as_str() => {
                        (lock_index, held_by.clone(), Outcome::Condition(true))
                    }
                    Some(_) => return Ok(Outcome::Condition(false)),
                    None => (
                        lock_index + 1,
                        Some(session.as_str().to_owned()),
                        Outcome::Condition(true),
                    ),
                }
            }
            KvCondition::Release(session) => {
                if session.as_str().is_empty() {
                    return Err(ApplyError::MissingSession);
                }
                match (existing, held_by.as_deref()) {
                    (Some(entry), Some(holder)) if holder == session.as_str() => {
                        (entry.lock_index, None, Outcome::Condition(true))
                    }
                    _ => return Ok(Outcome::Condition(false)),
                }
            }
        };
        let create_index = existing.map_or(index, |entry| entry.indexes.create_index);
        let entry = KvEntry {
            key: key.clone(),
            value: set.entry.value.clone(),
            flags: set.entry.flags,
            lock_index,
            session: session.clone(),
            indexes: RaftIndexes {
                create_index,
                modify_index: index,
            },
        };
        self.kv.insert(key.clone(), Arc::new(entry));
        self.relink_lock(key, held_by.as_deref(), session.as_deref());
        // A live key needs no tombstone: its own index is higher than the deletion's.
        self.tombstones.remove(key);
        self.tables.kvs = index;
        self.touched.push(Touched::Kv(key.clone()));
        Ok(done)
    }

    pub(super) fn kv_delete(&mut self, index: Index, delete: &KvDelete) -> Outcome {
        let key = &delete.key;
        match delete.mode {
            KvDeleteMode::Key => {
                self.remove_key(index, key);
                Outcome::Done
            }
            KvDeleteMode::ModifyIndex(expected) => match self.kv.get(key) {
                None => Outcome::Condition(true),
                Some(entry) if entry.indexes.modify_index != expected => Outcome::Condition(false),
                Some(_) => {
                    self.remove_key(index, key);
                    Outcome::Condition(true)
                }
            },
            KvDeleteMode::Tree => {
                let doomed: Vec<String> = self
                    .kv
                    .range(key.clone()..)
                    .take_while(|(candidate, _)| candidate.starts_with(key.as_str()))
                    .map(|(candidate, _)| candidate.clone())
                    .collect();
                if doomed.is_empty() {
                    return Outcome::Done;
                }
                for gone in doomed {
                    if let Some(entry) = self.kv.remove(&gone) {
                        self.relink_lock(&gone, entry.session.as_deref(), None);
                    }
                    self.touched.push(Touched::Kv(gone));
                }
                self.bury(index, key);
                self.tables.kvs = index;
                Outcome::Done
            }
        }
    }

    pub(super) fn remove_key(&mut self, index: Index, key: &str) {
        let Some(entry) = self.kv.remove(key) else {
            return;
        };
        self.relink_lock(key, entry.session.as_deref(), None);
        self.bury(index, key);
        self.tables.kvs = index;
        self.touched.push(Touched::Kv(key.to_owned()));
    }

    /// Leaves a tombstone at `prefix`. Older tombstones below it are covered by this one
    /// (its index is higher and every query that would count them counts it), so they go.
    fn bury(&mut self, index: Index, prefix: &str) {
        let covered: Vec<String> = self
            .tombstones
            .range(prefix.to_owned()..)
            .take_while(|(candidate, _)| candidate.starts_with(prefix))
            .map(|(candidate, _)| candidate.clone())
            .collect();
        for key in covered {
            self.tombstones.remove(&key);
        }
        self.tombstones.insert(prefix.to_owned(), index);
        self.tables.tombstones = index;
    }

    /// Forgets tombstones at or below `up_to`. Prefix indexes under them may then fall, as in
    /// Consul after its tombstone GC; the tombstones table index rises to `index` so that a
    /// missing key's index (the KV table's highest) never falls.
    pub(super) fn reap_tombstones(&mut self, index: Index, up_to: Index) -> Outcome {
        let reaped: Vec<String> = self
            .tombstones
            .iter()
            .filter(|(_, buried)| **buried <= up_to)
            .map(|(key, _)| key.clone())
            .collect();
        for key in &reaped {
            self.tombstones.remove(key);
        }
        if !reaped.is_empty() {
            self.tables.tombstones = index;
        }
        Outcome::Done
    }

    /// The highest tombstone index, if any tombstone is kept.
    pub fn newest_tombstone(&self) -> Option<Index> {
        self.tombstones.values().max().copied()
    }

    /// The highest deletion index that concerns keys under `prefix`, or zero.
    pub(crate) fn tombstone_index(&self, prefix: &str) -> Index {
        let below = self
            .tombstones
            .range(prefix.to_owned()..)
            .take_while(|(candidate, _)| candidate.starts_with(prefix))
            .map(|(_, index)| *index)
            .max()
            .unwrap_or_default();
        let above = prefix
            .char_indices()
            .map(|(at, _)| &prefix[..at])
            .filter_map(|ancestor| self.tombstones.get(ancestor).copied())
            .max()
            .unwrap_or_default();
        below.max(above)
    }
}
