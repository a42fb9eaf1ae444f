//! `Runners` end to end, in real time: interval checks report, are replaced and stopped, a
//! slow check delays no other, and a stopped script is killed.

use super::super::{Runners, SetupError};
use super::script::wait_dead;
use super::{closed_address, next, recorder, spec};
use legate_api::local::{CheckKind, HttpProbe};
use legate_catalog::{CheckId, Health};
use std::time::Duration;
use tokio::net::TcpListener;

#[tokio::test]
async fn an_interval_check_reports_each_run() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let (reporter, mut reports) = recorder();
    let runners = Runners::new(reporter);
    runners
        .start(&spec("tcp", CheckKind::Tcp(address.clone())), None)
        .unwrap();
    assert!(runners.contains(&CheckId::new("tcp")));
    for _ in 0..2 {
        let report = next(&mut reports).await;
        assert_eq!(report.status, Health::Passing);
        assert_eq!(report.output, format!("TCP connect {address}: Success"));
    }
}

#[tokio::test]
async fn start_replaces_and_stop_silences() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let open = listener.local_addr().unwrap().to_string();
    let (reporter, mut reports) = recorder();
    let runners = Runners::new(reporter);
    let id = CheckId::new("tcp");

    runners
        .start(&spec("tcp", CheckKind::Tcp(closed_address().await)), None)
        .unwrap();
    assert_eq!(next(&mut reports).await.status, Health::Critical);

    runners
        .start(&spec("tcp", CheckKind::Tcp(open.clone())), None)
        .unwrap();
    // Reports of the replaced runner may still be queued; none comes after the switch.
    let mut report = next(&mut reports).await;
    while report.status == Health::Critical {
        report = next(&mut reports).await;
    }
    assert_eq!(report.output, format!("TCP connect {open}: Success"));

    runners.stop(&id);
    assert!(!runners.contains(&id));
    while let Ok(queued) = reports.try_recv() {
        assert_eq!(queued.status, Health::Passing);
    }
    // Past two intervals and the whole stagger, nothing more is reported.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(reports.try_recv().ok(), None);
}

#[tokio::test]
async fn a_definition_that_cannot_run_is_reported_and_refused() {
    let (reporter, mut reports) = recorder();
    let runners = Runners::new(reporter);
    let bad = spec(
        "http",
        CheckKind::Http(HttpProbe {
            url: "not a url".into(),
            ..HttpProbe::default()
        }),
    );
    let error = runners.start(&bad, None).unwrap_err();
    assert!(matches!(error, SetupError::Url { .. }));
    assert!(!runners.contains(&CheckId::new("http")));
    let report = next(&mut reports).await;
    assert_eq!(report.status, Health::Critical);
    assert_eq!(report.output, error.to_string());
    assert!(report.output.starts_with("invalid check URL \"not a url\""));
}

#[tokio::test]
async fn outputs_are_cut_to_the_checks_size() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let (reporter, mut reports) = recorder();
    let runners = Runners::new(reporter);
    let mut small = spec("tcp", CheckKind::Tcp(address));
    small.output_max_size = 11;
    runners.start(&small, None).unwrap();
    assert_eq!(next(&mut reports).await.output, "TCP connect");
}

#[tokio::test]
async fn thresholds_apply_between_runs() {
    let directory = tempfile::tempdir().unwrap();
    let healthy = directory.path().join("healthy");
    let (reporter, mut reports) = recorder();
    let runners = Runners::new(reporter);
    let mut check = spec(
        "script",
        script(&format!("test -f {} || exit 2", healthy.display())),
    );
    check.success_before_passing = 2;
    check.failures_before_warning = 1;
    check.failures_before_critical = 3;
    runners.start(&check, None).unwrap();
    // The first run replaces the initial status at once (Consul starts the counters at the
    // thresholds).
    assert_eq!(next(&mut reports).await.status, Health::Critical);
    // Two successes are needed: the first is held back (a run already under way when the
    // file appears may still fail, hence the loop).
    std::fs::write(&healthy, b"").unwrap();
    let mut report = next(&mut reports).await;
    while report.status == Health::Critical {
        report = next(&mut reports).await;
    }
    assert_eq!(report.status, Health::Passing);
    // One failure warns, the third is critical.
    std::fs::remove_file(&healthy).unwrap();
    let mut report = next(&mut reports).await;
    while report.status == Health::Passing {
        report = next(&mut reports).await;
    }
    assert_eq!(report.status, Health::Warning);
    for expected in [Health::Warning, Health::Critical] {
        assert_eq!(next(&mut reports).await.status, expected);
    }
}

fn script(text: &str) -> CheckKind {
    CheckKind::Script(vec!["sh".into(), "-c".into(), text.into()])
}

#[tokio::test]
async fn a_slow_check_does_not_delay_the_others() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let (reporter, mut reports) = recorder();
    let runners = Runners::new(reporter);
    let mut slow = spec("slow", script("sleep 60"));
    slow.timeout = Duration::from_secs(60);
    runners.start(&slow, None).unwrap();
    runners
        .start(&spec("tcp", CheckKind::Tcp(address)), None)
        .unwrap();
    for _ in 0..3 {
        let report = next(&mut reports).await;
        assert_eq!(report.id.as_str(), "tcp");
    }
    runners.stop_all();
    assert!(!runners.contains(&CheckId::new("slow")));
}

#[tokio::test]
async fn stopping_a_check_kills_its_script() {
    let directory = tempfile::tempdir().unwrap();
    let pid_file = directory.path().join("child.pid");
    let ready = directory.path().join("ready");
    let (reporter, mut reports) = recorder();
    let runners = Runners::new(reporter);
    let mut long = spec(
        "script",
        script(&format!(
            "sleep 60 & echo $! > {}; touch {}; wait",
            pid_file.display(),
            ready.display()
        )),
    );
    long.timeout = Duration::from_secs(60);
    runners.start(&long, None).unwrap();
    wait_for(&ready).await;
    runners.stop(&CheckId::new("script"));
    wait_dead(&pid_file).await;
    assert_eq!(reports.try_recv().ok(), None);
}

#[tokio::test]
async fn dropping_the_runners_kills_their_scripts() {
    let directory = tempfile::tempdir().unwrap();
    let pid_file = directory.path().join("child.pid");
    let ready = directory.path().join("ready");
    let (reporter, _reports) = recorder();
    let runners = Runners::new(reporter);
    let mut long = spec(
        "script",
        script(&format!(
            "sleep 60 & echo $! > {}; touch {}; wait",
            pid_file.display(),
            ready.display()
        )),
    );
    long.timeout = Duration::from_secs(60);
    runners.start(&long, None).unwrap();
    wait_for(&ready).await;
    drop(runners);
    wait_dead(&pid_file).await;
}

/// Waits until `file` exists (the script has started and written its child's pid).
async fn wait_for(file: &std::path::Path) {
    let deadline = tokio::time::Instant::now() + super::PATIENCE;
    while !file.exists() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} never appeared",
            file.display()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
