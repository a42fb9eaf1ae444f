//! The seeded fault schedule: partitions (random splits, the leader alone), message loss,
//! crashes (a minority, the leader, every server at once), clock jumps, slow disks,
//! snapshots at odd moments, and servers removed from the voters and added back. Each fault
//! is undone after a while; `heal` undoes whatever is still in force.

use crate::node;
use crate::world::{with, Shared};
use legate_agent::server::raft::{NodeId, Raft};
use openraft::{BasicNode, ServerState};
use rand::Rng;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// A fault's undoing, due at some time.
enum Undo {
    Restart(Vec<NodeId>),
    Clock(NodeId),
    Disk(NodeId),
    Loss,
    Heal,
    AddBack,
}

/// Faults injected, by kind.
pub type Counts = BTreeMap<&'static str, u64>;

/// Injects faults until `stop`, then undoes every one still in force.
pub async fn run(world: Shared, stop: Arc<AtomicBool>) -> Counts {
    let mut counts = Counts::new();
    let mut pending: Vec<(Instant, Undo)> = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let pause = with(&world, |world| world.rng.gen_range(50..400));
        tokio::time::sleep(Duration::from_millis(pause)).await;
        let now = Instant::now();
        let (due, later): (Vec<_>, Vec<_>) = pending.into_iter().partition(|(at, _)| *at <= now);
        pending = later;
        for (_, undo) in due {
            undo_one(&world, undo).await;
        }
        if with(&world, |world| world.rng.gen_ratio(1, 3)) {
            if let Some((kind, undo, after)) = inject(&world).await {
                *counts.entry(kind).or_default() += 1;
                if let Some(undo) = undo {
                    pending.push((Instant::now() + after, undo));
                }
            }
        }
    }
    for (_, undo) in pending {
        undo_one(&world, undo).await;
    }
    heal(&world).await;
    counts
}

/// Every server up, every link whole, every clock and disk as it was.
pub async fn heal(world: &Shared) {
    let down = with(world, |world| {
        world.cut.clear();
        world.loss_percent = 0;
        for slot in world.slots.values_mut() {
            slot.clock_offset_ms = 0;
            slot.fsync_factor = 1;
        }
        world.note("heal");
        down(world)
    });
    for id in down {
        node::start(world, id).await;
    }
}

fn down(world: &crate::world::World) -> Vec<NodeId> {
    world
        .slots
        .iter()
        .filter(|(_, slot)| slot.raft.is_none())
        .map(|(id, _)| *id)
        .collect()
}

async fn undo_one(world: &Shared, undo: Undo) {
    match undo {
        Undo::Restart(ids) => {
            for id in ids {
                let down = with(world, |world| world.slot(id).raft.is_none());
                if down {
                    node::start(world, id).await;
                }
            }
        }
        Undo::Clock(id) => with(world, |world| world.slot(id).clock_offset_ms = 0),
        Undo::Disk(id) => with(world, |world| world.slot(id).fsync_factor = 1),
        Undo::Loss => with(world, |world| world.loss_percent = 0),
        Undo::Heal => with(world, |world| world.cut.clear()),
        Undo::AddBack => {
            // Not awaited: a membership change waits for commits, which faults may hold up.
            let world = world.clone();
            tokio::spawn(async move {
                let _ = add_back(&world).await;
            });
        }
    }
}

/// The current leader and its voters, if a server leads; `None` for the voters while a
/// change is half done (a joint configuration).
fn voters(world: &crate::world::World) -> Option<(Raft, Option<BTreeSet<NodeId>>)> {
    let id = leader(world)?;
    let raft = world.slots[&id].raft.clone()?;
    let metrics = raft.metrics().borrow().clone();
    let membership = metrics.membership_config.membership();
    // A leader that removed itself keeps leading until a successor takes over, but a change
    // asked of it trips openraft's debug assertion (`RaftHandle::leads_as_member`).
    membership.get_node(&id)?;
    let voters =
        (membership.get_joint_config().len() == 1).then(|| membership.voter_ids().collect());
    Some((raft, voters))
}

/// Asks the leader to make every server a voter again: each missing one is added as a
/// learner, then the voters are replaced (which also completes a change left half done).
/// Answers whether every server already was one.
pub async fn add_back(world: &Shared) -> bool {
    let Some((raft, voters)) = with(world, |world| voters(world)) else {
        return false;
    };
    let all: BTreeSet<NodeId> = with(world, |world| world.ids().into_iter().collect());
    if voters.as_ref() == Some(&all) {
        return true;
    }
    let step = Duration::from_secs(5);
    let missing: Vec<NodeId> = match &voters {
        Some(voters) => all.difference(voters).copied().collect(),
        None => Vec::new(),
    };
    for id in missing {
        let node = BasicNode::new(format!("sim-{id:x}"));
        let added = tokio::time::timeout(step, raft.add_learner(id, node, true)).await;
        if !matches!(added, Ok(Ok(_))) {
            let why = format!("{added:?}");
            with(world, |world| world.note(("add-learner", why)));
            return false;
        }
    }
    let changed = tokio::time::timeout(step, raft.change_membership(all, false)).await;
    let why = match changed {
        Ok(Ok(_)) => "ok".to_owned(),
        other => format!("{other:?}"),
    };
    with(world, |world| world.note(("voters-restored", why)));
    false
}

/// The server that believes it leads, if one is up.
fn leader(world: &crate::world::World) -> Option<NodeId> {
    world.slots.iter().find_map(|(id, slot)| {
        let raft = slot.raft.as_ref()?;
        (raft.metrics().borrow().state == ServerState::Leader).then_some(*id)
    })
}

/// Cuts every link between `side` and the rest, both ways.
fn split(world: &mut crate::world::World, side: &[NodeId]) {
    let ids = world.ids();
    for a in side {
        for b in ids.iter().filter(|id| !side.contains(id)) {
            world.cut.insert((*a, *b));
            world.cut.insert((*b, *a));
        }
    }
}

/// Draws one fault and injects it: its kind, its undoing and when that is due.
async fn inject(world: &Shared) -> Option<(&'static str, Option<Undo>, Duration)> {
    let (kind, crashes, undo, after) = with(world, |world| {
        let ids = world.ids();
        let minority = (ids.len() - 1) / 2;
        let after = Duration::from_millis(world.rng.gen_range(200..4_000));
        let draw = world.rng.gen_range(0..100);
        let up: Vec<NodeId> = ids
            .iter()
            .copied()
            .filter(|id| world.slots[id].raft.is_some())
            .collect();
        let down = ids.len() - up.len();
        match draw {
            0..=19 => {
                let side: Vec<NodeId> = ids
                    .iter()
                    .copied()
                    .filter(|_| world.rng.gen_ratio(1, 2))
                    .collect();
                split(world, &side);
                Some(("partition", vec![], Some(Undo::Heal), after))
            }
            20..=29 => {
                let alone = leader(world)?;
                split(world, &[alone]);
                Some(("isolate-leader", vec![], Some(Undo::Heal), after))
            }
            30..=39 => {
                world.loss_percent = world.rng.gen_range(5..40);
                Some(("loss", vec![], Some(Undo::Loss), after))
            }
            40..=54 if down < minority => {
                let id = up[world.rng.gen_range(0..up.len())];
                Some(("crash", vec![id], Some(Undo::Restart(vec![id])), after))
            }
            55..=62 if down < minority => {
                let id = leader(world)?;
                Some((
                    "crash-leader",
                    vec![id],
                    Some(Undo::Restart(vec![id])),
                    after,
                ))
            }
            63..=66 => {
                let after = Duration::from_millis(world.rng.gen_range(20..1_000));
                Some((
                    "crash-all",
                    up.clone(),
                    Some(Undo::Restart(ids.clone())),
                    after,
                ))
            }
            67..=76 => {
                let id = ids[world.rng.gen_range(0..ids.len())];
                let jump = world.rng.gen_range(1_000..120_000);
                let sign = if world.rng.gen_ratio(1, 2) { 1 } else { -1 };
                world.slot(id).clock_offset_ms = sign * jump;
                Some(("clock-jump", vec![], Some(Undo::Clock(id)), after))
            }
            77..=86 => {
                let id = ids[world.rng.gen_range(0..ids.len())];
                world.slot(id).fsync_factor = world.rng.gen_range(20..300);
                Some(("slow-disk", vec![], Some(Undo::Disk(id)), after))
            }
            87..=90 => {
                // One voter out (a majority of the rest must stay up, so only while none is
                // down); the leader itself may be the one.
                if down > 0 {
                    return None;
                }
                let (raft, voters) = voters(world)?;
                let voters = voters?;
                if voters.len() < ids.len() {
                    return None;
                }
                let out = ids[world.rng.gen_range(0..ids.len())];
                let rest: BTreeSet<NodeId> = voters.into_iter().filter(|id| *id != out).collect();
                tokio::spawn(async move {
                    let _ = raft.change_membership(rest, false).await;
                });
                Some(("remove-server", vec![], Some(Undo::AddBack), after))
            }
            91..=99 => {
                let id = up.get(world.rng.gen_range(0..up.len().max(1))).copied()?;
                let raft = world.slots[&id].raft.clone()?;
                // Not awaited here: the trigger waits on the node's core, and the schedule
                // must not stall on a node that is busy.
                tokio::spawn(async move {
                    let _ = raft.trigger().snapshot().await;
                });
                Some(("snapshot", vec![], None, Duration::ZERO))
            }
            _ => None,
        }
    })?;
    with(world, |world| world.note(("fault", kind)));
    for id in crashes {
        node::crash(world, id).await;
    }
    Some((kind, undo, after))
}
