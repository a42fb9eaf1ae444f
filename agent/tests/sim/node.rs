//! Starting and crashing one simulated server.

use crate::disk::LogStore;
use crate::machine::Machine;
use crate::net::Net;
use crate::world::{with, Shared};
use legate_agent::server::raft::{NodeId, Raft};
use openraft::{ServerState, SnapshotPolicy};
use rand::Rng;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// openraft's settings for one start of a server: the agent's timing (a heartbeat every
/// 100 ms, elections after 250–500 ms), with snapshots and log purges far more frequent than
/// the agent's, so that lagging servers catch up through snapshots often.
///
/// openraft draws each election timeout from [min, max) with the thread's own random
/// source, which no seed reaches; so the window is one millisecond wide, and the seed draws
/// the timeout afresh at every start instead.
fn config(world: &Shared) -> openraft::Config {
    with(world, |world| {
        let election = world.rng.gen_range(250..500);
        openraft::Config {
            cluster_name: "legate-sim".to_owned(),
            heartbeat_interval: 100,
            election_timeout_min: election,
            election_timeout_max: election + 1,
            snapshot_policy: SnapshotPolicy::LogsSinceLast(world.rng.gen_range(20..200)),
            max_in_snapshot_log_to_keep: world.rng.gen_range(0..50),
            ..openraft::Config::default()
        }
        .validate()
        .expect("valid simulation settings")
    })
}

/// Starts server `id` from what its disk holds. A disk it cannot start from is a violation
/// (a server that was sound before the crash must come back); the server then stays down.
///
/// As the agent does (`LogStore::forget_leadership`, rule 5), a server that led when it
/// stopped does not resume that leadership: its vote is saved back uncommitted first. Without
/// it, the simulation found (seed 204 then) why the rule matters: a resumed leader re-elected itself in the
/// next term while a replication stream of the resumed term still ran, read a log range it
/// had meanwhile purged, and sent entries that did not follow `prev_log_id`, which trips an
/// assertion in the follower's openraft.
pub async fn start(world: &Shared, id: NodeId) -> Option<Raft> {
    with(world, |world| {
        let disk = &mut world.slot(id).disk;
        if let Some(vote) = disk.vote.as_mut() {
            if vote.committed && vote.leader_id.voted_for() == Some(id) {
                vote.committed = false;
            }
        }
    });
    let config = Arc::new(config(world));
    let log = LogStore::open(id, world);
    let machine = Machine::open(id, world);
    let store = machine.store();
    let net = Net {
        from: id,
        world: world.clone(),
    };
    let raft = match Raft::new(id, config, net, log, machine).await {
        Ok(raft) => raft,
        Err(error) => {
            with(world, |world| {
                let message = format!("server {id} cannot start from its disk: {error}");
                world.check.violations.push(message);
            });
            return None;
        }
    };
    let incarnation = with(world, |world| {
        let slot = world.slot(id);
        slot.raft = Some(raft.clone());
        slot.store = Some(store);
        slot.incarnation += 1;
        world.note(("start", id));
        world.slot(id).incarnation
    });
    tokio::spawn(watch(world.clone(), id, incarnation, raft.clone()));
    Some(raft)
}

/// Crashes server `id`: its disk keeps what is durable and nothing else, and the node stops.
pub async fn crash(world: &Shared, id: NodeId) {
    let raft = with(world, |world| {
        world.note(("crash", id));
        let slot = world.slot(id);
        slot.disk.crash();
        slot.store = None;
        slot.raft.take()
    });
    if let Some(raft) = raft {
        // Its storage already refuses everything; this only ends its tasks.
        let _ = tokio::time::timeout(Duration::from_secs(5), raft.shutdown()).await;
    }
}

/// Crashes server `id` and starts it again half a second later, as a supervisor would.
/// Boxed: `start` spawns the watcher that calls this.
fn restart(world: Shared, id: NodeId) -> Pin<Box<dyn Future<Output = ()> + Send>> {
    Box::pin(async move {
        crash(&world, id).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        start(&world, id).await;
    })
}

/// openraft 0.9's leader stops its core when it hands a snapshot to a replication stream
/// that has just ended on seeing a higher vote (`raft_core.rs`, `Command::Replicate` with
/// `Inflight::Snapshot`): a race inside openraft, found by this simulation, that stops a
/// deposed leader instead of letting it step down. Nothing is lost, but the server restarts.
const OPENRAFT_SNAPSHOT_RACE: &str = "replication channel closed";

/// Follows one run of server `id`: notes every time it leads, and reports a core that
/// stopped on its own.
async fn watch(world: Shared, id: NodeId, incarnation: u64, raft: Raft) {
    let mut metrics = raft.metrics();
    drop(raft);
    let world_handle = world.clone();
    let mut led: Option<openraft::Vote<NodeId>> = None;
    loop {
        let (state, vote, stopped) = {
            let now = metrics.borrow_and_update();
            let stopped = now.running_state.as_ref().err().map(ToString::to_string);
            (now.state, now.vote, stopped)
        };
        let done = with(&world, |world| {
            let slot = world.slot(id);
            if slot.incarnation != incarnation || slot.raft.is_none() {
                return true;
            }
            if let Some(why) = stopped {
                if why.contains(OPENRAFT_SNAPSHOT_RACE) {
                    // The agent exits on any stop of its Raft core (`run.rs`,
                    // `stop_on_storage_failure`) and its supervisor starts it again; so does
                    // the simulation, counting each.
                    world.check.raft_restarts += 1;
                    world.note(("raft-stopped", id));
                    tokio::spawn(restart(world_handle.clone(), id));
                } else {
                    let message = format!("server {id}'s Raft stopped by itself: {why}");
                    world.check.violations.push(message);
                }
                return true;
            }
            if state == ServerState::Leader && led != Some(vote) {
                led = Some(vote);
                world.note(("leader", id, vote.leader_id.term));
            } else if state != ServerState::Leader {
                led = None;
            }
            false
        });
        if done || metrics.changed().await.is_err() {
            return;
        }
    }
}
