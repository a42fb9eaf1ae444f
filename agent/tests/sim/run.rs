//! One simulation run: a cluster of 3 or 5 servers on one thread with simulated time,
//! clients and faults for a while, then everything healed, the cluster left to converge,
//! and the final checks.
//!
//! Everything random comes from one seeded generator and everything waits on tokio's paused
//! clock, which jumps to the next timer whenever every task is idle; so a run takes as long
//! as its computation, and two runs of one seed do the same things in the same order (the
//! trace digest says whether they did).

use crate::faults;
use crate::node;
use crate::workload::{self, Tally};
use crate::world::{with, Bugs, Shared, World};
use legate_agent::server::raft::NodeId;
use openraft::{BasicNode, ServerState};
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Clone, Copy, Debug)]
pub struct Params {
    pub seed: u64,
    /// Simulated time with clients and faults.
    pub duration: Duration,
    pub bugs: Bugs,
}

impl Params {
    pub fn new(seed: u64) -> Params {
        Params {
            seed,
            duration: Duration::from_secs(20),
            bugs: Bugs::default(),
        }
    }
}

/// What one run did and found.
#[derive(Debug)]
pub struct Report {
    pub seed: u64,
    pub servers: usize,
    pub ops: u64,
    pub acked: usize,
    pub refused: u64,
    pub unknown: u64,
    pub faults: faults::Counts,
    pub elections: u64,
    pub raft_restarts: u64,
    pub applied_entries: u64,
    pub installs: u64,
    pub shared_terms: usize,
    pub events: u64,
    pub trace: u64,
    pub violations: Vec<String>,
}

impl Report {
    pub fn passed(&self) -> bool {
        self.violations.is_empty()
    }

    /// One line for a table.
    pub fn line(&self) -> String {
        let faults: u64 = self.faults.values().sum();
        format!(
            "seed {} servers {} ops {} acked {} refused {} unknown {} faults {} elections {} \
             shared-terms {} raft-restarts {} applied {} installs {} events {} trace {:016x} {}",
            self.seed,
            self.servers,
            self.ops,
            self.acked,
            self.refused,
            self.unknown,
            faults,
            self.elections,
            self.shared_terms,
            self.raft_restarts,
            self.applied_entries,
            self.installs,
            self.events,
            self.trace,
            if self.passed() { "pass" } else { "FAIL" }
        )
    }
}

/// Runs one seed to the end on a fresh single-threaded runtime with paused time.
pub fn run(params: Params) -> Report {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a runtime");
    let report = runtime.block_on(simulate(params));
    // Whatever is still running (a dead node's last tasks) goes with the runtime.
    runtime.shutdown_background();
    report
}

async fn simulate(params: Params) -> Report {
    let servers = if rand::rngs::StdRng::seed_from_u64(params.seed).gen_ratio(1, 3) {
        5
    } else {
        3
    };
    // Ids as the agent derives them: large and unordered.
    let ids: Vec<NodeId> = (1..=servers as u128)
        .map(|n| n.wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835))
        .collect();
    let world: Shared = Arc::new(Mutex::new(World::new(params.seed, &ids, params.bugs)));
    for id in &ids {
        node::start(&world, *id).await;
    }
    let first = with(&world, |world| world.slot(ids[0]).raft.clone()).expect("started");
    let members: BTreeMap<NodeId, BasicNode> = ids
        .iter()
        .map(|id| (*id, BasicNode::new(format!("sim-{id:x}"))))
        .collect();
    first.initialize(members).await.expect("bootstrap");

    let stop = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(Mutex::new(Tally::default()));
    let clients: Vec<_> = (0..4)
        .map(|_| tokio::spawn(workload::client(world.clone(), stop.clone(), tally.clone())))
        .collect();
    let faults = tokio::spawn(faults::run(world.clone(), stop.clone()));
    tokio::time::sleep(params.duration).await;
    stop.store(true, Ordering::Relaxed);
    let faults = faults.await.unwrap_or_default();
    for client in clients {
        let _ = client.await;
    }
    faults::heal(&world).await;
    let converged = converge(&world).await;

    let tally = std::mem::take(&mut *tally.lock().unwrap_or_else(|e| e.into_inner()));
    let report = with(&world, |world| {
        // An acknowledged write is still there if every server has applied past it and
        // nothing else was ever applied at its index. Without convergence there is no end
        // to compare with: that failure is reported alone.
        match converged {
            Ok(last) => {
                let lost = tally.acked.iter().filter(|(log_id, payload)| {
                    let held = world.check.ledger_entry(log_id.index);
                    held != Some((*log_id, *payload)) || log_id.index > last
                });
                let lost: Vec<String> = lost.map(|(log_id, _)| log_id.to_string()).collect();
                if !lost.is_empty() {
                    world.check.violations.push(format!(
                        "{} acknowledged writes lost (the servers end at {last}), first {:?}",
                        lost.len(),
                        &lost[..lost.len().min(5)]
                    ));
                }
            }
            Err(why) => world.check.violations.push(why),
        }
        Report {
            seed: params.seed,
            servers,
            ops: tally.ops,
            acked: tally.acked.len(),
            refused: tally.refused,
            unknown: tally.unknown,
            faults,
            elections: world.check.elections,
            raft_restarts: world.check.raft_restarts,
            applied_entries: world.check.applied_entries,
            installs: world.check.installs,
            shared_terms: world.check.shared_terms.len(),
            events: world.trace.events,
            trace: world.trace.digest(),
            violations: world.check.violations.clone(),
        }
    });
    let rafts: Vec<_> = with(&world, |world| {
        world
            .slots
            .values_mut()
            .filter_map(|slot| slot.raft.take())
            .collect()
    });
    for raft in rafts {
        let _ = tokio::time::timeout(Duration::from_secs(5), raft.shutdown()).await;
    }
    report
}

/// Waits, with a deadline, until one server leads with every server a voter (asking it to
/// add back any that a fault removed), and every server has applied all of its log, with
/// the same catalog; answers that last index.
async fn converge(world: &Shared) -> Result<u64, String> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        faults::add_back(world).await;
        let state = with(world, |world| {
            let metrics: Vec<_> = world
                .slots
                .values()
                .filter_map(|slot| {
                    slot.raft
                        .as_ref()
                        .map(|raft| raft.metrics().borrow().clone())
                })
                .collect();
            let leader = metrics.iter().find(|m| m.state == ServerState::Leader)?;
            let membership = leader.membership_config.membership();
            let voters = membership.voter_ids().count();
            if membership.get_joint_config().len() != 1 || voters != world.slots.len() {
                return None;
            }
            let last = leader.last_log_index?;
            let all = metrics.iter().all(|m| {
                m.last_applied.map(|id| id.index) == Some(last)
                    && m.current_leader == Some(leader.id)
            });
            let digests: Vec<u64> = world
                .slots
                .values()
                .filter_map(|slot| slot.store.as_ref())
                .map(|store| crate::world::digest(&store.read().snapshot()))
                .collect();
            let same = digests.windows(2).all(|pair| pair[0] == pair[1]);
            Some((all && metrics.len() == world.slots.len(), same, last))
        });
        match state {
            Some((true, true, last)) => return Ok(last),
            Some((true, false, last)) => {
                return Err(format!(
                    "every server applied {last}, with different catalogs"
                ))
            }
            _ => {}
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(format!(
                "no convergence within 60 s after healing: {state:?}"
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
