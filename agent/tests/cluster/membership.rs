//! Gossip membership into the catalog: a killed client is failed everywhere and its services
//! leave `?passing` and DNS; a restarted one rejoins at once; a client that leaves is
//! deregistered; an agent restarted rejoins the members its snapshot names, and one that
//! left records it.

use crate::harness::Cluster;
use std::time::Duration;

fn serf_health(cluster: &Cluster, viewer: usize, node: &str) -> Option<String> {
    let checks = cluster.get_json(viewer, &format!("/v1/health/node/{node}"))?;
    checks
        .as_array()?
        .iter()
        .find(|check| check["CheckID"] == "serfHealth")
        .and_then(|check| check["Status"].as_str().map(str::to_owned))
}

fn passing_nodes(cluster: &Cluster, viewer: usize, service: &str) -> Vec<String> {
    cluster
        .get_json(viewer, &format!("/v1/health/service/{service}?passing"))
        .and_then(|entries| {
            entries.as_array().map(|entries| {
                entries
                    .iter()
                    .map(|entry| {
                        entry["Node"]["Node"]
                            .as_str()
                            .unwrap_or_default()
                            .to_owned()
                    })
                    .collect()
            })
        })
        .unwrap_or_default()
}

#[test]
fn a_killed_client_fails_everywhere_and_a_restarted_one_rejoins() {
    let mut cluster = Cluster::start(3, 2, &[]);
    let client = 4;
    let name = cluster.nodes[client].name.clone();
    let (status, _) = cluster
        .put(
            client,
            "/v1/agent/service/register",
            r#"{"Name":"web","Port":80,"Check":{"TTL":"300s"}}"#,
        )
        .unwrap();
    assert_eq!(status, 200);
    let (status, _) = cluster
        .put(client, "/v1/agent/check/pass/service:web", "")
        .unwrap();
    assert_eq!(status, 200);
    cluster.wait_until("web passing on the client's node", || {
        passing_nodes(&cluster, 0, "web") == [name.clone()]
    });
    let address = cluster.nodes[client].ip.to_string();
    cluster.wait_until("web in DNS", || {
        cluster.dig(1, "web.service.consul").trim() == address
    });

    cluster.kill9(client);
    cluster.wait_until("every agent to see the client failed", || {
        cluster.live().all(|viewer| {
            cluster
                .members_seen_by(viewer)
                .iter()
                .any(|(member, status)| *member == name && *status == 4)
        })
    });
    cluster.wait_until("serfHealth critical on every server", || {
        (0..3).all(|server| serf_health(&cluster, server, &name).as_deref() == Some("critical"))
    });
    assert!(passing_nodes(&cluster, 3, "web").is_empty());
    cluster.wait_until("web to leave DNS", || {
        cluster.dig(0, "web.service.consul").trim().is_empty()
    });

    cluster.start_node(client);
    cluster.wait_members_alive(&[client]);
    cluster.wait_until("serfHealth passing again", || {
        serf_health(&cluster, 0, &name).as_deref() == Some("passing")
    });
    // Its service was kept by the agent and is passing again once the TTL is renewed.
    cluster.wait_until("the restarted client to answer", || {
        cluster
            .put(client, "/v1/agent/check/pass/service:web", "")
            .is_some_and(|(status, _)| status == 200)
    });
    cluster.wait_until("web passing again", || {
        passing_nodes(&cluster, 2, "web") == [name.clone()]
    });
}

#[test]
fn a_client_that_leaves_is_deregistered() {
    let mut cluster = Cluster::start(3, 1, &[]);
    let client = 3;
    let name = cluster.nodes[client].name.clone();
    cluster.wait_until("the client in the catalog", || {
        serf_health(&cluster, 0, &name).as_deref() == Some("passing")
    });
    // Clients leave on SIGTERM by default (leave_on_terminate).
    cluster.terminate(client);
    cluster.wait_until("the client to be left everywhere", || {
        (0..3).all(|viewer| {
            cluster
                .members_seen_by(viewer)
                .iter()
                .any(|(member, status)| *member == name && *status == 3)
        })
    });
    cluster.wait_until("the client's node to be deregistered", || {
        cluster
            .get(0, &format!("/v1/catalog/node/{name}"))
            .and_then(|response| response.json::<serde_json::Value>().ok())
            .is_some_and(|node| node.is_null())
    });
}

#[test]
fn a_restarted_agent_rejoins_the_members_its_snapshot_names() {
    // s1 is every agent's join address, its own included: restarted, it can only learn of
    // the others from its snapshot, or when they next announce themselves to members they
    // think down (every 30 s).
    let mut cluster = Cluster::start(3, 1, &[]);
    let name = cluster.nodes[0].name.clone();
    let snapshot = cluster.nodes[0].data_dir.join("serf/local.snapshot");
    cluster.wait_until("s1's snapshot to name every other member", || {
        let text = std::fs::read_to_string(&snapshot).unwrap_or_default();
        cluster.nodes[1..]
            .iter()
            .all(|node| text.contains(&format!("alive: {} {}:", node.name, node.ip)))
    });
    cluster.kill9(0);
    cluster.wait_until("the others to see s1 failed", || {
        cluster.live().all(|viewer| {
            cluster
                .members_seen_by(viewer)
                .iter()
                .any(|(member, status)| *member == name && *status == 4)
        })
    });
    cluster.start_node(0);
    cluster.wait_until_within(
        "the restarted s1 to see every member alive",
        Duration::from_secs(10),
        || {
            let seen = cluster.members_seen_by(0);
            cluster.nodes.iter().all(|node| {
                seen.iter()
                    .any(|(member, status)| *member == node.name && *status == 1)
            })
        },
    );
    assert!(
        cluster
            .logs()
            .contains("rejoined through 3 of 3 previously known members"),
        "s1 rejoined through its snapshot\n{}",
        cluster.logs()
    );
}

#[test]
fn an_agent_that_leaves_records_it_and_forgets_whom_to_rejoin() {
    let mut cluster = Cluster::start(1, 1, &[]);
    let client = 1;
    let snapshot = cluster.nodes[client].data_dir.join("serf/local.snapshot");
    cluster.wait_until("the client's snapshot to name the server", || {
        std::fs::read_to_string(&snapshot)
            .unwrap_or_default()
            .contains("alive: s1 ")
    });
    cluster.terminate(client);
    let text = std::fs::read_to_string(&snapshot).unwrap();
    assert!(text.ends_with("leave\n"), "{text}");
    assert!(legate_gossip::snapshot::replay(&text, false).is_empty());
    assert_eq!(
        legate_gossip::snapshot::replay(&text, true).len(),
        1,
        "{text}"
    );
}

#[test]
fn a_leader_restarted_knowing_nobody_deregisters_no_one() {
    // The server forgets whom it knew (no snapshot), restarts, and leads at once while its
    // gossip knows only itself; the client finds it again only when it next announces
    // itself to members it thinks down. Meanwhile the client's node, and the session it
    // holds, must stay.
    let mut cluster = Cluster::start(1, 1, &[]);
    let client = 1;
    let name = cluster.nodes[client].name.clone();
    cluster.wait_until("the client in the catalog", || {
        serf_health(&cluster, 0, &name).as_deref() == Some("passing")
    });
    let (status, body) = cluster.put(client, "/v1/session/create", "{}").unwrap();
    assert_eq!(status, 200, "{body}");
    let session: serde_json::Value = serde_json::from_str(&body).unwrap();
    let session = session["ID"].as_str().unwrap().to_owned();
    let snapshot = cluster.nodes[0].data_dir.join("serf/local.snapshot");
    cluster.wait_until("the server's snapshot", || snapshot.exists());
    cluster.kill9(0);
    std::fs::remove_file(&snapshot).unwrap();
    cluster.start_node(0);
    cluster.wait_for_leader();
    cluster.wait_until("the server to see the client alive again", || {
        cluster
            .members_seen_by(0)
            .iter()
            .any(|(member, status)| *member == name && *status == 1)
    });
    let info = cluster
        .get_json(0, &format!("/v1/session/info/{session}"))
        .unwrap();
    assert_eq!(info.as_array().map(Vec::len), Some(1), "{info}");
}
