//! Golden-file test: a fixed history of commands, then every kind of query, rendered as
//! text and compared with `tests/golden/queries.txt`. Run with `UPDATE_GOLDEN=1` to accept a
//! deliberate change, and review the diff.

use crate::harness::*;
use legate_catalog::command::{KvCondition, KvDeleteMode};
use legate_catalog::query::Query;
use legate_catalog::types::{Health, Index};
use std::fmt::Write;
use std::path::PathBuf;

fn history(h: &mut Harness) {
    let mut edge = node("edge-1", "192.0.2.10");
    edge.meta.insert("rack".into(), "r1".into());
    edge.tagged_addresses
        .insert("wan".into(), "198.51.100.1".into());
    h.ok(register(
        edge,
        Some(service("lb", "lb", &["public"], 443)),
        vec![
            check("serfHealth", "", Health::Passing),
            check("lb-tcp", "lb", Health::Passing),
        ],
    ));
    h.ok(register(
        node("app-2", "192.0.2.22"),
        Some(service("web-b", "web", &["v2"], 8080)),
        vec![check("web-b-http", "web-b", Health::Warning)],
    ));
    h.ok(register(
        node("app-1", "192.0.2.21"),
        Some(service("web-a", "web", &["v1", "canary"], 8080)),
        vec![check("web-a-http", "web-a", Health::Passing)],
    ));
    h.ok(kv_set("config/web/port", "8080"));
    h.ok(kv_set("config/web/tls/cert", "pem"));
    h.ok(kv_set("config/db/url", "postgres://"));
    h.ok(kv_set_if(
        "config/web/port",
        "9090",
        KvCondition::ModifyIndex(Index(4)),
    ));
    h.ok(kv_delete("config/db/", KvDeleteMode::Tree));
    h.ok(deregister_check("app-2", "web-b-http"));
}

fn queries() -> Vec<Query> {
    vec![
        kv_get("config/web/port"),
        kv_get("config/missing"),
        kv_list("config/"),
        kv_list("config/db/"),
        Query::KvKeys {
            prefix: "config/".into(),
            separator: Some("/".into()),
        },
        Query::Nodes { node_meta: vec![] },
        Query::Services { node_meta: vec![] },
        Query::ServiceRecords { node_meta: vec![] },
        Query::ServiceRecords {
            node_meta: vec![("rack".into(), "r1".into())],
        },
        instances("web", &[], false),
        instances("web", &[], true),
        Query::NodeServices {
            node: "edge-1".into(),
        },
        Query::NodeServices {
            node: "nowhere".into(),
        },
        Query::ServiceChecks {
            name: "lb".into(),
            node_meta: vec![],
        },
        Query::NodeChecks {
            node: "edge-1".into(),
        },
        Query::ChecksInState {
            state: Some(Health::Passing),
            node_meta: vec![("rack".into(), "r1".into())],
        },
    ]
}

#[test]
fn queries_match_the_golden_file() {
    let mut h = Harness::new();
    history(&mut h);
    let mut rendered = String::new();
    for query in queries() {
        let answer = h.query(query.clone());
        writeln!(rendered, "=== {query:?}").unwrap();
        writeln!(rendered, "index: {}", answer.index).unwrap();
        writeln!(rendered, "watch: {:?}", answer.watch).unwrap();
        writeln!(rendered, "{:#?}", answer.value).unwrap();
    }
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden/queries.txt");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &rendered).unwrap();
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|_| panic!("missing {path:?}; run with UPDATE_GOLDEN=1"));
    assert!(
        expected == rendered,
        "answers differ from {path:?}; rerun with UPDATE_GOLDEN=1 and review the diff"
    );
}
