//! Coordinates and prepared queries: what the tables keep, refuse and drop.

use crate::harness::*;
use legate_catalog::command::{ApplyError, Outcome, QuerySet};
use legate_catalog::query::{Query, QueryResult};
use legate_catalog::types::*;
use legate_catalog::Command;

fn coord(x: f64) -> Coord {
    Coord {
        vec: vec![x, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
        error: 0.5,
        adjustment: 0.0,
        height: 0.0001,
    }
}

fn at(node: &str, coord: Coord) -> NodeCoordinate {
    NodeCoordinate {
        node: node.into(),
        segment: String::new(),
        coord,
    }
}

fn coordinates(h: &Harness, node: Option<&str>) -> (Index, Vec<NodeCoordinate>) {
    let answer = h.query(Query::Coordinates {
        node: node.map(NodeName::from),
    });
    match answer.value {
        QueryResult::Coordinates(found) => (answer.index, found),
        other => panic!("{other:?}"),
    }
}

#[test]
fn coordinates_of_known_nodes_are_kept_and_go_with_the_node() {
    let mut h = Harness::new();
    h.ok(register(node("n1", "10.0.0.1"), None, vec![]));
    h.ok(register(node("n2", "10.0.0.2"), None, vec![]));
    let mut bad = coord(0.1);
    bad.vec[2] = f64::NAN;
    h.ok(Command::CoordinateBatch(vec![
        at("n1", coord(0.001)),
        at("N2", coord(0.002)),
        // Unknown node and invalid coordinate: skipped, the rest applies.
        at("ghost", coord(0.003)),
        at(
            "n1",
            Coord {
                vec: vec![0.0; 3],
                ..coord(0.0)
            },
        ),
        at("n2", bad),
    ]));
    let written = h.last();
    let (index, all) = coordinates(&h, None);
    assert_eq!(index, written);
    assert_eq!(all, vec![at("n1", coord(0.001)), at("N2", coord(0.002))]);
    assert_eq!(coordinates(&h, Some("N1")).1, vec![at("n1", coord(0.001))]);

    // A batch that changes nothing leaves the index alone.
    h.ok(Command::CoordinateBatch(vec![at("ghost", coord(0.1))]));
    assert_eq!(coordinates(&h, None).0, written);

    h.ok(deregister_node("n1"));
    let (index, all) = coordinates(&h, None);
    assert_eq!(index, h.last());
    assert_eq!(all, vec![at("N2", coord(0.002))]);
}

fn query(id: &str, name: &str, template: bool) -> PreparedQuery {
    PreparedQuery {
        id: id.into(),
        name: name.into(),
        template,
        definition: "{}".into(),
        ..PreparedQuery::default()
    }
}

fn set(query: PreparedQuery, create: bool) -> Command {
    Command::QuerySet(QuerySet { query, create })
}

fn resolve(h: &Harness, id_or_name: &str) -> Option<String> {
    match h
        .query(Query::PreparedQuery {
            id_or_name: id_or_name.into(),
        })
        .value
    {
        QueryResult::PreparedQueries(found) => found.first().map(|query| query.id.clone()),
        other => panic!("{other:?}"),
    }
}

#[test]
fn prepared_queries_have_unique_names_and_resolve_by_id_name_or_template() {
    let mut h = Harness::new();
    assert_eq!(
        h.apply(set(query("q1", "web", false), true)),
        Ok(Outcome::QuerySaved("q1".into()))
    );
    let created = h.last();
    h.ok(set(query("t1", "geo-", true), true));
    h.ok(set(query("t0", "", true), true));
    // Names are unique, and may not be another query's id.
    assert_eq!(
        h.apply(set(query("q2", "web", false), true)),
        Err(ApplyError::QueryNameTaken("web".into()))
    );
    assert_eq!(
        h.apply(set(query("q2", "q1", false), true)),
        Err(ApplyError::QueryNameTaken("q1".into()))
    );
    // Create and update are told apart.
    assert_eq!(
        h.apply(set(query("q1", "web", false), true)),
        Err(ApplyError::QueryExists("q1".into()))
    );
    assert_eq!(
        h.apply(set(query("nope", "x", false), false)),
        Err(ApplyError::MissingQuery("nope".into()))
    );
    h.ok(set(query("q1", "web", false), false));
    match h.query(Query::PreparedQueries).value {
        QueryResult::PreparedQueries(all) => {
            let q1 = all.iter().find(|q| q.id == "q1").unwrap();
            assert_eq!(q1.indexes.create_index, created);
            assert_eq!(q1.indexes.modify_index, h.last());
        }
        other => panic!("{other:?}"),
    }

    assert_eq!(resolve(&h, "q1").as_deref(), Some("q1"));
    assert_eq!(resolve(&h, "web").as_deref(), Some("q1"));
    // The longest template prefix wins; the empty one catches the rest.
    assert_eq!(resolve(&h, "geo-db").as_deref(), Some("t1"));
    assert_eq!(resolve(&h, "other").as_deref(), Some("t0"));
    h.ok(Command::QueryDelete("t0".into()));
    assert_eq!(resolve(&h, "other"), None);
    assert_eq!(
        h.apply(Command::QueryDelete("t0".into())),
        Err(ApplyError::MissingQuery("t0".into()))
    );
}

#[test]
fn a_query_bound_to_a_session_needs_it_and_goes_with_it() {
    let mut h = Harness::new();
    h.ok(register(node("n1", "10.0.0.1"), None, vec![]));
    let bound = PreparedQuery {
        session: Some("s1".into()),
        ..query("q1", "web", false)
    };
    assert_eq!(
        h.apply(set(bound.clone(), true)),
        Err(ApplyError::InvalidSession("s1".into()))
    );
    h.ok(Command::SessionCreate(Box::new(Session {
        id: "s1".into(),
        node: "n1".into(),
        ..Session::default()
    })));
    h.ok(set(bound, true));
    h.ok(set(query("q2", "api", false), true));
    h.ok(Command::SessionDestroy("s1".into()));
    assert_eq!(resolve(&h, "web"), None);
    assert_eq!(resolve(&h, "api").as_deref(), Some("q2"));
}
