//! Work that runs only while this server is the Raft leader.
//!
//! - Reconcile the catalog with gossip's members (see `reconcile`): on every gain of
//!   leadership, on every membership change, and every `RECONCILE_INTERVAL` as Consul's
//!   leader does, so a registration lost or changed by hand is repaired.
//! - Autopilot (see `autopilot`): every `AUTOPILOT_INTERVAL`, add new servers as learners,
//!   promote stable ones, remove dead ones, one membership change at a time; its latest
//!   health report is published for `/v1/operator/autopilot/*`.
//! - Reap KV tombstones older than the TTL (see `tombstones`).
//! - Expire sessions whose TTL ran out twice over without a renew (see `session_timers`,
//!   which runs as its own task so a slow reconcile never delays an expiry).

pub mod autopilot;
pub mod coordinates;
pub mod disk_poll;
pub mod reconcile;
pub mod session_timers;
pub mod tombstones;

use super::operator;
use super::raft::{NodeId, RaftHandle};
use super::rpc::message::{DiskHealthAnswer, Request, RequestV1, ResponseV1};
use super::rpc::RpcClient;
use super::write_path::WritePath;
use crate::config::cluster::AutopilotSettings;
use crate::membership::Membership;
use autopilot::{Action, ServerHealth};
use legate_catalog::command::AutopilotSet;
use legate_catalog::Command;
use legate_catalog::SharedStore;
use openraft::{BasicNode, ChangeMembers};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;
use tombstones::TombstoneGc;

/// Consul's leader runs a full reconcile every 60 s.
pub const RECONCILE_INTERVAL: Duration = Duration::from_secs(60);
/// How often autopilot looks at the servers' health.
pub const AUTOPILOT_INTERVAL: Duration = Duration::from_secs(1);

/// Autopilot's latest view, shared with the operator endpoints. Empty on a follower.
#[derive(Clone, Debug, Default)]
pub struct AutopilotReport {
    pub servers: Vec<ServerHealth>,
    pub failure_tolerance: usize,
    pub healthy: bool,
    /// Each server's disk as it last answered the leader (`disk_poll`).
    pub disks: BTreeMap<NodeId, DiskHealthAnswer>,
}

/// What the leader's loop needs.
pub struct Duties {
    pub raft: RaftHandle,
    pub writes: WritePath,
    pub store: Arc<SharedStore>,
    pub membership: Membership,
    pub version: String,
    /// Autopilot's settings from config files, written to the replicated state by the first
    /// leader that finds none there; from then on the stored ones rule.
    pub autopilot_defaults: AutopilotSettings,
    pub report: Arc<Mutex<AutopilotReport>>,
    pub rpc: RpcClient,
}

/// Runs until `shutdown` flips to true.
pub async fn run(duties: Duties, mut shutdown: watch::Receiver<bool>) {
    let Duties {
        raft,
        writes,
        store,
        membership,
        version,
        autopilot_defaults,
        report,
        rpc,
    } = duties;
    let mut leadership = raft.leadership_watch();
    let mut member_changes = membership.gossip().watch_members();
    let mut reconcile_tick = tokio::time::interval(RECONCILE_INTERVAL);
    let mut autopilot_tick = tokio::time::interval(AUTOPILOT_INTERVAL);
    let mut gc_tick = tokio::time::interval(tombstones::GRANULARITY);
    let mut gc = TombstoneGc::new(tombstones::TOMBSTONE_TTL);
    let started = Instant::now();
    let mut stable_since: BTreeMap<NodeId, Duration> = BTreeMap::new();
    // Set when a duty write failed while this server still led (a commit deadline, a full
    // disk): tried again on the next autopilot tick instead of waiting for the next
    // membership change or the minute-long reconcile interval.
    let mut retry_reconcile = false;
    loop {
        let mut reconcile_due = false;
        let mut autopilot_due = false;
        tokio::select! {
            changed = leadership.changed() => {
                if changed.is_err() { return }
                reconcile_due = true;
            }
            changed = member_changes.changed() => {
                if changed.is_err() { return }
                reconcile_due = true;
                autopilot_due = true;
            }
            _ = reconcile_tick.tick() => reconcile_due = true,
            _ = autopilot_tick.tick() => {
                autopilot_due = true;
                reconcile_due = std::mem::take(&mut retry_reconcile);
            }
            _ = gc_tick.tick() => {}
            _ = shutdown.changed() => return,
        }
        if *shutdown.borrow() {
            return;
        }
        if !*leadership.borrow_and_update() {
            gc.reset();
            stable_since.clear();
            retry_reconcile = false;
            *report.lock().unwrap_or_else(PoisonError::into_inner) = AutopilotReport::default();
            continue;
        }
        let newest = store.read().newest_tombstone();
        if let Some(up_to) = gc.tick(started.elapsed(), newest) {
            if let Err(error) = writes.write_as_leader(Command::ReapTombstones(up_to)).await {
                tracing::warn!("leader: tombstone reap failed: {error}");
            }
        }
        let stored = store.read().autopilot().cloned();
        if stored.is_none() && reconcile_due {
            let command = Command::AutopilotSet(AutopilotSet {
                config: operator::from_settings(&autopilot_defaults),
                cas: None,
            });
            if let Err(error) = writes.write_as_leader(command).await {
                tracing::warn!("leader: writing autopilot's settings failed: {error}");
                retry_reconcile = true;
            }
        }
        if autopilot_due {
            let settings = stored
                .as_ref()
                .map_or_else(|| autopilot_defaults.clone(), operator::to_settings);
            run_autopilot(
                &raft,
                &rpc,
                &membership,
                &settings,
                &mut stable_since,
                started.elapsed(),
                &report,
            )
            .await;
        }
        if !reconcile_due {
            continue;
        }
        let members = membership.catalog_members(&version);
        let whole = raft.group_view().is_some_and(|group| {
            let known: BTreeSet<NodeId> = membership
                .servers()
                .iter()
                .map(|server| server.id)
                .collect();
            reconcile::view_is_whole(started.elapsed(), &group.voters, &known)
        });
        let commands = reconcile::plan(&members, whole, &store.read());
        for command in commands {
            match writes.write_as_leader(command).await {
                Ok(Ok(_)) => tracing::debug!("leader: reconciled a member into the catalog"),
                Ok(Err(refused)) => tracing::warn!("leader: reconcile refused: {refused}"),
                // Lost leadership meanwhile (the next leader reconciles), or a transient
                // failure: tried again shortly if this server still leads then.
                Err(error) => {
                    tracing::warn!("leader: reconcile write failed: {error}");
                    retry_reconcile = true;
                }
            }
        }
    }
}

/// Whether the server at `addr` already belongs to a Raft group that shares no member with
/// ours: adding it would let a foreign leader's vote disturb this group.
async fn belongs_elsewhere(rpc: &RpcClient, addr: &str, ours: &BTreeMap<NodeId, String>) -> bool {
    let answer = rpc
        .call(
            addr,
            &Request::V1(RequestV1::GroupInfo),
            Duration::from_secs(2),
        )
        .await;
    match answer {
        Ok(ResponseV1::GroupInfo { voters, .. }) => {
            !voters.is_empty()
                && !voters
                    .iter()
                    .any(|voter| ours.values().any(|own| own == voter))
        }
        // Not answering: autopilot tries again on its next pass.
        _ => true,
    }
}

async fn run_autopilot(
    raft: &RaftHandle,
    rpc: &RpcClient,
    membership: &Membership,
    settings: &AutopilotSettings,
    stable_since: &mut BTreeMap<NodeId, Duration>,
    now: Duration,
    report: &Mutex<AutopilotReport>,
) {
    let Some(group) = raft.group_view() else {
        return;
    };
    let servers = membership.servers();
    let health = autopilot::health(settings, &servers, &group, stable_since);
    autopilot::track(stable_since, &health, now);
    let health = autopilot::health(settings, &servers, &group, stable_since);
    {
        let mut report = report.lock().unwrap_or_else(PoisonError::into_inner);
        report.failure_tolerance = autopilot::failure_tolerance(&health);
        report.healthy = health.iter().all(|server| server.healthy);
        report.servers = health;
    }
    let Some(action) = autopilot::plan(settings, &servers, &group, stable_since, now) else {
        return;
    };
    tracing::info!("autopilot: {action:?}");
    let result = match action {
        Action::AddLearner { id, addr } => {
            if belongs_elsewhere(rpc, &addr, &group.nodes).await {
                tracing::warn!(
                    "autopilot: not adding the server at {addr}: its data belongs to another \
                     raft group (it stops itself when it sees this cluster)"
                );
                return;
            }
            raft.add_learner(id, addr).await
        }
        Action::UpdateAddress { id, addr } => {
            raft.change_membership(ChangeMembers::SetNodes(BTreeMap::from([(
                id,
                BasicNode::new(addr),
            )])))
            .await
        }
        Action::Promote(ids) => {
            raft.change_membership(ChangeMembers::AddVoterIds(ids))
                .await
        }
        // Adding no voter to a joint configuration commits its new half alone.
        Action::FinishChange => {
            raft.change_membership(ChangeMembers::AddVoterIds(BTreeSet::new()))
                .await
        }
        Action::Remove(ids) => {
            let voters: BTreeSet<NodeId> = ids.intersection(&group.voters).copied().collect();
            let step = if voters.is_empty() {
                Ok(())
            } else {
                raft.change_membership(ChangeMembers::RemoveVoters(voters))
                    .await
            };
            match step {
                Ok(()) => {
                    let learners: BTreeSet<NodeId> =
                        ids.difference(&group.voters).copied().collect();
                    if learners.is_empty() {
                        Ok(())
                    } else {
                        raft.change_membership(ChangeMembers::RemoveNodes(learners))
                            .await
                    }
                }
                Err(error) => Err(error),
            }
        }
    };
    if let Err(error) = result {
        tracing::warn!("autopilot: membership change failed: {error}");
    }
}
