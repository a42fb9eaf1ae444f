//! Network coordinates end to end: gossip measures them, agents report them, the leader
//! batches them into the catalog; `?near=` sorts by them, and the WAN pool's order the
//! datacenters, a slow link (a delay on one datacenter's WAN packets) put last.

use crate::harness::Cluster;
use serde_json::Value;

const CLIENT: usize = 3;

fn names(list: &Value, field: &str) -> Vec<String> {
    list.as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|item| item[field].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn every_agent_reports_its_coordinate_and_near_sorts_by_it() {
    let cluster = Cluster::start(3, 1, &[]);
    cluster.wait_until("all four coordinates in the catalog", || {
        let Some(list) = cluster.get_json(CLIENT, "/v1/coordinate/nodes") else {
            return false;
        };
        let mut found = names(&list, "Node");
        found.sort();
        found == ["c4", "s1", "s2", "s3"]
    });
    let list = cluster.get_json(0, "/v1/coordinate/nodes").unwrap();
    for entry in list.as_array().unwrap() {
        let coord = &entry["Coord"];
        assert_eq!(coord["Vec"].as_array().unwrap().len(), 8, "{entry}");
        assert!(coord["Error"].as_f64().unwrap() > 0.0, "{entry}");
        assert!(coord["Height"].as_f64().unwrap() > 0.0, "{entry}");
        assert_eq!(entry["Segment"], "");
    }
    // One node, and a node without a coordinate.
    let one = cluster.get_json(1, "/v1/coordinate/node/c4").unwrap();
    assert_eq!(names(&one, "Node"), ["c4"]);
    let missing = cluster.get(1, "/v1/coordinate/node/ghost").unwrap();
    assert_eq!(missing.status().as_u16(), 404);
    // The agent's own coordinate.
    let me = cluster.get_json(CLIENT, "/v1/agent/self").unwrap();
    assert_eq!(me["Coord"]["Vec"].as_array().unwrap().len(), 8);
    assert_eq!(me["DebugConfig"]["DisableCoordinates"], false);

    // Three external nodes far from the agents (which sit near the origin), with
    // coordinates written by hand as consul-esm writes them, and a service on each.
    for (node, x, address) in [
        ("ext-a", 1.0, "10.9.0.1"),
        ("ext-b", 1.1, "10.9.0.2"),
        ("ext-c", 1.5, "10.9.0.3"),
    ] {
        let register = format!(
            r#"{{"Node":"{node}","Address":"{address}","Service":{{"Service":"ext","ID":"ext-{node}"}}}}"#
        );
        assert_eq!(
            cluster.put(0, "/v1/catalog/register", &register),
            Some((200, "true".to_owned()))
        );
        let update = format!(
            r#"{{"Node":"{node}","Coord":{{"Vec":[{x},0,0,0,0,0,0,0],"Error":0.1,"Adjustment":0,"Height":0.0001}}}}"#
        );
        assert_eq!(
            cluster.put(CLIENT, "/v1/coordinate/update", &update),
            Some((200, "true".to_owned()))
        );
    }
    cluster.wait_until("the hand-written coordinates in the catalog", || {
        cluster
            .get(0, "/v1/coordinate/node/ext-c")
            .is_some_and(|response| response.status().is_success())
    });
    // Nearest to ext-b: itself, then ext-a (0.1 s away), ext-c (0.4 s), then the agents.
    let nodes = cluster
        .get_json(CLIENT, "/v1/catalog/nodes?near=ext-b")
        .unwrap();
    assert_eq!(names(&nodes, "Node")[..3], ["ext-b", "ext-a", "ext-c"]);
    let entries = cluster
        .get_json(1, "/v1/health/service/ext?near=ext-c")
        .unwrap();
    let order: Vec<&str> = entries
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| entry["Node"]["Node"].as_str().unwrap())
        .collect();
    assert_eq!(order, ["ext-c", "ext-b", "ext-a"]);
    let instances = cluster
        .get_json(2, "/v1/catalog/service/ext?near=ext-a")
        .unwrap();
    assert_eq!(names(&instances, "Node"), ["ext-a", "ext-b", "ext-c"]);
    // `_agent` is the asking agent, near the origin: the far nodes come last.
    for index in [0, CLIENT] {
        let nodes = cluster
            .get_json(index, "/v1/catalog/nodes?near=_agent")
            .unwrap();
        assert_eq!(names(&nodes, "Node")[4..], ["ext-a", "ext-b", "ext-c"]);
    }
    // A prepared query near `_ip` over DNS: the asker is the EDNS client subnet a resolver
    // passes on (here dig's `+subnet`), so the node with that address comes first and the
    // rest by distance from it.
    let query = r#"{"Name":"ext-near-ip","Service":{"Service":"ext","Near":"_ip"}}"#;
    let (status, body) = cluster.http_post(0, "/v1/query", query);
    assert_eq!(status, 200, "{body}");
    for index in [0, CLIENT] {
        for (subnet, want) in [
            ("+subnet=10.9.0.3/32", ["10.9.0.3", "10.9.0.2", "10.9.0.1"]),
            ("+subnet=10.9.0.1/32", ["10.9.0.1", "10.9.0.2", "10.9.0.3"]),
        ] {
            let answer = cluster.dig_with(index, &[subnet], "ext-near-ip.query.consul", "A");
            let order: Vec<&str> = answer.lines().collect();
            assert_eq!(order, want, "asked {index} with {subnet}");
        }
    }

    // Without a coordinate for the `near` node, the order is the catalog's.
    let plain = cluster.get_json(0, "/v1/catalog/nodes").unwrap();
    let unsorted = cluster.get_json(0, "/v1/catalog/nodes?near=ghost").unwrap();
    assert_eq!(names(&plain, "Node"), names(&unsorted, "Node"));

    // A malformed coordinate is refused.
    let short = r#"{"Node":"s1","Coord":{"Vec":[0.5],"Error":0.1,"Height":0.0001}}"#;
    assert_eq!(
        cluster.put(0, "/v1/coordinate/update", short).map(|r| r.0),
        Some(400)
    );
}

#[test]
fn datacenters_are_listed_by_round_trip_and_a_slow_one_comes_last() {
    // Three datacenters of one server; "slow" sends its WAN packets 40 ms late. By name it
    // would sort between the other two.
    let east = Cluster::start(1, 0, &["-datacenter=east"]);
    let join = format!("-retry-join-wan={}", east.nodes[0].ip);
    let west = Cluster::start(1, 0, &["-datacenter=west", &join]);
    let faults = tempfile::tempdir().unwrap();
    std::fs::write(faults.path().join("wan-delay-ms"), "40").unwrap();
    let fault_dir = faults.path().display().to_string();
    let slow = Cluster::start_with_env(
        1,
        0,
        &["-datacenter=slow", &join],
        &[("LEGATE_FAULT_DIR", &fault_dir)],
    );
    // The coordinates learn the slow link: `legate rtt -wan` (computed from the WAN
    // coordinates as `consul rtt` does) puts it near 40 ms, the others near nothing.
    east.wait_until("the WAN coordinates to see the slow link", || {
        let to_slow = rtt_ms(&east, &["s1.east", "s1.slow"]);
        let to_west = rtt_ms(&east, &["s1.east", "s1.west"]);
        matches!((to_slow, to_west), (Some(slow), Some(west)) if slow > 25.0 && west < 10.0)
    });
    // With the RTTs apart, the datacenters are listed nearest first.
    for (cluster, want) in [
        (&east, ["east", "west", "slow"]),
        (&west, ["west", "east", "slow"]),
    ] {
        cluster.wait_until("datacenters ordered by round trip", || {
            cluster.get_json(0, "/v1/catalog/datacenters") == Some(serde_json::json!(want))
        });
    }
    let (code, out) = cli(&east, &["rtt", "-wan", "s1.slow"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.starts_with("Estimated s1.slow <-> s1.east rtt: "),
        "{out}"
    );
    assert!(out.ends_with(" ms (using WAN coordinates)\n"), "{out}");
    // The WAN coordinates behind the order, one entry per datacenter.
    let maps = east.get_json(0, "/v1/coordinate/datacenters").unwrap();
    assert_eq!(names(&maps, "Datacenter"), ["east", "slow", "west"]);
    for map in maps.as_array().unwrap() {
        assert_eq!(map["AreaID"], "wan");
        let dc = map["Datacenter"].as_str().unwrap();
        assert_eq!(names(&map["Coordinates"], "Node"), [format!("s1.{dc}")]);
    }
    // From the slow datacenter everyone is far; it still lists itself first.
    let known = slow.get_json(0, "/v1/catalog/datacenters").unwrap();
    assert_eq!(known[0], "slow");
}

/// Runs `legate <args> -http-addr=<agent 0>`: exit code and standard output (or error).
fn cli(cluster: &Cluster, args: &[&str]) -> (i32, String) {
    let addr = format!("-http-addr={}:8500", cluster.nodes[0].ip);
    let output = std::process::Command::new(crate::harness::legate())
        .arg(args[0])
        .arg(&addr)
        .args(&args[1..])
        .output()
        .unwrap();
    let text = if output.status.success() {
        output.stdout
    } else {
        output.stderr
    };
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&text).into_owned(),
    )
}

/// The milliseconds `legate rtt -wan a b` estimates, when it can.
fn rtt_ms(cluster: &Cluster, nodes: &[&str]) -> Option<f64> {
    let mut args = vec!["rtt", "-wan"];
    args.extend(nodes);
    let (code, out) = cli(cluster, &args);
    if code != 0 {
        return None;
    }
    out.split("rtt: ").nth(1)?.split(' ').next()?.parse().ok()
}
