//! Writes through clients and servers survive `kill -9` of the leader: a new leader is
//! elected, writes succeed again, and no acknowledged write is lost.

use crate::harness::Cluster;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[test]
fn a_write_through_a_client_is_read_on_every_server() {
    let cluster = Cluster::start(3, 2, &[]);
    let client = 3;
    let (status, body) = cluster.put(client, "/v1/kv/greeting", "hello").unwrap();
    assert_eq!((status, body.trim()), (200, "true"));
    for server in 0..3 {
        // Default consistency: served by the leader, forwarded from followers.
        let text = cluster
            .get(server, "/v1/kv/greeting?raw")
            .unwrap()
            .text()
            .unwrap();
        assert_eq!(text, "hello", "server {server}");
        // Stale: each server's own copy, once it has applied the write.
        cluster.wait_until("the write to reach every server's own copy", || {
            cluster
                .get(server, "/v1/kv/greeting?raw&stale")
                .and_then(|response| response.text().ok())
                .is_some_and(|text| text == "hello")
        });
    }
    // Every server reports the same leader and the three voters.
    let leader = cluster.leader_seen_by(0).unwrap();
    for server in 1..5 {
        assert_eq!(
            cluster.leader_seen_by(server).as_deref(),
            Some(leader.as_str())
        );
    }
    let peers = cluster.get_json(4, "/v1/status/peers").unwrap();
    assert_eq!(peers.as_array().unwrap().len(), 3, "{peers}");
    // The catalog holds every member with a passing serfHealth, servers as `consul`.
    cluster.wait_until("all five nodes in the catalog", || {
        cluster
            .get_json(0, "/v1/catalog/nodes")
            .and_then(|nodes| nodes.as_array().map(|nodes| nodes.len()))
            == Some(5)
    });
    let consul = cluster
        .get_json(3, "/v1/health/service/consul?passing")
        .unwrap();
    assert_eq!(consul.as_array().unwrap().len(), 3, "{consul}");
}

#[test]
fn killing_the_leader_loses_no_acknowledged_write() {
    let mut cluster = Cluster::start(3, 2, &[]);
    let acknowledged = Arc::new(Mutex::new(Vec::<String>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let agents: Vec<String> = (0..5).map(|index| cluster.url(index, "")).collect();
    // Writers through every agent, each key unique; only a `true` answer counts as
    // acknowledged. Errors and timeouts are unknown outcomes, not counted either way.
    let writers: Vec<_> = (0..3)
        .map(|writer| {
            let acknowledged = acknowledged.clone();
            let stop = stop.clone();
            let agents = agents.clone();
            std::thread::spawn(move || {
                let http = reqwest::blocking::Client::builder()
                    .timeout(Duration::from_secs(10))
                    .build()
                    .unwrap();
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    let key = format!("w{writer}/{n}");
                    let agent = &agents[(n as usize + writer) % agents.len()];
                    let answer = http
                        .put(format!("{agent}/v1/kv/{key}"))
                        .body(key.clone())
                        .send()
                        .and_then(|response| response.text());
                    if matches!(answer.as_deref(), Ok("true")) {
                        acknowledged.lock().unwrap().push(key);
                    }
                }
            })
        })
        .collect();
    let before = |cluster: &Cluster| {
        cluster.wait_until("writes to flow", || acknowledged.lock().unwrap().len() > 50)
    };
    before(&cluster);
    let old_leader = cluster.leader().expect("a leader");
    cluster.kill9(old_leader);
    let killed_at = Instant::now();
    let count_at_kill = acknowledged.lock().unwrap().len();
    cluster.wait_until("a new leader", || {
        cluster.leader().is_some_and(|leader| leader != old_leader)
    });
    cluster.wait_until("writes to succeed again", || {
        acknowledged.lock().unwrap().len() > count_at_kill + 50
    });
    eprintln!("writes resumed {:?} after the kill", killed_at.elapsed());
    stop.store(true, Ordering::Relaxed);
    for writer in writers {
        writer.join().unwrap();
    }
    let keys = acknowledged.lock().unwrap().clone();
    assert!(
        keys.len() > 100,
        "too few writes to mean anything: {}",
        keys.len()
    );
    // Every acknowledged key, read linearizably from each surviving agent's view.
    let survivor = (0..3).find(|index| *index != old_leader).unwrap();
    let listed = cluster
        .get_json(survivor, "/v1/kv/?keys&consistent")
        .expect("key listing");
    let listed: std::collections::BTreeSet<String> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|key| key.as_str().unwrap().to_owned())
        .collect();
    let lost: Vec<&String> = keys.iter().filter(|key| !listed.contains(*key)).collect();
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged writes lost: {:?}",
        lost.len(),
        keys.len(),
        &lost[..lost.len().min(10)]
    );
    // The old leader comes back with its data, rejoins, and catches up.
    cluster.start_node(old_leader);
    cluster.wait_until("the old leader to catch up", || {
        cluster
            .get_json(old_leader, "/v1/kv/?keys&stale")
            .and_then(|keys| keys.as_array().map(|keys| keys.len()))
            .is_some_and(|count| count >= listed.len())
    });
}

/// The `Stats.raft` figures an agent reports on `/v1/agent/self`: (state, term).
fn raft_state(cluster: &Cluster, index: usize) -> Option<(String, u64)> {
    let own = cluster.get_json(index, "/v1/agent/self")?;
    let raft = &own["Stats"]["raft"];
    Some((
        raft["state"].as_str()?.to_owned(),
        raft["term"].as_str()?.parse().ok()?,
    ))
}

/// A leader killed and started again at once, before its followers give up on it, must not
/// resume its term: with the parallel fsync its disk may lack a tail its followers hold, and
/// resuming would serve reads without that tail and hand its indexes out a second time. It
/// leads again, if at all, only by winning an election in a newer term.
#[test]
fn a_leader_restarted_at_once_leads_again_only_through_a_new_term() {
    let mut cluster = Cluster::start(3, 0, &[]);
    for n in 0..20 {
        let (status, body) = cluster.put(n % 3, &format!("/v1/kv/k{n}"), "v").unwrap();
        assert_eq!((status, body.trim()), (200, "true"));
    }
    let old_leader = cluster.leader().expect("a leader");
    let (state, old_term) = raft_state(&cluster, old_leader).expect("the leader's stats");
    assert_eq!(state, "Leader");
    cluster.kill9(old_leader);
    cluster.start_node(old_leader);
    let mut leading = None;
    cluster.wait_until("a server to lead", || {
        leading = (0..3).find_map(|index| {
            raft_state(&cluster, index)
                .filter(|(state, _)| state == "Leader")
                .map(|(_, term)| (index, term))
        });
        leading.is_some()
    });
    let (leader, term) = leading.unwrap();
    assert!(
        term > old_term,
        "server {leader} leads term {term}, the term {old_leader} led before its restart"
    );
    let keys = cluster
        .get_json(leader, "/v1/kv/?keys&consistent")
        .expect("key listing");
    assert_eq!(keys.as_array().map(Vec::len), Some(20), "{keys}");
}
