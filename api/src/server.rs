//! Serving the router on a TCP listener, with connection limits and a graceful drain.
//!
//! Rules:
//! 1. At most `max_conns` connections are open; past that, accepting pauses until one
//!    closes (the kernel's backlog holds the rest), as mini-redis bounds its connections.
//! 2. One client IP may hold at most `max_conns_per_client` connections (Consul's
//!    `limits.http_max_conns_per_client`, default 200). An excess connection receives
//!    `429 Too Many Requests` with Consul's text and is closed: closing silently (as old
//!    Consul did, #7527) leaves clients such as consul-template guessing.
//! 3. When `shutdown` completes, no new connection is accepted, idle connections close,
//!    and requests in flight may finish for up to `drain_timeout`; then `serve` returns.
//!
//! Implementation choice: `axum::serve` over a custom `Listener` that enforces rules 1 and
//! 2 at accept time. It keeps axum's hyper-util connection handling (HTTP/1.1 keep-alive,
//! HTTP/2) and its graceful shutdown, and needs no dependency beyond axum; a hand-written
//! hyper-util accept loop would duplicate all of that for no gain.

use axum::serve::Listener;
use axum::Router;
use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Limits of `serve`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServeLimits {
    /// Connections one client IP may hold; 0 means no limit.
    pub max_conns_per_client: usize,
    /// Connections open at once, all clients together.
    pub max_conns: usize,
    /// How long requests in flight may run after shutdown begins.
    pub drain_timeout: Duration,
}

impl Default for ServeLimits {
    fn default() -> Self {
        ServeLimits {
            max_conns_per_client: 200,
            max_conns: 10_000,
            drain_timeout: Duration::from_secs(5),
        }
    }
}

/// Consul's answer to a connection over the per-client limit.
const TOO_MANY: &[u8] = b"HTTP/1.1 429 Too Many Requests\r\n\
Content-Type: text/plain\r\n\
Content-Length: 81\r\n\
Connection: close\r\n\r\n\
Your IP is issuing too many concurrent connections, please rate limit your calls\n";

/// Refusals written at once; past this, excess connections are just closed, so a flood
/// cannot turn refusals into unbounded work.
const MAX_REFUSING: usize = 64;

/// How long a refusal may take (reading the request, writing the 429).
const REFUSAL_TIMEOUT: Duration = Duration::from_secs(1);

type Counts = Arc<Mutex<HashMap<IpAddr, usize>>>;

/// Serves `router` on `listener` until `shutdown` completes and the drain ends.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ServeLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut graceful_stopped = stopped.clone();
    let graceful = async move {
        let _ = graceful_stopped.wait_for(|stop| *stop).await;
    };
    let drain_timeout = limits.drain_timeout;
    let listener = LimitedListener::new(listener, limits);
    // Handlers may ask for the peer's address (`ConnectInfo`): prepared queries sort by
    // it for `Near: "_ip"`.
    let service = router.into_make_service_with_connect_info::<PeerAddr>();
    let server = axum::serve(listener, service).with_graceful_shutdown(graceful);
    let deadline = async move {
        shutdown.await;
        let _ = stop.send(true);
        tokio::time::sleep(drain_timeout).await;
    };
    tokio::select! {
        result = server => result,
        _ = deadline => {
            tracing::warn!("http: drain timeout reached, closing remaining connections");
            Ok(())
        }
    }
}

/// The client's address, as handlers find it in `ConnectInfo`.
#[derive(Clone, Copy, Debug)]
pub struct PeerAddr(pub SocketAddr);

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, LimitedListener>>
    for PeerAddr
{
    fn connect_info(stream: axum::serve::IncomingStream<'_, LimitedListener>) -> PeerAddr {
        PeerAddr(*stream.remote_addr())
    }
}

/// A `TcpListener` that enforces the connection limits at accept time.
pub struct LimitedListener {
    inner: TcpListener,
    limits: ServeLimits,
    open: Arc<Semaphore>,
    refusing: Arc<Semaphore>,
    per_client: Counts,
    /// When a refusal was last logged: at most one line a second, so a flood of refused
    /// connections cannot flood the log too.
    last_warning: Option<Instant>,
}

impl LimitedListener {
    pub fn new(inner: TcpListener, limits: ServeLimits) -> LimitedListener {
        LimitedListener {
            inner,
            open: Arc::new(Semaphore::new(limits.max_conns.max(1))),
            refusing: Arc::new(Semaphore::new(MAX_REFUSING)),
            limits,
            per_client: Arc::default(),
            last_warning: None,
        }
    }

    /// Counts a new connection from `ip`, unless it is over the per-client limit.
    fn admit(&self, ip: IpAddr) -> Option<ClientGuard> {
        let mut counts = self
            .per_client
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let count = counts.entry(ip).or_insert(0);
        if self.limits.max_conns_per_client > 0 && *count >= self.limits.max_conns_per_client {
            return None;
        }
        *count += 1;
        Some(ClientGuard {
            ip,
            counts: self.per_client.clone(),
        })
    }

    fn refuse(&mut self, stream: TcpStream, peer: SocketAddr) {
        let now = Instant::now();
        if self
            .last_warning
            .is_none_or(|last| now.duration_since(last) >= Duration::from_secs(1))
        {
            self.last_warning = Some(now);
            let limit = self.limits.max_conns_per_client;
            tracing::warn!(%peer, limit, "http: too many concurrent connections from one client");
        }
        let Ok(permit) = self.refusing.clone().try_acquire_owned() else {
            return;
        };
        tokio::spawn(async move {
            let _ = tokio::time::timeout(REFUSAL_TIMEOUT, write_refusal(stream)).await;
            drop(permit);
        });
    }
}

/// Reads what the client sent first (closing a socket with unread data resets it, and the
/// client would never see the answer), then writes the 429 and closes.
async fn write_refusal(mut stream: TcpStream) -> io::Result<()> {
    let mut request = [0u8; 4096];
    let _ = tokio::time::timeout(Duration::from_millis(200), stream.read(&mut request)).await;
    stream.write_all(TOO_MANY).await?;
    stream.shutdown().await?;
    // Give the client a moment to read before the socket goes away.
    let _ = tokio::time::timeout(Duration::from_millis(200), stream.read(&mut request)).await;
    Ok(())
}

impl Listener for LimitedListener {
    type Io = LimitedStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (LimitedStream, SocketAddr) {
        loop {
            let permit = self
                .open
                .clone()
                .acquire_owned()
                .await
                .expect("the semaphore is never closed");
            let (stream, peer) = match self.inner.accept().await {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Running out of file descriptors is transient; back off and retry.
                    tracing::error!(%error, "http: accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            match self.admit(peer.ip()) {
                Some(client) => {
                    let _ = stream.set_nodelay(true);
                    let io = LimitedStream {
                        stream,
                        _client: client,
                        _permit: permit,
                    };
                    return (io, peer);
                }
                None => self.refuse(stream, peer),
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

/// Releases a client's connection slot when its connection closes.
struct ClientGuard {
    ip: IpAddr,
    counts: Counts,
}

impl Drop for ClientGuard {
    fn drop(&mut self) {
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = counts.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&self.ip);
            }
        }
    }
}

/// An accepted connection that holds its slots until dropped.
pub struct LimitedStream {
    stream: TcpStream,
    _client: ClientGuard,
    _permit: OwnedSemaphorePermit,
}

impl AsyncRead for LimitedStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for LimitedStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusal_declares_its_exact_length() {
        let text = std::str::from_utf8(TOO_MANY).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.contains(&format!("Content-Length: {}", body.len())));
    }
}
