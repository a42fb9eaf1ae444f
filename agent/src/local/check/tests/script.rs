//! Script probes: exit codes, captured output, the timeout and the kill of the process
//! group.

use super::super::probe::Probe;
use legate_api::local::CheckKind;
use legate_catalog::Health;
use std::path::Path;
use std::time::Duration;

fn sh(script: &str) -> CheckKind {
    CheckKind::Script(vec!["sh".into(), "-c".into(), script.into()])
}

async fn run(kind: CheckKind, output_max_size: usize, timeout: Duration) -> (Health, String) {
    let probe = Probe::new(&kind, output_max_size).unwrap();
    let outcome = probe.run(timeout).await;
    (outcome.status, outcome.output)
}

const TIMEOUT: Duration = Duration::from_secs(10);

#[tokio::test]
async fn exit_codes_map_to_statuses() {
    for (code, expected) in [
        (0, Health::Passing),
        (1, Health::Warning),
        (2, Health::Critical),
        (127, Health::Critical),
    ] {
        let (status, output) = run(sh(&format!("exit {code}")), 4096, TIMEOUT).await;
        assert_eq!(status, expected, "exit {code}");
        assert_eq!(output, "");
    }
}

#[tokio::test]
async fn stdout_and_stderr_are_the_output() {
    let (status, output) = run(
        sh("echo to-stdout; echo to-stderr >&2; exit 1"),
        4096,
        TIMEOUT,
    )
    .await;
    assert_eq!(status, Health::Warning);
    assert!(output.contains("to-stdout\n"), "{output:?}");
    assert!(output.contains("to-stderr\n"), "{output:?}");
}

#[tokio::test]
async fn arguments_are_passed_without_a_shell() {
    let kind = CheckKind::Script(vec!["echo".into(), "$HOME".into(), "a b".into()]);
    let (status, output) = run(kind, 4096, TIMEOUT).await;
    assert_eq!(status, Health::Passing);
    assert_eq!(output, "$HOME a b\n");
}

#[tokio::test]
async fn a_large_output_keeps_its_end() {
    let (status, output) = run(
        sh("head -c 100000 /dev/zero | tr '\\0' x; echo; echo the-end"),
        100,
        TIMEOUT,
    )
    .await;
    assert_eq!(status, Health::Passing);
    assert!(output.len() <= 100, "{}", output.len());
    assert!(
        output.starts_with("Captured 67 of 100009 bytes\n...\n"),
        "{output:?}"
    );
    assert!(output.ends_with("x\nthe-end\n"), "{output:?}");
}

#[tokio::test]
async fn a_missing_command_is_critical() {
    let kind = CheckKind::Script(vec!["/nonexistent/legate-check".into()]);
    let (status, output) = run(kind, 4096, TIMEOUT).await;
    assert_eq!(status, Health::Critical);
    assert!(
        output.starts_with("exec: \"/nonexistent/legate-check\": "),
        "{output}"
    );
}

#[tokio::test]
async fn an_empty_command_is_refused() {
    assert!(Probe::new(&CheckKind::Script(vec![]), 4096).is_err());
    assert!(Probe::new(&CheckKind::Script(vec![String::new()]), 4096).is_err());
}

/// Whether `pid` is a live process (not gone, not a zombie waiting to be reaped).
fn alive(pid: &str) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => false,
        // The state follows the command name, which is in parentheses.
        Ok(stat) => !stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
    }
}

/// Waits until the process whose id is in `file` is dead.
pub(super) async fn wait_dead(file: &Path) {
    let pid = std::fs::read_to_string(file).unwrap().trim().to_owned();
    assert!(!pid.is_empty());
    let deadline = tokio::time::Instant::now() + super::PATIENCE;
    while alive(&pid) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "process {pid} still runs"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_timeout_kills_the_script_and_its_children() {
    let directory = tempfile::tempdir().unwrap();
    let pid_file = directory.path().join("child.pid");
    // The background `sleep` would hold the output pipe open for 60 s if it survived.
    let script = format!(
        "echo started; sleep 60 & echo $! > {}; wait",
        pid_file.display()
    );
    let started = std::time::Instant::now();
    let (status, output) = run(sh(&script), 4096, Duration::from_millis(500)).await;
    assert_eq!(status, Health::Critical);
    assert_eq!(output, "Timed out (500ms) running check\n\nstarted\n");
    assert!(started.elapsed() < Duration::from_secs(30));
    wait_dead(&pid_file).await;
}
