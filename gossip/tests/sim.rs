//! Deterministic simulations of the sans-io core (see `common/mod.rs`).

mod common;

use std::time::Duration;

use common::Sim;
use legate_gossip::{Event, MemberEventKind, MemberStatus};

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn others(n: usize, except: &[usize]) -> Vec<usize> {
    (0..n).filter(|i| !except.contains(i)).collect()
}

#[test]
fn ten_members_converge() {
    let mut sim = Sim::lan(10, 1);
    sim.join_all();
    assert!(sim.run_until(secs(30), Sim::converged), "no convergence");
    // Everyone got a Join (with tags) for everyone else.
    for i in 0..10 {
        for j in others(10, &[i]) {
            assert_eq!(
                sim.member_events(i, j, MemberEventKind::Join),
                1,
                "{i} about {j}"
            );
        }
        let m = sim.nodes[i].core.member("node-1").unwrap();
        assert_eq!(m.tags.to_map()["role"], "consul");
    }
    assert!(sim.failures_about(&(0..10).collect::<Vec<_>>()).is_empty());
}

#[test]
fn stopped_member_is_detected_failed_by_all() {
    let mut sim = Sim::lan(6, 2);
    sim.join_all();
    assert!(sim.run_until(secs(30), Sim::converged));
    sim.nodes[3].up = false;
    let stopped_at = sim.elapsed();
    let rest = others(6, &[3]);
    assert!(
        sim.run_until(secs(60), |s| s.all_see(&rest, 3, MemberStatus::Failed)),
        "node-3 not failed everywhere after {:?}",
        sim.elapsed()
    );
    // Lifeguard's suspicion starts at its 24 s maximum and shrinks to the
    // 4 s minimum with two independent confirmations; five probers confirm
    // quickly, so detection takes a few probe rounds plus ~4 s, not 24 s.
    let took = sim.elapsed() - stopped_at;
    assert!(took < secs(12), "detection took {took:?}");
    for &i in &rest {
        assert_eq!(sim.member_events(i, 3, MemberEventKind::Failed), 1);
        assert_eq!(sim.member_events(i, 3, MemberEventKind::Leave), 0);
    }
    // Nobody else was harmed.
    assert!(
        sim.failures_about(&rest).is_empty(),
        "{:?}",
        sim.failures_about(&rest)
    );
}

#[test]
fn member_refutes_a_false_suspicion() {
    let mut sim = Sim::lan(6, 3);
    sim.join_all();
    assert!(sim.run_until(secs(30), Sim::converged));
    sim.run_for(secs(5));
    assert_eq!(sim.nodes[2].core.incarnation(), 0);
    // Cut node-2 off for 2.5 s: long enough for probes of it to fail
    // (suspicion), shorter than the 4 s minimum suspicion timeout.
    let a = sim.nodes[2].addr;
    sim.isolated.insert(a);
    sim.run_for(Duration::from_millis(2500));
    sim.isolated.remove(&a);
    sim.run_for(secs(30));
    assert!(
        sim.nodes[2].core.incarnation() > 0,
        "node-2 never refuted (was it suspected?)"
    );
    assert!(
        sim.failures_about(&[2]).is_empty(),
        "{:?}",
        sim.failures_about(&[2])
    );
    assert!(sim.converged());
}

#[test]
fn failed_member_rejoins_at_once_with_renewed_identity() {
    let mut sim = Sim::lan(5, 4);
    sim.join_all();
    assert!(sim.run_until(secs(30), Sim::converged));
    let a = sim.nodes[4].addr;
    let gen0 = sim.nodes[4].core.identity().generation;
    sim.isolated.insert(a);
    let rest = others(5, &[4]);
    assert!(sim.run_until(secs(60), |s| s.all_see(&rest, 4, MemberStatus::Failed)));
    sim.isolated.remove(&a);
    // Healing needs one announce-to-down round (30 s on LAN timing).
    assert!(
        sim.run_until(secs(90), Sim::converged),
        "node-4 did not come back"
    );
    assert!(sim.nodes[4].core.stats().rejoins >= 1);
    for &i in &rest {
        let m = sim.nodes[i].core.member("node-4").unwrap();
        assert!(
            m.generation > gen0,
            "observer {i} still has generation {}",
            m.generation
        );
        assert_eq!(
            sim.member_events(i, 4, MemberEventKind::Join),
            2,
            "observer {i}"
        );
    }
}

#[test]
fn restarted_member_rejoins_with_newer_generation() {
    let mut sim = Sim::lan(4, 5);
    sim.join_all();
    assert!(sim.run_until(secs(30), Sim::converged));
    sim.nodes[3].up = false;
    let rest = others(4, &[3]);
    assert!(sim.run_until(secs(60), |s| s.all_see(&rest, 3, MemberStatus::Failed)));
    // A new process: same name and address, later generation.
    let mut c = common::config(3, legate_gossip::Timing::lan());
    c.generation = 2000;
    sim.nodes[3].core = legate_gossip::Core::new(c, sim.now).unwrap();
    sim.nodes[3].up = true;
    sim.join(3, 1);
    assert!(
        sim.run_until(secs(10), Sim::converged),
        "restart not accepted"
    );
}

#[test]
fn graceful_leave_is_left_not_failed_everywhere() {
    let mut sim = Sim::lan(6, 6);
    sim.join_all();
    assert!(sim.run_until(secs(30), Sim::converged));
    let now = sim.now;
    sim.nodes[5].core.begin_leave(now);
    let rest = others(6, &[5]);
    assert!(sim.run_until(secs(5), |s| s.all_see(&rest, 5, MemberStatus::Leaving)));
    let now = sim.now;
    sim.nodes[5].core.finish_leave(now);
    sim.run_for(secs(1));
    sim.nodes[5].up = false;
    assert!(sim.run_until(secs(60), |s| s.all_see(&rest, 5, MemberStatus::Left)));
    sim.run_for(secs(30));
    for &i in &rest {
        assert_eq!(sim.status(i, 5), Some(MemberStatus::Left));
        assert_eq!(sim.member_events(i, 5, MemberEventKind::Leave), 1);
        assert_eq!(sim.member_events(i, 5, MemberEventKind::Failed), 0);
    }
    assert_eq!(sim.nodes[5].core.local_member().status, MemberStatus::Left);
}

#[test]
fn force_leave_marks_failed_member_left_and_prune_removes_it() {
    let mut sim = Sim::lan(7, 7);
    sim.join_all();
    assert!(sim.run_until(secs(30), Sim::converged));
    sim.nodes[5].up = false;
    sim.nodes[6].up = false;
    let rest = others(7, &[5, 6]);
    assert!(sim.run_until(secs(60), |s| {
        s.all_see(&rest, 5, MemberStatus::Failed) && s.all_see(&rest, 6, MemberStatus::Failed)
    }));
    let now = sim.now;
    let core = &mut sim.nodes[0].core;
    assert!(
        core.force_leave(now, "node-1", false).is_err(),
        "alive member"
    );
    assert!(core.force_leave(now, "nope", false).is_err());
    core.force_leave(now, "node-5", false).unwrap();
    core.force_leave(now, "node-6", true).unwrap();
    assert!(sim.run_until(secs(10), |s| {
        s.all_see(&rest, 5, MemberStatus::Left)
            && rest
                .iter()
                .all(|&i| s.nodes[i].core.member("node-6").is_none())
    }));
    for &i in &rest {
        assert_eq!(sim.member_events(i, 6, MemberEventKind::Reap), 1);
        assert_eq!(sim.member_events(i, 5, MemberEventKind::Leave), 1);
    }
}

#[test]
fn failed_and_left_members_are_reaped_after_their_timeouts() {
    let mut sim = Sim::new(5, 8, |i| {
        let mut c = common::config(i, legate_gossip::Timing::lan());
        c.reconnect_timeout = secs(20);
        c.tombstone_timeout = secs(10);
        c
    });
    sim.join_all();
    assert!(sim.run_until(secs(30), Sim::converged));
    sim.nodes[4].up = false;
    let now = sim.now;
    sim.nodes[3].core.begin_leave(now);
    sim.run_for(secs(1));
    let now = sim.now;
    sim.nodes[3].core.finish_leave(now);
    sim.run_for(Duration::from_millis(200));
    sim.nodes[3].up = false;
    let rest = [0, 1, 2];
    assert!(sim.run_until(secs(5), |s| s.all_see(&rest, 3, MemberStatus::Left)));
    let left_at = sim.elapsed();
    assert!(sim.run_until(secs(60), |s| s.all_see(&rest, 4, MemberStatus::Failed)));
    let failed_at = sim.elapsed();
    assert!(sim.run_until(secs(60), |s| {
        rest.iter()
            .all(|&i| s.status(i, 3).is_none() && s.status(i, 4).is_none())
    }));
    for &i in &rest {
        let reaps: Vec<Duration> = sim.nodes[i]
            .events
            .iter()
            .filter(|(_, e)| matches!(e, Event::Member(m) if m.kind == MemberEventKind::Reap))
            .map(|(t, _)| *t)
            .collect();
        assert_eq!(reaps.len(), 2, "observer {i}");
        // Neither is reaped before its timeout (allowing for the spread of
        // the status change across observers).
        assert!(reaps.iter().all(|t| *t >= left_at + secs(9)), "{reaps:?}");
        assert!(
            reaps.iter().any(|t| *t >= failed_at + secs(19)),
            "{reaps:?}"
        );
    }
}

#[test]
fn five_percent_loss_converges_without_false_failures() {
    let mut sim = Sim::lan(10, 9);
    sim.loss = 0.05;
    sim.join_all();
    assert!(
        sim.run_until(secs(60), Sim::converged),
        "no convergence under loss"
    );
    sim.run_for(secs(120));
    let all: Vec<usize> = (0..10).collect();
    assert!(
        sim.failures_about(&all).is_empty(),
        "{:?}",
        sim.failures_about(&all)
    );
    assert!(sim.converged());
}

#[test]
fn user_events_reach_every_member_once() {
    let mut sim = Sim::lan(8, 10);
    sim.join_all();
    assert!(sim.run_until(secs(30), Sim::converged));
    let now = sim.now;
    let lt = sim.nodes[2]
        .core
        .fire_event(now, "deploy", b"v1".to_vec())
        .unwrap();
    let big = vec![0u8; 510];
    assert!(sim.nodes[2].core.fire_event(now, "deploy", big).is_err());
    let got = |s: &Sim, i: usize| {
        s.nodes[i]
            .events
            .iter()
            .filter(|(_, e)| matches!(e, Event::User(u) if u.name == "deploy" && u.ltime == lt && u.payload == b"v1"))
            .count()
    };
    assert!(sim.run_until(secs(10), |s| (0..8).all(|i| got(s, i) >= 1)));
    sim.run_for(secs(10));
    for i in 0..8 {
        assert_eq!(got(&sim, i), 1, "node {i}");
    }
    // Lamport clocks moved forward everywhere: a later event sorts after.
    let now = sim.now;
    let lt2 = sim.nodes[5]
        .core
        .fire_event(now, "deploy", b"v2".to_vec())
        .unwrap();
    assert!(lt2 > lt);
}

#[test]
fn tag_updates_propagate() {
    let mut sim = Sim::lan(6, 11);
    sim.join_all();
    assert!(sim.run_until(secs(30), Sim::converged));
    let mut t = common::tags(4);
    t.build = "1.21.0:new".into();
    let now = sim.now;
    sim.nodes[4].core.set_tags(now, t).unwrap();
    assert!(sim.run_until(secs(10), |s| {
        (0..6).all(|i| s.nodes[i].core.member("node-4").unwrap().tags.build == "1.21.0:new")
    }));
    for i in others(6, &[4]) {
        assert_eq!(sim.member_events(i, 4, MemberEventKind::Update), 1);
    }
}

/// Two sites 40 ms apart (20 ms each way on top of the 0.5-3 ms jitter): the coordinates
/// that probe round trips build must tell them apart, and estimate the distance between
/// the sites to within a quarter.
#[test]
fn coordinates_learn_which_members_are_far() {
    let mut sim = Sim::lan(6, 7);
    let site = |i: usize| i / 3;
    for i in 0..6 {
        for j in 0..6 {
            if site(i) != site(j) {
                let link = (sim.nodes[i].addr, sim.nodes[j].addr);
                sim.slow_links.insert(link, Duration::from_millis(20));
            }
        }
    }
    sim.join_all();
    assert!(sim.run_until(secs(30), Sim::converged), "no convergence");
    sim.run_for(secs(180));
    // The mean true round trip between sites: 40 ms plus twice the mean jitter (1.75 ms).
    let between = 0.0435;
    for i in 0..6 {
        let own = sim.nodes[i].core.coordinate();
        let known = sim.nodes[i].core.coordinates();
        assert_eq!(known.len(), 5, "node {i} knows {known:?}");
        for (name, other) in known {
            let j: usize = sim.nodes.iter().position(|n| n.name == name).unwrap();
            let estimate = own.distance_to(&other).as_secs_f64();
            if site(i) == site(j) {
                assert!(estimate < between / 4.0, "{i}->{j}: {estimate}");
            } else {
                let error = (estimate - between).abs() / between;
                assert!(error < 0.25, "{i}->{j}: {estimate} ({error})");
            }
        }
    }
}
