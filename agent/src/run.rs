//! `run(config, listeners, shutdown)`: wires an agent together on pre-bound sockets and tears
//! it down in order when `shutdown` fires.
//!
//! ```text
//!             gossip (membership) ──────────────┐
//!  server:    Raft ◀─ RPC ─▶ peers              ▼
//!             write/read paths ─▶ ServerBackend ─▶ HTTP, DNS (ServerLookup)
//!             leader duties (reconcile, autopilot), -bootstrap-expect
//!  client:    Forwarder (RPC to a server) ─▶ ClientBackend ─▶ HTTP, DNS (ClientLookup)
//!  both:      LocalState (the host's services and checks, anti-entropy)
//! ```
//!
//! Shutdown: the reason decides whether the agent leaves the cluster gracefully first
//! (Consul's `leave_on_terminate` and `skip_leave_on_interrupt`); then HTTP and DNS stop,
//! background tasks drain within a bound, and Raft flushes.

use crate::client_mode::{ClientBackend, ClientCatalog, ClientLookup, Forwarder};
use crate::config::Config;
use crate::federation::{Federation, WanPool};
use crate::listeners::Listeners;
use crate::local::plan::Managed;
use crate::local::store::LocalStore;
use crate::local::syncer::Catalog;
use crate::local::LocalState;
use crate::membership::{Announce, Membership};
use crate::node_id;
use crate::operator_calls::OperatorCalls;
use crate::server::backend::{ServerBackend, ServerParts};
use crate::server::cluster;
use crate::server::coordinate_buffer::CoordinateBuffer;
use crate::server::disk_guard::{self, DiskGuard};
use crate::server::disk_health::DiskHealthSource;
use crate::server::leader::session_timers::{self, SessionTimers};
use crate::server::leader::{self, reconcile::ServerMember, AutopilotReport, Duties};
use crate::server::local_catalog::ServerCatalog;
use crate::server::lookup::ServerLookup;
use crate::server::operator::Operator;
use crate::server::raft::{self, RaftHandle, RaftOptions};
use crate::server::read_path::{LastContact, ReadPath};
use crate::server::rpc::{self, RpcClient, RpcLimits, ServerRpc};
use crate::server::write_path::WritePath;
use crate::user_events::UserEvents;
use anyhow::Context;
use legate_api::backend::{AgentInfo, Backend};
use legate_api::{ApiConfig, ServeLimits};
use legate_catalog::{SharedStore, Store};
use legate_dns::Lookup;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The source revision, when the build knows it.
pub const REVISION: &str = match option_env!("LEGATE_REVISION") {
    Some(revision) => revision,
    None => "unknown",
};

/// Why the agent stops, which decides whether it leaves the cluster first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StopReason {
    /// SIGINT: leaves unless `skip_leave_on_interrupt` (the default for servers).
    Interrupt,
    /// SIGTERM: leaves only with `leave_on_terminate` (the default for clients).
    Terminate,
    /// `PUT /v1/agent/leave` (or `legate leave`): already left; just stop.
    Left,
    /// A check at start-up found that the agent cannot run as configured (the message says
    /// what to change); it stops without leaving and exits non-zero.
    Refused(String),
    /// The Raft log's storage failed in a way that leaves it untrusted (an I/O error, a
    /// failed fsync): the agent stops and exits non-zero rather than run on without a log.
    Storage(String),
}

/// Stops a running agent. Clones share the same agent.
#[derive(Clone, Debug, Default)]
pub struct Shutdown {
    token: CancellationToken,
    reason: Arc<Mutex<Option<StopReason>>>,
}

impl Shutdown {
    pub fn new() -> Shutdown {
        Shutdown::default()
    }

    /// Asks the agent to stop; the first reason given wins.
    pub fn stop(&self, reason: StopReason) {
        self.reason
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get_or_insert(reason);
        self.token.cancel();
    }

    pub fn reason(&self) -> Option<StopReason> {
        self.reason
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub fn token(&self) -> CancellationToken {
        self.token.clone()
    }
}

/// Binds the configured sockets and runs the agent until `shutdown` fires.
pub async fn bind_and_run(config: Config, shutdown: Shutdown) -> anyhow::Result<()> {
    let listeners = Listeners::bind(&config).await?;
    run(config, listeners, shutdown).await
}

/// Runs the agent on `listeners` until `shutdown` fires.
pub async fn run(config: Config, listeners: Listeners, shutdown: Shutdown) -> anyhow::Result<()> {
    for warning in &config.warnings {
        tracing::warn!("config: {warning}");
    }
    // Before anything records: with metrics off no recorder is installed at all.
    let recorder = (!config.disable_metrics).then(crate::telemetry::install);
    // -dev without -data-dir keeps its state in a directory removed at exit.
    let (data_dir, _dev_dir) = match &config.data_dir {
        Some(dir) => (dir.clone(), None),
        None => {
            let dir = tempfile::Builder::new().prefix("legate-dev-").tempdir()?;
            (dir.path().to_owned(), Some(dir))
        }
    };
    std::fs::create_dir_all(&data_dir)
        .with_context(|| format!("creating data_dir {}", data_dir.display()))?;
    let _pid_file = match &config.cluster.pid_file {
        Some(path) => Some(PidFile::write(path)?),
        None => None,
    };
    let node_id = node_id::load_or_create(&data_dir, config.node_id.as_deref())?;
    // What peers dial: the advertised address and the ports actually bound (0 in tests).
    let rpc_port = listeners
        .rpc
        .as_ref()
        .and_then(|listener| listener.local_addr().ok())
        .map(|addr| addr.port());
    let serf_port = listeners.serf_udp.local_addr()?.port();
    let rpc_addr = rpc_port.map(|port| SocketAddr::new(config.advertise_addr, port));
    // Gossip outlives the shutdown signal: a graceful leave needs it running, so it stops
    // only once the leave (if any) is done.
    let gossip_cancel = CancellationToken::new();
    let _stop_gossip = gossip_cancel.clone().drop_guard();
    let wan_port = match &listeners.wan {
        Some((udp, _)) => Some(udp.local_addr()?.port()),
        None => None,
    };
    let announce = Announce {
        node_id: &node_id,
        rpc_addr,
        wan_port,
        version: VERSION,
        revision: REVISION,
    };
    let wan_tags = legate_gossip::Tags {
        wan_join_port: None,
        ..crate::membership::tags(&config, &announce)
    };
    let membership = Membership::start(
        &config,
        &data_dir,
        announce,
        listeners.serf_udp,
        listeners.serf_tcp,
        gossip_cancel.clone(),
    )
    .await?;
    let wan = match listeners.wan {
        Some((udp, tcp)) => Some(
            WanPool::start(
                &config,
                &data_dir,
                wan_tags,
                udp,
                tcp,
                gossip_cancel.clone(),
            )
            .await?,
        ),
        None => None,
    };
    if let Some(wan) = &wan {
        tokio::spawn(crate::federation::flood::run(
            membership.clone(),
            wan.clone(),
            config.datacenter.clone(),
            gossip_cancel.clone(),
        ));
    }
    let info = AgentInfo {
        datacenter: config.datacenter.as_str().into(),
        primary_datacenter: config.primary_datacenter.as_str().into(),
        node_name: config.node_name.clone(),
        node_id: node_id.clone(),
        server: config.server,
        bootstrap: config.bootstrap,
        version: VERSION.to_owned(),
        revision: REVISION.to_owned(),
        build_date: String::new(),
        advertise_addr: config.advertise_addr.to_string(),
        bind_addr: config.bind_addr.to_string(),
        client_addr: config.client_addr.to_string(),
        http_port: config.ports.http.max(0) as u16,
        dns_port: config.ports.dns,
        server_port: rpc_port.unwrap_or(config.ports.server),
        serf_lan_port: serf_port,
        dev_mode: config.dev,
    };
    print_banner(&config, &node_id);
    let me = ServerMember {
        node_name: config.node_name.clone(),
        node_id: node_id.clone(),
        address: config.advertise_addr.to_string(),
        server_port: rpc_port,
        version: VERSION.to_owned(),
        status: leader::reconcile::MemberStatus::Alive,
    };
    let (stop, stopped) = watch::channel(false);
    // The config file's watches read this agent's own HTTP API.
    let http_addr = listeners
        .http
        .as_ref()
        .and_then(|listener| listener.local_addr().ok());
    let frontends = Frontends {
        listeners: FrontendSockets {
            http: listeners.http,
            dns_udp: listeners.dns_udp,
            dns_tcp: listeners.dns_tcp,
        },
        stopped: stopped.clone(),
    };
    tokio::spawn(crate::keyring_query::respond(
        membership.gossip().clone(),
        config.node_name.clone(),
    ));
    let local_store = LocalStore::open(&data_dir).context("opening the local state")?;
    let rpc_client = RpcClient::from_source(config.bind_addr);
    let federation = Federation::new(config.datacenter.clone(), wan.clone(), rpc_client.clone());
    let tasks = TaskTracker::new();
    let started_unix_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_millis() as u64);

    let (raft, handles) = if config.server {
        let rpc_listener = listeners.rpc.context("a server needs its RPC listener")?;
        let rpc_addr = rpc_addr.expect("servers bind RPC").to_string();
        let store = Arc::new(SharedStore::new(Store::new()));
        let multiplier = config.cluster.raft_multiplier;
        let disk = DiskGuard::new(&data_dir);
        tasks.spawn(disk_guard::run(
            disk.clone(),
            config.disk,
            shutdown.token().child_token(),
        ));
        let raft = raft::start(
            RaftOptions {
                node_id: node_id::raft_id(&node_id),
                rpc_addr: rpc_addr.clone(),
                data_dir: PathBuf::from(&data_dir),
                bootstrap: config.bootstrap,
                snapshot_threshold: config.raft_snapshot_threshold,
                trailing_logs: config.raft_trailing_logs,
                snapshot_interval: config.raft_snapshot_interval,
                disk: Some(disk.clone()),
                ..RaftOptions::with_multiplier(multiplier)
            },
            store.clone(),
            rpc_client.clone(),
        )
        .await
        .context("starting raft")?;
        let (slow_disk, slow_disk_seen) = watch::channel(false);
        if let Some(recorder) = &recorder {
            let heartbeat = RaftOptions::with_multiplier(multiplier).heartbeat_interval;
            tasks.spawn(crate::telemetry::slow_disk::watch(
                recorder.clone(),
                PathBuf::from(&data_dir),
                crate::telemetry::slow_disk::threshold(heartbeat),
                slow_disk,
                stopped.clone(),
            ));
        }
        let writes = WritePath::new(
            raft.clone(),
            rpc_client.clone(),
            rpc_addr.clone(),
            disk.clone(),
        );
        let reads = ReadPath::new(
            raft.clone(),
            store.clone(),
            rpc_client.clone(),
            LastContact::default(),
            rpc_addr.clone(),
        );
        let report = Arc::new(Mutex::new(AutopilotReport::default()));
        let coordinates = CoordinateBuffer::default();
        tasks.spawn(crate::server::leader::coordinates::run(
            raft.clone(),
            writes.clone(),
            coordinates.clone(),
            config.cluster.coordinates.update_period,
            stopped.clone(),
        ));
        let session_timers = SessionTimers::default();
        let operator = Operator {
            raft: raft.clone(),
            membership: membership.clone(),
            rpc: rpc_client.clone(),
            writes: writes.clone(),
            reads: reads.clone(),
            report: report.clone(),
            defaults: config.cluster.autopilot.clone(),
            own_addr: rpc_addr.clone(),
            started: (std::time::Instant::now(), std::time::SystemTime::now()),
            sessions: session_timers.clone(),
            store: store.clone(),
            federation: federation.clone(),
            coordinates: coordinates.clone(),
        };
        let handler = Arc::new(ServerRpc {
            started_unix_ms,
            raft: raft.clone(),
            writes: writes.clone(),
            reads: reads.clone(),
            operator: operator.clone(),
            disk: DiskHealthSource::new(slow_disk_seen.clone(), recorder.clone()),
            federation: federation.clone(),
            datacenter: config.datacenter.clone(),
        });
        tasks.spawn(rpc::serve(
            rpc_listener,
            handler,
            RpcLimits::default(),
            shutdown.token().child_token(),
        ));
        tasks.spawn(cluster::check_group(
            raft.clone(),
            membership.clone(),
            rpc_client.clone(),
            config.datacenter.clone(),
            started_unix_ms,
            shutdown.clone(),
        ));
        tasks.spawn(cluster::bootstrap(
            raft.clone(),
            membership.clone(),
            rpc_client.clone(),
            config.cluster.bootstrap_expect,
            config.datacenter.clone(),
            shutdown.token().child_token(),
        ));
        tasks.spawn(leader::run(
            Duties {
                raft: raft.clone(),
                writes: writes.clone(),
                store: store.clone(),
                membership: membership.clone(),
                version: VERSION.to_owned(),
                autopilot_defaults: config.cluster.autopilot.clone(),
                report: report.clone(),
                rpc: rpc_client.clone(),
            },
            stopped.clone(),
        ));
        tasks.spawn(crate::server::leader::disk_poll::run(
            raft.clone(),
            rpc_client.clone(),
            report.clone(),
            stopped.clone(),
        ));
        tasks.spawn(session_timers::run(
            raft.clone(),
            writes.clone(),
            store.clone(),
            session_timers,
            stopped.clone(),
        ));
        tasks.spawn(announce_leader(raft.clone(), stopped.clone()));
        tasks.spawn(stop_on_storage_failure(
            raft.clone(),
            shutdown.clone(),
            stopped.clone(),
        ));
        tasks.spawn(step_down_while_disk_full(
            disk.clone(),
            raft.clone(),
            operator.clone(),
            stopped.clone(),
        ));
        tasks.spawn(step_down_while_disk_slow(
            slow_disk_seen,
            raft.clone(),
            operator.clone(),
            stopped.clone(),
        ));
        tasks.spawn(crate::coordinate_sync::run(
            operator.clone(),
            membership.gossip().clone(),
            config.node_name.clone(),
            config.cluster.coordinates.clone(),
            stopped.clone(),
        ));
        let local = start_local(
            &config,
            local_store,
            ServerCatalog::new(writes.clone(), store.clone()),
            &me,
            stopped.clone(),
        )?;
        let user_events = UserEvents::start(
            membership.gossip().clone(),
            config.node_name.clone(),
            local.clone(),
        );
        let backend = ServerBackend::new(ServerParts {
            raft: raft.clone(),
            writes,
            reads,
            store: store.clone(),
            info,
            local,
            membership: membership.clone(),
            ops: OperatorCalls {
                membership: membership.clone(),
                wan: wan.clone(),
                shutdown: shutdown.clone(),
                node_name: config.node_name.clone(),
                datacenter: config.datacenter.as_str().into(),
                transport: operator,
            },
            user_events,
            federation: federation.clone(),
        });
        let backend = Arc::new(backend);
        let lookup = ServerLookup::new(
            store,
            raft.clone(),
            config.datacenter.as_str().into(),
            federation,
            backend.clone(),
        );
        (Some(raft), frontends.start(&config, backend, lookup))
    } else {
        let forwarder = Forwarder::new(rpc_client.clone(), membership.clone());
        tasks.spawn(crate::coordinate_sync::run(
            forwarder.clone(),
            membership.gossip().clone(),
            config.node_name.clone(),
            config.cluster.coordinates.clone(),
            stopped.clone(),
        ));
        let local = start_local(
            &config,
            local_store,
            ClientCatalog::new(forwarder.clone()),
            &me,
            stopped.clone(),
        )?;
        let user_events = UserEvents::start(
            membership.gossip().clone(),
            config.node_name.clone(),
            local.clone(),
        );
        let backend = ClientBackend::new(
            forwarder.clone(),
            membership.clone(),
            info,
            local,
            shutdown.clone(),
            user_events,
        );
        let backend = Arc::new(backend);
        let lookup = ClientLookup::new(
            forwarder,
            config.datacenter.as_str().into(),
            backend.clone(),
        );
        (None, frontends.start(&config, backend, lookup))
    };
    if let Some(addr) = http_addr {
        crate::watch::configured::start(
            config.watches.clone(),
            &crate::watch::configured::base_url(addr),
            shutdown.token().child_token(),
        );
    }
    eprintln!("==> Legate agent running!");

    shutdown.token().cancelled().await;
    let reason = shutdown.reason();
    eprintln!("==> Caught signal ({reason:?}), shutting down...");
    let leave = match reason {
        Some(StopReason::Interrupt) => !config.cluster.skip_leave_on_interrupt,
        Some(StopReason::Terminate) | None => config.cluster.leave_on_terminate,
        Some(StopReason::Left) | Some(StopReason::Refused(_)) | Some(StopReason::Storage(_)) => {
            false
        }
    };
    if leave {
        eprintln!("==> Gracefully leaving the cluster...");
        // Servers leave the WAN pool first, as Consul's do, so other datacenters stop
        // sending them calls before this datacenter stops counting on them.
        if let Some(wan) = &wan {
            if let Err(error) = wan.gossip().leave(Duration::from_secs(5)).await {
                tracing::warn!("WAN gossip: graceful leave failed: {error}");
            }
        }
        if let Err(error) = membership.gossip().leave(Duration::from_secs(5)).await {
            tracing::warn!("gossip: graceful leave failed: {error}");
        }
    }
    let _ = stop.send(true);
    for handle in handles {
        // Blocking queries may be parked for minutes; don't wait for them past a bound.
        let _ = tokio::time::timeout(Duration::from_secs(5), handle).await;
    }
    gossip_cancel.cancel();
    tasks.close();
    let _ = tokio::time::timeout(Duration::from_secs(5), tasks.wait()).await;
    if let Some(raft) = raft {
        raft.shutdown().await;
    }
    eprintln!("==> Legate agent stopped");
    match reason {
        Some(StopReason::Refused(why)) => Err(anyhow::anyhow!(why)),
        Some(StopReason::Storage(why)) => Err(anyhow::anyhow!(
            "the Raft log's storage failed and cannot be trusted ({why}); check the disk \
             holding {}, then restart: the log and snapshots on disk are consistent up to the \
             last acknowledged write",
            data_dir.display()
        )),
        _ => Ok(()),
    }
}

fn start_local<C: Catalog>(
    config: &Config,
    store: LocalStore,
    catalog: C,
    me: &ServerMember,
    stopped: watch::Receiver<bool>,
) -> anyhow::Result<LocalState<C>> {
    LocalState::start(
        store,
        catalog,
        leader::reconcile::wanted(me).node,
        Managed {
            services: vec!["consul".into()],
            checks: vec![leader::reconcile::SERF_CHECK_ID.into()],
        },
        config.local.config.clone(),
        (config.local.services.clone(), config.local.checks.clone()),
        stopped,
    )
    .map_err(|error| anyhow::anyhow!("loading the local state: {error}"))
}

/// The HTTP and DNS sockets, handed to whichever backend this agent runs.
struct FrontendSockets {
    http: Option<tokio::net::TcpListener>,
    dns_udp: Vec<tokio::net::UdpSocket>,
    dns_tcp: Option<tokio::net::TcpListener>,
}

struct Frontends {
    listeners: FrontendSockets,
    stopped: watch::Receiver<bool>,
}

impl Frontends {
    /// Serves HTTP and DNS over `backend` and `lookup`; the handles end once `stopped` flips
    /// and their connections drain.
    fn start<B: Backend, L: Lookup>(
        self,
        config: &Config,
        backend: Arc<B>,
        lookup: L,
    ) -> Vec<JoinHandle<std::io::Result<()>>> {
        let mut handles = Vec::new();
        let stopped = |mut receiver: watch::Receiver<bool>| async move {
            let _ = receiver.wait_for(|stop| *stop).await;
        };
        if let Some(listener) = self.listeners.http {
            let router = legate_api::router(
                backend,
                ApiConfig {
                    kv_max_value_size: config.kv_max_value_size,
                    translate_wan_addrs: config.translate_wan_addrs,
                    pretty_default: config.dev,
                    ..ApiConfig::default()
                },
            );
            let limits = ServeLimits {
                max_conns_per_client: config.http_max_conns_per_client as usize,
                ..ServeLimits::default()
            };
            handles.push(tokio::spawn(legate_api::serve(
                listener,
                router,
                limits,
                stopped(self.stopped.clone()),
            )));
        }
        if !self.listeners.dns_udp.is_empty() {
            let handler = Arc::new(legate_dns::DnsHandler::new(lookup, config.dns.clone()));
            let shutdown = stopped(self.stopped.clone());
            handles.push(tokio::spawn(async move {
                legate_dns::serve(
                    self.listeners.dns_udp,
                    self.listeners.dns_tcp,
                    handler,
                    shutdown,
                )
                .await
            }));
        }
        handles
    }
}

/// `-pid-file`: written at start, removed when the agent stops.
struct PidFile(PathBuf);

impl PidFile {
    fn write(path: &Path) -> anyhow::Result<PidFile> {
        std::fs::write(path, format!("{}", std::process::id()))
            .with_context(|| format!("writing the pid file {}", path.display()))?;
        Ok(PidFile(path.to_owned()))
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn print_banner(config: &Config, node_id: &str) {
    eprintln!("==> Starting Legate agent...");
    eprintln!("           Version: '{VERSION}'");
    eprintln!("           Node ID: '{node_id}'");
    eprintln!("         Node name: '{}'", config.node_name);
    eprintln!(
        "        Datacenter: '{}' (Segment: '<all>')",
        config.datacenter
    );
    eprintln!(
        "            Server: {} (Bootstrap: {})",
        config.server, config.bootstrap
    );
    eprintln!(
        "       Client Addr: [{}] (HTTP: {}, DNS: {})",
        config.client_addr, config.ports.http, config.ports.dns
    );
    eprintln!(
        "      Cluster Addr: {} (LAN: {}, WAN: {})",
        config.advertise_addr, config.ports.serf_lan, config.ports.serf_wan
    );
    eprintln!(
        "           Encrypt: Gossip: {}",
        config.cluster.encrypt.is_some()
    );
    match &config.data_dir {
        Some(dir) => eprintln!("          Data Dir: {}", dir.display()),
        None => eprintln!("          Data Dir: (temporary, removed at exit)"),
    }
    eprintln!();
    eprintln!("==> Log data will now stream in as it occurs:");
}

/// Logs each change of leader, as Consul's "New leader elected" line.
/// Stops the agent, non-zero, when Raft stops on a storage error: a server without a
/// trustworthy log must not go on answering as if it had one.
async fn stop_on_storage_failure(
    raft: RaftHandle,
    shutdown: Shutdown,
    mut stopped: watch::Receiver<bool>,
) {
    tokio::select! {
        why = raft.failure() => {
            tracing::error!("raft: storage failure: {why}");
            shutdown.stop(StopReason::Storage(why));
        }
        _ = stopped.changed() => {}
    }
}

/// While this server's data directory is full and it leads a cluster of several voters,
/// hands leadership to another server, which can still write.
async fn step_down_while_disk_full(
    disk: DiskGuard,
    raft: RaftHandle,
    operator: Operator,
    mut stopped: watch::Receiver<bool>,
) {
    let mut full = disk.watch();
    loop {
        let must_step_down =
            *full.borrow_and_update() && raft.is_leader() && raft.metrics().voters.len() > 1;
        if must_step_down {
            tracing::warn!(
                "raft: {}; handing leadership to another server",
                disk.refusal()
            );
            let request = crate::server::rpc::message::OperatorRequest::TransferLeader(None);
            if let Err(error) = operator.serve(request).await {
                tracing::warn!("raft: stepping down failed: {error:?}");
            }
        }
        tokio::select! {
            changed = full.changed() => if changed.is_err() { return },
            _ = tokio::time::sleep(Duration::from_secs(2)) => {}
            _ = stopped.changed() => return,
        }
    }
}

/// How long after handing leadership away for a slow disk before doing it again: the other
/// servers' disks may be as slow, and leadership must not bounce between them.
const SLOW_DISK_COOL_DOWN: Duration = Duration::from_secs(60);

/// While this server's Raft log fsyncs slowly (`telemetry::slow_disk`) and it leads a
/// cluster of several voters, hands leadership to another server, at most once per
/// `SLOW_DISK_COOL_DOWN`, whether the transfer succeeded or not.
async fn step_down_while_disk_slow(
    mut slow: watch::Receiver<bool>,
    raft: RaftHandle,
    operator: Operator,
    mut stopped: watch::Receiver<bool>,
) {
    let mut last_step_down: Option<tokio::time::Instant> = None;
    loop {
        let cooled = last_step_down.is_none_or(|at| at.elapsed() >= SLOW_DISK_COOL_DOWN);
        let must_step_down = *slow.borrow_and_update()
            && cooled
            && raft.is_leader()
            && raft.metrics().voters.len() > 1;
        if must_step_down {
            tracing::warn!(
                "raft: this server's disk is slow (see the slow disk warning); handing \
                 leadership to another server"
            );
            let request = crate::server::rpc::message::OperatorRequest::TransferLeader(None);
            // A failed try cools down too: a transfer that fails once under this load will
            // likely fail again, and every try stops the heartbeats for a while.
            if let Err(error) = operator.serve(request).await {
                tracing::warn!("raft: stepping down failed: {error:?}");
            }
            last_step_down = Some(tokio::time::Instant::now());
        }
        tokio::select! {
            changed = slow.changed() => if changed.is_err() { return },
            _ = tokio::time::sleep(Duration::from_secs(2)) => {}
            _ = stopped.changed() => return,
        }
    }
}

async fn announce_leader(raft: RaftHandle, mut stopped: watch::Receiver<bool>) {
    let mut leadership = raft.leadership_watch();
    loop {
        if *leadership.borrow_and_update() {
            tracing::info!(
                "raft: this server is the leader (address {})",
                raft.metrics()
                    .leader
                    .and_then(|leader| leader.addr)
                    .unwrap_or_default()
            );
        }
        tokio::select! {
            changed = leadership.changed() => if changed.is_err() { return },
            _ = stopped.changed() => return,
        }
    }
}
