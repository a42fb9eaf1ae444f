//! `?filter=` on every catalog and health read: filtered answers, the unfiltered query's
//! `X-Consul-Index`, blocking, and Consul's refusal of a bad expression (500, "Failed to
//! create boolean expression evaluator: ...", before any query runs).

use crate::harness::{Harness, Reply};
use legate_api::params::percent_encode_query;
use serde_json::{json, Value};
use std::time::Duration;
use tokio::time::sleep;

/// `path` with `?filter=<expression>` (or `&filter=` when it has a query already).
fn filtered(path: &str, expression: &str) -> String {
    let separator = if path.contains('?') { '&' } else { '?' };
    format!(
        "{path}{separator}filter={}",
        percent_encode_query(expression)
    )
}

/// Two nodes, `n1` (env prod) and `n2` (env dev), each with a `web` instance (tags v1 and
/// v2) whose check is passing on n1 and critical on n2, and a `db` on n1 with tag primary.
async fn catalog() -> Harness {
    let api = Harness::new();
    for (node, env, tag, status) in [
        ("n1", "prod", "v1", "passing"),
        ("n2", "dev", "v2", "critical"),
    ] {
        api.register(json!({
            "Node": node, "Address": format!("10.0.0.{}", &node[1..]),
            "NodeMeta": {"env": env},
            "Service": {"ID": format!("web-{node}"), "Service": "web", "Tags": [tag], "Port": 80,
                        "Meta": {"version": format!("{}", &node[1..])}},
            "Checks": [
                {"CheckID": "serfHealth", "Name": "Serf Health Status", "Status": "passing"},
                {"CheckID": format!("web-{node}-http"), "Name": "http", "Status": status,
                 "ServiceID": format!("web-{node}")}
            ]
        }))
        .await;
    }
    api.register(json!({
        "Node": "n1", "Address": "10.0.0.1", "NodeMeta": {"env": "prod"},
        "Service": {"ID": "db-1", "Service": "db", "Tags": ["primary"], "Port": 5432}
    }))
    .await;
    api
}

/// Asserts the filtered read answers `expected` with the unfiltered read's index.
async fn assert_filtered(api: &Harness, path: &str, expression: &str, expected: Value) {
    let unfiltered = api.get(path).await;
    let reply = api.get(&filtered(path, expression)).await;
    assert_eq!(reply.status, 200, "{path} {expression}: {}", reply.text());
    reply.assert_read_headers();
    assert_eq!(reply.json(), expected, "{path} {expression}");
    assert_eq!(
        reply.index(),
        unfiltered.index(),
        "{path}: the index is the unfiltered query's"
    );
}

fn names(reply: &Value, pointer: &str) -> Vec<String> {
    reply
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item.pointer(pointer).unwrap().as_str().unwrap().to_owned())
        .collect()
}

/// Asserts a refused expression: 500, Consul's text, and no read headers (no query ran).
fn assert_refused(reply: &Reply, detail: &str) {
    assert_eq!(
        (reply.status, reply.text()),
        (
            500,
            format!("Failed to create boolean expression evaluator: {detail}")
        )
    );
    reply.assert_no_read_headers();
}

#[tokio::test]
async fn catalog_nodes_are_filtered() {
    let api = catalog().await;
    assert_filtered(
        &api,
        "/v1/catalog/nodes",
        "Meta.env == prod",
        json!([{"ID": "", "Node": "n1", "Address": "10.0.0.1", "Datacenter": "dc1",
                "TaggedAddresses": {}, "Meta": {"env": "prod"}, "CreateIndex": 1,
                "ModifyIndex": 1}]),
    )
    .await;
    let both = api
        .get(&filtered(
            "/v1/catalog/nodes",
            "Node matches `^n[0-9]$` and Datacenter == dc1",
        ))
        .await;
    assert_eq!(names(&both.json(), "/Node"), ["n1", "n2"]);
    let with_meta = api
        .get(&filtered(
            "/v1/catalog/nodes?node-meta=env:dev",
            "Meta.env == prod",
        ))
        .await;
    assert_eq!(with_meta.json(), json!([]), "both must hold");
    assert_refused(
        &api.get(&filtered("/v1/catalog/nodes", "Meta.env ==")).await,
        "1:12 (11): no match found, expected: \"-\", \"0\", \"\\\"\", \"`\", [ \\t\\r\\n], \
         [1-9] or [a-zA-Z]",
    );
    assert_refused(
        &api.get(&filtered("/v1/catalog/nodes", "meta.env == prod"))
            .await,
        "Selector \"meta\" is not valid",
    );
}

#[tokio::test]
async fn catalog_services_filter_instances_before_grouping() {
    let api = catalog().await;
    let path = "/v1/catalog/services";
    assert_eq!(
        api.get(path).await.json(),
        json!({"db": ["primary"], "web": ["v1", "v2"]})
    );
    assert_filtered(
        &api,
        path,
        "ServiceTags contains v1",
        json!({"web": ["v1"]}),
    )
    .await;
    assert_filtered(
        &api,
        path,
        "ServiceName == web",
        json!({"web": ["v1", "v2"]}),
    )
    .await;
    assert_filtered(
        &api,
        path,
        "Node == n1",
        json!({"db": ["primary"], "web": ["v1"]}),
    )
    .await;
    assert_filtered(
        &api,
        path,
        "ServicePort == 5432",
        json!({"db": ["primary"]}),
    )
    .await;
    // Consul filters its stored rows, whose node fields are blank.
    assert_filtered(&api, path, "NodeMeta.env == prod", json!({})).await;
    assert_filtered(
        &api,
        path,
        "Address == \"\"",
        json!({"db": ["primary"], "web": ["v1", "v2"]}),
    )
    .await;
    let with_meta = api
        .get(&filtered(
            "/v1/catalog/services?node-meta=env:dev",
            "ServiceName == web",
        ))
        .await;
    assert_eq!(with_meta.json(), json!({"web": ["v2"]}));
    assert_refused(
        &api.get(&filtered(path, "Service == web")).await,
        "Selector \"Service\" is not valid",
    );
}

#[tokio::test]
async fn catalog_service_instances_are_filtered() {
    let api = catalog().await;
    let path = "/v1/catalog/service/web";
    let reply = api.get(&filtered(path, "NodeMeta.env == prod")).await;
    assert_eq!(names(&reply.json(), "/ServiceID"), ["web-n1"]);
    assert_eq!(reply.index(), api.get(path).await.index());
    let by_meta = api
        .get(&filtered(path, "ServiceMeta.version == \"2\""))
        .await;
    assert_eq!(names(&by_meta.json(), "/ServiceID"), ["web-n2"]);
    let by_address = api.get(&filtered(path, "Address == \"10.0.0.2\"")).await;
    assert_eq!(names(&by_address.json(), "/Node"), ["n2"]);
    let tagged = api
        .get(&filtered("/v1/catalog/service/web?tag=v1", "Node == n2"))
        .await;
    assert_eq!(tagged.json(), json!([]));
    assert_filtered(&api, path, "ServiceTags contains v9", json!([])).await;
    assert_refused(
        &api.get(&filtered(path, "ServicePort == eighty")).await,
        "Failed to coerce value \"eighty\" for selector \"ServicePort\": \
         strconv.ParseInt: parsing \"eighty\": invalid syntax",
    );
}

#[tokio::test]
async fn catalog_node_services_are_filtered_and_the_node_kept() {
    let api = catalog().await;
    let path = "/v1/catalog/node/n1";
    let reply = api.get(&filtered(path, "Service == db")).await;
    reply.assert_read_headers();
    let answer = reply.json();
    assert_eq!(answer["Node"]["Node"], "n1");
    let ids: Vec<&String> = answer["Services"].as_object().unwrap().keys().collect();
    assert_eq!(ids, ["db-1"]);
    assert_eq!(reply.index(), api.get(path).await.index());
    let none = api
        .get(&filtered(path, "Tags contains nothing"))
        .await
        .json();
    assert_eq!(none["Services"], json!({}));
    assert_eq!(
        api.get(&filtered("/v1/catalog/node/ghost", "Service == db"))
            .await
            .text(),
        "null"
    );
    assert_refused(
        &api.get(&filtered(path, "ServiceName == db")).await,
        "Selector \"ServiceName\" is not valid",
    );
}

#[tokio::test]
async fn health_service_entries_are_filtered_through_their_checks() {
    let api = catalog().await;
    let path = "/v1/health/service/web";
    let critical = api.get(&filtered(path, "Checks.Status == critical")).await;
    assert_eq!(names(&critical.json(), "/Service/ID"), ["web-n2"]);
    assert_eq!(critical.index(), api.get(path).await.index());
    let all_passing = api
        .get(&filtered(path, "not Checks.Status != passing"))
        .await;
    assert_eq!(names(&all_passing.json(), "/Service/ID"), ["web-n1"]);
    let combined = api
        .get(&filtered(
            path,
            "Service.Tags contains v2 and Node.Meta.env == dev and Checks.CheckID == serfHealth",
        ))
        .await;
    assert_eq!(names(&combined.json(), "/Node/Node"), ["n2"]);
    let with_passing = api
        .get(&filtered(
            "/v1/health/service/web?passing",
            "Service.Tags contains v2",
        ))
        .await;
    assert_eq!(with_passing.json(), json!([]));
    assert_filtered(&api, path, "Checks is empty", json!([])).await;
    assert_refused(
        &api.get(&filtered(path, "Checks.Status is empty")).await,
        "Invalid match operator \"Is Empty\" for selector \"Checks.Status\"",
    );
}

#[tokio::test]
async fn health_checks_are_filtered_by_service_node_and_state() {
    let api = catalog().await;
    let by_service = api
        .get(&filtered("/v1/health/checks/web", "Status == critical"))
        .await;
    assert_eq!(names(&by_service.json(), "/CheckID"), ["web-n2-http"]);
    assert_eq!(
        by_service.index(),
        api.get("/v1/health/checks/web").await.index()
    );

    let web_on_n1 = json!([api.get("/v1/health/checks/web").await.json()[0]]);
    assert_filtered(&api, "/v1/health/node/n1", "ServiceName == web", web_on_n1).await;
    let node = api
        .get(&filtered("/v1/health/node/n1", "ServiceName == \"\""))
        .await;
    assert_eq!(names(&node.json(), "/CheckID"), ["serfHealth"]);

    let any = api
        .get(&filtered(
            "/v1/health/state/any",
            "Node == n2 and ServiceTags contains v2",
        ))
        .await;
    assert_eq!(names(&any.json(), "/CheckID"), ["web-n2-http"]);
    assert_eq!(any.index(), api.get("/v1/health/state/any").await.index());
    let passing = api
        .get(&filtered(
            "/v1/health/state/passing",
            "CheckID == serfHealth",
        ))
        .await;
    assert_eq!(names(&passing.json(), "/Node"), ["n1", "n2"]);
    let unknown = api
        .get(&filtered("/v1/health/state/bogus", "CheckID == serfHealth"))
        .await;
    assert_eq!(unknown.json(), json!([]));

    for path in [
        "/v1/health/checks/web",
        "/v1/health/node/n1",
        "/v1/health/state/any",
    ] {
        assert_refused(
            &api.get(&filtered(path, "Checks.Status == passing")).await,
            "Selector \"Checks\" is not valid",
        );
    }
}

#[tokio::test]
async fn every_filtered_endpoint_refuses_a_bad_expression_before_reading() {
    let api = catalog().await;
    let syntax = "1:4 (3): no match found, expected: \"!=\", \".\", \"==\", \"[\", \
                  [ \\t\\r\\n] or [a-zA-Z0-9_]";
    for path in [
        "/v1/catalog/nodes",
        "/v1/catalog/services",
        "/v1/catalog/service/web",
        "/v1/catalog/node/n1",
        "/v1/catalog/connect/web",
        "/v1/health/service/web",
        "/v1/health/connect/web",
        "/v1/health/checks/web",
        "/v1/health/node/n1",
        "/v1/health/state/any",
    ] {
        assert_refused(&api.get(&filtered(path, "foo")).await, syntax);
        let too_deep = format!("{}A == 1", "not ".repeat(40));
        assert_refused(
            &api.get(&filtered(path, &too_deep)).await,
            "filter expression nests deeper than 32 levels",
        );
        // An empty filter is no filter.
        assert_eq!(api.get(&format!("{path}?filter=")).await.status, 200);
    }
    // Endpoints that do not filter never look at the expression, as in Consul.
    assert_eq!(api.put("/v1/kv/k", "v").await.status, 200);
    for path in [
        "/v1/kv/k",
        "/v1/kv/?keys",
        "/v1/status/leader",
        "/v1/agent/self",
    ] {
        assert_eq!(api.get(&filtered(path, "foo")).await.status, 200, "{path}");
    }
    // Other parameters' errors come first, as Consul's HTTP layer checks them first.
    let both = api.get(&filtered("/v1/catalog/nodes?index=x", "foo")).await;
    assert_eq!(
        (both.status, both.text()),
        (400, "Invalid index".to_owned())
    );
}

#[tokio::test(start_paused = true)]
async fn a_blocked_filtered_query_wakes_on_a_write_and_answers_filtered() {
    let api = catalog().await;
    let path = filtered("/v1/health/service/web", "Checks.Status == critical");
    let first = api.get(&path).await;
    assert_eq!(names(&first.json(), "/Node/Node"), ["n2"]);
    let waiter = api.spawn_get(&format!("{path}&index={}&wait=60s", first.index()));
    sleep(Duration::from_secs(1)).await;
    assert!(!waiter.is_finished());
    api.register(json!({
        "Node": "n1", "Address": "10.0.0.1", "NodeMeta": {"env": "prod"},
        "Check": {"CheckID": "web-n1-http", "Name": "http", "Status": "critical",
                  "ServiceID": "web-n1"}
    }))
    .await;
    let woken = waiter.await.unwrap();
    assert!(woken.index() > first.index());
    assert_eq!(names(&woken.json(), "/Node/Node"), ["n1", "n2"]);
}
