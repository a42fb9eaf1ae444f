//! The public API the agent uses: [`GossipConfig`], [`start`], the
//! [`Gossip`] handle and [`retry_join`].

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rand10::RngExt;
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;

use crate::core::{ConfigError, Core, CoreConfig, EventError, ForceLeaveError};
use crate::driver::{Command, Driver, KeyOp, Shared};
use crate::keyring::{Key, KeyError, Keyring, KeyringList};
use crate::member::{Event, Member, MemberStatus};
use crate::snapshot::{self, Recorder};
use crate::stats::Stats;
use crate::tags::Tags;
use crate::timing::Timing;

/// Consul's default Serf LAN port.
pub const DEFAULT_PORT: u16 = 8301;
/// Commands queued to the driver at most; callers wait beyond that.
const COMMAND_QUEUE: usize = 64;

/// How to start gossip.
#[derive(Debug, Clone)]
pub struct GossipConfig {
    /// Unique node name.
    pub node_name: String,
    /// Address advertised to other members (the bound UDP/TCP port).
    pub advertise: SocketAddr,
    /// Our tags.
    pub tags: Tags,
    /// Protocol timing; [`Timing::lan`] by default.
    pub timing: Timing,
    /// Failed members are reaped after this (Consul: 72 h).
    pub reconnect_timeout: Duration,
    /// Left members are reaped after this (Consul: 24 h).
    pub tombstone_timeout: Duration,
    /// Initial keyring (e.g. from `-encrypt`); `None` disables encryption
    /// unless `keyring_path` holds a keyring file.
    pub keyring: Option<Keyring>,
    /// Keyring file (JSON list of base64 keys, primary first). When it
    /// exists it wins over `keyring` (as Consul's `serf/local.keyring`);
    /// every keyring change is written back to it atomically.
    pub keyring_path: Option<PathBuf>,
    /// Refuse plaintext packets (when a keyring is present).
    pub verify_incoming: bool,
    /// Encrypt outgoing packets (when a keyring is present).
    pub verify_outgoing: bool,
    /// Seed for the protocol RNG; `None` seeds from the OS. Never used for
    /// encryption nonces.
    pub rng_seed: Option<u64>,
    /// Members tracked at most.
    pub max_members: usize,
    /// Lifeguard on (default).
    pub lifeguard: bool,
    /// Capacity of the event broadcast channel; slow subscribers lag and
    /// should resync with [`Gossip::members`] (see [`Gossip::watch_members`]).
    pub event_buffer: usize,
    /// Test-only: every UDP packet waits this long before it is sent, standing in
    /// for a slow network link where the kernel offers no delay (no `netem`).
    /// Zero (the default) sends at once.
    pub send_delay: Duration,
    /// The members this agent knew (Consul's `serf/local.snapshot`, see
    /// [`crate::snapshot`]): rejoined at start, kept up to date while running.
    pub snapshot_path: Option<PathBuf>,
    /// Rejoin the snapshot's members at start even after a graceful leave
    /// (`-rejoin`).
    pub rejoin_after_leave: bool,
}

impl GossipConfig {
    /// Consul's defaults for the given name, address and tags.
    pub fn new(node_name: impl Into<String>, advertise: SocketAddr, tags: Tags) -> Self {
        Self {
            node_name: node_name.into(),
            advertise,
            tags,
            timing: Timing::lan(),
            reconnect_timeout: Duration::from_secs(72 * 3600),
            tombstone_timeout: Duration::from_secs(24 * 3600),
            keyring: None,
            keyring_path: None,
            verify_incoming: true,
            verify_outgoing: true,
            rng_seed: None,
            max_members: 10_000,
            lifeguard: true,
            event_buffer: 1024,
            send_delay: Duration::ZERO,
            snapshot_path: None,
            rejoin_after_leave: false,
        }
    }
}

/// Why [`start`] failed. Nothing is running.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Invalid configuration; fix it, retrying as is fails again.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The keyring file could not be read or is invalid.
    #[error(transparent)]
    Keyring(#[from] KeyError),
    /// A socket could not be inspected.
    #[error("gossip socket: {0}")]
    Io(String),
}

/// Why [`Gossip::join`] failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JoinError {
    /// No address completed a push-pull exchange. State may have changed
    /// for none of them; retrying may help (see [`retry_join`]).
    #[error("failed to join any of the addresses: {0}")]
    NoneReachable(String),
    /// No address given. Nothing changed.
    #[error("no addresses to join")]
    NoAddresses,
    /// The gossip task has stopped. Retrying does not help.
    #[error("gossip is not running")]
    Stopped,
}

/// Why [`Gossip::leave`] failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LeaveError {
    /// The gossip task stopped before the leave completed.
    #[error("gossip is not running")]
    Stopped,
}

/// Error of handle operations that wrap a core error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpError<E> {
    /// The operation was refused; see the inner error.
    #[error(transparent)]
    Op(E),
    /// The gossip task has stopped; nothing changed, retrying does not help.
    #[error("gossip is not running")]
    Stopped,
}

/// Why [`retry_join`] gave up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RetryJoinError {
    /// Every attempt failed; `last` is the last attempt's error.
    #[error("retry join failed after {attempts} attempts: {last}")]
    Exhausted {
        /// Attempts made.
        attempts: u32,
        /// Last error.
        last: String,
    },
    /// Cancelled before a join succeeded.
    #[error("retry join cancelled")]
    Cancelled,
}

/// The handle to a running gossip instance. Cheap to clone; every clone
/// talks to the same driver task.
#[derive(Clone)]
pub struct Gossip {
    cmd: mpsc::Sender<Command>,
    shared: Arc<RwLock<Shared>>,
    events: broadcast::Sender<Event>,
    version: watch::Receiver<u64>,
    /// Records the leave in the snapshot file, if there is one.
    snapshot: Option<Arc<Recorder>>,
}

impl std::fmt::Debug for Gossip {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gossip").finish_non_exhaustive()
    }
}

fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(1)
}

/// Starts gossip on pre-bound sockets (UDP and TCP on the same port,
/// 8301 by default). Runs until `cancel` fires; cancelling stops without
/// a leave (peers will see this node as failed). Call [`Gossip::leave`]
/// first for a graceful exit.
pub async fn start(
    config: GossipConfig,
    udp: UdpSocket,
    tcp: TcpListener,
    cancel: CancellationToken,
) -> Result<Gossip, StartError> {
    let mut keyring = config.keyring.clone();
    if let Some(path) = config.keyring_path.clone() {
        let loaded = tokio::task::spawn_blocking(move || {
            if path.exists() {
                Keyring::load(&path).map(Some)
            } else {
                Ok(None)
            }
        })
        .await
        .map_err(|e| StartError::Io(e.to_string()))??;
        match (loaded, &keyring, &config.keyring_path) {
            (Some(k), _, _) => keyring = Some(k),
            (None, Some(k), Some(path)) => {
                let (k, path) = (k.clone(), path.clone());
                tokio::task::spawn_blocking(move || k.save(&path))
                    .await
                    .map_err(|e| StartError::Io(e.to_string()))??;
            }
            _ => {}
        }
    }
    let core_cfg = CoreConfig {
        node_name: config.node_name.clone(),
        advertise: config.advertise,
        generation: now_millis(),
        tags: config.tags.clone(),
        timing: config.timing.clone(),
        reconnect_timeout: config.reconnect_timeout,
        tombstone_timeout: config.tombstone_timeout,
        keyring,
        verify_incoming: config.verify_incoming,
        verify_outgoing: config.verify_outgoing,
        rng_seed: config
            .rng_seed
            .unwrap_or_else(|| rand10::rng().random::<u64>()),
        lifeguard: config.lifeguard,
        max_members: config.max_members.max(1),
    };
    let previous = match config.snapshot_path.clone() {
        Some(path) => {
            let rejoin = config.rejoin_after_leave;
            tokio::task::spawn_blocking(move || snapshot::load(&path, rejoin))
                .await
                .map_err(|e| StartError::Io(e.to_string()))?
        }
        None => Vec::new(),
    };
    let now = tokio::time::Instant::now().into_std();
    let core = Core::new(core_cfg, now)?;
    let (cmd_tx, cmd_rx) = mpsc::channel(COMMAND_QUEUE);
    let (events, _) = broadcast::channel(config.event_buffer.max(16));
    let (version_tx, version_rx) = watch::channel(0);
    let shared = Arc::new(RwLock::new(Shared::new(&core)));
    let driver = Driver::new(
        core,
        udp,
        tcp,
        cmd_rx,
        shared.clone(),
        events.clone(),
        version_tx,
        cancel.clone(),
        config.keyring_path.clone(),
        config.timing.clone(),
    )
    .with_send_delay(config.send_delay);
    tokio::spawn(driver.run());
    let snapshot = config
        .snapshot_path
        .map(|path| Arc::new(Recorder::new(path)));
    let gossip = Gossip {
        cmd: cmd_tx,
        shared,
        events,
        version: version_rx,
        snapshot: snapshot.clone(),
    };
    if let Some(recorder) = snapshot {
        let previous: Vec<SocketAddr> = previous
            .into_iter()
            .filter(|(name, addr)| *name != config.node_name && *addr != config.advertise)
            .map(|(_, addr)| addr)
            .collect();
        tokio::spawn(rejoin_and_record(
            gossip.clone(),
            previous,
            recorder,
            cancel,
        ));
    }
    Ok(gossip)
}

/// At most this often the snapshot file is rewritten while members come and go.
const SNAPSHOT_INTERVAL: Duration = Duration::from_secs(1);

/// Rejoins the members the snapshot named (once; `retry_join` is the agent's to run),
/// then records the live members whenever they change, at most every `SNAPSHOT_INTERVAL`.
/// Nothing is recorded before another member has been seen alive, so an agent that
/// restarts and reaches nobody keeps the list it had for its next start.
async fn rejoin_and_record(
    gossip: Gossip,
    previous: Vec<SocketAddr>,
    recorder: Arc<Recorder>,
    cancel: CancellationToken,
) {
    let mut changes = gossip.watch_members();
    if !previous.is_empty() {
        match gossip.join(&previous).await {
            Ok(joined) => tracing::info!(
                "gossip: rejoined through {joined} of {} previously known members",
                previous.len()
            ),
            Err(error) => {
                tracing::warn!("gossip: rejoining previously known members failed: {error}")
            }
        }
    }
    let local = gossip.local_member().name;
    let mut seen_anyone = false;
    loop {
        let alive = alive_others(&gossip.members(), &local);
        seen_anyone |= !alive.is_empty();
        if seen_anyone {
            let recorder = recorder.clone();
            match tokio::task::spawn_blocking(move || recorder.members(&alive)).await {
                Ok(Err(error)) => tracing::warn!("gossip: writing the snapshot: {error}"),
                Err(error) => tracing::warn!("gossip: writing the snapshot: {error}"),
                Ok(Ok(())) => {}
            }
        }
        tokio::select! {
            _ = cancel.cancelled() => return,
            changed = changes.changed() => if changed.is_err() { return },
        }
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(SNAPSHOT_INTERVAL) => {}
        }
    }
}

/// The live members other than `local`, as the snapshot records them.
fn alive_others(members: &[Member], local: &str) -> Vec<(String, SocketAddr)> {
    members
        .iter()
        .filter(|member| member.status == MemberStatus::Alive && member.name != local)
        .map(|member| (member.name.clone(), member.addr))
        .collect()
}

impl Gossip {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, Shared> {
        self.shared.read().unwrap_or_else(|e| e.into_inner())
    }

    async fn ask<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> Command) -> Option<T> {
        let (tx, rx) = oneshot::channel();
        self.cmd.send(make(tx)).await.ok()?;
        rx.await.ok()
    }

    /// All known members (ourselves included) whose tags are known.
    pub fn members(&self) -> Vec<Member> {
        self.read().members.clone()
    }

    /// This node.
    pub fn local_member(&self) -> Member {
        self.read().local.clone()
    }

    /// Membership and user events from now on. A receiver that lags gets
    /// `RecvError::Lagged` and should resync with [`Gossip::members`].
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }

    /// A counter bumped on every membership change.
    pub fn watch_members(&self) -> watch::Receiver<u64> {
        self.version.clone()
    }

    /// This node's network coordinate (refreshed with the counters).
    pub fn coordinate(&self) -> crate::vivaldi::Coordinate {
        self.read().coordinate.clone()
    }

    /// The latest network coordinate of each other member that has sent one.
    pub fn coordinates(&self) -> Vec<(String, crate::vivaldi::Coordinate)> {
        self.read().coordinates.clone()
    }

    /// Counters; refreshed by the driver after each batch of work.
    pub fn stats(&self) -> Stats {
        self.read().stats.clone()
    }

    /// Joins the cluster through `addrs` with a push-pull state exchange
    /// over TCP. Returns how many addresses completed the exchange.
    pub async fn join(&self, addrs: &[SocketAddr]) -> Result<usize, JoinError> {
        if addrs.is_empty() {
            return Err(JoinError::NoAddresses);
        }
        let addrs = addrs.to_vec();
        self.ask(|reply| Command::Join { addrs, reply })
            .await
            .unwrap_or(Err(JoinError::Stopped))
    }

    /// Leaves gracefully: broadcasts the leave intent, waits (at most
    /// `timeout`) until it has been sent out, then leaves foca's cluster.
    /// Peers record this node as Left, not Failed. The driver keeps
    /// running (answering nothing) until cancelled.
    pub async fn leave(&self, timeout: Duration) -> Result<(), LeaveError> {
        self.ask(|reply| Command::Leave { timeout, reply })
            .await
            .ok_or(LeaveError::Stopped)?;
        if let Some(recorder) = self.snapshot.clone() {
            // Recorded before answering: the agent usually stops right after.
            let alive = alive_others(&self.members(), &self.local_member().name);
            match tokio::task::spawn_blocking(move || recorder.leave(&alive)).await {
                Ok(Err(error)) => tracing::warn!("gossip: recording the leave: {error}"),
                Err(error) => tracing::warn!("gossip: recording the leave: {error}"),
                Ok(Ok(())) => {}
            }
        }
        Ok(())
    }

    /// Marks a failed member Left cluster-wide; `prune` also removes it
    /// from every member list at once.
    pub async fn force_leave(
        &self,
        name: &str,
        prune: bool,
    ) -> Result<(), OpError<ForceLeaveError>> {
        let name = name.to_string();
        self.ask(|reply| Command::ForceLeave { name, prune, reply })
            .await
            .ok_or(OpError::Stopped)?
            .map_err(OpError::Op)
    }

    /// Replaces this node's tags and gossips them.
    pub async fn set_tags(&self, tags: Tags) -> Result<(), OpError<ConfigError>> {
        self.ask(|reply| Command::SetTags { tags, reply })
            .await
            .ok_or(OpError::Stopped)?
            .map_err(OpError::Op)
    }

    /// Fires a user event (name + payload ≤ 512 bytes) to every member.
    /// Returns its Lamport time. Delivered locally too.
    pub async fn fire_event(
        &self,
        name: &str,
        payload: Vec<u8>,
    ) -> Result<u64, OpError<EventError>> {
        let name = name.to_string();
        self.ask(|reply| Command::FireEvent {
            name,
            payload,
            reply,
        })
        .await
        .ok_or(OpError::Stopped)?
        .map_err(OpError::Op)
    }

    /// Installed keys and the primary one.
    pub async fn keyring_list(&self) -> Result<KeyringList, OpError<KeyError>> {
        self.ask(|reply| Command::KeyringList { reply })
            .await
            .ok_or(OpError::Stopped)?
            .map_err(OpError::Op)
    }

    /// Installs a key (base64). Persisted before this returns.
    pub async fn keyring_install(&self, key: &str) -> Result<(), OpError<KeyError>> {
        self.key_op(KeyOp::Install, key).await
    }

    /// Makes an installed key primary. Persisted before this returns.
    pub async fn keyring_use(&self, key: &str) -> Result<(), OpError<KeyError>> {
        self.key_op(KeyOp::Use, key).await
    }

    /// Removes a non-primary key. Persisted before this returns.
    pub async fn keyring_remove(&self, key: &str) -> Result<(), OpError<KeyError>> {
        self.key_op(KeyOp::Remove, key).await
    }

    async fn key_op(&self, op: KeyOp, key: &str) -> Result<(), OpError<KeyError>> {
        let key = Key::from_base64(key).map_err(OpError::Op)?;
        self.ask(|reply| Command::Keyring { op, key, reply })
            .await
            .ok_or(OpError::Stopped)?
            .map_err(OpError::Op)
    }
}

/// Parses `host[:port]` (default port 8301) and resolves it.
async fn resolve(addr: &str) -> Result<Vec<SocketAddr>, String> {
    if let Ok(a) = addr.parse::<SocketAddr>() {
        return Ok(vec![a]);
    }
    let bare = addr.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<std::net::IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, DEFAULT_PORT)]);
    }
    let with_port = match addr.rsplit_once(':') {
        Some((_, p)) if p.parse::<u16>().is_ok() => addr.to_string(),
        _ => format!("{addr}:{DEFAULT_PORT}"),
    };
    tokio::net::lookup_host(&with_port)
        .await
        .map(|it| it.collect())
        .map_err(|e| format!("{addr}: {e}"))
}

/// Consul's `-retry-join`: joins through `addrs` (`host[:port]`, default
/// port 8301), retrying until one join succeeds. The delay starts at one
/// second and doubles up to `interval` (Consul's `-retry-interval`, 30 s),
/// with ±20 % jitter so restarted agents do not retry in lockstep.
/// `max_attempts` 0 retries forever (`-retry-max`).
pub async fn retry_join(
    gossip: &Gossip,
    addrs: Vec<String>,
    interval: Duration,
    max_attempts: u32,
    cancel: CancellationToken,
) -> Result<usize, RetryJoinError> {
    let mut attempt: u32 = 0;
    let mut delay = Duration::from_secs(1).min(interval);
    loop {
        attempt += 1;
        let mut resolved = Vec::new();
        let mut last = String::new();
        for a in &addrs {
            match resolve(a).await {
                Ok(v) => resolved.extend(v),
                Err(e) => last = e,
            }
        }
        if !resolved.is_empty() {
            match gossip.join(&resolved).await {
                Ok(n) => return Ok(n),
                Err(JoinError::Stopped) => {
                    return Err(RetryJoinError::Exhausted {
                        attempts: attempt,
                        last: JoinError::Stopped.to_string(),
                    });
                }
                Err(e) => last = e.to_string(),
            }
        } else if last.is_empty() {
            last = "no addresses".into();
        }
        if max_attempts != 0 && attempt >= max_attempts {
            return Err(RetryJoinError::Exhausted {
                attempts: attempt,
                last,
            });
        }
        tracing::info!(attempt, error = %last, "gossip: join failed, retrying in {delay:?}");
        let jitter = rand10::rng().random_range(0.8..1.2);
        tokio::select! {
            _ = cancel.cancelled() => return Err(RetryJoinError::Cancelled),
            _ = tokio::time::sleep(delay.mul_f64(jitter)) => {}
        }
        delay = (delay * 2).min(interval);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn resolve_adds_the_default_port() {
        assert_eq!(
            resolve("127.0.0.1").await.unwrap(),
            vec!["127.0.0.1:8301".parse::<SocketAddr>().unwrap()]
        );
        assert_eq!(
            resolve("127.0.0.1:9000").await.unwrap(),
            vec!["127.0.0.1:9000".parse::<SocketAddr>().unwrap()]
        );
        assert_eq!(
            resolve("[::1]:9000").await.unwrap(),
            vec!["[::1]:9000".parse::<SocketAddr>().unwrap()]
        );
        assert!(resolve("localhost")
            .await
            .unwrap()
            .iter()
            .all(|a| a.port() == 8301));
    }
}
