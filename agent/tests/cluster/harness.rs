//! Real clusters for tests: several `legate` processes, each on its own loopback address
//! (127.A.B.n, with A and B picked at random per cluster so tests run side by side), or each
//! in a network namespace of its own on a bridge (`start_in`, with a `netns::Network`), each
//! with Consul's standard ports on that address, its own data directory and log.
//!
//! Every wait has a deadline and names what it waited for; nothing sleeps blindly.

use crate::netns::Network;
use serde_json::Value;
use std::net::{Ipv4Addr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Generous: CI machines are shared and these are debug builds.
pub const DEADLINE: Duration = Duration::from_secs(60);

pub fn legate() -> &'static str {
    env!("CARGO_BIN_EXE_legate")
}

/// Gossip and autopilot fast enough that failures are seen in seconds, yet not so fast that
/// a CI machine busy with other clusters starves an agent into a false failure; a small snapshot threshold so a
/// new server catches up by snapshot, and Consul's defaults otherwise.
const TEST_CONFIG: &str = r#"{
  "gossip_lan": {"probe_interval": "400ms", "probe_timeout": "200ms", "gossip_interval": "100ms"},
  "gossip_wan": {"probe_interval": "400ms", "probe_timeout": "200ms", "gossip_interval": "100ms"},
  "sync_coordinate_interval_min": "300ms",
  "coordinate_update_period": "300ms",
  "translate_wan_addrs": true,
  "autopilot": {"server_stabilization_time": "2s"},
  "raft_snapshot_threshold": 64,
  "raft_trailing_logs": 16,
  "raft_snapshot_interval": "1s",
  "ae_interval": "2s"
}"#;

pub struct Node {
    pub name: String,
    pub ip: Ipv4Addr,
    /// The node's host in the cluster's `network`, when it has one.
    pub host: Option<usize>,
    pub server: bool,
    pub data_dir: PathBuf,
    pub log: PathBuf,
    pub child: Option<Child>,
    /// Arguments beyond the common ones (`-bootstrap-expect`, `-encrypt`, ...).
    pub extra: Vec<String>,
    /// Environment variables for the process (fault injection).
    pub env: Vec<(String, String)>,
    /// Left the cluster for good (a server removed by a membership change): never started
    /// again.
    pub retired: bool,
}

pub struct Cluster {
    pub nodes: Vec<Node>,
    /// 127.A.B, for agents on loopback.
    prefix: [u8; 3],
    /// The namespaces the agents run in, if any (dropped after the agents: see `Drop`).
    pub network: Option<Network>,
    config: PathBuf,
    http: reqwest::blocking::Client,
    scratch: tempfile::TempDir,
}

/// Picks 127.A.B.0/24 whose .1 is free on the standard ports.
fn free_prefix() -> [u8; 3] {
    for _ in 0..200 {
        let a = 100 + (rand_u32() % 150) as u8;
        let b = 1 + (rand_u32() % 250) as u8;
        let probe = Ipv4Addr::new(127, a, b, 1);
        if TcpListener::bind((probe, 8500)).is_ok() && TcpListener::bind((probe, 8300)).is_ok() {
            return [127, a, b];
        }
    }
    panic!("no free 127.A.B.0/24 found");
}

fn rand_u32() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos(),
    );
    hasher.finish() as u32
}

impl Cluster {
    /// `servers` servers bootstrapping with `-bootstrap-expect`, then `clients` client
    /// agents, all joined through the first server; waits for a leader and for every agent
    /// to see every other alive.
    pub fn start(servers: usize, clients: usize, extra: &[&str]) -> Cluster {
        Cluster::start_with_env(servers, clients, extra, &[])
    }

    /// `start`, every agent with `env` in its environment (fault injection from its first
    /// moment).
    pub fn start_with_env(
        servers: usize,
        clients: usize,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Cluster {
        Cluster::start_in(None, servers, clients, extra, env)
    }

    /// `start_with_env`, each agent in a namespace of `network` when one is given (a new
    /// host per agent), on loopback otherwise.
    pub fn start_in(
        network: Option<Network>,
        servers: usize,
        clients: usize,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Cluster {
        let scratch = tempfile::tempdir().expect("scratch dir");
        let config = scratch.path().join("test.json");
        std::fs::write(&config, TEST_CONFIG).unwrap();
        let prefix = if network.is_some() {
            [127, 0, 0]
        } else {
            free_prefix()
        };
        let mut cluster = Cluster {
            nodes: Vec::new(),
            network,
            prefix,
            config,
            http: reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
            scratch,
        };
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect();
        for _ in 0..servers {
            let mut args = vec![format!("-bootstrap-expect={servers}")];
            args.extend(extra.iter().map(|arg| arg.to_string()));
            cluster.add_with_env(true, args, env.clone());
        }
        for _ in 0..clients {
            let args = extra.iter().map(|arg| arg.to_string()).collect();
            cluster.add_with_env(false, args, env.clone());
        }
        cluster.wait_for_leader();
        cluster.wait_members_alive(&(0..cluster.nodes.len()).collect::<Vec<_>>());
        cluster
    }

    /// Adds and starts one more agent (not waiting for anything).
    pub fn add(&mut self, server: bool, extra: Vec<String>) -> usize {
        self.add_with_env(server, extra, Vec::new())
    }

    fn add_with_env(
        &mut self,
        server: bool,
        extra: Vec<String>,
        env: Vec<(String, String)>,
    ) -> usize {
        let index = self.nodes.len();
        let (ip, host) = match &mut self.network {
            Some(network) => {
                let host = network.add_host().expect("a namespace for the agent");
                (network.address(host), Some(host))
            }
            None => {
                let [a, b, c] = self.prefix;
                (Ipv4Addr::new(a, b, c, index as u8 + 1), None)
            }
        };
        let name = format!("{}{}", if server { "s" } else { "c" }, index + 1);
        let node = Node {
            data_dir: self.scratch.path().join(&name),
            log: self.scratch.path().join(format!("{name}.log")),
            name,
            ip,
            host,
            server,
            child: None,
            extra,
            env,
            retired: false,
        };
        self.nodes.push(node);
        self.start_node(index);
        index
    }

    /// Starts (or restarts) agent `index` with its data.
    pub fn start_node(&mut self, index: usize) {
        // Everyone joins through the first agent, the first agent included.
        let join = format!("{}:8301", self.nodes[0].ip);
        let mut command = match (&self.network, self.nodes[index].host) {
            (Some(network), Some(host)) => network.command(host, legate()),
            _ => Command::new(legate()),
        };
        let node = &mut self.nodes[index];
        assert!(!node.retired, "{} left the cluster for good", node.name);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&node.log)
            .unwrap();
        let mut args = vec![
            "agent".to_owned(),
            format!("-node={}", node.name),
            format!("-data-dir={}", node.data_dir.display()),
            format!("-bind={}", node.ip),
            format!("-client={}", node.ip),
            format!("-config-file={}", self.config.display()),
            format!("-retry-join={join}"),
            "-retry-interval=1s".to_owned(),
        ];
        if node.server {
            args.push("-server".to_owned());
        }
        args.extend(node.extra.iter().cloned());
        node.child = Some(
            command
                .args(&args)
                .envs(node.env.iter().map(|(name, value)| (name, value)))
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .expect("spawn legate"),
        );
    }

    pub fn url(&self, index: usize, path: &str) -> String {
        format!("http://{}:8500{path}", self.nodes[index].ip)
    }

    pub fn get(&self, index: usize, path: &str) -> Option<reqwest::blocking::Response> {
        self.http.get(self.url(index, path)).send().ok()
    }

    pub fn get_json(&self, index: usize, path: &str) -> Option<Value> {
        let response = self.get(index, path)?;
        if !response.status().is_success() {
            return None;
        }
        response.json().ok()
    }

    pub fn put(&self, index: usize, path: &str, body: &str) -> Option<(u16, String)> {
        let response = self
            .http
            .put(self.url(index, path))
            .body(body.to_owned())
            .send()
            .ok()?;
        let status = response.status().as_u16();
        Some((status, response.text().unwrap_or_default()))
    }

    /// The leader's RPC address as agent `index` reports it.
    pub fn leader_seen_by(&self, index: usize) -> Option<String> {
        let leader: String = self
            .get_json(index, "/v1/status/leader")?
            .as_str()?
            .to_owned();
        (!leader.is_empty()).then_some(leader)
    }

    /// Index of the server that leads, as the live servers agree.
    pub fn leader(&self) -> Option<usize> {
        let addr = self
            .live()
            .filter(|index| self.nodes[*index].server)
            .find_map(|index| self.leader_seen_by(index))?;
        let ip = addr.split(':').next()?.to_owned();
        self.nodes
            .iter()
            .position(|node| node.ip.to_string() == ip && node.child.is_some())
    }

    pub fn wait_for_leader(&self) -> usize {
        let mut found = None;
        self.wait_until("a leader", || {
            found = self.leader();
            found.is_some()
        });
        found.unwrap()
    }

    /// Indexes of running agents.
    pub fn live(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.nodes.len()).filter(|index| self.nodes[*index].child.is_some())
    }

    /// Member statuses as agent `index` sees them: name → Consul's integer status.
    pub fn members_seen_by(&self, index: usize) -> Vec<(String, u64)> {
        self.get_json(index, "/v1/agent/members")
            .and_then(|members| {
                members.as_array().map(|members| {
                    members
                        .iter()
                        .map(|member| {
                            (
                                member["Name"].as_str().unwrap_or_default().to_owned(),
                                member["Status"].as_u64().unwrap_or(0),
                            )
                        })
                        .collect()
                })
            })
            .unwrap_or_default()
    }

    /// Waits until every live agent sees each of `indexes` alive.
    pub fn wait_members_alive(&self, indexes: &[usize]) {
        self.wait_until("every agent sees the others alive", || {
            self.live().all(|viewer| {
                let seen = self.members_seen_by(viewer);
                indexes.iter().all(|index| {
                    seen.iter()
                        .any(|(name, status)| *name == self.nodes[*index].name && *status == 1)
                })
            })
        });
    }

    /// Waits until `check` holds, or fails the test with the agents' logs.
    pub fn wait_until(&self, what: &str, check: impl FnMut() -> bool) {
        self.wait_until_within(what, DEADLINE, check);
    }

    /// `wait_until` with a deadline of its own, for what must happen well before another
    /// mechanism would make it happen anyway.
    pub fn wait_until_within(&self, what: &str, within: Duration, mut check: impl FnMut() -> bool) {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if check() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let saved = std::env::temp_dir().join(format!(
            "legate-timeout-{}-{}",
            std::process::id(),
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |since| since.as_millis())
        ));
        self.save_logs(&saved);
        panic!(
            "timed out waiting for {what}; whole logs in {}\n{}",
            saved.display(),
            self.logs()
        );
    }

    pub fn logs(&self) -> String {
        let mut text = String::new();
        for node in &self.nodes {
            let log = std::fs::read_to_string(&node.log).unwrap_or_default();
            // openraft warns of every vote response that arrives after the election it
            // answers is over: harmless, and enough of them hide everything else.
            let tail: Vec<&str> = log
                .lines()
                .rev()
                .filter(|line| !line.contains("A message will be ignored because vote changed"))
                .take(60)
                .collect();
            text.push_str(&format!("--- {} ({}) ---\n", node.name, node.ip));
            for line in tail.into_iter().rev() {
                text.push_str(line);
                text.push('\n');
            }
        }
        text
    }

    /// Copies every agent's whole log into `dir` (as `<name>.log`), for a look after the
    /// cluster and its scratch directory are gone.
    pub fn save_logs(&self, dir: &std::path::Path) {
        let _ = std::fs::create_dir_all(dir);
        for node in &self.nodes {
            let _ = std::fs::copy(&node.log, dir.join(format!("{}.log", node.name)));
        }
    }

    /// SIGKILL.
    pub fn kill9(&mut self, index: usize) {
        if let Some(mut child) = self.nodes[index].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM, then waits for the process to exit.
    pub fn terminate(&mut self, index: usize) {
        let Some(mut child) = self.nodes[index].child.take() else {
            return;
        };
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let deadline = Instant::now() + DEADLINE;
        while Instant::now() < deadline {
            if child.try_wait().ok().flatten().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        panic!(
            "{} did not stop on SIGTERM\n{}",
            self.nodes[index].name,
            self.logs()
        );
    }

    /// A POST with a body: status and text (0 when the agent did not answer).
    pub fn http_post(&self, index: usize, path: &str, body: &str) -> (u16, String) {
        match self
            .http
            .post(self.url(index, path))
            .body(body.to_owned())
            .send()
        {
            Ok(response) => (
                response.status().as_u16(),
                response.text().unwrap_or_default(),
            ),
            Err(_) => (0, String::new()),
        }
    }

    /// A DNS question of `qtype` to agent `index` with `dig +short`.
    pub fn dig_type(&self, index: usize, name: &str, qtype: &str) -> String {
        self.dig_with(index, &[], name, qtype)
    }

    /// `dig_type` with more options (`+subnet=...`, `+tcp`).
    pub fn dig_with(&self, index: usize, options: &[&str], name: &str, qtype: &str) -> String {
        let server = format!("@{}", self.nodes[index].ip);
        let output = Command::new("dig")
            .args([&server, "-p", "8600", "+short", "+time=2", "+tries=1"])
            .args(options)
            .args([name, qtype])
            .output()
            .expect("dig is installed (Debian bind9-dnsutils; .ci/run installs it)");
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// A DNS question (A) to agent `index` with `dig +short`.
    pub fn dig(&self, index: usize, name: &str) -> String {
        self.dig_type(index, name, "A")
    }
}

/// Every agent of the cluster dies with it, whatever way the test ends: a process left
/// behind would hold its addresses and ports and load the machine for every later test.
impl Drop for Cluster {
    fn drop(&mut self) {
        for index in 0..self.nodes.len() {
            self.kill9(index);
        }
    }
}
