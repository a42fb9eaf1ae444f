//! Two datacenters of three servers and a client each, federated over the WAN pool: calls
//! naming the other datacenter (`?dc=`, `<name>.service.<dc>.consul`) from clients and
//! servers alike, a blocking query across the hop, and a whole datacenter lost and back.

use crate::harness::Cluster;
use serde_json::Value;
use std::time::{Duration, Instant};

/// The client agent of a cluster started with 3 servers and 1 client.
const CLIENT: usize = 3;

/// Starts dc1, then dc2 with its servers joining dc1's over WAN, and waits until every
/// server of both sees all six WAN members alive.
fn two_datacenters() -> (Cluster, Cluster) {
    let dc1 = Cluster::start(3, 1, &["-datacenter=dc1"]);
    let join_wan = format!("-retry-join-wan={}", dc1.nodes[0].ip);
    let dc2 = Cluster::start(3, 1, &["-datacenter=dc2", &join_wan]);
    for cluster in [&dc1, &dc2] {
        cluster.wait_until("all six servers alive in the WAN pool", || {
            (0..3).all(|server| wan_alive(cluster, server).len() == 6)
        });
    }
    (dc1, dc2)
}

/// WAN member names agent `index` sees alive.
fn wan_alive(cluster: &Cluster, index: usize) -> Vec<String> {
    let Some(Value::Array(members)) = cluster.get_json(index, "/v1/agent/members?wan=1") else {
        return Vec::new();
    };
    members
        .iter()
        .filter(|member| member["Status"] == 1)
        .filter_map(|member| member["Name"].as_str().map(str::to_owned))
        .collect()
}

/// Status and body of a GET.
fn get(cluster: &Cluster, index: usize, path: &str) -> (u16, String) {
    match cluster.get(index, path) {
        Some(response) => (
            response.status().as_u16(),
            response.text().unwrap_or_default(),
        ),
        None => (0, String::new()),
    }
}

/// The raw value of `key` as agent `index` reads it with `query` appended.
fn raw(cluster: &Cluster, index: usize, key: &str, query: &str) -> (u16, String) {
    get(cluster, index, &format!("/v1/kv/{key}?raw{query}"))
}

#[test]
fn calls_cross_to_the_other_datacenter_and_fail_fast_when_it_is_gone() {
    let (dc1, mut dc2) = two_datacenters();

    // The WAN pool names its members `<node>.<dc>` and holds servers only.
    let mut names = wan_alive(&dc1, 0);
    names.sort();
    assert_eq!(
        names,
        ["s1.dc1", "s1.dc2", "s2.dc1", "s2.dc2", "s3.dc1", "s3.dc2"]
    );
    // Joining again over HTTP is harmless.
    let join = format!("/v1/agent/join/{}?wan=1", dc2.nodes[0].ip);
    assert_eq!(dc1.put(1, &join, "").map(|(status, _)| status), Some(200));

    // Datacenters, nearest (this one) first, from servers and clients.
    for (cluster, index, want) in [
        (&dc1, 0, ["dc1", "dc2"]),
        (&dc1, CLIENT, ["dc1", "dc2"]),
        (&dc2, 1, ["dc2", "dc1"]),
        (&dc2, CLIENT, ["dc2", "dc1"]),
    ] {
        let known = cluster.get_json(index, "/v1/catalog/datacenters").unwrap();
        assert_eq!(known, serde_json::json!(want), "seen by {index}");
    }

    // Every server's WAN coordinate, by datacenter, from a client too.
    dc1.wait_until("six WAN coordinates", || {
        dc1.get_json(CLIENT, "/v1/coordinate/datacenters")
            .and_then(|maps| {
                let maps = maps.as_array()?.clone();
                let counts: Vec<(String, usize)> = maps
                    .iter()
                    .map(|map| {
                        let dc = map["Datacenter"].as_str().unwrap_or_default().to_owned();
                        (dc, map["Coordinates"].as_array().map_or(0, Vec::len))
                    })
                    .collect();
                Some(counts == [("dc1".to_owned(), 3), ("dc2".to_owned(), 3)])
            })
            .unwrap_or(false)
    });

    // KV: a write from dc1's client lands in dc2 only, in every consistency mode.
    assert_eq!(
        dc1.put(CLIENT, "/v1/kv/where?dc=dc2", "in-dc2"),
        Some((200, "true".to_owned()))
    );
    assert_eq!(
        dc1.put(0, "/v1/kv/where", "in-dc1"),
        Some((200, "true".to_owned()))
    );
    for mode in ["", "&consistent"] {
        assert_eq!(raw(&dc2, 2, "where", mode), (200, "in-dc2".to_owned()));
        assert_eq!(
            raw(&dc1, CLIENT, "where", &format!("&dc=dc2{mode}")),
            (200, "in-dc2".to_owned())
        );
        assert_eq!(
            raw(&dc1, 1, "where", &format!("&dc=dc2{mode}")),
            (200, "in-dc2".to_owned())
        );
        assert_eq!(
            raw(&dc2, CLIENT, "where", &format!("&dc=dc1{mode}")),
            (200, "in-dc1".to_owned())
        );
    }
    // A stale read may come from a server a moment behind; it catches up.
    dc1.wait_until("a stale read across the hop", || {
        raw(&dc1, CLIENT, "where", "&dc=dc2&stale") == (200, "in-dc2".to_owned())
    });
    dc2.wait_until("a stale read across the hop", || {
        raw(&dc2, CLIENT, "where", "&dc=dc1&stale") == (200, "in-dc1".to_owned())
    });
    // Naming one's own datacenter is the same as naming none.
    assert_eq!(raw(&dc1, 0, "where", "&dc=dc1"), (200, "in-dc1".to_owned()));

    // Default reads for dc2 settle on dc2's leader (federation rule 2), one hop rather than
    // two. dc1 first tries dc2's servers in name order, so with s1 leading the check would
    // pass without the rule: lead from another server first.
    if dc2.wait_for_leader() == 0 {
        let (code, out) = cli(&dc2, 0, &["operator", "raft", "transfer-leader"]);
        assert_eq!(code, 0, "{out}");
        dc2.wait_until("a leader other than s1", || {
            dc2.leader().is_some_and(|leader| leader != 0)
        });
    }
    dc1.wait_until("dc1's reads of dc2 served by dc2's leader", || {
        // Leadership may move under load: judge each round by who leads now.
        let Some(leader) = dc2.leader() else {
            return false;
        };
        let followers: Vec<usize> = (0..3).filter(|index| *index != leader).collect();
        let before: Vec<f64> = followers.iter().map(|f| rpc_requests(&dc2, *f)).collect();
        for _ in 0..40 {
            assert_eq!(raw(&dc1, 0, "where", "&dc=dc2").0, 200);
        }
        // A follower in the way would have handled all 40; dc2's client agent adds a few.
        followers
            .iter()
            .zip(before)
            .all(|(follower, before)| rpc_requests(&dc2, *follower) - before < 20.0)
    });

    // Catalog and health: a service registered in dc2 from dc1 (a registration names its
    // datacenter in its body, as in Consul), read from both sides.
    let register = r#"{"Datacenter":"dc2","Node":"web-node","Address":"10.2.0.7",
        "Service":{"Service":"web","Port":8080,"Tags":["v2"]}}"#;
    assert_eq!(
        dc1.put(0, "/v1/catalog/register", register),
        Some((200, "true".to_owned()))
    );
    let services = dc1
        .get_json(CLIENT, "/v1/catalog/service/web?dc=dc2")
        .unwrap();
    assert_eq!(services[0]["Address"], "10.2.0.7");
    assert_eq!(services[0]["Datacenter"], "dc2");
    assert_eq!(
        dc1.get_json(0, "/v1/catalog/service/web").unwrap(),
        serde_json::json!([])
    );
    let health = dc1.get_json(1, "/v1/health/service/web?dc=dc2").unwrap();
    assert_eq!(health[0]["Service"]["Port"], 8080);
    // Status of the other datacenter: its leader is one of its servers.
    let leader: String =
        serde_json::from_value(dc1.get_json(CLIENT, "/v1/status/leader?dc=dc2").unwrap()).unwrap();
    assert!(
        dc2.nodes[..3]
            .iter()
            .any(|node| leader.starts_with(&format!("{}:", node.ip))),
        "{leader}"
    );

    // translate_wan_addrs (on in these clusters): another datacenter's nodes show their
    // `wan` address, over HTTP (which says so in a header) and DNS; this one's do not.
    let wan_node = r#"{"Datacenter":"dc2","Node":"wan-node","Address":"10.2.0.8",
        "TaggedAddresses":{"wan":"198.51.100.8"},"Service":{"Service":"edge","Port":443}}"#;
    assert_eq!(
        dc2.put(0, "/v1/catalog/register", wan_node),
        Some((200, "true".to_owned()))
    );
    let response = dc1.get(CLIENT, "/v1/catalog/service/edge?dc=dc2").unwrap();
    assert_eq!(response.headers()["x-consul-translate-addresses"], "true");
    let listed: Value = response.json().unwrap();
    assert_eq!(listed[0]["Address"], "198.51.100.8");
    let here = dc2.get_json(0, "/v1/catalog/service/edge").unwrap();
    assert_eq!(here[0]["Address"], "10.2.0.8");
    let health = dc1.get_json(0, "/v1/health/service/edge?dc=dc2").unwrap();
    assert_eq!(health[0]["Node"]["Address"], "198.51.100.8");
    dc1.wait_until("the WAN address over DNS", || {
        dc1.dig(0, "wan-node.node.dc2.consul").trim() == "198.51.100.8"
    });
    assert_eq!(dc2.dig(0, "wan-node.node.consul").trim(), "10.2.0.8");

    // DNS for the other datacenter, on a server and on a client.
    for index in [0, CLIENT] {
        dc1.wait_until("web.service.dc2.consul answered in dc1", || {
            dc1.dig(index, "web.service.dc2.consul").trim() == "10.2.0.7"
        });
        assert_eq!(
            dc1.dig(index, "web-node.node.dc2.consul").trim(),
            "10.2.0.7"
        );
        assert_eq!(dc1.dig(index, "web.service.consul").trim(), "");
    }

    // A blocking query across the hop returns when dc2 changes, not before.
    let index: u64 = dc1.get(CLIENT, "/v1/kv/where?dc=dc2").unwrap().headers()["x-consul-index"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let url = dc1.url(
        CLIENT,
        &format!("/v1/kv/where?dc=dc2&index={index}&wait=30s&raw"),
    );
    let blocked = std::thread::spawn(move || {
        let started = Instant::now();
        let response = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap()
            .get(url)
            .send()
            .unwrap();
        let index: u64 = response.headers()["x-consul-index"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        (started.elapsed(), index, response.text().unwrap())
    });
    // The query must still be parked before dc2 changes.
    let parked_until = Instant::now() + Duration::from_millis(500);
    while Instant::now() < parked_until {
        assert!(!blocked.is_finished(), "the blocking query returned early");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        dc2.put(0, "/v1/kv/where", "changed"),
        Some((200, "true".to_owned()))
    );
    let (_, new_index, value) = blocked.join().unwrap();
    assert_eq!(value, "changed");
    assert!(new_index > index, "{new_index} <= {index}");

    // A user event for dc2, fired from dc1's client: dc2's agents keep it, dc1's do not.
    assert_eq!(
        dc1.put(CLIENT, "/v1/event/fire/cross?dc=dc2", "v1")
            .map(|r| r.0),
        Some(200)
    );
    dc2.wait_until("the event in dc2", || {
        dc2.get_json(CLIENT, "/v1/event/list?name=cross")
            .is_some_and(|list| list.as_array().is_some_and(|l| l.len() == 1))
    });
    assert_eq!(
        dc1.get_json(0, "/v1/event/list?name=cross"),
        Some(serde_json::json!([]))
    );

    // Unknown datacenters: Consul's answer, from servers and clients, for reads and writes.
    for index in [0, CLIENT] {
        assert_eq!(
            get(&dc1, index, "/v1/kv/where?dc=nowhere"),
            (500, "No path to datacenter".to_owned())
        );
        assert_eq!(
            dc1.put(index, "/v1/kv/where?dc=nowhere", "x"),
            Some((500, "No path to datacenter".to_owned()))
        );
    }
    assert_eq!(dc1.dig(0, "web.service.nowhere.consul").trim(), "");

    // dc2 dies whole: calls for it fail with "No path to datacenter"; dc1 goes on.
    for index in 0..dc2.nodes.len() {
        dc2.kill9(index);
    }
    for index in [0, CLIENT] {
        dc1.wait_until("calls for a dead dc2 fail with no path", || {
            get(&dc1, index, "/v1/kv/where?dc=dc2") == (500, "No path to datacenter".to_owned())
        });
    }
    assert_eq!(
        dc1.put(CLIENT, "/v1/kv/still", "here"),
        Some((200, "true".to_owned()))
    );
    assert_eq!(raw(&dc1, 2, "still", ""), (200, "here".to_owned()));

    // The WAN pool sees dc2's servers fail (`legate members -wan`), and an operator can
    // force one out of it (`legate force-leave -wan`).
    dc1.wait_until("dc2's servers failed in the WAN pool", || {
        let (code, out) = cli(&dc1, 0, &["members", "-wan"]);
        let failed = out
            .lines()
            .filter(|line| line.contains(".dc2") && line.contains("failed"))
            .count();
        code == 0 && failed == 3
    });
    let (code, out) = cli(&dc1, 0, &["force-leave", "-wan", "s3.dc2"]);
    assert_eq!(code, 0, "{out}");
    dc1.wait_until("s3.dc2 left the WAN pool", || {
        let (_, out) = cli(&dc1, 0, &["members", "-wan"]);
        out.lines()
            .any(|line| line.starts_with("s3.dc2") && line.contains("left"))
    });

    // dc2 comes back with its data and rejoins: calls reach it again.
    for index in 0..dc2.nodes.len() {
        dc2.start_node(index);
    }
    dc2.wait_for_leader();
    dc1.wait_until("dc2 reachable again from dc1's client", || {
        raw(&dc1, CLIENT, "where", "&dc=dc2") == (200, "changed".to_owned())
    });
    // The server forced out rejoins with the rest.
    dc1.wait_until("all six servers alive again in the WAN pool", || {
        wan_alive(&dc1, 0).len() == 6
    });
}

/// The RPC requests agent `index` has served for others (`consul.rpc.request`).
fn rpc_requests(cluster: &Cluster, index: usize) -> f64 {
    let Some(response) = cluster.get(index, "/v1/agent/metrics?format=prometheus") else {
        return 0.0;
    };
    let text = response.text().unwrap_or_default();
    text.lines()
        .find_map(|line| line.strip_prefix("consul_rpc_request "))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(0.0)
}

/// Runs `legate <args>` against agent `index`: exit code and output.
fn cli(cluster: &Cluster, index: usize, args: &[&str]) -> (i32, String) {
    let output = std::process::Command::new(crate::harness::legate())
        .args(args)
        .env(
            "CONSUL_HTTP_ADDR",
            format!("{}:8500", cluster.nodes[index].ip),
        )
        .output()
        .unwrap();
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    (output.status.code().unwrap_or(-1), text)
}

/// Status and JSON body of a prepared query's execute on agent `index`.
fn execute(cluster: &Cluster, index: usize, query: &str) -> Option<Value> {
    cluster.get_json(index, &format!("/v1/query/{query}/execute"))
}

#[test]
fn a_prepared_query_fails_over_to_the_other_datacenter_and_back() {
    let (mut dc1, dc2) = two_datacenters();
    // `pay` runs on each datacenter's client agent, registered with that agent.
    for cluster in [&dc1, &dc2] {
        let body = r#"{"Name":"pay","Port":7000}"#;
        assert_eq!(
            cluster
                .put(CLIENT, "/v1/agent/service/register", body)
                .map(|r| r.0),
            Some(200)
        );
    }
    for cluster in [&dc1, &dc2] {
        cluster.wait_until("pay in the catalog", || {
            cluster
                .get_json(0, "/v1/catalog/service/pay")
                .is_some_and(|list| list.as_array().is_some_and(|l| l.len() == 1))
        });
    }
    let query = r#"{"Name":"pay","Service":{"Service":"pay","Failover":{"NearestN":1}},
        "DNS":{"TTL":"5s"}}"#;
    let created = dc1.http_post(0, "/v1/query", query);
    assert_eq!(created.0, 200, "{}", created.1);

    let local_ip = dc1.nodes[CLIENT].ip.to_string();
    let remote_ip = dc2.nodes[CLIENT].ip.to_string();
    let answered_by = |answer: &Value| -> (String, String, u64) {
        (
            answer["Datacenter"].as_str().unwrap_or_default().to_owned(),
            answer["Nodes"][0]["Node"]["Address"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            answer["Failovers"].as_u64().unwrap_or(99),
        )
    };
    // Healthy at home: answered in dc1, over HTTP (server and client) and DNS.
    for index in [1, CLIENT] {
        let answer = execute(&dc1, index, "pay").unwrap();
        assert_eq!(answered_by(&answer), ("dc1".into(), local_ip.clone(), 0));
        assert_eq!(answer["DNS"]["TTL"], "5s");
    }
    assert_eq!(dc1.dig(0, "pay.query.consul").trim(), local_ip);

    // The host of dc1's instance dies: once gossip marks it failed (serfHealth critical),
    // the query answers from dc2, the nearest other datacenter.
    dc1.kill9(CLIENT);
    dc1.wait_until("the query to fail over to dc2", || {
        execute(&dc1, 0, "pay")
            .is_some_and(|answer| answered_by(&answer) == ("dc2".into(), remote_ip.clone(), 1))
    });
    dc1.wait_until("DNS to fail over to dc2", || {
        dc1.dig(1, "pay.query.consul").trim() == remote_ip
    });
    let srv = dc1.dig_type(2, "pay.query.consul", "SRV");
    assert!(srv.contains("7000"), "{srv}");

    // It comes back: answers return home.
    dc1.start_node(CLIENT);
    dc1.wait_until("the query to come back to dc1", || {
        execute(&dc1, 0, "pay")
            .is_some_and(|answer| answered_by(&answer) == ("dc1".into(), local_ip.clone(), 0))
    });
    dc1.wait_until("DNS to come back to dc1", || {
        dc1.dig(2, "pay.query.consul").trim() == local_ip
    });
    // A query that does not exist.
    assert_eq!(
        get(&dc1, 0, "/v1/query/nope/execute"),
        (404, "Query not found".to_owned())
    );
    assert_eq!(dc1.dig(0, "nope.query.consul").trim(), "");
}
