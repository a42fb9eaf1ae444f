//! The calling side of server RPC: one multiplexed connection per peer, opened on first use
//! and reopened after it fails, and a deadline on every call.
//!
//! A connection speaks the framed transport (`link`) when the peer does, and HTTP/2 (hyper)
//! with a server of an earlier release, found out by its refusing the framed hello. Either
//! way concurrent calls to one peer share its connection, a long message does not hold up
//! the heartbeats behind it, and no connection is opened per call (a known weakness of the
//! openraft examples).

use super::link::{Link, LinkError, Opened};
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

/// A peer's connection, in whichever protocol the peer speaks.
#[derive(Clone)]
enum Connection {
    Framed(Arc<Link>),
    Http2(Sender),
}

/// A peer's connection, behind a lock held while it is (re)opened.
type Slot = Arc<tokio::sync::Mutex<Option<Connection>>>;

/// A pool of connections to peers. Cheap to clone; clones share the pool.
#[derive(Clone, Default)]
pub struct RpcClient {
    peers: Arc<Mutex<HashMap<String, Slot>>>,
    /// The address outgoing connections come from (Consul's `RPCSrcAddr`, its bind
    /// address): peers, logs and firewalls see the agent's own address rather than whatever
    /// the routing table picks (on loopback, always 127.0.0.1).
    source: Option<IpAddr>,
    /// Speak HTTP/2 only, as a caller of the previous release does (compatibility tests).
    http2_only: bool,
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

    /// A pool that speaks HTTP/2 only, as the previous release's did: for compatibility tests
    /// and for measuring what the framed transport saves.
    pub fn http2_only() -> RpcClient {
        RpcClient {
            http2_only: true,
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
        // A link found closed before anything went out is replaced once: nothing was sent.
        let mut retried = false;
        let bytes = loop {
            match self.connection(addr).await? {
                Connection::Framed(link) => match link.call(&body).await {
                    Ok(bytes) => break Bytes::from(bytes),
                    Err(LinkError::Closed) if !retried => retried = true,
                    Err(error) => return Err(lost(addr, error)),
                },
                Connection::Http2(sender) => match http2_call(addr, sender, body.clone()).await {
                    Ok(bytes) => break bytes,
                    Err(error) => {
                        if matches!(error, RpcError::Transport { .. }) {
                            self.forget(addr);
                        }
                        return Err(error);
                    }
                },
            }
        };
        let Response::V1(response) = codec::decode(&bytes).map_err(|error| RpcError::Decode {
            addr: addr.to_owned(),
            reason: error.to_string(),
        })?;
        Ok(response)
    }

    /// The connection to `addr`, opened if there is none or the last one closed.
    async fn connection(&self, addr: &str) -> Result<Connection, RpcError> {
        let slot = {
            let mut peers = self.peers.lock().unwrap_or_else(PoisonError::into_inner);
            if peers.len() >= PEERS_MAX && !peers.contains_key(addr) {
                peers.clear();
            }
            peers.entry(addr.to_owned()).or_default().clone()
        };
        // One connect at a time per peer: concurrent callers wait for it and share it.
        let mut slot = slot.lock().await;
        match slot.as_ref() {
            Some(Connection::Framed(link)) if !link.is_closed() => {
                return Ok(Connection::Framed(link.clone()));
            }
            Some(Connection::Http2(sender)) if !sender.is_closed() => {
                let mut sender = sender.clone();
                if sender.ready().await.is_ok() {
                    return Ok(Connection::Http2(sender));
                }
            }
            _ => {}
        }
        let connection = if self.http2_only {
            Connection::Http2(connect_http2(addr, self.source).await?)
        } else {
            connect(addr, self.source).await?
        };
        *slot = Some(connection.clone());
        Ok(connection)
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
    let stream = socket.connect(target).await?;
    // Heartbeats and votes are tiny and latency-bound.
    stream.set_nodelay(true)?;
    Ok(stream)
}

fn lost(addr: &str, error: LinkError) -> RpcError {
    RpcError::Transport {
        addr: addr.to_owned(),
        reason: match error {
            LinkError::Closed => "connection closed".to_owned(),
            LinkError::Lost(reason) => reason,
        },
    }
}

/// One call over HTTP/2: the response's bytes.
pub(super) async fn http2_call(
    addr: &str,
    mut sender: Sender,
    body: Bytes,
) -> Result<Bytes, RpcError> {
    let transport = |reason: String| RpcError::Transport {
        addr: addr.to_owned(),
        reason,
    };
    let http_request = hyper::Request::post(PATH)
        .header("content-type", "application/x-legate-rpc")
        .body(Full::new(body))
        .map_err(|error| transport(error.to_string()))?;
    let response = sender
        .send_request(http_request)
        .await
        .map_err(|error| transport(error.to_string()))?;
    if !response.status().is_success() {
        return Err(transport(format!("status {}", response.status())));
    }
    Ok(Limited::new(response.into_body(), RESPONSE_BYTES_MAX)
        .collect()
        .await
        .map_err(|error| transport(error.to_string()))?
        .to_bytes())
}

/// A connection to `addr`: framed if the peer speaks it, HTTP/2 otherwise.
async fn connect(addr: &str, source: Option<IpAddr>) -> Result<Connection, RpcError> {
    let connect_error = |reason: String| RpcError::Connect {
        addr: addr.to_owned(),
        reason,
    };
    let framed = async {
        let stream = open(addr, source).await?;
        Link::open(stream, RESPONSE_BYTES_MAX).await
    };
    let opened = tokio::time::timeout(CONNECT_TIMEOUT, framed)
        .await
        .map_err(|_| connect_error(format!("no answer within {CONNECT_TIMEOUT:?}")))?
        .map_err(|error| connect_error(error.to_string()))?;
    match opened {
        Opened::Link(link) => Ok(Connection::Framed(link)),
        Opened::NotSpoken => {
            tracing::debug!(peer = %addr, "rpc: the peer speaks HTTP/2 only");
            Ok(Connection::Http2(connect_http2(addr, source).await?))
        }
    }
}

/// An HTTP/2 connection to `addr`, for a server of an earlier release.
pub(super) async fn connect_http2(addr: &str, source: Option<IpAddr>) -> Result<Sender, RpcError> {
    let connect_error = |reason: String| RpcError::Connect {
        addr: addr.to_owned(),
        reason,
    };
    let stream = tokio::time::timeout(CONNECT_TIMEOUT, open(addr, source))
        .await
        .map_err(|_| connect_error(format!("no answer within {CONNECT_TIMEOUT:?}")))?
        .map_err(|error| connect_error(error.to_string()))?;
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
