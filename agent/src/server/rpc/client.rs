//! The calling side of server RPC: one multiplexed HTTP/2 connection per peer, opened on
//! first use and reopened after it fails, and a deadline on every call.
//!
//! HTTP/2 (hyper) does the framing, multiplexing and flow control: concurrent calls to one
//! peer share its connection as separate streams, so a slow snapshot does not hold up the
//! heartbeats behind it, and no connection is opened per call (a known weakness of the
//! openraft examples).

use super::message::{Request, Response, ResponseV1};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::client::conn::http2::SendRequest;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use legate_catalog::codec;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use thiserror::Error;

/// The path every call is posted to; the message inside says what it is.
pub const PATH: &str = "/legate.rpc/1";
/// Responses larger than this are refused (a forwarded read of a huge catalog is the largest
/// legitimate one).
pub const RESPONSE_BYTES_MAX: usize = 256 << 20;
/// How long opening a connection may take, within the call's own deadline.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Peers the pool keeps connections to; past it, the least useful one is simply replaced.
const PEERS_MAX: usize = 1024;

/// A call that produced no response. The request may or may not have reached the peer and
/// been acted on (`Timeout` and `Transport` after sending), so a caller that needs to know
/// must treat those as unknown outcomes.
#[derive(Debug, Error)]
pub enum RpcError {
    /// No connection could be opened: nothing was sent.
    #[error("cannot connect to {addr}: {reason}")]
    Connect { addr: String, reason: String },
    /// The deadline passed; the request may have been delivered.
    #[error("rpc to {addr} timed out after {after:?}")]
    Timeout { addr: String, after: Duration },
    /// The connection failed mid-call; the request may have been delivered.
    #[error("rpc to {addr} failed: {reason}")]
    Transport { addr: String, reason: String },
    /// The peer answered something this build cannot read.
    #[error("rpc to {addr}: unreadable response: {reason}")]
    Decode { addr: String, reason: String },
}

impl RpcError {
    /// Whether the request certainly did not reach the peer.
    pub fn not_sent(&self) -> bool {
        matches!(self, RpcError::Connect { .. })
    }
}

type Sender = SendRequest<Full<Bytes>>;
/// A peer's connection, behind a lock held while it is (re)opened.
type Slot = Arc<tokio::sync::Mutex<Option<Sender>>>;

/// A pool of connections to peers. Cheap to clone; clones share the pool.
#[derive(Clone, Default)]
pub struct RpcClient {
    peers: Arc<Mutex<HashMap<String, Slot>>>,
    /// The address outgoing connections come from (Consul's `RPCSrcAddr`, its bind
    /// address): peers, logs and firewalls see the agent's own address rather than whatever
    /// the routing table picks (on loopback, always 127.0.0.1).
    source: Option<IpAddr>,
}

impl std::fmt::Debug for RpcClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RpcClient").finish_non_exhaustive()
    }
}

impl RpcClient {
    pub fn new() -> RpcClient {
        RpcClient::default()
    }

    /// Connections leave from `source` (not when it is the unspecified address).
    pub fn from_source(source: IpAddr) -> RpcClient {
        RpcClient {
            source: (!source.is_unspecified()).then_some(source),
            ..RpcClient::default()
        }
    }

    /// Sends `request` to the server at `addr` ("127.0.0.1:8300") and waits at most
    /// `deadline` for its response.
    pub async fn call(
        &self,
        addr: &str,
        request: &Request,
        deadline: Duration,
    ) -> Result<ResponseV1, RpcError> {
        match tokio::time::timeout(deadline, self.call_inner(addr, request)).await {
            Ok(result) => result,
            Err(_) => Err(RpcError::Timeout {
                addr: addr.to_owned(),
                after: deadline,
            }),
        }
    }

    async fn call_inner(&self, addr: &str, request: &Request) -> Result<ResponseV1, RpcError> {
        let body = Bytes::from(codec::encode(request));
        let mut sender = self.sender(addr).await?;
        let transport = |reason: String| RpcError::Transport {
            addr: addr.to_owned(),
            reason,
        };
        let http_request = hyper::Request::post(PATH)
            .header("content-type", "application/x-legate-rpc")
            .body(Full::new(body))
            .map_err(|error| transport(error.to_string()))?;
        let response = match sender.send_request(http_request).await {
            Ok(response) => response,
            Err(error) => {
                self.forget(addr);
                return Err(transport(error.to_string()));
            }
        };
        if !response.status().is_success() {
            return Err(transport(format!("status {}", response.status())));
        }
        let bytes = Limited::new(response.into_body(), RESPONSE_BYTES_MAX)
            .collect()
            .await
            .map_err(|error| transport(error.to_string()))?
            .to_bytes();
        let Response::V1(response) = codec::decode(&bytes).map_err(|error| RpcError::Decode {
            addr: addr.to_owned(),
            reason: error.to_string(),
        })?;
        Ok(response)
    }

    /// The connection to `addr`, opened if there is none or the last one closed.
    async fn sender(&self, addr: &str) -> Result<Sender, RpcError> {
        let slot = {
            let mut peers = self.peers.lock().unwrap_or_else(PoisonError::into_inner);
            if peers.len() >= PEERS_MAX && !peers.contains_key(addr) {
                peers.clear();
            }
            peers.entry(addr.to_owned()).or_default().clone()
        };
        // One connect at a time per peer: concurrent callers wait for it and share it.
        let mut slot = slot.lock().await;
        if let Some(sender) = slot.as_ref() {
            if !sender.is_closed() {
                let mut sender = sender.clone();
                if sender.ready().await.is_ok() {
                    return Ok(sender);
                }
            }
        }
        let sender = connect(addr, self.source).await?;
        *slot = Some(sender.clone());
        Ok(sender)
    }

    fn forget(&self, addr: &str) {
        let mut peers = self.peers.lock().unwrap_or_else(PoisonError::into_inner);
        peers.remove(addr);
    }
}

/// A TCP connection to `addr`, from `source` when given and of the same family.
async fn open(addr: &str, source: Option<IpAddr>) -> std::io::Result<tokio::net::TcpStream> {
    let target = tokio::net::lookup_host(addr)
        .await?
        .next()
        .ok_or_else(|| std::io::Error::other(format!("{addr} resolves to no address")))?;
    let socket = match target {
        SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    if let Some(source) = source.filter(|source| source.is_ipv4() == target.is_ipv4()) {
        socket.bind(SocketAddr::new(source, 0))?;
    }
    socket.connect(target).await
}

async fn connect(addr: &str, source: Option<IpAddr>) -> Result<Sender, RpcError> {
    let connect_error = |reason: String| RpcError::Connect {
        addr: addr.to_owned(),
        reason,
    };
    let stream = tokio::time::timeout(CONNECT_TIMEOUT, open(addr, source))
        .await
        .map_err(|_| connect_error(format!("no answer within {CONNECT_TIMEOUT:?}")))?
        .map_err(|error| connect_error(error.to_string()))?;
    // Heartbeats and votes are tiny and latency-bound.
    let _ = stream.set_nodelay(true);
    let (sender, connection) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
        // Keep-alive pings need hyper's timer.
        .timer(TokioTimer::new())
        .adaptive_window(true)
        .keep_alive_interval(Some(Duration::from_secs(10)))
        .keep_alive_timeout(Duration::from_secs(5))
        .handshake(TokioIo::new(stream))
        .await
        .map_err(|error| connect_error(error.to_string()))?;
    let peer = addr.to_owned();
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::debug!(%peer, %error, "rpc connection closed");
        }
    });
    Ok(sender)
}
