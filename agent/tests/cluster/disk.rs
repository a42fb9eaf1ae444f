//! A full disk on a cluster: the server whose data directory fills up steps down, the other
//! two go on taking writes, and once space is freed it catches up, without a restart.

use crate::harness::Cluster;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// A tmpfs mounted over a node's data directory, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(path: &Path, mib: u64) -> Tmpfs {
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mib}m"), "tmpfs"])
            .arg(path)
            .status()
            .expect("mount(8) runs");
        assert!(
            status.success(),
            "mounting a tmpfs needs root (CI runs as root)"
        );
        Tmpfs(path.to_path_buf())
    }

    fn available(&self) -> u64 {
        let output = Command::new("df")
            .args(["--output=avail", "-B1"])
            .arg(&self.0)
            .output()
            .unwrap();
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .nth(1)
            .and_then(|line| line.trim().parse().ok())
            .expect("df prints the free bytes")
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn raft_id(cluster: &Cluster, via: usize, node: &str) -> Option<String> {
    let configuration = cluster.get_json(via, "/v1/operator/raft/configuration")?;
    configuration["Servers"]
        .as_array()?
        .iter()
        .find(|server| server["Node"] == node)
        .and_then(|server| server["ID"].as_str().map(str::to_owned))
}

#[test]
fn a_full_server_steps_down_the_others_go_on_and_it_catches_up() {
    let mut cluster = Cluster::start(3, 0, &[]);
    let leader = cluster.wait_for_leader();
    let full = (0..3).find(|index| *index != leader).unwrap();

    // Move one server's data onto a small file system of its own.
    cluster.kill9(full);
    let data = cluster.nodes[full].data_dir.clone();
    let moved = data.with_extension("moved");
    std::fs::rename(&data, &moved).unwrap();
    std::fs::create_dir(&data).unwrap();
    let disk = Tmpfs::mount(&data, 48);
    let copied = Command::new("cp")
        .arg("-a")
        .arg(format!("{}/.", moved.display()))
        .arg(&data)
        .status()
        .unwrap();
    assert!(copied.success());
    let config = moved.with_extension("disk.json");
    std::fs::write(&config, r#"{"disk_min_free_mb": 8, "disk_ballast_mb": 2}"#).unwrap();
    cluster.nodes[full]
        .extra
        .push(format!("-config-file={}", config.display()));
    cluster.start_node(full);
    cluster.wait_members_alive(&[0, 1, 2]);

    // Make it the leader.
    let name = cluster.nodes[full].name.clone();
    cluster.wait_until("the moved server to lead", || {
        if cluster.leader() == Some(full) {
            return true;
        }
        if let (Some(via), Some(id)) = (cluster.leader(), raft_id(&cluster, 0, &name)) {
            let url = cluster.url(via, &format!("/v1/operator/raft/transfer-leader?id={id}"));
            let _ = reqwest::blocking::Client::new().post(url).send();
        }
        false
    });
    let (status, _) = cluster.put(full, "/v1/kv/before", "1").unwrap();
    assert_eq!(status, 200);

    // Something else fills its disk.
    let filler = data.join("filler");
    let room = disk.available().saturating_sub(4 << 20);
    let filled = Command::new("fallocate")
        .args(["-l", &room.to_string()])
        .arg(&filler)
        .status()
        .unwrap();
    assert!(filled.success());

    // It hands leadership over; the others go on taking writes, through any server.
    cluster.wait_until("another server to lead", || {
        cluster.leader().is_some_and(|leader| leader != full)
    });
    let others: Vec<usize> = (0..3).filter(|index| *index != full).collect();
    for n in 0..20 {
        let via = others[n % 2];
        let (status, body) = cluster
            .put(via, &format!("/v1/kv/during/{n}"), "x")
            .unwrap();
        assert_eq!(
            (status, body.trim()),
            (200, "true"),
            "write {n} through {via}"
        );
    }
    // Still answering reads from memory, and honest that it is not the leader.
    let stale = cluster.get(full, "/v1/kv/before?stale&raw").unwrap();
    assert_eq!(stale.text().unwrap(), "1");
    let log = std::fs::read_to_string(&cluster.nodes[full].log).unwrap();
    assert!(log.contains("disk full: "), "{log}");
    assert!(
        log.contains("handing leadership to another server"),
        "{log}"
    );

    // Space returns: it catches up by itself.
    std::fs::remove_file(&filler).unwrap();
    cluster.wait_until("the full server to catch up", || {
        cluster
            .get(full, "/v1/kv/during/19?stale&raw")
            .is_some_and(|reply| reply.status() == 200)
    });
    let (status, body) = cluster.put(full, "/v1/kv/after", "y").unwrap();
    assert_eq!((status, body.trim()), (200, "true"));
    drop(disk);
}

/// Restarts server `index` able to take injected disk faults from `faults` (see the agent's
/// `fault` module), and makes it lead.
fn lead_with_faults(cluster: &mut Cluster, index: usize, faults: &Path) {
    cluster.kill9(index);
    cluster.nodes[index]
        .env
        .push(("LEGATE_FAULT_DIR".to_owned(), faults.display().to_string()));
    cluster.start_node(index);
    cluster.wait_members_alive(&[0, 1, 2]);
    let name = cluster.nodes[index].name.clone();
    cluster.wait_until("the restarted server to lead", || {
        if cluster.leader() == Some(index) {
            return true;
        }
        if let (Some(via), Some(id)) = (cluster.leader(), raft_id(cluster, 0, &name)) {
            let url = cluster.url(via, &format!("/v1/operator/raft/transfer-leader?id={id}"));
            let _ = reqwest::blocking::Client::new().post(url).send();
        }
        false
    });
}

#[test]
fn a_leader_whose_fsyncs_are_slow_hands_leadership_over() {
    let faults = tempfile::tempdir().unwrap();
    let mut cluster = Cluster::start(3, 0, &[]);
    let slow = cluster.wait_for_leader();
    lead_with_faults(&mut cluster, slow, faults.path());
    // Its disk turns slow: 80 ms on every fsync, past half a heartbeat interval.
    std::fs::write(faults.path().join("fsync-delay-ms"), "80").unwrap();
    let mut n = 0;
    cluster.wait_until("leadership to leave the slow server", || {
        n += 1;
        let _ = cluster.put(slow, &format!("/v1/kv/load/{n}"), "x");
        cluster.leader().is_some_and(|leader| leader != slow)
    });
    let log = std::fs::read_to_string(&cluster.nodes[slow].log).unwrap();
    assert!(log.contains("disk is slow"), "{log}");
    // The new leader's autopilot health has every server's verdict, and names the slow
    // disk. (Not "only that one": on a loaded CI machine sharing one disk, another server's
    // fsync p99 may honestly cross the threshold too.)
    let name = cluster.nodes[slow].name.clone();
    cluster.wait_until("autopilot health to show the slow disk", || {
        let Some(health) = cluster.get_json(0, "/v1/operator/autopilot/health") else {
            return false;
        };
        let servers = health["Servers"].as_array().cloned().unwrap_or_default();
        servers.len() == 3
            && servers.iter().all(|server| server["DiskSlow"].is_boolean())
            && servers.iter().any(|server| {
                server["Name"] == name.as_str()
                    && server["DiskSlow"] == true
                    && server["FsyncP99"].is_string()
            })
    });
    // The cluster takes writes at full speed through the new leader.
    let leader = cluster.wait_for_leader();
    let (status, body) = cluster.put(leader, "/v1/kv/after", "y").unwrap();
    assert_eq!((status, body.trim()), (200, "true"));
}

/// The leader's fsync runs while its entries travel to the followers, and openraft counts the
/// leader's copy before that fsync ends: a write must still not be acknowledged when the
/// leader's fsync fails, even though a follower holds it durably.
#[test]
fn a_leader_whose_fsync_fails_acknowledges_nothing_exits_and_loses_nothing() {
    let faults = tempfile::tempdir().unwrap();
    let mut cluster = Cluster::start(3, 0, &[]);
    let failing = cluster.wait_for_leader();
    lead_with_faults(&mut cluster, failing, faults.path());
    let mut acknowledged = Vec::new();
    for n in 0..20 {
        let key = format!("before/{n}");
        let (status, body) = cluster.put(failing, &format!("/v1/kv/{key}"), "v").unwrap();
        assert_eq!((status, body.trim()), (200, "true"));
        acknowledged.push(key);
    }
    std::fs::write(faults.path().join("fsync-eio"), "").unwrap();
    for n in 0..5 {
        let answer = cluster.put(failing, &format!("/v1/kv/during/{n}"), "v");
        assert!(
            answer.as_ref().is_none_or(|(status, _)| *status != 200),
            "a write was acknowledged although the leader's fsync failed: {answer:?}"
        );
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        let child = cluster.nodes[failing].child.as_mut().unwrap();
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "the failing server kept running");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(!status.success(), "a storage failure must exit non-zero");
    let log = std::fs::read_to_string(&cluster.nodes[failing].log).unwrap();
    assert!(
        log.contains("storage failed and cannot be trusted"),
        "{log}"
    );
    // The other two elect a leader that holds every acknowledged write, and go on.
    cluster.wait_until("another server to lead", || {
        cluster.leader().is_some_and(|leader| leader != failing)
    });
    let leader = cluster.wait_for_leader();
    for key in &acknowledged {
        let value = cluster
            .get(leader, &format!("/v1/kv/{key}?raw&consistent"))
            .and_then(|response| response.text().ok());
        assert_eq!(value.as_deref(), Some("v"), "{key}");
    }
    let (status, body) = cluster.put(leader, "/v1/kv/after", "y").unwrap();
    assert_eq!((status, body.trim()), (200, "true"));
}
