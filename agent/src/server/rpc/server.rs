//! The serving side of server RPC: accepts connections on the server port and hands each
//! decoded request to a `Handler`.
//!
//! A connection speaks the framed transport (`frame`, `responder`) when its first bytes are
//! the framed hello, and HTTP/2 otherwise: callers of an earlier release speak only HTTP/2,
//! and a server must keep serving them through a rolling upgrade.
//!
//! Rules:
//! 1. At most `RpcLimits::connections` connections at once; more wait in the kernel's backlog.
//! 2. A request body larger than `RpcLimits::request_bytes`, or one that does not decode,
//!    closes its whole connection with a logged reason: a peer that sends such a thing is
//!    broken or hostile, and nothing it sent is acted on. Nothing here panics on input.
//! 3. Shutdown (the cancellation token) stops accepting and lets open calls finish within
//!    `RpcLimits::drain`.
//! 4. A connection that has not shown which protocol it speaks within `HANDSHAKE_LIMIT` is
//!    closed.

use super::client::PATH;
use super::frame;
use super::message::{Request, RequestV1, Response, ResponseV1};
use super::responder::serve_framed;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::StatusCode;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use legate_catalog::codec;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How long a new connection has to send its first bytes (rule 4).
const HANDSHAKE_LIMIT: Duration = Duration::from_secs(10);

/// What serves decoded requests.
pub trait Handler: Send + Sync + 'static {
    fn handle(
        &self,
        request: RequestV1,
        peer: SocketAddr,
    ) -> impl Future<Output = ResponseV1> + Send;
}

#[derive(Clone, Copy, Debug)]
pub struct RpcLimits {
    pub connections: usize,
    /// Streams (calls) in flight on one connection.
    pub streams_per_connection: u32,
    /// The largest request body: a whole snapshot is the largest legitimate one.
    pub request_bytes: usize,
    pub drain: Duration,
    /// The longest one frame of a response may wait for its caller to take it before the
    /// connection is closed (framed transport): a caller that stopped reading must not hold
    /// the connection's calls for ever.
    pub write_stall: Duration,
    /// Whether the framed transport is served; without it only HTTP/2 is, as by a server of
    /// the previous release (compatibility tests play that server with it).
    pub framed: bool,
}

impl Default for RpcLimits {
    fn default() -> Self {
        RpcLimits {
            // A datacenter's servers and client agents, with room for reconnects.
            connections: 4096,
            streams_per_connection: 512,
            request_bytes: 1 << 30,
            drain: Duration::from_secs(5),
            write_stall: Duration::from_secs(10),
            framed: true,
        }
    }
}

/// Serves RPC on `listener` until `cancel` fires.
pub async fn serve<H: Handler>(
    listener: TcpListener,
    handler: Arc<H>,
    limits: RpcLimits,
    cancel: CancellationToken,
) {
    let slots = Arc::new(Semaphore::new(limits.connections));
    let connections = TaskTracker::new();
    loop {
        let Ok(slot) = slots.clone().acquire_owned().await else {
            break;
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of descriptors or similar: back off rather than spin.
                    tracing::warn!(%error, "rpc: accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = cancel.cancelled() => break,
        };
        let _ = stream.set_nodelay(true);
        let handler = handler.clone();
        let cancel = cancel.clone();
        connections.spawn(async move {
            match tokio::time::timeout(HANDSHAKE_LIMIT, speaks_framed(&stream)).await {
                Ok(Ok(true)) if limits.framed => {
                    serve_framed(stream, peer, handler, limits, cancel).await
                }
                Ok(Ok(_)) => serve_connection(stream, peer, handler, limits, cancel).await,
                Ok(Err(error)) => tracing::debug!(%peer, %error, "rpc: connection lost"),
                Err(_) => tracing::debug!(%peer, "rpc: closing a connection that sent nothing"),
            }
            drop(slot);
        });
    }
    connections.close();
    let _ = tokio::time::timeout(limits.drain, connections.wait()).await;
}

/// Whether the connection opens with the framed hello, from its first bytes (left unread).
async fn speaks_framed(stream: &tokio::net::TcpStream) -> std::io::Result<bool> {
    let mut first = [0; frame::MAGIC.len()];
    loop {
        let seen = stream.peek(&mut first).await?;
        if seen == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        if first[..seen] != frame::MAGIC[..seen] {
            return Ok(false);
        }
        if seen == first.len() {
            return Ok(true);
        }
        // A prefix of the magic so far: peek answers at once until more arrives.
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// Serves an HTTP/2 connection (callers of an earlier release).
pub(super) async fn serve_connection<H: Handler>(
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    handler: Arc<H>,
    limits: RpcLimits,
    cancel: CancellationToken,
) {
    // Fired by a call that received something malformed (rule 2).
    let close = CancellationToken::new();
    let service = {
        let close = close.clone();
        service_fn(move |request: hyper::Request<Incoming>| {
            let handler = handler.clone();
            let close = close.clone();
            async move {
                let response = match read_request(request, limits.request_bytes).await {
                    Ok(request) => {
                        let response = handler.handle(request, peer).await;
                        ok(codec::encode(&Response::V1(response)))
                    }
                    Err((status, reason)) => {
                        tracing::warn!(%peer, %reason, "rpc: closing the connection");
                        close.cancel();
                        refuse(status, reason)
                    }
                };
                Ok::<_, std::convert::Infallible>(response)
            }
        })
    };
    let connection = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
        // Keep-alive pings need hyper's timer.
        .timer(TokioTimer::new())
        .max_concurrent_streams(limits.streams_per_connection)
        .adaptive_window(true)
        .keep_alive_interval(Some(Duration::from_secs(10)))
        .keep_alive_timeout(Duration::from_secs(20))
        .serve_connection(TokioIo::new(stream), service);
    tokio::pin!(connection);
    let mut closing = false;
    loop {
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(error) = result {
                    tracing::debug!(%peer, %error, "rpc connection ended");
                }
                return;
            }
            _ = cancel.cancelled(), if !closing => {
                closing = true;
                connection.as_mut().graceful_shutdown();
            }
            _ = close.cancelled(), if !closing => {
                closing = true;
                connection.as_mut().graceful_shutdown();
            }
        }
    }
}

async fn read_request(
    request: hyper::Request<Incoming>,
    limit: usize,
) -> Result<RequestV1, (StatusCode, String)> {
    if request.uri().path() != PATH {
        return Err((
            StatusCode::NOT_FOUND,
            format!("unknown rpc path {}", request.uri().path()),
        ));
    }
    let bytes = Limited::new(request.into_body(), limit)
        .collect()
        .await
        .map_err(|error| {
            (
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("request body refused (limit {limit} bytes): {error}"),
            )
        })?
        .to_bytes();
    let Request::V1(request) = codec::decode(&bytes).map_err(|error| {
        (
            StatusCode::BAD_REQUEST,
            format!("undecodable request of {} bytes: {error}", bytes.len()),
        )
    })?;
    Ok(request)
}

fn ok(body: Vec<u8>) -> hyper::Response<Full<Bytes>> {
    hyper::Response::new(Full::new(Bytes::from(body)))
}

fn refuse(status: StatusCode, reason: String) -> hyper::Response<Full<Bytes>> {
    let mut response = hyper::Response::new(Full::new(Bytes::from(reason)));
    *response.status_mut() = status;
    response
}
