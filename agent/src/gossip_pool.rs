//! Starting one gossip pool the agent's way, LAN or WAN: its name, tags and timing, the
//! gossip key, the pool's keyring and snapshot files under `<data_dir>/serf` (the members
//! known before a restart are rejoined at once), then `-join` (which must answer) and
//! `-retry-join` (in the background).

use crate::config::Config;
use anyhow::Context;
use legate_api::backend::BackendError;
use legate_gossip::{Gossip, GossipConfig, Keyring, Tags, Timing};
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;
use tokio::net::{TcpListener, UdpSocket};
use tokio_util::sync::CancellationToken;

/// What differs between the pools.
pub struct Pool {
    /// `LAN` or `WAN`, for messages.
    pub label: &'static str,
    /// This agent's member name in the pool.
    pub name: String,
    pub tags: Tags,
    pub timing: Timing,
    pub reconnect_timeout: Duration,
    /// The keyring file under `<data_dir>/serf` (`local.keyring`, `remote.keyring`).
    pub keyring_file: &'static str,
    /// The file of members known, rejoined at start, under `<data_dir>/serf`
    /// (`local.snapshot`, `remote.snapshot`, as Consul names them).
    pub snapshot_file: &'static str,
    /// Test-only: a delay on every packet sent (`fault::wan_send_delay`).
    pub send_delay: Duration,
    /// Joined at start; one must answer, or the agent stops naming `join_flag`.
    pub start_join: Vec<String>,
    pub join_flag: &'static str,
    /// Joined in the background until one answers.
    pub retry_join: Vec<String>,
}

pub async fn start(
    config: &Config,
    data_dir: &Path,
    pool: Pool,
    udp: UdpSocket,
    tcp: TcpListener,
    cancel: CancellationToken,
) -> anyhow::Result<Gossip> {
    let label = pool.label;
    let advertise = SocketAddr::new(config.advertise_addr, udp.local_addr()?.port());
    let serf_dir = data_dir.join("serf");
    std::fs::create_dir_all(&serf_dir)
        .with_context(|| format!("creating {}", serf_dir.display()))?;
    let mut gossip_config = GossipConfig::new(pool.name, advertise, pool.tags);
    gossip_config.timing = pool.timing;
    gossip_config.reconnect_timeout = pool.reconnect_timeout;
    gossip_config.verify_incoming = config.cluster.encrypt_verify_incoming;
    gossip_config.verify_outgoing = config.cluster.encrypt_verify_outgoing;
    gossip_config.keyring_path = Some(serf_dir.join(pool.keyring_file));
    gossip_config.snapshot_path = Some(serf_dir.join(pool.snapshot_file));
    gossip_config.rejoin_after_leave = config.cluster.rejoin_after_leave;
    gossip_config.send_delay = pool.send_delay;
    if let Some(key) = &config.cluster.encrypt {
        gossip_config.keyring = Some(
            Keyring::from_base64(&[key.as_str()])
                .map_err(|error| anyhow::anyhow!("encrypt: {error}"))?,
        );
    }
    let gossip = legate_gossip::start(gossip_config, udp, tcp, cancel.clone())
        .await
        .with_context(|| format!("starting {label} gossip"))?;
    if !pool.start_join.is_empty() {
        let joined = legate_gossip::retry_join(
            &gossip,
            pool.start_join,
            Duration::from_secs(1),
            1,
            cancel.clone(),
        )
        .await
        .map_err(|error| anyhow::anyhow!("{}: {error}", pool.join_flag))?;
        tracing::info!("{label} gossip: joined {joined} members");
    }
    if !pool.retry_join.is_empty() {
        let gossip = gossip.clone();
        let (interval, max) = (config.cluster.retry_interval, config.cluster.retry_max);
        let addrs = pool.retry_join;
        tokio::spawn(async move {
            match legate_gossip::retry_join(&gossip, addrs, interval, max, cancel).await {
                Ok(joined) => tracing::info!("{label} gossip: retry-join joined {joined}"),
                Err(error) => tracing::error!("{label} gossip: retry-join gave up: {error}"),
            }
        });
    }
    Ok(gossip)
}

/// `PUT /v1/agent/join/<address>` on one pool: one attempt at one address.
pub async fn join_one(gossip: &Gossip, address: String) -> Result<usize, BackendError> {
    legate_gossip::retry_join(
        gossip,
        vec![address],
        Duration::from_secs(1),
        1,
        CancellationToken::new(),
    )
    .await
    // The address the request named did not answer: Consul refuses the join with a 500.
    .map_err(|error| BackendError::Refused(error.to_string()))
}

/// `PUT /v1/agent/force-leave/<node>` on one pool: a failed member becomes left (and, with
/// `prune`, is forgotten at once).
pub async fn force_leave(gossip: &Gossip, node: &str, prune: bool) -> Result<(), BackendError> {
    gossip
        .force_leave(node, prune)
        .await
        .map_err(|error| match error {
            // What the request named cannot be forced out; Consul refuses it with a 500.
            legate_gossip::OpError::Op(refused) => BackendError::Refused(refused.to_string()),
            other => BackendError::Internal(other.to_string()),
        })
}
