//! Sessions and KV locks: creation rules, acquire and release, invalidation by every cause,
//! `Behavior`, and lock-delay measured on the leader's clock.

use crate::harness::*;
use legate_catalog::command::{ApplyError, KvCondition, Outcome};
use legate_catalog::query::{Query, QueryResult};
use legate_catalog::types::*;
use legate_catalog::Command;

const S1: &str = "00000000-0000-0000-0000-000000000001";
const S2: &str = "00000000-0000-0000-0000-000000000002";
const T0: u64 = 1_764_633_600_000;

fn session(id: &str, node: &str, checks: &[&str]) -> Session {
    Session {
        id: id.into(),
        node: node.into(),
        lock_delay_ns: 15_000_000_000,
        node_checks: checks.iter().map(|check| CheckId::from(*check)).collect(),
        ..Session::default()
    }
}

fn create(session: Session) -> Command {
    Command::SessionCreate(Box::new(session))
}

/// A store at `T0` with node `n1` carrying a passing `serfHealth` check.
fn with_node() -> Harness {
    let mut h = Harness::new();
    h.store.advance_clock(T0);
    h.ok(register(
        node("n1", "10.0.0.1"),
        None,
        vec![check("serfHealth", "", Health::Passing)],
    ));
    h
}

fn acquire(key: &str, value: &str, id: &str) -> Command {
    kv_set_if(key, value, KvCondition::Acquire(id.into()))
}

fn release(key: &str, value: &str, id: &str) -> Command {
    kv_set_if(key, value, KvCondition::Release(id.into()))
}

fn entry(h: &Harness, key: &str) -> Option<KvEntry> {
    match h.query(kv_get(key)).value {
        QueryResult::Kv(mut entries) => entries.pop(),
        other => panic!("{other:?}"),
    }
}

fn sessions(h: &Harness, query: Query) -> Vec<String> {
    match h.query(query).value {
        QueryResult::Sessions(list) => list.into_iter().map(|s| s.id.0).collect(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn creation_follows_consuls_rules() {
    let mut h = with_node();
    assert_eq!(
        h.apply(create(session("", "n1", &[]))),
        Err(ApplyError::MissingSessionId)
    );
    assert_eq!(
        h.apply(create(session(S1, "nowhere", &[]))),
        Err(ApplyError::MissingNode)
    );
    assert_eq!(
        h.apply(create(session(S1, "n1", &["nope"]))),
        Err(ApplyError::MissingCheck("nope".into()))
    );
    assert_eq!(
        h.apply(create(session(S1, "n1", &["serfHealth"]))),
        Ok(Outcome::SessionCreated(S1.into()))
    );
    let created = h.last();
    assert_eq!(
        h.apply(create(session(S1, "n1", &[]))),
        Err(ApplyError::SessionExists)
    );
    // A critical check refuses new sessions, with Consul's text.
    h.ok(register(
        node("n1", "10.0.0.1"),
        None,
        vec![check("serfHealth", "", Health::Critical)],
    ));
    let refused = h.apply(create(session(S2, "N1", &["serfHealth"])));
    assert_eq!(
        refused.unwrap_err().to_string(),
        "Check 'serfHealth' is in critical state"
    );
    // The first session was bound to that check, so it went with it.
    assert!(sessions(&h, Query::Sessions).is_empty());
    assert!(h.store.sessions_index() > created);
}

#[test]
fn reads_list_by_id_and_by_node_scoped_to_the_sessions_table() {
    let mut h = with_node();
    h.ok(register(node("n2", "10.0.0.2"), None, vec![]));
    h.ok(create(session(S2, "n2", &[])));
    h.ok(create(session(S1, "n1", &["serfHealth"])));
    let index = h.last();
    assert_eq!(sessions(&h, Query::Sessions), vec![S1, S2]);
    assert_eq!(
        sessions(&h, Query::NodeSessions { node: "N2".into() }),
        vec![S2]
    );
    assert_eq!(sessions(&h, Query::SessionGet { id: S1.into() }), vec![S1]);
    assert!(sessions(&h, Query::SessionGet { id: "x".into() }).is_empty());
    assert_eq!(h.query(Query::Sessions).index, index);
    // A KV write does not move the sessions index.
    h.ok(kv_set("k", "v"));
    assert_eq!(h.query(Query::SessionGet { id: S1.into() }).index, index);
}

#[test]
fn acquire_and_release_keep_consuls_bookkeeping() {
    let mut h = with_node();
    h.ok(create(session(S1, "n1", &[])));
    h.ok(create(session(S2, "n1", &[])));
    assert_eq!(
        h.apply(acquire("lock", "a", S1)),
        Ok(Outcome::Condition(true))
    );
    let held = entry(&h, "lock").unwrap();
    assert_eq!((held.lock_index, held.session.as_deref()), (1, Some(S1)));
    // Another session cannot take it; the holder re-acquires without a new generation.
    assert_eq!(
        h.apply(acquire("lock", "b", S2)),
        Ok(Outcome::Condition(false))
    );
    assert_eq!(
        h.apply(acquire("lock", "c", S1)),
        Ok(Outcome::Condition(true))
    );
    let again = entry(&h, "lock").unwrap();
    assert_eq!((again.lock_index, again.value.as_slice()), (1, &b"c"[..]));
    assert!(again.indexes.modify_index > held.indexes.modify_index);
    // A plain write by anyone keeps the holder and the generation.
    h.ok(kv_set("lock", "d"));
    let written = entry(&h, "lock").unwrap();
    assert_eq!(
        (written.lock_index, written.session.as_deref()),
        (1, Some(S1))
    );
    // Only the holder releases; the release writes the value and keeps the generation.
    assert_eq!(
        h.apply(release("lock", "e", S2)),
        Ok(Outcome::Condition(false))
    );
    assert_eq!(
        h.apply(release("lock", "e", S1)),
        Ok(Outcome::Condition(true))
    );
    let released = entry(&h, "lock").unwrap();
    assert_eq!(
        (
            released.lock_index,
            released.session,
            released.value.as_slice()
        ),
        (1, None, &b"e"[..])
    );
    assert_eq!(
        h.apply(release("missing", "", S1)),
        Ok(Outcome::Condition(false))
    );
    // An explicit release sets no lock-delay: the other session takes it at once.
    assert_eq!(
        h.apply(acquire("lock", "f", S2)),
        Ok(Outcome::Condition(true))
    );
    assert_eq!(entry(&h, "lock").unwrap().lock_index, 2);
}

#[test]
fn acquire_needs_a_live_session() {
    let mut h = with_node();
    assert_eq!(
        h.apply(acquire("lock", "a", S1)).unwrap_err().to_string(),
        format!("invalid session {S1:?}")
    );
    assert_eq!(
        h.apply(acquire("lock", "a", "")),
        Err(ApplyError::MissingSession)
    );
    assert_eq!(
        h.apply(release("lock", "a", "")),
        Err(ApplyError::MissingSession)
    );
    assert!(entry(&h, "lock").is_none());
}

#[test]
fn destroy_releases_and_starts_the_lock_delay_on_the_leaders_clock() {
    let mut h = with_node();
    h.ok(create(session(S1, "n1", &[])));
    h.ok(create(session(S2, "n1", &[])));
    h.ok(acquire("lock", "a", S1));
    let held = entry(&h, "lock").unwrap();
    h.ok(Command::SessionDestroy(S1.into()));
    let released = entry(&h, "lock").unwrap();
    assert_eq!(released.session, None);
    assert_eq!(released.lock_index, 1);
    assert_eq!(released.value, b"a");
    assert!(released.indexes.modify_index > held.indexes.modify_index);
    // Within the 15 s delay nobody acquires; the clock comes from later log entries.
    assert_eq!(h.store.lock_delay_until("lock"), Some(T0 + 15_000));
    h.store.advance_clock(T0 + 14_999);
    assert_eq!(
        h.apply(acquire("lock", "b", S2)),
        Ok(Outcome::Condition(false))
    );
    h.store.advance_clock(T0 + 15_000);
    assert_eq!(
        h.apply(acquire("lock", "b", S2)),
        Ok(Outcome::Condition(true))
    );
    // Destroying an unknown session is not an error.
    assert_eq!(
        h.apply(Command::SessionDestroy(S1.into())),
        Ok(Outcome::Done)
    );
}

#[test]
fn a_clock_a_moment_behind_neither_moves_nor_shortens_a_delay() {
    let mut h = with_node();
    h.ok(create(session(S1, "n1", &[])));
    h.ok(acquire("lock", "a", S1));
    h.ok(Command::SessionDestroy(S1.into()));
    // Proposals stamped a moment apart, appended out of order; a new leader a second behind.
    h.store.advance_clock(T0 - 1_000);
    assert_eq!(h.store.clock_ms(), T0);
    assert_eq!(h.store.lock_delay_until("lock"), Some(T0 + 15_000));
}

#[test]
fn a_clock_set_back_takes_the_delays_with_it_so_each_keeps_what_it_had_left() {
    let mut h = with_node();
    h.ok(create(session(S1, "n1", &[])));
    h.ok(create(session(S2, "n1", &[])));
    h.ok(acquire("lock", "a", S1));
    h.ok(Command::SessionDestroy(S1.into()));
    h.store.advance_clock(T0 + 5_000);
    h.store.advance_clock(T0 - 60_000);
    assert_eq!(h.store.clock_ms(), T0 - 60_000);
    // 10 s were left, and 10 s are left: not shortened, and not stretched by the step.
    assert_eq!(h.store.lock_delay_until("lock"), Some(T0 - 50_000));
    h.store.advance_clock(T0 - 50_001);
    assert_eq!(
        h.apply(acquire("lock", "b", S2)),
        Ok(Outcome::Condition(false))
    );
    h.store.advance_clock(T0 - 50_000);
    assert_eq!(
        h.apply(acquire("lock", "b", S2)),
        Ok(Outcome::Condition(true))
    );
}

#[test]
fn a_delay_started_while_the_leaders_clock_was_ahead_lasts_its_own_length() {
    let mut h = with_node();
    h.ok(create(session(S1, "n1", &[])));
    h.ok(create(session(S2, "n1", &[])));
    h.ok(acquire("lock", "a", S1));
    // The leader's clock jumps 119 s ahead; the holder's session is destroyed meanwhile.
    h.store.advance_clock(T0 + 119_000);
    h.ok(Command::SessionDestroy(S1.into()));
    assert_eq!(h.store.lock_delay_until("lock"), Some(T0 + 134_000));
    // The next entry comes from the clock set right: the delay has the 15 s it had left as of
    // the last entry, not two minutes.
    h.store.advance_clock(T0 + 2_000);
    assert_eq!(h.store.lock_delay_until("lock"), Some(T0 + 17_000));
    h.store.advance_clock(T0 + 17_000);
    assert_eq!(
        h.apply(acquire("lock", "b", S2)),
        Ok(Outcome::Condition(true))
    );
}

#[test]
fn a_clock_set_back_forgets_the_delays_already_over() {
    let mut h = with_node();
    h.ok(create(Session {
        lock_delay_ns: 1_000_000_000,
        ..session(S1, "n1", &[])
    }));
    h.ok(create(session(S2, "n1", &[])));
    h.ok(acquire("a", "1", S1));
    h.ok(acquire("b", "1", S2));
    h.ok(Command::SessionDestroy(S1.into()));
    h.ok(Command::SessionDestroy(S2.into()));
    h.store.advance_clock(T0 + 2_000);
    h.store.advance_clock(T0 - 30_000);
    assert_eq!(h.store.lock_delay_until("a"), None);
    assert_eq!(h.store.lock_delay_until("b"), Some(T0 - 30_000 + 13_000));
    // Over for good: moving forward again does not bring it back.
    h.store.advance_clock(T0 - 31_500);
    assert_eq!(h.store.lock_delay_until("a"), None);
}

#[test]
fn lock_delay_is_capped_at_sixty_seconds_and_zero_means_none() {
    let mut h = with_node();
    h.ok(create(Session {
        lock_delay_ns: 3_600_000_000_000,
        ..session(S1, "n1", &[])
    }));
    h.ok(create(Session {
        lock_delay_ns: 0,
        ..session(S2, "n1", &[])
    }));
    h.ok(acquire("a", "1", S1));
    h.ok(acquire("b", "1", S2));
    h.ok(Command::SessionDestroy(S1.into()));
    h.ok(Command::SessionDestroy(S2.into()));
    assert_eq!(h.store.lock_delay_until("a"), Some(T0 + 60_000));
    assert_eq!(h.store.lock_delay_until("b"), None);
}

#[test]
fn behavior_delete_deletes_the_held_keys() {
    let mut h = with_node();
    h.ok(create(Session {
        behavior: SessionBehavior::Delete,
        ..session(S1, "n1", &[])
    }));
    h.ok(acquire("a/1", "x", S1));
    h.ok(acquire("a/2", "y", S1));
    h.ok(kv_set("a/3", "free"));
    h.ok(Command::SessionDestroy(S1.into()));
    assert!(entry(&h, "a/1").is_none());
    assert!(entry(&h, "a/2").is_none());
    assert!(entry(&h, "a/3").is_some());
    // The deletion raised the prefix's index, so watchers of it wake.
    assert_eq!(h.query(kv_list("a/")).index, h.last());
}

#[test]
fn a_critical_or_deregistered_check_invalidates_bound_sessions_only() {
    let mut h = with_node();
    h.ok(register(
        node("n1", "10.0.0.1"),
        None,
        vec![check("disk", "", Health::Passing)],
    ));
    h.ok(create(session(S1, "n1", &["serfHealth"])));
    h.ok(create(session(S2, "n1", &["DISK"])));
    h.ok(acquire("lock", "a", S1));
    // A warning is not critical.
    h.ok(register(
        node("n1", "10.0.0.1"),
        None,
        vec![check("serfHealth", "", Health::Warning)],
    ));
    assert_eq!(sessions(&h, Query::Sessions).len(), 2);
    h.ok(register(
        node("n1", "10.0.0.1"),
        None,
        vec![check("serfHealth", "", Health::Critical)],
    ));
    assert_eq!(sessions(&h, Query::Sessions), vec![S2]);
    assert_eq!(entry(&h, "lock").unwrap().session, None);
    h.ok(deregister_check("n1", "disk"));
    assert!(sessions(&h, Query::Sessions).is_empty());
}

#[test]
fn deregistering_the_node_invalidates_its_sessions() {
    let mut h = with_node();
    h.ok(register(node("n2", "10.0.0.2"), None, vec![]));
    h.ok(create(session(S1, "n1", &[])));
    h.ok(create(session(S2, "n2", &[])));
    h.ok(acquire("lock", "a", S1));
    h.ok(deregister_node("n1"));
    assert_eq!(sessions(&h, Query::Sessions), vec![S2]);
    let released = entry(&h, "lock").unwrap();
    assert_eq!(released.session, None);
    assert!(h.store.lock_delay_until("lock").is_some());
}

#[test]
fn deleting_a_held_key_frees_the_session_of_it() {
    let mut h = with_node();
    h.ok(create(session(S1, "n1", &[])));
    h.ok(acquire("a/lock", "x", S1));
    h.ok(kv_delete("a/", legate_catalog::command::KvDeleteMode::Tree));
    // Invalidation later finds nothing to release, and the invariants (checked by the
    // harness after every command) hold throughout.
    h.ok(Command::SessionDestroy(S1.into()));
    assert!(entry(&h, "a/lock").is_none());
    assert_eq!(h.store.lock_delay_until("a/lock"), None);
}
