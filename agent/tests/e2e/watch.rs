//! Watches and user events against a real agent: `legate watch` with and without a
//! handler, the `watches` of a config file, and `legate event`.

use crate::harness::{cli, legate, Agent};
use serde_json::Value;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const DEADLINE: Duration = Duration::from_secs(60);

/// The JSON lines a handler appended to `path` so far.
fn lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line:?}")))
        .collect()
}

/// Waits until `path` holds `count` JSON lines, and returns them.
fn wait_lines(agent: &Agent, path: &Path, count: usize) -> Vec<Value> {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let seen = lines(path);
        if seen.len() >= count {
            return seen;
        }
        assert!(
            Instant::now() < deadline,
            "{} holds {seen:?}, waited for {count} lines; agent log:\n{}",
            path.display(),
            agent.log_text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn put(agent: &Agent, key: &str, value: &str) {
    let addr = format!("-http-addr=127.0.0.1:{}", agent.http_port);
    let (code, _, err) = cli(&["kv", "put", &addr, key, value]);
    assert_eq!(code, 0, "{err}");
}

struct Watch(Child);

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_watch_runs_its_handler_with_the_json_on_every_change() {
    let agent = Agent::server(&[]);
    let scratch = tempfile::tempdir().unwrap();
    let out = scratch.path().join("out.jsonl");
    let indexes = scratch.path().join("indexes");
    let handler = format!(
        "cat >> {}; echo $CONSUL_INDEX >> {}",
        out.display(),
        indexes.display()
    );
    let _watch = Watch(
        Command::new(legate())
            .args([
                "watch",
                &format!("-http-addr=127.0.0.1:{}", agent.http_port),
                "-type",
                "key",
                "-key",
                "app/config",
                &handler,
            ])
            .stdin(Stdio::null())
            .spawn()
            .unwrap(),
    );
    // Consul fires at once with what is there: nothing yet.
    assert_eq!(wait_lines(&agent, &out, 1), [Value::Null]);

    put(&agent, "app/config", "v1");
    let seen = wait_lines(&agent, &out, 2);
    assert_eq!(seen[1]["Key"], "app/config");
    assert_eq!(seen[1]["Value"], "djE=");
    // Writes elsewhere do not fire it; the next write to the key does.
    put(&agent, "app/other", "x");
    put(&agent, "app/config", "v2");
    let seen = wait_lines(&agent, &out, 3);
    assert_eq!(seen[2]["Value"], "djI=");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(lines(&out).len(), 3, "{:?}", lines(&out));
    let indexes: Vec<u64> = std::fs::read_to_string(&indexes)
        .unwrap()
        .lines()
        .map(|line| line.trim().parse().unwrap())
        .collect();
    assert_eq!(indexes[2], seen[2]["ModifyIndex"].as_u64().unwrap());
    assert!(indexes[1] < indexes[2]);
}

/// Waits until the leader has registered its own node, `consul` service and `serfHealth`.
fn wait_for_catalog(agent: &Agent) {
    let deadline = Instant::now() + DEADLINE;
    let url = agent.url("/v1/health/service/consul?passing");
    while Instant::now() < deadline {
        let passing = reqwest::blocking::get(&url)
            .and_then(|response| response.json::<Value>())
            .ok()
            .and_then(|entries| entries.as_array().map(|entries| !entries.is_empty()));
        if passing == Some(true) {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!(
        "the consul service never passed; log:\n{}",
        agent.log_text()
    );
}

#[test]
fn a_watch_without_a_handler_prints_once_and_a_failing_handler_stops_it() {
    let agent = Agent::server(&[]);
    wait_for_catalog(&agent);
    let addr = format!("-http-addr=127.0.0.1:{}", agent.http_port);
    put(&agent, "k", "hello");
    let (code, out, err) = cli(&["watch", &addr, "-type", "key", "-key", "k"]);
    assert_eq!(code, 0, "{err}");
    let printed: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(printed["Value"], "aGVsbG8=");
    assert!(
        out.starts_with("{\n    \"Key\": \"k\""),
        "indented, Consul's order: {out}"
    );

    let (code, out, _) = cli(&["watch", &addr, "-type", "keyprefix", "-prefix", "none/"]);
    assert_eq!((code, out.trim()), (0, "null"));
    let (code, out, _) = cli(&["watch", &addr, "-type", "services"]);
    assert_eq!(code, 0);
    assert!(
        serde_json::from_str::<Value>(&out).unwrap()["consul"].is_array(),
        "{out}"
    );

    let json = |args: &[&str]| {
        let mut full = vec!["watch", addr.as_str()];
        full.extend_from_slice(args);
        let (code, out, err) = cli(&full);
        assert_eq!(code, 0, "{args:?}: {err}");
        serde_json::from_str::<Value>(&out).unwrap()
    };
    assert_eq!(json(&["-type", "nodes"])[0]["Node"], "e2e-node");
    let entries = json(&[
        "-type",
        "service",
        "-service",
        "consul",
        "-passingonly=true",
    ]);
    assert_eq!(entries[0]["Service"]["Service"], "consul");
    assert!(entries[0]["Checks"].is_array());
    let checks = json(&["-type", "checks", "-state", "any"]);
    assert!(checks
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["CheckID"] == "serfHealth"));
    assert_eq!(
        json(&["-type", "checks", "-service", "nothing"]),
        serde_json::json!([])
    );
    assert_eq!(json(&["-type", "event"]), serde_json::json!([]));

    let (code, _, err) = cli(&["watch", &addr, "-type", "key", "-key", "k", "exit 3"]);
    assert_eq!(
        (code, err.trim()),
        (1, "Error executing handler: exit status 3")
    );
    let (code, _, err) = cli(&["watch", &addr, "-type", "key"]);
    assert_eq!(
        (code, err.trim()),
        (1, "Must specify a single key to watch")
    );
    let (code, _, err) = cli(&["watch", &addr, "-type", "nodes", "-key", "k"]);
    assert_eq!((code, err.trim()), (1, "Invalid parameters: [key]"));
}

#[test]
fn config_file_watches_fire_on_start_and_on_changes() {
    let scratch = tempfile::tempdir().unwrap();
    let key_out = scratch.path().join("key.jsonl");
    let event_out = scratch.path().join("events.jsonl");
    let config = scratch.path().join("watches.json");
    let watches = serde_json::json!({"watches": [
        {"type": "key", "key": "cfg/flag", "handler_type": "script",
         "args": ["sh", "-c", format!("cat >> {}", key_out.display())]},
        {"type": "event", "name": "deploy", "handler": format!("cat >> {}", event_out.display())},
    ]});
    std::fs::write(&config, watches.to_string()).unwrap();
    let agent = Agent::server(&[&format!("-config-file={}", config.display())]);
    let addr = format!("-http-addr=127.0.0.1:{}", agent.http_port);

    assert_eq!(wait_lines(&agent, &key_out, 1), [Value::Null]);
    assert_eq!(wait_lines(&agent, &event_out, 1), [serde_json::json!([])]);
    put(&agent, "cfg/flag", "on");
    assert_eq!(wait_lines(&agent, &key_out, 2)[1]["Value"], "b24=");

    // `legate event` prints the ID; the event watch hands over that event alone.
    let (code, out, err) = cli(&["event", &addr, "-name", "deploy", "v7"]);
    assert_eq!(code, 0, "{err}");
    let id = out
        .trim()
        .strip_prefix("Event ID: ")
        .expect(&out)
        .to_owned();
    assert_eq!(id.len(), 36);
    let (code, _, _) = cli(&["event", &addr, "-name", "other"]);
    assert_eq!(code, 0);
    let events = wait_lines(&agent, &event_out, 2);
    assert_eq!(events[1].as_array().unwrap().len(), 1, "{events:?}");
    assert_eq!(events[1][0]["ID"], id.as_str());
    assert_eq!(events[1][0]["Payload"], "djc=");
    let (code, out, err) = cli(&["event", &addr, "-name", "deploy", "v8"]);
    assert_eq!(code, 0, "{err}");
    let second = out.trim().strip_prefix("Event ID: ").unwrap().to_owned();
    let events = wait_lines(&agent, &event_out, 3);
    assert_eq!(
        events[2].as_array().unwrap().len(),
        1,
        "only the new one: {events:?}"
    );
    assert_eq!(events[2][0]["ID"], second.as_str());
}

#[test]
fn a_bad_config_watch_stops_the_agent_with_consuls_text() {
    let scratch = tempfile::tempdir().unwrap();
    let config = scratch.path().join("bad.json");
    std::fs::write(&config, r#"{"watches": [{"type": "key", "key": "k"}]}"#).unwrap();
    let output = Command::new(legate())
        .args([
            "agent",
            "-dev",
            &format!("-config-file={}", config.display()),
            "-http-port=0",
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(err.contains("Must define a watch handler"), "{err}");
}
