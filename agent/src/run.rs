//! `run(config, shutdown)`: wires the store, Raft, the leader loop and the HTTP API together,
//! and tears them down in order when `shutdown` completes.

use crate::config::Config;
use crate::local::plan::Managed;
use crate::local::store::LocalStore;
use crate::local::LocalState;
use crate::node_id;
use crate::server::backend::ServerBackend;
use crate::server::leader::{self, reconcile::ServerMember};
use crate::server::local_catalog::ServerCatalog;
use crate::server::lookup::ServerLookup;
use crate::server::raft::{self, RaftOptions};
use anyhow::Context;
use legate_api::backend::AgentInfo;
use legate_api::{ApiConfig, ServeLimits};
use legate_catalog::{SharedStore, Store};
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The source revision, when the build knows it.
pub const REVISION: &str = match option_env!("LEGATE_REVISION") {
    Some(revision) => revision,
    None => "unknown",
};

/// Runs the agent until `shutdown` completes.
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
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
    let rpc_addr = SocketAddr::new(config.advertise_addr, config.ports.server).to_string();

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
    )
    .await
    .context("starting raft")?;

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
        server_port: config.ports.server,
        serf_lan_port: config.ports.serf_lan,
        dev_mode: config.dev,
    };
    print_banner(&config, &node_id);

    let (stop, stopped) = watch::channel(false);
    let me = ServerMember {
        node_name: config.node_name.clone(),
        node_id: node_id.clone(),
        address: config.advertise_addr.to_string(),
        server_port: config.ports.server,
        version: VERSION.to_owned(),
    };
    let leader_task = tokio::spawn(leader::run(
        raft.clone(),
        store.clone(),
        vec![me.clone()],
        stopped.clone(),
    ));
    let announce = tokio::spawn(announce_leader(raft.clone(), stopped.clone()));

    let local = LocalState::start(
        LocalStore::open(&data_dir).context("opening the local state")?,
        ServerCatalog::new(raft.clone(), store.clone()),
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
    let backend = Arc::new(ServerBackend::new(raft.clone(), store.clone(), info, local));
    let http = if config.ports.http >= 0 {
        let address = SocketAddr::new(config.client_addr, config.ports.http as u16);
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .with_context(|| format!("binding HTTP to {address}"))?;
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
    let dns = if config.ports.dns >= 0 {
        let address = SocketAddr::new(config.client_addr, config.ports.dns as u16);
        // Two UDP sockets on one port (SO_REUSEPORT), so both cores answer queries.
        let udp = legate_dns::bind_udp_reuseport(address, 2)
            .with_context(|| format!("binding DNS (UDP) to {address}"))?;
        let tcp = tokio::net::TcpListener::bind(address)
            .await
            .with_context(|| format!("binding DNS (TCP) to {address}"))?;
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
            Some(tcp),
            handler,
            dns_shutdown,
        )))
    } else {
        None
    };
    eprintln!("==> Legate agent running!");

    shutdown.await;
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
