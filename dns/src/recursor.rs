//! Talking to the upstream resolvers in `recursors`.
//!
//! Two uses, both as Consul makes them (`agent/dns.go` `handleRecurse`, `resolveCNAME`):
//! - `forward`: a question outside the domain is sent as it came, over the client's own
//!   transport, to each recursor in turn (configured order, or a fresh random order with
//!   `recursor_strategy = "random"`), each given `recursor_timeout`. The first reply whose
//!   rcode is NOERROR or NXDOMAIN is relayed byte for byte; other rcodes and failures move
//!   on to the next recursor. `None` means every recursor failed (the caller answers
//!   SERVFAIL).
//! - `resolve_a`: an A question for a host name an instance is registered with; the answer
//!   section of the first reply is used.

use crate::config::{DnsConfig, RecursorStrategy};
use crate::trim::Transport;
use hickory_proto::op::{Message, MessageType, OpCode, Query};
use hickory_proto::rr::{Name, Record, RecordType};
use rand::seq::SliceRandom;
use rand::Rng;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::time::{timeout, Instant};

/// The order in which to try `count` recursors.
pub fn order(strategy: RecursorStrategy, count: usize, rng: &mut impl Rng) -> Vec<usize> {
    let mut order: Vec<usize> = (0..count).collect();
    if strategy == RecursorStrategy::Random {
        order.shuffle(rng);
    }
    order
}

/// Forwards a raw request; the first acceptable raw reply, or `None`.
pub async fn forward(
    raw: &[u8],
    config: &DnsConfig,
    transport: Transport,
    order: &[usize],
) -> Option<Vec<u8>> {
    let id = u16::from_be_bytes([*raw.first()?, *raw.get(1)?]);
    for &i in order {
        let recursor = *config.recursors.get(i)?;
        let reply = match transport {
            Transport::Udp => exchange_udp(raw, recursor, config.recursor_timeout).await,
            Transport::Tcp => exchange_tcp(raw, recursor, config.recursor_timeout).await,
        };
        match reply {
            Ok(reply) if acceptable(&reply, id) => return Some(reply),
            Ok(_) => tracing::debug!(%recursor, "recursor answered with an error"),
            Err(error) => tracing::debug!(%recursor, %error, "recursor failed"),
        }
    }
    None
}

/// A reply to `id` whose rcode is NOERROR (0) or NXDOMAIN (3).
fn acceptable(reply: &[u8], id: u16) -> bool {
    reply.len() >= 12
        && u16::from_be_bytes([reply[0], reply[1]]) == id
        && reply[2] & 0x80 != 0
        && matches!(reply[3] & 0x0f, 0 | 3)
}

/// Asks the recursors for the A records of `name`; the answer section of the first reply.
pub async fn resolve_a(name: &Name, config: &DnsConfig, order: &[usize], id: u16) -> Vec<Record> {
    let mut query = Message::new(id, MessageType::Query, OpCode::Query);
    query.metadata.recursion_desired = true;
    query
        .queries
        .push(Query::query(name.clone(), RecordType::A));
    let Ok(raw) = query.to_vec() else {
        return Vec::new();
    };
    for &i in order {
        let Some(&recursor) = config.recursors.get(i) else {
            break;
        };
        match exchange_udp(&raw, recursor, config.recursor_timeout).await {
            Ok(reply) => match Message::from_vec(&reply) {
                Ok(reply) if reply.metadata.id == id => return reply.answers,
                _ => tracing::debug!(%recursor, "recursor sent an unusable reply"),
            },
            Err(error) => tracing::debug!(%recursor, %error, "recursor failed"),
        }
    }
    Vec::new()
}

/// One UDP exchange: waits for a datagram from the recursor carrying our id, ignoring any
/// other (late replies to earlier questions, spoofing attempts), until the timeout.
async fn exchange_udp(raw: &[u8], recursor: SocketAddr, limit: Duration) -> io::Result<Vec<u8>> {
    let local: SocketAddr = if recursor.is_ipv4() {
        (Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let socket = UdpSocket::bind(local).await?;
    socket.connect(recursor).await?;
    socket.send(raw).await?;
    let deadline = Instant::now() + limit;
    let mut buffer = vec![0u8; 65535];
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        let n = timeout(remaining, socket.recv(&mut buffer))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "recursor timed out"))??;
        if n >= 2 && raw.len() >= 2 && buffer[..2] == raw[..2] {
            buffer.truncate(n);
            return Ok(buffer);
        }
    }
}

/// One TCP exchange with two-byte length framing, all within the timeout.
async fn exchange_tcp(raw: &[u8], recursor: SocketAddr, limit: Duration) -> io::Result<Vec<u8>> {
    let length = u16::try_from(raw.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "request too large"))?;
    let exchange = async {
        let mut stream = TcpStream::connect(recursor).await?;
        let mut framed = Vec::with_capacity(raw.len() + 2);
        framed.extend_from_slice(&length.to_be_bytes());
        framed.extend_from_slice(raw);
        stream.write_all(&framed).await?;
        let reply_length = stream.read_u16().await?;
        let mut reply = vec![0u8; usize::from(reply_length)];
        stream.read_exact(&mut reply).await?;
        Ok(reply)
    };
    timeout(limit, exchange)
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "recursor timed out"))?
}
