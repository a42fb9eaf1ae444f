//! Byte fixtures for the durable formats (see `legate_catalog::codec` for the rules).
//!
//! Each fixture is the hex of one encoded value in `tests/fixtures/`. A test decodes the
//! checked-in bytes and compares them with the value they must mean, and encodes that value
//! and compares the bytes, so any change of layout fails here. To add a fixture for a NEW
//! version or variant, run once with `LEGATE_WRITE_FIXTURES=1`: only missing files are
//! written; an existing fixture is never rewritten, because old bytes must keep decoding.

use crate::harness::*;
use legate_catalog::codec::fixture;
use legate_catalog::command::{
    ApplyError, Deregistration, KvCondition, KvDeleteMode, LogPayload, Outcome, Registration,
};
use legate_catalog::txn::*;
use legate_catalog::types::*;
use legate_catalog::{Command, CommandResult, Store};
use std::collections::BTreeMap;
use std::path::PathBuf;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn pin<T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug>(
    name: &str,
    value: &T,
) {
    fixture::pin(&dir(), name, value);
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn indexes(create: u64, modify: u64) -> RaftIndexes {
    RaftIndexes {
        create_index: Index(create),
        modify_index: Index(modify),
    }
}

/// Records with every field set, so that a reordered or retyped field shows.
fn full_node() -> Node {
    Node {
        id: "0b7a3c1e-58d4-4b8e-9e2f-6d1c0a9b8e7f".into(),
        name: "web-1".into(),
        address: "10.0.0.7".into(),
        tagged_addresses: map(&[("lan", "10.0.0.7"), ("wan", "198.51.100.7")]),
        meta: map(&[("rack", "r1")]),
        indexes: indexes(3, 4),
    }
}

fn full_service() -> Service {
    Service {
        node: "web-1".into(),
        id: "web-80".into(),
        name: "web".into(),
        kind: "".into(),
        tags: vec!["v1".into(), "primary".into()],
        address: "10.0.0.8".into(),
        tagged_addresses: BTreeMap::from([(
            "lan".to_owned(),
            ServiceAddress {
                address: "10.0.0.8".into(),
                port: 8080,
            },
        )]),
        meta: map(&[("version", "1.2")]),
        port: 80,
        socket_path: "/run/web.sock".into(),
        weights: Weights {
            passing: 10,
            warning: 1,
        },
        enable_tag_override: true,
        indexes: indexes(5, 6),
    }
}

fn full_check() -> Check {
    Check {
        node: "web-1".into(),
        id: "service:web-80".into(),
        name: "Service 'web' check".into(),
        status: Health::Warning,
        notes: "notes".into(),
        output: "HTTP GET: 429".into(),
        service_id: "web-80".into(),
        service_name: "web".into(),
        service_tags: vec!["v1".into()],
        check_type: "http".into(),
        exposed_port: 21500,
        definition: CheckDefinition {
            http: "http://10.0.0.8:80/health".into(),
            header: BTreeMap::from([("X-A".to_owned(), vec!["1".to_owned(), "2".to_owned()])]),
            method: "POST".into(),
            body: "{}".into(),
            tls_server_name: "web.example".into(),
            tls_skip_verify: true,
            tcp: "10.0.0.8:80".into(),
            udp: "10.0.0.8:53".into(),
            grpc: "10.0.0.8:9090/svc".into(),
            grpc_use_tls: true,
            os_service: "web".into(),
            interval: "10s".into(),
            timeout: "1s".into(),
            deregister_critical_service_after: "90m".into(),
        },
        indexes: indexes(7, 8),
    }
}

fn full_kv_entry() -> KvEntry {
    KvEntry {
        key: "app/config".into(),
        value: vec![0, 1, 2, 255],
        flags: 42,
        lock_index: 3,
        session: Some("adf4238a-882b-9ddc-4a9d-5b6758e4159e".into()),
        indexes: indexes(9, 10),
    }
}

fn full_autopilot() -> AutopilotConfig {
    AutopilotConfig {
        cleanup_dead_servers: true,
        last_contact_threshold_ms: 200,
        max_trailing_logs: 250,
        min_quorum: 3,
        server_stabilization_time_ms: 10_000,
        redundancy_zone_tag: "zone".into(),
        disable_upgrade_migration: true,
        upgrade_version_tag: "build".into(),
        indexes: indexes(11, 12),
    }
}

/// One sample of every `Command` variant, by fixture name. A new variant adds a line here
/// (and its fixture); an existing line never changes.
fn commands() -> Vec<(&'static str, Command)> {
    vec![
        (
            "command-v1-register",
            Command::Register(Box::new(Registration {
                node: full_node(),
                skip_node_update: true,
                service: Some(full_service()),
                checks: vec![full_check()],
            })),
        ),
        (
            "command-v1-deregister-node",
            Command::Deregister(Deregistration::Node("web-1".into())),
        ),
        (
            "command-v1-deregister-service",
            Command::Deregister(Deregistration::Service("web-1".into(), "web-80".into())),
        ),
        (
            "command-v1-deregister-check",
            Command::Deregister(Deregistration::Check("web-1".into(), "c1".into())),
        ),
        (
            "command-v1-kv-set",
            Command::KvSet(legate_catalog::command::KvSet {
                entry: full_kv_entry(),
                condition: KvCondition::Always,
            }),
        ),
        (
            "command-v1-kv-set-cas",
            kv_set_if("a", "b", KvCondition::ModifyIndex(Index(77))),
        ),
        ("command-v1-kv-delete", kv_delete("a/b", KvDeleteMode::Key)),
        (
            "command-v1-kv-delete-cas",
            kv_delete("a/b", KvDeleteMode::ModifyIndex(Index(12))),
        ),
        (
            "command-v1-kv-delete-tree",
            kv_delete("a/", KvDeleteMode::Tree),
        ),
        (
            "command-v1-reap-tombstones",
            Command::ReapTombstones(Index(1234)),
        ),
        (
            "command-v1-batch",
            Command::Batch(vec![kv_set("x", "1"), deregister_node("n")]),
        ),
        (
            "command-v1-kv-set-acquire",
            kv_set_if("a", "b", KvCondition::Acquire(SESSION.into())),
        ),
        (
            "command-v1-kv-set-release",
            kv_set_if("a", "b", KvCondition::Release(SESSION.into())),
        ),
        (
            "command-v1-session-create",
            Command::SessionCreate(Box::new(full_session())),
        ),
        (
            "command-v1-session-destroy",
            Command::SessionDestroy(SESSION.into()),
        ),
        ("command-v1-txn", Command::Txn(full_txn())),
        (
            "command-v1-autopilot-set",
            Command::AutopilotSet(legate_catalog::command::AutopilotSet {
                config: full_autopilot(),
                cas: Some(Index(41)),
            }),
        ),
        (
            "command-v1-coordinate-batch",
            Command::CoordinateBatch(vec![full_coordinate()]),
        ),
        (
            "command-v1-query-set",
            Command::QuerySet(legate_catalog::command::QuerySet {
                query: full_query(),
                create: true,
            }),
        ),
        (
            "command-v1-query-delete",
            Command::QueryDelete(QUERY.into()),
        ),
    ]
}

const QUERY: &str = "8f246b77-f3e1-ff88-5b48-8ec93abf3e05";

fn full_coordinate() -> legate_catalog::NodeCoordinate {
    legate_catalog::NodeCoordinate {
        node: "web-1".into(),
        segment: String::new(),
        coord: legate_catalog::Coord {
            vec: vec![0.001, -0.002, 0.0, 0.0005, 0.0, 0.0, 0.0, 0.25],
            error: 0.125,
            adjustment: -0.0001,
            height: 0.00001,
        },
    }
}

fn full_query() -> legate_catalog::PreparedQuery {
    legate_catalog::PreparedQuery {
        id: QUERY.into(),
        name: "web-".into(),
        session: Some(SESSION.into()),
        template: true,
        definition: r#"{"Service":{"Service":"${name.suffix}","OnlyPassing":true}}"#.into(),
        indexes: indexes(31, 32),
    }
}

#[test]
fn every_command_variant_keeps_its_bytes() {
    for (name, command) in commands() {
        pin(name, &LogPayload::from(command));
    }
}

#[test]
fn a_stamped_payload_keeps_its_bytes() {
    pin(
        "payload-v2-stamped",
        &LogPayload::stamped(1_764_633_600_123, kv_set("x", "1")),
    );
}

const SESSION: &str = "adf4238a-882b-9ddc-4a9d-5b6758e4159e";

fn full_session() -> Session {
    Session {
        id: SESSION.into(),
        name: "Consul API Lock".into(),
        node: "web-1".into(),
        lock_delay_ns: 15_000_000_000,
        behavior: SessionBehavior::Delete,
        ttl: "30s".into(),
        node_checks: vec!["serfHealth".into()],
        service_checks: vec![ServiceCheck {
            id: "c1".into(),
            namespace: "default".into(),
        }],
        checks: vec!["legacy".into()],
        indexes: indexes(13, 14),
    }
}

/// One operation of every kind and verb family.
fn full_txn() -> Vec<TxnOp> {
    let kv = |verb| {
        TxnOp::Kv(KvOp {
            verb,
            key: "k".into(),
            value: vec![1, 2],
            flags: 7,
            index: Index(5),
            session: SESSION.into(),
        })
    };
    vec![
        kv(KvVerb::Set),
        kv(KvVerb::Cas),
        kv(KvVerb::Lock),
        kv(KvVerb::Unlock),
        kv(KvVerb::Get),
        kv(KvVerb::GetOrEmpty),
        kv(KvVerb::GetTree),
        kv(KvVerb::CheckIndex),
        kv(KvVerb::CheckSession),
        kv(KvVerb::CheckNotExists),
        kv(KvVerb::Delete),
        kv(KvVerb::DeleteTree),
        kv(KvVerb::DeleteCas),
        TxnOp::Node(Box::new(NodeOp {
            verb: CatalogVerb::Set,
            node: full_node(),
        })),
        TxnOp::Service(Box::new(ServiceOp {
            verb: CatalogVerb::Cas,
            node: "web-1".into(),
            service: full_service(),
        })),
        TxnOp::Check(Box::new(CheckOp {
            verb: CatalogVerb::DeleteCas,
            check: full_check(),
        })),
        TxnOp::Check(Box::new(CheckOp {
            verb: CatalogVerb::Get,
            check: full_check(),
        })),
        TxnOp::Node(Box::new(NodeOp {
            verb: CatalogVerb::Delete,
            node: full_node(),
        })),
    ]
}

#[test]
fn every_result_keeps_its_bytes() {
    let results: Vec<(&str, CommandResult)> = vec![
        ("result-v1-done", Ok(Outcome::Done)),
        ("result-v1-condition", Ok(Outcome::Condition(false))),
        (
            "result-v1-batch",
            Ok(Outcome::Batch(vec![
                Ok(Outcome::Done),
                Err(ApplyError::MissingNode),
            ])),
        ),
        ("result-v1-missing-service", Err(ApplyError::MissingService)),
        (
            "result-v1-missing-node-name",
            Err(ApplyError::MissingNodeName),
        ),
        (
            "result-v1-missing-service-name",
            Err(ApplyError::MissingServiceName),
        ),
        ("result-v1-nested-batch", Err(ApplyError::NestedBatch)),
        (
            "result-v1-session-created",
            Ok(Outcome::SessionCreated(SESSION.into())),
        ),
        (
            "result-v1-txn-results",
            Ok(Outcome::Txn(Ok(vec![
                TxnResult::Kv(full_kv_entry()),
                TxnResult::Node(Box::new(full_node())),
                TxnResult::Service(Box::new(full_service())),
                TxnResult::Check(Box::new(full_check())),
            ]))),
        ),
        (
            "result-v1-txn-errors",
            Ok(Outcome::Txn(Err(vec![TxnError::new(
                3,
                "key \"k\" exists",
            )]))),
        ),
        (
            "result-v1-missing-session-id",
            Err(ApplyError::MissingSessionId),
        ),
        (
            "result-v1-missing-check",
            Err(ApplyError::MissingCheck("c1".into())),
        ),
        (
            "result-v1-check-in-state",
            Err(ApplyError::CheckInState("c1".into(), Health::Critical)),
        ),
        ("result-v1-missing-session", Err(ApplyError::MissingSession)),
        (
            "result-v1-invalid-session",
            Err(ApplyError::InvalidSession(SESSION.into())),
        ),
        ("result-v1-session-exists", Err(ApplyError::SessionExists)),
        (
            "result-v1-query-saved",
            Ok(Outcome::QuerySaved(QUERY.into())),
        ),
        (
            "result-v1-query-name-taken",
            Err(ApplyError::QueryNameTaken("web".into())),
        ),
        (
            "result-v1-missing-query",
            Err(ApplyError::MissingQuery(QUERY.into())),
        ),
        (
            "result-v1-query-exists",
            Err(ApplyError::QueryExists(QUERY.into())),
        ),
    ];
    for (name, result) in results {
        pin(name, &result);
    }
}

/// The store a v1 snapshot fixture was taken from: every table holds something.
fn sample_store() -> Store {
    let mut h = Harness::new();
    h.ok(register(
        full_node(),
        Some(full_service()),
        vec![Check {
            node: "web-1".into(),
            ..full_check()
        }],
    ));
    h.ok(kv_set("a/b", "1"));
    h.ok(Command::KvSet(legate_catalog::command::KvSet {
        entry: full_kv_entry(),
        condition: KvCondition::Always,
    }));
    h.ok(kv_set("a/c", "2"));
    h.ok(kv_delete("a/c", KvDeleteMode::Key));
    h.store
}

/// What a store restored from a snapshot must answer, query by query.
fn same_answers(a: &Store, b: &Store) {
    let queries = [
        kv_list(""),
        instances("web", &[], false),
        legate_catalog::query::Query::Nodes { node_meta: vec![] },
        legate_catalog::query::Query::ChecksInState {
            state: None,
            node_meta: vec![],
        },
        legate_catalog::query::Query::AutopilotConfig,
    ];
    for query in queries {
        let (x, y) = (
            legate_catalog::query::run(a, &query),
            legate_catalog::query::run(b, &query),
        );
        assert_eq!((x.index, x.value), (y.index, y.value), "{query:?}");
    }
    assert_eq!(a.last_index(), b.last_index());
}

#[test]
fn a_v1_snapshot_keeps_decoding() {
    // Written by the first release (no autopilot settings): it must restore to the same
    // tables, with no autopilot settings, and be rewritten as the newest version.
    let store = sample_store();
    let stored = fixture::load(&dir(), "snapshot-v1", &[]);
    let restored = Store::restore(&stored).expect("the v1 snapshot fixture restores");
    same_answers(&restored, &store);
    assert!(restored.autopilot().is_none());
    assert_ne!(fixture::hex(&restored.snapshot()), fixture::hex(&stored));
}

#[test]
fn a_v2_snapshot_keeps_decoding() {
    let mut h = Harness::new();
    h.store = sample_store();
    h.next = h.store.last_index().0 + 1;
    h.ok(Command::AutopilotSet(
        legate_catalog::command::AutopilotSet {
            config: full_autopilot(),
            cas: None,
        },
    ));
    let bytes = h.store.snapshot();
    let stored = fixture::load(&dir(), "snapshot-v2", &bytes);
    let restored = Store::restore(&stored).expect("the v2 snapshot fixture restores");
    same_answers(&restored, &h.store);
    // Rewritten as the newest version, which adds sessions.
    assert_ne!(fixture::hex(&restored.snapshot()), fixture::hex(&stored));
}

#[test]
fn a_v3_snapshot_keeps_decoding() {
    // Sessions, a held lock, a running lock-delay and the clock all survive.
    let mut h = Harness::new();
    h.store = sample_store();
    h.next = h.store.last_index().0 + 1;
    h.store.advance_clock(1_764_633_600_000);
    h.ok(Command::SessionCreate(Box::new(Session {
        id: "11111111-2222-3333-4444-555555555555".into(),
        node: "web-1".into(),
        lock_delay_ns: 15_000_000_000,
        service_checks: vec![ServiceCheck {
            id: "service:web-80".into(),
            namespace: String::new(),
        }],
        ..Session::default()
    })));
    h.ok(Command::SessionCreate(Box::new(Session {
        id: "99999999-2222-3333-4444-555555555555".into(),
        node: "web-1".into(),
        lock_delay_ns: 15_000_000_000,
        ..Session::default()
    })));
    h.ok(kv_set_if(
        "locks/a",
        "held",
        KvCondition::Acquire("11111111-2222-3333-4444-555555555555".into()),
    ));
    h.ok(kv_set_if(
        "locks/b",
        "held",
        KvCondition::Acquire("99999999-2222-3333-4444-555555555555".into()),
    ));
    h.ok(Command::SessionDestroy(
        "99999999-2222-3333-4444-555555555555".into(),
    ));
    let bytes = h.store.snapshot();
    let stored = fixture::load(&dir(), "snapshot-v3", &bytes);
    let restored = Store::restore(&stored).expect("the v3 snapshot fixture restores");
    same_answers(&restored, &h.store);
    let sessions = legate_catalog::query::Query::Sessions;
    assert_eq!(
        legate_catalog::query::run(&restored, &sessions).value,
        legate_catalog::query::run(&h.store, &sessions).value
    );
    assert_eq!(
        restored.lock_delay_until("locks/b"),
        Some(1_764_633_615_000)
    );
    assert_eq!(restored.clock_ms(), 1_764_633_600_000);
    // Rewritten as the newest version, which adds coordinates and prepared queries.
    assert_ne!(fixture::hex(&restored.snapshot()), fixture::hex(&stored));
}

#[test]
fn a_v4_snapshot_keeps_decoding() {
    // Coordinates and prepared queries survive, with their table indexes.
    let mut h = Harness::new();
    h.store = sample_store();
    h.next = h.store.last_index().0 + 1;
    h.ok(Command::SessionCreate(Box::new(Session {
        id: SESSION.into(),
        node: "web-1".into(),
        ..Session::default()
    })));
    h.ok(Command::CoordinateBatch(vec![full_coordinate()]));
    h.ok(Command::QuerySet(legate_catalog::command::QuerySet {
        query: full_query(),
        create: true,
    }));
    let bytes = h.store.snapshot();
    let stored = fixture::load(&dir(), "snapshot-v4", &bytes);
    let restored = Store::restore(&stored).expect("the v4 snapshot fixture restores");
    same_answers(&restored, &h.store);
    for query in [
        legate_catalog::query::Query::Coordinates { node: None },
        legate_catalog::query::Query::PreparedQueries,
    ] {
        let (a, b) = (
            legate_catalog::query::run(&restored, &query),
            legate_catalog::query::run(&h.store, &query),
        );
        assert_eq!((a.index, a.value), (b.index, b.value), "{query:?}");
    }
    assert_eq!(restored.coordinates(None), vec![full_coordinate()]);
    assert_eq!(fixture::hex(&bytes), fixture::hex(&stored));
}

#[test]
fn autopilot_settings_check_and_set_as_consul_does() {
    let mut h = Harness::new();
    let set = |cas: Option<u64>| {
        Command::AutopilotSet(legate_catalog::command::AutopilotSet {
            config: full_autopilot(),
            cas: cas.map(Index),
        })
    };
    // A CAS against missing settings never matches.
    assert_eq!(h.apply(set(Some(0))), Ok(Outcome::Condition(false)));
    assert_eq!(h.apply(set(None)), Ok(Outcome::Condition(true)));
    let written = h.store.autopilot().unwrap().indexes;
    assert_eq!(written.create_index, written.modify_index);
    assert_eq!(
        h.apply(set(Some(written.modify_index.0 + 7))),
        Ok(Outcome::Condition(false))
    );
    assert_eq!(
        h.apply(set(Some(written.modify_index.0))),
        Ok(Outcome::Condition(true))
    );
    let rewritten = h.store.autopilot().unwrap().indexes;
    assert_eq!(rewritten.create_index, written.create_index);
    assert!(rewritten.modify_index > written.modify_index);
}
