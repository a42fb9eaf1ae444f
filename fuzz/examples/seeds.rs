//! Writes the fuzz targets' seed corpora (`corpus/<target>/`) from real encoders and from the
//! byte fixtures that pin the formats, so that every target starts from inputs its decoder
//! accepts. Run again after a format gains a version:
//!
//! ```text
//! cargo run -p legate-fuzz --example seeds
//! ```

use legate_agent::server::rpc::frame::{self, Kind};
use legate_catalog::codec::fixture::unhex;
use legate_gossip::{Core, Key, Keyring};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

/// The hex fixtures in `dir` whose names start with `prefix`, decoded, by name.
fn fixtures(dir: &str, prefix: &str) -> Vec<(String, Vec<u8>)> {
    let dir = root().join("..").join(dir);
    let mut found: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|error| panic!("{}: {error}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            path.file_name()
                .is_some_and(|name| name.to_string_lossy().starts_with(prefix))
        })
        .map(|path| {
            let name = path.file_stem().unwrap().to_string_lossy().into_owned();
            (name, unhex(&std::fs::read_to_string(&path).unwrap()))
        })
        .collect();
    found.sort();
    found
}

struct Corpus {
    dir: PathBuf,
}

impl Corpus {
    fn new(target: &str) -> Corpus {
        let dir = root().join("corpus").join(target);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Corpus { dir }
    }

    fn add(&self, name: &str, bytes: &[u8]) {
        std::fs::write(self.dir.join(name), bytes).unwrap();
    }
}

fn rpc() {
    let messages = Corpus::new("rpc_messages");
    let frames = Corpus::new("rpc_frames");
    for (name, bytes) in fixtures("agent/tests/fixtures/rpc", "re") {
        messages.add(&name, &bytes);
        // A connection carrying the message, then a ping.
        let mut connection = frame::hello().to_vec();
        let kind = if name.starts_with("request") {
            Kind::Request
        } else {
            Kind::Response
        };
        for part in frame::frames(kind, 1, &bytes) {
            connection.extend(part);
        }
        for part in frame::frames(Kind::Ping, 2, &[]) {
            connection.extend(part);
        }
        frames.add(&name, &connection);
    }
    // A message of several frames, interleaved with another call's.
    let big = vec![0x5a; frame::CHUNK_BYTES + 10];
    let mut connection = frame::hello().to_vec();
    let long = frame::frames(Kind::Request, 7, &big);
    let short = frame::frames(Kind::Request, 8, b"\x00\x0c");
    connection.extend(long[0].iter());
    connection.extend(short.concat());
    connection.extend(long[1].iter());
    frames.add("interleaved", &connection);
}

fn records() {
    let records = Corpus::new("log_records");
    for (name, bytes) in fixtures("agent/tests/fixtures/raft", "") {
        records.add(&name, &bytes);
    }
    let snapshots = Corpus::new("snapshots");
    let dir = tempdir();
    let files = legate_agent::server::raft::snapshot_file::SnapshotDir::open(&dir).unwrap();
    for (name, bytes) in fixtures("catalog/tests/fixtures", "snapshot-") {
        let mut raw = vec![1];
        raw.extend(&bytes);
        snapshots.add(&format!("{name}-data"), &raw);
        let meta = openraft_meta(&name);
        files.write(&meta, &bytes).unwrap();
        let written = std::fs::read_dir(&dir)
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .find(|path| path.extension().is_some_and(|ext| ext == "bin"))
            .unwrap();
        let mut file = vec![0];
        file.extend(std::fs::read(&written).unwrap());
        snapshots.add(&format!("{name}-file"), &file);
        std::fs::remove_file(written).unwrap();
    }
    let _ = std::fs::remove_dir_all(&dir);
}

fn tempdir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("legate-seeds-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn openraft_meta(name: &str) -> legate_agent::server::raft::types::SnapshotMeta {
    let header = fixtures("agent/tests/fixtures/raft", "snapshot-header")
        .pop()
        .expect("the snapshot header fixture")
        .1;
    let header: legate_agent::server::raft::record::SnapshotHeader =
        legate_catalog::codec::decode(&header).unwrap();
    let mut meta = header.meta();
    meta.snapshot_id = name.to_owned();
    meta
}

fn gossip() {
    let corpus = Corpus::new("gossip_packets");
    let now = Instant::now();
    let key = Key::from_bytes(vec![7; 32]).unwrap();
    for (encrypted, keyring) in [(0u8, None), (1u8, Some(Keyring::new(key)))] {
        let mut cores: Vec<Core> = (0..2)
            .map(|index| {
                let advertise = format!("127.0.0.{}:8301", index + 1).parse().unwrap();
                Core::new(
                    legate_fuzz::gossip::config(
                        &format!("node-{index}"),
                        advertise,
                        keyring.clone(),
                    ),
                    now,
                )
                .unwrap()
            })
            .collect();
        // A join both ways, then a few rounds of gossip: real packets of every kind.
        let request = cores[1].push_pull_request(true);
        corpus.add(
            &format!("push-pull-request-{encrypted}"),
            &[&[encrypted | 4][..], &request].concat(),
        );
        let response = cores[0].handle_push_pull_request(now, &request).unwrap();
        corpus.add(
            &format!("push-pull-response-{encrypted}"),
            &[&[encrypted | 8][..], &response].concat(),
        );
        cores[1].handle_push_pull_response(now, &response).unwrap();
        let mut seen = 0;
        for step in 1..40u64 {
            let at = now + Duration::from_millis(100 * step);
            for index in 0..2 {
                cores[index].handle_timers(at);
                let packets: Vec<_> = cores[index].drain_outgoing().collect();
                for (to, packet) in packets {
                    if seen < 12 {
                        corpus.add(
                            &format!("packet-{encrypted}-{seen}"),
                            &[&[encrypted][..], &packet].concat(),
                        );
                        seen += 1;
                    }
                    let from = format!("127.0.0.{}:8301", index + 1).parse().unwrap();
                    let target = usize::from(to.ip().to_string().ends_with(".2"));
                    cores[target].handle_packet(at, from, &packet);
                }
            }
        }
    }
}

fn dns() {
    use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query};
    use hickory_proto::rr::{Name, RecordType};
    let corpus = Corpus::new("dns_messages");
    let questions = [
        ("web.service.consul.", RecordType::SRV),
        ("v1.web.service.consul.", RecordType::A),
        ("_web._tcp.service.dc2.consul.", RecordType::SRV),
        ("many.service.consul.", RecordType::A),
        ("node1.node.consul.", RecordType::ANY),
        ("node4.node.dc1.consul.", RecordType::AAAA),
        ("web-q.query.consul.", RecordType::SRV),
        ("1.0.0.10.in-addr.arpa.", RecordType::PTR),
        ("0a000001.addr.dc1.consul.", RecordType::A),
        ("consul.", RecordType::NS),
        ("consul.", RecordType::SOA),
        ("node1.node.alt.example.", RecordType::TXT),
        ("example.com.", RecordType::A),
    ];
    for (at, (name, qtype)) in questions.iter().enumerate() {
        for (transport, edns) in [(0u8, None), (1u8, Some(4096u16)), (0u8, Some(1232))] {
            let mut message = Message::new(at as u16, MessageType::Query, OpCode::Query);
            message.metadata.recursion_desired = true;
            message
                .queries
                .push(Query::query(Name::from_ascii(name).unwrap(), *qtype));
            if let Some(size) = edns {
                let mut options = Edns::new();
                options.set_max_payload(size);
                message.edns = Some(options);
            }
            let bytes = message.to_vec().unwrap();
            corpus.add(
                &format!("{at}-{}-{}", transport, edns.unwrap_or(0)),
                &[&[transport][..], &bytes].concat(),
            );
        }
    }
}

fn http() {
    let corpus = Corpus::new("http_requests");
    // (name, method: 0 GET, 1 PUT, 2 POST, 3 DELETE, 4 HEAD, path and query, body)
    let requests: &[(&str, u8, &str, &str)] = &[
        ("kv-put", 1, "kv/a/b?flags=3", "hello"),
        ("kv-get", 0, "kv/a?recurse&consistent", ""),
        ("kv-cas", 1, "kv/a?cas=0", "x"),
        ("kv-blocking", 0, "kv/a?index=1&wait=1s", ""),
        ("kv-keys", 0, "kv/?keys&separator=/", ""),
        ("kv-delete", 3, "kv/a?recurse", ""),
        (
            "txn",
            1,
            "txn",
            r#"[{"KV":{"Verb":"set","Key":"k","Value":"aGk="}},{"KV":{"Verb":"get","Key":"k"}}]"#,
        ),
        (
            "register",
            1,
            "catalog/register",
            r#"{"Node":"n1","Address":"10.0.0.1","Service":{"Service":"web","Port":80,"Tags":["a"]},"Check":{"CheckID":"c","Status":"passing","ServiceID":"web"}}"#,
        ),
        (
            "health",
            0,
            "health/service/web?passing&filter=Service.Port%20%3D%3D%2080",
            "",
        ),
        ("catalog-services", 0, "catalog/services?node-meta=a:b", ""),
        (
            "session",
            1,
            "session/create",
            r#"{"TTL":"10s","Behavior":"delete"}"#,
        ),
        (
            "agent-service",
            1,
            "agent/service/register",
            r#"{"Name":"api","Port":9000,"Check":{"TTL":"10s"}}"#,
        ),
        ("agent-self", 0, "agent/self", ""),
        (
            "query",
            2,
            "query",
            r#"{"Name":"q","Service":{"Service":"web","OnlyPassing":true}}"#,
        ),
        ("coordinate", 0, "coordinate/nodes?dc=dc1", ""),
        ("event", 1, "event/fire/deploy?node=n1", "payload"),
        ("status", 0, "status/leader", ""),
        ("operator", 0, "operator/raft/configuration", ""),
        (
            "autopilot",
            1,
            "operator/autopilot/configuration",
            r#"{"CleanupDeadServers":true}"#,
        ),
    ];
    for (name, method, target, body) in requests {
        let mut bytes = vec![*method];
        bytes.extend_from_slice(target.as_bytes());
        bytes.push(b'\n');
        bytes.extend_from_slice(body.as_bytes());
        corpus.add(name, &bytes);
    }
    // Two requests in a row: a write, then a read of it.
    corpus.add("put-then-get", b"\x01kv/x\nvalue\xff\x00kv/x?raw");
}

fn config() {
    let corpus = Corpus::new("config_files");
    let files: &[(&str, &str)] = &[
        (
            "server",
            r#"{"server": true, "bootstrap_expect": 3, "datacenter": "dc1", "retry_join": ["10.0.0.1"], "encrypt": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}"#,
        ),
        (
            "client",
            r#"{"node_name": "web-1", "bind_addr": "10.0.0.5", "client_addr": "0.0.0.0", "ports": {"http": 8500, "dns": 8600}}"#,
        ),
        (
            "services",
            r#"{"services": [{"name": "web", "port": 80, "tags": ["v1"], "check": {"http": "http://localhost/health", "interval": "10s"}}], "enable_script_checks": false}"#,
        ),
        (
            "tuning",
            r#"{"gossip_lan": {"probe_interval": "400ms"}, "autopilot": {"server_stabilization_time": "2s"}, "raft_snapshot_threshold": 64, "performance": {"raft_multiplier": 2}, "limits": {"http_max_conns_per_client": 100}}"#,
        ),
        (
            "dns",
            r#"{"dns_config": {"allow_stale": true, "max_stale": "87600h", "node_ttl": "10s", "service_ttl": {"*": "5s"}, "udp_answer_limit": 3}, "recursors": ["1.1.1.1"], "domain": "consul", "alt_domain": "alt.example"}"#,
        ),
        (
            "watches",
            r#"{"watches": [{"type": "key", "key": "a/b", "args": ["/bin/true"]}], "telemetry": {"disable_hostname": true}}"#,
        ),
    ];
    for (name, text) in files {
        corpus.add(name, text.as_bytes());
    }
}

/// Members files as this release writes them and as Consul's Serf appends them.
fn member_snapshots() {
    let corpus = Corpus::new("member_snapshots");
    let alive = vec![
        ("s1".to_owned(), "10.0.0.1:8301".parse().unwrap()),
        ("web 2".to_owned(), "[::1]:8301".parse().unwrap()),
    ];
    let ours = legate_gossip::snapshot::render(&alive, false);
    corpus.add("legate", format!("\0{ours}").as_bytes());
    let left = legate_gossip::snapshot::render(&alive, true);
    corpus.add("legate-left-rejoin", format!("\x01{left}").as_bytes());
    corpus.add(
        "serf",
        b"\0alive: s1 10.0.0.1:8301\nclock: 3\nnot-alive: s1\nevent-clock: 1\nleave\nalive: s2 10.0.0.2:8301\n",
    );
}

fn main() {
    member_snapshots();
    rpc();
    records();
    gossip();
    dns();
    http();
    config();
    println!("seeds written under {}", root().join("corpus").display());
}
