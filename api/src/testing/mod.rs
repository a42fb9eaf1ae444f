//! `FakeBackend`: an in-memory `Backend` for tests of the router, the client and the CLI.
//!
//! It keeps the `Backend` rules the router relies on without Raft: writes apply at once
//! at rising indexes, reads block for real through `SharedStore::block_until` with a
//! `tokio::time::sleep(wait)` deadline (so `tokio::time::pause` drives them), and failures
//! can be injected. Membership and operator calls go to `FakeCluster`, an in-memory model
//! of the pools, the Raft peer set, autopilot and the keyring. A fired user event is
//! delivered to this agent alone, through the same filters and `EventLog` a real agent uses.
//! `exposition` reads Prometheus text strictly, for tests of `/v1/agent/metrics`.

mod cluster;
pub mod exposition;
mod local;

pub use cluster::{FakeCluster, FIRST_KEY, SELF_ID};
pub use local::FakeLocal;

use crate::backend::{
    AgentInfo, AutopilotConfig, AutopilotHealth, AutopilotState, Backend, BackendError,
    Consistency, KeyringOp, KeyringResponse, Member, PeerSelector, RaftConfiguration, RaftStatus,
    Read, ReadMeta, ReadOptions,
};
use crate::backend::{EventList, UserEvent};
use crate::event_log::EventLog;
use crate::local::LocalAgent;
use crate::telemetry::MetricsSnapshot;
use legate_catalog::{query, Command, Datacenter, Index, Outcome, Query, QueryResult};
use legate_catalog::{SharedStore, Store};
use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

/// A single-server, single-datacenter backend over an in-memory store.
pub struct FakeBackend {
    pub store: SharedStore,
    /// The last index handed out; the mutex also orders writes, as a Raft log would.
    last: Mutex<u64>,
    info: AgentInfo,
    raft: Mutex<RaftStatus>,
    /// The pools, the Raft peer set, autopilot and the keyring.
    pub cluster: FakeCluster,
    /// Fails the next calls (reads and writes) with this error while set.
    failure: Mutex<Option<BackendError>>,
    /// The agent's own services and checks.
    pub local: FakeLocal,
    /// The user events this agent kept.
    pub events: EventLog,
    /// The gossip Lamport clock of user events.
    event_clock: Mutex<u64>,
    /// What `metrics` answers (nothing recorded until a test sets it).
    pub metrics: Mutex<Option<MetricsSnapshot>>,
    /// The agent's own network coordinate, as a test sets it.
    pub coordinate: Mutex<Option<legate_catalog::Coord>>,
}

impl Default for FakeBackend {
    fn default() -> Self {
        FakeBackend::new()
    }
}

impl FakeBackend {
    /// A leader in `dc1` named `node1`, with itself as the only member.
    pub fn new() -> FakeBackend {
        let info = AgentInfo {
            datacenter: "dc1".into(),
            primary_datacenter: "dc1".into(),
            node_name: "node1".into(),
            node_id: SELF_ID.into(),
            server: true,
            version: "0.1.0".into(),
            revision: "test".into(),
            advertise_addr: "127.0.0.1".into(),
            bind_addr: "127.0.0.1".into(),
            client_addr: "127.0.0.1".into(),
            http_port: 8500,
            dns_port: 8600,
            server_port: 8300,
            serf_lan_port: 8301,
            ..AgentInfo::default()
        };
        let member = Member {
            name: "node1".into(),
            addr: "127.0.0.1".into(),
            port: 8301,
            tags: BTreeMap::from([("role".to_owned(), "consul".to_owned())]),
            status: 1,
        };
        FakeBackend {
            store: SharedStore::new(Store::new()),
            last: Mutex::new(0),
            info,
            raft: Mutex::new(RaftStatus {
                leader: Some("127.0.0.1:8300".into()),
                peers: vec!["127.0.0.1:8300".into()],
            }),
            cluster: FakeCluster::new("dc1", member),
            failure: Mutex::new(None),
            local: FakeLocal::new("node1"),
            events: EventLog::new(),
            event_clock: Mutex::new(0),
            metrics: Mutex::new(None),
            coordinate: Mutex::new(None),
        }
    }

    /// Applies a command directly (test setup).
    /// Applies `command` as a leader would: new sessions get ids (counted, so tests can
    /// predict them) and the entry carries the wall clock.
    pub fn apply(&self, mut command: Command) -> Result<Outcome, BackendError> {
        let mut last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
        *last += 1;
        let index = *last;
        command.assign_ids(&mut || format!("00000000-0000-4000-8000-{index:012x}"));
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |since| since.as_millis() as u64);
        self.store
            .apply_payload(
                Index(index),
                &legate_catalog::LogPayload::stamped(now, command),
            )
            .map_err(BackendError::Rejected)
    }

    /// Takes the next index, as a Raft entry would (operator writes use it).
    pub fn next_index(&self) -> u64 {
        let mut last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
        *last += 1;
        *last
    }

    /// Fails with `NoLeader` without a leader, as writes through Raft do.
    fn require_leader(&self) -> Result<(), BackendError> {
        self.check(&None)?;
        if self.known_leader() {
            Ok(())
        } else {
            Err(BackendError::NoLeader)
        }
    }

    /// The index of the last write.
    pub fn last_index(&self) -> Index {
        Index(*self.last.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Makes every call fail with `error` (or succeed again with `None`).
    pub fn fail_with(&self, error: Option<BackendError>) {
        *self.failure.lock().unwrap_or_else(PoisonError::into_inner) = error;
    }

    /// Sets the Raft leader (`None`: no leader).
    pub fn set_leader(&self, leader: Option<&str>) {
        self.raft
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .leader = leader.map(str::to_owned);
    }

    fn check(&self, datacenter: &Option<Datacenter>) -> Result<(), BackendError> {
        if let Some(error) = self
            .failure
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
        {
            return Err(error);
        }
        // Rule 5 of `Backend`: a datacenter is named only when it is another one, and
        // this fake knows no other.
        match datacenter {
            Some(_) => Err(BackendError::NoPathToDatacenter),
            None => Ok(()),
        }
    }

    fn known_leader(&self) -> bool {
        self.raft
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .leader
            .is_some()
    }
}

impl Backend for FakeBackend {
    type Local = FakeLocal;

    fn local(&self) -> &FakeLocal {
        &self.local
    }

    async fn read(
        &self,
        options: ReadOptions,
        query: Query,
    ) -> Result<Read<QueryResult>, BackendError> {
        self.check(&options.datacenter)?;
        let answer = self
            .store
            .block_until(
                options.min_index,
                tokio::time::sleep(options.wait),
                |store| query::run(store, &query),
            )
            .await;
        Ok(Read {
            meta: ReadMeta {
                index: answer.index,
                known_leader: self.known_leader(),
                last_contact: Duration::ZERO,
                consistency: options.consistency,
            },
            value: answer.value,
        })
    }

    async fn write(
        &self,
        datacenter: Option<Datacenter>,
        command: Command,
    ) -> Result<Outcome, BackendError> {
        self.check(&datacenter)?;
        if !self.known_leader() {
            return Err(BackendError::NoLeader);
        }
        self.apply(command)
    }

    async fn raft_status(
        &self,
        datacenter: Option<Datacenter>,
    ) -> Result<RaftStatus, BackendError> {
        self.check(&datacenter)?;
        Ok(self
            .raft
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone())
    }

    async fn datacenters(&self) -> Result<Vec<Datacenter>, BackendError> {
        self.check(&None)?;
        Ok(vec![self.info.datacenter.clone()])
    }

    fn coordinate(&self) -> Option<legate_catalog::Coord> {
        self.coordinate
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Written at once, as a leader whose batch period has just ended would.
    async fn coordinate_update(
        &self,
        datacenter: Option<Datacenter>,
        update: legate_catalog::NodeCoordinate,
    ) -> Result<(), BackendError> {
        self.write(datacenter, Command::CoordinateBatch(vec![update]))
            .await
            .map(drop)
    }

    /// This datacenter alone, its one server at its own coordinate.
    async fn coordinate_datacenters(
        &self,
    ) -> Result<Vec<crate::backend::DatacenterCoordinates>, BackendError> {
        self.check(&None)?;
        Ok(vec![crate::backend::DatacenterCoordinates {
            datacenter: self.info.datacenter.to_string(),
            coordinates: self
                .coordinate()
                .map(|coord| {
                    (
                        format!("{}.{}", self.info.node_name, self.info.datacenter),
                        coord,
                    )
                })
                .into_iter()
                .collect(),
        }])
    }

    fn agent_info(&self) -> AgentInfo {
        self.info.clone()
    }

    async fn agent_stats(&self) -> BTreeMap<String, BTreeMap<String, String>> {
        let mut agent = BTreeMap::new();
        agent.insert("checks".to_owned(), "0".to_owned());
        agent.insert("services".to_owned(), "0".to_owned());
        BTreeMap::from([("agent".to_owned(), agent)])
    }

    fn members(&self, wan: bool) -> Vec<Member> {
        self.cluster.members(wan)
    }

    async fn join(&self, address: String, wan: bool) -> Result<(), BackendError> {
        self.check(&None)?;
        self.cluster.join(&address, wan)
    }

    async fn leave(&self) -> Result<(), BackendError> {
        self.check(&None)?;
        self.cluster.leave();
        Ok(())
    }

    async fn force_leave(&self, node: String, prune: bool, wan: bool) -> Result<(), BackendError> {
        self.check(&None)?;
        self.cluster.force_leave(&node, prune, wan)
    }

    async fn raft_configuration(
        &self,
        options: ReadOptions,
    ) -> Result<RaftConfiguration, BackendError> {
        self.check(&options.datacenter)?;
        if options.consistency != Consistency::Stale && !self.known_leader() {
            return Err(BackendError::NoLeader);
        }
        Ok(self.cluster.raft_configuration())
    }

    async fn raft_remove_peer(&self, by: PeerSelector) -> Result<(), BackendError> {
        self.require_leader()?;
        let index = self.next_index();
        let voters = self.cluster.remove_peer(&by, index)?;
        self.raft
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .peers = voters;
        Ok(())
    }

    async fn raft_transfer_leader(&self, id: Option<String>) -> Result<(), BackendError> {
        self.require_leader()?;
        let leader = self.cluster.transfer_leader(id.as_deref())?;
        self.set_leader(Some(&leader));
        Ok(())
    }

    async fn autopilot_configuration(&self) -> Result<AutopilotConfig, BackendError> {
        self.require_leader()?;
        Ok(self.cluster.autopilot_configuration())
    }

    async fn set_autopilot_configuration(
        &self,
        config: AutopilotConfig,
        cas: Option<u64>,
    ) -> Result<bool, BackendError> {
        self.require_leader()?;
        let index = self.next_index();
        Ok(self.cluster.set_autopilot_configuration(config, cas, index))
    }

    async fn autopilot_health(&self) -> Result<AutopilotHealth, BackendError> {
        self.require_leader()?;
        Ok(self.cluster.autopilot_health(&self.info.version))
    }

    async fn renew_session(
        &self,
        datacenter: Option<Datacenter>,
        id: legate_catalog::SessionId,
    ) -> Result<Option<legate_catalog::Session>, BackendError> {
        self.check(&datacenter)?;
        if !self.known_leader() {
            return Err(BackendError::NoLeader);
        }
        Ok(self.store.read().session(id.as_str()).cloned())
    }

    async fn autopilot_state(&self) -> Result<AutopilotState, BackendError> {
        self.require_leader()?;
        Ok(self.cluster.autopilot_state(&self.info.version))
    }

    async fn keyring(
        &self,
        op: KeyringOp,
        _relay_factor: u8,
        local_only: bool,
    ) -> Result<Vec<KeyringResponse>, BackendError> {
        self.check(&None)?;
        Ok(self.cluster.keyring(&op, local_only))
    }

    async fn fire_event(
        &self,
        datacenter: Option<Datacenter>,
        event: UserEvent,
    ) -> Result<(), BackendError> {
        self.check(&datacenter)?;
        // Gossip would deliver it here too, stamped with the next Lamport time.
        let ltime = {
            let mut clock = self
                .event_clock
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            *clock += 1;
            *clock
        };
        let services = crate::backend::event::ServiceTags::of(self.local.services());
        if event.accepted_by(&self.info.node_name, &services) {
            self.events.keep(UserEvent { ltime, ..event });
        }
        Ok(())
    }

    async fn events(
        &self,
        name: Option<String>,
        min_index: u64,
        wait: Duration,
    ) -> Result<EventList, BackendError> {
        self.check(&None)?;
        Ok(self
            .events
            .wait_list(name.as_deref(), min_index, wait)
            .await)
    }

    fn metrics(&self) -> MetricsSnapshot {
        self.metrics
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .unwrap_or_else(|| MetricsSnapshot::empty(std::time::SystemTime::now()))
    }
}
