//! The driver over real UDP/TCP sockets on 127.0.0.1 with fast timing.
//! Every wait has a deadline; nothing sleeps for a fixed time to "let
//! things settle".

use std::net::SocketAddr;
use std::time::Duration;

use legate_gossip::{
    keygen, retry_join, start, Event, Gossip, GossipConfig, JoinError, Key, Keyring,
    MemberEventKind, MemberStatus, ProtocolVersions, Role, Tags, Timing,
};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio_util::sync::CancellationToken;

struct Node {
    name: String,
    addr: SocketAddr,
    gossip: Gossip,
    cancel: CancellationToken,
}

fn tags(i: usize) -> Tags {
    Tags {
        role: if i == 0 { Role::Server } else { Role::Client },
        datacenter: "dc1".into(),
        node_id: format!("00000000-0000-4000-8000-{i:012}"),
        build: "1.20.0:test".into(),
        protocol: ProtocolVersions::default(),
        ..Tags::default()
    }
}

async fn bind() -> (UdpSocket, TcpListener, SocketAddr) {
    // Same port for UDP and TCP, as Consul; retry if the TCP side is taken.
    for _ in 0..50 {
        let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = udp.local_addr().unwrap();
        if let Ok(tcp) = TcpListener::bind(addr).await {
            return (udp, tcp, addr);
        }
    }
    panic!("no free port pair");
}

async fn node_with(i: usize, f: impl FnOnce(&mut GossipConfig)) -> Node {
    let (udp, tcp, addr) = bind().await;
    let name = format!("node-{i}");
    let mut cfg = GossipConfig::new(name.clone(), addr, tags(i));
    cfg.timing = Timing::fast();
    cfg.rng_seed = Some(i as u64);
    f(&mut cfg);
    let cancel = CancellationToken::new();
    let gossip = start(cfg, udp, tcp, cancel.clone()).await.unwrap();
    Node {
        name,
        addr,
        gossip,
        cancel,
    }
}

async fn node(i: usize) -> Node {
    node_with(i, |_| {}).await
}

async fn eventually(what: &str, max: Duration, mut f: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + max;
    while !f() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn status_of(g: &Gossip, name: &str) -> Option<MemberStatus> {
    g.members()
        .into_iter()
        .find(|m| m.name == name)
        .map(|m| m.status)
}

fn all_alive(nodes: &[&Node]) -> bool {
    nodes.iter().all(|n| {
        nodes
            .iter()
            .all(|m| status_of(&n.gossip, &m.name) == Some(MemberStatus::Alive))
    })
}

async fn cluster(n: usize) -> Vec<Node> {
    let mut nodes = Vec::new();
    for i in 0..n {
        nodes.push(node(i).await);
    }
    for i in 1..n {
        let joined = nodes[i].gossip.join(&[nodes[0].addr]).await.unwrap();
        assert_eq!(joined, 1);
    }
    let refs: Vec<&Node> = nodes.iter().collect();
    eventually("convergence", Duration::from_secs(10), || all_alive(&refs)).await;
    nodes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_join_fail_leave_and_receive_events() {
    let nodes = cluster(5).await;
    let mut subs: Vec<_> = nodes.iter().map(|n| n.gossip.subscribe()).collect();
    let mut watch = nodes[1].gossip.watch_members();
    let v0 = *watch.borrow_and_update();

    // User events reach every member (the firing one included), once.
    let lt = nodes[2]
        .gossip
        .fire_event("deploy", b"v1".to_vec())
        .await
        .unwrap();
    for (i, sub) in subs.iter_mut().enumerate() {
        let got = tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                if let Ok(Event::User(u)) = sub.recv().await {
                    return u;
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("node {i} got no user event"));
        assert_eq!(
            (got.ltime, got.name.as_str(), &got.payload[..]),
            (lt, "deploy", &b"v1"[..])
        );
    }
    let too_big = nodes[2].gossip.fire_event("x", vec![0; 600]).await;
    assert!(too_big.unwrap_err().to_string().contains("512"));

    // node-4 stops without leaving: failed everywhere.
    nodes[4].cancel.cancel();
    eventually("node-4 failed", Duration::from_secs(15), || {
        nodes[..4]
            .iter()
            .all(|n| status_of(&n.gossip, "node-4") == Some(MemberStatus::Failed))
    })
    .await;
    assert_ne!(*watch.borrow_and_update(), v0);

    // node-3 leaves gracefully: left everywhere, never failed.
    nodes[3].gossip.leave(Duration::from_secs(2)).await.unwrap();
    assert_eq!(nodes[3].gossip.local_member().status, MemberStatus::Left);
    nodes[3].cancel.cancel();
    eventually("node-3 left", Duration::from_secs(15), || {
        nodes[..3]
            .iter()
            .all(|n| status_of(&n.gossip, "node-3") == Some(MemberStatus::Left))
    })
    .await;
    for sub in subs.iter_mut().take(3) {
        let mut failed_3 = 0;
        while let Ok(e) = sub.try_recv() {
            if matches!(e, Event::Member(m) if m.member.name == "node-3" && m.kind == MemberEventKind::Failed)
            {
                failed_3 += 1;
            }
        }
        assert_eq!(failed_3, 0);
    }
    // Force-leave the failed node with prune: gone everywhere.
    nodes[0].gossip.force_leave("node-4", true).await.unwrap();
    eventually("node-4 pruned", Duration::from_secs(5), || {
        nodes[..3]
            .iter()
            .all(|n| status_of(&n.gossip, "node-4").is_none())
    })
    .await;
    let s = nodes[0].gossip.stats();
    assert!(s.packets_in > 0 && s.packets_out > 0 && s.push_pulls > 0);
    assert_eq!(s.alive, 3);
    let m = nodes[1].gossip.members();
    assert_eq!(
        m.iter().find(|m| m.name == "node-0").unwrap().tags.to_map()["role"],
        "consul"
    );
    for n in &nodes {
        n.cancel.cancel();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyring_rotation_on_a_live_cluster_loses_no_member() {
    let dir = tempfile::tempdir().unwrap();
    let old = keygen();
    let mut nodes = Vec::new();
    for i in 0..5 {
        let path = dir.path().join(format!("keyring-{i}.json"));
        let old = old.clone();
        nodes.push(
            node_with(i, move |c| {
                c.keyring = Some(Keyring::from_base64(&[old]).unwrap());
                c.keyring_path = Some(path);
            })
            .await,
        );
    }
    for i in 1..5 {
        nodes[i].gossip.join(&[nodes[0].addr]).await.unwrap();
    }
    let refs: Vec<&Node> = nodes.iter().collect();
    eventually("convergence", Duration::from_secs(10), || all_alive(&refs)).await;
    let mut subs: Vec<_> = nodes.iter().map(|n| n.gossip.subscribe()).collect();

    let new = keygen();
    for n in &nodes {
        n.gossip.keyring_install(&new).await.unwrap();
    }
    for n in &nodes {
        n.gossip.keyring_use(&new).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await; // traffic in between
    }
    assert!(
        nodes[0].gossip.keyring_remove(&new).await.is_err(),
        "primary"
    );
    for n in &nodes {
        n.gossip.keyring_remove(&old).await.unwrap();
    }
    // Gossip keeps flowing on the new key for a while; nobody is lost.
    let probe_rounds = tokio::time::Instant::now() + Duration::from_secs(2);
    eventually("two more seconds of gossip", Duration::from_secs(5), || {
        tokio::time::Instant::now() >= probe_rounds
    })
    .await;
    assert!(all_alive(&refs));
    for sub in &mut subs {
        while let Ok(e) = sub.try_recv() {
            if let Event::Member(m) = e {
                assert_ne!(m.kind, MemberEventKind::Failed, "{m:?}");
            }
        }
    }
    for (i, n) in nodes.iter().enumerate() {
        assert_eq!(n.gossip.stats().auth_failures, 0, "node {i}");
        let list = n.gossip.keyring_list().await.unwrap();
        assert_eq!(
            (list.keys.clone(), list.primary.clone()),
            (vec![new.clone()], new.clone())
        );
        // Persisted atomically, primary first.
        let on_disk = Keyring::load(&dir.path().join(format!("keyring-{i}.json"))).unwrap();
        assert_eq!(on_disk.list(), list);
    }
    // A restart loads the persisted keyring and can rejoin.
    nodes[4].cancel.cancel();
    let path = dir.path().join("keyring-4.json");
    let again = node_with(9, move |c| {
        c.keyring = Some(Keyring::new(Key::from_bytes(vec![7; 16]).unwrap())); // ignored: the file wins
        c.keyring_path = Some(path);
    })
    .await;
    again.gossip.join(&[nodes[0].addr]).await.unwrap();
    for n in &nodes[..4] {
        n.cancel.cancel();
    }
    again.cancel.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_key_cannot_join_and_garbage_is_counted() {
    let key = keygen();
    let a = node_with(0, |c| {
        c.keyring = Some(Keyring::from_base64(std::slice::from_ref(&key)).unwrap())
    })
    .await;
    let b = node_with(1, |c| {
        c.keyring = Some(Keyring::from_base64(std::slice::from_ref(&key)).unwrap())
    })
    .await;
    b.gossip.join(&[a.addr]).await.unwrap();
    let wrong = node_with(2, |c| {
        c.keyring = Some(Keyring::from_base64(&[keygen()]).unwrap())
    })
    .await;
    let plain = node(3).await;
    assert!(matches!(
        wrong.gossip.join(&[a.addr]).await,
        Err(JoinError::NoneReachable(_))
    ));
    assert!(plain.gossip.join(&[a.addr]).await.is_err());
    eventually("auth failures counted", Duration::from_secs(5), || {
        let s = a.gossip.stats();
        s.auth_failures >= 1 && s.plaintext_refused >= 1
    })
    .await;

    // Raw garbage: oversized datagram, junk datagram, bad TCP frames.
    let raw = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    raw.send_to(&[0u8; 3000], a.addr).await.unwrap();
    raw.send_to(b"junk", a.addr).await.unwrap();
    let mut s = TcpStream::connect(a.addr).await.unwrap();
    s.write_all(&u32::MAX.to_be_bytes()).await.unwrap();
    let mut s2 = TcpStream::connect(a.addr).await.unwrap();
    s2.write_all(&[0, 0, 0, 4, 1, 2, 3, 4]).await.unwrap();
    eventually("garbage counted", Duration::from_secs(5), || {
        let s = a.gossip.stats();
        s.oversized >= 1 && s.malformed >= 2
    })
    .await;
    // Still a healthy two-member cluster that ignores the intruders.
    let names: Vec<String> = a.gossip.members().into_iter().map(|m| m.name).collect();
    assert_eq!(names, vec!["node-0", "node-1"]);
    assert!(b.gossip.join(&[a.addr]).await.is_ok());
    for n in [a, b, wrong, plain] {
        n.cancel.cancel();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_join_succeeds_once_the_seed_is_up_and_gives_up_after_max() {
    let a = node(0).await;
    // Nobody listens here: max attempts is honoured.
    let dead = {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        l.local_addr().unwrap()
    };
    let r = retry_join(
        &a.gossip,
        vec![dead.to_string()],
        Duration::from_millis(50),
        2,
        CancellationToken::new(),
    )
    .await;
    assert!(r.unwrap_err().to_string().contains("2 attempts"));
    // A seed that comes up later is found.
    let (udp, tcp, addr) = bind().await;
    let g = a.gossip.clone();
    let join = tokio::spawn(async move {
        retry_join(
            &g,
            vec![addr.to_string()],
            Duration::from_millis(200),
            0,
            CancellationToken::new(),
        )
        .await
    });
    tokio::time::sleep(Duration::from_millis(300)).await; // the seed is late on purpose
    let cancel = CancellationToken::new();
    let mut cfg = GossipConfig::new("node-1", addr, tags(1));
    cfg.timing = Timing::fast();
    let b = start(cfg, udp, tcp, cancel.clone()).await.unwrap();
    let joined = tokio::time::timeout(Duration::from_secs(10), join)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(joined, 1);
    eventually("both see each other", Duration::from_secs(5), || {
        b.members().len() == 2 && a.gossip.members().len() == 2
    })
    .await;
    cancel.cancel();
    a.cancel.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_left_with_no_live_peer_reconnects_to_one_restarted_knowing_nobody() {
    let nodes = cluster(2).await;
    let (a, b) = (&nodes[0], &nodes[1]);
    b.cancel.cancel();
    eventually("a to hold b failed", Duration::from_secs(10), || {
        status_of(&a.gossip, &b.name) == Some(MemberStatus::Failed)
    })
    .await;
    // b comes back on its address, joining nobody: only a's reconnect can bring them
    // together, since foca announces to down members only while a has a live peer.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let (udp, tcp) = loop {
        let bound = async {
            let udp = UdpSocket::bind(b.addr).await.ok()?;
            let tcp = TcpListener::bind(b.addr).await.ok()?;
            Some((udp, tcp))
        };
        if let Some(sockets) = bound.await {
            break sockets;
        }
        assert!(tokio::time::Instant::now() < deadline, "rebinding b's port");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let mut cfg = GossipConfig::new(b.name.clone(), b.addr, tags(1));
    cfg.timing = Timing::fast();
    let cancel = CancellationToken::new();
    let restarted = start(cfg, udp, tcp, cancel.clone()).await.unwrap();
    eventually(
        "a and the restarted b alive to each other",
        Duration::from_secs(10),
        || {
            status_of(&a.gossip, &b.name) == Some(MemberStatus::Alive)
                && status_of(&restarted, &a.name) == Some(MemberStatus::Alive)
        },
    )
    .await;
    cancel.cancel();
    a.cancel.cancel();
}
