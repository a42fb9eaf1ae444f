//! User events across a 5-agent cluster (3 servers, 2 clients): a fire on any agent reaches
//! every agent over gossip, each agent applies the node, service and tag filters to itself,
//! blocking lists wake on events fired elsewhere, and Legate's internal gossip events
//! (the keyring's) never show up as user events.

use crate::harness::Cluster;
use serde_json::Value;
use std::time::Duration;

/// Fires `name` on agent `from` with `query` (`node=..&service=..`), returning the event ID.
fn fire(cluster: &Cluster, from: usize, name: &str, query: &str, payload: &str) -> String {
    let (status, body) = cluster
        .put(from, &format!("/v1/event/fire/{name}?{query}"), payload)
        .expect("fire answered");
    assert_eq!(status, 200, "{body}");
    let event: Value = serde_json::from_str(&body).unwrap();
    event["ID"].as_str().unwrap().to_owned()
}

/// The IDs of the events agent `index` lists.
fn listed(cluster: &Cluster, index: usize) -> Vec<String> {
    cluster
        .get_json(index, "/v1/event/list")
        .and_then(|events| {
            events.as_array().map(|events| {
                events
                    .iter()
                    .map(|event| event["ID"].as_str().unwrap_or_default().to_owned())
                    .collect()
            })
        })
        .unwrap_or_default()
}

fn names(cluster: &Cluster, index: usize) -> Vec<String> {
    cluster
        .get_json(index, "/v1/event/list")
        .and_then(|events| {
            events.as_array().map(|events| {
                events
                    .iter()
                    .map(|event| event["Name"].as_str().unwrap_or_default().to_owned())
                    .collect()
            })
        })
        .unwrap_or_default()
}

/// Fires `filtered` with `query` from agent `from`, then an unfiltered marker after it, and
/// waits until every agent has the marker: by then the filtered event has had the same
/// gossip rounds to arrive everywhere. Returns which agents kept the filtered one.
///
/// User events are best-effort gossip, as in Consul: on a machine loaded by other tests a
/// broadcast can be lost for one agent. An attempt whose marker has not reached every agent
/// within `ATTEMPT` is abandoned and the pair fired again (fresh ids), up to `ATTEMPTS` times;
/// the filters are judged on one complete attempt.
fn kept_by(cluster: &Cluster, from: usize, query: &str) -> Vec<String> {
    const ATTEMPTS: usize = 3;
    const ATTEMPT: Duration = Duration::from_secs(20);
    for _ in 0..ATTEMPTS {
        let filtered = fire(cluster, from, "filtered", query, "");
        let marker = fire(cluster, from, "marker", "", "");
        let deadline = std::time::Instant::now() + ATTEMPT;
        let everywhere = || {
            cluster
                .live()
                .all(|index| listed(cluster, index).contains(&marker))
        };
        while !everywhere() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        if !everywhere() {
            continue;
        }
        // A little longer for stragglers: a wrongly kept event must have had time to show.
        std::thread::sleep(Duration::from_millis(500));
        return cluster
            .live()
            .filter(|index| listed(cluster, *index).contains(&filtered))
            .map(|index| cluster.nodes[index].name.clone())
            .collect();
    }
    panic!(
        "no marker reached every agent in {ATTEMPTS} attempts\n{}",
        cluster.logs()
    );
}

#[test]
fn events_reach_every_agent_and_filters_apply_on_each() {
    let cluster = Cluster::start(3, 2, &[]);
    let (client, other_client) = (3, 4);
    let (status, body) = cluster
        .put(
            other_client,
            "/v1/agent/service/register",
            r#"{"ID":"web-1","Name":"web","Tags":["v2","primary"],"Port":80}"#,
        )
        .unwrap();
    assert_eq!(status, 200, "{body}");

    // Fired on a client and on a server, each reaches all five agents.
    for from in [client, 1] {
        let id = fire(&cluster, from, "deploy", "", "build-42");
        cluster.wait_until("the event on every agent", || {
            cluster
                .live()
                .all(|index| listed(&cluster, index).contains(&id))
        });
    }
    let events = cluster.get_json(2, "/v1/event/list?name=deploy").unwrap();
    assert_eq!(events.as_array().unwrap().len(), 2);
    assert_eq!(events[0]["Payload"], "YnVpbGQtNDI=");
    assert!(events[0]["LTime"].as_u64() < events[1]["LTime"].as_u64());

    // A node filter matching one agent: only that agent keeps it.
    let s2 = cluster.nodes[1].name.clone();
    assert_eq!(kept_by(&cluster, 0, &format!("node=^{s2}$")), [s2]);
    // Service and tag filters: only the agent running a matching service.
    let c5 = cluster.nodes[other_client].name.clone();
    assert_eq!(kept_by(&cluster, client, "service=^web-1$"), [c5.as_str()]);
    assert_eq!(kept_by(&cluster, 2, "service=web&tag=^v2$"), [c5]);
    assert!(kept_by(&cluster, 0, "service=web&tag=^v3$").is_empty());
    assert!(kept_by(&cluster, 0, "node=^nobody$").is_empty());
}

#[test]
fn blocking_lists_wake_on_events_fired_elsewhere_and_internal_events_stay_hidden() {
    // Encrypted, so that the keyring list below succeeds on every agent.
    let cluster = Cluster::start(
        3,
        2,
        &["-encrypt=pUqJrVyVRj5jsiYEkM/tFQYfWyJIv4s3XkvDwy7Cu5s="],
    );
    let watcher = 4;
    let empty = cluster.get(watcher, "/v1/event/list").unwrap();
    let index: u64 = empty.headers()["X-Consul-Index"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(index, 1);
    let url = cluster.url(watcher, &format!("/v1/event/list?index={index}&wait=30s"));
    let blocked = std::thread::spawn(move || {
        let started = std::time::Instant::now();
        let body: Value = reqwest::blocking::Client::new()
            .get(url)
            .timeout(Duration::from_secs(60))
            .send()
            .unwrap()
            .json()
            .unwrap();
        (body, started.elapsed())
    });
    std::thread::sleep(Duration::from_millis(300));
    let id = fire(&cluster, 0, "wake", "", "");
    let (body, waited) = blocked.join().unwrap();
    assert_eq!(body[0]["ID"], id.as_str());
    assert!(waited < Duration::from_secs(20), "{waited:?}");

    // The keyring list runs over gossip events named `_legate:keyring*` on every agent: each
    // answers, yet none of them is a user event.
    let keyring = cluster.get(2, "/v1/operator/keyring").unwrap();
    let status = keyring.status();
    let text = keyring.text().unwrap();
    assert!(status.is_success(), "{status}: {text}");
    assert!(
        text.contains("\"NumNodes\":5"),
        "every agent answered: {text}"
    );
    // A user may fire an underscore name (Consul reserves none but `_rexec`, dropped).
    fire(&cluster, 3, "_rexec", "", "");
    let mine = fire(&cluster, 3, "_mine", "", "");
    cluster.wait_until("the underscore event everywhere", || {
        cluster
            .live()
            .all(|index| listed(&cluster, index).contains(&mine))
    });
    // Gossip does not order events: compare sets.
    for index in cluster.live() {
        let mut seen = names(&cluster, index);
        seen.sort();
        assert_eq!(seen, ["_mine", "wake"], "agent {index}");
    }
}
