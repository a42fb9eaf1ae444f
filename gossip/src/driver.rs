//! The tokio shell around [`Core`]: owns the UDP socket, the push-pull TCP
//! listener, the clock and the command channel. One task; TCP exchanges
//! run on short-lived helper tasks (bounded) that hand frames back over a
//! channel, so the core is only ever touched here. No disk I/O except
//! keyring persistence, which goes through `spawn_blocking` on a
//! dedicated persister task so writes stay ordered.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use rand10::RngExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{broadcast, mpsc, oneshot, watch, Semaphore};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::core::{ConfigError, Core, EventError, ForceLeaveError};
use crate::handle::JoinError;
use crate::keyring::{Key, KeyError, Keyring, KeyringList};
use crate::member::{Event, Member};
use crate::stats::Stats;
use crate::tags::Tags;
use crate::timing::Timing;
use crate::wire::MAX_PUSH_PULL_FRAME;

/// Concurrent inbound push-pull connections; more are closed at once.
/// How often members known without their tags are pulled (`repair_untagged`).
const UNTAGGED_REPAIR: Duration = Duration::from_secs(1);
const MAX_INBOUND_STREAMS: usize = 16;
/// Concurrent outbound exchanges per join.
const MAX_JOIN_FANOUT: usize = 16;
/// Deadline for one push-pull exchange (connect + write + read).
const STREAM_TIMEOUT: Duration = Duration::from_secs(10);
/// Datagrams handled per wake-up before timers get a turn.
const UDP_BATCH: usize = 256;
/// Receive buffer: larger than any valid packet so oversize is detectable.
const RECV_BUF: usize = 65_536;
/// How often the stats snapshot refreshes when nothing else changes.
const STATS_REFRESH: Duration = Duration::from_millis(250);

/// What the handle reads without asking the driver.
pub(crate) struct Shared {
    pub(crate) members: Vec<Member>,
    pub(crate) local: Member,
    pub(crate) stats: Stats,
    pub(crate) coordinate: crate::vivaldi::Coordinate,
    pub(crate) coordinates: Vec<(String, crate::vivaldi::Coordinate)>,
}

impl Shared {
    pub(crate) fn new(core: &Core) -> Self {
        Self {
            members: core.members(),
            local: core.local_member(),
            stats: core.stats(),
            coordinate: core.coordinate(),
            coordinates: core.coordinates(),
        }
    }
}

/// Keyring operations.
#[derive(Debug, Clone, Copy)]
pub(crate) enum KeyOp {
    Install,
    Use,
    Remove,
}

/// Requests from the handle.
pub(crate) enum Command {
    Join {
        addrs: Vec<SocketAddr>,
        reply: oneshot::Sender<Result<usize, JoinError>>,
    },
    Leave {
        timeout: Duration,
        reply: oneshot::Sender<()>,
    },
    ForceLeave {
        name: String,
        prune: bool,
        reply: oneshot::Sender<Result<(), ForceLeaveError>>,
    },
    SetTags {
        tags: Tags,
        reply: oneshot::Sender<Result<(), ConfigError>>,
    },
    FireEvent {
        name: String,
        payload: Vec<u8>,
        reply: oneshot::Sender<Result<u64, EventError>>,
    },
    KeyringList {
        reply: oneshot::Sender<Result<KeyringList, KeyError>>,
    },
    Keyring {
        op: KeyOp,
        key: Key,
        reply: oneshot::Sender<Result<(), KeyError>>,
    },
}

/// Results of helper tasks.
enum Internal {
    JoinDone {
        results: Vec<(SocketAddr, Result<Vec<u8>, String>)>,
        reply: oneshot::Sender<Result<usize, JoinError>>,
    },
    SyncDone(SocketAddr, Result<Vec<u8>, String>),
    Inbound {
        peer: SocketAddr,
        frame: Vec<u8>,
        reply: oneshot::Sender<Option<Vec<u8>>>,
    },
}

struct Persist {
    keyring: Keyring,
    path: PathBuf,
    reply: oneshot::Sender<Result<(), KeyError>>,
}

struct Leaving {
    deadline: Instant,
    reply: oneshot::Sender<()>,
}

pub(crate) struct Driver {
    core: Core,
    udp: Arc<UdpSocket>,
    tcp: TcpListener,
    cmd_rx: mpsc::Receiver<Command>,
    internal_tx: mpsc::Sender<Internal>,
    internal_rx: mpsc::Receiver<Internal>,
    shared: Arc<RwLock<Shared>>,
    events: broadcast::Sender<Event>,
    version: watch::Sender<u64>,
    cancel: CancellationToken,
    keyring_path: Option<PathBuf>,
    persist_tx: Option<mpsc::Sender<Persist>>,
    timing: Timing,
    inbound: Arc<Semaphore>,
    leaving: Option<Leaving>,
    last_stats: Instant,
    /// See `GossipConfig::send_delay`.
    send_delay: std::time::Duration,
}

impl Driver {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        core: Core,
        udp: UdpSocket,
        tcp: TcpListener,
        cmd_rx: mpsc::Receiver<Command>,
        shared: Arc<RwLock<Shared>>,
        events: broadcast::Sender<Event>,
        version: watch::Sender<u64>,
        cancel: CancellationToken,
        keyring_path: Option<PathBuf>,
        timing: Timing,
    ) -> Self {
        let (internal_tx, internal_rx) = mpsc::channel(64);
        Self {
            core,
            udp: Arc::new(udp),
            tcp,
            cmd_rx,
            internal_tx,
            internal_rx,
            shared,
            events,
            version,
            cancel,
            keyring_path,
            persist_tx: None,
            timing,
            inbound: Arc::new(Semaphore::new(MAX_INBOUND_STREAMS)),
            leaving: None,
            last_stats: Instant::now(),
            send_delay: std::time::Duration::ZERO,
        }
    }

    pub(crate) fn with_send_delay(self, send_delay: std::time::Duration) -> Self {
        Self { send_delay, ..self }
    }

    fn now(&self) -> std::time::Instant {
        Instant::now().into_std()
    }

    pub(crate) async fn run(mut self) {
        if self.keyring_path.is_some() {
            self.persist_tx = Some(spawn_persister(self.cancel.clone()));
        }
        let mut buf = vec![0u8; RECV_BUF];
        let mut sync = tokio::time::interval(self.timing.push_pull_interval);
        sync.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        sync.tick().await;
        // Members known without their tags are pulled much sooner than the periodic sync.
        let mut repair = tokio::time::interval(UNTAGGED_REPAIR);
        repair.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        repair.tick().await;
        let mut reconnect = tokio::time::interval(self.timing.reconnect_interval);
        reconnect.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        reconnect.tick().await;
        loop {
            let far = Instant::now() + Duration::from_secs(3600);
            let mut wake = self
                .core
                .next_deadline()
                .map(Instant::from_std)
                .unwrap_or(far);
            if self.leaving.is_some() {
                wake = wake.min(Instant::now() + self.timing.gossip_interval);
            }
            wake = wake.min(self.last_stats + STATS_REFRESH);
            let udp = self.udp.clone();
            tokio::select! {
                // Packets before timers: after a stall, the acks and
                // refutations that queued up must be seen before a late
                // probe timer judges anyone (see core.rs on Lifeguard).
                biased;
                _ = self.cancel.cancelled() => break,
                r = udp.recv_from(&mut buf) => {
                    match r {
                        Ok((n, from)) => {
                            let now = self.now();
                            self.core.handle_packet(now, from, &buf[..n]);
                            // Drain what else is queued, bounded.
                            for _ in 0..UDP_BATCH {
                                match udp.try_recv_from(&mut buf) {
                                    Ok((n, from)) => self.core.handle_packet(now, from, &buf[..n]),
                                    Err(_) => break,
                                }
                            }
                        }
                        Err(e) => {
                            // ICMP port unreachable surfaces here on some
                            // platforms; it is not fatal.
                            tracing::debug!(error = %e, "gossip: udp recv");
                        }
                    }
                }
                Some(msg) = self.internal_rx.recv() => self.on_internal(msg),
                Some(cmd) = self.cmd_rx.recv() => self.on_command(cmd),
                r = self.tcp.accept() => match r {
                    Ok((stream, peer)) => self.accept(stream, peer),
                    Err(e) => {
                        tracing::warn!(error = %e, "gossip: tcp accept");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                },
                _ = sync.tick() => self.periodic_sync(),
                _ = repair.tick() => self.repair_untagged(),
                _ = reconnect.tick() => self.reconnect(),
                _ = tokio::time::sleep_until(wake) => {}
            }
            let now = self.now();
            self.core.handle_timers(now);
            let left = self.check_leave();
            self.flush().await;
            // Reply after the flush so the caller sees the Left snapshot.
            if let Some(reply) = left {
                let _ = reply.send(());
            }
        }
        tracing::debug!("gossip: driver stopped");
    }

    async fn flush(&mut self) {
        let out: Vec<_> = self.core.drain_outgoing().collect();
        if !self.send_delay.is_zero() && !out.is_empty() {
            // Test-only slow link: the packets leave later, in order, off this task.
            let (udp, delay) = (self.udp.clone(), self.send_delay);
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                for (to, data) in out {
                    let _ = udp.send_to(&data, to).await;
                }
            });
        } else {
            for (to, data) in out {
                if let Err(e) = self.udp.send_to(&data, to).await {
                    tracing::debug!(%to, error = %e, "gossip: udp send");
                }
            }
        }
        for e in self.core.drain_events().collect::<Vec<_>>() {
            // No subscriber is fine; lagging ones resync via members().
            let _ = self.events.send(e);
        }
        let changed = self.core.take_changed();
        if changed || self.last_stats.elapsed() >= STATS_REFRESH {
            let mut shared = self.shared.write().unwrap_or_else(|e| e.into_inner());
            if changed {
                shared.members = self.core.members();
                shared.local = self.core.local_member();
            }
            shared.stats = self.core.stats();
            shared.coordinate = self.core.coordinate();
            shared.coordinates = self.core.coordinates();
            drop(shared);
            self.last_stats = Instant::now();
            if changed {
                self.version.send_modify(|v| *v += 1);
            }
        }
    }

    /// Finishes a pending leave once its intent is out (or on deadline);
    /// returns the caller to answer.
    fn check_leave(&mut self) -> Option<oneshot::Sender<()>> {
        let l = self.leaving.as_ref()?;
        if self.core.broadcast_backlog() == 0 || Instant::now() >= l.deadline {
            let now = self.now();
            self.core.finish_leave(now);
            return self.leaving.take().map(|l| l.reply);
        }
        None
    }

    fn on_command(&mut self, cmd: Command) {
        let now = self.now();
        match cmd {
            Command::Join { addrs, reply } => {
                let frame = self.core.push_pull_request(true);
                let tx = self.internal_tx.clone();
                let cancel = self.cancel.clone();
                tokio::spawn(async move {
                    let sem = Arc::new(Semaphore::new(MAX_JOIN_FANOUT));
                    let mut set = tokio::task::JoinSet::new();
                    for addr in addrs {
                        let frame = frame.clone();
                        let sem = sem.clone();
                        set.spawn(async move {
                            let _permit = sem.acquire_owned().await;
                            (addr, exchange(addr, &frame).await)
                        });
                    }
                    let mut results = Vec::new();
                    loop {
                        tokio::select! {
                            _ = cancel.cancelled() => return,
                            r = set.join_next() => match r {
                                Some(Ok(r)) => results.push(r),
                                Some(Err(e)) => tracing::warn!(error = %e, "gossip: join task"),
                                None => break,
                            },
                        }
                    }
                    let _ = tx.send(Internal::JoinDone { results, reply }).await;
                });
            }
            Command::Leave { timeout, reply } => {
                if self.core.has_left() {
                    let _ = reply.send(());
                    return;
                }
                self.core.begin_leave(now);
                self.leaving = Some(Leaving {
                    // Give the intent at least one gossip round even with
                    // a zero timeout; never wait unboundedly.
                    deadline: Instant::now() + timeout.max(self.timing.gossip_interval),
                    reply,
                });
            }
            Command::ForceLeave { name, prune, reply } => {
                let _ = reply.send(self.core.force_leave(now, &name, prune));
            }
            Command::SetTags { tags, reply } => {
                let _ = reply.send(self.core.set_tags(now, tags));
            }
            Command::FireEvent {
                name,
                payload,
                reply,
            } => {
                let _ = reply.send(self.core.fire_event(now, &name, payload));
            }
            Command::KeyringList { reply } => {
                let r = self
                    .core
                    .keyring()
                    .map(Keyring::list)
                    .ok_or(KeyError::Disabled);
                let _ = reply.send(r);
            }
            Command::Keyring { op, key, reply } => {
                let r = match op {
                    KeyOp::Install => self.core.keyring_install(key),
                    KeyOp::Use => self.core.keyring_use(&key),
                    KeyOp::Remove => self.core.keyring_remove(&key),
                };
                match (r, &self.keyring_path, &self.persist_tx, self.core.keyring()) {
                    (Err(e), _, _, _) => {
                        let _ = reply.send(Err(e));
                    }
                    (Ok(()), Some(path), Some(tx), Some(ring)) => {
                        let job = Persist {
                            keyring: ring.clone(),
                            path: path.clone(),
                            reply,
                        };
                        if let Err(
                            mpsc::error::TrySendError::Full(job)
                            | mpsc::error::TrySendError::Closed(job),
                        ) = tx.try_send(job)
                        {
                            let _ = job.reply.send(Err(KeyError::File {
                                path: job.path.display().to_string(),
                                reason: "persistence queue full; retry".into(),
                            }));
                        }
                    }
                    (Ok(()), _, _, _) => {
                        let _ = reply.send(Ok(()));
                    }
                }
            }
        }
    }

    fn on_internal(&mut self, msg: Internal) {
        let now = self.now();
        match msg {
            Internal::JoinDone { results, reply } => {
                let mut ok = 0;
                let mut errors = Vec::new();
                for (addr, r) in results {
                    match r {
                        Ok(frame) => match self.core.handle_push_pull_response(now, &frame) {
                            Ok(_) => ok += 1,
                            Err(e) => errors.push(format!("{addr}: {e}")),
                        },
                        Err(e) => {
                            self.core.record_push_pull_failure();
                            errors.push(format!("{addr}: {e}"));
                        }
                    }
                }
                let r = if ok > 0 {
                    Ok(ok)
                } else {
                    Err(JoinError::NoneReachable(errors.join("; ")))
                };
                let _ = reply.send(r);
            }
            Internal::SyncDone(addr, r) => match r {
                Ok(frame) => {
                    if let Err(e) = self.core.handle_push_pull_response(now, &frame) {
                        tracing::debug!(%addr, error = %e, "gossip: periodic push-pull");
                    }
                }
                Err(e) => {
                    self.core.record_push_pull_failure();
                    tracing::debug!(%addr, error = %e, "gossip: periodic push-pull");
                }
            },
            Internal::Inbound { peer, frame, reply } => {
                let resp = match self.core.handle_push_pull_request(now, &frame) {
                    Ok(resp) => Some(resp),
                    Err(e) => {
                        tracing::info!(%peer, error = %e, "gossip: push-pull refused, closing");
                        None
                    }
                };
                let _ = reply.send(resp);
            }
        }
    }

    fn accept(&mut self, stream: TcpStream, peer: SocketAddr) {
        let Ok(permit) = self.inbound.clone().try_acquire_owned() else {
            tracing::warn!(%peer, "gossip: too many push-pull connections, closing");
            return;
        };
        let tx = self.internal_tx.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let r = tokio::time::timeout(STREAM_TIMEOUT, async move {
                let mut stream = stream;
                let frame = read_frame(&mut stream).await?;
                let (reply_tx, reply_rx) = oneshot::channel();
                tx.send(Internal::Inbound {
                    peer,
                    frame,
                    reply: reply_tx,
                })
                .await
                .map_err(|_| "gossip stopped".to_string())?;
                match reply_rx.await {
                    Ok(Some(resp)) => write_frame(&mut stream, &resp).await,
                    _ => Ok(()),
                }
            })
            .await;
            match r {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::info!(%peer, reason = %e, "gossip: push-pull stream closed"),
                Err(_) => tracing::info!(%peer, "gossip: push-pull stream timed out"),
            }
        });
    }

    /// One state exchange with a member whose tags have not arrived (`Core::untagged_peers`).
    fn repair_untagged(&mut self) {
        let peers = self.core.untagged_peers();
        self.sync_with_one_of(&peers);
    }

    /// Serf's reconnect: a state exchange with a member held failed, now and then.
    fn reconnect(&mut self) {
        let mut rng = rand10::rng();
        let (draw, pick) = (rng.random::<f64>(), rng.random::<u32>() as usize);
        if let Some(addr) = self.core.reconnect_target(draw, pick) {
            tracing::debug!(%addr, "gossip: reconnecting to a failed member");
            self.sync_with_one_of(&[addr]);
        }
    }

    fn periodic_sync(&mut self) {
        let peers = self.core.alive_peers();
        self.sync_with_one_of(&peers);
    }

    /// A push-pull exchange with a random one of `peers`, in the background.
    fn sync_with_one_of(&mut self, peers: &[SocketAddr]) {
        if self.core.has_left() || peers.is_empty() {
            return;
        }
        let addr = peers[rand10::rng().random_range(0..peers.len())];
        let frame = self.core.push_pull_request(false);
        let tx = self.internal_tx.clone();
        tokio::spawn(async move {
            let r = exchange(addr, &frame).await;
            let _ = tx.send(Internal::SyncDone(addr, r)).await;
        });
    }
}

/// One push-pull exchange: send our frame, read theirs.
async fn exchange(addr: SocketAddr, frame: &[u8]) -> Result<Vec<u8>, String> {
    tokio::time::timeout(STREAM_TIMEOUT, async {
        let mut s = TcpStream::connect(addr)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        write_frame(&mut s, frame).await?;
        read_frame(&mut s).await
    })
    .await
    .map_err(|_| "timed out".to_string())?
}

/// Frame: `[u32 big-endian length][body]`, body ≤ 4 MiB. The body is an
/// envelope (version byte first), see `keyring.rs`.
async fn read_frame(s: &mut TcpStream) -> Result<Vec<u8>, String> {
    let len = s
        .read_u32()
        .await
        .map_err(|e| format!("read length: {e}"))? as usize;
    if len == 0 || len > MAX_PUSH_PULL_FRAME {
        return Err(format!(
            "frame length {len} outside 1..={MAX_PUSH_PULL_FRAME}"
        ));
    }
    let mut body = vec![0u8; len];
    s.read_exact(&mut body)
        .await
        .map_err(|e| format!("read body: {e}"))?;
    Ok(body)
}

async fn write_frame(s: &mut TcpStream, body: &[u8]) -> Result<(), String> {
    if body.len() > MAX_PUSH_PULL_FRAME {
        return Err(format!("own frame too large: {} bytes", body.len()));
    }
    let len = u32::try_from(body.len()).map_err(|e| e.to_string())?;
    s.write_u32(len).await.map_err(|e| format!("write: {e}"))?;
    s.write_all(body).await.map_err(|e| format!("write: {e}"))?;
    s.flush().await.map_err(|e| format!("write: {e}"))
}

/// Writes keyring files one at a time, off the driver task.
fn spawn_persister(cancel: CancellationToken) -> mpsc::Sender<Persist> {
    let (tx, mut rx) = mpsc::channel::<Persist>(8);
    tokio::spawn(async move {
        loop {
            let job = tokio::select! {
                _ = cancel.cancelled() => break,
                j = rx.recv() => match j { Some(j) => j, None => break },
            };
            let Persist {
                keyring,
                path,
                reply,
            } = job;
            let r = tokio::task::spawn_blocking(move || keyring.save(&path))
                .await
                .unwrap_or_else(|e| {
                    Err(KeyError::File {
                        path: String::new(),
                        reason: e.to_string(),
                    })
                });
            let _ = reply.send(r);
        }
    });
    tx
}
