//! The serving side of one framed connection (`frame`): reads requests, runs each in its own
//! task, and writes each response as soon as it is ready, in any order.
//!
//! Rules (with `server`'s):
//! 1. At most `RpcLimits::streams_per_connection` calls of one connection run at once; the
//!    next request is not read until one ends, so a flooding caller is slowed, not buffered.
//! 2. A frame or message over its limit, a request that does not decode, or a frame a caller
//!    never sends ends the connection, and nothing of the offending message is acted on.
//!    Calls already running finish and answer if they can.
//! 3. A connection that sends nothing (not even the pings every live caller sends) for
//!    `IDLE_LIMIT` is closed, so dead callers do not hold connection slots.
//! 4. A response frame the caller does not take within `RpcLimits::write_stall`, or a
//!    failed write, closes the connection: nothing more is written after a torn frame, and
//!    a caller that stopped reading does not hold the connection's call slots for ever.

use super::frame::{self, Assembly, Kind};
use super::message::{Request, Response};
use super::server::{Handler, RpcLimits};
use legate_catalog::codec;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::TcpStream;
use tokio::sync::{Mutex, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Callers ping after 10 s of silence (`link`), so a live one is never this quiet.
const IDLE_LIMIT: Duration = Duration::from_secs(60);
const READ_BUFFER: usize = 64 << 10;

/// Serves a connection whose first bytes are a framed hello (`server` has peeked them).
pub async fn serve_framed<H: Handler>(
    mut stream: TcpStream,
    peer: SocketAddr,
    handler: Arc<H>,
    limits: RpcLimits,
    cancel: CancellationToken,
) {
    let mut hello = [0; frame::HELLO_BYTES];
    if let Err(error) = stream.read_exact(&mut hello).await {
        tracing::debug!(%peer, %error, "rpc: no hello");
        return;
    }
    let Ok(highest) = frame::parse_hello(&hello) else {
        tracing::warn!(%peer, "rpc: closing the connection: malformed hello");
        return;
    };
    if stream.write_all(&frame::answer(highest)).await.is_err() {
        return;
    }
    let (reader, writer) = stream.into_split();
    let mut reader = BufReader::with_capacity(READ_BUFFER, reader);
    let writer = Arc::new(Mutex::new(writer));
    let running = Arc::new(Semaphore::new(limits.streams_per_connection as usize));
    let calls = TaskTracker::new();
    // Rule 4: cancelled by a write that failed or stalled; ends the connection.
    // Not a child of `cancel`: at shutdown, running calls still answer (`server` rule 3).
    let broken = CancellationToken::new();
    let stall = limits.write_stall;
    // One request may be as large as the limit, and so may everything unfinished at once.
    let mut assembly = Assembly::new(limits.request_bytes, limits.request_bytes);
    loop {
        let read = tokio::select! {
            read = tokio::time::timeout(IDLE_LIMIT, frame::read_frame(&mut reader)) => read,
            _ = cancel.cancelled() => break,
            _ = broken.cancelled() => break,
        };
        let (header, body) = match read {
            Ok(Ok(Some(frame))) => frame,
            Ok(Ok(None)) => break,
            Ok(Err(error)) => {
                tracing::warn!(%peer, %error, "rpc: closing the connection");
                break;
            }
            Err(_) => {
                tracing::debug!(%peer, "rpc: closing a connection idle for {IDLE_LIMIT:?}");
                break;
            }
        };
        match header.kind {
            Kind::Ping => {
                if write(&writer, &broken, stall, Kind::Pong, header.id, &[])
                    .await
                    .is_err()
                {
                    break;
                }
            }
            Kind::Request => {
                let message = match assembly.push(&header, body) {
                    Ok(Some(message)) => message,
                    Ok(None) => continue,
                    Err(error) => {
                        tracing::warn!(%peer, %error, "rpc: closing the connection");
                        break;
                    }
                };
                let Request::V1(request) = match codec::decode(&message) {
                    Ok(request) => request,
                    Err(error) => {
                        tracing::warn!(
                            %peer, %error,
                            "rpc: closing the connection: undecodable request of {} bytes",
                            message.len()
                        );
                        break;
                    }
                };
                let slot = tokio::select! {
                    slot = running.clone().acquire_owned() => slot,
                    _ = broken.cancelled() => break,
                };
                let Ok(slot) = slot else {
                    break;
                };
                let handler = handler.clone();
                let writer = writer.clone();
                let broken = broken.clone();
                calls.spawn(async move {
                    let response = handler.handle(request, peer).await;
                    let bytes = codec::encode(&Response::V1(response));
                    // A failed write has closed the connection (rule 4); nothing to add.
                    let _ = write(&writer, &broken, stall, Kind::Response, header.id, &bytes).await;
                    drop(slot);
                });
            }
            Kind::Response | Kind::Pong => {
                tracing::warn!(%peer, kind = ?header.kind, "rpc: closing the connection: a caller sent a reply frame");
                break;
            }
        }
    }
    calls.close();
    if !broken.is_cancelled() {
        let _ = tokio::time::timeout(limits.drain, calls.wait()).await;
    }
    // Calls still running write nothing more.
    broken.cancel();
    let _ = tokio::time::timeout(stall, async { writer.lock().await.shutdown().await }).await;
}

/// Writes a message's frames, taking the lock per frame so responses interleave. Each frame
/// has `stall` to go out (rule 4); a failure or a stall cancels `broken`, and once it is
/// cancelled nothing more is written.
async fn write(
    writer: &Mutex<OwnedWriteHalf>,
    broken: &CancellationToken,
    stall: Duration,
    kind: Kind,
    id: u64,
    message: &[u8],
) -> std::io::Result<()> {
    for frame in frame::frames(kind, id, message) {
        let mut writer = tokio::select! {
            writer = writer.lock() => writer,
            _ = broken.cancelled() => return Err(closed()),
        };
        if broken.is_cancelled() {
            return Err(closed());
        }
        match tokio::time::timeout(stall, writer.write_all(&frame)).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => {
                broken.cancel();
                return Err(error);
            }
            Err(_) => {
                tracing::warn!(
                    "rpc: closing a connection whose caller took no response frame for {stall:?}"
                );
                broken.cancel();
                return Err(std::io::ErrorKind::TimedOut.into());
            }
        }
    }
    Ok(())
}

fn closed() -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the connection is closing")
}
