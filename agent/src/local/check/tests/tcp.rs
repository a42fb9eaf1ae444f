//! TCP probes against an open and a closed port.

use super::super::probe::Probe;
use super::closed_address;
use legate_api::local::CheckKind;
use legate_catalog::Health;
use std::time::Duration;

#[tokio::test]
async fn an_open_port_is_passing() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let probe = Probe::new(&CheckKind::Tcp(address.clone()), 4096).unwrap();
    let outcome = probe.run(Duration::from_secs(10)).await;
    assert_eq!(outcome.status, Health::Passing);
    assert_eq!(outcome.output, format!("TCP connect {address}: Success"));
}

#[tokio::test]
async fn a_closed_port_is_critical_with_the_cause() {
    let address = closed_address().await;
    let probe = Probe::new(&CheckKind::Tcp(address.clone()), 4096).unwrap();
    let outcome = probe.run(Duration::from_secs(10)).await;
    assert_eq!(outcome.status, Health::Critical);
    assert!(
        outcome.output.starts_with(&format!("dial tcp {address}: ")),
        "{}",
        outcome.output
    );
    assert!(
        outcome.output.contains("onnection refused"),
        "{}",
        outcome.output
    );
}

#[tokio::test]
async fn an_unresolvable_address_is_critical() {
    let probe = Probe::new(&CheckKind::Tcp("no port here".into()), 4096).unwrap();
    let outcome = probe.run(Duration::from_secs(10)).await;
    assert_eq!(outcome.status, Health::Critical);
    assert!(outcome.output.starts_with("dial tcp no port here: "));
}
