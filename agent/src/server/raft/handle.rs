//! `RaftHandle`: what the rest of the agent uses to write, to read linearizably, and to
//! watch leadership, without seeing openraft's generic API.

use super::durability::Durability;
use super::error::{ReadError, WaitError, WriteError};
use super::metrics::RaftMetrics;
use super::types::{NodeId, Raft};
use crate::durable_db::DurableDb;
use crate::server::leader::autopilot::GroupView;
use crate::telemetry;
use legate_catalog::{Command, CommandResult, LogPayload};
use openraft::metrics::WaitError as OpenraftWaitError;
use openraft::{BasicNode, ChangeMembers, ServerState};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// A running Raft node. Cheap to clone; all clones drive the same node.
#[derive(Clone)]
pub struct RaftHandle {
    raft: Raft,
    node_id: NodeId,
    /// Kept so `shutdown` can flush it; the log store holds the same database.
    db: DurableDb,
    /// Written by the log store on every commit (see `RaftMetrics::commit_index`).
    commit_index: Arc<AtomicU64>,
    /// Whether this server leads; see `leadership_watch`.
    leadership: watch::Receiver<bool>,
    /// The longest a follower waits for the leader before it starts an election: a leader
    /// that has heard from no quorum for this long must assume it has been replaced.
    election_timeout_max: Duration,
    /// What of the log is durable; the RPC handler waits on it before acknowledging entries.
    durability: Durability,
    /// True while this leader hands its leadership over (`hold_for_handover`).
    handover: Arc<watch::Sender<bool>>,
}

/// The longest a write or a linearizable read waits for a handover to end: one try of a
/// transfer (`server::operator` rule 4) takes a catch-up wait, a lapsed lease and an election.
const HANDOVER_HOLD_MAX: Duration = Duration::from_secs(5);

/// The longest `shutdown` waits for openraft's core to stop.
const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(10);

/// The longest a membership change may take. openraft waits for both of its entries to
/// commit, with no bound of its own: a leader cut off from its quorum would wait for ever,
/// and with it the leader's duties that asked (`server::leader`).
const MEMBERSHIP_DEADLINE: Duration = Duration::from_secs(30);

async fn within_membership_deadline<T, E: std::fmt::Display>(
    change: impl std::future::Future<Output = Result<T, E>>,
) -> Result<(), String> {
    match tokio::time::timeout(MEMBERSHIP_DEADLINE, change).await {
        Ok(done) => done.map(drop).map_err(|error| error.to_string()),
        Err(_) => Err(format!(
            "not committed within {MEMBERSHIP_DEADLINE:?}; its outcome is unknown"
        )),
    }
}

/// Holds this server's own Raft traffic while it lives (`RaftHandle::hold_for_handover`).
/// Dropping it (also when the transfer's future is dropped half way, its caller gone)
/// releases the traffic and turns heartbeats and elections back on.
pub struct HandoverHold {
    handover: Arc<watch::Sender<bool>>,
    raft: Raft,
}

impl HandoverHold {
    /// Stops this leader's heartbeats and its own elections until the hold is dropped, so
    /// the followers' lease runs out and only the target stands.
    pub fn quiet(&self) {
        self.raft.runtime_config().heartbeat(false);
        self.raft.runtime_config().elect(false);
    }
}

impl Drop for HandoverHold {
    fn drop(&mut self) {
        self.raft.runtime_config().heartbeat(true);
        self.raft.runtime_config().elect(true);
        self.handover.send_replace(false);
    }
}

impl RaftHandle {
    pub(super) fn new(
        raft: Raft,
        node_id: NodeId,
        db: DurableDb,
        commit_index: Arc<AtomicU64>,
        election_timeout_max: Duration,
        durability: Durability,
    ) -> RaftHandle {
        let leadership = mirror_leadership(&raft);
        RaftHandle {
            raft,
            node_id,
            db,
            commit_index,
            leadership,
            election_timeout_max,
            durability,
            handover: Arc::new(watch::channel(false).0),
        }
    }

    /// Holds this leader's new entries (writes, membership changes) and its linearizable
    /// reads until the hold is dropped. openraft 0.9's followers refuse every vote while
    /// their leader lease (renewed by every entry and by the heartbeats that confirm a read)
    /// runs, and a candidate missing the leader's newest entry cannot win: a transfer that let
    /// either through would hand the election back to this leader, over and over under load.
    pub fn hold_for_handover(&self) -> HandoverHold {
        self.handover.send_replace(true);
        HandoverHold {
            handover: self.handover.clone(),
            raft: self.raft.clone(),
        }
    }

    /// Waits while a handover holds this server's traffic, for at most `HANDOVER_HOLD_MAX`
    /// (past it the call goes on; Raft then refuses it if leadership has moved).
    async fn pass_handover(&self) {
        // The common case, on every write and read: no timer, no subscription.
        if !*self.handover.borrow() {
            return;
        }
        let mut held = self.handover.subscribe();
        let _ = tokio::time::timeout(HANDOVER_HOLD_MAX, held.wait_for(|held| !*held)).await;
    }

    /// Whether this server leads, from the leadership watch: cheap enough for every write
    /// (unlike `metrics`, which copies the membership).
    pub fn is_leader(&self) -> bool {
        *self.leadership.borrow()
    }

    /// The longest a follower waits for a leader's heartbeat before an election.
    pub fn election_timeout_max(&self) -> Duration {
        self.election_timeout_max
    }

    /// Whether this server leads and, by openraft's last published metrics, a quorum
    /// acknowledged it within an election timeout. A hint, never a lease: the figure dates
    /// from the last publication, so a leader just woken from a pause still looks fresh
    /// (which is why reads do not rely on it). openraft 0.9's leader does not step down
    /// when cut off from its quorum; a partitioned leader keeps its role until it hears a
    /// higher term. Refusing writes at once while it does not hold keeps the minority side of
    /// a partition from holding them until they time out (reads confirm leadership with a
    /// quorum instead: `read_path`). A lone voter is its own quorum.
    pub fn leads_with_quorum(&self) -> bool {
        let metrics = self.raft.metrics();
        let metrics = metrics.borrow();
        if metrics.state != ServerState::Leader {
            return false;
        }
        if metrics
            .membership_config
            .membership()
            .voter_ids()
            .nth(1)
            .is_none()
        {
            return true;
        }
        metrics
            .millis_since_quorum_ack
            .is_some_and(|millis| Duration::from_millis(millis) <= self.election_timeout_max)
    }

    /// Waits, up to one election timeout, until this server leads with its quorum, and says
    /// whether it does. A leader elected a moment ago has had no heartbeat answered yet, so
    /// `leads_with_quorum` is false for its first round trip; its duties must not be dropped
    /// for that. Polled: openraft publishes no event when the quorum-ack age changes.
    pub async fn confirm_leadership(&self) -> bool {
        let deadline = Instant::now() + self.election_timeout_max;
        loop {
            if !self.is_leader() {
                return false;
            }
            if self.leads_with_quorum() {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until this server's log is durable up to `index` (gate 2 of `durability`): a
    /// follower acknowledges entries to the leader only after this.
    pub async fn wait_log_durable(&self, index: u64) -> std::io::Result<()> {
        self.durability.wait_index(index).await
    }

    /// This server's Raft id.
    pub fn node_id(&self) -> NodeId {
        self.node_id
    }

    /// The openraft node, for the RPC layer that will deliver peers' messages to it.
    pub fn raft(&self) -> &Raft {
        &self.raft
    }

    /// Appends `command`, waits until it is committed (fsynced on a quorum) and applied to
    /// the catalog, and returns what the catalog answered.
    ///
    /// There is no deadline inside: callers bound the wait with their own (the HTTP request's).
    /// Dropping the future does not withdraw the command, which may still be applied.
    ///
    /// Only a leader's `client_write` succeeds, so what is decided here is decided by the
    /// leader: the ids of new sessions and the clock that `apply` uses (lock-delay), both
    /// written into the entry so every server applies the same.
    pub async fn write(&self, mut command: Command) -> Result<CommandResult, WriteError> {
        self.pass_handover().await;
        command.assign_ids(&mut || uuid::Uuid::new_v4().to_string());
        let commands = match &command {
            Command::Batch(commands) => commands.len(),
            _ => 1,
        };
        let payload = LogPayload::stamped(wall_clock_ms(), command);
        let dispatched = Instant::now();
        let response = self.raft.client_write(payload).await?;
        telemetry::raft_committed(dispatched, commands);
        Ok(response.data)
    }

    /// Confirms with a quorum that this server still leads, then waits until everything
    /// committed before the call is applied, so that a read of the catalog that follows is
    /// linearizable (Consul's `?consistent`).
    pub async fn ensure_linearizable(&self) -> Result<(), ReadError> {
        self.pass_handover().await;
        self.raft.ensure_linearizable().await?;
        Ok(())
    }

    /// The current state, copied out of openraft's metrics.
    pub fn metrics(&self) -> RaftMetrics {
        let commit_index = self.commit_index.load(Ordering::Relaxed);
        RaftMetrics::new(&self.raft.metrics().borrow(), commit_index)
    }

    /// Waits until Raft stops on its own (a storage error it cannot go past) and says why.
    /// Never returns while Raft runs.
    pub async fn failure(&self) -> String {
        let mut metrics = self.raft.metrics();
        loop {
            if let Err(fatal) = &metrics.borrow_and_update().running_state {
                return fatal.to_string();
            }
            if metrics.changed().await.is_err() {
                return "raft stopped".to_owned();
            }
        }
    }

    /// Whether this server leads, as a watch for tasks that run only on the leader. The
    /// channel closes once Raft has stopped.
    pub fn leadership_watch(&self) -> watch::Receiver<bool> {
        self.leadership.clone()
    }

    /// Waits until some server is known to lead, for at most `timeout`.
    pub async fn wait_for_leader(&self, timeout: Duration) -> Result<(), WaitError> {
        self.raft
            .wait(Some(timeout))
            .metrics(
                |metrics| metrics.current_leader.is_some(),
                "a leader is known",
            )
            .await
            .map(|_| ())
            .map_err(|error| match error {
                OpenraftWaitError::Timeout(..) => WaitError::Timeout(timeout),
                OpenraftWaitError::ShuttingDown => WaitError::ShuttingDown,
            })
    }

    /// Whether this node belongs to a group (it holds a membership, from a bootstrap, a
    /// leader's replication, or its own log).
    pub async fn is_initialized(&self) -> bool {
        self.raft.is_initialized().await.unwrap_or(true)
    }

    /// Forms a new group of `voters` (id → RPC address). Every bootstrapping server calls it
    /// with the same voters, which openraft allows; a node that is already initialised refuses.
    pub async fn initialize(&self, voters: BTreeMap<NodeId, String>) -> Result<(), String> {
        let nodes: BTreeMap<NodeId, BasicNode> = voters
            .into_iter()
            .map(|(id, addr)| (id, BasicNode::new(addr)))
            .collect();
        self.raft
            .initialize(nodes)
            .await
            .map_err(|error| error.to_string())
    }

    /// Adds a server as a non-voter and returns once it is in the membership (not waiting
    /// for it to catch up; autopilot promotes it when it has).
    pub async fn add_learner(&self, id: NodeId, addr: String) -> Result<(), String> {
        self.pass_handover().await;
        self.leads_as_member()?;
        within_membership_deadline(self.raft.add_learner(id, BasicNode::new(addr), false)).await
    }

    /// Applies a membership change (promotion, removal, address update) through Raft.
    pub async fn change_membership(
        &self,
        change: ChangeMembers<NodeId, BasicNode>,
    ) -> Result<(), String> {
        self.pass_handover().await;
        self.leads_as_member()?;
        within_membership_deadline(self.raft.change_membership(change, false)).await
    }

    /// Refuses a membership change unless this server leads and is still in its own
    /// membership. A leader that removed itself keeps openraft's leader state until its
    /// successor takes over; openraft 0.9 accepts a change there that no one will commit
    /// (release builds) or panics its core (a debug assertion, seen in the simulation).
    fn leads_as_member(&self) -> Result<(), String> {
        let metrics = self.raft.metrics().borrow().clone();
        let member = metrics
            .membership_config
            .membership()
            .get_node(&self.node_id)
            .is_some();
        if metrics.state == ServerState::Leader && member {
            Ok(())
        } else {
            Err("this server is not a leader in its own membership".to_owned())
        }
    }

    /// Every member of the group (voters and learners) with its RPC address, as this server
    /// knows the membership.
    pub fn members(&self) -> BTreeMap<NodeId, String> {
        let metrics = self.raft.metrics().borrow().clone();
        metrics
            .membership_config
            .membership()
            .nodes()
            .map(|(id, node)| (*id, node.addr.clone()))
            .collect()
    }

    /// Starts an election on this server now.
    pub async fn trigger_election(&self) -> Result<(), String> {
        self.raft
            .trigger()
            .elect()
            .await
            .map_err(|error| error.to_string())
    }

    /// Waits until a server other than `own` is known to lead; false after `timeout`.
    pub async fn wait_for_other_leader(&self, own: NodeId, timeout: Duration) -> bool {
        self.raft
            .wait(Some(timeout))
            .metrics(
                |metrics| metrics.current_leader.is_some_and(|leader| leader != own),
                "another server leads",
            )
            .await
            .is_ok()
    }

    /// Waits until follower `target` holds every entry of this leader's log; false after
    /// `timeout`, or while this server does not lead.
    pub async fn wait_caught_up(&self, target: NodeId, timeout: Duration) -> bool {
        self.raft
            .wait(Some(timeout))
            .metrics(
                |metrics| {
                    let last = metrics.last_log_index.unwrap_or(0);
                    metrics.state == ServerState::Leader
                        && metrics
                            .replication
                            .as_ref()
                            .and_then(|replication| replication.get(&target))
                            .and_then(|log_id| log_id.as_ref())
                            .is_some_and(|log_id| log_id.index >= last)
                },
                "the target holds the whole log",
            )
            .await
            .is_ok()
    }

    /// The group as the leader sees it, for autopilot; `None` on a follower.
    pub fn group_view(&self) -> Option<GroupView> {
        let metrics = self.raft.metrics().borrow().clone();
        if metrics.state != ServerState::Leader {
            return None;
        }
        let membership = metrics.membership_config.membership();
        let matched = metrics
            .replication
            .as_ref()
            .map(|replication| {
                replication
                    .iter()
                    .map(|(id, log_id)| (*id, log_id.as_ref().map_or(0, |log_id| log_id.index)))
                    .collect()
            })
            .unwrap_or_default();
        Some(GroupView {
            leader: self.node_id,
            last_log_index: metrics.last_log_index.unwrap_or(0),
            voters: membership.voter_ids().collect(),
            nodes: membership
                .nodes()
                .map(|(id, node)| (*id, node.addr.clone()))
                .collect(),
            matched,
            changing: membership.get_joint_config().len() > 1,
        })
    }

    /// Stops the Raft task and flushes the database. Later calls on any clone fail with
    /// `Stopped`/`ShuttingDown`. The database closes once every clone is dropped.
    pub async fn shutdown(&self) {
        match tokio::time::timeout(SHUTDOWN_DEADLINE, self.raft.shutdown()).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::error!(%error, "raft task ended abnormally"),
            // The core is inside a storage call that waits: an append held for disk space
            // (`disk_guard`), whose entries nobody was told are durable. Going on loses
            // nothing acknowledged; waiting would keep the agent from ever stopping.
            Err(_) => tracing::warn!(
                "raft: the core did not stop within {SHUTDOWN_DEADLINE:?} (an append waiting \
                 for disk space?); stopping without it"
            ),
        }
        // Every acknowledged entry is already durable; this covers the committed index,
        // which is saved without its own fsync.
        if let Err(error) = self.db.sync_async().await {
            tracing::error!(%error, "flushing the raft database at shutdown failed");
        }
    }
}

/// Mirrors openraft's server metrics into a `bool` watch that changes only when leadership
/// does, so leader-only tasks are not woken by every applied entry. The server metrics change
/// only with the vote, state, leader or membership; the full `metrics()` channel is sent on
/// every applied entry, and watching it cost a task wake-up per write. The mirroring task ends,
/// reporting `false`, when Raft stops (its metrics channel closes), or when every receiver is
/// gone.
fn mirror_leadership(raft: &Raft) -> watch::Receiver<bool> {
    let mut metrics = raft.server_metrics();
    let leads = |metrics: &openraft::metrics::RaftServerMetrics<NodeId, openraft::BasicNode>| {
        metrics.state == ServerState::Leader
    };
    let (sender, receiver) = watch::channel(leads(&metrics.borrow()));
    tokio::spawn(async move {
        loop {
            let now = leads(&metrics.borrow_and_update());
            sender.send_if_modified(|current| std::mem::replace(current, now) != now);
            tokio::select! {
                changed = metrics.changed() => if changed.is_err() {
                    // Raft stopped. openraft's last server metrics may still say leader,
                    // since only the full metrics carry the shutdown.
                    sender.send_if_modified(|current| std::mem::replace(current, false));
                    return;
                },
                _ = sender.closed() => return,
            }
        }
    });
    receiver
}

/// Milliseconds since the Unix epoch by this server's wall clock (0 if it is set before it).
pub fn wall_clock_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_millis() as u64)
}
