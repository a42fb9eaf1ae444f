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
        match self.rng.below(3) {
            0 => Fault::KillLeader {
                down: self.millis(300, 2_000),
            },
            1 => Fault::KillServer {
                index: self.rng.below(3) as usize,
                down: self.millis(300, 2_000),
            },
            _ => Fault::PauseLeader {
                paused: self.millis(1_000, 3_000),
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
    }
}

/// Every server running and a leader elected.
pub fn heal(cluster: &mut Cluster) {
    for index in 0..cluster.nodes.len() {
        if cluster.nodes[index].child.is_none() {
            cluster.start_node(index);
        }
    }
    cluster.wait_for_leader();
}
