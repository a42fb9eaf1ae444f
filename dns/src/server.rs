//! `serve`: the UDP and TCP loops around a `DnsHandler`, on sockets the agent bound.
//!
//! The agent binds the sockets (several UDP sockets on one port with `SO_REUSEPORT`, see
//! `bind_udp_reuseport`, so that the kernel spreads datagrams over both cores), passes them
//! in with a shutdown future, and `serve` returns once they are closed and in-flight
//! questions are answered (or the drain timeout passes).
//!
//! Everything is bounded (`ServeLimits`): answers being computed at once over UDP (further
//! datagrams are dropped, as a busy resolver drops them, rather than queued), TCP
//! connections (further ones are closed at once), the wait for a TCP request (idle) and
//! for its body. hickory-server's own `Server` is not used because it logs every query at
//! info level and does not cap connections.

use crate::handler::DnsHandler;
use crate::lookup::Lookup;
use crate::trim::Transport;
use socket2::{Domain, Protocol, Socket, Type};
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio::time::timeout;

/// Bounds on the work `serve` accepts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServeLimits {
    /// UDP questions being answered at once, over all sockets.
    pub udp_in_flight: usize,
    /// Open TCP connections.
    pub tcp_connections: usize,
    /// How long a TCP connection may wait between requests (miekg's default idle timeout,
    /// which Consul uses, is 8 s).
    pub tcp_idle_timeout: Duration,
    /// How long reading one request's body, or writing one reply, may take (miekg's
    /// default read timeout is 2 s).
    pub tcp_io_timeout: Duration,
    /// How long shutdown waits for questions already being answered.
    pub drain_timeout: Duration,
}

impl Default for ServeLimits {
    fn default() -> Self {
        ServeLimits {
            udp_in_flight: 1024,
            tcp_connections: 256,
            tcp_idle_timeout: Duration::from_secs(8),
            tcp_io_timeout: Duration::from_secs(2),
            drain_timeout: Duration::from_secs(2),
        }
    }
}

/// Serves DNS on already-bound sockets with the default limits until `shutdown` completes.
pub async fn serve<L: Lookup>(
    udp_sockets: Vec<UdpSocket>,
    tcp_listener: Option<TcpListener>,
    handler: Arc<DnsHandler<L>>,
    shutdown: impl Future<Output = ()> + Send,
) -> io::Result<()> {
    serve_with_limits(
        udp_sockets,
        tcp_listener,
        handler,
        ServeLimits::default(),
        shutdown,
    )
    .await
}

/// `serve` with explicit limits.
pub async fn serve_with_limits<L: Lookup>(
    udp_sockets: Vec<UdpSocket>,
    tcp_listener: Option<TcpListener>,
    handler: Arc<DnsHandler<L>>,
    limits: ServeLimits,
    shutdown: impl Future<Output = ()> + Send,
) -> io::Result<()> {
    let (stop_tx, stop_rx) = watch::channel(false);
    let udp_permits = Arc::new(Semaphore::new(limits.udp_in_flight));
    let mut loops = JoinSet::new();
    for socket in udp_sockets {
        loops.spawn(udp_loop(
            Arc::new(socket),
            handler.clone(),
            udp_permits.clone(),
            limits.clone(),
            stop_rx.clone(),
        ));
    }
    if let Some(listener) = tcp_listener {
        loops.spawn(tcp_loop(listener, handler, limits, stop_rx));
    }
    shutdown.await;
    // Every loop watches this; send fails only when all loops have already ended.
    let _ = stop_tx.send(true);
    while loops.join_next().await.is_some() {}
    Ok(())
}

/// Resolves once shutdown was signalled (or the sender is gone).
async fn stopped(mut stop: watch::Receiver<bool>) {
    while !*stop.borrow_and_update() {
        if stop.changed().await.is_err() {
            return;
        }
    }
}

/// Waits for the tasks of a loop for at most `limit`, then aborts the rest.
async fn drain(mut tasks: JoinSet<()>, limit: Duration) {
    let _ = timeout(limit, async { while tasks.join_next().await.is_some() {} }).await;
    tasks.shutdown().await;
}

async fn udp_loop<L: Lookup>(
    socket: Arc<UdpSocket>,
    handler: Arc<DnsHandler<L>>,
    permits: Arc<Semaphore>,
    limits: ServeLimits,
    stop: watch::Receiver<bool>,
) {
    let mut buffer = vec![0u8; 65535];
    let mut tasks = JoinSet::new();
    let stop_signal = stopped(stop);
    tokio::pin!(stop_signal);
    loop {
        let received = tokio::select! {
            _ = &mut stop_signal => break,
            received = socket.recv_from(&mut buffer) => received,
        };
        let (length, peer) = match received {
            Ok(received) => received,
            Err(error) => {
                // ICMP errors from earlier replies surface here on some systems; the socket
                // itself is fine.
                tracing::debug!(%error, "udp receive failed");
                continue;
            }
        };
        // Nothing can be sent back to port 0.
        if peer.port() == 0 {
            continue;
        }
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            tracing::debug!("dns udp overloaded; dropping a question");
            continue;
        };
        let packet = buffer[..length].to_vec();
        let (socket, handler) = (socket.clone(), handler.clone());
        tasks.spawn(async move {
            let _permit = permit;
            if let Some(reply) = handler
                .respond_from(&packet, Transport::Udp, peer.ip())
                .await
            {
                if let Err(error) = socket.send_to(&reply, peer).await {
                    tracing::debug!(%error, "udp send failed");
                }
            }
        });
        while tasks.try_join_next().is_some() {}
    }
    drain(tasks, limits.drain_timeout).await;
}

async fn tcp_loop<L: Lookup>(
    listener: TcpListener,
    handler: Arc<DnsHandler<L>>,
    limits: ServeLimits,
    stop: watch::Receiver<bool>,
) {
    let connections = Arc::new(Semaphore::new(limits.tcp_connections));
    let mut tasks = JoinSet::new();
    let stop_signal = stopped(stop.clone());
    tokio::pin!(stop_signal);
    loop {
        let accepted = tokio::select! {
            _ = &mut stop_signal => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                // Usually out of file descriptors: back off briefly instead of spinning.
                tracing::debug!(%error, "tcp accept failed");
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        let Ok(permit) = connections.clone().try_acquire_owned() else {
            tracing::debug!("dns tcp connection limit reached; closing a connection");
            continue;
        };
        tasks.spawn(connection(
            stream,
            peer.ip(),
            handler.clone(),
            limits.clone(),
            stop.clone(),
            permit,
        ));
        while tasks.try_join_next().is_some() {}
    }
    drain(tasks, limits.drain_timeout).await;
}

/// One TCP connection: length-prefixed requests answered in order until the client goes
/// quiet, misbehaves or the server stops.
async fn connection<L: Lookup>(
    mut stream: TcpStream,
    peer: std::net::IpAddr,
    handler: Arc<DnsHandler<L>>,
    limits: ServeLimits,
    stop: watch::Receiver<bool>,
    _permit: OwnedSemaphorePermit,
) {
    let stop_signal = stopped(stop);
    tokio::pin!(stop_signal);
    loop {
        let length = tokio::select! {
            _ = &mut stop_signal => return,
            length = timeout(limits.tcp_idle_timeout, stream.read_u16()) => match length {
                Ok(Ok(length)) => usize::from(length),
                _ => return,
            },
        };
        let mut request = vec![0u8; length];
        match timeout(limits.tcp_io_timeout, stream.read_exact(&mut request)).await {
            Ok(Ok(_)) => {}
            _ => return,
        }
        let Some(reply) = handler.respond_from(&request, Transport::Tcp, peer).await else {
            continue;
        };
        let Ok(reply_length) = u16::try_from(reply.len()) else {
            return;
        };
        let mut framed = Vec::with_capacity(reply.len() + 2);
        framed.extend_from_slice(&reply_length.to_be_bytes());
        framed.extend_from_slice(&reply);
        match timeout(limits.tcp_io_timeout, stream.write_all(&framed)).await {
            Ok(Ok(())) => {}
            _ => return,
        }
    }
}

/// Binds `count` UDP sockets to one address with `SO_REUSEPORT`, so that the kernel
/// spreads incoming datagrams over them and each can be served by its own task. With port
/// 0 the first socket picks the port and the others join it. Must be called inside a tokio
/// runtime. Uses only socket2's safe API (no `unsafe`), so the workspace's
/// `unsafe_code = "forbid"` holds. Linux and the BSDs only.
pub fn bind_udp_reuseport(addr: SocketAddr, count: usize) -> io::Result<Vec<UdpSocket>> {
    let mut sockets = Vec::with_capacity(count.max(1));
    let mut addr = addr;
    for _ in 0..count.max(1) {
        let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
        if addr.is_ipv6() {
            socket.set_only_v6(true)?;
        }
        socket.set_reuse_port(true)?;
        socket.set_nonblocking(true)?;
        socket.bind(&addr.into())?;
        let socket = UdpSocket::from_std(std::net::UdpSocket::from(socket))?;
        addr = socket.local_addr()?;
        sockets.push(socket);
    }
    Ok(sockets)
}
