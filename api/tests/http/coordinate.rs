//! `/v1/coordinate/*` and `?near=`: shapes, refusals, blocking and the sort.

use crate::harness::Harness;
use serde_json::{json, Value};

fn update(node: &str, x: f64) -> String {
    json!({"Node": node, "Segment": "",
           "Coord": {"Vec": [x, 0, 0, 0, 0, 0, 0, 0], "Error": 0.2, "Adjustment": 0.0,
                     "Height": 0.0001}})
    .to_string()
}

async fn nodes(h: &Harness, n: &[(&str, f64)]) {
    for (node, x) in n {
        h.register(json!({"Node": node, "Address": "10.0.0.1",
                          "Service": {"Service": "web", "ID": format!("web-{node}")}}))
            .await;
        let reply = h.put("/v1/coordinate/update", update(node, *x)).await;
        assert_eq!((reply.status, reply.text()), (200, "true".to_owned()));
    }
}

fn names(value: &Value, path: &[&str]) -> Vec<String> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| {
            let mut at = entry;
            for key in path {
                at = &at[*key];
            }
            at.as_str().unwrap().to_owned()
        })
        .collect()
}

#[tokio::test]
async fn nodes_and_one_node_list_what_was_reported() {
    let h = Harness::new();
    nodes(&h, &[("a", 0.001), ("b", 0.002)]).await;
    let reply = h.get("/v1/coordinate/nodes").await;
    reply.assert_read_headers();
    let list = reply.json();
    assert_eq!(names(&list, &["Node"]), ["a", "b"]);
    assert_eq!(list[0]["Coord"]["Vec"][0], 0.001);
    assert_eq!(list[0]["Coord"]["Height"], 0.0001);
    assert_eq!(list[0]["Segment"], "");
    let one = h.get("/v1/coordinate/node/b").await;
    assert_eq!(names(&one.json(), &["Node"]), ["b"]);
    let missing = h.get("/v1/coordinate/node/ghost").await;
    assert_eq!(missing.status, 404);
    assert!(missing.body.is_empty());
    // An unknown node's report is accepted and dropped, as Consul's store drops it.
    let reply = h.put("/v1/coordinate/update", update("ghost", 0.5)).await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        names(&h.get("/v1/coordinate/nodes").await.json(), &["Node"]),
        ["a", "b"]
    );
}

#[tokio::test]
async fn a_blocked_listing_wakes_on_a_new_report() {
    let h = Harness::new();
    nodes(&h, &[("a", 0.001)]).await;
    let index = h.get("/v1/coordinate/nodes").await.index();
    let waiting = h.spawn_get(&format!("/v1/coordinate/nodes?index={index}&wait=20s"));
    let reply = h.put("/v1/coordinate/update", update("a", 0.003)).await;
    assert_eq!(reply.status, 200);
    let woken = waiting.await.unwrap();
    assert!(woken.index() > index);
    assert_eq!(woken.json()[0]["Coord"]["Vec"][0], 0.003);
}

#[tokio::test]
async fn bad_updates_get_400() {
    let h = Harness::new();
    for body in [
        json!({"Node": "", "Coord": {"Vec": [0, 0, 0, 0, 0, 0, 0, 0]}}).to_string(),
        json!({"Node": "a"}).to_string(),
        json!({"Node": "a", "Coord": {"Vec": [0, 0]}}).to_string(),
        json!({"Node": "a", "Coord": {"Vec": [0, 0, 0, 0, 0, 0, 0, 0], "Height": -1}}).to_string(),
        "{".to_owned(),
    ] {
        let reply = h.put("/v1/coordinate/update", body.clone()).await;
        assert_eq!(reply.status, 400, "{body}: {}", reply.text());
    }
    assert_eq!(h.get("/v1/coordinate/update").await.status, 405);
}

#[tokio::test]
async fn near_sorts_nodes_services_and_health_by_round_trip() {
    let h = Harness::new();
    nodes(
        &h,
        &[("far", 0.9), ("mid", 0.3), ("here", 0.0), ("none", 0.0)],
    )
    .await;
    // A node without a coordinate sorts last.
    h.register(json!({"Node": "blank", "Address": "10.0.0.2"}))
        .await;
    let sorted = h.get("/v1/catalog/nodes?near=here").await.json();
    assert_eq!(
        names(&sorted, &["Node"]),
        ["here", "none", "mid", "far", "blank"]
    );
    let sorted = h.get("/v1/catalog/service/web?near=far").await.json();
    assert_eq!(names(&sorted, &["Node"]), ["far", "mid", "here", "none"]);
    let sorted = h.get("/v1/health/service/web?near=mid").await.json();
    assert_eq!(
        names(&sorted, &["Node", "Node"]),
        ["mid", "here", "none", "far"]
    );
    // An origin without a coordinate leaves the catalog's order.
    let plain = names(&h.get("/v1/catalog/nodes").await.json(), &["Node"]);
    let unsorted = names(
        &h.get("/v1/catalog/nodes?near=blank").await.json(),
        &["Node"],
    );
    assert_eq!(plain, unsorted);
}

#[tokio::test]
async fn datacenters_and_the_agents_own_coordinate() {
    let h = Harness::new();
    let me = h.get("/v1/agent/self").await.json();
    assert!(me["Coord"].is_null());
    *h.backend.coordinate.lock().unwrap() = Some(legate_catalog::Coord {
        vec: vec![0.0; 8],
        error: 1.5,
        adjustment: 0.0,
        height: 0.00001,
    });
    let me = h.get("/v1/agent/self").await.json();
    assert_eq!(me["Coord"]["Error"], 1.5);
    let maps = h.get("/v1/coordinate/datacenters").await.json();
    assert_eq!(maps[0]["Datacenter"], "dc1");
    assert_eq!(maps[0]["AreaID"], "wan");
    assert_eq!(maps[0]["Coordinates"][0]["Coord"]["Error"], 1.5);
}
