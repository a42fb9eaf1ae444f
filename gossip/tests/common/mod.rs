//! A deterministic simulation of the sans-io core: simulated time, an
//! in-memory lossy network with latency, partitions, stopped and stalled
//! nodes. Seeded; the same seed replays the same run.

#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use legate_gossip::{
    Core, CoreConfig, Event, MemberEventKind, MemberStatus, ProtocolVersions, Role, Tags, Timing,
};
use rand10::rngs::StdRng;
use rand10::{RngExt, SeedableRng};

/// Inbound packets a stalled node buffers (a UDP receive buffer); more are dropped.
const STALL_BUFFER: usize = 256;

pub struct SimNode {
    pub core: Core,
    pub addr: SocketAddr,
    pub name: String,
    pub up: bool,
    pub stalled_until: Option<Instant>,
    pub timers_first: bool,
    pub inbox: VecDeque<(SocketAddr, Vec<u8>)>,
    pub events: Vec<(Duration, Event)>,
    pub max_score: u8,
}

pub struct Sim {
    pub start: Instant,
    pub now: Instant,
    pub nodes: Vec<SimNode>,
    rng: StdRng,
    in_flight: BTreeMap<(Instant, u64), (SocketAddr, SocketAddr, Vec<u8>)>,
    seq: u64,
    pub loss: f64,
    pub isolated: HashSet<SocketAddr>,
    /// One-way delay added to packets from the first address to the second.
    pub slow_links: HashMap<(SocketAddr, SocketAddr), Duration>,
}

pub fn tags(i: usize) -> Tags {
    Tags {
        role: if i < 3 { Role::Server } else { Role::Client },
        datacenter: "dc1".into(),
        segment: String::new(),
        node_id: format!("00000000-0000-4000-8000-{i:012}"),
        rpc_addr: (i < 3).then(|| format!("10.0.0.{}:8300", i + 1).parse().unwrap()),
        build: "1.20.0:sim".into(),
        protocol: ProtocolVersions::default(),
        bootstrap: false,
        expect: (i < 3).then_some(3),
        read_replica: false,
        wan_join_port: None,
    }
}

pub fn addr(i: usize) -> SocketAddr {
    format!("10.0.0.{}:8301", i + 1).parse().unwrap()
}

pub fn config(i: usize, timing: Timing) -> CoreConfig {
    CoreConfig {
        node_name: format!("node-{i}"),
        advertise: addr(i),
        generation: 1000,
        tags: tags(i),
        timing,
        reconnect_timeout: Duration::from_secs(72 * 3600),
        tombstone_timeout: Duration::from_secs(24 * 3600),
        keyring: None,
        verify_incoming: true,
        verify_outgoing: true,
        rng_seed: i as u64 + 1,
        lifeguard: true,
        max_members: 1000,
    }
}

impl Sim {
    pub fn new(n: usize, seed: u64, mut cfg: impl FnMut(usize) -> CoreConfig) -> Self {
        let start = Instant::now();
        let nodes = (0..n)
            .map(|i| {
                let c = cfg(i);
                let name = c.node_name.clone();
                let addr = c.advertise;
                SimNode {
                    core: Core::new(c, start).unwrap(),
                    addr,
                    name,
                    up: true,
                    stalled_until: None,
                    timers_first: false,
                    inbox: VecDeque::new(),
                    events: Vec::new(),
                    max_score: 0,
                }
            })
            .collect();
        Self {
            start,
            now: start,
            nodes,
            rng: StdRng::seed_from_u64(seed),
            in_flight: BTreeMap::new(),
            seq: 0,
            loss: 0.0,
            isolated: HashSet::new(),
            slow_links: HashMap::new(),
        }
    }

    pub fn lan(n: usize, seed: u64) -> Self {
        Self::new(n, seed, |i| config(i, Timing::lan()))
    }

    pub fn elapsed(&self) -> Duration {
        self.now - self.start
    }

    /// Push-pull join of node `i` through node `j` (a TCP exchange).
    pub fn join(&mut self, i: usize, j: usize) {
        let now = self.now;
        let req = self.nodes[i].core.push_pull_request(true);
        let resp = self.nodes[j]
            .core
            .handle_push_pull_request(now, &req)
            .expect("push-pull request");
        self.nodes[i]
            .core
            .handle_push_pull_response(now, &resp)
            .expect("push-pull response");
        self.collect(i);
        self.collect(j);
    }

    /// Joins every node through node 0.
    pub fn join_all(&mut self) {
        for i in 1..self.nodes.len() {
            self.join(i, 0);
            self.run_for(Duration::from_millis(50));
        }
    }

    fn collect(&mut self, i: usize) {
        let now = self.now;
        let elapsed = self.elapsed();
        let from = self.nodes[i].addr;
        let out: Vec<_> = self.nodes[i].core.drain_outgoing().collect();
        for (to, data) in out {
            if self.isolated.contains(&from) || self.isolated.contains(&to) {
                continue;
            }
            if self.loss > 0.0 && self.rng.random_bool(self.loss) {
                continue;
            }
            let latency = Duration::from_micros(self.rng.random_range(500..3000))
                + self
                    .slow_links
                    .get(&(from, to))
                    .copied()
                    .unwrap_or_default();
            self.seq += 1;
            self.in_flight
                .insert((now + latency, self.seq), (from, to, data));
        }
        let node = &mut self.nodes[i];
        let events: Vec<_> = node.core.drain_events().collect();
        node.events.extend(events.into_iter().map(|e| (elapsed, e)));
        node.max_score = node.max_score.max(node.core.health_score());
        node.core.take_changed();
    }

    fn running(&self, i: usize) -> bool {
        let n = &self.nodes[i];
        n.up && n.stalled_until.is_none_or(|t| t <= self.now)
    }

    /// Advances to the next event (packet, timer or stall end), at most to `limit`.
    fn step(&mut self, limit: Instant) {
        let mut next = limit;
        if let Some(((t, _), _)) = self.in_flight.first_key_value() {
            next = next.min(*t);
        }
        for (i, n) in self.nodes.iter().enumerate() {
            if !n.up {
                continue;
            }
            if let Some(until) = n.stalled_until.filter(|t| *t > self.now) {
                next = next.min(until);
            } else if let Some(d) = n.core.next_deadline() {
                next = next.min(d);
            }
            if self.running(i) && !n.inbox.is_empty() {
                next = self.now;
            }
        }
        self.now = next.max(self.now);
        // Deliver.
        while let Some(entry) = self.in_flight.first_entry() {
            if entry.key().0 > self.now {
                break;
            }
            let (from, to, data) = entry.remove();
            if let Some(n) = self
                .nodes
                .iter_mut()
                .find(|n| n.addr == to && n.up && n.inbox.len() < STALL_BUFFER)
            {
                n.inbox.push_back((from, data));
            }
        }
        for i in 0..self.nodes.len() {
            if !self.running(i) {
                continue;
            }
            self.nodes[i].stalled_until = None;
            let now = self.now;
            let node = &mut self.nodes[i];
            if node.timers_first {
                node.core.handle_timers(now);
            }
            while let Some((from, data)) = node.inbox.pop_front() {
                node.core.handle_packet(now, from, &data);
            }
            node.core.handle_timers(now);
            self.collect(i);
        }
    }

    pub fn run_for(&mut self, d: Duration) {
        let until = self.now + d;
        while self.now < until {
            self.step(until);
        }
    }

    /// Runs until `pred` holds or `max` elapses; returns whether it held.
    pub fn run_until(&mut self, max: Duration, mut pred: impl FnMut(&Sim) -> bool) -> bool {
        let until = self.now + max;
        loop {
            if pred(self) {
                return true;
            }
            if self.now >= until {
                return false;
            }
            let check = (self.now + Duration::from_millis(100)).min(until);
            while self.now < check {
                self.step(check);
            }
        }
    }

    /// Status of `of` in node `i`'s view.
    pub fn status(&self, i: usize, of: usize) -> Option<MemberStatus> {
        self.nodes[i]
            .core
            .member(&self.nodes[of].name)
            .map(|m| m.status)
    }

    /// Every running node sees every running node Alive (with tags).
    pub fn converged(&self) -> bool {
        let live: Vec<usize> = (0..self.nodes.len())
            .filter(|i| self.nodes[*i].up)
            .collect();
        live.iter().all(|&i| {
            let members = self.nodes[i].core.members();
            live.iter().all(|&j| {
                members
                    .iter()
                    .any(|m| m.name == self.nodes[j].name && m.status == MemberStatus::Alive)
            })
        })
    }

    /// All nodes in `observers` see `of` with `status`.
    pub fn all_see(&self, observers: &[usize], of: usize, status: MemberStatus) -> bool {
        observers
            .iter()
            .all(|&i| self.status(i, of) == Some(status))
    }

    /// Member events of `kind` about `of` seen by node `i`.
    pub fn member_events(&self, i: usize, of: usize, kind: MemberEventKind) -> usize {
        self.nodes[i]
            .events
            .iter()
            .filter(|(_, e)| {
                matches!(e, Event::Member(m) if m.kind == kind && m.member.name == self.nodes[of].name)
            })
            .count()
    }

    /// Failed events seen by anyone about anyone in `healthy`.
    pub fn failures_about(&self, healthy: &[usize]) -> Vec<String> {
        let mut out = Vec::new();
        for (i, n) in self.nodes.iter().enumerate() {
            for (t, e) in &n.events {
                let Event::Member(m) = e else { continue };
                if m.kind == MemberEventKind::Failed
                    && healthy.iter().any(|h| self.nodes[*h].name == m.member.name)
                {
                    out.push(format!(
                        "{} saw {} failed at {:?}",
                        self.nodes[i].name, m.member.name, t
                    ));
                }
            }
        }
        out
    }
}
