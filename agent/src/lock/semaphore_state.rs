//! The `.lock` record of a Go `api.Semaphore`: `{"Limit": N, "Holders": {"<session>": true}}`
//! under `<prefix>/.lock`, with each contender's own key `<prefix>/<session>` held by its
//! session. Pure: decisions on a listing, so they are tested without a server.

use super::{LockError, SEMAPHORE_FLAG};
use legate_api::types::KvPair;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The `.lock` key's value.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SemaphoreLock {
    #[serde(rename = "Limit")]
    pub limit: usize,
    #[serde(rename = "Holders")]
    pub holders: BTreeMap<String, bool>,
}

/// The lock key of a semaphore at `prefix`.
pub fn lock_key(prefix: &str) -> String {
    format!("{}/.lock", prefix.trim_end_matches('/'))
}

/// A contender's own key.
pub fn contender_key(prefix: &str, session: &str) -> String {
    format!("{}/{session}", prefix.trim_end_matches('/'))
}

/// The `.lock` record in a listing of the prefix (a fresh one when absent) and its
/// `ModifyIndex` (0 when absent, for a create-only CAS).
pub fn find_lock(
    pairs: &[KvPair],
    prefix: &str,
    limit: usize,
) -> Result<(SemaphoreLock, u64), LockError> {
    let key = lock_key(prefix);
    let Some(pair) = pairs.iter().find(|pair| pair.key == key) else {
        return Ok((
            SemaphoreLock {
                limit,
                holders: BTreeMap::new(),
            },
            0,
        ));
    };
    if pair.flags != SEMAPHORE_FLAG {
        return Err(LockError::Conflict);
    }
    let lock: SemaphoreLock = match &pair.value {
        Some(bytes) => serde_json::from_slice(bytes)
            .map_err(|error| LockError::Decode(format!("failed to read lock: {error}")))?,
        None => SemaphoreLock {
            limit,
            holders: BTreeMap::new(),
        },
    };
    if lock.limit != limit {
        return Err(LockError::LimitConflict {
            held: lock.limit,
            local: limit,
        });
    }
    Ok((lock, pair.modify_index))
}

/// Drops holders whose contender key is gone or no longer held by a session: their
/// session was invalidated, so their slot is free (Go's `pruneDeadHolders`).
pub fn prune_dead_holders(lock: &mut SemaphoreLock, pairs: &[KvPair], prefix: &str) {
    let alive: Vec<String> = pairs
        .iter()
        .filter(|pair| pair.session.as_deref().is_some_and(|s| !s.is_empty()))
        .filter_map(|pair| {
            let session = pair.session.clone()?;
            (pair.key == contender_key(prefix, &session)).then_some(session)
        })
        .collect();
    lock.holders.retain(|holder, _| alive.contains(holder));
}

/// Whether `session` holds a slot in a listing of the prefix.
pub fn holds(pairs: &[KvPair], prefix: &str, session: &str) -> bool {
    let key = lock_key(prefix);
    pairs
        .iter()
        .find(|pair| pair.key == key)
        .and_then(|pair| pair.value.as_deref())
        .and_then(|bytes| serde_json::from_slice::<SemaphoreLock>(bytes).ok())
        .is_some_and(|lock| lock.holders.contains_key(session))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(key: &str, session: Option<&str>, flags: u64, value: Option<&str>) -> KvPair {
        KvPair {
            key: key.into(),
            session: session.map(str::to_owned),
            flags,
            value: value.map(|v| v.as_bytes().to_vec()),
            modify_index: 7,
            ..KvPair::default()
        }
    }

    #[test]
    fn a_missing_lock_is_fresh_and_created_with_cas_zero() {
        let (lock, index) = find_lock(&[], "svc", 3).unwrap();
        assert_eq!((lock.limit, lock.holders.len(), index), (3, 0, 0));
    }

    #[test]
    fn the_go_clients_record_reads_and_conflicts_are_refused() {
        let record = r#"{"Limit":2,"Holders":{"s1":true}}"#;
        let pairs = [pair("svc/.lock", None, SEMAPHORE_FLAG, Some(record))];
        let (lock, index) = find_lock(&pairs, "svc/", 2).unwrap();
        assert_eq!((lock.holders.len(), index), (1, 7));
        assert!(matches!(
            find_lock(&pairs, "svc", 3),
            Err(LockError::LimitConflict { held: 2, local: 3 })
        ));
        let foreign = [pair("svc/.lock", None, 0, Some("data"))];
        assert!(matches!(
            find_lock(&foreign, "svc", 2),
            Err(LockError::Conflict)
        ));
        let encoded = serde_json::to_string(&lock).unwrap();
        assert_eq!(encoded, record);
    }

    #[test]
    fn dead_holders_are_pruned() {
        let mut lock = SemaphoreLock {
            limit: 2,
            holders: [("s1".to_owned(), true), ("s2".to_owned(), true)].into(),
        };
        let pairs = [
            pair("svc/s1", Some("s1"), SEMAPHORE_FLAG, None),
            // s2's session was invalidated: its key is released (no session).
            pair("svc/s2", None, SEMAPHORE_FLAG, None),
        ];
        prune_dead_holders(&mut lock, &pairs, "svc");
        assert_eq!(lock.holders.keys().collect::<Vec<_>>(), vec!["s1"]);
    }
}
