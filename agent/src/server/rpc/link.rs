//! The calling side of one framed connection (`frame`): many calls at once, each matched to
//! its response by call id.
//!
//! A call writes its own frames (under the writer's lock, one frame at a time, so another
//! call's frames can go between a long message's chunks) and waits for the reader task to
//! hand it the response: one hand-off per call instead of HTTP/2's several.
//!
//! Rules:
//! 1. Once closed, a link stays closed: every waiting call fails with `Closed` and new calls
//!    are refused; the pool opens another link.
//! 2. A call dropped while its frames are being written (its deadline passed) closes the
//!    link: the peer would otherwise read a torn frame, or wait for the rest of a message.
//! 3. A link that has received nothing for `PING_AFTER` pings the server, and closes if
//!    nothing comes back within `PING_TIMEOUT`: a peer that died or was cut off without a
//!    FIN does not hold calls until their deadlines forever after. A ping that cannot even
//!    be written within `PING_TIMEOUT` (the server stopped reading) closes the link too.

use super::frame::{self, Assembly, Kind};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

const PING_AFTER: Duration = Duration::from_secs(10);
const PING_TIMEOUT: Duration = Duration::from_secs(5);
/// Read buffer: most frames (and their headers) arrive in one read.
const READ_BUFFER: usize = 64 << 10;

/// Why a framed call failed.
#[derive(Debug, PartialEq, Eq)]
pub enum LinkError {
    /// The link was closed before the request went out: nothing was sent.
    Closed,
    /// The link failed after the request (or part of it) went out.
    Lost(String),
}

type Waiters = HashMap<u64, oneshot::Sender<Vec<u8>>>;

struct Calls {
    waiting: Waiters,
    /// Set under this lock before `waiting` is emptied, so no call can start waiting on a
    /// link nobody reads any more (rule 1).
    closed: Option<String>,
}

pub struct Link {
    writer: tokio::sync::Mutex<OwnedWriteHalf>,
    calls: Mutex<Calls>,
    next_id: AtomicU64,
    close: CancellationToken,
    /// Milliseconds since `born` at which the last frame arrived (rule 3). Tokio's clock, so
    /// tests can run it on.
    last_heard_ms: AtomicU64,
    born: Instant,
}

/// What opening a link found.
pub enum Opened {
    Link(Arc<Link>),
    /// The server does not speak the framing (a server of an earlier release): use HTTP/2.
    NotSpoken,
}

impl Link {
    /// Greets the server on `stream` and starts the link's reader. `max_response` bounds one
    /// response's size.
    pub async fn open(mut stream: TcpStream, max_response: usize) -> std::io::Result<Opened> {
        stream.write_all(&frame::hello()).await?;
        let mut answer = [0; frame::ANSWER_BYTES];
        match stream.read_exact(&mut answer).await {
            Ok(_) => {}
            // An HTTP/2-only server closes (or resets) the connection on our hello.
            Err(error)
                if matches!(
                    error.kind(),
                    std::io::ErrorKind::UnexpectedEof
                        | std::io::ErrorKind::ConnectionReset
                        | std::io::ErrorKind::BrokenPipe
                ) =>
            {
                return Ok(Opened::NotSpoken)
            }
            Err(error) => return Err(error),
        }
        if frame::parse_answer(&answer).is_none() {
            return Ok(Opened::NotSpoken);
        }
        let (reader, writer) = stream.into_split();
        let link = Arc::new(Link {
            writer: tokio::sync::Mutex::new(writer),
            calls: Mutex::new(Calls {
                waiting: HashMap::new(),
                closed: None,
            }),
            next_id: AtomicU64::new(1),
            close: CancellationToken::new(),
            last_heard_ms: AtomicU64::new(0),
            born: Instant::now(),
        });
        tokio::spawn(read_responses(link.clone(), reader, max_response));
        tokio::spawn(keep_alive(link.clone()));
        Ok(Opened::Link(link))
    }

    pub fn is_closed(&self) -> bool {
        self.close.is_cancelled()
    }

    /// Sends `message` (an encoded request) and waits for its response's bytes.
    pub async fn call(&self, message: &[u8]) -> Result<Vec<u8>, LinkError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (answer, response) = oneshot::channel();
        {
            let mut calls = self.calls();
            if calls.closed.is_some() {
                return Err(LinkError::Closed);
            }
            calls.waiting.insert(id, answer);
        }
        // Forgets the call however this future ends, so a timed-out call leaves nothing behind.
        let _waiting = Forget { link: self, id };
        self.send(Kind::Request, id, message).await?;
        response.await.map_err(|_| LinkError::Lost(self.reason()))
    }

    async fn send(&self, kind: Kind, id: u64, message: &[u8]) -> Result<(), LinkError> {
        let frames = frame::frames(kind, id, message);
        for (sent, frame) in frames.iter().enumerate() {
            let mut writer = self.writer.lock().await;
            if self.is_closed() {
                return Err(if sent == 0 {
                    LinkError::Closed
                } else {
                    LinkError::Lost(self.reason())
                });
            }
            // Rule 2: dropped mid-write, the guard closes the link before the lock is free.
            let torn = Torn { link: self };
            let written = writer.write_all(frame).await;
            std::mem::forget(torn);
            if let Err(error) = written {
                self.shut(format!("write failed: {error}"));
                return Err(LinkError::Lost(error.to_string()));
            }
        }
        Ok(())
    }

    fn calls(&self) -> std::sync::MutexGuard<'_, Calls> {
        self.calls.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn reason(&self) -> String {
        self.calls()
            .closed
            .clone()
            .unwrap_or_else(|| "connection closed".to_owned())
    }

    /// Closes the link (rule 1): waiting calls fail, the reader stops.
    fn shut(&self, reason: String) {
        let waiting = {
            let mut calls = self.calls();
            calls.closed.get_or_insert(reason);
            std::mem::take(&mut calls.waiting)
        };
        // Dropping the senders fails the calls.
        drop(waiting);
        self.close.cancel();
    }

    fn heard(&self) {
        self.last_heard_ms
            .store(self.born.elapsed().as_millis() as u64, Ordering::Relaxed);
    }

    fn silent_for(&self) -> Duration {
        self.born.elapsed().saturating_sub(Duration::from_millis(
            self.last_heard_ms.load(Ordering::Relaxed),
        ))
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        self.close.cancel();
    }
}

struct Forget<'a> {
    link: &'a Link,
    id: u64,
}

impl Drop for Forget<'_> {
    fn drop(&mut self) {
        self.link.calls().waiting.remove(&self.id);
    }
}

struct Torn<'a> {
    link: &'a Link,
}

impl Drop for Torn<'_> {
    fn drop(&mut self) {
        self.link
            .shut("a call was abandoned while writing".to_owned());
    }
}

async fn read_responses(link: Arc<Link>, reader: OwnedReadHalf, max_response: usize) {
    // The reader holds the link only while it handles a frame, so a link the pool has
    // dropped ends (its `Drop` fires `close`) and with it this task and the connection.
    let weak = Arc::downgrade(&link);
    let close = link.close.clone();
    drop(link);
    let mut reader = BufReader::with_capacity(READ_BUFFER, reader);
    // Unfinished responses may together be as large as one whole response.
    let mut assembly = Assembly::new(max_response, max_response);
    let reason = loop {
        let read = tokio::select! {
            read = frame::read_frame(&mut reader) => read,
            _ = close.cancelled() => break "closed".to_owned(),
        };
        let (header, body) = match read {
            Ok(Some(frame)) => frame,
            Ok(None) => break "the server closed the connection".to_owned(),
            Err(error) => break format!("read failed: {error}"),
        };
        let Some(link) = weak.upgrade() else {
            return;
        };
        link.heard();
        match header.kind {
            Kind::Pong => {}
            Kind::Response => match assembly.push(&header, body) {
                Ok(Some(message)) => {
                    let waiter = link.calls().waiting.remove(&header.id);
                    // A call that gave up has no waiter; its late response is dropped.
                    if let Some(waiter) = waiter {
                        let _ = waiter.send(message);
                    }
                }
                Ok(None) => {}
                Err(error) => break error.to_string(),
            },
            Kind::Request | Kind::Ping => {
                break format!("the server sent a {:?} frame", header.kind)
            }
        }
    };
    tracing::debug!(%reason, "rpc link closed");
    let Some(link) = weak.upgrade() else {
        return;
    };
    link.shut(reason);
    // Shut the write half now, so the server sees the end at once rather than when the pool
    // drops the link.
    let mut writer = link.writer.lock().await;
    let _ = writer.shutdown().await;
}

async fn keep_alive(link: Arc<Link>) {
    let weak = Arc::downgrade(&link);
    let close = link.close.clone();
    drop(link);
    let mut ping_id = 0u64;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(PING_AFTER) => {}
            _ = close.cancelled() => return,
        }
        let Some(link) = weak.upgrade() else { return };
        if link.silent_for() < PING_AFTER {
            continue;
        }
        ping_id = ping_id.wrapping_add(1);
        match tokio::time::timeout(PING_TIMEOUT, link.send(Kind::Ping, ping_id, &[])).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => return,
            Err(_) => {
                // Dropped mid-frame, `Torn` has closed the link already; waiting for the
                // writer's lock, it has not.
                link.shut(format!("a ping not written within {PING_TIMEOUT:?}"));
                return;
            }
        }
        drop(link);
        tokio::select! {
            _ = tokio::time::sleep(PING_TIMEOUT) => {}
            _ = close.cancelled() => return,
        }
        let Some(link) = weak.upgrade() else { return };
        if link.silent_for() >= PING_TIMEOUT {
            link.shut(format!("no answer to a ping within {PING_TIMEOUT:?}"));
            return;
        }
    }
}
