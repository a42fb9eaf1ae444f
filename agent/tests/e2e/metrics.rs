//! `/v1/agent/metrics` on a real agent: the Raft, storage and HTTP metrics move under writes,
//! both forms parse, and `telemetry.disable_metrics` leaves them empty.

use crate::harness::Agent;
use legate_api::testing::exposition::{self, Exposition};
use reqwest::blocking::Client;
use serde_json::Value;
use std::time::{Duration, Instant};

fn prometheus(http: &Client, agent: &Agent) -> Exposition {
    let reply = http
        .get(agent.url("/v1/agent/metrics?format=prometheus"))
        .send()
        .unwrap();
    assert_eq!(reply.status(), 200);
    assert_eq!(
        reply.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    exposition::parse(&reply.text().unwrap()).unwrap_or_else(|error| panic!("{error}"))
}

fn json(http: &Client, agent: &Agent) -> Value {
    let reply = http.get(agent.url("/v1/agent/metrics")).send().unwrap();
    assert_eq!(reply.status(), 200);
    let value: Value = reply.json().unwrap();
    for key in ["Timestamp", "Gauges", "Points", "Counters", "Samples"] {
        assert!(value.get(key).is_some(), "no {key} in {value}");
    }
    value
}

fn count(exposition: &Exposition, name: &str, labels: &[(&str, &str)]) -> f64 {
    exposition.value(name, labels).unwrap_or(0.0)
}

fn put(http: &Client, agent: &Agent, key: &str) {
    let reply = http
        .put(agent.url(&format!("/v1/kv/{key}")))
        .body("value")
        .send()
        .unwrap();
    assert_eq!(reply.status(), 200);
}

#[test]
fn raft_storage_and_http_metrics_move_under_writes() {
    // Snapshots after a few entries, checked often, so that their metrics move too.
    let scratch = tempfile::tempdir().unwrap();
    let config = scratch.path().join("snapshots.json");
    std::fs::write(
        &config,
        r#"{"raft_snapshot_threshold": 10, "raft_snapshot_interval": "100ms"}"#,
    )
    .unwrap();
    let agent = Agent::server(&[&format!("-config-file={}", config.display())]);
    let http = Client::new();
    let before = prometheus(&http, &agent);
    const WRITES: usize = 20;
    for i in 0..WRITES {
        put(&http, &agent, &format!("metrics/{i}"));
    }
    let after = prometheus(&http, &agent);
    let moved = |name: &str| count(&after, name, &[]) - count(&before, name, &[]);
    // One writer at a time: every put is its own entry, appended, fsynced and committed.
    for name in [
        "consul_raft_commitTime_count",
        "consul_raft_apply",
        "consul_raft_leader_dispatchLog_count",
        "consul_raft_fsm_apply_count",
        "legate_raft_log_append_count",
        "legate_raft_log_fsync_count",
    ] {
        assert!(
            moved(name) >= WRITES as f64,
            "{name} moved by {}",
            moved(name)
        );
    }
    assert!(moved("legate_raft_log_fsync_sum") > 0.0);
    let p99 = after
        .value("legate_raft_log_fsync", &[("quantile", "0.99")])
        .unwrap();
    assert!(p99 > 0.0 && p99.is_finite(), "fsync p99 {p99}");
    let kv_puts = [("method", "PUT"), ("path", "v1_kv_")];
    assert!(
        count(&after, "consul_api_http_count", &kv_puts)
            - count(&before, "consul_api_http_count", &kv_puts)
            >= WRITES as f64
    );
    assert!(count(&after, "consul_raft_state_leader", &[]) >= 1.0);
    assert!(count(&after, "consul_raft_last_index", &[]) >= WRITES as f64);
    assert_eq!(after.value("legate_raft_fsync_slow", &[]), Some(0.0));

    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let now = prometheus(&http, &agent);
        if count(&now, "consul_raft_snapshot_persist_count", &[]) >= 1.0 {
            assert!(count(&now, "legate_raft_snapshot_size_sum", &[]) > 0.0);
            break;
        }
        assert!(Instant::now() < deadline, "no snapshot was recorded");
        std::thread::sleep(Duration::from_millis(100));
    }

    // The JSON form shows the last complete 10 s interval: wait for one holding writes.
    let deadline = Instant::now() + Duration::from_secs(30);
    let samples = loop {
        let value = json(&http, &agent);
        let names: Vec<String> = value["Samples"]
            .as_array()
            .unwrap()
            .iter()
            .map(|sample| sample["Name"].as_str().unwrap().to_owned())
            .collect();
        if [
            "consul.raft.commitTime",
            "legate.raft.log.fsync",
            "legate.raft.log.append",
        ]
        .iter()
        .all(|name| names.iter().any(|shown| shown == name))
        {
            break value["Samples"].clone();
        }
        assert!(Instant::now() < deadline, "samples never shown: {value}");
        put(&http, &agent, "metrics/again");
        std::thread::sleep(Duration::from_millis(500));
    };
    let fsync = samples
        .as_array()
        .unwrap()
        .iter()
        .find(|sample| sample["Name"] == "legate.raft.log.fsync")
        .unwrap();
    assert!(fsync["Count"].as_u64().unwrap() >= 1);
    assert!(fsync["Max"].as_f64().unwrap() >= fsync["Min"].as_f64().unwrap());
    assert!(fsync["Labels"].is_object());
}

#[test]
fn disabled_metrics_serve_nothing_in_both_forms() {
    let scratch = tempfile::tempdir().unwrap();
    let config = scratch.path().join("telemetry.json");
    std::fs::write(&config, r#"{"telemetry":{"disable_metrics":true}}"#).unwrap();
    let agent = Agent::server(&[&format!("-config-file={}", config.display())]);
    let http = Client::new();
    put(&http, &agent, "k");
    let value = json(&http, &agent);
    for list in ["Gauges", "Counters", "Samples"] {
        assert_eq!(value[list], serde_json::json!([]), "{list}");
    }
    assert!(prometheus(&http, &agent).samples.is_empty());
}

#[test]
fn a_slow_fsync_raises_the_warning_and_the_gauge() {
    // 80 ms per fsync (`agent/src/fault.rs`): past the 50 ms threshold (half the 100 ms
    // heartbeat) at any p99.
    let faults = tempfile::tempdir().unwrap();
    std::fs::write(faults.path().join("fsync-delay-ms"), "80").unwrap();
    let agent = Agent::server_with(
        None,
        &[],
        &[("LEGATE_FAULT_DIR", faults.path().to_str().unwrap())],
    );
    let http = Client::new();
    // Enough fsyncs for the window to be judged (slow_disk::MIN_SAMPLES is 20).
    for i in 0..25 {
        put(&http, &agent, &format!("slow/{i}"));
    }
    // The check runs every 10 s.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let exposition = prometheus(&http, &agent);
        let log = agent.log_text();
        if exposition.value("legate_raft_fsync_slow", &[]) == Some(1.0) && log.contains("slow disk")
        {
            let p99 = exposition.value("legate_raft_fsync_p99", &[]).unwrap();
            assert!(p99 >= 80.0, "p99 {p99}");
            let warning = log.lines().find(|line| line.contains("slow disk")).unwrap();
            assert!(
                warning.contains(&agent.data_dir.display().to_string()),
                "{warning}"
            );
            assert!(warning.contains("50 ms"), "{warning}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no slow-disk warning; gauge {:?}; log:\n{log}",
            exposition.value("legate_raft_fsync_slow", &[])
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    // Back to a fast disk, the gauge clears once the slow fsyncs have aged out of the
    // minute's window; that takes a minute, so it is left to the unit tests of `slow_disk`.
}
