use crate::harness::*;
use legate_catalog::command::KvDeleteMode;
use legate_catalog::query::Query;
use legate_catalog::types::Health;
use legate_catalog::Store;

#[test]
fn restore_gives_back_the_same_store() {
    let mut h = Harness::new();
    h.ok(register(
        node("n1", "10.0.0.1"),
        Some(service("web", "web", &["a"], 80)),
        vec![check("c", "web", Health::Warning)],
    ));
    h.ok(kv_set("a/b", "1"));
    h.ok(kv_set("a/c", "2"));
    h.ok(kv_delete("a/c", KvDeleteMode::Key));
    let bytes = h.store.snapshot();
    let restored = Store::restore(&bytes).unwrap();
    assert_eq!(restored.snapshot(), bytes);
    assert_eq!(restored.last_index(), h.last());
    for query in [
        kv_list("a/"),
        instances("web", &[], false),
        Query::Services { node_meta: vec![] },
    ] {
        let a = legate_catalog::query::run(&h.store, &query);
        let b = legate_catalog::query::run(&restored, &query);
        assert_eq!((a.index, a.value), (b.index, b.value));
    }
}

#[test]
fn a_corrupt_snapshot_is_refused() {
    let mut h = Harness::new();
    h.ok(kv_set("a", "1"));
    let mut bytes = h.store.snapshot();
    assert!(Store::restore(&bytes[..bytes.len() / 2]).is_err());
    bytes.truncate(3);
    assert!(Store::restore(&bytes).is_err());
    assert!(Store::restore(b"").is_err());
}
