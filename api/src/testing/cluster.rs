//! `FakeCluster`: the gossip pools, the Raft peer set, autopilot and the keyring of a
//! pretend datacenter, kept in memory with the rules Consul applies, so that the router
//! tests exercise real behaviour:
//! - `join` reaches only addresses a test made reachable; `force_leave` moves a failed
//!   member to `left` and `prune` drops a failed or left one; an alive member stays.
//! - removing a peer or transferring leadership changes the Raft configuration; autopilot's
//!   health follows each server's `healthy` flag and the voters.
//! - the autopilot configuration takes a check-and-set on its `ModifyIndex`.
//! - the keyring refuses `use` of a key it does not hold and `remove` of the primary key,
//!   member by member, as memberlist does.
//!
//! Every method is a function of the state and its arguments (the caller supplies Raft
//! indexes and the time), so the model needs no clock.

use crate::backend::{
    AutopilotConfig, AutopilotHealth, AutopilotServer, AutopilotState, AutopilotStatus,
    BackendError, DiskHealth, GossipKey, KeyringOp, KeyringResponse, Member, MemberStatus,
    PeerSelector, RaftConfiguration, RaftServer, ServerHealth,
};
use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The fake's gossip key, installed and primary from the start.
pub const FIRST_KEY: &str = "pUqJrVyVRj5jsiYEkM/tFQYfWyJIv4s3XkvDwy7Cu5s=";

/// The Raft ID of the fake's own server (its node ID).
pub const SELF_ID: &str = "0b9d7b4e-2c3d-4d6e-9f00-1a2b3c4d5e6f";

/// A server of the Raft configuration and what autopilot knows of it.
#[derive(Clone, Debug)]
struct Server {
    raft: RaftServer,
    healthy: bool,
    last_contact: Duration,
    disk: Option<DiskHealth>,
}

#[derive(Debug)]
struct State {
    datacenter: String,
    /// This agent's node name.
    me: String,
    lan: Vec<Member>,
    wan: Vec<Member>,
    /// Address → the member a join to it would meet.
    reachable: BTreeMap<String, Member>,
    servers: Vec<Server>,
    /// The index the Raft configuration was last changed at.
    configuration_index: u64,
    autopilot: AutopilotConfig,
    /// Installed keys, the primary first.
    keys: Vec<String>,
    /// Set by `leave`: the agent has left and is shutting down.
    left: bool,
}

/// The cluster model behind `FakeBackend`'s membership and operator calls.
#[derive(Debug)]
pub struct FakeCluster {
    state: Mutex<State>,
}

/// A time the fake's servers have been stable since (2017-03-06T22:07:51Z).
pub fn stable_since() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_488_838_071)
}

/// Consul's wording for a join that reached nobody.
fn join_failed(address: &str) -> BackendError {
    BackendError::Internal(format!(
        "1 error occurred:\n\t* Failed to join {address}: dial tcp {address}: connect: \
         connection refused\n\n"
    ))
}

impl FakeCluster {
    /// One server, `node1` in `dc1`, alone in both pools and in the Raft configuration,
    /// leader and healthy, with `FIRST_KEY` as its only key.
    pub fn new(datacenter: &str, me: Member) -> FakeCluster {
        let wan_self = Member {
            name: format!("{}.{datacenter}", me.name),
            port: 8302,
            ..me.clone()
        };
        let server = Server {
            raft: RaftServer {
                id: SELF_ID.to_owned(),
                node: me.name.clone(),
                address: format!("{}:8300", me.addr),
                leader: true,
                voter: true,
                protocol_version: "3".to_owned(),
                last_index: 1,
            },
            healthy: true,
            last_contact: Duration::ZERO,
            disk: None,
        };
        FakeCluster {
            state: Mutex::new(State {
                datacenter: datacenter.to_owned(),
                me: me.name.clone(),
                lan: vec![me],
                wan: vec![wan_self],
                reachable: BTreeMap::new(),
                servers: vec![server],
                configuration_index: 1,
                // Indexes 0: written before the fake's first entry, so that the first
                // operator write (index 1 upwards) is a change a check-and-set can see.
                autopilot: AutopilotConfig::default(),
                keys: vec![FIRST_KEY.to_owned()],
                left: false,
            }),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    // ---- Test setup ----

    /// Makes `address` answer joins as `member`.
    pub fn add_reachable(&self, address: &str, member: Member) {
        self.state().reachable.insert(address.to_owned(), member);
    }

    /// Adds or replaces a LAN member (for servers, call `add_server` as well).
    pub fn put_member(&self, member: Member) {
        let mut state = self.state();
        state.lan.retain(|known| known.name != member.name);
        state.lan.push(member);
    }

    /// Adds a server to the Raft configuration at `index`.
    pub fn add_server(&self, server: RaftServer, healthy: bool, index: u64) {
        let mut state = self.state();
        state.servers.push(Server {
            raft: server,
            healthy,
            last_contact: Duration::from_millis(2),
            disk: None,
        });
        state.configuration_index = index;
    }

    /// Marks a server healthy or not, as autopilot would judge it.
    /// What server `id` says of its disk in the autopilot health report.
    pub fn set_server_disk(&self, id: &str, disk: DiskHealth) {
        for server in self.state().servers.iter_mut() {
            if server.raft.id == id {
                server.disk = Some(disk);
            }
        }
    }

    pub fn set_server_healthy(&self, id: &str, healthy: bool) {
        for server in self.state().servers.iter_mut() {
            if server.raft.id == id {
                server.healthy = healthy;
            }
        }
    }

    /// Whether `leave` was called.
    pub fn has_left(&self) -> bool {
        self.state().left
    }

    /// The installed keys, the primary first.
    pub fn keys(&self) -> Vec<String> {
        self.state().keys.clone()
    }

    // ---- Membership ----

    pub fn members(&self, wan: bool) -> Vec<Member> {
        let state = self.state();
        if wan {
            state.wan.clone()
        } else {
            state.lan.clone()
        }
    }

    pub fn join(&self, address: &str, wan: bool) -> Result<(), BackendError> {
        let mut state = self.state();
        let Some(found) = state.reachable.get(address).cloned() else {
            return Err(join_failed(address));
        };
        let datacenter = state.datacenter.clone();
        let pool = if wan { &mut state.wan } else { &mut state.lan };
        let member = Member {
            name: if wan {
                format!("{}.{datacenter}", found.name)
            } else {
                found.name.clone()
            },
            status: MemberStatus::Alive.code(),
            ..found
        };
        pool.retain(|known| known.name != member.name);
        pool.push(member);
        Ok(())
    }

    pub fn leave(&self) {
        let mut state = self.state();
        state.left = true;
        let me = state.me.clone();
        for member in state.lan.iter_mut().filter(|member| member.name == me) {
            member.status = MemberStatus::Left.code();
        }
    }

    pub fn force_leave(&self, node: &str, prune: bool, wan: bool) -> Result<(), BackendError> {
        let mut state = self.state();
        let pool = if wan { &mut state.wan } else { &mut state.lan };
        let Some(at) = pool.iter().position(|member| member.name == node) else {
            return Err(BackendError::Internal(format!(
                "agent: No node found with name '{node}'"
            )));
        };
        let status = MemberStatus::from_code(pool[at].status);
        match status {
            MemberStatus::Failed | MemberStatus::Left if prune => {
                pool.remove(at);
            }
            MemberStatus::Failed => pool[at].status = MemberStatus::Left.code(),
            // An alive member refutes the leave intent; one leaving or left already is done.
            _ => {}
        }
        Ok(())
    }

    // ---- Raft ----

    pub fn raft_configuration(&self) -> RaftConfiguration {
        let state = self.state();
        RaftConfiguration {
            servers: state
                .servers
                .iter()
                .map(|server| server.raft.clone())
                .collect(),
            index: state.configuration_index,
        }
    }

    /// Removes a peer at `index`; the voters' addresses after it, for `/v1/status/peers`.
    pub fn remove_peer(&self, by: &PeerSelector, index: u64) -> Result<Vec<String>, BackendError> {
        let mut state = self.state();
        let position = state.servers.iter().position(|server| match by {
            PeerSelector::Id(id) => server.raft.id == *id,
            PeerSelector::Address(address) => server.raft.address == *address,
        });
        let Some(at) = position else {
            return Err(BackendError::Internal(match by {
                PeerSelector::Id(id) => {
                    format!("id {id:?} was not found in the Raft configuration")
                }
                PeerSelector::Address(address) => {
                    format!("address {address:?} was not found in the Raft configuration")
                }
            }));
        };
        state.servers.remove(at);
        state.configuration_index = index;
        Ok(voter_addresses(&state.servers))
    }

    /// Hands leadership to `id` (or the first other voter); the new leader's address.
    pub fn transfer_leader(&self, id: Option<&str>) -> Result<String, BackendError> {
        let mut state = self.state();
        let target = state.servers.iter().position(|server| {
            server.raft.voter
                && !server.raft.leader
                && id.is_none_or(|wanted| server.raft.id == wanted)
        });
        let Some(target) = target else {
            return Err(BackendError::Internal("cannot find peer".to_owned()));
        };
        for server in state.servers.iter_mut() {
            server.raft.leader = false;
        }
        state.servers[target].raft.leader = true;
        Ok(state.servers[target].raft.address.clone())
    }

    // ---- Autopilot ----

    pub fn autopilot_configuration(&self) -> AutopilotConfig {
        self.state().autopilot.clone()
    }

    /// Stores `config` at `index`, unless `cas` names another `ModifyIndex`.
    pub fn set_autopilot_configuration(
        &self,
        config: AutopilotConfig,
        cas: Option<u64>,
        index: u64,
    ) -> bool {
        let mut state = self.state();
        if cas.is_some_and(|expected| expected != state.autopilot.modify_index) {
            return false;
        }
        let create_index = state.autopilot.create_index;
        state.autopilot = AutopilotConfig {
            create_index,
            modify_index: index,
            ..config
        };
        true
    }

    fn member_status(state: &State, node: &str) -> MemberStatus {
        state
            .lan
            .iter()
            .find(|member| member.name == node)
            .map_or(MemberStatus::None, |member| {
                MemberStatus::from_code(member.status)
            })
    }

    /// Healthy voters beyond a quorum of all voters.
    fn failure_tolerance(servers: &[Server]) -> i64 {
        let voters = servers.iter().filter(|server| server.raft.voter).count();
        let healthy = servers
            .iter()
            .filter(|server| server.raft.voter && server.healthy)
            .count();
        let quorum = voters / 2 + 1;
        i64::try_from(healthy.saturating_sub(quorum)).unwrap_or(0)
    }

    pub fn autopilot_health(&self, version: &str) -> AutopilotHealth {
        let state = self.state();
        let servers: Vec<ServerHealth> = state
            .servers
            .iter()
            .map(|server| ServerHealth {
                id: server.raft.id.clone(),
                name: server.raft.node.clone(),
                address: server.raft.address.clone(),
                serf_status: Self::member_status(&state, &server.raft.node),
                version: version.to_owned(),
                leader: server.raft.leader,
                last_contact: server.last_contact,
                last_term: 2,
                last_index: server.raft.last_index,
                healthy: server.healthy,
                voter: server.raft.voter,
                stable_since: stable_since(),
                disk: server.disk,
            })
            .collect();
        AutopilotHealth {
            healthy: servers.iter().all(|server| server.healthy),
            failure_tolerance: Self::failure_tolerance(&state.servers),
            servers,
        }
    }

    pub fn autopilot_state(&self, version: &str) -> AutopilotState {
        let state = self.state();
        let tolerance = Self::failure_tolerance(&state.servers);
        let servers: BTreeMap<String, AutopilotServer> = state
            .servers
            .iter()
            .map(|server| {
                let status = if server.raft.leader {
                    AutopilotStatus::Leader
                } else if server.raft.voter {
                    AutopilotStatus::Voter
                } else {
                    AutopilotStatus::NonVoter
                };
                let entry = AutopilotServer {
                    id: server.raft.id.clone(),
                    name: server.raft.node.clone(),
                    address: server.raft.address.clone(),
                    node_status: Self::member_status(&state, &server.raft.node),
                    version: version.to_owned(),
                    last_contact: server.last_contact,
                    last_term: 2,
                    last_index: server.raft.last_index,
                    healthy: server.healthy,
                    stable_since: stable_since(),
                    status,
                    meta: BTreeMap::from([("consul-network-segment".to_owned(), String::new())]),
                    read_replica: false,
                };
                (server.raft.id.clone(), entry)
            })
            .collect();
        AutopilotState {
            healthy: state.servers.iter().all(|server| server.healthy),
            failure_tolerance: tolerance,
            optimistic_failure_tolerance: tolerance,
            leader: state
                .servers
                .iter()
                .find(|server| server.raft.leader)
                .map(|server| server.raft.id.clone())
                .unwrap_or_default(),
            voters: state
                .servers
                .iter()
                .filter(|server| server.raft.voter)
                .map(|server| server.raft.id.clone())
                .collect(),
            read_replicas: Vec::new(),
            servers,
        }
    }

    // ---- Keyring ----

    /// Runs `op` on the WAN ring (unless `local_only`) and this datacenter's LAN ring. Every
    /// alive member holds the same keys, so each ring answers for its alive members.
    pub fn keyring(&self, op: &KeyringOp, local_only: bool) -> Vec<KeyringResponse> {
        let mut state = self.state();
        // memberlist's rules, checked once because every member holds the same keyring.
        let refusal = match op {
            KeyringOp::List => None,
            KeyringOp::Install(key) => {
                if !state.keys.iter().any(|known| known == key.as_str()) {
                    state.keys.push(key.as_str().to_owned());
                }
                None
            }
            KeyringOp::Use(key) => match position(&state.keys, key) {
                Some(at) => {
                    let primary = state.keys.remove(at);
                    state.keys.insert(0, primary);
                    None
                }
                None => Some("Requested key is not in the keyring"),
            },
            KeyringOp::Remove(key) => match position(&state.keys, key) {
                Some(0) => Some("Removing the primary key is not allowed"),
                Some(at) => {
                    state.keys.remove(at);
                    None
                }
                None => None,
            },
        };
        let mut rings = Vec::new();
        if !local_only {
            rings.push(ring(&state, true, refusal));
        }
        rings.push(ring(&state, false, refusal));
        rings
    }
}

fn position(keys: &[String], key: &GossipKey) -> Option<usize> {
    keys.iter().position(|known| known == key.as_str())
}

fn voter_addresses(servers: &[Server]) -> Vec<String> {
    servers
        .iter()
        .filter(|server| server.raft.voter)
        .map(|server| server.raft.address.clone())
        .collect()
}

/// One ring's answer: its alive members, each holding every key; a refusal is reported by
/// every member, as each refuses the same way.
fn ring(state: &State, wan: bool, refusal: Option<&str>) -> KeyringResponse {
    let pool = if wan { &state.wan } else { &state.lan };
    let alive: Vec<&Member> = pool
        .iter()
        .filter(|member| member.status == MemberStatus::Alive.code())
        .collect();
    let count = alive.len();
    let mut response = KeyringResponse {
        wan,
        datacenter: state.datacenter.clone(),
        num_nodes: count,
        ..KeyringResponse::default()
    };
    if let Some(reason) = refusal {
        response.error = Some(format!("{count}/{count} nodes reported failure"));
        response.messages = alive
            .iter()
            .map(|member| (member.name.clone(), reason.to_owned()))
            .collect();
        return response;
    }
    response.keys = state.keys.iter().map(|key| (key.clone(), count)).collect();
    response.primary_keys = state
        .keys
        .first()
        .map(|key| (key.clone(), count))
        .into_iter()
        .collect();
    response
}
