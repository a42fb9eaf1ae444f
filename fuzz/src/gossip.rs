//! Gossip from the network: UDP packets and push-pull frames, as a member's core reads them,
//! in plaintext and with encryption, both before decryption (what anyone can send) and after
//! (what a holder of the key can send: the decoders behind the envelope).

use legate_gossip::{Core, CoreConfig, Key, Keyring, ProtocolVersions, Role, Tags, Timing};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// A member's config, as the seeds' generator also builds its members.
pub fn config(name: &str, advertise: SocketAddr, keyring: Option<Keyring>) -> CoreConfig {
    CoreConfig {
        node_name: name.to_owned(),
        advertise,
        generation: 1,
        tags: Tags {
            role: Role::Server,
            datacenter: "dc1".into(),
            segment: String::new(),
            node_id: format!("00000000-0000-4000-8000-{:012}", name.len()),
            rpc_addr: Some(SocketAddr::new(advertise.ip(), 8300)),
            build: "1.20.0:fuzz".into(),
            protocol: ProtocolVersions::default(),
            bootstrap: false,
            expect: Some(3),
            read_replica: false,
            wan_join_port: None,
        },
        timing: Timing::lan(),
        reconnect_timeout: Duration::from_secs(72 * 3600),
        tombstone_timeout: Duration::from_secs(24 * 3600),
        keyring,
        verify_incoming: true,
        verify_outgoing: true,
        rng_seed: 7,
        lifeguard: true,
        max_members: 64,
    }
}

/// A member that already knows one peer (`peer`), so input about known members reaches the
/// paths that update them, not only the ones that add strangers.
fn member(keyring: Option<Keyring>, peer: SocketAddr, now: Instant) -> Core {
    let mut core = Core::new(
        config("fuzzed", "127.0.0.1:8301".parse().unwrap(), keyring.clone()),
        now,
    )
    .expect("a valid config");
    let other = Core::new(config("peer", peer, keyring), now).expect("a valid config");
    core.handle_push_pull_response(now, &other.push_pull_request(true))
        .expect("a real peer's state is accepted");
    core
}

/// The first byte picks what the rest is: a UDP packet or a push-pull frame (request or
/// response), to a member gossiping in plaintext or with a key, sealed with that key by the
/// harness (after decryption) or not (before).
pub fn packets(data: &[u8]) {
    let Some((&mode, body)) = data.split_first() else {
        return;
    };
    let keyring = Keyring::new(Key::from_bytes(vec![7; 32]).expect("a 32-byte key"));
    let encrypted = mode & 1 == 1;
    let sealed = mode & 2 == 2;
    let input = if encrypted && sealed {
        keyring.seal(body)
    } else {
        body.to_vec()
    };
    let now = Instant::now();
    let peer: SocketAddr = "127.0.0.2:8301".parse().unwrap();
    let mut core = member(encrypted.then(|| keyring.clone()), peer, now);
    match (mode >> 2) % 3 {
        0 => core.handle_packet(now, peer, &input),
        1 => {
            let _ = core.handle_push_pull_request(now, &input);
        }
        _ => {
            let _ = core.handle_push_pull_response(now, &input);
        }
    }
    // What the input set going: timers, replies and the member list.
    core.handle_timers(now + Duration::from_secs(2));
    let _ = core.drain_outgoing().count();
    let _ = core.drain_events().count();
    let _ = core.members();
}

/// The members file a restarted agent reads back (`serf/local.snapshot`; see
/// `legate_gossip::snapshot`): any bytes replay without a panic, and the members replayed,
/// written out again, replay to the same members. The first byte picks `rejoin_after_leave`.
pub fn member_snapshots(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let rejoin = mode & 1 == 1;
    let text = String::from_utf8_lossy(rest);
    let alive = legate_gossip::snapshot::replay(&text, rejoin);
    let again =
        legate_gossip::snapshot::replay(&legate_gossip::snapshot::render(&alive, false), rejoin);
    assert_eq!(again, alive, "replayed members changed through the file");
}
