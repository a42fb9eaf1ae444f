//! `/v1/query`: create, read, update, delete, execute (filters, near, limit, templates) and
//! explain, with Consul's status codes and texts.

use crate::harness::Harness;
use serde_json::{json, Value};

async fn create(h: &Harness, body: Value) -> String {
    let reply = h.post("/v1/query", body.to_string()).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    reply.json()["ID"].as_str().unwrap().to_owned()
}

fn nodes(answer: &Value) -> Vec<String> {
    let mut found: Vec<String> = answer["Nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| entry["Node"]["Node"].as_str().unwrap().to_owned())
        .collect();
    found.sort();
    found
}

#[tokio::test]
async fn create_read_update_delete() {
    let h = Harness::new();
    let id = create(
        &h,
        json!({"Name": "web-q", "Service": {"Service": "web", "OnlyPassing": true,
               "Tags": ["v1"], "Failover": {"NearestN": 2, "Datacenters": ["dc2"]}},
               "DNS": {"TTL": "10s"}}),
    )
    .await;
    let reply = h.get(&format!("/v1/query/{id}")).await;
    reply.assert_read_headers();
    let found = reply.json();
    assert_eq!(found[0]["ID"], id.as_str());
    assert_eq!(found[0]["Name"], "web-q");
    assert_eq!(found[0]["Service"]["Service"], "web");
    assert_eq!(found[0]["Service"]["OnlyPassing"], true);
    assert_eq!(
        found[0]["Service"]["Failover"]["Datacenters"],
        json!(["dc2"])
    );
    assert_eq!(found[0]["DNS"]["TTL"], "10s");
    assert_eq!(found[0]["Template"]["Type"], "");
    let created = found[0]["CreateIndex"].as_u64().unwrap();

    // Update: the whole definition is replaced.
    let reply = h
        .put(
            &format!("/v1/query/{id}"),
            json!({"Name": "web-q", "Service": {"Service": "api"}}).to_string(),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let found = h.get(&format!("/v1/query/{id}")).await.json();
    assert_eq!(found[0]["Service"]["Service"], "api");
    assert_eq!(found[0]["Service"]["OnlyPassing"], false);
    assert_eq!(found[0]["CreateIndex"].as_u64(), Some(created));
    assert!(found[0]["ModifyIndex"].as_u64().unwrap() > created);
    assert_eq!(h.get("/v1/query").await.json().as_array().unwrap().len(), 1);

    // Names are unique; reads by name are for execute, not GET.
    let reply = h
        .post(
            "/v1/query",
            json!({"Name": "web-q", "Service": {"Service": "x"}}).to_string(),
        )
        .await;
    assert_eq!(reply.status, 500);
    assert_eq!(reply.text(), "name 'web-q' aliases an existing query name");
    h.expect_text(h.get("/v1/query/web-q").await, 404, "Query not found")
        .await;

    assert_eq!(h.delete(&format!("/v1/query/{id}")).await.status, 200);
    h.expect_text(
        h.get(&format!("/v1/query/{id}")).await,
        404,
        "Query not found",
    )
    .await;
    assert_eq!(h.get("/v1/query").await.json(), json!([]));
}

#[tokio::test]
async fn refusals_are_consuls() {
    let h = Harness::new();
    for (body, text) in [
        (json!({"Name": "x"}), "Must provide a Service name to query"),
        (
            json!({"Service": {"Service": "s", "Failover": {"NearestN": -1}}}),
            "Bad NearestN '-1', must be >= 0",
        ),
        (
            json!({"Service": {"Service": "s"}, "Template": {"Type": "bogus"}}),
            "Bad Template.Type 'bogus'",
        ),
    ] {
        h.expect_text(h.post("/v1/query", body.to_string()).await, 400, text)
            .await;
    }
    let reply = h
        .post(
            "/v1/query",
            json!({"Service": {"Service": "s"}, "Session": "nope"}).to_string(),
        )
        .await;
    assert_eq!(reply.status, 500, "{}", reply.text());
    assert!(reply.text().contains("invalid session"), "{}", reply.text());
    let missing = h
        .put(
            "/v1/query/nope",
            json!({"Service": {"Service": "s"}}).to_string(),
        )
        .await;
    assert_eq!(missing.status, 500);
    assert_eq!(
        missing.text(),
        "Cannot modify non-existent prepared query: 'nope'"
    );
    assert_eq!(
        h.call(axum::http::Method::PATCH, "/v1/query/x", "")
            .await
            .status,
        405
    );
    assert_eq!(
        h.call(axum::http::Method::POST, "/v1/query/x/execute", "")
            .await
            .status,
        405
    );
    h.expect_text(
        h.get("/v1/query/none/execute").await,
        404,
        "Query not found",
    )
    .await;
}

#[tokio::test]
async fn execute_filters_by_health_tags_and_limit() {
    let h = Harness::new();
    h.instance("n-ok", "web-1", "web", &["v1"], "passing").await;
    h.instance("n-warn", "web-2", "web", &["v1"], "warning")
        .await;
    h.instance("n-crit", "web-3", "web", &["v1"], "critical")
        .await;
    h.instance("n-v2", "web-4", "web", &["v2"], "passing").await;
    create(&h, json!({"Name": "all", "Service": {"Service": "web"}})).await;
    create(
        &h,
        json!({"Name": "strict", "Service": {"Service": "web", "OnlyPassing": true,
               "Tags": ["!v2"]}, "DNS": {"TTL": "15s"}}),
    )
    .await;
    let all = h.get("/v1/query/all/execute").await.json();
    assert_eq!(nodes(&all), ["n-ok", "n-v2", "n-warn"]);
    assert_eq!(all["Service"], "web");
    assert_eq!(all["Datacenter"], "dc1");
    assert_eq!(all["Failovers"], 0);
    assert_eq!(all["Nodes"][0]["Service"]["Service"], "web");
    let strict = h.get("/v1/query/strict/execute").await.json();
    assert_eq!(nodes(&strict), ["n-ok"]);
    assert_eq!(strict["DNS"]["TTL"], "15s");
    let limited = h.get("/v1/query/all/execute?limit=2").await.json();
    assert_eq!(limited["Nodes"].as_array().unwrap().len(), 2);
    // Near: by round trip from the node named.
    for (node, x) in [("n-ok", 0.0), ("n-warn", 0.5), ("n-v2", 0.1)] {
        let update = json!({"Node": node, "Coord": {"Vec": [x, 0, 0, 0, 0, 0, 0, 0],
                            "Error": 0.1, "Height": 0.0001}});
        assert_eq!(
            h.put("/v1/coordinate/update", update.to_string())
                .await
                .status,
            200
        );
    }
    let near = h.get("/v1/query/all/execute?near=n-warn").await.json();
    let order: Vec<&str> = near["Nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| entry["Node"]["Node"].as_str().unwrap())
        .collect();
    assert_eq!(order, ["n-warn", "n-v2", "n-ok"]);
    // `Near: "_ip"`: from the node whose address is the client's (here, a proxy's header).
    create(
        &h,
        json!({"Name": "by-ip", "Service": {"Service": "web", "Near": "_ip"}}),
    )
    .await;
    let address = h.get("/v1/catalog/node/n-warn").await.json()["Node"]["Address"]
        .as_str()
        .unwrap()
        .to_owned();
    let request = axum::http::Request::builder()
        .method(axum::http::Method::GET)
        .uri("/v1/query/by-ip/execute")
        .header("X-Forwarded-For", format!("{address}, 10.9.9.9"));
    let near = h.call_with(request, "").await.json();
    assert_eq!(near["Nodes"][0]["Node"]["Node"], "n-warn");
}

#[tokio::test]
async fn templates_answer_names_by_prefix_and_explain_shows_the_rendering() {
    let h = Harness::new();
    h.instance("n1", "db-1", "db", &["blue"], "passing").await;
    h.instance("n2", "db-2", "db", &["green"], "passing").await;
    create(
        &h,
        json!({"Name": "geo-", "Template": {"Type": "name_prefix_match",
               "Regexp": "^geo-(\\w+)-(\\w+)$"},
               "Service": {"Service": "${match(1)}", "Tags": ["${match(2)}"]}}),
    )
    .await;
    let blue = h.get("/v1/query/geo-db-blue/execute").await.json();
    assert_eq!(nodes(&blue), ["n1"]);
    assert_eq!(blue["Service"], "db");
    let explained = h.get("/v1/query/geo-db-green/explain").await.json();
    assert_eq!(explained["Query"]["Service"]["Service"], "db");
    assert_eq!(explained["Query"]["Service"]["Tags"], json!(["green"]));
    assert_eq!(explained["Query"]["Name"], "geo-");
    // A name no template prefixes.
    h.expect_text(
        h.get("/v1/query/other/execute").await,
        404,
        "Query not found",
    )
    .await;
}
