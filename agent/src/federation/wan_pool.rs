//! The WAN gossip pool: the servers of every datacenter, on port 8302, each named
//! `<node>.<dc>` as Consul names WAN members, with WAN timing and the LAN pool's encryption
//! key (its ring kept apart in `serf/remote.keyring`, as Consul keeps it).
//!
//! What the rest of the agent reads from it: the live servers of a datacenter (where `?dc=`
//! goes), the datacenters known, and the members for `/v1/agent/members?wan=1`.

use crate::config::Config;
use crate::membership::timing;
use legate_api::backend::{BackendError, KeyringOp, KeyringResponse};
use legate_gossip::{Gossip, MemberStatus, Role, Tags, Timing};
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::Path;
use tokio::net::{TcpListener, UdpSocket};
use tokio_util::sync::CancellationToken;

/// This server's handle on the WAN pool. Cheap to clone.
#[derive(Clone)]
pub struct WanPool {
    gossip: Gossip,
    datacenter: String,
}

/// A live server of some datacenter, as the WAN pool knows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WanServer {
    /// `<node>.<dc>`.
    pub name: String,
    pub datacenter: String,
    pub rpc_addr: SocketAddr,
}

/// `host[:port]` with the port defaulting to the WAN pool's 8302 (gossip's own default is
/// the LAN's 8301).
fn with_wan_port(address: &str) -> String {
    let has_port = match address.rsplit_once(':') {
        // `[v6]:port` or `host:port`; a bare IPv6 address has colons but no port.
        Some((host, port)) => {
            port.parse::<u16>().is_ok() && (host.ends_with(']') || !host.contains(':'))
        }
        None => false,
    };
    if has_port {
        address.to_owned()
    } else {
        format!("{address}:8302")
    }
}

/// The WAN member name of `node` in `datacenter`.
pub fn member_name(node: &str, datacenter: &str) -> String {
    format!("{node}.{datacenter}")
}

impl WanPool {
    /// Joins the pool on the pre-bound sockets; `start_join_wan` must answer (as `-join-wan`
    /// must in Consul), `retry_join_wan` goes on in the background.
    pub async fn start(
        config: &Config,
        data_dir: &Path,
        tags: Tags,
        udp: UdpSocket,
        tcp: TcpListener,
        cancel: CancellationToken,
    ) -> anyhow::Result<WanPool> {
        debug_assert_eq!(tags.role, Role::Server);
        let with_port = |addrs: &[String]| addrs.iter().map(|a| with_wan_port(a)).collect();
        let gossip = crate::gossip_pool::start(
            config,
            data_dir,
            crate::gossip_pool::Pool {
                label: "WAN",
                name: member_name(&config.node_name, &config.datacenter),
                tags,
                timing: timing(Timing::wan(), &config.cluster.gossip_wan),
                reconnect_timeout: config.cluster.reconnect_timeout_wan,
                keyring_file: "remote.keyring",
                snapshot_file: "remote.snapshot",
                send_delay: crate::fault::wan_send_delay(),
                join_flag: "-join-wan",
                start_join: with_port(&config.cluster.start_join_wan),
                retry_join: with_port(&config.cluster.retry_join_wan),
            },
            udp,
            tcp,
            cancel,
        )
        .await?;
        let pool = WanPool {
            gossip,
            datacenter: config.datacenter.clone(),
        };
        tokio::spawn(crate::keyring_query::respond(
            pool.gossip.clone(),
            member_name(&config.node_name, &config.datacenter),
        ));
        Ok(pool)
    }

    pub fn gossip(&self) -> &Gossip {
        &self.gossip
    }

    /// `PUT /v1/agent/join/<address>?wan=1`: the port defaults to 8302.
    pub async fn join(&self, address: &str) -> Result<usize, BackendError> {
        crate::gossip_pool::join_one(&self.gossip, with_wan_port(address)).await
    }

    /// `PUT /v1/agent/force-leave/<node>.<dc>?wan=1`.
    pub async fn force_leave(&self, node: &str, prune: bool) -> Result<(), BackendError> {
        crate::gossip_pool::force_leave(&self.gossip, node, prune).await
    }

    /// The WAN ring's part of `/v1/operator/keyring`.
    pub async fn keyring(&self, node: &str, op: KeyringOp) -> KeyringResponse {
        let name = member_name(node, &self.datacenter);
        crate::keyring_query::run(&self.gossip, &name, &self.datacenter, true, op).await
    }

    /// `/v1/agent/members?wan=1`.
    pub fn api_members(&self) -> Vec<legate_api::backend::Member> {
        self.gossip
            .members()
            .into_iter()
            .map(|member| legate_api::backend::Member {
                name: member.name.clone(),
                addr: member.addr.ip().to_string(),
                port: member.addr.port(),
                tags: member.tags.to_map(),
                status: member.status.status_code(),
            })
            .collect()
    }

    /// Every live server the pool knows, of every datacenter.
    pub fn live_servers(&self) -> Vec<WanServer> {
        self.gossip
            .members()
            .into_iter()
            .filter(|member| member.status == MemberStatus::Alive)
            .filter(|member| member.tags.role == Role::Server)
            .filter_map(|member| {
                Some(WanServer {
                    rpc_addr: member.tags.rpc_addr?,
                    datacenter: member.tags.datacenter.clone(),
                    name: member.name,
                })
            })
            .collect()
    }

    /// Every server's WAN coordinate as this server knows it (its own, and those the others
    /// sent while it probed them), with its datacenter: `(datacenter, member, coordinate)`.
    pub fn coordinates(&self) -> Vec<(String, String, legate_catalog::Coord)> {
        let known: std::collections::HashMap<String, legate_gossip::Coordinate> =
            self.gossip.coordinates().into_iter().collect();
        let own = self.gossip.local_member().name;
        self.gossip
            .members()
            .into_iter()
            .filter(|member| member.status != MemberStatus::Left)
            .filter_map(|member| {
                let coordinate = if member.name == own {
                    self.gossip.coordinate()
                } else {
                    known.get(&member.name)?.clone()
                };
                Some((
                    member.tags.datacenter.clone(),
                    member.name,
                    crate::coordinate_sync::catalog_coord(&coordinate),
                ))
            })
            .collect()
    }

    /// This server's own WAN coordinate.
    pub fn own_coordinate(&self) -> legate_catalog::Coord {
        crate::coordinate_sync::catalog_coord(&self.gossip.coordinate())
    }

    /// The datacenters with a server in the pool that has not left (a datacenter whose
    /// servers all failed stays known, as in Consul, until they are reaped).
    pub fn datacenters(&self) -> BTreeSet<String> {
        let mut known: BTreeSet<String> = self
            .gossip
            .members()
            .into_iter()
            .filter(|member| member.status != MemberStatus::Left)
            .map(|member| member.tags.datacenter)
            .collect();
        known.insert(self.datacenter.clone());
        known
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wan_addresses_default_to_port_8302() {
        assert_eq!(with_wan_port("10.0.0.1"), "10.0.0.1:8302");
        assert_eq!(with_wan_port("10.0.0.1:9302"), "10.0.0.1:9302");
        assert_eq!(with_wan_port("[::1]"), "[::1]:8302");
        assert_eq!(with_wan_port("[::1]:9302"), "[::1]:9302");
        assert_eq!(with_wan_port("server.example"), "server.example:8302");
        assert_eq!(member_name("s1", "dc2"), "s1.dc2");
    }
}
