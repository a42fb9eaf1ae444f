//! Gossip membership into the catalog: a killed client is failed everywhere and its services
//! leave `?passing` and DNS; a restarted one rejoins at once; a client that leaves is
//! deregistered.

use crate::harness::Cluster;

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
