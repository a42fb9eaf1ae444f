//! `run(config, listeners, cancel)`: wires the store, Raft, server RPC, the leader loop, the
//! HTTP API and DNS together on pre-bound sockets, and tears them down in order when `cancel`
//! fires.

use crate::config::Config;
use crate::listeners::Listeners;
use crate::local::plan::Managed;
use crate::local::store::LocalStore;
use crate::local::LocalState;
use crate::node_id;
use crate::server::backend::ServerBackend;
use crate::server::leader::{self, reconcile::ServerMember};
use crate::server::local_catalog::ServerCatalog;
use crate::server::lookup::ServerLookup;
use crate::server::raft::{self, RaftOptions};
use crate::server::read_path::{LastContact, ReadPath};
use crate::server::rpc::{self, RpcClient, RpcLimits, ServerRpc};
use crate::server::write_path::WritePath;
use anyhow::Context;
use legate_api::backend::AgentInfo;
use legate_api::{ApiConfig, ServeLimits};
use legate_catalog::{SharedStore, Store};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The source revision, when the build knows it.
pub const REVISION: &str = match option_env!("LEGATE_REVISION") {
    Some(revision) => revision,
    None => "unknown",
};

/// Binds the configured sockets and runs the agent until `cancel` fires.
pub async fn bind_and_run(config: Config, cancel: CancellationToken) -> anyhow::Result<()> {
    let listeners = Listeners::bind(&config).await?;
    run(config, listeners, cancel).await
}

/// Runs the agent on `listeners` until `cancel` fires.
pub async fn run(
    config: Config,
    listeners: Listeners,
    cancel: CancellationToken,
) -> anyhow::Result<()> {
    for warning in &config.warnings {
        tracing::warn!("config: {warning}");
    }
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
    let node_id = node_id::load_or_create(&data_dir, config.node_id.as_deref())?;
    // What peers dial: the advertised address and the port actually bound (port 0 in tests).
    let rpc_port = listeners
        .rpc
        .as_ref()
        .and_then(|listener| listener.local_addr().ok())
        .map_or(config.ports.server, |addr| addr.port());
    let rpc_addr = SocketAddr::new(config.advertise_addr, rpc_port).to_string();
    let rpc_client = RpcClient::new();
    let tasks = TaskTracker::new();

    let store = Arc::new(SharedStore::new(Store::new()));
    let raft = raft::start(
        RaftOptions {
            node_id: node_id::raft_id(&node_id),
            rpc_addr: rpc_addr.clone(),
            data_dir: PathBuf::from(&data_dir),
            bootstrap: config.bootstrap,
            snapshot_threshold: config.raft_snapshot_threshold,
            trailing_logs: config.raft_trailing_logs,
            snapshot_interval: config.raft_snapshot_interval,
            ..RaftOptions::default()
        },
        store.clone(),
        rpc_client.clone(),
    )
    .await
    .context("starting raft")?;
    let writes = WritePath::new(raft.clone(), rpc_client.clone(), rpc_addr.clone());
    let reads = ReadPath::new(
        raft.clone(),
        store.clone(),
        rpc_client.clone(),
        LastContact::default(),
        rpc_addr.clone(),
    );
    if let Some(listener) = listeners.rpc {
        let handler = Arc::new(ServerRpc {
            raft: raft.clone(),
            writes: writes.clone(),
            reads: reads.clone(),
        });
        tasks.spawn(rpc::serve(
            listener,
            handler,
            RpcLimits::default(),
            cancel.child_token(),
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
        server_port: rpc_port,
        serf_lan_port: config.ports.serf_lan,
        dev_mode: config.dev,
    };
    print_banner(&config, &node_id);

    let (stop, stopped) = watch::channel(false);
    let me = ServerMember {
        node_name: config.node_name.clone(),
        node_id: node_id.clone(),
        address: config.advertise_addr.to_string(),
        server_port: Some(rpc_port),
        version: VERSION.to_owned(),
        status: leader::reconcile::MemberStatus::Alive,
    };
    let leader_task = tokio::spawn(leader::run(
        raft.clone(),
        writes.clone(),
        store.clone(),
        vec![me.clone()],
        stopped.clone(),
    ));
    let announce = tokio::spawn(announce_leader(raft.clone(), stopped.clone()));

    let local = LocalState::start(
        LocalStore::open(&data_dir).context("opening the local state")?,
        ServerCatalog::new(writes.clone(), store.clone()),
        leader::reconcile::wanted(&me).node,
        Managed {
            services: vec!["consul".into()],
            checks: vec![leader::reconcile::SERF_CHECK_ID.into()],
        },
        config.local.config.clone(),
        (config.local.services.clone(), config.local.checks.clone()),
        stopped.clone(),
    )
    .map_err(|error| anyhow::anyhow!("loading the local state: {error}"))?;
    let backend = Arc::new(ServerBackend::new(
        raft.clone(),
        writes.clone(),
        reads.clone(),
        store.clone(),
        info,
        local,
    ));
    let http = if let Some(listener) = listeners.http {
        let router = legate_api::router(
            backend,
            ApiConfig {
                kv_max_value_size: config.kv_max_value_size,
                pretty_default: config.dev,
                ..ApiConfig::default()
            },
        );
        let limits = ServeLimits {
            max_conns_per_client: config.http_max_conns_per_client as usize,
            ..ServeLimits::default()
        };
        let mut http_stopped = stopped.clone();
        let http_shutdown = async move {
            let _ = http_stopped.wait_for(|stop| *stop).await;
        };
        Some(tokio::spawn(legate_api::serve(
            listener,
            router,
            limits,
            http_shutdown,
        )))
    } else {
        None
    };
    let dns = if !listeners.dns_udp.is_empty() {
        let (udp, tcp) = (listeners.dns_udp, listeners.dns_tcp);
        let lookup = ServerLookup::new(
            store.clone(),
            raft.clone(),
            config.datacenter.as_str().into(),
        );
        let handler = Arc::new(legate_dns::DnsHandler::new(lookup, config.dns.clone()));
        let mut dns_stopped = stopped.clone();
        let dns_shutdown = async move {
            let _ = dns_stopped.wait_for(|stop| *stop).await;
        };
        Some(tokio::spawn(legate_dns::serve(
            udp,
            tcp,
            handler,
            dns_shutdown,
        )))
    } else {
        None
    };
    eprintln!("==> Legate agent running!");

    cancel.cancelled().await;
    eprintln!("==> Caught signal, shutting down...");
    let _ = stop.send(true);
    if let Some(dns) = dns {
        let _ = tokio::time::timeout(Duration::from_secs(5), dns).await;
    }
    if let Some(http) = http {
        // Blocking queries may be parked for minutes; don't wait for them past a bound.
        let _ = tokio::time::timeout(Duration::from_secs(5), http).await;
    }
    let _ = leader_task.await;
    let _ = announce.await;
    tasks.close();
    let _ = tokio::time::timeout(Duration::from_secs(5), tasks.wait()).await;
    raft.shutdown().await;
    eprintln!("==> Legate agent stopped");
    Ok(())
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
    match &config.data_dir {
        Some(dir) => eprintln!("          Data Dir: {}", dir.display()),
        None => eprintln!("          Data Dir: (temporary, removed at exit)"),
    }
    eprintln!();
    eprintln!("==> Log data will now stream in as it occurs:");
}

/// Logs each change of leader, as Consul's "New leader elected" line.
async fn announce_leader(raft: raft::RaftHandle, mut stopped: watch::Receiver<bool>) {
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
