//! Starts real `legate` processes on loopback with their own data directories and free
//! ports, waits for them to be ready, and kills or restarts them.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long an agent may take to elect itself; generous because CI machines are shared.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("a free loopback port")
}

pub fn legate() -> &'static str {
    env!("CARGO_BIN_EXE_legate")
}

/// One running agent.
pub struct Agent {
    pub child: Option<Child>,
    pub http_port: u16,
    /// DNS answers on this port, UDP and TCP.
    pub dns_port: u16,
    /// Server RPC.
    pub rpc_port: u16,
    pub data_dir: PathBuf,
    pub extra: Vec<String>,
    /// Environment variables for the process (fault injection).
    pub env: Vec<(String, String)>,
    pub log: PathBuf,
    // Keeps the directory alive as long as the agent (and its restarts) need it.
    _scratch: tempfile::TempDir,
}

impl Agent {
    /// A persistent single server: `-server -bootstrap -data-dir`.
    pub fn server(extra: &[&str]) -> Agent {
        Agent::server_at(None, extra)
    }

    /// A persistent single server whose data directory is `data_dir` (default: a fresh
    /// scratch directory).
    pub fn server_at(data_dir: Option<PathBuf>, extra: &[&str]) -> Agent {
        Agent::server_with(data_dir, extra, &[])
    }

    /// `server_at` with environment variables for the process.
    pub fn server_with(data_dir: Option<PathBuf>, extra: &[&str], env: &[(&str, &str)]) -> Agent {
        let scratch = tempfile::tempdir().expect("scratch dir");
        let data_dir = data_dir.unwrap_or_else(|| scratch.path().join("data"));
        let log = scratch.path().join("agent.log");
        let mut agent = Agent {
            child: None,
            http_port: 0,
            dns_port: 0,
            rpc_port: 0,
            data_dir,
            extra: extra.iter().map(|s| s.to_string()).collect(),
            env: env
                .iter()
                .map(|(name, value)| (name.to_string(), value.to_string()))
                .collect(),
            log,
            _scratch: scratch,
        };
        agent.start();
        agent
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.http_port)
    }

    pub fn addr(&self) -> String {
        format!("http://127.0.0.1:{}", self.http_port)
    }

    /// Starts (or restarts) the process and waits until it has a leader. Picks a new port
    /// and tries again if the one it picked was taken in the meantime.
    pub fn start(&mut self) {
        for _attempt in 0..5 {
            if self.http_port == 0 {
                self.http_port = free_port();
                self.dns_port = free_port();
                self.rpc_port = free_port();
            }
            let log = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.log)
                .expect("log file");
            let mut args: Vec<String> = vec![
                "agent".into(),
                "-server".into(),
                "-bootstrap".into(),
                format!("-data-dir={}", self.data_dir.display()),
                format!("-http-port={}", self.http_port),
                format!("-dns-port={}", self.dns_port),
                format!("-server-port={}", self.rpc_port),
                format!("-serf-lan-port={}", free_port()),
                format!("-serf-wan-port={}", free_port()),
                "-bind=127.0.0.1".into(),
                "-node=e2e-node".into(),
            ];
            args.extend(self.extra.iter().cloned());
            let child = Command::new(legate())
                .args(&args)
                .envs(self.env.iter().map(|(name, value)| (name, value)))
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .expect("spawn legate");
            self.child = Some(child);
            if self.wait_ready() {
                return;
            }
            self.kill9();
            self.http_port = 0;
        }
        panic!("agent never became ready; log:\n{}", self.log_text());
    }

    fn wait_ready(&mut self) -> bool {
        let client = reqwest::blocking::Client::new();
        let deadline = Instant::now() + READY_TIMEOUT;
        while Instant::now() < deadline {
            if let Some(Ok(Some(_))) = self.child.as_mut().map(|c| c.try_wait()) {
                return false;
            }
            let answer = client
                .get(self.url("/v1/status/leader"))
                .timeout(Duration::from_secs(2))
                .send()
                .and_then(|r| r.text());
            if let Ok(body) = answer {
                if body.trim() != "\"\"" && body.contains(':') {
                    return true;
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGKILL: no chance to flush anything it has not flushed already.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM and wait for a clean exit.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("running");
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = child.try_wait().expect("wait") {
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("agent did not stop on SIGTERM; log:\n{}", self.log_text());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Runs the `legate` CLI and returns (exit code, stdout, stderr).
pub fn cli(args: &[&str]) -> (i32, String, String) {
    let output = Command::new(legate())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run legate");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}
