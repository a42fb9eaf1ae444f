//! The faults and their seeded schedule.

use crate::harness::Cluster;
use crate::netns::Network;
use crate::workload::Rng;
use std::process::Command;
use std::time::Duration;

#[derive(Clone, Debug)]
pub enum Fault {
    /// `kill -9` of the leader, restarted after `down`.
    KillLeader { down: Duration },
    /// `kill -9` of a minority of the servers at once (the leader among them or not), and on
    /// half the draws one client agent with them, restarted after `down`. A client comes
    /// back knowing only its join address and its snapshot of the members; operations sent
    /// through it meanwhile fail or end unknown, and sessions of its node are invalidated
    /// once the leader marks it failed.
    KillMinority { pick: u64, down: Duration },
    /// SIGSTOP of the leader for `paused`, longer than the election timeout, then SIGCONT:
    /// it wakes believing it still leads.
    PauseLeader { paused: Duration },
    /// SIGSTOP of every server at once for `paused`, longer than the election timeout: all
    /// wake together with their timers long past.
    PauseAll { paused: Duration },
    /// The network cut into the shape `shape` for `cut`. Only traffic between the cluster's
    /// agents is dropped (gossip, RPC, forwarding); the test's clients still reach every
    /// agent. Loopback nftables rules on the cluster's own addresses, so no network
    /// namespace is needed and clusters of other tests are untouched.
    Partition { shape: Shape, cut: Duration },
    /// Every fsync of the leader delayed by `delay` for `lasting`: its commits wait on its
    /// own disk while the followers' acks arrive (the parallel fsync's gates), and a long
    /// enough spell hands leadership away.
    SlowLeaderDisk { delay: Duration, lasting: Duration },
    /// A new server added (a non-voter first, then a voter once autopilot finds it stable)
    /// and, after `lasting`, removed again by a graceful leave: the voter set grows and
    /// shrinks under the workload.
    AddRemoveServer { lasting: Duration },
    /// One server's wall clock (the leader on odd draws) jumped by `offset_s` seconds,
    /// forward or back, for `lasting`, then set right (libfaketime; its monotonic clock is
    /// left alone, as a real clock step leaves it). Wall time must matter to nothing that
    /// safety rests on.
    ClockJump {
        pick: u64,
        offset_s: i64,
        lasting: Duration,
    },
}

/// Who is cut off from whom. `pick` is the schedule's random draw for the choices that
/// depend on the cluster at the time (who leads), so a seed replays the same shapes.
#[derive(Clone, Copy, Debug)]
pub enum Shape {
    /// The leader alone: the minority side must acknowledge no write and serve no stale
    /// default read.
    LeaderAlone,
    /// Any one agent alone, server or client.
    OneAlone { pick: u64 },
    /// The servers split into a minority and a majority, the leader on either side; each
    /// client agent on a side of its own draw.
    Split { pick: u64 },
    /// One server (the leader or not) reaches all; the others form two halves that cannot
    /// reach each other. Everyone sees a majority through the bridge.
    Bridge { pick: u64 },
    /// The servers in a ring, each reaching only its two neighbours: with 5 servers every
    /// one sees a majority (itself and two) and none sees all.
    Ring { pick: u64 },
}

pub struct Schedule {
    rng: Rng,
    servers: usize,
    /// `LEGATE_CHAOS_FAULTS`: only faults whose kind contains one of these (comma-separated,
    /// e.g. "pause leader,kill"), to hunt one fault's bug in many short runs.
    only: Vec<String>,
}

impl Schedule {
    pub fn new(seed: u64, servers: usize) -> Schedule {
        let only = std::env::var("LEGATE_CHAOS_FAULTS").unwrap_or_default();
        Schedule {
            rng: Rng::new(seed),
            servers,
            only: only
                .split(',')
                .map(str::trim)
                .filter(|kind| !kind.is_empty())
                .map(str::to_owned)
                .collect(),
        }
    }

    /// The next fault of a kind allowed by `only`.
    pub fn next_fault(&mut self) -> Fault {
        for _ in 0..10_000 {
            let fault = self.draw();
            if self.only.is_empty() || self.only.iter().any(|kind| fault.kind().contains(kind)) {
                return fault;
            }
        }
        panic!("LEGATE_CHAOS_FAULTS={:?} names no fault kind", self.only);
    }

    fn millis(&mut self, from: u64, to: u64) -> Duration {
        Duration::from_millis(from + self.rng.below(to - from))
    }

    fn shape(&mut self) -> Shape {
        let pick = self.rng.below(u64::MAX);
        // A ring of 3 is everyone reaching everyone: rings need 5 servers.
        let kinds = if self.servers >= 5 { 5 } else { 4 };
        match self.rng.below(kinds) {
            0 => Shape::LeaderAlone,
            1 => Shape::OneAlone { pick },
            2 => Shape::Split { pick },
            3 => Shape::Bridge { pick },
            _ => Shape::Ring { pick },
        }
    }

    fn draw(&mut self) -> Fault {
        match self.rng.below(8) {
            0 => Fault::KillLeader {
                down: self.millis(300, 2_000),
            },
            1 => Fault::KillMinority {
                pick: self.rng.below(u64::MAX),
                down: self.millis(300, 2_000),
            },
            2 => Fault::PauseLeader {
                paused: self.millis(1_000, 3_000),
            },
            3 => Fault::PauseAll {
                paused: self.millis(1_000, 2_500),
            },
            4 => Fault::Partition {
                shape: self.shape(),
                cut: self.millis(1_000, 4_000),
            },
            6 => Fault::AddRemoveServer {
                lasting: self.millis(500, 3_000),
            },
            5 => {
                let pick = self.rng.below(u64::MAX);
                let size = 5 + self.rng.below(116) as i64;
                Fault::ClockJump {
                    pick,
                    offset_s: if pick & 2 == 0 { size } else { -size },
                    lasting: self.millis(1_000, 4_000),
                }
            }
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

impl Fault {
    /// The fault's kind, for the run's tally.
    pub fn kind(&self) -> &'static str {
        match self {
            Fault::KillLeader { .. } => "kill -9 leader",
            Fault::KillMinority { .. } => "kill -9 minority",
            Fault::PauseLeader { .. } => "pause leader",
            Fault::PauseAll { .. } => "pause all servers",
            Fault::Partition { shape, .. } => match shape {
                Shape::LeaderAlone => "partition: leader alone",
                Shape::OneAlone { .. } => "partition: one agent alone",
                Shape::Split { .. } => "partition: majority/minority",
                Shape::Bridge { .. } => "partition: bridge",
                Shape::Ring { .. } => "partition: ring",
            },
            Fault::SlowLeaderDisk { .. } => "slow leader disk",
            Fault::ClockJump { .. } => "clock jump",
            Fault::AddRemoveServer { .. } => "add and remove a server",
        }
    }
}

fn signal(cluster: &Cluster, index: usize, signal: &str) {
    if let Some(child) = &cluster.nodes[index].child {
        let _ = Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status();
    }
}

/// The cluster's servers, those removed by a membership change aside.
fn servers(cluster: &Cluster) -> Vec<usize> {
    (0..cluster.nodes.len())
        .filter(|index| cluster.nodes[*index].server && !cluster.nodes[*index].retired)
        .collect()
}

fn clients(cluster: &Cluster) -> Vec<usize> {
    (0..cluster.nodes.len())
        .filter(|index| !cluster.nodes[*index].server)
        .collect()
}

/// How many voters the leader's Raft configuration holds, as agent `via` reports it.
fn voters(cluster: &Cluster, via: usize) -> Option<usize> {
    let peers = cluster.get_json(via, "/v1/status/peers")?;
    Some(peers.as_array()?.len())
}

/// `items` in an order drawn from `pick` (Fisher–Yates), so a seed replays it.
fn shuffled(mut items: Vec<usize>, pick: u64) -> Vec<usize> {
    let mut rng = Rng::new(pick);
    for at in (1..items.len()).rev() {
        let other = rng.below(at as u64 + 1) as usize;
        items.swap(at, other);
    }
    items
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
        Fault::KillMinority { pick, down } => {
            let servers = servers(cluster);
            let most = (servers.len() - 1) / 2;
            let count = 1 + (pick % most as u64) as usize;
            let mut victims: Vec<usize> = shuffled(servers, pick).into_iter().take(count).collect();
            let clients = clients(cluster);
            if (pick >> 32) % 2 == 1 && !clients.is_empty() {
                victims.push(clients[((pick >> 33) % clients.len() as u64) as usize]);
            }
            eprintln!("chaos: killing {victims:?}");
            for victim in &victims {
                cluster.kill9(*victim);
            }
            std::thread::sleep(down);
            for victim in victims {
                cluster.start_node(victim);
            }
        }
        Fault::PauseLeader { paused } => {
            if let Some(leader) = cluster.leader() {
                signal(cluster, leader, "-STOP");
                std::thread::sleep(paused);
                signal(cluster, leader, "-CONT");
            }
        }
        Fault::PauseAll { paused } => {
            let servers = servers(cluster);
            for server in &servers {
                signal(cluster, *server, "-STOP");
            }
            std::thread::sleep(paused);
            for server in &servers {
                signal(cluster, *server, "-CONT");
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
        Fault::AddRemoveServer { lasting } => {
            let via = servers(cluster)[0];
            let before = servers(cluster).len();
            let added = cluster.add(true, Vec::new());
            eprintln!("chaos: s{} added", added + 1);
            cluster.wait_until("the added server to become a voter", || {
                voters(cluster, via) == Some(before + 1)
            });
            std::thread::sleep(lasting);
            let left = cluster.put(added, "/v1/agent/leave", "");
            eprintln!("chaos: s{} leaves: {left:?}", added + 1);
            cluster.wait_until("the leaving server out of the voters", || {
                voters(cluster, via) == Some(before)
            });
            cluster.kill9(added);
            cluster.nodes[added].retired = true;
        }
        Fault::ClockJump {
            pick,
            offset_s,
            lasting,
        } => {
            let servers = servers(cluster);
            let target = match cluster.leader() {
                Some(leader) if pick % 2 == 1 => leader,
                _ => servers[(pick / 2 % servers.len() as u64) as usize],
            };
            let file = fault_dir(cluster, target).join(FAKETIME_FILE);
            eprintln!("chaos: s{} clock {offset_s:+} s", target + 1);
            std::fs::write(&file, format!("{offset_s:+}")).unwrap();
            std::thread::sleep(lasting);
            std::fs::write(&file, "+0").unwrap();
        }
        Fault::Partition { shape, cut } => {
            let Some(cuts) = cuts(cluster, shape) else {
                return;
            };
            eprintln!("chaos: cutting {cuts:?}");
            let firewall = Firewall::new(cluster, &cuts);
            std::thread::sleep(cut);
            // Each server's view, for the run's log: who it follows when the cut ends.
            let views: Vec<_> = servers(cluster)
                .into_iter()
                .map(|server| (server, cluster.leader_seen_by(server)))
                .collect();
            eprintln!("chaos: cut ends; leaders seen: {views:?}");
            drop(firewall);
        }
    }
}

/// The pairs of agent groups that `shape` cuts apart; `None` when it needs a leader and
/// there is none.
fn cuts(cluster: &Cluster, shape: Shape) -> Option<Vec<(Vec<usize>, Vec<usize>)>> {
    // A server added and removed again is no agent any more.
    let all: Vec<usize> = (0..cluster.nodes.len())
        .filter(|index| !cluster.nodes[*index].retired)
        .collect();
    let apart = |alone: usize| {
        let rest: Vec<usize> = all
            .iter()
            .copied()
            .filter(|index| *index != alone)
            .collect();
        vec![(vec![alone], rest)]
    };
    let servers = servers(cluster);
    Some(match shape {
        Shape::LeaderAlone => apart(cluster.leader()?),
        Shape::OneAlone { pick } => apart(all[(pick % all.len() as u64) as usize]),
        Shape::Split { pick } => {
            let leader = cluster.leader()?;
            let minority_size = (servers.len() - 1) / 2;
            let followers = shuffled(
                servers.iter().copied().filter(|s| *s != leader).collect(),
                pick,
            );
            // The leader in the minority on odd draws, in the majority on even ones.
            let (mut minority, mut majority) = if pick % 2 == 1 {
                let mut minority = vec![leader];
                minority.extend(&followers[..minority_size - 1]);
                (minority, followers[minority_size - 1..].to_vec())
            } else {
                let mut majority = vec![leader];
                majority.extend(&followers[minority_size..]);
                (followers[..minority_size].to_vec(), majority)
            };
            for (at, client) in clients(cluster).into_iter().enumerate() {
                if (pick >> (8 + at)) & 1 == 1 {
                    minority.push(client);
                } else {
                    majority.push(client);
                }
            }
            vec![(minority, majority)]
        }
        Shape::Bridge { pick } => {
            let leader = cluster.leader()?;
            // The leader is the bridge on odd draws.
            let order = shuffled(servers.clone(), pick);
            let bridge = if pick % 2 == 1 {
                leader
            } else {
                *order.iter().find(|s| **s != leader)?
            };
            let rest: Vec<usize> = order.into_iter().filter(|s| *s != bridge).collect();
            let (left, right) = rest.split_at(rest.len() / 2);
            vec![(left.to_vec(), right.to_vec())]
        }
        Shape::Ring { pick } => {
            let ring = shuffled(servers, pick);
            let n = ring.len();
            let mut cuts = Vec::new();
            for a in 0..n {
                for b in a + 1..n {
                    let distance = (b - a).min(n - (b - a));
                    if distance >= 2 {
                        cuts.push((vec![ring[a]], vec![ring[b]]));
                    }
                }
            }
            cuts
        }
    })
}

/// Drops every packet between the groups of each pair; undone when dropped. In network
/// namespaces (`Cluster::network`), nftables rules inside each agent's namespace; on
/// loopback, rules on the agents' addresses in a table named after the cluster's address
/// prefix, which is unique to the test. Either way the test's own clients still reach every
/// agent.
enum Firewall<'a> {
    Namespaces(&'a Network),
    Loopback { table: String },
}

impl<'a> Firewall<'a> {
    fn new(cluster: &'a Cluster, cuts: &[(Vec<usize>, Vec<usize>)]) -> Firewall<'a> {
        if let Some(network) = &cluster.network {
            let host = |index: &usize| cluster.nodes[*index].host.expect("a host per agent");
            let pairs: Vec<(Vec<usize>, Vec<usize>)> = cuts
                .iter()
                .map(|(one, other)| {
                    (
                        one.iter().map(host).collect(),
                        other.iter().map(host).collect(),
                    )
                })
                .collect();
            network.cut(&pairs);
            return Firewall::Namespaces(network);
        }
        let [_, a, b, _] = cluster.nodes[0].ip.octets();
        let table = format!("legate_chaos_{a}_{b}");
        let set = |group: &[usize]| {
            let ips: Vec<String> = group
                .iter()
                .map(|index| cluster.nodes[*index].ip.to_string())
                .collect();
            format!("{{ {} }}", ips.join(", "))
        };
        let mut rules = String::new();
        for (one, other) in cuts {
            let (one, other) = (set(one), set(other));
            rules.push_str(&format!("  ip saddr {one} ip daddr {other} drop;\n"));
            rules.push_str(&format!("  ip saddr {other} ip daddr {one} drop;\n"));
        }
        let script = format!(
            "table ip {table} {{\n chain output {{ type filter hook output priority 0;\n{rules} }}\n}}\n"
        );
        let path = std::env::temp_dir().join(format!("{table}.nft"));
        std::fs::write(&path, script).unwrap();
        let status = Command::new("nft")
            .arg("-f")
            .arg(&path)
            .status()
            .expect("nft runs (Debian nftables; .ci/run installs it)");
        assert!(status.success(), "nft refused the partition rules");
        Firewall::Loopback { table }
    }
}

impl Drop for Firewall<'_> {
    fn drop(&mut self) {
        match self {
            Firewall::Namespaces(network) => network.heal_all(),
            Firewall::Loopback { table } => {
                let _ = Command::new("nft")
                    .args(["delete", "table", "ip", table])
                    .status();
            }
        }
    }
}

/// Every server running, no disk slowed, and a leader elected.
pub fn heal(cluster: &mut Cluster) {
    for index in 0..cluster.nodes.len() {
        if cluster.nodes[index].server {
            let dir = fault_dir(cluster, index);
            let _ = std::fs::remove_file(dir.join("fsync-delay-ms"));
            let _ = std::fs::write(dir.join(FAKETIME_FILE), "+0");
        }
        if cluster.nodes[index].child.is_none() && !cluster.nodes[index].retired {
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

/// libfaketime for threaded programs (Debian `libfaketime`; `.ci/run` installs it).
const LIBFAKETIME: &str = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1";
/// The file in a server's fault directory that holds its clock offset ("+0", "-30").
const FAKETIME_FILE: &str = "faketime";

/// Restarts every server able to take injected disk faults (`fault_dir`) and clock jumps
/// (libfaketime, reading its offset from the fault directory at most once a second), one at
/// a time, so the cluster keeps its quorum throughout.
pub fn arm_faults(cluster: &mut Cluster) {
    assert!(
        std::path::Path::new(LIBFAKETIME).exists(),
        "clock jumps need {LIBFAKETIME} (Debian libfaketime; .ci/run installs it)"
    );
    for index in 0..cluster.nodes.len() {
        if !cluster.nodes[index].server {
            continue;
        }
        let dir = fault_dir(cluster, index);
        std::fs::create_dir_all(&dir).unwrap();
        let clock = dir.join(FAKETIME_FILE);
        std::fs::write(&clock, "+0").unwrap();
        cluster.kill9(index);
        let env = &mut cluster.nodes[index].env;
        env.push(("LEGATE_FAULT_DIR".to_owned(), dir.display().to_string()));
        env.push(("LD_PRELOAD".to_owned(), LIBFAKETIME.to_owned()));
        env.push((
            "FAKETIME_TIMESTAMP_FILE".to_owned(),
            clock.display().to_string(),
        ));
        env.push(("FAKETIME_CACHE_DURATION".to_owned(), "1".to_owned()));
        env.push(("DONT_FAKE_MONOTONIC".to_owned(), "1".to_owned()));
        cluster.start_node(index);
        let all: Vec<usize> = (0..cluster.nodes.len()).collect();
        cluster.wait_members_alive(&all);
        cluster.wait_for_leader();
    }
}
