//! The TTL timer on paused time: it expires after the TTL, a reset postpones it, and a
//! restored remaining time is honored.

use super::super::Runners;
use super::{next, recorder, spec, Report};
use legate_api::local::CheckKind;
use legate_catalog::{CheckId, Health};
use std::time::Duration;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::time::{advance, Instant};

const TTL: Duration = Duration::from_secs(10);

/// Lets the runner tasks see the time that was just advanced.
async fn settle() {
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
}

async fn assert_quiet(reports: &mut UnboundedReceiver<Report>) {
    settle().await;
    assert_eq!(reports.try_recv().ok(), None);
}

/// The next report must be the expiry, exactly `after` from `since`.
async fn assert_expires(
    reports: &mut UnboundedReceiver<Report>,
    since: Instant,
    after: Duration,
    output: &str,
) {
    let report = next(reports).await;
    assert_eq!(
        report,
        Report {
            id: CheckId::new("ttl"),
            status: Health::Critical,
            output: output.to_owned(),
        }
    );
    let elapsed = since.elapsed();
    assert!(
        elapsed >= after && elapsed < after + Duration::from_millis(5),
        "expired after {elapsed:?}, not {after:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn expires_after_the_ttl() {
    let (reporter, mut reports) = recorder();
    let runners = Runners::new(reporter);
    let started = Instant::now();
    runners
        .start(&spec("ttl", CheckKind::Ttl(TTL)), None)
        .unwrap();
    advance(Duration::from_secs(9)).await;
    assert_quiet(&mut reports).await;
    assert_expires(&mut reports, started, TTL, "TTL expired").await;
    // Once: it waits for a reset.
    advance(Duration::from_secs(60)).await;
    assert_quiet(&mut reports).await;
}

#[tokio::test(start_paused = true)]
async fn a_reset_postpones_expiry() {
    let (reporter, mut reports) = recorder();
    let runners = Runners::new(reporter);
    let started = Instant::now();
    runners
        .start(&spec("ttl", CheckKind::Ttl(TTL)), None)
        .unwrap();
    advance(Duration::from_secs(8)).await;
    assert!(runners.reset_ttl(&CheckId::new("ttl")));
    advance(Duration::from_secs(8)).await;
    assert_quiet(&mut reports).await;
    assert_expires(
        &mut reports,
        started,
        Duration::from_secs(18),
        "TTL expired",
    )
    .await;
}

#[tokio::test(start_paused = true)]
async fn a_reset_after_expiry_rearms_with_the_last_output() {
    let (reporter, mut reports) = recorder();
    let runners = Runners::new(reporter);
    runners
        .start(&spec("ttl", CheckKind::Ttl(TTL)), None)
        .unwrap();
    assert_expires(&mut reports, Instant::now(), TTL, "TTL expired").await;

    let reset_at = Instant::now();
    assert!(runners.reset_ttl_with_output(&CheckId::new("ttl"), "all fine".into()));
    assert_expires(
        &mut reports,
        reset_at,
        TTL,
        "TTL expired (last output before timeout follows): all fine",
    )
    .await;

    // A plain reset keeps the last output.
    let reset_at = Instant::now();
    assert!(runners.reset_ttl(&CheckId::new("ttl")));
    assert_expires(
        &mut reports,
        reset_at,
        TTL,
        "TTL expired (last output before timeout follows): all fine",
    )
    .await;
}

#[tokio::test(start_paused = true)]
async fn a_restored_remaining_time_is_honored() {
    let (reporter, mut reports) = recorder();
    let runners = Runners::new(reporter);
    let started = Instant::now();
    runners
        .start(
            &spec("ttl", CheckKind::Ttl(TTL)),
            Some(Duration::from_secs(3)),
        )
        .unwrap();
    assert_expires(&mut reports, started, Duration::from_secs(3), "TTL expired").await;

    // Already past its deadline: it expires at once.
    let restarted = Instant::now();
    runners
        .start(&spec("ttl", CheckKind::Ttl(TTL)), Some(Duration::ZERO))
        .unwrap();
    assert_expires(&mut reports, restarted, Duration::ZERO, "TTL expired").await;

    // More than the TTL is cut to the TTL.
    let restarted = Instant::now();
    runners
        .start(
            &spec("ttl", CheckKind::Ttl(TTL)),
            Some(Duration::from_secs(3600)),
        )
        .unwrap();
    assert_expires(&mut reports, restarted, TTL, "TTL expired").await;
}

#[tokio::test(start_paused = true)]
async fn a_restart_starts_a_fresh_ttl() {
    let (reporter, mut reports) = recorder();
    let runners = Runners::new(reporter);
    let started = Instant::now();
    runners
        .start(&spec("ttl", CheckKind::Ttl(TTL)), None)
        .unwrap();
    advance(Duration::from_secs(8)).await;
    runners
        .start(&spec("ttl", CheckKind::Ttl(TTL)), None)
        .unwrap();
    advance(Duration::from_secs(8)).await;
    assert_quiet(&mut reports).await;
    assert_expires(
        &mut reports,
        started,
        Duration::from_secs(18),
        "TTL expired",
    )
    .await;
}

#[tokio::test(start_paused = true)]
async fn a_stopped_ttl_never_expires() {
    let (reporter, mut reports) = recorder();
    let runners = Runners::new(reporter);
    runners
        .start(&spec("ttl", CheckKind::Ttl(TTL)), None)
        .unwrap();
    runners.stop(&CheckId::new("ttl"));
    assert!(!runners.contains(&CheckId::new("ttl")));
    assert!(!runners.reset_ttl(&CheckId::new("ttl")));
    advance(Duration::from_secs(60)).await;
    assert_quiet(&mut reports).await;
}

#[tokio::test(start_paused = true)]
async fn reset_needs_a_ttl_runner() {
    let (reporter, _reports) = recorder();
    let runners = Runners::new(reporter);
    assert!(!runners.reset_ttl(&CheckId::new("nothing")));
    runners
        .start(&spec("tcp", CheckKind::Tcp("127.0.0.1:1".into())), None)
        .unwrap();
    assert!(!runners.reset_ttl(&CheckId::new("tcp")));
    assert!(!runners.reset_ttl_with_output(&CheckId::new("tcp"), "x".into()));
}
