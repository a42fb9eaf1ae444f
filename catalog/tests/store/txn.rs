//! Transactions: every verb, all-or-nothing, and Consul's error texts.

use crate::harness::*;
use legate_catalog::command::{KvCondition, Outcome};
use legate_catalog::query::{Query, QueryResult};
use legate_catalog::txn::*;
use legate_catalog::types::*;
use legate_catalog::Command;

const S1: &str = "00000000-0000-0000-0000-000000000001";

fn kv(verb: KvVerb, key: &str, value: &str) -> TxnOp {
    TxnOp::Kv(KvOp {
        verb,
        key: key.into(),
        value: value.as_bytes().to_vec(),
        flags: 0,
        index: Index::ZERO,
        session: SessionId::default(),
    })
}

fn kv_at(verb: KvVerb, key: &str, index: Index) -> TxnOp {
    match kv(verb, key, "") {
        TxnOp::Kv(op) => TxnOp::Kv(KvOp { index, ..op }),
        _ => unreachable!(),
    }
}

fn kv_session(verb: KvVerb, key: &str, session: &str) -> TxnOp {
    match kv(verb, key, "v") {
        TxnOp::Kv(op) => TxnOp::Kv(KvOp {
            session: session.into(),
            ..op
        }),
        _ => unreachable!(),
    }
}

type TxnAnswer = Result<Vec<TxnResult>, Vec<TxnError>>;

fn txn(h: &mut Harness, ops: Vec<TxnOp>) -> TxnAnswer {
    match h.apply(Command::Txn(ops)) {
        Ok(Outcome::Txn(answer)) => answer,
        other => panic!("{other:?}"),
    }
}

fn read(h: &Harness, ops: Vec<TxnOp>) -> TxnAnswer {
    match h.query(Query::Txn { ops }).value {
        QueryResult::Txn(answer) => answer,
        other => panic!("{other:?}"),
    }
}

fn errors(answer: TxnAnswer) -> Vec<(u32, String)> {
    answer
        .unwrap_err()
        .into_iter()
        .map(|error| (error.op_index, error.what))
        .collect()
}

fn kv_results(answer: TxnAnswer) -> Vec<(String, Vec<u8>)> {
    answer
        .unwrap()
        .into_iter()
        .map(|result| match result {
            TxnResult::Kv(entry) => (entry.key, entry.value),
            other => panic!("{other:?}"),
        })
        .collect()
}

fn value(h: &Harness, key: &str) -> Option<Vec<u8>> {
    match h.query(kv_get(key)).value {
        QueryResult::Kv(mut entries) => entries.pop().map(|entry| entry.value),
        other => panic!("{other:?}"),
    }
}

#[test]
fn writes_answer_their_entries_without_values_and_apply_together() {
    let mut h = Harness::new();
    let answer = txn(
        &mut h,
        vec![
            kv(KvVerb::Set, "a", "1"),
            kv(KvVerb::Set, "b", "2"),
            kv(KvVerb::Get, "a", ""),
            kv(KvVerb::Delete, "zzz", ""),
        ],
    );
    assert_eq!(
        kv_results(answer),
        vec![
            ("a".into(), vec![]),
            ("b".into(), vec![]),
            ("a".into(), b"1".to_vec())
        ]
    );
    let index = h.last();
    match h.query(kv_get("b")).value {
        QueryResult::Kv(entries) => assert_eq!(entries[0].indexes.modify_index, index),
        other => panic!("{other:?}"),
    }
}

#[test]
fn one_failure_rolls_everything_back_and_every_failure_is_reported() {
    let mut h = Harness::new();
    h.ok(kv_set("exists", "x"));
    let before = h.store.snapshot();
    let answer = txn(
        &mut h,
        vec![
            kv(KvVerb::Set, "new", "1"),
            kv(KvVerb::CheckNotExists, "exists", ""),
            kv(KvVerb::Delete, "exists", ""),
            kv(KvVerb::Get, "missing", ""),
        ],
    );
    assert_eq!(
        errors(answer),
        vec![
            (1, "key \"exists\" exists".to_owned()),
            (3, "key \"missing\" doesn't exist".to_owned())
        ]
    );
    assert_eq!(value(&h, "new"), None);
    assert_eq!(value(&h, "exists"), Some(b"x".to_vec()));
    let mut after = legate_catalog::Store::restore(&h.store.snapshot()).unwrap();
    let mut expected = legate_catalog::Store::restore(&before).unwrap();
    after.skip(h.last());
    expected.skip(h.last());
    assert_eq!(after.snapshot(), expected.snapshot());
}

#[test]
fn every_kv_verb_answers_as_consul_does() {
    let mut h = Harness::new();
    h.store.advance_clock(1_000);
    h.ok(register(node("n1", "10.0.0.1"), None, vec![]));
    h.ok(Command::SessionCreate(Box::new(Session {
        id: S1.into(),
        node: "n1".into(),
        lock_delay_ns: 15_000_000_000,
        ..Session::default()
    })));
    h.ok(kv_set("t/a", "1"));
    h.ok(kv_set("t/b", "2"));
    let a_index = Index(h.last().0 - 1);
    let stale = |what: &str, key: &str| format!("failed to {what} key {key:?}, index is stale");

    // cas: 0 creates only; a matching index replaces; a stale one fails.
    assert!(txn(&mut h, vec![kv_at(KvVerb::Cas, "t/new", Index::ZERO)]).is_ok());
    assert_eq!(
        errors(txn(&mut h, vec![kv_at(KvVerb::Cas, "t/a", Index(999))])),
        vec![(0, stale("set", "t/a"))]
    );
    assert!(txn(&mut h, vec![kv_at(KvVerb::Cas, "t/a", a_index)]).is_ok());
    // check-index, check-session, get-or-empty, get-tree.
    let now = match h.query(kv_get("t/b")).value {
        QueryResult::Kv(entries) => entries[0].indexes.modify_index,
        _ => unreachable!(),
    };
    assert!(read(&h, vec![kv_at(KvVerb::CheckIndex, "t/b", now)]).is_ok());
    assert_eq!(
        errors(read(&h, vec![kv_at(KvVerb::CheckIndex, "t/b", Index(1))])),
        vec![(
            0,
            format!("failed index check for key \"t/b\", current modify index {now} != 1")
        )]
    );
    assert_eq!(
        errors(read(&h, vec![kv_at(KvVerb::CheckIndex, "nope", Index(1))])),
        vec![(
            0,
            "failed to check index, key \"nope\" doesn't exist".to_owned()
        )]
    );
    assert_eq!(
        kv_results(read(&h, vec![kv(KvVerb::GetOrEmpty, "nope", "")])),
        vec![("nope".into(), vec![])]
    );
    assert_eq!(
        kv_results(read(&h, vec![kv(KvVerb::GetTree, "t/", "")]))
            .into_iter()
            .map(|(key, _)| key)
            .collect::<Vec<_>>(),
        vec!["t/a", "t/b", "t/new"]
    );
    // lock / unlock / check-session.
    assert!(txn(&mut h, vec![kv_session(KvVerb::Lock, "t/lock", S1)]).is_ok());
    assert!(read(&h, vec![kv_session(KvVerb::CheckSession, "t/lock", S1)]).is_ok());
    assert_eq!(
        errors(read(&h, vec![kv_session(KvVerb::CheckSession, "t/a", S1)])),
        vec![(
            0,
            format!("failed session check for key \"t/a\", current session \"\" != {S1:?}")
        )]
    );
    assert_eq!(
        errors(txn(&mut h, vec![kv_session(KvVerb::Unlock, "t/a", S1)])),
        vec![(
            0,
            "failed to unlock key \"t/a\", lock isn't held, or is held by another session"
                .to_owned()
        )]
    );
    assert!(txn(&mut h, vec![kv_session(KvVerb::Unlock, "t/lock", S1)]).is_ok());
    h.ok(kv_set_if("t/lock", "v", KvCondition::Acquire(S1.into())));
    h.ok(Command::SessionDestroy(S1.into()));
    h.ok(Command::SessionCreate(Box::new(Session {
        id: "00000000-0000-0000-0000-000000000002".into(),
        node: "n1".into(),
        ..Session::default()
    })));
    assert_eq!(
        errors(txn(
            &mut h,
            vec![kv_session(
                KvVerb::Lock,
                "t/lock",
                "00000000-0000-0000-0000-000000000002"
            )]
        )),
        vec![(
            0,
            "failed to lock key \"t/lock\" due to lock delay".to_owned()
        )]
    );
    assert_eq!(
        errors(txn(&mut h, vec![kv_session(KvVerb::Lock, "t/x", S1)])),
        vec![(0, format!("invalid session {S1:?}"))]
    );
    // delete-cas and delete-tree.
    assert_eq!(
        errors(txn(&mut h, vec![kv_at(KvVerb::DeleteCas, "t/b", Index(1))])),
        vec![(0, stale("delete", "t/b"))]
    );
    assert!(txn(&mut h, vec![kv_at(KvVerb::DeleteCas, "t/b", now)]).is_ok());
    assert!(txn(&mut h, vec![kv(KvVerb::DeleteTree, "t/", "")]).is_ok());
    assert_eq!(value(&h, "t/a"), None);
}

#[test]
fn catalog_verbs_set_get_and_check_and_set() {
    let mut h = Harness::new();
    let n1 = node("n1", "10.0.0.1");
    let answer = txn(
        &mut h,
        vec![
            TxnOp::Node(Box::new(NodeOp {
                verb: CatalogVerb::Set,
                node: n1.clone(),
            })),
            TxnOp::Service(Box::new(ServiceOp {
                verb: CatalogVerb::Set,
                node: "n1".into(),
                service: service("web-1", "web", &["v1"], 80),
            })),
            TxnOp::Check(Box::new(CheckOp {
                verb: CatalogVerb::Set,
                check: Check {
                    node: "n1".into(),
                    ..check("web-check", "web-1", Health::Passing)
                },
            })),
        ],
    )
    .unwrap();
    assert_eq!(answer.len(), 3);
    let TxnResult::Node(stored) = &answer[0] else {
        panic!("{answer:?}")
    };
    // A service on a node that does not exist is refused, and the node op with it.
    let refused = txn(
        &mut h,
        vec![
            TxnOp::Node(Box::new(NodeOp {
                verb: CatalogVerb::Set,
                node: node("n2", "10.0.0.2"),
            })),
            TxnOp::Service(Box::new(ServiceOp {
                verb: CatalogVerb::Set,
                node: "ghost".into(),
                service: service("db", "db", &[], 5432),
            })),
        ],
    );
    assert_eq!(
        errors(refused),
        vec![(1, "Missing node registration".to_owned())]
    );
    assert_eq!(
        errors(read(
            &h,
            vec![TxnOp::Node(Box::new(NodeOp {
                verb: CatalogVerb::Get,
                node: node("n2", ""),
            }))]
        )),
        vec![(0, "node \"n2\" doesn't exist".to_owned())]
    );
    // CAS on the node with a stale and a current index.
    let mut stale = n1.clone();
    stale.indexes.modify_index = Index(999);
    stale.address = "10.9.9.9".into();
    assert_eq!(
        errors(txn(
            &mut h,
            vec![TxnOp::Node(Box::new(NodeOp {
                verb: CatalogVerb::Cas,
                node: stale.clone()
            }))]
        )),
        vec![(0, "failed to set node \"n1\", index is stale".to_owned())]
    );
    stale.indexes.modify_index = stored.indexes.modify_index;
    assert!(txn(
        &mut h,
        vec![TxnOp::Node(Box::new(NodeOp {
            verb: CatalogVerb::Cas,
            node: stale
        }))]
    )
    .is_ok());
    // delete-cas of the service with a stale index, then a plain delete of the check.
    let mut web = service("web-1", "web", &["v1"], 80);
    web.indexes.modify_index = Index(999);
    assert_eq!(
        errors(txn(
            &mut h,
            vec![TxnOp::Service(Box::new(ServiceOp {
                verb: CatalogVerb::DeleteCas,
                node: "n1".into(),
                service: web
            }))]
        )),
        vec![(
            0,
            "failed to delete service \"web-1\" on node \"n1\", index is stale".to_owned()
        )]
    );
    assert!(txn(
        &mut h,
        vec![TxnOp::Check(Box::new(CheckOp {
            verb: CatalogVerb::Delete,
            check: Check {
                node: "n1".into(),
                ..check("web-check", "", Health::Passing)
            }
        }))]
    )
    .is_ok());
    assert_eq!(
        errors(read(
            &h,
            vec![TxnOp::Check(Box::new(CheckOp {
                verb: CatalogVerb::Get,
                check: Check {
                    node: "n1".into(),
                    ..check("web-check", "", Health::Passing)
                }
            }))]
        )),
        vec![(
            0,
            "check \"web-check\" on node \"n1\" doesn't exist".to_owned()
        )]
    );
}
