//! `/v1/event/fire/:name` and `/v1/event/list`: Consul's shapes, filters, texts, the
//! event index and hash-style blocking.

use crate::harness::Harness;
use serde_json::{json, Value};
use std::time::Duration;
use tokio::time::{sleep, Instant};

const SECOND: Duration = Duration::from_secs(1);

/// Go's `Event.IDToIndex`, written out on the string as Go does it.
fn go_id_to_index(id: &str) -> u64 {
    let lower = format!("{}{}{}", &id[0..8], &id[9..13], &id[14..18]);
    let upper = format!("{}{}", &id[19..23], &id[24..36]);
    u64::from_str_radix(&lower, 16).unwrap() ^ u64::from_str_radix(&upper, 16).unwrap()
}

async fn fire(api: &Harness, path: &str, body: &str) -> Value {
    let reply = api
        .put(&format!("/v1/event/fire/{path}"), body.to_owned())
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    reply.json()
}

fn names(list: &Value) -> Vec<&str> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|event| event["Name"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn fire_answers_the_event_in_consuls_shape() {
    let api = Harness::new();
    let event = fire(&api, "deploy?node=node&service=web&tag=v2", "v1.2").await;
    let mut keys: Vec<&str> = event
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "ID",
            "LTime",
            "Name",
            "NodeFilter",
            "Payload",
            "ServiceFilter",
            "TagFilter",
            "Version"
        ]
    );
    let id = event["ID"].as_str().unwrap();
    assert_eq!(id.len(), 36);
    assert_eq!(
        id.char_indices()
            .filter(|(_, c)| *c == '-')
            .map(|(at, _)| at)
            .collect::<Vec<_>>(),
        [8, 13, 18, 23]
    );
    assert!(id
        .chars()
        .all(|c| c == '-' || c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
    assert_eq!(event["Name"], "deploy");
    assert_eq!(event["Payload"], "djEuMg==");
    assert_eq!(
        (
            &event["NodeFilter"],
            &event["ServiceFilter"],
            &event["TagFilter"]
        ),
        (&json!("node"), &json!("web"), &json!("v2"))
    );
    assert_eq!((&event["Version"], &event["LTime"]), (&json!(1), &json!(0)));

    // No body: a null payload. Names may contain slashes.
    let bare = fire(&api, "a/b", "").await;
    assert_eq!(
        (&bare["Name"], &bare["Payload"]),
        (&json!("a/b"), &Value::Null)
    );
    assert_ne!(bare["ID"], event["ID"], "every fire gets a fresh ID");
}

#[tokio::test]
async fn list_is_oldest_first_with_the_last_ids_index() {
    let api = Harness::new();
    let empty = api.get("/v1/event/list").await;
    assert_eq!((empty.status, empty.json()), (200, json!([])));
    assert_eq!(empty.index(), 1, "Consul's index for no events");
    empty.assert_read_headers();

    let first = fire(&api, "deploy", "1").await;
    let second = fire(&api, "restart", "").await;
    let third = fire(&api, "deploy", "2").await;
    let list = api.get("/v1/event/list").await;
    let events = list.json();
    assert_eq!(names(&events), ["deploy", "restart", "deploy"]);
    assert_eq!(events[0]["ID"], first["ID"]);
    assert_eq!(events[1]["ID"], second["ID"]);
    assert_eq!(events[2]["Payload"], "Mg==");
    assert_eq!(list.index(), go_id_to_index(third["ID"].as_str().unwrap()));
    let ltimes: Vec<u64> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|event| event["LTime"].as_u64().unwrap())
        .collect();
    assert!(
        ltimes[0] > 0 && ltimes[0] < ltimes[1] && ltimes[1] < ltimes[2],
        "{ltimes:?}"
    );

    // `?name=` lists one name, and its index is that name's last event.
    let named = api.get("/v1/event/list?name=restart").await;
    assert_eq!(names(&named.json()), ["restart"]);
    assert_eq!(
        named.index(),
        go_id_to_index(second["ID"].as_str().unwrap())
    );
    let none = api.get("/v1/event/list?name=nothing").await;
    assert_eq!((none.json(), none.index()), (json!([]), 1));
}

#[tokio::test]
async fn the_agent_keeps_only_events_its_filters_let_through() {
    let api = Harness::new();
    let reply = api
        .put(
            "/v1/agent/service/register",
            r#"{"ID":"web-1","Name":"web","Tags":["primary"],"Port":80}"#,
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    for (query, kept) in [
        ("node=^node1$", true),
        ("node=^other$", false),
        ("service=web", true),
        ("service=^web$", false), // matched against the service ID, as Consul does
        ("service=web&tag=prim", true),
        ("service=web&tag=^secondary$", false),
        ("service=db", false),
    ] {
        let event = fire(&api, &format!("probe?{query}"), "").await;
        let listed = api.get("/v1/event/list?name=probe").await.json();
        let last = listed.as_array().unwrap().last().cloned();
        assert_eq!(
            last.is_some_and(|last| last["ID"] == event["ID"]),
            kept,
            "{query}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn a_blocking_list_is_woken_by_a_fire_and_otherwise_waits() {
    let api = Harness::new();
    fire(&api, "deploy", "1").await;
    let index = api.get("/v1/event/list").await.index();
    let started = Instant::now();
    let waiter = api.spawn_get(&format!("/v1/event/list?index={index}&wait=60s"));
    sleep(SECOND).await;
    assert!(!waiter.is_finished());
    let second = fire(&api, "deploy", "2").await;
    let reply = waiter.await.unwrap();
    assert_eq!(names(&reply.json()), ["deploy", "deploy"]);
    assert_eq!(
        reply.index(),
        go_id_to_index(second["ID"].as_str().unwrap())
    );
    assert!(started.elapsed() < 10 * SECOND);

    // A fire of another name does not change a named list's index: it waits on.
    let named = api.get("/v1/event/list?name=deploy").await.index();
    let started = Instant::now();
    let waiter = api.spawn_get(&format!("/v1/event/list?name=deploy&index={named}&wait=5s"));
    sleep(SECOND).await;
    fire(&api, "other", "").await;
    sleep(SECOND).await;
    assert!(!waiter.is_finished());
    let reply = waiter.await.unwrap();
    assert_eq!(reply.index(), named);
    assert!(started.elapsed() >= 5 * SECOND, "its wait ran out");

    // Any other index answers at once: event indexes are not ordered.
    let reply = api.get("/v1/event/list?index=12345&wait=60s").await;
    assert_eq!(reply.json().as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn names_starting_with_an_underscore_are_fired_as_in_consul() {
    let api = Harness::new();
    // `_rexec` is Consul's remote exec: accepted, never listed (Legate runs no remote exec,
    // as Consul with `disable_remote_exec`, its default).
    let rexec = fire(&api, "_rexec", "").await;
    assert_eq!(rexec["Name"], "_rexec");
    // Any other name is the user's, underscore or not: Consul reserves none of them.
    fire(&api, "_mine", "").await;
    assert_eq!(names(&api.get("/v1/event/list").await.json()), ["_mine"]);
}

#[tokio::test]
async fn refusals_use_consuls_statuses_and_texts() {
    let api = Harness::new();
    let reply = api.put("/v1/event/fire/", "").await;
    api.expect_text(reply, 400, "Missing name").await;

    // Serf's limit: the event, its name and its ID must fit 512 bytes.
    let reply = api.put("/v1/event/fire/big", "x".repeat(512)).await;
    api.expect_text(
        reply,
        500,
        "user event exceeds configured limit of 512 bytes before encoding",
    )
    .await;
    // A payload well under Consul's advice (< 100 bytes) fits with room to spare.
    fire(&api, "small", &"x".repeat(100)).await;

    let reply = api.put("/v1/event/fire/x?tag=v1", "").await;
    api.expect_text(
        reply,
        500,
        "Cannot provide tag filter without service filter",
    )
    .await;
    let reply = api.put("/v1/event/fire/x?node=(", "").await;
    assert_eq!(reply.status, 500);
    assert!(
        reply.text().starts_with("Invalid node filter: "),
        "{}",
        reply.text()
    );
    let reply = api.put("/v1/event/fire/x?service=web&tag=[", "").await;
    assert!(
        reply.text().starts_with("Invalid tag filter: "),
        "{}",
        reply.text()
    );

    let reply = api.put("/v1/event/fire/x?dc=elsewhere", "").await;
    api.expect_text(reply, 500, "No path to datacenter").await;
    let reply = api.get("/v1/event/fire/x").await;
    assert_eq!(reply.status, 405);
    assert_eq!(reply.header("allow"), Some("OPTIONS,PUT"));
    let reply = api.put("/v1/event/list", "").await;
    assert_eq!(reply.status, 405);
    let reply = api.get("/v1/event/list?index=x").await;
    api.expect_text(reply, 400, "Invalid index").await;

    // Nothing refused was kept.
    assert_eq!(names(&api.get("/v1/event/list").await.json()), ["small"]);
}

#[tokio::test]
async fn the_typed_client_fires_and_lists() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = legate_api::router(
        std::sync::Arc::new(legate_api::testing::FakeBackend::new()),
        legate_api::ApiConfig::default(),
    );
    tokio::spawn(legate_api::serve(
        listener,
        app,
        legate_api::ServeLimits::default(),
        std::future::pending::<()>(),
    ));
    let client = legate_api::Client::new(format!("http://{addr}"));
    let request = legate_api::backend::event::FireRequest {
        name: "deploy".into(),
        payload: Some(b"v9".to_vec()),
        node_filter: "node1".into(),
        ..Default::default()
    };
    let fired = client.event_fire(&request, None).await.unwrap();
    assert_eq!((fired.name.as_str(), fired.ltime), ("deploy", 0));
    assert_eq!(fired.node_filter, "node1");
    let (events, meta) = client
        .event_list(Some("deploy"), &legate_api::QueryOptions::default())
        .await
        .unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].id, fired.id);
    assert_eq!(events[0].payload.as_deref(), Some(&b"v9"[..]));
    assert_eq!(Some(meta.index), fired.index());
    let refused = client
        .event_fire(
            &legate_api::backend::event::FireRequest {
                name: "x".into(),
                tag_filter: "t".into(),
                ..Default::default()
            },
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(
        refused.to_string(),
        "Unexpected response code: 500 (Cannot provide tag filter without service filter)"
    );
}
