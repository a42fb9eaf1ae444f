use crate::harness::*;
use legate_catalog::command::{KvCondition, KvDeleteMode, Outcome};
use legate_catalog::query::Query;
use legate_catalog::types::Index;

#[test]
fn set_then_get_answers_the_key_modify_index() {
    let mut h = Harness::new();
    h.ok(kv_set("a", "1"));
    h.ok(kv_set("b", "2"));
    let answer = h.query(kv_get("a"));
    assert_eq!(answer.index, Index(1));
    assert_eq!(keys_of(&answer.value), ["a"]);
    // A missing key answers the table's index, so a client can block on its creation.
    let missing = h.query(kv_get("zzz"));
    assert_eq!(missing.index, Index(2));
    assert!(keys_of(&missing.value).is_empty());
}

#[test]
fn rewrite_keeps_create_index_and_unchanged_write_is_skipped() {
    let mut h = Harness::new();
    h.ok(kv_set("a", "1"));
    h.ok(kv_set("a", "2"));
    h.ok(kv_set("a", "2"));
    let answer = h.query(kv_get("a"));
    let legate_catalog::QueryResult::Kv(entries) = answer.value else {
        panic!()
    };
    assert_eq!(entries[0].indexes.create_index, Index(1));
    assert_eq!(
        entries[0].indexes.modify_index,
        Index(2),
        "the same value again changes nothing"
    );
    assert_eq!(h.store.table_indexes().kvs, Index(2));
}

#[test]
fn cas_zero_creates_only_and_cas_index_must_match() {
    let mut h = Harness::new();
    let create = kv_set_if("k", "v", KvCondition::ModifyIndex(Index(0)));
    assert_eq!(h.apply(create.clone()), Ok(Outcome::Condition(true)));
    assert_eq!(h.apply(create), Ok(Outcome::Condition(false)));
    let stale = kv_set_if("k", "w", KvCondition::ModifyIndex(Index(99)));
    assert_eq!(h.apply(stale), Ok(Outcome::Condition(false)));
    let fresh = kv_set_if("k", "w", KvCondition::ModifyIndex(Index(1)));
    assert_eq!(h.apply(fresh), Ok(Outcome::Condition(true)));
    let on_missing = kv_set_if("nope", "w", KvCondition::ModifyIndex(Index(3)));
    assert_eq!(h.apply(on_missing), Ok(Outcome::Condition(false)));
}

#[test]
fn delete_cas_on_a_missing_key_is_true_as_in_consul() {
    let mut h = Harness::new();
    h.ok(kv_set("k", "v"));
    let wrong = kv_delete("k", KvDeleteMode::ModifyIndex(Index(7)));
    assert_eq!(h.apply(wrong), Ok(Outcome::Condition(false)));
    let right = kv_delete("k", KvDeleteMode::ModifyIndex(Index(1)));
    assert_eq!(h.apply(right), Ok(Outcome::Condition(true)));
    let gone = kv_delete("k", KvDeleteMode::ModifyIndex(Index(1)));
    assert_eq!(h.apply(gone), Ok(Outcome::Condition(true)));
}

#[test]
fn prefix_index_never_falls_when_keys_are_deleted() {
    let mut h = Harness::new();
    h.ok(kv_set("app/a", "1"));
    h.ok(kv_set("app/b", "2"));
    h.ok(kv_set("other", "x"));
    let before = h.query(kv_list("app/")).index;
    assert_eq!(before, Index(2));
    h.ok(kv_delete("app/b", KvDeleteMode::Key));
    let after = h.query(kv_list("app/"));
    assert_eq!(keys_of(&after.value), ["app/a"]);
    assert_eq!(
        after.index,
        Index(4),
        "the tombstone carries the delete's index"
    );
    h.ok(kv_delete("app/", KvDeleteMode::Tree));
    let empty = h.query(kv_list("app/"));
    assert!(keys_of(&empty.value).is_empty());
    assert_eq!(empty.index, Index(5));
    // A narrower prefix under the deleted tree sees the tree's tombstone too.
    assert_eq!(h.query(kv_list("app/a")).index, Index(5));
    // The tree tombstone replaced the key tombstone below it.
    assert_eq!(h.store.tombstone_count(), 1);
    // Recreating a key clears its tombstone but keeps the prefix index rising.
    h.ok(kv_set("app/", "folder"));
    assert_eq!(h.query(kv_list("app/")).index, Index(6));
}

#[test]
fn deleting_nothing_changes_nothing() {
    let mut h = Harness::new();
    h.ok(kv_set("a", "1"));
    h.ok(kv_delete("b", KvDeleteMode::Key));
    h.ok(kv_delete("zz/", KvDeleteMode::Tree));
    assert_eq!(h.store.table_indexes().kvs, Index(1));
    assert_eq!(h.store.tombstone_count(), 0);
}

#[test]
fn keys_roll_up_at_the_separator() {
    let mut h = Harness::new();
    for key in ["web/a", "web/sub/b", "web/sub/c", "web/z", "webby"] {
        h.ok(kv_set(key, "v"));
    }
    let all = h.query(Query::KvKeys {
        prefix: "web/".into(),
        separator: None,
    });
    assert_eq!(
        keys_of(&all.value),
        ["web/a", "web/sub/b", "web/sub/c", "web/z"]
    );
    let rolled = h.query(Query::KvKeys {
        prefix: "web/".into(),
        separator: Some("/".into()),
    });
    assert_eq!(keys_of(&rolled.value), ["web/a", "web/sub/", "web/z"]);
    let top = h.query(Query::KvKeys {
        prefix: "".into(),
        separator: Some("/".into()),
    });
    assert_eq!(keys_of(&top.value), ["web/", "webby"]);
}

#[test]
fn recursive_list_is_lexically_ordered_and_scoped() {
    let mut h = Harness::new();
    for key in ["b/2", "a/1", "b/1", "c"] {
        h.ok(kv_set(key, "v"));
    }
    let listed = h.query(kv_list("b/"));
    assert_eq!(keys_of(&listed.value), ["b/1", "b/2"]);
    assert_eq!(listed.index, Index(3));
    // The empty prefix answers the whole table's index.
    assert_eq!(h.query(kv_list("")).index, Index(4));
    // A prefix with nothing under it and no tombstones falls back to the table index.
    assert_eq!(h.query(kv_list("zzz")).index, Index(4));
}

#[test]
fn reaping_forgets_old_tombstones_but_keeps_the_table_index_rising() {
    let mut h = Harness::new();
    h.ok(kv_set("a/1", "x"));
    h.ok(kv_set("b/1", "x"));
    h.ok(kv_delete("a/1", KvDeleteMode::Key));
    h.ok(kv_delete("b/1", KvDeleteMode::Key));
    let missing_before = h.query(kv_get("zzz")).index;
    h.ok(legate_catalog::Command::ReapTombstones(Index(3)));
    assert_eq!(
        h.store.tombstone_count(),
        1,
        "only b/1's tombstone is newer than 3"
    );
    assert!(h.query(kv_get("zzz")).index > missing_before);
    // Nothing to reap changes nothing.
    let tables = h.store.table_indexes();
    h.ok(legate_catalog::Command::ReapTombstones(Index(3)));
    assert_eq!(h.store.table_indexes(), tables);
}

#[test]
fn a_batch_applies_in_order_at_one_index() {
    use legate_catalog::command::ApplyError;
    let mut h = Harness::new();
    let batch = legate_catalog::Command::Batch(vec![
        kv_set_if("k", "first", KvCondition::ModifyIndex(Index(0))),
        kv_set_if("k", "second", KvCondition::ModifyIndex(Index(0))),
        kv_set("other", "x"),
        register(node("", "1.2.3.4"), None, vec![]),
        legate_catalog::Command::Batch(vec![]),
    ]);
    let results = h.apply(batch).unwrap();
    assert_eq!(
        results,
        Outcome::Batch(vec![
            Ok(Outcome::Condition(true)),
            Ok(Outcome::Condition(false)),
            Ok(Outcome::Done),
            Err(ApplyError::MissingNodeName),
            Err(ApplyError::NestedBatch),
        ])
    );
    let answer = h.query(kv_get("k"));
    let legate_catalog::QueryResult::Kv(entries) = answer.value else {
        panic!()
    };
    assert_eq!(entries[0].value, b"first");
    assert_eq!(
        h.query(kv_get("other")).index,
        Index(1),
        "every command shares the index"
    );
}
