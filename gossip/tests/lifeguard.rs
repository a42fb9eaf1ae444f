//! Lifeguard: a starved member must not cause false failures.
//!
//! "Starved" here means: for 4 s at a time the member processes nothing
//! (its timers and inbound packets wait; at most 256 packets are buffered,
//! like a UDP receive buffer), then runs for 1 s, handling its overdue
//! timers *before* the queued packets (the worst order for it).

mod common;

use std::time::Duration;

use common::Sim;
use legate_gossip::Timing;

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn starve(sim: &mut Sim, node: usize, cycles: usize, stall: Duration, run: Duration) {
    sim.nodes[node].timers_first = true;
    for _ in 0..cycles {
        sim.nodes[node].stalled_until = Some(sim.now + stall);
        sim.run_for(stall + run);
    }
    sim.nodes[node].timers_first = false;
}

fn cluster(lifeguard: bool, seed: u64) -> Sim {
    let mut sim = Sim::new(5, seed, |i| {
        let mut c = common::config(i, Timing::lan());
        c.lifeguard = lifeguard;
        c
    });
    sim.join_all();
    assert!(sim.run_until(secs(30), Sim::converged));
    sim.run_for(secs(5));
    sim
}

/// The starved member declares no healthy peer failed, and its health
/// score rises while it is starved.
#[test]
fn starved_member_declares_no_healthy_peer_failed() {
    for seed in 1..=5 {
        let mut sim = cluster(true, seed);
        starve(&mut sim, 4, 6, secs(4), secs(1));
        let healthy = [0, 1, 2, 3];
        assert!(
            sim.failures_about(&healthy).is_empty(),
            "seed {seed}: {:?}",
            sim.failures_about(&healthy)
        );
        assert!(sim.nodes[4].max_score > 0, "seed {seed}: score never rose");
        assert!(sim.nodes[4].core.stats().late_timers > 0);
        // Once it recovers the whole cluster is healthy again (the starved
        // member may have been declared failed meanwhile and rejoined).
        assert!(sim.run_until(secs(60), Sim::converged), "seed {seed}");
        assert!(sim.run_until(secs(60), |s| s.nodes[4].core.health_score() == 0));
    }
}

/// A member stalled once for 4 s (less than the suspicion window, which
/// starts at 24 s and shrinks to 4 s only with two independent
/// confirmations) refutes the suspicion and is never declared failed.
#[test]
fn member_stalled_within_suspicion_window_is_not_declared_failed() {
    for seed in 1..=5 {
        let mut sim = cluster(true, seed);
        starve(&mut sim, 4, 1, secs(4), secs(1));
        sim.run_for(secs(30));
        assert!(
            sim.failures_about(&[4]).is_empty(),
            "seed {seed}: {:?}",
            sim.failures_about(&[4])
        );
        assert!(sim.converged());
    }
}

/// Stalls of 6 s exceed the minimum suspicion timeout, so the starved
/// member is declared failed now and then (it rejoins with a renewed
/// identity). Lifeguard's stretched timeouts make that rarer than plain
/// SWIM timing over the same seeded runs. Healthy members are never
/// declared failed in either mode (the buddy notice and the suspicion
/// re-check before foca acts are always on).
#[test]
fn lifeguard_reduces_false_failures_of_a_long_starved_member() {
    let count = |lifeguard: bool| {
        let (mut healthy, mut starved) = (0, 0);
        for seed in 1..=10 {
            let mut sim = cluster(lifeguard, seed);
            starve(&mut sim, 4, 4, secs(6), Duration::from_millis(500));
            healthy += sim.failures_about(&[0, 1, 2, 3]).len();
            starved += sim.failures_about(&[4]).len();
        }
        (healthy, starved)
    };
    let (on_healthy, on_starved) = count(true);
    let (off_healthy, off_starved) = count(false);
    assert_eq!((on_healthy, off_healthy), (0, 0));
    assert!(
        on_starved < off_starved,
        "lifeguard {on_starved} vs plain {off_starved} failures of the starved member"
    );
}
