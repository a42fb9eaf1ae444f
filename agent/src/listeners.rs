//! The sockets an agent serves on, bound before `run` starts, so that tests can bind port 0
//! and learn the ports, and so that a port already taken fails at start-up with its name.

use crate::config::Config;
use anyhow::Context;
use std::net::SocketAddr;
use tokio::net::{TcpListener, UdpSocket};

/// Every socket `run` serves on. `None` where the interface is disabled (a negative port).
#[derive(Debug)]
pub struct Listeners {
    pub http: Option<TcpListener>,
    /// DNS over UDP: several sockets on one port (SO_REUSEPORT), so every core answers.
    pub dns_udp: Vec<UdpSocket>,
    pub dns_tcp: Option<TcpListener>,
    /// Server RPC (servers only).
    pub rpc: Option<TcpListener>,
    /// LAN gossip: UDP for SWIM, TCP on the same port for state exchange.
    pub serf_udp: UdpSocket,
    pub serf_tcp: TcpListener,
    /// WAN gossip, the same way (servers only, unless its port is negative).
    pub wan: Option<(UdpSocket, TcpListener)>,
}

impl Listeners {
    /// Binds what `config` asks for, on its addresses and ports.
    pub async fn bind(config: &Config) -> anyhow::Result<Listeners> {
        let http = if config.ports.http >= 0 {
            let address = SocketAddr::new(config.client_addr, config.ports.http as u16);
            Some(
                TcpListener::bind(address)
                    .await
                    .with_context(|| format!("binding HTTP to {address}"))?,
            )
        } else {
            None
        };
        let (dns_udp, dns_tcp) = if config.ports.dns >= 0 {
            let address = SocketAddr::new(config.client_addr, config.ports.dns as u16);
            let udp = legate_dns::bind_udp_reuseport(address, 2)
                .with_context(|| format!("binding DNS (UDP) to {address}"))?;
            let tcp = TcpListener::bind(address)
                .await
                .with_context(|| format!("binding DNS (TCP) to {address}"))?;
            (udp, Some(tcp))
        } else {
            (Vec::new(), None)
        };
        let rpc = if config.server {
            let address = SocketAddr::new(config.bind_addr, config.ports.server);
            Some(
                TcpListener::bind(address)
                    .await
                    .with_context(|| format!("binding server RPC to {address}"))?,
            )
        } else {
            None
        };
        let (serf_udp, serf_tcp) = bind_gossip(config, config.ports.serf_lan, "LAN").await?;
        let wan = if config.server && config.ports.serf_wan >= 0 {
            Some(bind_gossip(config, config.ports.serf_wan as u16, "WAN").await?)
        } else {
            None
        };
        Ok(Listeners {
            http,
            dns_udp,
            dns_tcp,
            rpc,
            serf_udp,
            serf_tcp,
            wan,
        })
    }
}

/// A gossip pool's UDP socket and the TCP listener on the same port.
async fn bind_gossip(
    config: &Config,
    port: u16,
    pool: &str,
) -> anyhow::Result<(UdpSocket, TcpListener)> {
    let address = SocketAddr::new(config.bind_addr, port);
    let udp = UdpSocket::bind(address)
        .await
        .with_context(|| format!("binding {pool} gossip (UDP) to {address}"))?;
    // Port 0 (tests): TCP takes the port UDP got, so both share one like Consul's.
    let tcp_addr = SocketAddr::new(config.bind_addr, udp.local_addr()?.port());
    let tcp = TcpListener::bind(tcp_addr)
        .await
        .with_context(|| format!("binding {pool} gossip (TCP) to {tcp_addr}"))?;
    Ok((udp, tcp))
}
