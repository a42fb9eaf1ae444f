//! A lock workload for fault tests (`locks.rs` here, and the fault harness): contenders run
//! `legate lock` in a loop against a cluster; each child does work on a resource that lives
//! in the test, presenting its fencing token (`LEGATE_LOCK_SEQUENCER`,
//! `LEGATE_LOCK_SESSION`).
//!
//! With fencing, the resource rejects any token lower than the highest it has seen, and it
//! must never see two holders at once nor one token used by two sessions. Without fencing,
//! the same workload shows the overlap that a paused holder causes.

use crate::harness::{legate, Cluster};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a handover may take when the holder cannot release (killed agent, paused
/// process): session expiry at twice the 10 s TTL, the 15 s lock-delay, the 5 s retry.
const HANDOVER_DEADLINE: Duration = Duration::from_secs(120);

/// What the protected resource saw.
#[derive(Default, Debug)]
pub struct Ledger {
    pub fenced: bool,
    /// Highest token accepted so far.
    pub highest: u64,
    /// Holders inside the critical section: session → (token, child pid).
    pub active: BTreeMap<String, (u64, u32)>,
    /// Token → the session that used it.
    pub owners: BTreeMap<u64, String>,
    /// Times a holder entered while another was inside.
    pub overlaps: usize,
    /// Times one token was presented by two sessions.
    pub collisions: usize,
    /// Operations refused because a higher token had been seen.
    pub rejected: usize,
    pub entries: usize,
}

impl Ledger {
    /// Serves `/enter` or `/exit`; `false` is a refusal.
    fn serve(&mut self, action: &str, token: u64, session: &str, pid: u32) -> bool {
        if self.fenced && token < self.highest {
            self.rejected += 1;
            return false;
        }
        if token > self.highest {
            self.highest = token;
            if self.fenced {
                // Older holders are fenced out: whatever they still send is refused.
                self.active.retain(|_, (held, _)| *held >= token);
            }
        }
        match self.owners.get(&token) {
            Some(owner) if owner != session => self.collisions += 1,
            Some(_) => {}
            None => {
                self.owners.insert(token, session.to_owned());
            }
        }
        match action {
            "enter" => {
                if self.active.keys().any(|other| other != session) {
                    self.overlaps += 1;
                }
                self.active.insert(session.to_owned(), (token, pid));
                self.entries += 1;
            }
            _ => {
                self.active.remove(session);
            }
        }
        true
    }
}

/// A tiny HTTP server for the resource: `GET /<action>?token=T&session=S&pid=P`.
fn serve_resource(ledger: Arc<Mutex<Ledger>>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut line = String::new();
            if BufReader::new(&stream).read_line(&mut line).is_err() {
                continue;
            }
            let target = line.split_whitespace().nth(1).unwrap_or("");
            let (action, query) = target.split_once('?').unwrap_or((target, ""));
            let params: BTreeMap<&str, &str> = query
                .split('&')
                .filter_map(|pair| pair.split_once('='))
                .collect();
            let token = params
                .get("token")
                .and_then(|t| t.parse().ok())
                .unwrap_or(0);
            let session = params.get("session").copied().unwrap_or("");
            let pid = params.get("pid").and_then(|p| p.parse().ok()).unwrap_or(0);
            let accepted =
                ledger
                    .lock()
                    .unwrap()
                    .serve(action.trim_start_matches('/'), token, session, pid);
            let status = if accepted { "200 OK" } else { "409 Conflict" };
            let _ = write!(stream, "HTTP/1.0 {status}\r\nContent-Length: 0\r\n\r\n");
        }
    });
    port
}

/// The child's work: three rounds inside the resource, each a second long.
fn child_script(port: u16) -> String {
    let call = |action: &str| {
        format!(
            "curl -sf \"http://127.0.0.1:{port}/{action}?token=$LEGATE_LOCK_SEQUENCER\
             &session=$LEGATE_LOCK_SESSION&pid=$$\" || exit 3"
        )
    };
    format!(
        "for round in 1 2 3; do {}; sleep 1; {}; done",
        call("enter"),
        call("exit")
    )
}

/// Runs `legate lock` over and over against the live servers until `stop`; what each run
/// prints goes to `log`, for a failure's message.
fn contender(agents: Vec<String>, script: String, stop: Arc<AtomicBool>, log: PathBuf) {
    let mut next = 0;
    while !stop.load(Ordering::Relaxed) {
        let agent = &agents[next % agents.len()];
        next += 1;
        let output = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap();
        let _ = writeln!(&output, "--- legate lock via {agent}");
        let _ = Command::new(legate())
            .args([
                "lock",
                &format!("-http-addr={agent}"),
                "-session-ttl=10s",
                "-monitor-retry=1",
                "-timeout=90s",
                "fenced/resource",
                &script,
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(output)
            .status();
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn signal(pid: u32, name: &str) {
    let _ = Command::new("kill")
        .args([&format!("-{name}"), &pid.to_string()])
        .status();
}

fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may contain spaces.
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split_whitespace().nth(1)?.parse().ok()
}

pub struct Workload {
    ledger: Arc<Mutex<Ledger>>,
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
    /// Each contender's `legate lock` output (`contender-<n>.log`).
    logs: tempfile::TempDir,
}

impl Workload {
    /// `contenders` loops of `legate lock`, each against the agents in turn.
    pub fn start(cluster: &Cluster, fenced: bool, contenders: usize) -> Workload {
        let ledger = Arc::new(Mutex::new(Ledger {
            fenced,
            ..Ledger::default()
        }));
        let port = serve_resource(ledger.clone());
        let script = child_script(port);
        let stop = Arc::new(AtomicBool::new(false));
        let agents: Vec<String> = (0..cluster.nodes.len())
            .map(|index| cluster.url(index, ""))
            .collect();
        let logs = tempfile::tempdir().unwrap();
        let threads = (0..contenders)
            .map(|offset| {
                let mut agents = agents.clone();
                let turn = offset % agents.len();
                agents.rotate_left(turn);
                let (script, stop) = (script.clone(), stop.clone());
                let log = logs.path().join(format!("contender-{offset}.log"));
                std::thread::spawn(move || contender(agents, script, stop, log))
            })
            .collect();
        Workload {
            ledger,
            stop,
            threads,
            logs,
        }
    }

    /// What a stuck hand-over looks like: the contenders' last lines, the lock's key and the
    /// sessions, as a server sees them.
    fn diagnosis(&self, cluster: &Cluster) -> String {
        let mut text = String::new();
        let mut logs: Vec<PathBuf> = std::fs::read_dir(self.logs.path())
            .map(|entries| {
                entries
                    .filter_map(|entry| entry.ok())
                    .map(|e| e.path())
                    .collect()
            })
            .unwrap_or_default();
        logs.sort();
        for log in logs {
            let content = std::fs::read_to_string(&log).unwrap_or_default();
            let tail: Vec<&str> = content.lines().rev().take(15).collect();
            text.push_str(&format!("=== {}\n", log.display()));
            for line in tail.into_iter().rev() {
                text.push_str(line);
                text.push('\n');
            }
        }
        for path in [
            "/v1/kv/fenced/resource?recurse&stale",
            "/v1/session/list?stale",
        ] {
            let answer = cluster
                .get(0, path)
                .and_then(|response| response.text().ok())
                .unwrap_or_default();
            text.push_str(&format!("=== {path}\n{answer}\n"));
        }
        text + &cluster.logs()
    }

    pub fn tokens(&self) -> usize {
        self.ledger.lock().unwrap().owners.len()
    }

    /// Waits for `more` new holders. A holder whose agent was killed keeps the lock until
    /// its session expires (2 x 10 s) and the lock-delay passes (15 s), hence the deadline.
    pub fn wait_for_tokens(&self, cluster: &Cluster, more: usize) {
        let target = self.tokens() + more;
        let deadline = Instant::now() + HANDOVER_DEADLINE;
        while self.tokens() < target {
            if Instant::now() > deadline {
                panic!(
                    "timed out waiting for {more} more lock holders: {:?}\n{}",
                    self.ledger.lock().unwrap(),
                    self.diagnosis(cluster)
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Pauses the holder that is inside the resource (its `legate lock` and its child) past
    /// its session's TTL, until another holder has entered with a higher token.
    pub fn pause_a_holder(&self, cluster: &Cluster) {
        let deadline = Instant::now() + Duration::from_secs(60);
        let (token, pids) = loop {
            assert!(Instant::now() < deadline, "nobody entered the resource");
            let inside = self.ledger.lock().unwrap().active.values().next().copied();
            if let Some((token, child)) = inside {
                if let Some(parent) = parent_of(child) {
                    // The child shell leads its own process group.
                    signal(child, "STOP");
                    signal(parent, "STOP");
                    let still_inside = self
                        .ledger
                        .lock()
                        .unwrap()
                        .active
                        .values()
                        .any(|(_, pid)| *pid == child);
                    if still_inside {
                        break (token, [child, parent]);
                    }
                    signal(child, "CONT");
                    signal(parent, "CONT");
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let deadline = Instant::now() + HANDOVER_DEADLINE;
        while self.ledger.lock().unwrap().highest <= token {
            assert!(
                Instant::now() < deadline,
                "no new holder after the paused one's session expired\n{}",
                self.diagnosis(cluster)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        // Resume the old holder only once the new one is inside the resource, so the old
        // one wakes believing it holds while the new one works.
        while !self
            .ledger
            .lock()
            .unwrap()
            .active
            .values()
            .any(|(held, _)| *held > token)
        {
            assert!(Instant::now() < deadline, "the new holder never entered");
            std::thread::sleep(Duration::from_millis(20));
        }
        for pid in pids {
            signal(pid, "CONT");
        }
    }

    pub fn finish(self) -> Ledger {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads {
            thread.join().unwrap();
        }
        std::mem::take(&mut *self.ledger.lock().unwrap())
    }
}
