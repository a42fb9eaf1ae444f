//! Partitions between real servers, each in its own network namespace: the minority side
//! acknowledges no write and serves no `consistent` read, the majority elects a leader and
//! goes on, and after healing every server converges on the same state, without the writes
//! the old leader could not commit.

use crate::harness::{legate, DEADLINE};
use crate::netns::Network;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Server {
    child: Child,
    url: String,
}

fn start(network: &Network, host: usize, scratch: &std::path::Path) -> Server {
    let address = network.address(host);
    let log = std::fs::File::create(scratch.join(format!("s{host}.log"))).unwrap();
    // Written once, before the first server starts (`write_config`): rewriting it for each
    // server let one read it half-written while the next was starting.
    let config = scratch.join("test.json");
    let child = Command::new("ip")
        .args([
            "netns",
            "exec",
            &network.namespace(host),
            legate(),
            "agent",
            "-server",
        ])
        .arg("-bootstrap-expect=3")
        .arg(format!("-node=s{host}"))
        .arg(format!(
            "-data-dir={}",
            scratch.join(format!("s{host}")).display()
        ))
        .arg(format!("-bind={address}"))
        .arg(format!("-client={address}"))
        .arg(format!("-config-file={}", config.display()))
        .arg(format!("-retry-join={}", network.address(1)))
        .arg("-retry-interval=1s")
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("spawn legate in its namespace");
    Server {
        child,
        url: format!("http://{address}:8500"),
    }
}

fn write_config(scratch: &std::path::Path) {
    std::fs::write(
        scratch.join("test.json"),
        r#"{"gossip_lan": {"probe_interval": "200ms", "probe_timeout": "100ms", "gossip_interval": "50ms"},
            "autopilot": {"server_stabilization_time": "2s"}}"#,
    )
    .unwrap();
}

fn wait_until(what: &str, scratch: &std::path::Path, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + DEADLINE;
    while Instant::now() < deadline {
        if check() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut logs = String::new();
    for host in 1..=3 {
        let log = std::fs::read_to_string(scratch.join(format!("s{host}.log"))).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(30).collect();
        logs.push_str(&format!(
            "--- s{host} ---\n{}\n",
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        ));
    }
    panic!("timed out waiting for {what}\n{logs}");
}

#[test]
fn the_minority_side_acknowledges_nothing_and_the_majority_goes_on() {
    let network = match Network::create(3) {
        Ok(network) => network,
        Err(why) => {
            eprintln!("SKIPPED: network namespaces cannot be created here: {why}");
            return;
        }
    };
    let scratch = tempfile::tempdir().unwrap();
    write_config(scratch.path());
    let mut servers: Vec<Server> = (1..=3)
        .map(|host| start(&network, host, scratch.path()))
        .collect();
    let http = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let leader_of = |server: &Server| -> Option<String> {
        let text = http
            .get(format!("{}/v1/status/leader", server.url))
            .send()
            .ok()?
            .text()
            .ok()?;
        let addr = text.trim().trim_matches('"').to_owned();
        (!addr.is_empty()).then_some(addr)
    };
    let put = |server: &Server, key: &str| -> Option<String> {
        http.put(format!("{}/v1/kv/{key}", server.url))
            .body(key.to_owned())
            .send()
            .ok()
            .and_then(|response| response.text().ok())
    };
    wait_until("a leader", scratch.path(), || {
        servers.iter().all(|server| leader_of(server).is_some())
    });
    assert_eq!(put(&servers[0], "before").as_deref(), Some("true"));

    let leader_addr = leader_of(&servers[0]).unwrap();
    let old = (1..=3)
        .find(|host| leader_addr.starts_with(&network.address(*host).to_string()))
        .expect("the leader is one of the three");
    let majority: Vec<usize> = (1..=3).filter(|host| *host != old).collect();
    network.partition(old, &majority);

    // The majority elects a new leader among themselves and takes writes.
    wait_until("a new leader on the majority side", scratch.path(), || {
        majority.iter().all(|host| {
            leader_of(&servers[host - 1])
                .is_some_and(|addr| !addr.starts_with(&network.address(old).to_string()))
        })
    });
    for n in 0..20 {
        let server = &servers[majority[n % 2] - 1];
        assert_eq!(
            put(server, &format!("during/{n}")).as_deref(),
            Some("true"),
            "majority write {n}"
        );
    }

    // The old leader, alone: no write acknowledged, no consistent read served.
    let minority = &servers[old - 1];
    let answer = put(minority, "minority/lost");
    assert_ne!(
        answer.as_deref(),
        Some("true"),
        "the minority acknowledged a write"
    );
    let consistent = http
        .get(format!("{}/v1/kv/before?consistent", minority.url))
        .send()
        .map(|response| response.status().as_u16());
    assert!(
        !matches!(consistent, Ok(200)),
        "the minority served a consistent read: {consistent:?}"
    );

    network.heal(old);
    // Everyone converges: the same keys everywhere, the majority's writes in, the old
    // leader's unacknowledged write gone.
    let keys = |server: &Server| -> Option<Vec<String>> {
        http.get(format!("{}/v1/kv/?keys&stale", server.url))
            .send()
            .ok()?
            .json()
            .ok()
    };
    wait_until("every server to converge", scratch.path(), || {
        let all: Vec<Option<Vec<String>>> = servers.iter().map(keys).collect();
        all.iter()
            .all(|listing| listing.as_ref().is_some_and(|keys| keys.len() == 21))
            && all.windows(2).all(|pair| pair[0] == pair[1])
    });
    let listing = keys(&servers[old - 1]).unwrap();
    assert!(
        !listing.iter().any(|key| key.starts_with("minority/")),
        "{listing:?}"
    );
    assert!(listing.contains(&"before".to_owned()));
    for server in &mut servers {
        let _ = server.child.kill();
        let _ = server.child.wait();
    }
}
