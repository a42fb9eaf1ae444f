//! The faults and their seeded schedule.

use crate::harness::Cluster;
use crate::workload::Rng;
use std::process::Command;
use std::time::Duration;

#[derive(Clone, Copy, Debug)]
pub enum Fault {
    /// `kill -9` of the leader, restarted after `down`.
    KillLeader { down: Duration },
    /// `kill -9` of server `index` (leader or not), restarted after `down`.
    KillServer { index: usize, down: Duration },
    /// SIGSTOP of the leader for `paused`, longer than the election timeout, then SIGCONT:
    /// it wakes believing it still leads.
    PauseLeader { paused: Duration },
    /// The leader cut off from every other agent (gossip, RPC, forwarding) for `cut`, while
    /// the clients still reach it: the minority side must acknowledge no write and serve no
    /// stale default read. Loopback nftables rules on the cluster's own addresses, so no
    /// network namespace is needed and clusters of other tests are untouched.
    IsolateLeader { cut: Duration },
    /// Every fsync of the leader delayed by `delay` for `lasting`: its commits wait on its
    /// own disk while the followers' acks arrive (the parallel fsync's gates), and a long
    /// enough spell hands leadership away.
    SlowLeaderDisk { delay: Duration, lasting: Duration },
}

pub struct Schedule {
    rng: Rng,
}

impl Schedule {
    pub fn new(seed: u64) -> Schedule {
        Schedule {
            rng: Rng::new(seed),
        }
    }

    fn millis(&mut self, from: u64, to: u64) -> Duration {
        Duration::from_millis(from + self.rng.below(to - from))
    }

    pub fn next_fault(&mut self) -> Fault {
        match self.rng.below(5) {
            0 => Fault::KillLeader {
                down: self.millis(300, 2_000),
            },
            1 => Fault::KillServer {
                index: self.rng.below(3) as usize,
                down: self.millis(300, 2_000),
            },
            2 => Fault::PauseLeader {
                paused: self.millis(1_000, 3_000),
            },
            3 => Fault::IsolateLeader {
                cut: self.millis(1_000, 4_000),
            },
            _ => Fault::SlowLeaderDisk {
                delay: self.millis(20, 150),
                lasting: self.millis(1_000, 4_000),
            },
        }
    }

    /// Calm between two faults.
    pub fn pause(&mut self) -> Duration {
        self.millis(500, 2_500)
    }
}

fn signal(cluster: &Cluster, index: usize, signal: &str) {
    if let Some(child) = &cluster.nodes[index].child {
        let _ = Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status();
    }
}

/// Injects `fault` and undoes it once its duration has passed (the duration is the fault's
/// own length, chosen by the schedule, not a wait for anything).
pub fn inject(cluster: &mut Cluster, fault: Fault) {
    match fault {
        Fault::KillLeader { down } => {
            if let Some(leader) = cluster.leader() {
                cluster.kill9(leader);
                std::thread::sleep(down);
                cluster.start_node(leader);
            }
        }
        Fault::KillServer { index, down } => {
            cluster.kill9(index);
            std::thread::sleep(down);
            cluster.start_node(index);
        }
        Fault::PauseLeader { paused } => {
            if let Some(leader) = cluster.leader() {
                signal(cluster, leader, "-STOP");
                std::thread::sleep(paused);
                signal(cluster, leader, "-CONT");
            }
        }
        Fault::SlowLeaderDisk { delay, lasting } => {
            if let Some(leader) = cluster.leader() {
                let file = fault_dir(cluster, leader).join("fsync-delay-ms");
                std::fs::write(&file, delay.as_millis().to_string()).unwrap();
                std::thread::sleep(lasting);
                let _ = std::fs::remove_file(&file);
            }
        }
        Fault::IsolateLeader { cut } => {
            if let Some(leader) = cluster.leader() {
                let firewall = Isolation::new(cluster, leader);
                std::thread::sleep(cut);
                // The other side's view, for the run's log: a new leader once the cut outlasts
                // an election.
                let other = (leader + 1) % 3;
                eprintln!(
                    "chaos: cut ends; s{} sees leader {:?}",
                    other + 1,
                    cluster.leader_seen_by(other)
                );
                drop(firewall);
            }
        }
    }
}

/// nftables rules that drop every packet between one agent's address and the other agents'
/// addresses; removed when dropped. The table is named after the cluster's address prefix,
/// which is unique to the test.
struct Isolation {
    table: String,
}

impl Isolation {
    fn new(cluster: &Cluster, index: usize) -> Isolation {
        let ip = cluster.nodes[index].ip;
        let [_, a, b, _] = ip.octets();
        let table = format!("legate_chaos_{a}_{b}");
        let others: Vec<String> = cluster
            .nodes
            .iter()
            .filter(|node| node.ip != ip)
            .map(|node| node.ip.to_string())
            .collect();
        let set = format!("{{ {} }}", others.join(", "));
        let script = format!(
            "table ip {table} {{\n chain output {{ type filter hook output priority 0;\n  ip saddr {ip} ip daddr {set} drop;\n  ip saddr {set} ip daddr {ip} drop;\n }}\n}}\n"
        );
        let path = std::env::temp_dir().join(format!("{table}.nft"));
        std::fs::write(&path, script).unwrap();
        let status = Command::new("nft")
            .arg("-f")
            .arg(&path)
            .status()
            .expect("nft runs (Debian nftables; .ci/run installs it)");
        assert!(status.success(), "nft refused the isolation rules");
        Isolation { table }
    }
}

impl Drop for Isolation {
    fn drop(&mut self) {
        let _ = Command::new("nft")
            .args(["delete", "table", "ip", &self.table])
            .status();
    }
}

/// Every server running, no disk slowed, and a leader elected.
pub fn heal(cluster: &mut Cluster) {
    for index in 0..cluster.nodes.len() {
        if cluster.nodes[index].server {
            let _ = std::fs::remove_file(fault_dir(cluster, index).join("fsync-delay-ms"));
        }
        if cluster.nodes[index].child.is_none() {
            cluster.start_node(index);
        }
    }
    cluster.wait_for_leader();
}

/// Server `index`'s fault directory (see the agent's `fault` module), next to its data.
pub fn fault_dir(cluster: &Cluster, index: usize) -> std::path::PathBuf {
    let data = &cluster.nodes[index].data_dir;
    data.with_file_name(format!("{}-faults", cluster.nodes[index].name))
}

/// Restarts every server able to take injected disk faults (`fault_dir`), one at a time, so
/// the cluster keeps its quorum throughout.
pub fn arm_disk_faults(cluster: &mut Cluster) {
    for index in 0..cluster.nodes.len() {
        if !cluster.nodes[index].server {
            continue;
        }
        let dir = fault_dir(cluster, index);
        std::fs::create_dir_all(&dir).unwrap();
        cluster.kill9(index);
        cluster.nodes[index]
            .env
            .push(("LEGATE_FAULT_DIR".to_owned(), dir.display().to_string()));
        cluster.start_node(index);
        let all: Vec<usize> = (0..cluster.nodes.len()).collect();
        cluster.wait_members_alive(&all);
        cluster.wait_for_leader();
    }
}
