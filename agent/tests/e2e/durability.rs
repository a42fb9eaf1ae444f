//! Every acknowledged write survives `kill -9` at any point: writers run concurrently, the
//! server is killed while requests are in flight, restarted from its data directory, and
//! every key that was answered `true` must be there with its value.

use crate::harness::Agent;
use reqwest::blocking::Client;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const WRITERS: usize = 4;

/// Writes unique keys from several threads until `stop`, recording each acknowledged one.
fn write_until_killed(
    agent_url: String,
    round: usize,
    acked: Arc<Mutex<BTreeMap<String, String>>>,
    stop: Arc<AtomicBool>,
) -> Vec<std::thread::JoinHandle<()>> {
    (0..WRITERS)
        .map(|writer| {
            let (url, acked, stop) = (agent_url.clone(), acked.clone(), stop.clone());
            std::thread::spawn(move || {
                let http = Client::builder()
                    .timeout(Duration::from_secs(10))
                    .build()
                    .unwrap();
                let mut i = 0;
                while !stop.load(Ordering::SeqCst) {
                    let key = format!("d/{round}/{writer}/{i:06}");
                    let value = format!("value-{round}-{writer}-{i}");
                    let answer = http
                        .put(format!("{url}/v1/kv/{key}"))
                        .body(value.clone())
                        .send();
                    match answer {
                        Ok(response) if response.status() == 200 => {
                            if response.text().map(|t| t == "true").unwrap_or(false) {
                                acked.lock().unwrap().insert(key, value);
                            }
                        }
                        // Refused or cut off by the kill: not acknowledged, so not promised.
                        _ => std::thread::sleep(Duration::from_millis(5)),
                    }
                    i += 1;
                }
            })
        })
        .collect()
}

fn stored(agent: &Agent) -> BTreeMap<String, String> {
    let http = Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let response = http.get(agent.url("/v1/kv/d/?recurse")).send().unwrap();
    if response.status() == 404 {
        return BTreeMap::new();
    }
    let entries: Vec<Value> = response.json().unwrap();
    entries
        .iter()
        .map(|entry| {
            let key = entry["Key"].as_str().unwrap().to_owned();
            let value = entry["Value"].as_str().unwrap();
            use base64::Engine;
            let value = base64::engine::general_purpose::STANDARD
                .decode(value)
                .unwrap();
            (key, String::from_utf8(value).unwrap())
        })
        .collect()
}

#[test]
fn acknowledged_writes_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    // A low snapshot threshold so the restarts also rebuild from a snapshot plus a log tail.
    let config = dir.path().join("snap.json");
    std::fs::write(
        &config,
        r#"{"raft_snapshot_threshold": 300, "raft_trailing_logs": 50,
            "raft_snapshot_interval": "100ms"}"#,
    )
    .unwrap();
    let mut agent = Agent::server(&[&format!("-config-file={}", config.display())]);
    let acked = Arc::new(Mutex::new(BTreeMap::new()));
    // Kill points: after a few hundred acknowledged writes each round.
    for (round, kill_after) in [150usize, 400, 500].into_iter().enumerate() {
        let before = acked.lock().unwrap().len();
        let stop = Arc::new(AtomicBool::new(false));
        let writers = write_until_killed(agent.addr(), round, acked.clone(), stop.clone());
        while acked.lock().unwrap().len() < before + kill_after {
            std::thread::sleep(Duration::from_millis(2));
        }
        agent.kill9();
        stop.store(true, Ordering::SeqCst);
        for writer in writers {
            writer.join().unwrap();
        }
        agent.start();
        let have = stored(&agent);
        let promised = acked.lock().unwrap().clone();
        let lost: Vec<_> = promised
            .iter()
            .filter(|(key, value)| have.get(*key) != Some(*value))
            .map(|(key, _)| key.clone())
            .collect();
        assert!(
            lost.is_empty(),
            "round {round}: {} of {} acknowledged writes lost, e.g. {:?}",
            lost.len(),
            promised.len(),
            &lost[..lost.len().min(5)]
        );
    }
    assert!(acked.lock().unwrap().len() >= 1000);
    // The restarts really went through a snapshot plus a log tail, not only the log.
    let snapshots = std::fs::read_dir(agent.data_dir.join("raft/snapshots"))
        .unwrap()
        .filter_map(Result::ok)
        .filter(|entry| entry.file_name().to_string_lossy().starts_with("snapshot-"))
        .count();
    assert!(snapshots >= 1, "no snapshot was taken");
}
