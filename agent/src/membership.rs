//! The agent's LAN gossip membership: starting gossip with this agent's tags, joining, and
//! translating members into what the rest of the agent needs (API members, catalog
//! reconcile members, autopilot and bootstrap views, the servers a client forwards to).

use crate::config::cluster::GossipTuning;
use crate::config::Config;
use crate::server::bootstrap::Candidate;
use crate::server::leader::autopilot::GossipServer;
use crate::server::leader::reconcile::{MemberStatus, ServerMember};
use legate_api::backend::{BackendError, KeyringOp, KeyringResponse};
use legate_gossip::{Gossip, Member, Role, Tags, Timing};
use std::net::SocketAddr;
use std::path::Path;
use tokio::net::{TcpListener, UdpSocket};
use tokio_util::sync::CancellationToken;

/// This agent's gossip handle and what it needs to interpret members.
#[derive(Clone)]
pub struct Membership {
    gossip: Gossip,
    datacenter: String,
}

/// The pieces of this agent that its tags announce.
pub struct Announce<'a> {
    pub node_id: &'a str,
    pub rpc_addr: Option<SocketAddr>,
    /// The WAN gossip port, on a server in a WAN pool.
    pub wan_port: Option<u16>,
    pub version: &'a str,
    pub revision: &'a str,
}

/// This agent's LAN tags; the WAN pool's are the same without `wan_join_port`.
pub fn tags(config: &Config, announce: &Announce<'_>) -> Tags {
    Tags {
        role: if config.server {
            Role::Server
        } else {
            Role::Client
        },
        datacenter: config.datacenter.clone(),
        segment: String::new(),
        node_id: announce.node_id.to_owned(),
        rpc_addr: announce.rpc_addr,
        build: format!("{}:{}", announce.version, announce.revision),
        protocol: Default::default(),
        bootstrap: config.bootstrap,
        expect: (config.cluster.bootstrap_expect > 0).then_some(config.cluster.bootstrap_expect),
        read_replica: false,
        wan_join_port: announce.wan_port,
    }
}

/// A pool's timing: Consul's defaults for it (`base`), with the configured tuning over them.
pub fn timing(base: Timing, tuning: &GossipTuning) -> Timing {
    let mut timing = base;
    if let Some(nodes) = tuning.gossip_nodes {
        timing.gossip_nodes = nodes.max(1) as usize;
    }
    if let Some(interval) = tuning.gossip_interval {
        timing.gossip_interval = interval;
    }
    if let Some(interval) = tuning.probe_interval {
        timing.probe_interval = interval;
    }
    if let Some(timeout) = tuning.probe_timeout {
        timing.probe_timeout = timeout;
    }
    if let Some(mult) = tuning.retransmit_mult {
        timing.retransmit_mult = mult.max(1);
    }
    if let Some(mult) = tuning.suspicion_mult {
        timing.suspicion_mult = mult.max(1);
    }
    timing
}

impl Membership {
    /// Starts gossip on the pre-bound sockets and joins `start_join` (failing if none of
    /// them answers, as Consul's `-join` does); `retry_join` goes on in the background.
    pub async fn start(
        config: &Config,
        data_dir: &Path,
        announce: Announce<'_>,
        udp: UdpSocket,
        tcp: TcpListener,
        cancel: CancellationToken,
    ) -> anyhow::Result<Membership> {
        let gossip = crate::gossip_pool::start(
            config,
            data_dir,
            crate::gossip_pool::Pool {
                label: "LAN",
                name: config.node_name.clone(),
                tags: tags(config, &announce),
                timing: timing(Timing::lan(), &config.cluster.gossip),
                reconnect_timeout: config.cluster.reconnect_timeout,
                keyring_file: "local.keyring",
                snapshot_file: "local.snapshot",
                send_delay: std::time::Duration::ZERO,
                join_flag: "-join",
                start_join: config.cluster.start_join.clone(),
                retry_join: config.cluster.retry_join.clone(),
            },
            udp,
            tcp,
            cancel,
        )
        .await?;
        let membership = Membership {
            gossip,
            datacenter: config.datacenter.clone(),
        };
        Ok(membership)
    }

    pub fn gossip(&self) -> &Gossip {
        &self.gossip
    }

    /// `PUT /v1/agent/join/<address>`: `host[:port]`, the port defaulting to 8301.
    pub async fn join(&self, address: &str) -> Result<usize, BackendError> {
        crate::gossip_pool::join_one(&self.gossip, address.to_owned()).await
    }

    /// `PUT /v1/agent/force-leave/<node>`: a failed member becomes left (and, with `prune`,
    /// is forgotten at once), so the leader deregisters it.
    pub async fn force_leave(&self, node: &str, prune: bool) -> Result<(), BackendError> {
        crate::gossip_pool::force_leave(&self.gossip, node, prune).await
    }

    /// `/v1/operator/keyring`: the operation on every member (see `keyring_query`).
    pub async fn keyring(&self, node: &str, op: KeyringOp) -> Vec<KeyringResponse> {
        vec![crate::keyring_query::run(&self.gossip, node, &self.datacenter, false, op).await]
    }

    /// Every member, this agent included.
    pub fn members(&self) -> Vec<Member> {
        self.gossip.members()
    }

    /// `/v1/agent/members`.
    pub fn api_members(&self) -> Vec<legate_api::backend::Member> {
        self.members()
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

    /// Members of this datacenter as the catalog should show them (`reconcile`).
    pub fn catalog_members(&self, version: &str) -> Vec<ServerMember> {
        self.members()
            .into_iter()
            .filter(|member| member.tags.datacenter == self.datacenter)
            .filter_map(|member| {
                let status = catalog_status(member.status)?;
                Some(ServerMember {
                    node_name: member.name.clone(),
                    node_id: member.tags.node_id.clone(),
                    address: member.addr.ip().to_string(),
                    server_port: match member.tags.role {
                        Role::Server => member.tags.rpc_addr.map(|addr| addr.port()),
                        Role::Client => None,
                    },
                    version: member
                        .tags
                        .build
                        .split(':')
                        .next()
                        .unwrap_or(version)
                        .to_owned(),
                    status,
                })
            })
            .collect()
    }

    /// Servers of this datacenter, for autopilot.
    pub fn servers(&self) -> Vec<GossipServer> {
        self.server_members()
            .filter_map(|(member, id, rpc_addr)| {
                Some(GossipServer {
                    id,
                    name: member.name.clone(),
                    rpc_addr: rpc_addr.to_string(),
                    status: catalog_status(member.status)?,
                })
            })
            .collect()
    }

    /// Servers of every datacenter, for `-bootstrap-expect`.
    pub fn bootstrap_candidates(&self) -> Vec<Candidate> {
        self.server_members()
            .map(|(member, id, rpc_addr)| Candidate {
                id,
                name: member.name.clone(),
                rpc_addr: rpc_addr.to_string(),
                datacenter: member.tags.datacenter.clone(),
                expect: member.tags.expect.unwrap_or(0),
                alive: member.status == legate_gossip::MemberStatus::Alive,
            })
            .collect()
    }

    /// The RPC addresses of this datacenter's live servers, for a client agent to forward to.
    pub fn live_server_addrs(&self) -> Vec<String> {
        self.server_members()
            .filter(|(member, _, _)| {
                member.status == legate_gossip::MemberStatus::Alive
                    && member.tags.datacenter == self.datacenter
            })
            .map(|(_, _, rpc_addr)| rpc_addr.to_string())
            .collect()
    }

    fn server_members(&self) -> impl Iterator<Item = (Member, u128, SocketAddr)> {
        self.members().into_iter().filter_map(|member| {
            if member.tags.role != Role::Server {
                return None;
            }
            let rpc_addr = member.tags.rpc_addr?;
            // The Raft id is the UUID's bits (`node_id::raft_id`); a member whose tag is not a
            // UUID cannot be a Raft peer.
            let id = uuid::Uuid::parse_str(&member.tags.node_id).ok()?;
            Some((member, id.as_u128(), rpc_addr))
        })
    }
}

/// A gossip status as the catalog treats it: a member that is leaving keeps its
/// registration until the leave completes.
fn catalog_status(status: legate_gossip::MemberStatus) -> Option<MemberStatus> {
    match status {
        legate_gossip::MemberStatus::Alive | legate_gossip::MemberStatus::Leaving => {
            Some(MemberStatus::Alive)
        }
        legate_gossip::MemberStatus::Left => Some(MemberStatus::Left),
        legate_gossip::MemberStatus::Failed => Some(MemberStatus::Failed),
    }
}

impl Membership {
    /// This datacenter's live servers that announce a WAN port: `(name, WAN gossip address)`.
    pub fn wan_joinable_servers(&self) -> Vec<(String, SocketAddr)> {
        self.members()
            .into_iter()
            .filter(|member| {
                member.status == legate_gossip::MemberStatus::Alive
                    && member.tags.role == Role::Server
                    && member.tags.datacenter == self.datacenter
            })
            .filter_map(|member| {
                let port = member.tags.wan_join_port?;
                Some((member.name, SocketAddr::new(member.addr.ip(), port)))
            })
            .collect()
    }
}
