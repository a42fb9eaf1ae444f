//! TCP checks (Consul's `CheckTCP`): a connect within the timeout is passing, anything else
//! critical. The connection is closed at once; nothing is sent.

use super::probe::Outcome;
use std::time::Duration;
use tokio::net::TcpStream;

#[derive(Debug)]
pub struct TcpCheck {
    /// `host:port`; the host may be a name, resolved on each run as Go's dialer does.
    address: String,
}

impl TcpCheck {
    pub fn new(address: &str) -> Self {
        TcpCheck {
            address: address.to_owned(),
        }
    }

    pub async fn run(&self, timeout: Duration) -> Outcome {
        // The timeout covers the name lookup too, as Go's `Dialer.Timeout` does.
        match tokio::time::timeout(timeout, TcpStream::connect(&self.address)).await {
            Ok(Ok(_stream)) => Outcome::passing(format!("TCP connect {}: Success", self.address)),
            // Go's dial errors read `dial tcp <address>: <cause>`.
            Ok(Err(error)) => Outcome::critical(format!("dial tcp {}: {error}", self.address)),
            Err(_) => Outcome::critical(format!("dial tcp {}: i/o timeout", self.address)),
        }
    }
}
