//! The operator's calls on a server: the Raft peer set (`/v1/operator/raft/*`) and autopilot
//! (`/v1/operator/autopilot/*`).
//!
//! Rules:
//! 1. Calls that change the group (remove a peer, transfer leadership) and autopilot's health
//!    and state (which only the leader tracks) run on the leader; another server forwards
//!    them over RPC, once, and a client agent sends them to any server.
//! 2. `raft/configuration?stale` answers from this server's own view; without `stale` the
//!    leader answers.
//! 3. Autopilot's settings live in the replicated state (`Command::AutopilotSet`), read and
//!    written like any other record, with Consul's check-and-set.
//! 4. Leadership transfer: openraft 0.9 has none, and its leader lease makes followers refuse
//!    a vote while the leader is alive. So the leader stops its heartbeats, asks the target
//!    to start an election (`TriggerElection`) until it wins or `TRANSFER_DEADLINE` passes,
//!    then resumes heartbeats (a leader that is still leader loses nothing).
//! 5. Before each try, the leader waits (up to `CATCH_UP_WAIT`) for the target to hold its
//!    whole log, as the Raft thesis's transfer does (§3.10): only then can the target win.
//! 6. During a try the leader holds its new entries and its linearizable reads
//!    (`RaftHandle::hold_for_handover`; both renew the followers' lease and the entries leave
//!    the target behind), does not stand for election itself, and asks the target to stand
//!    only once the followers' lease (the election timeout's maximum) has lapsed, so that the
//!    target's first election is one it wins. Found by the fault harness: with entries still
//!    flowing, every try failed, and the leader's retries became an election storm.

use super::leader::autopilot::ServerHealth as Health;
use super::leader::session_timers::SessionTimers;
use super::leader::AutopilotReport;
use super::raft::{NodeId, RaftHandle};
use super::read_path::ReadPath;
use super::rpc::message::{
    OperatorAnswer, OperatorError, OperatorRequest, ReadConsistency, ReadRequest, Request,
    RequestV1, ResponseV1, RingAnswer, RingOp,
};
use super::rpc::RpcClient;
use super::write_path::WritePath;
use crate::config::cluster::AutopilotSettings;
use crate::membership::Membership;
use legate_api::backend::{
    AutopilotConfig, AutopilotHealth, AutopilotServer, AutopilotState, AutopilotStatus, DiskHealth,
    MemberStatus, PeerSelector, RaftConfiguration, RaftServer, ServerHealth,
};
use legate_catalog::command::AutopilotSet;
use legate_catalog::query::{Query, QueryResult};
use legate_catalog::{Command, Index, Outcome, SharedStore};
use openraft::ChangeMembers;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

const FORWARD_DEADLINE: Duration = Duration::from_secs(15);
const TRANSFER_DEADLINE: Duration = Duration::from_secs(10);
/// How long each transfer try waits for the target to catch up (rule 5).
const CATCH_UP_WAIT: Duration = Duration::from_secs(1);
/// Past the followers' lease before the target stands (rule 6): heartbeats already in
/// flight when they were turned off, and the followers' timers' granularity.
const LEASE_MARGIN: Duration = Duration::from_millis(100);

/// A node id as Consul shows a Raft server's `ID`: the node UUID.
pub fn id_text(id: NodeId) -> String {
    uuid::Uuid::from_u128(id).hyphenated().to_string()
}

fn parse_id(text: &str) -> Option<NodeId> {
    uuid::Uuid::parse_str(text).ok().map(|id| id.as_u128())
}

#[derive(Clone)]
pub struct Operator {
    pub raft: RaftHandle,
    pub membership: Membership,
    pub rpc: RpcClient,
    pub writes: WritePath,
    pub reads: ReadPath,
    pub report: Arc<Mutex<AutopilotReport>>,
    /// Autopilot's settings from the config files: what the leader writes when the
    /// replicated state holds none yet.
    pub defaults: AutopilotSettings,
    pub own_addr: String,
    /// When this process started, to date autopilot's `StableSince`.
    pub started: (Instant, SystemTime),
    /// The leader's session TTL timers, which renew restarts.
    pub sessions: SessionTimers,
    pub store: Arc<SharedStore>,
    /// Other datacenters, for operator calls naming one (`?dc=`).
    pub federation: crate::federation::Federation,
    /// Coordinate reports, held for the leader's next batch.
    pub coordinates: crate::server::coordinate_buffer::CoordinateBuffer,
}

/// A server's answer to a WAN keyring call when it has no WAN pool (`ports.serf_wan = -1`).
pub const NO_WAN_POOL: &str = "this server is not in a WAN pool";

impl Operator {
    /// Serves `request` here, or at the leader (rule 1).
    pub async fn serve(&self, request: OperatorRequest) -> Result<OperatorAnswer, OperatorError> {
        match request {
            OperatorRequest::RaftConfiguration { stale: true } => {
                Ok(OperatorAnswer::RaftConfiguration(self.configuration()))
            }
            OperatorRequest::AutopilotConfiguration => self
                .autopilot_configuration()
                .await
                .map(OperatorAnswer::AutopilotConfiguration),
            OperatorRequest::SetAutopilotConfiguration { config, cas } => self
                .set_autopilot(config, cas)
                .await
                .map(OperatorAnswer::Condition),
            // Any server is in the WAN ring; the leader is not needed.
            OperatorRequest::WanKeyring(op) => self.wan_keyring(op).await,
            OperatorRequest::WanCoordinates => Ok(OperatorAnswer::WanCoordinates(
                self.federation.coordinates(),
            )),
            // Any server gossips in its datacenter's LAN pool.
            OperatorRequest::FireEvent {
                gossip_name,
                payload,
            } => self.fire_event(gossip_name, payload).await,
            request if !self.raft.metrics().is_leader() => self.forward(request).await,
            OperatorRequest::RaftConfiguration { stale: false } => {
                Ok(OperatorAnswer::RaftConfiguration(self.configuration()))
            }
            OperatorRequest::RemovePeer(selector) => self
                .remove_peer(selector)
                .await
                .map(|()| OperatorAnswer::Done),
            OperatorRequest::TransferLeader(id) => self
                .transfer_leader(id)
                .await
                .map(|()| OperatorAnswer::Done),
            OperatorRequest::AutopilotHealth => {
                Ok(OperatorAnswer::AutopilotHealth(self.health().await?))
            }
            OperatorRequest::AutopilotState => {
                Ok(OperatorAnswer::AutopilotState(self.state().await?))
            }
            OperatorRequest::CoordinateUpdate(update) => {
                self.coordinates
                    .push(update)
                    .map_err(|why| OperatorError::Refused(why.to_owned()))?;
                Ok(OperatorAnswer::Done)
            }
            OperatorRequest::SessionRenew(id) => {
                let session = self.store.read().session(id.as_str()).cloned();
                if let Some(session) = &session {
                    self.sessions.renew(session);
                }
                Ok(OperatorAnswer::Session(session))
            }
        }
    }

    /// A user event sent from another datacenter: fired here only if it is one (an RPC
    /// caller cannot slip an internal event, such as a keyring query, into the pool).
    async fn fire_event(
        &self,
        gossip_name: String,
        payload: Vec<u8>,
    ) -> Result<OperatorAnswer, OperatorError> {
        match legate_api::backend::event::UserEvent::from_gossip(&gossip_name, &payload, 0) {
            Ok(Some(_)) => {}
            _ => return Err(OperatorError::Refused("not a user event".to_owned())),
        }
        self.membership
            .gossip()
            .fire_event(&gossip_name, payload)
            .await
            .map_err(|error| OperatorError::Refused(error.to_string()))?;
        Ok(OperatorAnswer::Done)
    }

    async fn wan_keyring(&self, op: RingOp) -> Result<OperatorAnswer, OperatorError> {
        let Some(wan) = self.federation.wan() else {
            return Err(OperatorError::Refused(NO_WAN_POOL.to_owned()));
        };
        let op = op.into_api().map_err(OperatorError::Refused)?;
        let node = self.membership.gossip().local_member().name;
        Ok(OperatorAnswer::Keyring(RingAnswer::from_api(
            wan.keyring(&node, op).await,
        )))
    }

    async fn forward(&self, request: OperatorRequest) -> Result<OperatorAnswer, OperatorError> {
        // Like writes, wait a while for a leader to be known (Consul's `rpc_hold_timeout`).
        let deadline = Instant::now() + super::write_path::HOLD;
        let leader = loop {
            let known = self
                .raft
                .metrics()
                .leader
                .and_then(|peer| peer.addr)
                .filter(|addr| *addr != self.own_addr);
            match known {
                Some(leader) => break leader,
                None if Instant::now() >= deadline => return Err(OperatorError::NoLeader),
                None => {
                    let _ = self.raft.wait_for_leader(Duration::from_millis(500)).await;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        };
        match self
            .rpc
            .call(
                &leader,
                &Request::V1(RequestV1::Operator(request)),
                FORWARD_DEADLINE,
            )
            .await
        {
            Ok(ResponseV1::Operator(answer)) => answer,
            Ok(other) => Err(OperatorError::Indeterminate(format!(
                "leader {leader} answered {other:?}"
            ))),
            Err(error) if error.not_sent() => Err(OperatorError::NoLeader),
            Err(error) => Err(OperatorError::Indeterminate(error.to_string())),
        }
    }

    fn names(&self) -> BTreeMap<NodeId, String> {
        self.membership
            .servers()
            .into_iter()
            .map(|server| (server.id, server.name))
            .collect()
    }

    /// The Raft configuration as this server sees it (rule 2).
    fn configuration(&self) -> RaftConfiguration {
        let metrics = self.raft.metrics();
        let group = self.raft.group_view();
        let names = self.names();
        let voters: BTreeSet<NodeId> = metrics.voters.iter().map(|peer| peer.id).collect();
        let servers = self
            .raft
            .members()
            .into_iter()
            .map(|(id, address)| RaftServer {
                id: id_text(id),
                node: names.get(&id).cloned().unwrap_or_default(),
                address,
                leader: metrics
                    .leader
                    .as_ref()
                    .is_some_and(|leader| leader.id == id),
                voter: voters.contains(&id),
                protocol_version: "3".to_owned(),
                last_index: if id == metrics.node_id {
                    metrics.last_log_index
                } else {
                    group
                        .as_ref()
                        .and_then(|group| group.matched.get(&id).copied())
                        .unwrap_or(0)
                },
            })
            .collect();
        RaftConfiguration {
            servers,
            index: metrics.commit_index,
        }
    }

    fn find(&self, selector: &PeerSelector) -> Result<NodeId, OperatorError> {
        let members = self.raft.members();
        let found = match selector {
            PeerSelector::Id(id) => parse_id(id).filter(|id| members.contains_key(id)),
            PeerSelector::Address(address) => members
                .iter()
                .find(|(_, addr)| *addr == address)
                .map(|(id, _)| *id),
        };
        found.ok_or_else(|| {
            OperatorError::Refused(match selector {
                PeerSelector::Id(id) => {
                    format!("id {id:?} was not found in the Raft configuration")
                }
                PeerSelector::Address(address) => {
                    format!("address {address:?} was not found in the Raft configuration")
                }
            })
        })
    }

    async fn remove_peer(&self, selector: PeerSelector) -> Result<(), OperatorError> {
        let id = self.find(&selector)?;
        let voters: BTreeSet<NodeId> = self
            .raft
            .metrics()
            .voters
            .iter()
            .map(|peer| peer.id)
            .collect();
        if voters.len() == 1 && voters.contains(&id) {
            // Raft refuses an empty configuration; say so before proposing anything, so
            // that the answer is a plain refusal and not an unknown outcome.
            return Err(OperatorError::Refused(format!(
                "cannot remove {}: it is the only voter, and a Raft configuration cannot be \
                 empty",
                id_text(id)
            )));
        }
        let change = if voters.contains(&id) {
            ChangeMembers::RemoveVoters(BTreeSet::from([id]))
        } else {
            ChangeMembers::RemoveNodes(BTreeSet::from([id]))
        };
        // A leader cut off from its quorum would wait forever for the change to commit.
        tokio::time::timeout(FORWARD_DEADLINE, self.raft.change_membership(change))
            .await
            .map_err(|_| {
                OperatorError::Indeterminate(format!("not committed within {FORWARD_DEADLINE:?}"))
            })?
            .map_err(OperatorError::Indeterminate)?;
        tracing::info!("operator: removed raft peer {}", id_text(id));
        Ok(())
    }

    async fn transfer_leader(&self, id: Option<String>) -> Result<(), OperatorError> {
        let own = self.raft.node_id();
        let group = self.raft.group_view().ok_or(OperatorError::NoLeader)?;
        let target = match id {
            Some(text) => {
                let id = self.find(&PeerSelector::Id(text.clone()))?;
                if id == own {
                    return Err(OperatorError::Refused(format!(
                        "cannot transfer leadership to itself ({text})"
                    )));
                }
                if !group.voters.contains(&id) {
                    return Err(OperatorError::Refused(format!("{text} is not a voter")));
                }
                id
            }
            // The most caught-up other voter.
            None => group
                .voters
                .iter()
                .filter(|id| **id != own)
                .max_by_key(|id| group.matched.get(id).copied().unwrap_or(0))
                .copied()
                .ok_or_else(|| {
                    OperatorError::Refused(
                        "cannot find a server to transfer leadership to".to_owned(),
                    )
                })?,
        };
        let addr = group
            .nodes
            .get(&target)
            .cloned()
            .ok_or_else(|| OperatorError::Refused("target has no address".to_owned()))?;
        // Rule 4.
        let deadline = Instant::now() + TRANSFER_DEADLINE;
        let lease = self.raft.election_timeout_max();
        let mut moved = false;
        while Instant::now() < deadline {
            let hold = self.raft.hold_for_handover();
            // Rule 5: a target missing even the leader's newest entry loses the election it
            // is asked to start, and the old leader wins the next one with a newer entry
            // still: over and over, under load.
            self.raft
                .wait_caught_up(target, CATCH_UP_WAIT.min(deadline - Instant::now()))
                .await;
            hold.quiet();
            // Rule 6.
            tokio::time::sleep(lease + LEASE_MARGIN).await;
            let _ = self
                .rpc
                .call(
                    &addr,
                    &Request::V1(RequestV1::TriggerElection),
                    Duration::from_secs(2),
                )
                .await;
            let waited = self.raft.wait_for_other_leader(own, lease * 2).await;
            // Heartbeats, elections and entries flow again, to the target too, before
            // another try.
            drop(hold);
            if waited {
                moved = true;
                break;
            }
        }
        if moved {
            tracing::info!("operator: leadership transferred to {}", id_text(target));
            Ok(())
        } else {
            Err(OperatorError::Indeterminate(format!(
                "leadership did not move to {} within {TRANSFER_DEADLINE:?}",
                id_text(target)
            )))
        }
    }

    async fn autopilot_configuration(&self) -> Result<AutopilotConfig, OperatorError> {
        let answer = self
            .reads
            .read(ReadRequest {
                query: Query::AutopilotConfig,
                consistency: ReadConsistency::Default,
                min_index: 0,
                wait_ms: 0,
                max_stale_ms: None,
            })
            .await
            .map_err(|_| OperatorError::NoLeader)?;
        match answer.value {
            QueryResult::AutopilotConfig(Some(stored)) => Ok(to_api(&stored)),
            QueryResult::AutopilotConfig(None) => Ok(to_api(&from_settings(&self.defaults))),
            other => Err(OperatorError::Indeterminate(format!(
                "unexpected {other:?}"
            ))),
        }
    }

    async fn set_autopilot(
        &self,
        config: AutopilotConfig,
        cas: Option<u64>,
    ) -> Result<bool, OperatorError> {
        let command = Command::AutopilotSet(AutopilotSet {
            config: from_api(&config),
            cas: cas.map(Index),
        });
        match self.writes.write(command).await {
            Ok(Ok(Outcome::Condition(done))) => Ok(done),
            Ok(other) => Err(OperatorError::Indeterminate(format!(
                "unexpected {other:?}"
            ))),
            Err(error) if error.may_have_applied() => {
                Err(OperatorError::Indeterminate(error.to_string()))
            }
            Err(_) => Err(OperatorError::NoLeader),
        }
    }

    fn report(&self) -> AutopilotReport {
        self.report
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn stable_since(&self, server: &Health) -> SystemTime {
        let (started, wall) = self.started;
        match server.stable_since {
            Some(since) => {
                let at = started + since;
                wall + at.saturating_duration_since(started)
            }
            None => SystemTime::UNIX_EPOCH,
        }
    }

    fn serf_status(server: &Health) -> MemberStatus {
        use crate::server::leader::reconcile::MemberStatus as Status;
        match server.status {
            Some(Status::Alive) => MemberStatus::Alive,
            Some(Status::Failed) => MemberStatus::Failed,
            Some(Status::Left) => MemberStatus::Left,
            None => MemberStatus::None,
        }
    }

    async fn health(&self) -> Result<AutopilotHealth, OperatorError> {
        let report = self.report();
        let term = self.raft.metrics().term;
        let version = crate::run::VERSION.to_owned();
        Ok(AutopilotHealth {
            healthy: report.healthy,
            failure_tolerance: report.failure_tolerance as i64,
            servers: report
                .servers
                .iter()
                .map(|server| ServerHealth {
                    id: id_text(server.id),
                    name: server.name.clone(),
                    address: server.addr.clone(),
                    serf_status: Self::serf_status(server),
                    version: version.clone(),
                    leader: server.leader,
                    last_contact: Duration::ZERO,
                    last_term: term,
                    last_index: server.last_index,
                    healthy: server.healthy,
                    voter: server.voter,
                    stable_since: self.stable_since(server),
                    disk: report.disks.get(&server.id).map(|disk| DiskHealth {
                        slow: disk.slow,
                        fsync_p99: disk.fsync_p99_us.map(Duration::from_micros),
                    }),
                })
                .collect(),
        })
    }

    async fn state(&self) -> Result<AutopilotState, OperatorError> {
        let report = self.report();
        let term = self.raft.metrics().term;
        let version = crate::run::VERSION.to_owned();
        let mut servers = BTreeMap::new();
        let mut leader = String::new();
        let mut voters = Vec::new();
        for server in &report.servers {
            let id = id_text(server.id);
            let status = if server.leader {
                leader = id.clone();
                AutopilotStatus::Leader
            } else if server.voter {
                AutopilotStatus::Voter
            } else {
                AutopilotStatus::NonVoter
            };
            if server.voter {
                voters.push(id.clone());
            }
            servers.insert(
                id.clone(),
                AutopilotServer {
                    id,
                    name: server.name.clone(),
                    address: server.addr.clone(),
                    node_status: Self::serf_status(server),
                    version: version.clone(),
                    last_contact: Duration::ZERO,
                    last_term: term,
                    last_index: server.last_index,
                    healthy: server.healthy,
                    stable_since: self.stable_since(server),
                    status,
                    meta: BTreeMap::new(),
                    read_replica: false,
                },
            );
        }
        let healthy_voters = report
            .servers
            .iter()
            .filter(|server| server.voter && server.healthy)
            .count() as i64;
        Ok(AutopilotState {
            healthy: report.healthy,
            failure_tolerance: report.failure_tolerance as i64,
            optimistic_failure_tolerance: (healthy_voters - 1) / 2,
            servers,
            leader,
            voters,
            read_replicas: Vec::new(),
        })
    }
}

/// The settings from config files, as the record the leader first writes.
pub fn from_settings(settings: &AutopilotSettings) -> legate_catalog::AutopilotConfig {
    legate_catalog::AutopilotConfig {
        cleanup_dead_servers: settings.cleanup_dead_servers,
        last_contact_threshold_ms: settings.last_contact_threshold.as_millis() as u64,
        max_trailing_logs: settings.max_trailing_logs,
        min_quorum: settings.min_quorum,
        server_stabilization_time_ms: settings.server_stabilization_time.as_millis() as u64,
        ..Default::default()
    }
}

/// The stored record, as autopilot runs it.
pub fn to_settings(config: &legate_catalog::AutopilotConfig) -> AutopilotSettings {
    AutopilotSettings {
        cleanup_dead_servers: config.cleanup_dead_servers,
        last_contact_threshold: Duration::from_millis(config.last_contact_threshold_ms),
        max_trailing_logs: config.max_trailing_logs,
        min_quorum: config.min_quorum,
        server_stabilization_time: Duration::from_millis(config.server_stabilization_time_ms),
    }
}

fn to_api(config: &legate_catalog::AutopilotConfig) -> AutopilotConfig {
    AutopilotConfig {
        cleanup_dead_servers: config.cleanup_dead_servers,
        last_contact_threshold: Duration::from_millis(config.last_contact_threshold_ms),
        max_trailing_logs: config.max_trailing_logs,
        min_quorum: config.min_quorum,
        server_stabilization_time: Duration::from_millis(config.server_stabilization_time_ms),
        redundancy_zone_tag: config.redundancy_zone_tag.clone(),
        disable_upgrade_migration: config.disable_upgrade_migration,
        upgrade_version_tag: config.upgrade_version_tag.clone(),
        create_index: config.indexes.create_index.0,
        modify_index: config.indexes.modify_index.0,
    }
}

fn from_api(config: &AutopilotConfig) -> legate_catalog::AutopilotConfig {
    legate_catalog::AutopilotConfig {
        cleanup_dead_servers: config.cleanup_dead_servers,
        last_contact_threshold_ms: config.last_contact_threshold.as_millis() as u64,
        max_trailing_logs: config.max_trailing_logs,
        min_quorum: config.min_quorum,
        server_stabilization_time_ms: config.server_stabilization_time.as_millis() as u64,
        redundancy_zone_tag: config.redundancy_zone_tag.clone(),
        disable_upgrade_migration: config.disable_upgrade_migration,
        upgrade_version_tag: config.upgrade_version_tag.clone(),
        indexes: Default::default(),
    }
}

impl crate::operator_calls::OperatorTransport for Operator {
    async fn operator(&self, request: OperatorRequest) -> Result<OperatorAnswer, OperatorError> {
        self.serve(request).await
    }

    async fn operator_in(
        &self,
        datacenter: &str,
        request: OperatorRequest,
    ) -> Result<OperatorAnswer, OperatorError> {
        crate::forward::operator(&self.federation.to(datacenter), request).await
    }
}
