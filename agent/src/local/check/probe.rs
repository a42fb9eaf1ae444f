//! One run of an interval check, whatever its kind: `Probe` dispatches to the kind's module
//! and returns an `Outcome`. Probes never report; the runner filters and reports outcomes.

use super::grpc::GrpcCheck;
use super::http::HttpCheck;
use super::script::ScriptCheck;
use super::tcp::TcpCheck;
use super::tls::TlsError;
use legate_api::local::CheckKind;
use legate_catalog::Health;
use std::time::Duration;
use thiserror::Error;

/// The result of one run, before the threshold filter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub status: Health,
    pub output: String,
}

impl Outcome {
    pub fn passing(output: String) -> Self {
        Outcome {
            status: Health::Passing,
            output,
        }
    }

    pub fn warning(output: String) -> Self {
        Outcome {
            status: Health::Warning,
            output,
        }
    }

    pub fn critical(output: String) -> Self {
        Outcome {
            status: Health::Critical,
            output,
        }
    }
}

/// Why a check cannot be started. No runner is left for it, and `Runners::start` has
/// reported it critical with this text; only a changed definition helps.
#[derive(Debug, Error)]
pub enum SetupError {
    #[error("invalid check URL {url:?}: {reason}")]
    Url { url: String, reason: String },
    #[error("invalid HTTP method {0:?}")]
    Method(String),
    #[error("invalid HTTP header {0:?}")]
    Header(String),
    #[error("HTTP client setup failed: {0}")]
    Client(String),
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error("invalid gRPC target {0:?}")]
    GrpcTarget(String),
    #[error("script check has no command")]
    EmptyScript,
    /// A TTL check was given to `Probe::new`; it has a timer, not a probe.
    #[error("a TTL check has no probe")]
    Ttl,
}

/// An interval check's probe, built once per start (clients and encoded requests are kept
/// between runs).
pub enum Probe {
    Http(HttpCheck),
    Tcp(TcpCheck),
    Grpc(GrpcCheck),
    Script(ScriptCheck),
}

impl Probe {
    /// The probe for `kind`.
    pub fn new(kind: &CheckKind, output_max_size: usize) -> Result<Probe, SetupError> {
        Ok(match kind {
            CheckKind::Ttl(_) => return Err(SetupError::Ttl),
            CheckKind::Http(probe) => Probe::Http(HttpCheck::new(probe, output_max_size)?),
            CheckKind::Tcp(address) => Probe::Tcp(TcpCheck::new(address)),
            CheckKind::Grpc(probe) => Probe::Grpc(GrpcCheck::new(probe)?),
            CheckKind::Script(args) => Probe::Script(ScriptCheck::new(args, output_max_size)?),
        })
    }

    /// One run, bounded by `timeout` (each kind words its own timeout as Consul does).
    pub async fn run(&self, timeout: Duration) -> Outcome {
        match self {
            Probe::Http(check) => check.run(timeout).await,
            Probe::Tcp(check) => check.run(timeout).await,
            Probe::Grpc(check) => check.run(timeout).await,
            Probe::Script(check) => check.run(timeout).await,
        }
    }
}
