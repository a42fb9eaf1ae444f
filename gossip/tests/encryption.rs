//! Encryption on the simulated cluster: wrong keys, rotation, plaintext.

mod common;

use std::time::Duration;

use common::Sim;
use legate_gossip::{Key, Keyring, MemberStatus, PushPullError, Timing};

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn key(b: u8) -> Key {
    Key::from_bytes(vec![b; 32]).unwrap()
}

fn keyed(n: usize, seed: u64, k: u8) -> Sim {
    Sim::new(n, seed, |i| {
        let mut c = common::config(i, Timing::lan());
        c.keyring = Some(Keyring::new(key(k)));
        c
    })
}

fn total_auth_failures(sim: &Sim) -> u64 {
    sim.nodes.iter().map(|n| n.core.stats().auth_failures).sum()
}

#[test]
fn member_with_wrong_key_cannot_join_or_change_views() {
    let mut sim = keyed(5, 1, 1);
    for i in 1..4 {
        sim.join(i, 0);
    }
    assert!(sim.run_until(secs(30), |s| {
        (0..4).all(|i| s.nodes[i].core.members().len() == 4)
    }));
    // node-4 has another key: the push-pull join is refused.
    let mut bad = common::config(4, Timing::lan());
    bad.keyring = Some(Keyring::new(key(9)));
    sim.nodes[4].core = legate_gossip::Core::new(bad, sim.now).unwrap();
    let req = sim.nodes[4].core.push_pull_request(true);
    let now = sim.now;
    let before = sim.nodes[0].core.stats().auth_failures;
    assert_eq!(
        sim.nodes[0].core.handle_push_pull_request(now, &req),
        Err(PushPullError::Auth)
    );
    assert_eq!(sim.nodes[0].core.stats().auth_failures, before + 1);
    // Its UDP packets (here: a member that rotated to a key nobody else
    // has) are dropped and counted, and change nobody's view.
    let k9 = key(9);
    let core3 = &mut sim.nodes[3].core;
    core3.keyring_install(k9.clone()).unwrap();
    core3.keyring_use(&k9).unwrap();
    core3.keyring_remove(&key(1)).unwrap();
    let healthy = [0, 1, 2];
    assert!(sim.run_until(secs(60), |s| s.all_see(&healthy, 3, MemberStatus::Failed)));
    for &i in &healthy {
        assert!(sim.nodes[i].core.stats().auth_failures > 0, "node {i}");
        assert!(sim.nodes[i].core.member("node-4").is_none());
    }
    assert!(sim.nodes[3].core.stats().auth_failures > 0);
    assert!(sim.failures_about(&healthy).is_empty());
}

#[test]
fn key_rotation_on_a_live_cluster_loses_no_member() {
    let mut sim = keyed(5, 2, 1);
    sim.join_all();
    assert!(sim.run_until(secs(30), Sim::converged));
    let (old, new) = (key(1), key(2));
    // install everywhere → use everywhere → remove everywhere, one member
    // at a time with gossip flowing in between (as the agent fans out).
    for i in 0..5 {
        sim.nodes[i].core.keyring_install(new.clone()).unwrap();
        sim.run_for(Duration::from_millis(700));
    }
    for i in 0..5 {
        sim.nodes[i].core.keyring_use(&new).unwrap();
        sim.run_for(Duration::from_millis(700));
    }
    for i in 0..5 {
        sim.nodes[i].core.keyring_remove(&old).unwrap();
        sim.run_for(Duration::from_millis(700));
    }
    sim.run_for(secs(30));
    let all: Vec<usize> = (0..5).collect();
    assert!(
        sim.failures_about(&all).is_empty(),
        "{:?}",
        sim.failures_about(&all)
    );
    assert!(sim.converged());
    assert_eq!(total_auth_failures(&sim), 0);
    for n in &sim.nodes {
        let l = n.core.keyring().unwrap().list();
        assert_eq!(l.keys, vec![new.to_base64()]);
    }
}

#[test]
fn plaintext_is_refused_unless_verify_incoming_is_off() {
    // node-0: keyed, strict. node-1: keyed, accepts plaintext and sends
    // plaintext (first step of rolling out encryption). node-2: no key.
    let mut sim = Sim::new(3, 3, |i| {
        let mut c = common::config(i, Timing::lan());
        if i < 2 {
            c.keyring = Some(Keyring::new(key(1)));
        }
        if i == 1 {
            c.verify_incoming = false;
            c.verify_outgoing = false;
        }
        c
    });
    let now = sim.now;
    let plain = sim.nodes[2].core.push_pull_request(true);
    assert_eq!(plain[..2], [1, 0], "no keyring: plaintext envelope");
    assert_eq!(
        sim.nodes[0].core.handle_push_pull_request(now, &plain),
        Err(PushPullError::Plaintext)
    );
    assert_eq!(sim.nodes[0].core.stats().plaintext_refused, 1);
    // The lenient member talks to both.
    sim.join(2, 1);
    assert!(
        sim.run_until(secs(10), |s| s.nodes[2].core.members().len() == 2
            && s.nodes[1].core.members().len() == 2)
    );
    assert!(sim.nodes[0].core.members().len() == 1);
}
