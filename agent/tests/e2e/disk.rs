//! A full disk (issue: disks as a failure domain): a server whose data directory fills up
//! refuses writes with a clear error, keeps answering reads, keeps every acknowledged write,
//! and takes writes again by itself once space returns, without a restart.
//!
//! The data directory is a small tmpfs the test mounts (the tests run as root, as CI does).

use crate::harness::Agent;
use reqwest::blocking::Client;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// A tmpfs mounted for the test, unmounted when dropped.
struct Tmpfs {
    path: PathBuf,
    _dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(mib: u64) -> Tmpfs {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_path_buf();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mib}m"), "tmpfs"])
            .arg(&path)
            .status()
            .expect("mount(8) runs");
        assert!(
            status.success(),
            "mounting a tmpfs needs root (CI runs as root)"
        );
        Tmpfs { path, _dir: dir }
    }

    fn resize(&self, mib: u64) {
        let status = Command::new("mount")
            .args(["-o", &format!("remount,size={mib}m")])
            .arg(&self.path)
            .status()
            .unwrap();
        assert!(status.success());
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

fn put(http: &Client, agent: &Agent, key: &str, value: &[u8]) -> (u16, String) {
    match http
        .put(agent.url(&format!("/v1/kv/{key}")))
        .body(value.to_vec())
        .send()
    {
        Ok(reply) => (reply.status().as_u16(), reply.text().unwrap_or_default()),
        Err(error) => (0, error.to_string()),
    }
}

fn stored(http: &Client, agent: &Agent, key: &str, query: &str) -> Option<Vec<u8>> {
    let reply = http
        .get(agent.url(&format!("/v1/kv/{key}?raw&{query}")))
        .send()
        .ok()?;
    (reply.status() == 200).then(|| reply.bytes().unwrap().to_vec())
}

fn config(dir: &Path) -> String {
    let path = dir.join("disk.json");
    std::fs::write(&path, r#"{"disk_min_free_mb": 6, "disk_ballast_mb": 2}"#).unwrap();
    format!("-config-file={}", path.display())
}

#[test]
fn a_full_data_directory_refuses_writes_keeps_reads_and_recovers_without_a_restart() {
    let disk = Tmpfs::mount(28);
    let scratch = tempfile::tempdir().unwrap();
    let config = config(scratch.path());
    let mut agent = Agent::server_at(Some(disk.path.join("data")), &[&config]);
    let http = Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let value = vec![b'x'; 4096];
    let mut acknowledged = Vec::new();
    let refusal = loop {
        let key = format!("fill/{:06}", acknowledged.len());
        let (status, text) = put(&http, &agent, &key, &value);
        match (status, text.trim()) {
            (200, "true") => acknowledged.push(key),
            (500, text) if text.starts_with("disk full: ") => break text.to_owned(),
            other => panic!(
                "unexpected answer {other:?} after {} writes\n{}",
                acknowledged.len(),
                agent.log_text()
            ),
        }
        assert!(acknowledged.len() < 20_000, "the disk never filled");
    };
    assert!(
        refusal.contains(&disk.path.display().to_string()),
        "{refusal}"
    );
    assert!(
        acknowledged.len() > 100,
        "refused too early: {}",
        acknowledged.len()
    );
    // Refused every time while full, with the reason; nothing of it applied.
    let (status, text) = put(&http, &agent, "refused/one", b"x");
    assert_eq!(status, 500);
    assert!(text.starts_with("disk full: "), "{text}");
    // Reads go on, stale and default alike, and the status endpoints tell the truth.
    for key in acknowledged.iter().step_by(97) {
        assert_eq!(
            stored(&http, &agent, key, "stale").as_deref(),
            Some(&value[..])
        );
        assert_eq!(stored(&http, &agent, key, "").as_deref(), Some(&value[..]));
    }
    assert_eq!(stored(&http, &agent, "refused/one", "stale"), None);
    let leader = http.get(agent.url("/v1/status/leader")).send().unwrap();
    assert!(
        leader.text().unwrap().contains(':'),
        "a lone server still leads"
    );
    assert!(agent.log_text().contains("disk full: "));

    // Space returns: writes resume by themselves.
    disk.resize(64);
    let grown = Instant::now();
    let deadline = grown + Duration::from_secs(60);
    loop {
        let (status, text) = put(&http, &agent, "after/first", b"back");
        if (status, text.trim()) == (200, "true") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "writes never resumed: {status} {text}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    eprintln!(
        "first write acknowledged {:?} after the disk grew",
        grown.elapsed()
    );
    // Every acknowledged write is there, once, and survives a kill -9.
    agent.kill9();
    agent.start();
    let listed: serde_json::Value = http
        .get(agent.url("/v1/kv/fill/?keys"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(listed.as_array().unwrap().len(), acknowledged.len());
    for key in &acknowledged {
        assert_eq!(
            stored(&http, &agent, key, "").as_deref(),
            Some(&value[..]),
            "{key}"
        );
    }
    assert_eq!(
        stored(&http, &agent, "after/first", "").as_deref(),
        Some(&b"back"[..])
    );
}

/// Waits for the agent process to exit by itself and returns its status.
fn wait_exit(agent: &mut Agent, within: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = agent.child.as_mut().unwrap().try_wait().unwrap() {
            agent.child = None;
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "the agent kept running:\n{}",
            agent.log_text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn an_fsync_error_is_never_acknowledged_and_stops_the_agent_with_the_reason() {
    let faults = tempfile::tempdir().unwrap();
    let fault_dir = faults.path().display().to_string();
    let mut agent = Agent::server_with(None, &[], &[("LEGATE_FAULT_DIR", fault_dir.as_str())]);
    let http = Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let mut acknowledged = Vec::new();
    for n in 0..50 {
        let key = format!("before/{n}");
        assert_eq!(put(&http, &agent, &key, b"v"), (200, "true".to_owned()));
        acknowledged.push(key);
    }
    // The disk starts failing every fsync.
    std::fs::write(faults.path().join("fsync-eio"), "").unwrap();
    let mut answers = Vec::new();
    for n in 0..5 {
        answers.push(put(&http, &agent, &format!("during/{n}"), b"v"));
    }
    assert!(
        answers.iter().all(|(status, _)| *status != 200),
        "a write was acknowledged although its fsync failed: {answers:?}"
    );
    let status = wait_exit(&mut agent, Duration::from_secs(30));
    assert!(!status.success(), "a storage failure must exit non-zero");
    let log = agent.log_text();
    assert!(
        log.contains("storage failed and cannot be trusted"),
        "{log}"
    );
    // The disk works again: every acknowledged write is there after a restart.
    std::fs::remove_file(faults.path().join("fsync-eio")).unwrap();
    agent.start();
    for key in &acknowledged {
        assert_eq!(
            stored(&http, &agent, key, "").as_deref(),
            Some(&b"v"[..]),
            "{key}"
        );
    }
    assert_eq!(put(&http, &agent, "after", b"v"), (200, "true".to_owned()));
}
