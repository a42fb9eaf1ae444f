//! Tests of the check runners against real servers on `127.0.0.1:0`, real processes, and
//! (for the TTL timer) paused time. The shared harness is here: a `Reporter` that records
//! into a channel, definitions, and a self-signed TLS acceptor.

mod grpc;
mod http;
mod runners;
mod script;
mod tcp;
mod threshold;
mod ttl;

use super::Reporter;
use legate_api::local::{CheckKind, CheckSpec, DEFAULT_OUTPUT_MAX_SIZE};
use legate_catalog::{CheckId, Health};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;

/// How long a test waits for a report that must come. Generous: a loaded CI machine is slow,
/// and a report that comes early ends the wait at once.
const PATIENCE: Duration = Duration::from_secs(30);

#[derive(Clone, Debug, PartialEq, Eq)]
struct Report {
    id: CheckId,
    status: Health,
    output: String,
}

/// Records every report into a channel.
struct Recorder(mpsc::UnboundedSender<Report>);

impl Reporter for Recorder {
    fn report(&self, id: &CheckId, status: Health, output: String) {
        let _ = self.0.send(Report {
            id: id.clone(),
            status,
            output,
        });
    }
}

fn recorder() -> (Arc<Recorder>, mpsc::UnboundedReceiver<Report>) {
    let (sender, receiver) = mpsc::unbounded_channel();
    (Arc::new(Recorder(sender)), receiver)
}

/// The next report, or a test failure after `PATIENCE`.
async fn next(reports: &mut mpsc::UnboundedReceiver<Report>) -> Report {
    tokio::time::timeout(PATIENCE, reports.recv())
        .await
        .expect("no report in time")
        .expect("reporter dropped")
}

/// A definition as the config layer hands it over: Consul's defaults applied, no thresholds.
fn spec(id: &str, kind: CheckKind) -> CheckSpec {
    CheckSpec {
        id: CheckId::new(id),
        name: id.to_owned(),
        notes: String::new(),
        service_id: Default::default(),
        status: Health::Critical,
        interval: if matches!(kind, CheckKind::Ttl(_)) {
            Duration::ZERO
        } else {
            Duration::from_secs(1)
        },
        kind,
        timeout: Duration::from_secs(5),
        deregister_critical_service_after: None,
        success_before_passing: 0,
        failures_before_warning: 0,
        failures_before_critical: 0,
        output_max_size: DEFAULT_OUTPUT_MAX_SIZE,
    }
}

/// An address nothing listens on: bound, then released.
async fn closed_address() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    drop(listener);
    address
}

/// A TLS acceptor with a fresh self-signed certificate for `localhost`, offering `alpn`.
fn tls_acceptor(alpn: &[&[u8]]) -> TlsAcceptor {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let cert: CertificateDer<'static> = certified.cert.der().clone();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(certified.key_pair.serialize_der()));
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![cert], key)
    .unwrap();
    config.alpn_protocols = alpn.iter().map(|protocol| protocol.to_vec()).collect();
    TlsAcceptor::from(Arc::new(config))
}
