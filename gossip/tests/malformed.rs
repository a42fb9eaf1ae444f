//! Malformed and oversized input never panics and changes nothing.

mod common;

use std::time::Duration;

use common::Sim;
use legate_gossip::{Key, Keyring, Timing};
use rand10::rngs::StdRng;
use rand10::{Rng, RngExt, SeedableRng};

#[test]
fn garbage_packets_and_frames_are_counted_and_harmless() {
    let mut sim = Sim::new(3, 1, |i| {
        let mut c = common::config(i, Timing::lan());
        c.keyring = Some(Keyring::new(Key::from_bytes(vec![1; 16]).unwrap()));
        c
    });
    sim.join_all();
    assert!(sim.run_until(Duration::from_secs(10), Sim::converged));
    let members = sim.nodes[0].core.members();
    let ring = sim.nodes[0].core.keyring().unwrap().clone();
    let from = common::addr(1);
    let now = sim.now;
    let core = &mut sim.nodes[0].core;
    let before = core.stats();
    let mut rng = StdRng::seed_from_u64(7);
    let mut inputs: Vec<Vec<u8>> = vec![
        vec![],
        vec![1],
        vec![1, 0],
        vec![1, 1, 0, 0, 0],
        vec![9, 9, 9],
        vec![0u8; 2000],
    ];
    for len in [3, 10, 40, 200, 1399] {
        let mut v = vec![0u8; len];
        rng.fill_bytes(&mut v);
        inputs.push(v.clone());
        // Authenticated garbage: valid envelope, nonsense inside.
        inputs.push(ring.seal(&v));
        let mut foca = vec![0u8];
        foca.extend_from_slice(&v);
        inputs.push(ring.seal(&foca));
        let mut direct = vec![1u8, 1];
        direct.extend_from_slice(&v);
        inputs.push(ring.seal(&direct));
        // Sealed with a key we do not have, and a tampered valid packet.
        inputs.push(Keyring::new(Key::from_bytes(vec![2; 32]).unwrap()).seal(&foca));
        let mut t = ring.seal(&foca);
        t[5] ^= 0x40;
        inputs.push(t);
    }
    for _ in 0..500 {
        let len = rng.random_range(0..1500);
        let mut v = vec![0u8; len];
        rng.fill_bytes(&mut v);
        if rng.random_bool(0.5) {
            v = ring.seal(&v);
        }
        inputs.push(v);
    }
    for input in &inputs {
        core.handle_packet(now, from, input);
        let _ = core.handle_push_pull_request(now, input);
        let _ = core.handle_push_pull_response(now, input);
    }
    let after = core.stats();
    assert!(after.oversized > before.oversized);
    assert!(after.auth_failures > before.auth_failures);
    assert!(after.malformed > before.malformed);
    assert!(after.push_pull_failures > before.push_pull_failures);
    assert_eq!(core.members(), members);
    assert!(core.drain_events().next().is_none());
    sim.run_for(Duration::from_secs(10));
    assert!(sim.converged());
}
